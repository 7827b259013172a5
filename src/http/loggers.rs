//! `GET /admin/loggers`, `GET/PUT /admin/loggers/{logger}`: Connect's log
//! level API over [`crate::log_levels`]. A PUT answers the loggers it
//! changed (200), or 204 with `scope=cluster` as Connect does (this daemon
//! is the whole cluster).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::body::parse_object;
use super::connectors::{error, query_has};
use super::ApiState;
use crate::log_levels::{self, Level, LogLevelError};

/// The logger routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/admin/loggers", get(list))
        .route("/admin/loggers/{logger}", get(one).put(set))
}

fn level_json(l: &Level) -> Value {
    json!({"level": l.level, "last_modified": l.last_modified})
}

async fn list() -> Json<Value> {
    let map: Map<String, Value> = log_levels::loggers()
        .iter()
        .map(|(n, l)| (n.clone(), level_json(l)))
        .collect();
    Json(Value::Object(map))
}

fn refused(e: &LogLevelError) -> Response {
    let status = match e {
        LogLevelError::BadLevel(_) | LogLevelError::BadLogger(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, e.to_string())
}

async fn one(Path(logger): Path<String>) -> Response {
    match log_levels::level_of(&logger) {
        Ok(l) => Json(level_json(&l)).into_response(),
        Err(e) => refused(&e),
    }
}

async fn set(Path(logger): Path<String>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(level) = body.get("level").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "The request body must specify a desired \"level\"",
        );
    };
    let scope_cluster = query_has(q.as_deref(), "scope", "cluster");
    if let Some(scope) = q.as_deref().and_then(|q| {
        q.split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == "scope")
            .map(|(_, v)| v.to_string())
    }) {
        if !scope.eq_ignore_ascii_case("worker") && !scope.eq_ignore_ascii_case("cluster") {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Invalid scope '{scope}' (worker or cluster)"),
            );
        }
    }
    match log_levels::set(&logger, level) {
        Ok(_) if scope_cluster => StatusCode::NO_CONTENT.into_response(),
        Ok(changed) => Json(changed).into_response(),
        Err(e) => refused(&e),
    }
}
