//! Pure batch planning: row changes → DML statements, per dialect.
//!
//! Consecutive changes to the same table with the same schema and the same
//! kind (write or delete) form one run, and each run becomes as few
//! multi-row statements as the size limits allow. Runs keep the order of the
//! records, so per-key order (Kafka's partition order) is kept in the target.
//!
//! **Statement size.** The planner knows the target's longest statement
//! (`max_statement`: MySQL's `max_allowed_packet`, PostgreSQL's 1 GiB,
//! SQLite's `SQLITE_MAX_SQL_LENGTH`). A multi-row statement over it is split
//! until each row that is too large goes alone; a single row whose statement is still
//! too long is refused *before* anything is sent ([`SqlError::TooLarge`],
//! naming the change), because the server would drop the connection and the
//! batch would fail the same way on every retry. Bulk steps (COPY, `LOAD
//! DATA`) stream their rows and are not bound by it.

use std::borrow::Borrow;

use bytes::Bytes;

use crate::config::InsertMode;
use crate::event::{Op, Value};
use crate::schema::ColumnType;
use crate::sink::decode::RowChange;
use crate::sink::dialect::pg_binary::{copy_binary, types_check, BinaryKind, CopyFormats};
use crate::sink::dialect::Dialect;
use crate::sink::dialect::SqlError;

/// Most rows in one statement.
pub const MAX_ROWS_PER_STATEMENT: usize = 1000;
/// Rough cap on one statement's literal bytes (well under MySQL's default
/// 16 MiB `max_allowed_packet`; one larger row still goes alone).
pub const MAX_STATEMENT_BYTES: usize = 4 << 20;

/// Fewest rows of a PostgreSQL upsert run that go through COPY and a
/// staging table (the staging table's DDL costs more than it saves on small runs).
pub const COPY_UPSERT_MIN_ROWS: usize = 256;

/// What a batch does, for metrics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct PlanCounts {
    /// (table, op label, rows).
    pub applied: Vec<(String, &'static str, u64)>,
    /// Deletes skipped because `delete_enabled` is false.
    pub skipped_deletes: u64,
}

fn approx_size(row: &[Value]) -> usize {
    row.iter()
        .map(|v| match v {
            Value::String(s) => s.len() * 2 + 4,
            Value::Bytes(b) => b.len() * 2 + 4,
            Value::Decimal(d) => d.len() + 2,
            _ => 24,
        })
        .sum()
}

/// One step of an apply transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// An SQL statement.
    Sql(String),
    /// PostgreSQL `COPY … FROM STDIN` (`sql`) with its payload.
    Copy {
        /// The COPY statement.
        sql: String,
        /// The rows, in the format `sql` names: text (one line per row) or
        /// binary (shared: sending them copies nothing).
        data: Bytes,
        /// Binary format only: the table and the statement to run after the
        /// COPY that fails unless its columns' types are still the ones
        /// the data was written for (see [`types_check`]).
        binary: Option<BinaryCopy>,
    },
    /// MySQL/MariaDB `LOAD DATA LOCAL INFILE` (`sql`) with its text. The
    /// target checks that exactly `rows` rows were loaded without a warning
    /// (LOCAL turns errors into warnings) and otherwise rolls back and
    /// reports [`crate::sink::SinkError::LoadRefused`], so the batch is applied as
    /// `INSERT`s instead.
    Load {
        /// The LOAD DATA statement.
        sql: String,
        /// Rows in LOAD DATA text format, one per line.
        data: String,
        /// How many rows `data` holds.
        rows: u64,
    },
}

/// A binary COPY's table and its column types check.
#[derive(Debug, Clone, PartialEq)]
pub struct BinaryCopy {
    /// The target table.
    pub table: String,
    /// See [`types_check`].
    pub check: String,
}

/// The name LOAD DATA statements give their data (the target's LOCAL INFILE
/// handler serves only this name).
pub const LOAD_FILE: &str = "sluice-batch";

/// Plans `changes` into SQL statements (never COPY).
pub fn plan<C: Borrow<RowChange>>(
    dialect: Dialect,
    changes: &[C],
    insert_mode: InsertMode,
    delete_enabled: bool,
) -> Result<(Vec<String>, PlanCounts), SqlError> {
    let (steps, counts) = plan_steps(dialect, changes, insert_mode, delete_enabled, false)?;
    let sql = steps
        .into_iter()
        .map(|s| match s {
            Statement::Sql(sql) => sql,
            Statement::Copy { .. } | Statement::Load { .. } => {
                unreachable!("bulk steps not requested")
            }
        })
        .collect();
    Ok((sql, counts))
}

/// A binary COPY of `rows` into `table`, when `formats` knows every column
/// and every value fits its column's kind.
fn binary_copy(
    dialect: Dialect,
    formats: Option<&CopyFormats>,
    table: &str,
    columns: &[&str],
    rows: &[&[Value]],
) -> Result<Option<Statement>, SqlError> {
    let Some(known) = formats.and_then(|f| f.get(table)) else {
        return Ok(None);
    };
    let Some(cols): Option<Vec<&(BinaryKind, String)>> =
        columns.iter().map(|c| known.get(*c)).collect()
    else {
        return Ok(None);
    };
    let kinds: Vec<BinaryKind> = cols.iter().map(|(k, _)| *k).collect();
    let types: Vec<&str> = cols.iter().map(|(_, t)| t.as_str()).collect();
    let quoted = dialect.quote_ident(table)?;
    let Some(check) = types_check(&quoted, columns, &types) else {
        return Ok(None);
    };
    let Some(data) = copy_binary(rows, &kinds) else {
        return Ok(None);
    };
    Ok(Some(Statement::Copy {
        sql: dialect.copy_statement(table, columns, true)?,
        data: data.into(),
        binary: Some(BinaryCopy {
            table: table.to_string(),
            check,
        }),
    }))
}

/// Plans `changes` into steps; with `use_copy`, runs of plain inserts
/// (`insert_mode = insert`) become one PostgreSQL COPY or MySQL LOAD DATA
/// each (runs holding bytes stay `INSERT`s on MySQL), and PostgreSQL upsert runs of
/// at least [`COPY_UPSERT_MIN_ROWS`] rows a COPY into a staging table merged
/// with `INSERT … ON CONFLICT` (rows repeating a key collapsed to the last).
pub fn plan_steps<C: Borrow<RowChange>>(
    dialect: Dialect,
    changes: &[C],
    insert_mode: InsertMode,
    delete_enabled: bool,
    use_copy: bool,
) -> Result<(Vec<Statement>, PlanCounts), SqlError> {
    plan_steps_with(
        dialect,
        changes,
        insert_mode,
        delete_enabled,
        use_copy,
        None,
        usize::MAX,
    )
}

/// [`plan_steps`] with the target's binary-writable columns and its longest
/// statement: a PostgreSQL COPY of plain inserts into a table all of whose
/// columns `formats` knows is sent in binary format when every value fits
/// its column's kind; no SQL statement is longer than `max_statement` bytes
/// (see the module docs).
pub fn plan_steps_with<C: Borrow<RowChange>>(
    dialect: Dialect,
    changes: &[C],
    insert_mode: InsertMode,
    delete_enabled: bool,
    use_copy: bool,
    formats: Option<&CopyFormats>,
    max_statement: usize,
) -> Result<(Vec<Statement>, PlanCounts), SqlError> {
    let planner = Planner {
        max_statement,
        dialect,
        insert_mode,
        my_load: use_copy && dialect == Dialect::MySql && insert_mode == InsertMode::Insert,
        pg_copy: use_copy && dialect == Dialect::Postgres && insert_mode == InsertMode::Insert,
        pg_copy_upsert: use_copy
            && dialect == Dialect::Postgres
            && insert_mode == InsertMode::Upsert,
        formats,
    };
    let mut out = Planned::default();
    let mut at = 0;
    for run in runs(changes) {
        let first = run[0].borrow();
        let start = at;
        at += run.len();
        if first.op == Op::Delete && !delete_enabled {
            out.counts.skipped_deletes += run.len() as u64;
            continue;
        }
        planner.plan_run(&RunShape::of(first), run, start, &mut out)?;
    }
    Ok((out.statements, out.counts))
}

/// Consecutive changes to the same table with the same schema and the same
/// kind (write or delete), in order.
fn runs<C: Borrow<RowChange>>(changes: &[C]) -> impl Iterator<Item = &[C]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        let first = changes.get(start)?.borrow();
        let is_delete = first.op == Op::Delete;
        let len = changes[start..]
            .iter()
            .take_while(|c| {
                let c = (*c).borrow();
                c.table == first.table
                    && std::sync::Arc::ptr_eq(&c.schema, &first.schema)
                    && (c.op == Op::Delete) == is_delete
            })
            .count();
        let run = &changes[start..start + len];
        start += len;
        Some(run)
    })
}

/// The statements and counts planned so far.
#[derive(Default)]
struct Planned {
    statements: Vec<Statement>,
    counts: PlanCounts,
}

impl Planned {
    /// Counts every change of `run` as applied.
    fn count<C: Borrow<RowChange>>(&mut self, run: &[C]) {
        for c in run {
            let c = c.borrow();
            bump(&mut self.counts.applied, &c.table, c.op.label());
        }
    }
}

/// The columns, key and kind of one run (all its changes share them).
struct RunShape<'a> {
    table: &'a str,
    is_delete: bool,
    columns: Vec<&'a str>,
    types: Vec<&'a ColumnType>,
    key: Vec<&'a str>,
    key_idx: Vec<usize>,
    key_types: Vec<&'a ColumnType>,
}

impl<'a> RunShape<'a> {
    fn of(first: &'a RowChange) -> RunShape<'a> {
        let schema = &first.schema;
        let key_idx: Vec<usize> = schema.primary_key_indexes().collect();
        RunShape {
            table: &first.table,
            is_delete: first.op == Op::Delete,
            columns: schema.columns.iter().map(|c| c.name.as_str()).collect(),
            types: schema.columns.iter().map(|c| &c.ty).collect(),
            key: schema.primary_key.iter().map(String::as_str).collect(),
            key_types: key_idx.iter().map(|&i| &schema.columns[i].ty).collect(),
            key_idx,
        }
    }

    /// The key values of `row`.
    fn key_of<'r>(&self, row: &'r [Value]) -> Vec<&'r Value> {
        self.key_idx.iter().map(|&i| &row[i]).collect()
    }
}

/// Which kinds of step a plan may use (see [`plan_steps`]).
struct Planner<'f> {
    dialect: Dialect,
    insert_mode: InsertMode,
    /// Plain inserts as MySQL `LOAD DATA LOCAL`.
    my_load: bool,
    /// Plain inserts as PostgreSQL COPY.
    pg_copy: bool,
    /// Large upsert runs as a COPY into a staging table and a merge.
    pg_copy_upsert: bool,
    formats: Option<&'f CopyFormats>,
    /// The target's longest SQL statement, in bytes.
    max_statement: usize,
}

impl Planner<'_> {
    /// Plans one run (its first change is the `at`-th planned): a bulk step
    /// when one applies, else multi-row statements.
    fn plan_run<C: Borrow<RowChange>>(
        &self,
        shape: &RunShape<'_>,
        run: &[C],
        at: usize,
        out: &mut Planned,
    ) -> Result<(), SqlError> {
        let rows = || -> Vec<&[Value]> { run.iter().map(|c| c.borrow().row.as_slice()).collect() };
        let bulk = if shape.is_delete {
            None
        } else if self.pg_copy {
            Some(self.copy(shape, &rows())?)
        } else if self.my_load {
            self.load(shape, &rows())?.map(|s| vec![s])
        } else if self.pg_copy_upsert && !shape.key.is_empty() && run.len() >= COPY_UPSERT_MIN_ROWS
        {
            Some(self.copy_upsert(shape, run)?)
        } else {
            None
        };
        match bulk {
            Some(steps) => {
                out.statements.extend(steps);
                out.count(run);
            }
            None => {
                let mut at = at;
                for chunk in chunks(run, self.max_statement) {
                    self.plan_chunk(shape, chunk, at, out)?;
                    at += chunk.len();
                }
            }
        }
        Ok(())
    }

    /// Multi-row statements for `chunk` (its first change is the `at`-th
    /// planned), halved until every statement fits the target; a single
    /// row that does not fit is refused.
    fn plan_chunk<C: Borrow<RowChange>>(
        &self,
        shape: &RunShape<'_>,
        chunk: &[C],
        at: usize,
        out: &mut Planned,
    ) -> Result<(), SqlError> {
        let sql = self.statements(shape, chunk)?;
        let longest = sql.iter().map(String::len).max().unwrap_or(0);
        if longest <= self.max_statement {
            out.statements.extend(sql.into_iter().map(Statement::Sql));
            out.count(chunk);
            return Ok(());
        }
        if chunk.len() == 1 {
            return Err(SqlError::TooLarge {
                table: shape.table.to_string(),
                bytes: longest,
                limit: self.max_statement,
                change: at,
            });
        }
        let mid = chunk.len() / 2;
        self.plan_chunk(shape, &chunk[..mid], at, out)?;
        self.plan_chunk(shape, &chunk[mid..], at + mid, out)
    }

    /// A PostgreSQL COPY of plain inserts: binary when the table's column
    /// kinds are known and every value fits, else text.
    fn copy(&self, shape: &RunShape<'_>, rows: &[&[Value]]) -> Result<Vec<Statement>, SqlError> {
        if let Some(step) = binary_copy(
            self.dialect,
            self.formats,
            shape.table,
            &shape.columns,
            rows,
        )? {
            return Ok(vec![step]);
        }
        let (sql, data) =
            (self.dialect).copy_in(shape.table, &shape.columns, &shape.types, rows)?;
        Ok(vec![Statement::Copy {
            sql,
            data: data.into_bytes().into(),
            binary: None,
        }])
    }

    /// A MySQL `LOAD DATA LOCAL` of plain inserts, unless the rows hold bytes.
    fn load(&self, shape: &RunShape<'_>, rows: &[&[Value]]) -> Result<Option<Statement>, SqlError> {
        let loaded =
            (self.dialect).load_data(LOAD_FILE, shape.table, &shape.columns, &shape.types, rows)?;
        Ok(loaded.map(|(sql, data)| Statement::Load {
            sql,
            data,
            rows: rows.len() as u64,
        }))
    }

    /// A PostgreSQL upsert through a staging table. Only the last row of
    /// each key is staged (the merge may touch a row once); with distinct
    /// keys the rows' order does not matter.
    fn copy_upsert<C: Borrow<RowChange>>(
        &self,
        shape: &RunShape<'_>,
        run: &[C],
    ) -> Result<Vec<Statement>, SqlError> {
        let mut last: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(run.len());
        for (i, c) in run.iter().enumerate() {
            last.insert(format!("{:?}", shape.key_of(&c.borrow().row)), i);
        }
        let rows: Vec<&[Value]> = (run.iter().enumerate())
            .filter(|(i, c)| {
                last.get(&format!("{:?}", shape.key_of(&(*c).borrow().row))) == Some(i)
            })
            .map(|(_, c)| c.borrow().row.as_slice())
            .collect();
        let up = (self.dialect).copy_upsert(
            shape.table,
            &shape.columns,
            &shape.types,
            &shape.key,
            &rows,
        )?;
        Ok(vec![
            Statement::Sql(up.create),
            Statement::Copy {
                sql: up.copy,
                data: up.data.into_bytes().into(),
                binary: None,
            },
            Statement::Sql(up.merge),
        ])
    }

    /// Multi-row DML for one statement-sized chunk of a run.
    fn statements<C: Borrow<RowChange>>(
        &self,
        shape: &RunShape<'_>,
        chunk: &[C],
    ) -> Result<Vec<String>, SqlError> {
        let d = self.dialect;
        let (table, columns, types, key) = (shape.table, &shape.columns, &shape.types, &shape.key);
        if shape.is_delete {
            let keys: Vec<Vec<Value>> = (chunk.iter())
                .map(|c| shape.key_of(&c.borrow().row).into_iter().cloned().collect())
                .collect();
            return Ok(vec![d.delete(table, key, &shape.key_types, &keys)?]);
        }
        let rows: Vec<&[Value]> = chunk.iter().map(|c| c.borrow().row.as_slice()).collect();
        Ok(match self.insert_mode {
            InsertMode::Insert => vec![d.insert(table, columns, types, &rows)?],
            InsertMode::Upsert => vec![d.upsert(table, columns, types, key, &rows)?],
            InsertMode::Update => d.update(table, columns, types, key, &rows)?,
        })
    }
}

fn bump(applied: &mut Vec<(String, &'static str, u64)>, table: &str, op: &'static str) {
    match applied.iter_mut().find(|(t, o, _)| t == table && *o == op) {
        Some(e) => e.2 += 1,
        None => applied.push((table.to_string(), op, 1)),
    }
}

/// Splits a run into statement-sized chunks (by an estimate of the rows'
/// literal sizes, at most [`MAX_STATEMENT_BYTES`] or `max_statement`).
fn chunks<C: Borrow<RowChange>>(run: &[C], max_statement: usize) -> Vec<&[C]> {
    let max_bytes = MAX_STATEMENT_BYTES.min(max_statement);
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, c) in run.iter().enumerate() {
        let size = approx_size(&c.borrow().row);
        if i > start && (i - start >= MAX_ROWS_PER_STATEMENT || bytes + size > max_bytes) {
            out.push(&run[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < run.len() {
        out.push(&run[start..]);
    }
    out
}

#[cfg(test)]
mod tests;
