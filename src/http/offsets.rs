//! `GET/PATCH/DELETE /connectors/{name}/offsets` (Connect's KIP-875) over
//! the pipelines' own storage ([`crate::app::offsets`]): a source's offsets
//! topic, a sink's `sluice_sink_offsets`.
//!
//! Shapes: `{"offsets": [{"partition": {...}, "offset": {...}}]}`. A poll
//! source's partition is `{"protocol": "1", "table": "db.t"}` with the JDBC
//! source's offset map, a binlog source's `{"server": "<name>"}` with its
//! binlog position; a sink's is `{"kafka_topic": "t", "kafka_partition": 0}`
//! with `{"kafka_offset": 42}`, the next offset it applies. Reading works in
//! any state; altering (PATCH, a null offset resets that partition) and
//! resetting (DELETE) need a STOPPED connector, else 400 as Connect answers.
//! A sink's partition reset goes to the earliest offset still in Kafka (what
//! Connect's deleted group offsets fall back to with `auto.offset.reset =
//! earliest`); a source's is a tombstone (that table is read from the start).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::body::parse_object;
use super::connectors::{error, failure};
use super::ApiState;
use crate::app::offsets::{self as stored, OffsetsError};
use crate::app::{Pipeline, TargetState};
use crate::config::{KafkaConfig, SinkConfig, SourceConfig, SourceKind};

/// The offsets route.
pub fn routes() -> Router<ApiState> {
    Router::new().route(
        "/connectors/{name}/offsets",
        get(read).patch(alter).delete(reset),
    )
}

fn storage_failure(e: &OffsetsError) -> Response {
    let status = match e {
        OffsetsError::Usage(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    error(status, crate::config::redact_text(&e.to_string()))
}

fn source_partition(key: &str) -> Value {
    match key.strip_prefix("server=") {
        Some(server) => json!({"server": server}),
        None => json!({"protocol": "1", "table": key}),
    }
}

async fn read(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let (pipeline, kafka, _) = match state.supervisor.pipeline(&name) {
        Ok(p) => p,
        Err(e) => return failure(&e),
    };
    let offsets: Result<Vec<Value>, OffsetsError> = match &pipeline {
        Pipeline::Source(s) => stored::read_source(&kafka, s).await.map(|m| {
            m.into_iter()
                .map(|(k, v)| json!({"partition": source_partition(&k), "offset": v}))
                .collect()
        }),
        Pipeline::Sink(s) => stored::read_sink(s).await.map(|m| {
            m.into_iter()
                .map(|((t, p), o)| {
                    json!({
                        "partition": {"kafka_topic": t, "kafka_partition": p},
                        "offset": {"kafka_offset": o},
                    })
                })
                .collect()
        }),
    };
    match offsets {
        Ok(list) => Json(json!({"offsets": list})).into_response(),
        Err(e) => storage_failure(&e),
    }
}

/// The pipeline of a STOPPED connector with the supervisor's write lock
/// held (nothing resumes it while its offsets change), or Connect's 400.
type Stopped<'a> = (
    tokio::sync::MutexGuard<'a, ()>,
    Pipeline,
    std::sync::Arc<KafkaConfig>,
);

async fn stopped<'a>(state: &'a ApiState, name: &str) -> Result<Stopped<'a>, Box<Response>> {
    let (guard, pipeline, kafka, target) = state
        .supervisor
        .pipeline_locked(name)
        .await
        .map_err(|e| Box::new(failure(&e)))?;
    if target != TargetState::Stopped {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/{name}/stop' endpoint"
            ),
        )));
    }
    Ok((guard, pipeline, kafka))
}

fn message(text: &str) -> Response {
    Json(json!({"message": text})).into_response()
}

async fn alter(State(state): State<ApiState>, Path(name): Path<String>, body: Bytes) -> Response {
    let (_ops, pipeline, kafka) = match stopped(&state, &name).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let body = match parse_object(&body) {
        Ok(b) => b,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let entries = match body.get("offsets") {
        Some(Value::Array(a)) if !a.is_empty() => a.clone(),
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "Partitions / offsets need to be provided for an alter offsets request",
            )
        }
    };
    let done = match &pipeline {
        Pipeline::Source(s) => alter_source(&kafka, s, &entries).await,
        Pipeline::Sink(s) => alter_sink(&kafka, s, &entries).await,
    };
    match done {
        Ok(()) => message("The offsets for this connector have been altered successfully"),
        Err(e) => storage_failure(&e),
    }
}

/// The `partition` and `offset` of entry `i`; the offset is `None` for null.
fn entry(i: usize, e: &Value) -> Result<(&Map<String, Value>, Option<&Value>), OffsetsError> {
    let bad = |what: &str| OffsetsError::Usage(format!("offsets[{i}]: {what}"));
    let partition = e
        .get("partition")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("\"partition\" must be an object"))?;
    match e.get("offset") {
        None | Some(Value::Null) => Ok((partition, None)),
        Some(o @ Value::Object(_)) => Ok((partition, Some(o))),
        Some(_) => Err(bad("\"offset\" must be an object or null")),
    }
}

async fn alter_source(
    kafka: &KafkaConfig,
    s: &SourceConfig,
    entries: &[Value],
) -> Result<(), OffsetsError> {
    let binlog = s.kind == Some(SourceKind::Binlog);
    let mut records = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let (partition, offset) = entry(i, e)?;
        let key = if binlog {
            let server = partition.get("server").and_then(Value::as_str);
            server.map(|sv| format!("server={sv}")).ok_or_else(|| {
                OffsetsError::Usage(format!(
                    "offsets[{i}]: a binlog source's partition is {{\"server\": \"<name>\"}}"
                ))
            })?
        } else {
            let table = partition.get("table").and_then(Value::as_str);
            table.map(str::to_string).ok_or_else(|| {
                OffsetsError::Usage(format!(
                    "offsets[{i}]: a poll source's partition is {{\"protocol\": \"1\", \"table\": \"<db>.<table>\"}}"
                ))
            })?
        };
        if let Some(o) = offset {
            stored::check_source_value(s, o)
                .map_err(|m| OffsetsError::Usage(format!("offsets[{i}]: {m}")))?;
        }
        records.push((key, offset.cloned()));
    }
    stored::write_source(kafka, s, &records).await
}

/// A non-negative integer field (Connect also takes its decimal text).
fn whole(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|n| *n >= 0)
}

async fn alter_sink(
    kafka: &KafkaConfig,
    s: &SinkConfig,
    entries: &[Value],
) -> Result<(), OffsetsError> {
    let mut rows = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let (partition, offset) = entry(i, e)?;
        let bad = |what: &str| OffsetsError::Usage(format!("offsets[{i}]: {what}"));
        let topic = partition
            .get("kafka_topic")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the partition needs \"kafka_topic\" (a string)"))?;
        let part = whole(partition, "kafka_partition")
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| bad("the partition needs \"kafka_partition\" (an integer >= 0)"))?;
        let next = match offset {
            None => stored::earliest(kafka, topic, part).await?,
            Some(o) => o
                .as_object()
                .and_then(|o| whole(o, "kafka_offset"))
                .ok_or_else(|| bad("the offset needs \"kafka_offset\" (an integer >= 0)"))?,
        };
        rows.push((s.name.clone(), topic.to_string(), part, next));
    }
    if let Some(w) = stored::write_sink(kafka, s, &rows).await? {
        tracing::warn!(pipeline = %s.name, warning = %w, "offsets altered");
    }
    Ok(())
}

async fn reset(State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    let (_ops, pipeline, kafka) = match stopped(&state, &name).await {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let done = async {
        match &pipeline {
            Pipeline::Source(s) => {
                let tables = stored::read_source(&kafka, s).await?;
                let records: Vec<(String, Option<Value>)> =
                    tables.into_keys().map(|t| (t, None)).collect();
                if records.is_empty() {
                    return Ok(());
                }
                stored::write_source(&kafka, s, &records).await
            }
            Pipeline::Sink(s) => {
                let rows: Vec<_> = stored::sink_earliest(&kafka, s)
                    .await?
                    .into_iter()
                    .map(|(t, p, o)| (s.name.clone(), t, p, o))
                    .collect();
                if rows.is_empty() {
                    return Ok(());
                }
                if let Some(w) = stored::write_sink(&kafka, s, &rows).await? {
                    tracing::warn!(pipeline = %s.name, warning = %w, "offsets reset");
                }
                Ok(())
            }
        }
    }
    .await;
    match done {
        Ok(()) => message("The offsets for this connector have been reset successfully"),
        Err(e) => storage_failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_partitions_take_connects_shapes() {
        assert_eq!(
            source_partition("shop.orders"),
            json!({"protocol": "1", "table": "shop.orders"})
        );
        assert_eq!(source_partition("server=db1"), json!({"server": "db1"}));
    }

    #[test]
    fn entries_need_an_object_partition_and_an_object_or_null_offset() {
        let ok = json!({"partition": {"table": "a.b"}, "offset": null});
        assert!(matches!(entry(0, &ok), Ok((_, None))));
        let bad = json!({"partition": "a.b", "offset": {}});
        assert!(entry(3, &bad)
            .err()
            .is_some_and(|e| e.to_string().contains("offsets[3]")));
        let bad_offset = json!({"partition": {}, "offset": 5});
        assert!(entry(0, &bad_offset).is_err());
    }

    #[test]
    fn whole_numbers_accept_text_and_refuse_negatives() {
        let m = json!({"a": 3, "b": "7", "c": -1, "d": 1.5})
            .as_object()
            .cloned()
            .unwrap_or_default();
        assert_eq!(whole(&m, "a"), Some(3));
        assert_eq!(whole(&m, "b"), Some(7));
        assert_eq!(whole(&m, "c"), None);
        assert_eq!(whole(&m, "d"), None);
        assert_eq!(whole(&m, "e"), None);
    }
}
