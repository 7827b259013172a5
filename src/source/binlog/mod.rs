//! The binlog source: MySQL/MariaDB row events → Kafka, exactly once.
//!
//! Start-up: check the server ([`server::validate`]: ROW format, FULL row
//! image, FULL row metadata, grants), read the stored position from the
//! offsets topic (after `init_transactions`, so it is final), then either
//! resume, or snapshot per `snapshot_mode` — chunked beside the stream
//! ([`chunks`], `snapshot_locking = "none"`, the default: lock-free and
//! resumable, its progress stored with each position) or as one consistent
//! cut before it ([`snapshot`], `snapshot_locking = "minimal"`):
//!
//! | mode | no stored position | stored position purged |
//! |---|---|---|
//! | `initial` | snapshot, then stream from its position | error |
//! | `when_needed` | snapshot | snapshot again |
//! | `never` | stream from the oldest binlog | error |
//! | `schema_only` | stream from the current end | error |
//!
//! Streaming ([`stream`]) handles each binlog event kind in its own handler,
//! decodes each row with the schema its TABLE_MAP event carries ([`table`]),
//! groups source transactions into Kafka transactions, and hands them with
//! the position after them ([`offset`]) to the shared
//! [publisher](crate::source::publish). Resumption ([`resume`]) uses the GTID
//! state where the server has GTIDs (MariaDB `@slave_connect_state`, MySQL
//! GTID sets), else the file/position.
//!
//! Following the database's failover ([`failover`]): with several servers in
//! `url`, the server is chosen after the stored position is read (the one it
//! was read from first; the next after `failover_timeout_ms` of failed
//! reconnects), its binlog must hold the stored GTID state, and the position
//! names the server it was read from.
//!
//! Errors ([`SourceError`], classified in one place): a lost connection, a
//! closed stream or a corrupted (checksum) event is transient (the supervisor
//! restarts the source, which resumes from its stored position); a server
//! that is not set up, a missing resume point, an event or table map that
//! cannot be decoded or a row that cannot be encoded is definite and stops
//! this source only.
//!
//! Dead connections: the source asks the server for a heartbeat event every
//! `heartbeat_interval_ms` (1 s when 0) while it has nothing to send, so a
//! connection silent for [`SILENT_PERIODS`] periods (no event at all) is dead
//! or black-holed: the stream ends with [`SourceError::StreamSilent`]
//! (transient) and the source reconnects and resumes from its committed
//! position. Connecting and the session setup are bounded by
//! [`crate::liveness::CONNECT_TIMEOUT`]; connections have TCP keepalive.
//!
//! Grants the source's user needs: `REPLICATION SLAVE`, `REPLICATION CLIENT`
//! (MySQL) or `BINLOG MONITOR` (MariaDB), `SELECT` on the captured tables, and
//! on MySQL `RELOAD` only for the one-cut snapshot's brief read lock
//! (`snapshot_locking = "minimal"`).

pub mod capture;
pub mod charset;
pub mod chunks;
pub mod control;
pub mod failover;
pub mod gtid;
pub mod json_text;
pub mod offset;
pub mod resume;
pub mod rows;
pub mod schema_change;
pub mod server;
pub mod signal_topic;
pub mod snapshot;
pub mod stream;
pub mod table;
mod table_cache;
mod value;

use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};
use tokio_util::sync::CancellationToken;

pub use self::capture::Capture;
use self::charset::Charsets;
use self::offset::BinlogOffset;
use self::resume::Start;
pub use self::resume::{classify_stream_error, MissingResumePoint};
use self::server::{Flavor, ServerInfo};
pub use self::stream::DecodeError;
use self::stream::{StreamConfig, Streamer};
use super::emit::{Buffers, Emitter};
use super::publish::{Batch, Checkpoint, Publisher};
use super::SourceError;
use crate::config::{DbZone, Delivery, KafkaConfig, SnapshotLocking, SourceConfig};
use crate::kafka::offsets;
use crate::kafka::producer::{PipelineProducer, DEFAULT_TRANSACTION_TIMEOUT};

/// Heartbeat periods of silence after which the binlog connection is dead.
pub const SILENT_PERIODS: u32 = 3;

/// Batches the channel from the stream reader to the publisher holds.
const QUEUE_BATCHES: usize = 4;

/// The snapshot's transaction timeout (the broker's default maximum).
const SNAPSHOT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(900);

/// What the concurrent start-up steps produce (`server`: the one server's
/// checks, when `url` lists one; with several, [`failover::connect`] picks it later).
struct Setup {
    server: Option<failover::Connected>,
    producer: PipelineProducer,
    snapshot_producer: PipelineProducer,
}

/// Everything a run shares between snapshot and streaming.
struct Run<'a> {
    cfg: Arc<SourceConfig>,
    kafka: &'a KafkaConfig,
    info: ServerInfo,
    capture: Capture,
    zone: DbZone,
    offset_key: Arc<str>,
    emitter: Emitter,
    /// The server read (`host:port`) when `url` lists several.
    server: Option<String>,
    /// The server read (`host:port`), for the log.
    addr: String,
}

/// Runs the binlog source until cancelled or a definite error.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    let cfg = Arc::new(cfg.clone());
    crate::metrics::METRICS.init_pipeline(&cfg.name, crate::metrics::PipelineKind::Source);
    let endpoint = cfg.endpoint()?;
    let zone = cfg.zone()?;
    let servers = failover::Servers::of(&cfg, &endpoint);
    let locks = cfg.snapshot_locking == SnapshotLocking::Minimal
        && cfg.snapshot_mode != crate::config::SnapshotMode::Never;
    let Setup {
        server,
        producer,
        snapshot_producer,
    } = setup(
        &cfg,
        kafka,
        (!servers.several()).then(|| servers.first()),
        locks,
    )
    .await?;
    let stored = resume::stored_offset(kafka, &cfg).await?;
    let stored_server = stored.as_ref().and_then(|o| o.server.clone());
    let (server, following) = match server {
        Some(one) => {
            crate::metrics::source_server_clear(&cfg.name);
            (one, None)
        }
        None => {
            let mut c =
                failover::connect(&servers, stored_server.as_deref(), &cfg.name, locks).await?;
            let problems = failover::problems(&mut c.conn, &c.info).await?;
            if !problems.is_empty() {
                return Err(SourceError::ServerNotReady(problems));
            }
            failover::reading(&cfg.name, &c.addr, stored_server.as_deref(), &servers);
            let addr = c.addr.clone();
            (c, Some(addr))
        }
    };
    let failover::Connected {
        pool,
        mut conn,
        info,
        charsets,
        addr,
    } = server;
    // Kept across a new snapshot (`when_needed`): signals already acted on stay done.
    let signal_offset = stored
        .as_ref()
        .and_then(|o| o.incremental_snapshot_signal_offset);
    tracing::info!(pipeline = %cfg.name, server = %info.version, stored = ?stored, "binlog source starting");
    let mut run = Run {
        capture: Capture::new(&cfg, endpoint.database())?,
        offset_key: offset::record_key(&cfg.name, cfg.logical_name()).into(),
        emitter: Emitter::new(
            Arc::clone(&cfg),
            cfg.logical_name().to_string(),
            Buffers::Shrink,
        )?,
        cfg,
        kafka,
        info,
        zone,
        server: following.clone(),
        addr,
    };
    let start = resume::decide_start(
        &mut conn,
        &run.info,
        &run.cfg,
        stored,
        following
            .as_deref()
            .map(|s| (s, crate::config::failover::timeout(&run.cfg))),
    )
    .await?;
    // Resuming on another server than the stored position's: a failover followed.
    let switched =
        following.is_some() && matches!(start, Start::Resume(_)) && stored_server != following;
    let snapshot_started = matches!(start, Start::Snapshot { .. });
    let mut from = match start {
        Start::Resume(o) => *o,
        Start::Oldest => resume::oldest_offset(&mut conn, &run.info).await?,
        Start::Snapshot { with_data } if run.cfg.snapshot_locking == SnapshotLocking::None => {
            run.chunked_start(&mut conn, with_data).await?
        }
        Start::Snapshot { with_data } => {
            match run
                .snapshot(&pool, snapshot_producer, with_data, &cancel)
                .await?
            {
                Some(o) => o,
                None => {
                    // Cancelled: the open snapshot transaction was aborted.
                    // The pool's disconnect waits for every connection taken
                    // from it, this one too (it hung a SIGTERM for the whole
                    // drain deadline).
                    drop(conn);
                    pool.disconnect().await.ok();
                    return Ok(());
                }
            }
        }
    };
    from.server.clone_from(&run.server);
    if following.is_some() && run.info.flavor == Flavor::MySql && from.gtids.is_empty() {
        return Err(SourceError::Config(crate::config::ConfigError::Invalid {
            pipeline: run.cfg.name.clone(),
            key: "snapshot_mode".into(),
            reason: "this start has no GTID set (MySQL, snapshot_mode = \"never\"): a file:pos position cannot move to another server; with several servers in url use initial, when_needed or schema_only".into(),
        }));
    }
    if from.incremental_snapshot_signal_offset.is_none() {
        from.incremental_snapshot_signal_offset = signal_offset;
    }
    if let Some(stored) = from.capture.clone() {
        run.backfill_added(&mut conn, &stored, &mut from).await?;
    }
    // A chunked snapshot's schema records (a locking one wrote them with its data).
    let schema_records = if snapshot_started && run.cfg.snapshot_locking == SnapshotLocking::None {
        schema_snapshot(
            &run.cfg,
            &run.capture,
            run.emitter.connector(),
            &mut conn,
            &from,
        )
        .await?
    } else {
        Batch::default()
    };
    drop(conn);
    if let Some(progress) = &from.snapshot {
        tracing::info!(pipeline = %run.cfg.name, table = %progress.table, rows = progress.rows, adhoc = progress.adhoc, "chunked snapshot running beside the stream");
    }
    // Idle once no snapshot runs: on-demand snapshots use it (`control`).
    let chunker = chunks::Chunker::new(
        chunks::ChunkJob {
            pipeline: run.cfg.name.clone(),
            capture: run.capture.clone(),
            chunk_rows: usize::try_from(run.cfg.snapshot_fetch_rows).unwrap_or(10_000),
            zone: run.zone,
            signal: run.cfg.signal_data_collection.as_deref().and_then(|t| {
                t.split_once('.')
                    .map(|(d, t)| crate::event::TableId::new(d, t))
            }),
        },
        pool.clone(),
        run.info.clone(),
        from.snapshot.clone(),
    );
    let (_registration, commands) = control::register(&run.cfg.name);
    let signal_topic = if run.cfg.signal_channel("kafka") {
        Some(signal_topic::start(
            kafka,
            &run.cfg,
            from.incremental_snapshot_signal_offset,
        )?)
    } else {
        None
    };
    let publisher = Publisher::spawn(
        producer,
        QUEUE_BATCHES,
        usize::try_from(run.cfg.max_batch_bytes).unwrap_or(usize::MAX),
        kafka.offsets_topic.clone(),
        run.cfg.name.clone(),
        super::wire::Wire::for_source(&run.cfg)?,
    );
    if switched {
        // The new server goes into the stored position before any row, so a
        // restart does not go back to the old one.
        let moved = Batch {
            offset: Some(Checkpoint {
                key: Arc::clone(&run.offset_key),
                offset: from.clone(),
            }),
            ..Batch::default()
        };
        if publisher.sender().send(moved).await.is_err() {
            return publisher.finish().await;
        }
    }
    if !schema_records.messages.is_empty() {
        let mut records = schema_records;
        records.offset = Some(Checkpoint {
            key: Arc::clone(&run.offset_key),
            offset: from.clone(),
        });
        if publisher.sender().send(records).await.is_err() {
            return publisher.finish().await;
        }
    }
    let result = run
        .stream_from(
            &pool,
            &charsets,
            &from,
            (chunker, commands, signal_topic),
            publisher.sender(),
            &cancel,
        )
        .await;
    let published = publisher.finish().await;
    pool.disconnect().await.ok();
    // A publisher error explains a reader that stopped because the channel closed.
    published.and(result)
}

/// The independent start-up steps, run concurrently (each is a few round
/// trips; one after the other they took over a second): the server checks,
/// the offsets topic and both producers. Both producers run
/// `init_transactions` before the offsets are read: it aborts whatever a
/// previous incarnation left open. Streaming transactions are short (10 s
/// timeout: a crashed source holds back `read_committed` readers of the
/// offsets topic at most that long); the snapshot is one transaction with its
/// own id and 15 min, and writes to the offsets topic only just before it
/// commits.
async fn setup(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    endpoint: Option<&crate::config::DbEndpoint>,
    locks: bool,
) -> Result<Setup, SourceError> {
    let exactly_once = cfg.delivery == Delivery::ExactlyOnce;
    let txn_id = |suffix: &str| exactly_once.then(|| format!("sluice-source-{}{suffix}", cfg.name));
    let producer = |suffix: &str, timeout: Duration| {
        let id = txn_id(suffix);
        async move {
            Ok::<_, SourceError>(
                PipelineProducer::connect_with_timeout(kafka, &cfg.name, id, timeout).await?,
            )
        }
    };
    let server = async {
        let Some(endpoint) = endpoint else {
            return Ok(None);
        };
        let (pool, conn, info, charsets) = check_server(endpoint, locks).await?;
        Ok::<_, SourceError>(Some(failover::Connected {
            pool,
            conn,
            info,
            charsets,
            addr: endpoint.hosts().into_iter().next().unwrap_or_default(),
        }))
    };
    let (server, (), producer, snapshot_producer) = tokio::try_join!(
        server,
        async {
            Ok::<_, SourceError>(offsets::ensure_topic(kafka, &kafka.offsets_topic, 1).await?)
        },
        producer("", DEFAULT_TRANSACTION_TIMEOUT),
        producer("-snapshot", SNAPSHOT_TRANSACTION_TIMEOUT),
    )?;
    Ok(Setup {
        server,
        producer,
        snapshot_producer,
    })
}

/// Connects, checks the server is ready for binlog capture, and reads its
/// character sets.
async fn check_server(
    endpoint: &crate::config::DbEndpoint,
    locks: bool,
) -> Result<(Pool, Conn, ServerInfo, Charsets), SourceError> {
    let pool = crate::mysql::pool_settled(endpoint).await?;
    let mut conn = pool.get_conn().await?;
    let info = server::server_info(&mut conn).await?;
    let problems = server::validate(&mut conn, &info, locks).await?;
    if !problems.is_empty() {
        return Err(SourceError::ServerNotReady(problems));
    }
    let charsets = server::charsets(&mut conn).await?;
    Ok((pool, conn, info, charsets))
}

impl Run<'_> {
    /// Takes the snapshot as one Kafka transaction and commits its position;
    /// `None` when cancelled (the open transaction is aborted).
    async fn snapshot(
        &mut self,
        pool: &Pool,
        producer: PipelineProducer,
        with_data: bool,
        cancel: &CancellationToken,
    ) -> Result<Option<BinlogOffset>, SourceError> {
        let job = snapshot::SnapshotJob {
            pipeline: &self.cfg.name,
            capture: &self.capture,
            chunk_rows: usize::try_from(self.cfg.snapshot_fetch_rows).unwrap_or(10_000),
            max_batch_bytes: usize::try_from(self.cfg.max_batch_bytes).unwrap_or(usize::MAX),
            with_data,
            zone: self.zone,
        };
        let publisher = Publisher::spawn(
            producer,
            1,
            usize::try_from(self.cfg.max_batch_bytes).unwrap_or(usize::MAX),
            self.kafka.offsets_topic.clone(),
            self.cfg.name.clone(),
            super::wire::Wire::for_source(&self.cfg)?,
        );
        let tx = publisher.sender();
        let mut conn = pool.get_conn().await?;
        let result = async {
            let Some(mut o) =
                snapshot::run(&mut conn, &self.info, &job, &mut self.emitter, tx, cancel).await?
            else {
                return Ok(None);
            };
            o.server.clone_from(&self.server);
            let mut done = schema_snapshot(
                &self.cfg,
                &self.capture,
                self.emitter.connector(),
                &mut conn,
                &o,
            )
            .await?;
            done.offset = Some(Checkpoint {
                key: Arc::clone(&self.offset_key),
                offset: o.clone(),
            });
            Ok::<_, SourceError>(tx.send(done).await.is_ok().then_some(o))
        }
        .await;
        drop(conn);
        let published = publisher.finish().await;
        let snapshotted = published.and(result)?;
        if let Some(o) = &snapshotted {
            tracing::info!(pipeline = %self.cfg.name, position = %o.position(), "snapshot complete; streaming");
        }
        Ok(snapshotted)
    }

    /// A chunked snapshot's start (`snapshot_locking = "none"`): the binlog's
    /// current end, no lock; with data, the stream runs from there while the
    /// tables are read in chunks beside it ([`chunks`]).
    async fn chunked_start(
        &self,
        conn: &mut Conn,
        with_data: bool,
    ) -> Result<BinlogOffset, SourceError> {
        let (at, gtids) = server::binlog_status(conn, &self.info).await?;
        tracing::info!(pipeline = %self.cfg.name, position = %at, gtids = %gtids, with_data, "snapshot started (chunked, no lock)");
        Ok(BinlogOffset {
            file: at.file,
            pos: at.pos,
            gtids,
            row: 0,
            snapshot_completed: !with_data,
            server_id: self.info.server_id,
            ts_sec: chrono::Utc::now().timestamp(),
            snapshot: with_data.then(chunks::ChunkProgress::default),
            capture: None,
            debezium: None,
            server: self.server.clone(),
            incremental_snapshot_signal_offset: None,
        })
    }

    /// Tables the stored position's filter did not capture and this one
    /// does (a table added to `tables`, then a reload) are queued in
    /// `from`'s snapshot progress, read in chunks while the rest streams on;
    /// not under `snapshot_mode` `never` or `schema_only` (no data snapshots).
    async fn backfill_added(
        &self,
        conn: &mut Conn,
        stored: &capture::CaptureSpec,
        from: &mut BinlogOffset,
    ) -> Result<(), SourceError> {
        use crate::config::SnapshotMode;
        if matches!(
            self.cfg.snapshot_mode,
            SnapshotMode::Never | SnapshotMode::SchemaOnly
        ) {
            return Ok(());
        }
        let added = self.capture.added_tables(&self.cfg, stored, conn).await?;
        if !added.is_empty() {
            let names: Vec<String> = added.iter().map(ToString::to_string).collect();
            tracing::info!(pipeline = %self.cfg.name, tables = %names.join(", "), "tables added to the capture; backfilling them");
            from.snapshot = chunks::backfill(from.snapshot.take(), &added);
        }
        Ok(())
    }

    /// Streams the binlog from `from` until cancelled or an error.
    async fn stream_from(
        &mut self,
        pool: &Pool,
        charsets: &Charsets,
        from: &BinlogOffset,
        snapshots: (
            chunks::Chunker,
            tokio::sync::mpsc::Receiver<control::Command>,
            Option<signal_topic::SignalTopic>,
        ),
        tx: &tokio::sync::mpsc::Sender<Batch<BinlogOffset>>,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        let cfg = &self.cfg;
        use crate::mysql::bounded;
        let mut conn = bounded("connecting", pool.get_conn()).await?;
        let heartbeat = if cfg.heartbeat_interval_ms > 0 {
            Duration::from_millis(cfg.heartbeat_interval_ms)
        } else {
            Duration::from_secs(1)
        };
        // The server sends a heartbeat event when idle this long (nanoseconds).
        let setup = "setting up the binlog session";
        let period = heartbeat.as_nanos().min(u128::from(u32::MAX) * 1_000_000);
        // MySQL 8.0.26+ reads the `source_` name, older servers and MariaDB the other.
        let sql =
            format!("SET @master_heartbeat_period = {period}, @source_heartbeat_period = {period}");
        bounded(setup, conn.query_drop(sql)).await?;
        if self.info.flavor == Flavor::MariaDb {
            let sql = "SET @mariadb_slave_capability = 4";
            bounded(setup, conn.query_drop(sql)).await?;
        }
        let gtid_state = resume::gtid_state(&self.info, from);
        let (request, by_gtid) = bounded(
            setup,
            resume::stream_request(&mut conn, cfg, from, &gtid_state),
        )
        .await?;
        tracing::info!(pipeline = %cfg.name, server = %self.addr, position = %from.position(), gtids = %from.gtids, by_gtid, skip_rows = from.row, "streaming binlog");
        let mut stream = bounded(setup, async {
            conn.get_binlog_stream(request)
                .await
                .map_err(classify_stream_error)
        })
        .await?;
        let scfg = StreamConfig {
            pipeline: cfg.name.clone(),
            max_batch_rows: usize::try_from(cfg.max_batch_rows).unwrap_or(4096),
            max_transaction_rows: cfg.max_transaction_rows,
            max_batch_bytes: usize::try_from(cfg.max_batch_bytes).unwrap_or(usize::MAX),
            tick: heartbeat,
            silence_limit: heartbeat * SILENT_PERIODS,
            heartbeat_topic: (cfg.heartbeat_interval_ms > 0)
                .then(|| cfg.heartbeat_topic_name().into()),
            server_name: cfg.logical_name().to_string(),
            schema_change_topic: cfg.schema_changes().then(|| Arc::from(cfg.logical_name())),
            zone: self.zone,
            offset_key: Arc::clone(&self.offset_key),
            server: self.server.clone(),
            source_signals: cfg.signal_channel("source"),
        };
        let mut streamer = Streamer::new(
            &scfg,
            pool.clone(),
            &self.capture,
            charsets,
            &mut self.emitter,
            from,
            gtid_state,
        )
        .with_chunker(snapshots.0, snapshots.1)
        .with_signal_topic(snapshots.2);
        let result = streamer.run(&mut stream, tx, cancel).await;
        if result.is_ok() {
            stream.close().await.ok();
        }
        result
    }
}

/// Debezium's schema-change records of a snapshot starting at `at` (when
/// `include.schema.changes` is on; else none), for `cfg`'s captured tables.
async fn schema_snapshot(
    cfg: &SourceConfig,
    capture: &Capture,
    connector: &str,
    conn: &mut Conn,
    at: &BinlogOffset,
) -> Result<Batch<BinlogOffset>, SourceError> {
    let mut batch = Batch::default();
    if !cfg.schema_changes() {
        return Ok(batch);
    }
    let tables = capture.list_tables(conn).await?;
    let records = schema_change::snapshot_records(conn, &tables, &at.file, at.pos).await?;
    let topic: Arc<str> = Arc::from(cfg.logical_name());
    for r in records {
        let (key, value) = r.encode(connector, cfg.logical_name());
        batch.push(&topic, Some(key), Some(value));
    }
    Ok(batch)
}
