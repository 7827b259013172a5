//! `[[source]]` sections.

use serde::Deserialize;

use super::lenient;
use super::secret::Secret;
use super::ConfigError;

/// How a source reads its tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// Tail the binlog.
    Binlog,
    /// Poll tables like the Kafka Connect JDBC source.
    Poll,
}

/// The JDBC source connector's poll modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PollMode {
    /// Re-read the whole table on every poll.
    #[serde(rename = "bulk")]
    Bulk,
    /// New rows by a strictly increasing column.
    #[serde(rename = "incrementing")]
    Incrementing,
    /// New or changed rows by a timestamp column.
    #[serde(rename = "timestamp")]
    Timestamp,
    /// Timestamp, with the incrementing column breaking ties.
    #[serde(rename = "timestamp+incrementing")]
    TimestampIncrementing,
}

impl PollMode {
    /// Whether this mode tracks an incrementing column.
    pub fn uses_incrementing(self) -> bool {
        matches!(
            self,
            PollMode::Incrementing | PollMode::TimestampIncrementing
        )
    }

    /// Whether this mode tracks a timestamp column.
    pub fn uses_timestamp(self) -> bool {
        matches!(self, PollMode::Timestamp | PollMode::TimestampIncrementing)
    }
}

pub use crate::connect::{DecimalHandling, Envelope, TimePrecision};

/// Delivery guarantee from source to Kafka.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum Delivery {
    /// Transactional producer; data and position in one Kafka transaction.
    #[default]
    #[serde(rename = "exactly-once")]
    ExactlyOnce,
    /// Idempotent producer; position written after data (may repeat after a crash).
    #[serde(rename = "at-least-once")]
    AtLeastOnce,
}

/// When a binlog source snapshots its tables (Debezium's `snapshot.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotMode {
    /// Snapshot on first start (no stored position), then stream.
    #[default]
    Initial,
    /// Never snapshot; a first start streams from the oldest binlog on the server.
    Never,
    /// Snapshot on first start, or when the stored position is no longer in the binlog.
    WhenNeeded,
    /// Record the schema only; a first start streams from the current binlog end.
    #[serde(alias = "no_data")]
    SchemaOnly,
}

/// How a binlog source's snapshot holds the server (Debezium's `snapshot.locking.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotLocking {
    /// No lock: tables are read in primary-key chunks interleaved with the
    /// binlog stream (DBLog watermarks), each chunk its own Kafka transaction,
    /// resumable after a crash. Needs no `RELOAD` grant.
    #[default]
    None,
    /// One consistent cut: a consistent-snapshot transaction (on MySQL behind a
    /// brief `FLUSH TABLES WITH READ LOCK`, which needs `RELOAD`), published as
    /// one Kafka transaction, then streaming from its position.
    Minimal,
}

fn default_poll_interval() -> u64 {
    5000
}
fn default_batch_max_rows() -> u64 {
    100
}
fn default_snapshot_fetch_rows() -> u64 {
    10_000
}
fn default_max_batch_rows() -> u64 {
    4096
}
fn default_max_transaction_rows() -> u64 {
    20_000
}
fn default_max_batch_bytes() -> u64 {
    super::sink::DEFAULT_MAX_BATCH_BYTES
}

/// One `[[source]]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Pipeline name (unique); also derives the transactional id.
    pub name: String,
    /// `binlog` or `poll`; may be implied by `connector.class`.
    #[serde(default)]
    pub kind: Option<SourceKind>,
    /// Kafka Connect connector class, accepted for one-to-one Connect configs.
    #[serde(default, rename = "connector.class", alias = "connector_class")]
    pub connector_class: Option<String>,
    /// Accepted for Connect configs; Sluice runs one task per source.
    #[serde(
        default,
        rename = "tasks.max",
        alias = "tasks_max",
        deserialize_with = "opt_u64"
    )]
    pub tasks_max: Option<u64>,
    /// Database URL (`mysql://`, or `jdbc:mysql://`).
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
    /// Tables to include (empty: all tables of the URL's database). Poll:
    /// names (`t` or `db.t`); binlog: Debezium's anchored, case-insensitive
    /// regexes over `<db>.<table>` (an entry without `.` also over the bare
    /// name), see `source::filter`.
    #[serde(
        default,
        alias = "table.whitelist",
        alias = "table.include.list",
        alias = "table_whitelist",
        deserialize_with = "lenient::list"
    )]
    pub tables: Vec<String>,
    /// Tables to exclude (binlog: regexes, as `tables`).
    #[serde(
        default,
        alias = "table.blacklist",
        alias = "table.exclude.list",
        alias = "table_blacklist",
        deserialize_with = "lenient::list"
    )]
    pub table_exclude: Vec<String>,
    /// Topic prefix; topic = prefix + table.
    #[serde(default, alias = "topic.prefix")]
    pub topic_prefix: Option<String>,
    /// Logical server name (Debezium's `topic.prefix`); binlog topics default
    /// to `<server_name or name>.<db>.<table>`.
    #[serde(default, alias = "database.server.name")]
    pub server_name: Option<String>,
    /// Message envelope.
    #[serde(default)]
    pub envelope: Envelope,
    /// Binlog: the replica server id Sluice registers with (unique per server).
    #[serde(default, alias = "database.server.id", deserialize_with = "opt_u64")]
    pub server_id: Option<u64>,
    /// Binlog: databases to capture, anchored case-insensitive regexes
    /// (empty: the URL's database, or all when it names none).
    #[serde(
        default,
        alias = "database.include.list",
        alias = "database.whitelist",
        deserialize_with = "lenient::list"
    )]
    pub databases: Vec<String>,
    /// Binlog: databases to leave out (Debezium's `database.exclude.list`;
    /// anchored, case-insensitive regexes, as `databases`).
    #[serde(
        default,
        alias = "database.exclude.list",
        alias = "database.blacklist",
        deserialize_with = "lenient::list"
    )]
    pub database_exclude: Vec<String>,
    /// Binlog: columns to publish, `<db>.<table>.<column>` regexes
    /// (Debezium's `column.include.list`; empty: all).
    #[serde(
        default,
        alias = "column.include.list",
        alias = "column.whitelist",
        deserialize_with = "lenient::list"
    )]
    pub columns: Vec<String>,
    /// Binlog: columns to leave out (Debezium's `column.exclude.list`).
    #[serde(
        default,
        alias = "column.exclude.list",
        alias = "column.blacklist",
        deserialize_with = "lenient::list"
    )]
    pub column_exclude: Vec<String>,
    /// Binlog: Debezium's column mappers, key → column regexes
    /// (`column.mask.with.N.chars`, `column.mask.hash.ALGO.with.salt.SALT`,
    /// `column.truncate.to.N.chars`; written as top-level keys, folded here).
    #[serde(default)]
    pub column_rules: std::collections::BTreeMap<String, String>,
    /// Binlog: the message key's columns per table regex, Debezium's
    /// `message.key.columns` (`db.t:c1,c2;db.u:c3`).
    #[serde(default, alias = "message.key.columns")]
    pub message_key_columns: Option<String>,
    /// Binlog, Debezium envelope: a delete is followed by a tombstone
    /// (Debezium's `tombstones.on.delete`, default true).
    #[serde(
        default = "default_true",
        alias = "tombstones.on.delete",
        deserialize_with = "lenient::bool"
    )]
    pub tombstones_on_delete: bool,
    /// Binlog: operations not published (Debezium's `skipped.operations`:
    /// `c`, `u`, `d`, `t`; default `t`).
    #[serde(default, alias = "skipped.operations", deserialize_with = "opt_list")]
    pub skipped_operations: Option<Vec<String>>,
    /// Debezium's `decimal.handling.mode` (`precise`, `string`, `double`);
    /// the same setting as `decimal_handling`.
    #[serde(default, rename = "decimal.handling.mode")]
    pub decimal_handling_mode: Option<String>,
    /// Debezium's `time.precision.mode`; the same setting as `time_precision`.
    #[serde(default, rename = "time.precision.mode")]
    pub time_precision_mode: Option<String>,
    /// Debezium's `bigint.unsigned.handling.mode`: only `precise` (BIGINT
    /// UNSIGNED as a scale-0 Decimal, what Sluice always writes).
    #[serde(
        default,
        rename = "bigint.unsigned.handling.mode",
        alias = "bigint_unsigned_handling"
    )]
    pub bigint_unsigned_handling_mode: Option<String>,
    /// Debezium's `include.schema.changes`: write Debezium's schema-change
    /// topic (binlog sources). Default: on with `envelope = "debezium"`
    /// (Debezium's default), off with the flat envelope.
    #[serde(
        default,
        rename = "include.schema.changes",
        alias = "include_schema_changes",
        deserialize_with = "opt_bool"
    )]
    pub include_schema_changes: Option<bool>,
    /// Debezium's MySQL `enable.time.adjuster`: only `false`. Debezium's
    /// default (`true`) turns two-digit years into 19xx/20xx (YEAR 0000
    /// becomes 2000); Sluice writes the stored year.
    #[serde(
        default,
        rename = "enable.time.adjuster",
        alias = "enable_time_adjuster",
        deserialize_with = "opt_bool"
    )]
    pub enable_time_adjuster: Option<bool>,
    /// Binlog: when to snapshot.
    #[serde(default, alias = "snapshot.mode")]
    pub snapshot_mode: SnapshotMode,
    /// Binlog: rows per snapshot chunk (primary-key ranges) and Kafka transaction.
    #[serde(
        default = "default_snapshot_fetch_rows",
        alias = "snapshot.fetch.size",
        deserialize_with = "lenient::u64"
    )]
    pub snapshot_fetch_rows: u64,
    /// Binlog: `none` (chunked, lock-free, resumable) or `minimal` (one consistent cut).
    #[serde(default, alias = "snapshot.locking.mode")]
    pub snapshot_locking: SnapshotLocking,
    /// Binlog: a table (`db.table`, Debezium's signal table shape) the chunked
    /// snapshot writes its watermarks to instead of reading binlog positions.
    #[serde(default, alias = "signal.data.collection")]
    pub signal_data_collection: Option<String>,
    /// Binlog: Debezium's signal channels acted on: `source` (rows of the
    /// signal table) and `kafka` (the signal topic); empty: `source` only.
    #[serde(
        default,
        alias = "signal.enabled.channels",
        deserialize_with = "lenient::list"
    )]
    pub signal_enabled_channels: Vec<String>,
    /// Binlog: the Kafka signal topic (default `<server_name>-signal`).
    #[serde(default, alias = "signal.kafka.topic")]
    pub signal_kafka_topic: Option<String>,
    /// Binlog: brokers of the signal topic (default: `[kafka]`'s).
    #[serde(default, alias = "signal.kafka.bootstrap.servers")]
    pub signal_kafka_bootstrap_servers: Option<String>,
    /// Binlog: consumer group of the signal topic's reader (default `kafka-signal`).
    #[serde(default, alias = "signal.kafka.groupId")]
    pub signal_kafka_group_id: Option<String>,
    /// Binlog: Debezium's `signal.consumer.<prop>` keys (folded here, see
    /// `config::signal`): properties of the signal topic's reader.
    #[serde(default)]
    pub signal_consumer: std::collections::BTreeMap<String, String>,
    /// Binlog: rows per Kafka transaction when several source transactions are grouped.
    #[serde(
        default = "default_max_batch_rows",
        alias = "max.batch.size",
        deserialize_with = "lenient::u64"
    )]
    pub max_batch_rows: u64,
    /// Binlog: a source transaction with more rows is split across Kafka
    /// transactions (bounded memory; the position records how far it got).
    #[serde(
        default = "default_max_transaction_rows",
        deserialize_with = "lenient::u64"
    )]
    pub max_transaction_rows: u64,
    /// Encoded bytes (keys and values) per Kafka transaction, as a bound
    /// beside the row counts: binlog batches end at a source transaction
    /// boundary once past it (a source transaction bigger than it is split,
    /// as by `max_transaction_rows`), poll batches at the row that reaches it.
    #[serde(
        default = "default_max_batch_bytes",
        alias = "max.batch.bytes",
        deserialize_with = "lenient::u64"
    )]
    pub max_batch_bytes: u64,
    /// Binlog: heartbeat period; the position advances while tables are idle and,
    /// when `heartbeat_topic` is set or derived, a heartbeat message is written (0: off).
    #[serde(
        default,
        alias = "heartbeat.interval.ms",
        deserialize_with = "lenient::u64"
    )]
    pub heartbeat_interval_ms: u64,
    /// Binlog: heartbeat topic (default `__sluice-heartbeat.<server_name or name>`).
    #[serde(default, alias = "heartbeat.topic")]
    pub heartbeat_topic: Option<String>,
    /// Poll mode.
    #[serde(default)]
    pub mode: Option<PollMode>,
    /// Incrementing column name.
    #[serde(default, alias = "incrementing.column.name")]
    pub incrementing_column: Option<String>,
    /// Timestamp column names (the first non-null one is used, as in Connect).
    #[serde(
        default,
        alias = "timestamp.column.name",
        alias = "timestamp_column",
        deserialize_with = "lenient::list"
    )]
    pub timestamp_columns: Vec<String>,
    /// Poll: a custom SELECT read instead of whole tables (Connect's
    /// `query`); its rows go to the topic `topic_prefix` alone.
    #[serde(default)]
    pub query: Option<String>,
    /// Poll: text appended to each generated query (Connect's `query.suffix`).
    #[serde(default, alias = "query.suffix")]
    pub query_suffix: Option<String>,
    /// Poll: where timestamp modes start when no offset is stored, in ms
    /// since the epoch (-1: the database's current time); none: from the
    /// beginning.
    #[serde(default, alias = "timestamp.initial", deserialize_with = "opt_i64")]
    pub timestamp_initial: Option<i64>,
    /// Poll: refuse to start when an incrementing or timestamp column is
    /// nullable (Connect's `validate.non.null`).
    #[serde(
        default = "default_true",
        alias = "validate.non.null",
        deserialize_with = "lenient::bool"
    )]
    pub validate_non_null: bool,
    /// Poll period.
    #[serde(
        default = "default_poll_interval",
        alias = "poll.interval.ms",
        deserialize_with = "lenient::u64"
    )]
    pub poll_interval_ms: u64,
    /// Rows per poll batch (one Kafka transaction).
    #[serde(
        default = "default_batch_max_rows",
        alias = "batch.max.rows",
        deserialize_with = "lenient::u64"
    )]
    pub batch_max_rows: u64,
    /// How far behind now a timestamp must be before its rows are read.
    #[serde(
        default,
        alias = "timestamp.delay.interval.ms",
        deserialize_with = "lenient::u64"
    )]
    pub timestamp_delay_interval_ms: u64,
    /// DECIMAL encoding (default `precise`); read through [`SourceConfig::decimals`].
    #[serde(default)]
    pub decimal_handling: Option<DecimalHandling>,
    /// Time encoding (default `adaptive_time_microseconds`, lossless); read
    /// through [`SourceConfig::times`].
    #[serde(default)]
    pub time_precision: Option<TimePrecision>,
    /// Time zone DATETIME values are read (and, in timestamp modes,
    /// compared) in: `UTC` (default), an IANA name or an offset like `+02:00`.
    #[serde(default, alias = "db.timezone")]
    pub db_timezone: Option<String>,
    /// Delivery guarantee.
    #[serde(default)]
    pub delivery: Delivery,
    /// Key converter: `json` (default), `avro`, `json_schema`, or a Connect class.
    #[serde(default, rename = "key.converter", alias = "key_converter")]
    pub key_converter: Option<String>,
    /// Value converter: `json` (default), `avro`, `json_schema`, or a Connect class.
    #[serde(default, rename = "value.converter", alias = "value_converter")]
    pub value_converter: Option<String>,
    /// Must be true (or absent): Sluice always writes schemas.
    #[serde(
        default,
        rename = "key.converter.schemas.enable",
        deserialize_with = "opt_bool"
    )]
    pub key_converter_schemas_enable: Option<bool>,
    /// Must be true (or absent): Sluice always writes schemas.
    #[serde(
        default,
        rename = "value.converter.schemas.enable",
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
    /// Standby mode: every daemon configured with this source joins its
    /// standby group and only the elected one runs it (`super::standby`).
    #[serde(default, deserialize_with = "lenient::bool")]
    pub standby: bool,
    /// The Kafka consumer group standby instances join (default
    /// `sluice-standby-<name>`).
    #[serde(default)]
    pub standby_group: Option<String>,
    /// The one-partition coordination topic (default `sluice_standby`).
    #[serde(default)]
    pub standby_topic: Option<String>,
    /// How long the group coordinator waits for a silent leader before
    /// another instance takes over.
    #[serde(
        default = "super::standby::default_session_timeout_ms",
        deserialize_with = "lenient::u64"
    )]
    pub standby_session_timeout_ms: u64,
    /// Binlog, `url` listing several servers: how long reconnecting to the
    /// server being read may fail before the next one is tried (`super::failover`).
    #[serde(
        default = "super::failover::default_timeout_ms",
        deserialize_with = "lenient::u64"
    )]
    pub failover_timeout_ms: u64,
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

pub(super) fn opt_u64<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    lenient::u64(d).map(Some)
}

fn default_true() -> bool {
    true
}

fn opt_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    lenient::list(d).map(Some)
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

pub(super) fn opt_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    lenient::bool(d).map(Some)
}

/// Checks Connect's `*.converter.schemas.enable` (the converter classes are
/// checked by `converters()`, see [`super::converter`]).
pub(super) fn check_converters(
    pipeline: &str,
    pairs: [(&str, &Option<bool>); 2],
) -> Result<(), ConfigError> {
    for (what, schemas) in pairs {
        if *schemas == Some(false) {
            return Err(ConfigError::Invalid {
                pipeline: pipeline.into(),
                key: format!("{what}.converter.schemas.enable"),
                reason: "Sluice always writes and reads Connect JSON with schemas; set it to true or remove it".into(),
            });
        }
    }
    Ok(())
}
