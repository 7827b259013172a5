//! Log levels changed at run time: Kafka Connect's `/admin/loggers` over a
//! `tracing_subscriber` reload layer.
//!
//! The subscriber is built once ([`init`]) with its `EnvFilter` behind a
//! reload handle. A logger is a tracing target (`sluice::sink`, `rdkafka`;
//! Connect's dotted names are read as paths, `sluice.sink` = `sluice::sink`),
//! `root` the level of everything else. Setting a logger also sets the
//! loggers below it that were set before (Connect's rule); the filter is then
//! rebuilt from `SLUICE_LOG`'s directives plus the levels set, and swapped in.
//! Levels set this way last until the process ends. The table is
//! process-wide because the subscriber it drives is.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

/// The name of the level of every target no other logger names.
pub const ROOT: &str = "root";

/// A logger's level and when the API last set it (ms since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Level {
    /// Connect's level name: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `OFF`.
    pub level: String,
    /// When it was set over the API; `None` for the level the process started with.
    pub last_modified: Option<i64>,
}

/// Why a level could not be set.
#[derive(Debug, thiserror::Error)]
pub enum LogLevelError {
    /// Not a level name.
    #[error("Invalid log level '{0}' (TRACE, DEBUG, INFO, WARN, ERROR, FATAL or OFF)")]
    BadLevel(String),
    /// Not a logger name.
    #[error("Invalid logger name '{0}'")]
    BadLogger(String),
    /// The process was started without a reloadable subscriber.
    #[error("log levels cannot be changed in this process")]
    NotReloadable,
    /// The new filter could not be built or swapped in.
    #[error("cannot apply the log levels: {0}")]
    Apply(String),
}

struct State {
    handle: reload::Handle<EnvFilter, Registry>,
    /// `SLUICE_LOG`'s target directives (`target=level`), kept under the levels set.
    base: Vec<String>,
    /// `root` and the loggers set over the API.
    levels: BTreeMap<String, Level>,
}

static STATE: OnceLock<Mutex<State>> = OnceLock::new();

/// Installs the global subscriber: `SLUICE_LOG` (default `info`) as a
/// reloadable filter, text (with `ansi` colours) or JSON lines on stderr.
pub fn init(json: bool, ansi: bool) {
    let spec = std::env::var("SLUICE_LOG").unwrap_or_else(|_| "info".into());
    let filter = EnvFilter::try_new(&spec).unwrap_or_else(|_| EnvFilter::new("info"));
    let (root, base) = split_spec(&spec);
    let (layer, handle) = reload::Layer::new(filter);
    let registry = tracing_subscriber::registry().with(layer);
    if json {
        let fmt = tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_writer(std::io::stderr);
        registry.with(fmt).init();
    } else {
        let fmt = tracing_subscriber::fmt::layer()
            .with_ansi(ansi)
            .with_writer(std::io::stderr);
        registry.with(fmt).init();
    }
    let mut levels = BTreeMap::new();
    levels.insert(
        ROOT.to_string(),
        Level {
            level: root,
            last_modified: None,
        },
    );
    let _ = STATE.set(Mutex::new(State {
        handle,
        base,
        levels,
    }));
}

/// The root level (upper case) and the target directives of a `SLUICE_LOG` spec.
fn split_spec(spec: &str) -> (String, Vec<String>) {
    let mut root = "INFO".to_string();
    let mut base = Vec::new();
    for d in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        if d.contains('=') || d.contains('[') {
            base.push(d.to_string());
        } else {
            root = d.to_ascii_uppercase();
        }
    }
    (root, base)
}

/// Connect's level name for `text`, and the tracing directive level.
pub fn parse_level(text: &str) -> Option<(&'static str, &'static str)> {
    Some(match text.trim().to_ascii_uppercase().as_str() {
        "TRACE" | "ALL" => ("TRACE", "trace"),
        "DEBUG" => ("DEBUG", "debug"),
        "INFO" => ("INFO", "info"),
        "WARN" | "WARNING" => ("WARN", "warn"),
        "ERROR" | "FATAL" => ("ERROR", "error"),
        "OFF" => ("OFF", "off"),
        _ => return None,
    })
}

/// A logger name as a tracing target: `sluice.sink` → `sluice::sink`.
pub fn target_of(logger: &str) -> Result<String, LogLevelError> {
    let t = logger.trim();
    let ok = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if !ok {
        return Err(LogLevelError::BadLogger(logger.to_string()));
    }
    Ok(if t == ROOT {
        ROOT.to_string()
    } else {
        t.replace('.', "::")
    })
}

/// Whether `target` lies below `parent` (`sluice::sink::apply` below `sluice::sink`).
fn below(target: &str, parent: &str) -> bool {
    parent == ROOT
        || target
            .strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The filter spec for `levels` over `base`.
fn spec_of(base: &[String], levels: &BTreeMap<String, Level>) -> String {
    let directive = |l: &Level| parse_level(&l.level).map_or("info", |(_, d)| d);
    let mut parts: Vec<String> = Vec::new();
    if let Some(root) = levels.get(ROOT) {
        parts.push(directive(root).to_string());
    }
    parts.extend(base.iter().cloned());
    for (name, l) in levels.iter().filter(|(n, _)| *n != ROOT) {
        parts.push(format!("{name}={}", directive(l)));
    }
    parts.join(",")
}

/// Every logger with a level: `root` and those set over the API.
pub fn loggers() -> BTreeMap<String, Level> {
    STATE
        .get()
        .and_then(|s| s.lock().ok().map(|s| s.levels.clone()))
        .unwrap_or_else(|| {
            BTreeMap::from([(
                ROOT.to_string(),
                Level {
                    level: "INFO".into(),
                    last_modified: None,
                },
            )])
        })
}

/// The level of `logger`: its own, else that of the closest logger above it, else root's.
pub fn level_of(logger: &str) -> Result<Level, LogLevelError> {
    let target = target_of(logger)?;
    let all = loggers();
    let best = all
        .iter()
        .filter(|(n, _)| **n == target || below(&target, n))
        .max_by_key(|(n, _)| if **n == ROOT { 0 } else { n.len() + 1 });
    Ok(best
        .map(|(n, l)| {
            if *n == target {
                l.clone()
            } else {
                Level {
                    level: l.level.clone(),
                    last_modified: None,
                }
            }
        })
        .unwrap_or(Level {
            level: "INFO".into(),
            last_modified: None,
        }))
}

/// Sets `logger` (and the loggers set below it) to `level`; returns the
/// loggers changed, sorted.
pub fn set(logger: &str, level: &str) -> Result<Vec<String>, LogLevelError> {
    let (name, _) = parse_level(level).ok_or_else(|| LogLevelError::BadLevel(level.into()))?;
    let target = target_of(logger)?;
    let state = STATE.get().ok_or(LogLevelError::NotReloadable)?;
    let mut s = state
        .lock()
        .map_err(|_| LogLevelError::Apply("state lock poisoned".into()))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut levels = s.levels.clone();
    let mut changed: Vec<String> = levels
        .keys()
        .filter(|n| **n != target && below(n, &target))
        .cloned()
        .collect();
    changed.push(target.clone());
    for n in &changed {
        levels.insert(
            n.clone(),
            Level {
                level: name.to_string(),
                last_modified: Some(now),
            },
        );
    }
    let spec = spec_of(&s.base, &levels);
    let filter = EnvFilter::try_new(&spec).map_err(|e| LogLevelError::Apply(e.to_string()))?;
    s.handle
        .reload(filter)
        .map_err(|e| LogLevelError::Apply(e.to_string()))?;
    s.levels = levels;
    changed.sort();
    tracing::info!(logger = %target, level = name, "log level set");
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_connects_names() {
        assert_eq!(parse_level("debug"), Some(("DEBUG", "debug")));
        assert_eq!(parse_level("FATAL"), Some(("ERROR", "error")));
        assert_eq!(parse_level("off"), Some(("OFF", "off")));
        assert_eq!(parse_level("loud"), None);
    }

    #[test]
    fn dotted_logger_names_are_targets() {
        assert_eq!(
            target_of("sluice.sink").ok().as_deref(),
            Some("sluice::sink")
        );
        assert_eq!(target_of("root").ok().as_deref(), Some("root"));
        assert!(target_of("a b").is_err());
        assert!(target_of("").is_err());
    }

    #[test]
    fn below_follows_path_segments() {
        assert!(below("sluice::sink::apply", "sluice::sink"));
        assert!(!below("sluice::sinker", "sluice::sink"));
        assert!(below("anything", ROOT));
    }

    #[test]
    fn the_spec_keeps_base_directives_under_the_levels_set() {
        let (root, base) = split_spec("warn,rdkafka=error");
        assert_eq!(root, "WARN");
        let mut levels = BTreeMap::new();
        levels.insert(
            ROOT.to_string(),
            Level {
                level: root,
                last_modified: None,
            },
        );
        levels.insert(
            "sluice::sink".into(),
            Level {
                level: "DEBUG".into(),
                last_modified: Some(1),
            },
        );
        assert_eq!(
            spec_of(&base, &levels),
            "warn,rdkafka=error,sluice::sink=debug"
        );
        assert!(EnvFilter::try_new(spec_of(&base, &levels)).is_ok());
    }
}
