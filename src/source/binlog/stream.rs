//! The reading half of a binlog source: events → change events → batches.
//!
//! Ordering: events are handled strictly in binlog order, and batches reach
//! the publisher in that order, so every table's changes keep commit order.
//!
//! Transactions: a source transaction starts at a GTID event (or `BEGIN`) and
//! ends at its XID event, a `COMMIT` query, or — for DDL — with its single
//! query. Only at an end does the position advance (MariaDB 11.4+ writes
//! `end_log_pos 0` inside transactions). A batch closes after a transaction
//! end when `max_batch_rows` is reached or no further event is waiting, so
//! an idle-ish source commits each transaction at once and a busy one groups
//! many. A transaction with more than `max_transaction_rows` rows is split:
//! the batch is sent with the position of the transaction's start and the
//! count of its rows already published (see [`super::offset`]).
//!
//! Schemas come from each TABLE_MAP event ([`super::table`]), so DDL needs no
//! handling beyond counting it. Event checksums are verified, and decoding
//! runs under `catch_unwind` so a malformed event is an error, not a crash.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use mysql_async::binlog::events::{Event, EventData, RowsEventData, TableMapEvent};
use mysql_async::BinlogStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::emit::Emitter;
use super::gtid::{
    decode_maria_gtid, maria_gtid_flags, MariaGtidList, MysqlGtidSet, MARIA_FL_STANDALONE,
};
use super::offset::BinlogOffset;
use super::publish::Batch;
use super::table::{BinlogTable, Charsets};
use super::Capture;
use crate::connect::SourceInfo;
use crate::event::{ChangeEvent, Op, TableId};
use crate::metrics::{SourceLag, METRICS};
use crate::position::{BinlogCoord, BinlogPosition, Position};
use crate::schema::TableSchema;
use crate::source::SourceError;

const MARIA_ANNOTATE_ROWS: u8 = 160;
const MARIA_GTID: u8 = 162;
const TRANSACTION_PAYLOAD: u8 = 40;
const HEARTBEAT: u8 = 27;

/// Longest a change ready to publish waits for more source transactions to
/// share its Kafka transaction.
const MAX_BATCH_WAIT: Duration = Duration::from_millis(20);

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
    /// Idle flush / heartbeat period.
    pub tick: Duration,
    /// Heartbeat topic when heartbeat messages are on.
    pub heartbeat_topic: Option<Arc<str>>,
    /// Logical server name for heartbeat keys.
    pub server_name: String,
    /// db_timezone offset for DATETIME.
    pub tz_offset: i32,
}

/// Reads one binlog connection until cancelled or an error.
pub struct Streamer<'a> {
    cfg: &'a StreamConfig,
    capture: &'a Capture,
    charsets: &'a Charsets,
    emitter: &'a mut Emitter,
    tables: HashMap<u64, (TableMapEvent<'static>, Option<Arc<BinlogTable>>)>,
    schemas: HashMap<TableId, Arc<TableSchema>>,
    file: String,
    next_pos: u64,
    gtids: GtidState,
    txn: Option<Txn>,
    skip_rows: u64,
    batch: Batch,
    server_id: u32,
    last_event_ts: u32,
    last_sent: Option<BinlogOffset>,
    /// Inside a MySQL TRANSACTION_PAYLOAD (compressed transaction): its
    /// events carry no checksum and end position 0.
    in_payload: bool,
    /// When a batch was last handed to the publisher.
    last_flush: Instant,
}

fn sid_text(sid: [u8; 16]) -> String {
    let h: String = sid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A binlog file name, minus the 4 checksum bytes the first (fake) ROTATE
/// can carry before the format description is known.
fn clean_file_name(name: &[u8]) -> String {
    let valid = |n: &[u8]| {
        n.iter()
            .rposition(|&b| b == b'.')
            .is_some_and(|dot| dot + 1 < n.len() && n[dot + 1..].iter().all(u8::is_ascii_digit))
    };
    if !valid(name) && name.len() > 4 && valid(&name[..name.len() - 4]) {
        return String::from_utf8_lossy(&name[..name.len() - 4]).into_owned();
    }
    String::from_utf8_lossy(name).into_owned()
}

fn is_ddl(query: &str) -> bool {
    let q = query.trim_start().to_ascii_uppercase();
    ["ALTER ", "CREATE ", "DROP ", "RENAME ", "TRUNCATE "]
        .iter()
        .any(|k| q.starts_with(k))
}

impl<'a> Streamer<'a> {
    /// A streamer resuming at `from` (GTID state parsed for `gtids`).
    pub fn new(
        cfg: &'a StreamConfig,
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
            tables: HashMap::new(),
            schemas: HashMap::new(),
            file: from.file.clone(),
            next_pos: from.pos,
            gtids,
            txn: None,
            skip_rows: from.row,
            batch: Batch::default(),
            server_id: from.server_id,
            last_event_ts: 0,
            last_sent: Some(from.clone()),
            in_payload: false,
            last_flush: Instant::now(),
        }
    }

    /// Runs until cancelled (Ok) or an error.
    pub async fn run(
        &mut self,
        stream: &mut BinlogStream,
        tx: &mpsc::Sender<Batch>,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        let mut tick = tokio::time::interval(self.cfg.tick);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut lookahead = None;
        let mut batch_started: Option<Instant> = None;
        let lag = SourceLag::start(&self.cfg.pipeline);
        let mut last_heartbeat = Instant::now();
        loop {
            let next = match lookahead.take() {
                Some(ev) => ev,
                None => tokio::select! {
                    biased;
                    _ = cancel.cancelled() => {
                        self.flush_partial(tx).await;
                        return Ok(());
                    }
                    ev = stream.next() => ev,
                    _ = tick.tick() => {
                        self.on_tick(tx, &mut last_heartbeat).await?;
                        if self.batch.messages.is_empty() {
                            batch_started = None;
                        }
                        continue;
                    }
                },
            };
            let ev = match next {
                None => return Err(SourceError::StreamEnded),
                Some(Err(e)) => return Err(super::classify_stream_error(e)),
                Some(Ok(ev)) => ev,
            };
            let txn_ended = self.on_event(&ev, stream)?;
            if batch_started.is_none() && !self.batch.messages.is_empty() {
                batch_started = Some(Instant::now());
            }
            if let Some(split) = self.split_if_large() {
                batch_started = None;
                self.last_flush = Instant::now();
                if tx.send(split).await.is_err() {
                    return Ok(());
                }
            }
            if txn_ended {
                if self.last_event_ts > 0 {
                    // Everything committed up to this transaction's time is read.
                    lag.caught_up_at(i64::from(self.last_event_ts) * 1000);
                }
                if self.batch.messages.is_empty() {
                    // Offset only (other tables' transactions): the tick stores it, or
                    // here once per tick while events never pause long enough for one.
                    if self.last_flush.elapsed() < self.cfg.tick {
                        continue;
                    }
                } else if self.batch.messages.len() < self.cfg.max_batch_rows
                    && batch_started.is_some_and(|t| t.elapsed() < MAX_BATCH_WAIT)
                {
                    // Group more source transactions while they keep coming, but
                    // never hold published-ready rows longer than MAX_BATCH_WAIT.
                    if let Some(ev) = stream.next().now_or_never() {
                        lookahead = Some(ev);
                        continue;
                    }
                }
                let full = std::mem::take(&mut self.batch);
                self.last_sent.clone_from(&full.offset);
                self.last_flush = Instant::now();
                batch_started = None;
                if tx.send(full).await.is_err() {
                    return Ok(());
                }
            } else if self.is_heartbeat(&ev) && self.txn.is_none() {
                // The server sends heartbeats only when it has nothing newer.
                lag.caught_up_at(chrono::Utc::now().timestamp_millis());
            }
        }
    }

    fn is_heartbeat(&self, ev: &Event) -> bool {
        ev.header().event_type_raw() == HEARTBEAT
    }

    /// On cancel: publish what is complete (positions stay exact mid-transaction too).
    async fn flush_partial(&mut self, tx: &mpsc::Sender<Batch>) {
        let mut batch = std::mem::take(&mut self.batch);
        if let Some(t) = &self.txn {
            if t.rows_in_batch > 0 {
                batch.offset =
                    Some(self.offset_at(t.start.clone(), t.gtids_before.clone(), t.rows));
            }
        }
        if !batch.is_empty() {
            let _ = tx.send(batch).await;
        }
    }

    /// Idle tick: store an advanced position, and write a heartbeat when configured.
    async fn on_tick(
        &mut self,
        tx: &mpsc::Sender<Batch>,
        last_heartbeat: &mut Instant,
    ) -> Result<(), SourceError> {
        let moved = self.batch.offset.is_some() && self.batch.offset != self.last_sent;
        let heartbeat_due =
            self.cfg.heartbeat_topic.is_some() && last_heartbeat.elapsed() >= self.cfg.tick;
        if self.txn.is_some() && !moved {
            return Ok(()); // inside a transaction: nothing complete to store
        }
        if !moved && !heartbeat_due {
            return Ok(());
        }
        let mut batch = std::mem::take(&mut self.batch);
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
            *last_heartbeat = Instant::now();
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

    fn offset_at(&self, at: BinlogPosition, gtids: String, row: u64) -> BinlogOffset {
        BinlogOffset {
            file: at.file,
            pos: at.pos,
            gtids,
            row,
            snapshot_completed: true,
            server_id: self.server_id,
            ts_sec: i64::from(self.last_event_ts),
        }
    }

    /// Cuts the batch inside a large transaction.
    fn split_if_large(&mut self) -> Option<Batch> {
        let t = self.txn.as_mut()?;
        if t.rows_in_batch < self.cfg.max_transaction_rows {
            return None;
        }
        t.rows_in_batch = 0;
        let (start, gtids, rows) = (t.start.clone(), t.gtids_before.clone(), t.rows);
        let mut batch = std::mem::take(&mut self.batch);
        batch.offset = Some(self.offset_at(start, gtids, rows));
        self.last_sent.clone_from(&batch.offset);
        Some(batch)
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
        let offset = self.offset_at(
            BinlogPosition::new(self.file.clone(), self.next_pos),
            self.gtids.to_string(),
            0,
        );
        self.batch.offset = Some(offset);
    }

    /// Handles one event; true when it ended a source transaction.
    fn on_event(&mut self, ev: &Event, stream: &BinlogStream) -> Result<bool, SourceError> {
        let header = ev.header();
        let raw_type = header.event_type_raw();
        if raw_type == TRANSACTION_PAYLOAD {
            self.in_payload = true;
        }
        if !(self.in_payload && header.log_pos() == 0) {
            verify_checksum(ev)?;
        }
        if header.timestamp() > 0 {
            self.last_event_ts = header.timestamp();
        }
        if header.server_id() != 0 && raw_type != HEARTBEAT {
            self.server_id = header.server_id();
        }
        let advance = |s: &mut Self| {
            if header.log_pos() > 0 {
                s.next_pos = u64::from(header.log_pos());
            }
        };
        if raw_type == MARIA_GTID {
            let g = decode_maria_gtid(ev.data(), header.server_id())
                .ok_or_else(|| SourceError::Setup("malformed MariaDB GTID event".into()))?;
            let standalone = maria_gtid_flags(ev.data()) & MARIA_FL_STANDALONE != 0;
            // MariaDB's GTID event stands for BEGIN unless the transaction is standalone.
            self.begin_txn(Some(TxnGtid::Maria(g)), standalone, !standalone);
            advance(self);
            return Ok(false);
        }
        if raw_type == HEARTBEAT {
            return Ok(false); // says the server is idle; its position is not ours to store
        }
        if (MARIA_ANNOTATE_ROWS..=164).contains(&raw_type) {
            advance(self);
            return Ok(false);
        }
        let data = catch_unwind(AssertUnwindSafe(|| ev.read_data()))
            .map_err(|_| {
                SourceError::Setup(format!(
                    "event at {}:{} could not be decoded (panic in the event parser)",
                    self.file, self.next_pos
                ))
            })?
            .map_err(|e| {
                SourceError::Setup(format!("event at {}:{}: {e}", self.file, self.next_pos))
            })?;
        let Some(data) = data else {
            advance(self);
            return Ok(false);
        };
        match data {
            EventData::RotateEvent(r) => {
                self.file = clean_file_name(r.name_raw());
                self.next_pos = r.position();
                self.emitter.forget_topics();
                Ok(false)
            }
            EventData::GtidEvent(g) => {
                let mut src = sid_text(g.sid());
                if let Some(tag) = g.tag() {
                    src = format!("{src}:{}", tag.as_str().to_ascii_lowercase());
                }
                self.begin_txn(Some(TxnGtid::MySql(src, g.gno())), false, false);
                advance(self);
                Ok(false)
            }
            EventData::QueryEvent(q) => {
                let query = q.query();
                let trimmed = query.trim();
                if trimmed.eq_ignore_ascii_case("BEGIN") {
                    match self.txn.as_mut() {
                        Some(t) => t.began = true,
                        None => self.begin_txn(None, false, true),
                    }
                    advance(self);
                    return Ok(false);
                }
                advance(self);
                if trimmed.eq_ignore_ascii_case("COMMIT") {
                    self.end_txn();
                    return Ok(true);
                }
                if is_ddl(trimmed) {
                    METRICS
                        .source_ddl_events
                        .with_label_values(&[&self.cfg.pipeline])
                        .inc();
                    tracing::info!(pipeline = %self.cfg.pipeline, schema = %q.schema(), position = %format!("{}:{}", self.file, self.next_pos), "ddl seen");
                }
                // A statement outside BEGIN/COMMIT (DDL) is its own transaction.
                let standalone = self.txn.as_ref().is_none_or(|t| t.standalone || !t.began);
                if standalone {
                    if self.txn.is_none() {
                        self.begin_txn(None, true, false);
                    }
                    self.end_txn();
                    return Ok(true);
                }
                Ok(false)
            }
            EventData::XidEvent(_) => {
                advance(self);
                self.end_txn();
                Ok(true)
            }
            EventData::TableMapEvent(tme) => {
                self.on_table_map(tme.into_owned())?;
                advance(self);
                Ok(false)
            }
            EventData::RowsEvent(rows) => {
                self.on_rows(&rows, stream, ev)?;
                advance(self);
                Ok(false)
            }
            _ => {
                advance(self);
                Ok(false)
            }
        }
    }

    fn on_table_map(&mut self, tme: TableMapEvent<'static>) -> Result<(), SourceError> {
        let id = tme.table_id();
        if self.tables.get(&id).is_some_and(|(old, _)| *old == tme) {
            return Ok(());
        }
        let db = tme.database_name().into_owned();
        let name = tme.table_name().into_owned();
        let entry = if self.capture.captures(&db, &name) {
            let mut t = BinlogTable::from_table_map(&tme, self.charsets)
                .map_err(|e| SourceError::Setup(e.to_string()))?;
            if let Some(prev) = self.schemas.get(&t.id) {
                t.share_schema(prev);
            }
            self.schemas.insert(t.id.clone(), Arc::clone(&t.schema));
            Some(Arc::new(t))
        } else {
            None
        };
        self.tables.insert(id, (tme, entry));
        Ok(())
    }

    fn on_rows(
        &mut self,
        rows: &RowsEventData<'_>,
        stream: &BinlogStream,
        ev: &Event,
    ) -> Result<(), SourceError> {
        let Some((_, Some(table))) = self.tables.get(&rows.table_id()) else {
            return Ok(());
        };
        let table = Arc::clone(table);
        let tme = stream.get_tme(rows.table_id()).ok_or_else(|| {
            SourceError::Setup(format!(
                "rows event for unknown table id {}",
                rows.table_id()
            ))
        })?;
        let op = match rows {
            RowsEventData::WriteRowsEventV1(_) | RowsEventData::WriteRowsEvent(_) => Op::Create,
            RowsEventData::DeleteRowsEventV1(_) | RowsEventData::DeleteRowsEvent(_) => Op::Delete,
            _ => Op::Update,
        };
        match self.txn.as_mut() {
            Some(t) => t.began = true,
            None => self.begin_txn(None, false, true),
        }
        let event_pos = BinlogPosition::new(
            self.file.clone(),
            u64::from(ev.header().log_pos()).saturating_sub(u64::from(ev.header().event_size())),
        );
        let ts_ms = i64::from(ev.header().timestamp()) * 1000;
        let decoded: Vec<_> = catch_unwind(AssertUnwindSafe(|| rows.rows(tme).collect::<Vec<_>>()))
            .map_err(|_| {
                SourceError::Setup(format!(
                    "rows event at {event_pos} could not be decoded (panic in the row parser)"
                ))
            })?;
        // One event value for the whole rows event: per row only the images
        // and the ordinal change (no per-row clones of names and positions).
        let gtid = self.txn.as_ref().and_then(|t| t.gtid_text.clone());
        let mut change = ChangeEvent {
            table: table.id.clone(),
            op,
            before: None,
            after: None,
            schema: Arc::clone(&table.schema),
            position: Position::Binlog(BinlogCoord {
                at: event_pos.clone(),
                gtid,
                row: 0,
                snapshot: false,
                server_id: self.server_id,
            }),
            ts_ms,
        };
        for row in decoded {
            let (before, after) =
                row.map_err(|e| SourceError::Setup(format!("rows event at {event_pos}: {e}")))?;
            let Some(txn) = self.txn.as_mut() else { break };
            txn.rows += 1;
            if txn.rows <= self.skip_rows {
                continue; // published before a restart (split transaction)
            }
            txn.rows_in_batch += 1;
            let ordinal = txn.rows - 1;
            let conv = |r: Option<mysql_async::binlog::row::BinlogRow>| {
                r.map(|r| table.decode_row(r.unwrap(), self.cfg.tz_offset))
                    .transpose()
                    .map_err(|e| SourceError::Value {
                        table: table.id.to_string(),
                        source: e,
                    })
            };
            change.before = conv(before)?;
            change.after = conv(after)?;
            let Position::Binlog(coord) = &mut change.position else {
                break; // built as Binlog above
            };
            coord.row = ordinal;
            let info = self.emitter.wants_source_info().then(|| SourceInfo {
                snapshot: Some("false".into()),
                server_id: i64::from(self.server_id),
                gtid: coord.gtid.clone(),
                file: coord.at.file.clone(),
                pos: i64::try_from(coord.at.pos).unwrap_or(i64::MAX),
                row: i32::try_from(ordinal).unwrap_or(i32::MAX),
                processed_ts_ms: None,
                ..SourceInfo::default()
            });
            self.emitter.emit(&change, info.as_ref(), &mut self.batch)?;
        }
        Ok(())
    }
}

/// Compares the event's CRC32 with its bytes (the driver does not).
fn verify_checksum(ev: &Event) -> Result<(), SourceError> {
    let Some(sum) = ev.checksum() else {
        return Ok(());
    };
    let Ok(Some(alg)) = ev.footer().get_checksum_alg() else {
        return Ok(());
    };
    let want = u32::from_le_bytes(sum);
    let got = ev.calc_checksum(alg);
    if want != got {
        return Err(SourceError::Checksum(format!(
            "binlog event checksum mismatch (type {}, end position {}): expected {want:08x}, computed {got:08x}",
            ev.header().event_type_raw(),
            ev.header().log_pos()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_rotate_name_loses_its_checksum_bytes() {
        assert_eq!(clean_file_name(b"mariadb-bin.000003"), "mariadb-bin.000003");
        assert_eq!(
            clean_file_name(b"mariadb-bin.000003\x12\x34\xab\xcd"),
            "mariadb-bin.000003"
        );
    }

    #[test]
    fn ddl_is_recognised() {
        assert!(is_ddl("  alter table t add column c int"));
        assert!(is_ddl("RENAME TABLE a TO b"));
        assert!(!is_ddl("INSERT INTO t VALUES (1)"));
    }

    #[test]
    fn sids_print_as_uuids() {
        let sid = [
            0x3e, 0x11, 0xfa, 0x47, 0x71, 0xca, 0x11, 0xe1, 0x9e, 0x33, 0xc8, 0x0a, 0xa9, 0x42,
            0x95, 0x62,
        ];
        assert_eq!(sid_text(sid), "3e11fa47-71ca-11e1-9e33-c80aa9429562");
    }
}
