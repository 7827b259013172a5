//! From a decoded Kafka record to a row change for the target: the pure part
//! of the sink, where `pk_mode` decides which columns a row has.
//!
//! As Kafka Connect's JDBC sink:
//! - `none`: the value's fields; no primary key.
//! - `kafka`: `__connect_topic`, `__connect_partition`, `__connect_offset`
//!   (or the three `pk_fields`) then the value's fields; key = those three.
//! - `record_key`: the key's fields (all, or `pk_fields`), then the value's
//!   other fields; a primitive key becomes the single column `pk_fields[0]`.
//! - `record_value`: the value's fields; key = `pk_fields`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::PkMode;
use crate::event::{Op, Row, Value};
use crate::schema::{Column, ColumnType, TableSchema};

/// One decoded Kafka record, before `pk_mode` is applied.
#[derive(Debug, Clone)]
pub struct SinkRecord {
    /// Source topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// What the record means.
    pub op: Op,
    /// Key schema and values (a primitive key is one unnamed column).
    pub key: Option<(Arc<TableSchema>, Row)>,
    /// Value schema and row (None for tombstones; the `before` row for Debezium deletes).
    pub value: Option<(Arc<TableSchema>, Row)>,
}

/// A row change ready for SQL generation.
#[derive(Debug, Clone)]
pub struct RowChange {
    /// Target table.
    pub table: String,
    /// Effective schema (columns and primary key of the target row).
    pub schema: Arc<TableSchema>,
    /// Create/Read/Update write the row; Delete removes by key.
    pub op: Op,
    /// Values aligned with `schema.columns`.
    pub row: Row,
}

/// Why a record cannot become a row.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// A configured key field is missing.
    #[error("pk_fields names `{0}`, which the record does not have")]
    MissingPkField(String),
    /// A key is needed but the record has none.
    #[error("pk_mode = \"record_key\" but the record has no key")]
    MissingKey,
    /// A primitive key needs a column name.
    #[error("the record key is a primitive; pk_mode = \"record_key\" needs pk_fields with one column name")]
    PrimitiveKeyNeedsName,
}

/// Maps records to rows, caching effective schemas by input schema identity.
#[derive(Default)]
pub struct RowMapper {
    /// (table, key schema address, value schema address) → (the input schemas,
    /// held so their addresses cannot be reused while cached; the result).
    cache: HashMap<(String, usize, usize), CachedSchema>,
}

type CachedSchema = (
    Option<Arc<TableSchema>>,
    Option<Arc<TableSchema>>,
    Arc<TableSchema>,
);

const KAFKA_COLUMNS: [&str; 3] = ["__connect_topic", "__connect_partition", "__connect_offset"];

impl RowMapper {
    /// Maps `rec` under `pk_mode`/`pk_fields` into a change of `table`.
    pub fn map(
        &mut self,
        rec: &SinkRecord,
        table: &str,
        pk_mode: PkMode,
        pk_fields: &[String],
    ) -> Result<RowChange, RecordError> {
        let key_ptr = rec.key.as_ref().map_or(0, |(s, _)| Arc::as_ptr(s) as usize);
        let val_ptr = rec
            .value
            .as_ref()
            .map_or(0, |(s, _)| Arc::as_ptr(s) as usize);
        let cache_key = (table.to_string(), key_ptr, val_ptr);
        let schema = match self.cache.get(&cache_key) {
            Some((_, _, s)) => s.clone(),
            None => {
                let s = Arc::new(effective_schema(rec, table, pk_mode, pk_fields)?);
                if self.cache.len() > 1024 {
                    self.cache.clear();
                }
                let inputs = (
                    rec.key.as_ref().map(|k| k.0.clone()),
                    rec.value.as_ref().map(|v| v.0.clone()),
                );
                self.cache
                    .insert(cache_key, (inputs.0, inputs.1, s.clone()));
                s
            }
        };
        let row = effective_row(rec, &schema, pk_mode, pk_fields)?;
        Ok(RowChange {
            table: table.to_string(),
            schema,
            op: rec.op,
            row,
        })
    }
}

fn kafka_names(pk_fields: &[String]) -> [String; 3] {
    if pk_fields.len() == 3 {
        [
            pk_fields[0].clone(),
            pk_fields[1].clone(),
            pk_fields[2].clone(),
        ]
    } else {
        KAFKA_COLUMNS.map(str::to_string)
    }
}

/// The columns and key the target row has.
pub fn effective_schema(
    rec: &SinkRecord,
    table: &str,
    pk_mode: PkMode,
    pk_fields: &[String],
) -> Result<TableSchema, RecordError> {
    let value_cols: Vec<Column> = rec
        .value
        .as_ref()
        .map(|(s, _)| s.columns.clone())
        .unwrap_or_default();
    let (columns, primary_key) = match pk_mode {
        PkMode::None => (value_cols, vec![]),
        PkMode::Kafka => {
            let names = kafka_names(pk_fields);
            let mut cols = vec![
                Column::new(&names[0], ColumnType::String { max_len: Some(255) }, false),
                Column::new(&names[1], ColumnType::Int32, false),
                Column::new(&names[2], ColumnType::Int64, false),
            ];
            cols.extend(value_cols.into_iter().filter(|c| !names.contains(&c.name)));
            (cols, names.to_vec())
        }
        PkMode::RecordValue => {
            for f in pk_fields {
                if !value_cols.iter().any(|c| &c.name == f) {
                    return Err(RecordError::MissingPkField(f.clone()));
                }
            }
            (value_cols, pk_fields.to_vec())
        }
        PkMode::RecordKey => {
            let (key_schema, _) = rec.key.as_ref().ok_or(RecordError::MissingKey)?;
            let key_cols: Vec<Column> = if is_primitive_key(key_schema) {
                let name = pk_fields
                    .first()
                    .ok_or(RecordError::PrimitiveKeyNeedsName)?;
                let mut c = key_schema.columns[0].clone();
                c.name = name.clone();
                c.optional = false;
                vec![c]
            } else if pk_fields.is_empty() {
                key_schema.columns.clone()
            } else {
                pk_fields
                    .iter()
                    .map(|f| {
                        key_schema
                            .column(f)
                            .cloned()
                            .ok_or_else(|| RecordError::MissingPkField(f.clone()))
                    })
                    .collect::<Result<_, _>>()?
            };
            let names: Vec<String> = key_cols.iter().map(|c| c.name.clone()).collect();
            let mut cols: Vec<Column> = key_cols
                .into_iter()
                .map(|mut c| {
                    c.optional = false;
                    c
                })
                .collect();
            cols.extend(value_cols.into_iter().filter(|c| !names.contains(&c.name)));
            (cols, names)
        }
    };
    Ok(TableSchema {
        name: table.to_string(),
        columns,
        primary_key,
    })
}

/// A key schema of one column with an empty name is a primitive key.
fn is_primitive_key(key: &TableSchema) -> bool {
    key.columns.len() == 1 && key.columns[0].name.is_empty()
}

fn effective_row(
    rec: &SinkRecord,
    schema: &TableSchema,
    pk_mode: PkMode,
    pk_fields: &[String],
) -> Result<Row, RecordError> {
    let lookup = |part: &Option<(Arc<TableSchema>, Row)>, name: &str| -> Option<Value> {
        let (s, r) = part.as_ref()?;
        let i = s.column_index(name)?;
        r.get(i).cloned()
    };
    let names = kafka_names(pk_fields);
    let primitive_key = rec.key.as_ref().is_some_and(|(s, _)| is_primitive_key(s));
    let mut row = Vec::with_capacity(schema.columns.len());
    for col in &schema.columns {
        let is_key = schema.primary_key.contains(&col.name);
        let v = match pk_mode {
            PkMode::Kafka if col.name == names[0] => Some(Value::String(rec.topic.clone())),
            PkMode::Kafka if col.name == names[1] => Some(Value::Int(i64::from(rec.partition))),
            PkMode::Kafka if col.name == names[2] => Some(Value::Int(rec.offset)),
            PkMode::RecordKey if is_key && primitive_key => {
                rec.key.as_ref().and_then(|(_, r)| r.first().cloned())
            }
            PkMode::RecordKey if is_key => lookup(&rec.key, &col.name),
            _ => lookup(&rec.value, &col.name),
        };
        row.push(v.unwrap_or(Value::Null));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_schema() -> Arc<TableSchema> {
        Arc::new(TableSchema {
            name: "orders".into(),
            columns: vec![
                Column::new("order_id", ColumnType::Int64, false),
                Column::new("item", ColumnType::String { max_len: None }, true),
            ],
            primary_key: vec![],
        })
    }

    fn rec(key: Option<(Arc<TableSchema>, Row)>) -> SinkRecord {
        SinkRecord {
            topic: "orders".into(),
            partition: 2,
            offset: 41,
            op: Op::Create,
            key,
            value: Some((
                value_schema(),
                vec![Value::Int(5), Value::String("book".into())],
            )),
        }
    }

    #[test]
    fn none_mode_uses_value_fields() {
        let c = RowMapper::default()
            .map(&rec(None), "t", PkMode::None, &[])
            .expect("map");
        assert_eq!(c.schema.columns.len(), 2);
        assert!(c.schema.primary_key.is_empty());
        assert_eq!(c.row[1], Value::String("book".into()));
    }

    #[test]
    fn kafka_mode_prepends_coordinates() {
        let c = RowMapper::default()
            .map(&rec(None), "t", PkMode::Kafka, &[])
            .expect("map");
        assert_eq!(
            c.schema.primary_key,
            KAFKA_COLUMNS.map(str::to_string).to_vec()
        );
        assert_eq!(
            c.row[..3],
            [
                Value::String("orders".into()),
                Value::Int(2),
                Value::Int(41)
            ]
        );
        assert_eq!(c.row.len(), 5);
    }

    #[test]
    fn record_value_mode_requires_fields() {
        let ok =
            RowMapper::default().map(&rec(None), "t", PkMode::RecordValue, &["order_id".into()]);
        assert_eq!(ok.expect("map").schema.primary_key, vec!["order_id"]);
        let err = RowMapper::default().map(&rec(None), "t", PkMode::RecordValue, &["nope".into()]);
        assert_eq!(err.err(), Some(RecordError::MissingPkField("nope".into())));
    }

    #[test]
    fn record_key_struct_and_primitive() {
        let key_schema = Arc::new(TableSchema {
            name: "k".into(),
            columns: vec![Column::new("order_id", ColumnType::Int64, false)],
            primary_key: vec![],
        });
        let r = rec(Some((key_schema, vec![Value::Int(5)])));
        let c = RowMapper::default()
            .map(&r, "t", PkMode::RecordKey, &[])
            .expect("map");
        assert_eq!(c.schema.primary_key, vec!["order_id"]);
        assert_eq!(c.schema.columns.len(), 2, "key field not duplicated");

        let prim = Arc::new(TableSchema {
            name: String::new(),
            columns: vec![Column::new("", ColumnType::Int64, false)],
            primary_key: vec![],
        });
        let r = rec(Some((prim, vec![Value::Int(9)])));
        assert_eq!(
            RowMapper::default()
                .map(&r, "t", PkMode::RecordKey, &[])
                .err(),
            Some(RecordError::PrimitiveKeyNeedsName)
        );
        let c = RowMapper::default()
            .map(&r, "t", PkMode::RecordKey, &["id".into()])
            .expect("map");
        assert_eq!(c.schema.columns[0].name, "id");
        assert_eq!(c.row[0], Value::Int(9));
    }

    #[test]
    fn missing_key_is_an_error() {
        assert_eq!(
            RowMapper::default()
                .map(&rec(None), "t", PkMode::RecordKey, &[])
                .err(),
            Some(RecordError::MissingKey)
        );
    }
}
