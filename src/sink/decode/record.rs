//! From a decoded Kafka record to a row change for the target: the pure part
//! of the sink, where `pk_mode` decides which columns a row has.
//!
//! As Kafka Connect's JDBC sink:
//! - `none`: the value's fields; no primary key.
//! - `kafka`: `__connect_topic`, `__connect_partition`, `__connect_offset`
//!   (or the three `pk_fields`) then the value's fields; key = those three.
//! - `record_key`: the key's fields (all, or `pk_fields`), then the value's
//!   other fields; a primitive key becomes the single column `pk_fields[0]`.
//! - `record_value`: the value's fields; key = `pk_fields`, or every field
//!   of the value when `pk_fields` is empty (as Connect's `FieldsMetadata`).
//!
//! Then, as configured ([`MapRules`]):
//! - `fields_include` / `fields_exclude` filter the *value's* fields; key
//!   columns (the record key's fields, the kafka coordinates, or `pk_fields`
//!   under `record_value`) are always kept.
//! - `db_timezone`: every Timestamp becomes the wall time of that zone (its
//!   offset at that instant, daylight saving time included), so a zone-less
//!   target column (DATETIME, `timestamp without time zone`) holds the wall
//!   time of that zone, as Connect's `db.timezone` does.
//! - With `delete_enabled`, a value whose `__deleted` field is `"true"` (or
//!   `true`) is a delete: Debezium's `ExtractNewRecordState` with
//!   `delete.handling.mode = rewrite` marks deletes so. Without
//!   `delete_enabled` such a row is written as it is (a soft delete).

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{PkMode, SinkConfig};
use crate::event::{Op, Row, Value};
use crate::schema::{Column, ColumnType, TableSchema};

/// One decoded Kafka record, before `pk_mode` is applied.
#[derive(Debug, Clone)]
pub struct SinkRecord {
    /// Source topic.
    pub topic: Arc<str>,
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
    /// A name that cannot be written unquoted (`quote_sql_identifiers = "never"`).
    #[error(transparent)]
    Unquoted(#[from] crate::sink::dialect::unquoted::UnquotedError),
    /// Schemaless JSON that is not what the sink can type by a table.
    #[error("schemaless JSON {part}: {reason}")]
    Schemaless {
        /// `key` or `value`.
        part: &'static str,
        /// What is wrong (never the value itself).
        reason: String,
    },
    /// A schemaless field the target table has no column for.
    #[error("field `{field}` has no column in table {table} (schemaless JSON is typed by the table's columns; auto_evolve cannot apply)")]
    NoColumn {
        /// The field.
        field: String,
        /// The target table.
        table: String,
    },
    /// Two fields that are one column once written unquoted.
    #[error("fields {0:?} and {1:?} are the same column written unquoted (quote_sql_identifiers = \"never\")")]
    UnquotedClash(String, String),
    /// `pk_mode = "record_value"` without `pk_fields` keys on every value
    /// field, and the record's value has none.
    #[error("pk_mode = \"record_value\" without pk_fields keys on all value fields, but the record's value has none")]
    NoValueFields,
}

/// Which value fields a row keeps.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum FieldFilter {
    /// Every field.
    #[default]
    All,
    /// Only these (plus key fields).
    Include(Vec<String>),
    /// All but these (key fields are kept).
    Exclude(Vec<String>),
}

impl FieldFilter {
    /// True when value field `name` is written.
    pub fn keeps(&self, name: &str) -> bool {
        match self {
            FieldFilter::All => true,
            FieldFilter::Include(names) => names.iter().any(|n| n == name),
            FieldFilter::Exclude(names) => !names.iter().any(|n| n == name),
        }
    }
}

/// How records become rows: the mapping part of a sink's config.
#[derive(Debug, Clone, Default)]
pub struct MapRules {
    /// Where the primary key comes from.
    pub pk_mode: PkMode,
    /// Key fields (or the three kafka column names).
    pub pk_fields: Vec<String>,
    /// Value fields to keep.
    pub fields: FieldFilter,
    /// `db_timezone`: the zone whose wall time every Timestamp becomes.
    pub zone: crate::config::DbZone,
    /// Rows marked `__deleted = "true"` are deletes.
    pub rewrite_deletes: bool,
    /// `quote_sql_identifiers = "never"`: table and column names become the
    /// names this dialect's server gives them unquoted (see
    /// [`crate::sink::dialect::unquoted`]).
    pub unquoted: Option<crate::sink::dialect::Dialect>,
}

impl MapRules {
    /// The rules of `cfg` (`db_timezone` was checked by `validate`).
    pub fn from_config(cfg: &SinkConfig) -> Result<MapRules, crate::config::ConfigError> {
        let zone = match &cfg.db_timezone {
            Some(tz) => crate::config::DbZone::parse(tz).map_err(|reason| {
                crate::config::ConfigError::Invalid {
                    pipeline: cfg.name.clone(),
                    key: "db_timezone".into(),
                    reason,
                }
            })?,
            None => crate::config::DbZone::Utc,
        };
        let fields = if !cfg.fields_include.is_empty() {
            FieldFilter::Include(cfg.fields_include.clone())
        } else if !cfg.fields_exclude.is_empty() {
            FieldFilter::Exclude(cfg.fields_exclude.clone())
        } else {
            FieldFilter::All
        };
        Ok(MapRules {
            pk_mode: cfg.pk_mode,
            pk_fields: cfg.pk_fields.clone(),
            fields,
            zone,
            rewrite_deletes: cfg.delete_enabled,
            unquoted: None,
        })
    }
}

/// Debezium `ExtractNewRecordState`'s delete marker field.
pub const DELETED_FIELD: &str = "__deleted";

/// Maps records to rows, caching effective schemas by input schema identity.
#[derive(Default)]
pub struct RowMapper {
    rules: MapRules,
    /// (table, key schema address, value schema address) → (the input schemas,
    /// held so their addresses cannot be reused while cached; the result).
    cache: HashMap<(String, usize, usize), CachedSchema>,
    /// The last lookup's key and entry (most records repeat it).
    last: Option<(String, usize, usize, CachedSchema)>,
}

type CachedSchema = (Option<Arc<TableSchema>>, Option<Arc<TableSchema>>, Mapping);

/// The target schema of one input schema pair and, per target column, where
/// its value comes from: worked out once per schema pair (with maps, in time
/// linear in the fields), so mapping a record is one pass over its columns.
#[derive(Debug, Clone)]
struct Mapping {
    schema: Arc<TableSchema>,
    picks: Arc<[Pick]>,
}

/// Where one target column's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// The record's topic (`pk_mode = "kafka"`).
    Topic,
    /// The record's partition.
    Partition,
    /// The record's offset.
    Offset,
    /// The key row's column at this index.
    Key(usize),
    /// The value row's column at this index.
    Value(usize),
    /// No input holds it: NULL.
    Null,
}

const KAFKA_COLUMNS: [&str; 3] = ["__connect_topic", "__connect_partition", "__connect_offset"];

impl RowMapper {
    /// A mapper applying `rules`.
    pub fn new(rules: MapRules) -> RowMapper {
        RowMapper {
            rules,
            cache: HashMap::new(),
            last: None,
        }
    }

    /// The op `rec` means: a rewritten Debezium delete (`__deleted = "true"`)
    /// is a delete when the rules say so.
    pub fn op_of(&self, rec: &SinkRecord) -> Op {
        if rec.op != Op::Delete && self.rules.rewrite_deletes && marked_deleted(rec) {
            Op::Delete
        } else {
            rec.op
        }
    }

    /// Maps `rec` under the rules into a change of `table`.
    pub fn map(&mut self, rec: &SinkRecord, table: &str) -> Result<RowChange, RecordError> {
        let rules = &self.rules;
        let key_ptr = rec.key.as_ref().map_or(0, |(s, _)| Arc::as_ptr(s) as usize);
        let val_ptr = rec
            .value
            .as_ref()
            .map_or(0, |(s, _)| Arc::as_ptr(s) as usize);
        let last = (self.last.as_ref())
            .filter(|(t, k, v, _)| *k == key_ptr && *v == val_ptr && t == table)
            .map(|(_, _, _, cached)| cached.2.clone());
        let Mapping { schema, picks } = match last {
            Some(m) => m,
            None => {
                let cache_key = (table.to_string(), key_ptr, val_ptr);
                let cached = match self.cache.get(&cache_key) {
                    Some(cached) => cached.clone(),
                    None => {
                        let s = effective_schema(rec, table, rules)?;
                        let picks = picks(rec, &s, rules.pk_mode, &rules.pk_fields);
                        let s = match rules.unquoted {
                            Some(dialect) => unquoted_schema(dialect, s)?,
                            None => s,
                        };
                        if self.cache.len() > 1024 {
                            self.cache.clear();
                        }
                        let cached = (
                            rec.key.as_ref().map(|k| k.0.clone()),
                            rec.value.as_ref().map(|v| v.0.clone()),
                            Mapping {
                                schema: Arc::new(s),
                                picks,
                            },
                        );
                        self.cache.insert(cache_key, cached.clone());
                        cached
                    }
                };
                let m = cached.2.clone();
                // `cached` holds the input schemas: their addresses stay unique.
                self.last = Some((table.to_string(), key_ptr, val_ptr, cached));
                m
            }
        };
        let mut row = effective_row(rec, &picks);
        if rules.zone != crate::config::DbZone::Utc {
            for v in &mut row {
                if let Value::Timestamp(us) = v {
                    *us = rules.zone.to_local_micros(*us);
                }
            }
        }
        Ok(RowChange {
            table: schema.name.clone(),
            schema,
            op: self.op_of(rec),
            row,
        })
    }
}

/// True when the value has `__deleted` set to `"true"` / `true`.
fn marked_deleted(rec: &SinkRecord) -> bool {
    let Some((schema, row)) = &rec.value else {
        return false;
    };
    match schema.column_index(DELETED_FIELD).and_then(|i| row.get(i)) {
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        Some(Value::Boolean(b)) => *b,
        _ => false,
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
    rules: &MapRules,
) -> Result<TableSchema, RecordError> {
    let all_value_fields: Vec<String>;
    let pk_fields = if rules.pk_mode == PkMode::RecordValue && rules.pk_fields.is_empty() {
        all_value_fields = rec
            .value
            .as_ref()
            .map(|(s, _)| s.columns.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        &all_value_fields
    } else {
        &rules.pk_fields
    };
    let value_cols: Vec<Column> = rec
        .value
        .as_ref()
        .map(|(s, _)| {
            s.columns
                .iter()
                .filter(|c| {
                    rules.fields.keeps(&c.name)
                        || (rules.pk_mode == PkMode::RecordValue && pk_fields.contains(&c.name))
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let (columns, primary_key) = match rules.pk_mode {
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
            if pk_fields.is_empty() {
                // A tombstone, or a value without fields: nothing to key on.
                return Err(RecordError::NoValueFields);
            }
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

/// `schema` with its table and column names as `dialect` names them unquoted
/// (after [`picks`], which finds values by the record's field names).
fn unquoted_schema(
    dialect: crate::sink::dialect::Dialect,
    mut schema: TableSchema,
) -> Result<TableSchema, RecordError> {
    use crate::sink::dialect::unquoted::unquoted_name;
    schema.name = unquoted_name(dialect, &schema.name)?;
    let mut seen: HashMap<String, String> = HashMap::new();
    for c in &mut schema.columns {
        let name = unquoted_name(dialect, &c.name)?;
        if let Some(first) = seen.insert(name.clone(), c.name.clone()) {
            return Err(RecordError::UnquotedClash(first, c.name.clone()));
        }
        c.name = name;
    }
    for k in &mut schema.primary_key {
        *k = unquoted_name(dialect, k)?;
    }
    Ok(schema)
}

/// A key schema of one column with an empty name is a primitive key.
fn is_primitive_key(key: &TableSchema) -> bool {
    key.columns.len() == 1 && key.columns[0].name.is_empty()
}

fn effective_row(rec: &SinkRecord, picks: &[Pick]) -> Row {
    let at = |part: &Option<(Arc<TableSchema>, Row)>, i: usize| {
        part.as_ref().and_then(|(_, r)| r.get(i)).cloned()
    };
    picks
        .iter()
        .map(|pick| {
            let v = match *pick {
                Pick::Topic => Some(Value::String(rec.topic.to_string())),
                Pick::Partition => Some(Value::Int(i64::from(rec.partition))),
                Pick::Offset => Some(Value::Int(rec.offset)),
                Pick::Key(i) => at(&rec.key, i),
                Pick::Value(i) => at(&rec.value, i),
                Pick::Null => None,
            };
            v.unwrap_or(Value::Null)
        })
        .collect()
}

/// Where each column of `schema` (the effective schema of `rec`'s input
/// schemas) takes its value from; names are looked up in maps, so this is
/// linear in the number of fields. A name held twice resolves to its first
/// column, as a scan would.
fn picks(
    rec: &SinkRecord,
    schema: &TableSchema,
    pk_mode: PkMode,
    pk_fields: &[String],
) -> Arc<[Pick]> {
    fn index(part: &Option<(Arc<TableSchema>, Row)>) -> HashMap<&str, usize> {
        let mut map = HashMap::new();
        if let Some((s, _)) = part {
            for (i, c) in s.columns.iter().enumerate() {
                map.entry(c.name.as_str()).or_insert(i);
            }
        }
        map
    }
    let key_index = index(&rec.key);
    let value_index = index(&rec.value);
    let is_key: std::collections::HashSet<&str> =
        schema.primary_key.iter().map(String::as_str).collect();
    let names = kafka_names(pk_fields);
    let primitive_key = rec.key.as_ref().is_some_and(|(s, _)| is_primitive_key(s));
    let from = |map: &HashMap<&str, usize>, name: &str, pick: fn(usize) -> Pick| {
        map.get(name).map_or(Pick::Null, |&i| pick(i))
    };
    schema
        .columns
        .iter()
        .map(|col| {
            let key = is_key.contains(col.name.as_str());
            match pk_mode {
                PkMode::Kafka if col.name == names[0] => Pick::Topic,
                PkMode::Kafka if col.name == names[1] => Pick::Partition,
                PkMode::Kafka if col.name == names[2] => Pick::Offset,
                PkMode::RecordKey if key && primitive_key => Pick::Key(0),
                PkMode::RecordKey if key => from(&key_index, &col.name, Pick::Key),
                _ => from(&value_index, &col.name, Pick::Value),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
