//! The daemon (`sluice run`): the supervisor ([`crate::app`]), the HTTP
//! server ([`crate::http`]: metrics, health, the Connect REST API), systemd
//! notification (`notify`) and signals, assembled.
//!
//! Start: the HTTP listener is bound before the pipelines start (a taken port
//! fails fast) and served once the stored connectors are loaded. Reload:
//! SIGHUP re-reads the config file ([`reload`]). Shutdown: SIGINT/SIGTERM
//! cancel one [`CancellationToken`]; sources finish their in-flight Kafka
//! transaction, sinks their in-flight DB transaction, and [`run`] waits for
//! them up to `app::DRAIN_DEADLINE`.

mod notify;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::{state_dir, Registry, Store, StoreError, Supervisor, DRAIN_DEADLINE};
use crate::config::connect_json::RawConfig;
use crate::config::{Config, ConfigError};

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {listen}: {source}")]
    Listen {
        /// The address.
        listen: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The REST API token file could not be read.
    #[error("http: key `auth_token_file`: cannot read {path}: {source}")]
    TokenFile {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The REST API token is empty (an empty token would mean no auth at all).
    #[error("http: key `{key}`: {what} is empty; write a token into it, or remove the key to leave REST writes open")]
    EmptyToken {
        /// `auth_token` or `auth_token_file`.
        key: &'static str,
        /// What is empty (the file, or the value).
        what: String,
    },
    /// The config file could not be read again for its raw sections.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The stored connectors could not be read.
    #[error("{0}")]
    Store(#[from] StoreError),
}

/// The REST API's bearer token: `auth_token`, else the contents of
/// `auth_token_file` (surrounding blanks and line breaks removed); `None`
/// when neither is set. A key that is set but empty (or only blanks) is an
/// error: it must never silently mean "no auth".
pub fn auth_token(config: &Config) -> Result<Option<String>, DaemonError> {
    if let Some(t) = &config.http.auth_token {
        let token = t.expose().trim();
        if token.is_empty() {
            return Err(DaemonError::EmptyToken {
                key: "auth_token",
                what: "the value".into(),
            });
        }
        return Ok(Some(token.to_string()));
    }
    let Some(path) = &config.http.auth_token_file else {
        return Ok(None);
    };
    let text = crate::config::read_secret_file(path).map_err(|source| DaemonError::TokenFile {
        path: path.clone(),
        source,
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(DaemonError::EmptyToken {
            key: "auth_token_file",
            what: format!("the file {path}"),
        });
    }
    Ok(Some(token.to_string()))
}

/// Runs every pipeline of `config` (loaded from `path`) and the stored REST
/// connectors until `cancel` fires, reloading `path` on SIGHUP; then drains.
pub async fn run(
    config: Config,
    path: &Path,
    cancel: CancellationToken,
) -> Result<(), DaemonError> {
    // Installed first: SIGHUP's default action would end the process.
    #[cfg(unix)]
    let hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    let raw = RawConfig::load(path)?;
    let registry = Registry::default();
    let store = Store::new(&state_dir(config.state_dir.as_deref()));
    let supervisor = Supervisor::new(
        config.kafka.clone(),
        raw.kafka.clone(),
        registry.clone(),
        store,
        cancel.clone(),
    );
    // Bound before the pipelines start (a taken port fails fast), served after
    // the stored connectors are loaded (a write must not persist a partial table).
    let listener = if config.http.listen.is_empty() {
        None
    } else {
        let token = auth_token(&config)?;
        let listener = tokio::net::TcpListener::bind(&config.http.listen)
            .await
            .map_err(|source| DaemonError::Listen {
                listen: config.http.listen.clone(),
                source,
            })?;
        Some((listener, token))
    };
    if let Some(addr) = listener.as_ref().and_then(|(l, _)| l.local_addr().ok()) {
        supervisor.set_worker_id(&worker_id(addr));
    }
    supervisor.start_all(&config, &raw).await?;
    if let Some((listener, token)) = listener {
        tracing::info!(listen = %config.http.listen, auth = token.is_some(), "http server listening");
        if token.is_none() {
            tracing::warn!(listen = %config.http.listen, "rest api writes are open to anyone who can reach this address; set [http] auth_token_file");
        }
        let router = crate::http::router(supervisor.clone(), token.map(Arc::from));
        let stop = cancel.clone();
        tokio::spawn(async move {
            let serve = axum::serve(listener, router)
                .with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "http server failed");
            }
        });
    }
    notify::ready_when_started(&registry, Duration::from_secs(10)).await;
    notify::spawn_loop(registry.clone(), cancel.clone());
    #[cfg(unix)]
    match hup {
        Ok(hup) => {
            spawn_reload_on_sighup(hup, supervisor.clone(), path.to_path_buf(), cancel.clone())
        }
        Err(e) => tracing::error!(error = %e, "cannot install the SIGHUP handler; reload disabled"),
    }
    tracing::info!(
        sources = config.source.len(),
        sinks = config.sink.len(),
        "sluice running"
    );

    cancel.cancelled().await;
    notify::notify(&[
        sd_notify::NotifyState::Stopping,
        sd_notify::NotifyState::Status("stopping: draining pipelines"),
    ]);
    tracing::info!("shutting down: draining pipelines");
    if !supervisor.drain(DRAIN_DEADLINE).await {
        let stuck = crate::app::registry::not_ended(&registry.snapshot());
        tracing::warn!(
            deadline_s = DRAIN_DEADLINE.as_secs(),
            pipelines = %stuck.join(", "),
            "pipelines did not drain in time; exiting"
        );
    }
    Ok(())
}

/// Re-reads the config file: a valid one is applied (pipelines added,
/// removed, restarted), a bad one is logged and the old pipelines keep running.
pub async fn reload(supervisor: &Supervisor, path: &Path) {
    let mut states = vec![
        sd_notify::NotifyState::Reloading,
        sd_notify::NotifyState::Status("reloading configuration"),
    ];
    // `Type=notify-reload` wants the reload's start time with RELOADING=1.
    if let Ok(now) = sd_notify::NotifyState::monotonic_usec_now() {
        states.push(now);
    }
    notify::notify(&states);
    let loaded = Config::load(path).and_then(|c| {
        let mut errors = c.validate();
        if errors.is_empty() {
            RawConfig::load(path).and_then(|raw| {
                let mut bad = crate::config::providers::check_file_references(&raw);
                if bad.is_empty() {
                    Ok((c, raw))
                } else {
                    Err(bad.swap_remove(0))
                }
            })
        } else {
            Err(errors.swap_remove(0))
        }
    });
    match loaded {
        Ok((config, raw)) => match supervisor.reload(&config, &raw).await {
            Ok((added, removed, restarted)) => {
                tracing::info!(added, removed, restarted, "configuration reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "reload refused; keeping the running pipelines");
            }
        },
        Err(e) => {
            tracing::error!(error = %e, file = %path.display(), "reload refused: bad config; keeping the running pipelines");
        }
    }
    notify::ready_when_started(supervisor.registry(), Duration::from_secs(10)).await;
}

#[cfg(unix)]
fn spawn_reload_on_sighup(
    mut hup: tokio::signal::unix::Signal,
    supervisor: Supervisor,
    path: std::path::PathBuf,
    cancel: CancellationToken,
) {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                r = hup.recv() => {
                    if r.is_none() {
                        return;
                    }
                    tracing::info!(file = %path.display(), "SIGHUP received: reloading configuration");
                    reload(&supervisor, &path).await;
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

/// This daemon's worker id, as Kafka Connect reports a worker: `host:port`
/// of its REST listener (the host name when it listens on every address).
fn worker_id(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_default();
        if !host.is_empty() {
            return format!("{host}:{}", addr.port());
        }
    }
    addr.to_string()
}
