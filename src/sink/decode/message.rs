//! One consumed Kafka record as the sink keeps it.
//!
//! rdkafka's `detach()` copies key and payload into two buffers, the topic
//! into a `String` and parses the headers of every record; at hundreds of
//! thousands of records a second that was a fifth of the consuming task's
//! CPU. A [`SinkMessage`] shares its topic name with the batch's other
//! records, holds key and payload in one buffer, and reads headers only when
//! a dead-letter topic may need them. Once a record is decoded its bytes can
//! be dropped ([`SinkMessage::drop_data`]); topic, partition and offset stay
//! for the offset bookkeeping.

use std::sync::Arc;

use rdkafka::message::{BorrowedMessage, Message, OwnedHeaders, Timestamp};

use crate::config::{ErrorsTolerance, SinkConfig};

/// Whether a sink needs a record's bytes and headers after decoding it: only
/// when failed records go to a dead-letter topic, or are logged with their
/// key and value (`errors_log_include_messages`).
pub fn keeps_records(cfg: &SinkConfig) -> bool {
    (cfg.dlq_topic.is_some() && cfg.errors_tolerance == ErrorsTolerance::All)
        || (cfg.errors_log_enable && cfg.errors_log_include_messages)
}

/// An owned Kafka record: topic, partition, offset, timestamp, key, payload
/// and (when kept) headers.
#[derive(Debug, Clone)]
pub struct SinkMessage {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
    timestamp: Timestamp,
    /// Key bytes followed by payload bytes.
    data: Vec<u8>,
    /// Length of the key in `data`; `None`: no key.
    key_len: Option<usize>,
    /// Whether there is a payload (`false`: tombstone, or dropped).
    has_payload: bool,
    headers: Option<OwnedHeaders>,
}

impl SinkMessage {
    /// A record built from its parts (tests, and records not read from Kafka).
    pub fn new(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> SinkMessage {
        Self::build(
            topic,
            partition,
            offset,
            Timestamp::NotAvailable,
            key,
            payload,
        )
    }

    fn build(
        topic: Arc<str>,
        partition: i32,
        offset: i64,
        timestamp: Timestamp,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
    ) -> SinkMessage {
        let len = key.map_or(0, <[u8]>::len) + payload.map_or(0, <[u8]>::len);
        let mut data = Vec::with_capacity(len);
        data.extend_from_slice(key.unwrap_or_default());
        data.extend_from_slice(payload.unwrap_or_default());
        SinkMessage {
            topic,
            partition,
            offset,
            timestamp,
            data,
            key_len: key.map(<[u8]>::len),
            has_payload: payload.is_some(),
            headers: None,
        }
    }

    /// Copies what the sink needs of `m`; `topic` is its topic name (shared
    /// by the caller across records), headers are read only when
    /// `with_headers`.
    pub fn copy_of(m: &BorrowedMessage<'_>, topic: Arc<str>, with_headers: bool) -> SinkMessage {
        let mut out = Self::build(
            topic,
            m.partition(),
            m.offset(),
            m.timestamp(),
            m.key(),
            m.payload(),
        );
        if with_headers {
            out.headers = m.headers().map(|h| h.detach());
        }
        out
    }

    /// Topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Topic name, shared.
    pub fn topic_arc(&self) -> &Arc<str> {
        &self.topic
    }

    /// Partition.
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Offset.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    /// The record's timestamp.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }

    /// Key bytes.
    pub fn key(&self) -> Option<&[u8]> {
        self.key_len.map(|n| &self.data[..n])
    }

    /// Bytes of the key and payload held (0 once dropped).
    pub fn data_len(&self) -> usize {
        self.data.len()
    }

    /// Payload bytes (`None`: a tombstone, or dropped).
    pub fn payload(&self) -> Option<&[u8]> {
        self.has_payload
            .then(|| &self.data[self.key_len.unwrap_or(0)..])
    }

    /// Headers (kept only when asked for at [`SinkMessage::copy_of`]).
    pub fn headers(&self) -> Option<&OwnedHeaders> {
        self.headers.as_ref()
    }

    /// Frees key, payload and headers; position and topic stay.
    pub fn drop_data(&mut self) {
        self.data = Vec::new();
        self.key_len = None;
        self.has_payload = false;
        self.headers = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_payload_share_one_buffer_and_keep_their_bounds() {
        let m = SinkMessage::new("t".into(), 2, 7, Some(b"key"), Some(b"{\"v\":1}"));
        assert_eq!(m.key(), Some(&b"key"[..]));
        assert_eq!(m.payload(), Some(&b"{\"v\":1}"[..]));
        assert_eq!((m.topic(), m.partition(), m.offset()), ("t", 2, 7));
    }

    #[test]
    fn absent_and_empty_are_told_apart() {
        let tombstone = SinkMessage::new("t".into(), 0, 1, Some(b"k"), None);
        assert_eq!(tombstone.payload(), None);
        let empty = SinkMessage::new("t".into(), 0, 1, None, Some(b""));
        assert_eq!(empty.key(), None);
        assert_eq!(empty.payload(), Some(&b""[..]));
        let empty_key = SinkMessage::new("t".into(), 0, 1, Some(b""), Some(b"x"));
        assert_eq!(empty_key.key(), Some(&b""[..]));
        assert_eq!(empty_key.payload(), Some(&b"x"[..]));
    }

    #[test]
    fn dropping_data_keeps_the_position() {
        let mut m = SinkMessage::new("orders".into(), 3, 42, Some(b"k"), Some(b"v"));
        m.drop_data();
        assert_eq!((m.key(), m.payload()), (None, None));
        assert_eq!((m.topic(), m.partition(), m.offset()), ("orders", 3, 42));
        assert!(m.headers().is_none());
    }
}
