//! Batch DML as single statements with literals, and the offsets table.
//!
//! - `insert`: one multi-row `INSERT INTO t (…) VALUES (…),(…)`.
//! - `upsert`: MySQL `… ON DUPLICATE KEY UPDATE c = VALUES(c)`. The `VALUES()`
//!   function works on every MariaDB and MySQL version; MySQL 8.0.20+ deprecates
//!   it (with a warning) in favour of a row alias that MariaDB does not parse, so
//!   the portable form is used. PostgreSQL `… ON CONFLICT (key) DO UPDATE SET
//!   c = EXCLUDED.c` (`DO NOTHING` when every column is in the key), and the
//!   same text for SQLite (3.24+). PostgreSQL refuses to touch one row twice in
//!   a statement, so rows repeating a key are collapsed to the last one (the
//!   result MySQL gives too); SQLite gets the same collapsed statement.
//! - `update`: one `UPDATE … SET … WHERE k = …` per row (Connect's update mode).
//! - `delete`: one `DELETE … WHERE k IN (…)` or `(k1, k2) IN ((…), (…))`; SQLite
//!   takes a row-value list only from a subquery: `(k1, k2) IN (VALUES (…), (…))`.
//!
//! Statements are as large as the batch; callers keep batches under the
//! server's statement limit (MySQL `max_allowed_packet`, SQLite 1,000,000,000
//! bytes).

use std::collections::HashMap;

use super::{value_error, Dialect, Misuse, SqlError, OFFSETS_TABLE};
use crate::event::Value;
use crate::schema::ColumnType;

const OFFSET_COLUMNS: [&str; 4] = ["sink", "topic", "kafka_partition", "next_offset"];
const NAME_TYPE: ColumnType = ColumnType::String { max_len: Some(255) };
const OFFSET_TYPES: [&ColumnType; 4] = [
    &NAME_TYPE,
    &NAME_TYPE,
    &ColumnType::Int32,
    &ColumnType::Int64,
];

/// `(sink, topic, partition, offset)` rows of the offsets table as values.
fn offset_rows<'a>(
    offsets: impl Iterator<Item = &'a (String, String, i32, i64)>,
) -> Vec<[Value; 4]> {
    offsets
        .map(|(sink, topic, partition, offset)| {
            [
                Value::String(sink.clone()),
                Value::String(topic.clone()),
                Value::Int(i64::from(*partition)),
                Value::Int(*offset),
            ]
        })
        .collect()
}

impl Dialect {
    /// Multi-row `INSERT` of `rows` (each aligned with `columns`/`types`).
    pub fn insert<R: AsRef<[Value]>>(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        rows: &[R],
    ) -> Result<String, SqlError> {
        let mut sql = self.insert_head(table, columns, types, rows.len())?;
        for (i, row) in rows.iter().enumerate() {
            if i > 0 {
                sql.push(',');
            }
            self.write_tuple(&mut sql, columns, types, row.as_ref(), None)?;
        }
        Ok(sql)
    }

    /// MySQL/MariaDB only: `LOAD DATA LOCAL INFILE '<file>' INTO TABLE t (…)`
    /// and its text (tab-separated fields, backslash escapes, one line per
    /// row) for `rows`; `None` when a value cannot travel as LOAD DATA text
    /// (bytes), and the rows go as `INSERT`s instead. `file` only names the
    /// data to the connection's LOCAL INFILE handler; no file is read.
    pub fn load_data<R: AsRef<[Value]>>(
        &self,
        file: &str,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        rows: &[R],
    ) -> Result<Option<(String, String)>, SqlError> {
        if *self != Dialect::MySql {
            return Err(Misuse::LoadDataNotMySql.into());
        }
        check_shape(columns, types)?;
        let mut sql = String::from("LOAD DATA LOCAL INFILE ");
        super::mysql::write_string(&mut sql, file);
        sql.push_str(" INTO TABLE ");
        sql.push_str(&self.quote_ident(table)?);
        sql.push_str(
            " CHARACTER SET utf8mb4 FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' \
             LINES TERMINATED BY '\\n' (",
        );
        sql.push_str(&self.ident_list(columns.iter().copied())?);
        sql.push(')');
        let mut data = String::with_capacity(rows.len() * 16 * columns.len());
        for row in rows {
            for (i, v) in check_row(row.as_ref(), columns)?.iter().enumerate() {
                if i > 0 {
                    data.push('\t');
                }
                let written = super::mysql::write_load_text(&mut data, v)
                    .map_err(|e| value_error(columns[i], e))?;
                if !written {
                    return Ok(None);
                }
            }
            data.push('\n');
        }
        Ok(Some((sql, data)))
    }

    /// Multi-row insert-or-update by the key columns `key` (all of which must be in `columns`).
    pub fn upsert<R: AsRef<[Value]>>(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        key: &[&str],
        rows: &[R],
    ) -> Result<String, SqlError> {
        let key_idx = key_indexes(columns, key)?;
        let mut sql = self.insert_head(table, columns, types, rows.len())?;
        // Each row rendered once; PostgreSQL keeps only the last row per key.
        let mut rendered: Vec<String> = Vec::with_capacity(rows.len());
        let mut last_for_key: HashMap<String, usize> = HashMap::new();
        for row in rows {
            let mut tuple = String::new();
            let mut key_text = String::new();
            self.write_tuple(
                &mut tuple,
                columns,
                types,
                row.as_ref(),
                Some((&key_idx, &mut key_text)),
            )?;
            if matches!(self, Dialect::Postgres | Dialect::Sqlite) {
                if let Some(&prev) = last_for_key.get(&key_text) {
                    rendered[prev].clear();
                }
                last_for_key.insert(key_text, rendered.len());
            }
            rendered.push(tuple);
        }
        let mut first = true;
        for tuple in rendered.iter().filter(|t| !t.is_empty()) {
            if !first {
                sql.push(',');
            }
            first = false;
            sql.push_str(tuple);
        }
        sql.push_str(&self.upsert_clause(columns, key)?);
        Ok(sql)
    }

    /// The conflict clause of an upsert: MySQL ` ON DUPLICATE KEY UPDATE …`,
    /// PostgreSQL/SQLite ` ON CONFLICT (key) DO UPDATE SET … | DO NOTHING`.
    pub(crate) fn upsert_clause(&self, columns: &[&str], key: &[&str]) -> Result<String, SqlError> {
        let mut sql = String::new();
        let non_key: Vec<&str> = columns
            .iter()
            .copied()
            .filter(|c| !key.contains(c))
            .collect();
        match self {
            Dialect::MySql => {
                sql.push_str(" ON DUPLICATE KEY UPDATE ");
                // With nothing but key columns, a no-op assignment keeps duplicates silent
                // without INSERT IGNORE (which would also hide data errors).
                let targets = if non_key.is_empty() {
                    &key[..1]
                } else {
                    &non_key[..]
                };
                for (i, c) in targets.iter().enumerate() {
                    let q = self.quote_ident(c)?;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    if non_key.is_empty() {
                        sql.push_str(&format!("{q} = {q}"));
                    } else {
                        sql.push_str(&format!("{q} = VALUES({q})"));
                    }
                }
            }
            Dialect::Postgres | Dialect::Sqlite => {
                sql.push_str(&format!(
                    " ON CONFLICT ({}) DO ",
                    self.ident_list(key.iter().copied())?
                ));
                if non_key.is_empty() {
                    sql.push_str("NOTHING");
                } else {
                    sql.push_str("UPDATE SET ");
                    for (i, c) in non_key.iter().enumerate() {
                        let q = self.quote_ident(c)?;
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        sql.push_str(&format!("{q} = EXCLUDED.{q}"));
                    }
                }
            }
        }
        Ok(sql)
    }

    /// One `UPDATE … SET <non-key columns> WHERE <key>` per row; empty when every column is in the key.
    pub fn update<R: AsRef<[Value]>>(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        key: &[&str],
        rows: &[R],
    ) -> Result<Vec<String>, SqlError> {
        check_shape(columns, types)?;
        let key_idx = key_indexes(columns, key)?;
        if key_idx.len() == columns.len() {
            return Ok(Vec::new());
        }
        let head = format!("UPDATE {} SET ", self.quote_ident(table)?);
        let quoted = columns
            .iter()
            .map(|c| self.quote_ident(c))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let row = check_row(row.as_ref(), columns)?;
            let mut sql = head.clone();
            let mut first = true;
            for i in (0..columns.len()).filter(|i| !key_idx.contains(i)) {
                if !first {
                    sql.push_str(", ");
                }
                first = false;
                sql.push_str(&quoted[i]);
                sql.push_str(" = ");
                self.literal(&mut sql, &row[i], types[i], columns[i])?;
            }
            sql.push_str(" WHERE ");
            for (n, &i) in key_idx.iter().enumerate() {
                if n > 0 {
                    sql.push_str(" AND ");
                }
                sql.push_str(&quoted[i]);
                sql.push_str(" = ");
                self.key_literal(&mut sql, &row[i], types[i], columns[i])?;
            }
            out.push(sql);
        }
        Ok(out)
    }

    /// One `DELETE` of every row whose key equals one of `keys` (aligned with `key`/`types`).
    pub fn delete<R: AsRef<[Value]>>(
        &self,
        table: &str,
        key: &[&str],
        types: &[&ColumnType],
        keys: &[R],
    ) -> Result<String, SqlError> {
        check_shape(key, types)?;
        if key.is_empty() || keys.is_empty() {
            return Err(Misuse::NoKey.into());
        }
        let mut sql = format!("DELETE FROM {} WHERE ", self.quote_ident(table)?);
        if key.len() == 1 {
            sql.push_str(&self.quote_ident(key[0])?);
        } else {
            sql.push_str(&format!("({})", self.ident_list(key.iter().copied())?));
        }
        sql.push_str(if key.len() > 1 && *self == Dialect::Sqlite {
            " IN (VALUES "
        } else {
            " IN ("
        });
        for (n, k) in keys.iter().enumerate() {
            let k = check_row(k.as_ref(), key)?;
            if n > 0 {
                sql.push(',');
            }
            if key.len() > 1 {
                sql.push('(');
            }
            for (i, v) in k.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                self.key_literal(&mut sql, v, types[i], key[i])?;
            }
            if key.len() > 1 {
                sql.push(')');
            }
        }
        sql.push(')');
        Ok(sql)
    }

    /// `CREATE TABLE IF NOT EXISTS sluice_sink_offsets (sink, topic, kafka_partition, next_offset)`.
    pub fn offsets_table_ddl(&self) -> String {
        let q = |s: &str| match self {
            Dialect::MySql => crate::mysql::quote(s),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{s}\""),
        };
        let [sink, topic, partition, next] = OFFSET_COLUMNS.map(q);
        let mut sql = format!(
            "CREATE TABLE IF NOT EXISTS {} ({sink} VARCHAR(255) NOT NULL, {topic} VARCHAR(255) NOT NULL, \
             {partition} INTEGER NOT NULL, {next} BIGINT NOT NULL, PRIMARY KEY ({sink}, {topic}, {partition}))",
            q(OFFSETS_TABLE)
        );
        if *self == Dialect::MySql {
            sql.push_str(super::mysql::TABLE_OPTIONS);
        }
        sql
    }

    /// Upsert of `(sink, topic, partition, next_offset)` rows into the offsets table.
    pub fn offsets_upsert(
        &self,
        offsets: &[(String, String, i32, i64)],
    ) -> Result<String, SqlError> {
        self.upsert(
            OFFSETS_TABLE,
            &OFFSET_COLUMNS,
            &OFFSET_TYPES,
            &OFFSET_COLUMNS[..3],
            &offset_rows(offsets.iter()),
        )
    }

    /// The statements that open an apply transaction's offset check: each
    /// `(sink, topic, partition, first_offset)` row is inserted when missing
    /// (with the batch's first offset, so an absent row reads as "not moved")
    /// and otherwise left as it is but locked, and the stored next offsets of
    /// those partitions are returned by the last statement. PostgreSQL and
    /// SQLite: one `INSERT … ON CONFLICT DO UPDATE SET next_offset =
    /// next_offset RETURNING …`; MySQL: `INSERT … ON DUPLICATE KEY UPDATE`
    /// (which takes an exclusive lock on an existing row) and a `SELECT … FOR
    /// UPDATE` (a locking read sees the latest committed row, not the
    /// transaction's snapshot). Rows are sorted so that two members lock in
    /// the same order.
    pub fn offsets_lock(
        &self,
        offsets: &[(String, String, i32, i64)],
    ) -> Result<Vec<String>, SqlError> {
        let mut sorted: Vec<&(String, String, i32, i64)> = offsets.iter().collect();
        sorted.sort_by(|a, b| (&a.0, &a.1, a.2).cmp(&(&b.0, &b.1, b.2)));
        let rows = offset_rows(sorted.iter().copied());
        let mut insert = self.insert(OFFSETS_TABLE, &OFFSET_COLUMNS, &OFFSET_TYPES, &rows)?;
        let [sink, topic, partition, next] = OFFSET_COLUMNS.map(|c| self.quote_ident(c));
        let (sink, topic, partition, next) = (sink?, topic?, partition?, next?);
        match self {
            Dialect::MySql => {
                insert.push_str(&format!(" ON DUPLICATE KEY UPDATE {next} = {next}"));
                let mut select = format!(
                    "SELECT {topic}, {partition}, {next} FROM {} WHERE ({sink}, {topic}, {partition}) IN (",
                    self.quote_ident(OFFSETS_TABLE)?
                );
                for (i, (s, t, p, _)) in sorted.iter().enumerate() {
                    if i > 0 {
                        select.push(',');
                    }
                    select.push('(');
                    self.literal(&mut select, &Value::String(s.clone()), &NAME_TYPE, "sink")?;
                    select.push(',');
                    self.literal(&mut select, &Value::String(t.clone()), &NAME_TYPE, "topic")?;
                    select.push_str(&format!(",{p})"));
                }
                select.push_str(") FOR UPDATE");
                Ok(vec![insert, select])
            }
            Dialect::Postgres | Dialect::Sqlite => {
                let table = self.quote_ident(OFFSETS_TABLE)?;
                insert.push_str(&format!(
                    " ON CONFLICT ({sink}, {topic}, {partition}) DO UPDATE SET {next} = {table}.{next} \
                     RETURNING {topic}, {partition}, {next}"
                ));
                Ok(vec![insert])
            }
        }
    }

    /// `SELECT topic, kafka_partition, next_offset` of one sink's stored offsets.
    pub fn offsets_select(&self, sink: &str) -> Result<String, SqlError> {
        let mut sql = format!(
            "SELECT {}, {}, {} FROM {} WHERE {} = ",
            self.quote_ident("topic")?,
            self.quote_ident("kafka_partition")?,
            self.quote_ident("next_offset")?,
            self.quote_ident(OFFSETS_TABLE)?,
            self.quote_ident("sink")?,
        );
        self.literal(
            &mut sql,
            &Value::String(sink.to_string()),
            &NAME_TYPE,
            "sink",
        )?;
        Ok(sql)
    }

    /// `INSERT INTO t (cols) VALUES ` after checking the arguments agree.
    fn insert_head(
        &self,
        table: &str,
        columns: &[&str],
        types: &[&ColumnType],
        rows: usize,
    ) -> Result<String, SqlError> {
        check_shape(columns, types)?;
        if rows == 0 {
            return Err(Misuse::NoRows.into());
        }
        Ok(format!(
            "INSERT INTO {} ({}) VALUES ",
            self.quote_ident(table)?,
            self.ident_list(columns.iter().copied())?
        ))
    }

    /// `(v1,v2,…)`; with `key`, also collects the key columns' literals into its text.
    fn write_tuple(
        &self,
        out: &mut String,
        columns: &[&str],
        types: &[&ColumnType],
        row: &[Value],
        mut key: Option<(&[usize], &mut String)>,
    ) -> Result<(), SqlError> {
        let row = check_row(row, columns)?;
        out.push('(');
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let start = out.len();
            self.literal(out, v, types[i], columns[i])?;
            if let Some((idx, text)) = key.as_mut() {
                if idx.contains(&i) {
                    text.push_str(&out[start..]);
                    text.push(',');
                }
            }
        }
        out.push(')');
        Ok(())
    }

    fn literal(
        &self,
        out: &mut String,
        v: &Value,
        ty: &ColumnType,
        col: &str,
    ) -> Result<(), SqlError> {
        self.write_literal(out, v, ty)
            .map_err(|e| value_error(col, e))
    }

    /// A key literal: never NULL (`k = NULL` matches nothing).
    fn key_literal(
        &self,
        out: &mut String,
        v: &Value,
        ty: &ColumnType,
        col: &str,
    ) -> Result<(), SqlError> {
        if v.is_null() {
            return Err(SqlError::Value {
                column: col.to_string(),
                reason: "key columns cannot be null",
            });
        }
        self.literal(out, v, ty, col)
    }
}

fn check_shape(columns: &[&str], types: &[&ColumnType]) -> Result<(), SqlError> {
    if columns.is_empty() || columns.len() != types.len() {
        return Err(Misuse::Shape {
            columns: columns.len(),
            types: types.len(),
        }
        .into());
    }
    Ok(())
}

fn check_row<'a>(row: &'a [Value], columns: &[&str]) -> Result<&'a [Value], SqlError> {
    if row.len() != columns.len() {
        return Err(Misuse::RowWidth {
            values: row.len(),
            columns: columns.len(),
        }
        .into());
    }
    Ok(row)
}

fn key_indexes(columns: &[&str], key: &[&str]) -> Result<Vec<usize>, SqlError> {
    if key.is_empty() {
        return Err(Misuse::NoKey.into());
    }
    key.iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c == k)
                .ok_or_else(|| SqlError::from(Misuse::KeyNotAColumn(k.to_string())))
        })
        .collect()
}
