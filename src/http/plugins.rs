//! `GET /connector-plugins` and `PUT /connector-plugins/{plugin}/config/validate`.
//!
//! The plugins are the connector classes Sluice implements (and, with
//! `connectorsOnly=false`, the one converter it speaks). Validation runs the
//! same pure checks as `POST /connectors` (`connect_json::from_connect`:
//! the config structs' `validate()` and the allowed local files) and answers
//! Connect's `ConfigInfos`: one entry per key given, each error attached to
//! the key it concerns. Those checks stop at the first error, so the
//! validation repeats without the keys already blamed, to report every key
//! that is wrong; an error that names no given key gets an entry of its own.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use super::body::parse_object;
use super::connectors::{error, query_has};
use super::ApiState;
use crate::config::connect_json::HIDDEN;
use crate::config::ConfigError;

/// The connector classes Sluice runs: (class, type).
pub const CONNECTORS: &[(&str, &str)] = &[
    ("io.confluent.connect.jdbc.JdbcSinkConnector", "sink"),
    ("io.confluent.connect.jdbc.JdbcSourceConnector", "source"),
    ("io.debezium.connector.mariadb.MariaDbConnector", "source"),
    ("io.debezium.connector.mysql.MySqlConnector", "source"),
];

/// The other plugins Sluice speaks: (class, type).
const OTHERS: &[(&str, &str)] = &[
    ("org.apache.kafka.connect.json.JsonConverter", "converter"),
    ("io.confluent.connect.avro.AvroConverter", "converter"),
];

/// How many times validation repeats without the keys already blamed.
const MAX_ROUNDS: usize = 32;

/// The plugin routes.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/connector-plugins", get(list))
        .route("/connector-plugins/{plugin}/config", get(keys))
        .route("/connector-plugins/{plugin}/config/validate", put(validate))
}

async fn list(RawQuery(q): RawQuery) -> Json<Value> {
    let all = query_has(q.as_deref(), "connectorsOnly", "false");
    let version = env!("CARGO_PKG_VERSION");
    let plugins: Vec<Value> = CONNECTORS
        .iter()
        .chain(if all { OTHERS } else { &[] })
        .map(|(class, kind)| json!({"class": class, "type": kind, "version": version}))
        .collect();
    Json(Value::Array(plugins))
}

/// The full class of a plugin named by its class, its simple name, or its
/// simple name without `Connector` (Connect's aliases).
pub fn resolve(plugin: &str) -> Option<&'static str> {
    let norm = |s: &str| s.trim_end_matches("Connector").to_ascii_lowercase();
    CONNECTORS.iter().map(|(c, _)| *c).find(|class| {
        let simple = class.rsplit('.').next().unwrap_or(class);
        *class == plugin || norm(simple) == norm(plugin)
    })
}

/// Debezium's keys that Sluice maps onto its own (`connect_json`), and its
/// column mappers, named as Debezium's ConfigDef names them (the numbers,
/// algorithm and salt sit in the key itself; `config::debezium`).
const DEBEZIUM_KEYS: &[&str] = &[
    "database.hostname",
    "database.password",
    "database.port",
    "database.user",
    "topic.prefix",
    "column.mask.with.(d+).chars",
    "column.mask.hash.([^.]+).with.salt.(.+)",
    "column.mask.hash.v2.([^.]+).with.salt.(.+)",
    "column.truncate.to.(d+).chars",
];

/// The Connect names (dotted) a plugin's config accepts, read from the
/// config struct's own list of fields and aliases (the checks' answer to a
/// key they do not know), so it cannot drift from what is accepted.
pub fn accepted_keys(class: &str) -> Vec<String> {
    let mut probe = Map::new();
    probe.insert("connector.class".into(), Value::String(class.into()));
    probe.insert("\u{1}".into(), Value::String(String::new()));
    let text = crate::config::connect_json::from_connect(
        "keys",
        &probe,
        &crate::config::connect_json::AllowedFileDirs::default(),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    let mut keys: Vec<String> = text
        .split_once("expected one of ")
        .map(|(_, list)| {
            list.split(", ")
                .map(|k| k.trim_matches('`').to_string())
                .filter(|k| k.contains('.'))
                .collect()
        })
        .unwrap_or_default();
    if class.starts_with("io.debezium.") {
        keys.extend(DEBEZIUM_KEYS.iter().map(|k| k.to_string()));
    }
    keys.push("name".into());
    keys.sort();
    keys.dedup();
    keys
}

/// `GET /connector-plugins/{plugin}/config`: Connect's `[ConfigKeyInfo]`,
/// one per Connect key the plugin accepts.
async fn keys(Path(plugin): Path<String>) -> Response {
    let Some(class) = resolve(&plugin) else {
        return error(StatusCode::NOT_FOUND, format!("Unknown plugin {plugin}"));
    };
    let defs: Vec<Value> = accepted_keys(class)
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let mut d = entry(k, None, Vec::new())["definition"].take();
            d["order_in_group"] = json!(i);
            d
        })
        .collect();
    Json(Value::Array(defs)).into_response()
}

async fn validate(
    State(state): State<ApiState>,
    Path(plugin): Path<String>,
    body: Bytes,
) -> Response {
    let mut config = match parse_object(&body) {
        Ok(c) => c,
        Err(m) => return error(StatusCode::BAD_REQUEST, m),
    };
    let Some(class) = resolve(&plugin) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("Failed to find any class that implements Connector and which name matches {plugin}"),
        );
    };
    match config.get("connector.class") {
        None => {
            config.insert("connector.class".into(), Value::String(class.into()));
        }
        Some(Value::String(given)) if resolve(given) == Some(class) => {}
        Some(given) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("Included connector type {given} does not match request type {plugin}"),
            )
        }
    }
    let name = match config.get("name") {
        Some(Value::String(n)) if !n.is_empty() => n.clone(),
        _ => "validate".to_string(),
    };
    let supervisor = state.supervisor.clone();
    let infos = config_infos(class, &config, |c| supervisor.validate_config(&name, c));
    Json(infos).into_response()
}

/// Connect's `ConfigInfos` for `config` under `check` (one pass of the checks).
pub fn config_infos(
    class: &str,
    config: &Map<String, Value>,
    check: impl Fn(&Map<String, Value>) -> Result<(), ConfigError>,
) -> Value {
    let mut errors: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut remaining = config.clone();
    for _ in 0..MAX_ROUNDS {
        let Err(e) = check(&remaining) else {
            break;
        };
        let (key, reason) = match &e {
            ConfigError::Invalid { key, reason, .. } => (key.clone(), reason.clone()),
            other => (String::new(), other.to_string()),
        };
        let named = given_key(&key, config)
            .or_else(|| reason.split('`').nth(1).and_then(|n| given_key(n, config)));
        let first = errors.is_empty() && extra.is_empty();
        let culprit = match named {
            // The key was removed in an earlier round: this error is the
            // consequence of its absence.
            Some(k) if errors.contains_key(&k) => break,
            Some(k) => Some(k),
            // A missing key after keys were removed is their consequence too.
            None if !first && reason.contains("missing") => break,
            None => culprit_by_removal(&remaining, &check, &e),
        };
        match culprit {
            Some(k) => {
                errors.entry(k.clone()).or_default().push(reason);
                remaining.remove(&k);
            }
            None => {
                let entry = if key.is_empty() || key == "config" {
                    "config".to_string()
                } else {
                    key
                };
                extra.push((entry, reason));
                break;
            }
        }
    }
    let mut configs: Vec<Value> = config
        .iter()
        .map(|(k, v)| entry(k, Some(v), errors.remove(k).unwrap_or_default()))
        .collect();
    for (k, reason) in extra {
        configs.push(entry(&k, None, vec![reason]));
    }
    let error_count: usize = configs
        .iter()
        .map(|c| c["value"]["errors"].as_array().map_or(0, Vec::len))
        .sum();
    json!({
        "name": class,
        "error_count": error_count,
        "groups": ["Common"],
        "configs": configs,
    })
}

/// The given key without which the error `err` goes away (or changes): a
/// parse error that names no key (a value of the wrong type).
fn culprit_by_removal(
    config: &Map<String, Value>,
    check: &impl Fn(&Map<String, Value>) -> Result<(), ConfigError>,
    err: &ConfigError,
) -> Option<String> {
    let text = err.to_string();
    config
        .keys()
        .filter(|k| *k != "connector.class" && *k != "name")
        .find(|k| {
            let mut without = config.clone();
            without.remove(*k);
            match check(&without) {
                Ok(()) => true,
                Err(e) => e.to_string() != text,
            }
        })
        .cloned()
}

/// The given key whose spelling matches `key`: itself, or its Connect form
/// (`incrementing_column` ↔ `incrementing.column.name`, `url` ↔ `connection.url`).
fn given_key(key: &str, config: &Map<String, Value>) -> Option<String> {
    if key.is_empty() {
        return None;
    }
    if config.contains_key(key) {
        return Some(key.to_string());
    }
    let norm = |s: &str| s.replace(['.', '-'], "_").to_ascii_lowercase();
    let want = norm(key);
    config
        .keys()
        .find(|k| {
            let n = norm(k);
            n == want || n.starts_with(&format!("{want}_")) || n.ends_with(&format!("_{want}"))
        })
        .cloned()
}

fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.contains("jaas") || k.ends_with("token")
}

/// One `ConfigInfo`: a definition (Sluice has no ConfigDef: the type comes
/// from the value) and the value with its errors.
fn entry(key: &str, value: Option<&Value>, errors: Vec<String>) -> Value {
    let secret = is_secret(key);
    let ty = match value {
        _ if secret => "PASSWORD",
        Some(Value::Bool(_)) => "BOOLEAN",
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => "LONG",
        Some(Value::Number(_)) => "DOUBLE",
        Some(Value::Array(_)) => "LIST",
        _ => "STRING",
    };
    let shown = match value {
        None | Some(Value::Null) => Value::Null,
        Some(_) if secret => Value::String(HIDDEN.into()),
        Some(Value::String(s)) => Value::String(s.clone()),
        Some(other) => Value::String(other.to_string()),
    };
    json!({
        "definition": {
            "name": key,
            "type": ty,
            "required": key == "connector.class",
            "default_value": null,
            "importance": "MEDIUM",
            "documentation": "",
            "group": "Common",
            "order_in_group": -1,
            "width": "NONE",
            "display_name": key,
            "dependents": [],
        },
        "value": {
            "name": key,
            "value": shown,
            "recommended_values": [],
            "errors": errors,
            "visible": true,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::connect_json::{from_connect, AllowedFileDirs};

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn infos(config: Value) -> Value {
        let config = obj(config);
        let class = config["connector.class"].as_str().unwrap_or("").to_string();
        config_infos(&class, &config, |c| {
            from_connect("v", c, &AllowedFileDirs::default()).map(|_| ())
        })
    }

    fn errors_of<'a>(infos: &'a Value, key: &str) -> &'a Vec<Value> {
        infos["configs"]
            .as_array()
            .and_then(|a| a.iter().find(|c| c["value"]["name"] == key))
            .and_then(|c| c["value"]["errors"].as_array())
            .unwrap_or_else(|| panic!("no entry {key} in {infos}"))
    }

    #[test]
    fn a_valid_config_has_no_errors_and_one_entry_per_key() {
        let v = infos(json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": "jdbc:mysql://127.0.0.1:3306/d",
            "connection.password": "pw",
            "topics": "t",
        }));
        assert_eq!(v["error_count"], 0, "{v}");
        assert_eq!(v["configs"].as_array().map(Vec::len), Some(4));
        let pw = v["configs"]
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|c| c["value"]["name"] == "connection.password")
            })
            .cloned()
            .unwrap_or_default();
        assert_eq!(pw["value"]["value"], HIDDEN);
        assert_eq!(pw["definition"]["type"], "PASSWORD");
    }

    #[test]
    fn a_bad_value_is_attached_to_its_key() {
        let v = infos(json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
            "connection.url": "jdbc:mysql://127.0.0.1:3306/d",
            "mode": "sometimes",
            "topic.prefix": "p_",
        }));
        assert!(v["error_count"].as_u64() >= Some(1), "{v}");
        assert_eq!(errors_of(&v, "mode").len(), 1, "{v}");
        assert!(errors_of(&v, "connection.url").is_empty(), "{v}");
    }

    #[test]
    fn an_unknown_key_is_blamed_by_name() {
        let v = infos(json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": "jdbc:mysql://127.0.0.1:3306/d",
            "topics": "t",
            "no.such.key": "x",
        }));
        assert_eq!(errors_of(&v, "no.such.key").len(), 1, "{v}");
        assert_eq!(v["error_count"], 1, "{v}");
    }

    #[test]
    fn a_missing_required_key_gets_an_entry_of_its_own() {
        let v = infos(json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "topics": "t",
        }));
        assert_eq!(v["error_count"], 1, "{v}");
        assert!(errors_of(&v, "topics").is_empty(), "{v}");
        assert_eq!(v["configs"].as_array().map(Vec::len), Some(3), "{v}");
    }

    #[test]
    fn every_wrong_key_is_reported() {
        let v = infos(json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": "jdbc:mysql://127.0.0.1:3306/d",
            "topics": "t",
            "no.such.key": "x",
            "insert.mode": "sideways",
        }));
        assert_eq!(errors_of(&v, "no.such.key").len(), 1, "{v}");
        assert_eq!(errors_of(&v, "insert.mode").len(), 1, "{v}");
        assert_eq!(v["error_count"], 2, "{v}");
    }

    #[test]
    fn accepted_keys_are_the_connect_names_of_the_config() {
        let sink = accepted_keys("io.confluent.connect.jdbc.JdbcSinkConnector");
        for k in [
            "connection.url",
            "pk.mode",
            "insert.mode",
            "name",
            "topics.regex",
        ] {
            assert!(sink.iter().any(|s| s == k), "{k} in {sink:?}");
        }
        assert!(
            sink.iter().all(|k| k == "name" || k.contains('.')),
            "{sink:?}"
        );
        let source = accepted_keys("io.confluent.connect.jdbc.JdbcSourceConnector");
        assert!(
            source.iter().any(|s| s == "incrementing.column.name"),
            "{source:?}"
        );
        let dbz = accepted_keys("io.debezium.connector.mysql.MySqlConnector");
        for k in [
            "database.hostname",
            "table.exclude.list",
            "column.include.list",
            "message.key.columns",
            "tombstones.on.delete",
            "skipped.operations",
            "time.precision.mode",
            "column.mask.with.(d+).chars",
        ] {
            assert!(dbz.iter().any(|s| s == k), "{k} in {dbz:?}");
        }
    }

    #[test]
    fn plugin_aliases_resolve() {
        assert_eq!(
            resolve("JdbcSinkConnector"),
            Some("io.confluent.connect.jdbc.JdbcSinkConnector")
        );
        assert_eq!(
            resolve("JdbcSource"),
            Some("io.confluent.connect.jdbc.JdbcSourceConnector")
        );
        assert_eq!(
            resolve("io.debezium.connector.mysql.MySqlConnector"),
            Some("io.debezium.connector.mysql.MySqlConnector")
        );
        assert_eq!(resolve("com.example.Foo"), None);
    }

    #[test]
    fn given_keys_match_their_toml_spelling() {
        let c = obj(json!({"incrementing.column.name": "id", "connection.url": "x"}));
        assert_eq!(
            given_key("incrementing_column", &c).as_deref(),
            Some("incrementing.column.name")
        );
        assert_eq!(given_key("url", &c).as_deref(), Some("connection.url"));
        assert_eq!(given_key("mode", &c), None);
    }
}
