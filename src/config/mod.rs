//! Configuration: figment (defaults → TOML file → `SLUICE_` environment) →
//! structs with `deny_unknown_fields` → pure [`Config::validate`] → clients.
//!
//! Every key Kafka Connect's JDBC connectors define is accepted under its
//! dotted Connect name too (`"topic.prefix"`, `"auto.create"`, ...), with
//! Connect's string-typed values (`"true"`, `"3000"`, `"a,b"`). Secrets live in
//! [`Secret`] and print as `[hidden]`.

/// `endpoint`, `check_endpoint` and `endpoint_keys` of a pipeline section
/// (`[[source]]`, `[[sink]]`): both have `name`, `url`, `user`, `password`,
/// `password_file` and the `ssl_*` keys.
macro_rules! endpoint_methods {
    () => {
        /// The database endpoint: `url` (native or JDBC) with `user`, `password`
        /// or `password_file` (reads the file: only when the pipeline starts or
        /// `sluice check` runs, never in validation).
        pub fn endpoint(&self) -> Result<$crate::config::DbEndpoint, $crate::config::ConfigError> {
            self.endpoint_keys().resolve()
        }

        /// Checks the endpoint settings without reading any file (for validation).
        pub fn check_endpoint(&self) -> Result<(), $crate::config::ConfigError> {
            self.endpoint_keys().check()
        }

        fn endpoint_keys(&self) -> $crate::config::EndpointKeys<'_> {
            $crate::config::EndpointKeys {
                pipeline: &self.name,
                url: &self.url,
                user: self.user.as_deref(),
                password: self.password.as_ref(),
                password_file: self.password_file.as_deref(),
                tls: $crate::config::TlsKeys {
                    mode: self.ssl_mode,
                    ca: self.ssl_ca.as_deref(),
                    cert: self.ssl_cert.as_deref(),
                    key: self.ssl_key.as_deref(),
                },
            }
        }
    };
}

pub mod connect_json;
mod converter;
mod database;
pub mod debezium;
pub mod failover;
mod kafka;
mod lenient;
pub mod providers;
mod secret;
mod signal;
mod sink;
mod source;
mod source_debezium;
mod source_derived;
pub mod standby;
mod tls;
pub mod transforms;
mod zone;

use std::path::Path;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use serde::Deserialize;

pub use converter::{
    Converter, ConverterKind, RegistryAuth, RegistrySettings, SchemaRegistryConfig,
    SubjectNameStrategy,
};
pub use database::{read_secret_file, DbEndpoint, DbKind, EndpointKeys};
pub use kafka::{KafkaConfig, SaslMechanism, SecurityProtocol};
pub use secret::{redact_text, redact_url, Secret};
pub use sink::{
    is_reserved_table, ErrorsTolerance, InsertMode, PkMode, QuoteIdentifiers, SinkConfig,
    OFFSETS_TABLE,
};
pub use source::{
    DecimalHandling, Delivery, Envelope, PollMode, SnapshotLocking, SnapshotMode, SourceConfig,
    SourceKind, TimePrecision,
};
pub use tls::{SslMode, TlsKeys, TlsSettings};
pub use zone::DbZone;

/// Configuration errors; each names the key (and file, where figment knows it).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be parsed or does not match the structure.
    #[error("{0}")]
    Load(#[source] Box<figment::Error>),
    /// The config file does not exist.
    #[error("config file {0} not found")]
    NotFound(String),
    /// A value is present but wrong.
    #[error("pipeline \"{pipeline}\": key `{key}`: {reason}")]
    Invalid {
        /// Pipeline name, or `kafka`/`http` for those sections.
        pipeline: String,
        /// The offending key.
        key: String,
        /// Why.
        reason: String,
    },
    /// A password file could not be read.
    #[error("pipeline \"{pipeline}\": key `password_file`: cannot read {path}: {source}")]
    PasswordFile {
        /// Pipeline name.
        pipeline: String,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file holding a secret (other than a pipeline's `password_file`) could not be read.
    #[error("{section}: key `{key}`: cannot read {path}: {source}")]
    SecretFile {
        /// `kafka`, `http`, or a pipeline name.
        section: String,
        /// The key naming the file.
        key: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A `${provider:...}` reference could not be resolved (see [`providers`]).
    #[error("pipeline \"{pipeline}\": key `{key}`: {source}")]
    Provider {
        /// Pipeline name, or `kafka`.
        pipeline: String,
        /// The key holding the reference.
        key: String,
        /// Why (names the provider, path and key or variable; never a value).
        #[source]
        source: Box<providers::ProviderError>,
    },
}

fn default_listen() -> String {
    "127.0.0.1:8083".into()
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Address of /metrics, /healthz, /readyz and /connectors; empty disables the server.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// File holding a bearer token that write requests of the REST API must carry.
    #[serde(default)]
    pub auth_token_file: Option<String>,
    /// The bearer token itself (e.g. from `SLUICE_HTTP__AUTH_TOKEN`).
    #[serde(default)]
    pub auth_token: Option<Secret>,
    /// Directories under which connectors created over the REST API may name
    /// local files (`password_file`, `ssl_*`, SQLite databases); empty: none.
    #[serde(default)]
    pub allowed_file_dirs: Vec<String>,
    /// Environment variables REST connectors may read with `${env:NAME}`
    /// (`NAME`, or `PREFIX*`); empty: none.
    #[serde(default)]
    pub allowed_env_vars: Vec<String>,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
            auth_token_file: None,
            auth_token: None,
            allowed_file_dirs: Vec::new(),
            allowed_env_vars: Vec::new(),
        }
    }
}

impl HttpConfig {
    /// Pure checks of `[http]`: the listen address, a non-empty `auth_token`,
    /// absolute normalised `allowed_file_dirs`.
    fn validate(&self) -> Vec<ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            pipeline: "http".into(),
            key: key.into(),
            reason,
        };
        let mut errors = Vec::new();
        if !self.listen.is_empty() && self.listen.parse::<std::net::SocketAddr>().is_err() {
            errors.push(invalid(
                "listen",
                format!("\"{}\" is not an address like 127.0.0.1:8083", self.listen),
            ));
        }
        if self
            .auth_token
            .as_ref()
            .is_some_and(|t| t.expose().trim().is_empty())
        {
            errors.push(invalid(
                "auth_token",
                "is empty; set a token, or remove the key to leave REST writes open".into(),
            ));
        }
        for dir in &self.allowed_file_dirs {
            if let Err(reason) = connect_json::check_allowed_dir(dir) {
                errors.push(invalid("allowed_file_dirs", reason));
            }
        }
        errors
    }
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Kafka connection.
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// HTTP server.
    #[serde(default)]
    pub http: HttpConfig,
    /// Sources.
    #[serde(default, deserialize_with = "debezium::sources")]
    pub source: Vec<SourceConfig>,
    /// Sinks.
    #[serde(default, deserialize_with = "transforms::sinks")]
    pub sink: Vec<SinkConfig>,
    /// Directory of REST-created connectors (default `$STATE_DIRECTORY`, else `/var/lib/sluice`).
    #[serde(default)]
    pub state_dir: Option<String>,
    /// The Schema Registry of the `avro` / `json_schema` converters.
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistryConfig>,
}

impl Config {
    /// Loads `path`, then `SLUICE_` environment overrides (`__` nests).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::NotFound(path.display().to_string()));
        }
        Self::from_figment(figment(path))
    }

    /// Loads from TOML text (tests, REST API).
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        Self::from_figment(Figment::new().merge(Toml::string(text)))
    }

    /// Tests: the one `[[source]]`, named `s`, of `lines` (its keys:
    /// `kind`, `url`, ...), as loaded (not validated).
    #[cfg(test)]
    pub(crate) fn test_source(lines: &str) -> SourceConfig {
        let text = format!("[[source]]\nname = \"s\"\n{lines}\n");
        let config = Self::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
        config
            .source
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no source"))
    }

    fn from_figment(fig: Figment) -> Result<Config, ConfigError> {
        let mut config: Config = fig.extract().map_err(|e| ConfigError::Load(Box::new(e)))?;
        // Each pipeline carries `[schema_registry]` for its converters.
        if let Some(registry) = &config.schema_registry {
            for s in &mut config.source {
                s.schema_registry = Some(registry.clone());
            }
            for s in &mut config.sink {
                s.schema_registry = Some(registry.clone());
            }
        }
        Ok(config)
    }

    /// Pure validation of every section; returns every problem found.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errors = Vec::new();
        let mut names = std::collections::HashSet::new();
        let all_names = self
            .source
            .iter()
            .map(|s| s.name.as_str())
            .chain(self.sink.iter().map(|s| s.name.as_str()));
        for name in all_names {
            if !names.insert(name) {
                errors.push(ConfigError::Invalid {
                    pipeline: name.into(),
                    key: "name".into(),
                    reason: "two pipelines have this name; names must be unique".into(),
                });
            }
        }
        errors.extend(self.kafka.validate().err());
        if self.kafka.bootstrap_servers.trim().is_empty() {
            errors.push(ConfigError::Invalid {
                pipeline: "kafka".into(),
                key: "bootstrap_servers".into(),
                reason: "must not be empty".into(),
            });
        }
        errors.extend(self.http.validate());
        errors.extend(self.schema_registry.iter().flat_map(|r| r.validate()));
        errors.extend(self.source.iter().filter_map(|s| s.validate().err()));
        errors.extend(self.sink.iter().filter_map(|s| s.validate().err()));
        errors
    }
}

/// The layered sources of a config file: the TOML file, then `SLUICE_`
/// environment overrides, then those of single pipelines by name
/// (`SLUICE_SOURCE__<NAME>__<KEY>`, see [`providers::PipelineEnv`]).
pub fn figment(path: &Path) -> Figment {
    Figment::new()
        .merge(Toml::file_exact(path))
        .merge(
            Env::prefixed("SLUICE_")
                .ignore(&["LOG"])
                .filter(|k| !providers::is_pipeline_override(k.as_str()))
                .split("__"),
        )
        .merge(providers::PipelineEnv::new(path))
}

/// Parses a `db_timezone` value (see [`DbZone::parse`]).
pub fn parse_timezone(tz: &str) -> Result<DbZone, String> {
    DbZone::parse(tz)
}

/// Moves the keys of a pipeline `section` that `take` selects into its
/// `table` (text values, a list joined with commas, as Connect's string
/// configs spell them), under the name `rename` gives. Sections carry keys
/// whose names are not known in advance (`transforms.<alias>.*`,
/// `column.mask.*`, `signal.consumer.*`); folded into one table each, the
/// rest of the section keeps serde's refusal of unknown keys. A `table` key
/// that is not a table is left for serde to refuse by name.
pub(crate) fn fold_into_table(
    section: &mut serde_json::Map<String, serde_json::Value>,
    table: &str,
    take: impl Fn(&str) -> bool,
    rename: impl Fn(&str) -> String,
) {
    use serde_json::Value;
    let keys: Vec<String> = section.keys().filter(|k| take(k)).cloned().collect();
    if keys.is_empty() {
        return;
    }
    let mut folded = match section.remove(table) {
        Some(Value::Object(m)) => m,
        Some(other) => {
            section.insert(table.into(), other);
            return;
        }
        None => serde_json::Map::new(),
    };
    for key in keys {
        if let Some(v) = section.remove(&key) {
            let text = match v {
                Value::String(s) => s,
                Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                    .collect::<Vec<_>>()
                    .join(","),
                other => other.to_string(),
            };
            folded.insert(rename(&key), Value::String(text));
        }
    }
    section.insert(table.into(), Value::Object(folded));
}

/// Reads one pre-processed `[[source]]` / `[[sink]]` table (its dynamic
/// keys folded, see `debezium::sources` and `transforms::sinks`); an error
/// names the key it is about, as figment's own errors do.
fn section_from_value<T: serde::de::DeserializeOwned, E: serde::de::Error>(
    section: serde_json::Map<String, serde_json::Value>,
) -> Result<T, E> {
    serde_path_to_error::deserialize(serde_json::Value::Object(section)).map_err(|e| {
        let path = e.path().to_string();
        if path == "." || path.is_empty() {
            E::custom(e.into_inner())
        } else {
            E::custom(format!("key \"{path}\": {}", e.into_inner()))
        }
    })
}

#[cfg(test)]
mod tests;
