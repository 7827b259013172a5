//! Kafka Connect's REST API over the supervisor: the connectors, their
//! config, state and tasks, with Connect's JSON shapes and status codes: 201
//! on create, 200 on update, 202 on pause/resume/stop (and on a restart with
//! `includeTasks` or `onlyFailed`, with the status), 204 on delete/restart,
//! 400 for a bad config, 404 for an unknown connector, 409 for a duplicate
//! name or a change to a pipeline of the config file. Errors are
//! `{"error_code": <status>, "message": "..."}`. Passwords are shown as
//! `[hidden]`: secret keys, and passwords inside URLs and traces
//! (`config::redact_text`). Sluice runs one task per connector (task 0); a
//! STOPPED connector has none.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::body::parse_object;
use super::ApiState;
use crate::app::{ConnectorError, ConnectorInfo, PipelineState, TargetState};

/// The worker id Sluice reports (Connect reports `host:port`).
const WORKER_ID: &str = "sluice";

/// The `/connectors` routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/connectors", get(list).post(create))
        .route("/connectors/{name}", get(info).delete(delete))
        .route(
            "/connectors/{name}/config",
            get(config).put(put_config).patch(patch_config),
        )
        .route("/connectors/{name}/status", get(status))
        .route("/connectors/{name}/tasks", get(tasks))
        .route("/connectors/{name}/tasks/{task}/status", get(task_status))
        .route(
            "/connectors/{name}/tasks/{task}/restart",
            post(task_restart),
        )
        .route("/connectors/{name}/pause", put(pause))
        .route("/connectors/{name}/resume", put(resume))
        .route("/connectors/{name}/stop", put(stop))
        .route("/connectors/{name}/restart", post(restart))
}

/// A Connect error body with `status`.
pub fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = json!({"error_code": status.as_u16(), "message": message.into()});
    (status, Json(body)).into_response()
}

/// The Connect error response for `e`.
pub fn failure(e: &ConnectorError) -> Response {
    let status = match e {
        ConnectorError::NotFound(_) => StatusCode::NOT_FOUND,
        ConnectorError::Exists(_) | ConnectorError::FromConfigFile(_) => StatusCode::CONFLICT,
        ConnectorError::Invalid(_) => StatusCode::BAD_REQUEST,
        ConnectorError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        ConnectorError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
    };
    error(status, e.to_string())
}

/// The tasks of a connector: task 0, none when it is stopped.
/// The connector's task ids: none when STOPPED; a sink runs `tasks_max`.
fn task_ids(i: &ConnectorInfo) -> Vec<u32> {
    if i.target == TargetState::Stopped {
        Vec::new()
    } else {
        (0..i.tasks.max(1)).collect()
    }
}

fn info_json(i: &ConnectorInfo) -> Value {
    let tasks: Vec<Value> = task_ids(i)
        .into_iter()
        .map(|t| json!({"connector": i.name, "task": t}))
        .collect();
    json!({
        "name": i.name,
        "config": i.config,
        "tasks": tasks,
        "type": i.kind,
    })
}

/// A wait shorter than this is not shown in the status.
const WAIT_SHOWN_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The worker id shown for `i`: this daemon's for a standby source (which
/// instance is answering matters there), else Sluice's fixed one.
fn worker_of(state: &ApiState, i: &ConnectorInfo) -> Value {
    if i.standby {
        Value::String(state.supervisor.worker_id().to_string())
    } else {
        Value::String(WORKER_ID.into())
    }
}

fn task_json(state: &ApiState, i: &ConnectorInfo) -> Value {
    let name = &i.name;
    let entry = state.supervisor.registry().get(name);
    let waiting = entry.as_ref().and_then(|e| e.heartbeat.waiting());
    let st = entry.map_or(PipelineState::Starting, |e| e.state);
    let mut task = json!({
        "id": 0,
        "state": st.connect_name(),
        "worker_id": worker_of(state, i),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let PipelineState::Standby { leader } = &st {
        task["trace"] = Value::String(match leader {
            Some(l) => format!("standby; leader is {l}"),
            None => "standby; no leader elected yet".into(),
        });
    }
    if let PipelineState::Failed(msg) = &st {
        // Already redacted where it was made; again here, as this is public.
        task["trace"] = Value::String(crate::config::redact_text(msg));
    }
    // What a running pipeline has been waiting for, once the wait is
    // noticeable, as its `trace` ("waiting: applying batch to table t for
    // 42 s"): Connect's status classes refuse fields of their own.
    if let (PipelineState::Running, Some((what, waited))) = (&st, waiting) {
        if waited >= WAIT_SHOWN_AFTER {
            let text = crate::liveness::describe_wait(&what, waited);
            task["trace"] = Value::String(format!("waiting: {text}"));
        }
    }
    // A chunked snapshot's progress (rows done, estimated total, ETA), in
    // the same free-text field.
    if st == PipelineState::Running && task.get("trace").is_none() {
        if let Some(p) = crate::metrics::snapshot_progress(name) {
            task["trace"] = Value::String(p.describe());
        }
    }
    // The server a source following the database's failover reads.
    if st == PipelineState::Running && task.get("trace").is_none() {
        if let Some(server) = crate::metrics::source_server(name) {
            task["trace"] = Value::String(format!("reading server {server}"));
        }
    }
    task
}

/// The connector's status; `restarting` marks the connector (and its task,
/// with `tasks_too`) RESTARTING, as Connect's restart answer does.
fn status_with(state: &ApiState, i: &ConnectorInfo, restarting: bool, tasks_too: bool) -> Value {
    let mut task = task_json(state, i);
    let mut connector = json!({
        "state": task["state"],
        "worker_id": worker_of(state, i),
        "version": env!("CARGO_PKG_VERSION"),
    });
    if let Some(v) = task.get("trace") {
        connector["trace"] = v.clone();
    }
    if restarting {
        connector["state"] = json!("RESTARTING");
        if tasks_too {
            task["state"] = json!("RESTARTING");
        }
    }
    // A sink's tasks share one state: they run and restart together.
    let tasks: Vec<Value> = task_ids(i)
        .into_iter()
        .map(|id| {
            let mut t = task.clone();
            t["id"] = json!(id);
            t
        })
        .collect();
    json!({"name": i.name, "connector": connector, "tasks": tasks, "type": i.kind})
}

fn status_json(state: &ApiState, i: &ConnectorInfo) -> Value {
    status_with(state, i, false, false)
}

/// Whether the query string has `key=value` (value compared case-insensitively).
pub fn query_has(query: Option<&str>, key: &str, value: &str) -> bool {
    query.is_some_and(|q| {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .any(|(k, v)| k == key && v.eq_ignore_ascii_case(value))
    })
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
    let initial = match body.get("initial_state") {
        None | Some(Value::Null) => TargetState::Running,
        Some(Value::String(s)) => match TargetState::parse(s) {
            Some(t) => t,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("initial_state: {s:?} is not one of RUNNING, PAUSED, STOPPED"),
                )
            }
        },
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("initial_state: {other} is not a string (RUNNING, PAUSED or STOPPED)"),
            )
        }
    };
    match state.supervisor.create(&name, config, initial).await {
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

async fn patch_config(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Response {
    let patch = match parse_object(&body) {
        Ok(b) => b,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    match state.supervisor.patch_config(&name, patch).await {
        Ok(i) => Json(info_json(&i)).into_response(),
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
        Ok(i) => {
            let tasks: Vec<Value> = task_ids(&i)
                .into_iter()
                .map(|t| json!({"id": {"connector": i.name, "task": t}, "config": i.config}))
                .collect();
            Json(tasks).into_response()
        }
        Err(e) => failure(&e),
    }
}

async fn task_status(
    State(state): State<ApiState>,
    Path((name, task)): Path<(String, u32)>,
) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) if task_ids(&i).contains(&task) => {
            let mut t = task_json(&state, &i);
            t["id"] = json!(task);
            Json(t).into_response()
        }
        Ok(i) => task_not_found(&i, task),
        Err(e) => failure(&e),
    }
}

fn task_not_found(i: &ConnectorInfo, task: u32) -> Response {
    let why = if i.target == TargetState::Stopped {
        "the connector is stopped and has no tasks"
    } else {
        "Sluice runs task 0 only"
    };
    error(
        StatusCode::NOT_FOUND,
        format!("Task {}-{task} not found ({why})", i.name),
    )
}

/// `POST /connectors/{name}/tasks/{task}/restart`: 204.
async fn task_restart(
    State(state): State<ApiState>,
    Path((name, task)): Path<(String, u32)>,
) -> Response {
    match state.supervisor.info(&name) {
        Ok(i) if task_ids(&i).contains(&task) => match state.supervisor.restart(&name).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => failure(&e),
        },
        Ok(i) => task_not_found(&i, task),
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

async fn stop(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.stop_connector(&name).await {
        Ok(()) => StatusCode::ACCEPTED.into_response(),
        Err(e) => failure(&e),
    }
}

/// `POST /connectors/{name}/restart?includeTasks=&onlyFailed=`: without
/// either flag Connect restarts the connector and answers 204; with one, it
/// restarts what the flags select (with `onlyFailed`, only a FAILED
/// connector) and answers 202 with the status, RESTARTING where it restarts.
async fn restart(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let include_tasks = query_has(q.as_deref(), "includeTasks", "true");
    let only_failed = query_has(q.as_deref(), "onlyFailed", "true");
    let i = match state.supervisor.info(&name) {
        Ok(i) => i,
        Err(e) => return failure(&e),
    };
    if !include_tasks && !only_failed {
        return match state.supervisor.restart(&name).await {
            Ok(()) => StatusCode::NO_CONTENT.into_response(),
            Err(e) => failure(&e),
        };
    }
    let failed = state
        .supervisor
        .registry()
        .get(&name)
        .is_some_and(|e| matches!(e.state, PipelineState::Failed(_)));
    let restarting = !only_failed || failed;
    let body = status_with(&state, &i, restarting, include_tasks);
    if restarting {
        if let Err(e) = state.supervisor.restart(&name).await {
            return failure(&e);
        }
    }
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

async fn delete(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    match state.supervisor.delete(&name).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => failure(&e),
    }
}
