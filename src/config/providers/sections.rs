//! Whole config sections: a pipeline's raw section or `[kafka]` resolved and
//! built into its typed config, the REST create-time check, and the checks
//! and resolution of the config file's sections for the CLI.

use std::path::Path;

use serde_json::{Map, Value};

use super::{config_error, value_has_references, Guard, Resolved, Resolver};
use crate::config::connect_json::{AllowedFileDirs, ConnectorConfig, RawConfig};
use crate::config::{Config, ConfigError, KafkaConfig};

/// A pipeline's section (`source` or `sink`) with its references resolved,
/// built and validated; `None` when it holds no reference. `rest`: the guard
/// of a REST connector (its map is a Connect config).
pub fn resolve_pipeline(
    kind: &str,
    name: &str,
    raw: &Map<String, Value>,
    rest: Option<&AllowedFileDirs>,
) -> Result<Option<(ConnectorConfig, Resolved)>, ConfigError> {
    if !raw.values().any(value_has_references) {
        return Ok(None);
    }
    let guard = rest.map(|allowed| Guard {
        pipeline: name,
        allowed,
    });
    let mut resolver = Resolver::new(guard);
    if rest.is_some() {
        resolver
            .declare(raw)
            .map_err(|reason| ConfigError::Invalid {
                pipeline: name.to_string(),
                key: "config.providers".into(),
                reason,
            })?;
    }
    let map = resolver
        .resolve_map(raw)
        .map_err(|(key, e)| config_error(name, &key, e))?;
    let resolved = resolver.finish();
    // Errors from here on may quote a resolved value (a URL, a mode): such
    // an error is replaced by its text with the values hidden.
    let scrubbed = |e: ConfigError| {
        let text = e.to_string();
        let shown = resolved.scrub(&crate::config::redact_text(&text));
        if shown == text {
            return e;
        }
        ConfigError::Invalid {
            pipeline: name.to_string(),
            key: "config (resolved)".into(),
            reason: shown,
        }
    };
    let built = match rest {
        Some(allowed) => {
            crate::config::connect_json::from_connect(name, &map, allowed).map_err(scrubbed)?
        }
        None => {
            let invalid = |e: serde_json::Error| ConfigError::Invalid {
                pipeline: name.to_string(),
                key: "config".into(),
                reason: e.to_string(),
            };
            let built = if kind == "sink" {
                let mut map = map;
                crate::config::transforms::fold_transforms(&mut map);
                ConnectorConfig::Sink(
                    serde_json::from_value(Value::Object(map))
                        .map_err(invalid)
                        .map_err(scrubbed)?,
                )
            } else {
                let mut map = map;
                crate::config::debezium::fold_column_rules(&mut map);
                ConnectorConfig::Source(
                    serde_json::from_value(Value::Object(map))
                        .map_err(invalid)
                        .map_err(scrubbed)?,
                )
            };
            built.validate().map_err(scrubbed)?;
            built
        }
    };
    Ok(Some((built, resolved)))
}

/// At create time, for a REST connector: every reference parses, names a
/// known (or declared) provider, and reads only what `allowed` permits
/// (paths checked lexically; nothing is read).
pub fn check_rest(
    name: &str,
    config: &Map<String, Value>,
    allowed: &AllowedFileDirs,
) -> Result<(), ConfigError> {
    let mut resolver = Resolver::new(Some(Guard {
        pipeline: name,
        allowed,
    }));
    resolver
        .declare(config)
        .map_err(|reason| ConfigError::Invalid {
            pipeline: name.to_string(),
            key: "config.providers".into(),
            reason,
        })?;
    resolver
        .check_map(config)
        .map_err(|(key, e)| config_error(name, &key, e))
}

/// `[kafka]` with its references resolved; `None` when it holds none.
pub fn resolve_kafka(raw: &Value) -> Result<Option<(KafkaConfig, Resolved)>, ConfigError> {
    let Value::Object(map) = raw else {
        return Ok(None);
    };
    if !map.values().any(value_has_references) {
        return Ok(None);
    }
    let mut resolver = Resolver::new(None);
    let map = resolver
        .resolve_map(map)
        .map_err(|(key, e)| config_error("kafka", &key, e))?;
    let resolved = resolver.finish();
    let kafka: KafkaConfig =
        serde_json::from_value(Value::Object(map)).map_err(|e| ConfigError::Invalid {
            pipeline: "kafka".into(),
            key: "config".into(),
            reason: resolved.scrub(&e.to_string()),
        })?;
    Ok(Some((kafka, resolved)))
}

/// Pure: the references of a config file's raw sections (`[kafka]`, each
/// pipeline) parse and name known providers in their form; every problem,
/// as `sluice validate` reports it. Nothing is read.
pub fn check_file_references(raw: &RawConfig) -> Vec<ConfigError> {
    let resolver = Resolver::with_env(None, &|_| None);
    let named = |m: &Map<String, Value>| {
        m.get("name")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string()
    };
    let mut sections: Vec<(String, &Map<String, Value>)> = Vec::new();
    if let Value::Object(k) = &raw.kafka {
        sections.push(("kafka".into(), k));
    }
    sections.extend(raw.source.iter().map(|m| (named(m), m)));
    sections.extend(raw.sink.iter().map(|m| (named(m), m)));
    sections
        .into_iter()
        .filter_map(|(name, m)| {
            resolver
                .check_form(m)
                .err()
                .map(|(key, e)| config_error(&name, &key, e))
        })
        .collect()
}

/// `config` (loaded from `path`) with the references of `[kafka]` and of
/// every pipeline section resolved, for the commands that connect once
/// (`sluice check`, `sluice offsets`); the daemon resolves per pipeline start.
pub fn resolve_config(path: &Path, mut config: Config) -> Result<Config, ConfigError> {
    let raw = RawConfig::load(path)?;
    if let Some((kafka, _)) = resolve_kafka(&raw.kafka)? {
        config.kafka = kafka;
    }
    for source in &mut config.source {
        if let Some((_, section)) = raw.pipeline(&source.name) {
            if let Some((ConnectorConfig::Source(c), _)) =
                resolve_pipeline("source", &source.name, section, None)?
            {
                *source = c;
            }
        }
    }
    for sink in &mut config.sink {
        if let Some((_, section)) = raw.pipeline(&sink.name) {
            if let Some((ConnectorConfig::Sink(c), _)) =
                resolve_pipeline("sink", &sink.name, section, None)?
            {
                *sink = c;
            }
        }
    }
    Ok(config)
}
