//! The apply stage: one batch at a time, in a task of its own that owns the
//! target connection, so the sink's task decodes the next batch meanwhile.
//!
//! `Stage` is the applier, idle or applying; `Stage::resync` is the one
//! place where the consumer is brought back in line with the target after a
//! rebalance or a refused compare-and-set (see `sink::run`). A batch is
//! evolved (`evolve`: `auto_create`/`auto_evolve` DDL before the data
//! transaction), then its planned steps and its offsets are applied in one
//! transaction (`SinkState::apply_items`). The plan made while decoding is
//! used as it is unless a record was dead-lettered since or the target's bulk
//! steps changed; a refused `LOAD DATA` or binary COPY is re-planned once as
//! `INSERT`s or text COPY.
//!
//! **Faults** are classified once, by [`SinkError::fault`]. A batch refused
//! for a record's fault (a value, a key, a constraint, a row too large for
//! one statement) is bisected down to the records the target refuses
//! (`fallback`): with `errors_tolerance = "all"` they go to the dead-letter
//! topic ([`dlq`]) and the others are applied; otherwise the records before
//! the first refused one are applied and the pipeline stops naming it
//! (`topic[partition]@offset`), so a restart resumes exactly there. Any
//! other error is the pipeline's: it is returned as it is (retried with
//! back-off when transient, a stop when definite) and never dead-letters.

pub mod dlq;
mod evolve;
mod fallback;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consume::SinkConsumer;
use super::decode::{PrePlan, Prepared, RowChange, SinkMessage};
use super::dialect::SqlError;
use super::offsets::{claim_and_store, next_offsets, NextOffsets};
use super::target::Target;
use super::{plan, Fault, SinkError};
use crate::config::{ErrorsTolerance, SinkConfig};
use crate::metrics::METRICS;
use crate::schema::TableSchema;

/// Added to `statement_timeout_ms` for the client-side bound on a batch's
/// transaction: room for the server's own timeout to answer first.
pub const CLIENT_TIMEOUT_GRACE: Duration = Duration::from_secs(2);

/// What a batch's transaction waits for, as the status shows it:
/// "applying batch to table t" (or "to tables a, b").
fn applying<'a>(tables: impl Iterator<Item = &'a str>) -> String {
    let mut names: Vec<&str> = tables.collect();
    names.sort_unstable();
    names.dedup();
    match names.as_slice() {
        [] => "applying batch offsets".to_string(),
        [one] => format!("applying batch to table {one}"),
        many => format!("applying batch to tables {}", many.join(", ")),
    }
}

/// What the target side of the sink owns: the connection and the apply state.
pub(super) struct Applier {
    pub(super) state: SinkState,
    pub(super) target: Target,
}

/// What a finished apply task hands back.
type Finished = (
    Box<Applier>,
    Vec<SinkMessage>,
    Result<NextOffsets, SinkError>,
);

/// The applier: idle (held here) or applying one batch in its own task.
pub(super) enum Stage {
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
    pub(super) fn start(
        &mut self,
        batch: Vec<SinkMessage>,
        prepared: Prepared,
    ) -> Result<(), SinkError> {
        let Stage::Idle(mut applier) = std::mem::replace(self, Stage::Gone) else {
            return Err(SinkError::ApplierBusy);
        };
        // The apply task belongs to the pipeline: its waits show in its status.
        *self = Stage::Applying(tokio::spawn(crate::liveness::inherit(async move {
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
        })));
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
            Err(e) => {
                return Err(SinkError::TaskLost {
                    task: "apply",
                    source: e,
                })
            }
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

    /// Brings the consumer back in line with the target: waits for the
    /// batch in flight; when the compare-and-set refused it, holds back
    /// `batch` too (it was collected after the refused one, so it is
    /// fetched again rather than applied past a gap) and empties it; after
    /// a refusal or a rebalance (`rebalanced`), reloads the stored offsets
    /// (repositioning the partitions) and keeps only the records of `batch`
    /// whose partitions this member still owns.
    pub(super) async fn resync(
        &mut self,
        consumer: &mut SinkConsumer,
        cfg: &SinkConfig,
        batch: &mut Vec<SinkMessage>,
        rebalanced: bool,
    ) -> Result<(), SinkError> {
        let moved = self.settle(consumer, cfg).await? == Settled::OffsetsMoved;
        if moved {
            consumer.hold_back(batch);
            batch.clear();
        }
        if moved || rebalanced {
            self.reload_offsets(consumer, cfg).await?;
            consumer.retain_owned(batch);
        }
        Ok(())
    }

    /// Reloads the stored offsets into the consumer (the applier must be idle).
    async fn reload_offsets(
        &mut self,
        consumer: &mut SinkConsumer,
        cfg: &SinkConfig,
    ) -> Result<(), SinkError> {
        let Stage::Idle(applier) = self else {
            return Err(SinkError::ApplierBusy);
        };
        let stored = applier.target.load_offsets(&cfg.name).await?;
        consumer.set_stored_offsets(stored)?;
        Ok(())
    }
}

/// Creates the offsets table; a failure is retried once, because two sinks
/// starting together on one PostgreSQL database can race in `CREATE TABLE IF
/// NOT EXISTS` (a unique violation in the catalog) and the second try sees the table.
pub(super) async fn ensure_offsets_table(target: &mut Target) -> Result<(), SinkError> {
    match target.ensure_offsets_table().await {
        Err(e) if !e.is_transient() => {
            tracing::debug!(error = %e, "creating the offsets table failed; retrying once");
            tokio::time::sleep(Duration::from_millis(200)).await;
            target.ensure_offsets_table().await
        }
        other => other,
    }
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

/// A record's position as errors name it: `topic[partition]@offset`.
fn at(msg: &SinkMessage) -> String {
    format!("{}[{}]@{}", msg.topic(), msg.partition(), msg.offset())
}

/// One consumed record on its way through a batch.
struct Item<'m> {
    msg: &'m SinkMessage,
    /// The row change to write; `None` when the record writes nothing (a
    /// skipped delete, or a record already sent to the dead-letter topic)
    /// and only its offset is committed.
    change: Option<RowChange>,
}

/// The applying side's state (moves into the apply task with the target).
pub(super) struct SinkState {
    pub(super) cfg: Arc<SinkConfig>,
    pub(super) dead_letters: Option<dlq::DeadLetters>,
    /// The target's current schema per table (what `describe_table` returned).
    pub(super) tables: HashMap<String, TableSchema>,
    /// Shared with the decoding stage's planning (`decode::Planning::bulk`).
    pub(super) bulk: Arc<AtomicBool>,
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
                Err(e) => {
                    if self.cfg.errors_log_enable && e.fault() == Fault::Record {
                        log_failed_record(&self.cfg, msg, &e.to_string());
                    }
                    return Err(e);
                }
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
            Err(e) if e.fault() == Fault::Record => {
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
    /// the applied rows. A row no statement of the target can hold is
    /// refused before anything is sent, naming its record.
    async fn apply_items(
        &self,
        target: &mut Target,
        items: &[Item<'_>],
        planned: Option<PrePlan>,
    ) -> Result<(), SinkError> {
        let changes: Vec<&RowChange> = items.iter().filter_map(|i| i.change.as_ref()).collect();
        let dialect = target.dialect();
        let formats = target.copy_formats();
        let max_statement = target.max_statement_bytes();
        let plan = |bulk: bool| {
            plan::plan_steps_with(
                dialect,
                &changes,
                self.cfg.insert_mode,
                self.cfg.delete_enabled,
                bulk,
                formats.as_ref(),
                max_statement,
            )
            .map_err(|e| match e {
                SqlError::TooLarge { change, .. } => {
                    // `change` counts the items that write something.
                    let msg = (items.iter().filter(|i| i.change.is_some()))
                        .nth(change)
                        .map(|i| i.msg);
                    match msg {
                        Some(msg) => SinkError::Refused {
                            at: at(msg),
                            source: Box::new(SinkError::Sql(e)),
                        },
                        None => SinkError::Sql(e),
                    }
                }
                other => SinkError::Sql(other),
            })
        };
        let (statements, counts) = match planned {
            Some(p) => (p.steps, p.counts),
            None => plan(target.bulk_steps())?,
        };
        let name = &self.cfg.name;
        let (first, offsets) = claim_and_store(name, items.iter().map(|i| i.msg));
        let what = applying(counts.applied.iter().map(|(t, _, _)| t.as_str()));
        match self
            .bounded(&what, target.apply_steps(&statements, &offsets, &first))
            .await
        {
            Err(SinkError::LoadRefused(why)) => {
                // Rolled back; the INSERTs give the exact outcome (or error).
                tracing::debug!(pipeline = %name, reason = %why, "LOAD DATA refused; applying the batch as INSERTs");
                let (statements, _) = plan(false)?;
                self.bounded(&what, target.apply_steps(&statements, &offsets, &first))
                    .await?;
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
                self.bounded(&what, target.apply_steps(&statements, &offsets, &first))
                    .await?;
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

    /// Awaits a batch's transaction while the status says `what` it waits for,
    /// bounded (client side) by `statement_timeout_ms` plus
    /// [`CLIENT_TIMEOUT_GRACE`], so the server's own timeout, with its clearer
    /// error, normally comes first. Past the bound the connection's state is
    /// unknown: [`SinkError::TimedOut`] (transient) restarts this pipeline,
    /// which resumes from the offsets committed with the data.
    async fn bounded<T>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, SinkError>>,
    ) -> Result<T, SinkError> {
        let waiting = crate::liveness::waiting_on(what.to_string(), fut);
        if self.cfg.statement_timeout_ms == 0 {
            return waiting.await;
        }
        let limit = Duration::from_millis(self.cfg.statement_timeout_ms) + CLIENT_TIMEOUT_GRACE;
        match tokio::time::timeout(limit, waiting).await {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(pipeline = %self.cfg.name, waited_s = limit.as_secs(),
                    "{what}: no answer from the target; reconnecting");
                Err(SinkError::TimedOut {
                    what: what.to_string(),
                    seconds: limit.as_secs(),
                })
            }
        }
    }

    /// True when `e` is the fault of the records at hand
    /// ([`Fault::Record`]) and `errors_tolerance = "all"` lets the sink skip them.
    fn tolerates(&self, e: &SinkError) -> bool {
        self.cfg.errors_tolerance == ErrorsTolerance::All && e.fault() == Fault::Record
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
        if self.cfg.errors_log_enable {
            log_failed_record(&self.cfg, msg, reason);
        } else {
            tracing::warn!(pipeline = %self.cfg.name, topic = msg.topic(), partition = msg.partition(),
                offset = msg.offset(), error = %reason, "record skipped (errors_tolerance = all)");
        }
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

/// `errors_log_enable`: one error line per failed record (dead-lettered, or
/// the one that stops the pipeline) with its coordinates and, with
/// `errors_log_include_messages`, its key and value (as the record holds
/// them: the sink's own settings never appear).
fn log_failed_record(cfg: &SinkConfig, msg: &SinkMessage, reason: &str) {
    if cfg.errors_log_include_messages {
        let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
        tracing::error!(pipeline = %cfg.name, topic = msg.topic(), partition = msg.partition(),
            offset = msg.offset(), error = %reason, key = ?text(msg.key()),
            value = ?text(msg.payload()), "record failed");
    } else {
        tracing::error!(pipeline = %cfg.name, topic = msg.topic(), partition = msg.partition(),
            offset = msg.offset(), error = %reason, "record failed");
    }
}

#[cfg(test)]
mod tests {
    use super::applying;

    #[test]
    fn a_wait_names_the_batch_tables() {
        assert_eq!(
            applying(["t", "t"].into_iter()),
            "applying batch to table t"
        );
        assert_eq!(
            applying(["b", "a", "b"].into_iter()),
            "applying batch to tables a, b"
        );
        assert_eq!(applying(std::iter::empty()), "applying batch offsets");
    }
}
