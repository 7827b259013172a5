//! Avro through the real Schema Registry (issue 19), source side: a binlog
//! source with `key_converter = value_converter = "avro"` beside the same
//! source writing Connect JSON, on the type matrix table. An independent
//! reader — Python's `fastavro`, with the writer schema fetched from the
//! registry (Apicurio, `scripts/services.sh`) by the id in each message —
//! decodes every Avro message, and each decoded key and value must equal the
//! JSON source's payload (bytes as base64, floats to float32 precision).
//! A schema change (ADD COLUMN) registers a new version of the subject.

use std::process::Command;
use std::time::Duration;

use serde_json::Value as Json;

use super::binlog_types::{exec_permissive, matrix};
use crate::support::*;

pub(crate) const REGISTRY: &str = "http://127.0.0.1:8081/apis/ccompat/v7";

/// Reads kcat's `%K %S\n%k%s` framing from stdin, decodes each Confluent
/// wire-format key and value with fastavro using the writer schema fetched by
/// id, and prints one JSON line per message. `raw` drops logical types (the
/// values as Connect JSON carries them, bytes as base64); `logical` keeps
/// them (decimals and dates as fastavro reads them, as text).
const DECODER: &str = r#"
import base64, io, json, struct, sys, urllib.request
import fastavro

REGISTRY = sys.argv[1]
cache = {}

def strip_logical(s):
    if isinstance(s, dict):
        return {k: strip_logical(v) for k, v in s.items() if k != "logicalType"}
    if isinstance(s, list):
        return [strip_logical(v) for v in s]
    return s

def schemas(sid):
    if sid not in cache:
        with urllib.request.urlopen(f"{REGISTRY}/schemas/ids/{sid}") as r:
            text = json.load(r)["schema"]
        parsed = json.loads(text)
        cache[sid] = (fastavro.parse_schema(strip_logical(parsed)), fastavro.parse_schema(parsed))
    return cache[sid]

def plain(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v

def text(v):
    if isinstance(v, dict):
        return {k: text(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    return str(v)

def decode(b):
    if b is None:
        return None
    if b[:1] == b"{":
        return {"json": json.loads(b)}  # a side left to the JSON converter
    assert b[0] == 0, f"magic byte {b[0]}"
    sid = struct.unpack(">I", b[1:5])[0]
    raw_schema, logical_schema = schemas(sid)
    raw = fastavro.schemaless_reader(io.BytesIO(b[5:]), raw_schema)
    logical = fastavro.schemaless_reader(io.BytesIO(b[5:]), logical_schema)
    return {"id": sid, "raw": plain(raw), "logical": text(logical)}

data = sys.stdin.buffer.read()
pos = 0
while pos < len(data):
    nl = data.index(b"\n", pos)
    klen, vlen = (int(x) for x in data[pos:nl].split())
    pos = nl + 1
    key = None if klen < 0 else data[pos:pos + klen]
    pos += max(klen, 0)
    val = None if vlen < 0 else data[pos:pos + vlen]
    pos += max(vlen, 0)
    print(json.dumps({"key": decode(key), "value": decode(val)}))
"#;

/// Every committed message of `topic` (kcat: `%K %S` lengths, then key and
/// value) fed to the Python script `script` (named `name`, given the
/// registry's URL); its stdout. `refusal` says what a failure means.
pub(crate) fn topic_through_python(
    topic: &str,
    name: &str,
    script: &str,
    refusal: &str,
) -> Vec<u8> {
    let kcat = Command::new("timeout")
        .args(["20", "kcat", "-C", "-b", KAFKA, "-t", topic])
        .args(["-o", "beginning", "-e", "-q", "-f", "%K %S\n%k%s"])
        .args(["-X", "isolation.level=read_committed"])
        .output()
        .expect("kcat is installed (scripts/services.sh up)");
    let path = scratch(name).join("script.py");
    std::fs::write(&path, script).expect("write the python script");
    let mut py = Command::new("python3")
        .arg(&path)
        .arg(REGISTRY)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    {
        use std::io::Write;
        py.stdin
            .take()
            .expect("stdin")
            .write_all(&kcat.stdout)
            .expect("feed the python script");
    }
    let out = py.wait_with_output().expect("python script");
    assert!(
        out.status.success(),
        "{refusal} {topic} (scripts/services.sh up installs the Python test tools):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Every committed message of `topic`, decoded by fastavro.
fn avro_read(topic: &str) -> Vec<Json> {
    let out = topic_through_python(topic, "avro-decoder", DECODER, "fastavro could not decode");
    String::from_utf8_lossy(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("decoder line"))
        .collect()
}

/// Registry versions of `subject`.
fn versions(subject: &str) -> Vec<i64> {
    let out = Command::new("curl")
        .args(["-sf", &format!("{REGISTRY}/subjects/{subject}/versions")])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

/// `a` equals `b`, numbers compared to float32 precision where either has a fraction.
fn same(a: &Json, b: &Json, path: &str, diffs: &mut Vec<String>) {
    match (a, b) {
        (Json::Object(x), Json::Object(y)) => {
            for (k, v) in x {
                same(
                    v,
                    y.get(k).unwrap_or(&Json::Null),
                    &format!("{path}.{k}"),
                    diffs,
                );
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                diffs.push(format!("{path}.{k}: missing in the Avro message"));
            }
        }
        (Json::Number(x), Json::Number(y)) if x.is_f64() || y.is_f64() => {
            let (x, y) = (
                x.as_f64().unwrap_or(f64::NAN),
                y.as_f64().unwrap_or(f64::NAN),
            );
            if (x - y).abs() > 1e-6 * x.abs().max(y.abs()).max(1.0) {
                diffs.push(format!("{path}: avro {x} json {y}"));
            }
        }
        _ if a != b => diffs.push(format!("{path}: avro {a} json {b}")),
        _ => {}
    }
}

/// The `[kafka]`, `[http]` (on a free port) and `[schema_registry]` sections
/// of a test daemon.
pub(crate) fn registry_head() -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{port}"
[schema_registry]
url = "{REGISTRY}"
"#,
        port = free_port()
    )
}

fn config(name: &str, db: &MySqlServer, envelope: &str) -> String {
    let url = db.url();
    format!(
        r#"{head}
[[source]]
name = "{name}-json"
kind = "binlog"
url = "{url}"
envelope = "{envelope}"
snapshot_locking = "minimal"
time_precision = "micros"
[[source]]
name = "{name}-avro"
kind = "binlog"
url = "{url}"
envelope = "{envelope}"
snapshot_locking = "minimal"
time_precision = "micros"
key_converter = "avro"
"value.converter" = "io.confluent.connect.avro.AvroConverter"
"#,
        head = registry_head()
    )
}

async fn avro_messages_match_json_for_every_type(envelope: &str) {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "avro").await;
    db.exec(&matrix::create_table("t")).await;
    let rows = matrix::rows_in_day(MySqlFlavor::MariaDb);
    exec_permissive(&db, &matrix::insert_sql("t", &rows, 0)).await;
    let name = unique("avro");
    let mut daemon = Daemon::start(&config(&name, &db, envelope));
    let json_topic = format!("{name}-json.{}.t", db.name);
    let avro_topic = format!("{name}-avro.{}.t", db.name);
    let n = rows.len();
    wait_for(
        "the snapshot in both topics",
        Duration::from_secs(90),
        || async {
            (kcat_read(&json_topic).len() >= n && avro_read(&avro_topic).len() >= n).then_some(())
        },
    )
    .await;

    // The binlog side, an update, a schema change and a delete.
    exec_permissive(&db, &matrix::insert_sql("t", &rows, 100)).await;
    db.exec("UPDATE t SET i = 7 WHERE id = 101").await;
    // Optional, so BACKWARD compatible (the binlog carries no column defaults).
    db.exec("ALTER TABLE t ADD COLUMN added INT").await;
    db.exec("INSERT INTO t (id, added) VALUES (1000, 6)").await;
    db.exec("DELETE FROM t WHERE id = 1").await;
    // flat: a tombstone for the delete; debezium: the delete and its tombstone.
    let total = 2 * n + 3 + if envelope == "debezium" { 1 } else { 0 };
    let (json, avro) = wait_for(
        "every change in both topics",
        Duration::from_secs(90),
        || async {
            let json = kcat_read(&json_topic);
            let avro = avro_read(&avro_topic);
            (json.len() >= total && avro.len() >= total).then_some((json, avro))
        },
    )
    .await;
    daemon.stop();
    assert_eq!(json.len(), avro.len(), "as many Avro messages as JSON ones");

    let mut diffs = Vec::new();
    let mut value_ids = std::collections::BTreeSet::new();
    for (i, ((jk, jv), a)) in json.iter().zip(&avro).enumerate() {
        let jk = jk.as_ref().map(|k| k["payload"].clone());
        let ak = a["key"].get("raw").cloned();
        same(
            ak.as_ref().unwrap_or(&Json::Null),
            jk.as_ref().unwrap_or(&Json::Null),
            &format!("#{i} key"),
            &mut diffs,
        );
        match (jv, a["value"].get("raw")) {
            (None, None) => {}
            (Some(jv), Some(av)) => {
                value_ids.insert(a["value"]["id"].as_i64().expect("id"));
                let jp = &jv["payload"];
                if envelope == "debezium" {
                    // `source` names the pipeline and its timing: both sources differ there.
                    for f in ["before", "after", "op"] {
                        same(&av[f], &jp[f], &format!("#{i} value.{f}"), &mut diffs);
                    }
                    assert_eq!(av["source"]["db"], jp["source"]["db"]);
                    assert_eq!(av["source"]["table"], "t");
                } else {
                    same(av, jp, &format!("#{i} value"), &mut diffs);
                }
            }
            (j, _) => diffs.push(format!("#{i}: json value {j:?}, avro value {}", a["value"])),
        }
    }
    assert!(
        diffs.is_empty(),
        "Avro differs from JSON:\n{}",
        diffs.join("\n")
    );

    // Logical types as an Avro reader sees them: decimals, dates, timestamps.
    let row = |a: &Json| -> Json {
        let v = &a["value"]["logical"];
        if envelope == "debezium" {
            v["after"].clone()
        } else {
            v.clone()
        }
    };
    let first = avro
        .iter()
        .find(|a| row(a)["id"] == 1)
        .map(row)
        .expect("row 1");
    let d = first["d10"].as_str().unwrap_or_default();
    assert!(
        !d.is_empty() && d.parse::<f64>().is_ok(),
        "a DECIMAL reads as a decimal: {first}"
    );

    // A schema change is a new version of the subject; every id is registered.
    let subject = format!("{avro_topic}-value");
    assert_eq!(
        versions(&subject),
        vec![1, 2],
        "ADD COLUMN registered a second version of {subject}"
    );
    assert_eq!(value_ids.len(), 2, "two value schema ids: {value_ids:?}");
    assert_eq!(versions(&format!("{avro_topic}-key")), vec![1]);
    let added = avro
        .iter()
        .find(|a| row(a)["id"] == 1000)
        .map(row)
        .expect("row 1000");
    assert_eq!(added["added"], 6);
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_flat_messages_match_json_for_every_type() {
    avro_messages_match_json_for_every_type("flat").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_debezium_messages_match_json_for_every_type() {
    avro_messages_match_json_for_every_type("debezium").await;
}

/// An incompatible change (a required column without default, under the
/// registry's BACKWARD rule) stops the pipeline with the subject and the
/// registry's reason; nothing of the refused schema reaches the topic.
#[tokio::test(flavor = "multi_thread")]
async fn an_incompatible_schema_stops_the_source_naming_the_subject() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "avroinc").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, a INT)").await;
    db.exec("INSERT INTO t VALUES (1, 1)").await;
    let name = unique("avroinc");
    let port = free_port();
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
kind = "binlog"
url = "{}"
value_converter = "avro"
"value.converter.schema.registry.url" = "{REGISTRY}"
"#,
        db.url()
    );
    let mut daemon = Daemon::start(&config);
    let topic = format!("{name}.{}.t", db.name);
    wait_for("the first row", Duration::from_secs(60), || async {
        (avro_read(&topic).len() == 1).then_some(())
    })
    .await;
    // A required column without a default: old data cannot be read with it.
    db.exec("ALTER TABLE t ADD COLUMN b INT NOT NULL").await;
    db.exec("INSERT INTO t VALUES (2, 2, 2)").await;
    let subject = format!("{topic}-value");
    let status = wait_for("the source to fail", Duration::from_secs(60), || async {
        let r = crate::support::rest::call(
            port,
            "GET",
            &format!("/connectors/{name}/status"),
            None,
            None,
        )
        .await;
        let s = r.json();
        (s["tasks"][0]["state"] == "FAILED").then_some(s)
    })
    .await;
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(
        trace.contains(&subject) && trace.contains("409"),
        "the error names the subject and the refusal: {trace}"
    );
    daemon.stop();
    assert_eq!(
        avro_read(&topic).len(),
        1,
        "the refused row was not published"
    );
    assert_eq!(versions(&subject), vec![1]);
}

/// A poll source (Connect's JDBC source keys) writes Avro values with
/// `TopicRecordNameStrategy` and USER_INFO keys accepted; fastavro reads the
/// rows back, and the subject is `<topic>-<record name>`.
#[tokio::test(flavor = "multi_thread")]
async fn a_poll_source_writes_avro_under_topic_record_name_subjects() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "avropoll").await;
    db.exec(
        "CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(20), price DECIMAL(8,2) NOT NULL)",
    )
    .await;
    db.exec("INSERT INTO users VALUES (1, 'ann', 12.50), (2, NULL, -0.01)")
        .await;
    let name = unique("avropoll");
    let prefix = format!("{name}-");
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
"connector.class" = "io.confluent.connect.jdbc.JdbcSourceConnector"
"connection.url" = "jdbc:{url}"
mode = "incrementing"
"incrementing.column.name" = "id"
"table.whitelist" = "users"
"topic.prefix" = "{prefix}"
"poll.interval.ms" = "200"
"value.converter" = "io.confluent.connect.avro.AvroConverter"
"value.converter.schema.registry.url" = "{REGISTRY}"
"value.converter.basic.auth.credentials.source" = "USER_INFO"
"value.converter.basic.auth.user.info" = "sluice:unused-by-the-test-registry"
"value.converter.value.subject.name.strategy" = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
"#,
        port = free_port(),
        url = db.url(),
    );
    let mut daemon = Daemon::start(&config);
    let topic = format!("{prefix}users");
    let msgs = wait_for("two rows", Duration::from_secs(60), || async {
        let m = avro_read(&topic);
        (m.len() >= 2).then_some(m)
    })
    .await;
    daemon.stop();
    let rows: Vec<&Json> = msgs.iter().map(|m| &m["value"]["logical"]).collect();
    assert_eq!(rows[0]["id"], 1);
    assert_eq!(rows[0]["name"], "ann");
    assert_eq!(rows[0]["price"], "12.50");
    assert_eq!(rows[1]["name"], Json::Null);
    assert_eq!(rows[1]["price"], "-0.01");
    // The key stays JSON (key_converter left out).
    assert!(
        msgs[0]["key"].get("json").is_some() || msgs[0]["key"].is_null(),
        "{}",
        msgs[0]
    );
    assert_eq!(versions(&format!("{topic}-users")), vec![1]);
}
