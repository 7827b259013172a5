//! The offsets compare-and-set of an apply transaction (design.md §5): the
//! batch's partitions' rows of `sluice_sink_offsets` are locked first
//! (`Dialect::offsets_lock`) and their stored next offsets compared with the
//! batch's first offsets. A stored next offset *past* the first offset means
//! another member of the consumer group applied those records: the
//! transaction is rolled back with [`SinkError::OffsetsMoved`]. A stored
//! offset below the first one is normal (a transaction marker takes an
//! offset), and an absent row was just inserted with the first offset.

use super::{OffsetRow, SinkError};

/// The offsets compare-and-set of one apply transaction (see [`Target::apply_steps`]).
#[derive(Clone, Copy)]
pub(crate) struct Claim<'a> {
    /// `Dialect::offsets_lock` statements; the last one returns the stored rows.
    pub(super) lock: &'a [String],
    /// The batch's first offset per partition.
    pub(super) first: &'a [OffsetRow],
}

/// [`Claim`] with owned parts, for the SQLite worker thread.
pub(crate) struct OwnedClaim {
    pub(super) lock: Vec<String>,
    pub(super) first: Vec<OffsetRow>,
}

impl Claim<'_> {
    pub(super) fn owned(self) -> OwnedClaim {
        OwnedClaim {
            lock: self.lock.to_vec(),
            first: self.first.to_vec(),
        }
    }

    /// `Err(OffsetsMoved)` when a stored next offset is past the batch's first offset.
    pub(super) fn check(&self, stored: &[(String, i32, i64)]) -> Result<(), SinkError> {
        check_claim(self.first, stored)
    }
}

impl OwnedClaim {
    pub(super) fn check(&self, stored: &[(String, i32, i64)]) -> Result<(), SinkError> {
        check_claim(&self.first, stored)
    }
}

fn check_claim(first: &[OffsetRow], stored: &[(String, i32, i64)]) -> Result<(), SinkError> {
    for (topic, partition, next) in stored {
        let moved = first
            .iter()
            .find(|(_, t, p, _)| t == topic && p == partition)
            .filter(|(_, _, _, f)| next > f);
        if let Some((_, _, _, f)) = moved {
            return Err(SinkError::OffsetsMoved {
                topic: topic.clone(),
                partition: *partition,
                stored: *next,
                first: *f,
            });
        }
    }
    Ok(())
}

/// One `(topic, kafka_partition, next_offset)` row of a simple-protocol result.
pub(super) fn stored_offset_row(
    topic: Option<&str>,
    partition: Option<&str>,
    next: Option<&str>,
) -> Result<(String, i32, i64), SinkError> {
    let bad = || SinkError::OffsetsRowUnreadable;
    Ok((
        topic.ok_or_else(bad)?.to_string(),
        partition.and_then(|p| p.parse().ok()).ok_or_else(bad)?,
        next.and_then(|n| n.parse().ok()).ok_or_else(bad)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first() -> Vec<OffsetRow> {
        vec![
            ("s".into(), "t".into(), 0, 10),
            ("s".into(), "t".into(), 1, 20),
        ]
    }

    #[test]
    fn stored_offsets_at_or_before_the_first_offsets_pass() {
        let stored = vec![("t".to_string(), 0, 10), ("t".to_string(), 1, 19)];
        assert!(check_claim(&first(), &stored).is_ok());
    }

    #[test]
    fn a_stored_offset_past_the_first_offset_is_a_move() {
        let stored = vec![("t".to_string(), 0, 10), ("t".to_string(), 1, 25)];
        match check_claim(&first(), &stored) {
            Err(SinkError::OffsetsMoved {
                topic,
                partition,
                stored,
                first,
            }) => assert_eq!((topic.as_str(), partition, stored, first), ("t", 1, 25, 20)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn simple_protocol_rows_parse() {
        assert_eq!(
            stored_offset_row(Some("t"), Some("3"), Some("42")).expect("row"),
            ("t".to_string(), 3, 42)
        );
        assert!(stored_offset_row(Some("t"), None, Some("42")).is_err());
    }
}
