//! The dead-letter topic: records the sink cannot decode or map are written
//! there, unchanged, with Kafka Connect's error context headers
//! (`__connect.errors.topic`, `.partition`, `.offset`,
//! `.exception.class.name`, `.exception.message`), before the batch that
//! skips them commits — so a skipped record is never lost.

use std::time::Duration;

use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::config::KafkaConfig;
use crate::kafka::{client, KafkaError};
use crate::sink::decode::SinkMessage;

/// A producer for one sink's dead-letter topic.
pub struct DeadLetters {
    producer: FutureProducer,
    topic: String,
}

impl DeadLetters {
    /// Creates the producer (idempotent, acks=all).
    pub fn new(kafka: &KafkaConfig, topic: &str) -> Result<DeadLetters, KafkaError> {
        let producer = client::dead_letter_producer(kafka)?;
        Ok(DeadLetters {
            producer,
            topic: topic.to_string(),
        })
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
        let context = [
            ("__connect.errors.topic", msg.topic()),
            ("__connect.errors.partition", partition.as_str()),
            ("__connect.errors.offset", offset.as_str()),
            ("__connect.errors.exception.class.name", class),
            ("__connect.errors.exception.message", reason),
        ];
        for (k, v) in context {
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
