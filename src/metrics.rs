//! Every metric Sluice exports, defined in one place.
//!
//! Names follow `sluice_<area>_<what>_<unit>[_total]`. Labels are bounded:
//! `pipeline` (a configured name), `table` (a captured or target table),
//! `op` (create/update/delete/read), `topic` (a consumed topic) and `kind`
//! (an error class); never a row value. The one table documenting every
//! metric (name, type, labels, meaning) is the README's "Metrics" section; the
//! `metrics_scrape` integration test parses it and checks each row against a
//! running daemon, and the `dashboard` test checks the Grafana dashboard
//! against it.
//!
//! Per-pipeline series are created at zero when a pipeline starts
//! ([`Metrics::init_pipeline`]) so `rate()` and `increase()` see the first
//! error, and an absent series means "no such pipeline", not "no errors yet".

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use prometheus::{
    Encoder, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// All Sluice metrics, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Rows read by sources.
    pub source_rows_read: IntCounterVec,
    /// Messages a source produced (committed or not).
    pub source_messages_produced: IntCounterVec,
    /// Produce / transaction errors.
    pub source_produce_errors: IntCounterVec,
    /// Kafka transaction commit latency.
    pub source_commit_seconds: HistogramVec,
    /// Seconds between now and the newest change's source timestamp.
    pub source_lag_seconds: GaugeVec,
    /// Rows applied by sinks.
    pub sink_rows_applied: IntCounterVec,
    /// Sink batch duration (decode + DDL + apply + commit).
    pub sink_batch_seconds: HistogramVec,
    /// DDL statements applied by sinks.
    pub sink_ddl_applied: IntCounterVec,
    /// Tombstones skipped because deletes are disabled.
    pub sink_tombstones_skipped: IntCounterVec,
    /// Records written to the dead-letter topic.
    pub sink_dead_letters: IntCounterVec,
    /// Records in the consumed topics not yet applied, per topic.
    pub sink_consumer_lag: IntGaugeVec,
    /// Errors, by pipeline and class.
    pub pipeline_errors: IntCounterVec,
    /// Pipeline restarts after transient errors.
    pub pipeline_restarts: IntCounterVec,
    /// 1 while a pipeline runs.
    pub pipeline_up: IntGaugeVec,
    /// Standby sources: 1 while this instance leads, 0 while it stands by.
    pub source_leader: IntGaugeVec,
    /// 1 for the pipeline's current state (label `state`: Connect's names), 0 for the others.
    pub pipeline_state: IntGaugeVec,
    /// Binlog source: number of the binlog file of the committed position.
    pub source_binlog_file_number: IntGaugeVec,
    /// Binlog source: byte offset of the committed position in its file.
    pub source_binlog_position_bytes: IntGaugeVec,
    /// Binlog source: source transactions published.
    pub source_transactions: IntCounterVec,
    /// Binlog source: DDL statements seen in the binlog.
    pub source_ddl_events: IntCounterVec,
    /// Binlog source: snapshot rows read, per table.
    pub source_snapshot_rows: IntCounterVec,
    /// Binlog source: tables whose snapshot is complete.
    pub source_snapshot_tables_completed: IntGaugeVec,
    /// Binlog source: 1 while a snapshot runs.
    pub source_snapshot_running: IntGaugeVec,
    /// Binlog source: rows of the table being snapshotted published so far (across restarts).
    pub source_snapshot_table_rows: IntGaugeVec,
    /// Binlog source: the estimated rows of the table being snapshotted.
    pub source_snapshot_table_rows_estimated: IntGaugeVec,
    /// Binlog source: estimated seconds until the table being snapshotted is done.
    pub source_snapshot_eta_seconds: GaugeVec,
    /// Binlog source: heartbeats (idle position commits and heartbeat messages).
    pub source_heartbeats: IntCounterVec,
    /// Binlog source whose `url` lists several servers: 1 for the server it reads, 0 for the others.
    pub source_server: IntGaugeVec,
    /// Binlog source whose `url` lists several servers: switches to another server.
    pub source_server_switches: IntCounterVec,
}

fn int_gauge(reg: &Registry, name: &str, help: &str) -> IntGaugeVec {
    let g =
        IntGaugeVec::new(Opts::new(name, help), &["pipeline"]).expect("valid metric definition");
    reg.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn labelled_int_gauge(reg: &Registry, name: &str, help: &str) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), &["pipeline", "table"])
        .expect("valid metric definition");
    reg.register(Box::new(g.clone()))
        .expect("metric registered once");
    g
}

fn counter(reg: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition");
    reg.register(Box::new(c.clone()))
        .expect("metric registered once");
    c
}

fn histogram(reg: &Registry, name: &str, help: &str) -> HistogramVec {
    let buckets = vec![
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ];
    let h = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets),
        &["pipeline"],
    )
    .expect("valid metric definition");
    reg.register(Box::new(h.clone()))
        .expect("metric registered once");
    h
}

impl Metrics {
    fn new() -> Metrics {
        let r = Registry::new();
        // The standard process collector: `process_resident_memory_bytes`,
        // `process_cpu_seconds_total`, `process_open_fds`, `process_max_fds`,
        // `process_virtual_memory_bytes`, `process_start_time_seconds`, `process_threads`.
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))
        .expect("process collector registered once");
        let source_lag_seconds = GaugeVec::new(
            Opts::new(
                "sluice_source_lag_seconds",
                "Seconds between now and the source timestamp of the newest change read.",
            ),
            &["pipeline"],
        )
        .expect("valid metric definition");
        r.register(Box::new(source_lag_seconds.clone()))
            .expect("metric registered once");
        let pipeline_up = IntGaugeVec::new(
            Opts::new(
                "sluice_pipeline_up",
                "1 while the pipeline runs (or, standby sources, stands by ready to lead), 0 when restarting, stopped or failed.",
            ),
            &["pipeline"],
        )
        .expect("valid metric definition");
        r.register(Box::new(pipeline_up.clone()))
            .expect("metric registered once");
        let sink_consumer_lag = IntGaugeVec::new(
            Opts::new(
                "sluice_sink_consumer_lag_messages",
                "Offsets between the end of a consumed topic and the sink's next offset, summed over assigned partitions.",
            ),
            &["pipeline", "topic"],
        )
        .expect("valid metric definition");
        r.register(Box::new(sink_consumer_lag.clone()))
            .expect("metric registered once");
        Metrics {
            source_rows_read: counter(
                &r,
                "sluice_source_rows_read_total",
                "Rows read by a source.",
                &["pipeline", "table", "op"],
            ),
            source_messages_produced: counter(
                &r,
                "sluice_source_messages_produced_total",
                "Messages produced to Kafka by a source.",
                &["pipeline"],
            ),
            source_produce_errors: counter(
                &r,
                "sluice_source_produce_errors_total",
                "Kafka produce or transaction errors.",
                &["pipeline"],
            ),
            source_commit_seconds: histogram(
                &r,
                "sluice_source_transaction_commit_seconds",
                "Kafka transaction commit latency.",
            ),
            source_lag_seconds,
            sink_rows_applied: counter(
                &r,
                "sluice_sink_rows_applied_total",
                "Rows applied to the target by a sink.",
                &["pipeline", "table", "op"],
            ),
            sink_batch_seconds: histogram(
                &r,
                "sluice_sink_batch_duration_seconds",
                "Duration of one sink batch, decode to commit.",
            ),
            sink_ddl_applied: counter(
                &r,
                "sluice_sink_ddl_applied_total",
                "DDL statements (CREATE/ALTER) applied by a sink.",
                &["pipeline", "table"],
            ),
            sink_tombstones_skipped: counter(
                &r,
                "sluice_sink_tombstones_skipped_total",
                "Tombstones skipped because delete_enabled is false.",
                &["pipeline"],
            ),
            sink_dead_letters: counter(
                &r,
                "sluice_sink_dead_letters_total",
                "Records written to the dead-letter topic.",
                &["pipeline"],
            ),
            sink_consumer_lag,
            pipeline_errors: counter(
                &r,
                "sluice_pipeline_errors_total",
                "Errors seen by a pipeline, by class.",
                &["pipeline", "kind"],
            ),
            pipeline_restarts: counter(
                &r,
                "sluice_pipeline_restarts_total",
                "Pipeline restarts after transient errors.",
                &["pipeline"],
            ),
            pipeline_up,
            source_leader: int_gauge(
                &r,
                "sluice_source_leader",
                "Standby sources: 1 while this instance leads (runs the source), 0 while it stands by.",
            ),
            pipeline_state: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "sluice_pipeline_state",
                        "1 for the pipeline's current state (UNASSIGNED, RUNNING, PAUSED, FAILED, STOPPED), 0 for the others.",
                    ),
                    &["pipeline", "state"],
                )
                .expect("valid metric definition");
                r.register(Box::new(g.clone()))
                    .expect("metric registered once");
                g
            },
            source_server: {
                let g = IntGaugeVec::new(
                    Opts::new(
                        "sluice_source_server",
                        "Binlog source whose url lists several servers: 1 for the server it reads (label server: host:port), 0 for the others.",
                    ),
                    &["pipeline", "server"],
                )
                .expect("valid metric definition");
                r.register(Box::new(g.clone()))
                    .expect("metric registered once");
                g
            },
            source_server_switches: counter(
                &r,
                "sluice_source_server_switches_total",
                "Binlog source whose url lists several servers: starts on another server than the stored position's (failovers followed).",
                &["pipeline"],
            ),
            source_binlog_file_number: int_gauge(
                &r,
                "sluice_source_binlog_file_number",
                "Binlog source: sequence number of the binlog file of the committed position.",
            ),
            source_binlog_position_bytes: int_gauge(
                &r,
                "sluice_source_binlog_position_bytes",
                "Binlog source: byte offset of the committed position within its binlog file.",
            ),
            source_transactions: counter(
                &r,
                "sluice_source_transactions_total",
                "Binlog source: source transactions published to Kafka.",
                &["pipeline"],
            ),
            source_ddl_events: counter(
                &r,
                "sluice_source_ddl_events_total",
                "Binlog source: DDL statements seen in the binlog.",
                &["pipeline"],
            ),
            source_snapshot_rows: counter(
                &r,
                "sluice_source_snapshot_rows_total",
                "Binlog source: rows read by the initial snapshot.",
                &["pipeline", "table"],
            ),
            source_snapshot_tables_completed: int_gauge(
                &r,
                "sluice_source_snapshot_tables_completed",
                "Binlog source: tables whose snapshot is complete.",
            ),
            source_snapshot_running: int_gauge(
                &r,
                "sluice_source_snapshot_running",
                "Binlog source: 1 while the initial snapshot runs.",
            ),
            source_snapshot_table_rows: labelled_int_gauge(
                &r,
                "sluice_source_snapshot_table_rows",
                "Binlog source: rows of the table being snapshotted published so far, across restarts.",
            ),
            source_snapshot_table_rows_estimated: labelled_int_gauge(
                &r,
                "sluice_source_snapshot_table_rows_estimated",
                "Binlog source: estimated rows of the table being snapshotted (information_schema.TABLES.TABLE_ROWS).",
            ),
            source_snapshot_eta_seconds: {
                let g = GaugeVec::new(
                    Opts::new(
                        "sluice_source_snapshot_eta_seconds",
                        "Binlog source: estimated seconds until the table being snapshotted is done.",
                    ),
                    &["pipeline", "table"],
                )
                .expect("valid metric definition");
                r.register(Box::new(g.clone()))
                    .expect("metric registered once");
                g
            },
            source_heartbeats: counter(
                &r,
                "sluice_source_heartbeats_total",
                "Binlog source: idle position commits (with a heartbeat message when configured).",
                &["pipeline"],
            ),
            registry: r,
        }
    }

    /// Creates the zero-valued series of a starting pipeline of `kind`;
    /// touching a labelled child creates it at 0.
    pub fn init_pipeline(&self, pipeline: &str, kind: PipelineKind) {
        let p = [pipeline];
        self.pipeline_restarts.with_label_values(&p);
        for class in ["transient", "definite"] {
            self.pipeline_errors.with_label_values(&[pipeline, class]);
        }
        match kind {
            PipelineKind::Source => {
                self.source_messages_produced.with_label_values(&p);
                self.source_produce_errors.with_label_values(&p);
                self.source_lag_seconds.with_label_values(&p);
            }
            PipelineKind::Sink => {
                self.pipeline_errors
                    .with_label_values(&[pipeline, "record"]);
                self.sink_tombstones_skipped.with_label_values(&p);
                self.sink_dead_letters.with_label_values(&p);
            }
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        SourceLag::refresh(&self.source_lag_seconds);
        let mut buf = Vec::new();
        let families = self.registry.gather();
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Which series [`Metrics::init_pipeline`] creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineKind {
    /// A source (poll or binlog).
    Source,
    /// A sink.
    Sink,
}

/// When each source was last caught up (epoch ms), across its restarts.
static CAUGHT_UP_MS: LazyLock<Mutex<HashMap<String, i64>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The clock behind `sluice_source_lag_seconds` of one source: the gauge is
/// set at every scrape ([`Metrics::render`]) to the time since the source was
/// last caught up ([`SourceLag::caught_up_at`]), so it keeps growing while the
/// source is stalled, restarting or FAILED, and a restart does not reset it.
pub struct SourceLag {
    pipeline: String,
}

impl SourceLag {
    /// Starts the clock for `pipeline`; before its first catch-up in this
    /// process the lag counts from its first start.
    pub fn start(pipeline: &str) -> SourceLag {
        if let Ok(mut m) = CAUGHT_UP_MS.lock() {
            m.entry(pipeline.to_string()).or_insert_with(now_ms);
        }
        SourceLag {
            pipeline: pipeline.to_string(),
        }
    }

    /// Everything the source had to read as of `ms` (epoch milliseconds) is
    /// now in Kafka.
    pub fn caught_up_at(&self, ms: i64) {
        if let Ok(mut m) = CAUGHT_UP_MS.lock() {
            m.insert(self.pipeline.clone(), ms);
        }
    }

    /// Stops reporting lag for a removed pipeline.
    pub fn forget(pipeline: &str) {
        if let Ok(mut m) = CAUGHT_UP_MS.lock() {
            m.remove(pipeline);
        }
        let _ = METRICS.source_lag_seconds.remove_label_values(&[pipeline]);
    }

    /// Sets every clocked source's gauge to now minus its catch-up time.
    fn refresh(gauge: &GaugeVec) {
        let now = now_ms();
        if let Ok(m) = CAUGHT_UP_MS.lock() {
            for (pipeline, at) in m.iter() {
                let lag_ms = (now - at).max(0);
                gauge
                    .with_label_values(&[pipeline.as_str()])
                    .set(lag_ms as f64 / 1000.0);
            }
        }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The process-wide metrics.
pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_progress_reads_as_rows_of_an_estimate_with_an_eta() {
        let p = SnapshotProgress {
            table: "shop.orders".into(),
            rows: 12_000,
            estimated: Some(50_000),
            one_pass: false,
            since: (
                std::time::Instant::now() - std::time::Duration::from_secs(10),
                2_000,
            ),
        };
        // 10,000 rows in 10 s, 38,000 left: about 38 s.
        let eta = p.eta_seconds().expect("eta");
        assert!((37.0..39.5).contains(&eta), "{eta}");
        assert!(p
            .describe()
            .starts_with("snapshot of shop.orders: 12000 of about 50000 rows (24%), ETA 3"));
        let fresh = SnapshotProgress {
            rows: 0,
            estimated: None,
            one_pass: true,
            since: (std::time::Instant::now(), 0),
            ..p
        };
        assert_eq!(fresh.eta_seconds(), None);
        assert_eq!(
            fresh.describe(),
            "snapshot of shop.orders: 0 rows (no primary or NOT NULL unique key: one pass)"
        );
    }

    #[test]
    fn renders_counters_with_labels() {
        METRICS
            .sink_rows_applied
            .with_label_values(&["p", "t", "create"])
            .inc_by(3);
        let text = METRICS.render();
        assert!(
            text.contains(
                "sluice_sink_rows_applied_total{op=\"create\",pipeline=\"p\",table=\"t\"} 3"
            ),
            "{text}"
        );
    }

    #[test]
    fn source_lag_is_the_time_since_the_last_catch_up() {
        let lag = SourceLag::start("lagging");
        lag.caught_up_at(now_ms() - 90_000);
        // A restart keeps the clock.
        let lag = SourceLag::start("lagging");
        let value = || {
            METRICS.render();
            METRICS
                .source_lag_seconds
                .with_label_values(&["lagging"])
                .get()
        };
        assert!((90.0..100.0).contains(&value()), "{}", value());
        lag.caught_up_at(now_ms());
        assert!(value() < 5.0);
        SourceLag::forget("lagging");
        assert!(!METRICS.render().contains("lagging"));
    }

    #[test]
    fn a_started_pipeline_exposes_its_error_counters_at_zero() {
        METRICS.init_pipeline("z", PipelineKind::Sink);
        let text = METRICS.render();
        for line in [
            "sluice_sink_dead_letters_total{pipeline=\"z\"} 0",
            "sluice_pipeline_errors_total{kind=\"record\",pipeline=\"z\"} 0",
            "sluice_pipeline_restarts_total{pipeline=\"z\"} 0",
        ] {
            assert!(text.contains(line), "{line} missing in {text}");
        }
    }
}

/// A chunked snapshot's progress on the table it reads, for the REST status
/// and the `sluice_source_snapshot_table_*` gauges.
#[derive(Debug, Clone)]
pub struct SnapshotProgress {
    /// `db.table`.
    pub table: String,
    /// Rows published so far (across restarts).
    pub rows: u64,
    /// The estimated total (`TABLE_ROWS`), if known.
    pub estimated: Option<u64>,
    /// The table has no usable key: it is read in one pass.
    pub one_pass: bool,
    /// When this process started on the table, and the rows done then.
    since: (std::time::Instant, u64),
}

impl SnapshotProgress {
    /// Estimated seconds left, from the rate since this process started on the table.
    pub fn eta_seconds(&self) -> Option<f64> {
        let (since, rows_then) = self.since;
        let done = self.rows.checked_sub(rows_then).filter(|&d| d > 0)?;
        let left = self.estimated?.saturating_sub(self.rows);
        Some(left as f64 * since.elapsed().as_secs_f64() / done as f64)
    }

    /// One line for people: `table db.t: 12000 of about 50000 rows (24%), ETA 35 s`.
    pub fn describe(&self) -> String {
        let mut s = format!("snapshot of {}: {} rows", self.table, self.rows);
        if let Some(total) = self.estimated.filter(|&t| t > 0) {
            let pct = (self.rows as f64 * 100.0 / total as f64).min(100.0);
            s = format!(
                "snapshot of {}: {} of about {total} rows ({pct:.0}%)",
                self.table, self.rows
            );
        }
        if let Some(eta) = self.eta_seconds() {
            s.push_str(&format!(", ETA {eta:.0} s"));
        }
        if self.one_pass {
            s.push_str(" (no primary or NOT NULL unique key: one pass)");
        }
        s
    }
}

static SNAPSHOTS: LazyLock<Mutex<HashMap<String, SnapshotProgress>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Records `pipeline`'s snapshot progress on `table` (`db.table`) and sets its gauges.
pub fn snapshot_progress_set(
    pipeline: &str,
    table: &str,
    rows: u64,
    estimated: Option<u64>,
    one_pass: bool,
) {
    let Ok(mut m) = SNAPSHOTS.lock() else {
        return;
    };
    let since = match m.get(pipeline) {
        Some(p) if p.table == table => p.since,
        _ => (std::time::Instant::now(), rows),
    };
    let p = SnapshotProgress {
        table: table.to_string(),
        rows,
        estimated,
        one_pass,
        since,
    };
    let labels = [pipeline, table];
    let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    METRICS
        .source_snapshot_table_rows
        .with_label_values(&labels)
        .set(gauge(rows));
    if let Some(e) = estimated {
        METRICS
            .source_snapshot_table_rows_estimated
            .with_label_values(&labels)
            .set(gauge(e));
    }
    if let Some(eta) = p.eta_seconds() {
        METRICS
            .source_snapshot_eta_seconds
            .with_label_values(&labels)
            .set(eta);
    }
    if let Some(old) = m.insert(pipeline.to_string(), p) {
        if old.table != table {
            let _ = METRICS
                .source_snapshot_eta_seconds
                .remove_label_values(&[pipeline, &old.table]);
        }
    }
}

/// `pipeline`'s snapshot is done (or stopped): no progress to show.
pub fn snapshot_progress_clear(pipeline: &str) {
    if let Ok(mut m) = SNAPSHOTS.lock() {
        if let Some(old) = m.remove(pipeline) {
            let _ = METRICS
                .source_snapshot_eta_seconds
                .remove_label_values(&[pipeline, &old.table]);
        }
    }
}

/// `pipeline`'s snapshot progress, while a chunked snapshot runs.
pub fn snapshot_progress(pipeline: &str) -> Option<SnapshotProgress> {
    SNAPSHOTS.lock().ok()?.get(pipeline).cloned()
}

static SERVERS: LazyLock<Mutex<HashMap<String, String>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Records the server (`host:port`) a binlog source following a failover reads.
pub fn source_server_set(pipeline: &str, server: &str) {
    if let Ok(mut m) = SERVERS.lock() {
        m.insert(pipeline.to_string(), server.to_string());
    }
}

/// The server a binlog source following a failover reads, for its status.
pub fn source_server(pipeline: &str) -> Option<String> {
    SERVERS.lock().ok()?.get(pipeline).cloned()
}

/// Forgets the server of `pipeline` (a source reading one server).
pub fn source_server_clear(pipeline: &str) {
    if let Ok(mut m) = SERVERS.lock() {
        m.remove(pipeline);
    }
}
