//! On-demand snapshots ([`super::super::control`]): a signal changes the
//! chunker's progress — tables queued with their filters, a table or the
//! whole snapshot stopped, a pause — and the next position record stores it.
//!
//! `execute-snapshot` checks what it can before it answers: every
//! `data-collections` regex must match a captured table, every
//! `additional-conditions` entry one of those tables, and each filter must
//! compile on the server (`SELECT 1 ... WHERE (filter) LIMIT 0`). Tables
//! already queued (or being read) are not queued twice; a new filter for one
//! replaces its old one.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use super::{ChunkProgress, Chunker};
use crate::config::debezium::Patterns;
use crate::event::TableId;
use crate::metrics::METRICS;
use crate::mysql::quote;
use crate::source::binlog::control::{ControlError, Signal};
use crate::source::SourceError;

/// A signal's outcome: the answer for its sender, or a failure of the source.
pub type Applied = Result<Result<String, ControlError>, SourceError>;

impl Chunker {
    /// Applies a snapshot signal to the progress.
    pub async fn apply(&mut self, signal: Signal) -> Applied {
        match signal {
            Signal::Execute {
                collections,
                conditions,
            } => self.execute(&collections, &conditions).await,
            Signal::Stop(collections) => Ok(self.stop(collections.as_deref())),
            Signal::Pause | Signal::Resume => {
                let pause = signal == Signal::Pause;
                let Some(g) = self.progress.as_mut() else {
                    return Ok(Ok("no snapshot is running".into()));
                };
                g.paused = pause;
                let what = if pause { "paused" } else { "resumed" };
                tracing::info!(pipeline = %self.job.pipeline, "snapshot {what}");
                Ok(Ok(format!("snapshot {what}")))
            }
        }
    }

    async fn execute(
        &mut self,
        collections: &[String],
        conditions: &[(String, String)],
    ) -> Applied {
        let mut conn = self.connection().await?;
        let result = self.resolve(&mut conn, collections, conditions).await;
        self.conn = Some(conn);
        let (listed, tables, filters) = match result? {
            Ok(x) => x,
            Err(refused) => return Ok(Err(refused)),
        };
        let names: Vec<String> = tables.iter().map(TableId::to_string).collect();
        let g = self.progress.get_or_insert_with(|| ChunkProgress {
            adhoc: true,
            ..ChunkProgress::default()
        });
        for t in tables {
            let current = g.database == t.database && g.table == t.table;
            let entry = (t.database, t.table);
            if !current && !g.queue.contains(&entry) {
                g.queue.push(entry);
            }
        }
        g.filters.extend(filters);
        self.tables = Some(listed);
        METRICS
            .source_snapshot_running
            .with_label_values(&[&self.job.pipeline])
            .set(1);
        tracing::info!(pipeline = %self.job.pipeline, tables = %names.join(", "), "ad-hoc snapshot queued");
        Ok(Ok(format!("snapshot of {} queued", names.join(", "))))
    }

    /// The captured tables now, the tables `collections` name (in request
    /// order), and the filters by table; or why the request is refused.
    async fn resolve(
        &self,
        conn: &mut Conn,
        collections: &[String],
        conditions: &[(String, String)],
    ) -> Result<Result<Resolved, ControlError>, SourceError> {
        let listed = self.list_tables(conn).await?;
        let mut tables: Vec<TableId> = Vec::new();
        for c in collections {
            let found = match matching(&listed, c, "data-collections") {
                Ok(f) => f,
                Err(refused) => return Ok(Err(refused)),
            };
            if found.is_empty() {
                return Ok(Err(ControlError::invalid(
                    "data-collections",
                    format!("`{c}` matches no table this source captures"),
                )));
            }
            for t in found {
                if !tables.contains(&t) {
                    tables.push(t);
                }
            }
        }
        let mut filters = Vec::new();
        for (i, (collection, filter)) in conditions.iter().enumerate() {
            let field = format!("additional-conditions[{i}].data-collection");
            let found = match matching(&tables, collection, &field) {
                Ok(f) => f,
                Err(refused) => return Ok(Err(refused)),
            };
            if found.is_empty() {
                return Ok(Err(ControlError::invalid(
                    field,
                    format!("`{collection}` is not among the data-collections"),
                )));
            }
            for t in found {
                let probe = format!(
                    "SELECT 1 FROM {}.{} WHERE ({filter}) LIMIT 0",
                    quote(&t.database),
                    quote(&t.table)
                );
                match conn.query_drop(probe).await {
                    Ok(()) => filters.push((t.to_string(), filter.clone())),
                    Err(mysql_async::Error::Server(e)) => {
                        return Ok(Err(ControlError::invalid(
                            format!("additional-conditions[{i}].filter"),
                            format!("refused for {t}: {}", e.message),
                        )))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Ok((listed, tables, filters)))
    }

    /// `stop-snapshot`: the named tables leave the queue (the one being read
    /// is left at once), or, without names, the whole snapshot stops.
    fn stop(&mut self, collections: Option<&[String]>) -> Result<String, ControlError> {
        let Some(g) = self.progress.as_mut() else {
            return Ok("no snapshot is running".into());
        };
        let Some(collections) = collections else {
            self.pending = None;
            self.progress = None;
            self.held.clear();
            tracing::info!(pipeline = %self.job.pipeline, "snapshot stopped");
            self.idle();
            return Ok("snapshot stopped".into());
        };
        let patterns = Patterns::parse(collections)
            .map_err(|r| ControlError::invalid("data-collections", r))?;
        let hit = |d: &str, t: &str| patterns.matches(&format!("{d}.{t}"));
        // A stopped key-less table is not read: its changes flow from now on.
        self.held.retain(|t| !hit(&t.database, &t.table));
        g.queue.retain(|(d, t)| !hit(d, t));
        g.filters.retain(|name, _| !patterns.matches(name.as_str()));
        let current = g.table_id();
        if !g.adhoc {
            // Stored: a restart lists the tables again and leaves these out.
            for c in collections {
                if !g.stopped.contains(c) {
                    g.stopped.push(c.clone());
                }
            }
            if let Some(listed) = self.tables.as_mut() {
                listed.retain(|t| *t == current || !hit(&t.database, &t.table));
            }
        }
        if hit(&current.database, &current.table) {
            self.pending = None;
            self.next_table(&current);
        }
        tracing::info!(pipeline = %self.job.pipeline, tables = %collections.join(", "), "snapshot of tables stopped");
        Ok(format!("snapshot of {} stopped", collections.join(", ")))
    }
}

/// `progress` with `added` tables queued for a backfill (tables newly
/// captured, see [`crate::source::binlog::capture`]): skipped when being read
/// or queued already, or when a running initial snapshot reaches them anyway.
pub fn backfill(progress: Option<ChunkProgress>, added: &[TableId]) -> Option<ChunkProgress> {
    if added.is_empty() {
        return progress;
    }
    let mut g = progress.unwrap_or(ChunkProgress {
        adhoc: true,
        ..ChunkProgress::default()
    });
    let current = g.table_id();
    for t in added {
        let entry = (t.database.clone(), t.table.clone());
        let reached_anyway = !g.adhoc && *t > current;
        if *t != current && !reached_anyway && !g.queue.contains(&entry) {
            g.queue.push(entry);
        }
    }
    Some(g)
}

/// Captured tables, requested tables, filters by `db.table`.
type Resolved = (Vec<TableId>, Vec<TableId>, Vec<(String, String)>);

/// The tables of `among` whose `db.table` the regex `pattern` matches.
fn matching(among: &[TableId], pattern: &str, field: &str) -> Result<Vec<TableId>, ControlError> {
    let p = Patterns::parse(&[pattern]).map_err(|reason| ControlError::invalid(field, reason))?;
    Ok(among
        .iter()
        .filter(|t| p.matches(&t.to_string()))
        .cloned()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(d: &str, n: &str) -> TableId {
        TableId::new(d, n)
    }

    #[test]
    fn the_initial_snapshot_reads_listed_tables_then_the_queue() {
        let listed = [t("a", "x"), t("a", "y")];
        let g = ChunkProgress {
            database: "a".into(),
            table: "x".into(),
            rows: 10,
            queue: vec![("b".into(), "z".into())],
            stopped: vec!["a.w".into()],
            ..ChunkProgress::default()
        };
        let g = g.after_table(&t("a", "x"), &listed).expect("y");
        assert_eq!((g.table.as_str(), g.rows, g.adhoc), ("y", 0, false));
        let g = g.after_table(&t("a", "y"), &listed).expect("queued z");
        assert_eq!(
            (g.database.as_str(), g.table.as_str(), g.adhoc),
            ("b", "z", true)
        );
        assert!(g.queue.is_empty());
        assert!(
            g.stopped.is_empty(),
            "the initial snapshot's stops end with it"
        );
        assert_eq!(g.after_table(&t("b", "z"), &listed), None);
    }

    #[test]
    fn an_adhoc_snapshot_reads_only_its_queue_and_drops_done_filters() {
        let listed = [t("a", "w"), t("a", "x"), t("a", "y")];
        let mut g = ChunkProgress {
            adhoc: true,
            queue: vec![("a".into(), "y".into()), ("a".into(), "w".into())],
            ..ChunkProgress::default()
        };
        g.filters.insert("a.y".into(), "id > 1".into());
        let g = g.after_table(&t("", ""), &listed).expect("y first");
        assert_eq!(g.table, "y");
        let g = g.after_table(&t("a", "y"), &listed).expect("then w");
        assert_eq!(g.table, "w");
        assert!(g.filters.is_empty(), "y's filter went with y");
        assert_eq!(g.after_table(&t("a", "w"), &listed), None);
    }

    #[test]
    fn added_tables_are_queued_unless_read_anyway() {
        assert_eq!(backfill(None, &[]), None);
        let fresh = backfill(None, &[t("a", "n")]).expect("queued");
        assert!(fresh.adhoc);
        assert_eq!(fresh.queue, [("a".to_string(), "n".to_string())]);
        let initial = ChunkProgress {
            database: "a".into(),
            table: "m".into(),
            ..ChunkProgress::default()
        };
        let g = backfill(Some(initial), &[t("a", "b"), t("a", "m"), t("a", "z")]).expect("some");
        assert_eq!(
            g.queue,
            [("a".to_string(), "b".to_string())],
            "m is being read and z comes later in the initial snapshot"
        );
    }

    #[test]
    fn progress_with_a_queue_round_trips_and_old_records_still_parse() {
        let mut g = ChunkProgress {
            database: "a".into(),
            table: "x".into(),
            adhoc: true,
            paused: true,
            queue: vec![("a".into(), "y".into())],
            stopped: vec!["a\\.z.*".into()],
            ..ChunkProgress::default()
        };
        g.filters.insert("a.x".into(), "id > 100".into());
        let json = serde_json::to_string(&g).expect("json");
        assert_eq!(
            json,
            r#"{"database":"a","table":"x","rows":0,"adhoc":true,"queue":[["a","y"]],"filters":{"a.x":"id > 100"},"paused":true,"stopped":["a\\.z.*"]}"#
        );
        let back: ChunkProgress = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, g);
    }
}
