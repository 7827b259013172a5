//! The supervisor's connector table: starts, stops, pauses, resumes and
//! restarts pipelines at run time, for the TOML file (at start and on
//! reload) and for the Connect REST API.
//!
//! Each pipeline runs as its own task under one [`TaskTracker`], with a child
//! of the shutdown token, so stopping one never touches the others. Write
//! operations are serialized by one async lock (as Connect's herder does);
//! reads take a short synchronous lock and never wait for a stop.
//!
//! REST-created connectors are persisted (see [`super::store`]) before they
//! start, so a connector the API acknowledged comes back after a restart.
//! TOML-defined pipelines belong to the file: the API shows them, pauses,
//! resumes and restarts them, but refuses to change or delete them.
//!
//! Local files: a REST connector may name files only under `[http]
//! allowed_file_dirs`. Creating one checks its paths lexically and reads
//! nothing (`connect_json::from_connect`); each start of its pipeline checks
//! them again with symlinks resolved, before the pipeline reads any.

mod config_file;
mod control;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use serde_json::{Map, Value};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::registry::{PipelineState, Registry};
use super::store::{Store, StoreError, StoredConnector};
use super::{supervise, with_heartbeat, Pipeline, DRAIN_DEADLINE};
use crate::config::connect_json::{self, AllowedFileDirs, ConnectorConfig};
use crate::config::{Config, ConfigError, KafkaConfig};

/// The worker id of a daemon without an HTTP listener.
pub const DEFAULT_WORKER_ID: &str = "sluice";

/// Where a connector was defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[source]]`/`[[sink]]` section of the config file.
    ConfigFile,
    /// Created over the REST API (persisted in the state directory).
    Rest,
}

/// A connector operation that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// No connector has this name.
    #[error("Connector {0} not found")]
    NotFound(String),
    /// The name is taken.
    #[error("Connector {0} already exists")]
    Exists(String),
    /// The connector belongs to the config file.
    #[error("Connector {0} is defined in the config file; change it there and reload (SIGHUP)")]
    FromConfigFile(String),
    /// The config is invalid.
    #[error("{0}")]
    Invalid(#[source] ConfigError),
    /// The state file could not be written.
    #[error("cannot persist connectors: {0}")]
    Store(#[source] StoreError),
    /// The daemon is stopping.
    #[error("the daemon is shutting down")]
    ShuttingDown,
}

/// The state a connector is asked to be in (Connect's target state).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TargetState {
    /// Its pipeline runs.
    #[default]
    Running,
    /// Paused (`PUT .../pause`): no pipeline runs; listed with its task.
    Paused,
    /// Stopped (`PUT .../stop`): no pipeline runs, no task; offsets kept
    /// and, in this state only, editable over the API.
    Stopped,
}

impl TargetState {
    /// Connect's name: `RUNNING`, `PAUSED`, `STOPPED`.
    pub fn connect_name(self) -> &'static str {
        match self {
            TargetState::Running => "RUNNING",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }

    /// Parses Connect's `initial_state` (case-insensitive).
    pub fn parse(text: &str) -> Option<TargetState> {
        match text.to_ascii_uppercase().as_str() {
            "RUNNING" => Some(TargetState::Running),
            "PAUSED" => Some(TargetState::Paused),
            "STOPPED" => Some(TargetState::Stopped),
            _ => None,
        }
    }
}

/// What the API shows of a connector.
#[derive(Debug, Clone)]
pub struct ConnectorInfo {
    /// Name.
    pub name: String,
    /// `source` or `sink`.
    pub kind: &'static str,
    /// Config with secrets hidden.
    pub config: Map<String, Value>,
    /// Where it was defined.
    pub origin: Origin,
    /// How many tasks it runs (a sink's `tasks_max`; 1 for sources).
    pub tasks: u32,
    /// The state it is asked to be in.
    pub target: TargetState,
    /// A standby source (`standby = true`): its status names this worker.
    pub standby: bool,
}

struct RunHandle {
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

struct Connector {
    origin: Origin,
    pipeline: Pipeline,
    /// REST: the posted map (with secrets); file: the raw TOML section.
    config: Map<String, Value>,
    target: TargetState,
    run: Option<RunHandle>,
}

impl Connector {
    fn info(&self, name: &str) -> ConnectorInfo {
        let config = match self.origin {
            Origin::Rest => connect_json::redacted(&self.config),
            Origin::ConfigFile => connect_json::toml_view(self.pipeline.kind(), &self.config),
        };
        ConnectorInfo {
            name: name.to_string(),
            kind: self.pipeline.kind(),
            config,
            origin: self.origin,
            tasks: match &self.pipeline {
                Pipeline::Sink(c) => c.task_count(),
                Pipeline::Source(_) => 1,
            },
            target: self.target,
            standby: matches!(&self.pipeline, Pipeline::Source(c) if c.standby),
        }
    }
}

struct Inner {
    kafka: RwLock<(Arc<KafkaConfig>, Value)>,
    registry: Registry,
    tracker: TaskTracker,
    shutdown: CancellationToken,
    store: Store,
    ops: tokio::sync::Mutex<()>,
    table: RwLock<BTreeMap<String, Connector>>,
    /// Stored connectors that could not be loaded; kept in the file untouched.
    unloadable: RwLock<BTreeMap<String, StoredConnector>>,
    /// Where REST connectors may name local files (`[http] allowed_file_dirs`);
    /// shared with the pipeline tasks, which check against the current list.
    allowed_files: Arc<RwLock<Arc<AllowedFileDirs>>>,
    /// This daemon's worker id (`host:port` of its HTTP listener).
    worker_id: RwLock<Arc<str>>,
}

/// Starts and stops pipelines; cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

fn pipelines_of(config: &Config) -> Vec<Pipeline> {
    let sources = config
        .source
        .iter()
        .cloned()
        .map(|c| Pipeline::Source(Arc::new(c)));
    let sinks = config
        .sink
        .iter()
        .cloned()
        .map(|c| Pipeline::Sink(Arc::new(c)));
    sources.chain(sinks).collect()
}

impl Supervisor {
    /// A supervisor with no pipelines yet.
    pub fn new(
        kafka: KafkaConfig,
        raw_kafka: Value,
        registry: Registry,
        store: Store,
        shutdown: CancellationToken,
    ) -> Supervisor {
        Supervisor {
            inner: Arc::new(Inner {
                kafka: RwLock::new((Arc::new(kafka), raw_kafka)),
                registry,
                tracker: TaskTracker::new(),
                shutdown,
                store,
                ops: tokio::sync::Mutex::new(()),
                table: RwLock::new(BTreeMap::new()),
                unloadable: RwLock::new(BTreeMap::new()),
                allowed_files: Arc::new(RwLock::new(Arc::new(AllowedFileDirs::default()))),
                worker_id: RwLock::new(Arc::from(DEFAULT_WORKER_ID)),
            }),
        }
    }

    /// The pipeline state registry.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn kafka(&self) -> Arc<KafkaConfig> {
        self.inner
            .kafka
            .read()
            .map(|k| k.0.clone())
            .unwrap_or_default()
    }

    /// Sets the directories under which REST connectors may name local files
    /// (from `[http] allowed_file_dirs`, at start and on reload).
    pub fn set_allowed_file_dirs(&self, dirs: AllowedFileDirs) {
        if let Ok(mut a) = self.inner.allowed_files.write() {
            *a = Arc::new(dirs);
        }
    }

    /// Sets this daemon's worker id (`host:port` of its HTTP listener), which
    /// standby sources show in their status and to the other instances.
    pub fn set_worker_id(&self, id: &str) {
        if let Ok(mut w) = self.inner.worker_id.write() {
            *w = Arc::from(id);
        }
    }

    /// This daemon's worker id.
    pub fn worker_id(&self) -> Arc<str> {
        self.inner
            .worker_id
            .read()
            .map(|w| w.clone())
            .unwrap_or_else(|_| Arc::from(DEFAULT_WORKER_ID))
    }

    fn allowed_files(&self) -> Arc<AllowedFileDirs> {
        self.inner
            .allowed_files
            .read()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// Builds a REST connector's pipeline: validated, its local files allowed.
    fn build(
        &self,
        name: &str,
        config: &Map<String, Value>,
    ) -> Result<ConnectorConfig, ConfigError> {
        connect_json::from_connect(name, config, &self.allowed_files())
    }

    /// Runs the checks of a create on `config` without creating anything
    /// (`PUT /connector-plugins/{plugin}/config/validate`).
    pub fn validate_config(
        &self,
        name: &str,
        config: &Map<String, Value>,
    ) -> Result<(), ConfigError> {
        self.build(name, config).map(|_| ())
    }

    fn spawn(
        &self,
        name: &str,
        pipeline: Pipeline,
        origin: Origin,
        raw: Map<String, Value>,
    ) -> RunHandle {
        let cancel = self.inner.shutdown.child_token();
        let kafka = self.kafka();
        let raw_kafka = self
            .inner
            .kafka
            .read()
            .map(|k| k.1.clone())
            .unwrap_or_default();
        // REST pipelines: their files are checked on disk (against the list of
        // the moment: a reload applies at the next start) before each run reads them.
        let allowed = (origin == Origin::Rest).then(|| self.inner.allowed_files.clone());
        let kind = pipeline.kind();
        let registry = self.inner.registry.clone();
        registry.set(name, kind, PipelineState::Starting);
        let heartbeat = registry.heartbeat(name, kind);
        let span = tracing::info_span!("pipeline", pipeline = %name);
        let retry = pipeline.retry_policy();
        let node = super::standby::Node {
            registry: registry.clone(),
            worker_id: self.worker_id(),
        };
        let body = supervise(
            name.to_string(),
            kind,
            registry,
            cancel.clone(),
            retry,
            move |c| {
                let pipeline = pipeline.clone();
                let kafka = kafka.clone();
                let heartbeat = heartbeat.clone();
                let allowed = allowed.clone();
                let node = node.clone();
                let (raw, raw_kafka) = (raw.clone(), raw_kafka.clone());
                async move {
                    let now = allowed.map(|a| a.read().map(|a| a.clone()).unwrap_or_default());
                    if let Some(now) = &now {
                        pipeline.check_files_on_disk(now)?;
                    }
                    // `${provider:...}` references, resolved at each start.
                    let (pipeline, kafka, resolved) =
                        pipeline.resolved(&raw, &kafka, &raw_kafka, now.as_deref())?;
                    with_heartbeat(heartbeat, pipeline.run(&kafka, c, &node))
                        .await
                        .map_err(|e| e.scrubbed(&resolved))
                }
            },
        );
        let task = self
            .inner
            .tracker
            .spawn(tracing::Instrument::instrument(body, span));
        RunHandle { cancel, task }
    }

    /// Starts `name` unless it is paused, stopped or already running.
    fn start(&self, name: &str) {
        let Ok(mut table) = self.inner.table.write() else {
            return;
        };
        let Some(c) = table.get_mut(name) else {
            return;
        };
        match c.target {
            TargetState::Paused => {
                self.inner
                    .registry
                    .set(name, c.pipeline.kind(), PipelineState::Paused);
            }
            TargetState::Stopped => {
                self.inner
                    .registry
                    .set(name, c.pipeline.kind(), PipelineState::Stopped);
            }
            TargetState::Running if c.run.is_none() => {
                c.run = Some(self.spawn(name, c.pipeline.clone(), c.origin, c.config.clone()));
            }
            TargetState::Running => {}
        }
    }

    /// Stops `name` and waits for it to drain (up to the drain deadline).
    async fn stop(&self, name: &str) {
        let handle = match self.inner.table.write() {
            Ok(mut t) => t.get_mut(name).and_then(|c| c.run.take()),
            Err(_) => None,
        };
        let Some(RunHandle { cancel, task }) = handle else {
            return;
        };
        cancel.cancel();
        let abort = task.abort_handle();
        if tokio::time::timeout(DRAIN_DEADLINE, task).await.is_err() {
            tracing::warn!(pipeline = %name, "pipeline did not stop in time; aborting it");
            abort.abort();
        }
    }

    fn persist(&self) -> Result<(), StoreError> {
        let mut stored = self
            .inner
            .unloadable
            .read()
            .map(|u| u.clone())
            .unwrap_or_default();
        if let Ok(table) = self.inner.table.read() {
            for (name, c) in table.iter().filter(|(_, c)| c.origin == Origin::Rest) {
                stored.insert(
                    name.clone(),
                    StoredConnector {
                        config: c.config.clone(),
                        paused: c.target == TargetState::Paused,
                        stopped: c.target == TargetState::Stopped,
                    },
                );
            }
        }
        self.inner.store.save(&stored)
    }

    fn insert(&self, name: &str, connector: Connector) {
        if let Ok(mut t) = self.inner.table.write() {
            t.insert(name.to_string(), connector);
        }
    }

    /// Every connector name.
    pub fn names(&self) -> Vec<String> {
        self.inner
            .table
            .read()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The connector `name`.
    pub fn info(&self, name: &str) -> Result<ConnectorInfo, ConnectorError> {
        self.inner
            .table
            .read()
            .ok()
            .and_then(|t| t.get(name).map(|c| c.info(name)))
            .ok_or_else(|| ConnectorError::NotFound(name.to_string()))
    }

    async fn lock_ops(&self) -> Result<tokio::sync::MutexGuard<'_, ()>, ConnectorError> {
        let guard = self.inner.ops.lock().await;
        if self.inner.shutdown.is_cancelled() {
            return Err(ConnectorError::ShuttingDown);
        }
        Ok(guard)
    }

    fn origin(&self, name: &str) -> Result<Origin, ConnectorError> {
        self.info(name).map(|i| i.origin)
    }

    /// `POST /connectors`: validates, persists and starts a new connector
    /// in `initial` state (Connect's `initial_state`).
    pub async fn create(
        &self,
        name: &str,
        config: Map<String, Value>,
        initial: TargetState,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let _ops = self.lock_ops().await?;
        if self.origin(name).is_ok() {
            return Err(ConnectorError::Exists(name.to_string()));
        }
        self.create_locked(name, config, initial)
    }

    fn create_locked(
        &self,
        name: &str,
        config: Map<String, Value>,
        target: TargetState,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let built = self.build(name, &config).map_err(ConnectorError::Invalid)?;
        crate::active_topics::reset(name);
        let connector = Connector {
            origin: Origin::Rest,
            pipeline: Pipeline::from(built),
            config,
            target,
            run: None,
        };
        self.insert(name, connector);
        if let Err(e) = self.persist() {
            if let Ok(mut t) = self.inner.table.write() {
                t.remove(name);
            }
            return Err(ConnectorError::Store(e));
        }
        if let Ok(mut u) = self.inner.unloadable.write() {
            u.remove(name);
        }
        tracing::info!(pipeline = %name, "connector created");
        self.start(name);
        self.info(name)
    }

    /// `PUT /connectors/{name}/config`: creates (true) or replaces (false).
    pub async fn put_config(
        &self,
        name: &str,
        config: Map<String, Value>,
    ) -> Result<(bool, ConnectorInfo), ConnectorError> {
        let _ops = self.lock_ops().await?;
        match self.origin(name) {
            Err(_) => {
                return self
                    .create_locked(name, config, TargetState::Running)
                    .map(|i| (true, i))
            }
            Ok(Origin::ConfigFile) => return Err(ConnectorError::FromConfigFile(name.into())),
            Ok(Origin::Rest) => {}
        }
        self.replace_locked(name, config).await.map(|i| (false, i))
    }

    /// `PATCH /connectors/{name}/config`: merges `patch` into the config (a
    /// null value removes the key) and applies it as `PUT` does.
    pub async fn patch_config(
        &self,
        name: &str,
        patch: Map<String, Value>,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let _ops = self.lock_ops().await?;
        if self.origin(name)? == Origin::ConfigFile {
            return Err(ConnectorError::FromConfigFile(name.into()));
        }
        let mut config = self
            .inner
            .table
            .read()
            .ok()
            .and_then(|t| t.get(name).map(|c| c.config.clone()))
            .ok_or_else(|| ConnectorError::NotFound(name.to_string()))?;
        merge_patch(&mut config, patch);
        self.replace_locked(name, config).await
    }

    /// Validates, persists and applies a REST connector's new config.
    async fn replace_locked(
        &self,
        name: &str,
        config: Map<String, Value>,
    ) -> Result<ConnectorInfo, ConnectorError> {
        let built = self.build(name, &config).map_err(ConnectorError::Invalid)?;
        let old = self.swap(name, Pipeline::from(built), config);
        if let Err(e) = self.persist() {
            if let Some((pipeline, config)) = old {
                self.swap(name, pipeline, config);
            }
            return Err(ConnectorError::Store(e));
        }
        self.stop(name).await;
        self.start(name);
        tracing::info!(pipeline = %name, "connector config updated");
        self.info(name)
    }

    /// Replaces a connector's pipeline and config; returns the old ones.
    fn swap(
        &self,
        name: &str,
        pipeline: Pipeline,
        config: Map<String, Value>,
    ) -> Option<(Pipeline, Map<String, Value>)> {
        let mut t = self.inner.table.write().ok()?;
        let c = t.get_mut(name)?;
        let old_pipeline = std::mem::replace(&mut c.pipeline, pipeline);
        let old_config = std::mem::replace(&mut c.config, config);
        Some((old_pipeline, old_config))
    }

    /// `DELETE /connectors/{name}`: stops it and forgets it.
    pub async fn delete(&self, name: &str) -> Result<(), ConnectorError> {
        let _ops = self.lock_ops().await?;
        if self.origin(name)? == Origin::ConfigFile {
            return Err(ConnectorError::FromConfigFile(name.into()));
        }
        let removed = self
            .inner
            .table
            .write()
            .ok()
            .and_then(|mut t| t.remove(name));
        if let Err(e) = self.persist() {
            if let Some(c) = removed {
                self.insert(name, c);
            }
            return Err(ConnectorError::Store(e));
        }
        if let Some(RunHandle { cancel, task }) = removed.and_then(|c| c.run) {
            cancel.cancel();
            let abort = task.abort_handle();
            if tokio::time::timeout(DRAIN_DEADLINE, task).await.is_err() {
                abort.abort();
            }
        }
        self.inner.registry.remove(name);
        crate::active_topics::reset(name);
        tracing::info!(pipeline = %name, "connector deleted");
        Ok(())
    }

    /// The pipeline of `name`, the Kafka settings it runs with, and its target state.
    pub(crate) fn pipeline(
        &self,
        name: &str,
    ) -> Result<(Pipeline, Arc<KafkaConfig>, TargetState), ConnectorError> {
        let t = self
            .inner
            .table
            .read()
            .map_err(|_| ConnectorError::NotFound(name.into()))?;
        let c = t
            .get(name)
            .ok_or_else(|| ConnectorError::NotFound(name.into()))?;
        Ok((c.pipeline.clone(), self.kafka(), c.target))
    }

    /// As [`Supervisor::pipeline`], holding the lock of write operations
    /// while the guard lives: nothing starts, resumes or changes the
    /// connector meanwhile (its offsets are rewritten under it).
    pub(crate) async fn pipeline_locked(
        &self,
        name: &str,
    ) -> Result<
        (
            tokio::sync::MutexGuard<'_, ()>,
            Pipeline,
            Arc<KafkaConfig>,
            TargetState,
        ),
        ConnectorError,
    > {
        let guard = self.lock_ops().await?;
        let (pipeline, kafka, target) = self.pipeline(name)?;
        Ok((guard, pipeline, kafka, target))
    }

    /// The Kafka settings of the daemon.
    pub fn kafka_config(&self) -> Arc<KafkaConfig> {
        self.kafka()
    }

    /// Waits (up to `deadline`) for every pipeline task to end after shutdown.
    pub async fn drain(&self, deadline: std::time::Duration) -> bool {
        let _ops = self.inner.ops.lock().await;
        self.inner.tracker.close();
        tokio::time::timeout(deadline, self.inner.tracker.wait())
            .await
            .is_ok()
    }
}

/// Merges a PATCH into `config`: a null value removes its key, any other
/// value replaces it.
pub fn merge_patch(config: &mut Map<String, Value>, patch: Map<String, Value>) {
    for (key, value) in patch {
        if value.is_null() {
            config.remove(&key);
        } else {
            config.insert(key, value);
        }
    }
}

impl From<ConnectorConfig> for Pipeline {
    fn from(c: ConnectorConfig) -> Pipeline {
        match c {
            ConnectorConfig::Source(s) => Pipeline::Source(Arc::new(s)),
            ConnectorConfig::Sink(s) => Pipeline::Sink(Arc::new(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_patch_replaces_adds_and_removes_keys() {
        let mut config = json!({"a": "1", "b": "2", "c": "3"})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let patch = json!({"a": "9", "b": null, "d": "4", "x": null})
            .as_object()
            .cloned()
            .unwrap_or_default();
        merge_patch(&mut config, patch);
        assert_eq!(Value::Object(config), json!({"a": "9", "c": "3", "d": "4"}));
    }

    #[test]
    fn target_states_parse_case_insensitively() {
        assert_eq!(TargetState::parse("stopped"), Some(TargetState::Stopped));
        assert_eq!(TargetState::parse("PAUSED"), Some(TargetState::Paused));
        assert_eq!(TargetState::parse("Running"), Some(TargetState::Running));
        assert_eq!(TargetState::parse("gone"), None);
    }
}
