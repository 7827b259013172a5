//! HTTP: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every pipeline is running), and Kafka Connect's REST API under
//! `/connectors` (see [`connectors`]).
//!
//! Reads are open; [`guard`] stands in front of every route: cross-origin
//! browser requests are refused (403), writes need the bearer token when one
//! is configured (`[http] auth_token_file` or `auth_token`; 401 without it),
//! and bodies must be JSON (415). Handlers never read files: a connector's
//! local files are checked against `[http] allowed_file_dirs` without being
//! read (`config::connect_json`).

pub mod connectors;
mod guard;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::app::{PipelineState, Supervisor};
use crate::metrics::METRICS;

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct ApiState {
    /// The pipelines.
    pub supervisor: Supervisor,
    /// Bearer token required by write methods, when set.
    pub token: Option<Arc<str>>,
}

/// Builds the router over the supervisor; `token` protects write methods.
pub fn router(supervisor: Supervisor, token: Option<Arc<str>>) -> Router {
    let state = ApiState { supervisor, token };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .merge(connectors::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::guard,
        ))
        .with_state(state)
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
        .filter(|(_, e)| !matches!(e.state, PipelineState::Running | PipelineState::Paused))
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
