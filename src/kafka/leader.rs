//! Leadership from Kafka's group coordinator, for standby sources.
//!
//! Every instance of a standby source joins one consumer group
//! (`standby_group`) subscribed to a one-partition coordination topic
//! (`standby_topic`, created if missing; nothing is ever written to it). The
//! coordinator assigns partition 0 to exactly one member: that member leads.
//! No consensus of Sluice's own: the broker's group protocol elects, and its
//! session timeout detects a dead leader.
//!
//! - **Assignor**: `cooperative-sticky`, so a daemon joining or rejoining
//!   (a restarted or woken instance) never moves partition 0 away from a live
//!   leader: leadership changes only when the leader leaves or is evicted.
//! - **Losing it**: a revocation or a lost assignment (the coordinator
//!   evicted this member, or librdkafka saw its heartbeats fail for the
//!   session timeout) flips [`Membership::leading`] to false *in the
//!   rebalance callback*, which then waits (up to [`STOP_WAIT`]) until the
//!   pipeline reports it stopped ([`Membership::set_running`]): a clean
//!   handover never overlaps.
//! - **Fencing**: an instance frozen (SIGSTOP, a long GC-like stall, a
//!   partition) keeps believing it leads until its consumer notices. That
//!   gap is covered by the transactional producer, not by this module: the
//!   new leader's `init_transactions` on the same `transactional.id` bumps
//!   the producer epoch, so the old one's next send or commit fails with
//!   ProducerFenced and nothing of it becomes visible.
//! - **Who leads**: each member's `client.id` is its worker id (`host:port`
//!   of its HTTP listener); [`Membership::leader`] describes the group and
//!   finds the member holding partition 0 in the assignments.
//!
//! A dedicated thread polls the consumer (rebalance callbacks run there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::TopicPartitionList;
use tokio::sync::watch;

use super::{client, offsets, KafkaError};
use crate::config::KafkaConfig;

/// Longest a revocation waits for the pipeline to stop before the
/// partition is released anyway (fencing still protects the data).
pub const STOP_WAIT: Duration = Duration::from_secs(20);

/// How long one poll of the membership thread blocks.
const POLL: Duration = Duration::from_millis(100);

/// State shared by the polling thread (the rebalance callbacks) and the
/// pipeline.
#[derive(Default)]
struct Shared {
    /// True while the pipeline runs as leader.
    running: Mutex<bool>,
    /// Signalled when `running` turns false.
    stopped: Condvar,
    /// A definite error of the group membership (refused, misconfigured).
    error: Mutex<Option<KafkaError>>,
}

impl Shared {
    fn wait_stopped(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        while *running {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            running = self
                .stopped
                .wait_timeout(running, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// The consumer context: turns rebalances into leadership changes.
pub struct LeaderContext {
    pipeline: String,
    topic: String,
    leading: watch::Sender<bool>,
    shared: Arc<Shared>,
}

impl LeaderContext {
    fn holds_leader_partition(&self, tpl: &TopicPartitionList) -> bool {
        tpl.elements_for_topic(&self.topic)
            .iter()
            .any(|e| e.partition() == 0)
    }
}

impl ClientContext for LeaderContext {}

impl ConsumerContext for LeaderContext {
    fn pre_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let lost = match rebalance {
            Rebalance::Revoke(tpl) => self.holds_leader_partition(tpl),
            Rebalance::Error(e) => {
                tracing::warn!(pipeline = %self.pipeline, error = %e, "standby group rebalance failed");
                *self.leading.borrow()
            }
            Rebalance::Assign(_) => false,
        };
        if lost {
            tracing::info!(pipeline = %self.pipeline, "leadership revoked; stopping the source");
            self.leading.send_replace(false);
            if !self.shared.wait_stopped(STOP_WAIT) {
                tracing::warn!(pipeline = %self.pipeline, wait_s = STOP_WAIT.as_secs(), "source did not stop in time; releasing leadership anyway (fencing protects the data)");
            }
        }
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            if self.holds_leader_partition(tpl) {
                tracing::info!(pipeline = %self.pipeline, "elected leader");
                self.leading.send_replace(true);
            }
        }
    }
}

/// This instance's membership in a standby group.
pub struct Membership {
    consumer: Arc<BaseConsumer<LeaderContext>>,
    shared: Arc<Shared>,
    leading: watch::Receiver<bool>,
    stop: Arc<AtomicBool>,
    poller: Option<std::thread::JoinHandle<()>>,
    group: String,
    topic: String,
}

impl Membership {
    /// Creates the coordination topic if missing and joins `group` as
    /// `worker_id`; leadership arrives on [`Membership::leading`].
    pub async fn join(
        kafka: &KafkaConfig,
        pipeline: &str,
        group: &str,
        topic: &str,
        worker_id: &str,
        session_timeout: Duration,
    ) -> Result<Membership, KafkaError> {
        offsets::ensure_topic(kafka, topic, 1).await?;
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(Shared::default());
        let context = LeaderContext {
            pipeline: pipeline.to_string(),
            topic: topic.to_string(),
            leading: tx,
            shared: shared.clone(),
        };
        let consumer = client::leader_elector(kafka, group, worker_id, session_timeout, context)?;
        consumer
            .subscribe(&[topic])
            .map_err(|e| KafkaError::client("joining the standby group", e))?;
        let consumer = Arc::new(consumer);
        let stop = Arc::new(AtomicBool::new(false));
        let poller = {
            let (consumer, stop, shared) = (consumer.clone(), stop.clone(), shared.clone());
            let pipeline = pipeline.to_string();
            std::thread::Builder::new()
                .name(format!("standby-{pipeline}"))
                .spawn(move || poll_loop(&consumer, &stop, &shared, &pipeline))
                .map_err(|_| KafkaError::Timeout("starting the standby thread"))?
        };
        Ok(Membership {
            consumer,
            shared,
            leading: rx,
            stop,
            poller: Some(poller),
            group: group.to_string(),
            topic: topic.to_string(),
        })
    }

    /// True while this instance holds leadership; changes are notified.
    pub fn leading(&self) -> watch::Receiver<bool> {
        self.leading.clone()
    }

    /// Records whether the pipeline runs (a revocation waits for false).
    pub fn set_running(&self, running: bool) {
        *self
            .shared
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = running;
        if !running {
            self.shared.stopped.notify_all();
        }
    }

    /// A definite error the membership met (the group or topic refused).
    pub fn take_error(&self) -> Option<KafkaError> {
        self.shared
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// The worker id (client id) of the member holding partition 0, if any.
    pub async fn leader(&self) -> Option<String> {
        let (consumer, group, topic) = (
            self.consumer.clone(),
            self.group.clone(),
            self.topic.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let list = consumer
                .fetch_group_list(Some(&group), Duration::from_secs(2))
                .ok()?;
            let g = list.groups().iter().find(|g| g.name() == group)?;
            g.members()
                .iter()
                .find(|m| {
                    m.assignment()
                        .and_then(assigned_partitions)
                        .is_some_and(|parts| parts.iter().any(|(t, p)| *t == topic && *p == 0))
                })
                .map(|m| m.client_id().to_string())
        })
        .await
        .ok()
        .flatten()
    }

    /// Leaves the group (the pipeline must have stopped): the coordinator
    /// hands partition 0 to another member at once, without waiting for the
    /// session timeout.
    pub async fn leave(mut self) {
        self.set_running(false);
        self.stop.store(true, Ordering::SeqCst);
        let poller = self.poller.take();
        let consumer = self.consumer.clone();
        drop(self);
        let started = Instant::now();
        // Closing the consumer polls until the group is left: blocking.
        let _ = tokio::task::spawn_blocking(move || {
            if let Some(p) = poller {
                let _ = p.join();
            }
            drop(consumer);
        })
        .await;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "left the standby group"
        );
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        // The thread ends at its next poll; the consumer closes with the last Arc.
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Serves the consumer (rebalance callbacks run here) until `stop`.
fn poll_loop(
    consumer: &BaseConsumer<LeaderContext>,
    stop: &AtomicBool,
    shared: &Shared,
    pipeline: &str,
) {
    while !stop.load(Ordering::SeqCst) {
        match consumer.poll(POLL) {
            None | Some(Ok(_)) => {}
            Some(Err(e)) => {
                let e = KafkaError::client("standby group", e);
                if is_definite_group_error(&e) {
                    tracing::error!(pipeline = %pipeline, error = %e, "standby group membership failed");
                    *shared.error.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                } else {
                    tracing::debug!(pipeline = %pipeline, error = %e, "standby group");
                }
            }
        }
    }
}

/// Group errors that retrying cannot fix.
fn is_definite_group_error(e: &KafkaError) -> bool {
    match e {
        KafkaError::Client { source, .. } => matches!(
            source.rdkafka_error_code(),
            Some(RDKafkaErrorCode::InvalidSessionTimeout)
                | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
                | Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                | Some(RDKafkaErrorCode::InconsistentGroupProtocol)
        ),
        _ => !e.is_transient(),
    }
}

/// Reads a classic consumer-protocol assignment (`ConsumerProtocolAssignment`
/// v0–v3: version, then `[topic, [partition]]`, then user data): the
/// `(topic, partition)` pairs; None when the bytes are not one.
pub fn assigned_partitions(bytes: &[u8]) -> Option<Vec<(String, i32)>> {
    struct Reader<'a>(&'a [u8]);
    impl Reader<'_> {
        fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
            let (head, rest) = self.0.split_first_chunk::<N>()?;
            self.0 = rest;
            Some(*head)
        }
        fn i16(&mut self) -> Option<i16> {
            self.take::<2>().map(i16::from_be_bytes)
        }
        fn i32(&mut self) -> Option<i32> {
            self.take::<4>().map(i32::from_be_bytes)
        }
    }
    let mut r = Reader(bytes);
    let _version = r.i16()?;
    let topics = r.i32()?;
    let mut out = Vec::new();
    for _ in 0..topics.max(0) {
        let len = usize::try_from(r.i16()?).ok()?;
        if r.0.len() < len {
            return None;
        }
        let (name, rest) = r.0.split_at(len);
        r.0 = rest;
        let name = String::from_utf8_lossy(name).into_owned();
        let partitions = r.i32()?;
        for _ in 0..partitions.max(0) {
            out.push((name.clone(), r.i32()?));
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assignment(topics: &[(&str, &[i32])]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(1i16.to_be_bytes());
        b.extend((topics.len() as i32).to_be_bytes());
        for (t, parts) in topics {
            b.extend((t.len() as i16).to_be_bytes());
            b.extend(t.as_bytes());
            b.extend((parts.len() as i32).to_be_bytes());
            for p in *parts {
                b.extend(p.to_be_bytes());
            }
        }
        b.extend((-1i32).to_be_bytes()); // no user data
        b
    }

    #[test]
    fn an_assignment_is_read_back() {
        let bytes = assignment(&[("sluice_standby", &[0]), ("other", &[3, 4])]);
        assert_eq!(
            assigned_partitions(&bytes),
            Some(vec![
                ("sluice_standby".to_string(), 0),
                ("other".to_string(), 3),
                ("other".to_string(), 4)
            ])
        );
        assert_eq!(
            assigned_partitions(&assignment(&[])),
            Some(vec![]),
            "a standby member holds nothing"
        );
    }

    #[test]
    fn truncated_assignments_are_refused() {
        let bytes = assignment(&[("sluice_standby", &[0])]);
        for cut in [1, 5, 9, bytes.len() - 6] {
            assert_eq!(assigned_partitions(&bytes[..cut]), None, "cut at {cut}");
        }
    }
}
