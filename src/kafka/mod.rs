//! Kafka clients: the transactional producer sources write through, the
//! source-offsets topic, and [`client`], the one place every Kafka client of
//! Sluice (source, sink, CLI, `check`) is configured and created.
//!
//! Every client starts from the same settings: `bootstrap.servers`, the
//! user's `[kafka.properties]` passed to librdkafka as is, then the security
//! keys of `[kafka]` (TLS, SASL, mTLS, OIDC), which win. Producers use the
//! `murmur2_random` partitioner so a key lands on the same partition as it
//! would from a Java client (Kafka Connect, Debezium, ksqlDB).

pub mod client;
pub mod leader;
pub mod offsets;
pub mod producer;
mod topic_handle;

use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};

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
    /// The brokers refused this client: authentication failed (wrong
    /// credentials, an unknown mechanism) or TLS did (an untrusted or
    /// mismatched certificate). Retrying with the same settings cannot pass.
    #[error("kafka {bootstrap}: {what} failed: {reason}")]
    Refused {
        /// The bootstrap servers.
        bootstrap: String,
        /// `SASL authentication` or `TLS handshake`.
        what: &'static str,
        /// librdkafka's reason (never a secret).
        reason: String,
    },
    /// The `[kafka]` settings could not be turned into client properties
    /// (a secret file that cannot be read).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
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

    /// True when the brokers refused this client: authentication or TLS
    /// failed (a [`KafkaError::Refused`], or a client error of that kind).
    pub fn is_refusal(&self) -> bool {
        match self {
            KafkaError::Refused { .. } => true,
            KafkaError::Client { source, .. } => matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::Authentication)
                    | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
                    | Some(RDKafkaErrorCode::SSL)
            ),
            _ => false,
        }
    }

    /// True when retrying (after reconnecting) may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            KafkaError::Fenced(_)
            | KafkaError::BadOffset { .. }
            | KafkaError::Config(_)
            | KafkaError::Refused { .. } => false,
            KafkaError::Timeout(_) => true,
            // A client librdkafka refuses to create (a bad or conflicting
            // `[kafka.properties]` value, an unreadable TLS file) is refused
            // again on every retry: the pipeline fails, naming it.
            KafkaError::Client {
                source: RdError::ClientConfig(..) | RdError::ClientCreation(_),
                ..
            } => false,
            KafkaError::Client { source, .. } => !matches!(
                source.rdkafka_error_code(),
                Some(RDKafkaErrorCode::TopicAuthorizationFailed)
                    | Some(RDKafkaErrorCode::ClusterAuthorizationFailed)
                    | Some(RDKafkaErrorCode::TransactionalIdAuthorizationFailed)
                    | Some(RDKafkaErrorCode::GroupAuthorizationFailed)
                    | Some(RDKafkaErrorCode::SaslAuthenticationFailed)
                    | Some(RDKafkaErrorCode::Authentication)
                    | Some(RDKafkaErrorCode::SSL)
                    | Some(RDKafkaErrorCode::InvalidConfig)
                    | Some(RDKafkaErrorCode::MessageSizeTooLarge)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_librdkafka_refuses_to_create_is_not_retried() {
        let created = KafkaError::client(
            "creating consumer",
            RdError::ClientCreation("`fetch.max.bytes` must be >= `message.max.bytes`".into()),
        );
        assert!(!created.is_transient(), "{created}");
        assert!(created.to_string().contains("fetch.max.bytes"), "{created}");
        let down = KafkaError::client(
            "produce",
            RdError::MessageProduction(RDKafkaErrorCode::BrokerTransportFailure),
        );
        assert!(down.is_transient(), "{down}");
    }
}
