//! systemd integration (`Type=notify`): `READY=1` once every pipeline has
//! started, `STATUS=` lines a human can read in `systemctl status`,
//! `WATCHDOG=1` pings that stop when a pipeline stalls, `RELOADING=1` around
//! a SIGHUP reload, and `STOPPING=1` on shutdown. Without `$NOTIFY_SOCKET`
//! every call is a no-op.
//!
//! A pipeline stalls when it has shown no sign of life (see
//! [`crate::liveness`]) for [`stall_limit`]: sinks wake at least every
//! 500 ms, poll sources every `poll_interval_ms`, and a binlog source counts
//! only events from the server while it waits on it (a server heartbeat at
//! least every period; its own idle timer does not count). Every wait on a
//! peer has a much shorter bound of its own that restarts the pipeline, so
//! only a pipeline stuck in a blocking call or a wait no bound reaches goes
//! that long. The pings also stop when the runtime itself is wedged, since
//! they come from a task on it.

use std::time::{Duration, Instant};

use sd_notify::NotifyState;
use tokio_util::sync::CancellationToken;

use crate::app::registry::{self, PipelineState, Registry};

/// How often `STATUS=` is refreshed when no watchdog is configured.
const STATUS_PERIOD: Duration = Duration::from_secs(2);

/// Sends `states`; errors (no socket, or a socket that went away) are ignored.
pub fn notify(states: &[NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::debug!(error = %e, "sd_notify failed");
    }
}

/// Sends `STATUS=<text>`.
pub fn status(text: &str) {
    notify(&[NotifyState::Status(text)]);
}

/// How long a running pipeline may go unscheduled before the watchdog pings stop.
pub fn stall_limit(watchdog: Option<Duration>) -> Duration {
    let floor = Duration::from_secs(300);
    watchdog.map_or(floor, |w| (w * 2).max(floor))
}

/// Waits (up to `deadline`) until no pipeline is still starting, then sends
/// `READY=1` and the first `STATUS=`.
pub async fn ready_when_started(registry: &Registry, deadline: Duration) {
    let start = Instant::now();
    while start.elapsed() < deadline
        && registry
            .snapshot()
            .values()
            .any(|e| e.state == PipelineState::Starting)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = registry::summary(&registry.snapshot());
    notify(&[NotifyState::Ready, NotifyState::Status(&text)]);
    tracing::info!(status = %text, "ready");
}

/// Refreshes `STATUS=` and pings the watchdog (when `$WATCHDOG_USEC` is set)
/// until `cancel` fires; pings stop while a running pipeline is stalled.
pub fn spawn_loop(registry: Registry, cancel: CancellationToken) {
    let watchdog = sd_notify::watchdog_enabled();
    let period = watchdog.map_or(STATUS_PERIOD, |w| (w / 2).min(STATUS_PERIOD));
    let limit = stall_limit(watchdog);
    tokio::spawn(async move {
        let mut last_status = String::new();
        let mut was_stalled = false;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tokio::time::sleep(period) => {}
            }
            let snapshot = registry.snapshot();
            let stalled = registry::stalled(&snapshot, limit);
            let text = if stalled.is_empty() {
                registry::summary(&snapshot)
            } else {
                format!(
                    "stalled: {}; {}",
                    stalled.join(", "),
                    registry::summary(&snapshot)
                )
            };
            if text != last_status {
                status(&text);
                last_status = text;
            }
            if stalled.is_empty() {
                if watchdog.is_some() {
                    notify(&[NotifyState::Watchdog]);
                }
                was_stalled = false;
            } else if !was_stalled {
                tracing::error!(pipelines = ?stalled, limit_s = limit.as_secs(),
                    "pipelines stalled; watchdog pings stopped");
                was_stalled = true;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_limit_is_at_least_five_minutes() {
        assert_eq!(stall_limit(None), Duration::from_secs(300));
        assert_eq!(
            stall_limit(Some(Duration::from_secs(600))),
            Duration::from_secs(1200)
        );
    }
}
