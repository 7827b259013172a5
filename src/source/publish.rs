//! Publishing, shared by both sources: one Kafka transaction per [`Batch`].
//!
//! **Pipelining.** A source's reader hands batches to a publisher task
//! ([`Publisher`]) over a bounded channel. The task owns the producer and
//! sends and commits batch N while the reader decodes and encodes batch N+1
//! (on another core, if there is one). Memory stays bounded by the channel's
//! capacity plus the batch being published and the one being filled.
//!
//! **Exactly once.** A batch carries its data messages and the source
//! position after them ([`Checkpoint`]); both go into one Kafka transaction
//! (design.md §5), visible together or not at all. The offset record goes
//! last: sent first, its partition joined the transaction alone and the
//! rows' partitions waited for a second AddPartitionsToTxn round trip before
//! they could be sent (p50 commit-to-visible latency 16 ms against 13 ms).
//! With `delivery = "at-least-once"` the rows are acknowledged before the
//! position is written. Batches end on source transaction boundaries (a binlog
//! transaction larger than `max_transaction_rows` is split, the position then
//! counting its rows already sent), so the stored position is always exact.
//!
//! **Grouping.** Batches that queued up while a transaction was committing go
//! into the next Kafka transaction together (a backlog is published in fewer,
//! larger transactions: each costs several broker round trips); the last
//! batch's position is stored for all of them, until the group holds
//! `max_batch_bytes` of encoded records (the source's byte bound: a Kafka
//! transaction holds at most that much more than its first batch). A batch marked `open` is
//! delivered without committing: the binlog snapshot is one Kafka transaction
//! sent in chunks, so an interrupted snapshot is aborted as a whole.
//!
//! **Outcome and buffers.** A batch may carry a `done` channel (the poll
//! source): its outcome is reported there, with the published messages'
//! buffers for the encoder to reuse, and the reader counts its position as
//! committed only from that report. Without one (the binlog source) each
//! record's buffers are freed as soon as the producer has copied them, and a
//! failure ends the task with the error.
//!
//! **Failure.** The first failed batch ends the task. Whenever the task ends
//! (a failure, or the channel closed inside an open transaction) it aborts
//! the open transaction rather than leave it to the transaction timeout.

use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::wire::Wire;
use super::SourceError;
use crate::connect::Framed;
use crate::kafka::producer::PipelineProducer;

/// One Kafka record.
#[derive(Debug)]
pub struct Msg {
    /// Topic.
    pub topic: Arc<str>,
    /// Key bytes.
    pub key: Option<Vec<u8>>,
    /// Value bytes (`None`: tombstone).
    pub value: Option<Vec<u8>>,
    /// The registry schemas of a key and value the encoder wrote in the
    /// wire format (Avro or JSON Schema), schema id zero
    /// ([`crate::connect::Encoded::key_framed`]); `None`: Connect JSON,
    /// which `wire::Wire` converts when it must.
    pub framed: [Option<Framed>; 2],
    /// Headers (only transforms add them).
    pub headers: Vec<crate::transforms::Header>,
}

/// A source position and the offsets-topic key it is stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint<O> {
    /// Record key in the offsets topic (per source, or per polled table).
    pub key: Arc<str>,
    /// The position, stored as its JSON.
    pub offset: O,
}

/// A position type a source stores with its batches.
pub trait SourceOffset: Serialize + Send + Sync + 'static {
    /// Records a committed batch in the source's metrics (`offset`: the
    /// position stored with it, `transactions`: source transactions in it).
    fn committed(pipeline: &str, offset: Option<&Self>, transactions: u64);
}

/// What a `done` channel receives: on success, the published messages'
/// buffers, for the encoder to reuse.
pub type Outcome = Result<Vec<Vec<u8>>, SourceError>;

/// The records of one Kafka transaction and the position after them.
#[derive(Debug)]
pub struct Batch<O> {
    /// Data (and heartbeat) records, in source order.
    pub messages: Vec<Msg>,
    /// The position to store with them (`None`: a snapshot chunk, or a poll
    /// in bulk mode, which keeps no offset).
    pub offset: Option<Checkpoint<O>>,
    /// Source transactions completed in this batch.
    pub transactions: u64,
    /// Approximate encoded bytes.
    pub bytes: usize,
    /// More of the same Kafka transaction follows (the snapshot is one
    /// transaction, sent in chunks): deliver these records but do not commit.
    pub open: bool,
    /// Carries a chunk of a chunked snapshot: ends its Kafka transaction, so
    /// a crash aborts (and the restart reads again) at most one chunk.
    pub chunk: bool,
    /// Where the outcome is reported, with the buffers (see the module doc).
    pub done: Option<oneshot::Sender<Outcome>>,
    /// Told once the batch's Kafka transaction (and so its position) is
    /// committed; dropped unsent when it fails (a signal acknowledged only
    /// once it is stored, see `binlog::control`).
    pub stored: Vec<oneshot::Sender<()>>,
}

impl<O> Default for Batch<O> {
    fn default() -> Self {
        Batch {
            messages: Vec::new(),
            offset: None,
            transactions: 0,
            bytes: 0,
            open: false,
            chunk: false,
            done: None,
            stored: Vec::new(),
        }
    }
}

impl<O> Batch<O> {
    /// Adds a record.
    pub fn push(&mut self, topic: &Arc<str>, key: Option<Vec<u8>>, value: Option<Vec<u8>>) {
        self.push_framed(topic, key, value, [None, None]);
    }

    /// Adds a record whose key and/or value the encoder wrote in the wire
    /// format (`framed`: their schemas, see [`Msg::framed`]).
    pub fn push_framed(
        &mut self,
        topic: &Arc<str>,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        framed: [Option<Framed>; 2],
    ) {
        self.bytes += key.as_ref().map_or(0, Vec::len) + value.as_ref().map_or(0, Vec::len) + 64;
        self.messages.push(Msg {
            topic: Arc::clone(topic),
            key,
            value,
            framed,
            headers: Vec::new(),
        });
    }

    /// True when there is nothing to publish or store.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty() && self.offset.is_none()
    }

    /// Appends the next batch: its records follow these, and its position
    /// (the later one) is stored for both.
    fn append(&mut self, next: Batch<O>) {
        self.messages.extend(next.messages);
        if next.offset.is_some() {
            self.offset = next.offset;
        }
        self.transactions += next.transactions;
        self.bytes += next.bytes;
        self.open = next.open;
        self.chunk = next.chunk;
        if next.done.is_some() {
            self.done = next.done;
        }
        self.stored.extend(next.stored);
    }

    /// True when no later batch may be appended: an open (snapshot) batch
    /// goes out without a commit, a batch with a `done` channel is reported
    /// alone, and a snapshot chunk ends its transaction.
    fn closed(&self) -> bool {
        self.open || self.chunk || self.done.is_some()
    }
}

/// The next batch to publish: one received batch plus the batches already
/// waiting behind it, up to and including one that [closes](Batch::closed)
/// the group or brings it to `max_bytes`. An open batch waiting behind a
/// complete one is not taken (the complete one's position and
/// acknowledgements belong to a commit): it is left in `carry`.
fn merge_waiting<O>(
    mut batch: Batch<O>,
    rx: &mut mpsc::Receiver<Batch<O>>,
    max_bytes: usize,
    carry: &mut Option<Batch<O>>,
) -> Batch<O> {
    while !batch.closed() && batch.bytes < max_bytes {
        match rx.try_recv() {
            Ok(next) if next.open => {
                *carry = Some(next);
                break;
            }
            Ok(next) => batch.append(next),
            Err(_) => break,
        }
    }
    batch
}

/// A running publisher task and the channel that feeds it.
pub struct Publisher<O> {
    tx: mpsc::Sender<Batch<O>>,
    task: JoinHandle<Result<(), SourceError>>,
}

impl<O: SourceOffset> Publisher<O> {
    /// Starts a task publishing through `producer`; the channel holds `queue`
    /// batches, and waiting batches are grouped up to `max_bytes`. Positions
    /// go to `offsets_topic`; `pipeline` labels metrics. `wire` rewrites the
    /// records into a registry format before each transaction begins.
    pub fn spawn(
        producer: PipelineProducer,
        queue: usize,
        max_bytes: usize,
        offsets_topic: String,
        pipeline: String,
        wire: Option<Wire>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(queue);
        let task = tokio::spawn(run(producer, rx, max_bytes, offsets_topic, pipeline, wire));
        Publisher { tx, task }
    }

    /// The channel to hand batches to (it fails once the task has ended).
    pub fn sender(&self) -> &mpsc::Sender<Batch<O>> {
        &self.tx
    }

    /// Closes the channel and waits for the task: the first error it did not
    /// already report on a batch's `done` channel. Close every clone of the
    /// sender first.
    pub async fn finish(self) -> Result<(), SourceError> {
        drop(self.tx);
        self.task.await.map_err(SourceError::Publisher)?
    }
}

/// Publishes batches until the channel closes or one fails.
async fn run<O: SourceOffset>(
    mut producer: PipelineProducer,
    mut rx: mpsc::Receiver<Batch<O>>,
    max_bytes: usize,
    offsets_topic: String,
    pipeline: String,
    mut wire: Option<Wire>,
) -> Result<(), SourceError> {
    let result = async {
        let mut carry = None;
        loop {
            let batch = match carry.take() {
                Some(b) => b,
                None => match rx.recv().await {
                    Some(b) => b,
                    None => break,
                },
            };
            let mut batch = merge_waiting(batch, &mut rx, max_bytes, &mut carry);
            let done = batch.done.take();
            let outcome = match wire.as_mut() {
                // Every schema id is known before the transaction begins.
                Some(w) => w.convert(&mut batch.messages).await,
                None => Ok(()),
            };
            let topics = distinct_topics(&batch.messages);
            let outcome = match outcome {
                Ok(()) => publish(&mut producer, &mut batch, &offsets_topic, done.is_some()).await,
                Err(e) => Err(e),
            };
            if outcome.is_ok() {
                for s in batch.stored.drain(..) {
                    let _ = s.send(());
                }
                for t in &topics {
                    crate::active_topics::record(&pipeline, t);
                }
                let offset = batch.offset.as_ref().map(|c| &c.offset);
                O::committed(&pipeline, offset, batch.transactions);
            }
            match (outcome, done) {
                // A reader that is gone is failing or stopping already: nothing to tell.
                (Ok(spent), Some(done)) => drop(done.send(Ok(spent))),
                (Ok(_), None) => {}
                (Err(e), Some(done)) => {
                    drop(done.send(Err(e)));
                    return Ok(());
                }
                (Err(e), None) => return Err(e),
            }
        }
        Ok(())
    }
    .await;
    producer.abort().await;
    result
}

/// The distinct topics of `messages`. A table's messages share its topic's
/// `Arc` (the emitter's, or the one the transforms routed to), so pointers
/// are compared, and a run of one table's rows checks only the last topic
/// (a batch spread over 500 tables would otherwise compare each record
/// with hundreds of topics).
fn distinct_topics(messages: &[Msg]) -> Vec<Arc<str>> {
    let mut topics: Vec<Arc<str>> = Vec::new();
    for m in messages {
        let seen = topics.last().is_some_and(|t| Arc::ptr_eq(t, &m.topic))
            || topics.iter().any(|t| Arc::ptr_eq(t, &m.topic));
        if !seen {
            topics.push(Arc::clone(&m.topic));
        }
    }
    topics
}

/// Publishes one batch: the records, the offset record, then the commit.
/// Returns the records' buffers when `keep_buffers`, else frees each as soon
/// as the producer has copied it (halves the memory a batch in flight takes).
async fn publish<O: SourceOffset>(
    producer: &mut PipelineProducer,
    batch: &mut Batch<O>,
    offsets_topic: &str,
    keep_buffers: bool,
) -> Result<Vec<Vec<u8>>, SourceError> {
    producer.begin()?;
    let mut spent = Vec::with_capacity(if keep_buffers {
        batch.messages.len() * 2
    } else {
        0
    });
    for m in batch.messages.drain(..) {
        if !keep_buffers && m.headers.is_empty() {
            // The buffer goes to the producer as it is (no copy).
            if let Some(value) = m.value {
                producer
                    .send_owned(&m.topic, m.key.as_deref(), value)
                    .await?;
                continue;
            }
        }
        let headers = (!m.headers.is_empty()).then(|| {
            m.headers
                .iter()
                .fold(rdkafka::message::OwnedHeaders::new(), |h, x| {
                    h.insert(rdkafka::message::Header {
                        key: &x.key,
                        value: x.value.as_deref(),
                    })
                })
        });
        producer
            .send(&m.topic, m.key.as_deref(), m.value.as_deref(), headers)
            .await?;
        if keep_buffers {
            spent.extend(m.key);
            spent.extend(m.value);
        }
    }
    if batch.open {
        // Delivered as sent; the producer bounds what is unacknowledged.
        return Ok(spent);
    }
    if let Some(c) = &batch.offset {
        let value = serde_json::to_vec(&c.offset).map_err(SourceError::OffsetEncode)?;
        if !producer.is_transactional() {
            // At-least-once: the rows must be acknowledged before the position.
            producer.commit().await?;
        }
        producer
            .send(offsets_topic, Some(c.key.as_bytes()), Some(&value), None)
            .await?;
    }
    producer.commit().await?;
    Ok(spent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize)]
    struct Pos(u64);

    impl SourceOffset for Pos {
        fn committed(_: &str, _: Option<&Self>, _: u64) {}
    }

    fn batch(rows: usize, pos: u64, open: bool) -> Batch<Pos> {
        let topic: Arc<str> = "t".into();
        let mut b = Batch {
            offset: (pos > 0).then(|| Checkpoint {
                key: "k".into(),
                offset: Pos(pos),
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

    /// [`merge_waiting`] where no open batch is left behind.
    fn merge(batch: Batch<Pos>, rx: &mut mpsc::Receiver<Batch<Pos>>, max: usize) -> Batch<Pos> {
        let mut carry = None;
        let merged = merge_waiting(batch, rx, max, &mut carry);
        assert!(carry.is_none(), "no open batch waited");
        merged
    }

    #[test]
    fn distinct_topics_are_found_once_each_in_order() {
        let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
        let mut batch = Batch::<Pos>::default();
        for t in [&a, &a, &b, &a, &b, &b] {
            batch.push(t, None, Some(vec![1]));
        }
        let topics = distinct_topics(&batch.messages);
        assert_eq!(topics.len(), 2);
        assert!(Arc::ptr_eq(&topics[0], &a) && Arc::ptr_eq(&topics[1], &b));
    }

    #[tokio::test]
    async fn waiting_batches_go_into_one_transaction_with_the_last_position() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(batch(3, 200, false)).await.expect("send");
        tx.send(batch(1, 300, false)).await.expect("send");
        let merged = merge(batch(2, 100, false), &mut rx, usize::MAX);
        assert_eq!(merged.messages.len(), 6);
        assert_eq!(merged.transactions, 3);
        assert_eq!(merged.offset.map(|c| c.offset), Some(Pos(300)));
        assert!(rx.try_recv().is_err(), "everything waiting was taken");
    }

    #[tokio::test]
    async fn an_open_snapshot_chunk_is_never_merged_into() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(batch(1, 0, true)).await.expect("send");
        let first = merge(batch(2, 0, true), &mut rx, usize::MAX);
        assert_eq!(first.messages.len(), 2, "an open batch is delivered alone");
        // A complete batch takes no open batch behind it: its position and
        // acknowledgements belong to a commit, which the open one defers.
        tx.send(batch(3, 0, false)).await.expect("send");
        let mut carry = None;
        let next = merge_waiting(batch(1, 100, false), &mut rx, usize::MAX, &mut carry);
        assert_eq!(next.messages.len(), 1);
        assert_eq!(next.offset.map(|c| c.offset), Some(Pos(100)));
        let carried = carry.expect("the open batch is carried to the next round");
        assert!(carried.open);
        assert_eq!(carried.messages.len(), 1);
        assert_eq!(rx.try_recv().map(|b| b.messages.len()).ok(), Some(3));
    }

    #[tokio::test]
    async fn a_snapshot_chunk_ends_its_transaction() {
        let chunk = |pos| Batch {
            chunk: true,
            ..batch(3, pos, false)
        };
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(chunk(200)).await.expect("send");
        tx.send(batch(1, 300, false)).await.expect("send");
        // Stream rows before a chunk go with it; nothing after it does.
        let first = merge(batch(2, 100, false), &mut rx, usize::MAX);
        assert_eq!(first.messages.len(), 5);
        assert_eq!(first.offset.map(|c| c.offset), Some(Pos(200)));
        tx.send(chunk(400)).await.expect("send");
        let second = merge(chunk(350), &mut rx, usize::MAX);
        assert_eq!(
            second.messages.len(),
            3,
            "two chunks never share a transaction"
        );
        assert_eq!(rx.try_recv().map(|b| b.messages.len()).ok(), Some(1));
    }

    #[tokio::test]
    async fn a_batch_awaiting_its_outcome_is_reported_alone() {
        let (tx, mut rx) = mpsc::channel(4);
        tx.send(batch(1, 200, false)).await.expect("send");
        let mut first = batch(2, 100, false);
        let (done, _outcome) = oneshot::channel();
        first.done = Some(done);
        let first = merge(first, &mut rx, usize::MAX);
        assert_eq!(first.messages.len(), 2);
        assert!(rx.try_recv().is_ok(), "the next batch still waits");
    }

    #[tokio::test]
    async fn grouping_stops_at_max_bytes() {
        // Each record counts 1 key byte + 64: a batch of 2 is 130 bytes.
        let (tx, mut rx) = mpsc::channel(4);
        for pos in [200, 300, 400] {
            tx.send(batch(2, pos, false)).await.expect("send");
        }
        let first = merge(batch(2, 100, false), &mut rx, 260);
        assert_eq!(first.messages.len(), 4, "grouped up to the bound");
        assert_eq!(first.offset.map(|c| c.offset), Some(Pos(200)));
        let next = merge(rx.try_recv().expect("waiting"), &mut rx, 260);
        assert_eq!(next.messages.len(), 4);
        assert_eq!(next.offset.map(|c| c.offset), Some(Pos(400)));
    }
}
