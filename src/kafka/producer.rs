//! The producer sources write through.
//!
//! In `exactly-once` delivery it is transactional: `transactional.id` is
//! derived from the source name, so a second instance of the same source
//! fences the first (zombie fencing), and one Kafka transaction holds a batch's
//! data messages together with the source position record. In
//! `at-least-once` delivery it is idempotent only: the batch is flushed and
//! every delivery confirmed before the position record is written.
//!
//! librdkafka's transaction calls block, so they run on tokio's blocking pool.
//!
//! Delivery reports are counted, not awaited one by one: the producer's
//! context tallies the reports of the current batch (and keeps its first
//! error), and waiting for a batch's deliveries is waiting until the tally
//! reaches the number of records sent. No allocation or channel per record.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientContext, Message};
use tokio::sync::Notify;

use super::topic_handle::TopicHandles;
use super::{client, KafkaError};
use crate::config::KafkaConfig;
use crate::metrics::METRICS;

const TXN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long each warm-up metadata request before `init_transactions` may take.
const WARM_UP_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a batch's transaction may stay open (Kafka Streams' EOS default).
/// A crashed source leaves its open transaction to this timeout, and until
/// then `read_committed` readers of the shared offsets topic (every other
/// source starting up) cannot read past it: keep it short. Batches commit in
/// milliseconds to seconds.
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Key and value bytes a pipeline producer may have queued in librdkafka
/// and not yet acknowledged; past it, [`PipelineProducer::send`] waits for
/// delivery reports. librdkafka's own bound (`queue.buffering.max.kbytes`,
/// 1 GiB by default) must stay above the 64 MiB record limit, so this is
/// where a source's copy of its records is bounded in bytes. Measured
/// (`scripts/bench.sh debezium`): 4 MiB keeps the broker as busy as an
/// unbounded queue did on this machine (and 8 MiB, at 8 MiB more RSS).
pub const MAX_UNACKED_BYTES: u64 = 4 << 20;

/// Bytes counted per record beside its key and value: librdkafka's message
/// header and our tally of it (so a stream of tiny records is bounded too).
const RECORD_OVERHEAD: u64 = 128;

/// Delivery reports of the current epoch, counted by the producer's context.
#[derive(Default)]
struct Tally {
    /// Epoch whose reports count; reports of older (aborted) epochs are ignored.
    epoch: usize,
    /// Reports received (delivered or failed) in this epoch.
    acked: u64,
    /// Bytes of the records reported in this epoch (as [`record_bytes`]).
    acked_bytes: u64,
    /// When a send waits for room: the reported bytes it waits for.
    wanted_bytes: Option<u64>,
    /// The first failed delivery of this epoch.
    first_error: Option<RdError>,
    /// When a batch waits: the count of reports it waits for.
    wanted: Option<u64>,
    /// The producer hit a fatal error (fenced by a newer instance): no report
    /// of what it still holds may ever come, so waiting ends with this.
    fatal: Option<RdError>,
}

/// The tally shared by the producer and its context (the poll thread).
#[derive(Default)]
struct Deliveries {
    tally: Mutex<Tally>,
    /// Woken when the report a waiting batch wants has arrived (a wake-up
    /// before the waiter sleeps leaves a permit).
    all_reported: Notify,
}

impl Deliveries {
    fn lock(&self) -> std::sync::MutexGuard<'_, Tally> {
        // The tally stays consistent even if a holder panicked: only counters.
        self.tally.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// librdkafka context of a pipeline producer: counts delivery reports.
struct CountingContext {
    deliveries: Arc<Deliveries>,
}

impl ClientContext for CountingContext {
    /// Logs client errors (as rdkafka's default does); a fatal one (the
    /// producer was fenced) also wakes a batch waiting for its reports, which
    /// librdkafka would otherwise leave in its queue until
    /// `message.timeout.ms` (5 minutes by default).
    fn error(&self, error: RdError, reason: &str) {
        tracing::error!(error = %error, reason, "librdkafka producer error");
        let fatal = matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fatal)
                | Some(RDKafkaErrorCode::Fenced)
                | Some(RDKafkaErrorCode::ProducerFenced)
                | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        );
        if fatal {
            self.deliveries.lock().fatal.get_or_insert(error);
            self.deliveries.all_reported.notify_one();
        }
    }
}

impl ProducerContext for CountingContext {
    /// The epoch the record was sent in.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, epoch: usize) {
        let done = {
            let mut t = self.deliveries.lock();
            if t.epoch != epoch {
                return;
            }
            t.acked += 1;
            let message = match result {
                Ok(m) => m,
                Err((e, m)) => {
                    if t.first_error.is_none() {
                        t.first_error = Some(e.clone());
                    }
                    m
                }
            };
            t.acked_bytes += record_bytes(
                message.key().map_or(0, <[u8]>::len),
                message.payload().map_or(0, <[u8]>::len),
            );
            let done = t.wanted.is_some_and(|w| t.acked >= w)
                || t.wanted_bytes.is_some_and(|w| t.acked_bytes >= w);
            if done {
                t.wanted = None;
                t.wanted_bytes = None;
            }
            done
        };
        if done {
            self.deliveries.all_reported.notify_one();
        }
    }
}

/// A producer for one pipeline, transactional or not.
pub struct PipelineProducer {
    /// Handles of the topics records went to, with their own clone of `inner`.
    handles: TopicHandles<ThreadedProducer<CountingContext>>,
    inner: ThreadedProducer<CountingContext>,
    deliveries: Arc<Deliveries>,
    transactional: bool,
    pipeline: String,
    /// Epoch of the records being sent (bumped by [`PipelineProducer::abort`]).
    epoch: usize,
    /// Records sent in this epoch.
    sent: u64,
    /// Their bytes (as [`record_bytes`]).
    sent_bytes: u64,
    in_txn: bool,
    /// `sluice_source_messages_produced_total` of this pipeline (one lookup, not one per record).
    produced: prometheus::IntCounter,
}

impl PipelineProducer {
    /// Creates the producer; with `transactional_id`, also runs
    /// `init_transactions` (which fences older instances and aborts their
    /// open transaction).
    pub async fn connect(
        kafka: &KafkaConfig,
        pipeline: &str,
        transactional_id: Option<String>,
    ) -> Result<PipelineProducer, KafkaError> {
        Self::connect_with_timeout(
            kafka,
            pipeline,
            transactional_id,
            DEFAULT_TRANSACTION_TIMEOUT,
        )
        .await
    }

    /// Like [`PipelineProducer::connect`], with the transaction timeout (how
    /// long one transaction may stay open; a `transaction.timeout.ms` in
    /// `[kafka.properties]` wins).
    pub async fn connect_with_timeout(
        kafka: &KafkaConfig,
        pipeline: &str,
        transactional_id: Option<String>,
        transaction_timeout: Duration,
    ) -> Result<PipelineProducer, KafkaError> {
        let deliveries = Arc::new(Deliveries::default());
        let inner: ThreadedProducer<CountingContext> = client::source_producer(
            kafka,
            transactional_id.as_deref(),
            transaction_timeout,
            CountingContext {
                deliveries: deliveries.clone(),
            },
        )?;
        let transactional = transactional_id.is_some();
        if transactional {
            let p = inner.clone();
            blocking(
                move || {
                    // librdkafka answers the first metadata request on its
                    // bootstrap connection, then replaces that connection by
                    // one per broker id. init_transactions started in between
                    // finds no broker up and retries only on its 500 ms
                    // timer (measured: 0.5 s of a binlog source's 0.6 s
                    // start). The second request returns once a broker
                    // connection is up, and the PID then comes in ~3 ms.
                    // The topic asked for is the transaction log, which the
                    // broker keeps (or creates) for init_transactions anyway:
                    // a producer's metadata request for a missing topic
                    // would create it. Failures are init_transactions' to report.
                    for _ in 0..2 {
                        let _ = p
                            .client()
                            .fetch_metadata(Some("__transaction_state"), WARM_UP_TIMEOUT);
                    }
                    p.init_transactions(TXN_TIMEOUT)
                },
                "init_transactions",
            )
            .await?;
        }
        Ok(PipelineProducer {
            handles: TopicHandles::new(inner.clone()),
            inner,
            deliveries,
            transactional,
            pipeline: pipeline.to_string(),
            epoch: 0,
            sent: 0,
            sent_bytes: 0,
            in_txn: false,
            produced: METRICS
                .source_messages_produced
                .with_label_values(&[pipeline]),
        })
    }

    /// Whether batches are Kafka transactions.
    pub fn is_transactional(&self) -> bool {
        self.transactional
    }

    /// Starts a batch (a transaction when transactional).
    pub fn begin(&mut self) -> Result<(), KafkaError> {
        if self.transactional && !self.in_txn {
            self.inner
                .begin_transaction()
                .map_err(|e| KafkaError::client("begin_transaction", e))?;
            self.in_txn = true;
        }
        Ok(())
    }

    /// Queues one record; waits (without blocking the runtime) while
    /// [`MAX_UNACKED_BYTES`] are unacknowledged or the local queue is full.
    pub async fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Option<OwnedHeaders>,
    ) -> Result<(), KafkaError> {
        let bytes = record_bytes(key.map_or(0, <[u8]>::len), value.map_or(0, <[u8]>::len));
        self.await_room(bytes).await?;
        match headers {
            // Records without headers (all of a source's data) go by topic handle.
            None => {
                let epoch = self.epoch;
                self.by_handle(value, |h, v| {
                    h.produce(topic, key, v, epoch).map_err(|code| (code, v))
                })
                .await?;
            }
            Some(h) => {
                let mut record: BaseRecord<'_, [u8], [u8], usize> =
                    BaseRecord::with_opaque_to(topic, self.epoch).headers(h);
                if let Some(k) = key {
                    record = record.key(k);
                }
                if let Some(v) = value {
                    record = record.payload(v);
                }
                loop {
                    match self.inner.send(record) {
                        Ok(()) => break,
                        Err((RdError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            queue_full_pause().await;
                        }
                        Err((e, _)) => return Err(self.produce_error(e)),
                    }
                }
            }
        }
        self.sent_one(bytes);
        Ok(())
    }

    /// As [`PipelineProducer::send`] for a record without headers whose
    /// value the caller gives up: librdkafka takes the buffer instead of a
    /// copy of it, and frees it once the record is delivered.
    pub async fn send_owned(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Vec<u8>,
    ) -> Result<(), KafkaError> {
        let bytes = record_bytes(key.map_or(0, <[u8]>::len), value.len());
        self.await_room(bytes).await?;
        let epoch = self.epoch;
        self.by_handle(value, |h, v| h.produce_owned(topic, key, v, epoch))
            .await?;
        self.sent_one(bytes);
        Ok(())
    }

    /// Queues a record by topic handle through `attempt`, which hands the
    /// value back when it fails; while librdkafka's queue is full, waits and
    /// tries again.
    async fn by_handle<V>(
        &mut self,
        mut value: V,
        mut attempt: impl FnMut(
            &mut TopicHandles<ThreadedProducer<CountingContext>>,
            V,
        ) -> Result<(), (RDKafkaErrorCode, V)>,
    ) -> Result<(), KafkaError> {
        loop {
            match attempt(&mut self.handles, value) {
                Ok(()) => return Ok(()),
                Err((RDKafkaErrorCode::QueueFull, back)) => {
                    value = back;
                    queue_full_pause().await;
                }
                Err((code, _)) => return Err(self.produce_error(RdError::MessageProduction(code))),
            }
        }
    }

    /// Counts one record queued, of `bytes`.
    fn sent_one(&mut self, bytes: u64) {
        self.sent += 1;
        self.sent_bytes += bytes;
        self.produced.inc();
    }

    /// Counts a failed produce call and names it.
    fn produce_error(&self, e: RdError) -> KafkaError {
        METRICS
            .source_produce_errors
            .with_label_values(&[&self.pipeline])
            .inc();
        KafkaError::client("produce", e)
    }

    /// Waits until a record of `bytes` fits in [`MAX_UNACKED_BYTES`] beside
    /// what is unacknowledged (a bigger record goes when nothing is).
    async fn await_room(&mut self, bytes: u64) -> Result<(), KafkaError> {
        let limit = MAX_UNACKED_BYTES.saturating_sub(bytes);
        loop {
            {
                let mut t = self.deliveries.lock();
                if let Some(e) = &t.fatal {
                    return Err(KafkaError::client("delivery", e.clone()));
                }
                let unacked = self.sent_bytes.saturating_sub(t.acked_bytes);
                if unacked <= limit || t.acked >= self.sent {
                    t.wanted_bytes = None;
                    return Ok(());
                }
                t.wanted_bytes = Some(self.sent_bytes - limit);
            }
            self.deliveries.all_reported.notified().await;
        }
    }

    /// Waits for every queued record's delivery report; the first failure wins.
    async fn await_deliveries(&mut self) -> Result<(), KafkaError> {
        loop {
            {
                let mut t = self.deliveries.lock();
                if let Some(e) = &t.fatal {
                    return Err(KafkaError::client("delivery", e.clone()));
                }
                if t.acked >= self.sent {
                    // Every report is in: start counting the next batch afresh.
                    t.acked = 0;
                    t.acked_bytes = 0;
                    t.wanted = None;
                    self.sent = 0;
                    self.sent_bytes = 0;
                    return t
                        .first_error
                        .take()
                        .map_or(Ok(()), |e| Err(KafkaError::client("delivery", e)));
                }
                t.wanted = Some(self.sent);
            }
            // The last report, even if it came before this line, wakes us.
            self.deliveries.all_reported.notified().await;
        }
    }

    /// Ends a batch: commits the transaction, or (non-transactional) waits
    /// until every queued record is acknowledged.
    ///
    /// Deliveries are awaited before `commit_transaction` in both modes: the
    /// commit's internal flush otherwise polls in 100 ms steps while anything
    /// is in flight, which capped a source at ~10 transactions per second
    /// (and `settle_reports` closes the last gap).
    pub async fn commit(&mut self) -> Result<(), KafkaError> {
        let started = Instant::now();
        let result = match self.await_deliveries().await {
            Err(e) => Err(e),
            Ok(()) if self.transactional && self.in_txn => {
                let p = self.inner.clone();
                let r = blocking(
                    move || {
                        settle_reports(&p);
                        p.commit_transaction(TXN_TIMEOUT)
                    },
                    "commit_transaction",
                )
                .await;
                self.in_txn = false;
                r
            }
            Ok(()) => Ok(()),
        };
        if result.is_err() {
            METRICS
                .source_produce_errors
                .with_label_values(&[&self.pipeline])
                .inc();
        }
        METRICS
            .source_commit_seconds
            .with_label_values(&[&self.pipeline])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Aborts the open transaction, if any (best effort).
    pub async fn abort(&mut self) {
        if self.transactional && self.in_txn {
            let p = self.inner.clone();
            if let Err(e) = blocking(
                move || p.abort_transaction(TXN_TIMEOUT),
                "abort_transaction",
            )
            .await
            {
                tracing::warn!(pipeline = %self.pipeline, error = %e, "abort transaction failed");
            }
            self.in_txn = false;
        }
        // Reports of the aborted records (purged or late) no longer count.
        self.epoch = self.epoch.wrapping_add(1);
        self.sent = 0;
        self.sent_bytes = 0;
        let mut t = self.deliveries.lock();
        let fatal = t.fatal.take();
        *t = Tally {
            epoch: self.epoch,
            fatal,
            ..Tally::default()
        };
    }
}

/// Waits before queueing again into librdkafka's full local queue.
async fn queue_full_pause() {
    tokio::time::sleep(Duration::from_millis(2)).await;
}

/// The bytes a record counts for in [`MAX_UNACKED_BYTES`].
fn record_bytes(key: usize, value: usize) -> u64 {
    u64::try_from(key + value).unwrap_or(u64::MAX) + RECORD_OVERHEAD
}

/// Waits (briefly) until librdkafka has released every reported record.
///
/// The last delivery report wakes the batch from inside the polling thread's
/// callback, before librdkafka frees that report's records; a
/// `commit_transaction` started in that gap finds records "in flight", and its
/// flush then waits up to 100 ms for an event that the polling thread has
/// already taken. The gap is microseconds: poll for it in 100 µs steps.
fn settle_reports(p: &ThreadedProducer<CountingContext>) {
    let deadline = Instant::now() + SETTLE_REPORTS_MAX;
    while p.in_flight_count() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// The longest [`settle_reports`] waits before committing anyway.
const SETTLE_REPORTS_MAX: Duration = Duration::from_millis(20);

async fn blocking<F>(f: F, context: &'static str) -> Result<(), KafkaError>
where
    F: FnOnce() -> Result<(), RdError> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| KafkaError::client(context, e)),
        Err(_) => Err(KafkaError::Timeout(context)),
    }
}
