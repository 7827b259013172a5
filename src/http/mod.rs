//! HTTP: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every pipeline is running, paused, stopped on request or a
//! standby source standing by), and
//! Kafka Connect's REST API: `/` ([`root`]), `/connectors` ([`connectors`],
//! [`offsets`], [`topics`]; on-demand snapshots: [`snapshot`]),
//! `/connector-plugins` ([`plugins`]) and `/admin/loggers` ([`loggers`]). Bodies may carry comments ([`body`]).
//!
//! Reads are open; [`guard`] stands in front of every route: cross-origin
//! browser requests are refused (403), writes need the bearer token when one
//! is configured (`[http] auth_token_file` or `auth_token`; 401 without it),
//! and bodies must be JSON (415). Handlers never read files: a connector's
//! local files are checked against `[http] allowed_file_dirs` without being
//! read (`config::connect_json`).

pub mod body;
pub mod client;
pub mod connectors;
mod guard;
pub mod loggers;
pub mod offsets;
pub mod plugins;
pub mod snapshot;
pub mod topics;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::app::{PipelineState, Supervisor, TargetState};
use crate::metrics::METRICS;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The pipelines.
    pub supervisor: Supervisor,
    /// Bearer token required by write methods, when set.
    pub token: Option<Arc<str>>,
    /// The Kafka cluster's id, once read (`GET /`).
    cluster_id: Arc<tokio::sync::OnceCell<String>>,
}

/// Builds the router over the supervisor; `token` protects write methods.
pub fn router(supervisor: Supervisor, token: Option<Arc<str>>) -> Router {
    let state = ApiState {
        supervisor,
        token,
        cluster_id: Arc::default(),
    };
    Router::new()
        .route("/", get(root))
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(connectors::routes())
        .merge(plugins::routes())
        .merge(offsets::routes())
        .merge(topics::routes())
        .merge(loggers::routes())
        .merge(snapshot::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
}

/// `GET /`: Connect's `ServerInfo`, with the cluster id from the brokers'
/// metadata (read once; `null` while the brokers cannot be reached).
async fn root(State(state): State<ApiState>) -> Json<Value> {
    let kafka = state.supervisor.kafka_config();
    let id = state
        .cluster_id
        .get_or_try_init(|| async move {
            let read = tokio::task::spawn_blocking(move || {
                crate::kafka::client::cluster_id(&kafka, std::time::Duration::from_secs(5))
            });
            match read.await {
                Ok(r) => r,
                Err(_) => Err(crate::kafka::KafkaError::Timeout("reading the cluster id")),
            }
        })
        .await;
    let id = match id {
        Ok(id) => Value::String(id.clone()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the kafka cluster id");
            Value::Null
        }
    };
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "commit": option_env!("SLUICE_GIT_COMMIT").unwrap_or("unknown"),
        "kafka_cluster_id": id,
    }))
}

async fn metrics() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        METRICS.render(),
    )
        .into_response()
}

async fn readyz(State(state): State<ApiState>) -> Response {
    let snap = state.supervisor.registry().snapshot();
    let not_running: Vec<&String> = snap
        .iter()
        // A standby source standing by is ready: it takes over when elected.
        .filter(|(_, e)| {
            !matches!(
                e.state,
                PipelineState::Running | PipelineState::Paused | PipelineState::Standby { .. }
            )
        })
        // A connector stopped over the API is where it was asked to be.
        .filter(|(n, _)| {
            state
                .supervisor
                .info(n)
                .map_or(true, |i| i.target != TargetState::Stopped)
        })
        .map(|(n, _)| n)
        .collect();
    if not_running.is_empty() {
        (StatusCode::OK, "ready\n".to_string()).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not running: {not_running:?}\n"),
        )
            .into_response()
    }
}
