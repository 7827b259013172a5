//! Kafka clients: the transactional producer sources write through, the
//! source-offsets topic, and client configuration shared by all of them.
//!
//! Every client starts from [`client_config`]: `bootstrap.servers` plus the
//! user's `[kafka.properties]` passed to librdkafka as is. Producers use the
//! `murmur2_random` partitioner so a key lands on the same partition as it
//! would from a Java client (Kafka Connect, Debezium, ksqlDB).

pub mod offsets;
pub mod producer;

use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};

use crate::config::KafkaConfig;

/// Kafka errors, classified once.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// librdkafka reported an error.
    #[error("kafka {context}: {source}")]
    Client {
        /// What Sluice was doing.
        context: &'static str,
        /// The client's error.
        #[source]
        source: RdError,
    },
    /// Another instance with the same transactional id took over.
    #[error("kafka producer fenced: another instance of this source is running ({0})")]
    Fenced(#[source] RdError),
    /// A stored offset could not be parsed.
    #[error("offsets topic {topic}: record for {key} is not valid: {reason}")]
    BadOffset {
        /// Offsets topic.
        topic: String,
        /// Record key.
        key: String,
        /// Why.
        reason: String,
    },
    /// Waiting for the broker took too long.
    #[error("kafka {0}: timed out")]
    Timeout(&'static str),
}

impl KafkaError {
    /// Wraps a client error, recognising fencing.
    pub fn client(context: &'static str, source: RdError) -> KafkaError {
        let fenced = matches!(
            source.rdkafka_error_code(),
            Some(RDKafkaErrorCode::Fenced)
                | Some(RDKafkaErrorCode::ProducerFenced)
                | Some(RDKafkaErrorCode::InvalidProducerEpoch)
        );
        if fenced {
            KafkaError::Fenced(source)
        } else {
            KafkaError::Client { context, source }
        }
    }

    /// True when retrying (after reconnecting) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            KafkaError::Fenced(_) | KafkaError::BadOffset { .. } => false,
            KafkaError::Timeout(_) => true,
            KafkaError::Client { source, .. } => !matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                    | Some(RDKafkaErrorCode::ClusterAuthorizationFailed)
                    | Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed)
                    | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
                    | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
                    | Some(RDKafkaErrorCode::InvalidConfig)
                    | Some(RDKafkaErrorCode::MessageSizeTooLarge)
            ),
        }
    }
}

/// Base client config: bootstrap servers plus `[kafka.properties]`.
pub fn client_config(kafka: &KafkaConfig) -> ClientConfig {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.bootstrap_servers);
    cfg.set("log_level", "4");
    // librdkafka connects to the bootstrap address, learns the broker ids
    // from its metadata and then drops that connection for one per broker,
    // which it may open only after this backoff: at the default 100 ms every
    // new client waited about 50 ms more before its first real request, and
    // a transactional producer's init_transactions often missed that moment
    // and waited for its 500 ms retry timer. Kafka's Java clients use 50 ms;
    // the backoff still doubles (up to reconnect.backoff.max.ms) while a
    // broker stays down.
    cfg.set("reconnect.backoff.ms", "20");
    for (k, v) in &kafka.properties {
        cfg.set(k, v.expose());
    }
    cfg
}
