//! A binlog table map as a Sluice schema, and its rows as Sluice values.
//!
//! With `binlog_row_metadata = FULL` every TABLE_MAP event describes the table
//! *as it was when the rows after it were written*: column names, types with
//! their precision/length metadata, signedness, character sets, ENUM/SET value
//! lists, nullability and the primary key. Sluice builds each table's
//! [`TableSchema`] from that event alone, so a row is always decoded with the
//! schema it was written with — after an ALTER TABLE in the middle of the
//! stream, and equally after a restart from an older position. No schema
//! history needs to be kept; the server-validation step refuses a server
//! without FULL metadata.
//!
//! The column-type mapping is the one the snapshot's result-set mapping
//! ([`crate::source::mysql_types::column_from_result`]) uses, so snapshot reads
//! and streamed changes carry identical Connect schemas.

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::binlog::events::{OptionalMetaExtractor, OptionalMetadataField, TableMapEvent};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType as My;
use mysql_async::Value as MyValue;

use crate::event::{TableId, Value};
use crate::schema::{Column, ColumnType, TableSchema};
use crate::source::mysql_types::{value_from_mysql, ValueError};

/// How a text column's bytes become a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4 / utf8mb3.
    Utf8,
    /// MySQL's latin1 (Windows-1252).
    Latin1,
    /// ASCII.
    Ascii,
    /// binary: the column is bytes.
    Binary,
    /// Another character set, named; decoding it is refused.
    Other(u16),
}

/// Character-set ids → how to decode them (from `information_schema.COLLATIONS`).
#[derive(Debug, Clone, Default)]
pub struct Charsets {
    by_id: HashMap<u16, Charset>,
}

impl Charsets {
    /// Builds the map from `(collation id, character set name)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u16, String)>) -> Self {
        let by_id = pairs
            .into_iter()
            .map(|(id, name)| {
                let cs = match name.as_str() {
                    "utf8mb4" | "utf8mb3" | "utf8" => Charset::Utf8,
                    "latin1" => Charset::Latin1,
                    "ascii" => Charset::Ascii,
                    "binary" => Charset::Binary,
                    _ => Charset::Other(id),
                };
                (id, cs)
            })
            .collect();
        Charsets { by_id }
    }

    /// The common ids, for when the server's table is not available (tests).
    pub fn builtin() -> Self {
        let mut pairs = vec![
            (63, "binary".to_string()),
            (11, "ascii".into()),
            (65, "ascii".into()),
        ];
        for id in [5, 8, 15, 31, 47, 48, 49, 94] {
            pairs.push((id, "latin1".into()));
        }
        for id in [33, 45, 46, 76, 83, 192, 223, 224, 247, 255, 256, 309] {
            pairs.push((id, "utf8mb4".into()));
        }
        Charsets::from_pairs(pairs)
    }

    fn get(&self, id: u16) -> Charset {
        match self.by_id.get(&id) {
            Some(c) => *c,
            // MySQL 8 utf8mb4 collations occupy 255..=323; MariaDB 11 adds more.
            None if (255..=323).contains(&id) || (2048..=2400).contains(&id) => Charset::Utf8,
            None => Charset::Other(id),
        }
    }
}

/// How one column's binlog value is decoded.
#[derive(Debug, Clone)]
enum Decode {
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
    /// JSON (MySQL binary JSON).
    Json,
}

/// A captured table as of one TABLE_MAP event.
#[derive(Debug)]
pub struct BinlogTable {
    /// The table.
    pub id: TableId,
    /// Its schema; shared by every event decoded with it.
    pub schema: Arc<TableSchema>,
    decode: Vec<Decode>,
}

/// A table map Sluice cannot decode.
#[derive(Debug, thiserror::Error)]
#[error("table {table}: {reason}")]
pub struct TableMapError {
    /// The table.
    pub table: String,
    /// Why.
    pub reason: String,
}

fn text(cs: Charset, bytes: &[u8]) -> Option<String> {
    match cs {
        Charset::Utf8 | Charset::Binary | Charset::Other(_) => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        Charset::Ascii => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        Charset::Latin1 => Some(bytes.iter().map(|&b| cp1252(b)).collect()),
    }
}

/// MySQL's latin1 is Windows-1252: 0x80..0x9F are the cp1252 punctuation.
fn cp1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    if (0x80..0xA0).contains(&b) {
        char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}')
    } else {
        char::from(b)
    }
}

impl BinlogTable {
    /// Builds the table from a FULL-metadata table map.
    pub fn from_table_map(
        tme: &TableMapEvent<'_>,
        charsets: &Charsets,
    ) -> Result<Self, TableMapError> {
        let id = TableId::new(tme.database_name(), tme.table_name());
        let fail = |reason: String| TableMapError {
            table: id.to_string(),
            reason,
        };
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(|e| fail(format!("bad optional metadata: {e}")))?;
        let names: Vec<String> = meta
            .iter_column_name()
            .map(|n| n.map(|n| n.name().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("bad column names: {e}")))?;
        let n =
            usize::try_from(tme.columns_count()).map_err(|_| fail("too many columns".into()))?;
        if names.len() != n {
            return Err(fail(
                "the table map carries no column names: set binlog_row_metadata = FULL on the server"
                    .into(),
            ));
        }
        let mut enums = Vec::new();
        let mut sets = Vec::new();
        for field in tme.iter_optional_meta() {
            match field.map_err(|e| fail(format!("bad optional metadata: {e}")))? {
                OptionalMetadataField::EnumStrValue(v) => {
                    for e in v.iter_values() {
                        let e = e.map_err(|e| fail(format!("bad ENUM values: {e}")))?;
                        enums.push(
                            e.values()
                                .iter()
                                .map(|x| x.value_raw().to_vec())
                                .collect::<Vec<_>>(),
                        );
                    }
                }
                OptionalMetadataField::SetStrValue(v) => {
                    for s in v.iter_values() {
                        let s = s.map_err(|e| fail(format!("bad SET values: {e}")))?;
                        sets.push(
                            s.values()
                                .iter()
                                .map(|x| x.value_raw().to_vec())
                                .collect::<Vec<_>>(),
                        );
                    }
                }
                _ => {}
            }
        }
        let mut unsigned = meta.iter_signedness();
        let mut charset = meta.iter_charset();
        let mut enum_charset = meta.iter_enum_and_set_charset();
        let (mut enums, mut sets) = (enums.into_iter(), sets.into_iter());
        let pk: Vec<usize> = meta
            .iter_primary_key()
            .map(|r| r.map(|i| i as usize))
            .collect::<Result<_, _>>()
            .map_err(|e| fail(format!("bad primary key metadata: {e}")))?;
        let nulls = tme.null_bitmask();

        let mut columns = Vec::with_capacity(n);
        let mut decode = Vec::with_capacity(n);
        for (i, name) in names.into_iter().enumerate() {
            let ty = tme
                .get_column_type(i)
                .map_err(|e| fail(format!("column `{name}`: {e}")))?
                .ok_or_else(|| fail(format!("column `{name}`: no type")))?;
            let m = tme.get_column_metadata(i).unwrap_or(&[]);
            let is_unsigned = if ty.is_numeric_type() {
                unsigned.next().unwrap_or(false)
            } else {
                false
            };
            let cs = if ty.is_character_type() {
                charset
                    .next()
                    .transpose()
                    .map_err(|e| fail(e.to_string()))?
                    .map(|id| charsets.get(id))
            } else if ty.is_enum_or_set_type() {
                enum_charset
                    .next()
                    .transpose()
                    .map_err(|e| fail(e.to_string()))?
                    .map(|id| charsets.get(id))
            } else {
                None
            };
            let byte = |k: usize| u32::from(m.get(k).copied().unwrap_or(0));
            let int =
                |signed: ColumnType, wide: ColumnType| if is_unsigned { wide } else { signed };
            let plain = Decode::Plain { is_datetime: false };
            let (cty, how) = match ty {
                My::MYSQL_TYPE_TINY => (int(ColumnType::Int8, ColumnType::Int16), plain),
                My::MYSQL_TYPE_SHORT => (int(ColumnType::Int16, ColumnType::Int32), plain),
                My::MYSQL_TYPE_INT24 if is_unsigned => (ColumnType::Int32, plain),
                My::MYSQL_TYPE_INT24 => (ColumnType::Int32, Decode::SignedInt24),
                My::MYSQL_TYPE_LONG => (int(ColumnType::Int32, ColumnType::Int64), plain),
                My::MYSQL_TYPE_LONGLONG => (
                    int(ColumnType::Int64, ColumnType::Decimal { scale: 0, precision: Some(20) }),
                    plain,
                ),
                My::MYSQL_TYPE_YEAR => (ColumnType::Int32, Decode::Year),
                My::MYSQL_TYPE_FLOAT => (ColumnType::Float32, plain),
                My::MYSQL_TYPE_DOUBLE => (ColumnType::Float64, plain),
                My::MYSQL_TYPE_NEWDECIMAL => (
                    ColumnType::Decimal { scale: byte(1), precision: Some(byte(0)) },
                    plain,
                ),
                My::MYSQL_TYPE_BIT => {
                    let bits = byte(1) * 8 + byte(0);
                    let t = if bits == 1 { ColumnType::Boolean } else { ColumnType::Bytes { max_len: None } };
                    (t, plain)
                }
                My::MYSQL_TYPE_DATE | My::MYSQL_TYPE_NEWDATE => (ColumnType::Date, plain),
                My::MYSQL_TYPE_TIME | My::MYSQL_TYPE_TIME2 => (ColumnType::Time, plain),
                My::MYSQL_TYPE_DATETIME | My::MYSQL_TYPE_DATETIME2 => {
                    (ColumnType::Timestamp, Decode::Plain { is_datetime: true })
                }
                My::MYSQL_TYPE_TIMESTAMP | My::MYSQL_TYPE_TIMESTAMP2 => {
                    (ColumnType::Timestamp, Decode::Timestamp)
                }
                My::MYSQL_TYPE_JSON => (ColumnType::String { max_len: None }, Decode::Json),
                My::MYSQL_TYPE_ENUM => {
                    let cs = cs.unwrap_or(Charset::Utf8);
                    let vals = enums.next().unwrap_or_default();
                    let vals = vals.iter().map(|v| text(cs, v).unwrap_or_default()).collect();
                    (ColumnType::String { max_len: None }, Decode::Enum(vals))
                }
                My::MYSQL_TYPE_SET => {
                    let cs = cs.unwrap_or(Charset::Utf8);
                    let vals = sets.next().unwrap_or_default();
                    let vals = vals.iter().map(|v| text(cs, v).unwrap_or_default()).collect();
                    (ColumnType::String { max_len: None }, Decode::Set(vals))
                }
                My::MYSQL_TYPE_GEOMETRY | My::MYSQL_TYPE_VECTOR => (ColumnType::Bytes { max_len: None }, plain),
                My::MYSQL_TYPE_STRING
                | My::MYSQL_TYPE_VARCHAR
                | My::MYSQL_TYPE_VAR_STRING
                | My::MYSQL_TYPE_BLOB
                | My::MYSQL_TYPE_TINY_BLOB
                | My::MYSQL_TYPE_MEDIUM_BLOB
                | My::MYSQL_TYPE_LONG_BLOB => match cs.unwrap_or(Charset::Utf8) {
                    Charset::Binary if ty == My::MYSQL_TYPE_STRING => {
                        (ColumnType::Bytes { max_len: None }, Decode::FixedBinary(fixed_len(m)))
                    }
                    Charset::Binary => (ColumnType::Bytes { max_len: None }, plain),
                    Charset::Other(id) => {
                        return Err(fail(format!(
                            "column `{name}`: character set id {id} is not supported (use utf8mb4, latin1 or ascii)"
                        )))
                    }
                    c => (ColumnType::String { max_len: None }, Decode::Text(c)),
                },
                other => return Err(fail(format!("column `{name}`: type {other:?} is not supported"))),
            };
            let optional = nulls.get(i).map(|b| *b).unwrap_or(true);
            columns.push(Column::new(name, cty, optional));
            decode.push(how);
        }
        let primary_key = pk
            .iter()
            .filter_map(|&i| columns.get(i).map(|c| c.name.clone()))
            .collect();
        Ok(BinlogTable {
            schema: Arc::new(TableSchema {
                name: id.table.clone(),
                columns,
                primary_key,
            }),
            id,
            decode,
        })
    }

    /// Replaces the schema with an equal one already shared, so encoders keep their cache.
    pub fn share_schema(&mut self, previous: &Arc<TableSchema>) {
        if *self.schema == **previous {
            self.schema = Arc::clone(previous);
        }
    }

    /// Decodes one row image (every column present: `binlog_row_image = FULL`).
    pub fn decode_row(
        &self,
        values: Vec<BinlogValue<'static>>,
        tz_offset: i32,
    ) -> Result<Vec<Value>, ValueError> {
        if values.len() != self.decode.len() {
            return Err(ValueError {
                column: self.id.to_string(),
                reason: format!(
                    "row image has {} of {} columns: set binlog_row_image = FULL on the server",
                    values.len(),
                    self.decode.len()
                ),
            });
        }
        values
            .into_iter()
            .zip(self.schema.columns.iter().zip(&self.decode))
            .map(|(v, (col, how))| decode_value(col, how, v, tz_offset))
            .collect()
    }
}

/// Declared byte length of a CHAR/BINARY column from its table-map metadata.
fn fixed_len(m: &[u8]) -> usize {
    let (b0, b1) = (
        usize::from(m.first().copied().unwrap_or(0)),
        usize::from(m.get(1).copied().unwrap_or(0)),
    );
    if (b0 & 0x30) != 0x30 {
        b1 | (((b0 & 0x30) ^ 0x30) << 4)
    } else {
        b1
    }
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

fn decode_value(
    col: &Column,
    how: &Decode,
    v: BinlogValue<'static>,
    tz: i32,
) -> Result<Value, ValueError> {
    let bad = |reason: String| ValueError {
        column: col.name.clone(),
        reason,
    };
    let v = match v {
        BinlogValue::Value(MyValue::NULL) => return Ok(Value::Null),
        BinlogValue::Value(v) => v,
        BinlogValue::Jsonb(j) => {
            // As MySQL prints it, so the snapshot's SELECT and the binlog agree.
            let text = super::json_text::mysql_json_text(&j)
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
            MyValue::Bytes(b) => Value::String(text(*cs, &b).ok_or_else(|| {
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
        Decode::Json => match v {
            // MariaDB JSON is LONGTEXT; MySQL's arrives as BinlogValue::Jsonb above.
            MyValue::Bytes(b) => Value::String(
                text(Charset::Utf8, &b).ok_or_else(|| bad("JSON is not UTF-8".into()))?,
            ),
            other => value_from_mysql(col, other, tz, false)?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_windows_1252() {
        assert_eq!(
            text(Charset::Latin1, b"caf\xe9 \x80").as_deref(),
            Some("café €")
        );
        assert_eq!(text(Charset::Ascii, b"\xe9"), None);
        assert_eq!(text(Charset::Utf8, "é".as_bytes()).as_deref(), Some("é"));
    }

    #[test]
    fn charset_ids_resolve() {
        let c = Charsets::builtin();
        assert_eq!(c.get(63), Charset::Binary);
        assert_eq!(c.get(8), Charset::Latin1);
        assert_eq!(c.get(45), Charset::Utf8);
        assert_eq!(c.get(300), Charset::Utf8);
        assert_eq!(c.get(28), Charset::Other(28));
    }

    #[test]
    fn signed_mediumint_gets_its_sign_back() {
        let c = col(ColumnType::Int32, true);
        let dec = |i| {
            decode_value(
                &c,
                &Decode::SignedInt24,
                BinlogValue::Value(MyValue::Int(i)),
                0,
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
    fn fixed_binary_length_from_metadata() {
        // BINARY(16): real type 0xfe, length 16.
        assert_eq!(fixed_len(&[0xfe, 16]), 16);
        // CHAR(100) utf8mb4 = 400 bytes: high bits folded into byte 0.
        assert_eq!(fixed_len(&[0xee, 0x90]), 400);
    }

    fn col(ty: ColumnType, optional: bool) -> Column {
        Column::new("c", ty, optional)
    }

    #[test]
    fn timestamps_years_enums_sets_decode() {
        let ts = col(ColumnType::Timestamp, true);
        let v = decode_value(
            &ts,
            &Decode::Timestamp,
            BinlogValue::Value(MyValue::Bytes(b"1660592867.5".to_vec())),
            0,
        )
        .expect("ts");
        assert_eq!(v, Value::Timestamp(1_660_592_867_500_000));
        let v = decode_value(
            &ts,
            &Decode::Timestamp,
            BinlogValue::Value(MyValue::Bytes(b"0".to_vec())),
            0,
        )
        .expect("zero");
        assert_eq!(v, Value::Null);
        let y = col(ColumnType::Int32, true);
        let v = decode_value(
            &y,
            &Decode::Year,
            BinlogValue::Value(MyValue::Bytes(b"1900".to_vec())),
            0,
        )
        .expect("year");
        assert_eq!(v, Value::Int(0));
        let s = col(ColumnType::String { max_len: None }, true);
        let e = Decode::Enum(vec!["a".into(), "b".into()]);
        assert_eq!(
            decode_value(&s, &e, BinlogValue::Value(MyValue::Int(2)), 0).expect("enum"),
            Value::String("b".into())
        );
        assert!(decode_value(&s, &e, BinlogValue::Value(MyValue::Int(3)), 0).is_err());
        let set = Decode::Set(vec!["x".into(), "y".into(), "z".into()]);
        assert_eq!(
            decode_value(&s, &set, BinlogValue::Value(MyValue::Bytes(vec![0b101])), 0)
                .expect("set"),
            Value::String("x,z".into())
        );
        let b = col(ColumnType::Bytes { max_len: None }, true);
        assert_eq!(
            decode_value(
                &b,
                &Decode::FixedBinary(4),
                BinlogValue::Value(MyValue::Bytes(vec![1, 0])),
                0
            )
            .expect("bin"),
            Value::Bytes(vec![1, 0, 0, 0])
        );
    }
}
