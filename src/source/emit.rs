//! Change events to Kafka records, shared by both sources: the column
//! settings ([`ColumnMapping`]), skipped operations, the encoder, the topic
//! of each table, the Debezium `source` block, delete tombstones
//! (`tombstones_on_delete`) and the rows-read metric, each in one place.
//!
//! Buffers: the poll source gets its published messages' buffers back from
//! the publisher and [recycles](Emitter::recycle) them into the encoder
//! ([`Buffers::Recycle`]); the binlog source's batches wait in a queue, so
//! each record is shrunk to its size instead ([`Buffers::Shrink`]).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use super::columns::ColumnMapping;
use super::publish::Batch;
use super::SourceError;
use crate::config::debezium::SkippedOps;
use crate::config::{ConfigError, Converter, ConverterKind, Envelope, SourceConfig, SourceKind};
use crate::connect::{EncodeOptions, Encoder, SourceInfo};
use crate::event::{ChangeEvent, Op, TableId};
use crate::metrics::METRICS;
use crate::position::{BinlogCoord, Position};

/// What happens to encoded buffers after publishing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffers {
    /// They come back through [`Emitter::recycle`] (the encoder reuses them).
    Recycle,
    /// They are freed after publishing; shrink them to size while they wait.
    Shrink,
}

/// Encodes events into batches, caching topics and metric handles.
pub struct Emitter {
    encoder: Encoder,
    envelope: Envelope,
    buffers: Buffers,
    /// Per table: its topic and its row counters (by [`op_index`]); one
    /// lookup per row, no key clone.
    tables: HashMap<TableId, TableOut, foldhash::fast::RandomState>,
    columns: ColumnMapping,
    skipped: SkippedOps,
    cfg: Arc<SourceConfig>,
}

struct TableOut {
    topic: Arc<str>,
    counters: [Option<prometheus::IntCounter>; 4],
}

fn op_index(op: Op) -> usize {
    match op {
        Op::Create => 0,
        Op::Update => 1,
        Op::Delete => 2,
        Op::Read => 3,
    }
}

/// The Debezium `source` block of a binlog change (snapshot read or streamed row).
/// Reads of the initial snapshot carry `server_id` 0, as Debezium's do (they
/// come from a `SELECT`, not from a server's binlog event).
pub fn binlog_source_info(coord: &BinlogCoord) -> SourceInfo<'_> {
    let snapshot = coord.snapshot.as_str();
    let initial_read = !matches!(snapshot, "false" | "incremental");
    SourceInfo {
        snapshot: Some(Cow::Borrowed(snapshot)),
        server_id: if initial_read {
            0
        } else {
            i64::from(coord.server_id)
        },
        gtid: coord.gtid.as_deref().map(Cow::Borrowed),
        file: Cow::Borrowed(&coord.at.file),
        pos: i64::try_from(coord.at.pos).unwrap_or(i64::MAX),
        row: i32::try_from(coord.row).unwrap_or(i32::MAX),
        ..SourceInfo::default()
    }
}

impl Emitter {
    /// An emitter for `cfg`'s envelope, encoding options and topic naming;
    /// `server_name` is Debezium's logical server name.
    pub fn new(
        cfg: Arc<SourceConfig>,
        server_name: String,
        buffers: Buffers,
    ) -> Result<Self, ConfigError> {
        // An Avro or JSON Schema side is written straight from the rows;
        // `wire` gives it its id.
        let (key, value) = cfg.converters()?;
        // With transforms, records stay Connect JSON until the transforms ran.
        let direct = |c: &Converter, kind: ConverterKind| {
            c.kind == kind && c.registry.is_some() && cfg.transforms.is_empty()
        };
        let avro = |c: &Converter| direct(c, ConverterKind::Avro);
        let json_schema = |c: &Converter| direct(c, ConverterKind::JsonSchema);
        let binlog = cfg.resolved_kind()? == SourceKind::Binlog;
        Ok(Emitter {
            encoder: Encoder::new(EncodeOptions {
                envelope: cfg.envelope,
                decimal_handling: cfg.decimals(),
                time_precision: cfg.times(),
                connector: "mysql".into(),
                server_name,
                debezium_types: binlog,
            })
            .with_avro(avro(&key), avro(&value))
            .with_json_schema(json_schema(&key), json_schema(&value)),
            envelope: cfg.envelope,
            buffers,
            tables: HashMap::default(),
            columns: ColumnMapping::new(&cfg)?,
            skipped: cfg.skipped_ops()?,
            cfg,
        })
    }

    /// Encodes `ev` into `batch`: a flat delete is a tombstone; a Debezium
    /// delete is followed by a tombstone for compaction, as Debezium does
    /// (unless `tombstones_on_delete = false`). A binlog event's Debezium
    /// `source` block comes from its position. Skipped operations publish
    /// nothing.
    pub fn emit<O>(&mut self, ev: &ChangeEvent, batch: &mut Batch<O>) -> Result<(), SourceError> {
        self.emit_processed(ev, batch, None)
    }

    /// As [`Emitter::emit`], with the Debezium envelope's processing time
    /// (`ts_ms`, `ts_us`, `ts_ns`) given in microseconds: the rows of one
    /// binlog event share one clock reading (`None` reads the clock).
    pub fn emit_processed<O>(
        &mut self,
        ev: &ChangeEvent,
        batch: &mut Batch<O>,
        processed_us: Option<i64>,
    ) -> Result<(), SourceError> {
        let skip = match ev.op {
            Op::Create => self.skipped.create,
            Op::Update => self.skipped.update,
            Op::Delete => self.skipped.delete,
            Op::Read => false,
        };
        if skip {
            return Ok(());
        }
        let mapped = self.columns.apply(ev)?;
        let ev: &ChangeEvent = &mapped;
        let encoded = match &ev.position {
            Position::Binlog(coord) if self.envelope == Envelope::Debezium => {
                let info = SourceInfo {
                    processed_ts_us: processed_us,
                    ..binlog_source_info(coord)
                };
                self.encoder.encode_with(ev, &info)
            }
            _ => self.encoder.encode(ev),
        };
        let mut encoded = encoded.map_err(|e| SourceError::Codec {
            table: ev.table.to_string(),
            source: e,
        })?;
        if self.buffers == Buffers::Shrink {
            // Batches wait in memory, so a buffer with much room to spare
            // gives it back. The encoder sizes buffers like the table's last
            // message, so most fit already (shrinking copies: not for a few
            // spare bytes).
            for buf in [&mut encoded.key, &mut encoded.value].into_iter().flatten() {
                if buf.capacity() - buf.len() > buf.len() / 4 {
                    buf.shrink_to_fit();
                }
            }
        }
        let envelope = self.envelope;
        let tombstones = self.cfg.tombstones_on_delete;
        let Some(out) = self.table_out(&ev.table, ev.op) else {
            return Ok(()); // inserted in table_out
        };
        if let Some(rows_read) = &out.counters[op_index(ev.op)] {
            rows_read.inc();
        }
        let tombstone_after = ev.op == Op::Delete
            && envelope == Envelope::Debezium
            && tombstones
            && encoded.key.is_some();
        let key_copy = if tombstone_after {
            encoded.key.clone()
        } else {
            None
        };
        let key_framed = encoded.key_framed.clone();
        if encoded.key.is_some() || encoded.value.is_some() {
            let framed = [encoded.key_framed, encoded.value_framed];
            batch.push_framed(&out.topic, encoded.key, encoded.value, framed);
        }
        if tombstone_after {
            batch.push_framed(&out.topic, key_copy, None, [key_framed, None]);
        }
        Ok(())
    }

    /// Registers `table`'s topic and its rows-read series for `op`, so the
    /// series shows (at zero) before the first row.
    pub fn prepare(&mut self, table: &TableId, op: Op) {
        self.table_out(table, op);
    }

    /// The table's topic and row counters, with the counter for `op` made.
    fn table_out(&mut self, table: &TableId, op: Op) -> Option<&TableOut> {
        if !self.tables.contains_key(table) {
            let topic = self.cfg.topic_for(&table.database, &table.table).into();
            let out = TableOut {
                topic,
                counters: Default::default(),
            };
            self.tables.insert(table.clone(), out);
        }
        let out = self.tables.get_mut(table)?;
        let pipeline = &self.cfg.name;
        out.counters[op_index(op)].get_or_insert_with(|| {
            METRICS
                .source_rows_read
                .with_label_values(&[pipeline, &table.table, op.label()])
        });
        Some(out)
    }

    /// Debezium's `source.connector` (`mysql`).
    pub fn connector(&self) -> &str {
        &self.encoder.options().connector
    }

    /// How streamed MySQL JSON values are printed: as Debezium's MySQL
    /// connector prints them when writing its messages, as MySQL does otherwise.
    pub fn json_style(&self) -> crate::source::binlog::json_text::JsonStyle {
        use crate::source::binlog::json_text::JsonStyle;
        let o = self.encoder.options();
        if o.envelope == crate::connect::Envelope::Debezium && o.debezium_types {
            JsonStyle::Debezium
        } else {
            JsonStyle::Mysql
        }
    }

    /// Gives published buffers back to the encoder ([`Buffers::Recycle`]).
    pub fn recycle(&mut self, spent: Vec<Vec<u8>>) {
        self.encoder.recycle(spent);
    }

    /// Forgets cached topics (after a RENAME the same id may map elsewhere).
    pub fn forget_topics(&mut self) {
        self.tables.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::BinlogPosition;

    #[test]
    fn snapshot_and_streamed_rows_carry_their_coordinates() {
        let coord = BinlogCoord {
            at: BinlogPosition::new("bin.000002", 1234),
            gtid: Some("0-1-7".into()),
            row: 3,
            snapshot: crate::position::SnapshotMark::False,
            server_id: 1,
        };
        let info = binlog_source_info(&coord);
        assert_eq!(info.snapshot.as_deref(), Some("false"));
        assert_eq!(
            (info.file.as_ref(), info.pos, info.row),
            ("bin.000002", 1234, 3)
        );
        assert_eq!(info.gtid.as_deref(), Some("0-1-7"));
        let snap_coord = BinlogCoord {
            snapshot: crate::position::SnapshotMark::True,
            gtid: None,
            row: 0,
            ..coord
        };
        let snap = binlog_source_info(&snap_coord);
        assert_eq!(snap.snapshot.as_deref(), Some("true"));
        assert_eq!(snap.processed_ts_us, None);
    }

    /// The envelope's `ts_ms`, `ts_us` and `ts_ns` of one emitted row.
    fn processing_times(emitter: &mut Emitter, ev: &ChangeEvent, us: Option<i64>) -> [i64; 3] {
        let mut batch: Batch<()> = Batch::default();
        emitter
            .emit_processed(ev, &mut batch, us)
            .unwrap_or_else(|e| panic!("{e}"));
        let value = batch.messages[0].value.as_deref().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
        ["ts_ms", "ts_us", "ts_ns"].map(|f| v["payload"][f].as_i64().unwrap_or(-1))
    }

    #[test]
    fn a_given_processing_time_stamps_the_debezium_envelope_to_the_microsecond() {
        use crate::event::Value;
        use crate::schema::{Column, ColumnType, TableSchema};
        let cfg = crate::config::Config::test_source(
            "kind = \"binlog\"\nurl = \"mysql://h/db\"\nenvelope = \"debezium\"",
        );
        let mut emitter = Emitter::new(Arc::new(cfg), "srv".into(), Buffers::Shrink)
            .unwrap_or_else(|e| panic!("{e}"));
        let ev = ChangeEvent {
            table: TableId::new("db", "t").into(),
            op: Op::Create,
            before: None,
            after: Some(vec![Value::Int(1)]),
            schema: Arc::new(TableSchema {
                name: "t".into(),
                columns: vec![Column::new("id", ColumnType::Int32, false)],
                primary_key: vec!["id".into()],
            }),
            position: Position::Binlog(BinlogCoord {
                at: BinlogPosition::new("bin.000002", 1234),
                gtid: None,
                row: 0,
                snapshot: crate::position::SnapshotMark::False,
                server_id: 1,
            }),
            ts_ms: 1_700_000_000_000,
        };
        let given = processing_times(&mut emitter, &ev, Some(1_700_000_000_123_456));
        assert_eq!(
            given,
            [
                1_700_000_000_123,
                1_700_000_000_123_456,
                1_700_000_000_123_456_000
            ]
        );
        // Without one, the clock is read: now, to the microsecond.
        let before = chrono::Utc::now().timestamp_micros();
        let [ms, us, ns] = processing_times(&mut emitter, &ev, None);
        let after = chrono::Utc::now().timestamp_micros();
        assert!(
            (before..=after).contains(&us),
            "{before} <= {us} <= {after}"
        );
        assert_eq!((ms, ns), (us.div_euclid(1_000), us * 1_000));
    }
}
