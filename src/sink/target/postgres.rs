//! The PostgreSQL target: a session set up for the sink (UTC,
//! `standard_conforming_strings`), introspection through
//! `information_schema`, and the apply transaction (COPY in text or binary
//! format, the offsets claim in the transaction's first round trip).

use futures::SinkExt;

use super::claim::{stored_offset_row, Claim};
use super::postgres_tls;
use super::{described_column, SinkError};
use crate::config::DbEndpoint;
use crate::schema::Column;
use crate::sink::dialect::pg_binary::{BinaryKind, CopyFormats, TableKinds};
use crate::sink::plan::Statement;

/// A PostgreSQL session set up for the sink (its connection task runs in the background).
pub struct PostgresTarget {
    pub(super) client: tokio_postgres::Client,
    pub(super) connection: tokio::task::JoinHandle<()>,
    /// A transaction of [`PostgresTarget::apply_steps`] was begun and not yet
    /// committed or rolled back: set while one runs, so an apply abandoned
    /// midway (its future dropped) is rolled back before the next begins.
    open: bool,
    /// The binary-writable columns of the tables described so far.
    pub(super) formats: CopyFormats,
}

/// PostgreSQL's limit on one query string (1 GiB - 1).
pub(super) const PG_MAX_STATEMENT: usize = (1 << 30) - 1;

/// Runs a PostgreSQL connection in the background until it ends.
fn spawn_connection<S, T>(
    connection: tokio_postgres::Connection<S, T>,
) -> tokio::task::JoinHandle<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %SinkError::postgres("connection", e), "postgres target connection ended");
        }
    })
}

pub(super) async fn connect_postgres(
    ep: &DbEndpoint,
    statement_timeout: Option<std::time::Duration>,
) -> Result<PostgresTarget, SinkError> {
    let fail = |e| SinkError::postgres_connect(ep.display_url(), e);
    let mut config: tokio_postgres::Config = ep.url.parse().map_err(fail)?;
    if let Some(user) = &ep.user {
        config.user(user);
    }
    if let Some(password) = &ep.password {
        config.password(password.expose());
    }
    // A vanished server is noticed: probes after a minute of silence, dead
    // after ~2 minutes without an answer.
    config
        .connect_timeout(crate::liveness::CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(crate::liveness::TCP_KEEPALIVE)
        .keepalives_interval(std::time::Duration::from_secs(10))
        .keepalives_retries(6);
    let connection = if ep.tls.mode == crate::config::SslMode::Disabled {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(fail)?;
        (client, spawn_connection(connection))
    } else {
        config.ssl_mode(postgres_tls::pg_ssl_mode(ep.tls.mode));
        let tls = postgres_tls::connector(&ep.tls).map_err(|source| SinkError::PostgresTls {
            url: ep.display_url(),
            source,
        })?;
        let (client, connection) = config.connect(tls).await.map_err(fail)?;
        (client, spawn_connection(connection))
    };
    let (client, connection) = connection;
    let mut session = String::from("SET TIME ZONE 'UTC'; SET standard_conforming_strings = on");
    if let Some(t) = statement_timeout {
        let ms = t.as_millis().max(1);
        session.push_str(&format!(
            "; SET statement_timeout = {ms}; SET lock_timeout = {ms}"
        ));
    }
    client.batch_execute(&session).await.map_err(fail)?;
    Ok(PostgresTarget {
        client,
        connection,
        open: false,
        formats: CopyFormats::default(),
    })
}

impl PostgresTarget {
    /// The client, outside any transaction: one an abandoned apply left open
    /// is rolled back first.
    pub(super) async fn ready(&mut self) -> Result<&tokio_postgres::Client, SinkError> {
        if self.open {
            (self.client.batch_execute("ROLLBACK").await)
                .map_err(|e| SinkError::postgres("rollback", e))?;
            self.open = false;
        }
        Ok(&self.client)
    }

    pub(super) async fn describe(
        &mut self,
        table: &str,
    ) -> Result<(Vec<Column>, Vec<String>), SinkError> {
        let fail = |e| SinkError::postgres("describe table", e);
        let rows = self
            .ready()
            .await?
            .query(
                "SELECT column_name::text, data_type::text, character_maximum_length::int4, \
                 numeric_precision::int4, numeric_scale::int4, datetime_precision::int4, \
                 is_nullable = 'YES', domain_name IS NOT NULL FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
                &[&table],
            )
            .await
            .map_err(fail)?;
        let mut columns = Vec::with_capacity(rows.len());
        let mut kinds = TableKinds::new();
        for r in &rows {
            let name: String = r.try_get(0).map_err(fail)?;
            let data_type: String = r.try_get(1).map_err(fail)?;
            // (A domain column reports its base type here, but the types check
            // would see the domain: such columns go as text.)
            let domain: bool = r.try_get(7).map_err(fail)?;
            if let Some(kind) = BinaryKind::of(&data_type).filter(|_| !domain) {
                kinds.insert(name.clone(), (kind, data_type.clone()));
            }
            let ty = crate::sink::dialect::postgres_type_from_information_schema(
                &data_type,
                r.try_get(2).map_err(fail)?,
                r.try_get(3).map_err(fail)?,
                r.try_get(4).map_err(fail)?,
                r.try_get(5).map_err(fail)?,
            );
            columns.push(described_column(
                name,
                ty,
                r.try_get(6).map_err(fail)?,
                &data_type,
            ));
        }
        let primary_key = self
            .client
            .query(
                "SELECT a.attname::text FROM pg_index i \
                 JOIN pg_class c ON c.oid = i.indrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
                 WHERE i.indisprimary AND n.nspname = current_schema() AND c.relname = $1 \
                 ORDER BY array_position(i.indkey::int2[], a.attnum)",
                &[&table],
            )
            .await
            .map_err(fail)?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<Vec<String>, _>>()
            .map_err(fail)?;
        self.formats.set(table, kinds);
        Ok((columns, primary_key))
    }

    pub(super) async fn apply<'a>(
        &mut self,
        statements: impl Iterator<Item = &'a str>,
    ) -> Result<(), SinkError> {
        const WHAT: &str = "apply batch";
        // One simple-protocol round trip for the whole batch.
        let batch = statements.collect::<Vec<_>>().join(";\n");
        self.ready().await?;
        let tx = (self.client.transaction().await).map_err(|e| SinkError::postgres(WHAT, e))?;
        match tx.batch_execute(&batch).await {
            Ok(()) => tx
                .commit()
                .await
                .map_err(|e| SinkError::postgres("commit batch", e)),
            Err(e) => {
                if let Err(rb) = tx.rollback().await {
                    tracing::warn!(error = %SinkError::postgres("rollback", rb), "rollback failed");
                }
                Err(SinkError::postgres(WHAT, e))
            }
        }
    }
}

impl PostgresTarget {
    /// Runs `steps` and then `offsets_sql` in one transaction; consecutive SQL
    /// steps go in one simple-protocol round trip, COPY steps stream their rows.
    pub(super) async fn apply_steps(
        &mut self,
        steps: &[Statement],
        offsets_sql: Option<String>,
        claim: Claim<'_>,
    ) -> Result<(), SinkError> {
        const WHAT: &str = "apply batch";
        if steps.iter().any(|s| matches!(s, Statement::Load { .. })) {
            return Err(SinkError::StepNotForTarget {
                step: "LOAD DATA",
                target: "PostgreSQL",
            });
        }
        // One round trip opens the transaction, locks the offsets rows (only
        // the lock's last statement returns rows: the stored offsets, read
        // before anything else changes them) and writes the new offsets,
        // which the check below rolls back if refused.
        // READ COMMITTED whatever the server's default: the types check after a
        // binary COPY must see the catalog as the COPY did, not a snapshot
        // taken at the transaction's first statement.
        const BEGIN: &str = "BEGIN ISOLATION LEVEL READ COMMITTED";
        let mut head = if self.open {
            format!("ROLLBACK;\n{BEGIN}")
        } else {
            BEGIN.to_string()
        };
        let mut offsets_sql = offsets_sql;
        if !claim.lock.is_empty() {
            for lock in claim.lock {
                head.push_str(";\n");
                head.push_str(lock);
            }
            if let Some(upsert) = offsets_sql.take() {
                head.push_str(";\n");
                head.push_str(&upsert);
            }
        }
        self.open = true;
        let client = &self.client;
        let result = async {
            let msgs = (client.simple_query(&head).await)
                .map_err(|e| SinkError::postgres("lock offsets", e))?;
            if !claim.lock.is_empty() {
                let mut stored = Vec::new();
                for m in msgs {
                    if let tokio_postgres::SimpleQueryMessage::Row(r) = m {
                        stored.push(stored_offset_row(r.get(0), r.get(1), r.get(2))?);
                    }
                }
                claim.check(&stored)?;
            }
            let mut pending: Vec<&str> = Vec::new();
            let run = async {
                for step in steps {
                    match step {
                        Statement::Sql(sql) => pending.push(sql),
                        Statement::Copy { sql, data, binary } => {
                            if !pending.is_empty() {
                                client.batch_execute(&pending.join(";\n")).await?;
                                pending.clear();
                            }
                            let sink = client.copy_in::<_, bytes::Bytes>(sql.as_str()).await?;
                            futures::pin_mut!(sink);
                            sink.send(data.clone()).await?;
                            sink.finish().await?;
                            // Run before the commit, under the COPY's table lock.
                            pending.extend(binary.as_ref().map(|b| b.check.as_str()));
                        }
                        // Refused before the transaction began.
                        Statement::Load { .. } => {}
                    }
                }
                pending.extend(offsets_sql.as_deref());
                pending.push("COMMIT");
                client.batch_execute(&pending.join(";\n")).await
            };
            run.await.map_err(|e| SinkError::postgres(WHAT, e))
        }
        .await;
        if result.is_err() {
            if let Err(rb) = self.client.batch_execute("ROLLBACK").await {
                tracing::warn!(error = %SinkError::postgres("rollback", rb), "rollback failed");
                return result; // still open: the next statement rolls it back first
            }
        }
        self.open = false;
        result
    }
}
