//! `sluice_sink_consumer_lag_messages`: how far a sink's consumer group is
//! behind its topics, measured from outside the apply loop.
//!
//! A task polls every [`PERIOD`], on a blocking thread, with its own client
//! (same `group.id`, never subscribed, so it does not join the group): the
//! high watermark of every partition of the sink's topics and the group's
//! committed offsets, which the sink commits after each database commit.
//! Lag per topic = Σ (high watermark − committed offset), or − low watermark
//! where nothing is committed yet. Measuring outside the loop matters: a sink
//! stuck on a locked table or a slow database is exactly when the lag must
//! keep growing (librdkafka's statistics are only delivered while the loop
//! polls the consumer). Transaction markers count as offsets, as in Kafka's
//! own lag tools, so a caught-up sink of a transactional topic shows up to 1
//! per partition.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use crate::config::{KafkaConfig, SinkConfig};
use crate::kafka::{client, KafkaError};
use crate::metrics::METRICS;

/// How often the lag is measured.
pub const PERIOD: Duration = Duration::from_secs(5);
const TIMEOUT: Duration = Duration::from_secs(10);

/// The running lag measurement of one sink; dropping it stops the task.
pub struct LagMonitor {
    task: tokio::task::JoinHandle<()>,
}

impl LagMonitor {
    /// Starts measuring the lag of `cfg`'s consumer group.
    pub fn start(cfg: &SinkConfig, kafka: &KafkaConfig) -> Result<LagMonitor, KafkaError> {
        let consumer = client::group_client(kafka, &cfg.group_id())?;
        let consumer = std::sync::Arc::new(consumer);
        let pipeline = cfg.name.clone();
        let topics = cfg.topics.clone();
        // librdkafka matches topics_regex itself; a pattern Rust's regex cannot
        // compile leaves the lag unmeasured rather than stopping the sink.
        let pattern = cfg.topics_pattern().and_then(|re| {
            let compiled = regex::Regex::new(&re);
            if compiled.is_err() {
                tracing::warn!(pipeline = %cfg.name, "topics_regex: consumer lag not measured");
            }
            compiled.ok()
        });
        let task = tokio::spawn(async move {
            loop {
                let (c, topics, pattern) = (consumer.clone(), topics.clone(), pattern.clone());
                let measured =
                    tokio::task::spawn_blocking(move || measure(&c, &topics, pattern.as_ref()))
                        .await;
                match measured {
                    Ok(Ok(lag)) => {
                        for (topic, n) in lag {
                            METRICS
                                .sink_consumer_lag
                                .with_label_values(&[pipeline.as_str(), topic.as_str()])
                                .set(n);
                        }
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(pipeline = %pipeline, error = %e, "measuring consumer lag failed")
                    }
                    Err(_) => return,
                }
                tokio::time::sleep(PERIOD).await;
            }
        });
        Ok(LagMonitor { task })
    }
}

impl Drop for LagMonitor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Lag per topic, from one round of metadata, watermarks and committed offsets.
fn measure(
    consumer: &BaseConsumer,
    topics: &[String],
    pattern: Option<&regex::Regex>,
) -> Result<HashMap<String, i64>, KafkaError> {
    let md = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(|e| KafkaError::client("reading metadata", e))?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics() {
        let wanted = match pattern {
            Some(re) => re.is_match(t.name()),
            None => topics.iter().any(|x| x == t.name()),
        };
        if wanted && t.error().is_none() {
            for p in t.partitions() {
                tpl.add_partition(t.name(), p.id());
            }
        }
    }
    let committed = consumer
        .committed_offsets(tpl, TIMEOUT)
        .map_err(|e| KafkaError::client("reading committed offsets", e))?;
    let mut lag: HashMap<String, i64> = HashMap::new();
    for e in committed.elements() {
        let (low, high) = consumer
            .fetch_watermarks(e.topic(), e.partition(), TIMEOUT)
            .map_err(|e| KafkaError::client("reading watermarks", e))?;
        let from = match e.offset() {
            Offset::Offset(o) => o.max(low),
            _ => low,
        };
        *lag.entry(e.topic().to_string()).or_default() += (high - from).max(0);
    }
    Ok(lag)
}
