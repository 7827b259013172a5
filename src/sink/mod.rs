//! Sinks: consume Connect JSON topics and apply them to a database, exactly once.
//!
//! The loop: collect a bounded batch from the consumer group ([`consume`]),
//! decode every record ([`crate::connect`]), map it to a target row under
//! `pk_mode` and the field/time-zone rules ([`record`]) into the table that
//! [`route`] names, make the target tables follow the message schemas
//! (`auto_create` / `auto_evolve`, DDL run *before* the data transaction since
//! MySQL commits implicitly on DDL), plan the DML ([`plan`]) and apply it
//! together with the batch's next offsets in **one database transaction**
//! ([`target`]). Offsets in `sluice_sink_offsets` are authoritative; the group
//! offsets committed to Kafka afterwards only serve lag tools.
//!
//! Contract: records of one partition are applied in offset order; a record
//! is "applied" when its row change and its next offset are committed in the
//! target; re-delivery after a crash or rebalance is skipped by offset, so
//! every record is applied exactly once. The apply transaction starts with a
//! compare-and-set of the offsets: it locks the batch's partitions' rows of
//! `sluice_sink_offsets` and, when a stored next offset is past the batch's
//! first offset (another member of the group applied those records, e.g.
//! while this one was frozen through a rebalance), rolls back with
//! [`SinkError::OffsetsMoved`]; the sink then reloads the stored offsets and
//! resumes from them, so nothing is applied a second time.
//!
//! **Pipelining.** Decoding and mapping batch N+1 runs in the sink's task
//! while batch N is applied in a spawned task that owns the target
//! connection; one batch is in flight at a time, batches commit in order,
//! and the consumer learns a batch's offsets only after its commit.
//!
//! **Bad records** (`errors_tolerance = "all"`): a record that cannot be
//! decoded or mapped, whose schema the table cannot follow (an incompatible
//! type change, a required field without default), or whose row the database
//! refuses for a definite reason that is the record's own (a value the column
//! cannot hold, a constraint) is written to `dlq_topic` with the reason and
//! skipped. A batch the database refuses is split in halves, each applied in
//! its own transaction with its own next offsets, down to single records
//! ([`fallback`]): the good records are applied once, the bad ones go to the
//! dead-letter topic, and none is lost or doubled. The dead-letter write
//! happens before the offset that skips the record is committed, so the
//! topic is at-least-once (a crash in between writes the record twice).
//! Transient errors and errors of the target itself (privileges, read-only,
//! disk full) stop the batch in every mode; `errors_tolerance = "none"`
//! stops the pipeline on the first bad record.

pub mod consume;
mod decoding;
pub mod dialect;
pub mod dlq;
mod evolve;
mod fallback;
pub mod lag;
pub mod message;
pub mod plan;
pub mod record;
pub mod route;
pub mod target;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use dialect::SinkError;

use crate::config::{ErrorsTolerance, KafkaConfig, SinkConfig};
use crate::metrics::{PipelineKind, METRICS};
use crate::schema::TableSchema;
use consume::SinkConsumer;
use decoding::{Decoding, Planning, PrePlan, Prepared};
use message::SinkMessage;
use record::{MapRules, RowChange};
use route::TableNamer;
use target::Target;

/// Runs one sink until `cancel` fires or a definite error occurs.
///
/// Two stages overlap: this task collects batch N+1 from Kafka and decodes
/// and maps it while an applier task ([`Applier`], spawned per batch and
/// handed back when done) applies batch N. At most one batch is in flight,
/// so memory stays bounded by two batches, and batch N+1 is only applied
/// after batch N committed (per-partition order holds). The consumer learns
/// a batch's offsets only after its commit.
pub async fn run(
    cfg: &SinkConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SinkError> {
    let endpoint = cfg
        .endpoint()
        .map_err(|e| SinkError::Invalid(e.to_string()))?;
    let rules = MapRules::from_config(cfg).map_err(SinkError::Invalid)?;
    let namer = TableNamer::new(cfg)?;
    let mut target = Target::connect(&endpoint).await?;
    ensure_offsets_table(&mut target).await?;
    let mut consumer = SinkConsumer::new(cfg, kafka)?;
    let dead_letters = match (&cfg.dlq_topic, cfg.errors_tolerance) {
        (Some(topic), ErrorsTolerance::All) => Some(dlq::DeadLetters::new(kafka, topic)?),
        _ => None,
    };
    let bulk = Arc::new(AtomicBool::new(target.bulk_steps()));
    let mut decoding = Decoding::new(
        cfg,
        &rules,
        &namer,
        Planning {
            dialect: target.dialect(),
            insert_mode: cfg.insert_mode,
            delete_enabled: cfg.delete_enabled,
            bulk: Arc::clone(&bulk),
            formats: target.copy_formats(),
        },
        message::keeps_records(cfg),
    );
    let mut stage = Stage::Idle(Box::new(Applier {
        state: SinkState {
            cfg: Arc::new(cfg.clone()),
            dead_letters,
            tables: HashMap::new(),
            bulk,
        },
        target,
    }));
    tracing::info!(pipeline = %cfg.name, target = %endpoint.display_url(), "sink started");
    METRICS.init_pipeline(&cfg.name, PipelineKind::Sink);
    let _lag = lag::LagMonitor::start(cfg, kafka)?;
    let batch_size = usize::try_from(cfg.batch_size).unwrap_or(usize::MAX);
    let max_wait = Duration::from_millis(cfg.max_wait_ms);
    while !cancel.is_cancelled() {
        if consumer.take_rebalanced() {
            // Let the batch in flight commit (or fail), then reload what the target holds.
            stage.settle(&mut consumer, cfg).await?;
            stage.reload_offsets(&mut consumer, cfg).await?;
        }
        let mut batch = consumer.collect(batch_size, max_wait, &cancel).await?;
        if consumer.take_rebalanced() {
            if stage.settle(&mut consumer, cfg).await? == Settled::OffsetsMoved {
                // The partitions are repositioned: records collected after the
                // refused batch must be fetched again, not applied past a gap.
                consumer.hold_back(&batch);
                batch.clear();
            }
            stage.reload_offsets(&mut consumer, cfg).await?;
            consumer.retain_owned(&mut batch);
        }
        if batch.is_empty() {
            if stage.settle(&mut consumer, cfg).await? == Settled::OffsetsMoved {
                stage.reload_offsets(&mut consumer, cfg).await?;
            }
            continue;
        }
        // Decoding runs on the blocking pool while the previous batch is applied.
        let (batch, prepared) = decoding.prepare(batch).await?;
        if stage.settle(&mut consumer, cfg).await? == Settled::OffsetsMoved {
            // As above: this batch follows the refused one, so it is fetched again.
            consumer.hold_back(&batch);
            stage.reload_offsets(&mut consumer, cfg).await?;
            continue;
        }
        stage.start(batch, prepared)?;
        // A task spawned from a busy task waits in this worker's LIFO slot,
        // which other workers cannot steal: let the apply start now, and this
        // task move on (collecting the next batch) on another worker.
        tokio::task::yield_now().await;
    }
    stage.settle(&mut consumer, cfg).await?;
    tracing::info!(pipeline = %cfg.name, "sink stopping");
    Ok(())
}

/// The tables `steps` write with a binary COPY.
fn binary_copy_tables(steps: &[plan::Statement]) -> Vec<&str> {
    (steps.iter())
        .filter_map(|s| match s {
            plan::Statement::Copy {
                binary: Some(b), ..
            } => Some(b.table.as_str()),
            _ => None,
        })
        .collect()
}

/// What the target side of the sink owns: the connection and the apply state.
struct Applier {
    state: SinkState,
    target: Target,
}

/// What a finished apply task hands back.
type Finished = (
    Box<Applier>,
    Vec<SinkMessage>,
    Result<NextOffsets, SinkError>,
);

/// The applier: idle (held here) or applying one batch in its own task.
enum Stage {
    Idle(Box<Applier>),
    Applying(tokio::task::JoinHandle<Finished>),
    /// Only while switching between the two.
    Gone,
}

/// How the batch in flight ended.
#[derive(Debug, PartialEq)]
enum Settled {
    /// Committed (or there was none).
    Done,
    /// Refused by the offsets compare-and-set: another member applied part of it.
    OffsetsMoved,
}

impl Stage {
    /// Spawns the apply of `batch` (the applier must be idle).
    fn start(&mut self, batch: Vec<SinkMessage>, prepared: Prepared) -> Result<(), SinkError> {
        let Stage::Idle(mut applier) = std::mem::replace(self, Stage::Gone) else {
            return Err(SinkError::Invalid(
                "a batch is already being applied".into(),
            ));
        };
        *self = Stage::Applying(tokio::spawn(async move {
            let started = Instant::now();
            let Applier { state, target } = &mut *applier;
            let result = state.apply_batch(target, &batch, prepared).await;
            if result.is_ok() {
                METRICS
                    .sink_batch_seconds
                    .with_label_values(&[&state.cfg.name])
                    .observe(started.elapsed().as_secs_f64());
            }
            (applier, batch, result)
        }));
        Ok(())
    }

    /// Waits for the batch in flight; on commit tells the consumer its offsets.
    /// When the offsets compare-and-set refused it, its records are held back
    /// and the caller must hold back every batch collected after it and
    /// reload the stored offsets (which repositions the partitions).
    async fn settle(
        &mut self,
        consumer: &mut SinkConsumer,
        cfg: &SinkConfig,
    ) -> Result<Settled, SinkError> {
        let handle = match std::mem::replace(self, Stage::Gone) {
            Stage::Applying(handle) => handle,
            other => {
                *self = other;
                return Ok(Settled::Done);
            }
        };
        let (applier, batch, result) = match handle.await {
            Ok(finished) => finished,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => return Err(SinkError::Invalid("the apply task was cancelled".into())),
        };
        *self = Stage::Idle(applier);
        match result {
            Ok(offsets) => {
                consumer.applied(&offsets);
                consumer.commit_group(&offsets);
                Ok(Settled::Done)
            }
            Err(SinkError::OffsetsMoved {
                topic,
                partition,
                stored,
                first,
            }) => {
                // Another member applied records of this batch after this one
                // lost the partition without noticing (the apply transaction's
                // compare-and-set refused it): resume from the stored offsets.
                tracing::warn!(pipeline = %cfg.name, topic = %topic, partition, stored, first,
                    "records already applied by another member of the group; resuming from the stored offsets");
                consumer.hold_back(&batch);
                Ok(Settled::OffsetsMoved)
            }
            Err(e) => Err(e),
        }
    }

    /// Reloads the stored offsets into the consumer (the applier must be idle).
    async fn reload_offsets(
        &mut self,
        consumer: &mut SinkConsumer,
        cfg: &SinkConfig,
    ) -> Result<(), SinkError> {
        let Stage::Idle(applier) = self else {
            return Err(SinkError::Invalid("the applier is busy".into()));
        };
        let stored = applier.target.load_offsets(&cfg.name).await?;
        consumer.set_stored_offsets(stored)?;
        Ok(())
    }
}

/// Creates the offsets table; a failure is retried once, because two sinks
/// starting together on one PostgreSQL database can race in `CREATE TABLE IF
/// NOT EXISTS` (a unique violation in the catalog) and the second try sees the table.
async fn ensure_offsets_table(target: &mut Target) -> Result<(), SinkError> {
    match target.ensure_offsets_table().await {
        Err(e) if !e.is_transient() => {
            tracing::debug!(error = %e, "creating the offsets table failed; retrying once");
            tokio::time::sleep(Duration::from_millis(200)).await;
            target.ensure_offsets_table().await
        }
        other => other,
    }
}

/// Next offsets, (topic, partition, offset), in order of first appearance.
pub type NextOffsets = Vec<(String, i32, i64)>;

/// One consumed record on its way through a batch.
struct Item<'m> {
    msg: &'m SinkMessage,
    /// The row change to write; `None` when the record writes nothing (a
    /// skipped delete, or a record already sent to the dead-letter topic)
    /// and only its offset is committed.
    change: Option<RowChange>,
}

/// The next offset of every partition in `items`.
fn next_offsets<'a>(msgs: impl Iterator<Item = &'a SinkMessage>) -> NextOffsets {
    offset_bounds(msgs)
        .into_iter()
        .map(|(t, p, _, next)| (t, p, next))
        .collect()
}

/// (topic, partition, first offset, next offset) of every partition in
/// `msgs`, in order of first appearance.
fn offset_bounds<'a>(msgs: impl Iterator<Item = &'a SinkMessage>) -> Vec<(String, i32, i64, i64)> {
    let mut bounds: Vec<(String, i32, i64, i64)> = Vec::new();
    for msg in msgs {
        let o = msg.offset();
        match bounds
            .iter_mut()
            .find(|(t, p, _, _)| t == msg.topic() && *p == msg.partition())
        {
            Some(e) => {
                e.2 = e.2.min(o);
                e.3 = e.3.max(o + 1);
            }
            None => bounds.push((msg.topic().to_string(), msg.partition(), o, o + 1)),
        }
    }
    bounds
}

/// The applying side's state (moves into the apply task with the target).
struct SinkState {
    cfg: Arc<SinkConfig>,
    dead_letters: Option<dlq::DeadLetters>,
    /// The target's current schema per table (what `describe_table` returned).
    tables: HashMap<String, TableSchema>,
    /// Shared with [`Planning::bulk`].
    bulk: Arc<AtomicBool>,
}

impl SinkState {
    /// Evolves, plans and applies one decoded batch; returns its next offsets.
    async fn apply_batch(
        &mut self,
        target: &mut Target,
        batch: &[SinkMessage],
        prepared: Prepared,
    ) -> Result<NextOffsets, SinkError> {
        let Prepared { changes, plan } = prepared;
        let mut items: Vec<Item<'_>> = Vec::with_capacity(batch.len());
        let mut skipped_deletes = 0u64;
        for (msg, change) in batch.iter().zip(changes) {
            let change = match change {
                Ok(Some(c)) => Some(c),
                Ok(None) => {
                    skipped_deletes += 1;
                    None
                }
                Err(e) if self.tolerates(&e) => {
                    self.dead_letter(msg, "sluice.RecordError", &e.to_string())
                        .await?;
                    None
                }
                Err(e) => return Err(e),
            };
            items.push(Item { msg, change });
        }
        self.evolve(target, &mut items).await?;
        // The plan made while decoding holds when every change it planned is
        // still to be written (none was dead-lettered) with the same steps.
        let writes = items.iter().filter(|i| i.change.is_some()).count();
        let plan = plan.filter(|p| p.changes == writes && p.bulk == target.bulk_steps());
        let applied = self.apply_items(target, &items, plan).await;
        self.bulk.store(target.bulk_steps(), Ordering::Relaxed);
        match applied {
            Ok(()) => {}
            Err(e) if self.tolerates(&e) => {
                tracing::warn!(pipeline = %self.cfg.name, records = items.len(), error = %e,
                    "batch refused; isolating the records the target refuses");
                fallback::apply_isolating(self, target, &items, e).await?;
            }
            Err(e) => return Err(e),
        }
        if skipped_deletes > 0 {
            METRICS
                .sink_tombstones_skipped
                .with_label_values(&[&self.cfg.name])
                .inc_by(skipped_deletes);
        }
        Ok(next_offsets(batch.iter()))
    }

    /// Plans the changes of `items` (unless `planned` holds their plan) and
    /// applies them with the items' next offsets in one transaction; counts
    /// the applied rows.
    async fn apply_items(
        &self,
        target: &mut Target,
        items: &[Item<'_>],
        planned: Option<PrePlan>,
    ) -> Result<(), SinkError> {
        let changes: Vec<&RowChange> = items.iter().filter_map(|i| i.change.as_ref()).collect();
        let dialect = target.dialect();
        let formats = target.copy_formats();
        let plan = |bulk: bool| {
            plan::plan_steps_with(
                dialect,
                &changes,
                self.cfg.insert_mode,
                self.cfg.delete_enabled,
                bulk,
                formats.as_ref(),
            )
        };
        let (statements, counts) = match planned {
            Some(p) => (p.steps, p.counts),
            None => plan(target.bulk_steps())?,
        };
        let bounds = offset_bounds(items.iter().map(|i| i.msg));
        let name = &self.cfg.name;
        let first: Vec<target::OffsetRow> = (bounds.iter())
            .map(|(t, p, f, _)| (name.clone(), t.clone(), *p, *f))
            .collect();
        let offsets: Vec<target::OffsetRow> = (bounds.into_iter())
            .map(|(t, p, _, n)| (name.clone(), t, p, n))
            .collect();
        match target.apply_steps(&statements, &offsets, &first).await {
            Err(SinkError::LoadRefused(why)) => {
                // Rolled back; the INSERTs give the exact outcome (or error).
                tracing::debug!(pipeline = %name, reason = %why, "LOAD DATA refused; applying the batch as INSERTs");
                let (statements, _) = plan(false)?;
                target.apply_steps(&statements, &offsets, &first).await?;
            }
            Err(e)
                if !matches!(e, SinkError::OffsetsMoved { .. })
                    && !binary_copy_tables(&statements).is_empty() =>
            {
                // Rolled back. A binary COPY is refused when a column changed
                // type since the table was read; text format lets the server
                // convert (or report the record's own error exactly). Its
                // tables go as text until they are read again.
                tracing::debug!(pipeline = %name, error = %e, "binary COPY failed; applying the batch in text format");
                if let Some(f) = &formats {
                    binary_copy_tables(&statements)
                        .into_iter()
                        .for_each(|t| f.forget(t));
                }
                let (statements, _) = plan(target.bulk_steps())?;
                target.apply_steps(&statements, &offsets, &first).await?;
            }
            other => other?,
        }
        for (table, op, n) in &counts.applied {
            METRICS
                .sink_rows_applied
                .with_label_values(&[self.cfg.name.as_str(), table.as_str(), op])
                .inc_by(*n);
        }
        Ok(())
    }

    /// True when `e` only concerns the records at hand and
    /// `errors_tolerance = "all"` lets the sink skip them.
    fn tolerates(&self, e: &SinkError) -> bool {
        self.cfg.errors_tolerance == ErrorsTolerance::All
            && !e.is_transient()
            && fallback::blames_record(e)
    }

    /// Skips `msg`: logs, counts, and writes it to the dead-letter topic when one is set.
    async fn dead_letter(
        &self,
        msg: &SinkMessage,
        class: &str,
        reason: &str,
    ) -> Result<(), SinkError> {
        METRICS
            .pipeline_errors
            .with_label_values(&[&self.cfg.name, "record"])
            .inc();
        tracing::warn!(pipeline = %self.cfg.name, topic = msg.topic(), partition = msg.partition(),
            offset = msg.offset(), error = %reason, "record skipped (errors_tolerance = all)");
        if let Some(dlq) = &self.dead_letters {
            dlq.send(msg, class, reason).await?;
            METRICS
                .sink_dead_letters
                .with_label_values(&[&self.cfg.name])
                .inc();
        }
        Ok(())
    }
}
