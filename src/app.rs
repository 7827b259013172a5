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
pub mod registry;
mod store;
mod supervisor;

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::metrics::METRICS;

pub use registry::{Heartbeat, PipelineEntry, PipelineState, Registry};
pub use store::{state_dir, Store, StoreError, StoredConnector, DEFAULT_STATE_DIR};
pub use supervisor::{ConnectorError, ConnectorInfo, Origin, Supervisor};

/// How long shutdown waits for pipelines to drain.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// A pipeline error, classified.
pub struct PipelineError {
    /// Retrying may help.
    pub transient: bool,
    /// The message (never row values or secrets: passwords in URLs are hidden).
    pub message: String,
}

// Messages pass through `redact_text`: a driver's error can quote the URL,
// and they are logged, shown as the REST status `trace` and kept in state.
impl From<crate::source::SourceError> for PipelineError {
    fn from(e: crate::source::SourceError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: crate::config::redact_text(&e.to_string()),
        }
    }
}

impl From<crate::sink::SinkError> for PipelineError {
    fn from(e: crate::sink::SinkError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: crate::config::redact_text(&e.to_string()),
        }
    }
}

/// Runs `body` until it ends cleanly, fails definitely, or `cancel` fires;
/// transient failures restart it with exponential backoff (1 s … 30 s).
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
    let mut backoff = Duration::from_secs(1);
    loop {
        registry.set(&name, kind, PipelineState::Running);
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
                tracing::warn!(pipeline = %name, error = %e.message, retry_in_s = backoff.as_secs(), "pipeline failed; restarting");
                tokio::select! {
                    _ = cancel.cancelled() => {
                        registry.set(&name, kind, PipelineState::Stopped);
                        return;
                    }
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
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
        match self {
            Pipeline::Source(c) => crate::source::run(c, kafka, cancel)
                .await
                .map_err(PipelineError::from),
            Pipeline::Sink(c) => crate::sink::run(c, kafka, cancel)
                .await
                .map_err(PipelineError::from),
        }
    }
}

/// Polls `fut`, recording a heartbeat each time it is scheduled.
pub(crate) async fn with_heartbeat<F: std::future::Future>(
    heartbeat: Heartbeat,
    fut: F,
) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(move |cx| {
        heartbeat.beat();
        fut.as_mut().poll(cx)
    })
    .await
}
