//! Taking over from Debezium (`sluice offsets import`): Debezium's MySQL
//! connector 3.6.1 under Kafka Connect standalone snapshots and streams a
//! table under a writer and is stopped; its offsets are imported; Sluice's
//! binlog source continues on the same topic, writer still running. The
//! topic then holds every change exactly once across the seam, and replays
//! to the table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use rand::Rng;
use serde_json::Value as Json;

use crate::support::*;

const DBZ_VERSION: &str = "3.6.1.Final";
const CONNECT_VERSION: &str = "4.1.1";
const INITIAL_ROWS: i64 = 20;

/// Held by every test that runs Kafka Connect with Debezium (here and in
/// `debezium_diff`): one Connect JVM at a time, or their start-up on the
/// 2-core test machine outlasts the tests' patience.
pub(super) static DEBEZIUM_SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Kafka Connect and Debezium's MySQL connector from Maven Central, fetched
/// once (as `scripts/bench.sh debezium` does) into the services directory.
pub(super) fn debezium_libs() -> PathBuf {
    let base =
        std::env::var("SLUICE_SERVICES_DIR").unwrap_or_else(|_| "/var/lib/sluice-test".into());
    let libs = Path::new(&base)
        .join(format!("debezium-{DBZ_VERSION}-connect-{CONNECT_VERSION}"))
        .join("libs");
    if libs.join(".complete").exists() {
        return libs;
    }
    let tmp = libs.with_file_name(unique("libs.tmp"));
    let pom = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/debezium/pom.xml");
    let out = Command::new("mvn")
        .args(["-B", "-q", "-f"])
        .arg(&pom)
        .arg("dependency:copy-dependencies")
        .arg(format!("-DoutputDirectory={}", tmp.display()))
        .arg(format!("-Dkafka.version={CONNECT_VERSION}"))
        .arg(format!("-Ddebezium.version={DBZ_VERSION}"))
        .stdin(Stdio::null())
        .output()
        .expect("mvn is installed (scripts/services.sh up)");
    assert!(
        out.status.success(),
        "mvn could not fetch Debezium {DBZ_VERSION}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    std::fs::write(tmp.join(".complete"), "").expect("mark");
    // Another test run may have won the race: either copy is complete.
    if std::fs::rename(&tmp, &libs).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    libs
}

/// Kafka Connect standalone running one Debezium MySQL connector.
pub(super) struct Connect {
    child: Option<Child>,
    log: PathBuf,
    offsets: PathBuf,
}

impl Connect {
    fn start(dir: &Path, connector: &str, prefix: &str, db: &str, port: u16) -> Connect {
        Connect::start_with(dir, connector, prefix, db, port, "")
    }

    /// [`Connect::start`] with `extra` connector properties (lines `key=value`)
    /// appended to the connector's configuration.
    pub(super) fn start_with(
        dir: &Path,
        connector: &str,
        prefix: &str,
        db: &str,
        port: u16,
        extra: &str,
    ) -> Connect {
        let libs = debezium_libs();
        let plugins = dir.join("plugins");
        std::fs::create_dir_all(&plugins).expect("plugins dir");
        let offsets = dir.join("offsets.dat");
        let worker = format!(
            "bootstrap.servers={KAFKA}\n\
             key.converter=org.apache.kafka.connect.json.JsonConverter\n\
             value.converter=org.apache.kafka.connect.json.JsonConverter\n\
             offset.storage.file.filename={}\n\
             offset.flush.interval.ms=200\n\
             listeners=http://127.0.0.1:{}\n\
             plugin.path={}\n\
             plugin.discovery=service_load\n",
            offsets.display(),
            free_port(),
            plugins.display()
        );
        let server_id = 5400 + u32::from(port % 1000);
        let mysql = format!(
            "name={connector}\n\
             connector.class=io.debezium.connector.mysql.MySqlConnector\n\
             tasks.max=1\n\
             database.hostname=127.0.0.1\n\
             database.port={port}\n\
             database.user=root\n\
             database.password=\n\
             database.server.id={server_id}\n\
             topic.prefix={prefix}\n\
             database.include.list={db}\n\
             table.include.list={db}.t\n\
             schema.history.internal=io.debezium.storage.file.history.FileSchemaHistory\n\
             schema.history.internal.file.filename={}\n\
             schema.history.internal.store.only.captured.databases.ddl=true\n\
             schema.history.internal.store.only.captured.tables.ddl=true\n\
             snapshot.mode=initial\n\
             {extra}\n",
            dir.join("history.dat").display()
        );
        let log4j = "rootLogger.level=WARN\nrootLogger.appenderRef.stdout.ref=STDOUT\n\
                     appender.stdout.type=Console\nappender.stdout.name=STDOUT\n\
                     appender.stdout.layout.type=PatternLayout\n\
                     appender.stdout.layout.pattern=%d %p %c{1} %m%n\n\
                     logger.dbz.name=io.debezium\nlogger.dbz.level=INFO\n";
        std::fs::write(dir.join("worker.properties"), worker).expect("worker");
        std::fs::write(dir.join("mysql.properties"), mysql).expect("connector");
        std::fs::write(dir.join("log4j2.properties"), log4j).expect("log4j");
        let log = dir.join("connect.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new("java")
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                dir.join("log4j2.properties").display()
            ))
            .arg("-cp")
            .arg(format!("{}/*", libs.display()))
            .arg("org.apache.kafka.connect.cli.ConnectStandalone")
            .arg(dir.join("worker.properties"))
            .arg(dir.join("mysql.properties"))
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("java is installed (scripts/services.sh up)");
        Connect {
            child: Some(child),
            log,
            offsets,
        }
    }

    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(40).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join("\n")
    }

    /// SIGTERM: Connect stops the task and commits its last offsets.
    pub(super) fn stop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(40) {
            if let Ok(Some(_)) = c.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = c.kill();
        let _ = c.wait();
        panic!(
            "Kafka Connect did not stop within 40 s:\n{}",
            self.log_tail()
        );
    }
}

impl Connect {
    /// SIGKILL: for a test that has read what it needs and commits nothing
    /// more through Connect (a graceful stop of its JVM can hang under load).
    pub(super) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Connect {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the writer committed: one id per change (`w<v>` for a row written
/// with value `v`, `d<v>` for the delete of the row holding `v`).
type Changes = Arc<Mutex<Vec<String>>>;

/// Transactions of several statements, some writing several rows in one
/// rows event, until stopped. Every row written gets a value `v` never used
/// before, so each change is identifiable in the topic.
async fn write(pool: mysql_async::Pool, stop: Arc<AtomicBool>, done: Changes) -> u64 {
    let mut live: BTreeMap<i64, i64> = (1..=INITIAL_ROWS).map(|i| (i, i)).collect();
    let mut next_id = INITIAL_ROWS + 1;
    let mut next_v = 1_000;
    let mut txns = 0;
    let mut c = pool.get_conn().await.expect("writer conn");
    while !stop.load(Ordering::Relaxed) {
        let mut sql = vec!["BEGIN".to_string()];
        let mut changes = Vec::new();
        let mut after = live.clone();
        let statements = rand::rng().random_range(1..=4);
        for _ in 0..statements {
            let ids: Vec<i64> = after.keys().copied().collect();
            let pick = |n: usize| -> Vec<i64> {
                let mut rng = rand::rng();
                let mut out = BTreeSet::new();
                while out.len() < n.min(ids.len()) {
                    out.insert(ids[rng.random_range(0..ids.len())]);
                }
                out.into_iter().collect()
            };
            let n = rand::rng().random_range(1..=3);
            match rand::rng().random_range(0..10) {
                0..=3 => {
                    let rows: Vec<String> = (0..n)
                        .map(|_| {
                            let (id, v) = (next_id, next_v);
                            next_id += 1;
                            next_v += 1;
                            after.insert(id, v);
                            changes.push(format!("w{v}"));
                            format!("({id}, {v})")
                        })
                        .collect();
                    sql.push(format!("INSERT INTO t (id, v) VALUES {}", rows.join(", ")));
                }
                4..=7 if ids.len() > 5 => {
                    let ids = pick(n);
                    let cases: Vec<String> = ids
                        .iter()
                        .map(|id| {
                            let v = next_v;
                            next_v += 1;
                            after.insert(*id, v);
                            changes.push(format!("w{v}"));
                            format!("WHEN {id} THEN {v}")
                        })
                        .collect();
                    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                    sql.push(format!(
                        "UPDATE t SET v = CASE id {} END WHERE id IN ({})",
                        cases.join(" "),
                        list.join(", ")
                    ));
                }
                _ if ids.len() > 10 => {
                    let ids = pick(n);
                    for id in &ids {
                        if let Some(v) = after.remove(id) {
                            changes.push(format!("d{v}"));
                        }
                    }
                    let list: Vec<String> = ids.iter().map(i64::to_string).collect();
                    sql.push(format!("DELETE FROM t WHERE id IN ({})", list.join(", ")));
                }
                _ => {}
            }
        }
        if sql.len() == 1 {
            continue;
        }
        sql.push("COMMIT".into());
        let text = sql.join("; ");
        c.query_drop(&text)
            .await
            .unwrap_or_else(|e| panic!("writer: {text}: {e}"));
        live = after;
        done.lock().expect("lock").extend(changes);
        txns += 1;
        let pause = rand::rng().random_range(0..8);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    drop(c);
    txns
}

/// A change's id in the topic (see [`Changes`]); `r<v>` for a snapshot read.
fn change_id(value: &Json) -> String {
    let p = &value["payload"];
    let v = |side: &str| p[side]["v"].as_i64().unwrap_or(-1);
    match p["op"].as_str() {
        Some("r") => format!("r{}", v("after")),
        Some("c" | "u") => format!("w{}", v("after")),
        Some("d") => format!("d{}", v("before")),
        other => panic!("unexpected op {other:?} in {value}"),
    }
}

/// Topic replayed per key: id → v (deletes remove).
fn replay(msgs: &[(Option<Json>, Option<Json>)]) -> BTreeMap<i64, i64> {
    let mut state = BTreeMap::new();
    for (_, v) in msgs {
        let Some(v) = v else { continue }; // tombstone after a delete
        let p = &v["payload"];
        match p["op"].as_str() {
            Some("d") => {
                state.remove(&p["before"]["id"].as_i64().expect("before.id"));
            }
            _ => {
                let a = &p["after"];
                state.insert(
                    a["id"].as_i64().expect("after.id"),
                    a["v"].as_i64().expect("after.v"),
                );
            }
        }
    }
    state
}

#[tokio::test(flavor = "multi_thread")]
async fn sluice_continues_debeziums_topic_exactly_once() {
    let _serial = DEBEZIUM_SERIAL.lock().await;
    let db = MySqlServer::new(MySqlFlavor::MySql, "dbzto").await;
    db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await;
    let rows: Vec<String> = (1..=INITIAL_ROWS).map(|i| format!("({i}, {i})")).collect();
    db.exec(&format!("INSERT INTO t (id, v) VALUES {}", rows.join(", ")))
        .await;
    let prefix = unique("dbzto");
    let topic = format!("{prefix}.{}.t", db.name);
    let connector = format!("{prefix}-dbz");
    let dir = scratch("dbz-takeover");

    // Debezium: snapshot, then stream under the writer.
    let mut connect = Connect::start(&dir, &connector, &prefix, &db.name, 3307);
    let snapshot = wait_for("Debezium's snapshot", Duration::from_secs(120), || async {
        let n = kcat_lines(&topic, "%o\n").len();
        (n >= INITIAL_ROWS as usize).then_some(n)
    })
    .await;
    assert_eq!(snapshot, INITIAL_ROWS as usize, "{}", connect.log_tail());
    let stop = Arc::new(AtomicBool::new(false));
    let done: Changes = Arc::default();
    let writer = tokio::spawn(write(db.pool.clone(), stop.clone(), done.clone()));
    wait_for("Debezium streaming", Duration::from_secs(180), || async {
        (kcat_lines(&topic, "%o\n").len() >= INITIAL_ROWS as usize + 150).then_some(())
    })
    .await;
    tokio::task::block_in_place(|| connect.stop());
    let by_debezium = kcat_lines(&topic, "%o\n").len();

    // The takeover, writer still running.
    let source = format!("{prefix}-sluice");
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{}"
[[source]]
name = "{source}"
kind = "binlog"
url = "mysql://root@127.0.0.1:3307/{}"
tables = ["t"]
server_name = "{prefix}"
envelope = "debezium"
"#,
        free_port(),
        db.name
    );
    let path = write_config(&config);
    let offsets = connect.offsets.to_string_lossy().into_owned();
    let (code, out) = sluice(&[
        "offsets",
        "import",
        "--config",
        path.to_str().expect("path"),
        "--pipeline",
        &source,
        "--connector",
        &connector,
        "--offsets-file",
        &offsets,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("without a snapshot"), "{out}");
    assert!(!out.contains("warning"), "{out}");
    // Debezium's last record came from a rows event: its offset points into
    // that transaction, which Sluice re-reads and partly skips.
    assert!(out.contains(r#""debezium":{"event":"#), "{out}");
    eprintln!("imported: {out}");
    let daemon = Daemon::start_file(path);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let txns = writer.await.expect("writer");
    assert!(txns > 50, "the writer ran only {txns} transactions");

    // Every change exactly once, the table's state at the end.
    let mut want: Vec<String> = (1..=INITIAL_ROWS).map(|v| format!("r{v}")).collect();
    want.extend(done.lock().expect("lock").iter().cloned());
    let want_state: BTreeMap<i64, i64> = db
        .rows("SELECT id, v FROM t")
        .await
        .iter()
        .map(|r| (r[0].parse().expect("id"), r[1].parse().expect("v")))
        .collect();
    let msgs = wait_for("Sluice to catch up", Duration::from_secs(90), || async {
        let msgs = kcat_read(&topic);
        let changes = msgs.iter().filter(|(_, v)| v.is_some()).count();
        (changes >= want.len() && replay(&msgs) == want_state).then_some(msgs)
    })
    .await;
    let got: Vec<String> = msgs
        .iter()
        .filter_map(|(_, v)| v.as_ref().map(change_id))
        .collect();
    let mut seen = BTreeSet::new();
    let doubled: Vec<&String> = got.iter().filter(|id| !seen.insert(*id)).collect();
    assert!(doubled.is_empty(), "changes published twice: {doubled:?}");
    let want_set: BTreeSet<&String> = want.iter().collect();
    let missing: Vec<&&String> = want_set.iter().filter(|id| !seen.contains(**id)).collect();
    assert!(missing.is_empty(), "changes never published: {missing:?}");
    let extra: Vec<&&String> = seen.iter().filter(|id| !want_set.contains(*id)).collect();
    assert!(extra.is_empty(), "changes nobody made: {extra:?}");
    assert_eq!(replay(&msgs), want_state);
    // Both wrote: Debezium up to the seam, Sluice after it, with no new snapshot.
    assert!(
        by_debezium > INITIAL_ROWS as usize + 100,
        "Debezium wrote {by_debezium}"
    );
    assert!(
        msgs.len() > by_debezium + 20,
        "Sluice wrote only {} messages after Debezium's {by_debezium}",
        msgs.len() - by_debezium
    );
    let sluice_part = &msgs[by_debezium..];
    assert!(
        sluice_part
            .iter()
            .filter_map(|(_, v)| v.as_ref())
            .all(|v| v["payload"]["op"] != "r"),
        "Sluice snapshotted again"
    );
    drop(daemon);
}

/// The offsets topic (Connect distributed): the last record of the
/// connector's key wins, other connectors' records are not read, a snapshot
/// in progress is refused, and a non-binlog pipeline is named.
#[tokio::test(flavor = "multi_thread")]
async fn import_reads_connects_offsets_topic() {
    let offsets_topic = unique("connect-offsets");
    let source = unique("dbzimp");
    let key = r#"["inventory-connector",{"server":"dbserver1"}]"#;
    kcat_produce(
        &offsets_topic,
        &[
            (Some(key), r#"{"file":"binlog.000001","pos":100}"#),
            (Some(r#"["other",{"cluster":"x"}]"#), r#"{"whatever":1}"#),
            (
                Some(key),
                r#"{"ts_sec":1796338006,"file":"binlog.000009","pos":1217,"gtids":"dd06052b-eeeb-11f1-ba63-02fc00000001:1-181989","row":2,"server_id":2,"event":4}"#,
            ),
        ],
    );
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{}"
[[source]]
name = "{source}"
kind = "binlog"
url = "mysql://root@127.0.0.1:3307/nowhere"
server_name = "dbserver1"
envelope = "debezium"
[[source]]
name = "{source}-poll"
kind = "poll"
url = "mysql://root@127.0.0.1:3307/nowhere"
mode = "bulk"
topic_prefix = "x_"
"#,
        free_port()
    );
    let path = write_config(&config);
    let cfg = path.to_str().expect("path");
    let import = |pipeline: &str, connector: &str| {
        sluice(&[
            "offsets",
            "import",
            "-c",
            cfg,
            "--pipeline",
            pipeline,
            "--connector",
            connector,
            "--offsets-topic",
            &offsets_topic,
        ])
    };
    let (code, out) = import(&source, "inventory-connector");
    assert_eq!(code, 0, "{out}");
    let (code, shown) = sluice(&["offsets", "show", "-c", cfg, "--pipeline", &source]);
    assert_eq!(code, 0, "{shown}");
    let line = shown
        .lines()
        .find(|l| l.starts_with("server=dbserver1\t"))
        .unwrap_or_else(|| panic!("{shown}"));
    let stored: Json = serde_json::from_str(line.split('\t').nth(1).expect("json")).expect("json");
    assert_eq!(stored["file"], "binlog.000009");
    assert_eq!(stored["pos"], 1217);
    assert_eq!(
        stored["gtids"],
        "dd06052b-eeeb-11f1-ba63-02fc00000001:1-181989"
    );
    assert_eq!(stored["row"], 0);
    assert_eq!(stored["snapshot_completed"], true);
    assert_eq!(
        stored["debezium"],
        serde_json::json!({"event": 4, "row": 2})
    );

    let (code, out) = import(&source, "nobody");
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("no offsets of connector \"nobody\"") && out.contains(&offsets_topic),
        "{out}"
    );
    let (code, out) = import(&format!("{source}-poll"), "inventory-connector");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is not a binlog source"), "{out}");

    // Stopped mid-snapshot: refused, the stored position untouched.
    kcat_produce(
        &offsets_topic,
        &[(
            Some(key),
            r#"{"file":"binlog.000010","pos":4,"snapshot":true}"#,
        )],
    );
    let (code, out) = import(&source, "inventory-connector");
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("re-snapshot"), "{out}");
    let (_, again) = sluice(&["offsets", "show", "-c", cfg, "--pipeline", &source]);
    assert_eq!(again, shown);
}

/// Debezium's mid-transaction cut, exactly: an offset saying `event` events of
/// a transaction (`BEGIN` included) and `row` rows of the next rows event were
/// emitted makes the source publish the rest of that transaction and go on.
/// By file and position (an offset without `gtids`, as from a server without
/// GTIDs); the transaction writes rows 1-3 in one rows event, 4-5 in another.
/// On MariaDB the transaction's GTID event stands for `BEGIN` (Debezium's
/// MariaDB connector counts from it), so the same cuts apply.
async fn import_resumes_inside_a_transaction(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "dbzcut").await;
    db.exec("CREATE TABLE t (id BIGINT PRIMARY KEY, v BIGINT NOT NULL)")
        .await;
    let (file, from) = super::binlog::master_status(&db).await;
    db.exec("BEGIN; INSERT INTO t VALUES (1, 1), (2, 2), (3, 3); INSERT INTO t VALUES (4, 4), (5, 5); COMMIT")
        .await;
    // The transaction's BEGIN: the last one before its table map.
    let events = db
        .rows(&format!("SHOW BINLOG EVENTS IN '{file}' FROM {from}"))
        .await;
    let mut begin = None;
    let mut at = None;
    for e in &events {
        // MySQL: the BEGIN query; MariaDB: "BEGIN GTID 0-1-42" (the GTID event).
        if (e[2] == "Query" && e[5] == "BEGIN")
            || (e[2] == "Gtid" && e[5].starts_with("BEGIN GTID"))
        {
            begin = Some(e[1].clone());
        }
        if e[2] == "Table_map" && e[5].contains(&format!("({}.t)", db.name)) {
            at = begin.clone();
            break;
        }
    }
    let begin: u64 = at
        .unwrap_or_else(|| panic!("no transaction on {}.t in {events:?}", db.name))
        .parse()
        .expect("pos");
    // (event, row) → the ids still to publish.
    let cases: [(u64, u64, &[i64]); 3] = [(2, 1, &[2, 3, 4, 5]), (3, 0, &[4, 5]), (4, 1, &[5])];
    let offsets_topic = unique("connect-offsets");
    let stem = unique("dbzcut");
    let mut config = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n",
        free_port()
    );
    for (i, (event, row, _)) in cases.iter().enumerate() {
        let server = format!("{stem}_{i}");
        let key = format!(r#"["dbz-{i}",{{"server":"{server}"}}]"#);
        let value = format!(r#"{{"file":"{file}","pos":{begin},"event":{event},"row":{row}}}"#);
        kcat_produce(&offsets_topic, &[(Some(&key), &value)]);
        config.push_str(&format!(
            "[[source]]\nname = \"{server}\"\nkind = \"binlog\"\nurl = \"{}\"\ntables = [\"t\"]\nserver_name = \"{server}\"\nenvelope = \"debezium\"\n",
            db.url()
        ));
    }
    let path = write_config(&config);
    for i in 0..cases.len() {
        let (code, out) = sluice(&[
            "offsets",
            "import",
            "-c",
            path.to_str().expect("path"),
            "--pipeline",
            &format!("{stem}_{i}"),
            "--connector",
            &format!("dbz-{i}"),
            "--offsets-topic",
            &offsets_topic,
        ]);
        assert_eq!(code, 0, "{out}");
    }
    let daemon = Daemon::start_file(path.clone());
    // A later transaction: each source reaches it after the cut one.
    db.exec("INSERT INTO t VALUES (6, 6)").await;
    for (i, (event, row, rest)) in cases.iter().enumerate() {
        let topic = format!("{stem}_{i}.{}.t", db.name);
        let ids = wait_for(
            "the source to reach row 6",
            Duration::from_secs(60),
            || async {
                let ids: Vec<i64> = kcat_read(&topic)
                    .iter()
                    .filter_map(|(_, v)| v.as_ref()?["payload"]["after"]["id"].as_i64())
                    .collect();
                ids.contains(&6).then_some(ids)
            },
        )
        .await;
        let mut want = rest.to_vec();
        want.push(6);
        assert_eq!(
            ids,
            want,
            "event {event}, row {row}; log:\n{}",
            daemon.log_text()
        );
    }
    // Importing under a running source is refused, as `reset` is.
    let (code, out) = sluice(&[
        "offsets",
        "import",
        "-c",
        path.to_str().expect("path"),
        "--pipeline",
        &format!("{stem}_0"),
        "--connector",
        "dbz-0",
        "--offsets-topic",
        &offsets_topic,
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is running"), "{out}");
}

crate::both_flavors!(import_resumes_inside_a_transaction);
