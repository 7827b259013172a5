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
mod standby;
mod store;
mod supervisor;
pub mod takeover;

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

impl PipelineError {
    /// The error with every value resolved from a config provider hidden.
    pub(crate) fn scrubbed(mut self, resolved: &crate::config::providers::Resolved) -> Self {
        self.message = resolved.scrub(&self.message);
        self
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

/// How a pipeline's transient failures are retried: a sink's
/// `errors_retry_timeout`, `errors_retry_delay_max_ms`, `max_retries` and
/// `retry_backoff_ms` (Connect's and Confluent JDBC's keys). A streak of
/// failures ends with a run that lasted [`HEALTHY_RUN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetryPolicy {
    /// Longest a streak is retried, from its first failure (None: forever).
    pub timeout: Option<Duration>,
    /// Most retries in a streak (None: no limit).
    pub max_retries: Option<u64>,
    /// A fixed wait between retries instead of the exponential back-off.
    pub fixed_delay: Option<Duration>,
    /// Longest wait between retries (None: [`BACKOFF_MAX`]).
    pub max_delay: Option<Duration>,
}

impl RetryPolicy {
    /// The policy of a sink's config.
    pub fn of_sink(cfg: &crate::config::SinkConfig) -> RetryPolicy {
        let ms = |v: u64| Duration::from_millis(v);
        RetryPolicy {
            timeout: match cfg.errors_retry_timeout {
                None | Some(-1) => None,
                Some(t) => Some(ms(u64::try_from(t).unwrap_or(0))),
            },
            max_retries: cfg.max_retries,
            fixed_delay: cfg.retry_backoff_ms.map(ms),
            max_delay: cfg.errors_retry_delay_max_ms.map(ms),
        }
    }

    /// The wait before retry number `retries` (1-based) of a streak that
    /// began `elapsed` ago, given the exponential back-off `backoff`; None
    /// when the policy allows no more retries.
    fn wait(&self, retries: u64, elapsed: Duration, backoff: Duration) -> Option<Duration> {
        if self.max_retries.is_some_and(|max| retries > max) {
            return None;
        }
        let cap = self.max_delay.unwrap_or(BACKOFF_MAX);
        let wait = self
            .fixed_delay
            .unwrap_or_else(|| jittered(backoff))
            .min(cap);
        match self.timeout {
            Some(t) if elapsed + wait > t => None,
            _ => Some(wait),
        }
    }

    /// Why the streak ends, for the failed state.
    fn exhausted(&self, retries: u64) -> String {
        match (self.max_retries, self.timeout) {
            (Some(max), _) if retries > max => format!("gave up after max_retries = {max} retries"),
            (_, Some(t)) => format!(
                "gave up: errors_retry_timeout = {} ms reached",
                t.as_millis()
            ),
            _ => "gave up retrying".into(),
        }
    }
}

/// Runs `body` until it ends cleanly, fails definitely, or `cancel` fires;
/// transient failures restart it with exponential backoff (1 s … 30 s, ±20%
/// jitter), back to 1 s after a run that lasted [`HEALTHY_RUN`], within the
/// bounds of `retry` (past them the pipeline fails).
pub async fn supervise<F, Fut>(
    name: String,
    kind: &'static str,
    registry: Registry,
    cancel: CancellationToken,
    retry: RetryPolicy,
    mut body: F,
) where
    F: FnMut(CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<(), PipelineError>>,
{
    let mut backoff = Duration::ZERO;
    // The current streak of transient failures: when it began, how many retries.
    let mut streak: Option<(std::time::Instant, u64)> = None;
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
                backoff = next_backoff(backoff.max(BACKOFF_MIN / 2), started.elapsed());
                let (since, retries) = match streak {
                    Some((since, n)) if started.elapsed() < HEALTHY_RUN => (since, n + 1),
                    _ => (started, 1),
                };
                streak = Some((since, retries));
                let Some(wait) = retry.wait(retries, since.elapsed(), backoff) else {
                    let message = format!("{} ({})", e.message, retry.exhausted(retries));
                    tracing::error!(pipeline = %name, error = %message, "pipeline failed");
                    registry.set(&name, kind, PipelineState::Failed(message));
                    return;
                };
                METRICS.pipeline_restarts.with_label_values(&[&name]).inc();
                registry.set(&name, kind, PipelineState::Starting);
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

    /// How its transient failures are retried (sources: the default, forever).
    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        match self {
            Pipeline::Source(_) => RetryPolicy::default(),
            Pipeline::Sink(c) => RetryPolicy::of_sink(c),
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

    /// The pipeline and `[kafka]` with the `${provider:...}` references of
    /// their raw sections resolved (`crate::config::providers`), for one run;
    /// unchanged when there are none. REST pipelines (`rest`) read only what
    /// `[http]` allows, and the files their resolved values name are checked
    /// on disk too. An unresolvable reference is a definite error.
    fn resolved(
        &self,
        raw: &serde_json::Map<String, serde_json::Value>,
        kafka: &Arc<crate::config::KafkaConfig>,
        raw_kafka: &serde_json::Value,
        rest: Option<&crate::config::connect_json::AllowedFileDirs>,
    ) -> Result<
        (
            Pipeline,
            Arc<crate::config::KafkaConfig>,
            crate::config::providers::Resolved,
        ),
        PipelineError,
    > {
        use crate::config::providers;
        let definite = |e: crate::config::ConfigError| PipelineError {
            transient: false,
            message: e.to_string(),
            kafka_refused: false,
        };
        let mut resolved = providers::Resolved::default();
        let pipeline = match providers::resolve_pipeline(self.kind(), self.name(), raw, rest)
            .map_err(definite)?
        {
            Some((built, values)) => {
                resolved.extend(values);
                let pipeline = Pipeline::from(built);
                if let Some(allowed) = rest {
                    pipeline
                        .check_files_on_disk(allowed)
                        .map_err(|e| e.scrubbed(&resolved))?;
                }
                pipeline
            }
            None => self.clone(),
        };
        let kafka = match providers::resolve_kafka(raw_kafka).map_err(definite)? {
            Some((k, values)) => {
                resolved.extend(values);
                Arc::new(k)
            }
            None => kafka.clone(),
        };
        Ok((pipeline, kafka, resolved))
    }

    /// Runs the pipeline once, until cancelled or failed (a standby source:
    /// until cancelled or failed while leading, see [`standby`]).
    async fn run(
        &self,
        kafka: &crate::config::KafkaConfig,
        cancel: CancellationToken,
        node: &standby::Node,
    ) -> Result<(), PipelineError> {
        let pipeline = async {
            match self {
                Pipeline::Source(c) if c.standby => standby::run(c, kafka, node, cancel).await,
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
    fn retry_policy_bounds_a_streak() {
        let s = Duration::from_secs;
        let forever = RetryPolicy::default();
        assert!(forever.wait(1000, s(86_400), s(1)).is_some());
        let no_retry = RetryPolicy {
            timeout: Some(Duration::ZERO),
            ..RetryPolicy::default()
        };
        assert_eq!(no_retry.wait(1, Duration::ZERO, s(1)), None);
        let jdbc = RetryPolicy {
            max_retries: Some(2),
            fixed_delay: Some(Duration::from_millis(300)),
            ..RetryPolicy::default()
        };
        assert_eq!(jdbc.wait(1, s(0), s(8)), Some(Duration::from_millis(300)));
        assert_eq!(jdbc.wait(2, s(0), s(8)), Some(Duration::from_millis(300)));
        assert_eq!(jdbc.wait(3, s(0), s(8)), None);
        assert!(jdbc.exhausted(3).contains("max_retries = 2"));
        let timed = RetryPolicy {
            timeout: Some(s(10)),
            max_delay: Some(s(2)),
            ..RetryPolicy::default()
        };
        assert_eq!(
            timed.wait(5, s(3), s(30)),
            Some(s(2)),
            "capped by max_delay"
        );
        assert_eq!(timed.wait(6, s(9), s(30)), None, "past the timeout");
        assert!(timed
            .exhausted(6)
            .contains("errors_retry_timeout = 10000 ms"));
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
