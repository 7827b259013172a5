//! Config providers: secrets referenced from config values, the way Kafka
//! Connect's `ConfigTransformer` does it, resolved when a pipeline starts.
//!
//! A string value may hold references `${provider:[path:]key}`:
//! - `${file:/etc/sluice/db.properties:password}`: the key `password` of a
//!   Java properties file (Connect's `FileConfigProvider`);
//! - `${directory:/run/secrets:db}`: the contents of the file `db` in that
//!   directory (Connect's `DirectoryConfigProvider`), with one trailing line
//!   break removed (Connect keeps it; a password never ends in one, and files
//!   written with `echo` do);
//! - `${env:DB_PASSWORD}`: an environment variable (`EnvVarConfigProvider`);
//! - `${credential:db}`: the systemd credential `db`, the file of that name in
//!   `$CREDENTIALS_DIRECTORY` (`LoadCredential=`/`SetCredential=`), trimmed
//!   like `directory`.
//!
//! The parse follows Connect's pattern: provider up to the first `:`, then
//! path up to the next `:` when there is one, then the key. `${name}` without
//! a `:` is no reference and stays as written (`table_name_format =
//! "${topic}"`). `$${` writes a literal `${`. A reference inside a reference
//! is an error, as is an unknown provider or a missing file, key or variable:
//! Connect would leave such a placeholder in place and connect with it.
//!
//! Connect needs providers declared (`config.providers=file`, with
//! `config.providers.file.class=...`); Sluice has the four built in and needs
//! no declaration. A REST config may still carry the declaration keys: they
//! are accepted, kept in the stored config, and a declared name bound to one
//! of Connect's three provider classes becomes an alias of that provider.
//!
//! When: references are resolved each time a pipeline starts (daemon start,
//! restart, retry after a transient error, and on reload: a reload restarts
//! every config-file pipeline whose section holds a reference, all of them
//! when `[kafka]` does, so a rotated secret is read again), never when a
//! config is stored, so
//! the config file, the state file and every REST read keep the placeholder.
//! The resolved values go straight into the pipeline's config structs
//! ([`super::Secret`] for passwords); errors name the provider, the path and
//! the key or variable, never a value ([`Resolved::scrub`] removes resolved
//! values from a pipeline's error messages as a second guard).
//!
//! REST connectors read only what the operator allows: `file`, `directory`
//! and `credential` paths lie under `[http] allowed_file_dirs` (checked
//! lexically at create time and with symlinks resolved before each read, as
//! for `password_file`), and `env` variables must be listed in `[http]
//! allowed_env_vars` (`NAME` or a `PREFIX*`). Pipelines of the config file
//! are not restricted.

mod pipeline_env;
mod properties;
mod reference;
mod sections;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

pub use self::pipeline_env::{is_pipeline_override, PipelineEnv};
pub use self::reference::{
    has_references, is_declaration_key, only_references, parse, Piece, Reference,
};
pub use self::sections::{
    check_file_references, check_rest, resolve_config, resolve_kafka, resolve_pipeline,
};
use super::connect_json::{AllowedFileDirs, LocalFile};
use super::{ConfigError, Secret};

/// Connect's provider classes, bound to Sluice's providers when a REST config declares them.
const CONNECT_CLASSES: &[(&str, Provider)] = &[
    (
        "org.apache.kafka.common.config.provider.FileConfigProvider",
        Provider::File,
    ),
    (
        "org.apache.kafka.common.config.provider.DirectoryConfigProvider",
        Provider::Directory,
    ),
    (
        "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        Provider::Env,
    ),
];

/// The largest properties file read.
const MAX_PROPERTIES_BYTES: u64 = 1024 * 1024;

/// Why a reference could not be resolved. Never holds a resolved value.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// `${` inside a reference.
    #[error("`{text}`: a reference inside a reference is not supported")]
    Nested {
        /// The value's text from the outer `${`.
        text: String,
    },
    /// A provider name Sluice does not know.
    #[error("`{reference}`: unknown config provider \"{provider}\" (known: file, directory, env, credential)")]
    UnknownProvider {
        /// The reference.
        reference: String,
        /// Its provider.
        provider: String,
    },
    /// The reference is malformed for its provider (a path missing or extra).
    #[error("`{reference}`: {reason}")]
    Malformed {
        /// The reference.
        reference: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A file could not be read.
    #[error("`{reference}`: cannot read {path}: {source}")]
    File {
        /// The reference.
        reference: String,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The properties file has no such key.
    #[error("`{reference}`: the file {path} has no key \"{key}\"")]
    MissingKey {
        /// The reference.
        reference: String,
        /// The file.
        path: String,
        /// The key.
        key: String,
    },
    /// The environment variable is not set (or not Unicode).
    #[error("`{reference}`: the environment variable {var} is not set")]
    MissingVar {
        /// The reference.
        reference: String,
        /// The variable.
        var: String,
    },
    /// `${credential:...}` without `$CREDENTIALS_DIRECTORY`.
    #[error(
        "`{reference}`: $CREDENTIALS_DIRECTORY is not set (no LoadCredential= for this service?)"
    )]
    NoCredentials {
        /// The reference.
        reference: String,
    },
    /// A REST connector may not read this.
    #[error("`{reference}`: {reason}")]
    NotAllowed {
        /// The reference.
        reference: String,
        /// Why (names `[http] allowed_file_dirs` or `allowed_env_vars`).
        reason: String,
    },
}

/// A built-in provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// A key of a Java properties file.
    File,
    /// A file in a directory.
    Directory,
    /// An environment variable.
    Env,
    /// A systemd credential.
    Credential,
}

impl Provider {
    fn builtin(name: &str) -> Option<Provider> {
        match name {
            "file" => Some(Provider::File),
            "directory" => Some(Provider::Directory),
            "env" => Some(Provider::Env),
            "credential" => Some(Provider::Credential),
            _ => None,
        }
    }
}

/// What REST connectors may read: files under `allowed_file_dirs`,
/// variables named in `allowed_env_vars`. `None` for config-file pipelines.
#[derive(Clone, Copy)]
pub struct Guard<'a> {
    /// The pipeline (for messages).
    pub pipeline: &'a str,
    /// The allowed directories and variables.
    pub allowed: &'a AllowedFileDirs,
}

/// Resolves references; one per pipeline start.
pub struct Resolver<'a> {
    aliases: BTreeMap<String, Provider>,
    guard: Option<Guard<'a>>,
    env: &'a dyn Fn(&str) -> Option<String>,
    credentials: Option<PathBuf>,
    resolved: Vec<Secret>,
}

fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Resolver<'a> {
    /// A resolver over the process environment and `$CREDENTIALS_DIRECTORY`.
    pub fn new(guard: Option<Guard<'a>>) -> Resolver<'a> {
        Resolver::with_env(guard, &process_env)
    }

    /// A resolver reading variables (and `CREDENTIALS_DIRECTORY`) through `env`.
    pub fn with_env(guard: Option<Guard<'a>>, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Resolver {
            aliases: BTreeMap::new(),
            guard,
            env,
            credentials: env("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            resolved: Vec::new(),
        }
    }

    /// Adds the aliases a REST config declares (`config.providers.<n>.class`
    /// naming one of Connect's provider classes); an unknown class is an error.
    pub fn declare(&mut self, config: &Map<String, Value>) -> Result<(), String> {
        for (k, v) in config {
            let Some(name) = k
                .strip_prefix("config.providers.")
                .and_then(|r| r.strip_suffix(".class"))
            else {
                continue;
            };
            let class = v.as_str().unwrap_or_default();
            let Some((_, provider)) = CONNECT_CLASSES.iter().find(|(c, _)| *c == class) else {
                return Err(format!(
                    "config provider class \"{class}\" is not one Sluice implements ({})",
                    CONNECT_CLASSES
                        .iter()
                        .map(|(c, _)| *c)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            };
            self.aliases.insert(name.to_string(), *provider);
        }
        Ok(())
    }

    fn provider(&self, r: &Reference) -> Result<Provider, ProviderError> {
        self.aliases
            .get(&r.provider)
            .copied()
            .or_else(|| Provider::builtin(&r.provider))
            .ok_or_else(|| ProviderError::UnknownProvider {
                reference: r.to_string(),
                provider: r.provider.clone(),
            })
    }

    /// The values resolved so far, for [`Resolved::scrub`].
    pub fn finish(self) -> Resolved {
        Resolved(self.resolved)
    }

    /// Resolves every reference of `value`.
    pub fn resolve_str(&mut self, value: &str) -> Result<String, ProviderError> {
        let mut out = String::new();
        for piece in parse(value)? {
            match piece {
                Piece::Literal(t) => out.push_str(&t),
                Piece::Ref(r) => {
                    let v = self.lookup(&r)?;
                    out.push_str(&v);
                    self.resolved.push(Secret::new(v));
                }
            }
        }
        Ok(out)
    }

    /// The reference's provider, once its shape fits that provider (pure).
    fn form(&self, r: &Reference) -> Result<Provider, ProviderError> {
        let malformed = |reason| ProviderError::Malformed {
            reference: r.to_string(),
            reason,
        };
        let plain_name = |s: &str| !s.is_empty() && !s.contains('/') && s != "." && s != "..";
        let provider = self.provider(r)?;
        match provider {
            Provider::Env if !r.path.is_empty() => {
                Err(malformed("the env provider takes no path: ${env:VARIABLE}"))
            }
            Provider::File if r.path.is_empty() => Err(malformed(
                "the file provider needs a path: ${file:/path/to/file.properties:key}",
            )),
            Provider::Directory if r.path.is_empty() => Err(malformed(
                "the directory provider needs a path: ${directory:/run/secrets:name}",
            )),
            Provider::Directory if !plain_name(&r.key) => Err(malformed(
                "the key must be a file name (no '/', '.' or '..')",
            )),
            Provider::Credential if !r.path.is_empty() || !plain_name(&r.key) => Err(malformed(
                "write a credential as ${credential:NAME} (a file name of $CREDENTIALS_DIRECTORY)",
            )),
            _ => Ok(provider),
        }
    }

    /// The local file a reference reads, if any (for the REST checks).
    pub fn file_of(&self, r: &Reference) -> Result<Option<PathBuf>, ProviderError> {
        Ok(match self.form(r)? {
            Provider::Env => None,
            Provider::File => Some(PathBuf::from(&r.path)),
            Provider::Directory => Some(Path::new(&r.path).join(&r.key)),
            Provider::Credential => {
                let dir =
                    self.credentials
                        .as_ref()
                        .ok_or_else(|| ProviderError::NoCredentials {
                            reference: r.to_string(),
                        })?;
                Some(dir.join(&r.key))
            }
        })
    }

    /// Checks a reference against the guard without reading anything.
    fn check(&self, r: &Reference, on_disk: bool) -> Result<(), ProviderError> {
        let file = self.file_of(r)?;
        let Some(guard) = self.guard else {
            return Ok(());
        };
        let not_allowed = |reason: String| ProviderError::NotAllowed {
            reference: r.to_string(),
            reason,
        };
        match file {
            Some(path) => {
                let local = LocalFile {
                    key: r.to_string(),
                    path: path.display().to_string(),
                };
                let checked = if on_disk {
                    guard.allowed.check_on_disk(guard.pipeline, &local)
                } else {
                    guard.allowed.check(guard.pipeline, &local)
                };
                checked.map_err(|e| match e {
                    ConfigError::Invalid { reason, .. } => not_allowed(reason),
                    other => not_allowed(other.to_string()),
                })
            }
            None if guard.allowed.env_var_allowed(&r.key) => Ok(()),
            None => Err(not_allowed(format!(
                "connectors created over the REST API may read only the environment variables listed in [http] allowed_env_vars {}",
                guard.allowed.env_vars_listed()
            ))),
        }
    }

    fn lookup(&self, r: &Reference) -> Result<String, ProviderError> {
        self.check(r, true)?;
        let reference = r.to_string();
        let read_err = |path: &Path, source| ProviderError::File {
            reference: reference.clone(),
            path: path.display().to_string(),
            source,
        };
        match (self.provider(r)?, self.file_of(r)?) {
            (Provider::Env, _) => (self.env)(&r.key).ok_or_else(|| ProviderError::MissingVar {
                reference: reference.clone(),
                var: r.key.clone(),
            }),
            (Provider::File, Some(path)) => {
                let text = super::database::read_bounded(
                    &path,
                    MAX_PROPERTIES_BYTES,
                    "larger than 1 MiB: not a properties file",
                )
                .map_err(|e| read_err(&path, e))?;
                properties::parse(&text)
                    .remove(&r.key)
                    .ok_or_else(|| ProviderError::MissingKey {
                        reference: reference.clone(),
                        path: path.display().to_string(),
                        key: r.key.clone(),
                    })
            }
            (_, Some(path)) => {
                super::read_secret_file(&path.display().to_string()).map_err(|e| read_err(&path, e))
            }
            (_, None) => Err(ProviderError::Malformed {
                reference: reference.clone(),
                reason: "names no file",
            }),
        }
    }

    /// Checks every reference of `config` without reading anything: syntax,
    /// providers, and (REST) the guard, lexically. `Err((key, error))`.
    pub fn check_map(&self, config: &Map<String, Value>) -> Result<(), (String, ProviderError)> {
        for (k, v) in config {
            for s in strings(v) {
                for piece in parse(s).map_err(|e| (k.clone(), e))? {
                    if let Piece::Ref(r) = piece {
                        self.check(&r, false).map_err(|e| (k.clone(), e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Pure: every reference of `config` parses and fits a known provider;
    /// nothing is read, no environment consulted. `Err((key, error))`.
    pub fn check_form(&self, config: &Map<String, Value>) -> Result<(), (String, ProviderError)> {
        for (k, v) in config {
            for s in strings(v) {
                for piece in parse(s).map_err(|e| (k.clone(), e))? {
                    if let Piece::Ref(r) = piece {
                        self.form(&r).map_err(|e| (k.clone(), e))?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Resolves every string in `value` (objects and arrays walked);
    /// `Err((key, error))` names the top-level key.
    pub fn resolve_map(
        &mut self,
        config: &Map<String, Value>,
    ) -> Result<Map<String, Value>, (String, ProviderError)> {
        let mut out = Map::new();
        for (k, v) in config {
            if is_declaration_key(k) {
                continue;
            }
            let resolved = self.resolve_value(v).map_err(|e| (k.clone(), e))?;
            out.insert(k.clone(), resolved);
        }
        Ok(out)
    }

    fn resolve_value(&mut self, v: &Value) -> Result<Value, ProviderError> {
        Ok(match v {
            Value::String(s) if has_references(s) => Value::String(self.resolve_str(s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|i| self.resolve_value(i))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(m) => Value::Object(
                m.iter()
                    .map(|(k, i)| Ok((k.clone(), self.resolve_value(i)?)))
                    .collect::<Result<_, ProviderError>>()?,
            ),
            other => other.clone(),
        })
    }
}

/// Every string inside `v`.
fn strings(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::Object(m) => m.values().flat_map(strings).collect(),
        _ => Vec::new(),
    }
}

/// Whether any string in `v` holds a reference.
pub fn value_has_references(v: &Value) -> bool {
    strings(v).into_iter().any(has_references)
}

/// The values a pipeline's references resolved to, kept only to remove them
/// from its error messages.
#[derive(Debug, Clone, Default)]
pub struct Resolved(Vec<Secret>);

impl Resolved {
    /// `text` with every resolved value of 4 characters or more replaced by `[hidden]`.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut values: Vec<&str> = self
            .0
            .iter()
            .map(Secret::expose)
            .filter(|v| v.chars().count() >= 4)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in values {
            out = out.replace(v, super::secret::HIDDEN);
        }
        out
    }

    /// Adds the values of `other`.
    pub fn extend(&mut self, other: Resolved) {
        self.0.extend(other.0);
    }
}

/// A config error for `key` of `pipeline` caused by a reference.
pub fn config_error(pipeline: &str, key: &str, e: ProviderError) -> ConfigError {
    ConfigError::Provider {
        pipeline: pipeline.to_string(),
        key: key.to_string(),
        source: Box::new(e),
    }
}

#[cfg(test)]
mod tests;
