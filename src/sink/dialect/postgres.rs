//! PostgreSQL: identifier quoting, the type mapping, and literals.
//!
//! - Identifiers: double-quoted, inner quotes doubled; NUL and names over 63
//!   bytes are rejected (PostgreSQL would silently truncate them).
//! - Strings: single-quoted with only `'` doubled. That is the whole escaping
//!   rule under `standard_conforming_strings = on`, which the sink's session sets
//!   (see `target`). PostgreSQL text cannot hold NUL, so a string with NUL is an
//!   error rather than silently cut.
//! - Bytes: `'\x…'::bytea`. Decimals: unquoted exact numerics. Floats: shortest
//!   round-trip `1.5e0` text; NaN and ±Infinity are written as `'NaN'`,
//!   `'Infinity'`, `'-Infinity'` (PostgreSQL stores them, unlike MySQL).
//! - Dates and timestamps before year 1 use the `BC` suffix; `TIME` holds only
//!   00:00:00–24:00:00, so negative or longer MySQL times are errors.
//! - Types: int8 has no one-byte type and becomes SMALLINT; strings are TEXT
//!   (VARCHAR(n) when a length is known); bytes are BYTEA; Decimal is
//!   NUMERIC(p,s), with p = 1000 (PostgreSQL's maximum) when unknown, because an
//!   unconstrained NUMERIC would not keep the scale the schema diff compares;
//!   timestamps are zone-less TIMESTAMP(3|6) holding UTC, as Connect's dialect does.

use super::literal::{self, Civil, LiteralError};
use super::SqlError;
use crate::event::Value;
use crate::schema::ColumnType;

/// PostgreSQL's largest NUMERIC precision.
const MAX_PRECISION: u32 = 1000;
/// PostgreSQL's largest VARCHAR length.
const MAX_VARCHAR: u32 = 10_485_760;
/// Longest identifier, in bytes (NAMEDATALEN - 1).
const MAX_IDENT_BYTES: usize = 63;

/// Quotes `name` as an identifier, or rejects it (see the module docs).
pub(crate) fn quote_ident(name: &str) -> Result<String, SqlError> {
    let bad = |reason: &'static str| SqlError::Identifier {
        name: name.to_string(),
        reason,
    };
    super::check_ident(name)?;
    if name.len() > MAX_IDENT_BYTES {
        return Err(bad(
            "PostgreSQL names are at most 63 bytes (longer ones would be truncated)",
        ));
    }
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The type a column of `ty` is stored as, i.e. what `describe_table` reads back.
pub(crate) fn stored_type(ty: &ColumnType) -> ColumnType {
    match ty {
        ColumnType::Int8 => ColumnType::Int16,
        ColumnType::String { max_len } => ColumnType::String {
            max_len: max_len.filter(|n| (1..=MAX_VARCHAR).contains(n)),
        },
        ColumnType::Bytes { .. } => ColumnType::Bytes { max_len: None },
        ColumnType::Decimal { scale, precision } => ColumnType::Decimal {
            scale: *scale,
            precision: Some(
                precision
                    .unwrap_or(MAX_PRECISION)
                    .max(*scale)
                    .clamp(1, MAX_PRECISION),
            ),
        },
        other => other.clone(),
    }
}

/// The column type in DDL.
pub(crate) fn sql_type(ty: &ColumnType) -> String {
    match stored_type(ty) {
        ColumnType::Int8 | ColumnType::Int16 => "SMALLINT".into(),
        ColumnType::Int32 => "INTEGER".into(),
        ColumnType::Int64 => "BIGINT".into(),
        ColumnType::Float32 => "REAL".into(),
        ColumnType::Float64 => "DOUBLE PRECISION".into(),
        ColumnType::Boolean => "BOOLEAN".into(),
        ColumnType::String { max_len: Some(n) } => format!("VARCHAR({n})"),
        ColumnType::String { max_len: None } => "TEXT".into(),
        ColumnType::Bytes { .. } => "BYTEA".into(),
        ColumnType::Decimal { scale, precision } => {
            format!("NUMERIC({},{scale})", precision.unwrap_or(MAX_PRECISION))
        }
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME(3)".into(),
        ColumnType::MicroTime => "TIME(6)".into(),
        ColumnType::Timestamp => "TIMESTAMP(3)".into(),
        ColumnType::MicroTimestamp => "TIMESTAMP(6)".into(),
    }
}

/// The ColumnType of an `information_schema.columns` row, or `None` when Sluice has no mapping.
pub(crate) fn type_from_information_schema(
    data_type: &str,
    char_len: Option<i32>,
    precision: Option<i32>,
    scale: Option<i32>,
    datetime_precision: Option<i32>,
) -> Option<ColumnType> {
    let to_u32 = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok());
    let micro = datetime_precision.unwrap_or(6) > 3;
    Some(match data_type {
        "smallint" => ColumnType::Int16,
        "integer" => ColumnType::Int32,
        "bigint" => ColumnType::Int64,
        "real" => ColumnType::Float32,
        "double precision" => ColumnType::Float64,
        "boolean" => ColumnType::Boolean,
        "character varying" | "character" => ColumnType::String {
            max_len: to_u32(char_len),
        },
        "text" | "json" | "jsonb" | "uuid" | "xml" => ColumnType::String { max_len: None },
        "bytea" => ColumnType::Bytes { max_len: None },
        "numeric" => ColumnType::Decimal {
            scale: to_u32(scale).unwrap_or(0),
            precision: to_u32(precision),
        },
        "date" => ColumnType::Date,
        "time without time zone" if micro => ColumnType::MicroTime,
        "time without time zone" => ColumnType::Time,
        "timestamp without time zone" | "timestamp with time zone" if micro => {
            ColumnType::MicroTimestamp
        }
        "timestamp without time zone" | "timestamp with time zone" => ColumnType::Timestamp,
        _ => return None,
    })
}

/// Writes `value` as a PostgreSQL literal.
pub(crate) fn write_literal(
    out: &mut String,
    value: &Value,
    ty: &ColumnType,
) -> Result<(), LiteralError> {
    let int_column = matches!(
        ty,
        ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64
    );
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) if int_column => out.push(if *b { '1' } else { '0' }),
        Value::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        Value::Int(i) if *ty == ColumnType::Boolean => {
            out.push_str(if *i != 0 { "TRUE" } else { "FALSE" })
        }
        Value::Int(i) => literal::write_int(out, *i),
        Value::Float32(f) => write_float(out, f64::from(*f))?,
        Value::Float64(f) => write_float(out, *f)?,
        Value::String(s) => write_string(out, s)?,
        Value::Bytes(b) => {
            out.push_str("'\\x");
            literal::write_hex(out, b);
            out.push_str("'::bytea");
        }
        Value::Decimal(d) => {
            literal::check_decimal(d)?;
            out.push_str(d);
        }
        Value::Date(days) => {
            let c = literal::civil_from_days(i64::from(*days));
            out.push('\'');
            write_ymd(out, c);
            write_era(out, c);
            out.push('\'');
        }
        Value::Time(micros) => {
            if !(0..=literal::MICROS_PER_DAY).contains(micros) {
                return Err(LiteralError(
                    "time outside PostgreSQL's TIME range (00:00:00 to 24:00:00)",
                ));
            }
            out.push('\'');
            literal::write_hms(out, *micros);
            out.push('\'');
        }
        Value::Timestamp(micros) => {
            let (c, in_day) = literal::split_timestamp(*micros);
            out.push('\'');
            write_ymd(out, c);
            out.push(' ');
            literal::write_hms(out, in_day);
            write_era(out, c);
            out.push('\'');
        }
    }
    Ok(())
}

/// Writes `value` as one field of COPY's text format (no delimiter): `\N` for
/// NULL, text with `\\`, tab, newline and CR backslash-escaped, bytea as
/// `\\x…` hex, everything else as the text [`write_literal`] writes, unquoted.
pub(crate) fn write_copy_text(
    out: &mut String,
    value: &Value,
    ty: &ColumnType,
) -> Result<(), LiteralError> {
    match value {
        Value::Null => out.push_str("\\N"),
        Value::String(s) => {
            if s.contains('\0') {
                return Err(LiteralError(
                    "PostgreSQL text cannot contain NUL characters",
                ));
            }
            literal::write_tab_escaped(out, s);
        }
        Value::Bytes(b) => {
            out.push_str("\\\\x");
            literal::write_hex(out, b);
        }
        Value::Float32(_) | Value::Float64(_) => {
            let v = match value {
                Value::Float32(f) => f64::from(*f),
                Value::Float64(f) => *f,
                _ => unreachable!(),
            };
            if v.is_nan() {
                out.push_str("NaN");
            } else if v.is_infinite() {
                out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
            } else {
                literal::write_float(out, v)?;
            }
        }
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) => {
            // The literal is quoted and holds no character COPY escapes.
            let start = out.len();
            write_literal(out, value, ty)?;
            out.remove(start);
            out.pop();
        }
        _ => write_literal(out, value, ty)?,
    }
    Ok(())
}

/// `YYYY-MM-DD` with the year counted in its era (year 0 is 1 BC).
fn write_ymd(out: &mut String, c: Civil) {
    let year = if c.year >= 1 { c.year } else { 1 - c.year };
    literal::write_ymd(out, year, c);
}

/// ` BC` after a date or timestamp before year 1.
fn write_era(out: &mut String, c: Civil) {
    if c.year < 1 {
        out.push_str(" BC");
    }
}

fn write_float(out: &mut String, v: f64) -> Result<(), LiteralError> {
    if v.is_nan() {
        out.push_str("'NaN'");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "'Infinity'" } else { "'-Infinity'" });
    } else {
        literal::write_float(out, v)?;
    }
    Ok(())
}

/// Single-quoted string, `'` doubled (standard_conforming_strings).
pub(crate) fn write_string(out: &mut String, s: &str) -> Result<(), LiteralError> {
    literal::write_doubled_quotes(out, s, "PostgreSQL text cannot contain NUL characters")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit_as(v: Value, ty: ColumnType) -> Result<String, LiteralError> {
        let mut s = String::new();
        write_literal(&mut s, &v, &ty).map(|()| s)
    }

    fn lit(v: Value) -> Result<String, LiteralError> {
        lit_as(v, ColumnType::String { max_len: None })
    }

    fn copy_as(v: Value, ty: ColumnType) -> Result<String, LiteralError> {
        let mut s = String::new();
        write_copy_text(&mut s, &v, &ty).map(|()| s)
    }

    #[test]
    fn copy_text_escapes_and_formats() {
        let text = ColumnType::String { max_len: None };
        assert_eq!(
            copy_as(Value::String("a\\b\tc\nd\re'f".into()), text.clone())
                .ok()
                .as_deref(),
            Some("a\\\\b\\tc\\nd\\re'f")
        );
        assert_eq!(
            copy_as(Value::String("\\N".into()), text.clone())
                .ok()
                .as_deref(),
            Some("\\\\N")
        );
        assert_eq!(
            copy_as(Value::Null, text.clone()).ok().as_deref(),
            Some("\\N")
        );
        assert!(copy_as(Value::String("a\0b".into()), text.clone()).is_err());
        assert_eq!(
            copy_as(
                Value::Bytes(vec![1, 0xab]),
                ColumnType::Bytes { max_len: None }
            )
            .ok()
            .as_deref(),
            Some("\\\\x01ab")
        );
        assert_eq!(
            copy_as(Value::Int(-7), ColumnType::Int64).ok().as_deref(),
            Some("-7")
        );
        assert_eq!(
            copy_as(Value::Int(1), ColumnType::Boolean).ok().as_deref(),
            Some("TRUE")
        );
        assert_eq!(
            copy_as(Value::Float64(f64::NAN), ColumnType::Float64)
                .ok()
                .as_deref(),
            Some("NaN")
        );
        assert_eq!(
            copy_as(Value::Float32(f32::NEG_INFINITY), ColumnType::Float32)
                .ok()
                .as_deref(),
            Some("-Infinity")
        );
        assert_eq!(
            copy_as(Value::Decimal("-12.50".into()), text.clone())
                .ok()
                .as_deref(),
            Some("-12.50")
        );
        assert!(copy_as(Value::Decimal("1;x".into()), text.clone()).is_err());
        assert_eq!(
            copy_as(Value::Date(-719_163), ColumnType::Date)
                .ok()
                .as_deref(),
            Some("0001-12-31 BC")
        );
        assert_eq!(
            copy_as(Value::Time(3_723_000_001), ColumnType::Time)
                .ok()
                .as_deref(),
            Some("01:02:03.000001")
        );
        assert_eq!(
            copy_as(Value::Timestamp(1_500), ColumnType::Timestamp)
                .ok()
                .as_deref(),
            Some("1970-01-01 00:00:00.001500")
        );
    }

    #[test]
    fn idents_are_double_quoted_exactly() {
        assert_eq!(quote_ident("a`b").ok().as_deref(), Some("\"a`b\""));
        assert_eq!(
            quote_ident("\"; DROP TABLE x; --").ok().as_deref(),
            Some("\"\"\"; DROP TABLE x; --\"")
        );
        assert!(quote_ident("a\0").is_err());
        assert!(quote_ident(&"x".repeat(63)).is_ok());
        assert!(quote_ident(&"é".repeat(32)).is_err());
    }

    #[test]
    fn strings_double_quotes_only() {
        assert_eq!(
            lit(Value::String("it's a \\ back\nslash".into()))
                .ok()
                .as_deref(),
            Some("'it''s a \\ back\nslash'")
        );
        let err = lit(Value::String("a\0b".into())).err();
        assert!(err.is_some_and(|e| e.to_string().contains("NUL")));
    }

    #[test]
    fn scalars() {
        assert_eq!(lit(Value::Boolean(false)).ok().as_deref(), Some("FALSE"));
        assert_eq!(
            lit_as(Value::Boolean(true), ColumnType::Int16)
                .ok()
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            lit_as(Value::Int(3), ColumnType::Boolean).ok().as_deref(),
            Some("TRUE")
        );
        assert_eq!(
            lit(Value::Bytes(vec![1, 0xab])).ok().as_deref(),
            Some("'\\x01ab'::bytea")
        );
        assert_eq!(lit(Value::Float64(f64::NAN)).ok().as_deref(), Some("'NaN'"));
        assert_eq!(
            lit(Value::Float32(f32::NEG_INFINITY)).ok().as_deref(),
            Some("'-Infinity'")
        );
        assert_eq!(lit(Value::Float32(0.5)).ok().as_deref(), Some("5e-1"));
    }

    #[test]
    fn dates_times_and_eras() {
        assert_eq!(
            lit(Value::Date(-719_163)).ok().as_deref(),
            Some("'0001-12-31 BC'")
        );
        assert_eq!(
            lit(Value::Date(2_932_897)).ok().as_deref(),
            Some("'10000-01-01'")
        );
        assert_eq!(
            lit(Value::Time(literal::MICROS_PER_DAY)).ok().as_deref(),
            Some("'24:00:00.000000'")
        );
        assert!(lit(Value::Time(-1)).is_err());
        assert!(lit(Value::Time(literal::MICROS_PER_DAY + 1)).is_err());
        assert_eq!(
            lit(Value::Timestamp(-719_163 * literal::MICROS_PER_DAY + 1))
                .ok()
                .as_deref(),
            Some("'0001-12-31 00:00:00.000001 BC'")
        );
    }

    #[test]
    fn type_mapping() {
        assert_eq!(sql_type(&ColumnType::Int8), "SMALLINT");
        assert_eq!(stored_type(&ColumnType::Int8), ColumnType::Int16);
        let dec = ColumnType::Decimal {
            scale: 3,
            precision: None,
        };
        assert_eq!(sql_type(&dec), "NUMERIC(1000,3)");
        assert_eq!(sql_type(&ColumnType::Bytes { max_len: Some(4) }), "BYTEA");
        let t = type_from_information_schema("numeric", None, Some(1000), Some(3), None);
        assert_eq!(t.map(|t| stored_type(&t)), Some(stored_type(&dec)));
        let ts =
            type_from_information_schema("timestamp without time zone", None, None, None, Some(3));
        assert_eq!(ts, Some(ColumnType::Timestamp));
    }
}
