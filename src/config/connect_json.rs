//! Kafka Connect REST configs ↔ Sluice pipelines.
//!
//! A Connect connector config is a flat map of dotted names to strings. The
//! `[[source]]`/`[[sink]]` structs already accept Connect's names as serde
//! aliases with Connect's string values, so a REST config is turned into a
//! pipeline by deserializing the map into [`SourceConfig`] or [`SinkConfig`]
//! and running the same pure `validate()` the TOML path runs.
//!
//! `connector.class` picks the kind: Confluent's `JdbcSourceConnector` is a
//! poll source, `JdbcSinkConnector` a sink, and Debezium's MySQL / MariaDB
//! connectors a binlog source. For Debezium, `database.hostname`/`port`/
//! `user`/`password` become `url`/`user`/`password`, Debezium's `topic.prefix`
//! (the first topic segment, `<prefix>.<db>.<table>`) becomes `server_name`,
//! and the envelope defaults to `debezium`. Debezium's schema-history keys
//! have no meaning here (Sluice reads table schemas from the database) and are
//! dropped. Debezium's other keys are honoured (`config::debezium`) or
//! refused by name.
//!
//! A REST config may name local files only under `[http] allowed_file_dirs`
//! ([`local_files`]); [`from_connect`] refuses the others without touching them.
//!
//! What the API shows is the stored map with every password (and any
//! password inside a URL or other value) replaced by `[hidden]`.

mod local_files;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use self::local_files::{check_allowed_dir, AllowedFileDirs, LocalFile};
pub use super::secret::HIDDEN;
use super::secret::{is_secret_name, redact_text};
use super::{ConfigError, SinkConfig, SourceConfig, SourceKind};

const JDBC_SOURCE: &str = "io.confluent.connect.jdbc.JdbcSourceConnector";
const JDBC_SINK: &str = "io.confluent.connect.jdbc.JdbcSinkConnector";
const DEBEZIUM_MYSQL: &str = "io.debezium.connector.mysql.MySqlConnector";

/// Debezium keys without a meaning in Sluice, dropped when the class is Debezium's.
const DEBEZIUM_IGNORED_PREFIXES: &[&str] = &["schema.history.internal.", "database.history."];

/// A pipeline built from a Connect config.
#[derive(Debug, Clone)]
// Built once per REST request or reload, never in a hot path: boxing would
// only add noise at every match.
#[allow(clippy::large_enum_variant)]
pub enum ConnectorConfig {
    /// A source (poll or binlog).
    Source(SourceConfig),
    /// A sink.
    Sink(SinkConfig),
}

impl ConnectorConfig {
    /// The pipeline name.
    pub fn name(&self) -> &str {
        match self {
            ConnectorConfig::Source(c) => &c.name,
            ConnectorConfig::Sink(c) => &c.name,
        }
    }

    /// Connect's connector type: `source` or `sink`.
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectorConfig::Source(_) => "source",
            ConnectorConfig::Sink(_) => "sink",
        }
    }

    /// Pure validation (as for TOML), plus the URL check of `endpoint()`
    /// (no file is read); a URL holding a `${provider:...}` reference is
    /// checked once resolved, when the pipeline starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let later = |url: &str| super::providers::has_references(url);
        match self {
            ConnectorConfig::Source(c) if later(&c.url) => c.validate(),
            ConnectorConfig::Sink(c) if later(&c.url) => c.validate(),
            ConnectorConfig::Source(c) => c.validate().and_then(|()| c.check_endpoint()),
            ConnectorConfig::Sink(c) => c.validate().and_then(|()| c.check_endpoint()),
        }
    }

    /// The local files this pipeline reads or opens when it starts (password
    /// and TLS files, URL file parameters, a SQLite database).
    pub fn local_files(&self) -> Vec<LocalFile> {
        local_files::named_files(self, &Map::new())
    }
}

fn invalid(name: &str, key: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        pipeline: name.to_string(),
        key: key.to_string(),
        reason: reason.into(),
    }
}

fn is_debezium(class: &str) -> bool {
    class.ends_with("mysql.MySqlConnector") || class.ends_with("mariadb.MariaDbConnector")
}

/// Builds and validates a pipeline from a connector `name` and its Connect
/// `config`; every local file it names must lie under `allowed` (checked
/// lexically: nothing is read, nothing on disk is touched).
pub fn from_connect(
    name: &str,
    config: &Map<String, Value>,
    allowed: &AllowedFileDirs,
) -> Result<ConnectorConfig, ConfigError> {
    let built = build(name, config)?;
    for file in local_files::named_files(&built, config) {
        allowed.check(name, &file)?;
    }
    super::providers::check_rest(name, config, allowed)?;
    Ok(built)
}

/// Builds and validates a pipeline without the local-file check.
fn build(name: &str, config: &Map<String, Value>) -> Result<ConnectorConfig, ConfigError> {
    if name.trim().is_empty() || name.contains('/') || name.chars().any(char::is_control) {
        return Err(invalid(
            name,
            "name",
            "must be non-empty, without '/' or control characters",
        ));
    }
    if let Some(inner) = config.get("name") {
        if inner.as_str() != Some(name) {
            return Err(invalid(
                name,
                "name",
                format!("the config's name {inner} differs from the connector name \"{name}\""),
            ));
        }
    }
    let class = match config.get("connector.class") {
        Some(Value::String(c)) => c.clone(),
        Some(_) => return Err(invalid(name, "connector.class", "must be a string")),
        None => {
            return Err(invalid(
                name,
                "connector.class",
                "missing: Connect configs name their connector class",
            ))
        }
    };
    let mut map = config.clone();
    map.retain(|k, _| !super::providers::is_declaration_key(k));
    map.insert("name".into(), Value::String(name.to_string()));
    if !class.ends_with("JdbcSinkConnector") {
        super::debezium::fold_column_rules(&mut map);
    } else {
        super::transforms::fold_transforms(&mut map);
    }
    let built = if class.ends_with("JdbcSinkConnector") {
        serde_json::from_value::<SinkConfig>(Value::Object(map))
            .map(ConnectorConfig::Sink)
            .map_err(|e| invalid(name, "config", e.to_string()))?
    } else if class.ends_with("JdbcSourceConnector") {
        serde_json::from_value::<SourceConfig>(Value::Object(map))
            .map(ConnectorConfig::Source)
            .map_err(|e| invalid(name, "config", e.to_string()))?
    } else if is_debezium(&class) {
        debezium_to_source(name, map)?
    } else {
        return Err(invalid(
            name,
            "connector.class",
            format!(
                "{class} is not a connector Sluice implements ({JDBC_SOURCE}, {JDBC_SINK}, {DEBEZIUM_MYSQL}, io.debezium.connector.mariadb.MariaDbConnector)"
            ),
        ));
    };
    built.validate()?;
    Ok(built)
}

fn debezium_to_source(
    name: &str,
    mut map: Map<String, Value>,
) -> Result<ConnectorConfig, ConfigError> {
    map.remove("connector.class");
    map.retain(|k, _| !DEBEZIUM_IGNORED_PREFIXES.iter().any(|p| k.starts_with(p)));
    map.entry("kind")
        .or_insert_with(|| Value::String("binlog".into()));
    map.entry("envelope")
        .or_insert_with(|| Value::String("debezium".into()));
    let text = |v: Value| match v {
        Value::String(s) => s,
        other => other.to_string(),
    };
    if let Some(host) = map.remove("database.hostname") {
        let port = map.remove("database.port").map(text);
        let host = text(host);
        let url = format!("mysql://{host}:{}", port.as_deref().unwrap_or("3306"));
        map.entry("url").or_insert(Value::String(url));
    }
    if let Some(user) = map.remove("database.user") {
        map.entry("user").or_insert(user);
    }
    if let Some(password) = map.remove("database.password") {
        map.entry("password").or_insert(password);
    }
    if let Some(prefix) = map.remove("topic.prefix") {
        map.entry("server_name").or_insert(prefix);
    }
    let source: SourceConfig = serde_json::from_value(Value::Object(map))
        .map_err(|e| invalid(name, "config", e.to_string()))?;
    if source.kind != Some(SourceKind::Binlog) {
        return Err(invalid(
            name,
            "kind",
            "Debezium's connector classes are binlog sources",
        ));
    }
    Ok(ConnectorConfig::Source(source))
}

fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    is_secret_name(&k)
        || k.contains("sasl.jaas")
        || k.contains("sasl_jaas")
        || k.ends_with("token")
        || k.ends_with("basic.auth.user.info")
}

/// The config as the API shows it: secret keys as `[hidden]`, and any
/// password written inside a value (a URL's userinfo or `password=`
/// parameter) as `[hidden]`.
pub fn redacted(config: &Map<String, Value>) -> Map<String, Value> {
    config
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                // `${file:...}` and the like: shown as written, like Connect.
                Value::String(s) if super::providers::only_references(s) => v.clone(),
                _ if is_secret_key(k) => Value::String(HIDDEN.into()),
                Value::String(s) => Value::String(redact_text(s)),
                other => other.clone(),
            };
            (k.clone(), shown)
        })
        .collect()
}

/// A TOML-defined pipeline shown in Connect's shape: values as strings
/// (lists comma-separated) and the implied `connector.class` when absent.
pub fn toml_view(kind: &str, raw: &Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::new();
    if !raw.contains_key("connector.class") && !raw.contains_key("connector_class") {
        let class = match (kind, raw.get("kind").and_then(Value::as_str)) {
            ("sink", _) => JDBC_SINK,
            (_, Some("binlog")) => DEBEZIUM_MYSQL,
            _ => JDBC_SOURCE,
        };
        out.insert("connector.class".into(), Value::String(class.into()));
    }
    for (k, v) in raw {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join(","),
            other => other.to_string(),
        };
        out.insert(k.clone(), Value::String(text));
    }
    redacted(&out)
}

/// The raw (untyped) pipeline sections of a config file, for showing TOML
/// pipelines over the API and for telling which changed on reload.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct RawConfig {
    /// `[kafka]` as loaded.
    #[serde(default)]
    pub kafka: Value,
    /// `[[source]]` sections.
    #[serde(default)]
    pub source: Vec<Map<String, Value>>,
    /// `[[sink]]` sections.
    #[serde(default)]
    pub sink: Vec<Map<String, Value>>,
}

impl RawConfig {
    /// Loads the same layers as [`super::Config::load`], untyped.
    pub fn load(path: &std::path::Path) -> Result<RawConfig, ConfigError> {
        super::figment(path)
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))
    }

    /// The raw section of the pipeline `name`: ("source" | "sink", map).
    pub fn pipeline(&self, name: &str) -> Option<(&'static str, &Map<String, Value>)> {
        let named = |m: &&Map<String, Value>| m.get("name").and_then(Value::as_str) == Some(name);
        self.source
            .iter()
            .find(named)
            .map(|m| ("source", m))
            .or_else(|| self.sink.iter().find(named).map(|m| ("sink", m)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn seed_source_config_maps_to_a_poll_source() {
        let c = obj(
            json!({"connector.class":"io.confluent.connect.jdbc.JdbcSourceConnector","tasks.max":"1","connection.url":"jdbc:mysql://127.0.0.1:3306/mydb","connection.user":"root","connection.password":"","mode":"incrementing","incrementing.column.name":"id","table.whitelist":"users","topic.prefix":"my_topic_"}),
        );
        let Ok(ConnectorConfig::Source(s)) =
            from_connect("my-source-connect", &c, &AllowedFileDirs::default())
        else {
            panic!("not a source");
        };
        assert_eq!(s.resolved_kind().ok(), Some(SourceKind::Poll));
        assert_eq!(s.tables, vec!["users"]);
        assert_eq!(s.topic_for("mydb", "users"), "my_topic_users");
    }

    #[test]
    fn seed_sink_config_maps_to_a_sink() {
        let c = obj(
            json!({"connector.class":"io.confluent.connect.jdbc.JdbcSinkConnector","connection.url":"jdbc:mysql://127.0.0.1:3306/mydb","connection.user":"root","connection.password":"test1357","auto.create":"true","auto.evolve":"true","delete.enabled":"false","tasks.max":"1","topics":"my_topic_users","insert.mode":"upsert","pk.mode":"record_value","pk.fields":"id"}),
        );
        let Ok(ConnectorConfig::Sink(s)) =
            from_connect("my-sink-connect", &c, &AllowedFileDirs::default())
        else {
            panic!("not a sink");
        };
        assert!(s.auto_create && s.auto_evolve);
        assert_eq!(s.topics, vec!["my_topic_users"]);
        assert_eq!(s.pk_fields, vec!["id"]);
    }

    #[test]
    fn confluent_jdbc_sink_keys_map_with_string_values() {
        let c = obj(
            json!({"connector.class": JDBC_SINK, "connection.url": "jdbc:postgresql://h/d",
            "topics": "t", "pk.mode": "record_value", "quote.sql.identifiers": "never",
            "errors.log.enable": "true", "errors.log.include.messages": "true",
            "errors.retry.timeout": "-1", "errors.retry.delay.max.ms": "60000",
            "max.retries": "10", "retry.backoff.ms": "3000", "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": "dlq",
            "errors.deadletterqueue.context.headers.enable": "false",
            "errors.deadletterqueue.topic.replication.factor": "3"}),
        );
        let Ok(ConnectorConfig::Sink(s)) = from_connect("k", &c, &AllowedFileDirs::default())
        else {
            panic!("not a sink");
        };
        assert!(
            s.pk_fields.is_empty(),
            "record_value without pk.fields is accepted"
        );
        assert_eq!(
            s.quote_sql_identifiers,
            super::super::QuoteIdentifiers::Never
        );
        assert!(s.errors_log_enable && s.errors_log_include_messages);
        assert_eq!(s.errors_retry_timeout, Some(-1));
        assert_eq!(s.errors_retry_delay_max_ms, Some(60_000));
        assert_eq!((s.max_retries, s.retry_backoff_ms), (Some(10), Some(3000)));
        assert!(!s.dlq_context_headers);
        assert_eq!(s.dlq_replication_factor, Some(3));
        let refused = |extra: Value| {
            let mut c = c.clone();
            c.extend(obj(extra));
            from_connect("k", &c, &AllowedFileDirs::default())
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(refused(json!({"errors.retry.timeout": "-2"})).contains("errors_retry_timeout"));
        assert!(refused(json!({"quote.sql.identifiers": "sometimes"})).contains("sometimes"));
        assert!(
            refused(json!({"errors.deadletterqueue.topic.replication.factor": "0"}))
                .contains("replication.factor")
        );
        assert!(refused(json!({"tasks.max": "0"})).contains("tasks_max"));
        // Schemaless JSON goes into existing tables only.
        let schemaless = json!({"value.converter.schemas.enable": "false", "auto.create": "true"});
        let err = refused(schemaless);
        assert!(
            err.contains("auto_create") && err.contains("schemaless"),
            "{err}"
        );
        let mut c = c.clone();
        c.insert("value.converter.schemas.enable".into(), json!("false"));
        c.insert("key.converter.schemas.enable".into(), json!("false"));
        c.insert("tasks.max".into(), json!("4"));
        let Ok(ConnectorConfig::Sink(s)) = from_connect("k", &c, &AllowedFileDirs::default())
        else {
            panic!("schemaless into an existing table is accepted");
        };
        assert_eq!(s.value_converter_schemas_enable, Some(false));
        assert_eq!(s.task_count(), 4);
    }

    #[test]
    fn debezium_maps_to_a_binlog_source() {
        let c = obj(
            json!({"connector.class":"io.debezium.connector.mariadb.MariaDbConnector","database.hostname":"127.0.0.1","database.port":"3306","database.user":"cdc","database.password":"pw","topic.prefix":"shop","table.include.list":"mydb.users","schema.history.internal.kafka.topic":"h"}),
        );
        let Ok(ConnectorConfig::Source(s)) = from_connect("dbz", &c, &AllowedFileDirs::default())
        else {
            panic!("not a source");
        };
        assert_eq!(s.kind, Some(SourceKind::Binlog));
        assert_eq!(s.url, "mysql://127.0.0.1:3306");
        assert_eq!(s.user.as_deref(), Some("cdc"));
        assert_eq!(s.envelope, super::super::Envelope::Debezium);
        assert_eq!(s.topic_for("mydb", "users"), "shop.mydb.users");
    }

    #[test]
    fn bad_configs_say_why() {
        let no_class = obj(json!({"connection.url":"mysql://h/d"}));
        let e = build("x", &no_class).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("connector.class"));
        let unknown = obj(json!({"connector.class":"com.example.Foo"}));
        let e = build("x", &unknown).err().map(|e| e.to_string());
        assert!(e
            .unwrap_or_default()
            .contains("not a connector Sluice implements"));
        let bad_mode = obj(
            json!({"connector.class":JDBC_SOURCE,"connection.url":"mysql://h/d","mode":"sometimes"}),
        );
        let e = build("x", &bad_mode).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("sometimes"));
        let no_topics = obj(json!({"connector.class":JDBC_SINK,"connection.url":"mysql://h/d"}));
        let e = build("x", &no_topics).err().map(|e| e.to_string());
        assert!(e.unwrap_or_default().contains("topics"));
        let other_name = obj(json!({"name":"y","connector.class":JDBC_SINK}));
        assert!(build("x", &other_name).is_err());
    }

    #[test]
    fn secrets_are_hidden() {
        let c = obj(
            json!({"connection.password":"pw","connection.url":"mysql://u:pw@h/d","database.password":"x","topics":"t"}),
        );
        let shown = Value::Object(redacted(&c)).to_string();
        assert!(!shown.contains("pw@") && !shown.contains("\"pw\"") && !shown.contains("\"x\""));
        assert!(shown.contains("\"topics\":\"t\""));
        let c = obj(json!({
            "connection.url": "jdbc:postgresql://db/app?user=u&password=s3cret",
            "url": "mysql://h/db?PWD=x2&ssl=true",
            "sasl.jaas.config": "x required username=\"a\" password=\"b\";",
            "http.auth.token": "t0k",
            "CLIENT_SECRET": "c5",
        }));
        let shown = Value::Object(redacted(&c)).to_string();
        for secret in ["s3cret", "x2", "\\\"b\\\"", "t0k", "c5"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("user=u&password=[hidden]"), "{shown}");
    }

    #[test]
    fn rest_configs_name_local_files_only_under_allowed_dirs() {
        let sink = |extra: Value| {
            let mut c = obj(json!({"connector.class": JDBC_SINK, "topics": "t",
                "connection.url": "jdbc:mysql://127.0.0.1:1/db"}));
            c.extend(obj(extra));
            c
        };
        let none = AllowedFileDirs::default();
        let dirs = AllowedFileDirs::new(&["/etc/sluice/secrets".to_string()]);
        let refused = |c: &Map<String, Value>, allowed: &AllowedFileDirs| {
            from_connect("x", c, allowed)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let c = sink(json!({"password_file": "/var/lib/sluice/connectors.json"}));
        let err = refused(&c, &none);
        assert!(
            err.contains("`password_file`") && err.contains("allowed_file_dirs"),
            "{err}"
        );
        let err = refused(&sink(json!({"password_file": "/dev/zero"})), &dirs);
        assert!(err.contains("not under"), "{err}");
        let err = refused(
            &sink(json!({"ssl.ca": "/etc/ssl/ca.pem", "ssl.mode": "verify_ca"})),
            &dirs,
        );
        assert!(err.contains("`ssl.ca`"), "{err}");
        let c = sink(json!({"connection.url": "sqlite:///etc/passwd"}));
        assert!(refused(&c, &dirs).contains("`connection.url`"));
        let c = sink(json!({"connection.url": "jdbc:mysql://h/db?socket=/run/mysqld/mysqld.sock"}));
        assert!(refused(&c, &dirs).contains("socket"));
        let c = sink(json!({"password_file": "/etc/sluice/secrets/../../shadow"}));
        assert!(refused(&c, &dirs).contains("'..'"));
        // Under an allowed directory: accepted (and not read).
        let c = sink(json!({"password_file": "/etc/sluice/secrets/db.pass",
            "ssl.ca": "/etc/sluice/secrets/ca.pem", "ssl.mode": "verify_ca"}));
        assert!(from_connect("x", &c, &dirs).is_ok());
        let c = sink(json!({"connection.url": "sqlite:///etc/sluice/secrets/t.db"}));
        assert!(from_connect("x", &c, &dirs).is_ok());
        // No file named: fine with nothing allowed.
        assert!(from_connect("x", &sink(json!({})), &none).is_ok());
    }

    #[test]
    fn toml_view_is_connect_shaped() {
        let raw = obj(
            json!({"name":"s","kind":"poll","tables":["a","b"],"poll_interval_ms":200,"password":"pw"}),
        );
        let v = toml_view("source", &raw);
        assert_eq!(v["connector.class"], json!(JDBC_SOURCE));
        assert_eq!(v["tables"], json!("a,b"));
        assert_eq!(v["poll_interval_ms"], json!("200"));
        assert_eq!(v["password"], json!(HIDDEN));
    }
}
