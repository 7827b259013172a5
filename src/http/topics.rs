//! `GET /connectors/{name}/topics` and `PUT /connectors/{name}/topics/reset`
//! (Connect's active topics, KIP-558; see [`crate::active_topics`]).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::json;

use super::connectors::failure;
use super::ApiState;

/// The topic routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/connectors/{name}/topics", get(topics))
        .route("/connectors/{name}/topics/reset", put(reset))
}

/// `{"<name>": {"topics": [...]}}`, as Connect answers.
async fn topics(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(_) => {
            let topics = crate::active_topics::topics(&name);
            Json(json!({ name: {"topics": topics} })).into_response()
        }
        Err(e) => failure(&e),
    }
}

/// 202, no body.
async fn reset(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(_) => {
            crate::active_topics::reset(&name);
            tracing::info!(pipeline = %name, "active topics reset");
            StatusCode::ACCEPTED.into_response()
        }
        Err(e) => failure(&e),
    }
}
