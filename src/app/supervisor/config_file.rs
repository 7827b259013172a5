//! The config file's side of the supervisor: the pipelines of the file and
//! the stored REST connectors at start, and the diff applied on reload.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Map, Value};

use super::{pipelines_of, Connector, ConnectorError, Origin, Supervisor, TargetState};
use crate::app::store::StoreError;
use crate::app::Pipeline;
use crate::config::connect_json::{AllowedFileDirs, RawConfig};
use crate::config::{Config, ConfigError};

impl Supervisor {
    /// Starts the config file's pipelines, then the stored REST connectors
    /// (a stored one whose name the file now uses, or that no longer
    /// validates, is logged and kept in the file without running).
    pub async fn start_all(&self, config: &Config, raw: &RawConfig) -> Result<(), StoreError> {
        let _ops = self.inner.ops.lock().await;
        self.set_allowed_file_dirs(
            AllowedFileDirs::new(&config.http.allowed_file_dirs)
                .with_env_vars(&config.http.allowed_env_vars),
        );
        // Read first: a state file that cannot be read starts nothing.
        let stored_connectors = self.inner.store.load()?;
        for pipeline in pipelines_of(config) {
            let name = pipeline.name().to_string();
            let section = raw
                .pipeline(&name)
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            let connector = Connector {
                origin: Origin::ConfigFile,
                pipeline,
                config: section,
                target: TargetState::Running,
                run: None,
            };
            self.insert(&name, connector);
            self.start(&name);
        }
        for (name, stored) in stored_connectors {
            let taken = self.inner.table.read().is_ok_and(|t| t.contains_key(&name));
            let built = if taken {
                Err(format!("the config file defines a pipeline named {name}"))
            } else {
                self.build(&name, &stored.config)
                    .map_err(|e| crate::config::redact_text(&e.to_string()))
            };
            match built {
                Ok(built) => {
                    let connector = Connector {
                        origin: Origin::Rest,
                        pipeline: Pipeline::from(built),
                        target: stored.target_state(),
                        config: stored.config,
                        run: None,
                    };
                    self.insert(&name, connector);
                    self.start(&name);
                }
                Err(reason) => {
                    tracing::error!(pipeline = %name, error = %reason, file = %self.inner.store.path().display(),
                        "stored connector not started");
                    if let Ok(mut u) = self.inner.unloadable.write() {
                        u.insert(name, stored);
                    }
                }
            }
        }
        Ok(())
    }

    /// Applies a reloaded config file: starts added pipelines, stops removed
    /// ones, restarts changed ones (all of them when `[kafka]` changed).
    /// Returns (added, removed, restarted).
    pub async fn reload(
        &self,
        config: &Config,
        raw: &RawConfig,
    ) -> Result<(usize, usize, usize), ConnectorError> {
        let _ops = self.lock_ops().await?;
        // Applies to REST connectors created or started from now on.
        self.set_allowed_file_dirs(
            AllowedFileDirs::new(&config.http.allowed_file_dirs)
                .with_env_vars(&config.http.allowed_env_vars),
        );
        let new: BTreeMap<String, Pipeline> = pipelines_of(config)
            .into_iter()
            .map(|p| (p.name().to_string(), p))
            .collect();
        let current: BTreeMap<String, (Origin, Map<String, Value>)> = self
            .inner
            .table
            .read()
            .map(|t| {
                t.iter()
                    .map(|(n, c)| (n.clone(), (c.origin, c.config.clone())))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(name) = new
            .keys()
            .find(|n| current.get(*n).is_some_and(|(o, _)| *o == Origin::Rest))
        {
            return Err(ConnectorError::Invalid(ConfigError::Invalid {
                pipeline: name.clone(),
                key: "name".into(),
                reason: "a connector created over the REST API has this name".into(),
            }));
        }
        // References (`${file:...}`) may resolve differently now: a reload
        // restarts what holds them, so rotated secrets are read again.
        let refs = crate::config::providers::value_has_references;
        let kafka_changed =
            self.inner.kafka.read().is_ok_and(|k| k.1 != raw.kafka) || refs(&raw.kafka);
        if kafka_changed {
            if let Ok(mut k) = self.inner.kafka.write() {
                *k = (Arc::new(config.kafka.clone()), raw.kafka.clone());
            }
        }
        let (mut added, mut removed, mut restarted) = (0, 0, 0);
        for (name, (origin, _)) in &current {
            if *origin == Origin::ConfigFile && !new.contains_key(name) {
                self.stop(name).await;
                if let Ok(mut t) = self.inner.table.write() {
                    t.remove(name);
                }
                self.inner.registry.remove(name);
                removed += 1;
            }
        }
        for (name, pipeline) in new {
            let section = raw
                .pipeline(&name)
                .map(|(_, m)| m.clone())
                .unwrap_or_default();
            match current.get(&name) {
                Some((_, old))
                    if *old == section && !kafka_changed && !section.values().any(refs) => {}
                Some(_) => {
                    self.stop(&name).await;
                    self.swap(&name, pipeline, section);
                    self.start(&name);
                    restarted += 1;
                }
                None => {
                    let connector = Connector {
                        origin: Origin::ConfigFile,
                        pipeline,
                        config: section,
                        target: TargetState::Running,
                        run: None,
                    };
                    self.insert(&name, connector);
                    self.start(&name);
                    added += 1;
                }
            }
        }
        if kafka_changed {
            for (name, (origin, _)) in &current {
                if *origin == Origin::Rest {
                    self.stop(name).await;
                    self.start(name);
                    restarted += 1;
                }
            }
        }
        Ok((added, removed, restarted))
    }
}
