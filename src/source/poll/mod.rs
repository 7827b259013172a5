//! The polling source: the Kafka Connect JDBC source connector's behaviour.
//!
//! Modes, as in Connect:
//! - `incrementing`: `WHERE inc > last ORDER BY inc` — new rows only.
//! - `timestamp`: `WHERE ts > last AND ts < now - delay ORDER BY ts` — new and
//!   changed rows; several timestamp columns are `COALESCE`d in order.
//! - `timestamp+incrementing`: `WHERE ts < now - delay AND ((ts = last_ts AND
//!   inc > last_inc) OR ts > last_ts) ORDER BY ts, inc` — no row lost when
//!   several share a timestamp.
//! - `bulk`: the whole table on every poll.
//!
//! Either the tables of the URL's database (`tables` / `table_exclude`) are
//! read, each to `topic_prefix` + table, or one custom `query` to the topic
//! `topic_prefix` ([`query`] has the SQL). `timestamp_delay_interval_ms` keeps
//! rows whose timestamp is younger than the delay for a later poll, so a
//! transaction that commits late with an older timestamp is not skipped.
//! `timestamp_initial` sets where timestamp modes start when no offset is
//! stored (-1: the database's current time, stored at once as the offset so
//! a restart does not move it). Before the first poll of a table (or query)
//! its columns are probed: the mode's columns must exist and, unless
//! `validate_non_null = false`, be `NOT NULL` (for timestamps: at least one),
//! as Connect checks tables (a query's nullable columns are only logged, as
//! Connect does not check queries). `db_timezone` is the zone DATETIME values are in: they
//! are read as instants of that zone, and the offset bounds compared with
//! DATETIME columns are that zone's wall times ([`DbZone`]).
//!
//! The schema is taken from each query's result-set metadata, so a column
//! added with `ALTER TABLE` appears in the next message. Results are streamed
//! and cut into batches of `batch_max_rows` (or `max_batch_bytes` of encoded
//! records, whichever comes first); each batch and the table's offset
//! after its last row are written in one Kafka transaction, so after a crash
//! the source resumes exactly after the last committed row: nothing is re-sent
//! and nothing skipped (for `timestamp` mode, rows sharing the last timestamp
//! that were not yet committed are the mode's known blind spot, as in Connect).
//!
//! Reading and publishing overlap: the shared [publisher](super::publish)
//! task owns the producer and sends and commits batch N while the poller
//! reads and encodes batch N+1. The channel holds one batch and the poller
//! waits for the previous batch's outcome before sending the next, so at
//! most these two batches exist. A table's offset counts as committed only
//! once its batch's transaction has committed (reported on the batch's
//! `done` channel, with the messages' buffers, which go back to the encoder).

mod probe;
mod query;

pub use self::probe::preflight;
use self::probe::{check_columns, spec_for};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row as MyRow, Value as MyValue};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use self::query::{Param, QuerySpec};
use super::emit::{Buffers, Emitter};
use super::mysql_types::{column_from_result, datetime_columns, value_from_mysql};
use super::publish::{Batch, Checkpoint, Outcome, Publisher, SourceOffset};
use super::SourceError;
use crate::config::{ConfigError, DbZone, Delivery, KafkaConfig, PollMode, SourceConfig};
use crate::event::{ChangeEvent, Op, TableId, Value};
use crate::kafka::offsets;
use crate::kafka::producer::PipelineProducer;
use crate::metrics::{now_ms, PipelineKind, SourceLag, METRICS};
use crate::mysql;
use crate::position::{PollOffset, Position};
use crate::schema::TableSchema;

/// The offsets-topic partition (and `TableId` table) of a custom query.
const QUERY_PARTITION: &str = "query";

/// Per-table state kept between polls.
struct TableState {
    offset: PollOffset,
    schema: Option<Arc<TableSchema>>,
    /// The probed columns; `None` until the first poll and after the
    /// result's columns change.
    probe: Option<Probe>,
}

impl TableState {
    fn new(offset: PollOffset) -> TableState {
        TableState {
            offset,
            schema: None,
            probe: None,
        }
    }
}

/// What a probe of the result's columns learnt.
#[derive(Debug, Clone, Copy)]
struct Probe {
    /// The (first) timestamp column is a DATETIME: bounds are wall times of
    /// `db_timezone`, not instants.
    ts_is_datetime: bool,
}

/// Everything one poll of one table needs.
struct Poller<'a> {
    cfg: &'a SourceConfig,
    mode: PollMode,
    database: String,
    zone: DbZone,
    /// Batches to the publisher task.
    batches: mpsc::Sender<Batch<PollOffset>>,
    emitter: Emitter,
}

impl SourceOffset for PollOffset {
    /// The poll source keeps no position metrics.
    fn committed(_: &str, _: Option<&Self>, _: u64) {}
}

/// Runs the poll source until cancelled.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        pipeline: cfg.name.clone(),
        key: key.into(),
        reason,
    };
    let endpoint = cfg.endpoint()?;
    // A query may name its tables with their database.
    let database = match (endpoint.database(), &cfg.query) {
        (Some(db), _) => db,
        (None, Some(_)) => String::new(),
        (None, None) => return Err(invalid("url", "names no database".into()).into()),
    };
    let mode = cfg
        .mode
        .ok_or_else(|| invalid("mode", "is not set".into()))?;
    let zone = cfg.zone()?;
    let txn_id =
        (cfg.delivery == Delivery::ExactlyOnce).then(|| format!("sluice-source-{}", cfg.name));
    // Independent setup steps run concurrently (each is a few round trips):
    // the database pool, the offsets topic, and the producer, whose
    // init_transactions aborts whatever our previous incarnation left open, so
    // the offsets read after both are final.
    let (pool, (), producer) = tokio::try_join!(
        async { Ok::<_, SourceError>(mysql::pool_settled(&endpoint).await?) },
        async {
            Ok::<_, SourceError>(offsets::ensure_topic(kafka, &kafka.offsets_topic, 1).await?)
        },
        async { Ok::<_, SourceError>(PipelineProducer::connect(kafka, &cfg.name, txn_id).await?) },
    )?;
    let mut conn = pool.get_conn().await?;
    let stored = offsets::read_offsets(kafka, &kafka.offsets_topic, &cfg.name).await?;
    let mut state: HashMap<String, TableState> = HashMap::new();
    for (table, json) in stored {
        let offset: PollOffset =
            serde_json::from_value(json.clone()).map_err(|e| SourceError::Offset {
                partition: table.clone(),
                offset: json.to_string(),
                source: e.into(),
            })?;
        state.insert(table, TableState::new(offset));
    }
    tracing::info!(pipeline = %cfg.name, tables = state.len(), "poll source started; offsets loaded");
    METRICS.init_pipeline(&cfg.name, PipelineKind::Source);
    // Lag = time since the start of the last poll that read every table to its end.
    let lag = SourceLag::start(&cfg.name);

    let publisher = Publisher::spawn(
        producer,
        1,
        usize::try_from(cfg.max_batch_bytes).unwrap_or(usize::MAX),
        kafka.offsets_topic.clone(),
        cfg.name.clone(),
        super::wire::Wire::for_source(cfg)?,
    );
    let mut poller = Poller {
        cfg,
        mode,
        database: database.clone(),
        zone,
        batches: publisher.sender().clone(),
        emitter: Emitter::new(Arc::new(cfg.clone()), cfg.name.clone(), Buffers::Recycle)?,
    };
    let result = async {
        while !cancel.is_cancelled() {
            let cycle_start = now_ms();
            let tables = match &cfg.query {
                Some(_) => vec![None],
                None => discover_tables(&mut conn, &database, &cfg.tables, &cfg.table_exclude)
                    .await?
                    .into_iter()
                    .map(Some)
                    .collect(),
            };
            for table in tables {
                if cancel.is_cancelled() {
                    break;
                }
                let key = match &table {
                    Some(t) => format!("{database}.{t}"),
                    None => QUERY_PARTITION.to_string(),
                };
                let st = state
                    .entry(key.clone())
                    .or_insert_with(|| TableState::new(PollOffset::default()));
                poller
                    .poll_table(&mut conn, table.as_deref(), &key, st, &cancel)
                    .await?;
            }
            lag.caught_up_at(cycle_start);
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = tokio::time::sleep(Duration::from_millis(cfg.poll_interval_ms)) => {}
            }
        }
        Ok::<(), SourceError>(())
    }
    .await;
    // Closing the channel ends the publisher (aborting an open transaction);
    // wait for it so no transaction of this run outlives it.
    drop(poller);
    let published = publisher.finish().await;
    drop(conn);
    pool.disconnect().await.ok();
    result.and(published)
}

/// Lists the base tables of `database` that pass the include/exclude lists.
/// List entries may be `table` or `database.table`.
async fn discover_tables(
    conn: &mut Conn,
    database: &str,
    include: &[String],
    exclude: &[String],
) -> Result<Vec<String>, SourceError> {
    let all: Vec<String> = conn
        .exec(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
            (database,),
        )
        .await?;
    let matches = |list: &[String], t: &str| {
        list.iter().any(|e| {
            e == t
                || e.split_once('.')
                    .is_some_and(|(d, n)| d == database && n == t)
        })
    };
    Ok(all
        .into_iter()
        .filter(|t| include.is_empty() || matches(include, t))
        .filter(|t| !matches(exclude, t))
        .collect())
}

/// Renders a microsecond timestamp as a MySQL DATETIME parameter.
fn datetime_param(micros: i64) -> MyValue {
    let secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000) as u32;
    match chrono::DateTime::from_timestamp(secs, us * 1000) {
        Some(dt) => {
            use chrono::{Datelike, Timelike};
            let n = dt.naive_utc();
            MyValue::Date(
                n.year().clamp(0, 9999) as u16,
                n.month() as u8,
                n.day() as u8,
                n.hour() as u8,
                n.minute() as u8,
                n.second() as u8,
                us,
            )
        }
        None => MyValue::Date(1970, 1, 1, 0, 0, 0, 0),
    }
}

/// A query parameter for the driver: instants compared with a DATETIME
/// column become that zone's wall time (TIMESTAMP columns compare in the
/// session zone, UTC).
fn param_value(p: Param, zone: DbZone, ts_is_datetime: bool) -> MyValue {
    match p {
        Param::Int(i) => MyValue::Int(i),
        Param::Time(us) if ts_is_datetime => datetime_param(zone.to_local_micros(us)),
        Param::Time(us) => datetime_param(us),
    }
}

impl Poller<'_> {
    /// What the source's queries read from `table` (`None`: the custom query).
    fn spec<'s>(&'s self, table: Option<&'s str>) -> QuerySpec<'s> {
        let mut spec = spec_for(self.cfg, self.mode, &self.database, table);
        spec.suffix = self.cfg.query_suffix.as_deref();
        spec
    }

    /// The database's current time, in µs since the epoch.
    async fn db_now(conn: &mut Conn) -> Result<i64, SourceError> {
        let now: Option<i64> = conn
            .query_first("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)")
            .await?;
        Ok(now.unwrap_or_else(|| now_ms().saturating_mul(1000)))
    }

    /// The database's current time minus the configured delay, in µs.
    async fn now_bound(&self, conn: &mut Conn) -> Result<i64, SourceError> {
        if !self.mode.uses_timestamp() {
            return Ok(i64::MAX / 2);
        }
        let delay =
            i64::try_from(self.cfg.timestamp_delay_interval_ms).unwrap_or(i64::MAX / 2_000) * 1000;
        Ok(Self::db_now(conn).await? - delay)
    }

    /// With no stored offset, timestamp modes start at `timestamp_initial`;
    /// the offset is stored at once, so "now" (-1) keeps its meaning after a
    /// restart that comes before the first row.
    async fn initial_offset(
        &mut self,
        conn: &mut Conn,
        key: &Arc<str>,
        st: &mut TableState,
    ) -> Result<(), SourceError> {
        let Some(initial) = self.cfg.timestamp_initial else {
            return Ok(());
        };
        if !self.mode.uses_timestamp() || st.offset.timestamp.is_some() {
            return Ok(());
        }
        let micros = if initial == -1 {
            Self::db_now(conn).await?
        } else {
            initial.saturating_mul(1000)
        };
        let mut offset = st.offset.clone();
        offset.set_timestamp_micros(micros);
        let (tx, rx) = oneshot::channel();
        let batch = Batch {
            offset: Some(Checkpoint {
                key: Arc::clone(key),
                offset: offset.clone(),
            }),
            done: Some(tx),
            ..Batch::default()
        };
        self.batches
            .send(batch)
            .await
            .map_err(|_| SourceError::PublisherGone)?;
        let spent = rx.await.map_err(|_| SourceError::PublisherGone)??;
        self.emitter.recycle(spent);
        tracing::info!(
            pipeline = %self.cfg.name,
            partition = %key,
            timestamp_ms = micros.div_euclid(1000),
            "no stored offset: starting at timestamp.initial (stored)"
        );
        st.offset = offset;
        Ok(())
    }

    /// Polls one table (`None`: the custom query) to the end of its current
    /// result, in batches.
    async fn poll_table(
        &mut self,
        conn: &mut Conn,
        table: Option<&str>,
        partition: &str,
        st: &mut TableState,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        let table_name = table.unwrap_or(QUERY_PARTITION);
        let table_id = TableId::new(self.database.clone(), table_name);
        let offset_key: Arc<str> = offsets::record_key(&self.cfg.name, partition).into();
        let probe = match st.probe {
            Some(p) => p,
            None if self.mode == PollMode::Bulk => Probe {
                ts_is_datetime: false,
            },
            None => {
                let result = conn.exec_iter(self.spec(table).probe(), ()).await?;
                let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
                result.drop_result().await?;
                check_columns(self.cfg, self.mode, &table_id, &columns)?;
                let first_ts = self.cfg.timestamp_columns.first();
                let ts_is_datetime = columns
                    .iter()
                    .zip(datetime_columns(&columns))
                    .any(|(c, dt)| dt && first_ts.is_some_and(|t| c.name_str() == t.as_str()));
                let probe = Probe { ts_is_datetime };
                st.probe = Some(probe);
                probe
            }
        };
        self.initial_offset(conn, &offset_key, st).await?;
        let bound = self.now_bound(conn).await?;
        let (sql, params) = self.spec(table).build(&st.offset, bound);
        let params: Vec<MyValue> = params
            .into_iter()
            .map(|p| param_value(p, self.zone, probe.ts_is_datetime))
            .collect();
        let batch_max = usize::try_from(self.cfg.batch_max_rows).unwrap_or(usize::MAX);
        let batch_max_bytes = usize::try_from(self.cfg.max_batch_bytes).unwrap_or(usize::MAX);

        let mut stream = conn.exec_stream::<MyRow, _, _>(sql, params).await?;
        let columns = stream.columns();
        // A custom query's messages carry no schema name, as in Connect.
        let schema = build_schema(if table.is_some() { table_name } else { "" }, &columns);
        let schema = match &st.schema {
            Some(old) if **old == schema => old.clone(),
            Some(_) => {
                // The columns changed: probe again next time.
                st.probe = None;
                Arc::new(schema)
            }
            None => Arc::new(schema),
        };
        st.schema = Some(schema.clone());
        let is_datetime = datetime_columns(&columns);
        let inc_idx = self
            .cfg
            .incrementing_column
            .as_deref()
            .and_then(|c| schema.column_index(c));
        let ts_idx: Vec<usize> = self
            .cfg
            .timestamp_columns
            .iter()
            .filter_map(|c| schema.column_index(c))
            .collect();
        if self.mode.uses_incrementing() && inc_idx.is_none() {
            return Err(SourceError::ColumnNotFound {
                table: table_id,
                role: "incrementing",
                columns: self.cfg.incrementing_column.iter().cloned().collect(),
            });
        }
        if self.mode.uses_timestamp() && ts_idx.len() != self.cfg.timestamp_columns.len() {
            return Err(SourceError::ColumnNotFound {
                table: table_id,
                role: "timestamp",
                columns: self.cfg.timestamp_columns.clone(),
            });
        }

        self.emitter.prepare(&table_id, Op::Read);
        let reader = RowReader {
            table_id: Arc::new(table_id),
            schema,
            is_datetime,
            inc_idx,
            ts_idx,
            zone: self.zone,
        };
        let mut offset = st.offset.clone();
        // The batch being published: its offset, and where its outcome comes.
        let mut in_flight: Option<(PollOffset, oneshot::Receiver<Outcome>)> = None;
        loop {
            // Read and encode this batch while the previous one is published.
            let batch = fill(
                &mut stream,
                &reader,
                &mut self.emitter,
                &mut offset,
                batch_max,
                batch_max_bytes,
            )
            .await;
            if let Some((committed, done)) = in_flight.take() {
                let spent = done.await.map_err(|_| SourceError::PublisherGone)??;
                st.offset = committed;
                self.emitter.recycle(spent);
            }
            let mut batch = batch?;
            if batch.messages.is_empty() || cancel.is_cancelled() {
                return Ok(());
            }
            batch.offset = (self.mode != PollMode::Bulk).then(|| Checkpoint {
                key: Arc::clone(&offset_key),
                offset: offset.clone(),
            });
            let (tx, rx) = oneshot::channel();
            batch.done = Some(tx);
            self.batches
                .send(batch)
                .await
                .map_err(|_| SourceError::PublisherGone)?;
            in_flight = Some((offset.clone(), rx));
        }
    }
}

/// Converts result rows of one table into events, tracking the offset.
struct RowReader {
    table_id: Arc<TableId>,
    schema: Arc<TableSchema>,
    is_datetime: Vec<bool>,
    inc_idx: Option<usize>,
    ts_idx: Vec<usize>,
    zone: DbZone,
}

impl RowReader {
    /// One row as an event; advances `offset` past it.
    fn event(
        &self,
        raw: Vec<MyValue>,
        offset: &mut PollOffset,
    ) -> Result<ChangeEvent, SourceError> {
        let schema = &self.schema;
        let mut values = Vec::with_capacity(raw.len());
        for ((v, col), dt) in raw.into_iter().zip(&schema.columns).zip(&self.is_datetime) {
            values.push(value_from_mysql(col, v, self.zone, *dt).map_err(|e| {
                SourceError::Value {
                    table: self.table_id.to_string(),
                    source: e,
                }
            })?);
        }
        if let Some(i) = self.inc_idx {
            offset.incrementing = Some(incrementing_value(&values[i]).ok_or_else(|| {
                SourceError::IncrementingValue {
                    table: TableId::clone(&self.table_id),
                    column: schema.columns[i].name.clone(),
                }
            })?);
        }
        if let Some(micros) = self.ts_idx.iter().find_map(|&i| match values[i] {
            Value::Timestamp(t) => Some(t),
            _ => None,
        }) {
            offset.set_timestamp_micros(micros);
        }
        Ok(ChangeEvent {
            table: Arc::clone(&self.table_id),
            op: Op::Read,
            before: None,
            after: Some(values),
            schema: schema.clone(),
            position: Position::Poll(offset.clone()),
            ts_ms: chrono::Utc::now().timestamp_millis(),
        })
    }
}

/// Reads and encodes up to `max` rows (fewer at the end of the result), and
/// no more once the encoded records reach `max_bytes` (a row's offset is
/// exact after it, so a batch may end at any row).
async fn fill<S>(
    stream: &mut S,
    reader: &RowReader,
    emitter: &mut Emitter,
    offset: &mut PollOffset,
    max: usize,
    max_bytes: usize,
) -> Result<Batch<PollOffset>, SourceError>
where
    S: futures::Stream<Item = Result<MyRow, mysql_async::Error>> + Unpin,
{
    let mut batch = Batch {
        messages: Vec::with_capacity(max.min(10_000)),
        ..Batch::default()
    };
    let mut rows = 0;
    while rows < max && batch.bytes < max_bytes {
        let Some(row) = stream.next().await else {
            break;
        };
        let event = reader.event(row?.unwrap(), offset)?;
        emitter.emit(&event, &mut batch)?;
        rows += 1;
    }
    Ok(batch)
}

fn incrementing_value(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::Decimal(d) => d.parse().ok(),
        _ => None,
    }
}

/// Builds the table schema from result-set metadata.
pub(crate) fn build_schema(table: &str, columns: &[mysql_async::Column]) -> TableSchema {
    let primary_key = columns
        .iter()
        .filter(|c| {
            c.flags()
                .contains(mysql_async::consts::ColumnFlags::PRI_KEY_FLAG)
        })
        .map(|c| c.name_str().into_owned())
        .collect();
    TableSchema {
        name: table.to_string(),
        columns: columns.iter().map(column_from_result).collect(),
        primary_key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datetime_params_render_utc() {
        assert_eq!(
            datetime_param(1_660_592_867_000_001),
            MyValue::Date(2022, 8, 15, 19, 47, 47, 1)
        );
        assert_eq!(
            datetime_param(-1),
            MyValue::Date(1969, 12, 31, 23, 59, 59, 999_999)
        );
    }

    #[test]
    fn incrementing_accepts_unsigned_bigint_decimal() {
        assert_eq!(incrementing_value(&Value::Decimal("42".into())), Some(42));
        assert_eq!(incrementing_value(&Value::Null), None);
    }
}
