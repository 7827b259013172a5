//! The one-cut snapshot (`snapshot_locking = "minimal"`; the default is the
//! chunked one, [`super::chunks`]): every captured row as a `read` event,
//! joined to the binlog at exactly the position the snapshot saw.
//!
//! MariaDB (lock-free): `START TRANSACTION WITH CONSISTENT SNAPSHOT`, then the
//! status variables `binlog_snapshot_file`/`binlog_snapshot_position` give the
//! binlog position that transaction's read view corresponds to, and
//! `BINLOG_GTID_POS()` the GTID state there. MySQL: a brief
//! `FLUSH TABLES WITH READ LOCK` around starting the transaction and reading
//! `SHOW BINARY LOG STATUS` (commits wait for that moment only; the lock time
//! is logged). Either way every row the snapshot reads reflects exactly the
//! transactions before the returned position, and streaming from it publishes
//! exactly the ones after: nothing is missed or doubled at the seam.
//!
//! Tables with a primary key are read in key order, `snapshot_fetch_rows` at a
//! time (`WHERE (pk) > (last) ORDER BY pk LIMIT n`); tables without one are
//! streamed and cut into chunks. Memory stays bounded by a few chunks.
//!
//! The whole snapshot is ONE Kafka transaction (chunks are delivered as they
//! are read, and the position is committed with the last one). An interrupted
//! snapshot is therefore aborted as a whole — the next start's
//! `init_transactions` aborts it — and starts again from scratch without a
//! `read_committed` consumer ever seeing a partial snapshot (a restarted
//! partial snapshot would otherwise leave rows deleted in between as stale
//! reads). The cost: the snapshot must finish within the producer's
//! `transaction.timeout.ms` (15 min for binlog sources; raise the broker's
//! `transaction.max.timeout.ms` and the source's `kafka.properties` for more).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row as MyRow, Value as MyValue};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::capture::Capture;
use super::offset::BinlogOffset;
use super::server::{binlog_status, Flavor, ServerInfo};
use crate::config::DbZone;
use crate::event::{ChangeEvent, Op, TableId};
use crate::metrics::METRICS;
use crate::mysql::quote;
use crate::position::{BinlogCoord, BinlogPosition, Position};
use crate::schema::{ColumnType, Semantic, TableSchema};
use crate::source::emit::Emitter;
use crate::source::mysql_types::{semantic_from_column_type, value_from_mysql};
use crate::source::poll::build_schema;
use crate::source::publish::Batch;
use crate::source::SourceError;

/// Snapshot settings.
pub struct SnapshotJob<'a> {
    /// Pipeline name.
    pub pipeline: &'a str,
    /// Which tables.
    pub capture: &'a Capture,
    /// Rows per chunk.
    pub chunk_rows: usize,
    /// Encoded bytes per delivery of the snapshot's one Kafka transaction.
    pub max_batch_bytes: usize,
    /// Read rows (false: `schema_only`, position only).
    pub with_data: bool,
    /// db_timezone: the zone DATETIME values are read in.
    pub zone: DbZone,
}

/// Opens the consistent snapshot and returns the binlog position and GTID state it sees.
async fn begin(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<(BinlogPosition, String), SourceError> {
    conn.query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .await?;
    match info.flavor {
        Flavor::MariaDb => {
            conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                .await?;
            let rows: Vec<(String, String)> =
                conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'").await?;
            let get = |k: &str| {
                rows.iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(k))
                    .map(|(_, v)| v.clone())
            };
            let (Some(file), Some(pos)) =
                (get("binlog_snapshot_file"), get("binlog_snapshot_position"))
            else {
                return Err(SourceError::NoBinlog {
                    what: "binlog_snapshot_file/position",
                });
            };
            let pos: u64 = pos.parse().map_err(|source| SourceError::ServerStatus {
                name: "binlog_snapshot_position",
                value: pos.clone(),
                source,
            })?;
            let gtids: Option<String> = conn
                .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (&file, pos))
                .await?
                .flatten();
            Ok((BinlogPosition::new(file, pos), gtids.unwrap_or_default()))
        }
        Flavor::MySql => {
            let locked = Instant::now();
            conn.query_drop("FLUSH TABLES WITH READ LOCK").await?;
            let started = async {
                conn.query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await?;
                binlog_status(conn, info).await
            }
            .await;
            conn.query_drop("UNLOCK TABLES").await?;
            tracing::info!(
                lock_ms = locked.elapsed().as_secs_f64() * 1000.0,
                "snapshot: global read lock released"
            );
            Ok(started?)
        }
    }
}

/// Runs the snapshot, sending chunks to `tx`. Returns the position to stream
/// from, or `None` when cancelled.
pub async fn run(
    conn: &mut Conn,
    info: &ServerInfo,
    job: &SnapshotJob<'_>,
    emitter: &mut Emitter,
    tx: &mpsc::Sender<Batch<BinlogOffset>>,
    cancel: &CancellationToken,
) -> Result<Option<BinlogOffset>, SourceError> {
    let (at, gtids) = begin(conn, info).await?;
    tracing::info!(pipeline = %job.pipeline, position = %at, gtids = %gtids, with_data = job.with_data, "snapshot started");
    let running = METRICS
        .source_snapshot_running
        .with_label_values(&[job.pipeline]);
    running.set(1);
    let done = METRICS
        .source_snapshot_tables_completed
        .with_label_values(&[job.pipeline]);
    done.set(0);
    let result = async {
        if job.with_data {
            for table in job.capture.list_tables(conn).await? {
                if cancel.is_cancelled() {
                    return Ok(None);
                }
                if !read_table(conn, &table, &at, info, job, emitter, tx, cancel).await? {
                    return Ok(None);
                }
                done.inc();
            }
        }
        conn.query_drop("COMMIT").await?;
        Ok(Some(BinlogOffset {
            file: at.file.clone(),
            pos: at.pos,
            gtids: gtids.clone(),
            row: 0,
            snapshot_completed: true,
            server_id: info.server_id,
            ts_sec: chrono::Utc::now().timestamp(),
            snapshot: None,
            capture: None,
            debezium: None,
            server: None,
            incremental_snapshot_signal_offset: None,
        }))
    }
    .await;
    running.set(0);
    result
}

async fn primary_key(conn: &mut Conn, t: &TableId) -> Result<Vec<String>, SourceError> {
    Ok(conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (&t.database, &t.table),
        )
        .await?)
}

/// What `information_schema` says of a column beyond the result set: its
/// [`Semantic`], and the declared length of a CHAR / VARCHAR (characters)
/// or BINARY / VARBINARY (bytes).
#[derive(Debug, Clone, Default)]
pub(super) struct ColumnDetails {
    semantic: Option<Semantic>,
    length: Option<u32>,
}

/// A snapshot `SELECT`'s schema: the result set's columns with their
/// [`ColumnDetails`] (read before the `SELECT`), as the binlog's table map
/// gives them to streamed rows.
pub(super) fn snapshot_schema(
    t: &TableId,
    columns: &[mysql_async::Column],
    details: &HashMap<String, ColumnDetails>,
) -> TableSchema {
    let mut schema = build_schema(&t.table, columns);
    for col in &mut schema.columns {
        let Some(d) = details.get(&col.name) else {
            continue;
        };
        col.semantic = d.semantic.clone();
        if let ColumnType::String { max_len } | ColumnType::Bytes { max_len } = &mut col.ty {
            *max_len = d.length;
        }
    }
    schema
}

/// Each column's [`ColumnDetails`], by name, from `information_schema.COLUMNS`.
pub(super) async fn column_details(
    conn: &mut Conn,
    t: &TableId,
) -> Result<HashMap<String, ColumnDetails>, SourceError> {
    let types: Vec<(String, String, String, Option<u64>)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (&t.database, &t.table),
        )
        .await?;
    Ok(types
        .into_iter()
        .map(|(name, data_type, ty, len)| {
            let sized = matches!(
                data_type.to_ascii_lowercase().as_str(),
                "char" | "varchar" | "binary" | "varbinary"
            );
            let details = ColumnDetails {
                semantic: semantic_from_column_type(&ty),
                length: len.filter(|_| sized).and_then(|n| u32::try_from(n).ok()),
            };
            (name, details)
        })
        .collect())
}

/// Reads one table; false when cancelled.
#[allow(clippy::too_many_arguments)]
async fn read_table(
    conn: &mut Conn,
    table: &TableId,
    at: &BinlogPosition,
    info: &ServerInfo,
    job: &SnapshotJob<'_>,
    emitter: &mut Emitter,
    tx: &mpsc::Sender<Batch<BinlogOffset>>,
    cancel: &CancellationToken,
) -> Result<bool, SourceError> {
    let pk = primary_key(conn, table).await?;
    let semantics = column_details(conn, table).await?;
    let from = format!(
        "SELECT * FROM {}.{}",
        quote(&table.database),
        quote(&table.table)
    );
    let order = pk.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let rows_metric = METRICS
        .source_snapshot_rows
        .with_label_values(&[job.pipeline, &table.table]);
    let mut last: Option<Vec<MyValue>> = None;
    let mut schema: Option<Arc<crate::schema::TableSchema>> = None;
    let table_id = Arc::new(table.clone());
    loop {
        let (sql, params) = match (&last, pk.is_empty()) {
            (_, true) => (from.clone(), vec![]),
            (None, false) => (
                format!("{from} ORDER BY {order} LIMIT {}", job.chunk_rows),
                vec![],
            ),
            (Some(vals), false) => (
                format!(
                    "{from} WHERE ({order}) > ({}) ORDER BY {order} LIMIT {}",
                    vec!["?"; vals.len()].join(", "),
                    job.chunk_rows
                ),
                vals.clone(),
            ),
        };
        let mut stream = conn.exec_stream::<MyRow, _, _>(sql, params).await?;
        let columns = stream.columns();
        let s = Arc::new(snapshot_schema(table, &columns, &semantics));
        let s = match &schema {
            Some(old) if **old == *s => Arc::clone(old),
            _ => s,
        };
        schema = Some(Arc::clone(&s));
        let pk_idx: Vec<usize> = pk.iter().filter_map(|c| s.column_index(c)).collect();
        let is_dt = crate::source::mysql_types::datetime_columns(&columns);
        let mut batch = Batch::default();
        let mut n = 0usize;
        while let Some(row) = stream.next().await {
            let raw = row?.unwrap();
            if !pk.is_empty() {
                last = Some(pk_idx.iter().map(|&i| raw[i].clone()).collect());
            }
            let mut values = Vec::with_capacity(raw.len());
            for ((v, col), dt) in raw.into_iter().zip(&s.columns).zip(&is_dt) {
                values.push(value_from_mysql(col, v, job.zone, *dt).map_err(|e| {
                    SourceError::Value {
                        table: table.to_string(),
                        source: e,
                    }
                })?);
            }
            // One clock reading: the read's time, and Debezium's processing time.
            let now = chrono::Utc::now();
            let ev = ChangeEvent {
                table: Arc::clone(&table_id),
                op: Op::Read,
                before: None,
                after: Some(values),
                schema: Arc::clone(&s),
                position: Position::Binlog(BinlogCoord {
                    at: at.clone(),
                    gtid: None,
                    row: 0,
                    snapshot: crate::position::SnapshotMark::True,
                    server_id: info.server_id,
                }),
                ts_ms: now.timestamp_millis(),
            };
            emitter.emit_processed(&ev, &mut batch, Some(now.timestamp_micros()))?;
            rows_metric.inc();
            n += 1;
            if (pk.is_empty() && n.is_multiple_of(job.chunk_rows))
                || batch.bytes >= job.max_batch_bytes
            {
                // No key to page by: cut the stream into chunks; big rows:
                // deliver what the chunk holds so far (the snapshot is one
                // Kafka transaction, so a delivery may end at any row).
                let mut full = std::mem::take(&mut batch);
                full.open = true;
                if tx.send(full).await.is_err() {
                    return Ok(false);
                }
            }
        }
        drop(stream);
        batch.open = true;
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            return Ok(false);
        }
        if cancel.is_cancelled() {
            return Ok(false);
        }
        if pk.is_empty() || n < job.chunk_rows {
            tracing::info!(pipeline = %job.pipeline, table = %table, "snapshot: table done");
            return Ok(true);
        }
    }
}
