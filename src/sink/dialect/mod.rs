//! SQL generation for the JDBC-style sink: pure functions, no I/O.
//!
//! [`Dialect`] turns table schemas, schema diffs and rows into SQL text for
//! MySQL/MariaDB, PostgreSQL and SQLite. Everything here is deterministic and
//! unit-tested without a database; `sink::target` executes the result.
//!
//! **Why literal SQL rather than prepared statements.** A batch becomes one
//! multi-row statement (`INSERT … VALUES (…),(…)`), which is several times
//! faster than a round trip per row and needs no per-statement prepare/close.
//! Literals let each server coerce the value to the column type itself (a
//! `'2024-01-02 03:04:05.000000'` literal works for DATETIME and TIMESTAMP
//! alike), so there is no per-type parameter binding to get wrong, and MySQL's
//! 65,535-placeholder limit does not apply. The price is escaping, which lives in
//! one place per dialect (`mysql.rs`, `postgres.rs`, `sqlite.rs`): every string,
//! byte string and identifier goes through it, decimals are checked to be plain
//! numbers, floats are written in exponent form, and nothing is ever
//! interpolated raw.
//! Escaping rules depend on session settings (MySQL: no `NO_BACKSLASH_ESCAPES`;
//! PostgreSQL: `standard_conforming_strings = on`; SQLite has no such
//! settings), which the target's connection always sets.
//!
//! **Types.** [`Dialect::sql_type`] is the best native type per Connect type (see
//! the table in each dialect file); [`Dialect::stored_schema`] is what that
//! DDL reads back as, so `describe_table(t).diff(&stored_schema(s))` is empty
//! right after `create_table(t, s)`. The sink diffs against the stored schema,
//! never the raw message schema (e.g. PostgreSQL has no int8, MySQL keys need a
//! length, SQLite keeps no widths at all).
//!
//! **Evolution** follows Kafka Connect: missing columns are added (nullable
//! unless they have a default; a required field without a default is an
//! error), types widen within a family, and anything else is an error naming
//! the column. Columns are never dropped or narrowed. SQLite cannot alter a
//! column: it adds columns one `ALTER TABLE` at a time, needs no DDL to widen
//! (its stored types have no widths), and leaves `NOT NULL` in place when a
//! field becomes optional (a NULL written there later fails naming the column).

mod dml;
mod error;
mod literal;
mod mysql;
pub mod pg_binary;
mod postgres;
mod sqlite;
pub mod unquoted;

pub use error::{Misuse, SqlError};
pub use literal::LiteralError;
pub(crate) use mysql::type_from_information_schema as mysql_type_from_information_schema;
pub(crate) use postgres::type_from_information_schema as postgres_type_from_information_schema;
pub(crate) use sqlite::type_from_declared as sqlite_type_from_declared;

use crate::config::DbKind;
use crate::event::Value;
use crate::schema::{Column, ColumnType, SchemaDiff, TableSchema};

/// The statements of [`Dialect::copy_upsert`], run in this order.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyUpsert {
    /// Creates the staging table.
    pub create: String,
    /// `COPY stage (…) FROM STDIN`.
    pub copy: String,
    /// The rows in COPY text format.
    pub data: String,
    /// Merges the staging table into the target table and drops it.
    pub merge: String,
}

/// Where the sink stores consumed offsets, in the target database itself.
pub const OFFSETS_TABLE: &str = crate::config::OFFSETS_TABLE;

/// A SQL dialect of a target database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// MySQL 5.7+/8.x/9.x and MariaDB 10.3+.
    MySql,
    /// PostgreSQL 10+.
    Postgres,
    /// SQLite, embedded (the library bundled into Sluice).
    Sqlite,
}

impl Dialect {
    /// The dialect of a database kind, or an error for kinds this sink does not write.
    pub fn for_kind(kind: DbKind) -> Result<Dialect, SqlError> {
        match kind {
            DbKind::MySql => Ok(Dialect::MySql),
            DbKind::Postgres => Ok(Dialect::Postgres),
            DbKind::Sqlite => Ok(Dialect::Sqlite),
        }
    }

    /// Quotes a table or column name so it means exactly `name`; rejects names the server cannot hold.
    pub fn quote_ident(&self, name: &str) -> Result<String, SqlError> {
        match self {
            Dialect::MySql => mysql::quote_ident(name),
            Dialect::Postgres => postgres::quote_ident(name),
            Dialect::Sqlite => sqlite::quote_ident(name),
        }
    }

    /// The native column type for `ty` (`is_key`: the column is part of the primary key).
    pub fn sql_type(&self, ty: &ColumnType, is_key: bool) -> String {
        match self {
            Dialect::MySql => mysql::sql_type(ty, is_key),
            Dialect::Postgres => postgres::sql_type(ty),
            Dialect::Sqlite => sqlite::sql_type(ty),
        }
    }

    /// The column's type with `NOT NULL` (required or key) and `DEFAULT <literal>` when set.
    pub fn column_type(&self, col: &Column, is_key: bool) -> Result<String, SqlError> {
        let mut sql = self.sql_type(&col.ty, is_key);
        if is_key || !col.optional {
            sql.push_str(" NOT NULL");
        }
        if let Some(default) = &col.default {
            let parens = *self == Dialect::MySql && mysql::default_needs_parens(&col.ty, is_key);
            sql.push_str(if parens { " DEFAULT (" } else { " DEFAULT " });
            self.write_literal(&mut sql, default, &col.ty)
                .map_err(|e| value_error(&col.name, e))?;
            if parens {
                sql.push(')');
            }
        }
        Ok(sql)
    }

    /// The type `ty` reads back as from the target after [`Dialect::sql_type`] created it.
    pub fn stored_type(&self, ty: &ColumnType, is_key: bool) -> ColumnType {
        match self {
            Dialect::MySql => mysql::stored_type(ty, is_key),
            Dialect::Postgres => postgres::stored_type(ty),
            Dialect::Sqlite => sqlite::stored_type(ty),
        }
    }

    /// `schema` as the target stores it with primary key `pk`: stored types, key
    /// columns required. Defaults are kept (ALTER needs them), but
    /// `describe_table` does not read them back: compare columns without defaults.
    pub fn stored_schema(&self, schema: &TableSchema, pk: &[String]) -> TableSchema {
        let columns = schema
            .columns
            .iter()
            .map(|c| {
                let is_key = pk.contains(&c.name);
                Column {
                    name: c.name.clone(),
                    ty: self.stored_type(&c.ty, is_key),
                    optional: c.optional && !is_key,
                    default: c.default.clone(),
                    semantic: None,
                    parameters: Vec::new(),
                }
            })
            .collect();
        TableSchema {
            name: schema.name.clone(),
            columns,
            primary_key: pk.to_vec(),
        }
    }

    /// `CREATE TABLE` for `schema` with primary key `pk` (empty: no primary key).
    pub fn create_table(
        &self,
        table: &str,
        schema: &TableSchema,
        pk: &[String],
    ) -> Result<String, SqlError> {
        let schema_err = |reason: String| SqlError::Schema {
            table: table.to_string(),
            reason,
        };
        if schema.columns.is_empty() {
            return Err(schema_err("the message schema has no fields".into()));
        }
        for (i, c) in schema.columns.iter().enumerate() {
            if schema.columns[..i].iter().any(|o| o.name == c.name) {
                return Err(schema_err(format!("field {} appears twice", c.name)));
            }
        }
        if let Some(missing) = pk.iter().find(|k| schema.column(k).is_none()) {
            return Err(schema_err(format!(
                "primary key field {missing} is not in the message schema"
            )));
        }
        let mut sql = format!("CREATE TABLE {} (", self.quote_ident(table)?);
        for (i, c) in schema.columns.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            let is_key = pk.contains(&c.name);
            sql.push_str(&self.quote_ident(&c.name)?);
            sql.push(' ');
            sql.push_str(&self.column_type(c, is_key)?);
        }
        if !pk.is_empty() {
            sql.push_str(", PRIMARY KEY (");
            sql.push_str(&self.ident_list(pk.iter().map(String::as_str))?);
            sql.push(')');
        }
        sql.push(')');
        if *self == Dialect::MySql {
            sql.push_str(mysql::TABLE_OPTIONS);
        }
        Ok(sql)
    }

    /// DDL making table `table` (now `current`, as described) accept rows that
    /// need `diff`: added columns, widened types, relaxed nullability. Empty when
    /// nothing is to change; an error for incompatible types and for required
    /// fields without a default. One statement, except on SQLite: one
    /// `ALTER TABLE … ADD COLUMN` per column, no type or nullability changes.
    pub fn alter_table(
        &self,
        table: &str,
        current: &TableSchema,
        diff: &SchemaDiff,
    ) -> Result<Vec<String>, SqlError> {
        let schema_err = |reason: String| SqlError::Schema {
            table: table.to_string(),
            reason,
        };
        if let Some((name, old, new)) = diff.incompatible.first() {
            return Err(schema_err(format!(
                "column {name} has type {old:?} in the target but {new:?} in the message; \
                 it cannot be altered automatically"
            )));
        }
        let mut actions = Vec::new();
        for col in &diff.added {
            if !col.optional && col.default.is_none() {
                return Err(schema_err(format!(
                    "Cannot ALTER TABLE {table} to add missing field {}, as the field is not \
                     optional and does not have a default value",
                    col.name
                )));
            }
            // Added columns stay nullable unless they have a default to fill old rows with.
            let nullable = Column {
                optional: col.optional || col.default.is_none(),
                ..col.clone()
            };
            actions.push(format!(
                "ADD COLUMN {} {}",
                self.quote_ident(&col.name)?,
                self.column_type(&nullable, false)?
            ));
        }
        let is_key = |name: &str| current.primary_key.iter().any(|k| k == name);
        let is_relaxed = |name: &str| !is_key(name) && diff.relaxed.iter().any(|c| c.name == name);
        for (col, old) in &diff.widened {
            let key = is_key(&col.name);
            let new_type = self.sql_type(&col.ty, key);
            if new_type == self.sql_type(old, key) {
                continue;
            }
            let ident = self.quote_ident(&col.name)?;
            actions.push(match self {
                Dialect::Postgres => format!("ALTER COLUMN {ident} TYPE {new_type}"),
                // Unreachable in practice: every widening family is one SQLite type.
                Dialect::Sqlite => continue,
                Dialect::MySql => {
                    let was_optional = current.column(&col.name).is_none_or(|c| c.optional);
                    let target = Column {
                        optional: was_optional || is_relaxed(&col.name),
                        ..col.clone()
                    };
                    format!("MODIFY COLUMN {ident} {}", self.column_type(&target, key)?)
                }
            });
        }
        for col in diff.relaxed.iter().filter(|c| is_relaxed(&c.name)) {
            let ident = self.quote_ident(&col.name)?;
            match self {
                Dialect::Postgres => actions.push(format!("ALTER COLUMN {ident} DROP NOT NULL")),
                // SQLite cannot drop NOT NULL short of rebuilding the table: it stays.
                Dialect::Sqlite => {}
                Dialect::MySql => {
                    if diff.widened.iter().any(|(w, _)| w.name == col.name) {
                        continue; // the MODIFY above already made it nullable
                    }
                    // MySQL re-declares the whole column: keep the current type.
                    let ty = current.column(&col.name).map_or(&col.ty, |c| &c.ty);
                    let target = Column {
                        ty: ty.clone(),
                        optional: true,
                        ..col.clone()
                    };
                    actions.push(format!(
                        "MODIFY COLUMN {ident} {}",
                        self.column_type(&target, false)?
                    ));
                }
            }
        }
        if actions.is_empty() {
            return Ok(Vec::new());
        }
        let head = format!("ALTER TABLE {} ", self.quote_ident(table)?);
        if *self == Dialect::Sqlite {
            // SQLite takes one ADD COLUMN per ALTER TABLE.
            return Ok(actions.iter().map(|a| format!("{head}{a}")).collect());
        }
        Ok(vec![format!("{head}{}", actions.join(", "))])
    }

    /// Appends `value` as a literal for a column of type `ty`.
    pub fn write_literal(
        &self,
        out: &mut String,
        value: &Value,
        ty: &ColumnType,
    ) -> Result<(), LiteralError> {
        match self {
            Dialect::MySql => mysql::write_literal(out, value, ty),
            Dialect::Postgres => postgres::write_literal(out, value, ty),
            Dialect::Sqlite => sqlite::write_literal(out, value, ty),
        }
    }

    /// PostgreSQL only: `COPY table (columns) FROM STDIN` and its text-format
    /// payload (tab-separated fields, one line per row) for `rows`.
    pub fn copy_in(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        rows: &[&[Value]],
    ) -> Result<(String, String), SqlError> {
        let sql = self.copy_statement(table, columns, false)?;
        let mut data = String::with_capacity(rows.len() * 16 * columns.len().max(1));
        for row in rows {
            for (i, (v, ty)) in row.iter().zip(types).enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                postgres::write_copy_text(&mut data, v, ty)
                    .map_err(|e| value_error(columns[i], e))?;
            }
            data.push('\n');
        }
        Ok((sql, data))
    }

    /// PostgreSQL only: `COPY table (columns) FROM STDIN`, in binary format
    /// when `binary` (see [`pg_binary`]).
    pub fn copy_statement(
        &self,
        table: &str,
        columns: &[&str],
        binary: bool,
    ) -> Result<String, SqlError> {
        Ok(format!(
            "COPY {} ({}) FROM STDIN{}",
            self.quote_ident(table)?,
            self.ident_list(columns.iter().copied())?,
            if binary { " WITH (FORMAT binary)" } else { "" }
        ))
    }

    /// PostgreSQL upsert through COPY, for large runs: a staging temp table
    /// with the run's columns (`CREATE TEMP TABLE … AS SELECT cols FROM table
    /// WITH NO DATA`: same types, no constraints), the COPY into it (`sql`,
    /// `data`), and the merge `INSERT INTO table SELECT … FROM stage ON
    /// CONFLICT … ; DROP TABLE stage`. `rows` must not repeat a key
    /// (PostgreSQL refuses to touch a row twice in one statement).
    pub fn copy_upsert(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        key: &[&str],
        rows: &[&[Value]],
    ) -> Result<CopyUpsert, SqlError> {
        const STAGE: &str = "pg_temp.\"sluice_upsert_stage\"";
        let cols = self.ident_list(columns.iter().copied())?;
        let table_q = self.quote_ident(table)?;
        let (_, data) = self.copy_in(table, columns, types, rows)?;
        Ok(CopyUpsert {
            create: format!(
                "CREATE TEMP TABLE {STAGE} AS SELECT {cols} FROM {table_q} WITH NO DATA"
            ),
            copy: format!("COPY {STAGE} ({cols}) FROM STDIN"),
            data,
            merge: format!(
                "INSERT INTO {table_q} ({cols}) SELECT {cols} FROM {STAGE}{}; DROP TABLE {STAGE}",
                self.upsert_clause(columns, key)?
            ),
        })
    }

    /// Quoted, comma-separated identifiers.
    fn ident_list<'a>(&self, names: impl Iterator<Item = &'a str>) -> Result<String, SqlError> {
        let quoted = names
            .map(|n| self.quote_ident(n))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(quoted.join(", "))
    }
}

/// A literal error for column `column` (the value itself is never shown).
fn value_error(column: &str, e: LiteralError) -> SqlError {
    SqlError::Value {
        column: column.to_string(),
        reason: e.0,
    }
}

#[cfg(test)]
mod tests;

/// Checks every dialect shares for an identifier: not empty, no NUL.
pub(crate) fn check_ident(name: &str) -> Result<(), SqlError> {
    let reason = if name.is_empty() {
        "empty names are not allowed"
    } else if name.contains('\0') {
        "names cannot contain NUL"
    } else {
        return Ok(());
    };
    Err(SqlError::Identifier {
        name: name.to_string(),
        reason,
    })
}
