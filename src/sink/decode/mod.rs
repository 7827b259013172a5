//! The sink's decoding stage: Connect JSON records → planned target rows,
//! on tokio's blocking pool while the previous batch is applied (see the
//! pipelining notes in `sink`).
//!
//! [`message`] holds a consumed record ([`SinkMessage`]); [`wire`] turns
//! Avro records (Confluent's wire format) into Connect JSON, with their
//! schemas fetched from the registry before the batch is decoded; [`record`] maps a
//! decoded record to a target row under `pk_mode`, the field filters and
//! `db_timezone` ([`RowChange`]); [`route`] names its table
//! (`table_name_format`, the rename regex).

pub mod message;
pub mod record;
pub mod route;
mod schemaless;
pub mod wire;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use message::{keeps_records, SinkMessage};
pub use record::{MapRules, RowChange};
pub use route::TableNamer;

use super::dialect::pg_binary::CopyFormats;
use super::{dialect, plan, SinkError};
use crate::config::{PkMode, SinkConfig};
use crate::connect::Decoder;
use crate::event::Op;
use crate::transforms::{Chain, Data, Record};
use record::{RowMapper, SinkRecord};
pub(crate) use wire::registries;
use wire::WireDecoders;

/// A batch's decoded changes, aligned with its messages: `Ok(None)` for a
/// delete that `delete_enabled = false` skips, `Err` for a record that could
/// not be decoded or mapped (dead-lettered or fatal when applied).
pub(crate) type Changes = Vec<Result<Option<RowChange>, SinkError>>;

/// A decoded batch and, when planning succeeded, its plan (made on the
/// decode threads so the apply task only ships it).
pub(crate) struct Prepared {
    pub(crate) changes: Changes,
    pub(crate) plan: Option<PrePlan>,
}

/// The plan of every change of a batch, made before the apply: valid while
/// the apply writes exactly those changes with the same kind of steps.
pub(crate) struct PrePlan {
    /// Whether it may hold bulk steps (see [`Target::bulk_steps`]).
    pub(crate) bulk: bool,
    pub(crate) steps: Vec<plan::Statement>,
    pub(crate) counts: plan::PlanCounts,
    /// How many changes it writes.
    pub(crate) changes: usize,
}

impl PrePlan {
    /// Appends `other` (the plan of the changes that follow).
    fn extend(&mut self, other: PrePlan) {
        self.steps.extend(other.steps);
        for (table, op, n) in other.counts.applied {
            match (self.counts.applied.iter_mut()).find(|(t, o, _)| *t == table && *o == op) {
                Some(e) => e.2 += n,
                None => self.counts.applied.push((table, op, n)),
            }
        }
        self.changes += other.changes;
    }
}

/// The decoding side: Connect JSON → target rows (pure CPU, no I/O), on up
/// to [`MAX_DECODE_THREADS`] threads (one per two cores): a batch is cut into
/// contiguous parts, each decoded by its own [`DecodeWorker`] (own schema
/// caches), and the results are joined in the batch's order.
pub(crate) struct Decoding {
    workers: Vec<DecodeWorker>,
    /// How batches are planned (see [`PrePlan`]).
    planning: Arc<Planning>,
    /// Whether records keep their bytes once decoded (only a dead-letter
    /// topic needs them; dropping them halves the memory of two batches in
    /// flight).
    keep_payloads: bool,
    /// Target tables, for schemaless records ([`Decoding::describe_tables`]).
    tables: TargetTables,
    schemaless: Schemaless,
    namer: TableNamer,
    unquoted: Option<dialect::Dialect>,
    /// Readers of the registry converters' schemas (see [`wire`]).
    wire: WireDecoders,
}

/// What planning a batch needs to know about the sink and its target.
pub(crate) struct Planning {
    pub(crate) dialect: dialect::Dialect,
    pub(crate) insert_mode: crate::config::InsertMode,
    pub(crate) delete_enabled: bool,
    /// [`Target::bulk_steps`], kept current by the apply task.
    pub(crate) bulk: Arc<AtomicBool>,
    /// [`Target::copy_formats`], kept current by the apply task.
    pub(crate) formats: Option<CopyFormats>,
    /// [`Target::max_statement_bytes`].
    pub(crate) max_statement: usize,
}

impl Planning {
    /// Plans the changes of `part` (`None` if planning fails: the apply then
    /// plans again and reports the error where it belongs).
    fn plan(&self, part: &Changes) -> Option<PrePlan> {
        let changes: Vec<&RowChange> = (part.iter())
            .filter_map(|c| c.as_ref().ok().and_then(Option::as_ref))
            .collect();
        let bulk = self.bulk.load(Ordering::Relaxed);
        let (steps, counts) = plan::plan_steps_with(
            self.dialect,
            &changes,
            self.insert_mode,
            self.delete_enabled,
            bulk,
            self.formats.as_ref(),
            self.max_statement,
        )
        .ok()?;
        Some(PrePlan {
            bulk,
            steps,
            counts,
            changes: changes.len(),
        })
    }
}

/// Most threads one sink decodes a batch on.
const MAX_DECODE_THREADS: usize = 4;
/// Fewest records per decode thread (smaller batches are decoded on one).
const MIN_RECORDS_PER_THREAD: usize = 256;

/// One decoding thread's state.
struct DecodeWorker {
    pk_mode: PkMode,
    /// pk_fields (a schemaless primitive key's column).
    pk_fields: Vec<String>,
    delete_enabled: bool,
    decoder: Decoder,
    mapper: RowMapper,
    namer: TableNamer,
    /// Values (and keys) are schemaless JSON, typed by the target's tables.
    schemaless: Schemaless,
    /// `quote_sql_identifiers = "never"`: the dialect whose unquoted names the target uses.
    unquoted: Option<dialect::Dialect>,
    /// The sink's transforms (empty: none), run before the record is mapped.
    transforms: Arc<Chain>,
}

/// The name the target gives `name` (see [`record::MapRules::unquoted`]); a
/// name that cannot be unquoted stays as it is (the mapper reports it).
fn target_name(unquoted: Option<dialect::Dialect>, name: &str) -> String {
    match unquoted {
        Some(d) => dialect::unquoted::unquoted_name(d, name).unwrap_or_else(|_| name.to_string()),
        None => name.to_string(),
    }
}

/// Which parts of a record are schemaless JSON (`*.converter.schemas.enable = false`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Schemaless {
    pub(crate) key: bool,
    pub(crate) value: bool,
}

/// The target tables schemaless records are typed by, as described.
pub(crate) type TargetTables = Arc<std::collections::HashMap<String, crate::schema::TableSchema>>;

impl Decoding {
    pub(crate) fn new(
        cfg: &SinkConfig,
        transforms: Arc<Chain>,
        rules: &MapRules,
        namer: &TableNamer,
        planning: Planning,
        keep_payloads: bool,
        registries: &crate::registry::ConverterClients,
    ) -> Decoding {
        // Half the cores: the target database (and often the broker) runs on
        // the same host and needs CPU too; on two cores one decode thread
        // applied faster than two (measured, 1M-row benchmark).
        let threads = (std::thread::available_parallelism().map_or(1, usize::from) / 2)
            .clamp(1, MAX_DECODE_THREADS);
        let mut rules = rules.clone();
        if cfg.quote_sql_identifiers == crate::config::QuoteIdentifiers::Never {
            rules.unquoted = Some(planning.dialect);
        }
        let workers = (0..threads)
            .map(|_| DecodeWorker {
                pk_mode: cfg.pk_mode,
                pk_fields: cfg.pk_fields.clone(),
                delete_enabled: cfg.delete_enabled,
                decoder: Decoder::new(),
                mapper: RowMapper::new(rules.clone()),
                namer: namer.clone(),
                schemaless: schemaless_of(cfg),
                unquoted: rules.unquoted,
                transforms: Arc::clone(&transforms),
            })
            .collect();
        Decoding {
            workers,
            planning: Arc::new(planning),
            keep_payloads,
            tables: TargetTables::default(),
            schemaless: schemaless_of(cfg),
            namer: namer.clone(),
            unquoted: rules.unquoted,
            wire: WireDecoders::new(registries, cfg.pk_mode),
        }
    }

    /// Fetches the registry schemas `batch`'s records name that this task
    /// has not read yet (see [`wire`]); a no-op when both converters are JSON.
    pub(crate) async fn resolve_schemas(&mut self, batch: &[SinkMessage]) -> Result<(), SinkError> {
        self.wire.resolve(batch).await
    }

    /// True when records are typed by the target's tables, which
    /// [`Decoding::describe_tables`] must read before a batch is prepared.
    pub(crate) fn needs_tables(&self) -> bool {
        self.schemaless.value || self.schemaless.key
    }

    /// Reads (once per run) the target tables `batch` routes to: a table
    /// that does not exist is the pipeline's fault ([`SinkError::TableMissing`]:
    /// schemaless records cannot create it).
    pub(crate) async fn describe_tables(
        &mut self,
        batch: &[SinkMessage],
        target: &mut super::target::Target,
    ) -> Result<(), SinkError> {
        for msg in batch {
            let Ok(table) = self.namer.table_ref(msg.topic()) else {
                continue; // the record's own error, reported when decoded
            };
            let table = target_name(self.unquoted, table);
            if self.tables.contains_key(&table) {
                continue;
            }
            let described =
                target
                    .describe_table(&table)
                    .await?
                    .ok_or_else(|| SinkError::TableMissing {
                        table: table.clone(),
                    })?;
            Arc::make_mut(&mut self.tables).insert(table, described);
        }
        Ok(())
    }

    /// Decodes, maps and plans every record of `batch`, in order, on tokio's
    /// blocking pool (it is pure CPU for milliseconds; the runtime's workers
    /// stay free for the apply task): the batch is cut into contiguous
    /// parts, one per worker, and each worker plans its own part (runs never
    /// span parts: each part's rows carry its own worker's schema `Arc`s, so
    /// the joined plan is the one the whole batch would get, cut at the
    /// parts' seams). The blocking pool's threads are long-lived, so each
    /// worker's allocations stay in a few malloc arenas.
    pub(crate) async fn prepare(
        &mut self,
        mut batch: Vec<SinkMessage>,
    ) -> Result<(Vec<SinkMessage>, Prepared), SinkError> {
        let len = batch.len();
        let threads = (len / MIN_RECORDS_PER_THREAD).clamp(1, self.workers.len());
        let per = len.div_ceil(threads).max(1);
        // Contiguous parts, each moved to its worker (which frees the
        // records' bytes once decoded, on its own thread).
        let mut parts = Vec::with_capacity(threads);
        for i in (1..threads).rev() {
            parts.push(batch.split_off((i * per).min(batch.len())));
        }
        parts.push(batch);
        parts.reverse();
        let keep = self.keep_payloads;
        let mut tasks = Vec::with_capacity(threads);
        for (mut worker, mut part) in self.workers.drain(..threads).zip(parts) {
            let planning = Arc::clone(&self.planning);
            let tables = Arc::clone(&self.tables);
            let wire = self.wire.clone();
            tasks.push(tokio::task::spawn_blocking(move || {
                let changes: Changes = (part.iter())
                    .map(|m| worker.decode_change(m, &tables, &wire))
                    .collect();
                if !keep {
                    part.iter_mut().for_each(SinkMessage::drop_data);
                }
                let plan = planning.plan(&changes);
                (worker, part, changes, plan)
            }));
        }
        let mut batch = Vec::with_capacity(len);
        let mut joined: Option<Prepared> = None;
        for (i, task) in tasks.into_iter().enumerate() {
            let (worker, part, changes, plan) = match task.await {
                Ok(done) => done,
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(e) => {
                    return Err(SinkError::TaskLost {
                        task: "decode",
                        source: e,
                    })
                }
            };
            self.workers.insert(i, worker);
            if batch.is_empty() {
                batch = part;
            } else {
                batch.extend(part);
            }
            joined = Some(match joined {
                None => Prepared { changes, plan },
                Some(mut all) => {
                    all.changes.extend(changes);
                    all.plan = all.plan.zip(plan).map(|(mut a, b)| {
                        a.extend(b);
                        a
                    });
                    all
                }
            });
        }
        let prepared = joined.unwrap_or(Prepared {
            changes: Vec::new(),
            plan: None,
        });
        Ok((batch, prepared))
    }
}

/// Which parts of `cfg`'s records are schemaless.
fn schemaless_of(cfg: &SinkConfig) -> Schemaless {
    Schemaless {
        key: cfg.key_converter_schemas_enable == Some(false),
        value: cfg.value_converter_schemas_enable == Some(false),
    }
}

impl DecodeWorker {
    /// Decodes one record and maps it to a target row; `None` for a delete
    /// that `delete_enabled = false` skips.
    fn decode_change(
        &mut self,
        msg: &SinkMessage,
        tables: &TargetTables,
        wire: &WireDecoders,
    ) -> Result<Option<RowChange>, SinkError> {
        let at = || format!("{}[{}]@{}", msg.topic(), msg.partition(), msg.offset());
        let unreadable = |e: wire::WireError| SinkError::Record {
            at: at(),
            source: e.into(),
        };
        // Only record_key (and a transform of keys) reads the key: an
        // unreadable key must not fail other modes.
        let key = match self.pk_mode {
            _ if self.pk_mode == PkMode::RecordKey || self.transforms.uses_keys() => msg
                .key()
                .map(|k| wire.key(k))
                .transpose()
                .map_err(unreadable)?,
            _ => None,
        };
        let value = msg
            .payload()
            .map(|v| wire.value(v))
            .transpose()
            .map_err(unreadable)?;
        let transformed;
        let (key, value, topic) = if self.transforms.is_empty() {
            (key, value, Arc::clone(msg.topic_arc()))
        } else {
            let fault = |e: crate::transforms::TransformError| SinkError::Record {
                at: at(),
                source: e.into(),
            };
            let parse = |b: Option<&[u8]>, what| b.map_or(Ok(None), |b| Data::parse(b, what));
            let record = Record {
                topic: msg.topic().to_owned(),
                partition: Some(msg.partition()),
                offset: Some(msg.offset()),
                timestamp: msg.timestamp().to_millis(),
                key: parse(key.as_deref(), "key").map_err(fault)?,
                value: parse(value.as_deref(), "value").map_err(fault)?,
                headers: Vec::new(),
            };
            let Some(r) = self.transforms.apply(record).map_err(fault)? else {
                return Ok(None); // dropped by a transform: skipped, like a filtered record
            };
            // A null value with a schema (ExtractNewRecordState's `tombstone`
            // mode) is a tombstone to a sink, as Connect hands it over.
            let value = r.value.filter(|d| !d.value.is_null());
            transformed = r.topic;
            (
                r.key
                    .map(|d| std::borrow::Cow::Owned(d.render().into_bytes())),
                value.map(|d| std::borrow::Cow::Owned(d.render().into_bytes())),
                Arc::from(transformed.as_str()),
            )
        };
        let mut payload = value.as_deref();
        let mut key = key.as_deref();
        let wrapped;
        let wrapped_key;
        if self.schemaless.value || self.schemaless.key {
            let table = self.namer.table_ref(&topic)?;
            let record = |e: record::RecordError| SinkError::Record {
                at: at(),
                source: e.into(),
            };
            let unquoted = self.unquoted;
            let fold = move |name: &str| target_name(unquoted, name);
            let table = fold(table);
            let Some(target) = tables.get(&table) else {
                return Err(SinkError::TableMissing { table });
            };
            if self.schemaless.value {
                if let Some(bytes) = payload {
                    wrapped = schemaless::wrap_value(target, &fold, bytes).map_err(record)?;
                    payload = Some(wrapped.as_bytes());
                }
            }
            if self.schemaless.key {
                if let Some(bytes) = key {
                    wrapped_key = schemaless::wrap_key(target, &fold, &self.pk_fields, bytes)
                        .map_err(record)?;
                    key = wrapped_key.as_deref().map(str::as_bytes);
                }
            }
        }
        let decoded = self
            .decoder
            .decode(key, payload)
            .map_err(|e| SinkError::Record {
                at: at(),
                source: e.into(),
            })?;
        let rec = SinkRecord {
            topic: Arc::clone(&topic),
            partition: msg.partition(),
            offset: msg.offset(),
            op: decoded.op,
            key: decoded.key,
            value: decoded.value,
        };
        if !self.delete_enabled && self.mapper.op_of(&rec) == Op::Delete {
            return Ok(None);
        }
        let table = self.namer.table_ref(&topic)?;
        self.mapper
            .map(&rec, table)
            .map(Some)
            .map_err(|e| SinkError::Record {
                at: at(),
                source: e.into(),
            })
    }
}
