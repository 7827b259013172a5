//! Binlog row values as Sluice values, per column as its table map said
//! ([`Decode`], chosen in [`super::table`]).

use mysql_async::binlog::value::BinlogValue;
use mysql_async::Value as MyValue;

use super::charset::{text_owned, Charset};
use crate::config::DbZone;
use crate::event::Value;
use crate::schema::Column;
use crate::source::mysql_types::{value_from_mysql, ValueError};

/// How one column's binlog value is decoded.
#[derive(Debug, Clone)]
pub(super) enum Decode {
    /// Through the shared MySQL value conversion (`is_datetime` shifts by db_timezone).
    Plain { is_datetime: bool },
    /// TIMESTAMP: `epoch[.micros]` text or seconds.
    Timestamp,
    /// YEAR: `1900 + y` text, where 1900 means year 0000.
    Year,
    /// Signed MEDIUMINT: `mysql_common` reads its 3 bytes without sign
    /// extension (-1 arrives as 16777215); the sign is restored here.
    SignedInt24,
    /// Text in a character set.
    Text(Charset),
    /// BINARY(n): trailing 0x00 the binlog drops are restored.
    FixedBinary(usize),
    /// ENUM: 1-based index into the values.
    Enum(Vec<String>),
    /// SET: bitmask over the values.
    Set(Vec<String>),
    /// JSON (MySQL binary JSON), printed in this style.
    Json(super::json_text::JsonStyle),
}

/// A signed 24-bit value read as its unsigned bit pattern → the signed value
/// (values already negative or below 2^23 are kept).
fn sign_extend_24(i: i64) -> i64 {
    if (0x80_0000..=0xFF_FFFF).contains(&i) {
        i - 0x100_0000
    } else {
        i
    }
}

pub(super) fn decode_value(
    col: &Column,
    how: &Decode,
    v: BinlogValue<'static>,
    tz: DbZone,
) -> Result<Value, ValueError> {
    let bad = |reason: String| ValueError {
        column: col.name.clone(),
        reason,
    };
    let v = match v {
        BinlogValue::Value(MyValue::NULL) => return Ok(Value::Null),
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            // As MySQL prints it, so the snapshot's SELECT and the binlog
            // agree; or as Debezium prints a streamed value.
            let style = match how {
                Decode::Json(style) => *style,
                _ => super::json_text::JsonStyle::Mysql,
            };
            let text = super::json_text::json_text(&j, style)
                .map_err(|e| bad(format!("binary JSON: {e}")))?;
            return Ok(Value::String(text));
        }
        BinlogValue::JsonDiff(_) => {
            return Err(bad(
                "partial JSON update: set binlog_row_value_options = '' on the server".into(),
            ))
        }
    };
    let bytes_text = |v: &MyValue| match v {
        MyValue::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        MyValue::Int(i) => Some(i.to_string()),
        _ => None,
    };
    Ok(match how {
        Decode::Plain { is_datetime } => value_from_mysql(col, v, tz, *is_datetime)?,
        Decode::Timestamp => {
            let t = bytes_text(&v).ok_or_else(|| bad("TIMESTAMP is not text".into()))?;
            let (secs, frac) = t.split_once('.').unwrap_or((&t, ""));
            let secs: i64 = secs
                .parse()
                .map_err(|_| bad(format!("TIMESTAMP \"{t}\"")))?;
            let micros: i64 = if frac.is_empty() {
                0
            } else {
                format!("{frac:0<6}")[..6]
                    .parse()
                    .map_err(|_| bad(format!("TIMESTAMP \"{t}\"")))?
            };
            if secs == 0 && micros == 0 && col.optional {
                Value::Null // the zero timestamp, as the snapshot reads it
            } else {
                Value::Timestamp(secs * 1_000_000 + micros)
            }
        }
        Decode::SignedInt24 => match v {
            MyValue::Int(i) => Value::Int(sign_extend_24(i)),
            other => value_from_mysql(col, other, tz, false)?,
        },
        Decode::Year => {
            let t = bytes_text(&v).ok_or_else(|| bad("YEAR is not text".into()))?;
            let y: i64 = t.parse().map_err(|_| bad(format!("YEAR \"{t}\"")))?;
            Value::Int(if y == 1900 { 0 } else { y })
        }
        Decode::Text(cs) => match v {
            MyValue::Bytes(b) => Value::String(text_owned(*cs, b).ok_or_else(|| {
                bad(format!(
                    "text is not valid in the column's character set ({cs:?})"
                ))
            })?),
            other => value_from_mysql(col, other, tz, false)?,
        },
        Decode::FixedBinary(len) => match v {
            MyValue::Bytes(mut b) => {
                if b.len() < *len {
                    b.resize(*len, 0);
                }
                Value::Bytes(b)
            }
            other => value_from_mysql(col, other, tz, false)?,
        },
        Decode::Enum(vals) => match v {
            MyValue::Int(0) => Value::String(String::new()),
            MyValue::Int(i) => Value::String(
                usize::try_from(i - 1)
                    .ok()
                    .and_then(|k| vals.get(k))
                    .cloned()
                    .ok_or_else(|| bad(format!("ENUM index {i} out of range")))?,
            ),
            other => value_from_mysql(col, other, tz, false)?,
        },
        Decode::Set(vals) => match v {
            MyValue::Bytes(b) => {
                let mut picked = Vec::new();
                for (k, name) in vals.iter().enumerate() {
                    if b.get(k / 8).is_some_and(|byte| byte & (1 << (k % 8)) != 0) {
                        picked.push(name.as_str());
                    }
                }
                Value::String(picked.join(","))
            }
            other => value_from_mysql(col, other, tz, false)?,
        },
        Decode::Json(_) => match v {
            // MariaDB JSON is LONGTEXT; MySQL's arrives as BinlogValue::Jsonb above.
            MyValue::Bytes(b) => Value::String(
                text_owned(Charset::Utf8, b).ok_or_else(|| bad("JSON is not UTF-8".into()))?,
            ),
            other => value_from_mysql(col, other, tz, false)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    fn col(ty: ColumnType, optional: bool) -> Column {
        Column::new("c", ty, optional)
    }

    #[test]
    fn signed_mediumint_gets_its_sign_back() {
        let c = col(ColumnType::Int32, true);
        let dec = |i| {
            decode_value(
                &c,
                &Decode::SignedInt24,
                BinlogValue::Value(MyValue::Int(i)),
                DbZone::Utc,
            )
            .expect("int24")
        };
        assert_eq!(dec(0x80_0000), Value::Int(-8_388_608));
        assert_eq!(dec(0xFF_FFFF), Value::Int(-1));
        assert_eq!(dec(8_388_607), Value::Int(8_388_607));
        assert_eq!(dec(-5), Value::Int(-5));
        assert_eq!(dec(0), Value::Int(0));
    }

    #[test]
    fn timestamps_years_enums_sets_decode() {
        let ts = col(ColumnType::Timestamp, true);
        let v = decode_value(
            &ts,
            &Decode::Timestamp,
            BinlogValue::Value(MyValue::Bytes(b"1660592867.5".to_vec())),
            DbZone::Utc,
        )
        .expect("ts");
        assert_eq!(v, Value::Timestamp(1_660_592_867_500_000));
        let v = decode_value(
            &ts,
            &Decode::Timestamp,
            BinlogValue::Value(MyValue::Bytes(b"0".to_vec())),
            DbZone::Utc,
        )
        .expect("zero");
        assert_eq!(v, Value::Null);
        let y = col(ColumnType::Int32, true);
        let v = decode_value(
            &y,
            &Decode::Year,
            BinlogValue::Value(MyValue::Bytes(b"1900".to_vec())),
            DbZone::Utc,
        )
        .expect("year");
        assert_eq!(v, Value::Int(0));
        let s = col(ColumnType::String { max_len: None }, true);
        let e = Decode::Enum(vec!["a".into(), "b".into()]);
        assert_eq!(
            decode_value(&s, &e, BinlogValue::Value(MyValue::Int(2)), DbZone::Utc).expect("enum"),
            Value::String("b".into())
        );
        assert!(decode_value(&s, &e, BinlogValue::Value(MyValue::Int(3)), DbZone::Utc).is_err());
        let set = Decode::Set(vec!["x".into(), "y".into(), "z".into()]);
        assert_eq!(
            decode_value(
                &s,
                &set,
                BinlogValue::Value(MyValue::Bytes(vec![0b101])),
                DbZone::Utc
            )
            .expect("set"),
            Value::String("x,z".into())
        );
        let b = col(ColumnType::Bytes { max_len: None }, true);
        assert_eq!(
            decode_value(
                &b,
                &Decode::FixedBinary(4),
                BinlogValue::Value(MyValue::Bytes(vec![1, 0])),
                DbZone::Utc
            )
            .expect("bin"),
            Value::Bytes(vec![1, 0, 0, 0])
        );
    }
}
