//! Binlog source on the real MariaDB: snapshot seam, DDL mid-stream and
//! replay from an older position, heartbeats, purged positions, server checks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

use crate::support::*;

/// A binlog source config for `db`, plus `extra` lines in the source section.
pub fn binlog_config(name: &str, db_url: &str, extra: &str) -> String {
    binlog_config_on(free_port(), name, db_url, extra)
}

/// [`binlog_config`] with the HTTP server on `port`.
pub fn binlog_config_on(port: u16, name: &str, db_url: &str, extra: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
kind = "binlog"
url = "{db_url}"
{extra}
"#
    )
}

/// A binlog source on `db` (table `t`, source `extra` lines) plus a
/// PostgreSQL sink copying its topic into `t_copy` (upsert, deletes on).
/// Returns the config and the topic.
pub fn source_and_pg_sink_config(
    name: &str,
    db: &MySqlServer,
    pg: &Postgres,
    extra: &str,
) -> (String, String) {
    let topic = format!("{name}.{}.t", db.name);
    let config = format!(
        r#"{}
[[sink]]
name = "{name}-sink"
url = "{}"
topics = ["{topic}"]
table_name_format = "t_copy"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50
"#,
        binlog_config(name, &db.url(), extra),
        pg.url()
    );
    (config, topic)
}

/// Waits until PostgreSQL's `t_copy` holds exactly `db`'s `t` (id, seq).
pub async fn wait_pg_copy_equals(db: &MySqlServer, pg: &Postgres) {
    let source_rows = db.rows("SELECT id, seq FROM t ORDER BY id").await;
    let started = std::time::Instant::now();
    loop {
        let got = pg
            .try_rows("SELECT id::text, seq::text FROM t_copy ORDER BY t_copy.id")
            .await
            .unwrap_or_default();
        if got == source_rows {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sink table differs from the source: {} vs {} rows; first difference: {:?}",
            got.len(),
            source_rows.len(),
            got.iter().zip(&source_rows).find(|(a, b)| a != b)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The server's current binlog file and position.
pub async fn master_status(db: &MySqlServer) -> (String, u64) {
    let sql = match db.flavor {
        MySqlFlavor::MariaDb => "SHOW MASTER STATUS",
        MySqlFlavor::MySql => "SHOW BINARY LOG STATUS",
    };
    let r = db.rows(sql).await;
    (r[0][0].clone(), r[0][1].parse().expect("position"))
}

/// True once `n` binlog sources stream and no chunked snapshot (the
/// default) is still reading tables beside the stream: rows written from
/// then on reach the topic as streamed changes only. Per pipeline, its last
/// "running" line must be followed by a "complete" one (a pipeline restarted
/// mid-snapshot logs "running" again and completes once).
pub fn binlog_ready(log: &str, n: usize) -> bool {
    let mut reading = std::collections::BTreeSet::new();
    for line in log.lines() {
        let pipeline = line
            .split("pipeline=")
            .nth(1)
            .and_then(|rest| rest.split([' ', '}']).next())
            .unwrap_or("");
        if line.contains("chunked snapshot running beside the stream") {
            reading.insert(pipeline.to_string());
        } else if line.contains("snapshot complete (chunked)") {
            reading.remove(pipeline);
        }
    }
    log.matches("streaming binlog").count() >= n && reading.is_empty()
}

/// Waits until `daemon`'s log shows `n` binlog pipelines streaming with
/// their snapshots done ([`binlog_ready`]).
pub async fn wait_streaming(daemon: &Daemon, n: usize, deadline: Duration) {
    let what = if n == 1 {
        "streaming".to_string()
    } else {
        format!("{n} sources streaming")
    };
    wait_for(&what, deadline, || async {
        binlog_ready(&daemon.log_text(), n).then_some(())
    })
    .await;
}

#[test]
fn binlog_ready_follows_each_pipelines_last_snapshot() {
    let running = |p: &str| {
        format!("INFO pipeline{{pipeline={p}}}: chunked snapshot running beside the stream pipeline={p} table= rows=0\n")
    };
    let streaming = |p: &str| {
        format!("INFO pipeline{{pipeline={p}}}: streaming binlog pipeline={p} position=x\n")
    };
    let complete = |p: &str| {
        format!(
            "INFO pipeline{{pipeline={p}}}: snapshot complete (chunked); streaming pipeline={p}\n"
        )
    };
    // Restarted mid-snapshot (the CI log of the first cut of this helper).
    let restarted = [running("a"), streaming("a"), running("a"), streaming("a")].concat();
    assert!(!binlog_ready(&restarted, 1));
    assert!(binlog_ready(&(restarted + &complete("a")), 1));
    // Two pipelines: one done, one still reading.
    let two = [
        running("a"),
        running("b"),
        streaming("a"),
        streaming("b"),
        complete("a"),
    ]
    .concat();
    assert!(!binlog_ready(&two, 2));
    assert!(binlog_ready(&(two.clone() + &complete("b")), 2));
    assert!(!binlog_ready(&(two + &complete("b")), 3));
}

/// `INSERT`s rows `(1, 0) .. (n, 0)` into `t (id, seq)` on either server.
pub async fn fill(db: &MySqlServer, n: u32) {
    let sql = match db.flavor {
        MySqlFlavor::MariaDb => format!("INSERT INTO t (id, seq) SELECT seq, 0 FROM seq_1_to_{n}"),
        MySqlFlavor::MySql => format!(
            "SET SESSION cte_max_recursion_depth = {}; INSERT INTO t (id, seq) WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT n, 0 FROM s",
            n.max(1000)
        ),
    };
    db.exec(&sql).await;
}

/// Replays a flat-envelope topic into key → last row (tombstones delete).
pub fn replay(topic: &str) -> BTreeMap<String, Json> {
    let mut state = BTreeMap::new();
    for (k, v) in kcat_read(topic) {
        let Some(k) = k else { continue };
        let key = k["payload"].to_string();
        match v {
            Some(v) => state.insert(key, v["payload"].clone()),
            None => state.remove(&key),
        };
    }
    state
}

fn field_names(v: &Json) -> Vec<String> {
    v["schema"]["fields"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes mixed changes until stopped: updates bump `seq` by one, inserts use
/// new ids, deletes are final. Returns how many statements ran.
pub async fn run_writer(url: String, stop: Arc<AtomicBool>, first_new_id: i64) -> u64 {
    writer(url, stop, first_new_id, false).await
}

/// [`run_writer`] that keeps going through server restarts (a failed
/// statement is retried on a new connection; the table stays the truth).
pub async fn run_tolerant_writer(url: String, stop: Arc<AtomicBool>, first_new_id: i64) -> u64 {
    writer(url, stop, first_new_id, true).await
}

async fn writer(url: String, stop: Arc<AtomicBool>, first_new_id: i64, tolerant: bool) -> u64 {
    let pool = mysql_async::Pool::new(url.as_str());
    let mut next_id = first_new_id;
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let id = 1 + (n as i64 * 7919) % (next_id - 1);
        let sql = match n % 10 {
            0..=5 => format!("UPDATE t SET seq = seq + 1 WHERE id = {id}"),
            6 | 7 => {
                next_id += 1;
                format!("INSERT INTO t (id, seq) VALUES ({}, 0)", next_id - 1)
            }
            8 => format!("DELETE FROM t WHERE id = {id} AND id % 13 = 0"),
            _ => format!(
                "BEGIN; UPDATE t SET seq = seq + 1 WHERE id = {id}; INSERT INTO t (id, seq) VALUES ({}, 0); UPDATE t SET seq = seq + 1 WHERE id = {}; COMMIT",
                next_id,
                next_id
            ),
        };
        if n % 10 == 9 {
            next_id += 1;
        }
        let result = match pool.get_conn().await {
            Ok(mut c) => c.query_drop(&sql).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => n += 1,
            Err(e) if tolerant => {
                // A statement whose connection died may or may not have
                // committed; the next one uses fresh ids, so either is fine.
                let _ = e;
                if sql.contains("INSERT") {
                    next_id += 2;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("writer statement {sql}: {e}"),
        }
    }
    pool.disconnect().await.ok();
    n
}

/// Stops the background writer (which must have run more than 50
/// statements), then checks that `topic` replays to `db`'s table `t` with
/// every change exactly once and at least `min_messages` messages; returns
/// the message count.
pub async fn stop_writer_and_check_topic(
    stop: &AtomicBool,
    writer: tokio::task::JoinHandle<u64>,
    topic: &str,
    db: &MySqlServer,
    daemon: &Daemon,
    min_messages: usize,
) -> usize {
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(
        statements > 50,
        "the writer ran only {statements} statements"
    );
    let want = table_state(db).await;
    wait_replay_equals(topic, &want, daemon).await;
    let n = assert_exactly_once_per_key(topic);
    assert!(n >= min_messages, "only {n} messages");
    n
}

/// Waits until the topic replays to `want`; on timeout, panics listing the
/// first differing keys and the daemon's last log lines.
pub async fn wait_replay_equals(topic: &str, want: &BTreeMap<String, Json>, daemon: &Daemon) {
    let start = std::time::Instant::now();
    loop {
        let got = replay(topic);
        if &got == want {
            return;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let diff: Vec<String> = want
                .iter()
                .filter(|(k, v)| got.get(*k) != Some(*v))
                .map(|(k, v)| format!("{k}: want {v}, got {:?}", got.get(k)))
                .chain(
                    got.keys()
                        .filter(|k| !want.contains_key(*k))
                        .map(|k| format!("{k}: extra")),
                )
                .take(10)
                .collect();
            let log = daemon.log_text();
            let tail: Vec<&str> = log.lines().rev().take(30).collect();
            panic!(
                "topic {topic} does not replay to the table:\n{}\nlog tail:\n{}",
                diff.join("\n"),
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Checks a flat topic: per key, `seq` values go up by exactly one per
/// message (nothing doubled or lost after the first read), and a tombstone
/// is the key's last message. Returns the number of messages.
pub fn assert_exactly_once_per_key(topic: &str) -> usize {
    let msgs = kcat_read(topic);
    let mut last: BTreeMap<String, Option<i64>> = BTreeMap::new();
    for (k, v) in &msgs {
        let key = k.as_ref().expect("keyed table")["payload"].to_string();
        let prev = last.get(&key).cloned();
        match v {
            None => {
                assert!(
                    matches!(prev, Some(Some(_))),
                    "tombstone for {key} without a live row before it"
                );
                last.insert(key, None);
            }
            Some(v) => {
                let seq = v["payload"]["seq"].as_i64().expect("seq");
                match prev {
                    None => {}
                    Some(None) => panic!("{key}: a change after its delete"),
                    Some(Some(p)) => assert_eq!(
                        seq,
                        p + 1,
                        "{key}: seq {p} then {seq} (a change lost or doubled)"
                    ),
                }
                last.insert(key, Some(seq));
            }
        }
    }
    msgs.len()
}

/// The table as key → payload-shaped JSON (`id`, `seq`).
pub async fn table_state(db: &MySqlServer) -> BTreeMap<String, Json> {
    db.rows("SELECT id, seq FROM t")
        .await
        .into_iter()
        .map(|r| {
            let id: i64 = r[0].parse().expect("id");
            let seq: i64 = r[1].parse().expect("seq");
            (
                serde_json::json!({"id": id}).to_string(),
                serde_json::json!({"id": id, "seq": seq}),
            )
        })
        .collect()
}

async fn snapshot_joins_the_stream_without_gap_or_double_under_writes(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blseam").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 3000).await;
    let name = unique("blseam");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 3001));
    let port = free_port();
    let daemon = Daemon::start(&binlog_config_on(
        port,
        &name,
        &db.url(),
        // The one-cut snapshot: its reads precede every streamed change.
        "snapshot_fetch_rows = 250\nsnapshot_locking = \"minimal\"",
    ));
    // Up to a transaction timeout (60 s) may pass before the offsets topic can be
    // read, when another test's source died inside a transaction.
    wait_for(
        "the snapshot to complete",
        Duration::from_secs(120),
        || async {
            daemon
                .log_text()
                .contains("snapshot complete")
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // writes keep flowing past the seam
    let topic = format!("{name}.{}.t", db.name);
    let n = stop_writer_and_check_topic(&stop, writer, &topic, &db, &daemon, 3000).await;
    assert!(daemon.log_text().contains("snapshot started"));

    // The binlog metrics moved (README's metrics table, rows "emitted by binlog").
    use super::metrics_scrape::metric_sum;
    let m = |metric: &'static str| metric_sum(port, metric, &name);
    assert!(m("sluice_source_snapshot_rows_total").await >= 3000.0);
    assert_eq!(m("sluice_source_snapshot_tables_completed").await, 1.0);
    assert_eq!(m("sluice_source_snapshot_running").await, 0.0);
    assert!(m("sluice_source_transactions_total").await > 10.0);
    assert!(m("sluice_source_rows_read_total").await >= n as f64);
    assert!(m("sluice_source_binlog_position_bytes").await > 0.0);
    assert!(m("sluice_source_binlog_file_number").await >= 1.0);
    assert!(m("sluice_source_transaction_commit_seconds_count").await > 1.0);
    let lag = m("sluice_source_lag_seconds").await;
    assert!((0.0..60.0).contains(&lag), "lag {lag}");
}

async fn ddl_mid_stream_and_a_replay_from_an_older_position_use_the_schema_rows_were_written_with(
    flavor: MySqlFlavor,
) {
    let db = MySqlServer::new(flavor, "blddl").await;
    let (file, pos) = master_status(&db).await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))")
        .await;
    let name = unique("blddl");
    let mut daemon = Daemon::start(&binlog_config(&name, &db.url(), ""));
    wait_streaming(&daemon, 1, Duration::from_secs(60)).await;
    for sql in [
        "INSERT INTO t VALUES (1, 'x')",
        "ALTER TABLE t ADD COLUMN b INT DEFAULT 5",
        "INSERT INTO t VALUES (2, 'y', 6)",
        "ALTER TABLE t DROP COLUMN a",
        "INSERT INTO t VALUES (3, 7)",
        "ALTER TABLE t MODIFY b BIGINT",
        "INSERT INTO t VALUES (4, 9000000000)",
        "ALTER TABLE t CHANGE b c BIGINT",
        "INSERT INTO t VALUES (5, 1)",
        "RENAME TABLE t TO t2",
        "INSERT INTO t2 VALUES (6, 2)",
        "TRUNCATE TABLE t2",
        "DROP TABLE t2",
        "CREATE TABLE t (id INT PRIMARY KEY, z TEXT)",
        "INSERT INTO t VALUES (7, 'z')",
    ] {
        db.exec(sql).await;
    }
    let topic = format!("{name}.{}.t", db.name);
    let msgs = wait_for("seven rows on t", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 6).then_some(m)
    })
    .await;
    let shapes: Vec<(i64, Vec<String>)> = msgs
        .iter()
        .map(|(_, v)| {
            let v = v.as_ref().expect("value");
            (v["payload"]["id"].as_i64().expect("id"), field_names(v))
        })
        .collect();
    let s = |x: &[&str]| x.iter().map(|f| f.to_string()).collect::<Vec<_>>();
    assert_eq!(
        shapes,
        vec![
            (1, s(&["id", "a"])),
            (2, s(&["id", "a", "b"])),
            (3, s(&["id", "b"])),
            (4, s(&["id", "b"])),
            (5, s(&["id", "c"])),
            (7, s(&["id", "z"])),
        ]
    );
    let b4 = &msgs[3].1.as_ref().expect("value")["schema"]["fields"][1];
    assert_eq!(
        b4["type"], "int64",
        "MODIFY b BIGINT shows in the next row's schema"
    );
    assert_eq!(
        msgs[3].1.as_ref().expect("value")["payload"]["b"],
        9_000_000_000i64
    );
    let t2 = kcat_read(&format!("{name}.{}.t2", db.name));
    assert_eq!(t2.len(), 1, "the renamed table's row goes to its own topic");
    daemon.stop();

    // A second source replays the same binlog from before the CREATE TABLE:
    // every row must come out exactly as the live run published it.
    let replay_name = unique("blreplay");
    let offset = serde_json::json!({"file": file, "pos": pos, "gtids": "", "row": 0, "snapshot_completed": true});
    kcat_produce(
        "sluice_offsets",
        &[(
            Some(&format!(
                r#"["{replay_name}",{{"server":"{replay_name}"}}]"#
            )),
            &offset.to_string(),
        )],
    );
    let _replayer = Daemon::start(&binlog_config(&replay_name, &db.url(), ""));
    let replay_topic = format!("{replay_name}.{}.t", db.name);
    let replayed = wait_for("the replay", Duration::from_secs(60), || async {
        let m = kcat_read(&replay_topic);
        (m.len() >= msgs.len()).then_some(m)
    })
    .await;
    assert_eq!(
        replayed, msgs,
        "a replay from an older position decodes rows with their own schema"
    );
}

async fn idle_tables_still_advance_the_position_and_write_heartbeats(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blbeat").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); CREATE TABLE other (id INT PRIMARY KEY)")
        .await;
    let name = unique("blbeat");
    let daemon = Daemon::start(&binlog_config(
        &name,
        &db.url(),
        "tables = [\"t\"]\nheartbeat_interval_ms = 300",
    ));
    wait_streaming(&daemon, 1, Duration::from_secs(60)).await;
    let key = format!(r#"["{name}",{{"server":"{name}"}}]"#);
    let stored_pos = || {
        kcat_lines("sluice_offsets", "%k\t%s\n")
            .into_iter()
            .rev()
            .filter_map(|l| l.strip_prefix(&format!("{key}\t")).map(str::to_string))
            .find_map(|v| serde_json::from_str::<Json>(&v).ok())
    };
    let before = wait_for("a stored position", Duration::from_secs(30), || async {
        stored_pos()
    })
    .await;
    for i in 0..5 {
        db.exec(&format!("INSERT INTO other VALUES ({i})")).await;
    }
    let (file, pos) = master_status(&db).await;
    wait_for(
        "the stored position to pass the idle writes",
        Duration::from_secs(30),
        || async {
            stored_pos().filter(|o| o["file"] == file.as_str() && o["pos"].as_u64() >= Some(pos))
        },
    )
    .await;
    let beats = wait_for("heartbeat messages", Duration::from_secs(30), || async {
        let b = kcat_read(&format!("__sluice-heartbeat.{name}"));
        (b.len() >= 2).then_some(b)
    })
    .await;
    assert_eq!(
        beats[0].0.as_ref().expect("key")["payload"]["serverName"],
        name.as_str()
    );
    assert!(beats[0].1.as_ref().expect("value")["payload"]["ts_ms"]
        .as_i64()
        .is_some());
    assert!(
        kcat_read(&format!("{name}.{}.other", db.name)).is_empty(),
        "other is not captured"
    );
    assert_ne!(before, stored_pos().expect("position"));
}

async fn a_purged_position_is_a_clear_error_or_a_new_snapshot_when_needed(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blpurge").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .await;
    let gone = serde_json::json!({"file": "gone-bin.999999", "pos": 4, "gtids": "", "row": 0, "snapshot_completed": true});
    for (mode, expect_snapshot) in [("initial", false), ("when_needed", true)] {
        let name = unique("blpurge");
        kcat_produce(
            "sluice_offsets",
            &[(
                Some(&format!(r#"["{name}",{{"server":"{name}"}}]"#)),
                &gone.to_string(),
            )],
        );
        let daemon = Daemon::start(&binlog_config(
            &name,
            &db.url(),
            &format!("snapshot_mode = \"{mode}\""),
        ));
        if expect_snapshot {
            let rows = wait_for("the re-snapshot", Duration::from_secs(60), || async {
                let m = kcat_read(&format!("{name}.{}.t", db.name));
                (m.len() == 2).then_some(m)
            })
            .await;
            assert_eq!(rows[0].1.as_ref().expect("row")["payload"]["id"], 1);
        } else {
            let log = wait_for(
                "a purged-position error",
                Duration::from_secs(60),
                || async {
                    let l = daemon.log_text();
                    l.contains("gone-bin.999999 is no longer on the server")
                        .then_some(l)
                },
            )
            .await;
            assert!(
                log.contains("when_needed"),
                "the error names the way out: {log}"
            );
        }
    }
}

async fn check_names_each_missing_grant(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blgrant").await;
    let user = unique("nopriv");
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON `{}`.* TO '{user}'@'%'",
        db.name
    ))
    .await;
    let url = format!("mysql://{user}:pw@127.0.0.1:{}/{}", flavor.port(), db.name);
    let path = write_config(&binlog_config("grant-check", &url, ""));
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("path")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("grant REPLICATION SLAVE is missing"), "{out}");
    assert!(out.contains("BINLOG MONITOR"), "{out}");
    assert!(!out.contains("pw@"), "no password in the output: {out}");
    let mut c = db.pool.get_conn().await.expect("conn");
    c.query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .expect("drop user");
}

crate::both_flavors!(
    snapshot_joins_the_stream_without_gap_or_double_under_writes,
    ddl_mid_stream_and_a_replay_from_an_older_position_use_the_schema_rows_were_written_with,
    idle_tables_still_advance_the_position_and_write_heartbeats,
    a_purged_position_is_a_clear_error_or_a_new_snapshot_when_needed,
    check_names_each_missing_grant,
);
