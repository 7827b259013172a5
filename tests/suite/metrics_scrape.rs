//! Every metric the README's table documents for poll sources and sinks
//! appears on `/metrics` of a running daemon with exactly its documented
//! labels, and the ones a healthy-plus-bad-records run can move do move; no
//! undocumented `sluice_` metric is exposed. The README table is parsed, so
//! the documentation and this test cannot drift apart.
//!
//! The run: a poll source → Kafka → a sink into MariaDB (auto_create,
//! upsert, deletes disabled, `errors_tolerance = "all"` with a DLQ), plus a
//! tombstone and an undecodable record produced into the same topic, plus a
//! second sink whose database is unreachable (transient errors, restarts).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::suite::seed::http_get;
use crate::support::*;

/// One row of the README's metrics table.
#[derive(Debug, Clone)]
pub struct DocMetric {
    /// Metric name.
    pub name: String,
    /// counter, gauge or histogram.
    pub kind: String,
    /// Label names.
    pub labels: BTreeSet<String>,
    /// Pipelines that set it: poll, binlog, sink, all.
    pub emitted_by: Vec<String>,
}

/// Parses the metrics table of README.md.
pub fn documented_metrics() -> Vec<DocMetric> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md");
    let section = readme
        .split("\n## Metrics\n")
        .nth(1)
        .expect("README has a ## Metrics section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let mut lines = section.lines().skip_while(|l| !l.starts_with("| metric |"));
    let header = cells(lines.next().expect("metrics table header"));
    assert_eq!(
        header,
        ["metric", "type", "labels", "emitted by", "meaning"],
        "README metrics table columns"
    );
    let rows: Vec<DocMetric> = lines
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let c = cells(l);
            assert_eq!(c.len(), 5, "README metrics row: {l}");
            let list = |s: &str| -> Vec<String> {
                s.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty() && x != "—")
                    .collect()
            };
            DocMetric {
                name: c[0].trim_matches('`').to_string(),
                kind: c[1].clone(),
                labels: list(&c[2]).into_iter().collect(),
                emitted_by: list(&c[3]),
            }
        })
        .collect();
    assert!(rows.len() >= 10, "README metrics table parsed: {rows:?}");
    rows
}

/// One exposed sample: (family name, sample name, labels, value).
type Sample = (String, String, BTreeMap<String, String>, f64);

/// Parses Prometheus text: every sample, with its family name (histogram
/// suffixes stripped, `le` dropped from labels).
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (head, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().expect("sample value");
        let (name, labels) = match head.split_once('{') {
            Some((n, rest)) => (n, rest.trim_end_matches('}')),
            None => (head, ""),
        };
        let mut map = BTreeMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").expect("label pair");
            map.insert(k.to_string(), v.trim_end_matches('"').to_string());
        }
        map.remove("le");
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|_| text.contains(&format!("# TYPE {} histogram", name_base(name))))
            .unwrap_or(name);
        out.push((family.to_string(), name.to_string(), map, value));
    }
    out
}

fn name_base(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name)
}

/// Metrics a test run cannot move without breaking the broker; they must
/// still appear (at 0).
const APPEAR_ONLY: &[&str] = &[
    "sluice_source_produce_errors_total",
    "sluice_source_lag_seconds",
    "sluice_sink_consumer_lag_messages",
];

#[tokio::test(flavor = "multi_thread")]
async fn every_documented_poll_and_sink_metric_appears_and_moves() {
    let doc: Vec<DocMetric> = documented_metrics()
        .into_iter()
        .filter(|m| {
            m.emitted_by
                .iter()
                .any(|e| e == "poll" || e == "sink" || e == "all")
        })
        .collect();
    let db = MariaDb::create("scrape").await;
    db.exec("CREATE TABLE items (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(20))")
        .await;
    db.exec("INSERT INTO items (v) VALUES ('a'), ('b'), ('c')")
        .await;
    let tag = unique("scrape");
    let prefix = format!("{tag}_");
    let topic = format!("{prefix}items");
    let (source, sink, broken) = (
        format!("{tag}-src"),
        format!("{tag}-sink"),
        format!("{tag}-down"),
    );
    // A tombstone (deletes disabled: skipped) and a record nothing can decode
    // (DLQ); produced first so the sinks find their topic at start.
    kcat_produce(
        &topic,
        &[
            (
                Some(
                    r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":1}}"#,
                ),
                "",
            ),
            (None, "not json"),
        ],
    );
    let port = free_port();
    let _daemon = Daemon::start(&format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
offsets_topic = "{tag}_offsets"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{source}"
kind = "poll"
url = "{url}"
tables = ["items"]
topic_prefix = "{prefix}"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 200
[[sink]]
name = "{sink}"
url = "{url}"
topics = ["{topic}"]
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
table_name_format = "copy"
errors_tolerance = "all"
dlq_topic = "{tag}_dlq"
max_wait_ms = 50
[[sink]]
name = "{broken}"
url = "mysql://root@127.0.0.1:1/nowhere"
topics = ["{topic}"]
"#,
        url = db.url()
    ));
    wait_for("3 rows copied", Duration::from_secs(90), || async {
        (db.count("copy").await == Some(3)).then_some(())
    })
    .await;
    db.exec("INSERT INTO items (v) VALUES ('d')").await;

    let ours = |s: &Sample| {
        [&source, &sink, &broken]
            .iter()
            .any(|p| s.2.get("pipeline") == Some(*p))
    };
    let missing_or_still = |samples: &[Sample]| -> Vec<String> {
        doc.iter()
            .filter(|m| {
                let mine: Vec<&Sample> = samples
                    .iter()
                    .filter(|s| s.0 == m.name && ours(s))
                    .collect();
                if mine.is_empty() {
                    return true;
                }
                if APPEAR_ONLY.contains(&m.name.as_str()) {
                    return false;
                }
                let moved = match m.kind.as_str() {
                    "histogram" => mine.iter().any(|s| s.1.ends_with("_count") && s.3 > 0.0),
                    _ => mine.iter().any(|s| s.3 > 0.0),
                };
                !moved
            })
            .map(|m| m.name.clone())
            .collect()
    };
    let samples = wait_for(
        "every documented metric to appear and move",
        Duration::from_secs(90),
        || async {
            let samples = parse_exposition(&http_get(port, "/metrics").await);
            let left = missing_or_still(&samples);
            left.is_empty().then_some(samples)
        },
    )
    .await;

    // Labels are exactly the documented ones, and every sluice_ metric is documented.
    let all_doc = documented_metrics();
    for s in samples.iter().filter(|s| s.0.starts_with("sluice_")) {
        let d = all_doc
            .iter()
            .find(|m| m.name == s.0)
            .unwrap_or_else(|| panic!("{} is exposed but not in the README table", s.0));
        let labels: BTreeSet<String> = s.2.keys().cloned().collect();
        assert_eq!(labels, d.labels, "labels of {}", s.1);
    }
    // The moving values belong where they should.
    let value = |name: &str, pipeline: &str, extra: Option<(&str, &str)>| -> f64 {
        samples
            .iter()
            .filter(|s| s.1 == name && s.2.get("pipeline").map(String::as_str) == Some(pipeline))
            .filter(|s| extra.is_none_or(|(k, v)| s.2.get(k).map(String::as_str) == Some(v)))
            .map(|s| s.3)
            .sum()
    };
    assert!(value("sluice_sink_dead_letters_total", &sink, None) >= 1.0);
    assert!(value("sluice_sink_tombstones_skipped_total", &sink, None) >= 1.0);
    assert!(value("sluice_pipeline_restarts_total", &broken, None) >= 1.0);
    assert!(
        value(
            "sluice_pipeline_errors_total",
            &broken,
            Some(("kind", "transient"))
        ) >= 1.0
    );
    assert_eq!(value("sluice_pipeline_up", &source, None), 1.0);
    // The broken sink is "running" only for the instant of each connection attempt.
    wait_for(
        "the broken sink to be down",
        Duration::from_secs(30),
        || async {
            let now = parse_exposition(&http_get(port, "/metrics").await);
            now.iter()
                .any(|s| {
                    s.1 == "sluice_pipeline_up"
                        && s.2.get("pipeline") == Some(&broken)
                        && s.3 == 0.0
                })
                .then_some(())
        },
    )
    .await;

    // The source lag stays small while the source keeps up.
    let lag = value("sluice_source_lag_seconds", &source, None);
    assert!((0.0..30.0).contains(&lag), "source lag {lag}");
}

/// Sum of one metric's samples for `pipeline`.
pub async fn metric_sum(port: u16, name: &str, pipeline: &str) -> f64 {
    parse_exposition(&http_get(port, "/metrics").await)
        .iter()
        .filter(|s| s.1 == name && s.2.get("pipeline").map(String::as_str) == Some(pipeline))
        .map(|s| s.3)
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn consumer_lag_grows_while_the_sink_is_stuck_and_drains_after() {
    use mysql_async::prelude::Queryable;
    let db = MariaDb::create("lag").await;
    let name = unique("lag");
    let topic = format!("{name}_in");
    let record = |id: usize| {
        format!(
            r#"{{"schema":{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"id"}}],"optional":false,"name":"r"}},"payload":{{"id":{id}}}}}"#
        )
    };
    let produce = |from: usize, n: usize| {
        let recs: Vec<String> = (from..from + n).map(record).collect();
        let msgs: Vec<(Option<&str>, &str)> = recs.iter().map(|r| (None, r.as_str())).collect();
        kcat_produce(&topic, &msgs);
    };
    produce(0, 10);
    let port = free_port();
    let _daemon = Daemon::start(&log_sink_config(
        &format!("127.0.0.1:{port}"),
        &name,
        &db.url(),
        &topic,
    ));
    let t = Duration::from_secs(60);
    wait_for("10 rows", t, || async {
        (db.count("log").await == Some(10)).then_some(())
    })
    .await;
    // The target table is locked: the sink cannot apply, the topic grows.
    let mut lock = db.pool.get_conn().await.expect("conn");
    lock.query_drop("LOCK TABLES log WRITE")
        .await
        .expect("lock");
    produce(10, 500);
    wait_for("the lag to show 500 records", t, || async {
        (metric_sum(port, "sluice_sink_consumer_lag_messages", &name).await >= 500.0).then_some(())
    })
    .await;
    lock.query_drop("UNLOCK TABLES").await.expect("unlock");
    drop(lock);
    wait_for("the lag to drain", t, || async {
        (metric_sum(port, "sluice_sink_consumer_lag_messages", &name).await == 0.0).then_some(())
    })
    .await;
    assert_eq!(db.count("log").await, Some(510));
}

#[tokio::test(flavor = "multi_thread")]
async fn source_lag_grows_while_the_poll_is_stuck_and_recovers() {
    use mysql_async::prelude::Queryable;
    let db = MariaDb::create("srclag").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v INT)")
        .await;
    db.exec("INSERT INTO t (v) VALUES (1)").await;
    let name = unique("srclag");
    let port = free_port();
    let _daemon = Daemon::start(&format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
offsets_topic = "{name}_offsets"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
kind = "poll"
url = "{url}"
tables = ["t"]
topic_prefix = "{name}_"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 200
"#,
        url = db.url()
    ));
    let t = Duration::from_secs(60);
    let lag = || metric_sum(port, "sluice_source_lag_seconds", &name);
    wait_for("the source to catch up", t, || async {
        let up = metric_sum(port, "sluice_pipeline_up", &name).await == 1.0;
        (up && lag().await < 2.0).then_some(())
    })
    .await;
    // A write lock on the table blocks the poll's SELECT: the source is stuck.
    let mut lock = db.pool.get_conn().await.expect("conn");
    lock.query_drop("LOCK TABLES t WRITE").await.expect("lock");
    wait_for("the lag to pass 3 s", t, || async {
        (lag().await >= 3.0).then_some(())
    })
    .await;
    lock.query_drop("UNLOCK TABLES").await.expect("unlock");
    drop(lock);
    wait_for("the lag to recover", t, || async {
        (lag().await < 2.0).then_some(())
    })
    .await;
}

/// The Prometheus process collector's metrics (README rows "emitted by process") are on
/// `/metrics` of a daemon with no pipelines, unlabelled, with plausible values.
#[tokio::test(flavor = "multi_thread")]
async fn process_metrics_are_exported() {
    let doc: Vec<DocMetric> = documented_metrics()
        .into_iter()
        .filter(|m| m.emitted_by.iter().any(|e| e == "process"))
        .collect();
    let names: Vec<&str> = doc.iter().map(|m| m.name.as_str()).collect();
    for want in [
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "process_open_fds",
    ] {
        assert!(names.contains(&want), "README lacks {want}: {names:?}");
    }
    let tag = unique("proc");
    let port = free_port();
    let daemon = Daemon::start(&format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
offsets_topic = "{tag}_offsets"
[http]
listen = "127.0.0.1:{port}"
"#
    ));
    let samples = parse_exposition(&http_get(port, "/metrics").await);
    let value = |name: &str| -> f64 {
        let s: Vec<&Sample> = samples.iter().filter(|s| s.1 == name).collect();
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        assert!(s[0].2.is_empty(), "{name} has labels: {:?}", s[0].2);
        s[0].3
    };
    for m in &doc {
        value(&m.name);
    }
    // Against the kernel's own view of the daemon.
    let rss_kb = daemon.status_kb("VmRSS").expect("VmRSS") as f64;
    let rss = value("process_resident_memory_bytes");
    assert!(
        rss > 1e6 && (rss / 1024.0 / rss_kb - 1.0).abs() < 0.5,
        "rss {rss} vs VmRSS {rss_kb} kB"
    );
    let pid = daemon.pid().expect("pid");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .count() as f64;
    let open = value("process_open_fds");
    assert!(
        open >= 3.0 && (open - fds).abs() < 20.0,
        "open fds {open} vs {fds}"
    );
    assert!(value("process_max_fds") >= open);
    assert!(value("process_cpu_seconds_total") >= 0.0);
    assert!(value("process_threads") >= 2.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        (now - started) < 120.0 && started <= now + 1.0,
        "start {started} now {now}"
    );
}
