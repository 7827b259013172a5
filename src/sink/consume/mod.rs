//! The Kafka side of the sink: a consumer-group member that collects bounded
//! batches and knows which records the target has already applied.
//!
//! The target database's `sluice_sink_offsets` table is authoritative
//! (design.md §5). After every (re)assignment the sink reloads it; a record
//! below the stored next offset is skipped (already applied), and when the
//! group's committed offset is *behind* the stored one the records between
//! are skipped, while a committed offset *ahead* of the stored one makes the
//! sink seek back to the stored offset once. Group offsets are committed to
//! Kafka after each database commit so lag tools work.

pub mod lag;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, SinkConfig};
use crate::kafka::{client, KafkaError};
use crate::sink::decode::{keeps_records, SinkMessage};

/// How long the committed-offsets lookup at an assignment may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a partition can go on from the record at `held` (the consumer
/// stands just past it) given the target's stored next offset: when nothing is
/// stored, or when the record is the next one to apply (`held == next`, or
/// `next + 1` after a transaction's commit marker). Otherwise it is sought to
/// the stored offset.
fn goes_on_from(held: i64, stored: Option<i64>) -> bool {
    stored.is_none_or(|next| next <= held && held <= next + 1)
}

/// Consumer context that flags every rebalance for the loop to act on.
pub struct SinkContext {
    rebalanced: Arc<AtomicBool>,
    pipeline: String,
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    /// Gives every newly assigned partition an explicit start offset: the
    /// group's committed offset, or the beginning (`auto.offset.reset =
    /// earliest`) when there is none. librdkafka would find the same, but it
    /// starts a partition without a committed offset only after a 100 ms
    /// back-off (its offset reset timer), which every new sink paid. When the
    /// lookup fails the assignment is left as it is, for librdkafka to resolve.
    fn pre_rebalance(
        &self,
        consumer: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        let Rebalance::Assign(tpl) = rebalance else {
            return;
        };
        let committed = match consumer.committed_offsets((*tpl).clone(), COMMITTED_TIMEOUT) {
            Ok(c) => c,
            Err(e) => {
                tracing::debug!(pipeline = %self.pipeline, error = %e,
                    "reading committed offsets at assignment failed; librdkafka resolves them");
                return;
            }
        };
        for mut elem in tpl.elements() {
            let start = match committed
                .find_partition(elem.topic(), elem.partition())
                .map(|c| c.offset())
            {
                Some(Offset::Offset(o)) if o >= 0 => Offset::Offset(o),
                Some(Offset::Invalid) => Offset::Beginning,
                _ => continue,
            };
            if let Err(e) = elem.set_offset(start) {
                tracing::debug!(pipeline = %self.pipeline, error = %e, "setting a start offset failed");
            }
        }
    }

    fn post_rebalance(
        &self,
        _c: &rdkafka::consumer::BaseConsumer<Self>,
        rebalance: &Rebalance<'_>,
    ) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                tracing::info!(pipeline = %self.pipeline, partitions = tpl.count(), "partitions assigned");
            }
            Rebalance::Revoke(tpl) => {
                tracing::info!(pipeline = %self.pipeline, partitions = tpl.count(), "partitions revoked");
            }
            Rebalance::Error(e) => {
                tracing::warn!(pipeline = %self.pipeline, error = %e, "rebalance error")
            }
        }
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

/// The sink's consumer with its offset bookkeeping.
pub struct SinkConsumer {
    consumer: StreamConsumer<SinkContext>,
    rebalanced: Arc<AtomicBool>,
    /// Next offset to apply per (topic, partition), from the target database.
    next: HashMap<(String, i32), i64>,
    /// Partitions whose position was checked against `next` since assignment.
    checked: HashSet<(String, i32)>,
    /// Records held back at a rebalance: where each partition must resume.
    resume: HashMap<(String, i32), i64>,
    /// The record `collect` stopped at when it saw a rebalance. When the
    /// stored offsets let its partition go on from it, the next `collect`
    /// starts with it instead of seeking back and fetching it again.
    pending: Option<SinkMessage>,
    /// Whether records keep their headers (only a dead-letter topic reads them).
    with_headers: bool,
    /// The last topic name a record came from, shared by its records.
    topic: Option<Arc<str>>,
}

impl SinkConsumer {
    /// Creates the consumer and subscribes to the configured topics.
    pub fn new(cfg: &SinkConfig, kafka: &KafkaConfig) -> Result<SinkConsumer, KafkaError> {
        let rebalanced = Arc::new(AtomicBool::new(true));
        let ctx = SinkContext {
            rebalanced: rebalanced.clone(),
            pipeline: cfg.name.clone(),
        };
        let consumer: StreamConsumer<SinkContext> =
            client::sink_consumer(kafka, &cfg.group_id(), ctx)?;
        // A leading `^` makes librdkafka treat a subscription as a regex;
        // `topics_pattern` anchors both ends (whole topic names only).
        let topics: Vec<String> = match cfg.topics_pattern() {
            Some(pattern) => vec![pattern],
            None => cfg.topics.clone(),
        };
        let refs: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&refs)
            .map_err(|e| KafkaError::client("subscribing", e))?;
        Ok(SinkConsumer {
            consumer,
            rebalanced,
            next: HashMap::new(),
            checked: HashSet::new(),
            resume: HashMap::new(),
            pending: None,
            with_headers: keeps_records(cfg),
            topic: None,
        })
    }

    /// True (once) after a rebalance: the caller must reload stored offsets
    /// with [`SinkConsumer::set_stored_offsets`].
    pub fn take_rebalanced(&self) -> bool {
        self.rebalanced.swap(false, Ordering::SeqCst)
    }

    /// Replaces the stored next offsets (after loading them from the target)
    /// and repositions partitions whose record was held back at a rebalance:
    /// to the stored offset when there is one, else to the held record.
    pub fn set_stored_offsets(
        &mut self,
        next: HashMap<(String, i32), i64>,
    ) -> Result<(), KafkaError> {
        self.next = next;
        self.checked.clear();
        let owned = self.owned();
        // A record kept by an earlier call is decided again: if it is not kept
        // now, its partition must be sought back to it (the consumer stands
        // past it), like any held-back record.
        let pending = self.pending.take();
        if let Some(p) = &pending {
            let at = (self.resume)
                .entry((p.topic().to_string(), p.partition()))
                .or_insert(p.offset());
            *at = (*at).min(p.offset());
        }
        let mut keep = false;
        for ((topic, partition), held) in std::mem::take(&mut self.resume) {
            if !owned
                .as_ref()
                .is_none_or(|o| o.contains(&(topic.clone(), partition)))
            {
                continue; // no longer ours: its new owner resumes it
            }
            let stored = self.next.get(&(topic.clone(), partition)).copied();
            if let Some(p) = &pending {
                // The consumer stands just past this record: go on from it
                // when nothing before it is to be fetched again and the
                // stored offset does not lie beyond it (`admit` checks it as
                // the first record of its partition).
                if (p.topic(), p.partition(), p.offset()) == (topic.as_str(), partition, held)
                    && goes_on_from(held, stored)
                {
                    keep = true;
                    continue;
                }
            }
            let to = stored.unwrap_or(held);
            self.checked.insert((topic.clone(), partition));
            self.consumer
                .seek(
                    &topic,
                    partition,
                    Offset::Offset(to),
                    Duration::from_secs(10),
                )
                .map_err(|e| KafkaError::client("seeking", e))?;
        }
        if keep {
            self.pending = pending;
        }
        Ok(())
    }

    /// Holds back the records of a batch that was not applied (another member
    /// applied part of it): the next [`SinkConsumer::set_stored_offsets`]
    /// repositions their partitions to the stored offset, or to the first
    /// held record when nothing is stored.
    pub fn hold_back(&mut self, batch: &[SinkMessage]) {
        for m in batch {
            let at = self
                .resume
                .entry((m.topic().to_string(), m.partition()))
                .or_insert(m.offset());
            *at = (*at).min(m.offset());
        }
    }

    /// The partitions currently assigned to this member (`None` when unknown).
    fn owned(&self) -> Option<HashSet<(String, i32)>> {
        let tpl = self.consumer.assignment().ok()?;
        Some(
            tpl.elements()
                .iter()
                .map(|e| (e.topic().to_string(), e.partition()))
                .collect(),
        )
    }

    /// Records offsets applied by a committed batch.
    pub fn applied(&mut self, offsets: &[(String, i32, i64)]) {
        for (t, p, o) in offsets {
            self.next.insert((t.clone(), *p), *o);
        }
    }

    /// Collects up to `max` new records and `max_bytes` of keys and values
    /// (a record that would pass `max_bytes` is held for the next batch,
    /// unless it is the first: a record bigger than the bound goes alone),
    /// waiting at most `max_wait` after the first; returns early (possibly
    /// empty) on cancel or rebalance.
    pub async fn collect(
        &mut self,
        max: usize,
        max_bytes: usize,
        max_wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<Vec<SinkMessage>, KafkaError> {
        let mut out = Vec::with_capacity(max.min(1 << 16));
        // One timer for the whole batch: 500 ms for the first record, then
        // `max_wait` after it (no per-record timeout or clock read).
        let timer = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(timer);
        let mut started = false;
        let mut seeked: HashSet<(String, i32)> = HashSet::new();
        // The partition of the last record taken: its next records need no
        // checks (offsets only grow within a partition, and it was checked).
        let mut last: Option<(String, i32)> = None;
        let mut bytes = 0usize;
        while out.len() < max {
            let msg = if let Some(m) = self.pending.take() {
                m
            } else {
                tokio::select! {
                    biased;
                    r = self.consumer.recv() => match r {
                        Ok(m) => {
                            let topic = match &self.topic {
                                Some(t) if **t == *m.topic() => Arc::clone(t),
                                _ => {
                                    let pipeline = &self.consumer.context().pipeline;
                                    crate::active_topics::record(pipeline, m.topic());
                                    Arc::clone(self.topic.insert(m.topic().into()))
                                }
                            };
                            SinkMessage::copy_of(&m, topic, self.with_headers)
                        }
                        Err(e) => return Err(KafkaError::client("consuming", e)),
                    },
                    _ = cancel.cancelled() => break,
                    _ = &mut timer => break,
                }
            };
            if self.rebalanced.load(Ordering::SeqCst) {
                // The assignment changed under us: hold this record back and let
                // the caller reload stored offsets, then resume from it.
                self.resume
                    .insert((msg.topic().to_string(), msg.partition()), msg.offset());
                self.pending = Some(msg);
                break;
            }
            let same = last
                .as_ref()
                .is_some_and(|(t, p)| *p == msg.partition() && t == msg.topic());
            if !same && !self.admit(&msg, &mut out, &mut seeked)? {
                last = None;
                continue;
            }
            if !same {
                last = Some((msg.topic().to_string(), msg.partition()));
            }
            let size = msg.data_len();
            if !out.is_empty() && bytes.saturating_add(size) > max_bytes {
                // Full by bytes: this record starts the next batch (its
                // partition's checks are made again then).
                self.pending = Some(msg);
                break;
            }
            bytes = bytes.saturating_add(size);
            if !started {
                started = true;
                timer.as_mut().reset(tokio::time::Instant::now() + max_wait);
            }
            out.push(msg);
        }
        Ok(out)
    }

    /// Checks the first record of a run from one partition: false when it is
    /// to be skipped (already applied, or its partition was sought back).
    fn admit(
        &mut self,
        msg: &SinkMessage,
        out: &mut Vec<SinkMessage>,
        seeked: &mut HashSet<(String, i32)>,
    ) -> Result<bool, KafkaError> {
        let tp = (msg.topic().to_string(), msg.partition());
        if seeked.contains(&tp) {
            return Ok(false);
        }
        if let Some(&next) = self.next.get(&tp) {
            if msg.offset() < next {
                return Ok(false); // already applied
            }
            // A transactional producer's commit marker takes one offset and
            // is never delivered, so the first record after a committed
            // batch is normally `next + 1`: only a larger gap means the
            // group offset is ahead of what the target holds.
            if msg.offset() > next + 1 && !self.checked.contains(&tp) {
                // The group offset is ahead of what the target holds: go back.
                tracing::warn!(topic = %tp.0, partition = tp.1, from = msg.offset(), to = next,
                    "group offset ahead of the target's stored offset; seeking back");
                self.checked.insert(tp.clone());
                self.consumer
                    .seek(&tp.0, tp.1, Offset::Offset(next), Duration::from_secs(10))
                    .map_err(|e| KafkaError::client("seeking", e))?;
                out.retain(|m: &SinkMessage| (m.topic(), m.partition()) != (tp.0.as_str(), tp.1));
                seeked.insert(tp);
                return Ok(false);
            }
        }
        self.checked.insert(tp);
        Ok(true)
    }

    /// Drops records of partitions this member no longer owns and records
    /// already applied (after a reload of stored offsets).
    pub fn retain_owned(&self, batch: &mut Vec<SinkMessage>) {
        let Some(owned) = self.owned() else { return };
        batch.retain(|m| {
            let tp = (m.topic().to_string(), m.partition());
            owned.contains(&tp) && self.next.get(&tp).is_none_or(|&n| m.offset() >= n)
        });
    }

    /// Commits `offsets` (next offsets) to the group, asynchronously.
    pub fn commit_group(&self, offsets: &[(String, i32, i64)]) {
        let mut tpl = TopicPartitionList::new();
        for (t, p, o) in offsets {
            if tpl.add_partition_offset(t, *p, Offset::Offset(*o)).is_err() {
                return;
            }
        }
        if let Err(e) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %e, "group offset commit failed; the target's offsets stay authoritative");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::goes_on_from;

    #[test]
    fn a_held_record_is_kept_only_when_it_is_the_next_to_apply() {
        assert!(
            goes_on_from(0, None),
            "nothing stored: start from the held record"
        );
        assert!(goes_on_from(42, Some(42)));
        assert!(
            goes_on_from(43, Some(42)),
            "the commit marker at 42 is never delivered"
        );
        assert!(
            !goes_on_from(44, Some(42)),
            "records 42..44 were never applied: seek back"
        );
        assert!(
            !goes_on_from(41, Some(42)),
            "41 is applied already: seek forward"
        );
    }
}
