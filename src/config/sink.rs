//! `[[sink]]` sections.

use serde::Deserialize;

use super::lenient;
use super::secret::Secret;
use super::source::{opt_bool, opt_u64};
use super::ConfigError;

/// How rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum InsertMode {
    /// Plain INSERT.
    #[default]
    Insert,
    /// INSERT, or UPDATE on key conflict.
    Upsert,
    /// UPDATE by key only.
    Update,
}

/// Where the target's primary key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PkMode {
    /// No primary key.
    #[default]
    None,
    /// `__connect_topic`, `__connect_partition`, `__connect_offset`.
    Kafka,
    /// The record key's fields.
    RecordKey,
    /// Fields of the record value.
    RecordValue,
}

/// Connect's `quote.sql.identifiers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum QuoteIdentifiers {
    /// Names are quoted: any name means exactly itself.
    #[default]
    Always,
    /// Names mean what they mean unquoted: plain identifiers only (others are
    /// refused, named), folded as the server folds them (PostgreSQL: lower case).
    Never,
}

/// Most tasks (`tasks_max`) one sink runs: each holds a consumer and a
/// target connection.
pub const MAX_SINK_TASKS: u64 = 32;

/// The table in each target where a sink stores its consumed offsets; no
/// topic may route to it (see [`is_reserved_table`]).
pub const OFFSETS_TABLE: &str = "sluice_sink_offsets";

/// True when `table` names the offsets table, compared without case: a
/// MySQL server with `lower_case_table_names` and SQLite fold case, so a
/// table differing only in case would be the offsets table there.
pub fn is_reserved_table(table: &str) -> bool {
    table.eq_ignore_ascii_case(OFFSETS_TABLE)
}

/// What happens to a record that cannot be decoded or applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ErrorsTolerance {
    /// Stop the pipeline.
    #[default]
    None,
    /// Skip it (to the dead-letter topic when one is set).
    All,
}

fn default_table_format() -> String {
    "${topic}".into()
}
fn default_batch_size() -> u64 {
    3000
}
fn default_max_wait_ms() -> u64 {
    200
}
/// 16 MiB: far above a batch of ordinary rows (3,000 rows of 1 KB are 3 MB),
/// small enough that big records (1 MB each) keep the daemon's memory low.
pub(crate) const DEFAULT_MAX_BATCH_BYTES: u64 = 16 << 20;
fn default_max_batch_bytes() -> u64 {
    DEFAULT_MAX_BATCH_BYTES
}

/// One `[[sink]]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Pipeline name (unique); the consumer group is `connect-<name>` unless set.
    pub name: String,
    /// Kafka Connect connector class, accepted for one-to-one Connect configs.
    #[serde(default, rename = "connector.class", alias = "connector_class")]
    pub connector_class: Option<String>,
    /// Consumers of the group this sink runs in the daemon (Connect's
    /// `tasks.max`), 1..=[`MAX_SINK_TASKS`]; partitions spread over them.
    #[serde(
        default,
        rename = "tasks.max",
        alias = "tasks_max",
        deserialize_with = "opt_u64"
    )]
    pub tasks_max: Option<u64>,
    /// Target URL (`mysql://`, `postgres://`, `sqlite://`, or `jdbc:` forms).
    #[serde(alias = "connection.url", alias = "connection_url")]
    pub url: String,
    /// User, when not in the URL.
    #[serde(default, alias = "connection.user", alias = "connection_user")]
    pub user: Option<String>,
    /// Password, when not in a file.
    #[serde(default, alias = "connection.password", alias = "connection_password")]
    pub password: Option<Secret>,
    /// File holding the password.
    #[serde(default)]
    pub password_file: Option<String>,
    /// Topics to consume.
    #[serde(default, deserialize_with = "lenient::list")]
    pub topics: Vec<String>,
    /// Regex of topics to consume (instead of `topics`).
    #[serde(default, alias = "topics.regex")]
    pub topics_regex: Option<String>,
    /// CREATE TABLE when the target table is missing.
    #[serde(default, alias = "auto.create", deserialize_with = "lenient::bool")]
    pub auto_create: bool,
    /// ALTER TABLE when messages carry new fields.
    #[serde(default, alias = "auto.evolve", deserialize_with = "lenient::bool")]
    pub auto_evolve: bool,
    /// insert | upsert | update.
    #[serde(default, alias = "insert.mode")]
    pub insert_mode: InsertMode,
    /// none | kafka | record_key | record_value.
    #[serde(default, alias = "pk.mode")]
    pub pk_mode: PkMode,
    /// Key fields (or the three kafka column names for `pk_mode = "kafka"`).
    #[serde(default, alias = "pk.fields", deserialize_with = "lenient::list")]
    pub pk_fields: Vec<String>,
    /// Tombstones and Debezium deletes delete rows.
    #[serde(default, alias = "delete.enabled", deserialize_with = "lenient::bool")]
    pub delete_enabled: bool,
    /// Target table name; `${topic}` is replaced by the topic (after `table_name_regex`).
    #[serde(default = "default_table_format", alias = "table.name.format")]
    pub table_name_format: String,
    /// Regex the whole topic must match to be renamed (as Connect's `RegexRouter`).
    #[serde(default, alias = "table.name.regex")]
    pub table_name_regex: Option<String>,
    /// Replacement for a topic matching `table_name_regex`; `$1`/`${1}` name groups.
    #[serde(default, alias = "table.name.replacement")]
    pub table_name_replacement: Option<String>,
    /// Value fields to write (all when empty); key fields are always kept.
    #[serde(
        default,
        alias = "fields.whitelist",
        alias = "fields.include",
        deserialize_with = "lenient::list"
    )]
    pub fields_include: Vec<String>,
    /// Value fields never written; key fields are always kept.
    #[serde(
        default,
        alias = "fields.blacklist",
        alias = "fields.exclude",
        deserialize_with = "lenient::list"
    )]
    pub fields_exclude: Vec<String>,
    /// Maximum records per DB transaction.
    #[serde(
        default = "default_batch_size",
        alias = "batch.size",
        deserialize_with = "lenient::u64"
    )]
    pub batch_size: u64,
    /// Maximum bytes (record keys and values as consumed) per DB
    /// transaction: a batch ends at `batch_size` records or this many bytes,
    /// whichever comes first; a record bigger than this goes alone.
    #[serde(
        default = "default_max_batch_bytes",
        alias = "max.batch.bytes",
        deserialize_with = "lenient::u64"
    )]
    pub max_batch_bytes: u64,
    /// Longest a partial batch waits for more records (alias `flush_interval_ms`).
    #[serde(
        default = "default_max_wait_ms",
        alias = "flush_interval_ms",
        alias = "flush.interval.ms",
        deserialize_with = "lenient::u64"
    )]
    pub max_wait_ms: u64,
    /// Consumer group id (default `connect-<name>`, as Kafka Connect).
    #[serde(default)]
    pub group_id: Option<String>,
    /// none | all.
    #[serde(default, alias = "errors.tolerance")]
    pub errors_tolerance: ErrorsTolerance,
    /// Dead-letter topic.
    #[serde(default, alias = "errors.deadletterqueue.topic.name")]
    pub dlq_topic: Option<String>,
    /// Dead letters carry Connect's `__connect.errors.*` context headers
    /// (`errors.deadletterqueue.context.headers.enable`; Sluice's default is
    /// true, Connect's false).
    #[serde(
        default = "default_true",
        alias = "errors.deadletterqueue.context.headers.enable",
        deserialize_with = "lenient::bool"
    )]
    pub dlq_context_headers: bool,
    /// Replicas of the dead-letter topic when the sink creates it: -1 (the
    /// broker's default, also when unset) or 1..=32767
    /// (`errors.deadletterqueue.topic.replication.factor`).
    #[serde(
        default,
        alias = "errors.deadletterqueue.topic.replication.factor",
        deserialize_with = "opt_replication"
    )]
    pub dlq_replication_factor: Option<i16>,
    /// Time zone Timestamp values are written in for zone-less column types
    /// (`UTC` or `+HH:MM`): a Timestamp is shifted by the offset, so a
    /// DATETIME / `timestamp without time zone` column holds that zone's wall time.
    #[serde(default, alias = "db.timezone")]
    pub db_timezone: Option<String>,
    /// Key converter: `json` (default), `avro`, `json_schema`, or a Connect class.
    #[serde(default, rename = "key.converter", alias = "key_converter")]
    pub key_converter: Option<String>,
    /// Value converter: `json` (default), `avro`, `json_schema`, or a Connect class.
    #[serde(default, rename = "value.converter", alias = "value_converter")]
    pub value_converter: Option<String>,
    /// false: keys are schemaless JSON, typed by the target table's columns.
    #[serde(
        default,
        rename = "key.converter.schemas.enable",
        alias = "key_converter_schemas_enable",
        deserialize_with = "opt_bool"
    )]
    pub key_converter_schemas_enable: Option<bool>,
    /// false: values are schemaless JSON objects applied into an existing
    /// table, each field typed by its column (no auto_create/auto_evolve).
    #[serde(
        default,
        rename = "value.converter.schemas.enable",
        alias = "value_converter_schemas_enable",
        deserialize_with = "opt_bool"
    )]
    pub value_converter_schemas_enable: Option<bool>,
    /// TLS: `disabled`, `preferred` (default), `required`, `verify_ca`, `verify_identity`.
    #[serde(default, alias = "ssl.mode", alias = "database.ssl.mode")]
    pub ssl_mode: Option<super::tls::SslMode>,
    /// CA certificate file (PEM) that `verify_ca`/`verify_identity` check the server against.
    #[serde(default, alias = "ssl.ca")]
    pub ssl_ca: Option<String>,
    /// Client certificate file (PEM), with `ssl_key`.
    #[serde(default, alias = "ssl.cert")]
    pub ssl_cert: Option<String>,
    /// Client private key file (PEM), with `ssl_cert`.
    #[serde(default, alias = "ssl.key")]
    pub ssl_key: Option<String>,
    /// `*.converter.schema.registry.url` of the key converter (else `[schema_registry]`).
    #[serde(default, rename = "key.converter.schema.registry.url")]
    pub key_converter_registry_url: Option<String>,
    /// `*.converter.schema.registry.url` of the value converter (else `[schema_registry]`).
    #[serde(default, rename = "value.converter.schema.registry.url")]
    pub value_converter_registry_url: Option<String>,
    /// Connect's `basic.auth.credentials.source` of the key converter (`USER_INFO`).
    #[serde(default, rename = "key.converter.basic.auth.credentials.source")]
    pub key_converter_credentials_source: Option<String>,
    /// Connect's `basic.auth.credentials.source` of the value converter (`USER_INFO`).
    #[serde(default, rename = "value.converter.basic.auth.credentials.source")]
    pub value_converter_credentials_source: Option<String>,
    /// `USER:PASSWORD` for the key converter's registry.
    #[serde(default, rename = "key.converter.basic.auth.user.info")]
    pub key_converter_user_info: Option<Secret>,
    /// `USER:PASSWORD` for the value converter's registry.
    #[serde(default, rename = "value.converter.basic.auth.user.info")]
    pub value_converter_user_info: Option<Secret>,
    /// Subject name strategy of key schemas (TopicNameStrategy, RecordNameStrategy,
    /// TopicRecordNameStrategy).
    #[serde(default, alias = "key.converter.key.subject.name.strategy")]
    pub key_subject_name_strategy: Option<String>,
    /// Subject name strategy of value schemas.
    #[serde(default, alias = "value.converter.value.subject.name.strategy")]
    pub value_subject_name_strategy: Option<String>,
    /// `[schema_registry]`, copied in when the config file is loaded (not a key).
    #[serde(skip)]
    pub schema_registry: Option<super::converter::SchemaRegistryConfig>,
    /// Log each failed or dead-lettered record (topic, partition, offset) at
    /// error level (Connect's `errors.log.enable`).
    #[serde(
        default,
        alias = "errors.log.enable",
        deserialize_with = "lenient::bool"
    )]
    pub errors_log_enable: bool,
    /// With `errors_log_enable`, the log line also holds the record's key and
    /// value (Connect's `errors.log.include.messages`).
    #[serde(
        default,
        alias = "errors.log.include.messages",
        deserialize_with = "lenient::bool"
    )]
    pub errors_log_include_messages: bool,
    /// Total milliseconds a streak of transient failures is retried before
    /// the pipeline fails: -1 forever, 0 no retry (Connect's
    /// `errors.retry.timeout`); unset: forever.
    #[serde(default, alias = "errors.retry.timeout", deserialize_with = "opt_i64")]
    pub errors_retry_timeout: Option<i64>,
    /// Longest wait between two retries, in milliseconds (Connect's
    /// `errors.retry.delay.max.ms`); unset: 30 s.
    #[serde(
        default,
        alias = "errors.retry.delay.max.ms",
        deserialize_with = "opt_u64"
    )]
    pub errors_retry_delay_max_ms: Option<u64>,
    /// Most retries of a streak of transient failures before the pipeline
    /// fails (Confluent JDBC's `max.retries`); unset: no limit.
    #[serde(default, alias = "max.retries", deserialize_with = "opt_u64")]
    pub max_retries: Option<u64>,
    /// Fixed wait between retries, in milliseconds (Confluent JDBC's
    /// `retry.backoff.ms`), capped by `errors_retry_delay_max_ms`; unset:
    /// exponential back-off from 1 s.
    #[serde(default, alias = "retry.backoff.ms", deserialize_with = "opt_u64")]
    pub retry_backoff_ms: Option<u64>,
    /// always | never (Connect's `quote.sql.identifiers`).
    #[serde(default, alias = "quote.sql.identifiers")]
    pub quote_sql_identifiers: QuoteIdentifiers,
    /// Longest a statement may wait or run on the target, and a batch's whole
    /// transaction (client side, see `sink::target`); 0 turns both off.
    #[serde(
        default = "default_statement_timeout_ms",
        alias = "statement.timeout.ms",
        deserialize_with = "lenient::u64"
    )]
    pub statement_timeout_ms: u64,
    /// Kafka Connect's `transforms`: the aliases of the transforms applied
    /// to every record, in order (see `crate::transforms`).
    #[serde(default, deserialize_with = "lenient::list")]
    pub transforms: Vec<String>,
    /// Kafka Connect's `predicates`: the aliases transforms may name.
    #[serde(default, deserialize_with = "lenient::list")]
    pub predicates: Vec<String>,
    /// Every `transforms.<alias>.<key>` and `predicates.<alias>.<key>`,
    /// folded here by `config::transforms::fold_transforms`.
    #[serde(default)]
    pub transform_settings: std::collections::BTreeMap<String, String>,
}

fn default_true() -> bool {
    true
}

/// A replication factor: -1 or 1..=32767, as a number or a string.
fn opt_replication<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i16>, D::Error> {
    let n = opt_i64(d)?.unwrap_or(-1);
    match i16::try_from(n) {
        Ok(f) if f == -1 || f >= 1 => Ok(Some(f)),
        _ => Err(serde::de::Error::custom(format!(
            "errors.deadletterqueue.topic.replication.factor must be -1 or 1..=32767, found {n}"
        ))),
    }
}

/// An integer (negative allowed), or a string holding one.
fn opt_i64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrString {
        Int(i64),
        String(String),
    }
    match IntOrString::deserialize(d)? {
        IntOrString::Int(n) => Ok(Some(n)),
        IntOrString::String(s) => {
            s.trim().parse().map(Some).map_err(|_| {
                serde::de::Error::custom(format!("expected an integer, found \"{s}\""))
            })
        }
    }
}

/// Five minutes: far above any healthy batch (bounded by `batch_size`), far
/// below "forever"; a lock held longer is almost always a stuck session.
fn default_statement_timeout_ms() -> u64 {
    300_000
}

impl SinkConfig {
    endpoint_methods!();

    /// How many tasks (group members) the sink runs: `tasks_max`, 1 when unset.
    pub fn task_count(&self) -> u32 {
        let n = self.tasks_max.unwrap_or(1).clamp(1, MAX_SINK_TASKS);
        u32::try_from(n).unwrap_or(1)
    }

    /// Consumer group id.
    pub fn group_id(&self) -> String {
        self.group_id
            .clone()
            .unwrap_or_else(|| format!("connect-{}", self.name))
    }

    /// `topics_regex` anchored so that it matches whole topic names (as Kafka
    /// Connect's `topics.regex` does), in a form both Rust's regex and
    /// librdkafka's subscription (POSIX extended) read the same way.
    pub fn topics_pattern(&self) -> Option<String> {
        self.topics_regex.as_ref().map(|re| format!("^({re})$"))
    }

    /// True when the sink consumes `topic`: named in `topics`, or matched
    /// whole by `topics_regex`.
    pub fn consumes(&self, topic: &str) -> bool {
        if self.topics.iter().any(|t| t == topic) {
            return true;
        }
        self.topics_pattern()
            .and_then(|p| regex::Regex::new(&p).ok())
            .is_some_and(|re| re.is_match(topic))
    }

    /// `table_name_regex` anchored as Connect's `RegexRouter` applies it: the
    /// whole topic must match.
    pub fn table_rename_regex(&self) -> Option<Result<regex::Regex, regex::Error>> {
        let re = self.table_name_regex.as_ref()?;
        Some(regex::Regex::new(&format!("^(?:{re})$")))
    }

    /// Pure validation; no I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            pipeline: self.name.clone(),
            key: key.into(),
            reason,
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty".into()));
        }
        super::failover::validate_sink_url(&self.name, &self.url)?;
        if let Some(c) = &self.connector_class {
            if !c.ends_with("JdbcSinkConnector") {
                return Err(invalid(
                    "connector.class",
                    format!("{c} is not a sink Sluice implements (JdbcSinkConnector)"),
                ));
            }
        }
        // schemas.enable = false is schemaless JSON, which the sink types
        // by the target table's columns (see below); a registry converter
        // always has its schema (the writer's, by id).
        let (key, value) = self.converters()?;
        self.transform_chain()?;
        for (what, converter, schemas_enable) in [
            ("key", &key, self.key_converter_schemas_enable),
            ("value", &value, self.value_converter_schemas_enable),
        ] {
            if converter.kind.uses_registry() && schemas_enable.is_some() {
                return Err(invalid(
                    &format!("{what}.converter.schemas.enable"),
                    format!(
                        "is a json converter setting; the {what} converter is {}",
                        converter.kind.name()
                    ),
                ));
            }
        }
        if self.value_converter_schemas_enable == Some(false)
            || self.key_converter_schemas_enable == Some(false)
        {
            for (set, key) in [
                (self.auto_create, "auto_create"),
                (self.auto_evolve, "auto_evolve"),
            ] {
                if set {
                    return Err(invalid(
                        key,
                        "schemaless JSON (*.converter.schemas.enable = false) has no schema to create or alter a table from: set it to false and write into an existing table".into(),
                    ));
                }
            }
        }
        match (self.topics.is_empty(), &self.topics_regex) {
            (true, None) => return Err(invalid("topics", "set topics or topics_regex".into())),
            (false, Some(_)) => {
                return Err(invalid(
                    "topics_regex",
                    "set either topics or topics_regex, not both".into(),
                ))
            }
            (_, Some(re)) => {
                regex::Regex::new(re)
                    .map_err(|e| invalid("topics_regex", format!("not a valid regex: {e}")))?;
            }
            _ => {}
        }
        if let Some(dlq) = &self.dlq_topic {
            if self.consumes(dlq) {
                return Err(invalid(
                    "dlq_topic",
                    format!("\"{dlq}\" is among the topics this sink consumes: it would read back its own dead letters"),
                ));
            }
        }
        if let Some(n) = self.tasks_max {
            if n == 0 || n > MAX_SINK_TASKS {
                return Err(invalid(
                    "tasks_max",
                    format!("must be 1..={MAX_SINK_TASKS} (each task holds a consumer and a database connection), found {n}"),
                ));
            }
        }
        if self.batch_size == 0 {
            return Err(invalid("batch_size", "must be at least 1".into()));
        }
        if self.max_batch_bytes == 0 {
            return Err(invalid("max_batch_bytes", "must be at least 1".into()));
        }
        if !self.table_name_format.contains("${topic}")
            && is_reserved_table(&self.table_name_format)
        {
            return Err(invalid(
                "table_name_format",
                format!("\"{}\" is the table where the sink stores its offsets: choose another table name", self.table_name_format),
            ));
        }
        if !self.table_name_format.contains("${topic}") && self.topics.len() > 1 {
            tracing::warn!(pipeline = %self.name, "table_name_format has no ${{topic}}: all topics go to one table");
        }
        let needs_key = matches!(self.insert_mode, InsertMode::Upsert | InsertMode::Update)
            || self.delete_enabled;
        if needs_key && self.pk_mode == PkMode::None {
            let what = if self.delete_enabled {
                "delete_enabled = true"
            } else {
                "insert_mode upsert/update"
            };
            return Err(invalid(
                "pk_mode",
                format!("{what} needs a primary key: set pk_mode to record_key or record_value"),
            ));
        }
        if self.delete_enabled && self.pk_mode != PkMode::RecordKey {
            return Err(invalid(
                "delete_enabled",
                "deletes need pk_mode = \"record_key\" (as in Kafka Connect)".into(),
            ));
        }
        if self.pk_mode == PkMode::Kafka
            && !(self.pk_fields.is_empty() || self.pk_fields.len() == 3)
        {
            return Err(invalid(
                "pk_fields",
                "pk_mode = \"kafka\" takes zero or three names (topic, partition, offset columns)"
                    .into(),
            ));
        }
        if self.errors_retry_timeout.is_some_and(|t| t < -1) {
            return Err(invalid(
                "errors_retry_timeout",
                "must be -1 (forever), 0 (no retry) or a number of milliseconds".into(),
            ));
        }
        if self.errors_log_include_messages && !self.errors_log_enable {
            tracing::warn!(pipeline = %self.name, "errors_log_include_messages has no effect without errors_log_enable");
        }
        if let Some(tz) = &self.db_timezone {
            crate::config::parse_timezone(tz).map_err(|r| invalid("db_timezone", r))?;
        }
        if !self.fields_include.is_empty() && !self.fields_exclude.is_empty() {
            return Err(invalid(
                "fields_exclude",
                "set either fields_include or fields_exclude, not both".into(),
            ));
        }
        match (self.table_rename_regex(), &self.table_name_replacement) {
            (Some(Err(e)), _) => {
                return Err(invalid(
                    "table_name_regex",
                    format!("not a valid regex: {e}"),
                ))
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "table_name_replacement",
                    "needs table_name_regex".into(),
                ))
            }
            (Some(Ok(_)), None) => {
                return Err(invalid(
                    "table_name_replacement",
                    "table_name_regex needs a replacement".into(),
                ))
            }
            _ => {}
        }
        Ok(())
    }
}

impl SinkConfig {
    /// The key and value converters, resolved against `[schema_registry]`; pure.
    pub fn converters(
        &self,
    ) -> Result<(super::converter::Converter, super::converter::Converter), ConfigError> {
        use super::converter::{ConverterKeys, Direction};
        let global = self.schema_registry.as_ref();
        let key = ConverterKeys {
            what: "key",
            class: self.key_converter.as_deref(),
            url: self.key_converter_registry_url.as_deref(),
            credentials_source: self.key_converter_credentials_source.as_deref(),
            user_info: self.key_converter_user_info.as_ref(),
            strategy: self.key_subject_name_strategy.as_deref(),
        }
        .resolve(&self.name, Direction::Read, global)?;
        let value = ConverterKeys {
            what: "value",
            class: self.value_converter.as_deref(),
            url: self.value_converter_registry_url.as_deref(),
            credentials_source: self.value_converter_credentials_source.as_deref(),
            user_info: self.value_converter_user_info.as_ref(),
            strategy: self.value_subject_name_strategy.as_deref(),
        }
        .resolve(&self.name, Direction::Read, global)?;
        Ok((key, value))
    }
}
