//! The sink's database connection: session setup, table introspection, DDL,
//! and the transactional apply step.
//!
//! **Delivery contract** (design §5). [`Target::apply`] runs a batch's
//! statements *and* the upsert of the consumed Kafka offsets
//! (`sluice_sink_offsets(sink, topic, kafka_partition, next_offset)`) in one
//! database transaction: either both are committed or neither is. On start the
//! sink reads [`Target::load_offsets`] and seeks there, so every record is
//! applied exactly once even across crashes; a commit whose outcome is unknown
//! (connection lost during COMMIT) is resolved the same way, by reloading the
//! offsets after reconnecting.
//!
//! **Sessions.** One connection per target (not a pool), because the escaping
//! rules of `dialect` depend on session settings that must hold for every
//! statement:
//! - MySQL/MariaDB: `sql_mode` = the server's mode minus `NO_BACKSLASH_ESCAPES`
//!   plus `STRICT_ALL_TABLES` (bad data is an error, never a silent truncation),
//!   `time_zone = '+00:00'`, `SET NAMES utf8mb4`. The URL must name a database.
//! - PostgreSQL: `TIME ZONE 'UTC'`, `standard_conforming_strings = on`.
//!
//! **Dead peers** (`statement_timeout_ms`, see [`Target::connect_bounded`]).
//! The server cancels a statement or a lock wait past the timeout:
//! PostgreSQL `statement_timeout` and `lock_timeout`; MySQL/MariaDB
//! `innodb_lock_wait_timeout` and `lock_wait_timeout` (whole seconds, at
//! least 1). A server that cannot answer at all (gone, black-holed) is
//! caught by the applier's client-side bound on the batch's transaction
//! (`sink::apply`). Connecting is bounded by
//! [`crate::liveness::CONNECT_TIMEOUT`]; connections have TCP keepalive.
//! - SQLite: an embedded file, WAL, `BEGIN IMMEDIATE` transactions, calls on
//!   blocking threads (see `target::sqlite`).
//!
//! **Errors.** Every failure is a [`SinkError`];
//! [`SinkError::is_transient`] tells the caller whether to reconnect and
//! retry or to stop. SQL text is never logged or put into errors: it holds row
//! values.
//!
//! **Introspection.** [`Target::describe_table`] maps `information_schema`
//! (SQLite: `pragma_table_info`) back to Connect types so that right after
//! `Dialect::create_table` the described schema equals `Dialect::stored_schema`
//! (the round trip is tested against real servers in
//! `tests/suite/sink_target_db.rs` and on real files in
//! `target::sqlite::tests`). Native types without a Connect counterpart
//! (geometry, arrays, …) read as optional-length strings.

use std::collections::HashMap;
use std::time::Duration;

use mysql_async::prelude::Queryable;

mod sqlite;
pub use sqlite::SqliteTarget;

mod mysql;
pub use mysql::MySqlTarget;
use mysql::{connect_mysql, MyStep};

mod postgres;
mod postgres_tls;
pub use postgres::PostgresTarget;
use postgres::{connect_postgres, PG_MAX_STATEMENT};
pub use postgres_tls::TlsSetupError;

mod claim;
use claim::{Claim, OwnedClaim};

use super::dialect::pg_binary::CopyFormats;
use super::dialect::Dialect;
pub use super::offsets::OffsetRow;
use super::plan::Statement;
use super::SinkError;
use crate::config::{DbEndpoint, DbKind};
use crate::schema::{Column, ColumnType, TableSchema};

/// Bytes of `max_allowed_packet` a statement leaves free: the command byte
/// the client sends before the statement, with room to spare.
pub const MYSQL_PACKET_HEADROOM: usize = 1024;

/// An open connection to the sink's target database.
pub enum Target {
    /// MySQL or MariaDB.
    MySql(MySqlTarget),
    /// PostgreSQL.
    Postgres(PostgresTarget),
    /// An SQLite database file.
    Sqlite(SqliteTarget),
}

impl Target {
    /// Connects to `endpoint` and sets up the session (see the module docs),
    /// with the server's own statement and lock timeouts.
    pub async fn connect(endpoint: &DbEndpoint) -> Result<Target, SinkError> {
        Self::connect_bounded(endpoint, None).await
    }

    /// Like [`Target::connect`]; with `statement_timeout`, the session's
    /// statements and lock waits are bounded by it (see the module docs).
    /// Connecting itself is bounded by [`crate::liveness::CONNECT_TIMEOUT`].
    pub async fn connect_bounded(
        endpoint: &DbEndpoint,
        statement_timeout: Option<Duration>,
    ) -> Result<Target, SinkError> {
        let connect = async {
            match endpoint.kind {
                DbKind::MySql => connect_mysql(endpoint, statement_timeout)
                    .await
                    .map(Target::MySql),
                DbKind::Postgres => connect_postgres(endpoint, statement_timeout)
                    .await
                    .map(Target::Postgres),
                DbKind::Sqlite => SqliteTarget::open(endpoint).await.map(Target::Sqlite),
            }
        };
        let limit = crate::liveness::CONNECT_TIMEOUT;
        tokio::time::timeout(limit, connect)
            .await
            .unwrap_or_else(|_| {
                Err(SinkError::TimedOut {
                    what: format!("connecting to {}", endpoint.display_url()),
                    seconds: limit.as_secs(),
                })
            })
    }

    /// The SQL dialect of this target.
    pub fn dialect(&self) -> Dialect {
        match self {
            Target::MySql(_) => Dialect::MySql,
            Target::Postgres(_) => Dialect::Postgres,
            Target::Sqlite(_) => Dialect::Sqlite,
        }
    }

    /// Largest statement the server accepts, in bytes (MySQL/MariaDB:
    /// `max_allowed_packet` less [`MYSQL_PACKET_HEADROOM`]; PostgreSQL: 1 GiB;
    /// SQLite: its default `SQLITE_MAX_SQL_LENGTH`). The planner never
    /// sends a longer one (see `sink::plan`).
    pub fn max_statement_bytes(&self) -> usize {
        match self {
            Target::MySql(t) => t.max_packet.saturating_sub(MYSQL_PACKET_HEADROOM),
            Target::Postgres(_) => PG_MAX_STATEMENT,
            Target::Sqlite(_) => sqlite::MAX_STATEMENT,
        }
    }

    /// Whether plans for this target may hold bulk steps: PostgreSQL COPY,
    /// MySQL `LOAD DATA LOCAL` (until the server refuses it); never on SQLite.
    pub fn bulk_steps(&self) -> bool {
        match self {
            Target::MySql(t) => t.load,
            Target::Postgres(_) => true,
            Target::Sqlite(_) => false,
        }
    }

    /// The current shape of `table` in the connected database/schema, or `None` when it does not exist.
    pub async fn describe_table(&mut self, table: &str) -> Result<Option<TableSchema>, SinkError> {
        let (columns, primary_key) = match self {
            Target::MySql(t) => t.describe(table).await?,
            Target::Postgres(t) => t.describe(table).await?,
            Target::Sqlite(t) => t.describe(table).await?,
        };
        if columns.is_empty() {
            return Ok(None);
        }
        Ok(Some(TableSchema {
            name: table.to_string(),
            columns,
            primary_key,
        }))
    }

    /// The binary-writable columns of described tables (PostgreSQL only).
    pub fn copy_formats(&self) -> Option<CopyFormats> {
        match self {
            Target::Postgres(t) => Some(t.formats.clone()),
            _ => None,
        }
    }

    /// Runs one DDL statement (autocommitted; MySQL DDL cannot be part of a transaction).
    pub async fn execute_ddl(&mut self, sql: &str) -> Result<(), SinkError> {
        match self {
            Target::MySql(t) => {
                (t.conn.query_drop(sql).await).map_err(|e| SinkError::mysql("run ddl", e))
            }
            Target::Postgres(t) => (t.ready().await?.batch_execute(sql).await)
                .map_err(|e| SinkError::postgres("run ddl", e)),
            Target::Sqlite(t) => t.execute_ddl(sql).await,
        }
    }

    /// Creates `sluice_sink_offsets` when missing.
    pub async fn ensure_offsets_table(&mut self) -> Result<(), SinkError> {
        let ddl = self.dialect().offsets_table_ddl();
        self.execute_ddl(&ddl).await
    }

    /// The stored next offsets of sink `sink`, by (topic, partition).
    pub async fn load_offsets(
        &mut self,
        sink: &str,
    ) -> Result<HashMap<(String, i32), i64>, SinkError> {
        const WHAT: &str = "load offsets";
        let sql = self.dialect().offsets_select(sink)?;
        let rows: Vec<(String, i32, i64)> = match self {
            Target::MySql(t) => (t.conn.query(sql).await).map_err(|e| SinkError::mysql(WHAT, e))?,
            Target::Postgres(t) => (t.ready().await?.query(&sql, &[]).await)
                .map_err(|e| SinkError::postgres(WHAT, e))?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .collect::<Result<_, tokio_postgres::Error>>()
                .map_err(|e| SinkError::postgres(WHAT, e))?,
            Target::Sqlite(t) => return t.query_offsets(sql).await,
        };
        Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
    }

    /// Runs `statements` and upserts `offsets` in one transaction; on any error
    /// the transaction is rolled back and nothing of the batch remains.
    pub async fn apply(
        &mut self,
        statements: &[String],
        offsets: &[OffsetRow],
    ) -> Result<(), SinkError> {
        let offsets_sql = if offsets.is_empty() {
            None
        } else {
            Some(self.dialect().offsets_upsert(offsets)?)
        };
        let all = statements
            .iter()
            .map(String::as_str)
            .chain(offsets_sql.as_deref());
        match self {
            Target::MySql(t) => t.apply(all.map(MyStep::Sql), None).await,
            Target::Postgres(t) => t.apply(all).await,
            Target::Sqlite(t) => t.apply(all.map(str::to_string).collect(), None).await,
        }
    }

    /// Like [`Target::apply`] for planned steps: SQL statements and (PostgreSQL
    /// only) COPY runs, with the offsets upsert, in one transaction — and a
    /// compare-and-set of the offsets: `first` holds the batch's first offset
    /// per partition; the transaction first locks those partitions' rows of
    /// `sluice_sink_offsets` (see `Dialect::offsets_lock`) and, when a stored
    /// next offset is past the batch's first offset (another member of the
    /// group applied it meanwhile), rolls back and returns
    /// [`SinkError::OffsetsMoved`] without writing anything.
    pub async fn apply_steps(
        &mut self,
        steps: &[Statement],
        offsets: &[OffsetRow],
        first: &[OffsetRow],
    ) -> Result<(), SinkError> {
        let lock = if first.is_empty() {
            Vec::new()
        } else {
            self.dialect().offsets_lock(first)?
        };
        let claim = Claim { lock: &lock, first };
        let offsets_sql = if offsets.is_empty() {
            None
        } else {
            Some(self.dialect().offsets_upsert(offsets)?)
        };
        match self {
            Target::Postgres(t) => t.apply_steps(steps, offsets_sql, claim).await,
            Target::MySql(t) => {
                let mut my = Vec::with_capacity(steps.len() + 1);
                for s in steps {
                    my.push(match s {
                        Statement::Sql(s) => MyStep::Sql(s),
                        Statement::Load { sql, data, rows } => MyStep::Load {
                            sql,
                            data,
                            rows: *rows,
                        },
                        Statement::Copy { .. } => {
                            return Err(SinkError::StepNotForTarget {
                                step: "COPY",
                                target: "MySQL",
                            })
                        }
                    });
                }
                my.extend(offsets_sql.as_deref().map(MyStep::Sql));
                t.apply(my.into_iter(), Some(claim)).await
            }
            Target::Sqlite(t) => {
                let mut sql = Vec::with_capacity(steps.len() + 1);
                for s in steps {
                    match s {
                        Statement::Sql(s) => sql.push(s.clone()),
                        Statement::Copy { .. } | Statement::Load { .. } => {
                            return Err(SinkError::StepNotForTarget {
                                step: "bulk",
                                target: "SQLite",
                            })
                        }
                    }
                }
                sql.extend(offsets_sql);
                t.apply(sql, Some(claim.owned())).await
            }
        }
    }

    /// The MySQL/MariaDB session itself, for tests that check its settings
    /// (`None` for other targets). Not for applying anything: statements run
    /// here bypass the offsets the sink keeps with every write.
    #[doc(hidden)]
    pub fn mysql_session(&mut self) -> Option<&mut mysql_async::Conn> {
        match self {
            Target::MySql(t) => Some(&mut t.conn),
            Target::Postgres(_) | Target::Sqlite(_) => None,
        }
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        match self {
            Target::MySql(t) => {
                if let Err(e) = t.conn.disconnect().await {
                    tracing::debug!(error = %SinkError::mysql("disconnect", e), "closing mysql target");
                }
            }
            Target::Postgres(t) => {
                drop(t.client);
                let _ = t.connection.await;
            }
            Target::Sqlite(t) => t.close().await,
        }
    }
}

/// A described column; unmapped native types read as optional-length strings.
pub(super) fn described_column(
    name: String,
    ty: Option<ColumnType>,
    optional: bool,
    native: &str,
) -> Column {
    let ty = ty.unwrap_or_else(|| {
        tracing::debug!(column = %name, native_type = %native, "no Connect type for target column");
        ColumnType::String { max_len: None }
    });
    Column::new(name, ty, optional)
}
