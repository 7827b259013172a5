//! SQLite: identifier quoting, the type mapping, and literals.
//!
//! SQLite types values, not columns: a column's declared type only gives it an
//! *affinity* (INTEGER, REAL, TEXT, BLOB or NUMERIC, chosen by substrings of the
//! declared name), and any column holds any integer up to 8 bytes, any double,
//! and text or blobs of any length. The mapping follows from that:
//!
//! | Connect type | declared type | affinity | stored as |
//! |---|---|---|---|
//! | int8/16/32/64 | `INTEGER` | INTEGER | 8-byte integer |
//! | float32/float64 | `REAL` | REAL | double (a float32 widened exactly) |
//! | boolean | `BOOLEAN` | NUMERIC | integer 0 / 1 |
//! | string | `TEXT` | TEXT | UTF-8 text |
//! | bytes | `BLOB` | BLOB | blob |
//! | Decimal(p,s) | `DECIMAL_TEXT_SCALE(s)` | TEXT | the exact decimal text, e.g. `'-12.340'` |
//! | Date | `DATE` | NUMERIC | text `YYYY-MM-DD` |
//! | Time / MicroTime | `TIME(3)` / `TIME(6)` | NUMERIC | text `HH:MM:SS.fff` / `HH:MM:SS.ffffff` |
//! | Timestamp / MicroTimestamp | `DATETIME(3)` / `DATETIME(6)` | NUMERIC | text `YYYY-MM-DD HH:MM:SS.fff(fff)`, UTC |
//!
//! - **Widths are not kept.** Every integer width is one `INTEGER`, both float
//!   widths one `REAL`, and strings/bytes have no length, so [`stored_type`]
//!   reads int8 as int64, float32 as float64 and drops lengths and decimal
//!   precision. A message that widens a column (int8 → int64, VARCHAR(12) →
//!   VARCHAR(40), DECIMAL(10,2) → DECIMAL(12,2)) therefore diffs as unchanged
//!   and needs no DDL, which matters because SQLite cannot change a column's
//!   type. A different kind (int → string) or a different decimal scale is
//!   still an incompatible change, as in the other dialects.
//! - **Decimals are text.** A declared `DECIMAL(10,2)` would have NUMERIC
//!   affinity, which turns `'12.30'` into the REAL 12.3 (and rounds beyond 15
//!   digits). `DECIMAL_TEXT_SCALE(s)` contains `TEXT`, so the column has TEXT
//!   affinity and keeps the literal exactly; the scale in the name lets
//!   `describe_table` give back the same `Decimal`. Compare and sort such
//!   columns with `CAST(c AS NUMERIC)` (approximate) or as text.
//! - **Dates and times are ISO-8601 text.** `DATE`, `TIME(n)` and `DATETIME(n)`
//!   have NUMERIC affinity, which keeps text that does not look like a number
//!   (dashes and colons never do) as TEXT, and SQLite's date functions read it.
//!   Years must be 0000–9999 so that text order is time order. MySQL TIME values
//!   below zero or past 24 h are kept as `-HH:MM:SS…` / `HHH:MM:SS…` text.
//! - Identifiers: double-quoted, inner quotes doubled; NUL is rejected. Note that
//!   SQLite compares names case-insensitively for ASCII: `t` and `T` are one
//!   table, so fields differing only in case cannot both be columns.
//! - Strings: single-quoted with `'` doubled; no other character is special.
//!   A NUL is an error naming the column (SQLite would end the statement text
//!   there, and TEXT values with NUL are truncated by most readers).
//! - Bytes: `X'hex'`. Floats: shortest round-trip `1.5e0` text, which SQLite
//!   reads back bit for bit, except that -0.0 reads as 0.0 (SQLite stores
//!   integral REALs as integers); ±Infinity as `±9e999` (which SQLite reads as
//!   infinity); NaN is an error, because SQLite stores NaN as NULL.

use super::literal::{self, LiteralError};
use super::SqlError;
use crate::event::Value;
use crate::schema::ColumnType;

/// Declared type name of decimal columns (TEXT affinity; the scale is its argument).
const DECIMAL_TYPE: &str = "DECIMAL_TEXT_SCALE";

/// Quotes `name` as an identifier, or rejects it (see the module docs).
pub(crate) fn quote_ident(name: &str) -> Result<String, SqlError> {
    super::check_ident(name)?;
    Ok(format!("\"{}\"", name.replace('"', "\"\"")))
}

/// The type a column of `ty` is stored as, i.e. what `describe_table` reads back.
pub(crate) fn stored_type(ty: &ColumnType) -> ColumnType {
    match ty {
        ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            ColumnType::Int64
        }
        ColumnType::Float32 | ColumnType::Float64 => ColumnType::Float64,
        ColumnType::String { .. } => ColumnType::String { max_len: None },
        ColumnType::Bytes { .. } => ColumnType::Bytes { max_len: None },
        ColumnType::Decimal { scale, .. } => ColumnType::Decimal {
            scale: *scale,
            precision: None,
        },
        other => other.clone(),
    }
}

/// The column type in DDL.
pub(crate) fn sql_type(ty: &ColumnType) -> String {
    match stored_type(ty) {
        ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            "INTEGER".into()
        }
        ColumnType::Float32 | ColumnType::Float64 => "REAL".into(),
        ColumnType::Boolean => "BOOLEAN".into(),
        ColumnType::String { .. } => "TEXT".into(),
        ColumnType::Bytes { .. } => "BLOB".into(),
        ColumnType::Decimal { scale, .. } => format!("{DECIMAL_TYPE}({scale})"),
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME(3)".into(),
        ColumnType::MicroTime => "TIME(6)".into(),
        ColumnType::Timestamp => "DATETIME(3)".into(),
        ColumnType::MicroTimestamp => "DATETIME(6)".into(),
    }
}

/// The ColumnType of a declared column type (`PRAGMA table_info`'s `type`), or
/// `None` when Sluice has no mapping. Sluice's own names map back exactly;
/// other declared types map by SQLite's affinity rules (INT → int64;
/// CHAR/CLOB/TEXT → string; BLOB → bytes; REAL/FLOA/DOUB → float64).
/// `DECIMAL(p,s)`/`NUMERIC(p,s)` columns made by others read as `Decimal` of
/// scale s, though SQLite stores their values as numbers (exact to ~15 digits).
pub(crate) fn type_from_declared(declared: &str) -> Option<ColumnType> {
    let upper = declared.trim().to_ascii_uppercase();
    let (name, args) = match upper.split_once('(') {
        Some((name, rest)) => (name.trim(), rest.trim_end_matches(')')),
        None => (upper.as_str(), ""),
    };
    let args: Vec<Option<u32>> = args
        .split(',')
        .filter(|a| !a.trim().is_empty())
        .map(|a| a.trim().parse().ok())
        .collect();
    let micro = matches!(args.first(), Some(Some(p)) if *p > 3);
    Some(match name {
        "BOOLEAN" | "BOOL" => ColumnType::Boolean,
        "DATE" => ColumnType::Date,
        "TIME" if micro => ColumnType::MicroTime,
        "TIME" => ColumnType::Time,
        "DATETIME" | "TIMESTAMP" if micro => ColumnType::MicroTimestamp,
        "DATETIME" | "TIMESTAMP" => ColumnType::Timestamp,
        DECIMAL_TYPE => ColumnType::Decimal {
            scale: (*args.first()?)?,
            precision: None,
        },
        "DECIMAL" | "NUMERIC" if !args.is_empty() => ColumnType::Decimal {
            scale: args.get(1).copied().unwrap_or(Some(0))?,
            precision: None,
        },
        _ if name.contains("INT") => ColumnType::Int64,
        _ if ["CHAR", "CLOB", "TEXT"].iter().any(|s| name.contains(s)) => {
            ColumnType::String { max_len: None }
        }
        _ if name.contains("BLOB") => ColumnType::Bytes { max_len: None },
        _ if ["REAL", "FLOA", "DOUB"].iter().any(|s| name.contains(s)) => ColumnType::Float64,
        _ => return None,
    })
}

/// Writes `value` as a SQLite literal for a column of type `ty`.
pub(crate) fn write_literal(
    out: &mut String,
    value: &Value,
    ty: &ColumnType,
) -> Result<(), LiteralError> {
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) => out.push(if *b { '1' } else { '0' }),
        Value::Int(i) => literal::write_int(out, *i),
        Value::Float32(f) => write_float(out, f64::from(*f))?,
        Value::Float64(f) => write_float(out, *f)?,
        Value::String(s) => write_string(out, s)?,
        Value::Bytes(b) => {
            out.push_str("X'");
            literal::write_hex(out, b);
            out.push('\'');
        }
        Value::Decimal(d) => {
            literal::check_decimal(d)?;
            out.push('\'');
            out.push_str(d);
            out.push('\'');
        }
        Value::Date(days) => {
            let c = literal::civil_from_days(i64::from(*days));
            check_year(c.year)?;
            out.push('\'');
            literal::write_ymd(out, c.year, c);
            out.push('\'');
        }
        Value::Time(micros) => {
            let magnitude = micros.checked_abs().ok_or(LiteralError(
                "time outside the range of 64-bit microseconds",
            ))?;
            out.push('\'');
            if *micros < 0 {
                out.push('-');
            }
            write_hms(out, magnitude, *ty == ColumnType::MicroTime);
            out.push('\'');
        }
        Value::Timestamp(micros) => {
            let (c, in_day) = literal::split_timestamp(*micros);
            check_year(c.year)?;
            out.push('\'');
            literal::write_ymd(out, c.year, c);
            out.push(' ');
            write_hms(out, in_day, *ty == ColumnType::MicroTimestamp);
            out.push('\'');
        }
    }
    Ok(())
}

/// `HH:MM:SS.ffffff` of a non-negative duration, shortened to milliseconds
/// unless `micro` or the value has sub-millisecond digits.
fn write_hms(out: &mut String, micros: i64, micro: bool) {
    literal::write_hms(out, micros);
    if !micro && micros % 1000 == 0 {
        out.truncate(out.len() - 3);
    }
}

fn check_year(year: i64) -> Result<(), LiteralError> {
    if (0..=9999).contains(&year) {
        Ok(())
    } else {
        Err(LiteralError(
            "date outside the years 0000 to 9999 that SQLite's date text can hold",
        ))
    }
}

fn write_float(out: &mut String, v: f64) -> Result<(), LiteralError> {
    if v.is_nan() {
        return Err(LiteralError(
            "NaN cannot be stored in SQLite (it would become NULL)",
        ));
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "9e999" } else { "-9e999" });
        return Ok(());
    }
    literal::write_float(out, v)
}

/// Single-quoted string, `'` doubled.
pub(crate) fn write_string(out: &mut String, s: &str) -> Result<(), LiteralError> {
    literal::write_doubled_quotes(out, s, "SQLite text cannot contain NUL characters")
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

    #[test]
    fn idents_are_double_quoted_exactly() {
        assert_eq!(quote_ident("a`b").ok().as_deref(), Some("\"a`b\""));
        assert_eq!(
            quote_ident("\"; DROP TABLE x; --").ok().as_deref(),
            Some("\"\"\"; DROP TABLE x; --\"")
        );
        assert!(quote_ident("a\0").is_err());
        assert!(quote_ident("").is_err());
        assert!(quote_ident(&"é".repeat(200)).is_ok());
    }

    #[test]
    fn strings_double_quotes_only_and_refuse_nul() {
        assert_eq!(
            lit(Value::String("it's a \\ back\nslash \"q\" 😀".into()))
                .ok()
                .as_deref(),
            Some("'it''s a \\ back\nslash \"q\" 😀'")
        );
        let err = lit(Value::String("a\0b".into())).err();
        assert!(err.is_some_and(|e| e.to_string().contains("NUL")));
    }

    #[test]
    fn scalars() {
        assert_eq!(lit(Value::Null).ok().as_deref(), Some("NULL"));
        assert_eq!(lit(Value::Boolean(false)).ok().as_deref(), Some("0"));
        assert_eq!(lit(Value::Boolean(true)).ok().as_deref(), Some("1"));
        assert_eq!(
            lit(Value::Int(i64::MIN)).ok().as_deref(),
            Some("-9223372036854775808")
        );
        assert_eq!(
            lit(Value::Bytes(vec![0, 0xab, b'\''])).ok().as_deref(),
            Some("X'00ab27'")
        );
        assert_eq!(
            lit(Value::Decimal("-12.340".into())).ok().as_deref(),
            Some("'-12.340'")
        );
        assert!(lit(Value::Decimal("1'); DROP".into())).is_err());
        assert_eq!(lit(Value::Float32(0.5)).ok().as_deref(), Some("5e-1"));
        assert_eq!(
            lit(Value::Float64(f64::INFINITY)).ok().as_deref(),
            Some("9e999")
        );
        assert_eq!(
            lit(Value::Float32(f32::NEG_INFINITY)).ok().as_deref(),
            Some("-9e999")
        );
        let err = lit(Value::Float64(f64::NAN)).err();
        assert!(err.is_some_and(|e| e.to_string().contains("NaN")));
    }

    #[test]
    fn dates_and_times_are_iso_text() {
        assert_eq!(lit(Value::Date(0)).ok().as_deref(), Some("'1970-01-01'"));
        assert_eq!(
            lit(Value::Date(-719_528)).ok().as_deref(),
            Some("'0000-01-01'")
        );
        assert!(lit(Value::Date(-719_529)).is_err());
        assert!(lit(Value::Date(2_932_897)).is_err());
        assert!(lit(Value::Time(i64::MIN)).is_err());
        assert_eq!(
            lit_as(Value::Time(45_296_789_000), ColumnType::Time)
                .ok()
                .as_deref(),
            Some("'12:34:56.789'")
        );
        assert_eq!(
            lit_as(Value::Time(45_296_789_000), ColumnType::MicroTime)
                .ok()
                .as_deref(),
            Some("'12:34:56.789000'")
        );
        assert_eq!(
            lit_as(Value::Time(1), ColumnType::Time).ok().as_deref(),
            Some("'00:00:00.000001'")
        );
        assert_eq!(
            lit_as(Value::Time(-360_000_001_000), ColumnType::Time)
                .ok()
                .as_deref(),
            Some("'-100:00:00.001'")
        );
        assert_eq!(
            lit_as(
                Value::Timestamp(1_660_592_867_000_000),
                ColumnType::Timestamp
            )
            .ok()
            .as_deref(),
            Some("'2022-08-15 19:47:47.000'")
        );
        assert_eq!(
            lit_as(Value::Timestamp(-1), ColumnType::MicroTimestamp)
                .ok()
                .as_deref(),
            Some("'1969-12-31 23:59:59.999999'")
        );
    }

    #[test]
    fn declared_types_map_back_to_stored_types() {
        let all = [
            ColumnType::Int8,
            ColumnType::Int32,
            ColumnType::Int64,
            ColumnType::Float32,
            ColumnType::Float64,
            ColumnType::Boolean,
            ColumnType::String { max_len: Some(12) },
            ColumnType::Bytes { max_len: None },
            ColumnType::Decimal {
                scale: 2,
                precision: Some(10),
            },
            ColumnType::Date,
            ColumnType::Time,
            ColumnType::MicroTime,
            ColumnType::Timestamp,
            ColumnType::MicroTimestamp,
        ];
        for ty in &all {
            assert_eq!(
                type_from_declared(&sql_type(ty)),
                Some(stored_type(ty)),
                "{ty:?}"
            );
        }
        assert_eq!(
            sql_type(&ColumnType::Decimal {
                scale: 3,
                precision: None
            }),
            "DECIMAL_TEXT_SCALE(3)"
        );
        let dec = |s| ColumnType::Decimal {
            scale: s,
            precision: None,
        };
        assert_eq!(type_from_declared("numeric(10, 2)"), Some(dec(2)));
        assert_eq!(type_from_declared("DECIMAL(10)"), Some(dec(0)));
        assert_eq!(type_from_declared("varchar(40)"), sql_string());
        assert_eq!(
            type_from_declared("unsigned big int"),
            Some(ColumnType::Int64)
        );
        assert_eq!(
            type_from_declared("double precision"),
            Some(ColumnType::Float64)
        );
        assert_eq!(type_from_declared(""), None);
        assert_eq!(type_from_declared("NUMERIC"), None);
    }

    fn sql_string() -> Option<ColumnType> {
        Some(ColumnType::String { max_len: None })
    }
}
