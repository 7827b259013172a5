//! Every pipeline's state and progress heartbeat, shared by the supervisor,
//! the HTTP API and the systemd watchdog loop.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::metrics::METRICS;

/// A pipeline's lifecycle state, as the REST API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineState {
    /// Starting, or waiting to restart after a transient error.
    Starting,
    /// Running.
    Running,
    /// Stopped on request (`PUT .../pause`); resumes on `PUT .../resume`.
    Paused,
    /// Stopped after a definite error.
    Failed(String),
    /// Stopped (shutdown, or its body ended).
    Stopped,
    /// A standby source waiting for leadership (`crate::app::standby`);
    /// `leader`: the worker id of the instance that leads, when known.
    Standby {
        /// The leading instance's worker id.
        leader: Option<String>,
    },
}

impl PipelineState {
    /// Kafka Connect's state name.
    pub fn connect_name(&self) -> &'static str {
        match self {
            PipelineState::Starting => "UNASSIGNED",
            PipelineState::Running => "RUNNING",
            PipelineState::Paused => "PAUSED",
            PipelineState::Failed(_) => "FAILED",
            PipelineState::Stopped => "STOPPED",
            // Connect shows a task no worker runs as UNASSIGNED.
            PipelineState::Standby { .. } => "UNASSIGNED",
        }
    }
}

/// A pipeline's progress heartbeat (see [`crate::liveness`] for what counts as a beat).
pub use crate::liveness::Liveness as Heartbeat;

/// One pipeline as the registry sees it.
#[derive(Debug, Clone)]
pub struct PipelineEntry {
    /// `source` or `sink`.
    pub kind: &'static str,
    /// Lifecycle state.
    pub state: PipelineState,
    /// Progress heartbeat.
    pub heartbeat: Heartbeat,
}

/// Shared view of every pipeline's state.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    inner: Arc<RwLock<BTreeMap<String, PipelineEntry>>>,
}

impl Registry {
    /// Records `state` for pipeline `name` of `kind` ("source"/"sink").
    pub fn set(&self, name: &str, kind: &'static str, state: PipelineState) {
        METRICS
            .pipeline_up
            .with_label_values(&[name])
            .set(i64::from(matches!(
                state,
                PipelineState::Running | PipelineState::Standby { .. }
            )));
        // One series per Connect state name, 1 for the current one.
        for s in ["UNASSIGNED", "RUNNING", "PAUSED", "FAILED", "STOPPED"] {
            METRICS
                .pipeline_state
                .with_label_values(&[name, s])
                .set(i64::from(state.connect_name() == s));
        }
        if let Ok(mut m) = self.inner.write() {
            let entry = m.entry(name.to_string()).or_insert_with(|| PipelineEntry {
                kind,
                state: PipelineState::Starting,
                heartbeat: Heartbeat::default(),
            });
            entry.kind = kind;
            entry.state = state;
            entry.heartbeat.beat();
        }
    }

    /// The heartbeat of `name` (created on first use).
    pub fn heartbeat(&self, name: &str, kind: &'static str) -> Heartbeat {
        if let Ok(mut m) = self.inner.write() {
            let entry = m.entry(name.to_string()).or_insert_with(|| PipelineEntry {
                kind,
                state: PipelineState::Starting,
                heartbeat: Heartbeat::default(),
            });
            entry.heartbeat.beat();
            return entry.heartbeat.clone();
        }
        Heartbeat::default()
    }

    /// Forgets pipeline `name` (deleted or removed from the config).
    pub fn remove(&self, name: &str) {
        let _ = METRICS.pipeline_up.remove_label_values(&[name]);
        if let Ok(mut m) = self.inner.write() {
            m.remove(name);
        }
    }

    /// The state of `name`.
    pub fn get(&self, name: &str) -> Option<PipelineEntry> {
        self.inner.read().ok()?.get(name).cloned()
    }

    /// Every pipeline: name → entry.
    pub fn snapshot(&self) -> BTreeMap<String, PipelineEntry> {
        self.inner.read().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Running pipelines whose heartbeat is older than `limit`.
pub fn stalled(snapshot: &BTreeMap<String, PipelineEntry>, limit: Duration) -> Vec<String> {
    snapshot
        .iter()
        .filter(|(_, e)| e.state == PipelineState::Running && e.heartbeat.age() > limit)
        .map(|(n, _)| n.clone())
        .collect()
}

/// Pipelines that have not ended (not stopped, paused or failed): at a
/// shutdown's drain deadline, the ones still stopping.
pub fn not_ended(snapshot: &BTreeMap<String, PipelineEntry>) -> Vec<String> {
    snapshot
        .iter()
        .filter(|(_, e)| {
            !matches!(
                e.state,
                PipelineState::Stopped | PipelineState::Paused | PipelineState::Failed(_)
            )
        })
        .map(|(n, _)| n.clone())
        .collect()
}

/// A human-readable summary for systemd's `STATUS=`.
pub fn summary(snapshot: &BTreeMap<String, PipelineEntry>) -> String {
    let count = |f: fn(&PipelineState) -> bool| snapshot.values().filter(|e| f(&e.state)).count();
    let running = count(|s| *s == PipelineState::Running);
    let failed = count(|s| matches!(s, PipelineState::Failed(_)));
    let paused = count(|s| *s == PipelineState::Paused);
    let starting = count(|s| *s == PipelineState::Starting);
    let plural = if running == 1 { "" } else { "s" };
    let mut text = format!("{running} pipeline{plural} running; {failed} failed");
    if paused > 0 {
        text.push_str(&format!("; {paused} paused"));
    }
    if starting > 0 {
        text.push_str(&format!("; {starting} starting"));
    }
    let standby = count(|s| matches!(s, PipelineState::Standby { .. }));
    if standby > 0 {
        text.push_str(&format!("; {standby} standby"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_states() {
        let r = Registry::default();
        r.set("a", "source", PipelineState::Running);
        r.set("b", "sink", PipelineState::Failed("x".into()));
        r.set("c", "sink", PipelineState::Paused);
        assert_eq!(
            summary(&r.snapshot()),
            "1 pipeline running; 1 failed; 1 paused"
        );
    }

    #[test]
    fn pipelines_still_stopping_are_named() {
        let r = Registry::default();
        r.set("done", "source", PipelineState::Stopped);
        r.set("paused", "sink", PipelineState::Paused);
        r.set("broken", "sink", PipelineState::Failed("x".into()));
        r.set("busy", "source", PipelineState::Running);
        r.set("retrying", "sink", PipelineState::Starting);
        r.set("waiting", "source", PipelineState::Standby { leader: None });
        assert_eq!(not_ended(&r.snapshot()), ["busy", "retrying", "waiting"]);
    }

    #[test]
    fn a_standby_source_is_up_unassigned_and_counted() {
        let r = Registry::default();
        r.set("a", "source", PipelineState::Running);
        let standby = PipelineState::Standby {
            leader: Some("h:8083".into()),
        };
        assert_eq!(standby.connect_name(), "UNASSIGNED");
        r.set("s", "source", standby);
        assert_eq!(
            summary(&r.snapshot()),
            "1 pipeline running; 0 failed; 1 standby"
        );
        assert_eq!(METRICS.pipeline_up.with_label_values(&["s"]).get(), 1);
        assert!(
            stalled(&r.snapshot(), Duration::ZERO)
                .iter()
                .all(|n| n != "s"),
            "a standby instance is never stalled"
        );
    }

    #[test]
    fn a_running_pipeline_without_beats_is_stalled() {
        let r = Registry::default();
        r.set("a", "source", PipelineState::Running);
        r.set("b", "source", PipelineState::Paused);
        assert!(stalled(&r.snapshot(), Duration::from_secs(60)).is_empty());
        // Ages the heartbeat past a 1 ms limit (not a wait for a condition).
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(stalled(&r.snapshot(), Duration::from_millis(1)), vec!["a"]);
    }
}
