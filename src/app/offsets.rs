//! A pipeline's stored position, read and rewritten where the pipeline keeps
//! it (one storage per kind, shared by `sluice offsets` and the REST API's
//! `/connectors/{name}/offsets`):
//!
//! - **sources**: the compacted offsets topic ([`crate::kafka::offsets`]), one
//!   record per table (poll) or per server (binlog). Writes go in one Kafka
//!   transaction under the source's own `transactional.id`, so a running
//!   instance of the source anywhere is fenced instead of interleaving.
//! - **sinks**: `sluice_sink_offsets` in the target database, authoritative;
//!   rewriting it *sets* next offsets (deleting rows would only make the sink
//!   follow the consumer group), then commits the group offsets to the same
//!   values (best effort, for lag tools).
//!
//! Nothing here checks whether the pipeline runs: the callers do.

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::consumer::{CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;

use crate::config::{Delivery, KafkaConfig, SinkConfig, SourceConfig, SourceKind};
use crate::kafka::producer::PipelineProducer;
use crate::kafka::{client, offsets, KafkaError};
use crate::position::PollOffset;
use crate::sink::dialect::OFFSETS_TABLE;
use crate::sink::target::{OffsetRow, Target};
use crate::sink::SinkError;
use crate::source::binlog::offset::BinlogOffset;

const TIMEOUT: Duration = Duration::from_secs(10);

/// Errors reading or rewriting a pipeline's stored position.
#[derive(Debug, thiserror::Error)]
pub enum OffsetsError {
    /// The config names no source or sink of that name.
    #[error("no source or sink named \"{0}\" in the config")]
    UnknownPipeline(String),
    /// The pipeline is running; resetting under it is refused.
    #[error("pipeline \"{pipeline}\" is running ({evidence}); stop it first (or pass --force)")]
    Running {
        /// The pipeline.
        pipeline: String,
        /// How that was seen.
        evidence: String,
    },
    /// The arguments do not fit the pipeline.
    #[error("{0}")]
    Usage(String),
    /// Kafka failed.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// The sink's target database failed.
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A Debezium connector's offsets cannot be taken over.
    #[error(transparent)]
    Takeover(#[from] crate::app::takeover::TakeoverError),
}

/// A source's committed positions: source partition (`db.table`, or
/// `server=<name>` for a binlog source) → offset value.
pub async fn read_source(
    kafka: &KafkaConfig,
    s: &SourceConfig,
) -> Result<BTreeMap<String, Json>, OffsetsError> {
    let stored = offsets::read_offsets(kafka, &kafka.offsets_topic, &s.name).await?;
    Ok(stored.into_iter().collect())
}

/// Checks that `value` is a position of source `s` (a poll source's
/// `{"incrementing":42}`-style map, a binlog source's `{"file":..,"pos":..}`).
pub fn check_source_value(s: &SourceConfig, value: &Json) -> Result<(), String> {
    if s.kind == Some(SourceKind::Binlog) {
        serde_json::from_value::<BinlogOffset>(value.clone())
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "not a binlog position ({e}); e.g. {{\"file\":\"mysql-bin.000003\",\"pos\":4}}"
                )
            })
    } else {
        serde_json::from_value::<PollOffset>(value.clone()).map(|_| ()).map_err(|e| {
            format!("not a poll position ({e}); e.g. {{\"incrementing\":42}} or {{\"timestamp\":1660592867000}}")
        })
    }
}

/// Writes source positions, `None` being a tombstone (that partition starts
/// over), in one Kafka transaction under the source's `transactional.id`.
pub async fn write_source(
    kafka: &KafkaConfig,
    s: &SourceConfig,
    records: &[(String, Option<Json>)],
) -> Result<(), OffsetsError> {
    let topic = &kafka.offsets_topic;
    let txn_id = (s.delivery == Delivery::ExactlyOnce).then(|| format!("sluice-source-{}", s.name));
    offsets::ensure_topic(kafka, topic, 1).await?;
    let mut producer = PipelineProducer::connect(kafka, &s.name, txn_id).await?;
    producer.begin()?;
    for (table, value) in records {
        let key = offsets::partition_key(&s.name, table);
        let bytes = value.as_ref().map(Json::to_string);
        producer
            .send(
                topic,
                Some(key.as_bytes()),
                bytes.as_deref().map(str::as_bytes),
                None,
            )
            .await?;
    }
    if let Err(e) = producer.commit().await {
        producer.abort().await;
        return Err(e.into());
    }
    Ok(())
}

/// A sink's stored next offsets: (topic, partition) → offset; none when the
/// sink never ran against its target.
pub async fn read_sink(s: &SinkConfig) -> Result<BTreeMap<(String, i32), i64>, OffsetsError> {
    let mut target = connect_target(s).await?;
    let rows = async {
        // A target the sink never ran against has no offsets table.
        match target.describe_table(OFFSETS_TABLE).await? {
            None => Ok(Default::default()),
            Some(_) => target.load_offsets(&s.name).await,
        }
    }
    .await;
    target.close().await;
    Ok(rows?.into_iter().collect())
}

/// Sets a sink's next offsets in its target, then the consumer group's
/// (best effort: a failure there is returned as a warning).
pub async fn write_sink(
    kafka: &KafkaConfig,
    s: &SinkConfig,
    rows: &[OffsetRow],
) -> Result<Option<String>, OffsetsError> {
    let mut target = connect_target(s).await?;
    let applied = async {
        target.ensure_offsets_table().await?;
        target.apply(&[], rows).await
    }
    .await;
    target.close().await;
    applied?;
    Ok(commit_group(kafka, &s.group_id(), rows)
        .await
        .err()
        .map(|e| {
            format!(
                "group offsets of {} not updated ({e}); the sink follows its stored offsets anyway",
                s.group_id()
            )
        }))
}

/// (topic, partition, earliest offset in Kafka) of every partition of the sink's topics.
pub async fn sink_earliest(
    kafka: &KafkaConfig,
    s: &SinkConfig,
) -> Result<Vec<(String, i32, i64)>, OffsetsError> {
    let topics = sink_topics(kafka, s).await?;
    earliest_offsets(kafka, topics).await
}

/// The earliest offset still in Kafka of one partition.
pub async fn earliest(
    kafka: &KafkaConfig,
    topic: &str,
    partition: i32,
) -> Result<i64, OffsetsError> {
    earliest_offsets(kafka, vec![topic.to_string()])
        .await?
        .into_iter()
        .find(|(_, p, _)| *p == partition)
        .map(|(_, _, o)| o)
        .ok_or_else(|| OffsetsError::Usage(format!("topic {topic} has no partition {partition}")))
}

async fn connect_target(s: &SinkConfig) -> Result<Target, OffsetsError> {
    let ep = s
        .endpoint()
        .map_err(|e| OffsetsError::Usage(e.to_string()))?;
    Ok(Target::connect(&ep).await?)
}

/// The sink's topics: its list, or the existing topics its regex matches.
pub async fn sink_topics(kafka: &KafkaConfig, s: &SinkConfig) -> Result<Vec<String>, OffsetsError> {
    let Some(re) = s.topics_pattern() else {
        return Ok(s.topics.clone());
    };
    let re =
        regex::Regex::new(&re).map_err(|e| OffsetsError::Usage(format!("topics_regex: {e}")))?;
    let kafka = kafka.clone();
    let names = tokio::task::spawn_blocking(move || {
        let consumer = client::metadata_client(&kafka)?;
        let md = consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| KafkaError::client("reading metadata", e))?;
        Ok::<_, KafkaError>(
            md.topics()
                .iter()
                .map(|t| t.name().to_string())
                .collect::<Vec<_>>(),
        )
    })
    .await
    .map_err(|_| KafkaError::Timeout("reading metadata"))??;
    Ok(names.into_iter().filter(|n| re.is_match(n)).collect())
}

/// (topic, partition, low watermark) of every partition of `topics`.
pub async fn earliest_offsets(
    kafka: &KafkaConfig,
    topics: Vec<String>,
) -> Result<Vec<(String, i32, i64)>, OffsetsError> {
    let kafka = kafka.clone();
    let rows = tokio::task::spawn_blocking(move || {
        let consumer = client::metadata_client(&kafka)?;
        let mut out = Vec::new();
        for topic in &topics {
            let md = consumer
                .fetch_metadata(Some(topic), TIMEOUT)
                .map_err(|e| KafkaError::client("reading topic metadata", e))?;
            for t in md.topics().iter().filter(|t| t.error().is_none()) {
                for p in t.partitions() {
                    let (low, _) = consumer
                        .fetch_watermarks(topic, p.id(), TIMEOUT)
                        .map_err(|e| KafkaError::client("reading watermarks", e))?;
                    out.push((topic.clone(), p.id(), low));
                }
            }
        }
        Ok::<_, KafkaError>(out)
    })
    .await
    .map_err(|_| KafkaError::Timeout("reading watermarks"))??;
    Ok(rows)
}

/// Commits `rows` as the group's offsets (works while the group has no members).
async fn commit_group(
    kafka: &KafkaConfig,
    group: &str,
    rows: &[OffsetRow],
) -> Result<(), KafkaError> {
    let mut tpl = TopicPartitionList::new();
    for (_, t, p, o) in rows {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))
            .map_err(|e| KafkaError::client("building offsets list", e))?;
    }
    let kafka = kafka.clone();
    let group = group.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer = client::group_client(&kafka, &group)?;
        consumer
            .commit(&tpl, CommitMode::Sync)
            .map_err(|e| KafkaError::client("committing group offsets", e))
    })
    .await
    .map_err(|_| KafkaError::Timeout("committing group offsets"))?
}
