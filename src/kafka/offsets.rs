//! The source-offsets topic (`sluice_offsets` by default), as Kafka Connect's
//! `offset.storage.topic`: compacted, one record per (source, source
//! partition), key `["<source>",{"protocol":"1","table":"<db>.<table>"}]` and a
//! JSON value (the poll source writes Connect's JDBC offset map).
//!
//! Offsets are written inside the same Kafka transaction as the data they
//! describe, so a `read_committed` reader sees a position only once the data
//! before it is visible. At start a source first runs `init_transactions`
//! (aborting any transaction its previous incarnation left open) and then
//! reads this topic to the end.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use serde_json::Value as Json;

use super::{client, KafkaError};
use crate::config::KafkaConfig;

const READ_DEADLINE: Duration = Duration::from_secs(60);

/// Record key of a source partition, in Kafka Connect's offset-key form.
pub fn record_key(source: &str, table: &str) -> String {
    serde_json::json!([source, {"protocol": "1", "table": table}]).to_string()
}

/// Record key of a source partition as [`read_offsets`] names it: `db.table`
/// (poll source), or `server=<name>` for a binlog source (Debezium's
/// `["<source>",{"server":"<name>"}]`).
pub fn partition_key(source: &str, partition: &str) -> String {
    match partition.strip_prefix("server=") {
        Some(server) => serde_json::json!([source, { "server": server }]).to_string(),
        None => record_key(source, partition),
    }
}

/// The offsets topic's `segment.ms`: an hour. Kafka compacts only closed
/// segments, and a segment closes at `segment.bytes` (1 GiB) or
/// `segment.ms` (the broker's `log.roll.hours`, 7 days). A source writes
/// a record per batch, up to several a second, where Kafka Connect writes
/// one a minute; and every start reads the topic to its end. With the
/// defaults that read grew for a week (millions of records); now it spans
/// about an hour of records and the compacted rest.
pub const SEGMENT_MS: &str = "3600000";

/// Creates `topic` (compacted, [`SEGMENT_MS`]) when it does not exist; an
/// existing topic's configuration is left as it is.
pub async fn ensure_topic(
    kafka: &KafkaConfig,
    topic: &str,
    partitions: i32,
) -> Result<(), KafkaError> {
    let admin = client::admin(kafka)?;
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(-1))
        .set("cleanup.policy", "compact")
        .set("segment.ms", SEGMENT_MS);
    let results = admin
        .create_topics(
            [&new],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await;
    drop_in_background(admin);
    let results = results.map_err(|e| KafkaError::client("creating offsets topic", e))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => {
                return Err(KafkaError::client(
                    "creating offsets topic",
                    RdError::AdminOp(code),
                ))
            }
        }
    }
    Ok(())
}

/// Drops a client on a thread of its own: closing one waits for librdkafka's
/// threads to wind down (about 100 ms), which nothing needs to wait for.
fn drop_in_background<T: Send + 'static>(client: T) {
    let _ = std::thread::Builder::new()
        .name("sluice-client-close".into())
        .spawn(move || drop(client));
}

/// Reads the committed offsets of `source`: source partition (table) → value.
pub async fn read_offsets(
    kafka: &KafkaConfig,
    topic: &str,
    source: &str,
) -> Result<HashMap<String, Json>, KafkaError> {
    let kafka = kafka.clone();
    let topic = topic.to_string();
    let wanted = source.to_string();
    let source = source.to_string();
    tokio::task::spawn_blocking(move || read_blocking(&kafka, &topic, Some(&wanted)))
        .await
        .map_err(|_| KafkaError::Timeout("reading offsets"))?
        .map(|all| {
            all.into_iter()
                .filter_map(|((s, table), v)| (s == source).then_some((table, v)))
                .collect()
        })
}

/// Reads every source's committed offsets: (source, source partition) → value.
pub async fn read_all_offsets(
    kafka: &KafkaConfig,
    topic: &str,
) -> Result<HashMap<(String, String), Json>, KafkaError> {
    let kafka = kafka.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || read_blocking(&kafka, &topic, None))
        .await
        .map_err(|_| KafkaError::Timeout("reading offsets"))?
}

/// The source name of an offsets record key (`key[0]`), if it has one.
fn key_source(key: &[u8]) -> Option<String> {
    let v: Json = serde_json::from_slice(key).ok()?;
    v.get(0)?.as_str().map(str::to_string)
}

fn parse_key(topic: &str, key: &[u8]) -> Result<(String, String), KafkaError> {
    let bad = |reason: &str| KafkaError::BadOffset {
        topic: topic.to_string(),
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    };
    let v: Json = serde_json::from_slice(key).map_err(|_| bad("key is not JSON"))?;
    let source = v
        .get(0)
        .and_then(Json::as_str)
        .ok_or_else(|| bad("key[0] is not a source name"))?;
    let part = v.get(1);
    if let Some(server) = part.and_then(|p| p.get("server")).and_then(Json::as_str) {
        // A binlog source's partition (Debezium's key shape).
        return Ok((source.to_string(), format!("server={server}")));
    }
    let table = part
        .and_then(|p| p.get("table"))
        .and_then(Json::as_str)
        .ok_or_else(|| bad("key[1].table (or .server) missing"))?;
    Ok((source.to_string(), table.to_string()))
}

/// The offsets reader's context: end-of-partition is how the reader knows it
/// is done (`enable.partition.eof`), not an error worth a log line.
struct ReaderContext;

impl rdkafka::ClientContext for ReaderContext {
    fn error(&self, error: RdError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(error = %error, reason, "offsets reader: kafka error");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for ReaderContext {}

fn read_blocking(
    kafka: &KafkaConfig,
    topic: &str,
    only_source: Option<&str>,
) -> Result<HashMap<(String, String), Json>, KafkaError> {
    let consumer = client::offsets_reader(kafka, ReaderContext)?;
    // The high watermarks come from a read_uncommitted client: asked by the
    // read_committed reader, Kafka answers with the last stable offset.
    let probe = client::watermark_probe(kafka)?;
    // The reader asks for the metadata itself: it then knows the partitions'
    // leaders when it is assigned them (else its first fetch came ~1 s late).
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| KafkaError::client("reading offsets topic metadata", e))?;
    let mut tpl = TopicPartitionList::new();
    // Partition → its high watermark when the read began. A read_committed
    // consumer sees end-of-partition at the last stable offset: behind a
    // transaction still open (another source's batch), a record committed
    // after that transaction began is not read yet. So a partition is done
    // only once the consumer's position has passed the high watermark, i.e.
    // every transaction open at the start is decided.
    let mut remaining: HashMap<i32, i64> = HashMap::new();
    for t in md.topics() {
        if t.error().is_some() {
            continue;
        }
        for p in t.partitions() {
            let (lo, hi) = probe
                .fetch_watermarks(topic, p.id(), Duration::from_secs(30))
                .map_err(|e| KafkaError::client("reading offsets watermarks", e))?;
            if hi > lo {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .map_err(|e| KafkaError::client("assigning offsets topic", e))?;
                remaining.insert(p.id(), hi);
            }
        }
    }
    drop_in_background(probe);
    let mut out = HashMap::new();
    if remaining.is_empty() {
        drop_in_background(consumer);
        return Ok(out);
    }
    consumer
        .assign(&tpl)
        .map_err(|e| KafkaError::client("assigning offsets topic", e))?;
    let started = Instant::now();
    while !remaining.is_empty() {
        if started.elapsed() > READ_DEADLINE {
            // A transaction on the topic stayed open (a crashed producer's,
            // until its transaction.timeout.ms): README, "Errors".
            return Err(KafkaError::Timeout("reading offsets topic to its end"));
        }
        match consumer.poll(Duration::from_millis(200)) {
            None | Some(Err(RdError::PartitionEOF(_))) => {
                let positions = consumer
                    .position()
                    .map_err(|e| KafkaError::client("reading offsets topic position", e))?;
                remaining.retain(|&p, &mut hi| {
                    !matches!(
                        positions.find_partition(topic, p).map(|e| e.offset()),
                        Some(Offset::Offset(at)) if at >= hi
                    )
                });
            }
            Some(Err(e)) => return Err(KafkaError::client("reading offsets topic", e)),
            Some(Ok(msg)) => {
                let Some(key) = msg.key() else { continue };
                // Other sources' records are not ours to judge: another kind of
                // source may shape its key differently.
                if only_source.is_some_and(|s| key_source(key).as_deref() != Some(s)) {
                    continue;
                }
                let id = parse_key(topic, key)?;
                match msg.payload() {
                    None => {
                        out.remove(&id);
                    }
                    Some(p) => {
                        let v: Json =
                            serde_json::from_slice(p).map_err(|_| KafkaError::BadOffset {
                                topic: topic.to_string(),
                                key: String::from_utf8_lossy(key).into_owned(),
                                reason: "value is not JSON".into(),
                            })?;
                        out.insert(id, v);
                    }
                }
            }
        }
    }
    drop_in_background(consumer);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_is_connect_shaped_and_parses_back() {
        let k = record_key("my-source", "mydb.users");
        assert_eq!(k, r#"["my-source",{"protocol":"1","table":"mydb.users"}]"#);
        let (s, t) = parse_key("o", k.as_bytes()).expect("parse");
        assert_eq!((s.as_str(), t.as_str()), ("my-source", "mydb.users"));
        let (s, t) = parse_key("o", br#"["src",{"server":"db1"}]"#).expect("parse");
        assert_eq!((s.as_str(), t.as_str()), ("src", "server=db1"));
        assert_eq!(
            partition_key("src", "server=db1"),
            r#"["src",{"server":"db1"}]"#
        );
        assert_eq!(partition_key("src", "db.t"), record_key("src", "db.t"));
    }

    #[test]
    fn another_sources_key_shape_is_not_parsed() {
        let k = br#"["bl-src",{"server":"bl-src"}]"#;
        assert_eq!(key_source(k).as_deref(), Some("bl-src"));
        assert_eq!(key_source(b"nope"), None);
    }

    #[test]
    fn bad_key_is_an_error() {
        assert!(parse_key("o", b"not json").is_err());
        assert!(parse_key("o", br#"["s",{}]"#).is_err());
    }
}
