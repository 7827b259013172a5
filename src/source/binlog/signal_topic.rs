//! Debezium's Kafka signal channel (`signal_enabled_channels` with `kafka`):
//! snapshot signals as records of a topic, `signal_kafka_topic` (default
//! `<server_name>-signal`), read from its partition 0 as Debezium does.
//!
//! A record's key must be this source's logical server name (Debezium's
//! `topic.prefix`, Sluice's `server_name`, else the pipeline name); its value
//! is `{"id": ..., "type": "execute-snapshot", "data": {...}}`. Records with
//! another key, values that are not such JSON, and signals the source refuses
//! are logged and skipped.
//!
//! **Exactly once.** The stream acts on a record between source transactions
//! and then commits a position record carrying both the signal's effect (the
//! snapshot progress) and the record's offset
//! (`incremental_snapshot_signal_offset`, Debezium's key) in one Kafka
//! transaction, before it takes the next record. A restart reads the topic
//! again from just after the stored offset, so a signal is acted on once
//! across a kill -9: not at all before its position is stored, never again
//! after. The consumer group (`signal_kafka_group_id`, default
//! `kafka-signal`) gets the offset too, after the position is stored, so lag
//! tools see it; it decides where to start only while no position stores one.
//!
//! **A missing topic.** The reader is never the one to create the topic
//! (Debezium's must have one partition; a broker's auto-creation would pick
//! its own count). Until the topic exists the reader warns, naming the topic,
//! its brokers and the fix ([`TopicProblem`]), and asks again every few
//! seconds while the source streams on; `sluice check` reports the same
//! problem ([`probe`]). A topic of several partitions is read from
//! partition 0 only, with a warning.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::control::Signal;
use crate::config::{KafkaConfig, SourceConfig};
use crate::kafka::{client, KafkaError};
use crate::source::SourceError;

/// Signal records the reader holds before it waits for the stream.
const QUEUE: usize = 16;

/// Debezium's default consumer group of the signal topic.
const DEFAULT_GROUP: &str = "kafka-signal";

/// How long one look for the topic may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the reader looks again for a topic that is not there.
const PROBE_EVERY: Duration = Duration::from_secs(5);

/// Why the signal topic cannot be read as Debezium's is.
#[derive(Debug, thiserror::Error)]
pub enum TopicProblem {
    /// The topic does not exist on the signal channel's brokers.
    #[error("kafka signal topic \"{topic}\" does not exist on {brokers}: signals are not read until it does; create it with one partition, as Debezium requires (kafka-topics.sh --bootstrap-server {brokers} --create --topic {topic} --partitions 1)")]
    Missing {
        /// The topic.
        topic: String,
        /// The brokers asked.
        brokers: String,
    },
    /// The topic has more than one partition: only partition 0 is read.
    #[error("kafka signal topic \"{topic}\" on {brokers} has {partitions} partitions: signals are read from partition 0 only and those written to the others are never seen; Debezium requires one partition: recreate it with one")]
    Partitions {
        /// The topic.
        topic: String,
        /// The brokers asked.
        brokers: String,
        /// Its partition count.
        partitions: usize,
    },
    /// The brokers answered with an error for the topic (authorization, mostly).
    #[error("kafka signal topic \"{topic}\" on {brokers}: {reason}")]
    Unreadable {
        /// The topic.
        topic: String,
        /// The brokers asked.
        brokers: String,
        /// The brokers' error for the topic.
        reason: String,
    },
    /// The brokers did not answer (down, wrong address, TLS or SASL refused).
    #[error("kafka signal topic \"{topic}\": cannot reach its brokers {brokers}: {source}")]
    Unreachable {
        /// The topic.
        topic: String,
        /// The brokers asked.
        brokers: String,
        /// The metadata request's error.
        #[source]
        source: Box<KafkaError>,
    },
    /// The reader could not be built from its settings.
    #[error("kafka signal topic \"{topic}\": {source}")]
    Client {
        /// The topic.
        topic: String,
        /// The client's error.
        #[source]
        source: Box<KafkaError>,
    },
}

/// The settings of a source's signal-topic reader: `[kafka]` with the
/// channel's brokers, its group, `signal.consumer.*`, the topic.
#[derive(Clone)]
struct Reader {
    kafka: KafkaConfig,
    group: String,
    overrides: Vec<(&'static str, String)>,
    topic: String,
}

impl Reader {
    fn new(kafka: &KafkaConfig, cfg: &SourceConfig) -> Reader {
        let mut kafka = kafka.clone();
        if let Some(b) = &cfg.signal_kafka_bootstrap_servers {
            kafka.bootstrap_servers.clone_from(b);
        }
        Reader {
            kafka,
            group: cfg
                .signal_kafka_group_id
                .clone()
                .unwrap_or_else(|| DEFAULT_GROUP.to_string()),
            overrides: cfg.signal_consumer_properties(),
            topic: cfg.signal_topic(),
        }
    }

    fn consumer(&self) -> Result<StreamConsumer, KafkaError> {
        client::signal_consumer(&self.kafka, &self.group, &self.overrides)
    }

    /// Asks the brokers, with the reader's own settings, for the topic:
    /// `Ok` when it has one partition. Blocks up to `timeout`.
    fn probe(&self, timeout: Duration) -> Result<(), TopicProblem> {
        let topic = self.topic.clone();
        let brokers = self.kafka.bootstrap_servers.clone();
        let consumer = self.consumer().map_err(|e| TopicProblem::Client {
            topic: topic.clone(),
            source: Box::new(e),
        })?;
        let md = consumer
            .fetch_metadata(Some(&self.topic), timeout)
            .map_err(|e| TopicProblem::Unreachable {
                topic: topic.clone(),
                brokers: brokers.clone(),
                source: Box::new(KafkaError::client("reading the signal topic's metadata", e)),
            })?;
        let Some(t) = md.topics().iter().find(|t| t.name() == self.topic) else {
            return Err(TopicProblem::Missing { topic, brokers });
        };
        match t.error().map(RDKafkaErrorCode::from) {
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                Err(TopicProblem::Missing { topic, brokers })
            }
            Some(code) => Err(TopicProblem::Unreadable {
                topic,
                brokers,
                reason: code.to_string(),
            }),
            None if t.partitions().is_empty() => Err(TopicProblem::Missing { topic, brokers }),
            None if t.partitions().len() > 1 => Err(TopicProblem::Partitions {
                topic,
                brokers,
                partitions: t.partitions().len(),
            }),
            None => Ok(()),
        }
    }
}

/// Asks the signal channel's brokers (`signal_kafka_bootstrap_servers`,
/// else `[kafka]`'s), with the reader's settings, whether `cfg`'s signal
/// topic exists with one partition. Blocks up to `timeout`: call from a
/// blocking thread. Used by `sluice check`; the reader does the same.
pub fn probe(
    kafka: &KafkaConfig,
    cfg: &SourceConfig,
    timeout: Duration,
) -> Result<(), TopicProblem> {
    Reader::new(kafka, cfg).probe(timeout)
}

/// One record of the signal topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRecord {
    /// Its offset in partition 0.
    pub offset: i64,
    /// Its key, as text.
    pub key: Option<String>,
    /// Its value.
    pub value: Option<Vec<u8>>,
}

/// A running reader of the signal topic.
pub struct SignalTopic {
    /// The records, in offset order (taken by the stream).
    pub records: Option<mpsc::Receiver<SignalRecord>>,
    /// The offset of the last signal whose position is stored: committed to
    /// the consumer group.
    pub stored: Arc<watch::Sender<Option<i64>>>,
    /// The topic, for logs.
    pub topic: String,
    task: JoinHandle<()>,
}

impl Drop for SignalTopic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts reading `cfg`'s signal topic after offset `after` (the stored
/// one), else from the group's committed offset, else from the start.
pub fn start(
    kafka: &KafkaConfig,
    cfg: &SourceConfig,
    after: Option<i64>,
) -> Result<SignalTopic, SourceError> {
    let reader = Reader::new(kafka, cfg);
    let group = reader.group.clone();
    let topic = reader.topic.clone();
    let consumer = reader.consumer()?;
    let from = after.map_or(Offset::Stored, |o| Offset::Offset(o + 1));
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&topic, 0, from)
        .and_then(|()| consumer.assign(&tpl))
        .map_err(|e| KafkaError::client("assigning the signal topic", e))?;
    tracing::info!(pipeline = %cfg.name, topic = %topic, after = ?after, group, "reading the kafka signal topic");
    let (tx, records) = mpsc::channel(QUEUE);
    let (stored, stored_rx) = watch::channel(None);
    let task = tokio::spawn(read(reader, consumer, cfg.name.clone(), tx, stored_rx));
    Ok(SignalTopic {
        records: Some(records),
        stored: Arc::new(stored),
        topic,
        task,
    })
}

/// Waits until the topic exists (warning, with the fix, while it does not),
/// then hands its records to the stream and commits stored offsets to the
/// group, until the stream is gone.
async fn read(
    reader: Reader,
    consumer: StreamConsumer,
    pipeline: String,
    tx: mpsc::Sender<SignalRecord>,
    mut stored: watch::Receiver<Option<i64>>,
) {
    let topic = reader.topic.clone();
    if await_topic(reader, &pipeline, &tx).await {
        read_records(&consumer, &pipeline, &topic, &tx, &mut stored).await;
    }
    // Closing waits for librdkafka's threads: not on the runtime.
    let _ = std::thread::Builder::new()
        .name("sluice-signal-close".into())
        .spawn(move || drop(consumer));
}

/// Looks for the topic until it is there (true) or the stream is gone
/// (false), warning once per distinct problem.
async fn await_topic(reader: Reader, pipeline: &str, tx: &mpsc::Sender<SignalRecord>) -> bool {
    let mut last_problem = String::new();
    loop {
        if tx.is_closed() {
            return false;
        }
        let r = reader.clone();
        let found = tokio::task::spawn_blocking(move || r.probe(PROBE_TIMEOUT)).await;
        match found {
            Ok(Ok(())) => {
                if !last_problem.is_empty() {
                    tracing::info!(pipeline = %pipeline, topic = %reader.topic, "kafka signal topic found; reading it");
                }
                return true;
            }
            Ok(Err(p @ TopicProblem::Partitions { .. })) => {
                tracing::warn!(pipeline = %pipeline, topic = %reader.topic, error = %p, "kafka signal topic has several partitions; reading partition 0");
                return true;
            }
            Ok(Err(p)) => {
                let text = p.to_string();
                if text != last_problem {
                    tracing::warn!(pipeline = %pipeline, topic = %reader.topic, error = %text, "kafka signal topic not readable; looking again every {}s", PROBE_EVERY.as_secs());
                    last_problem = text;
                }
            }
            // The probe panicked: read anyway, as before the probe existed.
            Err(_) => return true,
        }
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

/// Hands the topic's records to the stream and commits stored offsets to
/// the group, until the stream is gone.
async fn read_records(
    consumer: &StreamConsumer,
    pipeline: &str,
    topic: &str,
    tx: &mpsc::Sender<SignalRecord>,
    stored: &mut watch::Receiver<Option<i64>>,
) {
    let mut last_error = String::new();
    loop {
        tokio::select! {
            r = consumer.recv() => match r {
                Ok(m) => {
                    last_error.clear();
                    let record = SignalRecord {
                        offset: m.offset(),
                        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                        value: m.payload().map(<[u8]>::to_vec),
                    };
                    if tx.send(record).await.is_err() {
                        break;
                    }
                }
                Err(e) => {
                    // A missing topic, a broker away: librdkafka retries.
                    let text = e.to_string();
                    if text != last_error {
                        tracing::warn!(pipeline = %pipeline, topic = %topic, error = %text, "kafka signal topic not readable; retrying");
                        last_error = text;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            changed = stored.changed() => {
                if changed.is_err() {
                    break;
                }
                let Some(offset) = *stored.borrow_and_update() else {
                    continue;
                };
                let mut tpl = TopicPartitionList::new();
                let committed = tpl
                    .add_partition_offset(topic, 0, Offset::Offset(offset + 1))
                    .and_then(|()| consumer.commit(&tpl, CommitMode::Async));
                if let Err(e) = committed {
                    tracing::debug!(pipeline = %pipeline, topic = %topic, error = %e, "signal offset not committed to the group (the position holds it)");
                }
            }
        }
    }
}

/// The signal a record carries (with its `id`, or `offset <n>`), or why it
/// is skipped: another source's key, a value that is not a snapshot signal.
pub fn parse(record: &SignalRecord, server_name: &str) -> Result<(String, Signal), String> {
    if record.key.as_deref() != Some(server_name) {
        return Err(format!(
            "key {:?} is not this source's server name \"{server_name}\"",
            record.key.as_deref().unwrap_or("<none>")
        ));
    }
    let value = record
        .value
        .as_deref()
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
        .ok_or("no value")?;
    let json: Json =
        serde_json::from_slice(value).map_err(|e| format!("value is not JSON: {e}"))?;
    let id = match json.get("id") {
        Some(Json::String(s)) => s.clone(),
        _ => format!("offset {}", record.offset),
    };
    let kind = json
        .get("type")
        .and_then(Json::as_str)
        .ok_or("value has no string \"type\"")?;
    let data = match json.get("data") {
        // Debezium's data is an object; a JSON text of one is accepted too.
        Some(Json::String(s)) if !s.trim().is_empty() => {
            Some(serde_json::from_str::<Json>(s).map_err(|e| format!("data is not JSON: {e}"))?)
        }
        Some(Json::String(_)) => None,
        other => other.cloned(),
    };
    let signal = Signal::parse(kind, data.as_ref()).map_err(|e| e.to_string())?;
    Ok((id, signal))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: Option<&str>, value: &str) -> SignalRecord {
        SignalRecord {
            offset: 7,
            key: key.map(str::to_string),
            value: Some(value.as_bytes().to_vec()),
        }
    }

    #[test]
    fn debezium_kafka_signals_parse() {
        let v = r#"{"type":"execute-snapshot","data":{"data-collections":["db.t"],"type":"incremental","additional-conditions":[{"data-collection":"db.t","filter":"id > 5"}]}}"#;
        assert_eq!(
            parse(&record(Some("srv"), v), "srv"),
            Ok((
                "offset 7".to_string(),
                Signal::Execute {
                    collections: vec!["db.t".into()],
                    conditions: vec![("db.t".into(), "id > 5".into())],
                }
            ))
        );
        let v = r#"{"id":"s-1","type":"stop-snapshot","data":{"type":"INCREMENTAL"}}"#;
        assert_eq!(
            parse(&record(Some("srv"), v), "srv"),
            Ok(("s-1".to_string(), Signal::Stop(None)))
        );
        let v = r#"{"type":"pause-snapshot"}"#;
        assert_eq!(
            parse(&record(Some("srv"), v), "srv").map(|p| p.1),
            Ok(Signal::Pause)
        );
        let v = r#"{"type":"resume-snapshot","data":"{}"}"#;
        assert_eq!(
            parse(&record(Some("srv"), v), "srv").map(|p| p.1),
            Ok(Signal::Resume)
        );
    }

    #[test]
    fn other_keys_and_bad_values_are_skipped_with_a_reason() {
        let ok = r#"{"type":"pause-snapshot"}"#;
        assert!(parse(&record(Some("other"), ok), "srv")
            .expect_err("skipped")
            .contains("\"other\""));
        assert!(parse(&record(None, ok), "srv").is_err());
        assert!(parse(&record(Some("srv"), "not json"), "srv")
            .expect_err("skipped")
            .contains("not JSON"));
        assert!(parse(&record(Some("srv"), r#"{"data":{}}"#), "srv")
            .expect_err("skipped")
            .contains("type"));
        assert!(
            parse(&record(Some("srv"), r#"{"type":"log","data":{}}"#), "srv")
                .expect_err("skipped")
                .contains("unknown signal")
        );
        assert!(parse(
            &record(Some("srv"), r#"{"type":"execute-snapshot","data":{}}"#),
            "srv"
        )
        .expect_err("skipped")
        .contains("data-collections"));
        let empty = SignalRecord {
            offset: 1,
            key: Some("srv".into()),
            value: None,
        };
        assert!(parse(&empty, "srv").is_err());
    }
}
