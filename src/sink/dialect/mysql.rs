//! MySQL / MariaDB: identifier quoting, the type mapping, and literals.
//!
//! - Identifiers: backquoted, inner backquotes doubled (`crate::mysql::quote`);
//!   NUL, characters outside the BMP (MySQL cannot store them in names) and
//!   names over 64 characters are rejected rather than mangled.
//! - Strings: single-quoted with backslash escapes for `\` `'` NUL `\n` `\r` and
//!   `\x1a`. Backslash escapes are only special without `NO_BACKSLASH_ESCAPES`,
//!   which the sink's session always removes from `sql_mode` (see `target`); the
//!   session also runs `SET NAMES utf8mb4`, so the text is read as UTF-8.
//! - Bytes: `X'hex'`. Decimals: unquoted exact literals. Floats: `1.5e0` form,
//!   which MySQL reads as an exact DOUBLE. NaN and infinities cannot be stored
//!   in MySQL and are errors.
//! - Timestamps go to `DATETIME(3|6)`, not `TIMESTAMP`: DATETIME covers years
//!   1000–9999 (TIMESTAMP stops in 2038) and is never shifted by the session
//!   time zone. Values are written in UTC.
//! - Non-key strings without a small declared length become `LONGTEXT` (not
//!   Connect's `TEXT`, which truncates at 64 KiB); key strings need a length to be
//!   indexable, so they get `VARCHAR(256)` as Connect does. Short lengths
//!   (≤ 255) stay `VARCHAR(n)`; longer ones go to `LONGTEXT` so wide tables stay
//!   under MySQL's 65,535-byte row limit. Bytes follow the same rule
//!   (`VARBINARY(n)` / `LONGBLOB`).

use super::literal::{self, LiteralError};
use super::SqlError;
use crate::event::Value;
use crate::schema::ColumnType;

/// Longest declared length kept as VARCHAR/VARBINARY for non-key columns.
const MAX_INLINE_LEN: u32 = 255;
/// Length given to key strings and bytes that declare none (as Connect does).
const KEY_LEN: u32 = 256;
/// MySQL's largest DECIMAL precision.
const MAX_PRECISION: u32 = 65;
/// Longest identifier, in characters.
const MAX_IDENT_CHARS: usize = 64;

/// Table options for every table the sink creates: transactional, UTF-8, exact (binary) key comparison.
pub(crate) const TABLE_OPTIONS: &str = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin";

/// Quotes `name` as an identifier, or rejects it (see the module docs).
pub(crate) fn quote_ident(name: &str) -> Result<String, SqlError> {
    let bad = |reason: &'static str| SqlError::Identifier {
        name: name.to_string(),
        reason,
    };
    super::check_ident(name)?;
    if name.chars().count() > MAX_IDENT_CHARS {
        return Err(bad("MySQL names are at most 64 characters"));
    }
    if name.chars().any(|c| u32::from(c) > 0xFFFF) {
        return Err(bad("MySQL names cannot contain characters outside the BMP"));
    }
    Ok(crate::mysql::quote(name))
}

/// The type a column of `ty` is stored as, i.e. what `describe_table` reads back.
pub(crate) fn stored_type(ty: &ColumnType, is_key: bool) -> ColumnType {
    match ty {
        ColumnType::String { max_len } => ColumnType::String {
            max_len: inline_len(*max_len, is_key),
        },
        ColumnType::Bytes { max_len } => ColumnType::Bytes {
            max_len: inline_len(*max_len, is_key),
        },
        ColumnType::Decimal { scale, precision } => ColumnType::Decimal {
            scale: *scale,
            precision: Some(decimal_precision(*scale, *precision)),
        },
        other => other.clone(),
    }
}

/// `Some(n)` when the column is a VARCHAR/VARBINARY of length n, `None` for LONGTEXT/LONGBLOB.
fn inline_len(max_len: Option<u32>, is_key: bool) -> Option<u32> {
    match (max_len, is_key) {
        (Some(n), true) => Some(n),
        (None, true) => Some(KEY_LEN),
        (Some(n), false) if n <= MAX_INLINE_LEN => Some(n),
        _ => None,
    }
}

fn decimal_precision(scale: u32, precision: Option<u32>) -> u32 {
    precision
        .unwrap_or(MAX_PRECISION)
        .max(scale)
        .clamp(1, MAX_PRECISION)
}

/// The column type in DDL.
pub(crate) fn sql_type(ty: &ColumnType, is_key: bool) -> String {
    match stored_type(ty, is_key) {
        ColumnType::Int8 => "TINYINT".into(),
        ColumnType::Int16 => "SMALLINT".into(),
        ColumnType::Int32 => "INT".into(),
        ColumnType::Int64 => "BIGINT".into(),
        ColumnType::Float32 => "FLOAT".into(),
        ColumnType::Float64 => "DOUBLE".into(),
        ColumnType::Boolean => "TINYINT(1)".into(),
        ColumnType::String { max_len: Some(n) } => format!("VARCHAR({n})"),
        ColumnType::String { max_len: None } => "LONGTEXT".into(),
        ColumnType::Bytes { max_len: Some(n) } => format!("VARBINARY({n})"),
        ColumnType::Bytes { max_len: None } => "LONGBLOB".into(),
        ColumnType::Decimal { scale, precision } => {
            format!("DECIMAL({},{scale})", precision.unwrap_or(MAX_PRECISION))
        }
        ColumnType::Date => "DATE".into(),
        ColumnType::Time => "TIME(3)".into(),
        ColumnType::MicroTime => "TIME(6)".into(),
        ColumnType::Timestamp => "DATETIME(3)".into(),
        ColumnType::MicroTimestamp => "DATETIME(6)".into(),
    }
}

/// True for types whose DEFAULT must be a parenthesised expression (BLOB/TEXT).
pub(crate) fn default_needs_parens(ty: &ColumnType, is_key: bool) -> bool {
    matches!(
        stored_type(ty, is_key),
        ColumnType::String { max_len: None } | ColumnType::Bytes { max_len: None }
    )
}

/// The ColumnType of an `information_schema.COLUMNS` row, or `None` when Sluice has no mapping.
pub(crate) fn type_from_information_schema(
    data_type: &str,
    column_type: &str,
    char_len: Option<u64>,
    precision: Option<u64>,
    scale: Option<u64>,
    datetime_precision: Option<u64>,
) -> Option<ColumnType> {
    let unsigned = column_type.contains("unsigned");
    let len = char_len.and_then(|n| u32::try_from(n).ok());
    let micro = datetime_precision.unwrap_or(0) > 3;
    Some(match data_type.to_ascii_lowercase().as_str() {
        "tinyint" if column_type.starts_with("tinyint(1)") && !unsigned => ColumnType::Boolean,
        "tinyint" if unsigned => ColumnType::Int16,
        "tinyint" => ColumnType::Int8,
        "smallint" if unsigned => ColumnType::Int32,
        "smallint" => ColumnType::Int16,
        "mediumint" => ColumnType::Int32,
        "int" | "integer" if unsigned => ColumnType::Int64,
        "int" | "integer" => ColumnType::Int32,
        "bigint" if unsigned => ColumnType::Decimal {
            scale: 0,
            precision: Some(20),
        },
        "bigint" => ColumnType::Int64,
        "year" => ColumnType::Int16,
        "float" => ColumnType::Float32,
        "double" | "real" => ColumnType::Float64,
        "decimal" | "numeric" => ColumnType::Decimal {
            scale: u32::try_from(scale.unwrap_or(0)).ok()?,
            precision: precision.and_then(|p| u32::try_from(p).ok()),
        },
        "bit" if column_type == "bit(1)" => ColumnType::Boolean,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "enum" | "set" => {
            ColumnType::String { max_len: len }
        }
        "longtext" | "json" => ColumnType::String { max_len: None },
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "bit" => {
            ColumnType::Bytes { max_len: len }
        }
        "longblob" => ColumnType::Bytes { max_len: None },
        "date" => ColumnType::Date,
        "time" if micro => ColumnType::MicroTime,
        "time" => ColumnType::Time,
        "datetime" | "timestamp" if micro => ColumnType::MicroTimestamp,
        "datetime" | "timestamp" => ColumnType::Timestamp,
        _ => return None,
    })
}

/// Writes `value` as a MySQL literal.
pub(crate) fn write_literal(
    out: &mut String,
    value: &Value,
    _ty: &ColumnType,
) -> Result<(), LiteralError> {
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) => out.push(if *b { '1' } else { '0' }),
        Value::Int(i) => literal::write_int(out, *i),
        Value::Float32(f) => literal::write_float(out, f64::from(*f))?,
        Value::Float64(f) => literal::write_float(out, *f)?,
        Value::String(s) => write_string(out, s),
        Value::Bytes(b) => {
            out.push_str("X'");
            literal::write_hex(out, b);
            out.push('\'');
        }
        Value::Decimal(d) => {
            literal::check_decimal(d)?;
            out.push_str(d);
        }
        Value::Date(days) => {
            let c = literal::civil_from_days(i64::from(*days));
            check_year(c.year)?;
            out.push('\'');
            literal::write_ymd(out, c.year, c);
            out.push('\'');
        }
        Value::Time(micros) => write_time(out, *micros)?,
        Value::Timestamp(micros) => {
            let (c, in_day) = literal::split_timestamp(*micros);
            check_year(c.year)?;
            out.push('\'');
            literal::write_ymd(out, c.year, c);
            out.push(' ');
            literal::write_hms(out, in_day);
            out.push('\'');
        }
    }
    Ok(())
}

/// Appends one field of `LOAD DATA … FIELDS TERMINATED BY '\t' ESCAPED BY '\\'
/// LINES TERMINATED BY '\n'` text: the value [`write_literal`] writes, unquoted,
/// with LOAD DATA's backslash escapes (`\N` is NULL). Returns `Ok(false)`
/// without writing for bytes, which only travel as `X'…'` literals.
pub(crate) fn write_load_text(out: &mut String, value: &Value) -> Result<bool, LiteralError> {
    match value {
        Value::Null => out.push_str("\\N"),
        Value::Bytes(_) => return Ok(false),
        Value::String(s) => literal::write_tab_escaped(out, s),
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) => {
            // The quoted literal minus its quotes (digits, '-', ':', '.', ' ').
            let start = out.len();
            write_literal(out, value, &ColumnType::Int64)?;
            if out[start..].starts_with('\'') && out.ends_with('\'') {
                out.pop();
                out.remove(start);
            }
        }
        other => write_literal(out, other, &ColumnType::Int64)?,
    }
    Ok(true)
}

fn check_year(year: i64) -> Result<(), LiteralError> {
    if (1..=9999).contains(&year) {
        Ok(())
    } else {
        Err(LiteralError("date outside MySQL's range (years 1 to 9999)"))
    }
}

fn write_time(out: &mut String, micros: i64) -> Result<(), LiteralError> {
    const MAX: i64 = 838 * 3_600_000_000 + 59 * 60_000_000 + 59_999_999;
    if micros.unsigned_abs() > MAX as u64 {
        return Err(LiteralError(
            "time outside MySQL's TIME range (±838:59:59.999999)",
        ));
    }
    out.push('\'');
    if micros < 0 {
        out.push('-');
    }
    literal::write_hms(out, micros.abs());
    out.push('\'');
    Ok(())
}

/// Single-quoted string with MySQL backslash escapes.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\0' => out.push_str("\\0"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\x1a' => out.push_str("\\Z"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Result<String, LiteralError> {
        let mut s = String::new();
        write_literal(&mut s, &v, &ColumnType::Int64).map(|()| s)
    }

    fn load(v: Value) -> Result<Option<String>, LiteralError> {
        let mut s = String::new();
        write_load_text(&mut s, &v).map(|written| written.then_some(s))
    }

    #[test]
    fn load_data_text_escapes_what_load_data_unescapes() {
        let text = |v| load(v).ok().flatten();
        assert_eq!(text(Value::Null).as_deref(), Some("\\N"));
        // A string that reads "\N" is not NULL; tabs and newlines do not end the field.
        assert_eq!(text(Value::String("\\N".into())).as_deref(), Some("\\\\N"));
        assert_eq!(
            text(Value::String("a\tb\nc\r\0d'e\"f😀".into())).as_deref(),
            Some("a\\tb\\nc\\r\\0d'e\"f😀")
        );
        assert_eq!(text(Value::String(String::new())).as_deref(), Some(""));
        assert_eq!(text(Value::Int(-42)).as_deref(), Some("-42"));
        assert_eq!(text(Value::Boolean(true)).as_deref(), Some("1"));
        assert_eq!(text(Value::Float64(0.1)).as_deref(), Some("1e-1"));
        assert_eq!(
            text(Value::Decimal("-12.340".into())).as_deref(),
            Some("-12.340")
        );
        assert_eq!(text(Value::Date(-1)).as_deref(), Some("1969-12-31"));
        assert_eq!(
            text(Value::Time(-(3_600_000_000 + 1))).as_deref(),
            Some("-01:00:00.000001")
        );
        assert_eq!(
            text(Value::Timestamp(1_660_592_867_123_456)).as_deref(),
            Some("2022-08-15 19:47:47.123456")
        );
        // Bytes are not written (the run goes as INSERTs); bad values are errors as in INSERTs.
        assert_eq!(load(Value::Bytes(vec![0, 9])).ok(), Some(None));
        assert!(load(Value::Float64(f64::NAN)).is_err());
        assert!(load(Value::Decimal("1e5".into())).is_err());
        assert!(load(Value::Date(-800_000)).is_err());
    }

    #[test]
    fn idents_are_backquoted_exactly() {
        assert_eq!(quote_ident("a`b").ok().as_deref(), Some("`a``b`"));
        assert_eq!(
            quote_ident("\"; DROP TABLE x; --").ok().as_deref(),
            Some("`\"; DROP TABLE x; --`")
        );
        assert!(quote_ident("a\0b").is_err());
        assert!(quote_ident("").is_err());
        assert!(quote_ident(&"é".repeat(64)).is_ok());
        let err = quote_ident(&"x".repeat(65)).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains(&"x".repeat(65)) && e.contains("64")));
        assert!(quote_ident("smile😀").is_err());
    }

    #[test]
    fn strings_are_backslash_escaped() {
        assert_eq!(
            lit(Value::String("a'b\\c\0d\ne\rf\x1ag\"h".into()))
                .ok()
                .as_deref(),
            Some("'a\\'b\\\\c\\0d\\ne\\rf\\Zg\"h'")
        );
        assert_eq!(
            lit(Value::String("héllo 😀".into())).ok().as_deref(),
            Some("'héllo 😀'")
        );
    }

    #[test]
    fn scalars() {
        assert_eq!(lit(Value::Null).ok().as_deref(), Some("NULL"));
        assert_eq!(lit(Value::Boolean(true)).ok().as_deref(), Some("1"));
        assert_eq!(
            lit(Value::Int(i64::MIN)).ok().as_deref(),
            Some("-9223372036854775808")
        );
        assert_eq!(
            lit(Value::Bytes(vec![0, 0xff, b'\''])).ok().as_deref(),
            Some("X'00ff27'")
        );
        assert_eq!(lit(Value::Bytes(vec![])).ok().as_deref(), Some("X''"));
        assert_eq!(
            lit(Value::Decimal("-12.340".into())).ok().as_deref(),
            Some("-12.340")
        );
        assert!(lit(Value::Decimal("1); DROP".into())).is_err());
        assert_eq!(lit(Value::Float64(1.5)).ok().as_deref(), Some("1.5e0"));
        assert!(lit(Value::Float64(f64::NAN)).is_err());
        assert!(lit(Value::Float32(f32::NEG_INFINITY)).is_err());
    }

    #[test]
    fn dates_and_times() {
        assert_eq!(lit(Value::Date(0)).ok().as_deref(), Some("'1970-01-01'"));
        assert_eq!(
            lit(Value::Date(-719_162)).ok().as_deref(),
            Some("'0001-01-01'")
        );
        assert!(lit(Value::Date(-719_163)).is_err());
        assert!(lit(Value::Date(2_932_897)).is_err());
        assert_eq!(
            lit(Value::Time(-1)).ok().as_deref(),
            Some("'-00:00:00.000001'")
        );
        assert_eq!(
            lit(Value::Time(100 * 3_600_000_000 + 1_500_000))
                .ok()
                .as_deref(),
            Some("'100:00:01.500000'")
        );
        assert!(lit(Value::Time(839 * 3_600_000_000)).is_err());
        assert_eq!(
            lit(Value::Timestamp(1_660_592_867_000_000)).ok().as_deref(),
            Some("'2022-08-15 19:47:47.000000'")
        );
        assert_eq!(
            lit(Value::Timestamp(-1)).ok().as_deref(),
            Some("'1969-12-31 23:59:59.999999'")
        );
    }

    #[test]
    fn type_mapping_round_trips_through_information_schema() {
        let s = |n| ColumnType::String { max_len: n };
        assert_eq!(sql_type(&s(None), false), "LONGTEXT");
        assert_eq!(sql_type(&s(None), true), "VARCHAR(256)");
        assert_eq!(sql_type(&s(Some(40)), false), "VARCHAR(40)");
        assert_eq!(sql_type(&s(Some(4000)), false), "LONGTEXT");
        let dec = ColumnType::Decimal {
            scale: 2,
            precision: None,
        };
        assert_eq!(sql_type(&dec, false), "DECIMAL(65,2)");
        let big = ColumnType::Decimal {
            scale: 2,
            precision: Some(90),
        };
        assert_eq!(sql_type(&big, false), "DECIMAL(65,2)");
        let t = |dt: &str, ct: &str| type_from_information_schema(dt, ct, None, None, None, None);
        assert_eq!(t("tinyint", "tinyint(1)"), Some(ColumnType::Boolean));
        assert_eq!(t("tinyint", "tinyint(4)"), Some(ColumnType::Int8));
        assert_eq!(t("tinyint", "tinyint"), Some(ColumnType::Int8));
        assert_eq!(t("int", "int(10) unsigned"), Some(ColumnType::Int64));
        assert_eq!(t("geometry", "geometry"), None);
        let dt6 =
            type_from_information_schema("datetime", "datetime(6)", None, None, None, Some(6));
        assert_eq!(dt6, Some(ColumnType::MicroTimestamp));
    }
}
