//! The stream's side of a chunked snapshot ([`crate::source::binlog::chunks`]):
//! at source-transaction boundaries it reads the next chunk, and publishes a
//! chunk once its high watermark is reached; row changes after a pending
//! chunk's low watermark mark their keys as changed.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::{GtidState, Streamer, Txn, TxnGtid};
use crate::event::TableId;
use crate::position::BinlogPosition;
use crate::schema::TableSchema;
use crate::source::binlog::chunks::{key_text, StreamAt};
use crate::source::binlog::control::{Command, ControlError, Signal};
use crate::source::binlog::offset::BinlogOffset;
use crate::source::binlog::signal_topic::{self, SignalRecord};
use crate::source::binlog::table::BinlogTable;
use crate::source::publish::Batch;
use crate::source::SourceError;
use crate::value::{Row, Value};

impl Streamer<'_> {
    fn here(&self) -> BinlogPosition {
        BinlogPosition::new(self.file.clone(), self.next_pos)
    }

    fn stream_at(&self) -> StreamAt<'_> {
        StreamAt {
            pos: self.here(),
            gtids: match &self.gtids {
                GtidState::MySql(set) => Some(set),
                _ => None,
            },
        }
    }

    /// True when, between transactions, a chunk is to be read or published.
    pub(super) fn chunk_work_ready(&self) -> bool {
        self.txn.is_none()
            && self
                .chunker
                .as_ref()
                .is_some_and(|c| c.wants_chunk() || c.reached(&self.stream_at()))
    }

    /// At a transaction end: publishes the pending chunk if its high mark is
    /// reached, else reads the next chunk (and publishes it at once when the
    /// stream is already at its high mark). True when a chunk went into the
    /// batch: the batch must then be sent at once.
    pub(super) async fn chunk_at_txn_end(
        &mut self,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Result<bool, SourceError> {
        self.apply_signals().await?;
        let Some(chunker) = self.chunker.as_mut() else {
            return Ok(false);
        };
        let at = StreamAt {
            pos: BinlogPosition::new(self.file.clone(), self.next_pos),
            gtids: match &self.gtids {
                GtidState::MySql(set) => Some(set),
                _ => None,
            },
        };
        if !chunker.reached(&at) {
            if !chunker.wants_chunk() {
                return Ok(false);
            }
            chunker.read_chunk(&at).await?;
            if chunker.progress().is_none() {
                // Done without a chunk to publish (the tables left were
                // dropped, or there were none): store the position past the
                // snapshot now, which completes it.
                self.progress_changed();
                return Ok(true);
            }
            if !chunker.reached(&at) {
                return Ok(false);
            }
        }
        self.publish_chunk(tx).await?;
        Ok(true)
    }

    /// Between transactions with nothing to read: the same as
    /// [`Self::chunk_at_txn_end`], sending the batch itself. True when the
    /// publisher is gone.
    pub(super) async fn chunk_idle(
        &mut self,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Result<bool, SourceError> {
        if !self.chunk_at_txn_end(tx).await? {
            return Ok(false);
        }
        let full = self.take_batch();
        self.last_sent.clone_from(&full.offset);
        self.last_flush = Instant::now();
        self.batch_started = None;
        Ok(tx.send(full).await.is_err())
    }

    /// Emits the reached chunk's reads into the batch (handing them over
    /// in open pieces as they fill, so a chunk is never held encoded whole)
    /// and stores the position here with the snapshot's new progress.
    async fn publish_chunk(
        &mut self,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Result<(), SourceError> {
        let here = self.here();
        let Some(chunker) = self.chunker.as_mut() else {
            return Ok(());
        };
        if let Some(mut reads) = chunker.take_reached(&here, self.server_id)? {
            // Each read is freed once encoded.
            while reads.advance()? {
                self.emitter.emit(&reads.event, &mut self.batch)?;
                if self.send_piece(tx).await {
                    break; // the publisher is gone: the caller's send says so
                }
            }
            let (published, skipped) = reads.counts();
            if skipped > 0 {
                tracing::debug!(pipeline = %self.cfg.pipeline, table = %reads.event.table, published, skipped, "snapshot chunk: reads of rows changed between its watermarks skipped");
            }
        }
        let offset = self.offset_at(here, self.gtids.to_string(), 0);
        self.batch.offset = Some(offset);
        self.batch.chunk = true;
        Ok(())
    }

    /// A snapshot signal from the REST API ([`crate::source::binlog::control`]),
    /// taken between transactions: applied to the chunker, the position
    /// carrying the new progress committed at once, and answered only once
    /// it is stored (a refusal at once).
    pub(super) async fn on_command(
        &mut self,
        cmd: Command,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Result<(), SourceError> {
        let Some(chunker) = self.chunker.as_mut() else {
            let _ = cmd
                .answer
                .send(Err(ControlError::NotRunning(self.cfg.pipeline.clone())));
            return Ok(());
        };
        let message = match chunker.apply(cmd.signal).await? {
            Ok(message) => message,
            Err(refused) => {
                let _ = cmd.answer.send(Err(refused));
                return Ok(());
            }
        };
        self.progress_changed();
        let stored = self.store_now(tx).await;
        let pipeline = self.cfg.pipeline.clone();
        tokio::spawn(async move {
            let answer = match stored {
                Some(stored) => match stored.await {
                    Ok(()) => Ok(message),
                    Err(_) => Err(ControlError::NotStored(pipeline)),
                },
                None => Err(ControlError::NotStored(pipeline)),
            };
            let _ = cmd.answer.send(answer);
        });
        Ok(())
    }

    /// A record of the Kafka signal topic ([`crate::source::binlog::signal_topic`]),
    /// taken between transactions: acted on (or logged and skipped), and the
    /// position carrying its effect and its offset committed at once.
    pub(super) async fn on_kafka_signal(
        &mut self,
        record: SignalRecord,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Result<(), SourceError> {
        let Some(chunker) = self.chunker.as_mut() else {
            return Ok(());
        };
        let pipeline = &self.cfg.pipeline;
        let offset = record.offset;
        match signal_topic::parse(&record, &self.cfg.server_name) {
            Err(reason) => {
                tracing::warn!(pipeline = %pipeline, offset, reason = %reason, "kafka signal ignored");
            }
            Ok((id, signal)) => match chunker.apply(signal).await? {
                Ok(message) => {
                    tracing::info!(pipeline = %pipeline, id = %id, offset, "signal from the kafka signal topic: {message}");
                }
                Err(e) => {
                    tracing::warn!(pipeline = %pipeline, id = %id, offset, error = %e, "kafka signal ignored");
                }
            },
        }
        self.signal_offset = Some(offset);
        self.progress_changed();
        let stored = self.store_now(tx).await;
        if let (Some(stored), Some(topic)) = (stored, self.signal_topic.as_ref()) {
            let group = Arc::clone(&topic.stored);
            tokio::spawn(async move {
                if stored.await.is_ok() {
                    group.send_replace(Some(offset));
                }
            });
        }
        Ok(())
    }

    /// Between transactions: hands the batch, with the position here, to
    /// the publisher now; the receiver hears once it is committed (`None`:
    /// the publisher is gone).
    async fn store_now(
        &mut self,
        tx: &mpsc::Sender<Batch<BinlogOffset>>,
    ) -> Option<oneshot::Receiver<()>> {
        let (done, stored) = oneshot::channel();
        let mut full = self.take_batch();
        if full.offset.is_none() {
            full.offset = Some(self.offset_at(self.here(), self.gtids.to_string(), 0));
        }
        full.stored.push(done);
        self.last_sent.clone_from(&full.offset);
        self.last_flush = Instant::now();
        self.batch_started = None;
        tx.send(full).await.ok()?;
        Some(stored)
    }

    /// The chunker's progress changed outside a chunk: between
    /// transactions, the next stored position carries it (inside one, the
    /// transaction's end does).
    fn progress_changed(&mut self) {
        if self.txn.is_none() {
            let offset = self.offset_at(self.here(), self.gtids.to_string(), 0);
            self.batch.offset = Some(offset);
        }
    }

    /// A row change of the current transaction: when it lies after a
    /// pending chunk's low mark, its keys (before and after) changed.
    pub(super) fn note_window_row(
        &mut self,
        table: &TableId,
        schema: &Arc<TableSchema>,
        before: Option<&Row>,
        after: Option<&Row>,
    ) {
        let (Some(chunker), Some(txn)) = (self.chunker.as_mut(), self.txn.as_ref()) else {
            return;
        };
        let Some(columns) = chunker.window_keys(table, &txn.start, txn_gtid(txn)) else {
            return;
        };
        // A key-less table's rows are matched by all their columns.
        let idx: Option<Vec<usize>> = if columns.is_empty() {
            Some((0..schema.columns.len()).collect())
        } else {
            columns.iter().map(|c| schema.column_index(c)).collect()
        };
        let Some(idx) = idx else {
            return;
        };
        let keys: Vec<String> = [before, after]
            .into_iter()
            .flatten()
            .map(|row| key_text(idx.iter().filter_map(|&i| row.get(i))))
            .collect();
        for k in keys {
            chunker.mark_changed(k);
        }
    }

    /// True when the current transaction's changes of `table` are held back:
    /// a key-less table's read will carry them ([`crate::source::binlog::chunks::Chunker::holds_back`]).
    pub(super) fn held_back(&self, table: &TableId) -> bool {
        let (Some(chunker), Some(txn)) = (self.chunker.as_ref(), self.txn.as_ref()) else {
            return false;
        };
        chunker.holds_back(table, &txn.start, txn_gtid(txn))
    }

    /// True for the signal table the chunked snapshot writes watermarks to.
    pub(super) fn is_signal_table(&self, db: &str, table: &str) -> bool {
        self.chunker
            .as_ref()
            .and_then(|c| c.signal_table())
            .is_some_and(|t| t.database == db && t.table == table)
    }

    /// A row written to the signal table: its `id` may be a watermark, and
    /// an inserted row of a snapshot signal `type` (Debezium's source signal
    /// channel) is acted on at its transaction's end.
    pub(super) fn on_signal_row(
        &mut self,
        table: &BinlogTable,
        after: Option<Vec<Value>>,
        inserted: bool,
    ) {
        let Some(values) = after else {
            return;
        };
        let text = |column: &str| match table
            .schema
            .column_index(column)
            .and_then(|i| values.get(i))
        {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        };
        let Some(id) = text("id") else {
            return;
        };
        if let Some(c) = self.chunker.as_mut() {
            c.signal_seen(&id);
        }
        let kind = text("type").unwrap_or_default();
        if !inserted || !self.cfg.source_signals || !SIGNAL_TYPES.contains(&kind.as_str()) {
            return;
        }
        let data = text("data").filter(|d| !d.trim().is_empty());
        let parsed = match data
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        {
            None => Signal::parse(&kind, None),
            Some(Ok(json)) => Signal::parse(&kind, Some(&json)),
            Some(Err(e)) => Err(ControlError::invalid("data", format!("not JSON: {e}"))),
        };
        match parsed {
            Ok(_) if self.signals.len() >= MAX_SIGNALS_PER_TXN => {
                tracing::warn!(pipeline = %self.cfg.pipeline, id = %id, "too many signals in one transaction; ignored");
            }
            Ok(signal) => self.signals.push((id, signal)),
            Err(e) => {
                tracing::warn!(pipeline = %self.cfg.pipeline, id = %id, signal = %kind, error = %e, "signal ignored");
            }
        }
    }

    /// At a transaction end: acts on the signals its signal-table rows
    /// carried; the position stored after the transaction holds the result.
    pub(super) async fn apply_signals(&mut self) -> Result<(), SourceError> {
        if self.signals.is_empty() {
            return Ok(());
        }
        let Some(chunker) = self.chunker.as_mut() else {
            return Ok(());
        };
        for (id, signal) in std::mem::take(&mut self.signals) {
            match chunker.apply(signal).await? {
                Ok(message) => {
                    tracing::info!(pipeline = %self.cfg.pipeline, id = %id, "signal from the signal table: {message}");
                }
                Err(e) => {
                    tracing::warn!(pipeline = %self.cfg.pipeline, id = %id, error = %e, "signal ignored");
                }
            }
        }
        self.progress_changed();
        Ok(())
    }
}

/// Debezium's signal types that act on snapshots.
const SIGNAL_TYPES: [&str; 4] = [
    "execute-snapshot",
    "stop-snapshot",
    "pause-snapshot",
    "resume-snapshot",
];

/// Signals acted on per source transaction (more are logged and ignored).
const MAX_SIGNALS_PER_TXN: usize = 64;

/// A MySQL transaction's GTID as (source, number), where the chunk
/// watermarks compare it; `None` for MariaDB's and for none.
fn txn_gtid(txn: &Txn) -> Option<(&str, u64)> {
    match &txn.gtid {
        Some(TxnGtid::MySql(src, n)) => Some((src.as_str(), *n)),
        _ => None,
    }
}
