//! Sources: read MySQL/MariaDB changes and publish them to Kafka.
//!
//! `kind = "poll"` ([`poll`]) queries tables the way the Kafka Connect JDBC
//! source does. Each batch of messages and the source position after it are
//! written in one Kafka transaction (design.md §5).

pub mod binlog;
pub mod mysql_types;
pub mod poll;

use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, SourceConfig, SourceKind};
use crate::connect::CodecError;
use crate::kafka::KafkaError;

/// Source errors, classified once by [`SourceError::is_transient`].
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The database connection or a query failed.
    #[error("mysql: {0}")]
    Mysql(#[from] mysql_async::Error),
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// A row could not be encoded.
    #[error("table {table}: {source}")]
    Codec {
        /// Table.
        table: String,
        /// Cause.
        #[source]
        source: CodecError,
    },
    /// A value did not fit its column.
    #[error("table {table}: {source}")]
    Value {
        /// Table.
        table: String,
        /// Cause.
        #[source]
        source: mysql_types::ValueError,
    },
    /// The configuration cannot work against this server.
    #[error("{0}")]
    Setup(String),
    /// The server ended the binlog stream (restart, network).
    #[error("the server closed the binlog stream")]
    StreamEnded,
    /// A binlog event arrived corrupted.
    #[error("{0}")]
    Checksum(String),
    /// The stored position is no longer in the server's binlog.
    #[error("{0}")]
    Purged(String),
    /// The server is not set up for binlog capture; one line per problem.
    #[error("the server is not ready for binlog capture:\n  {}", .0.join("\n  "))]
    ServerNotReady(Vec<String>),
    /// A stored offset is unusable.
    #[error("table {table}: stored offset {offset} is unusable: {reason}")]
    Offset {
        /// Table.
        table: String,
        /// The offset JSON.
        offset: String,
        /// Why.
        reason: String,
    },
}

impl SourceError {
    /// True when reconnecting and retrying may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            // Unrecognised server states may pass: the source retries them.
            SourceError::Mysql(e) => {
                crate::mysql::classify(e) != crate::mysql::ErrorClass::Definite
            }
            SourceError::Kafka(e) => e.is_transient(),
            SourceError::StreamEnded | SourceError::Checksum(_) => true,
            SourceError::Codec { .. }
            | SourceError::Value { .. }
            | SourceError::Setup(_)
            | SourceError::Purged(_)
            | SourceError::ServerNotReady(_)
            | SourceError::Offset { .. } => false,
        }
    }
}

/// Runs one source until `cancel` fires or a definite error occurs.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    let kind = cfg
        .resolved_kind()
        .map_err(|e| SourceError::Setup(e.to_string()))?;
    match kind {
        SourceKind::Poll => poll::run(cfg, kafka, cancel).await,
        SourceKind::Binlog => binlog::run(cfg, kafka, cancel).await,
    }
}
