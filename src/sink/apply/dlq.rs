//! The dead-letter topic: records the sink cannot decode or map are written
//! there, unchanged, with Kafka Connect's error context headers
//! (`__connect.errors.topic`, `.partition`, `.offset`, `.connector.name`,
//! `.task.id`, `.stage`, `.class.name`, `.exception.class.name`,
//! `.exception.message`; left out with
//! `errors.deadletterqueue.context.headers.enable = false`), before the batch
//! that skips them commits — so a skipped record is never lost.
//!
//! The topic is created when missing (one partition, as Connect does) with
//! `errors.deadletterqueue.topic.replication.factor` (the broker's default
//! when unset); a factor the cluster cannot hold stops the sink naming the key.

use std::time::Duration;

use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::{ConverterKind, KafkaConfig};
use crate::kafka::{client, KafkaError};
use crate::sink::decode::SinkMessage;

/// A producer for one sink's dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
    /// The connector name of the context headers; None: no context headers.
    context: Option<String>,
    /// The value converter's class, the executing class of a record that
    /// cannot be read.
    converter: &'static str,
}

/// Connect's error stage and executing class for a record failure `class`
/// on a sink whose value converter is `converter`.
fn stage_of(class: &str, converter: &'static str) -> (&'static str, &'static str) {
    match class {
        "sluice.RecordError" => ("VALUE_CONVERTER", converter),
        _ => ("TASK_PUT", "io.confluent.connect.jdbc.sink.JdbcSinkTask"),
    }
}

impl DeadLetters {
    /// Creates the producer (idempotent, acks=all); `context`: the pipeline
    /// name when records carry Connect's error context headers; `value`:
    /// the sink's value converter.
    pub fn new(
        kafka: &KafkaConfig,
        topic: &str,
        context: Option<String>,
        value: ConverterKind,
    ) -> Result<DeadLetters, KafkaError> {
        let producer = client::dead_letter_producer(kafka)?;
        Ok(DeadLetters {
            producer,
            topic: topic.to_string(),
            context,
            converter: value.class(),
        })
    }

    /// Creates `topic` when missing, with one partition and `replication`
    /// replicas (-1: the broker's default).
    pub async fn ensure_topic(
        pipeline: &str,
        kafka: &KafkaConfig,
        topic: &str,
        replication: i32,
    ) -> Result<(), KafkaError> {
        use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
        use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
        let admin = client::admin(kafka)?;
        let new = NewTopic::new(topic, 1, TopicReplication::Fixed(replication));
        let results = admin
            .create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
            )
            .await
            .map_err(|e| KafkaError::client("creating the dead-letter topic", e))?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                    // Definite: the cluster has fewer brokers than asked for.
                    return Err(KafkaError::Config(crate::config::ConfigError::Invalid {
                        pipeline: pipeline.to_string(),
                        key: "errors.deadletterqueue.topic.replication.factor".into(),
                        reason: format!("the brokers cannot create the dead-letter topic {topic} with {replication} replicas (fewer brokers available)"),
                    }));
                }
                Err((_, code)) => {
                    return Err(KafkaError::client(
                        "creating the dead-letter topic (errors.deadletterqueue.topic.replication.factor)",
                        RdError::AdminOp(code),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Writes `msg` to the dead-letter topic with `reason` and waits for the ack.
    pub async fn send(
        &self,
        msg: &SinkMessage,
        class: &str,
        reason: &str,
    ) -> Result<(), KafkaError> {
        let partition = msg.partition().to_string();
        let offset = msg.offset().to_string();
        let mut headers = OwnedHeaders::new();
        if let Some(h) = msg.headers() {
            for i in 0..h.count() {
                let orig = h.get(i);
                headers = headers.insert(Header {
                    key: orig.key,
                    value: orig.value,
                });
            }
        }
        let (stage, executing) = stage_of(class, self.converter);
        let context = self.context.as_deref().map(|connector| {
            [
                ("__connect.errors.topic", msg.topic()),
                ("__connect.errors.partition", partition.as_str()),
                ("__connect.errors.offset", offset.as_str()),
                ("__connect.errors.connector.name", connector),
                ("__connect.errors.task.id", "0"),
                ("__connect.errors.stage", stage),
                ("__connect.errors.class.name", executing),
                ("__connect.errors.exception.class.name", class),
                ("__connect.errors.exception.message", reason),
            ]
        });
        for (k, v) in context.into_iter().flatten() {
            headers = headers.insert(Header {
                key: k,
                value: Some(v),
            });
        }
        let mut record: FutureRecord<'_, [u8], [u8]> =
            FutureRecord::to(&self.topic).headers(headers);
        if let Some(k) = msg.key() {
            record = record.key(k);
        }
        if let Some(v) = msg.payload() {
            record = record.payload(v);
        }
        self.producer
            .send(record, Duration::from_secs(30))
            .await
            .map(|_| ())
            .map_err(|(e, _)| KafkaError::client("writing to the dead-letter topic", e))
    }
}
