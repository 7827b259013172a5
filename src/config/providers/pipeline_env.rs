//! `SLUICE_` environment overrides that reach one pipeline by name.
//!
//! `[[source]]` and `[[sink]]` are arrays of tables, which figment's `Env`
//! provider cannot index, so pipelines have their own form:
//! `SLUICE_SOURCE__<NAME>__<KEY>` and `SLUICE_SINK__<NAME>__<KEY>`, where
//! `<NAME>` is the pipeline's `name` in upper case with every character other
//! than a letter or digit written as `_` (`orders-db.v2` → `ORDERS_DB_V2`)
//! and `<KEY>` its snake_case key in any case (`__` nests further, as
//! elsewhere). `SLUICE_SINK__ORDERS_DB__PASSWORD=...` sets the `password` of
//! the sink named `orders-db`. A variable naming no pipeline, or a name that
//! two pipelines share after the mapping, is an error, so a typo cannot go
//! unnoticed. Values are parsed like other `SLUICE_` values (`true`, `500`),
//! except keys naming a secret and `user`, which stay strings.
//!
//! The provider re-reads the config file's sections and yields the whole
//! `source`/`sink` arrays with the overrides applied; merged after the file,
//! they replace its arrays. It yields nothing when no such variable is set.

use std::path::{Path, PathBuf};

use figment::providers::Format;
use figment::value::{Dict, Map, Value};
use figment::{Error, Figment, Metadata, Profile, Provider};

/// The environment prefix of every override.
const PREFIX: &str = "SLUICE_";

/// Whether a `SLUICE_`-stripped variable (as figment's `Env` sees it) is a
/// pipeline override, which `Env` must leave alone.
pub fn is_pipeline_override(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.starts_with("source__") || k.starts_with("sink__")
}

/// The figment provider of pipeline overrides for the config file `path`.
pub struct PipelineEnv {
    path: PathBuf,
    vars: Option<Vec<(String, String)>>,
}

impl PipelineEnv {
    /// Overrides from the process environment.
    pub fn new(path: &Path) -> PipelineEnv {
        PipelineEnv {
            path: path.to_path_buf(),
            vars: None,
        }
    }

    /// Overrides from the given variables (tests).
    pub fn with_vars(path: &Path, vars: Vec<(String, String)>) -> PipelineEnv {
        PipelineEnv {
            path: path.to_path_buf(),
            vars: Some(vars),
        }
    }

    fn overrides(&self) -> Vec<(String, String)> {
        let vars = match &self.vars {
            Some(v) => v.clone(),
            None => std::env::vars().collect(),
        };
        vars.into_iter()
            .filter(|(k, _)| {
                k.get(..PREFIX.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(PREFIX))
                    && is_pipeline_override(&k[PREFIX.len()..])
            })
            .collect()
    }
}

/// A pipeline name as it is written in a variable.
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn set_nested(dict: &mut Dict, path: &[String], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    if rest.is_empty() {
        dict.insert(first.clone(), value);
        return;
    }
    let entry = dict
        .entry(first.clone())
        .or_insert_with(|| Value::from(Dict::new()));
    if entry.as_dict().is_none() {
        *entry = Value::from(Dict::new());
    }
    if let Value::Dict(_, inner) = entry {
        set_nested(inner, rest, value);
    }
}

impl Provider for PipelineEnv {
    fn metadata(&self) -> Metadata {
        Metadata::named("`SLUICE_SOURCE__`/`SLUICE_SINK__` environment variable(s)")
    }

    fn data(&self) -> Result<Map<Profile, Dict>, Error> {
        let overrides = self.overrides();
        if overrides.is_empty() {
            return Ok(Map::new());
        }
        let file = Figment::from(figment::providers::Toml::file_exact(&self.path));
        let mut out = Dict::new();
        for section in ["source", "sink"] {
            let mut tables: Vec<Dict> = file.extract_inner(section).unwrap_or_default();
            let mut touched = false;
            for (var, raw) in &overrides {
                let rest = &var[PREFIX.len()..];
                let Some((kind, tail)) = rest.split_once("__") else {
                    continue;
                };
                if !kind.eq_ignore_ascii_case(section) {
                    continue;
                }
                let Some((name, key)) = tail.split_once("__") else {
                    return Err(Error::from(format!(
                        "{var}: write {PREFIX}{}__<PIPELINE NAME>__<KEY>",
                        section.to_ascii_uppercase()
                    )));
                };
                let matching: Vec<usize> = tables
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| {
                        t.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| env_name(n) == name.to_ascii_uppercase())
                    })
                    .map(|(i, _)| i)
                    .collect();
                let index = match matching.as_slice() {
                    [i] => *i,
                    [] => {
                        return Err(Error::from(format!(
                            "{var}: no [[{section}]] has a name that reads {name} (upper case, '_' for other characters)"
                        )))
                    }
                    _ => {
                        return Err(Error::from(format!(
                            "{var}: several [[{section}]] have a name that reads {name}; rename one"
                        )))
                    }
                };
                let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
                let leaf = path.last().map(String::as_str).unwrap_or_default();
                let value = if leaf == "user" || crate::config::secret::is_secret_name(leaf) {
                    Value::from(raw.clone())
                } else {
                    raw.parse::<Value>()
                        .unwrap_or_else(|_| Value::from(raw.clone()))
                };
                if let Some(table) = tables.get_mut(index) {
                    set_nested(table, &path, value);
                }
                touched = true;
            }
            if touched {
                out.insert(section.to_string(), Value::from(tables));
            }
        }
        Ok(Profile::Default.collect(out))
    }
}
