//! The supervisor: runs every configured pipeline as an independent task,
//! restarts it with backoff after transient errors, parks it after a definite
//! one (the others keep running), and drains on shutdown. Pipelines start and
//! stop at run time: from the config file at start and on SIGHUP
//! (`daemon::reload`), and over the REST API ([`Supervisor`]); REST-created
//! ones are persisted in the state directory ([`Store`]).
//!
//! This module knows nothing of HTTP or signals: `crate::daemon` assembles
//! the supervisor, the HTTP server (`crate::http`, which drives the
//! supervisor) and systemd notification.
pub mod offsets;
pub mod registry;
mod store;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::METRICS;

pub use registry::{Heartbeat, PipelineEntry, PipelineState, Registry};
pub use store::{state_dir, Store, StoreError, StoredConnector, DEFAULT_STATE_DIR};
pub use supervisor::{merge_patch, ConnectorError, ConnectorInfo, Origin, Supervisor, TargetState};

/// How long shutdown waits for pipelines to drain.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// A pipeline error, classified.
pub struct PipelineError {
    /// Retrying may help.
    pub transient: bool,
    /// The message (never row values or secrets: passwords in URLs are hidden).
    pub message: String,
    /// The brokers refused the pipeline's Kafka clients (authentication or TLS).
    pub kafka_refused: bool,
}

// Messages pass through `redact_text`: a driver's error can quote the URL,
// and they are logged, shown as the REST status `trace` and kept in state.
impl From<crate::source::SourceError> for PipelineError {
    fn from(e: crate::source::SourceError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: crate::config::redact_text(&e.to_string()),
            kafka_refused: matches!(&e, crate::source::SourceError::Kafka(k) if k.is_refusal()),
        }
    }
}

impl From<crate::kafka::KafkaError> for PipelineError {
    fn from(e: crate::kafka::KafkaError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: crate::config::redact_text(&e.to_string()),
            kafka_refused: e.is_refusal(),
        }
    }
}

impl From<crate::sink::SinkError> for PipelineError {
    fn from(e: crate::sink::SinkError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: crate::config::redact_text(&e.to_string()),
            kafka_refused: matches!(&e, crate::sink::SinkError::Kafka(k) if k.is_refusal()),
        }
    }
}

/// First and longest wait before a failed pipeline restarts.
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A pipeline that ran this long before failing was healthy: its next
/// restart waits [`BACKOFF_MIN`] again.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// `base` ± 20%, so pipelines failing together (a broker restart) do not
/// come back in lockstep.
fn jittered(base: Duration) -> Duration {
    use std::hash::BuildHasher;
    let noise = std::collections::hash_map::RandomState::new().hash_one(std::time::Instant::now());
    let per_mille = 800 + noise % 401; // 800..=1200
    base * u32::try_from(per_mille).unwrap_or(1000) / 1000
}

/// The wait after a failure, given the current one and how long the run lasted.
fn next_backoff(current: Duration, ran: Duration) -> Duration {
    if ran >= HEALTHY_RUN {
        BACKOFF_MIN
    } else {
        (current * 2).min(BACKOFF_MAX)
    }
}

/// Runs `body` until it ends cleanly, fails definitely, or `cancel` fires;
/// transient failures restart it with exponential backoff (1 s … 30 s, ±20%
/// jitter), back to 1 s after a run that lasted [`HEALTHY_RUN`].
pub async fn supervise<F, Fut>(
    name: String,
    kind: &'static str,
    registry: Registry,
    cancel: CancellationToken,
    mut body: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), PipelineError>>,
{
    let mut backoff = Duration::ZERO;
    loop {
        registry.set(&name, kind, PipelineState::Running);
        let started = std::time::Instant::now();
        let result = body(cancel.clone()).await;
        match result {
            Ok(()) => {
                registry.set(&name, kind, PipelineState::Stopped);
                tracing::info!(pipeline = %name, "pipeline stopped");
                return;
            }
            Err(e) if e.transient && !cancel.is_cancelled() => {
                METRICS
                    .pipeline_errors
                    .with_label_values(&[&name, "transient"])
                    .inc();
                METRICS.pipeline_restarts.with_label_values(&[&name]).inc();
                registry.set(&name, kind, PipelineState::Starting);
                backoff = next_backoff(backoff.max(BACKOFF_MIN / 2), started.elapsed());
                let wait = jittered(backoff);
                tracing::warn!(pipeline = %name, error = %e.message, retry_in_ms = wait.as_millis() as u64, "pipeline failed; restarting");
                tokio::select! {
                    _ = cancel.cancelled() => {
                        registry.set(&name, kind, PipelineState::Stopped);
                        return;
                    }
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            Err(e) => {
                METRICS
                    .pipeline_errors
                    .with_label_values(&[&name, "definite"])
                    .inc();
                tracing::error!(pipeline = %name, error = %e.message, "pipeline failed");
                registry.set(&name, kind, PipelineState::Failed(e.message));
                return;
            }
        }
    }
}

/// One pipeline's config.
#[derive(Clone)]
pub(crate) enum Pipeline {
    Source(Arc<crate::config::SourceConfig>),
    Sink(Arc<crate::config::SinkConfig>),
}

impl Pipeline {
    pub(crate) fn name(&self) -> &str {
        match self {
            Pipeline::Source(c) => &c.name,
            Pipeline::Sink(c) => &c.name,
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Pipeline::Source(_) => "source",
            Pipeline::Sink(_) => "sink",
        }
    }

    /// Checks, on disk and before anything reads them, that the local files
    /// the pipeline names lie under `allowed` with symlinks resolved (REST
    /// connectors only); a file outside is a definite error.
    fn check_files_on_disk(
        &self,
        allowed: &crate::config::connect_json::AllowedFileDirs,
    ) -> Result<(), PipelineError> {
        use crate::config::connect_json::ConnectorConfig;
        let config = match self {
            Pipeline::Source(c) => ConnectorConfig::Source(crate::config::SourceConfig::clone(c)),
            Pipeline::Sink(c) => ConnectorConfig::Sink(crate::config::SinkConfig::clone(c)),
        };
        for file in config.local_files() {
            allowed
                .check_on_disk(self.name(), &file)
                .map_err(|e| PipelineError {
                    transient: false,
                    message: e.to_string(),
                    kafka_refused: false,
                })?;
        }
        Ok(())
    }

    /// Runs the pipeline once, until cancelled or failed.
    async fn run(
        &self,
        kafka: &crate::config::KafkaConfig,
        cancel: CancellationToken,
    ) -> Result<(), PipelineError> {
        let pipeline = async {
            match self {
                Pipeline::Source(c) => crate::source::run(c, kafka, cancel)
                    .await
                    .map_err(PipelineError::from),
                Pipeline::Sink(c) => crate::sink::run(c, kafka, cancel)
                    .await
                    .map_err(PipelineError::from),
            }
        };
        // Brokers that refuse the credentials or the TLS settings make the
        // pipeline's clients time out and retry without saying why: a probe
        // beside it names the cause and stops it (definite).
        let result = tokio::select! {
            result = pipeline => result,
            refused = crate::kafka::client::refusal(kafka) => return Err(PipelineError::from(refused)),
        };
        match result {
            // The pipeline's own error says only "Authentication failure";
            // a probe brings librdkafka's reason (invalid credentials, the
            // certificate that failed).
            Err(e) if e.kafka_refused => {
                let kafka = kafka.clone();
                let probe = tokio::task::spawn_blocking(move || {
                    crate::kafka::client::probe(&kafka, std::time::Duration::from_secs(10))
                });
                match probe.await {
                    Ok(Err(refused @ crate::kafka::KafkaError::Refused { .. })) => {
                        Err(PipelineError::from(refused))
                    }
                    _ => Err(e),
                }
            }
            other => other,
        }
    }
}

/// Polls `fut` as a task of the pipeline `heartbeat` belongs to, recording a
/// beat each time it is scheduled outside a peer-paced wait (see
/// [`crate::liveness`]: a timer wakeup during such a wait is no sign of life).
pub(crate) async fn with_heartbeat<F: std::future::Future>(
    heartbeat: Heartbeat,
    fut: F,
) -> F::Output {
    let live = heartbeat.clone();
    let mut fut = std::pin::pin!(crate::liveness::scope(live, fut));
    std::future::poll_fn(move |cx| {
        heartbeat.polled();
        std::future::Future::poll(fut.as_mut(), cx)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_healthy_run() {
        let short = Duration::from_secs(2);
        let mut b = next_backoff(BACKOFF_MIN / 2, short);
        assert_eq!(b, BACKOFF_MIN);
        for _ in 0..10 {
            b = next_backoff(b, short);
        }
        assert_eq!(b, BACKOFF_MAX);
        assert_eq!(next_backoff(b, HEALTHY_RUN), BACKOFF_MIN);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..200 {
            let j = jittered(Duration::from_secs(10));
            assert!(
                j >= Duration::from_secs(8) && j <= Duration::from_secs(12),
                "{j:?}"
            );
        }
    }
}
