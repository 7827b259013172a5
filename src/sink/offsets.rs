//! The offsets a batch commits: which records of which partitions it holds.
//!
//! `sluice_sink_offsets(sink, topic, kafka_partition, next_offset)` in the
//! target is authoritative (design.md §5). An apply transaction first claims
//! the batch's partitions at their *first* offsets (a compare-and-set: see
//! `target::claim`) and then stores their *next* offsets, so these two lists
//! are computed here once per batch.

use super::decode::SinkMessage;

/// Next offsets, (topic, partition, offset), in order of first appearance.
pub type NextOffsets = Vec<(String, i32, i64)>;

/// A stored offset: (sink name, topic, partition, next offset to consume).
pub type OffsetRow = (String, String, i32, i64);

/// The next offset of every partition in `msgs`.
pub fn next_offsets<'a>(msgs: impl Iterator<Item = &'a SinkMessage>) -> NextOffsets {
    offset_bounds(msgs)
        .into_iter()
        .map(|(t, p, _, next)| (t, p, next))
        .collect()
}

/// (topic, partition, first offset, next offset) of every partition in
/// `msgs`, in order of first appearance.
pub fn offset_bounds<'a>(
    msgs: impl Iterator<Item = &'a SinkMessage>,
) -> Vec<(String, i32, i64, i64)> {
    let mut bounds: Vec<(String, i32, i64, i64)> = Vec::new();
    for msg in msgs {
        let o = msg.offset();
        match bounds
            .iter_mut()
            .find(|(t, p, _, _)| t == msg.topic() && *p == msg.partition())
        {
            Some(e) => {
                e.2 = e.2.min(o);
                e.3 = e.3.max(o + 1);
            }
            None => bounds.push((msg.topic().to_string(), msg.partition(), o, o + 1)),
        }
    }
    bounds
}

/// The rows an apply transaction claims (each partition at its first offset)
/// and then stores (each at its next offset), for sink `sink`.
pub fn claim_and_store<'a>(
    sink: &str,
    msgs: impl Iterator<Item = &'a SinkMessage>,
) -> (Vec<OffsetRow>, Vec<OffsetRow>) {
    let bounds = offset_bounds(msgs);
    let first = (bounds.iter())
        .map(|(t, p, f, _)| (sink.to_string(), t.clone(), *p, *f))
        .collect();
    let next = (bounds.into_iter())
        .map(|(t, p, _, n)| (sink.to_string(), t, p, n))
        .collect();
    (first, next)
}
