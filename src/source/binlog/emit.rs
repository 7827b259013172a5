//! Change events to Kafka records: topic per table, envelope, tombstones.

use std::collections::HashMap;
use std::sync::Arc;

use super::publish::Batch;
use crate::config::{Envelope, SourceConfig};
use crate::connect::{EncodeOptions, Encoder, SourceInfo};
use crate::event::{ChangeEvent, Op, TableId};
use crate::metrics::METRICS;
use crate::source::SourceError;

/// Encodes events into batches, caching topics and metric handles.
pub struct Emitter {
    encoder: Encoder,
    envelope: Envelope,
    /// Per table: its topic and its row counters (by [`op_index`]); one
    /// lookup per row, no key clone.
    tables: HashMap<TableId, TableOut>,
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

impl Emitter {
    /// An emitter for `cfg`'s envelope and topic naming.
    pub fn new(cfg: Arc<SourceConfig>) -> Self {
        Emitter {
            encoder: Encoder::new(EncodeOptions {
                envelope: cfg.envelope,
                decimal_handling: cfg.decimal_handling,
                time_precision: cfg.time_precision,
                connector: "mysql".into(),
                server_name: cfg.logical_name().to_string(),
            }),
            envelope: cfg.envelope,
            tables: HashMap::new(),
            cfg,
        }
    }

    /// True when events need Debezium `source` metadata.
    pub fn wants_source_info(&self) -> bool {
        self.envelope == Envelope::Debezium
    }

    /// Encodes `ev` into `batch`: a flat delete is a tombstone; a Debezium
    /// delete is followed by a tombstone for compaction, as Debezium does.
    pub fn emit(
        &mut self,
        ev: &ChangeEvent,
        info: Option<&SourceInfo>,
        batch: &mut Batch,
    ) -> Result<(), SourceError> {
        let mut encoded = match info {
            Some(info) => self.encoder.encode_with(ev, info),
            None => self.encoder.encode(ev),
        }
        .map_err(|e| SourceError::Codec {
            table: ev.table.to_string(),
            source: e,
        })?;
        // The encoder's buffers have room to spare (~1.6 KB for a ~0.5 KB
        // narrow row); batches wait in memory, so give it back (glibc shrinks
        // in place).
        for buf in [&mut encoded.key, &mut encoded.value].into_iter().flatten() {
            buf.shrink_to_fit();
        }
        if !self.tables.contains_key(&ev.table) {
            let topic = self
                .cfg
                .topic_for(&ev.table.database, &ev.table.table)
                .into();
            let out = TableOut {
                topic,
                counters: Default::default(),
            };
            self.tables.insert(ev.table.clone(), out);
        }
        let Some(out) = self.tables.get_mut(&ev.table) else {
            return Ok(()); // inserted just above
        };
        let counter = out.counters[op_index(ev.op)].get_or_insert_with(|| {
            METRICS.source_rows_read.with_label_values(&[
                &self.cfg.name,
                &ev.table.table,
                ev.op.label(),
            ])
        });
        counter.inc();
        let tombstone_after =
            ev.op == Op::Delete && self.envelope == Envelope::Debezium && encoded.key.is_some();
        let key_copy = if tombstone_after {
            encoded.key.clone()
        } else {
            None
        };
        if encoded.key.is_some() || encoded.value.is_some() {
            batch.push(&out.topic, encoded.key, encoded.value);
        }
        if tombstone_after {
            batch.push(&out.topic, key_copy, None);
        }
        Ok(())
    }

    /// Forgets cached topics (after a RENAME the same id may map elsewhere).
    pub fn forget_topics(&mut self) {
        self.tables.clear();
    }
}
