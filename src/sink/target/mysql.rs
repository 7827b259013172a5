//! The MySQL/MariaDB side of [`super::Target`]: session setup, table
//! introspection, and the apply transaction, whose `LOAD DATA LOCAL` steps
//! are served from memory by the connection's LOCAL INFILE handler and
//! checked (see [`MyStep`]).

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::StreamExt;
use mysql_async::prelude::Queryable;

use super::claim::Claim;
use super::{described_column, SinkError};
use crate::config::DbEndpoint;
use crate::event::Value;
use crate::schema::{Column, ColumnType};
use crate::sink::dialect::{Dialect, Misuse, SqlError};

/// A MySQL/MariaDB session set up for the sink.
pub struct MySqlTarget {
    pub(super) conn: mysql_async::Conn,
    pub(super) max_packet: usize,
    /// The data of the `LOAD DATA LOCAL` step being run, served to the server
    /// by the connection's LOCAL INFILE handler (which serves nothing else).
    pub(super) infile: Arc<Mutex<Option<Bytes>>>,
    /// Whether insert runs go through `LOAD DATA LOCAL` (false once the server refused it).
    pub(super) load: bool,
}

/// One step of a MySQL apply transaction.
pub(super) enum MyStep<'a> {
    Sql(&'a str),
    Load {
        sql: &'a str,
        data: &'a str,
        rows: u64,
    },
}

/// Server errors that mean "LOAD DATA LOCAL is not allowed here": MariaDB's
/// and MySQL's "command not allowed" (1148) and MySQL 8+'s "loading local data
/// is disabled" (3948) and "local infile disabled on the client" (3950).
fn local_infile_refused(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if matches!(s.code, 1148 | 3948 | 3950))
}

/// The connection's LOCAL INFILE handler: hands out the data put in `slot`
/// for [`crate::sink::plan::LOAD_FILE`] (once), in 1 MiB chunks; any other name the
/// server asks for is refused, so no local file is ever read.
fn infile_handler(
    slot: Arc<Mutex<Option<Bytes>>>,
) -> impl for<'a> Fn(
    &'a [u8],
) -> futures::future::BoxFuture<
    'static,
    Result<mysql_async::InfileData, mysql_async::LocalInfileError>,
> + Send
       + Sync
       + 'static {
    move |name: &[u8]| {
        let data = if name == crate::sink::plan::LOAD_FILE.as_bytes() {
            slot.lock().ok().and_then(|mut s| s.take())
        } else {
            None
        };
        Box::pin(async move {
            let data = data.ok_or_else(|| {
                mysql_async::LocalInfileError::other(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the sink serves only its own batch data to LOAD DATA LOCAL",
                ))
            })?;
            const CHUNK: usize = 1 << 20;
            let chunks: Vec<std::io::Result<Bytes>> = (0..data.len())
                .step_by(CHUNK)
                .map(|at| Ok(data.slice(at..data.len().min(at + CHUNK))))
                .collect();
            Ok(futures::stream::iter(chunks).boxed())
        })
    }
}

pub(super) async fn connect_mysql(
    ep: &DbEndpoint,
    statement_timeout: Option<std::time::Duration>,
) -> Result<MySqlTarget, SinkError> {
    let fail = |e| SinkError::mysql_connect(ep.display_url(), e);
    // Credentials, TLS (`ssl_mode`), never a local socket instead of the URL's host.
    let infile = Arc::new(Mutex::new(None));
    let handler = infile_handler(Arc::clone(&infile));
    let mut conn = crate::mysql::connect_with(ep, |b| b.local_infile_handler(Some(handler)))
        .await
        .map_err(fail)?;
    let (mode, database, max_packet): (String, Option<String>, u64) = conn
        .query_first("SELECT @@SESSION.sql_mode, DATABASE(), @@max_allowed_packet")
        .await
        .map_err(fail)?
        .unwrap_or_default();
    if database.is_none() {
        return Err(SinkError::NoDatabase {
            url: ep.display_url(),
        });
    }
    let mut set_mode = String::from("SET SESSION sql_mode = ");
    Dialect::MySql
        .write_literal(
            &mut set_mode,
            &Value::String(session_sql_mode(&mode)),
            &ColumnType::String { max_len: None },
        )
        .map_err(|e| SqlError::Value {
            column: "sql_mode".into(),
            reason: e.0,
        })?;
    // The sink's sql_mode, then the session every Sluice connection has (UTC, utf8mb4).
    for sql in [set_mode.as_str()]
        .into_iter()
        .chain(crate::mysql::SESSION_INIT)
    {
        conn.query_drop(sql).await.map_err(fail)?;
    }
    if let Some(t) = statement_timeout {
        // Whole seconds (at least 1): row locks, and metadata locks (DDL, LOCK TABLES).
        let s = t.as_millis().div_ceil(1000).max(1);
        let sql = format!("SET SESSION innodb_lock_wait_timeout = {s}, lock_wait_timeout = {s}");
        conn.query_drop(sql).await.map_err(fail)?;
    }
    Ok(MySqlTarget {
        conn,
        max_packet: usize::try_from(max_packet).unwrap_or(usize::MAX),
        infile,
        load: true,
    })
}

/// The server's `sql_mode` without `NO_BACKSLASH_ESCAPES`, with `STRICT_ALL_TABLES`.
fn session_sql_mode(current: &str) -> String {
    let mut modes: Vec<&str> = current
        .split(',')
        .filter(|m| !m.is_empty() && *m != "NO_BACKSLASH_ESCAPES")
        .collect();
    if !modes.contains(&"STRICT_ALL_TABLES") {
        modes.push("STRICT_ALL_TABLES");
    }
    modes.join(",")
}

impl MySqlTarget {
    pub(super) async fn describe(
        &mut self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<String>), SinkError> {
        const WHAT: &str = "describe table";
        type Row = (
            String,
            String,
            String,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            Option<u64>,
            String,
        );
        let rows: Vec<Row> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH, \
                 NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, IS_NULLABLE \
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
                 AND CAST(TABLE_NAME AS BINARY) = CAST(? AS BINARY) ORDER BY ORDINAL_POSITION",
                (table,),
            )
            .await
            .map_err(|e| SinkError::mysql(WHAT, e))?;
        let columns = rows
            .into_iter()
            .map(
                |(name, data_type, column_type, len, precision, scale, dt_precision, nullable)| {
                    let ty = crate::sink::dialect::mysql_type_from_information_schema(
                        &data_type,
                        &column_type,
                        len,
                        precision,
                        scale,
                        dt_precision,
                    );
                    described_column(name, ty, nullable == "YES", &column_type)
                },
            )
            .collect();
        let primary_key: Vec<String> = self
            .conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
                 AND CAST(TABLE_NAME AS BINARY) = CAST(? AS BINARY) AND INDEX_NAME = 'PRIMARY' \
                 ORDER BY SEQ_IN_INDEX",
                (table,),
            )
            .await
            .map_err(|e| SinkError::mysql(WHAT, e))?;
        Ok((columns, primary_key))
    }

    pub(super) async fn apply<'a>(
        &mut self,
        statements: impl Iterator<Item = MyStep<'a>>,
        claim: Option<Claim<'_>>,
    ) -> Result<(), SinkError> {
        const WHAT: &str = "apply batch";
        let mut tx = (self
            .conn
            .start_transaction(mysql_async::TxOpts::default())
            .await)
            .map_err(|e| SinkError::mysql(WHAT, e))?;
        if let Some(claim) = claim.filter(|c| !c.lock.is_empty()) {
            let checked = async {
                let (select, inserts) = claim
                    .lock
                    .split_last()
                    .ok_or(SqlError::Misuse(Misuse::NoOffsetsLock))?;
                for sql in inserts {
                    (tx.query_drop(sql).await).map_err(|e| SinkError::mysql("lock offsets", e))?;
                }
                let stored: Vec<(String, i32, i64)> =
                    (tx.query(select).await).map_err(|e| SinkError::mysql("lock offsets", e))?;
                claim.check(&stored)
            }
            .await;
            if let Err(e) = checked {
                if let Err(rb) = tx.rollback().await {
                    tracing::warn!(error = %SinkError::mysql("rollback", rb), "rollback failed");
                }
                return Err(e);
            }
        }
        let mut failed = None;
        for step in statements {
            let (sql, rows) = match step {
                MyStep::Sql(sql) => (sql, None),
                MyStep::Load { sql, data, rows } => {
                    if let Ok(mut slot) = self.infile.lock() {
                        *slot = Some(Bytes::copy_from_slice(data.as_bytes()));
                    }
                    (sql, Some(rows))
                }
            };
            let result = tx.query_drop(sql).await;
            let Some(rows) = rows else {
                if let Err(e) = result {
                    failed = Some(SinkError::mysql(WHAT, e));
                    break;
                }
                continue;
            };
            // A LOAD DATA step: the data must be gone and every row loaded cleanly.
            if let Ok(mut slot) = self.infile.lock() {
                slot.take();
            }
            let refused = match result {
                Ok(()) if tx.get_warnings() == 0 && tx.affected_rows() == rows => continue,
                Ok(()) => format!(
                    "{} of {rows} rows loaded with {} warnings",
                    tx.affected_rows(),
                    tx.get_warnings()
                ),
                Err(e) if local_infile_refused(&e) => {
                    self.load = false;
                    let e = SinkError::mysql("load data", e);
                    tracing::info!(error = %e, "the server refuses LOAD DATA LOCAL; inserting with INSERT statements from now on");
                    e.to_string()
                }
                Err(e) => {
                    let e = SinkError::mysql("load data", e);
                    if e.is_transient() {
                        failed = Some(e);
                        break;
                    }
                    e.to_string()
                }
            };
            failed = Some(SinkError::LoadRefused(refused));
            break;
        }
        match failed {
            None => tx
                .commit()
                .await
                .map_err(|e| SinkError::mysql("commit batch", e)),
            Some(e) => {
                if let Err(rb) = tx.rollback().await {
                    tracing::warn!(error = %SinkError::mysql("rollback", rb), "rollback failed");
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_mode_drops_backslash_escapes_and_adds_strict() {
        assert_eq!(
            session_sql_mode("NO_BACKSLASH_ESCAPES,ANSI_QUOTES"),
            "ANSI_QUOTES,STRICT_ALL_TABLES"
        );
        assert_eq!(session_sql_mode(""), "STRICT_ALL_TABLES");
        assert_eq!(session_sql_mode("STRICT_ALL_TABLES"), "STRICT_ALL_TABLES");
    }
}
