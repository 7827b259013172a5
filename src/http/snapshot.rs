//! On-demand snapshots of a running binlog source, Debezium's signals over
//! REST (see [`crate::source::binlog::control`]):
//!
//! | request | signal |
//! |---|---|
//! | `POST /connectors/{name}/snapshot` with `{"data-collections": [...], "additional-conditions": [...]}` | `execute-snapshot` |
//! | `DELETE /connectors/{name}/snapshot` or `POST .../snapshot/stop` (optional `{"data-collections": [...]}`) | `stop-snapshot` |
//! | `PUT` or `POST .../snapshot/pause`, `.../snapshot/resume` | `pause-snapshot`, `resume-snapshot` |
//!
//! 202 with `{"message": ...}` once the source has taken the signal and
//! committed the position record carrying it (so a crash after the answer
//! does not lose it); 400 naming the bad field (an unknown table, a filter
//! the server refuses); 404 for an unknown connector; 409 when it is not a
//! running binlog source; 503 when it stopped before the signal was stored;
//! 504 when it did not confirm within 30 s (it may still act on it).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::body::parse_object;
use super::connectors::{error, failure};
use super::ApiState;
use crate::source::binlog::control::{self, ControlError, Signal};

/// The snapshot routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route(
            "/connectors/{name}/snapshot",
            post(execute).delete(stop_snapshot),
        )
        .route("/connectors/{name}/snapshot/stop", post(stop_snapshot))
        .route("/connectors/{name}/snapshot/pause", post(pause).put(pause))
        .route(
            "/connectors/{name}/snapshot/resume",
            post(resume).put(resume),
        )
}

async fn execute(state: State<ApiState>, name: Path<String>, body: Bytes) -> Response {
    signal(state, name, "execute-snapshot", &body).await
}

async fn stop_snapshot(state: State<ApiState>, name: Path<String>, body: Bytes) -> Response {
    signal(state, name, "stop-snapshot", &body).await
}

async fn pause(state: State<ApiState>, name: Path<String>) -> Response {
    signal(state, name, "pause-snapshot", &[]).await
}

async fn resume(state: State<ApiState>, name: Path<String>) -> Response {
    signal(state, name, "resume-snapshot", &[]).await
}

/// Parses the body as the signal's `data` and hands it to the source.
async fn signal(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    kind: &str,
    body: &[u8],
) -> Response {
    if let Err(e) = state.supervisor.info(&name) {
        return failure(&e);
    }
    let data = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match parse_object(body) {
            Ok(m) => Some(Value::Object(m)),
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        }
    };
    let sent = match Signal::parse(kind, data.as_ref()) {
        Ok(signal) => control::send(&name, signal).await,
        Err(e) => Err(e),
    };
    match sent {
        Ok(message) => {
            tracing::info!(pipeline = %name, signal = kind, "snapshot signal taken over REST");
            (StatusCode::ACCEPTED, Json(json!({ "message": message }))).into_response()
        }
        Err(e @ ControlError::Invalid { .. }) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e @ ControlError::NotRunning(_)) => error(StatusCode::CONFLICT, e.to_string()),
        Err(e @ ControlError::NotStored(_)) => {
            error(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Err(e @ ControlError::Unconfirmed(_)) => error(StatusCode::GATEWAY_TIMEOUT, e.to_string()),
    }
}
