//! Sinks: consume Connect JSON topics and apply them to a database, exactly once.
//!
//! The loop: collect a bounded batch from the consumer group ([`consume`]),
//! decode every record ([`crate::connect`]), map it to a target row under
//! `pk_mode` ([`record`]), make the target table follow the message schemas
//! (`auto_create` / `auto_evolve`, DDL run *before* the data transaction since
//! MySQL commits implicitly on DDL), plan the DML ([`plan`]) and apply it
//! together with the batch's next offsets in **one database transaction**
//! ([`target`]). Offsets in `sluice_sink_offsets` are authoritative; the group
//! offsets committed to Kafka afterwards only serve lag tools.
//!
//! Contract: records of one partition are applied in offset order; a record
//! is "applied" when its row change and its next offset are committed in the
//! target; re-delivery after a crash or rebalance is skipped by offset, so
//! every record is applied exactly once.

pub mod consume;
pub mod dialect;
pub mod dlq;
pub mod plan;
pub mod record;
pub mod route;
pub mod target;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{Message, OwnedMessage};
use tokio_util::sync::CancellationToken;

pub use dialect::SinkError;

use crate::config::{DbEndpoint, ErrorsTolerance, KafkaConfig, PkMode, SinkConfig};
use crate::connect::Decoder;
use crate::metrics::METRICS;
use crate::schema::TableSchema;
use consume::SinkConsumer;
use record::{MapRules, RowChange, RowMapper, SinkRecord};
use route::TableNamer;
use target::Target;

/// Runs one sink until `cancel` fires or a definite error occurs.
pub async fn run(
    cfg: &SinkConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SinkError> {
    let endpoint = DbEndpoint::resolve(
        &cfg.name,
        &cfg.url,
        cfg.user.as_deref(),
        cfg.password.as_ref(),
        cfg.password_file.as_deref(),
    )
    .map_err(|e| SinkError::Invalid(e.to_string()))?;
    let rules = MapRules::from_config(cfg).map_err(SinkError::Invalid)?;
    let namer = TableNamer::new(cfg)?;
    let mut target = Target::connect(&endpoint).await?;
    target.ensure_offsets_table().await?;
    let mut consumer = SinkConsumer::new(cfg, kafka)?;
    let dead_letters = match (&cfg.dlq_topic, cfg.errors_tolerance) {
        (Some(topic), ErrorsTolerance::All) => Some(dlq::DeadLetters::new(kafka, topic)?),
        _ => None,
    };
    let mut state = SinkState {
        cfg,
        dead_letters,
        decoder: Decoder::new(),
        mapper: RowMapper::new(rules),
        namer,
        tables: HashMap::new(),
    };
    tracing::info!(pipeline = %cfg.name, target = %endpoint.display_url(), "sink started");
    let batch_size = usize::try_from(cfg.batch_size).unwrap_or(usize::MAX);
    let max_wait = Duration::from_millis(cfg.max_wait_ms);
    while !cancel.is_cancelled() {
        if consumer.take_rebalanced() {
            consumer.set_stored_offsets(target.load_offsets(&cfg.name).await?)?;
        }
        let mut batch = consumer.collect(batch_size, max_wait, &cancel).await?;
        if consumer.take_rebalanced() {
            consumer.set_stored_offsets(target.load_offsets(&cfg.name).await?)?;
            consumer.retain_owned(&mut batch);
        }
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let offsets = state.apply_batch(&mut target, &batch).await?;
        consumer.applied(&offsets);
        consumer.commit_group(&offsets);
        METRICS
            .sink_batch_seconds
            .with_label_values(&[&cfg.name])
            .observe(started.elapsed().as_secs_f64());
    }
    tracing::info!(pipeline = %cfg.name, "sink stopping");
    Ok(())
}

struct SinkState<'a> {
    cfg: &'a SinkConfig,
    dead_letters: Option<dlq::DeadLetters>,
    decoder: Decoder,
    mapper: RowMapper,
    namer: TableNamer,
    /// The target's current schema per table (what `describe_table` returned).
    tables: HashMap<String, TableSchema>,
}

impl SinkState<'_> {
    /// Decodes, evolves, plans and applies one batch; returns its next offsets.
    async fn apply_batch(
        &mut self,
        target: &mut Target,
        batch: &[OwnedMessage],
    ) -> Result<Vec<(String, i32, i64)>, SinkError> {
        let mut next: Vec<(String, i32, i64)> = Vec::new();
        let mut changes: Vec<RowChange> = Vec::with_capacity(batch.len());
        for msg in batch {
            match next
                .iter_mut()
                .find(|(t, p, _)| t == msg.topic() && *p == msg.partition())
            {
                Some(e) => e.2 = msg.offset() + 1,
                None => next.push((msg.topic().to_string(), msg.partition(), msg.offset() + 1)),
            }
            match self.decode_change(msg) {
                Ok(c) => changes.push(c),
                Err(e) if self.cfg.errors_tolerance == ErrorsTolerance::All => {
                    METRICS
                        .pipeline_errors
                        .with_label_values(&[&self.cfg.name, "record"])
                        .inc();
                    tracing::warn!(pipeline = %self.cfg.name, topic = msg.topic(), partition = msg.partition(),
                        offset = msg.offset(), error = %e, "record skipped (errors_tolerance = all)");
                    if let Some(dlq) = &self.dead_letters {
                        dlq.send(msg, "sluice.RecordError", &e.to_string()).await?;
                        METRICS
                            .sink_dead_letters
                            .with_label_values(&[&self.cfg.name])
                            .inc();
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.evolve(target, &changes).await?;
        let (statements, counts) = plan::plan(
            target.dialect(),
            &changes,
            self.cfg.insert_mode,
            self.cfg.delete_enabled,
        )?;
        let with_sink: Vec<(String, String, i32, i64)> = next
            .iter()
            .map(|(t, p, o)| (self.cfg.name.clone(), t.clone(), *p, *o))
            .collect();
        target.apply(&statements, &with_sink).await?;
        for (table, op, n) in &counts.applied {
            METRICS
                .sink_rows_applied
                .with_label_values(&[self.cfg.name.as_str(), table.as_str(), op])
                .inc_by(*n);
        }
        if counts.skipped_deletes > 0 {
            METRICS
                .sink_tombstones_skipped
                .with_label_values(&[&self.cfg.name])
                .inc_by(counts.skipped_deletes);
        }
        Ok(next)
    }

    /// Decodes one record and maps it to a target row.
    fn decode_change(&mut self, msg: &OwnedMessage) -> Result<RowChange, SinkError> {
        let at = || format!("{}[{}]@{}", msg.topic(), msg.partition(), msg.offset());
        // Only record_key reads the key: an unreadable key must not fail other modes.
        let key = match self.cfg.pk_mode {
            PkMode::RecordKey => msg.key(),
            _ => None,
        };
        let decoded = self
            .decoder
            .decode(key, msg.payload())
            .map_err(|e| SinkError::Record {
                at: at(),
                reason: e.to_string(),
            })?;
        let rec = SinkRecord {
            topic: msg.topic().to_string(),
            partition: msg.partition(),
            offset: msg.offset(),
            op: decoded.op,
            key: decoded.key,
            value: decoded.value,
        };
        let table = self.namer.table_for(msg.topic());
        self.mapper
            .map(&rec, &table)
            .map_err(|e| SinkError::Record {
                at: at(),
                reason: e.to_string(),
            })
    }

    /// Makes every table of `changes` accept their schemas (CREATE / ALTER).
    async fn evolve(
        &mut self,
        target: &mut Target,
        changes: &[RowChange],
    ) -> Result<(), SinkError> {
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for c in changes {
            let id = (c.table.as_str(), Arc::as_ptr(&c.schema) as usize);
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            self.ensure_table(target, &c.table, &c.schema).await?;
        }
        Ok(())
    }

    async fn ensure_table(
        &mut self,
        target: &mut Target,
        table: &str,
        schema: &TableSchema,
    ) -> Result<(), SinkError> {
        let dialect = target.dialect();
        let wanted = dialect.stored_schema(schema, &schema.primary_key);
        if !self.tables.contains_key(table) {
            if let Some(existing) = target.describe_table(table).await? {
                self.tables.insert(table.to_string(), existing);
            }
        }
        let ddl = match self.tables.get(table) {
            None if self.cfg.auto_create => {
                vec![dialect.create_table(table, schema, &schema.primary_key)?]
            }
            None => {
                return Err(SinkError::Schema {
                    table: table.to_string(),
                    reason: "table does not exist and auto_create is false".into(),
                })
            }
            Some(existing) => {
                let diff = existing.diff(&wanted);
                if diff.added.is_empty() && diff.widened.is_empty() && diff.incompatible.is_empty()
                {
                    return Ok(());
                }
                if !self.cfg.auto_evolve {
                    let names: Vec<&str> = diff.added.iter().map(|c| c.name.as_str()).collect();
                    return Err(SinkError::Schema {
                        table: table.to_string(),
                        reason: format!(
                            "table is missing fields {names:?} and auto_evolve is false"
                        ),
                    });
                }
                // Added columns take the message's own type and default.
                let mut diff = diff;
                for col in &mut diff.added {
                    if let Some(orig) = schema.column(&col.name) {
                        *col = orig.clone();
                    }
                }
                dialect.alter_table(table, existing, &diff)?
            }
        };
        for sql in &ddl {
            target.execute_ddl(sql).await?;
            METRICS
                .sink_ddl_applied
                .with_label_values(&[&self.cfg.name, table])
                .inc();
        }
        tracing::info!(pipeline = %self.cfg.name, table, statements = ddl.len(), "table created or evolved");
        match target.describe_table(table).await? {
            Some(now) => {
                self.tables.insert(table.to_string(), now);
                Ok(())
            }
            None => Err(SinkError::Schema {
                table: table.to_string(),
                reason: "table missing right after CREATE TABLE".into(),
            }),
        }
    }
}
