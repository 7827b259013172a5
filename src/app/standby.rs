//! Standby sources: several daemons run the same `[[source]]` with
//! `standby = true`; exactly one of them (the leader) reads the database.
//!
//! The instance joins the source's standby group ([`crate::kafka::leader`])
//! and alternates between two phases until its pipeline is stopped:
//!
//! - **standby**: state `UNASSIGNED` with the leader's worker id
//!   (`PipelineState::Standby`), `sluice_source_leader` 0; waits for the
//!   coordinator to assign it partition 0 of the coordination topic.
//! - **leader**: state `RUNNING`, `sluice_source_leader` 1; runs the source
//!   ([`crate::source::run`]) exactly as a single daemon does: its
//!   transactional producers' `init_transactions` fences whatever a former
//!   leader still has open, and it resumes from the last committed position.
//!   A revoked or lost assignment cancels the source at once (the rebalance
//!   callback waits for it to stop); so does shutdown, which also leaves the
//!   group so another instance takes over without waiting for the session
//!   timeout.
//!
//! A leader that finds itself fenced (ProducerFenced: an instance it could
//! not see, a woken SIGSTOPped process) has been replaced: it goes back to
//! standby, rejoining the group if its membership still claims leadership,
//! and never restarts the source on its own, so it cannot steal leadership
//! back in a loop. Any other source error ends the run as in a single daemon
//! (the supervisor restarts it with back-off); the group is left first, so
//! another instance takes over meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::RDKafkaErrorCode;
use tokio_util::sync::CancellationToken;

use super::{PipelineError, PipelineState, Registry};
use crate::config::{standby, KafkaConfig, SourceConfig};
use crate::kafka::leader::Membership;
use crate::kafka::KafkaError;
use crate::metrics::METRICS;
use crate::source::SourceError;

/// How often a standby instance looks up who leads (for its status).
const LEADER_REFRESH: Duration = Duration::from_secs(2);

/// How long a source may take to stop after losing leadership before it is
/// dropped (it can no longer commit: a new leader has fenced it or will).
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Sleeps until `at` (forever when None).
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// What a standby source needs of the daemon around it.
#[derive(Clone)]
pub(crate) struct Node {
    /// Where the pipeline's state is shown.
    pub registry: Registry,
    /// This daemon's worker id (`host:port` of its HTTP listener).
    pub worker_id: Arc<str>,
}

/// True when the error says another instance's producer took over.
fn is_fenced(e: &SourceError) -> bool {
    match e {
        SourceError::Kafka(KafkaError::Fenced(_)) => true,
        // After ProducerFenced librdkafka fails everything with _FATAL.
        SourceError::Kafka(KafkaError::Client { source, .. }) => {
            source.rdkafka_error_code() == Some(RDKafkaErrorCode::Fatal)
        }
        _ => false,
    }
}

/// Runs `cfg` as a standby source until `cancel` fires or the source fails
/// while leading.
pub(crate) async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    node: &Node,
    cancel: CancellationToken,
) -> Result<(), PipelineError> {
    let name = cfg.name.as_str();
    let gauge = METRICS.source_leader.with_label_values(&[name]);
    gauge.set(0);
    let (group, topic) = (standby::group(cfg), standby::topic(cfg));
    let timeout = standby::session_timeout(cfg);
    let join = || Membership::join(kafka, name, &group, &topic, &node.worker_id, timeout);
    let mut membership = join().await?;
    loop {
        tracing::info!(pipeline = %name, group = %group, worker = %node.worker_id, "standing by");
        let mut leading = membership.leading();
        let mut shown: Option<Option<String>> = None;
        let waiting = Instant::now();
        while !*leading.borrow_and_update() {
            if let Some(e) = membership.take_error() {
                membership.leave().await;
                // The group or topic refused this member (ACLs, a session
                // timeout outside the broker's range): retrying cannot pass.
                return Err(PipelineError {
                    transient: false,
                    message: crate::config::redact_text(&format!("standby group {group}: {e}")),
                    kafka_refused: e.is_refusal(),
                });
            }
            let leader = membership.leader().await;
            if shown.as_ref() != Some(&leader) {
                if let Some(l) = &leader {
                    tracing::info!(pipeline = %name, leader = %l, "standby; leader is {l}");
                }
                node.registry.set(
                    name,
                    "source",
                    PipelineState::Standby {
                        leader: leader.clone(),
                    },
                );
                shown = Some(leader);
            }
            tokio::select! {
                _ = cancel.cancelled() => {
                    membership.leave().await;
                    return Ok(());
                }
                changed = leading.changed() => {
                    if changed.is_err() {
                        return Err(PipelineError {
                            transient: true,
                            message: "the standby group membership ended".into(),
                            kafka_refused: false,
                        });
                    }
                }
                _ = tokio::time::sleep(LEADER_REFRESH) => {}
            }
        }
        tracing::info!(pipeline = %name, worker = %node.worker_id, waited_ms = waiting.elapsed().as_millis() as u64, "leading: starting the source");
        gauge.set(1);
        node.registry.set(name, "source", PipelineState::Running);
        membership.set_running(true);
        let child = cancel.child_token();
        let result = {
            let mut source = std::pin::pin!(crate::source::run(cfg, kafka, child.clone()));
            // Once leadership is lost: how long the source may take to stop.
            let mut stop_by: Option<tokio::time::Instant> = None;
            loop {
                tokio::select! {
                    r = &mut source => break r.map_err(Some),
                    changed = leading.changed(), if stop_by.is_none() => {
                        if changed.is_err() || !*leading.borrow_and_update() {
                            tracing::info!(pipeline = %name, "leadership lost: stopping the source");
                            child.cancel();
                            stop_by = Some(tokio::time::Instant::now() + STOP_GRACE);
                        }
                    }
                    _ = sleep_until(stop_by), if stop_by.is_some() => {
                        tracing::warn!(pipeline = %name, grace_s = STOP_GRACE.as_secs(), "the source did not stop after losing leadership; dropping it");
                        break Err(None);
                    }
                }
            }
        };
        membership.set_running(false);
        gauge.set(0);
        let still_leading = *leading.borrow();
        match result {
            _ if cancel.is_cancelled() => {
                membership.leave().await;
                return Ok(());
            }
            Ok(()) if still_leading => {
                membership.leave().await;
                return Ok(());
            }
            Ok(()) => {
                tracing::info!(pipeline = %name, "source stopped after losing leadership");
            }
            Err(None) => {}
            Err(Some(e)) if is_fenced(&e) => {
                tracing::warn!(pipeline = %name, error = %e, "fenced: another instance took over; standing by");
                if still_leading {
                    // Our membership is stale: give partition 0 up and rejoin.
                    membership.leave().await;
                    membership = join().await?;
                }
            }
            Err(Some(e)) if !still_leading => {
                tracing::info!(pipeline = %name, error = %e, "source stopped after losing leadership");
            }
            Err(Some(e)) => {
                membership.leave().await;
                return Err(e.into());
            }
        }
    }
}
