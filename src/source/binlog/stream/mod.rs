//! The reading half of a binlog source: events → change events → batches.
//!
//! Ordering: events are handled strictly in binlog order, and batches reach
//! the publisher in that order, so every table's changes keep commit order.
//!
//! Transactions: a source transaction starts at a GTID event (or `BEGIN`) and
//! ends at its XID event, a `COMMIT` query, or — for DDL — with its single
//! query. Only at an end does the position advance (MariaDB 11.4+ writes
//! `end_log_pos 0` inside transactions). A batch closes after a transaction
//! end when `max_batch_rows` or `max_batch_bytes` (of encoded messages) is
//! reached or no further event is waiting, so an idle-ish source commits each
//! transaction at once and a busy one groups many. A transaction with more
//! than `max_transaction_rows` rows, or whose rows take the batch past
//! `max_batch_bytes` (checked after each rows event), is split:
//! the batch is sent with the position of the transaction's start and the
//! count of its rows already published (see [`super::offset`]).
//!
//! Schemas come from each TABLE_MAP event ([`super::table`]), so DDL needs no
//! handling beyond counting it. Each event kind has its own handler
//! ([`events`]); event checksums are verified, and decoding runs under
//! `catch_unwind` so a malformed event is an error, not a crash.
//!
//! Liveness: the server sends a heartbeat event whenever it has had nothing to
//! send for a heartbeat period, so silence while waiting on the stream for
//! `silence_limit` (3 periods) means the connection is dead or black-holed:
//! [`SourceError::StreamSilent`]. Until the first event past the dump's
//! handshake the limit is at least [`STARTUP_GRACE`]: MariaDB reads its
//! binlog file from the top to find a GTID start and says nothing meanwhile. While waiting, only an arriving event is a
//! beat for the systemd watchdog (see [`crate::liveness`]), never the tick.

mod chunking;
mod events;

/// The least silence limit until the server streams (see [`Streamer::run`]'s
/// start): locating the start position may take the server a while.
const STARTUP_GRACE: std::time::Duration = std::time::Duration::from_secs(60);

/// Event types a server sends when a dump starts, before it has found the
/// start position: ROTATE (4), FORMAT_DESCRIPTION (15), PREVIOUS_GTIDS (35),
/// MariaDB's BINLOG_CHECKPOINT (161) and GTID_LIST (163).
const HANDSHAKE_EVENTS: [u8; 5] = [4, 15, 35, 161, 163];

pub use self::events::DecodeError;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use mysql_async::binlog::events::{Event, TableMapEvent};
use mysql_async::BinlogStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::charset::Charsets;
use super::gtid::{MariaGtidList, MysqlGtidSet};
use super::offset::BinlogOffset;
use super::table::BinlogTable;
use super::table_cache::RecentMap;
use super::Capture;
use crate::config::DbZone;
use crate::event::TableId;
use crate::metrics::{SourceLag, METRICS};
use crate::position::BinlogPosition;
use crate::schema::TableSchema;
use crate::source::emit::Emitter;
use crate::source::publish::{Batch, Checkpoint};
use crate::source::SourceError;

const HEARTBEAT: u8 = 27;

/// Longest a change ready to publish waits for more source transactions to
/// share its Kafka transaction.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(20);

/// Encoded bytes after which the records of the Kafka transaction being
/// filled are handed to the publisher as an open piece (sent, not
/// committed; see [`Streamer::send_piece`]). What the transaction holds is
/// still bounded by `max_batch_rows` and `max_batch_bytes`; this bounds
/// what waits in memory for it: with the publisher's queue, a few MiB.
const PIECE_BYTES: usize = 1 << 20;

/// The GTID state being tracked.
#[derive(Debug, Clone)]
pub enum GtidState {
    /// No GTIDs (MySQL with gtid_mode OFF).
    None,
    /// MariaDB.
    Maria(MariaGtidList),
    /// MySQL.
    MySql(MysqlGtidSet),
}

impl std::fmt::Display for GtidState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GtidState::None => Ok(()),
            GtidState::Maria(l) => write!(f, "{l}"),
            GtidState::MySql(s) => write!(f, "{s}"),
        }
    }
}

enum TxnGtid {
    Maria(super::gtid::MariaGtid),
    MySql(String, u64),
}

struct Txn {
    start: BinlogPosition,
    gtids_before: String,
    gtid: Option<TxnGtid>,
    gtid_text: Option<String>,
    /// Captured rows seen in this transaction (including skipped ones).
    rows: u64,
    /// Rows of it in the current batch.
    rows_in_batch: u64,
    /// A statement outside BEGIN/COMMIT (DDL) is the whole transaction.
    standalone: bool,
    /// BEGIN seen (MySQL writes GTID, BEGIN, ..., XID; a GTID followed by
    /// anything but BEGIN is a single-statement transaction).
    began: bool,
}

/// Streaming settings.
pub struct StreamConfig {
    /// Pipeline name.
    pub pipeline: String,
    /// Rows per batch when transactions are grouped.
    pub max_batch_rows: usize,
    /// Split threshold for one transaction.
    pub max_transaction_rows: u64,
    /// Encoded bytes per batch: grouping stops past it, and a transaction
    /// still open past it is split (as at `max_transaction_rows`).
    pub max_batch_bytes: usize,
    /// Idle flush / heartbeat period.
    pub tick: Duration,
    /// Silence (no event, no server heartbeat) after which the connection is dead.
    pub silence_limit: Duration,
    /// Heartbeat topic when heartbeat messages are on.
    pub heartbeat_topic: Option<Arc<str>>,
    /// Debezium's schema-change topic, when `include.schema.changes` is on
    /// ([`super::schema_change`]).
    pub schema_change_topic: Option<Arc<str>>,
    /// Logical server name for heartbeat keys.
    pub server_name: String,
    /// db_timezone: the zone DATETIME values are read in.
    pub zone: DbZone,
    /// This source's record key in the offsets topic.
    pub offset_key: Arc<str>,
    /// The server read (`host:port`) when `url` lists several, stored with each position.
    pub server: Option<String>,
    /// Debezium's `source` signal channel: inserted signal-table rows are acted on.
    pub source_signals: bool,
}

/// Reads one binlog connection until cancelled or an error.
pub struct Streamer<'a> {
    cfg: &'a StreamConfig,
    capture: &'a Capture,
    charsets: &'a Charsets,
    emitter: &'a mut Emitter,
    /// Table maps by table id, and each captured table's last schema (for
    /// sharing one `Arc` while it is unchanged); stale entries are dropped
    /// past a bound ([`RecentMap`]).
    tables: RecentMap<u64, (TableMapEvent<'static>, Option<Arc<BinlogTable>>)>,
    schemas: RecentMap<TableId, Arc<TableSchema>>,
    file: String,
    next_pos: u64,
    gtids: GtidState,
    txn: Option<Txn>,
    skip_rows: u64,
    /// An imported Debezium cut still to reach ([`super::offset::DebeziumSkip`]).
    debezium: Option<super::offset::DebeziumSkip>,
    /// While `debezium` is pending: the current event's index in its
    /// transaction, counted as Debezium does (`BEGIN` is 0).
    debezium_index: Option<u64>,
    batch: Batch<BinlogOffset>,
    server_id: u32,
    last_event_ts: u32,
    last_sent: Option<Checkpoint<BinlogOffset>>,
    /// Inside a MySQL TRANSACTION_PAYLOAD (compressed transaction): its
    /// events carry no checksum and end position 0.
    in_payload: bool,
    /// When a batch was last handed to the publisher.
    last_flush: Instant,
    /// When the batch being filled got its first row.
    batch_started: Option<Instant>,
    /// When a heartbeat message was last written.
    last_heartbeat: Instant,
    /// The source-lag gauge.
    lag: SourceLag,
    /// A chunked snapshot running beside the stream ([`super::chunks`]).
    chunker: Option<super::chunks::Chunker>,
    /// Snapshot signals ([`super::control`]), taken by [`Self::run`].
    commands: Option<mpsc::Receiver<super::control::Command>>,
    /// Signals read from the signal table in the current transaction (row id, signal).
    signals: Vec<(String, super::control::Signal)>,
    /// The Kafka signal topic's reader, if that channel is on.
    signal_topic: Option<super::signal_topic::SignalTopic>,
    /// The signal topic's offset of the last record acted on (stored with the position).
    signal_offset: Option<i64>,
    /// A DDL statement read whose schema-change record is still to be
    /// written (it needs `information_schema`, read between events).
    pending_ddl: Option<super::schema_change::SchemaChange>,
    /// The row number (within its transaction) of the last row published:
    /// Debezium's `source.row` of a schema-change record that follows.
    last_row: u64,
    /// Connections for reading table definitions (schema changes).
    pool: mysql_async::Pool,
    /// Records and bytes of the Kafka transaction being filled already
    /// handed over in open pieces ([`Self::send_piece`]).
    sent_open: (usize, usize),
}

/// What the read loop does after an event.
enum After {
    /// Read the next event.
    Read,
    /// Handle this event, read ahead while grouping, next.
    Lookahead(Option<Result<Event, mysql_async::Error>>),
    /// The publisher is gone: stop.
    Closed,
}

impl<'a> Streamer<'a> {
    /// A streamer resuming at `from` (GTID state parsed for `gtids`);
    /// `pool` serves the reads between events (table definitions).
    pub fn new(
        cfg: &'a StreamConfig,
        pool: mysql_async::Pool,
        capture: &'a Capture,
        charsets: &'a Charsets,
        emitter: &'a mut Emitter,
        from: &BinlogOffset,
        gtids: GtidState,
    ) -> Self {
        Streamer {
            cfg,
            capture,
            charsets,
            emitter,
            tables: RecentMap::default(),
            schemas: RecentMap::default(),
            file: from.file.clone(),
            next_pos: from.pos,
            gtids,
            txn: None,
            skip_rows: from.row,
            debezium: from.debezium,
            debezium_index: None,
            batch: Batch::default(),
            server_id: from.server_id,
            last_event_ts: 0,
            last_sent: Some(Checkpoint {
                key: Arc::clone(&cfg.offset_key),
                offset: from.clone(),
            }),
            in_payload: false,
            last_flush: Instant::now(),
            batch_started: None,
            last_heartbeat: Instant::now(),
            lag: SourceLag::start(&cfg.pipeline),
            pending_ddl: None,
            last_row: 0,
            pool,
            chunker: None,
            commands: None,
            signals: Vec::new(),
            signal_topic: None,
            signal_offset: from.incremental_snapshot_signal_offset,
            sent_open: (0, 0),
        }
    }

    /// Takes the batch to hand over as the end of its Kafka transaction.
    fn take_batch(&mut self) -> Batch<BinlogOffset> {
        self.sent_open = (0, 0);
        let mut batch = std::mem::take(&mut self.batch);
        if let Some(chunker) = self.chunker.as_mut() {
            chunker.complete_when_stored(&mut batch);
        }
        batch
    }

    /// Records and encoded bytes of the Kafka transaction being filled,
    /// open pieces included.
    fn filled(&self) -> (usize, usize) {
        (
            self.sent_open.0 + self.batch.messages.len(),
            self.sent_open.1 + self.batch.bytes,
        )
    }

    /// Once the batch's records reach [`PIECE_BYTES`], hands them to the
    /// publisher as an open piece: delivered in the Kafka transaction that
    /// the batch (with its position) later commits, or aborted with it. The
    /// position, the transaction count and the acknowledgements stay in the
    /// batch. True when the publisher is gone.
    async fn send_piece(&mut self, tx: &mpsc::Sender<Batch<BinlogOffset>>) -> bool {
        if self.batch.bytes < PIECE_BYTES {
            return false;
        }
        let piece = Batch {
            messages: std::mem::take(&mut self.batch.messages),
            bytes: std::mem::take(&mut self.batch.bytes),
            open: true,
            ..Batch::default()
        };
        self.sent_open.0 += piece.messages.len();
        self.sent_open.1 += piece.bytes;
        tx.send(piece).await.is_err()
    }

    /// Runs chunked snapshots beside the stream (the initial one, and
    /// on-demand ones signalled on `commands`).
    pub fn with_chunker(
        mut self,
        chunker: super::chunks::Chunker,
        commands: mpsc::Receiver<super::control::Command>,
    ) -> Self {
        self.chunker = Some(chunker);
        self.commands = Some(commands);
        self
    }

    /// Acts on the records of Debezium's Kafka signal topic too.
    pub fn with_signal_topic(mut self, topic: Option<super::signal_topic::SignalTopic>) -> Self {
        self.signal_topic = topic;
        self
    }

    /// Runs until cancelled (Ok) or an error.
    pub async fn run(
        &mut self,
        stream: &mut BinlogStream,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        // A running snapshot's tables are listed before the first event.
        if let Some(chunker) = self.chunker.as_mut() {
            chunker.prepare().await?;
        }
        // Snapshot signals (none without a chunker: a channel never written).
        let (_unused, idle) = mpsc::channel(1);
        let mut commands = self.commands.take().unwrap_or(idle);
        let (_unused_signals, no_signals) = mpsc::channel(1);
        let mut signal_records = self
            .signal_topic
            .as_mut()
            .and_then(|t| t.records.take())
            .unwrap_or(no_signals);
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Silence is counted only while this loop waits on the stream: time
        // spent handing batches to the publisher (back-pressure) is not the
        // server's, so the deadline moves by it.
        let mut heard = tokio::time::Instant::now();
        // Until the server streams (its first event past the handshake), the
        // limit is at least STARTUP_GRACE: MariaDB locates a GTID start by
        // reading its binlog file from the top and sends nothing meanwhile
        // (seconds on a file of a gigabyte), which is no dead peer.
        let mut streaming = false;
        let limit = |streaming: bool| {
            if streaming {
                self.cfg.silence_limit
            } else {
                self.cfg.silence_limit.max(STARTUP_GRACE)
            }
        };
        let silence = tokio::time::sleep_until(heard + limit(streaming));
        tokio::pin!(silence);
        let mut lookahead = None;
        loop {
            let next = match lookahead.take() {
                Some(ev) => ev,
                None => {
                    silence.as_mut().reset(heard + limit(streaming));
                    // The tick wakes this task whether or not the server
                    // speaks: only an event counts as a sign of life.
                    let _peer = crate::liveness::peer_paced();
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => {
                            self.flush_partial(tx).await;
                            return Ok(());
                        }
                        // The publisher ended (its error, e.g. a fenced
                        // producer, is what the source returns): stop now,
                        // not at the next event of an idle server.
                        _ = tx.closed() => return Ok(()),
                        // Signals between source transactions only: each is
                        // stored at once with the position it takes effect at.
                        Some(cmd) = commands.recv(), if self.txn.is_none() => {
                            let started = tokio::time::Instant::now();
                            self.on_command(cmd, tx).await?;
                            heard += started.elapsed();
                            continue;
                        }
                        Some(record) = signal_records.recv(), if self.txn.is_none() => {
                            let started = tokio::time::Instant::now();
                            self.on_kafka_signal(record, tx).await?;
                            heard += started.elapsed();
                            continue;
                        }
                        ev = stream.next() => ev,
                        _ = std::future::ready(()), if self.chunk_work_ready() => {
                            // Idle stream: read (or publish) the next chunk.
                            let started = tokio::time::Instant::now();
                            let closed = self.chunk_idle(tx).await?;
                            heard += started.elapsed();
                            if closed {
                                return Ok(());
                            }
                            continue;
                        }
                        _ = tick.tick() => {
                            let started = tokio::time::Instant::now();
                            self.on_tick(tx).await?;
                            heard += started.elapsed();
                            if self.batch.messages.is_empty() {
                                self.batch_started = None;
                            }
                            continue;
                        }
                        _ = &mut silence => {
                            let seconds = heard.elapsed().as_secs();
                            tracing::warn!(pipeline = %self.cfg.pipeline, seconds,
                                position = %BinlogPosition::new(self.file.clone(), self.next_pos),
                                "binlog connection silent for {seconds}s (3 heartbeat periods); reconnecting");
                            return Err(SourceError::StreamSilent { seconds });
                        }
                    }
                }
            };
            crate::liveness::progress();
            let ev = match next {
                None => return Err(SourceError::StreamEnded),
                Some(Err(e)) => return Err(super::resume::classify_stream_error(e)),
                Some(Ok(ev)) => ev,
            };
            streaming = streaming || !HANDSHAKE_EVENTS.contains(&ev.header().event_type_raw());
            let txn_ended = self.on_event(&ev, stream)?;
            if let Some(change) = self.pending_ddl.take() {
                self.push_schema_change(change).await?;
            }
            // At a transaction end: publish a chunk whose high mark is
            // reached (the batch then goes out at once), or read the next.
            let chunk_out = txn_ended && self.chunk_at_txn_end(tx).await?;
            match self
                .after_event(&ev, txn_ended, chunk_out, stream, tx)
                .await
            {
                After::Read => {}
                After::Lookahead(ev) => lookahead = Some(ev),
                After::Closed => return Ok(()),
            }
            heard = tokio::time::Instant::now();
        }
    }

    /// Batching after an event: splits a large transaction, and at a
    /// transaction end either waits for more (grouping) or hands the batch over.
    async fn after_event(
        &mut self,
        ev: &Event,
        txn_ended: bool,
        chunk_out: bool,
        stream: &mut BinlogStream,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> After {
        if self.batch_started.is_none() && !self.batch.messages.is_empty() {
            self.batch_started = Some(Instant::now());
        }
        if let Some(split) = self.split_if_large() {
            self.batch_started = None;
            self.last_flush = Instant::now();
            if tx.send(split).await.is_err() {
                return After::Closed;
            }
        }
        if self.send_piece(tx).await {
            return After::Closed;
        }
        if !txn_ended {
            if self.is_heartbeat(ev) && self.txn.is_none() {
                // The server sends heartbeats only when it has nothing newer.
                self.lag.caught_up_at(chrono::Utc::now().timestamp_millis());
            }
            return After::Read;
        }
        if self.last_event_ts > 0 {
            // Everything committed up to this transaction's time is read.
            self.lag.caught_up_at(i64::from(self.last_event_ts) * 1000);
        }
        if chunk_out {
            // A snapshot chunk: committed at once with its position.
        } else if self.filled().0 == 0 {
            // Offset only (other tables' transactions): the tick stores it, or
            // here once per tick while events never pause long enough for one.
            if self.last_flush.elapsed() < self.cfg.tick {
                return After::Read;
            }
        } else if self.filled().0 < self.cfg.max_batch_rows
            && self.filled().1 < self.cfg.max_batch_bytes
            && self
                .batch_started
                .is_some_and(|t| t.elapsed() < MAX_BATCH_WAIT)
        {
            // Group more source transactions while they keep coming, but
            // never hold published-ready rows longer than MAX_BATCH_WAIT.
            if let Some(ev) = stream.next().now_or_never() {
                return After::Lookahead(ev);
            }
        }
        let full = self.take_batch();
        self.last_sent.clone_from(&full.offset);
        self.last_flush = Instant::now();
        self.batch_started = None;
        if tx.send(full).await.is_err() {
            return After::Closed;
        }
        After::Read
    }

    fn is_heartbeat(&self, ev: &Event) -> bool {
        ev.header().event_type_raw() == HEARTBEAT
    }

    /// Adds a DDL statement's schema-change record to the batch, which holds
    /// the position after the statement: both commit together.
    async fn push_schema_change(
        &mut self,
        mut change: super::schema_change::SchemaChange,
    ) -> Result<(), SourceError> {
        let Some(topic) = self.cfg.schema_change_topic.clone() else {
            return Ok(());
        };
        let wanted: Vec<_> = change
            .tables
            .iter()
            .map(|(k, db, t, _)| (*k, db.clone(), t.clone()))
            .collect();
        let mut conn =
            crate::mysql::bounded("reading a table definition", self.pool.get_conn()).await?;
        change.tables = super::schema_change::read_definitions(&mut conn, &wanted).await?;
        drop(conn);
        let (key, value) = change.encode(self.emitter.connector(), &self.cfg.server_name);
        self.batch.push(&topic, Some(key), Some(value));
        Ok(())
    }

    /// On cancel: publish what is complete (positions stay exact mid-transaction too).
    async fn flush_partial(&mut self, tx: &mpsc::Sender<Batch<BinlogOffset>>) {
        let mut batch = self.take_batch();
        if let Some(offset) = self.txn_offset() {
            batch.offset = Some(offset);
        }
        if !batch.is_empty() {
            let _ = tx.send(batch).await;
        }
    }

    /// Idle tick: store an advanced position, and write a heartbeat when configured.
    async fn on_tick(&mut self, tx: &mpsc::Sender<Batch<BinlogOffset>>) -> Result<(), SourceError> {
        let moved = self.batch.offset.is_some() && self.batch.offset != self.last_sent;
        let heartbeat_due =
            self.cfg.heartbeat_topic.is_some() && self.last_heartbeat.elapsed() >= self.cfg.tick;
        if self.txn.is_some() && !moved {
            return Ok(()); // inside a transaction: nothing complete to store
        }
        if !moved && !heartbeat_due {
            return Ok(());
        }
        let mut batch = self.take_batch();
        // Rows of the transaction under way are in the batch: the position
        // counts them (as a split does), or a restart would send them again.
        if let Some(offset) = self.txn_offset() {
            batch.offset = Some(offset);
        }
        if batch.offset.is_none() {
            batch.offset.clone_from(&self.last_sent);
        }
        if let Some(topic) = &self.cfg.heartbeat_topic {
            let key = serde_json::json!({"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"serverName"}],"optional":false,"name":"io.debezium.connector.common.ServerNameKey"},"payload":{"serverName": self.cfg.server_name}});
            let value = serde_json::json!({"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms": chrono::Utc::now().timestamp_millis()}});
            batch.push(
                topic,
                Some(key.to_string().into_bytes()),
                Some(value.to_string().into_bytes()),
            );
            self.last_heartbeat = Instant::now();
        }
        METRICS
            .source_heartbeats
            .with_label_values(&[&self.cfg.pipeline])
            .inc();
        self.last_sent.clone_from(&batch.offset);
        self.last_flush = Instant::now();
        if tx.send(batch).await.is_err() {
            return Ok(());
        }
        Ok(())
    }

    /// The position to store: `row` rows of the transaction at `at` published.
    fn offset_at(&self, at: BinlogPosition, gtids: String, row: u64) -> Checkpoint<BinlogOffset> {
        let snapshot = self.chunker.as_ref().and_then(|c| c.progress().cloned());
        Checkpoint {
            key: Arc::clone(&self.cfg.offset_key),
            offset: BinlogOffset {
                file: at.file,
                pos: at.pos,
                gtids,
                row,
                snapshot_completed: snapshot.is_none(),
                server_id: self.server_id,
                ts_sec: i64::from(self.last_event_ts),
                snapshot,
                capture: Some(self.capture.spec()),
                debezium: None,
                server: self.cfg.server.clone(),
                incremental_snapshot_signal_offset: self.signal_offset,
            },
        }
    }

    /// Cuts the batch inside a large transaction: at `max_transaction_rows`
    /// of its rows, or once the batch holds `max_batch_bytes` and some of them.
    fn split_if_large(&mut self) -> Option<Batch<BinlogOffset>> {
        let t = self.txn.as_mut()?;
        let by_bytes =
            t.rows_in_batch > 0 && self.sent_open.1 + self.batch.bytes >= self.cfg.max_batch_bytes;
        if t.rows_in_batch < self.cfg.max_transaction_rows && !by_bytes {
            return None;
        }
        let mut batch = self.take_batch();
        batch.offset = self.txn_offset();
        self.last_sent.clone_from(&batch.offset);
        Some(batch)
    }

    /// Inside a transaction some of whose rows are in the batch: the
    /// position counting the rows published so far (the batch then holds
    /// none of its rows any more).
    fn txn_offset(&mut self) -> Option<Checkpoint<BinlogOffset>> {
        let t = self.txn.as_mut().filter(|t| t.rows_in_batch > 0)?;
        t.rows_in_batch = 0;
        let (start, gtids, rows) = (t.start.clone(), t.gtids_before.clone(), t.rows);
        Some(self.offset_at(start, gtids, rows))
    }

    fn begin_txn(&mut self, gtid: Option<TxnGtid>, standalone: bool, began: bool) {
        let gtid_text = gtid.as_ref().map(|g| match g {
            TxnGtid::Maria(m) => m.to_string(),
            TxnGtid::MySql(s, n) => format!("{s}:{n}"),
        });
        self.txn = Some(Txn {
            start: BinlogPosition::new(self.file.clone(), self.next_pos),
            gtids_before: self.gtids.to_string(),
            gtid,
            gtid_text,
            rows: 0,
            rows_in_batch: 0,
            standalone,
            began,
        });
    }

    fn end_txn(&mut self) {
        self.in_payload = false;
        if let Some(t) = self.txn.take() {
            match (&mut self.gtids, t.gtid) {
                (GtidState::Maria(l), Some(TxnGtid::Maria(g))) => l.apply(g),
                (GtidState::MySql(s), Some(TxnGtid::MySql(src, n))) => s.add(&src, n),
                _ => {}
            }
            self.batch.transactions += 1;
        }
        self.skip_rows = 0;
        // Debezium's cut lies in the first transaction read: past it now.
        self.debezium = None;
        self.debezium_index = None;
        let offset = self.offset_at(
            BinlogPosition::new(self.file.clone(), self.next_pos),
            self.gtids.to_string(),
            0,
        );
        self.batch.offset = Some(offset);
    }
}
