//! When the target refuses a batch for a record's fault
//! ([`Fault::Record`](crate::sink::Fault)): find the records it refuses.
//!
//! The batch is split in halves and each half applied in its own transaction
//! *with the next offsets of the records in it*, recursively, down to single
//! records (one bad record among n costs about 2·log2(n) transactions rather
//! than n). Halves are applied in order, so per-partition order holds and the
//! stored offset of a partition never passes a record that is not yet applied
//! or dead-lettered. A single refused record, with `errors_tolerance =
//! "all"`, is written to the dead-letter topic, then its offset is committed
//! on its own; otherwise the pipeline stops with
//! [`SinkError::Refused`] naming it, the records before it applied. A crash
//! at any point resumes from the stored offsets: nothing is applied twice,
//! nothing lost.
//!
//! An error that is not a record's fault while bisecting (the target's own:
//! privileges, a missing trigger function, a broken connection) stops the
//! bisection and is returned as it is: it would refuse every record, so it
//! never empties the topic into the dead-letter topic. A too-large row is
//! refused by the planner before anything is sent, so isolating it costs
//! no round trip to the server.

use super::{at, Item, SinkError, SinkState};
use crate::sink::target::Target;
use crate::sink::Fault;

/// Applies `items` (a batch the target refused with `first`, a record's
/// fault), isolating the refused records.
pub(super) async fn apply_isolating(
    state: &mut SinkState,
    target: &mut Target,
    items: &[Item<'_>],
    first: SinkError,
) -> Result<(), SinkError> {
    // Ranges still to apply, the next one last; the whole batch already failed.
    let mut todo: Vec<(usize, usize)> = Vec::new();
    let mut failed: Option<(usize, SinkError)> = None;
    if items.len() == 1 {
        failed = Some((0, first));
    } else {
        push_halves(&mut todo, 0, items.len());
    }
    loop {
        if let Some((i, e)) = failed.take() {
            let item = &items[i];
            if !state.tolerates(&e) {
                if state.cfg.errors_log_enable {
                    super::log_failed_record(&state.cfg, item.msg, &e.to_string());
                }
                return Err(located(item, e));
            }
            state
                .dead_letter(item.msg, "sluice.ApplyError", &e.to_string())
                .await?;
            // Commit the skipped record's offset on its own.
            let skip = [Item {
                msg: item.msg,
                change: None,
            }];
            state.apply_items(target, &skip, None).await?;
        }
        let Some((lo, hi)) = todo.pop() else {
            return Ok(());
        };
        match state.apply_items(target, &items[lo..hi], None).await {
            Ok(()) => {}
            Err(e) if e.fault() != Fault::Record => return Err(e),
            Err(e) if hi - lo == 1 => failed = Some((lo, e)),
            Err(_) => push_halves(&mut todo, lo, hi),
        }
    }
}

/// `e`, refused for `item` alone, naming its record (unless it does already).
fn located(item: &Item<'_>, e: SinkError) -> SinkError {
    match e {
        SinkError::Refused { .. } | SinkError::Record { .. } => e,
        e => SinkError::Refused {
            at: at(item.msg),
            source: Box::new(e),
        },
    }
}

/// Pushes `[lo, mid)` and `[mid, hi)` so that `[lo, mid)` is popped first.
fn push_halves(todo: &mut Vec<(usize, usize)>, lo: usize, hi: usize) {
    let mid = lo + (hi - lo) / 2;
    todo.push((mid, hi));
    todo.push((lo, mid));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_applied_in_order() {
        let mut todo = Vec::new();
        push_halves(&mut todo, 0, 5);
        assert_eq!(todo.pop(), Some((0, 2)));
        assert_eq!(todo.pop(), Some((2, 5)));
    }
}
