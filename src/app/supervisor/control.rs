//! The state a connector is asked to be in (Connect's target state) and the
//! REST calls that change it: pause, stop, resume, restart.

use super::{ConnectorError, Origin, Supervisor, TargetState};
use crate::app::PipelineState;

impl Supervisor {
    /// Sets the target state of `name`, persisted for REST connectors;
    /// returns the previous one.
    fn set_target(&self, name: &str, target: TargetState) -> Result<TargetState, ConnectorError> {
        let (was, origin) = {
            let mut t = self
                .inner
                .table
                .write()
                .map_err(|_| ConnectorError::NotFound(name.into()))?;
            let c = t
                .get_mut(name)
                .ok_or_else(|| ConnectorError::NotFound(name.into()))?;
            (std::mem::replace(&mut c.target, target), c.origin)
        };
        if was != target && origin == Origin::Rest {
            if let Err(e) = self.persist() {
                if let Ok(mut t) = self.inner.table.write() {
                    if let Some(c) = t.get_mut(name) {
                        c.target = was;
                    }
                }
                return Err(ConnectorError::Store(e));
            }
        }
        Ok(was)
    }

    /// Puts `name` in `target` (PAUSED or STOPPED): its pipeline stops.
    async fn halt(&self, name: &str, target: TargetState) -> Result<(), ConnectorError> {
        let _ops = self.lock_ops().await?;
        let kind = self.info(name)?.kind;
        if self.set_target(name, target)? != target {
            self.stop(name).await;
            let state = match target {
                TargetState::Stopped => PipelineState::Stopped,
                _ => PipelineState::Paused,
            };
            self.inner.registry.set(name, kind, state);
            tracing::info!(pipeline = %name, state = target.connect_name(), "connector halted");
        }
        Ok(())
    }

    /// `PUT /connectors/{name}/pause`: stops the pipeline, keeps it listed as PAUSED.
    pub async fn pause(&self, name: &str) -> Result<(), ConnectorError> {
        self.halt(name, TargetState::Paused).await
    }

    /// `PUT /connectors/{name}/stop`: stops the pipeline; STOPPED, no task,
    /// offsets kept (and editable over the API).
    pub async fn stop_connector(&self, name: &str) -> Result<(), ConnectorError> {
        self.halt(name, TargetState::Stopped).await
    }

    /// `PUT /connectors/{name}/resume`: starts a paused or stopped pipeline again.
    pub async fn resume(&self, name: &str) -> Result<(), ConnectorError> {
        let _ops = self.lock_ops().await?;
        if self.set_target(name, TargetState::Running)? != TargetState::Running {
            self.start(name);
            tracing::info!(pipeline = %name, "connector resumed");
        }
        Ok(())
    }

    /// `POST /connectors/{name}/restart`: stops and starts it (a paused or
    /// stopped one stays so).
    pub async fn restart(&self, name: &str) -> Result<(), ConnectorError> {
        let _ops = self.lock_ops().await?;
        self.info(name)?;
        self.stop(name).await;
        self.start(name);
        tracing::info!(pipeline = %name, "connector restarted");
        Ok(())
    }
}
