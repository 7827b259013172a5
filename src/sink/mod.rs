//! Sinks: consume Connect JSON (or Avro, through a Schema Registry) topics
//! and apply them to a database, exactly once.
//!
//! The data path, one module per step:
//!
//! ```text
//! consume ─► decode ─► plan ─► apply ─► target/{mysql,postgres,sqlite}
//! (Kafka     (Connect   (DML    (evolve,   (one DB transaction:
//!  group)     JSON →     steps,  bisect,    rows + offsets)
//!             rows,      pure)   DLQ)
//!             routing)
//! ```
//!
//! [`consume`] collects a bounded batch from the consumer group; [`decode`]
//! decodes every record ([`crate::connect`]; Avro records are first turned
//! into Connect JSON by `decode::wire`, their schemas fetched by id), maps it to a target row under
//! `pk_mode` and the field/time-zone rules into the table the routing rule
//! names; [`plan`] turns row changes into statements, with SQL text from the
//! pure [`dialect`]; [`apply`] makes the target tables follow the message
//! schemas (`auto_create` / `auto_evolve`, DDL run *before* the data
//! transaction since MySQL commits implicitly on DDL) and applies the steps
//! together with the batch's next offsets ([`offsets`]) in **one database
//! transaction** on the [`target`]. Offsets in `sluice_sink_offsets` are
//! authoritative; the group offsets committed to Kafka afterwards only serve
//! lag tools.
//!
//! The sink does not build [`crate::event::ChangeEvent`]s: a consumed record
//! becomes a [`decode::RowChange`] (a table, a row in the table's column
//! order and an op), which is what a target writes. See ARCHITECTURE.md.
//!
//! Contract: records of one partition are applied in offset order; a record
//! is "applied" when its row change and its next offset are committed in the
//! target; re-delivery after a crash or rebalance is skipped by offset, so
//! every record is applied exactly once. The apply transaction starts with a
//! compare-and-set of the offsets: it locks the batch's partitions' rows of
//! `sluice_sink_offsets` and, when a stored next offset is past the batch's
//! first offset (another member of the group applied those records, e.g.
//! while this one was frozen through a rebalance), rolls back with
//! [`SinkError::OffsetsMoved`]; the sink then reloads the stored offsets and
//! resumes from them, so nothing is applied a second time.
//!
//! **Pipelining.** Decoding and mapping batch N+1 runs in the sink's task
//! while batch N is applied in a spawned task that owns the target
//! connection; one batch is in flight at a time, batches commit in order,
//! and the consumer learns a batch's offsets only after its commit.
//!
//! **Bad records** (`errors_tolerance = "all"`): a record that cannot be
//! decoded or mapped, whose schema the table cannot follow (an incompatible
//! type change, a required field without default), or whose row the database
//! refuses for a definite reason that is the record's own (a value the column
//! cannot hold, a constraint) is written to `dlq_topic` with the reason and
//! skipped. A batch the database refuses is split in halves, each applied in
//! its own transaction with its own next offsets, down to single records
//! (`apply::fallback`): the good records are applied once, the bad ones go to the
//! dead-letter topic, and none is lost or doubled. The dead-letter write
//! happens before the offset that skips the record is committed, so the
//! topic is at-least-once (a crash in between writes the record twice).
//! Which errors are a record's is an allow-list per dialect
//! ([`SinkError::fault`], the README's "Sink errors" table); everything else
//! the target says (privileges, a missing trigger function or definer,
//! read-only, disk full, a table missing while `auto_create = false`) is the
//! pipeline's: retried with back-off when transient, a stop otherwise, and
//! never dead-lettered in any mode. `errors_tolerance = "none"` applies the
//! records before the first bad one and stops the pipeline naming it. A row
//! too large for one statement of the target is found before it is sent
//! ([`plan`]) and is a bad record like any other, never an endless retry.
//!
//! **Tasks.** `tasks_max = N` runs N copies of the loop below in this daemon,
//! each a member of the sink's consumer group with its own target connection;
//! the offsets compare-and-set keeps them apart exactly as it does instances.
//!
//! **Schemaless JSON** (`*.converter.schemas.enable = false`): the target
//! tables a batch routes to are read once per run (on a connection of their
//! own), and each record's fields are decoded as their columns' types
//! (`decode::schemaless`); such a sink never creates or alters tables.

pub mod apply;
pub mod consume;
pub mod decode;
pub mod dialect;
mod error;
pub mod offsets;
pub mod plan;
pub mod target;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

pub use error::{Fault, SinkError};

use crate::config::{ErrorsTolerance, KafkaConfig, SinkConfig};
use crate::metrics::{PipelineKind, METRICS};
use apply::{Applier, SinkState, Stage};
use consume::SinkConsumer;
use decode::{Decoding, MapRules, Planning, TableNamer};
use target::Target;

/// Runs one sink until `cancel` fires or a definite error occurs.
///
/// Two stages overlap: this task collects batch N+1 from Kafka and decodes
/// and maps it while an applier task (`apply::Stage`, spawned per batch and
/// handed back when done) applies batch N. At most one batch is in flight,
/// so memory stays bounded by two batches, and batch N+1 is only applied
/// after batch N committed (per-partition order holds). The consumer learns
/// a batch's offsets only after its commit. After a rebalance, or when the
/// offsets compare-and-set refused the batch in flight, `Stage::resync`
/// brings the consumer back in line with the target's stored offsets.
///
/// With `tasks_max = N > 1` (Connect's `tasks.max`), N such tasks run here,
/// each its own group member (consumer), target connection and applier: the
/// group spreads the partitions over them, and the offsets compare-and-set
/// keeps every partition's records applied once, as between instances. The
/// first task that fails stops the others and its error is the pipeline's.
pub async fn run(
    cfg: &SinkConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SinkError> {
    let tasks = cfg.task_count();
    // The tasks share the registry clients, so each schema is fetched once.
    let registries = decode::registries(cfg)?;
    if tasks == 1 {
        return run_task(cfg, kafka, cancel, 0, &registries).await;
    }
    let stop = cancel.child_token();
    let registries = &registries;
    let runs = (0..tasks).map(|task| {
        let stop = stop.clone();
        async move {
            let result = run_task(cfg, kafka, stop.clone(), task, registries).await;
            if result.is_err() {
                stop.cancel();
            }
            result
        }
    });
    let results = futures::future::join_all(runs).await;
    results.into_iter().collect()
}

/// One task of a sink (see [`run`]); only task 0 exports the consumer lag.
async fn run_task(
    cfg: &SinkConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
    task: u32,
    registries: &crate::registry::ConverterClients,
) -> Result<(), SinkError> {
    let endpoint = cfg.endpoint()?;
    let rules = MapRules::from_config(cfg)?;
    let namer = TableNamer::new(cfg)?;
    let statement_timeout =
        (cfg.statement_timeout_ms > 0).then(|| Duration::from_millis(cfg.statement_timeout_ms));
    let mut target = Target::connect_bounded(&endpoint, statement_timeout).await?;
    apply::ensure_offsets_table(&mut target).await?;
    let mut consumer = SinkConsumer::new(cfg, kafka)?;
    let dead_letters = match (&cfg.dlq_topic, cfg.errors_tolerance) {
        (Some(topic), ErrorsTolerance::All) => {
            let replication = cfg.dlq_replication_factor.map_or(-1, i32::from);
            apply::dlq::DeadLetters::ensure_topic(&cfg.name, kafka, topic, replication).await?;
            let context = cfg.dlq_context_headers.then(|| cfg.name.clone());
            let value = cfg.converters()?.1.kind;
            Some(apply::dlq::DeadLetters::new(kafka, topic, context, value)?)
        }
        _ => None,
    };
    let bulk = Arc::new(AtomicBool::new(target.bulk_steps()));
    let transforms = Arc::new(cfg.transform_chain()?);
    let mut decoding = Decoding::new(
        cfg,
        transforms,
        &rules,
        &namer,
        Planning {
            dialect: target.dialect(),
            insert_mode: cfg.insert_mode,
            delete_enabled: cfg.delete_enabled,
            bulk: Arc::clone(&bulk),
            formats: target.copy_formats(),
            max_statement: target.max_statement_bytes(),
        },
        decode::keeps_records(cfg),
        registries,
    );
    // Schemaless records are typed by the target's tables, read on a
    // connection of their own (the applier's is busy with the batch in flight).
    let mut describer = match decoding.needs_tables() {
        true => Some(Target::connect_bounded(&endpoint, statement_timeout).await?),
        false => None,
    };
    let mut stage = Stage::Idle(Box::new(Applier {
        state: SinkState {
            cfg: Arc::new(cfg.clone()),
            dead_letters,
            tables: HashMap::new(),
            bulk,
        },
        target,
    }));
    tracing::info!(pipeline = %cfg.name, task, target = %endpoint.display_url(), "sink started");
    METRICS.init_pipeline(&cfg.name, PipelineKind::Sink);
    let _lag = match task {
        0 => Some(consume::lag::LagMonitor::start(cfg, kafka)?),
        _ => None,
    };
    let batch_size = usize::try_from(cfg.batch_size).unwrap_or(usize::MAX);
    let max_bytes = usize::try_from(cfg.max_batch_bytes).unwrap_or(usize::MAX);
    let max_wait = Duration::from_millis(cfg.max_wait_ms);
    while !cancel.is_cancelled() {
        if consumer.take_rebalanced() {
            // Let the batch in flight commit (or fail), then reload what the target holds.
            stage
                .resync(&mut consumer, cfg, &mut Vec::new(), true)
                .await?;
        }
        let mut batch = consumer
            .collect(batch_size, max_bytes, max_wait, &cancel)
            .await?;
        let rebalanced = consumer.take_rebalanced();
        if rebalanced || batch.is_empty() {
            stage
                .resync(&mut consumer, cfg, &mut batch, rebalanced)
                .await?;
            if batch.is_empty() {
                continue;
            }
        }
        if let Some(describer) = describer.as_mut() {
            decoding.describe_tables(&batch, describer).await?;
        }
        decoding.resolve_schemas(&batch).await?;
        // Decoding runs on the blocking pool while the previous batch is applied.
        let (mut batch, prepared) = decoding.prepare(batch).await?;
        stage.resync(&mut consumer, cfg, &mut batch, false).await?;
        if batch.is_empty() {
            // Held back: it follows a batch the compare-and-set refused.
            continue;
        }
        stage.start(batch, prepared)?;
        // A task spawned from a busy task waits in this worker's LIFO slot,
        // which other workers cannot steal: let the apply start now, and this
        // task move on (collecting the next batch) on another worker.
        tokio::task::yield_now().await;
    }
    stage
        .resync(&mut consumer, cfg, &mut Vec::new(), false)
        .await?;
    tracing::info!(pipeline = %cfg.name, "sink stopping");
    Ok(())
}
