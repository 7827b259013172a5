//! On-demand snapshots of a running binlog source (Debezium's
//! `execute-snapshot` / `stop-snapshot` / `pause-snapshot` /
//! `resume-snapshot`): over the REST API and `sluice snapshot`, filtered,
//! while a writer streams changes, across a kill -9.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::binlog::{binlog_config_on, fill, run_writer, table_state};
use super::binlog_chunks::{assert_changes_in_order, read_topic, replay, wait_snapshot_rows};
use super::metrics_scrape::metric_sum;
use crate::support::rest::{call, holds_for};
use crate::support::*;

/// Waits until the daemon's log holds `text` `n` times.
pub(super) async fn wait_log(daemon: &Daemon, text: &str, n: usize, patience: Duration) {
    wait_for(text, patience, || async {
        (daemon.log_text().matches(text).count() >= n).then_some(())
    })
    .await;
}

/// The `id` of a `{"id": N}` key.
fn key_id(key: &str) -> i64 {
    serde_json::from_str::<Json>(key).expect("key")["id"]
        .as_i64()
        .expect("id")
}

/// `sluice snapshot <name> --tables db.t --filter 'db.t=id > 2000'` while a
/// writer changes `t`, the daemon killed mid-way: the ad-hoc reads are
/// exactly `t`'s rows past 2000 (each at most once more than the initial
/// snapshot's), no change is lost or doubled, and `u` is not read again.
async fn a_filtered_adhoc_snapshot_streams_on_and_survives_a_kill(flavor: MySqlFlavor) {
    let rows = 20_000;
    let db = MySqlServer::new(flavor, "adhoc").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL); CREATE TABLE u (id INT PRIMARY KEY); INSERT INTO u VALUES (1), (2), (3)")
        .await;
    fill(&db, rows).await;
    let name = unique("adhoc");
    let port = free_port();
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        "envelope = \"debezium\"\nsnapshot_fetch_rows = 500",
    );
    let path = write_config(&config);
    let mut daemon = Daemon::start_file(path.clone());
    let patience = Duration::from_secs(180);
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), i64::from(rows) + 1));
    let table = format!("{}.t", db.name);
    let (code, out) = sluice(&[
        "snapshot",
        &name,
        "--config",
        path.to_str().expect("path"),
        "--tables",
        &table,
        "--filter",
        &format!("{table}=id > 2000"),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("snapshot of {table} queued")),
        "{out}"
    );
    // A third of the ad-hoc snapshot, then a crash.
    wait_snapshot_rows(port, &name, f64::from(rows) + 6_000.0, patience).await;
    daemon.kill();
    daemon.restart();
    wait_log(&daemon, "snapshot complete (chunked)", 2, patience).await;
    tokio::time::sleep(Duration::from_millis(500)).await; // writes after it
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(
        statements > 100,
        "the writer ran only {statements} statements"
    );
    let log = daemon.log_text();
    assert!(
        log.contains("chunked snapshot running beside the stream") && log.contains("adhoc=true"),
        "the ad-hoc snapshot resumed after the kill: {log}"
    );

    let want = table_state(&db).await;
    let topic = format!("{name}.{table}");
    let got = wait_for(
        "the topic to replay to the table",
        Duration::from_secs(60),
        || async {
            let msgs = read_topic(&topic, true);
            (replay(&msgs) == want).then_some(msgs)
        },
    )
    .await;
    let reads = assert_changes_in_order(&got, 2);
    for (k, n) in &reads {
        let id = key_id(k);
        if id <= 2000 {
            assert_eq!(
                *n, 1,
                "{k}: filtered out, read only by the initial snapshot"
            );
        }
    }
    let live_past_filter: Vec<&String> = want
        .keys()
        .filter(|k| (2001..=i64::from(rows)).contains(&key_id(k)))
        .collect();
    let reread = live_past_filter
        .iter()
        .filter(|k| reads.get(**k) == Some(&2))
        .count();
    // Keys changed inside a chunk's watermark window are not read (the change wins).
    assert!(
        reread > live_past_filter.len() * 8 / 10,
        "only {reread} of {} rows past the filter read again",
        live_past_filter.len()
    );
    let u = kcat_read(&format!("{name}.{}.u", db.name));
    assert_eq!(u.len(), 3, "u is not snapshotted again");
}

/// REST: 404/400/409 answers naming what is wrong; pause holds the
/// snapshot, resume continues it, stop ends it (`sluice snapshot --stop`).
async fn an_adhoc_snapshot_pauses_resumes_and_stops(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "adhocstop").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 30_000).await;
    let name = unique("adhocstop");
    let port = free_port();
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        "snapshot_mode = \"schema_only\"\nsnapshot_fetch_rows = 100",
    );
    let path = write_config(&config);
    let daemon = Daemon::start_file(path.clone());
    let table = format!("{}.t", db.name);
    let snapshot = format!("/connectors/{name}/snapshot");
    assert_eq!(
        call(
            port,
            "POST",
            "/connectors/nope/snapshot",
            Some(&json!({"data-collections": [table]})),
            None
        )
        .await
        .status,
        404
    );
    // 409 until the source runs, then 400 for a table it does not capture.
    let unknown = json!({"data-collections": [format!("{}.nope", db.name)]});
    let reply = wait_for(
        "the source to take signals",
        Duration::from_secs(60),
        || async {
            let r = call(port, "POST", &snapshot, Some(&unknown), None).await;
            (r.status != 409).then_some(r)
        },
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("data-collections") && reply.body.contains(".nope"),
        "{}",
        reply.body
    );
    let bad_filter = json!({"data-collections": [table],
        "additional-conditions": [{"data-collection": table, "filter": "no_such_column > 1"}]});
    let reply = call(port, "POST", &snapshot, Some(&bad_filter), None).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("additional-conditions[0].filter"),
        "{}",
        reply.body
    );

    let reply = call(
        port,
        "POST",
        &snapshot,
        Some(&json!({"data-collections": [table], "type": "incremental"})),
        None,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let rows = || metric_sum(port, "sluice_source_snapshot_rows_total", &name);
    wait_snapshot_rows(port, &name, 1000.0, Duration::from_secs(60)).await;

    let reply = call(port, "PUT", &format!("{snapshot}/pause"), None, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(500)).await; // a chunk in flight completes
    let paused = rows().await;
    holds_for("the pause", Duration::from_secs(2), || async {
        rows().await == paused
    })
    .await;
    let reply = call(port, "PUT", &format!("{snapshot}/resume"), None, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_snapshot_rows(port, &name, paused + 1000.0, Duration::from_secs(60)).await;

    let (code, out) = sluice(&[
        "snapshot",
        &name,
        "--config",
        path.to_str().expect("path"),
        "--stop",
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("snapshot stopped"), "{out}");
    let stopped = rows().await;
    holds_for("the stop", Duration::from_secs(2), || async {
        rows().await == stopped
    })
    .await;
    assert!(stopped < 30_000.0, "stopped before the end: {stopped} rows");
    assert!(daemon.log_text().contains("snapshot stopped"));
    // Every read once: a pause or a stop neither repeats nor loses a chunk.
    let msgs = wait_for("the reads", Duration::from_secs(30), || async {
        let m = kcat_read(&format!("{name}.{table}"));
        (m.len() as f64 >= stopped).then_some(m)
    })
    .await;
    let ids: std::collections::BTreeSet<i64> = msgs
        .iter()
        .map(|(_, v)| {
            v.as_ref().expect("row")["payload"]["id"]
                .as_i64()
                .expect("id")
        })
        .collect();
    assert_eq!(ids.len(), msgs.len(), "no row read twice");
    assert_eq!(ids.iter().next(), Some(&1), "read from the first key");

    // A stopped connector takes no signal.
    let reply = call(port, "PUT", &format!("/connectors/{name}/stop"), None, None).await;
    assert_eq!(reply.status, 202);
    let reply = wait_for("the source to stop", Duration::from_secs(30), || async {
        let r = call(
            port,
            "POST",
            &snapshot,
            Some(&json!({"data-collections": [table]})),
            None,
        )
        .await;
        (r.status == 409).then_some(r)
    })
    .await;
    assert!(
        reply.body.contains("not a running binlog source"),
        "{}",
        reply.body
    );
}

/// Debezium's source signal channel: rows inserted into the signal table
/// (`signal_data_collection`) start a filtered snapshot, and stop one; a
/// signal naming no captured table is logged and ignored.
async fn signal_table_rows_start_and_stop_snapshots(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "adhocsig").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL); \
             CREATE TABLE sig (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048))")
        .await;
    fill(&db, 20_000).await;
    let name = unique("adhocsig");
    let port = free_port();
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        &format!(
            "snapshot_mode = \"schema_only\"\nsnapshot_fetch_rows = 100\nsignal_data_collection = \"{}.sig\"",
            db.name
        ),
    );
    let daemon = Daemon::start(&config);
    wait_log(&daemon, "streaming binlog", 1, Duration::from_secs(60)).await;
    let table = format!("{}.t", db.name);
    let signal = |id: &str, kind: &str, data: Json| {
        format!("INSERT INTO sig VALUES ('{id}', '{kind}', '{data}')")
    };
    db.exec(&signal(
        "s0",
        "execute-snapshot",
        json!({"data-collections": [format!("{}.nope", db.name)]}),
    ))
    .await;
    db.exec(&signal(
        "s1",
        "execute-snapshot",
        json!({"data-collections": [table], "type": "incremental",
            "additional-conditions": [{"data-collection": table, "filter": "id <= 3000"}]}),
    ))
    .await;
    wait_log(
        &daemon,
        "snapshot complete (chunked)",
        1,
        Duration::from_secs(120),
    )
    .await;
    let log = daemon.log_text();
    assert!(
        log.contains("id=s0") && log.contains("signal ignored"),
        "{log}"
    );
    let topic = format!("{name}.{table}");
    let ids = |msgs: &[(Option<Json>, Option<Json>)]| -> std::collections::BTreeSet<i64> {
        msgs.iter()
            .map(|(_, v)| {
                v.as_ref().expect("row")["payload"]["id"]
                    .as_i64()
                    .expect("id")
            })
            .collect()
    };
    let msgs = wait_for("the filtered reads", Duration::from_secs(30), || async {
        let m = kcat_read(&topic);
        (m.len() >= 3000).then_some(m)
    })
    .await;
    assert_eq!(msgs.len(), 3000, "exactly the filtered rows");
    assert_eq!(ids(&msgs), (1..=3000).collect(), "ids 1..=3000, each once");

    // The whole table, stopped by a signal part-way.
    db.exec(&signal(
        "s2",
        "execute-snapshot",
        json!({"data-collections": [table]}),
    ))
    .await;
    wait_snapshot_rows(port, &name, 3000.0 + 1000.0, Duration::from_secs(60)).await;
    db.exec(&signal(
        "s3",
        "stop-snapshot",
        json!({"type": "incremental"}),
    ))
    .await;
    wait_log(&daemon, "snapshot stopped", 1, Duration::from_secs(30)).await;
    let rows = || metric_sum(port, "sluice_source_snapshot_rows_total", &name);
    let stopped = rows().await;
    holds_for("the stop", Duration::from_secs(2), || async {
        rows().await == stopped
    })
    .await;
    assert!(stopped < 23_000.0, "stopped before the end: {stopped}");
    let sig_topic = format!("{name}.{}.sig", db.name);
    assert!(
        kcat_read(&sig_topic).is_empty(),
        "signal rows are not published"
    );
}

/// A table added to `tables` and a SIGHUP reload: the new table is read in
/// chunks (each row once) while the other table's changes stream on, none
/// of them lost, doubled or read again.
async fn a_table_added_by_reload_is_backfilled(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "adhocadd").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL); CREATE TABLE v (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 3000).await;
    db.exec("INSERT INTO v SELECT id, seq + 7 FROM t WHERE id <= 2000")
        .await;
    let name = unique("adhocadd");
    let port = free_port();
    let config = |tables: &str| {
        binlog_config_on(
            port,
            &name,
            &db.url(),
            &format!("envelope = \"debezium\"\nsnapshot_fetch_rows = 200\ntables = [{tables}]"),
        )
    };
    let (t, v) = (format!("\"{}.t\"", db.name), format!("\"{}.v\"", db.name));
    let path = write_config(&config(&t));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 3001));
    let daemon = Daemon::start_file(path.clone());
    let patience = Duration::from_secs(120);
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;
    db.exec("UPDATE v SET seq = seq + 1 WHERE id <= 10").await; // not captured yet
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(&path, config(&format!("{t}, {v}"))).expect("rewrite config");
    daemon.hup();
    wait_log(
        &daemon,
        "tables added to the capture; backfilling them",
        1,
        patience,
    )
    .await;
    wait_log(&daemon, "snapshot complete (chunked)", 2, patience).await;
    db.exec("UPDATE v SET seq = seq + 1 WHERE id = 1").await; // streamed after
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(
        statements > 50,
        "the writer ran only {statements} statements"
    );

    let want_v: std::collections::BTreeMap<String, Json> = db
        .rows("SELECT id, seq FROM v")
        .await
        .into_iter()
        .map(|r| {
            let (id, seq): (i64, i64) = (r[0].parse().expect("id"), r[1].parse().expect("seq"));
            (json!({"id": id}).to_string(), json!({"id": id, "seq": seq}))
        })
        .collect();
    let topic_v = format!("{name}.{}.v", db.name);
    let msgs_v = wait_for("v's backfill", Duration::from_secs(60), || async {
        let m = read_topic(&topic_v, true);
        (replay(&m) == want_v).then_some(m)
    })
    .await;
    let reads = assert_changes_in_order(&msgs_v, 1);
    assert_eq!(reads.len(), 2000, "every row of v read once");
    let want_t = table_state(&db).await;
    let topic_t = format!("{name}.{}.t", db.name);
    let msgs_t = wait_for("t's stream", Duration::from_secs(60), || async {
        let m = read_topic(&topic_t, true);
        (replay(&m) == want_t).then_some(m)
    })
    .await;
    assert_changes_in_order(&msgs_t, 1); // t is not read again
}

crate::both_flavors!(
    a_table_added_by_reload_is_backfilled,
    a_filtered_adhoc_snapshot_streams_on_and_survives_a_kill,
    an_adhoc_snapshot_pauses_resumes_and_stops,
    signal_table_rows_start_and_stop_snapshots,
);
