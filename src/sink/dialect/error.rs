//! [`SqlError`]: what building SQL text can refuse. Pure: no driver, no I/O.
//!
//! Four kinds are the record's own (its schema, a name, a value the target
//! cannot represent, a row too large for one statement); [`SqlError::Misuse`] is a caller bug (a statement builder
//! called with inconsistent arguments). Errors never carry row values: a
//! literal error names the column and the problem only.

/// A statement the dialect cannot build.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The target table cannot follow the message schema (DDL cannot be planned).
    #[error("table {table}: {reason}")]
    Schema {
        /// Target table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// A table or column name the dialect cannot represent exactly.
    #[error("identifier {name:?}: {reason}")]
    Identifier {
        /// The offending name.
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A value that cannot be written as a literal of its column (the value itself is not shown).
    #[error("column {column}: {reason}")]
    Value {
        /// Column name.
        column: String,
        /// Why (e.g. `NaN and infinite floats have no literal here`).
        reason: &'static str,
    },
    /// One row needs a statement longer than the target accepts (MySQL/MariaDB:
    /// `max_allowed_packet`; PostgreSQL: 1 GiB; SQLite: `SQLITE_MAX_SQL_LENGTH`).
    #[error("table {table}: writing this row takes a {bytes}-byte statement; the target accepts at most {limit} bytes (MySQL/MariaDB: max_allowed_packet)")]
    TooLarge {
        /// Target table.
        table: String,
        /// The statement's length.
        bytes: usize,
        /// The target's limit.
        limit: usize,
        /// The row's change: its index among the changes planned.
        change: usize,
    },
    /// A statement builder was called with inconsistent arguments (a caller bug).
    #[error("invalid statement request: {0}")]
    Misuse(#[from] Misuse),
}

/// The ways a caller can misuse a statement builder (each one a bug in the planner).
#[derive(Debug, thiserror::Error)]
pub enum Misuse {
    /// `LOAD DATA` was asked of a dialect other than MySQL's.
    #[error("LOAD DATA is MySQL's")]
    LoadDataNotMySql,
    /// Column names and column types differ in number (or there are none).
    #[error("{columns} columns but {types} types")]
    Shape {
        /// Column names given.
        columns: usize,
        /// Column types given.
        types: usize,
    },
    /// A row does not have one value per column.
    #[error("a row has {values} values for {columns} columns")]
    RowWidth {
        /// Values in the row.
        values: usize,
        /// Columns of the statement.
        columns: usize,
    },
    /// A statement for zero rows.
    #[error("no rows to write")]
    NoRows,
    /// A keyed statement without key columns or keys.
    #[error("no key columns or no keys")]
    NoKey,
    /// A key column that is not among the statement's columns.
    #[error("key column {0} is not among the columns")]
    KeyNotAColumn(String),
    /// An offsets lock with no statements.
    #[error("no offsets lock statement")]
    NoOffsetsLock,
}

impl SqlError {
    /// True when the error is the record's own (its schema, a name, a value, its size),
    /// so skipping that record is what `errors_tolerance = "all"` means;
    /// false for a caller bug.
    pub fn blames_record(&self) -> bool {
        !matches!(self, SqlError::Misuse(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_errors_and_bugs_are_told_apart() {
        let schema = SqlError::Schema {
            table: "t".into(),
            reason: "x".into(),
        };
        assert!(schema.blames_record());
        assert_eq!(schema.to_string(), "table t: x");
        let bug = SqlError::from(Misuse::NoRows);
        assert!(!bug.blames_record());
        assert_eq!(
            bug.to_string(),
            "invalid statement request: no rows to write"
        );
    }
}
