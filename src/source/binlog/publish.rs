//! The publishing half of a binlog source: one Kafka transaction per [`Batch`].
//!
//! The reader decodes and encodes the next batches while this task commits the
//! previous one; the channel between them holds [`QUEUE_BATCHES`] batches, so
//! memory stays bounded by that many plus two. Batches that queued up while a
//! transaction was committing go into the next Kafka transaction together (a
//! backlog is published in fewer, larger transactions: each one costs several
//! broker round trips); every batch ends at a source transaction end (or is a
//! split of one, with its row count), so the last batch's position is exact
//! for all of them. A batch's data messages and its position
//! record go into one Kafka transaction (design.md §5); with
//! `delivery = "at-least-once"` the data is acknowledged before the position
//! is written. A batch marked `open` is delivered without committing: the
//! snapshot uses that to be one Kafka transaction, so an interrupted snapshot
//! is aborted as a whole and never seen by `read_committed` consumers.

use std::sync::Arc;

use tokio::sync::mpsc;

use super::offset::BinlogOffset;
use crate::kafka::producer::PipelineProducer;
use crate::metrics::METRICS;
use crate::source::SourceError;

/// Batches the channel from the reader holds (streaming).
pub const QUEUE_BATCHES: usize = 4;

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
    /// More of the same Kafka transaction follows (the snapshot is one
    /// transaction, sent in chunks): deliver these records but do not commit.
    pub open: bool,
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

    /// Appends the next batch: its records follow these, and its position
    /// (the later one) is stored for both.
    fn append(&mut self, next: Batch) {
        self.messages.extend(next.messages);
        if next.offset.is_some() {
            self.offset = next.offset;
        }
        self.transactions += next.transactions;
        self.bytes += next.bytes;
        self.open = next.open;
    }
}

/// The next batch to publish: one received batch plus the batches already
/// waiting behind it. Appending stops after an `open` (snapshot) batch: its
/// records go out without a commit, and the position of what came before it
/// is stored with the batch that completes that transaction.
fn merge_waiting(mut batch: Batch, rx: &mut mpsc::Receiver<Batch>) -> Batch {
    while !batch.open {
        match rx.try_recv() {
            Ok(next) => batch.append(next),
            Err(_) => break,
        }
    }
    batch
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
            let batch = merge_waiting(batch, &mut rx);
            let (transactions, offset) = (batch.transactions, batch.offset.clone());
            publish(&mut producer, batch, &offsets).await?;
            if let Some(o) = &offset {
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
                .inc_by(transactions);
        }
        Ok::<(), SourceError>(())
    }
    .await;
    // On an error, or a channel closed inside an open (snapshot) transaction:
    // abort now rather than leave it to the transaction timeout.
    producer.abort().await;
    result
}

/// Publishes one batch; each record's buffers are freed as soon as the
/// producer has copied them (halves the memory a batch in flight takes).
async fn publish(
    producer: &mut PipelineProducer,
    batch: Batch,
    offsets: &OffsetTarget,
) -> Result<(), SourceError> {
    producer.begin()?;
    for m in batch.messages {
        producer
            .send(&m.topic, m.key.as_deref(), m.value.as_deref(), None)
            .await?;
    }
    if batch.open {
        return Ok(producer.flush_deliveries().await?);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(rows: usize, pos: u64, open: bool) -> Batch {
        let topic: Arc<str> = "t".into();
        let mut b = Batch {
            offset: (pos > 0).then(|| BinlogOffset {
                file: "bin.000001".into(),
                pos,
                ..BinlogOffset::default()
            }),
            transactions: 1,
            open,
            ..Batch::default()
        };
        for i in 0..rows {
            b.push(&topic, Some(vec![u8::try_from(i).unwrap_or(0)]), None);
        }
        b
    }

    #[tokio::test]
    async fn waiting_batches_go_into_one_transaction_with_the_last_position() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(batch(3, 200, false)).await.expect("send");
        tx.send(batch(1, 300, false)).await.expect("send");
        let merged = merge_waiting(batch(2, 100, false), &mut rx);
        assert_eq!(merged.messages.len(), 6);
        assert_eq!(merged.transactions, 3);
        assert_eq!(merged.offset.map(|o| o.pos), Some(300));
        assert!(rx.try_recv().is_err(), "everything waiting was taken");
    }

    #[tokio::test]
    async fn an_open_snapshot_chunk_is_never_merged_into() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(batch(1, 0, true)).await.expect("send");
        let first = merge_waiting(batch(2, 0, true), &mut rx);
        assert_eq!(first.messages.len(), 2, "an open batch is delivered alone");
        // A complete batch takes what follows, up to and including an open one.
        tx.send(batch(1, 0, false)).await.expect("send");
        let next = merge_waiting(batch(1, 100, false), &mut rx);
        assert_eq!(next.messages.len(), 2);
        assert_eq!(next.offset.map(|o| o.pos), Some(100));
        assert_eq!(rx.try_recv().map(|b| b.messages.len()).ok(), Some(1));
    }
}
