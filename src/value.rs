//! [`Value`]: one column value in a width-independent form (all integers as
//! `i64`, times in microseconds); the column's type in
//! [`crate::schema::ColumnType`] says how to encode it. At the bottom of the
//! layers with `schema`: both the source's [`crate::event::ChangeEvent`] and
//! the sink's row changes are rows of these.

/// One column value, independent of the column's width.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// BOOLEAN / BIT(1).
    Boolean(bool),
    /// Any integer that fits `i64` (int8..int64 columns).
    Int(i64),
    /// FLOAT.
    Float32(f32),
    /// DOUBLE.
    Float64(f64),
    /// Text.
    String(String),
    /// Binary data.
    Bytes(Vec<u8>),
    /// Exact decimal as canonical text (`-12.340`), with exactly the column's scale digits.
    Decimal(String),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight (may be negative or past 24h for MySQL TIME).
    Time(i64),
    /// Microseconds since 1970-01-01T00:00:00Z.
    Timestamp(i64),
}

impl Value {
    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// A row: values aligned with [`crate::schema::TableSchema::columns`].
pub type Row = Vec<Value>;
