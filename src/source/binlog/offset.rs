//! The binlog source's stored position.
//!
//! One record per source in the offsets topic, key
//! `["<source>",{"server":"<logical name>"}]` (Debezium's shape), value
//! [`BinlogOffset`]. It is written in the same Kafka transaction as the data
//! it follows, so a `read_committed` reader sees it only with that data.
//!
//! Resumption: `file`/`pos` is where a source transaction starts and `gtids`
//! the GTID state before it; `row` counts the rows of that transaction already
//! published (non-zero only when a transaction larger than
//! `max_transaction_rows` was split across Kafka transactions). A restart
//! reads from `file`/`pos` (or from `gtids`), skips `row` rows of the first
//! transaction, and continues — nothing is published twice and nothing is
//! skipped. A one-cut snapshot (`snapshot_locking = "minimal"`) stores no
//! position until it is complete (`snapshot_completed`), so an interrupted one
//! starts again from scratch; a chunked snapshot stores its progress in
//! `snapshot` with every position, so it resumes at the next chunk.
//! `debezium` is a Debezium connector's own mid-transaction cut, from
//! `sluice offsets import` ([`DebeziumSkip`]); it applies to the first
//! transaction read and is never written back.
//! `capture` is the table filter the position was written under: a start
//! under a filter that captures more tables backfills those
//! ([`super::capture::CaptureSpec`]). `server` names the server `file`/`pos`
//! were read on when the source's `url` lists several (after a failover, by
//! GTID, until the first transaction read on the new server they are still
//! the old server's). `incremental_snapshot_signal_offset` is where the Kafka
//! signal topic is read from again, so a signal is acted on once: its effect
//! and the offset past it are stored together.

use serde::{Deserialize, Serialize};

use crate::metrics::METRICS;
use crate::position::BinlogPosition;
use crate::source::publish::SourceOffset;

/// A binlog source's committed position.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinlogOffset {
    /// Binlog file of the next transaction (or of the split one).
    pub file: String,
    /// Its start offset.
    pub pos: u64,
    /// GTID state before it (`@@gtid_binlog_pos` / `@@gtid_executed` text); empty without GTIDs.
    #[serde(default)]
    pub gtids: String,
    /// Rows of that transaction already published.
    #[serde(default)]
    pub row: u64,
    /// True once the initial snapshot (if any) is fully published.
    #[serde(default)]
    pub snapshot_completed: bool,
    /// The server's id, to notice a failover to another server.
    #[serde(default)]
    pub server_id: u32,
    /// Seconds since the epoch of the last event before this position.
    #[serde(default)]
    pub ts_sec: i64,
    /// A chunked snapshot in progress: the table being read and its last key
    /// published ([`super::chunks`]); `None` when no snapshot runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<super::chunks::ChunkProgress>,
    /// The table filter in force when this position was written (`None`:
    /// written before Sluice stored it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<std::sync::Arc<super::capture::CaptureSpec>>,
    /// A Debezium connector's mid-transaction resume point, stored by
    /// `sluice offsets import` (`None` in every position Sluice writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debezium: Option<DebeziumSkip>,
    /// The server (`host:port`) `file`/`pos` belong to, when `url` lists
    /// several ([`super::failover`]); a start tries it first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// The Kafka signal topic's offset of the last signal acted on
    /// (Debezium's key; [`super::signal_topic`]): the reader resumes after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental_snapshot_signal_offset: Option<i64>,
}

/// How far into the transaction at `file`/`pos` (or after `gtids`) a Debezium
/// MySQL connector had emitted when it stopped, in its own counting: `event`
/// binlog events of that transaction, `BEGIN` included, were fully processed,
/// and `row` rows of the next rows event. A source resuming there skips those
/// rows (counting them in `row` as its own), so nothing is published twice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebeziumSkip {
    /// Events of the transaction processed, `BEGIN` (MariaDB: its GTID event) included.
    #[serde(default)]
    pub event: u64,
    /// Rows of the next rows event emitted.
    #[serde(default)]
    pub row: u64,
}

impl BinlogOffset {
    /// The file/pos coordinate.
    pub fn position(&self) -> BinlogPosition {
        BinlogPosition::new(self.file.clone(), self.pos)
    }
}

impl SourceOffset for BinlogOffset {
    /// Sets the binlog file/position gauges and counts the transactions.
    fn committed(pipeline: &str, offset: Option<&Self>, transactions: u64) {
        if let Some(o) = offset {
            let pos = o.position();
            METRICS
                .source_binlog_file_number
                .with_label_values(&[pipeline])
                .set(i64::try_from(pos.file_seq().unwrap_or(0)).unwrap_or(i64::MAX));
            METRICS
                .source_binlog_position_bytes
                .with_label_values(&[pipeline])
                .set(i64::try_from(pos.pos).unwrap_or(i64::MAX));
        }
        METRICS
            .source_transactions
            .with_label_values(&[pipeline])
            .inc_by(transactions);
    }
}

/// The offsets-topic partition id of a binlog source (`server=<name>`).
pub fn partition_id(logical_name: &str) -> String {
    format!("server={logical_name}")
}

/// The offsets-topic record key of a binlog source.
pub fn record_key(source: &str, logical_name: &str) -> String {
    crate::kafka::offsets::partition_key(source, &partition_id(logical_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_json_round_trips() {
        let o = BinlogOffset {
            file: "mariadb-bin.000002".into(),
            pos: 1234,
            gtids: "0-1-99".into(),
            row: 5,
            snapshot_completed: true,
            server_id: 1,
            ts_sec: 1_700_000_000,
            snapshot: None,
            capture: None,
            debezium: None,
            server: None,
            incremental_snapshot_signal_offset: None,
        };
        let json = serde_json::to_string(&o).expect("json");
        assert!(
            json.starts_with(r#"{"file":"mariadb-bin.000002","pos":1234,"gtids":"0-1-99","row":5"#)
        );
        let back: BinlogOffset = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, o);
        assert_eq!(back.position().to_string(), "mariadb-bin.000002:1234");
    }

    #[test]
    fn key_is_debezium_shaped() {
        assert_eq!(record_key("src", "db1"), r#"["src",{"server":"db1"}]"#);
    }
}
