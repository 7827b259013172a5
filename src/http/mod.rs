//! HTTP: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every pipeline is running), and Kafka Connect's REST API under
//! `/connectors` (see [`connectors`]).
//!
//! Reads are open; when a bearer token is configured (`[http]
//! auth_token_file` or `auth_token`), every other method needs
//! `Authorization: Bearer <token>` and gets 401 without it.

pub mod connectors;

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
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
            require_token,
        ))
        .with_state(state)
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let read = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if let (Some(token), false) = (&state.token, read) {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return connectors::error(
                StatusCode::UNAUTHORIZED,
                "this request needs the header Authorization: Bearer <token>",
            );
        }
    }
    next.run(request).await
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
