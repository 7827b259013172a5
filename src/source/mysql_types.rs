//! MySQL/MariaDB result-set columns and values in Sluice's type model.
//!
//! The mapping follows the Kafka Connect JDBC source's MySQL mapping, minus its
//! overflow bugs (design.md §4): unsigned integers widen one step and
//! `BIGINT UNSIGNED` becomes `Decimal` with scale 0; `TINYINT(1)` stays int8;
//! `BIT(1)` is boolean, wider BITs are bytes; DECIMAL is `Decimal`; text is
//! string (the connection runs with `utf8mb4`, so latin1 and other charsets
//! arrive converted); binary types are bytes; DATE/TIME/DATETIME/TIMESTAMP are
//! the Connect logical types. `YEAR` is int32 (the year number).
//!
//! Values are read with the binary protocol (prepared statements), so they
//! arrive typed. DATETIME is read in `db_timezone` (UTC by default); TIMESTAMP
//! arrives in the session time zone, which Sluice sets to UTC. Zero dates
//! (`0000-00-00`, allowed by permissive `sql_mode`) become NULL in nullable
//! columns and the epoch in NOT NULL ones, as Debezium does.

use mysql_async::consts::{ColumnFlags, ColumnType as My};
use mysql_async::{Column as MyColumn, Value as MyValue};

use crate::config::DbZone;
use crate::event::Value;
use crate::schema::{Column, ColumnType, Semantic};

/// The `binary` character set id.
const BINARY_CHARSET: u16 = 63;

/// A value that does not fit its column's type.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {reason}")]
pub struct ValueError {
    /// Column name.
    pub column: String,
    /// Why.
    pub reason: String,
}

/// TIME / DATETIME / TIMESTAMP by their fractional-second precision (fsp):
/// up to 3 digits fit Connect's millisecond types, more need the
/// microsecond ones (`time_precision` then says how each is written).
pub mod temporal {
    use crate::schema::ColumnType;

    /// More digits than milliseconds hold (31 is MySQL's "not fixed").
    fn sub_milli(fsp: u32) -> bool {
        fsp > 3
    }

    /// TIME(fsp).
    pub fn time(fsp: u32) -> ColumnType {
        if sub_milli(fsp) {
            ColumnType::MicroTime
        } else {
            ColumnType::Time
        }
    }

    /// DATETIME(fsp) / TIMESTAMP(fsp).
    pub fn timestamp(fsp: u32) -> ColumnType {
        if sub_milli(fsp) {
            ColumnType::MicroTimestamp
        } else {
            ColumnType::Timestamp
        }
    }
}

/// Maps a result-set column to a Connect-model column.
pub fn column_from_result(col: &MyColumn) -> Column {
    let flags = col.flags();
    let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let binary = col.character_set() == BINARY_CHARSET;
    let ty = match col.column_type() {
        My::MYSQL_TYPE_TINY => {
            if unsigned {
                ColumnType::Int16
            } else {
                ColumnType::Int8
            }
        }
        My::MYSQL_TYPE_SHORT => {
            if unsigned {
                ColumnType::Int32
            } else {
                ColumnType::Int16
            }
        }
        My::MYSQL_TYPE_INT24 => ColumnType::Int32,
        My::MYSQL_TYPE_LONG => {
            if unsigned {
                ColumnType::Int64
            } else {
                ColumnType::Int32
            }
        }
        My::MYSQL_TYPE_LONGLONG => {
            if unsigned {
                ColumnType::Decimal {
                    scale: 0,
                    precision: Some(20),
                }
            } else {
                ColumnType::Int64
            }
        }
        My::MYSQL_TYPE_YEAR => ColumnType::Int32,
        My::MYSQL_TYPE_FLOAT => ColumnType::Float32,
        My::MYSQL_TYPE_DOUBLE => ColumnType::Float64,
        My::MYSQL_TYPE_DECIMAL | My::MYSQL_TYPE_NEWDECIMAL => {
            let scale = u32::from(col.decimals());
            // Display length = precision + sign (signed) + point (scale > 0).
            let extra = u32::from(scale > 0) + u32::from(!unsigned);
            ColumnType::Decimal {
                scale,
                precision: Some(col.column_length().saturating_sub(extra).max(1)),
            }
        }
        My::MYSQL_TYPE_BIT => {
            if col.column_length() == 1 {
                ColumnType::Boolean
            } else {
                ColumnType::Bytes { max_len: None }
            }
        }
        My::MYSQL_TYPE_DATE | My::MYSQL_TYPE_NEWDATE => ColumnType::Date,
        My::MYSQL_TYPE_TIME | My::MYSQL_TYPE_TIME2 => temporal::time(u32::from(col.decimals())),
        My::MYSQL_TYPE_DATETIME
        | My::MYSQL_TYPE_DATETIME2
        | My::MYSQL_TYPE_TIMESTAMP
        | My::MYSQL_TYPE_TIMESTAMP2 => temporal::timestamp(u32::from(col.decimals())),
        My::MYSQL_TYPE_GEOMETRY => ColumnType::Bytes { max_len: None },
        // MySQL reports JSON with the binary charset; it is text.
        My::MYSQL_TYPE_JSON => ColumnType::String { max_len: None },
        _ if binary => ColumnType::Bytes { max_len: None },
        // VARCHAR, CHAR, TEXT, ENUM, SET, JSON, and anything unknown: text.
        _ => ColumnType::String { max_len: None },
    };
    Column::new(
        col.name_str().into_owned(),
        ty,
        !flags.contains(ColumnFlags::NOT_NULL_FLAG),
    )
}

/// Per result column: true for DATETIME (read in `db_timezone`), false for
/// everything else (TIMESTAMP arrives in the session zone, UTC).
pub fn datetime_columns(columns: &[MyColumn]) -> Vec<bool> {
    columns
        .iter()
        .map(|c| {
            matches!(
                c.column_type(),
                My::MYSQL_TYPE_DATETIME | My::MYSQL_TYPE_DATETIME2
            )
        })
        .collect()
}

/// Days since 1970-01-01 of a civil date, or `None` for invalid dates.
pub fn days_from_civil(y: i32, m: u32, d: u32) -> Option<i32> {
    let date = chrono::NaiveDate::from_ymd_opt(y, m, d)?;
    let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
    i32::try_from((date - epoch).num_days()).ok()
}

fn text(col: &Column, bytes: Vec<u8>) -> Result<String, ValueError> {
    String::from_utf8(bytes).map_err(|_| ValueError {
        column: col.name.clone(),
        reason: "text is not valid UTF-8 (is the connection charset utf8mb4?)".into(),
    })
}

/// Canonical decimal text with exactly `scale` fraction digits.
pub fn canonical_decimal(raw: &str, scale: u32) -> Option<String> {
    let raw = raw.trim();
    let (neg, digits) = match raw.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let int = int.trim_start_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let scale = scale as usize;
    if frac.len() > scale && frac[scale..].bytes().any(|b| b != b'0') {
        return None;
    }
    let mut out = String::with_capacity(int.len() + scale + 2);
    let zero = int == "0" && frac.bytes().all(|b| b == b'0');
    if neg && !zero {
        out.push('-');
    }
    out.push_str(int);
    if scale > 0 {
        out.push('.');
        let kept = &frac[..frac.len().min(scale)];
        out.push_str(kept);
        out.extend(std::iter::repeat_n('0', scale - kept.len()));
    }
    Some(out)
}

/// Converts one binary-protocol value of `col`. `zone` is the zone DATETIME
/// values are read in (TIMESTAMPs arrive in the session zone, UTC).
pub fn value_from_mysql(
    col: &Column,
    v: MyValue,
    zone: DbZone,
    is_datetime: bool,
) -> Result<Value, ValueError> {
    let bad = |reason: String| ValueError {
        column: col.name.clone(),
        reason,
    };
    Ok(match (v, &col.ty) {
        (MyValue::NULL, _) => Value::Null,
        (MyValue::Int(i), ColumnType::Decimal { scale, .. }) => Value::Decimal(
            canonical_decimal(&i.to_string(), *scale).ok_or_else(|| bad("bad integer".into()))?,
        ),
        (MyValue::UInt(u), ColumnType::Decimal { scale, .. }) => Value::Decimal(
            canonical_decimal(&u.to_string(), *scale).ok_or_else(|| bad("bad integer".into()))?,
        ),
        (MyValue::Int(i), ColumnType::Boolean) => Value::Boolean(i != 0),
        (MyValue::Int(i), _) => Value::Int(i),
        (MyValue::UInt(u), _) => Value::Int(
            i64::try_from(u).map_err(|_| bad(format!("unsigned value {u} exceeds int64")))?,
        ),
        (MyValue::Float(f), ColumnType::Float64) => Value::Float64(f64::from(f)),
        (MyValue::Float(f), _) => Value::Float32(f),
        (MyValue::Double(d), ColumnType::Float32) => Value::Float32(d as f32),
        (MyValue::Double(d), _) => Value::Float64(d),
        (MyValue::Bytes(b), ColumnType::Boolean) => Value::Boolean(b.iter().any(|&x| x != 0)),
        (MyValue::Bytes(b), ColumnType::Bytes { .. }) => Value::Bytes(b),
        (MyValue::Bytes(b), ColumnType::Decimal { scale, .. }) => {
            let t = text(col, b)?;
            Value::Decimal(
                canonical_decimal(&t, *scale)
                    .ok_or_else(|| bad(format!("\"{t}\" is not a decimal")))?,
            )
        }
        (
            MyValue::Bytes(b),
            ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64,
        ) => {
            let t = text(col, b)?;
            Value::Int(
                t.trim()
                    .parse()
                    .map_err(|_| bad(format!("\"{t}\" is not an integer")))?,
            )
        }
        (MyValue::Bytes(b), _) => Value::String(text(col, b)?),
        (MyValue::Date(y, m, d, h, mi, s, us), ty) => {
            let Some(days) = days_from_civil(i32::from(y), u32::from(m), u32::from(d)) else {
                // Zero or invalid date under a permissive sql_mode.
                return Ok(if col.optional {
                    Value::Null
                } else if *ty == ColumnType::Date {
                    Value::Date(0)
                } else {
                    Value::Timestamp(0)
                });
            };
            match ty {
                ColumnType::Date => Value::Date(days),
                _ => {
                    let secs = i64::from(days) * 86_400
                        + i64::from(h) * 3600
                        + i64::from(mi) * 60
                        + i64::from(s);
                    let micros = secs * 1_000_000 + i64::from(us);
                    Value::Timestamp(if is_datetime {
                        zone.to_utc_micros(micros)
                    } else {
                        micros
                    })
                }
            }
        }
        (MyValue::Time(neg, days, h, m, s, us), _) => {
            let micros =
                ((i64::from(days) * 24 + i64::from(h)) * 3600 + i64::from(m) * 60 + i64::from(s))
                    * 1_000_000
                    + i64::from(us);
            Value::Time(if neg { -micros } else { micros })
        }
    })
}

/// The [`Semantic`] of a column from its `information_schema.COLUMNS`
/// `COLUMN_TYPE` (`bit(10)`, `enum('a','b')`, `timestamp(6)`,
/// `bigint unsigned`...), as the binlog's table map gives it when
/// streaming: the snapshot's schema must be the stream's.
pub fn semantic_from_column_type(column_type: &str) -> Option<Semantic> {
    let t = column_type.trim();
    let lower = t.to_ascii_lowercase();
    let (base, args) = match lower.find('(') {
        Some(i) => (
            &lower[..i],
            Some(&t[i + 1..t.rfind(')').unwrap_or(t.len())]),
        ),
        None => (lower.split_whitespace().next().unwrap_or(""), None),
    };
    let number = || args.and_then(|a| a.trim().parse::<u32>().ok());
    match base.trim() {
        "bit" => match number().unwrap_or(1) {
            1 => None,
            length => Some(Semantic::Bits { length }),
        },
        "enum" => Some(Semantic::Enum(enum_texts(t))),
        "set" => Some(Semantic::Set(enum_texts(t))),
        "json" => Some(Semantic::Json),
        "geometry" | "point" | "linestring" | "polygon" | "multipoint" | "multilinestring"
        | "multipolygon" | "geometrycollection" | "geomcollection" => Some(Semantic::Geometry),
        "timestamp" => Some(Semantic::Timestamp {
            fsp: number().unwrap_or(0),
        }),
        "year" => Some(Semantic::Year),
        "bigint" if lower.contains("unsigned") => Some(Semantic::UnsignedBigint),
        _ => None,
    }
}

/// The values of an `enum(...)` / `set(...)` `COLUMN_TYPE`, each as written
/// (`'it''s'`) and as text (`it's`): SQL quoting, `''` and `\\'` escapes.
pub fn enum_values(column_type: &str) -> Vec<(String, String)> {
    let Some(open) = column_type.find('(') else {
        return Vec::new();
    };
    let inner = &column_type[open + 1..column_type.rfind(')').unwrap_or(column_type.len())];
    let mut out = Vec::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let (mut raw, mut text) = (String::from("'"), String::new());
        while let Some(c) = chars.next() {
            raw.push(c);
            match c {
                '\'' if chars.peek() == Some(&'\'') => {
                    raw.push('\'');
                    chars.next();
                    text.push('\'');
                }
                '\'' => break,
                '\\' => {
                    if let Some(n) = chars.next() {
                        raw.push(n);
                        text.push(n);
                    }
                }
                c => text.push(c),
            }
        }
        out.push((raw, text));
    }
    out
}

/// The texts of [`enum_values`].
fn enum_texts(column_type: &str) -> Vec<String> {
    enum_values(column_type)
        .into_iter()
        .map(|(_, text)| text)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn semantics_from_information_schema_column_types() {
        let sem = semantic_from_column_type;
        assert_eq!(sem("bit(1)"), None);
        assert_eq!(sem("bit(10)"), Some(Semantic::Bits { length: 10 }));
        assert_eq!(
            sem("enum('a','b','ünï')"),
            Some(Semantic::Enum(vec!["a".into(), "b".into(), "ünï".into()]))
        );
        assert_eq!(
            sem("set('x,y','it''s')"),
            Some(Semantic::Set(vec!["x,y".into(), "it's".into()]))
        );
        assert_eq!(sem("json"), Some(Semantic::Json));
        assert_eq!(sem("point"), Some(Semantic::Geometry));
        assert_eq!(sem("timestamp(6)"), Some(Semantic::Timestamp { fsp: 6 }));
        assert_eq!(sem("timestamp"), Some(Semantic::Timestamp { fsp: 0 }));
        assert_eq!(sem("year"), Some(Semantic::Year));
        assert_eq!(sem("bigint unsigned"), Some(Semantic::UnsignedBigint));
        assert_eq!(sem("bigint(20) unsigned"), Some(Semantic::UnsignedBigint));
        assert_eq!(sem("bigint"), None);
        assert_eq!(sem("datetime(6)"), None);
        assert_eq!(sem("varchar(32)"), None);
    }

    fn col(ty: ColumnType) -> Column {
        Column::new("c", ty, true)
    }

    #[test]
    fn result_columns_map_per_design() {
        let c = MyColumn::new(My::MYSQL_TYPE_LONGLONG).with_flags(ColumnFlags::UNSIGNED_FLAG);
        assert_eq!(
            column_from_result(&c).ty,
            ColumnType::Decimal {
                scale: 0,
                precision: Some(20)
            }
        );
        let c = MyColumn::new(My::MYSQL_TYPE_TINY).with_column_length(1);
        assert_eq!(column_from_result(&c).ty, ColumnType::Int8);
        let c = MyColumn::new(My::MYSQL_TYPE_TINY).with_flags(ColumnFlags::UNSIGNED_FLAG);
        assert_eq!(column_from_result(&c).ty, ColumnType::Int16);
        let c = MyColumn::new(My::MYSQL_TYPE_LONG)
            .with_flags(ColumnFlags::UNSIGNED_FLAG | ColumnFlags::NOT_NULL_FLAG);
        let mapped = column_from_result(&c);
        assert_eq!(mapped.ty, ColumnType::Int64);
        assert!(!mapped.optional);
        let c = MyColumn::new(My::MYSQL_TYPE_NEWDECIMAL)
            .with_column_length(12)
            .with_decimals(2);
        assert_eq!(
            column_from_result(&c).ty,
            ColumnType::Decimal {
                scale: 2,
                precision: Some(10)
            }
        );
        let c = MyColumn::new(My::MYSQL_TYPE_BIT).with_column_length(1);
        assert_eq!(column_from_result(&c).ty, ColumnType::Boolean);
        let c = MyColumn::new(My::MYSQL_TYPE_BLOB).with_character_set(63);
        assert_eq!(
            column_from_result(&c).ty,
            ColumnType::Bytes { max_len: None }
        );
        let c = MyColumn::new(My::MYSQL_TYPE_BLOB).with_character_set(255);
        assert_eq!(
            column_from_result(&c).ty,
            ColumnType::String { max_len: None }
        );
        let c = MyColumn::new(My::MYSQL_TYPE_TIMESTAMP);
        assert_eq!(column_from_result(&c).ty, ColumnType::Timestamp);
        let c = MyColumn::new(My::MYSQL_TYPE_DATETIME2).with_decimals(3);
        assert_eq!(column_from_result(&c).ty, ColumnType::Timestamp);
        let c = MyColumn::new(My::MYSQL_TYPE_DATETIME2).with_decimals(6);
        assert_eq!(column_from_result(&c).ty, ColumnType::MicroTimestamp);
        let c = MyColumn::new(My::MYSQL_TYPE_TIME2).with_decimals(4);
        assert_eq!(column_from_result(&c).ty, ColumnType::MicroTime);
        let c = MyColumn::new(My::MYSQL_TYPE_TIME2).with_decimals(0);
        assert_eq!(column_from_result(&c).ty, ColumnType::Time);
    }

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(canonical_decimal("12.3", 2).as_deref(), Some("12.30"));
        assert_eq!(canonical_decimal("-0.00", 2).as_deref(), Some("0.00"));
        assert_eq!(canonical_decimal("007", 0).as_deref(), Some("7"));
        assert_eq!(canonical_decimal("1.230", 2).as_deref(), Some("1.23"));
        assert_eq!(canonical_decimal("1.235", 2), None);
        assert_eq!(canonical_decimal("abc", 2), None);
        assert_eq!(
            canonical_decimal("18446744073709551615", 0).as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn unsigned_bigint_max_becomes_decimal() {
        let c = col(ColumnType::Decimal {
            scale: 0,
            precision: Some(20),
        });
        let v = value_from_mysql(&c, MyValue::UInt(u64::MAX), DbZone::Utc, false).expect("convert");
        assert_eq!(v, Value::Decimal("18446744073709551615".into()));
    }

    #[test]
    fn datetimes_convert_with_zone() {
        let c = col(ColumnType::Timestamp);
        let v = value_from_mysql(
            &c,
            MyValue::Date(2022, 8, 15, 19, 47, 47, 0),
            DbZone::Utc,
            true,
        )
        .expect("convert");
        assert_eq!(v, Value::Timestamp(1_660_592_867_000_000));
        let v = value_from_mysql(
            &c,
            MyValue::Date(2022, 8, 15, 21, 47, 47, 5),
            DbZone::Fixed(7200),
            true,
        )
        .expect("convert");
        assert_eq!(v, Value::Timestamp(1_660_592_867_000_005));
        let v = value_from_mysql(
            &c,
            MyValue::Date(1969, 12, 31, 23, 59, 59, 500_000),
            DbZone::Utc,
            true,
        )
        .expect("convert");
        assert_eq!(v, Value::Timestamp(-500_000));
    }

    #[test]
    fn datetimes_read_in_an_iana_zone_follow_its_summer_time() {
        let c = col(ColumnType::Timestamp);
        let paris = DbZone::parse("Europe/Paris").expect("zone");
        // 2022-08-15 21:47:47 in Paris is CEST (+02:00): 19:47:47Z.
        let v = value_from_mysql(&c, MyValue::Date(2022, 8, 15, 21, 47, 47, 0), paris, true)
            .expect("convert");
        assert_eq!(v, Value::Timestamp(1_660_592_867_000_000));
        // In January it is CET (+01:00).
        let v = value_from_mysql(&c, MyValue::Date(2022, 1, 15, 20, 47, 47, 0), paris, true)
            .expect("convert");
        assert_eq!(v, Value::Timestamp(1_642_276_067_000_000));
        // TIMESTAMP columns (is_datetime false) are instants: no zone applies.
        let v = value_from_mysql(&c, MyValue::Date(2022, 8, 15, 19, 47, 47, 0), paris, false)
            .expect("convert");
        assert_eq!(v, Value::Timestamp(1_660_592_867_000_000));
    }

    #[test]
    fn zero_dates_become_null_or_epoch() {
        let v = value_from_mysql(
            &col(ColumnType::Date),
            MyValue::Date(0, 0, 0, 0, 0, 0, 0),
            DbZone::Utc,
            false,
        )
        .expect("convert");
        assert_eq!(v, Value::Null);
        let required = Column::new("c", ColumnType::Date, false);
        let v = value_from_mysql(
            &required,
            MyValue::Date(0, 0, 0, 0, 0, 0, 0),
            DbZone::Utc,
            false,
        )
        .expect("convert");
        assert_eq!(v, Value::Date(0));
    }

    #[test]
    fn negative_and_long_times() {
        let c = col(ColumnType::Time);
        let v = value_from_mysql(&c, MyValue::Time(true, 1, 2, 3, 4, 5), DbZone::Utc, false)
            .expect("convert");
        assert_eq!(v, Value::Time(-((26 * 3600 + 3 * 60 + 4) * 1_000_000 + 5)));
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_column() {
        let c = col(ColumnType::String { max_len: None });
        let e = value_from_mysql(&c, MyValue::Bytes(vec![0xff, 0xfe]), DbZone::Utc, false)
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("`c`")));
    }
}
