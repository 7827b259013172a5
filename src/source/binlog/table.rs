//! A binlog table map as a Sluice schema, and how each column of its rows
//! decodes (the decoding itself is in [`super::value`], character sets in
//! [`super::charset`]).
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

use std::io;
use std::sync::Arc;

use mysql_async::binlog::events::{
    BadColumnType, OptionalMetaExtractor, OptionalMetadataField, TableMapEvent,
};
use mysql_async::binlog::value::BinlogValue;
use mysql_async::consts::ColumnType as My;

use super::charset::{text, Charset, Charsets};
use super::json_text::JsonStyle;
use super::value::{decode_value, Decode};
use crate::config::DbZone;
use crate::event::{TableId, Value};
use crate::schema::{Column, ColumnType, Semantic, TableSchema};
use crate::source::mysql_types::{temporal, ValueError};

/// A captured table as of one TABLE_MAP event.
#[derive(Debug)]
pub struct BinlogTable {
    /// The table.
    pub id: TableId,
    /// Its schema; shared by every event decoded with it.
    pub schema: Arc<TableSchema>,
    decode: Vec<Decode>,
    /// Per column, what parsing its binlog value takes.
    wire: Vec<Wire>,
}

/// What parsing a column's binlog value takes (from the table map).
#[derive(Debug)]
pub(super) struct Wire {
    pub(super) ty: My,
    pub(super) meta: Vec<u8>,
    pub(super) unsigned: bool,
}

/// A table map Sluice cannot decode. Every case is definite: the same table
/// map comes again after a restart.
#[derive(Debug, thiserror::Error)]
pub enum TableMapError {
    /// Optional metadata that does not parse.
    #[error("table {table}: bad {what}: {source}")]
    Metadata {
        /// The table.
        table: TableId,
        /// Which metadata.
        what: &'static str,
        /// Cause.
        #[source]
        source: io::Error,
    },
    /// No column names: the server does not write `binlog_row_metadata = FULL`.
    #[error("table {table}: the table map carries no column names: set binlog_row_metadata = FULL on the server")]
    NoColumnNames {
        /// The table.
        table: TableId,
    },
    /// A column type byte that does not parse.
    #[error("table {table}: column `{column}`: {source}")]
    BadColumnType {
        /// The table.
        table: TableId,
        /// The column.
        column: String,
        /// Cause.
        #[source]
        source: BadColumnType,
    },
    /// A column type Sluice does not map.
    #[error("table {table}: column `{column}`: type {column_type:?} is not supported")]
    UnsupportedColumn {
        /// The table.
        table: TableId,
        /// The column.
        column: String,
        /// Its binlog type (`None`: the table map has none for it).
        column_type: Option<My>,
    },
    /// A text column in a character set Sluice does not decode.
    #[error("table {table}: column `{column}`: character set id {charset} is not supported (use utf8mb4, latin1 or ascii)")]
    UnsupportedCharset {
        /// The table.
        table: TableId,
        /// The column.
        column: String,
        /// The collation id.
        charset: u16,
    },
}

/// The FULL optional metadata of a table map.
struct Metadata<'a> {
    /// The per-column metadata (signedness, character sets).
    extractor: OptionalMetaExtractor<'a>,
    names: Vec<String>,
    /// Primary key column indexes.
    pk: Vec<usize>,
    lists: ValueLists,
}

/// ENUM and SET value lists, in the order of those columns.
struct ValueLists {
    enums: std::vec::IntoIter<Vec<Vec<u8>>>,
    sets: std::vec::IntoIter<Vec<Vec<u8>>>,
}

impl<'a> Metadata<'a> {
    /// Reads names, ENUM/SET values and the primary key.
    fn read(tme: &'a TableMapEvent<'a>, id: &TableId) -> Result<Self, TableMapError> {
        let bad = |what: &'static str| {
            move |source: io::Error| TableMapError::Metadata {
                table: id.clone(),
                what,
                source,
            }
        };
        let meta = OptionalMetaExtractor::new(tme.iter_optional_meta())
            .map_err(bad("optional metadata"))?;
        let names: Vec<String> = meta
            .iter_column_name()
            .map(|n| n.map(|n| n.name().into_owned()))
            .collect::<Result<_, _>>()
            .map_err(bad("column names"))?;
        let n = usize::try_from(tme.columns_count()).unwrap_or(usize::MAX);
        if names.len() != n {
            return Err(TableMapError::NoColumnNames { table: id.clone() });
        }
        let pk = meta
            .iter_primary_key()
            .map(|r| r.map(|i| i as usize))
            .collect::<Result<_, _>>()
            .map_err(bad("primary key metadata"))?;
        let (mut enums, mut sets) = (Vec::new(), Vec::new());
        for field in tme.iter_optional_meta() {
            match field.map_err(bad("optional metadata"))? {
                OptionalMetadataField::EnumStrValue(v) => {
                    for e in v.iter_values() {
                        let e = e.map_err(bad("ENUM values"))?;
                        enums.push(e.values().iter().map(|x| x.value_raw().to_vec()).collect());
                    }
                }
                OptionalMetadataField::SetStrValue(v) => {
                    for s in v.iter_values() {
                        let s = s.map_err(bad("SET values"))?;
                        sets.push(s.values().iter().map(|x| x.value_raw().to_vec()).collect());
                    }
                }
                _ => {}
            }
        }
        Ok(Metadata {
            extractor: meta,
            names,
            pk,
            lists: ValueLists {
                enums: enums.into_iter(),
                sets: sets.into_iter(),
            },
        })
    }
}

/// One column as the table map describes it.
struct ColumnMeta<'m> {
    name: &'m str,
    ty: My,
    /// The type's metadata bytes (precision, length...).
    meta: &'m [u8],
    is_unsigned: bool,
    charset: Option<Charset>,
}

impl BinlogTable {
    /// Builds the table from a FULL-metadata table map; MySQL's binary JSON
    /// is printed in `json`'s style.
    pub fn from_table_map(
        tme: &TableMapEvent<'_>,
        charsets: &Charsets,
        json: JsonStyle,
    ) -> Result<Self, TableMapError> {
        let id = TableId::new(tme.database_name(), tme.table_name());
        let Metadata {
            extractor,
            names,
            pk,
            mut lists,
        } = Metadata::read(tme, &id)?;
        let mut unsigned = extractor.iter_signedness();
        let mut charset = extractor.iter_charset();
        let mut enum_charset = extractor.iter_enum_and_set_charset();
        let nulls = tme.null_bitmask();
        let mut columns = Vec::with_capacity(names.len());
        let mut decode = Vec::with_capacity(names.len());
        let mut wire = Vec::with_capacity(names.len());
        for (i, name) in names.into_iter().enumerate() {
            let ty = match tme.get_column_type(i) {
                Ok(Some(ty)) => ty,
                Ok(None) => return Err(unsupported(&id, &name, None)),
                Err(source) => {
                    return Err(TableMapError::BadColumnType {
                        table: id.clone(),
                        column: name,
                        source,
                    })
                }
            };
            let cs = if ty.is_character_type() {
                charset.next()
            } else if ty.is_enum_or_set_type() {
                enum_charset.next()
            } else {
                None
            };
            let collation = cs.transpose().map_err(|source| TableMapError::Metadata {
                table: id.clone(),
                what: "character sets",
                source,
            })?;
            let col = ColumnMeta {
                name: &name,
                ty,
                meta: tme.get_column_metadata(i).unwrap_or(&[]),
                is_unsigned: ty.is_numeric_type() && unsigned.next().unwrap_or(false),
                charset: collation.map(|id| charsets.get(id)),
            };
            let (mut cty, how) = column_decoding(&id, &col, &mut lists, json)?;
            declared_length(
                &mut cty,
                &col,
                collation.and_then(|c| charsets.max_bytes(c)),
            );
            wire.push(Wire {
                ty,
                meta: col.meta.to_vec(),
                unsigned: col.is_unsigned,
            });
            let optional = nulls.get(i).map(|b| *b).unwrap_or(true);
            let semantic = semantic(&col, &how);
            let mut column = Column::new(name, cty, optional);
            column.semantic = semantic;
            columns.push(column);
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
            wire,
        })
    }

    /// The columns' decoding, with what parsing their binlog values takes.
    pub(super) fn columns(&self) -> impl Iterator<Item = (&Column, &Decode, &Wire)> {
        self.schema
            .columns
            .iter()
            .zip(&self.decode)
            .zip(&self.wire)
            .map(|((c, d), w)| (c, d, w))
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
        zone: DbZone,
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
            .map(|(v, (col, how))| decode_value(col, how, v, zone))
            .collect()
    }
}

fn unsupported(table: &TableId, column: &str, column_type: Option<My>) -> TableMapError {
    TableMapError::UnsupportedColumn {
        table: table.clone(),
        column: column.to_string(),
        column_type,
    }
}

/// A column's Sluice type and how its values decode (the mapping of
/// [`crate::source::mysql_types::column_from_result`], from binlog metadata).
fn column_decoding(
    table: &TableId,
    col: &ColumnMeta<'_>,
    lists: &mut ValueLists,
    json: JsonStyle,
) -> Result<(ColumnType, Decode), TableMapError> {
    let byte = |k: usize| u32::from(col.meta.get(k).copied().unwrap_or(0));
    let int = |signed: ColumnType, wide: ColumnType| if col.is_unsigned { wide } else { signed };
    let plain = Decode::Plain { is_datetime: false };
    let string = ColumnType::String { max_len: None };
    let bytes = ColumnType::Bytes { max_len: None };
    let values = |cs: Option<Charset>, vals: Option<Vec<Vec<u8>>>| -> Vec<String> {
        let cs = cs.unwrap_or(Charset::Utf8);
        let vals = vals.unwrap_or_default();
        vals.iter()
            .map(|v| text(cs, v).unwrap_or_default())
            .collect()
    };
    Ok(match col.ty {
        My::MYSQL_TYPE_TINY => (int(ColumnType::Int8, ColumnType::Int16), plain),
        My::MYSQL_TYPE_SHORT => (int(ColumnType::Int16, ColumnType::Int32), plain),
        My::MYSQL_TYPE_INT24 if col.is_unsigned => (ColumnType::Int32, plain),
        My::MYSQL_TYPE_INT24 => (ColumnType::Int32, Decode::SignedInt24),
        My::MYSQL_TYPE_LONG => (int(ColumnType::Int32, ColumnType::Int64), plain),
        My::MYSQL_TYPE_LONGLONG => (
            int(
                ColumnType::Int64,
                ColumnType::Decimal {
                    scale: 0,
                    precision: Some(20),
                },
            ),
            plain,
        ),
        My::MYSQL_TYPE_YEAR => (ColumnType::Int32, Decode::Year),
        My::MYSQL_TYPE_FLOAT => (ColumnType::Float32, plain),
        My::MYSQL_TYPE_DOUBLE => (ColumnType::Float64, plain),
        My::MYSQL_TYPE_NEWDECIMAL => (
            ColumnType::Decimal {
                scale: byte(1),
                precision: Some(byte(0)),
            },
            plain,
        ),
        My::MYSQL_TYPE_BIT if byte(1) * 8 + byte(0) == 1 => (ColumnType::Boolean, plain),
        My::MYSQL_TYPE_BIT => (bytes, plain),
        My::MYSQL_TYPE_DATE | My::MYSQL_TYPE_NEWDATE => (ColumnType::Date, plain),
        // The *2 types' metadata byte is the fractional-second precision.
        My::MYSQL_TYPE_TIME => (ColumnType::Time, plain),
        My::MYSQL_TYPE_TIME2 => (temporal::time(byte(0)), plain),
        My::MYSQL_TYPE_DATETIME => (ColumnType::Timestamp, Decode::Plain { is_datetime: true }),
        My::MYSQL_TYPE_DATETIME2 => (
            temporal::timestamp(byte(0)),
            Decode::Plain { is_datetime: true },
        ),
        My::MYSQL_TYPE_TIMESTAMP => (ColumnType::Timestamp, Decode::Timestamp),
        My::MYSQL_TYPE_TIMESTAMP2 => (temporal::timestamp(byte(0)), Decode::Timestamp),
        My::MYSQL_TYPE_JSON => (string, Decode::Json(json)),
        My::MYSQL_TYPE_ENUM => (
            string,
            Decode::Enum(values(col.charset, lists.enums.next())),
        ),
        My::MYSQL_TYPE_SET => (string, Decode::Set(values(col.charset, lists.sets.next()))),
        My::MYSQL_TYPE_GEOMETRY | My::MYSQL_TYPE_VECTOR => (bytes, plain),
        My::MYSQL_TYPE_STRING
        | My::MYSQL_TYPE_VARCHAR
        | My::MYSQL_TYPE_VAR_STRING
        | My::MYSQL_TYPE_BLOB
        | My::MYSQL_TYPE_TINY_BLOB
        | My::MYSQL_TYPE_MEDIUM_BLOB
        | My::MYSQL_TYPE_LONG_BLOB => match col.charset.unwrap_or(Charset::Utf8) {
            Charset::Binary if col.ty == My::MYSQL_TYPE_STRING => {
                (bytes, Decode::FixedBinary(fixed_len(col.meta)))
            }
            Charset::Binary => (bytes, plain),
            Charset::Other(charset) => {
                return Err(TableMapError::UnsupportedCharset {
                    table: table.clone(),
                    column: col.name.to_string(),
                    charset,
                })
            }
            c => (string, Decode::Text(c)),
        },
        other => return Err(unsupported(table, col.name, Some(other))),
    })
}

/// CHAR / VARCHAR / BINARY / VARBINARY: the declared length (characters,
/// or bytes for binary) from the table map's byte length, as
/// `information_schema` gives it to the snapshot; `max_bytes` is the
/// character set's bytes per character.
fn declared_length(ty: &mut ColumnType, col: &ColumnMeta<'_>, max_bytes: Option<u32>) {
    let bytes = match col.ty {
        My::MYSQL_TYPE_VARCHAR | My::MYSQL_TYPE_VAR_STRING => u32::from(u16::from_le_bytes([
            col.meta.first().copied().unwrap_or(0),
            col.meta.get(1).copied().unwrap_or(0),
        ])),
        My::MYSQL_TYPE_STRING => u32::try_from(fixed_len(col.meta)).unwrap_or(0),
        _ => return,
    };
    match ty {
        ColumnType::Bytes { max_len } => *max_len = Some(bytes),
        ColumnType::String { max_len } => *max_len = max_bytes.map(|n| bytes / n.max(1)),
        _ => {}
    }
}

/// What Debezium names the column's type (see [`Semantic`]); the same as
/// [`crate::source::mysql_types::semantic_from_column_type`] gives for the
/// snapshot.
fn semantic(col: &ColumnMeta<'_>, how: &Decode) -> Option<Semantic> {
    let byte = |k: usize| u32::from(col.meta.get(k).copied().unwrap_or(0));
    match (col.ty, how) {
        (My::MYSQL_TYPE_BIT, _) => match byte(1) * 8 + byte(0) {
            1 => None,
            length => Some(Semantic::Bits { length }),
        },
        (_, Decode::Enum(allowed)) => Some(Semantic::Enum(allowed.clone())),
        (_, Decode::Set(allowed)) => Some(Semantic::Set(allowed.clone())),
        (My::MYSQL_TYPE_JSON, _) => Some(Semantic::Json),
        (My::MYSQL_TYPE_GEOMETRY, _) => Some(Semantic::Geometry),
        (My::MYSQL_TYPE_TIMESTAMP, _) => Some(Semantic::Timestamp { fsp: 0 }),
        (My::MYSQL_TYPE_TIMESTAMP2, _) => Some(Semantic::Timestamp { fsp: byte(0) }),
        (My::MYSQL_TYPE_YEAR, _) => Some(Semantic::Year),
        (My::MYSQL_TYPE_LONGLONG, _) if col.is_unsigned => Some(Semantic::UnsignedBigint),
        _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_binary_length_from_metadata() {
        // BINARY(16): real type 0xfe, length 16.
        assert_eq!(fixed_len(&[0xfe, 16]), 16);
        // CHAR(100) utf8mb4 = 400 bytes: high bits folded into byte 0.
        assert_eq!(fixed_len(&[0xee, 0x90]), 400);
    }
}
