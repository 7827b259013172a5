//! The publishing half of a binlog source: one Kafka transaction per [`Batch`].
//!
//! The reader decodes and encodes the next batch while this task commits the
//! previous one; the channel between them holds one batch, so memory stays
//! bounded by about three batches. A batch's data messages and its position
//! record go into one Kafka transaction (design.md §5); with
//! `delivery = "at-least-once"` the data is acknowledged before the position
//! is written.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::offset::BinlogOffset;
use crate::kafka::producer::PipelineProducer;
use crate::metrics::METRICS;
use crate::source::SourceError;

/// One Kafka record.
#[derive(Debug)]
pub struct Msg {
    /// Topic.
    pub topic: Arc<str>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None`: tombstone).
    pub value: Option<Vec<u8>>,
}

/// The records of one Kafka transaction and the position after them.
#[derive(Debug, Default)]
pub struct Batch {
    /// Data (and heartbeat) records, in source order.
    pub messages: Vec<Msg>,
    /// The position to store with them (`None` during a snapshot).
    pub offset: Option<BinlogOffset>,
    /// Source transactions completed in this batch.
    pub transactions: u64,
    /// Approximate encoded bytes.
    pub bytes: usize,
}

impl Batch {
    /// Adds a record.
    pub fn push(&mut self, topic: &Arc<str>, key: Option<Vec<u8>>, value: Option<Vec<u8>>) {
        self.bytes += key.as_ref().map_or(0, Vec::len) + value.as_ref().map_or(0, Vec::len) + 64;
        self.messages.push(Msg {
            topic: Arc::clone(topic),
            key,
            value,
        });
    }

    /// True when there is nothing to publish or store.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.offset.is_none()
    }
}

/// Where positions are stored.
pub struct OffsetTarget {
    /// Offsets topic.
    pub topic: String,
    /// This source's record key.
    pub key: String,
}

/// Publishes batches until the channel closes; returns the first error.
pub async fn run(
    mut producer: PipelineProducer,
    mut rx: mpsc::Receiver<Batch>,
    offsets: OffsetTarget,
    pipeline: String,
) -> Result<(), SourceError> {
    let result = async {
        while let Some(batch) = rx.recv().await {
            publish(&mut producer, &batch, &offsets).await?;
            if let Some(o) = &batch.offset {
                let pos = o.position();
                METRICS
                    .source_binlog_file_number
                    .with_label_values(&[&pipeline])
                    .set(i64::try_from(pos.file_seq().unwrap_or(0)).unwrap_or(i64::MAX));
                METRICS
                    .source_binlog_position_bytes
                    .with_label_values(&[&pipeline])
                    .set(i64::try_from(pos.pos).unwrap_or(i64::MAX));
            }
            METRICS
                .source_transactions
                .with_label_values(&[&pipeline])
                .inc_by(batch.transactions);
        }
        Ok::<(), SourceError>(())
    }
    .await;
    if result.is_err() {
        producer.abort().await;
    }
    result
}

async fn publish(
    producer: &mut PipelineProducer,
    batch: &Batch,
    offsets: &OffsetTarget,
) -> Result<(), SourceError> {
    producer.begin()?;
    for m in &batch.messages {
        producer
            .send(&m.topic, m.key.as_deref(), m.value.as_deref(), None)
            .await?;
    }
    if let Some(o) = &batch.offset {
        let value = serde_json::to_vec(o).map_err(|e| SourceError::Setup(e.to_string()))?;
        if !producer.is_transactional() {
            producer.commit().await?;
        }
        producer
            .send(
                &offsets.topic,
                Some(offsets.key.as_bytes()),
                Some(&value),
                None,
            )
            .await?;
    }
    producer.commit().await?;
    Ok(())
}
