//! The supervisor: runs every configured pipeline as an independent task,
//! restarts it with backoff after transient errors, parks it after a definite
//! one (the others keep running), serves HTTP, and drains on shutdown.
//!
//! Shutdown: SIGINT/SIGTERM cancel one [`CancellationToken`]; sources finish
//! their in-flight Kafka transaction, sinks their in-flight DB transaction,
//! and [`run`] waits for them up to a deadline.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics::METRICS;

/// How long shutdown waits for pipelines to drain.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(30);

/// A pipeline's lifecycle state, as the REST API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineState {
    /// Starting or restarting.
    Starting,
    /// Running.
    Running,
    /// Stopped after a definite error.
    Failed(String),
    /// Stopped on request.
    Stopped,
}

impl PipelineState {
    /// Kafka Connect's state name.
    pub fn connect_name(&self) -> &'static str {
        match self {
            PipelineState::Starting => "UNASSIGNED",
            PipelineState::Running => "RUNNING",
            PipelineState::Failed(_) => "FAILED",
            PipelineState::Stopped => "STOPPED",
        }
    }
}

/// Shared view of every pipeline's state.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<BTreeMap<String, (&'static str, PipelineState)>>>,
}

impl Registry {
    /// Records `state` for pipeline `name` of `kind` ("source"/"sink").
    pub fn set(&self, name: &str, kind: &'static str, state: PipelineState) {
        METRICS
            .pipeline_up
            .with_label_values(&[name])
            .set(i64::from(state == PipelineState::Running));
        if let Ok(mut m) = self.inner.write() {
            m.insert(name.to_string(), (kind, state));
        }
    }

    /// Every pipeline: name → (kind, state).
    pub fn snapshot(&self) -> BTreeMap<String, (&'static str, PipelineState)> {
        self.inner.read().map(|m| m.clone()).unwrap_or_default()
    }
}

/// A pipeline error, classified.
pub struct PipelineError {
    /// Retrying may help.
    pub transient: bool,
    /// The message (never row values or secrets).
    pub message: String,
}

impl From<crate::source::SourceError> for PipelineError {
    fn from(e: crate::source::SourceError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: e.to_string(),
        }
    }
}

impl From<crate::sink::SinkError> for PipelineError {
    fn from(e: crate::sink::SinkError) -> Self {
        PipelineError {
            transient: e.is_transient(),
            message: e.to_string(),
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

/// One configured pipeline.
#[derive(Clone)]
enum Pipeline {
    Source(Arc<crate::config::SourceConfig>),
    Sink(Arc<crate::config::SinkConfig>),
}

impl Pipeline {
    fn name(&self) -> &str {
        match self {
            Pipeline::Source(c) => &c.name,
            Pipeline::Sink(c) => &c.name,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Pipeline::Source(_) => "source",
            Pipeline::Sink(_) => "sink",
        }
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

/// Runs every pipeline of `config` until `cancel` fires, then drains.
pub async fn run(config: Config, cancel: CancellationToken) -> Result<(), std::io::Error> {
    let registry = Registry::default();
    let tracker = TaskTracker::new();
    if !config.http.listen.is_empty() {
        let listener = tokio::net::TcpListener::bind(&config.http.listen).await?;
        tracing::info!(listen = %config.http.listen, "http server listening");
        let router = crate::http::router(registry.clone());
        let stop = cancel.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
    }
    let kafka = Arc::new(config.kafka.clone());
    let pipelines = config
        .source
        .iter()
        .cloned()
        .map(|c| Pipeline::Source(Arc::new(c)))
        .chain(
            config
                .sink
                .iter()
                .cloned()
                .map(|c| Pipeline::Sink(Arc::new(c))),
        );
    for pipeline in pipelines {
        let kafka = kafka.clone();
        let span = tracing::info_span!("pipeline", pipeline = %pipeline.name());
        tracker.spawn(tracing::Instrument::instrument(
            supervise(
                pipeline.name().to_string(),
                pipeline.kind(),
                registry.clone(),
                cancel.clone(),
                move |c| {
                    let pipeline = pipeline.clone();
                    let kafka = kafka.clone();
                    async move { pipeline.run(&kafka, c).await }
                },
            ),
            span,
        ));
    }
    tracker.close();
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    spawn_watchdog(cancel.clone());
    tracing::info!(
        sources = config.source.len(),
        sinks = config.sink.len(),
        "sluice running"
    );

    cancel.cancelled().await;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    tracing::info!("shutting down: draining pipelines");
    if tokio::time::timeout(DRAIN_DEADLINE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            deadline_s = DRAIN_DEADLINE.as_secs(),
            "pipelines did not drain in time; exiting"
        );
    }
    Ok(())
}

fn spawn_watchdog(cancel: CancellationToken) {
    let Some(timeout) = sd_notify::watchdog_enabled() else {
        return;
    };
    let period = timeout / 2;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {
                    let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
                }
            }
        }
    });
}

/// Turns SIGINT/SIGTERM into `cancel()`.
pub fn cancel_on_signals(cancel: CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut term), Ok(mut int)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) else {
                tracing::error!("cannot install signal handlers");
                return;
            };
            tokio::select! {
                _ = term.recv() => tracing::info!("SIGTERM received"),
                _ = int.recv() => tracing::info!("SIGINT received"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        cancel.cancel();
    });
}
