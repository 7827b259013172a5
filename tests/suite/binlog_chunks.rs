//! Chunked, lock-free snapshots (`snapshot_locking = "none"`, the default):
//! a table read in key chunks while a writer changes it and the daemon is
//! killed mid-snapshot; a MySQL user without `RELOAD`; composite,
//! case-insensitive VARCHAR and BINARY(16) keys.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

use super::binlog::{binlog_config_on, fill, run_writer, table_state};
use super::metrics_scrape::metric_sum;
use super::seed::http_get;
use crate::support::*;

/// Every message of a Debezium-envelope topic: (key payload, value payload),
/// `None` for a tombstone; `committed` picks the isolation level. Only the
/// payloads are parsed (each value's schema is most of its bytes), and of each
/// value only `op` and `after` are kept, read line by line from kcat: the
/// checks need nothing else, and a 2M-row topic must fit in memory (holding
/// whole payloads took the test process past 20 GB).
pub(super) fn read_topic(topic: &str, committed: bool) -> Vec<(String, Option<Json>)> {
    let level = if committed {
        "isolation.level=read_committed"
    } else {
        "isolation.level=read_uncommitted"
    };
    let mut kcat = Command::new("timeout")
        .args(["300", "kcat", "-C", "-b", KAFKA, "-t", topic])
        .args(["-o", "beginning", "-e", "-q", "-X", level])
        .args(["-f", "%k\u{1}%s\n"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kcat");
    let payload = |json: &str| -> Option<Json> {
        let at = json.rfind("\"payload\":")?;
        let body = json[at + 10..].strip_suffix('}')?;
        serde_json::from_str(body).ok()
    };
    let out = kcat.stdout.take().expect("kcat's stdout");
    let mut msgs = Vec::new();
    for line in BufReader::new(out).split(b'\n') {
        let line = line.expect("reading kcat");
        let line = String::from_utf8_lossy(&line);
        let Some((k, v)) = line.split_once('\u{1}') else {
            continue;
        };
        let key = payload(k).expect("keyed table").to_string();
        let value = payload(v)
            .filter(|p| !p.is_null())
            .map(|mut p| serde_json::json!({"op": p["op"].take(), "after": p["after"].take()}));
        msgs.push((key, value));
    }
    kcat.wait().expect("kcat");
    msgs
}

/// Replays a Debezium topic into key → row (deletes remove the key).
pub(super) fn replay(msgs: &[(String, Option<Json>)]) -> BTreeMap<String, Json> {
    let mut state = BTreeMap::new();
    for (k, v) in msgs {
        match v.as_ref().map(|v| (v["op"].as_str(), &v["after"])) {
            None => {}
            Some((Some("d"), _)) => {
                state.remove(k);
            }
            Some((_, after)) => {
                state.insert(k.clone(), after.clone());
            }
        }
    }
    state
}

/// Checks per key: each change moves `seq` up by exactly one, a snapshot
/// read repeats the state already published (never an older one), nothing
/// follows a delete, and no key is read twice. Returns the reads per key.
fn assert_no_change_lost_or_doubled(msgs: &[(String, Option<Json>)]) -> BTreeMap<String, u32> {
    assert_changes_in_order(msgs, 1)
}

/// [`assert_no_change_lost_or_doubled`] allowing `max_reads` reads per key
/// (a table snapshotted again on demand).
pub(super) fn assert_changes_in_order(
    msgs: &[(String, Option<Json>)],
    max_reads: u32,
) -> BTreeMap<String, u32> {
    // Per key: Some(seq) live, None deleted.
    let mut last: BTreeMap<&str, Option<i64>> = BTreeMap::new();
    let mut reads: BTreeMap<String, u32> = BTreeMap::new();
    for (k, v) in msgs {
        let Some(v) = v else { continue }; // the tombstone after a delete
        let op = v["op"].as_str().expect("op");
        let prev = last.get(k.as_str()).copied();
        if op == "d" {
            // A row deleted before its chunk was read was never published.
            assert!(prev != Some(None), "{k}: deleted twice");
            last.insert(k, None);
            continue;
        }
        let seq = v["after"]["seq"].as_i64().expect("seq");
        match (op, prev) {
            (_, Some(None)) => {
                panic!("{k}: {op} after its delete (a stale read or a doubled change)")
            }
            ("r", Some(Some(p))) => assert_eq!(
                seq, p,
                "{k}: a read of seq {seq} after seq {p} was published"
            ),
            ("r", None) => {}
            (_, Some(Some(p))) => assert_eq!(
                seq,
                p + 1,
                "{k}: seq {p} then {seq} (a change lost or doubled)"
            ),
            (_, None) => {}
        }
        if op == "r" {
            let n = reads.entry(k.clone()).or_default();
            *n += 1;
            assert!(*n <= max_reads, "{k} was read {n} times");
        }
        last.insert(k, Some(seq));
    }
    reads
}

/// Waits until this incarnation of the daemon has published `rows` snapshot rows.
pub(super) async fn wait_snapshot_rows(port: u16, name: &str, rows: f64, patience: Duration) {
    wait_for("snapshot rows", patience, || async {
        (metric_sum(port, "sluice_source_snapshot_rows_total", name).await >= rows).then_some(())
    })
    .await;
}

async fn kill_9_mid_snapshot_rereads_at_most_a_chunk(flavor: MySqlFlavor) {
    snapshot_under_writes_and_kills(flavor, 50_000, 1000, 2, false, false).await;
}

/// The same with signal-table watermarks (`signal_data_collection`).
async fn signal_table_watermarks_survive_kills(flavor: MySqlFlavor) {
    snapshot_under_writes_and_kills(flavor, 20_000, 1000, 2, false, true).await;
}

/// Issue 14's full scenario: 2M rows, three kill -9 mid-snapshot, and a
/// PostgreSQL sink whose table must equal the source. Minutes long and
/// memory-hungry (the whole topic is read back): run alone, by hand.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "2M rows, minutes long: cargo test --test main -- --ignored two_million"]
async fn two_million_rows_three_kills_mariadb() {
    snapshot_under_writes_and_kills(MySqlFlavor::MariaDb, 2_000_000, 10_000, 3, true, false).await;
}

/// [`two_million_rows_three_kills_mariadb`] on MySQL.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "2M rows, minutes long: cargo test --test main -- --ignored two_million"]
async fn two_million_rows_three_kills_mysql() {
    snapshot_under_writes_and_kills(MySqlFlavor::MySql, 2_000_000, 10_000, 3, true, false).await;
}

/// `rows` rows snapshotted in chunks of `chunk` while a writer updates,
/// inserts and deletes, with `kills` kill -9 mid-snapshot; with `sink`, a
/// PostgreSQL sink copies the topic and its table must equal the source's.
async fn snapshot_under_writes_and_kills(
    flavor: MySqlFlavor,
    rows: u32,
    chunk: usize,
    kills: usize,
    sink: bool,
    signal: bool,
) {
    let db = MySqlServer::new(flavor, "chunks").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    let signal_key = if signal {
        db.exec("CREATE TABLE sluice_signal (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))")
            .await;
        format!("\nsignal_data_collection = \"{}.sluice_signal\"", db.name)
    } else {
        String::new()
    };
    fill(&db, rows).await;
    let name = unique("chunks");
    let topic = format!("{name}.{}.t", db.name);
    let port = free_port();
    let mut config = binlog_config_on(
        port,
        &name,
        &db.url(),
        &format!("envelope = \"debezium\"\nsnapshot_fetch_rows = {chunk}{signal_key}"),
    );
    let pg = if sink {
        let pg = Postgres::create("chunks").await;
        config.push_str(&format!(
            "[[sink]]\nname = \"{name}-sink\"\nurl = \"{}\"\ntopics = [\"{topic}\"]\ntable_name_format = \"t_copy\"\nauto_create = true\ninsert_mode = \"upsert\"\npk_mode = \"record_key\"\ndelete_enabled = true\n",
            pg.url()
        ));
        Some(pg)
    } else {
        None
    };
    // Long enough for the whole table at a few thousand rows/s (debug build).
    let patience = Duration::from_secs(60 + u64::from(rows) / 500);
    let per_run = f64::from(rows) / (kills as f64 + 2.0);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), i64::from(rows) + 1));
    let mut daemon = Daemon::start(&config);
    // Starts that found the snapshot unfinished: the first, and each
    // restart after a kill that landed before the snapshot completed.
    let mut runs_mid_snapshot = 1;
    for round in 0..kills {
        wait_snapshot_rows(port, &name, per_run, patience).await;
        if round == 0 {
            // Progress people can read: the status and the gauges.
            let status = http_get(port, &format!("/connectors/{name}/status")).await;
            let status: Json = serde_json::from_str(&status).expect("status JSON");
            let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
            assert!(
                trace.starts_with(&format!("snapshot of {}.t: ", db.name))
                    && trace.contains(" rows (")
                    && trace.contains("ETA"),
                "{status}"
            );
            let m = |metric: &'static str| metric_sum(port, metric, &name);
            assert!(m("sluice_source_snapshot_table_rows").await >= per_run);
            assert!(m("sluice_source_snapshot_table_rows_estimated").await > 0.0);
            // The ETA may be 0 (TABLE_ROWS is an estimate, often below the real count).
            let metrics = http_get(port, "/metrics").await;
            assert!(
                metrics.contains(&format!(
                    "sluice_source_snapshot_eta_seconds{{pipeline=\"{name}\",table=\"{}.t\"}}",
                    db.name
                )),
                "no ETA gauge"
            );
        }
        daemon.kill();
        // A fast run may finish the snapshot between the count and the
        // kill: the next start then has nothing to resume.
        if !daemon.log_text().contains("snapshot complete (chunked)") {
            runs_mid_snapshot += 1;
        }
        daemon.restart();
    }
    assert!(
        runs_mid_snapshot >= 2,
        "no kill landed mid-snapshot: the scenario tested no resume"
    );
    daemon
        .wait_log("snapshot complete (chunked)", patience)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // writes after the snapshot
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(
        statements > 100,
        "the writer ran only {statements} statements"
    );
    let log = daemon.log_text();
    // "snapshot complete" is logged once the last chunk's rows and the
    // position past the snapshot are committed: a start resumes the
    // snapshot exactly when the log before it lacks that line. (One less
    // start only if a kill fell between that commit and its log line.)
    let starts = log
        .matches("chunked snapshot running beside the stream")
        .count();
    assert!(
        (runs_mid_snapshot - 1..=runs_mid_snapshot).contains(&starts),
        "{starts} starts of the snapshot: one, and a resume per kill that landed mid-snapshot \
         ({} of {kills})",
        runs_mid_snapshot - 1
    );
    assert!(!log.contains("FLUSH TABLES"), "no global lock");

    let want: BTreeMap<String, Json> = table_state(&db).await;
    let got = wait_for(
        "the topic to replay to the table",
        Duration::from_secs(60),
        || async {
            let msgs = read_topic(&topic, true);
            (replay(&msgs) == want).then_some(msgs)
        },
    )
    .await;
    let reads = assert_no_change_lost_or_doubled(&got);
    assert!(
        reads.len() > (rows as usize) * 9 / 10,
        "only {} keys read",
        reads.len()
    );
    // Aborted transactions (the chunks in flight at each kill) hold the only re-reads.
    let all_reads = read_topic(&topic, false)
        .iter()
        .filter(|(_, v)| v.as_ref().is_some_and(|v| v["op"] == "r"))
        .count();
    let reread = all_reads - reads.len();
    assert!(
        reread <= kills * chunk,
        "{reread} rows read again over {kills} crashes"
    );
    if let Some(pg) = &pg {
        super::binlog::wait_pg_copy_equals(&db, pg).await;
    }
    if signal {
        let marks = db
            .rows("SELECT COUNT(*) FROM sluice_signal WHERE type = 'snapshot-window-close'")
            .await;
        let marks: usize = marks[0][0].parse().expect("count");
        assert!(marks >= rows as usize / chunk, "{marks} chunks watermarked");
        let topics = Command::new("kcat")
            .args(["-L", "-b", KAFKA])
            .output()
            .expect("kcat -L");
        assert!(
            !String::from_utf8_lossy(&topics.stdout)
                .contains(&format!("{name}.{}.sluice_signal", db.name)),
            "watermark rows are not published"
        );
    }
}

async fn a_user_without_reload_snapshots(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "noreload").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 300).await;
    let user = unique("cdc");
    let monitor = match flavor {
        MySqlFlavor::MariaDb => "BINLOG MONITOR",
        MySqlFlavor::MySql => "REPLICATION CLIENT",
    };
    db.exec(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'; GRANT SELECT ON `{}`.* TO '{user}'@'%'; GRANT REPLICATION SLAVE, {monitor} ON *.* TO '{user}'@'%'",
        db.name
    ))
    .await;
    let url = format!("mysql://{user}:pw@127.0.0.1:{}/{}", flavor.port(), db.name);
    let name = unique("noreload");
    let config = binlog_config_on(free_port(), &name, &url, "snapshot_fetch_rows = 70");
    let (code, out) = sluice(&[
        "check",
        "--config",
        write_config(&config).to_str().expect("path"),
    ]);
    assert!(!out.contains("RELOAD"), "no RELOAD needed: {out}");
    let _ = code; // other lines (e.g. Kafka topics) are not this test's concern
    let daemon = Daemon::start(&config);
    let topic = format!("{name}.{}.t", db.name);
    wait_for("the snapshot rows", Duration::from_secs(120), || async {
        let n = kcat_read(&topic).len();
        assert!(
            !daemon.log_text().contains("ERROR"),
            "{}",
            daemon.log_text()
        );
        (n == 300).then_some(())
    })
    .await;
    db.exec("UPDATE t SET seq = 1 WHERE id = 7").await;
    wait_for("the streamed change", Duration::from_secs(30), || async {
        (kcat_read(&topic).len() == 301).then_some(())
    })
    .await;
    assert!(daemon.log_text().contains("snapshot complete (chunked)"));
    let mut c = db.pool.get_conn().await.expect("conn");
    c.query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .expect("drop user");
}

async fn composite_varchar_and_binary_keys_page_without_gaps(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "chunkkeys").await;
    db.exec(
        "CREATE TABLE t (region VARCHAR(20) COLLATE utf8mb4_general_ci NOT NULL, uuid BINARY(16) NOT NULL, \
         n INT NOT NULL, PRIMARY KEY (region, uuid))",
    )
    .await;
    // Mixed-case regions (a case-insensitive collation orders them apart
    // from their bytes) and random 16-byte ids, 40 of each region.
    let regions = [
        "alpha", "Bravo", "charlie", "Delta", "echo", "ÉCLAIR", "zulu", "Zeta",
    ];
    let mut values = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        for j in 0..40 {
            // 16 scrambled bytes per row (a UUID-like key, not in insert order).
            let mut x = (i as u128 * 1000 + j as u128 + 1)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835);
            x ^= x >> 61;
            values.push(format!("('{r}', X'{x:032x}', {})", i * 100 + j));
        }
    }
    db.exec(&format!("INSERT INTO t VALUES {}", values.join(", ")))
        .await;
    let name = unique("chunkkeys");
    let config = binlog_config_on(free_port(), &name, &db.url(), "snapshot_fetch_rows = 7");
    let daemon = Daemon::start(&config);
    daemon
        .wait_log("snapshot complete (chunked)", Duration::from_secs(60))
        .await;
    let topic = format!("{name}.{}.t", db.name);
    let msgs = wait_for("every row", Duration::from_secs(30), || async {
        let m = kcat_read(&topic);
        (m.len() >= regions.len() * 40).then_some(m)
    })
    .await;
    let mut seen: BTreeMap<i64, u32> = BTreeMap::new();
    for (_, v) in &msgs {
        let n = v.as_ref().expect("row")["payload"]["n"]
            .as_i64()
            .expect("n");
        *seen.entry(n).or_default() += 1;
    }
    assert_eq!(seen.len(), regions.len() * 40, "every row read");
    assert!(seen.values().all(|&c| c == 1), "no row read twice");
    assert_eq!(msgs.len(), regions.len() * 40);
}

/// Reads `topic` until it holds `n` messages; returns each row's `n` column.
async fn read_ns(topic: &str, n: usize) -> Vec<i64> {
    let msgs = wait_for(topic, Duration::from_secs(60), || async {
        let m = kcat_read(topic);
        (m.len() >= n).then_some(m)
    })
    .await;
    let mut ns: Vec<i64> = msgs
        .iter()
        .map(|(_, v)| {
            v.as_ref().expect("row")["payload"]["n"]
                .as_i64()
                .expect("n")
        })
        .collect();
    ns.sort_unstable();
    ns
}

async fn datetime_unique_and_keyless_tables_are_read_once(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "chunkkinds").await;
    db.exec(
        "CREATE TABLE t_dt (ts DATETIME(6) NOT NULL PRIMARY KEY, n INT NOT NULL); \
         CREATE TABLE t_uk (id INT NULL, code VARCHAR(10) NOT NULL, n INT NOT NULL, UNIQUE KEY (id), UNIQUE KEY (code)); \
         CREATE TABLE t_nokey (n INT NOT NULL)",
    )
    .await;
    let mut dt = Vec::new();
    let mut uk = Vec::new();
    let mut nokey = Vec::new();
    for i in 0..60 {
        // Microseconds apart and across seconds: pagination must keep the fraction.
        dt.push(format!(
            "('2024-02-29 23:59:{:02}.{:06}', {i})",
            i / 20,
            (i % 20) * 7
        ));
        uk.push(format!(
            "({}, 'c{:03}', {i})",
            if i % 3 == 0 {
                "NULL".to_string()
            } else {
                i.to_string()
            },
            59 - i
        ));
        nokey.push(format!("({i})"));
    }
    db.exec(&format!(
        "INSERT INTO t_dt VALUES {}; INSERT INTO t_uk VALUES {}; INSERT INTO t_nokey VALUES {}",
        dt.join(", "),
        uk.join(", "),
        nokey.join(", ")
    ))
    .await;
    let name = unique("chunkkinds");
    let config = binlog_config_on(free_port(), &name, &db.url(), "snapshot_fetch_rows = 7");
    let daemon = Daemon::start(&config);
    daemon
        .wait_log("snapshot complete (chunked)", Duration::from_secs(60))
        .await;
    let all: Vec<i64> = (0..60).collect();
    for t in ["t_dt", "t_uk", "t_nokey"] {
        let topic = format!("{name}.{}.{t}", db.name);
        assert_eq!(
            read_ns(&topic, 60).await,
            all,
            "{t}: every row exactly once"
        );
    }
    let log = daemon.log_text();
    assert!(
        log.contains("no primary key or NOT NULL unique key; reading the table in one pass"),
        "{log}"
    );
    assert_eq!(
        log.matches("reading the table in one pass").count(),
        1,
        "only t_nokey: t_uk pages by its NOT NULL unique key"
    );
}

async fn a_table_dropped_mid_snapshot_is_skipped(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "chunkdrop").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL); CREATE TABLE u (id INT PRIMARY KEY)")
        .await;
    fill(&db, 20_000).await;
    db.exec("INSERT INTO u VALUES (1), (2)").await;
    let name = unique("chunkdrop");
    let port = free_port();
    let config = binlog_config_on(port, &name, &db.url(), "snapshot_fetch_rows = 100");
    let daemon = Daemon::start(&config);
    // `t` is being read (so `u` is listed): drop `u` before its turn.
    wait_snapshot_rows(port, &name, 300.0, Duration::from_secs(120)).await;
    db.exec("DROP TABLE u").await;
    daemon
        .wait_log("snapshot complete (chunked)", Duration::from_secs(60))
        .await;
    let log = daemon.log_text();
    assert!(log.contains("snapshot: table dropped; skipped"), "{log}");
    let topic = format!("{name}.{}.t", db.name);
    wait_for("every row of t", Duration::from_secs(30), || async {
        (kcat_read(&topic).len() == 20_000).then_some(())
    })
    .await;
}

crate::both_flavors!(
    signal_table_watermarks_survive_kills,
    a_table_dropped_mid_snapshot_is_skipped,
    datetime_unique_and_keyless_tables_are_read_once,
    kill_9_mid_snapshot_rereads_at_most_a_chunk,
    a_user_without_reload_snapshots,
    composite_varchar_and_binary_keys_page_without_gaps,
);
