//! The poll source's publisher: a task that owns the producer and writes each
//! batch in its own Kafka transaction, so the poller reads and encodes the next
//! batch while this one is sent and committed (on another core, if there is one).
//!
//! **Exactly-once.** A batch carries its messages and the offset record of the
//! table after its last row; both go into the same transaction, which makes
//! them visible together or not at all (the offset record is sent first: its
//! partition joins the transaction while the rows stream, not after them). In
//! at-least-once delivery the offset record follows the acknowledged rows. Batches are
//! published in the order they arrive. The poller hands over a batch only after
//! the previous one reported its outcome on its `done` channel, and takes a
//! position as committed only from that report.
//!
//! **Bounded.** The channel holds one batch and the poller waits for the
//! previous batch's outcome before sending the next, so at most two batches
//! exist: one being published and one being filled.
//!
//! **Failure.** A failed batch is reported on its `done` channel, its
//! transaction aborted, and the task ends; the poller then fails with that
//! error. When the channel closes (the poller finished or failed), the task
//! aborts any open transaction and ends.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::SourceError;
use crate::connect::Encoded;
use crate::kafka::producer::PipelineProducer;

/// One batch: one Kafka transaction.
pub(super) struct Batch {
    /// The table's topic.
    pub topic: Arc<str>,
    /// Encoded rows, in order.
    pub messages: Vec<Encoded>,
    /// The offset record (key, JSON value) committed with the rows; `None` in
    /// bulk mode, which keeps no offset.
    pub offset: Option<(Arc<str>, Vec<u8>)>,
    /// Where the batch's outcome is reported.
    pub done: oneshot::Sender<Outcome>,
}

/// A batch's outcome: on success, the buffers of its messages, for the
/// encoder to reuse.
pub(super) type Outcome = Result<Vec<Vec<u8>>, SourceError>;

/// Publishes batches until the channel closes or one fails.
pub(super) async fn run(
    mut producer: PipelineProducer,
    mut rx: mpsc::Receiver<Batch>,
    offsets_topic: String,
) {
    while let Some(batch) = rx.recv().await {
        let done = batch.done;
        let result = publish(
            &mut producer,
            &batch.topic,
            batch.messages,
            batch.offset,
            &offsets_topic,
        )
        .await;
        let failed = result.is_err();
        // A poller that is gone is failing or stopping already: nothing to tell.
        let _ = done.send(result);
        if failed {
            break;
        }
    }
    // After a failure, or a channel closed inside an open transaction: abort
    // now rather than leave it to the transaction timeout.
    producer.abort().await;
}

/// Sends one batch and its offset record, then commits; returns the
/// messages' buffers (the producer has copied them) for reuse.
async fn publish(
    producer: &mut PipelineProducer,
    topic: &str,
    messages: Vec<Encoded>,
    offset: Option<(Arc<str>, Vec<u8>)>,
    offsets_topic: &str,
) -> Result<Vec<Vec<u8>>, SourceError> {
    producer.begin()?;
    let mut offset = offset;
    if producer.is_transactional() {
        // In a transaction the order does not matter (all or nothing), and the
        // offset record sent first has its partition added to the transaction
        // and its request sent while the rows stream, not after them.
        if let Some((key, value)) = offset.take() {
            producer
                .send(offsets_topic, Some(key.as_bytes()), Some(&value), None)
                .await?;
        }
    }
    let mut spent = Vec::with_capacity(messages.len() * 2);
    for m in messages {
        producer
            .send(topic, m.key.as_deref(), m.value.as_deref(), None)
            .await?;
        spent.extend(m.key);
        spent.extend(m.value);
    }
    if let Some((key, value)) = offset {
        // At-least-once: data must be acknowledged before the position.
        producer.commit().await?;
        producer
            .send(offsets_topic, Some(key.as_bytes()), Some(&value), None)
            .await?;
    }
    producer.commit().await?;
    Ok(spent)
}
