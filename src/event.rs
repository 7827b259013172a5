//! The one event type that flows through Sluice.
//!
//! Sources produce [`ChangeEvent`]s, the Connect codec turns them into Kafka
//! messages and back, and sinks apply them. A row is a `Vec<Value>` aligned with
//! the columns of the event's shared [`TableSchema`]; values are kept in a
//! width-independent form (all integers as `i64`, times in microseconds) and the
//! schema says how to encode them.

use std::sync::Arc;

use crate::position::Position;
use crate::schema::TableSchema;

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A new row (Debezium `c`).
    Create,
    /// A changed row (Debezium `u`).
    Update,
    /// A removed row (Debezium `d`).
    Delete,
    /// A row read by a snapshot or a poll (Debezium `r`).
    Read,
}

impl Op {
    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Read => "r",
        }
    }

    /// Parses Debezium's one-letter code.
    pub fn from_code(code: &str) -> Option<Op> {
        match code {
            "c" => Some(Op::Create),
            "u" => Some(Op::Update),
            "d" => Some(Op::Delete),
            "r" => Some(Op::Read),
            _ => None,
        }
    }

    /// Lowercase label used in metrics.
    pub fn label(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Read => "read",
        }
    }
}

pub use crate::value::{Row, Value};

/// Identifies a captured or target table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId {
    /// Database (schema) name.
    pub database: String,
    /// Table name.
    pub table: String,
}

impl TableId {
    /// Builds a table id.
    pub fn new(database: impl Into<String>, table: impl Into<String>) -> Self {
        TableId {
            database: database.into(),
            table: table.into(),
        }
    }
}

impl std::fmt::Display for TableId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.database, self.table)
    }
}

/// One row change, with everything needed to encode or apply it.
#[derive(Debug, Clone)]
pub struct ChangeEvent {
    /// Which table changed (shared: a source's events of one table point at
    /// one id instead of copying its two names per row).
    pub table: Arc<TableId>,
    /// What happened.
    pub op: Op,
    /// The row before the change (updates and deletes, when known).
    pub before: Option<Row>,
    /// The row after the change (creates, updates, reads).
    pub after: Option<Row>,
    /// The table's schema at the time of the change.
    pub schema: Arc<TableSchema>,
    /// Where in the source this change sits.
    pub position: Position,
    /// Source timestamp of the change, in milliseconds since the epoch.
    pub ts_ms: i64,
}

impl ChangeEvent {
    /// The primary-key values of this change (from `after`, else `before`),
    /// or `None` when the table has no primary key.
    pub fn key(&self) -> Option<Row> {
        if self.schema.primary_key.is_empty() {
            return None;
        }
        let row = self.after.as_ref().or(self.before.as_ref())?;
        Some(
            self.schema
                .primary_key_indexes()
                .map(|i| row.get(i).cloned().unwrap_or(Value::Null))
                .collect(),
        )
    }
}
