//! Sources: read MySQL/MariaDB changes and publish them to Kafka.
//!
//! Two kinds, one output path:
//! - `kind = "binlog"` ([`binlog`]) tails the binlog (snapshot first, then
//!   streaming), one handler per event kind;
//! - `kind = "poll"` ([`poll`]) queries tables the way the Kafka Connect JDBC
//!   source does.
//!
//! Both turn rows into [`ChangeEvent`](crate::event::ChangeEvent)s, and both
//! hand them to the same two steps: [`emit`] encodes each event into a Kafka
//! record on its table's topic (and counts it in the rows-read metric), and
//! [`publish`] writes each batch of records and the source position after it
//! in one Kafka transaction (design.md §5), in a task that commits batch N
//! while the source reads batch N+1.
//!
//! Errors: one [`SourceError`], each variant documenting its class;
//! [`SourceError::is_transient`] is the one place that decides whether the
//! supervisor restarts the source (transient) or stops it (definite).

pub mod binlog;
pub mod columns;
pub mod emit;
pub mod filter;
pub mod mysql_types;
pub mod poll;
pub mod publish;
mod wire;

use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, KafkaConfig, SourceConfig, SourceKind};
use crate::connect::CodecError;
use crate::event::TableId;
use crate::kafka::KafkaError;
use crate::position::BinlogPosition;

/// A boxed cause, for errors whose cause may be one of several library types.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Source errors, classified once by [`SourceError::is_transient`]: a
/// *transient* error restarts the source (it resumes from its stored
/// position); a *definite* one stops this source until its configuration,
/// server or stored offset is fixed. Each variant's doc names its class.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database connection or a query failed. Class: as
    /// `crate::mysql::classify` says (lost connections are transient; unrecognised
    /// server states are retried too).
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    /// Kafka failed. Class: as [`KafkaError::is_transient`] says.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The source's configuration cannot work. Definite.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A row could not be encoded. Definite.
    #[error("table {table}: {source}")]
    Codec {
        /// Table.
        table: String,
        /// Cause.
        #[source]
        source: CodecError,
    },
    /// A transform failed on a record (a config the record does not fit).
    /// Definite, as Connect's `errors.tolerance = none`.
    #[error("topic {topic}: {source}")]
    Transform {
        /// The record's topic before the transforms.
        topic: String,
        /// Cause (names the transform's alias).
        #[source]
        source: crate::transforms::TransformError,
    },
    /// A value did not fit its column. Definite.
    #[error("table {table}: {source}")]
    Value {
        /// Table.
        table: String,
        /// Cause.
        #[source]
        source: mysql_types::ValueError,
    },
    /// A binlog event could not be decoded. Definite: the same event comes
    /// again after a restart.
    #[error("binlog event at {position}: {source}")]
    Decode {
        /// Where the event starts (or the last position read before it).
        position: BinlogPosition,
        /// Cause.
        #[source]
        source: binlog::DecodeError,
    },
    /// A captured table's TABLE_MAP event describes a table Sluice cannot
    /// decode (missing metadata, an unsupported type or character set). Definite.
    #[error(transparent)]
    TableMap(#[from] binlog::table::TableMapError),
    /// A binlog event's checksum does not match its bytes. Transient: the
    /// event is read again after a reconnect.
    #[error("binlog event checksum mismatch (type {event_type}, end position {end_position}): expected {expected:08x}, computed {computed:08x}")]
    Checksum {
        /// Raw event type.
        event_type: u8,
        /// The event's end position in its file.
        end_position: u32,
        /// The checksum the event carries.
        expected: u32,
        /// The checksum of its bytes.
        computed: u32,
    },
    /// The server ended the binlog stream (restart, network). Transient.
    #[error("the server closed the binlog stream")]
    StreamEnded,
    /// Nothing (no event, no heartbeat) came on the binlog connection for three
    /// heartbeat periods: the peer is gone or the path black-holed. Transient.
    #[error("binlog connection silent for {seconds}s (3 heartbeat periods); reconnecting")]
    StreamSilent {
        /// How long it was silent.
        seconds: u64,
    },
    /// The stored position is no longer in the server's binlog. Definite
    /// (unless `snapshot_mode = "when_needed"`, which snapshots again instead).
    #[error("{lead}{0}. Set snapshot_mode = \"when_needed\" to re-snapshot, or reset the source's offsets", lead = .0.lead())]
    BinlogMissingResumePoint(binlog::MissingResumePoint),
    /// The server is not set up for binlog capture; one line per problem. Definite.
    #[error("the server is not ready for binlog capture:\n  {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    ServerNotReady(Vec<binlog::server::Problem>),
    /// The server reports no binlog (`what`: the status it lacks). Definite.
    #[error("the server reports no {what}: is log_bin ON?")]
    NoBinlog {
        /// The missing status.
        what: &'static str,
    },
    /// A server status value is not what it must be. Definite.
    #[error("the server's {name} \"{value}\" is not a binlog position: {source}")]
    ServerStatus {
        /// The status variable.
        name: &'static str,
        /// Its value.
        value: String,
        /// Cause.
        #[source]
        source: std::num::ParseIntError,
    },
    /// A polled table lacks a column the mode needs. Definite.
    #[error("table {table}: {role} column(s) {columns:?} not found")]
    ColumnNotFound {
        /// Table.
        table: TableId,
        /// `incrementing` or `timestamp`.
        role: &'static str,
        /// The configured columns.
        columns: Vec<String>,
    },
    /// The incrementing column holds a value that cannot be an offset. Definite.
    #[error("table {table}: incrementing column `{column}` holds a non-integer or NULL value")]
    IncrementingValue {
        /// Table.
        table: TableId,
        /// Column.
        column: String,
    },
    /// A polled table's incrementing column, or all its timestamp columns,
    /// may hold NULL, so rows could be skipped (`validate_non_null`). Definite.
    #[error(
        "table {table}: {role} column(s) {columns:?} are nullable, so rows with NULL there would never be read; make the column NOT NULL or set validate.non.null = false"
    )]
    NullableColumn {
        /// Table (`query` for a custom query).
        table: TableId,
        /// `incrementing` or `timestamp`.
        role: &'static str,
        /// The nullable columns.
        columns: Vec<String>,
    },
    /// A stored offset is unusable. Definite.
    #[error("stored offset {offset} of {partition} is unusable: {source}")]
    Offset {
        /// The offsets-topic partition (`db.table`, or `server=<name>`).
        partition: String,
        /// The offset text.
        offset: String,
        /// Cause (JSON or GTID parsing).
        #[source]
        source: BoxError,
    },
    /// A position could not be written as JSON. Definite.
    #[error("the source position could not be encoded: {0}")]
    OffsetEncode(#[source] serde_json::Error),
    /// The publisher task panicked. Definite.
    #[error("the publisher task failed: {0}")]
    Publisher(#[source] tokio::task::JoinError),
    /// The publisher task ended without reporting a batch's outcome. Definite.
    #[error("the publisher task ended unexpectedly")]
    PublisherGone,
    /// The Schema Registry failed or refused a schema (`wire`). Class: as
    /// [`crate::registry::RegistryError::is_transient`] says (outages are
    /// transient, refusals such as an incompatible schema definite).
    #[error("topic {topic}: {source}")]
    Registry {
        /// The topic whose record needed the schema.
        topic: String,
        /// Cause (names the subject and the registry's message).
        #[source]
        source: crate::registry::RegistryError,
    },
    /// A snapshot chunk's low watermark stayed behind what the stream had
    /// read (the server did not commit a transaction it had written to the
    /// binlog). Transient.
    #[error(
        "snapshot of {table}: the server's committed position stayed behind the stream's {stream}"
    )]
    WatermarkBehind {
        /// The table being read.
        table: String,
        /// Where the stream was.
        stream: BinlogPosition,
    },
    /// A key-less table's chunk could not be written to or read back from
    /// its spool file (disk full, I/O error). Transient: the chunk is read
    /// again after the restart.
    #[error("snapshot of {table}: spooling its rows in {dir}: {source}")]
    Spool {
        /// The table being read.
        table: String,
        /// The directory of the spool file.
        dir: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl SourceError {
    /// True when reconnecting and retrying may succeed; the one place that
    /// classifies source errors.
    pub fn is_transient(&self) -> bool {
        match self {
            // Unrecognised server states may pass: the source retries them.
            SourceError::Mysql(e) => {
                crate::mysql::classify(e) != crate::mysql::ErrorClass::Definite
            }
            SourceError::Kafka(e) => e.is_transient(),
            SourceError::Registry { source, .. } => source.is_transient(),
            SourceError::StreamEnded
            | SourceError::StreamSilent { .. }
            | SourceError::Checksum { .. }
            | SourceError::WatermarkBehind { .. }
            | SourceError::Spool { .. } => true,
            SourceError::Config(_)
            | SourceError::Codec { .. }
            | SourceError::Transform { .. }
            | SourceError::Value { .. }
            | SourceError::Decode { .. }
            | SourceError::TableMap(_)
            | SourceError::BinlogMissingResumePoint(_)
            | SourceError::ServerNotReady(_)
            | SourceError::NoBinlog { .. }
            | SourceError::ServerStatus { .. }
            | SourceError::ColumnNotFound { .. }
            | SourceError::IncrementingValue { .. }
            | SourceError::NullableColumn { .. }
            | SourceError::Offset { .. }
            | SourceError::OffsetEncode(_)
            | SourceError::Publisher(_)
            | SourceError::PublisherGone => false,
        }
    }
}

/// Runs one source until `cancel` fires or a definite error occurs.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    match cfg.resolved_kind()? {
        SourceKind::Poll => poll::run(cfg, kafka, cancel).await,
        SourceKind::Binlog => binlog::run(cfg, kafka, cancel).await,
    }
}
