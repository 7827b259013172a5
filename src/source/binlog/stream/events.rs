//! One handler per binlog event kind, as Materialize's `replication/events.rs`.
//!
//! [`Streamer::on_event`] checks what every event needs (checksum, timestamp,
//! server id), then dispatches by kind: GTID events (MariaDB's by hand, see
//! design.md §8) and `BEGIN` open a source transaction, XID and `COMMIT` end
//! it, a statement outside `BEGIN`/`COMMIT` (DDL) is a transaction of its own,
//! ROTATE moves to the next file, TABLE_MAP events give the schema of the rows
//! after them, and rows events become change events. Each handler returns
//! true when it ended a source transaction. Decoding runs under
//! `catch_unwind`, so a malformed event is a [`DecodeError`], not a crash.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use mysql_async::binlog::events::{
    Event, EventData, GtidEvent, QueryEvent, RotateEvent, RowsEventData, TableMapEvent,
};
use mysql_async::binlog::EventFlags;
use mysql_async::BinlogStream;

use super::{Streamer, TxnGtid, HANDSHAKE_EVENTS, HEARTBEAT};
use crate::event::{ChangeEvent, Op};
use crate::metrics::METRICS;
use crate::position::{BinlogCoord, BinlogPosition, Position};
use crate::source::binlog::gtid::{decode_maria_gtid, maria_gtid_flags, MARIA_FL_STANDALONE};
use crate::source::binlog::rows::ImageError;
use crate::source::binlog::table::BinlogTable;
use crate::source::SourceError;

const MARIA_ANNOTATE_ROWS: u8 = 160;
const MARIA_GTID: u8 = 162;
const ROTATE: u8 = 4;
const MARIA_START_ENCRYPTION: u8 = 164;
const TRANSACTION_PAYLOAD: u8 = 40;

/// Why a binlog event could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// A MariaDB GTID event too short for its fields.
    #[error("malformed MariaDB GTID event")]
    MariaGtid,
    /// The driver's event parser panicked.
    #[error("the event could not be decoded (panic in the event parser)")]
    EventPanic,
    /// The driver could not parse the event.
    #[error("{0}")]
    Event(#[source] std::io::Error),
    /// A rows event for a table id no TABLE_MAP event announced.
    #[error("rows event for unknown table id {0}")]
    UnknownTable(u64),
    /// The driver's row parser panicked.
    #[error("the rows event could not be decoded (panic in the row parser)")]
    RowPanic,
    /// The driver could not parse a row.
    #[error("{0}")]
    Row(#[source] std::io::Error),
}

fn decode_error(position: BinlogPosition, source: DecodeError) -> SourceError {
    SourceError::Decode { position, source }
}

impl Streamer<'_> {
    /// Handles one event; true when it ended a source transaction.
    pub(super) fn on_event(
        &mut self,
        ev: &Event,
        stream: &BinlogStream,
    ) -> Result<bool, SourceError> {
        self.on_header(ev)?;
        if let Some(i) = self.debezium_index.as_mut() {
            *i += 1;
        }
        match ev.header().event_type_raw() {
            MARIA_GTID => return self.on_maria_gtid(ev),
            // Says the server is idle; its position is not ours to store.
            HEARTBEAT => return Ok(false),
            MARIA_ANNOTATE_ROWS..=MARIA_START_ENCRYPTION => return Ok(self.skip(ev)),
            _ => {}
        }
        let Some(data) = self.read_data(ev)? else {
            return Ok(self.skip(ev));
        };
        match data {
            EventData::RotateEvent(r) => Ok(self.on_rotate(&r, ev)),
            EventData::GtidEvent(g) => Ok(self.on_mysql_gtid(&g, ev)),
            EventData::QueryEvent(q) => Ok(self.on_query(&q, ev)),
            EventData::XidEvent(_) => {
                self.advance(ev);
                self.end_txn();
                Ok(true)
            }
            EventData::TableMapEvent(tme) => {
                self.on_table_map(tme.into_owned())?;
                Ok(self.skip(ev))
            }
            EventData::RowsEvent(rows) => {
                self.on_rows(&rows, stream, ev)?;
                Ok(self.skip(ev))
            }
            _ => Ok(self.skip(ev)),
        }
    }

    /// What every event needs: the checksum (not inside a compressed MySQL
    /// transaction payload, whose events carry none), its time and server.
    fn on_header(&mut self, ev: &Event) -> Result<(), SourceError> {
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
        Ok(())
    }

    /// Moves the read position past `ev` (events inside a MariaDB 11.4+
    /// transaction or a MySQL payload have end position 0: kept).
    fn advance(&mut self, ev: &Event) {
        let header = ev.header();
        let pos = u64::from(header.log_pos());
        if pos > 0 && !stays(header.event_type_raw(), true, self.next_pos, pos) {
            self.next_pos = pos;
        }
    }

    /// An event with nothing to do beyond moving past it.
    fn skip(&mut self, ev: &Event) -> bool {
        self.advance(ev);
        false
    }

    /// `BEGIN` (MariaDB: a transaction's GTID event): Debezium counts the
    /// events of a transaction from here, this one as 0.
    fn debezium_begin(&mut self) {
        if self.debezium.is_some() {
            self.debezium_index = Some(0);
        }
    }

    /// How many of the `rows` rows of the current rows event an imported
    /// Debezium position says were published (`None`: no such position
    /// pending). Events before Debezium's cut were published whole; of the
    /// first rows event at or past it (where Debezium applies its `row`), its
    /// first `row` rows; that consumes the cut.
    fn debezium_rows_to_skip(&mut self, rows: u64) -> Option<u64> {
        let cut = self.debezium?;
        let index = self.debezium_index?;
        if index < cut.event {
            return Some(rows);
        }
        self.debezium = None;
        self.debezium_index = None;
        Some(cut.row.min(rows))
    }

    /// The event's data; `None` for kinds the driver does not decode.
    fn read_data<'e>(&self, ev: &'e Event) -> Result<Option<EventData<'e>>, SourceError> {
        let here = || BinlogPosition::new(self.file.clone(), self.next_pos);
        catch_unwind(AssertUnwindSafe(|| ev.read_data()))
            .map_err(|_| decode_error(here(), DecodeError::EventPanic))?
            .map_err(|e| decode_error(here(), DecodeError::Event(e)))
    }

    /// MariaDB GTID: stands for `BEGIN` unless the transaction is standalone.
    fn on_maria_gtid(&mut self, ev: &Event) -> Result<bool, SourceError> {
        let g = decode_maria_gtid(ev.data(), ev.header().server_id()).ok_or_else(|| {
            decode_error(
                BinlogPosition::new(self.file.clone(), self.next_pos),
                DecodeError::MariaGtid,
            )
        })?;
        let standalone = maria_gtid_flags(ev.data()) & MARIA_FL_STANDALONE != 0;
        self.begin_txn(Some(TxnGtid::Maria(g)), standalone, !standalone);
        if !standalone {
            self.debezium_begin();
        }
        Ok(self.skip(ev))
    }

    /// MySQL GTID: the next transaction's id (`BEGIN` may follow or not).
    fn on_mysql_gtid(&mut self, g: &GtidEvent, ev: &Event) -> bool {
        let mut src = sid_text(g.sid());
        if let Some(tag) = g.tag() {
            src = format!("{src}:{}", tag.as_str().to_ascii_lowercase());
        }
        self.begin_txn(Some(TxnGtid::MySql(src, g.gno())), false, false);
        self.skip(ev)
    }

    /// ROTATE: the next file (and its position); cached topics are dropped.
    fn on_rotate(&mut self, r: &RotateEvent<'_>, ev: &Event) -> bool {
        let file = clean_file_name(r.name_raw());
        let artificial = ev
            .header()
            .flags()
            .contains(EventFlags::LOG_EVENT_ARTIFICIAL_F);
        if !(artificial && stays(ROTATE, file == self.file, self.next_pos, r.position())) {
            self.file = file;
            self.next_pos = r.position();
        }
        self.emitter.forget_topics();
        false
    }

    /// `BEGIN`, `COMMIT`, or a statement: DDL is counted, and a statement
    /// outside `BEGIN`/`COMMIT` is its own transaction.
    fn on_query(&mut self, q: &QueryEvent<'_>, ev: &Event) -> bool {
        let query = q.query();
        let trimmed = query.trim();
        if trimmed.eq_ignore_ascii_case("BEGIN") {
            match self.txn.as_mut() {
                Some(t) => t.began = true,
                None => self.begin_txn(None, false, true),
            }
            self.debezium_begin();
            return self.skip(ev);
        }
        self.advance(ev);
        if trimmed.eq_ignore_ascii_case("COMMIT") {
            self.end_txn();
            return true;
        }
        if is_ddl(trimmed) {
            METRICS
                .source_ddl_events
                .with_label_values(&[&self.cfg.pipeline])
                .inc();
            tracing::info!(pipeline = %self.cfg.pipeline, schema = %q.schema(), position = %format!("{}:{}", self.file, self.next_pos), "ddl seen");
            if self.cfg.schema_change_topic.is_some() {
                self.pending_ddl = self.schema_change(q, trimmed, ev);
            }
        }
        let standalone = self.txn.as_ref().is_none_or(|t| t.standalone || !t.began);
        if standalone {
            if self.txn.is_none() {
                self.begin_txn(None, true, false);
            }
            self.end_txn();
        }
        standalone
    }

    /// The schema-change record of a DDL statement on a captured table or a
    /// captured database (its table definitions still to read); `None` for
    /// anything else.
    fn schema_change(
        &self,
        q: &QueryEvent<'_>,
        ddl: &str,
        ev: &Event,
    ) -> Option<super::super::schema_change::SchemaChange> {
        use super::super::schema_change::{database_statement, touched_tables, SchemaChange};
        let database = q.schema().into_owned();
        let touched = touched_tables(ddl, &database);
        // Statements on tables or databases only: Debezium's DDL parser
        // makes no schema change of TRUNCATE, views, routines, users...
        let relevant = if touched.is_empty() {
            database_statement(ddl).is_some_and(|db| self.capture.captures_database(&db))
        } else {
            touched
                .iter()
                .any(|(_, db, t)| self.capture.captures(db, t))
        };
        if !relevant {
            return None;
        }
        let txn = self.txn.as_ref();
        let header = ev.header();
        Some(SchemaChange {
            database,
            ddl: ddl.to_string(),
            tables: touched
                .into_iter()
                .map(|(k, db, t)| (k, db, t, None))
                .collect(),
            source: crate::connect::SourceInfo {
                snapshot: Some("false".into()),
                server_id: i64::from(self.server_id),
                gtid: txn.and_then(|t| t.gtid_text.clone()).map(Into::into),
                file: self.file.clone().into(),
                // The statement's own event (after its GTID event).
                pos: i64::from(header.log_pos().saturating_sub(header.event_size())),
                // Debezium keeps the last row event's row number here.
                row: i32::try_from(self.last_row).unwrap_or(i32::MAX),
                thread: Some(i64::from(q.thread_id())),
                ..crate::connect::SourceInfo::default()
            },
            ts_ms: i64::from(header.timestamp()) * 1000,
        })
    }

    fn on_table_map(&mut self, tme: TableMapEvent<'static>) -> Result<(), SourceError> {
        let id = tme.table_id();
        if self.tables.get(&id).is_some_and(|(old, _)| *old == tme) {
            return Ok(());
        }
        let db = tme.database_name().into_owned();
        let name = tme.table_name().into_owned();
        let entry = if self.capture.captures(&db, &name) || self.is_signal_table(&db, &name) {
            let mut t =
                BinlogTable::from_table_map(&tme, self.charsets, self.emitter.json_style())?;
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
            self.debezium_rows_to_skip(0);
            return Ok(());
        };
        let table = Arc::clone(table);
        let here = BinlogPosition::new(self.file.clone(), self.next_pos);
        let signal = self.is_signal_table(&table.id.database, &table.id.table);
        let tme = stream
            .get_tme(rows.table_id())
            .ok_or_else(|| decode_error(here, DecodeError::UnknownTable(rows.table_id())))?;
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
        let zone = self.cfg.zone;
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            crate::source::binlog::rows::read(&table, rows, tme, zone)
        }))
        .map_err(|_| decode_error(event_pos.clone(), DecodeError::RowPanic))?
        .map_err(|e| match e {
            ImageError::Parse(e) => decode_error(event_pos.clone(), DecodeError::Row(e)),
            ImageError::Value(source) => SourceError::Value {
                table: table.id.to_string(),
                source,
            },
        })?;
        if let Some(n) = self.debezium_rows_to_skip(decoded.len() as u64) {
            if !signal {
                // Counted as this transaction's rows, published by Debezium.
                self.skip_rows = self.txn.as_ref().map_or(0, |t| t.rows) + n;
            }
        }
        // One event value for the whole rows event: per row only the images
        // and the ordinal change (no per-row clones of names and positions).
        let gtid = self.txn.as_ref().and_then(|t| t.gtid_text.clone());
        let mut change = ChangeEvent {
            table: Arc::new(table.id.clone()),
            op,
            before: None,
            after: None,
            schema: Arc::clone(&table.schema),
            position: Position::Binlog(BinlogCoord {
                at: event_pos.clone(),
                gtid,
                row: 0,
                snapshot: crate::position::SnapshotMark::False,
                server_id: self.server_id,
            }),
            ts_ms,
        };
        let held = !signal && self.held_back(&table.id);
        // Debezium's processing time: one clock reading for the event's rows.
        let processed_us = Some(chrono::Utc::now().timestamp_micros());
        for (before, after) in decoded {
            if signal {
                // A watermark or a signal: seen, never published.
                let inserted = before.is_none();
                self.on_signal_row(&table, after, inserted);
                continue;
            }
            let Some(txn) = self.txn.as_mut() else { break };
            txn.rows += 1;
            if txn.rows <= self.skip_rows {
                continue; // published before a restart (split transaction)
            }
            if held {
                continue; // a key-less table's read will carry it
            }
            txn.rows_in_batch += 1;
            let ordinal = txn.rows - 1;
            change.before = before;
            change.after = after;
            self.note_window_row(
                &table.id,
                &table.schema,
                change.before.as_ref(),
                change.after.as_ref(),
            );
            let Position::Binlog(coord) = &mut change.position else {
                break; // built as Binlog above
            };
            coord.row = ordinal;
            self.last_row = ordinal;
            self.emitter
                .emit_processed(&change, &mut self.batch, processed_us)?;
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
    let expected = u32::from_le_bytes(sum);
    let computed = ev.calc_checksum(alg);
    if expected != computed {
        return Err(SourceError::Checksum {
            event_type: ev.header().event_type_raw(),
            end_position: ev.header().log_pos(),
            expected,
            computed,
        });
    }
    Ok(())
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

/// True when an event of type `kind` ending at `pos` leaves the stream's
/// position `at` in the same file: a dump's preamble moving back.
///
/// A GTID-positioned dump starts at the top of a file: an artificial ROTATE
/// to position 4, the file's FORMAT_DESCRIPTION and PREVIOUS_GTIDS (MariaDB:
/// GTID_LIST, BINLOG_CHECKPOINT), and then the server skips, without a word,
/// the transactions the stream already has. Moving back to those positions
/// would make an idle stream look behind everything it has read until the
/// next write (a chunked snapshot waiting for its high watermark waited for
/// ever on a quiet server). Anything else, and any move forward, is followed.
fn stays(kind: u8, same_file: bool, at: u64, pos: u64) -> bool {
    same_file && HANDSHAKE_EVENTS.contains(&kind) && pos < at
}

fn is_ddl(query: &str) -> bool {
    let q = query.trim_start().to_ascii_uppercase();
    ["ALTER ", "CREATE ", "DROP ", "RENAME ", "TRUNCATE "]
        .iter()
        .any(|k| q.starts_with(k))
}

#[cfg(test)]
mod tests {
    use super::stays;

    #[test]
    fn a_dump_preamble_moving_back_in_the_same_file_keeps_the_position() {
        // GTID auto-position: ROTATE to the top, FORMAT_DESCRIPTION, PREVIOUS_GTIDS.
        for kind in [4, 15, 35, 161, 163] {
            assert!(stays(kind, true, 48_206_326, 126), "kind {kind}");
        }
        // Another file, a move forward, or a transaction's event: followed.
        assert!(!stays(4, false, 48_206_326, 4));
        assert!(!stays(15, true, 100, 200));
        assert!(!stays(15, true, 100, 100));
        assert!(!stays(16, true, 48_206_326, 126)); // XID
        assert!(!stays(2, true, 48_206_326, 126)); // QUERY
    }

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
