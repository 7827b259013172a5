//! The binlog source: MySQL/MariaDB row events → Kafka, exactly once.
//!
//! Start-up: check the server ([`server::validate`]: ROW format, FULL row
//! image, FULL row metadata, grants), read the stored position from the
//! offsets topic (after `init_transactions`, so it is final), then either
//! resume, or snapshot ([`snapshot`]) per `snapshot_mode`:
//!
//! | mode | no stored position | stored position purged |
//! |---|---|---|
//! | `initial` | snapshot, then stream from its position | error |
//! | `when_needed` | snapshot | snapshot again |
//! | `never` | stream from the oldest binlog | error |
//! | `schema_only` | stream from the current end | error |
//!
//! Streaming ([`stream`]) decodes each row with the schema its TABLE_MAP event
//! carries, groups source transactions into Kafka transactions, and stores
//! the position with the data ([`offset`], [`publish`]). Resumption uses the
//! GTID state where the server has GTIDs (MariaDB `@slave_connect_state`,
//! MySQL GTID sets), else the file/position.
//!
//! Errors: a lost connection, a closed stream or a corrupted event is
//! transient (the supervisor restarts the source, which resumes from its
//! stored position); a server that is not set up, a purged position or a row
//! that cannot be encoded is definite and stops this source only.
//!
//! Grants the source's user needs: `REPLICATION SLAVE`, `REPLICATION CLIENT`
//! (MySQL) or `BINLOG MONITOR` (MariaDB), `SELECT` on the captured tables, and
//! on MySQL `RELOAD` for the snapshot's brief read lock.

pub mod emit;
pub mod gtid;
pub mod json_text;
pub mod offset;
pub mod publish;
pub mod server;
pub mod snapshot;
pub mod stream;
pub mod table;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Pool};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::emit::Emitter;
use self::gtid::{MariaGtidList, MysqlGtidSet};
use self::offset::BinlogOffset;
use self::publish::{Batch, OffsetTarget};
use self::server::{Flavor, ServerInfo};
use self::stream::{GtidState, StreamConfig, Streamer};
use super::SourceError;
use crate::config::{parse_timezone, Delivery, KafkaConfig, SnapshotMode, SourceConfig};
use crate::event::TableId;
use crate::kafka::offsets;
use crate::kafka::producer::{PipelineProducer, DEFAULT_TRANSACTION_TIMEOUT};
use crate::mysql::{self, quote};

const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// Which tables a source captures.
#[derive(Debug, Clone)]
pub struct Capture {
    databases: Vec<String>,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Capture {
    /// From `databases` (default: the URL's database), `tables` and `table_exclude`.
    pub fn new(cfg: &SourceConfig, url_database: Option<String>) -> Self {
        let databases = if cfg.databases.is_empty() {
            url_database.into_iter().collect()
        } else {
            cfg.databases.clone()
        };
        Capture {
            databases,
            include: cfg.tables.clone(),
            exclude: cfg.table_exclude.clone(),
        }
    }

    /// True when changes of `db`.`table` are published.
    pub fn captures(&self, db: &str, table: &str) -> bool {
        if SYSTEM_DATABASES.contains(&db) {
            return false;
        }
        if !self.databases.is_empty() && !self.databases.iter().any(|d| d == db) {
            return false;
        }
        let matches = |list: &[String]| {
            list.iter().any(|e| match e.split_once('.') {
                Some((d, t)) => d == db && t == table,
                None => e == table,
            })
        };
        (self.include.is_empty() || matches(&self.include)) && !matches(&self.exclude)
    }

    /// True when tables of `db` may be captured (DDL there is reported).
    pub fn captures_database(&self, db: &str) -> bool {
        !SYSTEM_DATABASES.contains(&db)
            && (self.databases.is_empty() || self.databases.iter().any(|d| d == db))
    }

    /// The captured base tables that exist now.
    pub async fn list_tables(&self, conn: &mut Conn) -> Result<Vec<TableId>, SourceError> {
        let all: Vec<(String, String)> = conn
            .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
            .await?;
        Ok(all
            .into_iter()
            .filter(|(d, t)| self.captures(d, t))
            .map(|(d, t)| TableId::new(d, t))
            .collect())
    }
}

/// Maps a binlog stream error: 1236 means the position or GTID is gone.
pub fn classify_stream_error(e: mysql_async::Error) -> SourceError {
    match &e {
        mysql_async::Error::Server(s) if s.code == 1236 => SourceError::Purged(format!(
            "the server cannot send the binlog from the stored position ({}): it was purged or is unknown. \
             Set snapshot_mode = \"when_needed\" to re-snapshot, or reset the source's offsets",
            s.message
        )),
        _ => SourceError::Mysql(e),
    }
}

enum Start {
    Resume(BinlogOffset),
    Snapshot { with_data: bool },
    Oldest,
}

async fn decide_start(
    conn: &mut Conn,
    info: &ServerInfo,
    cfg: &SourceConfig,
    stored: Option<BinlogOffset>,
) -> Result<Start, SourceError> {
    let Some(o) = stored.filter(|o| o.snapshot_completed) else {
        return Ok(match cfg.snapshot_mode {
            SnapshotMode::Initial | SnapshotMode::WhenNeeded => Start::Snapshot { with_data: true },
            SnapshotMode::SchemaOnly => Start::Snapshot { with_data: false },
            SnapshotMode::Never => Start::Oldest,
        });
    };
    let purged = match (info.flavor, info.gtid_mode && !o.gtids.is_empty()) {
        (Flavor::MySql, true) => {
            let have: MysqlGtidSet =
                o.gtids
                    .parse()
                    .map_err(|e: gtid::GtidParseError| SourceError::Offset {
                        table: offset::partition_id(cfg.logical_name()),
                        offset: o.gtids.clone(),
                        reason: e.to_string(),
                    })?;
            let gone: MysqlGtidSet = server::gtid_purged(conn).await?.parse().unwrap_or_default();
            (!have.contains_set(&gone)).then(|| {
                format!("@@gtid_purged ({gone}) has moved past the stored GTID set ({have})")
            })
        }
        // MariaDB by GTID: the server answers 1236 on the first read if it is gone.
        (Flavor::MariaDb, true) => None,
        _ => {
            let files = server::binlog_files(conn).await?;
            (!files.contains(&o.file)).then(|| {
                format!(
                    "binlog file {} is no longer on the server (oldest: {})",
                    o.file,
                    files.first().map_or("none", String::as_str)
                )
            })
        }
    };
    match (purged, cfg.snapshot_mode) {
        (None, _) => Ok(Start::Resume(o)),
        (Some(why), SnapshotMode::WhenNeeded) => {
            tracing::warn!(pipeline = %cfg.name, reason = %why, "stored position purged; snapshotting again (when_needed)");
            Ok(Start::Snapshot { with_data: true })
        }
        (Some(why), _) => Err(SourceError::Purged(format!(
            "cannot resume: {why}. Set snapshot_mode = \"when_needed\" to re-snapshot, or reset the source's offsets"
        ))),
    }
}

/// Runs the binlog source until cancelled or a definite error.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    let cfg = Arc::new(cfg.clone());
    crate::metrics::METRICS.init_pipeline(&cfg.name, crate::metrics::PipelineKind::Source);
    let endpoint = cfg
        .endpoint()
        .map_err(|e| SourceError::Setup(e.to_string()))?;
    let tz_offset = match &cfg.db_timezone {
        Some(tz) => parse_timezone(tz).map_err(SourceError::Setup)?,
        None => 0,
    };
    let exactly_once = cfg.delivery == Delivery::ExactlyOnce;
    let txn_id = |suffix: &str| exactly_once.then(|| format!("sluice-source-{}{suffix}", cfg.name));
    // Independent setup steps run concurrently (each is a few round trips;
    // one after the other they took over a second): the server checks, the
    // offsets topic and both producers. Both producers run init_transactions
    // before the offsets are read: it aborts whatever a previous incarnation
    // left open. Streaming transactions are short (10 s timeout: a crashed
    // source holds back read_committed readers of the offsets topic at most
    // that long); the snapshot is one transaction with its own id and 15 min
    // (the broker's default maximum), and writes to the offsets topic only
    // just before it commits.
    let ((pool, mut conn, info, charsets), (), producer, snapshot_producer) = tokio::try_join!(
        async {
            let pool = mysql::pool_settled(&endpoint).await?;
            let mut conn = pool.get_conn().await?;
            let info = server::server_info(&mut conn).await?;
            let problems = server::validate(&mut conn, &info).await?;
            if !problems.is_empty() {
                return Err(SourceError::ServerNotReady(
                    problems.iter().map(ToString::to_string).collect(),
                ));
            }
            let charsets = server::charsets(&mut conn).await?;
            Ok((pool, conn, info, charsets))
        },
        async {
            Ok::<_, SourceError>(offsets::ensure_topic(kafka, &kafka.offsets_topic, 1).await?)
        },
        async {
            Ok::<_, SourceError>(
                PipelineProducer::connect_with_timeout(
                    kafka,
                    &cfg.name,
                    txn_id(""),
                    DEFAULT_TRANSACTION_TIMEOUT,
                )
                .await?,
            )
        },
        async {
            Ok::<_, SourceError>(
                PipelineProducer::connect_with_timeout(
                    kafka,
                    &cfg.name,
                    txn_id("-snapshot"),
                    Duration::from_secs(900),
                )
                .await?,
            )
        },
    )?;
    let capture = Capture::new(&cfg, endpoint.database());
    let part = offset::partition_id(cfg.logical_name());
    let stored = match offsets::read_offsets(kafka, &kafka.offsets_topic, &cfg.name)
        .await?
        .remove(&part)
    {
        None => None,
        Some(json) => Some(
            serde_json::from_value::<BinlogOffset>(json.clone()).map_err(|e| {
                SourceError::Offset {
                    table: part.clone(),
                    offset: json.to_string(),
                    reason: e.to_string(),
                }
            })?,
        ),
    };
    tracing::info!(pipeline = %cfg.name, server = %info.version, stored = ?stored, "binlog source starting");

    let target = || OffsetTarget {
        topic: kafka.offsets_topic.clone(),
        key: offset::record_key(&cfg.name, cfg.logical_name()),
    };
    let mut emitter = Emitter::new(Arc::clone(&cfg));
    let from = match decide_start(&mut conn, &info, &cfg, stored).await? {
        Start::Resume(o) => o,
        Start::Oldest => {
            let files = server::binlog_files(&mut conn).await?;
            let file = files
                .first()
                .cloned()
                .ok_or_else(|| SourceError::Setup("the server lists no binlog files".into()))?;
            // MariaDB: the GTID state at the start of that file, for every domain.
            let gtids = match info.flavor {
                Flavor::MariaDb => conn
                    .exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, 4)", (&file,))
                    .await?
                    .flatten()
                    .unwrap_or_default(),
                Flavor::MySql => String::new(),
            };
            BinlogOffset {
                file,
                pos: 4,
                gtids,
                snapshot_completed: true,
                server_id: info.server_id,
                ..BinlogOffset::default()
            }
        }
        Start::Snapshot { with_data } => {
            let job = snapshot::SnapshotJob {
                pipeline: &cfg.name,
                capture: &capture,
                chunk_rows: usize::try_from(cfg.snapshot_fetch_rows).unwrap_or(10_000),
                with_data,
                tz_offset,
            };
            let (tx, rx) = mpsc::channel::<Batch>(1);
            let publisher = tokio::spawn(publish::run(
                snapshot_producer,
                rx,
                target(),
                cfg.name.clone(),
            ));
            let mut snap_conn = pool.get_conn().await?;
            let result = async {
                let Some(o) =
                    snapshot::run(&mut snap_conn, &info, &job, &mut emitter, &tx, &cancel).await?
                else {
                    return Ok(None);
                };
                let done = Batch {
                    offset: Some(o.clone()),
                    ..Batch::default()
                };
                Ok::<_, SourceError>(tx.send(done).await.is_ok().then_some(o))
            }
            .await;
            drop(tx);
            drop(snap_conn);
            let published = publisher
                .await
                .map_err(|e| SourceError::Setup(format!("snapshot publisher task failed: {e}")))?;
            let Some(o) = published.and(result)? else {
                pool.disconnect().await.ok();
                return Ok(()); // cancelled: the open snapshot transaction was aborted
            };
            tracing::info!(pipeline = %cfg.name, position = %o.position(), "snapshot complete; streaming");
            o
        }
    };
    drop(conn);
    let (tx, rx) = mpsc::channel::<Batch>(publish::QUEUE_BATCHES);
    let publisher = tokio::spawn(publish::run(producer, rx, target(), cfg.name.clone()));
    let result = stream_from(
        &pool,
        &info,
        &cfg,
        &capture,
        &charsets,
        &mut emitter,
        &from,
        tz_offset,
        &tx,
        &cancel,
    )
    .await;
    drop(tx);
    let published = publisher
        .await
        .map_err(|e| SourceError::Setup(format!("publisher task failed: {e}")))?;
    pool.disconnect().await.ok();
    // A publisher error explains a reader that stopped because the channel closed.
    published.and(result)
}

#[allow(clippy::too_many_arguments)]
async fn stream_from(
    pool: &Pool,
    info: &ServerInfo,
    cfg: &Arc<SourceConfig>,
    capture: &Capture,
    charsets: &table::Charsets,
    emitter: &mut Emitter,
    from: &BinlogOffset,
    tz_offset: i32,
    tx: &mpsc::Sender<Batch>,
    cancel: &CancellationToken,
) -> Result<(), SourceError> {
    let mut conn = pool.get_conn().await?;
    let heartbeat = if cfg.heartbeat_interval_ms > 0 {
        Duration::from_millis(cfg.heartbeat_interval_ms)
    } else {
        Duration::from_secs(1)
    };
    // The server sends a heartbeat event when idle this long (nanoseconds).
    conn.query_drop(format!(
        "SET @master_heartbeat_period = {}",
        heartbeat.as_nanos().min(u128::from(u32::MAX) * 1_000_000)
    ))
    .await?;
    let gtid_state = match info.flavor {
        Flavor::MariaDb => {
            conn.query_drop("SET @mariadb_slave_capability = 4").await?;
            GtidState::Maria(from.gtids.parse::<MariaGtidList>().unwrap_or_default())
        }
        // A MySQL GTID set is only tracked from a complete one (the snapshot's
        // Executed_Gtid_Set): one grown from an empty set would leave out
        // everything before the start, and resuming by it would resend that.
        Flavor::MySql if info.gtid_mode && !from.gtids.is_empty() => {
            GtidState::MySql(from.gtids.parse::<MysqlGtidSet>().unwrap_or_default())
        }
        Flavor::MySql => GtidState::None,
    };
    let server_id = cfg.replica_server_id();
    let by_gtid = !from.gtids.is_empty() && !matches!(gtid_state, GtidState::None);
    let mut sids = Vec::new();
    let request = if by_gtid {
        match &gtid_state {
            GtidState::Maria(l) => {
                conn.exec_drop("SET @slave_connect_state = ?", (l.to_string(),))
                    .await?;
                BinlogStreamRequest::new(server_id)
                    .with_filename(b"")
                    .with_pos(4)
            }
            GtidState::MySql(set) => {
                for (src, ivs) in set.iter() {
                    let ranges: Vec<String> = ivs.iter().map(|(a, b)| format!("{a}-{b}")).collect();
                    let text = format!("{src}:{}", ranges.join(":"));
                    let sid: mysql_async::Sid<'static> =
                        text.parse().map_err(|e| SourceError::Offset {
                            table: offset::partition_id(cfg.logical_name()),
                            offset: text.clone(),
                            reason: format!("GTID set: {e}"),
                        })?;
                    sids.push(sid);
                }
                BinlogStreamRequest::new(server_id)
                    .with_gtid()
                    .with_gtid_set(sids)
                    .with_filename(b"")
                    .with_pos(4)
            }
            GtidState::None => BinlogStreamRequest::new(server_id),
        }
    } else {
        BinlogStreamRequest::new(server_id)
            .with_filename(from.file.as_bytes())
            .with_pos(from.pos)
    };
    tracing::info!(pipeline = %cfg.name, position = %from.position(), gtids = %from.gtids, by_gtid, skip_rows = from.row, "streaming binlog");
    let mut stream = conn
        .get_binlog_stream(request)
        .await
        .map_err(classify_stream_error)?;
    let scfg = StreamConfig {
        pipeline: cfg.name.clone(),
        max_batch_rows: usize::try_from(cfg.max_batch_rows).unwrap_or(4096),
        max_transaction_rows: cfg.max_transaction_rows,
        tick: heartbeat,
        heartbeat_topic: (cfg.heartbeat_interval_ms > 0).then(|| cfg.heartbeat_topic_name().into()),
        server_name: cfg.logical_name().to_string(),
        tz_offset,
    };
    let mut streamer = Streamer::new(&scfg, capture, charsets, emitter, from, gtid_state);
    let result = streamer.run(&mut stream, tx, cancel).await;
    if result.is_ok() {
        stream.close().await.ok();
    }
    result
}

/// Quoted `db`.`table`.
pub fn qualified(t: &TableId) -> String {
    format!("{}.{}", quote(&t.database), quote(&t.table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(dbs: &[&str], inc: &[&str], exc: &[&str]) -> Capture {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Capture {
            databases: v(dbs),
            include: v(inc),
            exclude: v(exc),
        }
    }

    #[test]
    fn capture_filters_by_database_table_and_exclusion() {
        let c = cap(&["shop"], &["orders", "other.users"], &[]);
        assert!(c.captures("shop", "orders"));
        assert!(!c.captures("shop", "users"));
        assert!(!c.captures("other", "orders"));
        let c = cap(&[], &[], &["shop.audit"]);
        assert!(c.captures("any", "t"));
        assert!(!c.captures("shop", "audit"));
        assert!(!c.captures("mysql", "user"));
    }
}
