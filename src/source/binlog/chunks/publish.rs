//! Publishing a reached chunk (see the parent module's doc): its reads, in
//! one event whose `after` and `source.snapshot` mark each row takes in
//! turn, and the snapshot's progress moved past it.

use super::*;

/// A reached chunk's reads: one event, whose `after` and `source.snapshot`
/// mark each row takes in turn (no per-row copies of names and position).
/// Rows whose key changed between the watermarks are skipped (the changes
/// carry them); one row is read ahead, to mark the chunk's last read.
pub struct Reads {
    /// The current read ([`Reads::advance`]).
    pub event: ChangeEvent,
    rows: SpoolRows,
    /// The next read.
    next: Option<Row>,
    /// Keys changed between the watermarks, and where a row's key is.
    changed: HashSet<String>,
    key_idx: Vec<usize>,
    /// Rows read so far, and rows skipped.
    at: usize,
    skipped: usize,
    /// `source.snapshot` by [is the chunk's first read][is its last read].
    marks: [[SnapshotMark; 2]; 2],
    rows_metric: prometheus::IntCounter,
}

impl Reads {
    /// Makes the next row the event's `after`, with its mark (the previous
    /// row is freed); false when every row was read.
    pub fn advance(&mut self) -> Result<bool, SourceError> {
        let Some(row) = self.next.take() else {
            self.event.after = None;
            return Ok(false);
        };
        self.next = self.next_kept()?;
        let (first, last) = (self.at == 0, self.next.is_none());
        self.at += 1;
        self.rows_metric.inc();
        self.event.after = Some(row);
        if let Position::Binlog(c) = &mut self.event.position {
            c.snapshot = self.marks[usize::from(first)][usize::from(last)];
        }
        Ok(true)
    }

    /// Reads published, and reads skipped (their key changed).
    pub fn counts(&self) -> (usize, usize) {
        (self.at, self.skipped)
    }

    /// The next row whose key did not change.
    fn next_kept(&mut self) -> Result<Option<Row>, SourceError> {
        while let Some(row) = self
            .rows
            .next_row()
            .map_err(|e| spool_error(&self.event.table, e))?
        {
            if self.changed.is_empty()
                || !self
                    .changed
                    .contains(&key_text(self.key_idx.iter().filter_map(|&i| row.get(i))))
            {
                return Ok(Some(row));
            }
            self.skipped += 1;
        }
        Ok(None)
    }
}

impl Chunker {
    /// Takes the reached chunk: the reads to emit (at position `at`), and
    /// advances the progress past it. `None` when no chunk is pending.
    pub fn take_reached(
        &mut self,
        at: &BinlogPosition,
        server_id: u32,
    ) -> Result<Option<Reads>, SourceError> {
        let Some(p) = self.pending.take() else {
            return Ok(None);
        };
        let rows_metric = METRICS
            .source_snapshot_rows
            .with_label_values(&[&self.job.pipeline, &p.table.table]);
        let ts_ms = chrono::Utc::now().timestamp_millis();
        let read = p.rows.len() as u64;
        let changed = p.changed.len();
        let mark = self.marks(&p.table, p.table_done);
        let marks = [
            [mark(false, false), mark(false, true)],
            [mark(true, false), mark(true, true)],
        ];
        let mut reads = Reads {
            event: ChangeEvent {
                table: Arc::new(p.table.clone()),
                op: Op::Read,
                before: None,
                after: None,
                schema: Arc::clone(&p.schema),
                position: Position::Binlog(BinlogCoord {
                    at: at.clone(),
                    gtid: None,
                    row: 0,
                    snapshot: marks[0][0],
                    server_id,
                }),
                ts_ms,
            },
            rows: p.rows.into_rows().map_err(|e| spool_error(&p.table, e))?,
            next: None,
            changed: p.changed,
            key_idx: p.key_idx,
            at: 0,
            skipped: 0,
            marks,
            rows_metric,
        };
        reads.next = reads.next_kept()?;
        tracing::debug!(pipeline = %self.job.pipeline, table = %p.table, rows = read, changed, "snapshot chunk published");
        let done = self.progress.as_ref().map_or(0, |g| g.rows) + read;
        self.report(&p.table, done);
        if p.table_done {
            tracing::info!(pipeline = %self.job.pipeline, table = %p.table, rows = done, "snapshot: table done");
            METRICS
                .source_snapshot_tables_completed
                .with_label_values(&[&self.job.pipeline])
                .inc();
            self.next_table(&p.table);
        } else if let Some(g) = self.progress.as_mut() {
            g.last_key = p.last_key;
            g.rows = done;
        }
        Ok(Some(reads))
    }

    /// The `source.snapshot` of a chunk's reads of `table` by (first read
    /// of the chunk, last read of the chunk): `incremental` in an on-demand
    /// snapshot; in the initial one Debezium's `first`, `true`, `last`,
    /// `first_in_data_collection`, `last_in_data_collection` (a table's first
    /// read is its first chunk's first, its last the last of the chunk that
    /// ends it; the first and last tables are the first and last listed).
    fn marks(&self, table: &TableId, table_done: bool) -> impl Fn(bool, bool) -> SnapshotMark {
        let (incremental, first_chunk) = match &self.progress {
            Some(g) => (g.adhoc, g.rows == 0 && g.last_key.is_none()),
            None => (true, false),
        };
        let listed = self.tables.as_deref().unwrap_or(&[]);
        let first_table = listed.first() == Some(table);
        let last_table = !listed.iter().any(|t| t > table);
        move |first, last| {
            if incremental {
                SnapshotMark::Incremental
            } else {
                SnapshotMark::initial(
                    first_table,
                    last_table,
                    first_chunk && first,
                    table_done && last,
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Column, ColumnType};
    use crate::source::publish::Checkpoint;
    use crate::value::Value;

    fn chunker(progress: ChunkProgress) -> Chunker {
        let cfg = crate::config::Config::test_source("kind = \"binlog\"\nurl = \"mysql://h/db\"");
        Chunker::new(
            ChunkJob {
                pipeline: "s".into(),
                capture: Capture::new(&cfg, Some("db".into())).expect("capture"),
                chunk_rows: 100,
                zone: DbZone::default(),
                signal: None,
            },
            // Never connected: these tests read no chunk.
            Pool::new("mysql://u@127.0.0.1:1/db"),
            ServerInfo {
                flavor: Flavor::MySql,
                version: "9.7.0".into(),
                server_id: 1,
                gtid_mode: false,
            },
            Some(progress),
        )
    }

    #[test]
    fn a_keyless_read_repeats_published_changes_only_when_not_held_in_the_initial_snapshot() {
        let mut c = chunker_at("a");
        // Listed keyed (not held): its changes flowed; a key-less read now repeats them.
        assert!(c.repeats_published(&t("a")));
        // Listed key-less: held back until the read, which carries them.
        c.held.insert(t("a"));
        assert!(!c.repeats_published(&t("a")));
        // An on-demand snapshot's reads are a fresh copy: nothing to repeat by mistake.
        let mut adhoc = chunker_at("a");
        if let Some(g) = adhoc.progress.as_mut() {
            g.adhoc = true;
        }
        assert!(!adhoc.repeats_published(&t("a")));
    }

    /// A chunker of the initial snapshot, at table `db.name`.
    fn chunker_at(name: &str) -> Chunker {
        chunker(ChunkProgress {
            database: "db".into(),
            table: name.into(),
            ..ChunkProgress::default()
        })
    }

    fn t(name: &str) -> TableId {
        TableId::new("db", name)
    }

    fn pos(n: u64) -> BinlogPosition {
        BinlogPosition::new("b.000001".to_string(), n)
    }

    fn row(n: i64, s: &str) -> Row {
        vec![Value::Int(n), Value::String(s.into())]
    }

    /// A pending key-less chunk of `rows` whose watermarks are 100 and 200.
    fn pending_keyless(table: TableId, rows: Vec<Row>, changed: &[Row]) -> Pending {
        let schema = TableSchema {
            name: table.table.clone(),
            columns: vec![
                Column::new("n", ColumnType::Int64, false),
                Column::new("s", ColumnType::String { max_len: None }, false),
            ],
            primary_key: Vec::new(),
        };
        let mut spool = Spool::new(1 << 20, 100);
        for r in rows {
            spool.push(r, 16).expect("push");
        }
        Pending {
            table,
            low: Low::Pos(pos(100)),
            high: pos(200),
            schema: Arc::new(schema),
            key_columns: Vec::new(),
            rows: spool,
            key_idx: vec![0, 1],
            bytes: 0,
            changed: changed.iter().map(|r| key_text(r.iter())).collect(),
            last_key: None,
            table_done: true,
            signal: None,
        }
    }

    #[test]
    fn a_keyless_tables_changes_are_held_back_until_its_low_mark() {
        let mut c = chunker_at("a");
        c.tables = Some(vec![t("a"), t("b")]);
        c.held = [t("b")].into_iter().collect();
        assert!(!c.holds_back(&t("a"), &pos(10), None), "a has a key");
        assert!(c.holds_back(&t("b"), &pos(10), None), "b is not read yet");
        // b's chunk read, its low mark at 100: before it held, after it published.
        c.next_table(&t("a"));
        c.pending = Some(pending_keyless(t("b"), Vec::new(), &[]));
        assert!(c.holds_back(&t("b"), &pos(99), None));
        assert!(!c.holds_back(&t("b"), &pos(100), None));
        // b published: the snapshot is complete and nothing is held.
        c.pending = None;
        c.next_table(&t("b"));
        assert!(c.progress.is_none());
        assert!(!c.holds_back(&t("b"), &pos(10), None));
    }

    /// A batch storing a position with `progress` (`None`: past the snapshot).
    fn batch_at(progress: Option<ChunkProgress>) -> Batch<BinlogOffset> {
        Batch {
            offset: Some(Checkpoint {
                key: "k".into(),
                offset: BinlogOffset {
                    snapshot: progress,
                    ..BinlogOffset::default()
                },
            }),
            ..Batch::default()
        }
    }

    /// A chunker of pipeline `name` (its own gauge: other tests finish
    /// snapshots of "s") whose one table is done, with its running gauge.
    fn finished_chunker(name: &str) -> (Chunker, prometheus::IntGauge) {
        let mut c = chunker_at("a");
        c.job.pipeline = name.into();
        c.tables = Some(vec![t("a")]);
        let running = METRICS.source_snapshot_running.with_label_values(&[name]);
        running.set(1);
        c.next_table(&t("a"));
        (c, running)
    }

    #[tokio::test]
    async fn snapshot_complete_waits_for_the_commit_past_the_last_chunk() {
        let (mut c, running) = finished_chunker("finish-at-commit");
        assert!(c.progress.is_none(), "the last table is taken");
        // A batch taken before the last chunk: still running, nothing to hear.
        let mut before = batch_at(Some(ChunkProgress::default()));
        c.complete_when_stored(&mut before);
        assert!(before.stored.is_empty());
        // The batch past the snapshot: complete once it is committed.
        let mut past = batch_at(None);
        c.complete_when_stored(&mut past);
        assert_eq!(past.stored.len(), 1, "not complete before its commit");
        assert_eq!(running.get(), 1);
        for s in past.stored.drain(..) {
            s.send(()).expect("listening");
        }
        for _ in 0..100 {
            if running.get() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(running.get(), 0, "gauges idle once stored");
        // A later position hears nothing more.
        let mut later = batch_at(None);
        c.complete_when_stored(&mut later);
        assert!(later.stored.is_empty());
    }

    #[tokio::test]
    async fn an_aborted_batch_past_the_snapshot_completes_nothing() {
        let (mut c, running) = finished_chunker("finish-aborted");
        let mut past = batch_at(None);
        c.complete_when_stored(&mut past);
        drop(past); // the publisher failed: no acknowledgement
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        assert_eq!(running.get(), 1, "a restart resumes the snapshot");
    }

    #[test]
    fn an_ad_hoc_snapshot_holds_nothing_back() {
        let mut c = chunker(ChunkProgress {
            adhoc: true,
            ..ChunkProgress::default()
        });
        c.held = [t("b")].into_iter().collect();
        c.next_table(&t("a"));
        assert!(!c.holds_back(&t("b"), &pos(10), None));
    }

    #[test]
    fn a_keyless_chunk_skips_the_reads_of_rows_changed_in_its_window() {
        let mut c = chunker_at("b");
        c.tables = Some(vec![t("b")]);
        let rows = vec![row(1, "x"), row(2, "y"), row(3, "z")];
        // The last row changed: the second read is the chunk's last.
        c.pending = Some(pending_keyless(t("b"), rows, &[row(3, "z"), row(9, "q")]));
        let mut reads = c.take_reached(&pos(200), 1).expect("spool").expect("reads");
        let mut got = Vec::new();
        while reads.advance().expect("advance") {
            let Position::Binlog(coord) = &reads.event.position else {
                panic!("a binlog position");
            };
            got.push((reads.event.after.clone().expect("after"), coord.snapshot));
        }
        assert_eq!(
            got,
            vec![
                (row(1, "x"), SnapshotMark::initial(true, true, true, false)),
                (row(2, "y"), SnapshotMark::initial(true, true, false, true)),
            ]
        );
        assert_eq!(reads.counts(), (2, 1));
    }
}
