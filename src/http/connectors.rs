//! Kafka Connect's REST API over the supervisor, with Connect's JSON shapes
//! and status codes: 201 on create, 200 on update, 202 on pause/resume, 204
//! on delete/restart, 400 for a bad config, 404 for an unknown connector,
//! 409 for a duplicate name or a change to a pipeline of the config file.
//! Errors are `{"error_code": <status>, "message": "..."}`. Passwords are
//! shown as `[hidden]`: secret keys, and passwords inside URLs and traces
//! (`config::redact_text`). Sluice runs one task per connector (task 0).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::ApiState;
use crate::app::{ConnectorError, ConnectorInfo, PipelineState};

/// The worker id Sluice reports (Connect reports `host:port`).
const WORKER_ID: &str = "sluice";

/// The `/connectors` routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(root))
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route("/connectors/{name}/config", get(config).put(put_config))
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/restart", post(restart))
}

/// A Connect error body with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"error_code": status.as_u16(), "message": message.into()});
    (status, Json(body)).into_response()
}

fn failure(e: &ConnectorError) -> Response {
    let status = match e {
        ConnectorError::NotFound(_) => StatusCode::NOT_FOUND,
        ConnectorError::Exists(_) | ConnectorError::FromConfigFile(_) => StatusCode::CONFLICT,
        ConnectorError::Invalid(_) => StatusCode::BAD_REQUEST,
        ConnectorError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ConnectorError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

fn info_json(i: &ConnectorInfo) -> Value {
    json!({
        "name": i.name,
        "config": i.config,
        "tasks": (0..i.tasks).map(|t| json!({"connector": i.name, "task": t})).collect::<Vec<_>>(),
        "type": i.kind,
    })
}

/// A wait shorter than this is not shown in the status.
const WAIT_SHOWN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

fn task_json(state: &ApiState, name: &str) -> Value {
    let entry = state.supervisor.registry().get(name);
    let waiting = entry.as_ref().and_then(|e| e.heartbeat.waiting());
    let st = entry.map_or(PipelineState::Starting, |e| e.state);
    let mut task = json!({"id": 0, "state": st.connect_name(), "worker_id": WORKER_ID});
    if let PipelineState::Failed(msg) = &st {
        // Already redacted where it was made; again here, as this is public.
        task["trace"] = Value::String(crate::config::redact_text(msg));
    }
    // Sluice's own field: what a running pipeline has been waiting for
    // (e.g. "applying batch to table t for 42 s"), once the wait is noticeable.
    if let (PipelineState::Running, Some((what, waited))) = (&st, waiting) {
        if waited >= WAIT_SHOWN_AFTER {
            task["waiting"] = Value::String(crate::liveness::describe_wait(&what, waited));
        }
    }
    task
}

fn status_json(state: &ApiState, i: &ConnectorInfo) -> Value {
    let task = task_json(state, &i.name);
    let mut connector = json!({"state": task["state"], "worker_id": WORKER_ID});
    for field in ["trace", "waiting"] {
        if let Some(v) = task.get(field) {
            connector[field] = v.clone();
        }
    }
    // A sink's tasks share one state: they run and restart together.
    let tasks: Vec<Value> = (0..i.tasks)
        .map(|id| {
            let mut t = task.clone();
            t["id"] = json!(id);
            t
        })
        .collect();
    json!({"name": i.name, "connector": connector, "tasks": tasks, "type": i.kind})
}

fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| k == key && v.eq_ignore_ascii_case(value))
    })
}

/// The body as a JSON object, or the 400 message.
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("the body must be a JSON object".into()),
        Err(e) => Err(format!("the body is not valid JSON: {e}")),
    }
}

async fn root() -> Json<Value> {
    Json(
        json!({"version": env!("CARGO_PKG_VERSION"), "commit": "sluice", "kafka_cluster_id": null}),
    )
}

async fn list(State(state): State<ApiState>, RawQuery(q): RawQuery) -> Response {
    let names = state.supervisor.names();
    let want_status = query_has(q.as_deref(), "expand", "status");
    let want_info = query_has(q.as_deref(), "expand", "info");
    if !want_status && !want_info {
        return Json(names).into_response();
    }
    let mut out = Map::new();
    for name in names {
        let Ok(i) = state.supervisor.info(&name) else {
            continue;
        };
        let mut entry = Map::new();
        if want_info {
            entry.insert("info".into(), info_json(&i));
        }
        if want_status {
            entry.insert("status".into(), status_json(&state, &i));
        }
        out.insert(name, Value::Object(entry));
    }
    Json(Value::Object(out)).into_response()
}

async fn create(State(state): State<ApiState>, body: Bytes) -> Response {
    let mut body = match parse_object(&body) {
        Ok(b) => b,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let config = match body.remove("config") {
        Some(Value::Object(c)) => c,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "the body needs a \"config\" object",
            )
        }
    };
    let name = match (body.get("name"), config.get("name")) {
        (Some(Value::String(n)), _) | (None, Some(Value::String(n))) => n.clone(),
        _ => return error(StatusCode::BAD_REQUEST, "the body needs a \"name\" string"),
    };
    match state.supervisor.create(&name, config).await {
        Ok(i) => (
            StatusCode::CREATED,
            [(header::LOCATION, format!("/connectors/{name}"))],
            Json(info_json(&i)),
        )
            .into_response(),
        Err(e) => failure(&e),
    }
}

async fn info(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) => Json(info_json(&i)).into_response(),
        Err(e) => failure(&e),
    }
}

async fn config(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) => Json(Value::Object(i.config)).into_response(),
        Err(e) => failure(&e),
    }
}

async fn put_config(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let config = match parse_object(&body) {
        Ok(b) => b,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    match state.supervisor.put_config(&name, config).await {
        Ok((created, i)) => {
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (code, Json(info_json(&i))).into_response()
        }
        Err(e) => failure(&e),
    }
}

async fn status(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) => Json(status_json(&state, &i)).into_response(),
        Err(e) => failure(&e),
    }
}

async fn tasks(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) => Json(json!([{"id": {"connector": i.name, "task": 0}, "config": i.config}]))
            .into_response(),
        Err(e) => failure(&e),
    }
}

async fn task_status(
    State(state): State<ApiState>,
    Path((name, task)): Path<(String, u32)>,
) -> Response {
    match state.supervisor.info(&name) {
        Ok(_) if task == 0 => Json(task_json(&state, &name)).into_response(),
        Ok(_) => error(
            StatusCode::NOT_FOUND,
            format!("Task {name}-{task} not found (Sluice runs task 0 only)"),
        ),
        Err(e) => failure(&e),
    }
}

async fn pause(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.pause(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => failure(&e),
    }
}

async fn resume(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.resume(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => failure(&e),
    }
}

async fn restart(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if let Err(e) = state.supervisor.restart(&name).await {
        return failure(&e);
    }
    // Connect answers a restart with tasks (includeTasks=true) 202 and the status.
    if query_has(q.as_deref(), "includeTasks", "true") {
        match state.supervisor.info(&name) {
            Ok(i) => (StatusCode::ACCEPTED, Json(status_json(&state, &i))).into_response(),
            Err(e) => failure(&e),
        }
    } else {
        StatusCode::NO_CONTENT.into_response()
    }
}

async fn delete(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.delete(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(&e),
    }
}
