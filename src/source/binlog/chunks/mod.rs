//! Chunked, lock-free, resumable snapshots interleaved with the binlog stream
//! (`snapshot_locking = "none"`, the default): Netflix DBLog's watermark
//! algorithm, as Debezium's incremental snapshots use it.
//!
//! **Shape.** The binlog stream runs from the position the snapshot started
//! at, and the captured tables are read one after the other (by database,
//! then name) in key chunks of `snapshot_fetch_rows` rows: keyset pagination,
//! `WHERE (k1, k2) > (?, ?) ORDER BY k1, k2 LIMIT n`, composite keys compared
//! as rows by the server (so collations and binary keys order as the index
//! does). The key is the primary key, else the first unique index whose
//! columns are all NOT NULL. A table with neither (key-less) is read in one
//! chunk: past [`CHUNK_BYTES`] its rows wait for the high watermark in a
//! spool file ([`spool`]); changes between its watermarks are matched by the
//! whole row; and while the initial snapshot has yet to read it, the stream
//! holds its changes back ([`Chunker::holds_back`]), since its read carries
//! them and nothing could match the two.
//!
//! **Watermarks.** Each chunk's `SELECT` is bracketed by a low and a high
//! watermark read from the server (read-only: no write access, no lock):
//! - MariaDB: the chunk is read in `START TRANSACTION WITH CONSISTENT
//!   SNAPSHOT`, and `binlog_snapshot_file/position` is the exact binlog
//!   position of its read view: low = high, the window is empty.
//! - MySQL with GTIDs: low = `Executed_Gtid_Set` before the `SELECT`
//!   (transactions in it are committed, so visible to it), high = the binlog
//!   position after it (a transaction the `SELECT` saw was written to the
//!   binlog before it committed, so before that position).
//! - MySQL without GTIDs: low and high are binlog positions before and after
//!   (`SHOW BINARY LOG STATUS`); a transaction written to the binlog but not yet
//!   committed at the low mark is the one narrow race this variant has.
//!
//! - Signal table (`signal_data_collection`): a `snapshot-window-open` row
//!   committed before the `SELECT` and a `snapshot-window-close` row after
//!   it; the stream opens and closes the window when it reads them (DBLog as
//!   published; needs `INSERT` on that table).
//!
//! The stream reads the chunk only at a source-transaction boundary, and
//! first makes sure the low mark is not behind what it has already published
//! (else it waits for the server's in-flight commits and reads again). From
//! then on, every row change of the chunk's table in a transaction after the
//! low mark (by position, or by a GTID outside the low set) records its key
//! as changed. When the stream reaches the high position at a transaction
//! end, the chunk's rows whose keys did not change are emitted as `op = "r"`
//! reads into the stream's batch — after every change the `SELECT` saw and
//! before every change it did not, so a read never overwrites a newer change.
//!
//! **Exactly once, resumable.** The batch carrying a chunk is committed at
//! once, in one Kafka transaction with the stream position after it and the
//! snapshot's progress ([`ChunkProgress`]: table, last key, rows) in the
//! position record. A crash loses at most the chunk that was read but not
//! yet committed: the restart resumes the stream at the stored position and
//! reads the next chunk after the stored key. No Kafka transaction outlives a
//! chunk, so a table of any size can be snapshotted.
//!
//! **On demand** ([`adhoc`], signals from [`super::control`]): an
//! `execute-snapshot` queues tables (with optional per-table SQL filters) as
//! an ad-hoc snapshot read the same way, after the initial snapshot if one
//! is running; the queue, filters and a pause are part of the stored
//! progress, so an ad-hoc snapshot resumes after a crash like the initial one.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool, Row as MyRow, Value as MyValue};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tracing::Instrument;

use super::capture::Capture;
use super::gtid::MysqlGtidSet;
use super::offset::BinlogOffset;
use super::server::{binlog_status, Flavor, ServerInfo};
use super::snapshot::{column_details, snapshot_schema};
use crate::config::debezium::Patterns;
use crate::config::DbZone;
use crate::event::{ChangeEvent, Op, TableId};
use crate::metrics::METRICS;
use crate::mysql::quote;
use crate::position::{BinlogCoord, BinlogPosition, Position, SnapshotMark};
use crate::schema::TableSchema;
use crate::source::mysql_types::{datetime_columns, value_from_mysql};
use crate::source::publish::Batch;
use crate::source::SourceError;
use crate::value::Row;

mod adhoc;
mod keys;
mod publish;
mod read;
mod spool;

pub use self::adhoc::backfill;
use self::keys::chunk_sql;
pub use self::keys::{key_text, KeyPart};
pub use self::publish::Reads;
use self::read::spool_error;
pub use self::spool::{probe as spool_probe, spool_dir};
use self::spool::{Spool, SpoolRows};

/// How long the chunk reader waits for the server to commit transactions the
/// stream has already read before it gives up (a transient error).
const WATERMARK_WAIT: Duration = Duration::from_secs(10);

/// ER_NO_SUCH_TABLE.
const NO_SUCH_TABLE: u16 = 1146;

/// Bytes of column values a chunk holds at most (beside `snapshot_fetch_rows`):
/// a chunk is kept whole until its high watermark, so wide rows get fewer
/// rows a chunk. The row limit follows the rows' sizes ([`rows_for_bytes`]).
const CHUNK_BYTES: usize = 4 << 20;

/// No snapshot runs any more on `pipeline`: its gauges and status.
fn snapshot_idle(pipeline: &str) {
    METRICS
        .source_snapshot_running
        .with_label_values(&[pipeline])
        .set(0);
    crate::metrics::snapshot_progress_clear(pipeline);
}

/// Rows of `row_bytes` each that fit in [`CHUNK_BYTES`], between 1 and `rows`.
fn rows_for_bytes(row_bytes: usize, rows: usize) -> usize {
    (CHUNK_BYTES / row_bytes.max(1)).clamp(1, rows.max(1))
}

/// A chunked snapshot's progress, stored in the position record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkProgress {
    /// Database of the table being read (empty: before the first table).
    pub database: String,
    /// The table being read.
    pub table: String,
    /// The key of the last row published (`None`: the table's start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_key: Option<Vec<KeyPart>>,
    /// Rows of this table published so far.
    #[serde(default)]
    pub rows: u64,
    /// An on-demand snapshot: only the queued tables are read (false: the
    /// initial snapshot, every captured table in order, then the queue).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub adhoc: bool,
    /// Tables to read next, as (database, table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queue: Vec<(String, String)>,
    /// SQL conditions by table (`db.table`), ANDed into its chunks' `SELECT`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub filters: BTreeMap<String, String>,
    /// `pause-snapshot`: no chunk is read until `resume-snapshot`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// `stop-snapshot` of single tables during the initial snapshot: their
    /// `data-collections` regexes; matching tables are left out of its list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stopped: Vec<String>,
}

impl ChunkProgress {
    fn table_id(&self) -> TableId {
        TableId::new(self.database.clone(), self.table.clone())
    }

    /// The progress once `done` is read: the next listed table (initial
    /// snapshot), else the next queued one; `None` when nothing is left.
    fn after_table(mut self, done: &TableId, listed: &[TableId]) -> Option<ChunkProgress> {
        self.filters.remove(&done.to_string());
        self.last_key = None;
        self.rows = 0;
        if !self.adhoc {
            if let Some(t) = listed.iter().find(|x| *x > done) {
                self.database.clone_from(&t.database);
                self.table.clone_from(&t.table);
                return Some(self);
            }
            self.adhoc = true;
            self.stopped.clear();
        }
        if self.queue.is_empty() {
            return None;
        }
        let (database, table) = self.queue.remove(0);
        self.database = database;
        self.table = table;
        Some(self)
    }
}

/// The low watermark: what the chunk's `SELECT` is known to include.
#[derive(Debug, Clone)]
enum Low {
    /// Every transaction before this binlog position.
    Pos(BinlogPosition),
    /// Every transaction in this GTID set (MySQL).
    Gtids(MysqlGtidSet),
}

/// Where the stream is, at a source-transaction boundary.
pub struct StreamAt<'a> {
    /// The position after the last transaction read.
    pub pos: BinlogPosition,
    /// The MySQL GTID set read so far, when the stream tracks one.
    pub gtids: Option<&'a MysqlGtidSet>,
}

/// A chunk read but not yet published.
struct Pending {
    table: TableId,
    low: Low,
    high: BinlogPosition,
    schema: Arc<TableSchema>,
    /// The key columns, by name (matched in the binlog's rows by name).
    key_columns: Vec<String>,
    /// The rows read.
    rows: Spool,
    /// Where the key columns are in a row (a key-less table's: all
    /// columns): a row whose [`key_text`] is in `changed` is dropped.
    /// Computed only then: most chunks see no change.
    key_idx: Vec<usize>,
    /// The bytes of their column values as read.
    bytes: usize,
    /// Keys changed between the watermarks.
    changed: HashSet<String>,
    /// The last row's key, for the next chunk.
    last_key: Option<Vec<KeyPart>>,
    /// The table is fully read with this chunk.
    table_done: bool,
    /// Signal-table watermarks: the rows' ids, and whether the stream has seen them.
    signal: Option<SignalMarks>,
}

/// A chunk's watermarks as rows of the signal table.
struct SignalMarks {
    open: String,
    close: String,
    opened: bool,
    closed: bool,
}

/// Settings of a chunked snapshot.
pub struct ChunkJob {
    /// Pipeline name.
    pub pipeline: String,
    /// Which tables.
    pub capture: Capture,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// db_timezone.
    pub zone: DbZone,
    /// The signal table watermarks are written to (`None`: read-only watermarks).
    pub signal: Option<TableId>,
}

/// Reads a snapshot chunk by chunk for the stream ([`super::stream`]).
pub struct Chunker {
    job: ChunkJob,
    pool: Pool,
    conn: Option<Conn>,
    info: ServerInfo,
    /// What the next position record stores (`None`: the snapshot is done).
    progress: Option<ChunkProgress>,
    pending: Option<Pending>,
    /// The captured tables, sorted; listed at the first chunk.
    tables: Option<Vec<TableId>>,
    /// The key columns of the table being read, and its estimated rows.
    key_cache: Option<(TableId, Vec<String>, Option<u64>)>,
    /// Rows the next chunk asks for: `chunk_rows`, fewer for wide rows.
    row_limit: usize,
    /// Key-less tables of the initial snapshot not yet read: the stream
    /// holds their changes back until the table's read (which carries
    /// them) reaches its low watermark ([`Chunker::holds_back`]).
    held: HashSet<TableId>,
    /// The snapshot ended; "snapshot complete" waits for the batch that
    /// stores the position past it ([`Chunker::complete_when_stored`]).
    finished: bool,
}

impl Chunker {
    /// A chunker continuing `progress` (a fresh snapshot: the default
    /// progress; `None`: idle until an on-demand snapshot).
    pub fn new(
        job: ChunkJob,
        pool: Pool,
        info: ServerInfo,
        progress: Option<ChunkProgress>,
    ) -> Self {
        METRICS
            .source_snapshot_running
            .with_label_values(&[&job.pipeline])
            .set(i64::from(progress.is_some()));
        Chunker {
            row_limit: job.chunk_rows,
            job,
            pool,
            conn: None,
            info,
            progress,
            pending: None,
            tables: None,
            key_cache: None,
            held: HashSet::new(),
            finished: false,
        }
    }

    /// The progress to store with the next position (`None`: done).
    pub fn progress(&self) -> Option<&ChunkProgress> {
        self.progress.as_ref()
    }

    /// True when the next chunk should be read.
    pub fn wants_chunk(&self) -> bool {
        self.progress.as_ref().is_some_and(|g| !g.paused) && self.pending.is_none()
    }

    /// True when a chunk is waiting and the stream has reached its high mark.
    pub fn reached(&self, at: &StreamAt<'_>) -> bool {
        self.pending.as_ref().is_some_and(|p| match &p.signal {
            Some(s) => s.closed,
            None => at.pos >= p.high,
        })
    }

    /// The signal table watermarks are written to, if any.
    pub fn signal_table(&self) -> Option<&TableId> {
        self.job.signal.as_ref()
    }

    /// The stream saw a row of the signal table with this `id`.
    pub fn signal_seen(&mut self, id: &str) {
        if let Some(s) = self.pending.as_mut().and_then(|p| p.signal.as_mut()) {
            if id == s.open {
                s.opened = true;
            } else if id == s.close {
                s.closed = true;
            }
        }
    }

    /// The key columns of a pending chunk of `table`, if a transaction
    /// starting at `start` (with MySQL GTID `gtid`) lies after its low mark.
    pub fn window_keys(
        &self,
        table: &TableId,
        start: &BinlogPosition,
        gtid: Option<(&str, u64)>,
    ) -> Option<&[String]> {
        let p = self.pending.as_ref().filter(|p| p.table == *table)?;
        let after = match (&p.signal, &p.low) {
            (Some(s), _) => s.opened,
            (None, low) => match low {
                Low::Pos(low) => start >= low,
                Low::Gtids(set) => gtid.is_none_or(|(src, n)| !set.contains(src, n)),
            },
        };
        after.then_some(p.key_columns.as_slice())
    }

    /// True when the stream must not publish a change of `table` in a
    /// transaction starting at `start`: the table is key-less, in the
    /// initial snapshot, and not yet read, and the change lies before the
    /// low mark of its read (so the read includes it). A key-less table's
    /// reads cannot be matched to changes by key: changes published before
    /// them would be doubled, as a table snapshotted before its stream
    /// starts (Debezium's initial snapshot) never doubles them.
    pub fn holds_back(
        &self,
        table: &TableId,
        start: &BinlogPosition,
        gtid: Option<(&str, u64)>,
    ) -> bool {
        if !self.held.contains(table) {
            return false;
        }
        match &self.pending {
            Some(p) if p.table == *table => self.window_keys(table, start, gtid).is_none(),
            _ => true,
        }
    }

    /// True when a key-less `table`'s read in the initial snapshot comes
    /// after its changes were published: it was not held back
    /// ([`Chunker::holds_back`]) because it had a key when the tables were
    /// listed, or joined the capture since. Nothing can match those changes
    /// to the read's rows any more.
    fn repeats_published(&self, table: &TableId) -> bool {
        self.progress.as_ref().is_some_and(|g| !g.adhoc) && !self.held.contains(table)
    }

    /// Records a key changed between the watermarks.
    pub fn mark_changed(&mut self, key: String) {
        if let Some(p) = self.pending.as_mut() {
            p.changed.insert(key);
        }
    }

    /// Publishes the progress on `table` (status, gauges).
    fn report(&self, table: &TableId, rows: u64) {
        let (keys, estimated) = match &self.key_cache {
            Some((t, k, e)) if t == table => (k.as_slice(), *e),
            _ => (&[][..], None),
        };
        crate::metrics::snapshot_progress_set(
            &self.job.pipeline,
            &table.to_string(),
            rows,
            estimated,
            keys.is_empty(),
        );
    }

    /// The last table is done (or there was none). Its last chunk's rows
    /// are still to be committed, with the position past the snapshot:
    /// "snapshot complete" waits for that commit
    /// ([`Chunker::complete_when_stored`]), so that a log never says
    /// complete about a snapshot a crash then resumes.
    fn finished(&mut self) {
        self.finished = true;
    }

    /// For a batch leaving the stream: when it carries the first position
    /// past a finished snapshot (one without progress), asks to hear once it
    /// is committed (the batch's `stored`), and then logs "snapshot
    /// complete" and idles the gauges. An aborted batch says nothing: the
    /// restart resumes the snapshot.
    pub fn complete_when_stored(&mut self, batch: &mut Batch<BinlogOffset>) {
        let past = batch
            .offset
            .as_ref()
            .is_some_and(|c| c.offset.snapshot.is_none());
        if !(self.finished && past) {
            return;
        }
        self.finished = false;
        let (done, stored) = oneshot::channel();
        batch.stored.push(done);
        let pipeline = self.job.pipeline.clone();
        tokio::spawn(
            async move {
                if stored.await.is_ok() {
                    tracing::info!(pipeline = %pipeline, "snapshot complete (chunked); streaming");
                    snapshot_idle(&pipeline);
                }
            }
            .in_current_span(),
        );
    }

    /// No snapshot runs any more (complete or stopped): gauges and status.
    fn idle(&self) {
        snapshot_idle(&self.job.pipeline);
    }

    /// Moves the progress past `done` (see [`ChunkProgress::after_table`]).
    fn next_table(&mut self, done: &TableId) {
        let listed = self.tables.as_deref().unwrap_or_default();
        self.progress = self
            .progress
            .take()
            .and_then(|g| g.after_table(done, listed));
        self.held.remove(done);
        if self.progress.as_ref().is_none_or(|g| g.adhoc) {
            self.held.clear();
        }
        if self.progress.is_none() {
            self.finished();
        }
    }

    /// The connection chunks are read on (kept between chunks).
    async fn connection(&mut self) -> Result<Conn, SourceError> {
        match self.conn.take() {
            Some(c) => Ok(c),
            None => {
                let mut c = self.pool.get_conn().await?;
                c.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .await?;
                Ok(c)
            }
        }
    }

    /// The captured tables that exist now, sorted, without the signal table.
    async fn list_tables(&self, conn: &mut Conn) -> Result<Vec<TableId>, SourceError> {
        let mut tables = self.job.capture.list_tables(conn).await?;
        tables.retain(|t| Some(t) != self.job.signal.as_ref());
        // Tables stopped during the initial snapshot stay out of it.
        let stopped = self
            .progress
            .as_ref()
            .filter(|g| !g.adhoc && !g.stopped.is_empty())
            .and_then(|g| Patterns::parse(&g.stopped).ok());
        if let Some(stopped) = stopped {
            tables.retain(|t| !stopped.matches(&t.to_string()));
        }
        tables.sort();
        Ok(tables)
    }

    /// Lists a running snapshot's tables before the stream reads its first
    /// event, so that it holds back the changes of key-less tables from the
    /// start ([`Chunker::holds_back`]).
    pub async fn prepare(&mut self) -> Result<(), SourceError> {
        if self.tables.is_some() || self.progress.is_none() {
            return Ok(());
        }
        let mut conn = self.connection().await?;
        self.list(&mut conn).await?;
        self.conn = Some(conn);
        Ok(())
    }

    /// Lists the tables, and the key-less ones the initial snapshot has
    /// still to read.
    async fn list(&mut self, conn: &mut Conn) -> Result<(), SourceError> {
        let tables = self.list_tables(conn).await?;
        self.held.clear();
        if let Some(g) = self.progress.as_ref().filter(|g| !g.adhoc) {
            let current = g.table_id();
            let ahead: Vec<TableId> = tables.iter().filter(|t| **t >= current).cloned().collect();
            self.held = keys::keyless(conn, &ahead).await?;
            if !self.held.is_empty() {
                let mut names: Vec<String> = self.held.iter().map(TableId::to_string).collect();
                names.sort();
                tracing::info!(pipeline = %self.job.pipeline, tables = %names.join(", "), "snapshot: key-less tables; the stream holds back their changes until each is read (its read carries them)");
            }
        }
        self.tables = Some(tables);
        Ok(())
    }

    /// Reads the next chunk, its watermarks bracketing it; `at` is where the
    /// stream is (the low mark must not be behind it).
    pub async fn read_chunk(&mut self, at: &StreamAt<'_>) -> Result<(), SourceError> {
        let mut conn = self.connection().await?;
        if self.tables.is_none() {
            self.list(&mut conn).await?;
        }
        let result = self.read_with(&mut conn, at).await;
        if result.is_ok() {
            self.conn = Some(conn);
        }
        result
    }

    async fn read_with(&mut self, conn: &mut Conn, at: &StreamAt<'_>) -> Result<(), SourceError> {
        loop {
            let Some(progress) = self.progress.clone() else {
                return Ok(());
            };
            let table = progress.table_id();
            let listed = self
                .tables
                .as_ref()
                .is_some_and(|ts| ts.binary_search(&table).is_ok());
            if !listed {
                // Before the first table, or the table is gone: the next one.
                self.next_table(&table);
                continue;
            }
            let keys = self.key_columns(conn, &table).await?;
            let last = match &progress.last_key {
                None => None,
                Some(parts) => Some(
                    parts
                        .iter()
                        .map(KeyPart::to_mysql)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| SourceError::Offset {
                            partition: format!("snapshot of {table}"),
                            offset: serde_json::to_string(parts).unwrap_or_default(),
                            source: "a stored snapshot key does not decode".into(),
                        })?,
                ),
            };
            self.report(&table, progress.rows);
            match self
                .read_bracketed(conn, at, &table, keys, last, self.row_limit)
                .await
            {
                Ok(p) => {
                    if !p.rows.is_empty() {
                        self.row_limit =
                            rows_for_bytes(p.bytes / p.rows.len(), self.job.chunk_rows);
                    }
                    self.pending = Some(p);
                    return Ok(());
                }
                // Dropped since it was listed: its drop is in the stream; next table.
                Err(SourceError::Mysql(mysql_async::Error::Server(e)))
                    if e.code == NO_SUCH_TABLE =>
                {
                    tracing::info!(pipeline = %self.job.pipeline, table = %table, "snapshot: table dropped; skipped");
                    conn.query_drop("ROLLBACK").await?;
                    if let Some(ts) = self.tables.as_mut() {
                        ts.retain(|t| *t != table);
                    }
                    self.held.remove(&table);
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The table's chunk key: its primary key, else the first unique index
    /// whose columns are all NOT NULL; empty when it has neither.
    async fn key_columns(
        &mut self,
        conn: &mut Conn,
        table: &TableId,
    ) -> Result<Vec<String>, SourceError> {
        if let Some((t, k, _)) = &self.key_cache {
            if t == table {
                return Ok(k.clone());
            }
        }
        let (estimated, avg_row): (Option<u64>, Option<u64>) = conn
            .exec_first(
                "SELECT TABLE_ROWS, AVG_ROW_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                (&table.database, &table.table),
            )
            .await?
            .unwrap_or_default();
        // The first chunk of a table is sized by the server's average row
        // length; later ones by the rows read.
        self.row_limit = avg_row
            .and_then(|b| usize::try_from(b).ok())
            .filter(|&b| b > 0)
            .map_or(self.job.chunk_rows, |b| {
                rows_for_bytes(b, self.job.chunk_rows)
            });
        let keys = keys::chunk_keys(conn, &table.database, Some(&table.table))
            .await?
            .remove(&table.table)
            .unwrap_or_default();
        if keys.is_empty() && self.repeats_published(table) {
            tracing::warn!(pipeline = %self.job.pipeline, table = %table, "snapshot: no primary key or NOT NULL unique key, yet the table's changes were published since the snapshot began (it had a key when the tables were listed, or joined the capture since): its one-pass read may repeat rows those changes carried, and a consumer without a key cannot tell them apart");
        } else if keys.is_empty() {
            tracing::warn!(pipeline = %self.job.pipeline, table = %table, "snapshot: no primary key or NOT NULL unique key; reading the table in one pass");
        } else if self.held.remove(table) {
            // Given a key since it was listed: read in key chunks, and its
            // changes flow (each chunk's window matches them by key).
            tracing::info!(pipeline = %self.job.pipeline, table = %table, "snapshot: the table has a key now; its changes are no longer held back");
        }
        self.key_cache = Some((table.clone(), keys.clone(), estimated));
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wide_rows_get_fewer_rows_a_chunk() {
        assert_eq!(rows_for_bytes(100, 10_000), 10_000, "narrow: the row limit");
        assert_eq!(rows_for_bytes(16_384, 10_000), 256, "16 KB rows: 4 MiB");
        assert_eq!(
            rows_for_bytes(64 << 20, 10_000),
            1,
            "a row past the bound goes alone"
        );
        assert_eq!(rows_for_bytes(0, 10_000), 10_000);
        assert_eq!(rows_for_bytes(100, 0), 1);
    }

    #[test]
    fn progress_json_is_small_and_optional_fields_default() {
        let p = ChunkProgress {
            database: "shop".into(),
            table: "orders".into(),
            last_key: Some(vec![KeyPart::Int(1000)]),
            rows: 1000,
            ..ChunkProgress::default()
        };
        let json = serde_json::to_string(&p).expect("json");
        assert_eq!(
            json,
            r#"{"database":"shop","table":"orders","last_key":[{"int":1000}],"rows":1000}"#
        );
        let start: ChunkProgress =
            serde_json::from_str(r#"{"database":"","table":""}"#).expect("parse");
        assert_eq!(start, ChunkProgress::default());
    }
}
