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
//! The schema is taken from each query's result-set metadata, so a column
//! added with `ALTER TABLE` appears in the next message. Results are streamed
//! and cut into batches of `batch_max_rows`; each batch and the table's offset
//! after its last row are written in one Kafka transaction, so after a crash
//! the source resumes exactly after the last committed row: nothing is re-sent
//! and nothing skipped (for `timestamp` mode, rows sharing the last timestamp
//! that were not yet committed are the mode's known blind spot, as in Connect).
//!
//! Reading and publishing overlap: a [`publish`] task owns the producer and
//! sends and commits batch N while the poller reads and encodes batch N+1
//! (at most these two batches exist). A table's offset counts as committed only
//! once its batch's transaction has committed.

mod publish;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row as MyRow, Value as MyValue};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::mysql_types::{column_from_result, value_from_mysql};
use super::SourceError;
use crate::config::{parse_timezone, Delivery, KafkaConfig, PollMode, SourceConfig};
use crate::connect::{EncodeOptions, Encoded, Encoder};
use crate::event::{ChangeEvent, Op, TableId, Value};
use crate::kafka::offsets;
use crate::kafka::producer::PipelineProducer;
use crate::metrics::{now_ms, PipelineKind, SourceLag, METRICS};
use crate::mysql::{self, quote};
use crate::position::{PollOffset, Position};
use crate::schema::TableSchema;

/// Per-table state kept between polls.
struct TableState {
    offset: PollOffset,
    schema: Option<Arc<TableSchema>>,
}

/// Everything one poll of one table needs.
struct Poller<'a> {
    cfg: &'a SourceConfig,
    mode: PollMode,
    database: String,
    tz_offset: i32,
    /// Batches to the [`publish`] task.
    batches: mpsc::Sender<publish::Batch>,
    encoder: Encoder,
}

/// Runs the poll source until cancelled.
pub async fn run(
    cfg: &SourceConfig,
    kafka: &KafkaConfig,
    cancel: CancellationToken,
) -> Result<(), SourceError> {
    let endpoint = cfg
        .endpoint()
        .map_err(|e| SourceError::Setup(e.to_string()))?;
    let database = endpoint.database().ok_or_else(|| {
        SourceError::Setup(format!(
            "source \"{}\": the url names no database",
            cfg.name
        ))
    })?;
    let mode = cfg
        .mode
        .ok_or_else(|| SourceError::Setup(format!("source \"{}\": mode is not set", cfg.name)))?;
    let tz_offset = match &cfg.db_timezone {
        Some(tz) => parse_timezone(tz).map_err(SourceError::Setup)?,
        None => 0,
    };
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
                table: table.clone(),
                offset: json.to_string(),
                reason: e.to_string(),
            })?;
        state.insert(
            table,
            TableState {
                offset,
                schema: None,
            },
        );
    }
    tracing::info!(pipeline = %cfg.name, tables = state.len(), "poll source started; offsets loaded");
    METRICS.init_pipeline(&cfg.name, PipelineKind::Source);
    // Lag = time since the start of the last poll that read every table to its end.
    let lag = SourceLag::start(&cfg.name);

    let (batches, rx) = mpsc::channel(1);
    let publisher = tokio::spawn(publish::run(producer, rx, kafka.offsets_topic.clone()));
    let mut poller = Poller {
        cfg,
        mode,
        database: database.clone(),
        tz_offset,
        batches,
        encoder: Encoder::new(EncodeOptions {
            envelope: cfg.envelope,
            decimal_handling: cfg.decimal_handling,
            time_precision: cfg.time_precision,
            connector: "mysql".into(),
            server_name: cfg.name.clone(),
        }),
    };
    let result = async {
        while !cancel.is_cancelled() {
            let cycle_start = now_ms();
            let tables =
                discover_tables(&mut conn, &database, &cfg.tables, &cfg.table_exclude).await?;
            for table in tables {
                if cancel.is_cancelled() {
                    break;
                }
                let key = format!("{database}.{table}");
                let st = state.entry(key).or_insert_with(|| TableState {
                    offset: PollOffset::default(),
                    schema: None,
                });
                poller.poll_table(&mut conn, &table, st, &cancel).await?;
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
    let published = publisher
        .await
        .map_err(|e| SourceError::Setup(format!("publisher task failed: {e}")));
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

impl Poller<'_> {
    fn ts_expr(&self) -> String {
        let cols: Vec<String> = self
            .cfg
            .timestamp_columns
            .iter()
            .map(|c| quote(c))
            .collect();
        if cols.len() == 1 {
            cols[0].clone()
        } else {
            format!("COALESCE({})", cols.join(", "))
        }
    }

    /// Builds the mode's query and its parameters.
    fn query(
        &self,
        table: &str,
        offset: &PollOffset,
        now_bound: Option<i64>,
        ts_is_datetime: bool,
    ) -> (String, Vec<MyValue>) {
        let from = format!("SELECT * FROM {}.{}", quote(&self.database), quote(table));
        let inc = self
            .cfg
            .incrementing_column
            .as_deref()
            .map(quote)
            .unwrap_or_default();
        let ts = self.ts_expr();
        // DATETIME columns hold wall-clock time in db_timezone; shift bounds to it.
        let shift = if ts_is_datetime {
            i64::from(self.tz_offset) * 1_000_000
        } else {
            0
        };
        let ts_param = |micros: i64| datetime_param(micros + shift);
        let bound = now_bound.unwrap_or(i64::MAX / 2);
        match self.mode {
            PollMode::Bulk => (from, vec![]),
            PollMode::Incrementing => match offset.incrementing {
                Some(last) => (format!("{from} WHERE {inc} > ? ORDER BY {inc} ASC"), vec![MyValue::Int(last)]),
                None => (format!("{from} ORDER BY {inc} ASC"), vec![]),
            },
            PollMode::Timestamp => match offset.timestamp_micros() {
                Some(last) => (
                    format!("{from} WHERE {ts} > ? AND {ts} < ? ORDER BY {ts} ASC"),
                    vec![ts_param(last), ts_param(bound)],
                ),
                None => (format!("{from} WHERE {ts} < ? ORDER BY {ts} ASC"), vec![ts_param(bound)]),
            },
            PollMode::TimestampIncrementing => match (offset.timestamp_micros(), offset.incrementing) {
                (Some(last_ts), last_inc) => (
                    format!(
                        "{from} WHERE {ts} < ? AND (({ts} = ? AND {inc} > ?) OR {ts} > ?) ORDER BY {ts} ASC, {inc} ASC"
                    ),
                    vec![
                        ts_param(bound),
                        ts_param(last_ts),
                        MyValue::Int(last_inc.unwrap_or(i64::MIN)),
                        ts_param(last_ts),
                    ],
                ),
                (None, _) => (
                    format!("{from} WHERE {ts} < ? ORDER BY {ts} ASC, {inc} ASC"),
                    vec![ts_param(bound)],
                ),
            },
        }
    }

    /// The database's current time minus the configured delay, in µs.
    async fn now_bound(&self, conn: &mut Conn) -> Result<Option<i64>, SourceError> {
        if !self.mode.uses_timestamp() {
            return Ok(None);
        }
        let now: Option<i64> = conn
            .query_first("SELECT CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)")
            .await?;
        let delay =
            i64::try_from(self.cfg.timestamp_delay_interval_ms).unwrap_or(i64::MAX / 2_000) * 1000;
        Ok(now.map(|n| n - delay))
    }

    /// Polls one table to the end of its current result, in batches.
    async fn poll_table(
        &mut self,
        conn: &mut Conn,
        table: &str,
        st: &mut TableState,
        cancel: &CancellationToken,
    ) -> Result<(), SourceError> {
        let now_bound = self.now_bound(conn).await?;
        // Probe the column types once so DATETIME vs TIMESTAMP bounds are right.
        let ts_is_datetime = if self.mode.uses_timestamp() {
            let first = self
                .cfg
                .timestamp_columns
                .first()
                .cloned()
                .unwrap_or_default();
            let dtype: Option<String> = conn
                .exec_first(
                    "SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?",
                    (&self.database, table, &first),
                )
                .await?;
            dtype.is_some_and(|d| d.eq_ignore_ascii_case("datetime"))
        } else {
            false
        };
        let (sql, params) = self.query(table, &st.offset, now_bound, ts_is_datetime);
        let table_id = TableId::new(self.database.clone(), table);
        let topic: Arc<str> = self.cfg.topic_for(&self.database, table).into();
        let offset_key: Arc<str> =
            offsets::record_key(&self.cfg.name, &format!("{}.{table}", self.database)).into();
        let batch_max = usize::try_from(self.cfg.batch_max_rows).unwrap_or(usize::MAX);

        let mut stream = conn.exec_stream::<MyRow, _, _>(sql, params).await?;
        let columns = stream.columns();
        let schema = build_schema(table, &columns);
        let schema = match &st.schema {
            Some(old) if **old == schema => old.clone(),
            _ => Arc::new(schema),
        };
        st.schema = Some(schema.clone());
        let is_datetime = crate::source::mysql_types::datetime_columns(&columns);
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
            return Err(SourceError::Setup(format!(
                "table {table_id}: incrementing column `{}` not found",
                self.cfg.incrementing_column.as_deref().unwrap_or("")
            )));
        }
        if self.mode.uses_timestamp() && ts_idx.len() != self.cfg.timestamp_columns.len() {
            return Err(SourceError::Setup(format!(
                "table {table_id}: timestamp column(s) {:?} not found",
                self.cfg.timestamp_columns
            )));
        }

        let reader = RowReader {
            table_id,
            schema,
            is_datetime,
            inc_idx,
            ts_idx,
            tz_offset: self.tz_offset,
            rows_read: METRICS.source_rows_read.with_label_values(&[
                &self.cfg.name,
                table,
                Op::Read.label(),
            ]),
        };
        let mut offset = st.offset.clone();
        // The batch being published: its offset, and where its outcome comes.
        let mut in_flight: Option<(PollOffset, oneshot::Receiver<publish::Outcome>)> = None;
        loop {
            // Read and encode this batch while the previous one is published.
            let batch = fill(
                &mut stream,
                &reader,
                &mut self.encoder,
                &mut offset,
                batch_max,
            )
            .await;
            if let Some((committed, done)) = in_flight.take() {
                let spent = done.await.map_err(|_| publisher_gone())??;
                st.offset = committed;
                self.encoder.recycle(spent);
            }
            let batch = batch?;
            if batch.is_empty() || cancel.is_cancelled() {
                return Ok(());
            }
            let record = match self.mode {
                PollMode::Bulk => None,
                _ => Some((
                    offset_key.clone(),
                    serde_json::to_vec(&offset).map_err(|e| SourceError::Setup(e.to_string()))?,
                )),
            };
            let (tx, rx) = oneshot::channel();
            self.batches
                .send(publish::Batch {
                    topic: topic.clone(),
                    messages: batch,
                    offset: record,
                    done: tx,
                })
                .await
                .map_err(|_| publisher_gone())?;
            in_flight = Some((offset.clone(), rx));
        }
    }
}

/// Converts result rows of one table into events, tracking the offset.
struct RowReader {
    table_id: TableId,
    schema: Arc<TableSchema>,
    is_datetime: Vec<bool>,
    inc_idx: Option<usize>,
    ts_idx: Vec<usize>,
    tz_offset: i32,
    rows_read: prometheus::IntCounter,
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
            values.push(value_from_mysql(col, v, self.tz_offset, *dt).map_err(|e| {
                SourceError::Value {
                    table: self.table_id.to_string(),
                    source: e,
                }
            })?);
        }
        if let Some(i) = self.inc_idx {
            offset.incrementing = Some(incrementing_value(&values[i]).ok_or_else(|| {
                SourceError::Setup(format!(
                    "table {}: incrementing column `{}` holds a non-integer or NULL value",
                    self.table_id, schema.columns[i].name
                ))
            })?);
        }
        if let Some(micros) = self.ts_idx.iter().find_map(|&i| match values[i] {
            Value::Timestamp(t) => Some(t),
            _ => None,
        }) {
            offset.set_timestamp_micros(micros);
        }
        Ok(ChangeEvent {
            table: self.table_id.clone(),
            op: Op::Read,
            before: None,
            after: Some(values),
            schema: schema.clone(),
            position: Position::Poll(offset.clone()),
            ts_ms: chrono::Utc::now().timestamp_millis(),
        })
    }
}

/// Reads and encodes up to `max` rows (fewer at the end of the result).
async fn fill<S>(
    stream: &mut S,
    reader: &RowReader,
    encoder: &mut Encoder,
    offset: &mut PollOffset,
    max: usize,
) -> Result<Vec<Encoded>, SourceError>
where
    S: futures::Stream<Item = Result<MyRow, mysql_async::Error>> + Unpin,
{
    let mut out = Vec::with_capacity(max.min(10_000));
    while out.len() < max {
        let Some(row) = stream.next().await else {
            break;
        };
        let event = reader.event(row?.unwrap(), offset)?;
        out.push(encoder.encode(&event).map_err(|e| SourceError::Codec {
            table: reader.table_id.to_string(),
            source: e,
        })?);
        reader.rows_read.inc();
    }
    Ok(out)
}

/// The publisher ended without reporting a batch's outcome (it panicked).
fn publisher_gone() -> SourceError {
    SourceError::Setup("the publisher task ended unexpectedly".into())
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
