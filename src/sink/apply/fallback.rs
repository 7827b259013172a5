//! When the target refuses a batch for a definite reason and
//! `errors_tolerance = "all"`: find the records it refuses, send them to the
//! dead-letter topic, apply the others.
//!
//! The batch is split in halves and each half applied in its own transaction
//! *with the next offsets of the records in it*, recursively, down to single
//! records (one bad record among n costs about 2·log2(n) transactions rather
//! than n). Halves are applied in order, so per-partition order holds and the
//! stored offset of a partition never passes a record that is not yet applied
//! or dead-lettered. A single refused record is written to the dead-letter
//! topic, then its offset is committed on its own. A crash at any point
//! resumes from the stored offsets: nothing is applied twice, nothing lost.
//!
//! Which errors a record is to blame for ([`blames_record`]) is decided here:
//! values the column cannot hold, constraint violations, schema conflicts. A
//! definite error of the target itself (privileges, read-only database, disk
//! full, a broken connection setup) would refuse every record, so it stops
//! the pipeline instead of emptying the topic into the dead-letter topic.

use super::{Item, SinkError, SinkState};
use crate::sink::target::Target;

/// Applies `items` (a batch the target refused with `first`), isolating
/// the refused records.
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
            Err(e) if !state.tolerates(&e) => return Err(e),
            Err(e) if hi - lo == 1 => failed = Some((lo, e)),
            Err(_) => push_halves(&mut todo, lo, hi),
        }
    }
}

/// Pushes `[lo, mid)` and `[mid, hi)` so that `[lo, mid)` is popped first.
fn push_halves(todo: &mut Vec<(usize, usize)>, lo: usize, hi: usize) {
    let mid = lo + (hi - lo) / 2;
    todo.push((mid, hi));
    todo.push((lo, mid));
}

/// True when a definite error is the fault of the records being written, so
/// skipping them lets the others through; false when it is the target's own
/// (every record would fail the same way).
pub(super) fn blames_record(e: &SinkError) -> bool {
    match e {
        SinkError::Record { .. } => true,
        SinkError::Sql(e) => e.blames_record(),
        SinkError::MySql {
            source: mysql_async::Error::Server(s),
            ..
        } => !matches!(
            s.code,
            // access denied (db, user, table, column, privilege), read-only
            // table or server, disk full, table full, storage engine error,
            // table or column gone (dropped behind the sink's back).
            1044 | 1045
                | 1142
                | 1143
                | 1227
                | 1036
                | 1290
                | 1792
                | 1021
                | 1114
                | 1030
                | 1146
                | 1054
        ),
        SinkError::Postgres { source, .. } => source.as_db_error().is_some_and(|db| {
            let code = db.code().code();
            // Data exceptions (22), integrity violations (23), syntax or
            // access rule violations (42) other than privileges and a table
            // or column gone (dropped behind the sink's back).
            (code.starts_with("22") || code.starts_with("23") || code.starts_with("42"))
                && !matches!(code, "42501" | "42P01" | "42703")
        }),
        SinkError::Sqlite {
            source: rusqlite::Error::SqliteFailure(f, _),
            ..
        } => matches!(
            f.code,
            // NOT NULL / CHECK / key violations, a value of the wrong type
            // (STRICT tables), a value over SQLITE_MAX_LENGTH.
            rusqlite::ErrorCode::ConstraintViolation
                | rusqlite::ErrorCode::TypeMismatch
                | rusqlite::ErrorCode::TooBig
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::dialect::{Misuse, SqlError};

    fn mysql(code: u16) -> SinkError {
        SinkError::mysql(
            "apply batch",
            mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: "m".into(),
                state: "HY000".into(),
            }),
        )
    }

    #[test]
    fn record_faults_and_target_faults_are_told_apart() {
        // Data too long, out of range, duplicate key: the record's fault.
        for code in [1406, 1264, 1062, 1366] {
            assert!(blames_record(&mysql(code)), "{code}");
        }
        // Command denied, read-only server, disk full: the target's.
        for code in [1142, 1290, 1021] {
            assert!(!blames_record(&mysql(code)), "{code}");
        }
        assert!(blames_record(&SinkError::Sql(SqlError::Schema {
            table: "t".into(),
            reason: "incompatible".into()
        })));
        assert!(!blames_record(&SinkError::Sql(Misuse::NoRows.into())));
        let sqlite = |code| {
            SinkError::sqlite(
                "apply batch",
                rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
            )
        };
        assert!(blames_record(&sqlite(
            rusqlite::ffi::SQLITE_CONSTRAINT_NOTNULL
        )));
        assert!(!blames_record(&sqlite(rusqlite::ffi::SQLITE_READONLY)));
        assert!(!blames_record(&sqlite(rusqlite::ffi::SQLITE_FULL)));
    }

    #[test]
    fn halves_are_applied_in_order() {
        let mut todo = Vec::new();
        push_halves(&mut todo, 0, 5);
        assert_eq!(todo.pop(), Some((0, 2)));
        assert_eq!(todo.pop(), Some((2, 5)));
    }
}
