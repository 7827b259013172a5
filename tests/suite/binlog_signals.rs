//! Snapshot signals that must be acted on exactly once: Debezium's Kafka
//! signal topic (filtered, stopped, invalid, and across kill -9) and a REST
//! request answered 202 only once it is stored.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::binlog::{binlog_config_on, fill};
use super::binlog_adhoc::wait_log;
use super::binlog_chunks::wait_snapshot_rows;
use super::metrics_scrape::metric_sum;
use crate::support::rest::{call, holds_for};
use crate::support::*;

/// How often each `id` was read from `topic` (committed reads only).
fn reads_by_id(topic: &str) -> BTreeMap<i64, usize> {
    let mut n = BTreeMap::new();
    for (_, v) in kcat_read(topic) {
        let v = v.expect("row");
        let row = match v["payload"].get("after") {
            Some(after) => after, // the debezium envelope
            None => &v["payload"],
        };
        let id = row["id"].as_i64().expect("id");
        *n.entry(id).or_default() += 1;
    }
    n
}

/// Waits until `topic` holds `want` reads, then checks they are exactly
/// the ids `ids`, each once.
async fn assert_read_once(topic: &str, want: usize, ids: impl Iterator<Item = i64>) {
    let got = wait_for("the filtered reads", Duration::from_secs(60), || async {
        let m = reads_by_id(topic);
        (m.values().sum::<usize>() >= want).then_some(m)
    })
    .await;
    let expected: BTreeMap<i64, usize> = ids.map(|i| (i, 1)).collect();
    assert_eq!(got.len(), expected.len(), "distinct ids read");
    assert_eq!(got, expected, "exactly the filtered rows, each once");
}

/// A Debezium Kafka signal value.
fn signal(kind: &str, data: Json) -> String {
    json!({"type": kind, "data": data}).to_string()
}

/// The config of a streaming-only source `name` on `db` reading its Kafka
/// signal topic `topic`, with one of Debezium's `signal.consumer.*` keys
/// (Java's `fetch.max.wait.ms`, librdkafka's `fetch.wait.max.ms`: a wrong
/// name would stop the reader from being created).
fn kafka_signal_config(port: u16, name: &str, db: &MySqlServer, topic: &str) -> String {
    binlog_config_on(
        port,
        name,
        &db.url(),
        &format!(
            "snapshot_mode = \"schema_only\"\nsnapshot_fetch_rows = 100\n\
             \"signal.enabled.channels\" = \"source,kafka\"\n\"signal.kafka.topic\" = \"{topic}\"\n\
             signal_kafka_group_id = \"{name}-signals\"\n\"signal.consumer.fetch.max.wait.ms\" = \"50\""
        ),
    )
}

/// Debezium's Kafka signal channel: records keyed by the server name start
/// a filtered snapshot (exactly the filtered rows) and stop one; records
/// with another key, values that are not JSON and signals naming no
/// captured table are logged and ignored.
async fn kafka_signals_start_and_stop_snapshots(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "kafkasig").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 20_000).await;
    let name = unique("kafkasig");
    let signals = format!("{name}-signal");
    let table = format!("{}.t", db.name);
    let execute = signal(
        "execute-snapshot",
        json!({"data-collections": [table], "type": "incremental"}),
    );
    // Written before the source starts (it reads from the topic's start).
    kcat_produce(
        &signals,
        &[
            (Some("another-server"), &execute),
            (Some(&name), "not json"),
        ],
    );
    let port = free_port();
    let daemon = Daemon::start(&kafka_signal_config(port, &name, &db, &signals));
    wait_log(
        &daemon,
        "reading the kafka signal topic",
        1,
        Duration::from_secs(60),
    )
    .await;
    let nope = signal(
        "execute-snapshot",
        json!({"data-collections": [format!("{}.nope", db.name)]}),
    );
    let filtered = signal(
        "execute-snapshot",
        json!({"data-collections": [table], "type": "incremental",
            "additional-conditions": [{"data-collection": table, "filter": "id <= 3000"}]}),
    );
    kcat_produce(&signals, &[(Some(&name), &nope), (Some(&name), &filtered)]);
    wait_log(
        &daemon,
        "snapshot complete (chunked)",
        1,
        Duration::from_secs(120),
    )
    .await;
    let log = daemon.log_text();
    assert_eq!(
        log.matches("kafka signal ignored").count(),
        3,
        "another key, not JSON, no such table: {log}"
    );
    assert!(log.contains("another-server"), "{log}");
    let topic = format!("{name}.{table}");
    assert_read_once(&topic, 3000, 1..=3000).await;

    // The whole table, stopped by a signal part-way.
    kcat_produce(&signals, &[(Some(&name), &execute)]);
    wait_snapshot_rows(port, &name, 3000.0 + 1000.0, Duration::from_secs(60)).await;
    let stop = signal("stop-snapshot", json!({"type": "incremental"}));
    kcat_produce(&signals, &[(Some(&name), &stop)]);
    wait_log(&daemon, "snapshot stopped", 1, Duration::from_secs(30)).await;
    let rows = || metric_sum(port, "sluice_source_snapshot_rows_total", &name);
    let stopped = rows().await;
    holds_for("the stop", Duration::from_secs(2), || async {
        rows().await == stopped
    })
    .await;
    assert!(stopped < 23_000.0, "stopped before the end: {stopped}");
}

/// A Kafka signal acted on and the daemon killed at once: after the restart
/// the filtered snapshot runs to its end with each row read once (it is not
/// lost, and not run twice), a further kill and restart do not run it
/// again, and a signal written while the daemon is down runs once after it.
async fn a_kafka_signal_before_a_kill_runs_once(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "kafkakill").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 5_000).await;
    let name = unique("kafkakill");
    let signals = format!("{name}-signal");
    kcat_produce(&signals, &[(Some("someone-else"), "{}")]);
    let table = format!("{}.t", db.name);
    let port = free_port();
    let mut daemon = Daemon::start(&kafka_signal_config(port, &name, &db, &signals));
    let patience = Duration::from_secs(120);
    wait_log(&daemon, "streaming binlog", 1, patience).await;
    let filtered = |filter: &str| {
        signal(
            "execute-snapshot",
            json!({"data-collections": [table],
                "additional-conditions": [{"data-collection": table, "filter": filter}]}),
        )
    };
    kcat_produce(&signals, &[(Some(&name), &filtered("id <= 1000"))]);
    wait_log(&daemon, "signal from the kafka signal topic", 1, patience).await;
    daemon.kill();
    daemon.restart();
    let topic = format!("{name}.{table}");
    assert_read_once(&topic, 1000, 1..=1000).await;
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;

    daemon.kill();
    kcat_produce(&signals, &[(Some(&name), &filtered("id > 4800"))]);
    daemon.restart();
    assert_read_once(&topic, 1200, (1..=1000).chain(4801..=5000)).await;
    wait_log(&daemon, "snapshot complete (chunked)", 2, patience).await;
    daemon.kill();
    daemon.restart();
    wait_log(&daemon, "streaming binlog", 4, patience).await;
    holds_for(
        "no signal acted on again",
        Duration::from_secs(3),
        || async { reads_by_id(&topic).values().sum::<usize>() == 1200 },
    )
    .await;
}

/// `POST /connectors/{name}/snapshot` answers 202 only once the request is
/// stored: a kill -9 right after the answer loses nothing, the restarted
/// source reads exactly the filtered rows.
async fn a_rest_snapshot_request_survives_a_kill_after_its_202(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "adhocdur").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 5_000).await;
    let name = unique("adhocdur");
    let port = free_port();
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        "snapshot_mode = \"schema_only\"\nsnapshot_fetch_rows = 100",
    );
    let mut daemon = Daemon::start(&config);
    let patience = Duration::from_secs(120);
    wait_log(&daemon, "streaming binlog", 1, patience).await;
    let table = format!("{}.t", db.name);
    let body = json!({"data-collections": [table],
        "additional-conditions": [{"data-collection": table, "filter": "id <= 2000"}]});
    let reply = call(
        port,
        "POST",
        &format!("/connectors/{name}/snapshot"),
        Some(&body),
        None,
    )
    .await;
    daemon.kill();
    assert_eq!(reply.status, 202, "{}", reply.body);
    daemon.restart();
    let topic = format!("{name}.{table}");
    assert_read_once(&topic, 2000, 1..=2000).await;
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;
}

/// `source.snapshot` as Debezium writes it: the chunked initial snapshot of
/// two tables marks `first` … `last_in_data_collection`, then
/// `first_in_data_collection` … `last` (the last read of a table whose rows
/// fill its last chunk exactly too), and an on-demand snapshot's reads are
/// `incremental`.
async fn reads_carry_debeziums_snapshot_marks(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "snapmarks").await;
    db.exec(
        "CREATE TABLE a (id INT PRIMARY KEY); INSERT INTO a VALUES (1), (2), (3); \
             CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)",
    )
    .await;
    fill(&db, 200).await;
    let name = unique("snapmarks");
    let port = free_port();
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        "envelope = \"debezium\"\nsnapshot_fetch_rows = 100",
    );
    let daemon = Daemon::start(&config);
    let patience = Duration::from_secs(120);
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;
    let marks = |table: &str, n: usize| {
        let topic = format!("{name}.{}.{table}", db.name);
        async move {
            wait_for("the reads", Duration::from_secs(30), || async {
                let m: Vec<String> = kcat_read(&topic)
                    .into_iter()
                    .map(|(_, v)| {
                        v.expect("row")["payload"]["source"]["snapshot"]
                            .as_str()
                            .expect("snapshot")
                            .to_string()
                    })
                    .collect();
                (m.len() >= n).then_some(m)
            })
            .await
        }
    };
    assert_eq!(
        marks("a", 3).await,
        ["first", "true", "last_in_data_collection"]
    );
    let t = marks("t", 200).await;
    assert_eq!(t.len(), 200);
    assert_eq!(t[0], "first_in_data_collection");
    assert!(t[1..199].iter().all(|m| m == "true"), "{t:?}");
    assert_eq!(
        t[199], "last",
        "the last chunk is full: its last read is still marked"
    );

    let body = json!({"data-collections": [format!("{}.a", db.name)]});
    let reply = call(
        port,
        "POST",
        &format!("/connectors/{name}/snapshot"),
        Some(&body),
        None,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let a = marks("a", 6).await;
    assert_eq!(a.len(), 6);
    assert!(a[3..].iter().all(|m| m == "incremental"), "{a:?}");
}

/// A table stopped during the initial snapshot stays stopped across a
/// kill -9: the restarted snapshot lists the tables again and leaves it out,
/// while the table being read is read to its end.
async fn a_table_stopped_in_the_initial_snapshot_stays_stopped(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "stopinit").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL); \
             CREATE TABLE z (id INT PRIMARY KEY); INSERT INTO z VALUES (1), (2), (3)",
    )
    .await;
    fill(&db, 50_000).await;
    let name = unique("stopinit");
    let port = free_port();
    let config = binlog_config_on(port, &name, &db.url(), "snapshot_fetch_rows = 100");
    let mut daemon = Daemon::start(&config);
    let patience = Duration::from_secs(180);
    wait_snapshot_rows(port, &name, 500.0, patience).await;
    let body = json!({"data-collections": [format!("{}.z", db.name)]});
    let reply = call(
        port,
        "POST",
        &format!("/connectors/{name}/snapshot/stop"),
        Some(&body),
        None,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let read = metric_sum(port, "sluice_source_snapshot_rows_total", &name).await;
    daemon.kill();
    assert!(read < 45_000.0, "killed while t was read: {read}");
    daemon.restart();
    wait_log(&daemon, "snapshot complete (chunked)", 1, patience).await;
    let t = format!("{name}.{}.t", db.name);
    assert_read_once(&t, 50_000, 1..=50_000).await;
    let z = format!("{name}.{}.z", db.name);
    assert!(kcat_read(&z).is_empty(), "z was stopped: never read");
}

/// A signal topic that does not exist when the source starts is read once
/// it is created (a warning naming the topic and the fix meanwhile; the
/// source streams on).
async fn a_signal_topic_created_after_the_start_is_read(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "latesig").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 300).await;
    let name = unique("latesig");
    let signals = format!("{name}-signal");
    let port = free_port();
    let daemon = Daemon::start(&kafka_signal_config(port, &name, &db, &signals));
    let patience = Duration::from_secs(60);
    wait_log(&daemon, "streaming binlog", 1, patience).await;
    wait_log(&daemon, "kafka signal topic not readable", 1, patience).await;
    let log = daemon.log_text();
    assert!(
        log.contains(&signals) && log.contains("does not exist") && log.contains("--partitions 1"),
        "the warning names the topic and the fix: {log}"
    );
    let table = format!("{}.t", db.name);
    let execute = signal("execute-snapshot", json!({"data-collections": [table]}));
    kcat_produce(&signals, &[(Some(&name), &execute)]);
    let topic = format!("{name}.{table}");
    assert_read_once(&topic, 300, 1..=300).await;
}

/// `sluice check` on a source reading the Kafka signal channel: a missing
/// signal topic fails the check, named with its brokers and the fix; once
/// created (one partition) the check passes; signal brokers that do not
/// answer are named.
#[tokio::test(flavor = "multi_thread")]
async fn check_names_a_missing_signal_topic() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "checksig").await;
    let name = unique("checksig");
    let signals = format!("{name}-signal");
    let config = kafka_signal_config(free_port(), &name, &db, &signals);
    let away = write_config(&format!(
        "{config}\n\"signal.kafka.bootstrap.servers\" = \"127.0.0.1:9\"\n"
    ));
    let (code, out) = sluice(&["check", "--config", away.to_str().expect("path")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "kafka signal topic \"{signals}\": cannot reach its brokers 127.0.0.1:9"
        )),
        "{out}"
    );
    let config = write_config(&config);
    let path = config.to_str().expect("path");
    let (code, out) = sluice(&["check", "--config", path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "kafka signal topic \"{signals}\" does not exist on {KAFKA}"
        )) && out.contains("--partitions 1"),
        "{out}"
    );
    create_topic_max_bytes(&signals, 1_000_000).await;
    let (code, out) = sluice(&["check", "--config", path]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!(
            "kafka signal topic \"{signals}\" on {KAFKA} ready"
        )),
        "{out}"
    );
}

/// Over REST, Debezium's `signal.consumer.*`: a property Java's consumer
/// and librdkafka share validates clean; Java's `ssl.truststore.location`
/// is a 400 naming the key and `[kafka]`, and nothing is created.
#[tokio::test(flavor = "multi_thread")]
async fn rest_takes_shared_signal_consumer_keys_and_refuses_java_ones_by_name() {
    let port = free_port();
    let state = scratch("sigrest");
    let _daemon = Daemon::start(&format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        state.display()
    ));
    wait_for("the REST API", Duration::from_secs(60), || async {
        (call(port, "GET", "/connectors", None, None).await.status == 200).then_some(())
    })
    .await;
    let config = |key: &str, value: &str| {
        let mut c = json!({
            "connector.class": "io.debezium.connector.mysql.MySqlConnector",
            "database.hostname": "127.0.0.1", "database.port": "3307",
            "database.user": "root", "database.password": "",
            "topic.prefix": "sigrest", "snapshot.mode": "never",
            "signal.enabled.channels": "source,kafka"});
        c[key] = json!(value);
        c
    };
    let validate = "/connector-plugins/MySqlConnector/config/validate";
    let ok = config("signal.consumer.fetch.max.wait.ms", "50");
    let r = call(port, "PUT", validate, Some(&ok), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["error_count"], 0, "{}", r.body);
    let name = unique("sigrest");
    let bad = config("signal.consumer.ssl.truststore.location", "/etc/t.jks");
    let path = format!("/connectors/{name}/config");
    let r = call(port, "PUT", &path, Some(&bad), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(
        r.body.contains("signal.consumer.ssl.truststore.location") && r.body.contains("[kafka]"),
        "{}",
        r.body
    );
    let r = call(port, "GET", &format!("/connectors/{name}"), None, None).await;
    assert_eq!(r.status, 404, "nothing created: {}", r.body);
}

crate::both_flavors!(
    a_signal_topic_created_after_the_start_is_read,
    a_table_stopped_in_the_initial_snapshot_stays_stopped,
    reads_carry_debeziums_snapshot_marks,
    kafka_signals_start_and_stop_snapshots,
    a_kafka_signal_before_a_kill_runs_once,
    a_rest_snapshot_request_survives_a_kill_after_its_202,
);
