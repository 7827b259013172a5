//! Table schemas in Sluice's type model, and schema evolution as a pure diff.
//!
//! [`ColumnType`] is the Kafka Connect type model (primitive types plus the
//! logical types Decimal, Date, Time and Timestamp). Sources map their native
//! column types to it, the codec writes it as Connect JSON schemas, and sinks
//! map it to each dialect's DDL. [`TableSchema::diff`] computes what a target
//! table needs to follow a new message schema; the sink turns that into DDL.

/// A column's type in the Kafka Connect model.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// int8.
    Int8,
    /// int16.
    Int16,
    /// int32.
    Int32,
    /// int64.
    Int64,
    /// float32 (JSON `float`).
    Float32,
    /// float64 (JSON `double`).
    Float64,
    /// boolean.
    Boolean,
    /// string; `max_len` is a length hint (characters) for DDL when known.
    String {
        /// Declared maximum length in characters, if the source knew it.
        max_len: Option<u32>,
    },
    /// bytes; `max_len` is a length hint for DDL when known.
    Bytes {
        /// Declared maximum length in bytes, if the source knew it.
        max_len: Option<u32>,
    },
    /// `org.apache.kafka.connect.data.Decimal` (bytes, unscaled two's complement).
    Decimal {
        /// Digits after the point.
        scale: u32,
        /// Total digits, when known (`connect.decimal.precision`).
        precision: Option<u32>,
    },
    /// `org.apache.kafka.connect.data.Date` (int32 days).
    Date,
    /// `org.apache.kafka.connect.data.Time` (int32 milliseconds).
    Time,
    /// `org.apache.kafka.connect.data.Timestamp` (int64 milliseconds).
    Timestamp,
    /// `io.debezium.time.MicroTime` (int64 microseconds), for `time_precision = "micros"`.
    MicroTime,
    /// `io.debezium.time.MicroTimestamp` (int64 microseconds), for `time_precision = "micros"`.
    MicroTimestamp,
}

impl ColumnType {
    /// Rank used to decide lossless widening inside one family; `None` when the
    /// type has no widening family.
    fn widening_rank(&self) -> Option<(u8, u32)> {
        match self {
            ColumnType::Int8 => Some((0, 1)),
            ColumnType::Int16 => Some((0, 2)),
            ColumnType::Int32 => Some((0, 3)),
            ColumnType::Int64 => Some((0, 4)),
            ColumnType::Float32 => Some((1, 1)),
            ColumnType::Float64 => Some((1, 2)),
            ColumnType::String { max_len } => Some((2, max_len.unwrap_or(u32::MAX))),
            ColumnType::Bytes { max_len } => Some((3, max_len.unwrap_or(u32::MAX))),
            _ => None,
        }
    }

    /// True when every value of `self` is representable in `wider`.
    pub fn widens_to(&self, wider: &ColumnType) -> bool {
        if self == wider {
            return true;
        }
        match (self, wider) {
            (
                ColumnType::Decimal {
                    scale: s1,
                    precision: p1,
                },
                ColumnType::Decimal {
                    scale: s2,
                    precision: p2,
                },
            ) => {
                s1 == s2
                    && match (p1, p2) {
                        (Some(a), Some(b)) => a <= b,
                        (_, None) => true,
                        (None, Some(_)) => false,
                    }
            }
            _ => match (self.widening_rank(), wider.widening_rank()) {
                (Some((f1, r1)), Some((f2, r2))) => f1 == f2 && r1 <= r2,
                _ => false,
            },
        }
    }
}

/// One column of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Column name, exactly as in the source (never trimmed or case-folded).
    pub name: String,
    /// Type in the Connect model.
    pub ty: ColumnType,
    /// Whether NULL is allowed.
    pub optional: bool,
    /// Default value, when the schema declares one.
    pub default: Option<crate::value::Value>,
    /// What the source column was, where Debezium's messages name it
    /// (binlog sources only; `None` everywhere else).
    pub semantic: Option<Semantic>,
    /// Schema parameters the source's column mappers add (Debezium's
    /// `masked`, `truncateLength`), written into the column's Connect schema.
    pub parameters: Vec<(String, String)>,
}

/// A MySQL/MariaDB column type that Debezium's MySQL connector writes with
/// a semantic schema of its own (`io.debezium.data.*`, `io.debezium.time.*`),
/// carried beside the Connect type so the Debezium envelope can write it.
/// The Connect type stays what the flat envelope and every sink use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Semantic {
    /// `BIT(n)`, n > 1: `io.debezium.data.Bits` (bytes, little-endian).
    Bits {
        /// Declared number of bits.
        length: u32,
    },
    /// `ENUM(...)`: `io.debezium.data.Enum` with its `allowed` values.
    Enum(Vec<String>),
    /// `SET(...)`: `io.debezium.data.EnumSet` with its `allowed` values.
    Set(Vec<String>),
    /// `JSON`: `io.debezium.data.Json`.
    Json,
    /// `GEOMETRY` and its subtypes: `io.debezium.data.geometry.Geometry`
    /// (a struct of `wkb` and `srid`).
    Geometry,
    /// `TIMESTAMP(fsp)`: `io.debezium.time.ZonedTimestamp` (ISO-8601 UTC text).
    Timestamp {
        /// Fractional-second digits declared.
        fsp: u32,
    },
    /// `YEAR`: `io.debezium.time.Year`.
    Year,
    /// `BIGINT UNSIGNED`: a Decimal under every `decimal.handling.mode`
    /// (Debezium follows `bigint.unsigned.handling.mode` for it).
    UnsignedBigint,
}

impl Column {
    /// A column without a default.
    pub fn new(name: impl Into<String>, ty: ColumnType, optional: bool) -> Self {
        Column {
            name: name.into(),
            ty,
            optional,
            default: None,
            semantic: None,
            parameters: Vec::new(),
        }
    }
}

/// A table's shape: ordered columns and the primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct TableSchema {
    /// Schema (record) name, e.g. the table name for the flat envelope.
    pub name: String,
    /// Ordered columns.
    pub columns: Vec<Column>,
    /// Primary-key column names, in key order.
    pub primary_key: Vec<String>,
}

/// What a target table must change to accept rows of a newer schema.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SchemaDiff {
    /// Columns the target lacks.
    pub added: Vec<Column>,
    /// Columns whose type must widen: (new column, old type).
    pub widened: Vec<(Column, ColumnType)>,
    /// Columns whose new type cannot hold the old values or is a different kind:
    /// (column name, old type, new type). Never applied automatically.
    pub incompatible: Vec<(String, ColumnType, ColumnType)>,
    /// Columns that became nullable in the new schema.
    pub relaxed: Vec<Column>,
}

impl SchemaDiff {
    /// True when the target needs no change.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.widened.is_empty()
            && self.incompatible.is_empty()
            && self.relaxed.is_empty()
    }
}

impl TableSchema {
    /// Index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Indexes of the primary-key columns, in key order (missing names skipped).
    pub fn primary_key_indexes(&self) -> impl Iterator<Item = usize> + '_ {
        self.primary_key.iter().filter_map(|k| self.column_index(k))
    }

    /// The key schema: the primary-key columns, in key order.
    pub fn key_columns(&self) -> Vec<&Column> {
        self.primary_key_indexes()
            .map(|i| &self.columns[i])
            .collect()
    }

    /// What `self` (the existing target) must change to accept rows of `new`.
    /// Columns present in `self` but absent in `new` are left alone (they must
    /// be nullable or have defaults in the target; that is the dialect's job).
    pub fn diff(&self, new: &TableSchema) -> SchemaDiff {
        let mut diff = SchemaDiff::default();
        for col in &new.columns {
            match self.column(&col.name) {
                None => diff.added.push(col.clone()),
                Some(old) => {
                    if old.ty != col.ty {
                        if old.ty.widens_to(&col.ty) {
                            diff.widened.push((col.clone(), old.ty.clone()));
                        } else if !col.ty.widens_to(&old.ty) {
                            diff.incompatible.push((
                                col.name.clone(),
                                old.ty.clone(),
                                col.ty.clone(),
                            ));
                        }
                    }
                    if col.optional && !old.optional {
                        diff.relaxed.push(col.clone());
                    }
                }
            }
        }
        diff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(cols: Vec<Column>) -> TableSchema {
        TableSchema {
            name: "t".into(),
            columns: cols,
            primary_key: vec![],
        }
    }

    #[test]
    fn diff_finds_added_columns() {
        let old = schema(vec![Column::new("id", ColumnType::Int32, false)]);
        let new = schema(vec![
            Column::new("id", ColumnType::Int32, false),
            Column::new("name", ColumnType::String { max_len: None }, true),
        ]);
        let d = old.diff(&new);
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].name, "name");
        assert!(d.widened.is_empty() && d.incompatible.is_empty());
    }

    #[test]
    fn diff_widens_integers_and_not_narrowing() {
        let old = schema(vec![Column::new("n", ColumnType::Int16, true)]);
        let wider = schema(vec![Column::new("n", ColumnType::Int64, true)]);
        assert_eq!(old.diff(&wider).widened.len(), 1);
        // A narrower incoming type fits the existing column: nothing to do.
        assert!(wider.diff(&old).is_empty());
        let text = schema(vec![Column::new(
            "n",
            ColumnType::String { max_len: None },
            true,
        )]);
        assert_eq!(old.diff(&text).incompatible.len(), 1);
    }

    #[test]
    fn decimal_widening_needs_same_scale() {
        let a = ColumnType::Decimal {
            scale: 2,
            precision: Some(10),
        };
        let b = ColumnType::Decimal {
            scale: 2,
            precision: Some(12),
        };
        let c = ColumnType::Decimal {
            scale: 3,
            precision: Some(12),
        };
        assert!(a.widens_to(&b));
        assert!(!b.widens_to(&a));
        assert!(!a.widens_to(&c));
    }

    #[test]
    fn diff_reports_relaxed_nullability() {
        let old = schema(vec![Column::new("n", ColumnType::Int32, false)]);
        let new = schema(vec![Column::new("n", ColumnType::Int32, true)]);
        assert_eq!(old.diff(&new).relaxed.len(), 1);
    }
}
