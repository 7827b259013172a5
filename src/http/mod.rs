//! HTTP: `/metrics` (Prometheus text), `/healthz` (the process answers),
//! `/readyz` (every pipeline is running), and `/connectors` (Kafka Connect's
//! REST view of pipeline states).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::app::{PipelineState, Registry};
use crate::metrics::METRICS;

/// Builds the router over the pipeline registry.
pub fn router(registry: Registry) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/connectors", get(connectors))
        .route("/connectors/{name}/status", get(status))
        .with_state(registry)
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

async fn readyz(State(reg): State<Registry>) -> Response {
    let snap = reg.snapshot();
    let not_running: Vec<&String> = snap
        .iter()
        .filter(|(_, (_, s))| *s != PipelineState::Running)
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

async fn connectors(State(reg): State<Registry>) -> Json<Vec<String>> {
    Json(reg.snapshot().into_keys().collect())
}

async fn status(State(reg): State<Registry>, Path(name): Path<String>) -> Response {
    let snap = reg.snapshot();
    let Some((kind, state)) = snap.get(&name) else {
        return (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error_code": 404, "message": format!("Connector {name} not found")})),
        )
            .into_response();
    };
    let mut connector = serde_json::json!({"state": state.connect_name(), "worker_id": "sluice"});
    if let PipelineState::Failed(msg) = state {
        connector["trace"] = serde_json::Value::String(msg.clone());
    }
    Json(serde_json::json!({
        "name": name,
        "connector": connector,
        "tasks": [{"id": 0, "state": state.connect_name(), "worker_id": "sluice"}],
        "type": kind,
    }))
    .into_response()
}
