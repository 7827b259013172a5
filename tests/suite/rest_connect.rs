//! Kafka Connect 4.x's REST API beyond the basics, against a daemon on the
//! real services: commented bodies, `GET /`, the plugins and validation,
//! `initial_state`, PATCH config, stop, restart flags, task restart, active
//! topics, KIP-875 offsets for a source and a sink (rewinding each and
//! watching it re-read), and log levels at run time. Every answer is also
//! read by Connect's own REST entity classes (`connect-runtime`, Jackson
//! with FAIL_ON_UNKNOWN_PROPERTIES): `tests/java/ConnectRestCheck.java`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::rest::{call, send, Reply};
use crate::support::*;

const JAVA_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/java/ConnectRestCheck.java"
);
const DEADLINE: Duration = Duration::from_secs(60);

/// `<classes>:<libs>/*`, compiling `ConnectRestCheck` on first use.
fn java_classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| compile_java_check(JAVA_SOURCE, "connect-runtime-4.1.1.jar"))
}

/// Every answer to check, as (Connect entity, body).
#[derive(Default)]
struct Answers(Vec<(&'static str, String)>);

impl Answers {
    /// Keeps `r`'s body to be read as `entity`, and returns its JSON.
    fn keep(&mut self, entity: &'static str, r: &Reply) -> Value {
        let v: Value = serde_json::from_str(&r.body)
            .unwrap_or_else(|e| panic!("{entity}: not JSON ({e}): {}", r.body));
        self.0.push((entity, v.to_string()));
        v
    }

    /// Runs Connect's classes over every answer kept; panics on any refusal.
    fn check_with_connect_classes(&self) {
        let input: String = self.0.iter().map(|(e, b)| format!("{e}\t{b}\n")).collect();
        let mut child = Command::new("java")
            .args(["-cp", java_classpath(), "ConnectRestCheck"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("java is installed");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let out = child.wait_with_output().expect("java");
        writer.join().expect("writer").expect("write java stdin");
        let text = String::from_utf8_lossy(&out.stdout);
        let oks = text.lines().filter(|l| l.starts_with("OK ")).count();
        assert!(
            out.status.success() && oks == self.0.len(),
            "Connect's classes refused an answer ({oks}/{} read):\n{text}{}",
            self.0.len(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn config(port: u16, state_dir: &Path) -> String {
    let offsets = unique("sluice_offsets");
    format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\noffsets_topic = \"{offsets}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        state_dir.display()
    )
}

async fn get(port: u16, path: &str) -> Reply {
    call(port, "GET", path, None, None).await
}

async fn wait_state(port: u16, name: &str, state: &str) -> Reply {
    let path = format!("/connectors/{name}/status");
    wait_for(&format!("{name} {state}"), DEADLINE, || async {
        let r = get(port, &path).await;
        (r.json()["connector"]["state"] == state).then_some(r)
    })
    .await
}

async fn wait_count(db: &MariaDb, table: &str, n: i64) {
    wait_for(&format!("{n} rows in {table}"), DEADLINE, || async {
        (db.count(table).await == Some(n)).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_rest_api_shapes_and_state_changes() {
    let db = MariaDb::create("restc").await;
    db.exec("CREATE TABLE users (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(64))")
        .await;
    db.exec("INSERT INTO users (name) VALUES ('a'), ('b')")
        .await;
    let tag = unique("restc");
    let prefix = format!("t_{tag}_");
    let topic = format!("{prefix}users");
    let (source, sink) = (format!("src-{tag}"), format!("snk-{tag}"));
    let port = free_port();
    let daemon = Daemon::start(&config(port, &scratch("state")));
    let mut answers = Answers::default();

    // GET /: the cluster id from the brokers.
    let r = get(port, "/").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let info = answers.keep("ServerInfo", &r);
    assert!(
        info["kafka_cluster_id"]
            .as_str()
            .is_some_and(|s| s.len() > 10),
        "{info}"
    );

    // Plugins.
    let r = get(port, "/connector-plugins").await;
    let plugins = answers.keep("PluginInfoList", &r);
    let classes: Vec<&str> = plugins
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|p| p["class"].as_str())
        .collect();
    assert!(
        classes.contains(&"io.confluent.connect.jdbc.JdbcSinkConnector") && classes.len() == 4,
        "{plugins}"
    );
    let r = get(port, "/connector-plugins?connectorsOnly=false").await;
    let all = answers.keep("PluginInfoList", &r);
    assert!(all.to_string().contains("JsonConverter"), "{all}");
    let r = get(port, "/connector-plugins/JdbcSinkConnector/config").await;
    assert_eq!(r.status, 200, "{}", r.body);
    let keys = answers.keep("ConfigKeyInfoList", &r);
    assert!(
        keys.as_array()
            .is_some_and(|k| k.iter().any(|d| d["name"] == "connection.url")),
        "{keys}"
    );
    assert_eq!(
        get(port, "/connector-plugins/Nope/config").await.status,
        404
    );

    // Validation: one entry per key, errors on the key they concern.
    let source_config = json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": format!("jdbc:mysql://127.0.0.1:3306/{}", db.name),
        "connection.user": "root",
        "connection.password": "",
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "table.whitelist": "users",
        "topic.prefix": prefix,
    });
    let validate = "/connector-plugins/JdbcSourceConnector/config/validate";
    let r = call(port, "PUT", validate, Some(&source_config), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ok = answers.keep("ConfigInfos", &r);
    assert_eq!(ok["error_count"], 0, "{ok}");
    assert_eq!(ok["configs"].as_array().map(Vec::len), Some(8), "{ok}");
    let mut bad = source_config.clone();
    bad["mode"] = json!("sometimes");
    let r = call(port, "PUT", validate, Some(&bad), None).await;
    let infos = answers.keep("ConfigInfos", &r);
    assert_eq!(infos["error_count"], 1, "{infos}");
    let mode = infos["configs"]
        .as_array()
        .and_then(|a| a.iter().find(|c| c["value"]["name"] == "mode"))
        .expect("mode entry");
    assert_eq!(mode["value"]["errors"].as_array().map(Vec::len), Some(1));
    let r = call(
        port,
        "PUT",
        "/connector-plugins/JdbcSinkConnector/config/validate",
        Some(&source_config),
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    answers.keep("ErrorMessage", &r);

    // A commented body creates the source; a broken one says where.
    let commented = format!(
        "{{\n  \"name\": \"{source}\", // the source\n  /* Connect's shape */\n  \"config\": {}\n}}",
        source_config
    );
    let headers = "Content-Type: application/json\r\n";
    let r = send(port, "POST", "/connectors", headers, &commented).await;
    assert_eq!(r.status, 201, "{}\n{}", r.body, daemon.log_text());
    answers.keep("ConnectorInfo", &r);
    let r = send(
        port,
        "POST",
        "/connectors",
        headers,
        "{\n \"name\": \"x\",\n \"config\" {}\n}",
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("line 3, column 11"), "{}", r.body);
    answers.keep("ErrorMessage", &r);
    wait_for("2 messages", DEADLINE, || async {
        (kcat_lines(&topic, "%s\n").len() == 2).then_some(())
    })
    .await;

    // initial_state: a sink created PAUSED applies nothing until resumed.
    let sink_config = json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": format!("jdbc:mysql://127.0.0.1:3306/{}", db.name),
        "connection.user": "root",
        "auto.create": "true",
        "delete.enabled": "false",
        "topics": topic,
    });
    let create = json!({"name": sink, "config": sink_config, "initial_state": "PAUSED"});
    let r = call(port, "POST", "/connectors", Some(&create), None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let r = wait_state(port, &sink, "PAUSED").await;
    answers.keep("ConnectorStateInfo", &r);
    assert_eq!(
        db.count(&topic).await,
        None,
        "a paused sink created its table"
    );
    let bad_state = json!({"name": "y", "config": sink_config, "initial_state": "ASLEEP"});
    let r = call(port, "POST", "/connectors", Some(&bad_state), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_count(&db, &topic, 2).await;

    // Active topics: where the source publishes, what the sink consumes.
    for name in [&source, &sink] {
        let r = get(port, &format!("/connectors/{name}/topics")).await;
        let t = answers.keep("ActiveTopics", &r);
        assert_eq!(t[name.as_str()]["topics"], json!([topic]), "{t}");
    }
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/topics/reset"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let r = get(port, &format!("/connectors/{sink}/topics")).await;
    assert_eq!(answers.keep("ActiveTopics", &r)[&sink]["topics"], json!([]));
    assert_eq!(get(port, "/connectors/nope/topics").await.status, 404);

    // PATCH merges; null removes a key.
    let patch = json!({"delete.enabled": null, "auto.evolve": "true"});
    let r = call(
        port,
        "PATCH",
        &format!("/connectors/{sink}/config"),
        Some(&patch),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let patched = answers.keep("ConnectorInfo", &r);
    assert_eq!(patched["config"]["auto.evolve"], "true");
    assert!(
        patched["config"].get("delete.enabled").is_none(),
        "{patched}"
    );
    assert_eq!(patched["config"]["topics"], json!(topic));
    let r = call(port, "PATCH", "/connectors/nope/config", Some(&patch), None).await;
    assert_eq!(r.status, 404);

    // Restart flags.
    let base = format!("/connectors/{sink}/restart");
    let r = call(port, "POST", &base, None, None).await;
    assert_eq!(r.status, 204);
    wait_state(port, &sink, "RUNNING").await;
    let r = call(
        port,
        "POST",
        &format!("{base}?includeTasks=true&onlyFailed=true"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let s = answers.keep("ConnectorStateInfo", &r);
    assert_eq!(s["connector"]["state"], "RUNNING", "nothing failed: {s}");
    let r = call(
        port,
        "POST",
        &format!("{base}?includeTasks=true"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let s = answers.keep("ConnectorStateInfo", &r);
    assert_eq!(s["connector"]["state"], "RESTARTING", "{s}");
    assert_eq!(s["tasks"][0]["state"], "RESTARTING", "{s}");
    let r = call(
        port,
        "POST",
        &format!("/connectors/{sink}/tasks/0/restart"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    let r = call(
        port,
        "POST",
        &format!("/connectors/{sink}/tasks/1/restart"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    wait_state(port, &sink, "RUNNING").await;

    // Source offsets: readable while running, editable only when stopped.
    let offsets_path = format!("/connectors/{source}/offsets");
    let table = format!("{}.users", db.name);
    let r = wait_for("the source's offset", DEADLINE, || async {
        let r = get(port, &offsets_path).await;
        (r.json()["offsets"][0]["offset"]["incrementing"] == 2).then_some(r)
    })
    .await;
    let o = answers.keep("ConnectorOffsets", &r);
    assert_eq!(
        o["offsets"][0]["partition"],
        json!({"protocol": "1", "table": table})
    );
    let rewind = json!({"offsets": [{"partition": {"protocol": "1", "table": table},
                                     "offset": {"incrementing": 1}}]});
    let r = call(port, "PATCH", &offsets_path, Some(&rewind), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("STOPPED"), "{}", r.body);
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{source}/stop"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    let r = wait_state(port, &source, "STOPPED").await;
    let stopped = answers.keep("ConnectorStateInfo", &r);
    assert_eq!(stopped["tasks"], json!([]), "{stopped}");
    let r = get(port, "/readyz").await;
    assert_eq!(
        r.status, 200,
        "a stopped connector is not unready: {}",
        r.body
    );
    let r = get(port, &format!("/connectors/{source}/tasks")).await;
    assert_eq!(answers.keep("TaskInfoList", &r), json!([]));
    assert_eq!(
        get(port, &format!("/connectors/{source}")).await.json()["tasks"],
        json!([])
    );
    let r = call(port, "PATCH", &offsets_path, Some(&rewind), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    answers.keep("Message", &r);
    let r = get(port, &offsets_path).await;
    assert_eq!(
        answers.keep("ConnectorOffsets", &r)["offsets"][0]["offset"],
        json!({"incrementing": 1})
    );
    let r = call(
        port,
        "PATCH",
        &offsets_path,
        Some(&json!({"offsets": []})),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    let no_table = json!({"offsets": [{"partition": {"server": "x"}, "offset": null}]});
    let r = call(port, "PATCH", &offsets_path, Some(&no_table), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("offsets[0]"), "{}", r.body);
    let not_a_position = json!({"offsets": [{"partition": {"protocol": "1", "table": table},
                                             "offset": {"incrementing": "many"}}]});
    let r = call(port, "PATCH", &offsets_path, Some(&not_a_position), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not a poll position"), "{}", r.body);
    answers.keep("ErrorMessage", &r);
    let r = get(port, &offsets_path).await;
    assert_eq!(
        r.json()["offsets"][0]["offset"],
        json!({"incrementing": 1}),
        "unchanged"
    );
    // Resumed, the source re-reads the row after id 1.
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{source}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_for("row 2 published again", DEADLINE, || async {
        (kcat_lines(&topic, "%s\n").len() == 3).then_some(())
    })
    .await;
    wait_count(&db, &topic, 3).await;

    // Sink offsets: stop, read, reset to the beginning, resume: re-applied.
    let sink_offsets = format!("/connectors/{sink}/offsets");
    let r = call(port, "PUT", &format!("/connectors/{sink}/stop"), None, None).await;
    assert_eq!(r.status, 202);
    wait_state(port, &sink, "STOPPED").await;
    let r = get(port, &sink_offsets).await;
    let o = answers.keep("ConnectorOffsets", &r);
    assert_eq!(
        o["offsets"][0]["partition"],
        json!({"kafka_topic": topic, "kafka_partition": 0}),
        "{o}"
    );
    // Past the 3 records (transaction markers take offsets too).
    assert!(
        o["offsets"][0]["offset"]["kafka_offset"].as_i64() >= Some(3),
        "{o}"
    );
    let r = call(port, "DELETE", &sink_offsets, None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    answers.keep("Message", &r);
    let r = get(port, &sink_offsets).await;
    assert_eq!(
        r.json()["offsets"][0]["offset"]["kafka_offset"],
        0,
        "{}",
        r.body
    );
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_count(&db, &topic, 6).await;

    // A connector created STOPPED runs nothing and has no task.
    let third = format!("third-{tag}");
    let mut third_config = sink_config.clone();
    third_config["topics"] = json!(format!("{topic}_none"));
    let create = json!({"name": third, "config": third_config, "initial_state": "STOPPED"});
    let r = call(port, "POST", "/connectors", Some(&create), None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(answers.keep("ConnectorInfo", &r)["tasks"], json!([]));
    let r = wait_state(port, &third, "STOPPED").await;
    answers.keep("ConnectorStateInfo", &r);
    let r = get(port, &format!("/connectors/{third}/tasks/0/status")).await;
    assert_eq!(r.status, 404);

    // Log levels at run time.
    let r = get(port, "/admin/loggers").await;
    let loggers = answers.keep("LoggerLevels", &r);
    assert_eq!(loggers["root"]["level"], "INFO", "{loggers}");
    let r = call(
        port,
        "PUT",
        "/admin/loggers/sluice.sink",
        Some(&json!({"level": "DEBUG"})),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(answers.keep("LoggerList", &r), json!(["sluice::sink"]));
    let r = get(port, "/admin/loggers/sluice::sink").await;
    let level = answers.keep("LoggerLevel", &r);
    assert_eq!(level["level"], "DEBUG");
    assert!(level["last_modified"].as_i64().is_some(), "{level}");
    let r = get(port, "/admin/loggers/sluice::sink::apply").await;
    assert_eq!(r.json()["level"], "DEBUG", "a logger below inherits");
    let r = get(port, "/admin/loggers").await;
    assert_eq!(
        answers.keep("LoggerLevels", &r)["sluice::sink"]["level"],
        "DEBUG"
    );
    let r = call(
        port,
        "PUT",
        "/admin/loggers/sluice.sink",
        Some(&json!({"level": "LOUD"})),
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    answers.keep("ErrorMessage", &r);
    // The filter really changes: with `sluice.app` at WARN a deletion's
    // info line is gone; back at INFO it is there.
    let set_app = |level: &'static str| async move {
        let body = json!({"level": level});
        let r = call(port, "PUT", "/admin/loggers/sluice.app", Some(&body), None).await;
        assert_eq!(r.status, 200, "{}", r.body);
    };
    set_app("WARN").await;
    let r = call(port, "DELETE", &format!("/connectors/{third}"), None, None).await;
    assert_eq!(r.status, 204);
    set_app("INFO").await;
    let r = call(port, "DELETE", &format!("/connectors/{sink}"), None, None).await;
    assert_eq!(r.status, 204);
    let deleted = |name: &str| {
        daemon
            .log_text()
            .lines()
            .any(|l| l.contains("connector deleted") && l.contains(name))
    };
    wait_for("the sink's deletion logged", DEADLINE, || async {
        deleted(&sink).then_some(())
    })
    .await;
    assert!(!deleted(&third), "logged at WARN:\n{}", daemon.log_text());
    let r = call(
        port,
        "PUT",
        "/admin/loggers/root?scope=cluster",
        Some(&json!({"level": "WARN"})),
        None,
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        get(port, "/admin/loggers/root").await.json()["level"],
        "WARN"
    );
    let r = call(port, "DELETE", &format!("/connectors/{source}"), None, None).await;
    assert_eq!(r.status, 204);
    answers.check_with_connect_classes();
}

/// A binlog source's offsets over KIP-875: Debezium's `{"server": ...}`
/// partition with the binlog position; a reset forgets it (the next start
/// snapshots again, the row comes twice) and a PATCH writes a position back.
#[tokio::test(flavor = "multi_thread")]
async fn binlog_source_offsets_over_rest() {
    let db = MariaDb::create("restbl").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)")
        .await;
    let prefix = unique("restbl");
    let name = format!("{prefix}-connector");
    let port = free_port();
    let _daemon = Daemon::start(&config(port, &scratch("state")));
    let mut answers = Answers::default();
    let body = json!({"name": name, "config": {
        "connector.class": "io.debezium.connector.mariadb.MariaDbConnector",
        "database.hostname": "127.0.0.1", "database.port": "3306",
        "database.user": "root", "database.password": "",
        "topic.prefix": prefix, "database.include.list": db.name}});
    let r = call(port, "POST", "/connectors", Some(&body), None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let topic = format!("{prefix}.{}.t", db.name);
    let path = format!("/connectors/{name}/offsets");
    let r = wait_for("the binlog position", Duration::from_secs(120), || async {
        let r = get(port, &path).await;
        r.json()["offsets"][0]["offset"]["snapshot_completed"]
            .as_bool()
            .unwrap_or(false)
            .then_some(r)
    })
    .await;
    let stored = answers.keep("ConnectorOffsets", &r);
    assert_eq!(stored["offsets"][0]["partition"], json!({"server": prefix}));
    let position = stored["offsets"][0]["offset"].clone();
    assert!(position["file"].as_str().is_some(), "{position}");
    assert_eq!(kcat_lines(&topic, "%s\n").len(), 1);

    let r = call(port, "DELETE", &path, None, None).await;
    assert_eq!(r.status, 400, "running: {}", r.body);
    let r = call(port, "PUT", &format!("/connectors/{name}/stop"), None, None).await;
    assert_eq!(r.status, 202);
    wait_state(port, &name, "STOPPED").await;
    let r = call(port, "DELETE", &path, None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    answers.keep("Message", &r);
    let r = get(port, &path).await;
    assert_eq!(answers.keep("ConnectorOffsets", &r), json!({"offsets": []}));
    let bad = json!({"offsets": [{"partition": {"server": prefix}, "offset": {"pos": 4}}]});
    let r = call(port, "PATCH", &path, Some(&bad), None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("not a binlog position"), "{}", r.body);
    let back = json!({"offsets": [{"partition": {"server": prefix}, "offset": position}]});
    let r = call(port, "PATCH", &path, Some(&back), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(port, &path).await;
    assert_eq!(answers.keep("ConnectorOffsets", &r), back);

    // Reset, resumed: the snapshot runs again.
    let r = call(port, "DELETE", &path, None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{name}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_for(
        "the snapshot row again",
        Duration::from_secs(120),
        || async { (kcat_lines(&topic, "%s\n").len() == 2).then_some(()) },
    )
    .await;
    answers.check_with_connect_classes();
}
