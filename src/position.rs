//! Positions: where a change sits in its source.
//!
//! A poll source's position is a per-table [`PollOffset`] (the JDBC source
//! connector's `incrementing` / `timestamp` offsets); a sink's input position is a
//! Kafka coordinate. Positions travel with every [`crate::event::ChangeEvent`]
//! so a row can never drift from the offset it was read at.

use serde::{Deserialize, Serialize};

/// A poll source's offset for one table, stored in the offsets topic.
///
/// Field names follow the Kafka Connect JDBC source's offset map so the JSON
/// reads the same (`incrementing`, `timestamp` in ms, `timestamp_nanos`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PollOffset {
    /// Largest incrementing-column value published.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incrementing: Option<i64>,
    /// Largest timestamp published, milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
    /// Nanoseconds within the second of `timestamp` (Connect's `timestamp_nanos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_nanos: Option<i64>,
}

impl PollOffset {
    /// The timestamp as microseconds since the epoch, if set.
    pub fn timestamp_micros(&self) -> Option<i64> {
        let ms = self.timestamp?;
        let nanos = self
            .timestamp_nanos
            .unwrap_or(ms.rem_euclid(1000) * 1_000_000);
        Some(ms.div_euclid(1000) * 1_000_000 + nanos / 1000)
    }

    /// Sets the timestamp from microseconds since the epoch.
    pub fn set_timestamp_micros(&mut self, micros: i64) {
        self.timestamp = Some(micros.div_euclid(1000));
        self.timestamp_nanos = Some(micros.rem_euclid(1_000_000) * 1000);
    }
}

/// A binlog coordinate: file name and byte offset, ordered by the file's
/// numeric suffix, then the offset. Text form `mysql-bin.000042:1337`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BinlogPosition {
    /// Binlog file name.
    pub file: String,
    /// Byte offset of the next event to read.
    pub pos: u64,
}

impl BinlogPosition {
    /// A position.
    pub fn new(file: impl Into<String>, pos: u64) -> Self {
        BinlogPosition {
            file: file.into(),
            pos,
        }
    }

    /// The file's sequence number (`mysql-bin.000042` → 42), if it has one.
    pub fn file_seq(&self) -> Option<u64> {
        self.file.rsplit_once('.').and_then(|(_, n)| n.parse().ok())
    }
}

impl Ord for BinlogPosition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.file_seq(), &self.file, self.pos).cmp(&(other.file_seq(), &other.file, other.pos))
    }
}

impl PartialOrd for BinlogPosition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for BinlogPosition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.pos)
    }
}

impl std::str::FromStr for BinlogPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (file, pos) = s
            .rsplit_once(':')
            .ok_or_else(|| format!("\"{s}\" is not file:pos"))?;
        let pos = pos
            .parse()
            .map_err(|_| format!("\"{s}\": position is not a number"))?;
        if file.is_empty() {
            return Err(format!("\"{s}\": empty file name"));
        }
        Ok(BinlogPosition::new(file, pos))
    }
}

/// Where one binlog change sits: the event that carried it, the transaction's
/// GTID, and the row's ordinal within its source transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct BinlogCoord {
    /// The rows event's position (Debezium `source.file`/`pos`).
    pub at: BinlogPosition,
    /// The transaction's GTID, when the server writes them.
    pub gtid: Option<String>,
    /// 0-based ordinal of the row within its source transaction.
    pub row: u64,
    /// Debezium's `source.snapshot` of the row (`False` for streamed changes).
    pub snapshot: SnapshotMark,
    /// The server id that wrote the change.
    pub server_id: u32,
}

/// Debezium's `source.snapshot` value (its `SnapshotRecord`): which part
/// of a snapshot a read is, or `False` for a streamed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SnapshotMark {
    /// A streamed change.
    #[default]
    False,
    /// A read of an initial snapshot (neither first nor last of its table).
    True,
    /// The initial snapshot's first read (of its first table).
    First,
    /// A table's first read in the initial snapshot (not the first table).
    FirstInDataCollection,
    /// A table's last read in the initial snapshot (not the last table).
    LastInDataCollection,
    /// The initial snapshot's last read (of its last table).
    Last,
    /// A read of an incremental (on-demand) snapshot.
    Incremental,
}

impl SnapshotMark {
    /// Debezium's text for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotMark::False => "false",
            SnapshotMark::True => "true",
            SnapshotMark::First => "first",
            SnapshotMark::FirstInDataCollection => "first_in_data_collection",
            SnapshotMark::LastInDataCollection => "last_in_data_collection",
            SnapshotMark::Last => "last",
            SnapshotMark::Incremental => "incremental",
        }
    }

    /// An initial snapshot's mark, as Debezium resolves it: a record both
    /// first and last of its table is its table's last.
    pub fn initial(first_table: bool, last_table: bool, first_row: bool, last_row: bool) -> Self {
        match () {
            () if last_row && last_table => SnapshotMark::Last,
            () if first_row && first_table => SnapshotMark::First,
            () if last_row => SnapshotMark::LastInDataCollection,
            () if first_row => SnapshotMark::FirstInDataCollection,
            () => SnapshotMark::True,
        }
    }
}

/// Where a change came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Position {
    /// No position (e.g. built in a test).
    None,
    /// A poll source's offset after this row.
    Poll(PollOffset),
    /// A binlog row or snapshot read.
    Binlog(BinlogCoord),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_snapshot_marks_resolve_as_debeziums() {
        use SnapshotMark as M;
        let mark = |ft, lt, fr, lr| M::initial(ft, lt, fr, lr).as_str();
        assert_eq!(mark(true, false, true, false), "first");
        assert_eq!(mark(true, false, false, false), "true");
        assert_eq!(mark(true, false, false, true), "last_in_data_collection");
        assert_eq!(mark(false, false, true, false), "first_in_data_collection");
        assert_eq!(mark(false, true, false, true), "last");
        assert_eq!(mark(true, true, true, true), "last", "a one-row only table");
        assert_eq!(mark(false, false, true, true), "last_in_data_collection");
        assert_eq!(M::Incremental.as_str(), "incremental");
        assert_eq!(M::default().as_str(), "false");
    }

    #[test]
    fn timestamp_micros_round_trip() {
        let mut o = PollOffset::default();
        o.set_timestamp_micros(1_660_592_867_123_456);
        assert_eq!(o.timestamp, Some(1_660_592_867_123));
        assert_eq!(o.timestamp_nanos, Some(123_456_000));
        assert_eq!(o.timestamp_micros(), Some(1_660_592_867_123_456));
    }

    #[test]
    fn timestamp_before_epoch_round_trips() {
        let mut o = PollOffset::default();
        o.set_timestamp_micros(-1_500_001);
        assert_eq!(o.timestamp_micros(), Some(-1_500_001));
    }

    #[test]
    fn binlog_positions_order_by_file_number_then_offset() {
        let a: BinlogPosition = "mysql-bin.000009:900".parse().expect("parse");
        let b: BinlogPosition = "mysql-bin.000010:4".parse().expect("parse");
        assert!(a < b);
        assert!(BinlogPosition::new("mysql-bin.000010", 5) > b);
        assert_eq!(b.to_string(), "mysql-bin.000010:4");
        assert!("nofile".parse::<BinlogPosition>().is_err());
        assert!(":4".parse::<BinlogPosition>().is_err());
    }

    #[test]
    fn offset_json_uses_connect_names() {
        let o = PollOffset {
            incrementing: Some(7),
            ..Default::default()
        };
        assert_eq!(
            serde_json::to_string(&o).ok().as_deref(),
            Some(r#"{"incrementing":7}"#)
        );
    }
}
