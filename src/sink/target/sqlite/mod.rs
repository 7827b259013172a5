//! The SQLite target: an embedded database file, driven from blocking threads.
//!
//! `url = "sqlite:///var/lib/sluice/x.db"` (or `jdbc:sqlite:/var/lib/sluice/x.db`;
//! `sqlite://x.db` is relative to the working directory). The path is a plain
//! file path, not a URI; the file is created when missing, its directory is not
//! (a missing directory is an error naming it). Opening the file is what
//! `sluice check` checks.
//!
//! **Connection.** rusqlite is blocking, so every call runs on
//! `tokio::task::spawn_blocking` with the one `Connection` behind an
//! `Arc<Mutex<…>>`; the lock is taken and released inside the blocking closure,
//! never held across an `.await`. Session setup: `journal_mode = WAL` (readers
//! never block the sink's writes and vice versa), `synchronous = FULL` (a
//! committed batch and its offsets survive power loss), `busy_timeout` 5 s
//! (another writer makes us wait, then fail transiently with SQLITE_BUSY), and
//! the double-quoted-string misfeature off (`DQS_DML`/`DQS_DDL`), so a quoted
//! name that is not a column is an error, never silently a string literal.
//!
//! **Transactions.** [`SqliteTarget::apply`] runs `BEGIN IMMEDIATE`, the
//! batch's statements and the offsets upsert, then `COMMIT`; any error rolls
//! all of it back. IMMEDIATE takes the write lock up front, so a competing
//! writer is met at BEGIN (SQLITE_BUSY, transient), not half way through.
//! DDL is transactional in SQLite too, but runs autocommitted like the other
//! targets' DDL.
//!
//! **Introspection** reads `pragma_table_info(?)` (declared type, NOT NULL,
//! position in the primary key) and maps declared types back with
//! `dialect::sqlite_type_from_declared`. SQLite resolves table and column names
//! case-insensitively (ASCII), and so does `describe_table` here.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::{described_column, OwnedClaim};
use crate::config::DbEndpoint;
use crate::schema::Column;
use crate::sink::dialect::sqlite_type_from_declared;
use crate::sink::SinkError;

/// How long a statement waits for another connection's lock before SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's default `SQLITE_MAX_SQL_LENGTH`, the longest statement it accepts.
pub(crate) const MAX_STATEMENT: usize = 1_000_000_000;

/// An open SQLite database set up for the sink (see the module docs).
pub struct SqliteTarget {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteTarget {
    /// Opens (creating when missing) the database file of `endpoint`.
    pub(crate) async fn open(endpoint: &DbEndpoint) -> Result<SqliteTarget, SinkError> {
        let path = sqlite_path(&endpoint.url).to_string();
        let conn = tokio::task::spawn_blocking(move || open_blocking(&path))
            .await
            .map_err(worker_failed)??;
        Ok(SqliteTarget {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn run<T, F>(&self, f: F) -> Result<T, SinkError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, SinkError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic mid-call left no open transaction (rusqlite rolls back on drop).
            let mut guard = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut guard)
        })
        .await
        .map_err(worker_failed)?
    }

    /// Columns and primary key of `table`; no columns when it does not exist.
    pub(crate) async fn describe(
        &self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<String>), SinkError> {
        let table = table.to_string();
        self.run(move |conn| {
            let fail = |e| SinkError::sqlite("describe table", e);
            let mut stmt = conn
                .prepare(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1) ORDER BY cid",
                )
                .map_err(fail)?;
            let rows = stmt
                .query_map([&table], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, bool>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(fail)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(fail)?;
            let mut key: Vec<(i64, String)> = rows
                .iter()
                .filter(|r| r.3 > 0)
                .map(|r| (r.3, r.0.clone()))
                .collect();
            key.sort();
            let columns = rows
                .into_iter()
                .map(|(name, declared, not_null, _)| {
                    let ty = sqlite_type_from_declared(&declared);
                    described_column(name, ty, !not_null, &declared)
                })
                .collect();
            Ok((columns, key.into_iter().map(|(_, n)| n).collect()))
        })
        .await
    }

    /// Runs one DDL statement, autocommitted.
    pub(crate) async fn execute_ddl(&self, sql: &str) -> Result<(), SinkError> {
        let sql = sql.to_string();
        self.run(move |conn| {
            conn.execute_batch(&sql)
                .map_err(|e| SinkError::sqlite("run ddl", e))
        })
        .await
    }

    /// Rows of an offsets `SELECT topic, kafka_partition, next_offset`.
    pub(crate) async fn query_offsets(
        &self,
        sql: String,
    ) -> Result<HashMap<(String, i32), i64>, SinkError> {
        self.run(move |conn| {
            let fail = |e| SinkError::sqlite("load offsets", e);
            let mut stmt = conn.prepare(&sql).map_err(fail)?;
            let rows = stmt
                .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
                .map_err(fail)?
                .collect::<Result<HashMap<_, _>, _>>()
                .map_err(fail)?;
            Ok(rows)
        })
        .await
    }

    /// Runs `statements` in one `BEGIN IMMEDIATE … COMMIT`; rolls back on any
    /// error. With a `claim`, its offsets check runs first, under the write
    /// lock that `BEGIN IMMEDIATE` took.
    pub(crate) async fn apply(
        &self,
        statements: Vec<String>,
        claim: Option<OwnedClaim>,
    ) -> Result<(), SinkError> {
        self.run(move |conn| {
            const WHAT: &str = "apply batch";
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(|e| SinkError::sqlite(WHAT, e))?;
            if let Some(claim) = claim.filter(|c| !c.lock.is_empty()) {
                let mut stored = Vec::new();
                for sql in &claim.lock {
                    let fail = |e| SinkError::sqlite("lock offsets", e);
                    let mut stmt = tx.prepare(sql).map_err(fail)?;
                    stored = stmt
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(fail)?
                        .collect::<Result<Vec<(String, i32, i64)>, _>>()
                        .map_err(fail)?;
                }
                // Dropping `tx` on the error path rolls back.
                claim.check(&stored)?;
            }
            for sql in &statements {
                if let Err(e) = tx.execute_batch(sql) {
                    if let Err(rb) = tx.rollback() {
                        tracing::warn!(error = %SinkError::sqlite("rollback", rb), "rollback failed");
                    }
                    return Err(SinkError::sqlite(WHAT, e));
                }
            }
            tx.commit()
                .map_err(|e| SinkError::sqlite("commit batch", e))
        })
        .await
    }

    /// Closes the connection (a WAL checkpoint may run) on a blocking thread.
    pub(crate) async fn close(self) {
        let conn = self.conn;
        let _ = tokio::task::spawn_blocking(move || drop(conn)).await;
    }
}

/// The file path of a `sqlite://<path>` URL (`DbEndpoint` normalises the `jdbc:sqlite:` form).
fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://").unwrap_or(url)
}

fn open_blocking(path: &str) -> Result<Connection, SinkError> {
    let fail = |e| SinkError::sqlite_open(path, e);
    if path.is_empty() {
        return Err(SinkError::NoDatabase {
            url: format!("sqlite://{path}"),
        });
    }
    if path != ":memory:" {
        let dir = match Path::new(path).parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if !dir.is_dir() {
            return Err(SinkError::SqliteDirMissing {
                url: format!("sqlite://{path}"),
                dir: dir.display().to_string(),
            });
        }
    }
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(fail)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(fail)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false)
        .map_err(fail)?;
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false)
        .map_err(fail)?;
    // The first read of the file: a file that is not a database fails here.
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(fail)?;
    if !mode.eq_ignore_ascii_case("wal") && path != ":memory:" {
        return Err(SinkError::SqliteNoWal {
            url: format!("sqlite://{path}"),
            mode,
        });
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(fail)?;
    Ok(conn)
}

/// The blocking task ended without a result: re-raise its panic, or report runtime shutdown.
fn worker_failed(e: tokio::task::JoinError) -> SinkError {
    if e.is_panic() {
        std::panic::resume_unwind(e.into_panic());
    }
    SinkError::TaskLost {
        task: "SQLite worker",
        source: e,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod edge_tests;
