//! Taking over from Debezium: a Debezium MySQL connector's stored offsets,
//! read where Kafka Connect keeps them and turned into a binlog source's
//! position ([`BinlogOffset`]), for `sluice offsets import`.
//!
//! **Where Connect keeps them.** Distributed mode: the compacted
//! `offset.storage.topic` (`connect-offsets` by default), read
//! `read_committed` to its end, the last record per key winning. Standalone
//! mode: `offset.storage.file.filename`, a Java-serialized
//! `HashMap<byte[], byte[]>` ([`java_map`]). Both hold the same bytes: key
//! `["<connector name>",{"server":"<topic.prefix>"}]`, value Debezium's
//! offset map, JSON (Connect's internal converter, without schemas).
//!
//! **What the offset means** (Debezium's `BinlogOffsetContext`): `file`/`pos`
//! is where the transaction being processed begins (its `BEGIN`), `gtids` the
//! GTID set completed before it; `event` counts the events of that
//! transaction already processed (`BEGIN` included) and `row` the rows of the
//! next rows event already emitted. A connector stopped between two records
//! of a transaction, or after the last record of one, leaves such a
//! mid-transaction offset: the source re-reads that transaction and skips
//! what Debezium emitted ([`crate::source::binlog::offset::DebeziumSkip`]),
//! so no change is published twice and none is missed. An offset taken
//! during Debezium's snapshot (`snapshot` set, `snapshot_completed` not) or
//! an incremental snapshot (`incremental_snapshot_*`) cannot be resumed from
//! the binlog: it is refused.

pub mod java_map;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use crate::config::KafkaConfig;
use crate::kafka::{offsets, KafkaError};
use crate::source::binlog::offset::{BinlogOffset, DebeziumSkip};

/// Where a Connect worker stored its source offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetStore {
    /// Distributed mode: the offsets topic on the config's Kafka.
    Topic(String),
    /// Standalone mode: the offsets file.
    File(PathBuf),
}

impl std::fmt::Display for OffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OffsetStore::Topic(t) => write!(f, "offsets topic {t}"),
            OffsetStore::File(p) => write!(f, "offsets file {}", p.display()),
        }
    }
}

/// Why a Debezium offset cannot be taken over.
#[derive(Debug, thiserror::Error)]
pub enum TakeoverError {
    /// The offsets file could not be read.
    #[error("cannot read offsets file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The offsets file is not what Connect standalone writes.
    #[error("{path} is not a Kafka Connect standalone offsets file: {source}")]
    FileFormat {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: java_map::JavaMapError,
    },
    /// A value in the offsets file is not JSON.
    #[error("offsets file {path}: the value of key {key} is not JSON: {source}")]
    FileValue {
        /// The file.
        path: PathBuf,
        /// The entry's key.
        key: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The offsets topic could not be read.
    #[error("reading the offsets topic: {0}")]
    Kafka(#[from] KafkaError),
    /// Nothing stored for the connector.
    #[error("no offsets of connector \"{connector}\" in the {store} ({others})")]
    NotFound {
        /// The connector name asked for.
        connector: String,
        /// Where it was looked for.
        store: String,
        /// The connectors that are there.
        others: String,
    },
    /// The connector's key is not a Debezium MySQL connector's.
    #[error("connector \"{connector}\": offset key {key} is not a Debezium MySQL connector's (expected [\"{connector}\",{{\"server\":\"<topic.prefix>\"}}])")]
    NotDebezium {
        /// The connector.
        connector: String,
        /// Its key.
        key: String,
    },
    /// A value that is not a Debezium binlog offset.
    #[error("connector \"{connector}\": offset {value} is not a Debezium binlog offset: {reason}")]
    BadValue {
        /// The connector.
        connector: String,
        /// The value.
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// Debezium had not finished its snapshot.
    #[error("connector \"{connector}\" stopped during its snapshot (offset {value}): a binlog position taken mid-snapshot cannot be resumed without a re-snapshot. Let Debezium finish its snapshot and stop it then, or start the source without importing (snapshot_mode = \"initial\" takes a new snapshot)")]
    SnapshotRunning {
        /// The connector.
        connector: String,
        /// The offset.
        value: String,
    },
    /// Debezium was in an incremental snapshot.
    #[error("connector \"{connector}\" stopped during an incremental snapshot ({key} in its offset): Sluice cannot continue Debezium's incremental snapshot. Let it finish (or stop it with a stop-snapshot signal) before taking over, or re-snapshot those tables after the import with `sluice snapshot`")]
    IncrementalSnapshot {
        /// The connector.
        connector: String,
        /// The offset key that shows it.
        key: String,
    },
}

/// A Debezium connector's stored offset for one logical server.
#[derive(Debug, Clone, PartialEq)]
pub struct DebeziumOffset {
    /// The connector's `topic.prefix` (its offsets' `server`).
    pub server: String,
    /// The offset map as Debezium stored it.
    pub value: Json,
}

/// Reads the offsets of `connector` from `store`: one per logical server
/// (a MySQL connector has exactly one).
pub async fn read(
    kafka: &KafkaConfig,
    store: &OffsetStore,
    connector: &str,
) -> Result<Vec<DebeziumOffset>, TakeoverError> {
    let records: BTreeMap<Vec<u8>, Json> = match store {
        OffsetStore::File(path) => read_file(path)?,
        OffsetStore::Topic(topic) => read_topic(kafka, topic, connector).await?,
    };
    let mut names = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (key, value) in records {
        let text = String::from_utf8_lossy(&key).into_owned();
        let Ok(Json::Array(parts)) = serde_json::from_slice::<Json>(&key) else {
            continue; // not a source-connector offset key
        };
        let Some(name) = parts.first().and_then(Json::as_str) else {
            continue;
        };
        if name != connector {
            names.insert(name.to_string());
            continue;
        }
        let server = parts
            .get(1)
            .and_then(|p| p.get("server"))
            .and_then(Json::as_str)
            .ok_or_else(|| TakeoverError::NotDebezium {
                connector: connector.to_string(),
                key: text.clone(),
            })?;
        out.push(DebeziumOffset {
            server: server.to_string(),
            value,
        });
    }
    if out.is_empty() {
        let others = if matches!(store, OffsetStore::Topic(_)) {
            // Only this connector's records are read from a topic.
            "check --connector against the connector's `name` and the topic against the worker's offset.storage.topic".to_string()
        } else if names.is_empty() {
            "it holds no other connector's offsets either".to_string()
        } else {
            let list: Vec<String> = names.into_iter().map(|n| format!("\"{n}\"")).collect();
            format!("connectors there: {}", list.join(", "))
        };
        return Err(TakeoverError::NotFound {
            connector: connector.to_string(),
            store: store.to_string(),
            others,
        });
    }
    Ok(out)
}

/// Key bytes → value of a standalone offsets file (null values dropped: a
/// removed offset).
fn read_file(path: &Path) -> Result<BTreeMap<Vec<u8>, Json>, TakeoverError> {
    let bytes = std::fs::read(path).map_err(|source| TakeoverError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let entries = java_map::parse(&bytes).map_err(|source| TakeoverError::FileFormat {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let (Some(k), Some(v)) = (k, v) else { continue };
        let value: Json =
            serde_json::from_slice(&v).map_err(|source| TakeoverError::FileValue {
                path: path.to_path_buf(),
                key: String::from_utf8_lossy(&k).into_owned(),
                source,
            })?;
        out.insert(k, value);
    }
    Ok(out)
}

/// Key bytes → last value of `connector`'s records in an offsets topic.
async fn read_topic(
    kafka: &KafkaConfig,
    topic: &str,
    connector: &str,
) -> Result<BTreeMap<Vec<u8>, Json>, TakeoverError> {
    let all = offsets::read_offsets(kafka, topic, connector).await?;
    Ok(all
        .into_iter()
        .map(|(part, v)| (offsets::partition_key(connector, &part).into_bytes(), v))
        .collect())
}

/// Debezium's offset map as a binlog source position.
pub fn to_binlog_offset(connector: &str, value: &Json) -> Result<BinlogOffset, TakeoverError> {
    let bad = |reason: &str| TakeoverError::BadValue {
        connector: connector.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let map = value.as_object().ok_or_else(|| bad("not a JSON object"))?;
    let snapshot = map.get("snapshot").is_some_and(|s| match s {
        Json::Bool(b) => *b,
        Json::String(s) => !s.eq_ignore_ascii_case("false"),
        Json::Null => false,
        _ => true,
    });
    let completed = map
        .get("snapshot_completed")
        .is_some_and(|c| c.as_bool() == Some(true) || c.as_str() == Some("true"));
    if snapshot && !completed {
        return Err(TakeoverError::SnapshotRunning {
            connector: connector.to_string(),
            value: value.to_string(),
        });
    }
    if let Some(key) = map
        .iter()
        .find(|(k, v)| k.starts_with("incremental_snapshot") && !v.is_null())
        .map(|(k, _)| k.clone())
    {
        return Err(TakeoverError::IncrementalSnapshot {
            connector: connector.to_string(),
            key,
        });
    }
    let file = map
        .get("file")
        .and_then(Json::as_str)
        .filter(|f| !f.is_empty())
        .ok_or_else(|| bad("\"file\" (the binlog file name) is missing"))?;
    let number = |key: &str| -> Result<u64, TakeoverError> {
        match map.get(key) {
            None | Some(Json::Null) => Ok(0),
            Some(Json::Number(n)) => n
                .as_u64()
                .ok_or_else(|| bad(&format!("\"{key}\" is not a non-negative integer"))),
            // Debezium's loader accepts numbers written as text.
            Some(Json::String(s)) => s
                .parse()
                .map_err(|_| bad(&format!("\"{key}\" is not a non-negative integer"))),
            Some(_) => Err(bad(&format!("\"{key}\" is not a number"))),
        }
    };
    if !map.contains_key("pos") {
        return Err(bad("\"pos\" (the binlog position) is missing"));
    }
    let pos = number("pos")?;
    let event = number("event")?;
    let row = number("row")?;
    let server_id =
        u32::try_from(number("server_id")?).map_err(|_| bad("\"server_id\" is too large"))?;
    let ts_sec = i64::try_from(number("ts_sec")?).map_err(|_| bad("\"ts_sec\" is too large"))?;
    let gtids: String = match map.get("gtids") {
        None | Some(Json::Null) => String::new(),
        Some(Json::String(s)) => s.chars().filter(|c| !c.is_whitespace()).collect(),
        Some(_) => return Err(bad("\"gtids\" is not a string")),
    };
    Ok(BinlogOffset {
        file: file.to_string(),
        pos,
        gtids,
        row: 0,
        snapshot_completed: true,
        server_id,
        ts_sec,
        snapshot: None,
        // No stored filter: the source captures what its config says, with no backfill.
        capture: None,
        debezium: (event > 0 || row > 0).then_some(DebeziumSkip { event, row }),
        // Debezium's offset does not name the server: a start tries the first listed.
        server: None,
        // Debezium's own signal-topic offset is not carried over: Sluice's signal
        // channel starts from its consumer group's offsets.
        incremental_snapshot_signal_offset: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_streaming_offset_becomes_a_resumable_position() {
        let v = json!({"ts_sec":1796338006,"file":"binlog.000009","pos":1217,
            "gtids":"dd06052b-eeeb-11f1-ba63-02fc00000001:1-181989:sluice_tag:1-54",
            "row":2,"server_id":2,"event":4});
        let o = to_binlog_offset("c", &v).expect("offset");
        assert_eq!(o.file, "binlog.000009");
        assert_eq!(o.pos, 1217);
        assert_eq!(
            o.gtids,
            "dd06052b-eeeb-11f1-ba63-02fc00000001:1-181989:sluice_tag:1-54"
        );
        assert_eq!(o.row, 0);
        assert!(o.snapshot_completed);
        assert_eq!(o.server_id, 2);
        assert_eq!(o.ts_sec, 1796338006);
        assert_eq!(o.debezium, Some(DebeziumSkip { event: 4, row: 2 }));
        // Stored and read back as the source reads it.
        let back: BinlogOffset =
            serde_json::from_value(serde_json::to_value(&o).expect("json")).expect("parse");
        assert_eq!(back, o);
    }

    #[test]
    fn a_transaction_boundary_has_nothing_to_skip() {
        let v = json!({"file":"mysql-bin.000003","pos":"154","gtids":"a:1-5,\nb:1-2"});
        let o = to_binlog_offset("c", &v).expect("offset");
        assert_eq!((o.pos, o.debezium), (154, None));
        assert_eq!(o.gtids, "a:1-5,b:1-2");
    }

    #[test]
    fn a_snapshot_in_progress_is_refused() {
        for v in [
            json!({"file":"b.1","pos":4,"snapshot":true}),
            json!({"file":"b.1","pos":4,"snapshot":"true"}),
            json!({"file":"b.1","pos":4,"snapshot":"INITIAL"}),
        ] {
            let err = to_binlog_offset("c", &v).expect_err("refused");
            assert!(
                matches!(err, TakeoverError::SnapshotRunning { .. }),
                "{err}"
            );
            assert!(err.to_string().contains("re-snapshot"), "{err}");
        }
        let done = json!({"file":"b.1","pos":4,"snapshot":true,"snapshot_completed":true});
        assert!(to_binlog_offset("c", &done).is_ok());
        let off = json!({"file":"b.1","pos":4,"snapshot":false});
        assert!(to_binlog_offset("c", &off).is_ok());
        let inc = json!({"file":"b.1","pos":4,"incremental_snapshot_collections":"[]"});
        let err = to_binlog_offset("c", &inc).expect_err("incremental");
        assert!(
            err.to_string().contains("incremental_snapshot_collections"),
            "{err}"
        );
    }

    #[test]
    fn bad_offsets_name_what_is_wrong() {
        for (v, want) in [
            (json!([1]), "not a JSON object"),
            (json!({"pos":4}), "\"file\""),
            (json!({"file":"b.1"}), "\"pos\""),
            (
                json!({"file":"b.1","pos":-1}),
                "\"pos\" is not a non-negative",
            ),
            (json!({"file":"b.1","pos":4,"event":"x"}), "\"event\""),
            (json!({"file":"b.1","pos":4,"gtids":5}), "\"gtids\""),
        ] {
            let err = to_binlog_offset("conn", &v).expect_err("bad");
            assert!(err.to_string().contains(want), "{err}");
            assert!(err.to_string().contains("conn"), "{err}");
        }
    }

    #[tokio::test]
    async fn the_connect_standalone_file_is_read() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("src/app/takeover/testdata/connect-standalone-offsets.dat");
        let kafka = KafkaConfig::default();
        let store = OffsetStore::File(path.clone());
        let got = read(&kafka, &store, "fixture-dbz").await.expect("read");
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].server, "fixdbz");
        let o = to_binlog_offset("fixture-dbz", &got[0].value).expect("offset");
        assert_eq!(o.debezium, Some(DebeziumSkip { event: 4, row: 2 }));
        let err = read(&kafka, &store, "other").await.expect_err("absent");
        assert!(
            err.to_string()
                .contains("connectors there: \"fixture-dbz\""),
            "{err}"
        );
        let missing = OffsetStore::File(path.with_file_name("nope.dat"));
        let err = read(&kafka, &missing, "x").await.expect_err("missing");
        assert!(err.to_string().contains("nope.dat"), "{err}");
    }
}
