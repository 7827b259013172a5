//! Making target tables accept a batch's schemas: `auto_create` /
//! `auto_evolve`, run before the batch's data transaction (MySQL commits
//! implicitly on DDL).
//!
//! Each distinct (table, message schema) of a batch is checked once against
//! the table as the target describes it. Missing columns are added, types
//! widened losslessly (int8→…→int64, float32→float64, longer strings,
//! higher decimal precision) and NOT NULL relaxed when a field becomes
//! optional. A narrower message type needs nothing (its values fit). A
//! change the table cannot follow without losing data (a different type
//! family, another decimal scale) or a new required field without a default
//! is the record's fault: with `errors_tolerance = "all"` the records of that
//! schema go to the dead-letter topic and the rest of the batch goes on;
//! otherwise the pipeline stops, naming the table and column.
//!
//! A table that is missing while `auto_create = false`
//! ([`SinkError::TableMissing`]), or that lacks columns for fields while
//! `auto_evolve = false` ([`SinkError::TableNotEvolved`]), is the pipeline's fault, as in
//! Kafka Connect's JDBC sink (which fails its task): every record of the
//! table would fail the same way until an operator acts, so the pipeline
//! stops and nothing is dead-lettered. So does a DDL statement the server
//! refuses (privileges, a read-only server).

use std::sync::Arc;

use super::{Item, SinkError, SinkState};
use crate::metrics::METRICS;
use crate::schema::TableSchema;
use crate::sink::dialect::SqlError;
use crate::sink::target::Target;

impl SinkState {
    /// Makes every table of `items` accept their schemas; records whose
    /// schema cannot be followed are dead-lettered (tolerance all) and lose
    /// their change.
    pub(super) async fn evolve(
        &mut self,
        target: &mut Target,
        items: &mut [Item<'_>],
    ) -> Result<(), SinkError> {
        let mut seen: Vec<(String, Arc<TableSchema>)> = Vec::new();
        for c in items.iter().filter_map(|i| i.change.as_ref()) {
            if !seen
                .iter()
                .any(|(t, s)| *t == c.table && Arc::ptr_eq(s, &c.schema))
            {
                seen.push((c.table.clone(), c.schema.clone()));
            }
        }
        let mut refused: Vec<(String, Arc<TableSchema>, String)> = Vec::new();
        for (table, schema) in seen {
            match self.ensure_table(target, &table, &schema).await {
                Ok(()) => {}
                Err(e) if self.tolerates(&e) => refused.push((table, schema, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        for item in items.iter_mut() {
            let Some(c) = &item.change else { continue };
            let Some((_, _, reason)) = refused
                .iter()
                .find(|(t, s, _)| *t == c.table && Arc::ptr_eq(s, &c.schema))
            else {
                continue;
            };
            self.dead_letter(item.msg, "sluice.SchemaError", reason)
                .await?;
            item.change = None;
        }
        Ok(())
    }

    /// Creates or alters `table` so it accepts rows of `schema`.
    async fn ensure_table(
        &mut self,
        target: &mut Target,
        table: &str,
        schema: &TableSchema,
    ) -> Result<(), SinkError> {
        let dialect = target.dialect();
        let wanted = dialect.stored_schema(schema, &schema.primary_key);
        if !self.tables.contains_key(table) {
            if let Some(existing) = target.describe_table(table).await? {
                self.tables.insert(table.to_string(), existing);
            }
        }
        let ddl = match self.tables.get(table) {
            None if self.cfg.auto_create => {
                vec![dialect.create_table(table, schema, &schema.primary_key)?]
            }
            None => {
                return Err(SinkError::TableMissing {
                    table: table.to_string(),
                })
            }
            Some(existing) => {
                let mut diff = existing.diff(&wanted);
                if diff.is_empty() {
                    return Ok(());
                }
                if !self.cfg.auto_evolve {
                    if !diff.added.is_empty() {
                        // Every record of this schema would fail: the pipeline's fault.
                        return Err(SinkError::TableNotEvolved {
                            table: table.to_string(),
                            fields: diff.added.iter().map(|c| c.name.clone()).collect(),
                        });
                    }
                    if let Some((name, old, new)) = diff.incompatible.first() {
                        // The record's schema, as with auto_evolve on.
                        return Err(SinkError::Sql(SqlError::Schema {
                            table: table.to_string(),
                            reason: format!(
                                "column {name} has type {old:?} in the target but {new:?} \
                                 in the message (auto_evolve is false)"
                            ),
                        }));
                    }
                    // The rows may still fit (a NOT NULL column receiving
                    // values, strings within the length): let the database decide.
                    return Ok(());
                }
                // Added columns take the message's own type and default.
                for col in &mut diff.added {
                    if let Some(orig) = schema.column(&col.name) {
                        *col = orig.clone();
                    }
                }
                dialect.alter_table(table, existing, &diff)?
            }
        };
        if ddl.is_empty() {
            return Ok(());
        }
        for sql in &ddl {
            if let Err(e) = target.execute_ddl(sql).await {
                // Another sink or instance may have made the same change
                // concurrently (CREATE or ALTER racing): if the table now
                // accepts the schema, go on.
                self.tables.remove(table);
                match target.describe_table(table).await? {
                    Some(now) if now.diff(&wanted).is_empty() => {
                        tracing::info!(pipeline = %self.cfg.name, table, error = %e,
                            "table changed concurrently; it accepts the schema now");
                        self.tables.insert(table.to_string(), now);
                        return Ok(());
                    }
                    _ => return Err(e),
                }
            }
            METRICS
                .sink_ddl_applied
                .with_label_values(&[&self.cfg.name, table])
                .inc();
        }
        tracing::info!(pipeline = %self.cfg.name, table, statements = ddl.len(), "table created or evolved");
        match target.describe_table(table).await? {
            Some(now) => {
                self.tables.insert(table.to_string(), now);
                Ok(())
            }
            None => Err(SinkError::TableVanished {
                table: table.to_string(),
            }),
        }
    }
}
