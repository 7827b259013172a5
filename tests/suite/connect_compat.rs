//! Compatibility with Kafka Connect's own `JsonConverter` (design.md §4, §6):
//! the real converter from the Kafka jars, `schemas.enable=true`, reads what
//! Sluice's poll source writes (values and keys), and Sluice's sink applies
//! what the converter writes. The Java side is `tests/java/ConnectJsonCheck.java`,
//! compiled once per test run.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::both_flavors;
use crate::suite::seed::http_get;
use crate::support::*;

both_flavors!(
    json_converter_reads_what_the_poll_source_writes,
    json_converter_reads_the_debezium_envelope,
    json_converter_reads_mysql_times_outside_one_day,
    sluice_sink_reads_what_json_converter_writes,
    sluice_sink_applies_debezium_events_json_converter_writes
);

const JAVA_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/java/ConnectJsonCheck.java"
);

/// `<classes>:<libs>/*`, compiling `ConnectJsonCheck` on first use.
fn java_classpath() -> &'static str {
    static CLASSPATH: OnceLock<String> = OnceLock::new();
    CLASSPATH.get_or_init(|| compile_java_check(JAVA_SOURCE, "connect-json-4.1.1.jar"))
}

/// Runs `java ConnectJsonCheck <args>` with `stdin`.
fn java(args: &[&str], stdin: String) -> Output {
    let mut child = Command::new("java")
        .args(["-cp", java_classpath(), "ConnectJsonCheck"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java is installed");
    let mut input = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || input.write_all(stdin.as_bytes()));
    let out = child.wait_with_output().expect("java");
    writer.join().expect("writer").expect("write java stdin");
    out
}

/// JsonConverter's reading of `messages` (one per line; "" is a null message)
/// as key or value converter: one `{"schema", "value"}` per message.
fn json_converter_reads(kind: &str, topic: &str, messages: &[String]) -> Vec<Json> {
    let input: String = messages.iter().map(|m| format!("{m}\n")).collect();
    let out = java(&["read", kind, topic], input);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "JsonConverter ({kind} converter) rejected what Sluice wrote:\n{stdout}\n{}\nmessages:\n{}",
        String::from_utf8_lossy(&out.stderr),
        messages.join("\n")
    );
    let got: Vec<Json> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(
        got.len(),
        messages.len(),
        "one result per message:\n{stdout}"
    );
    got
}

/// A primitive schema as `ConnectJsonCheck` renders it.
fn prim(ty: &str, optional: bool) -> Json {
    json!({"type": ty, "optional": optional})
}

/// An optional Connect logical type (Date, Time, Timestamp) on `ty`.
fn logical(ty: &str, name: &str) -> Json {
    json!({"type": ty, "optional": true, "name": format!("org.apache.kafka.connect.data.{name}"), "version": 1})
}

/// An optional Connect `Decimal` with the JDBC source's precision parameter.
fn decimal(scale: u32, precision: u32) -> Json {
    json!({"type": "BYTES", "optional": true, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
           "parameters": {"scale": scale.to_string(), "connect.decimal.precision": precision.to_string()}})
}

/// Asserts a struct schema: its optionality, name, and fields (names, order, schemas).
fn assert_struct_schema(
    got: &Json,
    optional: bool,
    name: Option<&str>,
    fields: &[(&str, Json)],
    what: &str,
) {
    assert_eq!(got["type"], "STRUCT", "{what}: {got}");
    assert_eq!(got["optional"], optional, "{what}: {got}");
    assert_eq!(
        got.get("name").and_then(Json::as_str),
        name,
        "{what}: struct name"
    );
    let got_fields = got["fields"].as_array().expect("struct fields");
    let names: Vec<&str> = got_fields
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    let want: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, want, "{what}: field names in order");
    for (f, (name, schema)) in got_fields.iter().zip(fields) {
        assert_eq!(&f["schema"], schema, "{what}: schema of field `{name}`");
    }
}

/// Asserts a struct value field by field.
fn assert_struct_value(got: &Json, want: &Json, what: &str) {
    let (g, w) = (
        got.as_object().expect("struct value"),
        want.as_object().expect("expected object"),
    );
    for (k, v) in w {
        assert_eq!(g.get(k), Some(v), "{what}: field `{k}`");
    }
    assert_eq!(g.len(), w.len(), "{what}: fields {got}");
}

const EVERYTHING: &str = "CREATE TABLE everything (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    t TINYINT, su SMALLINT UNSIGNED, i INT, bi BIGINT, bu BIGINT UNSIGNED,
    f FLOAT, d DOUBLE, amount DECIMAL(10,2), wide DECIMAL(65,30),
    s VARCHAR(100), txt TEXT, vb VARBINARY(16), bl BLOB,
    day DATE, tod TIME(3), dt DATETIME(3), ts TIMESTAMP(3) NULL DEFAULT NULL,
    flag BIT(1), color ENUM('red','green'), doc JSON, `a``b` VARCHAR(10)
) DEFAULT CHARSET = utf8mb4";

const EVERYTHING_ROWS: &str = r#"SET time_zone = '+00:00';
INSERT INTO everything (t, su, i, bi, bu, f, d, amount, wide, s, txt, vb, bl, day, tod, dt, ts, flag, color, doc, `a``b`) VALUES
 (-128, 65535, -2147483648, -9223372036854775808, 18446744073709551615, 1.5, 3.141592653589793, -12345678.90,
  '12345678901234567890123456789012345.123456789012345678901234567890',
  'héllo "q" \\ 😀 ''x''', 'line1\nline2\ttab', X'00FF1027', X'DEADBEEF00',
  '1969-07-20', '13:14:15.678', '2022-08-15 19:47:47.123', '2022-08-15 19:47:47.456',
  b'1', 'green', '{"a": [1, 2.5, "x"]}', 'tick'),
 (NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (127, 0, 2147483647, 9223372036854775807, 0, -0.25, -1e-300, -0.05, '-0.000000000000000000000000000001',
  '', 'a\0b\Zc\r', X'', X'00',
  '1970-01-01', '00:00:00.000', '1969-12-31 23:59:59.999', '1970-01-01 00:00:01.000',
  b'0', 'red', '[]', '')"#;

/// The value schema design.md §4 prescribes for `everything`, in JsonConverter's terms.
fn everything_schema() -> Vec<(&'static str, Json)> {
    vec![
        ("id", prim("INT32", false)),
        ("t", prim("INT8", true)),
        ("su", prim("INT32", true)),
        ("i", prim("INT32", true)),
        ("bi", prim("INT64", true)),
        ("bu", decimal(0, 20)),
        ("f", prim("FLOAT32", true)),
        ("d", prim("FLOAT64", true)),
        ("amount", decimal(2, 10)),
        ("wide", decimal(30, 65)),
        ("s", prim("STRING", true)),
        ("txt", prim("STRING", true)),
        ("vb", prim("BYTES", true)),
        ("bl", prim("BYTES", true)),
        ("day", logical("INT32", "Date")),
        ("tod", logical("INT32", "Time")),
        ("dt", logical("INT64", "Timestamp")),
        ("ts", logical("INT64", "Timestamp")),
        ("flag", prim("BOOLEAN", true)),
        ("color", prim("STRING", true)),
        ("doc", prim("STRING", true)),
        ("a`b", prim("STRING", true)),
    ]
}

/// The inserted rows as JsonConverter's Java values (decimals as plain
/// strings, dates and times as epoch millis, bytes as base64).
fn everything_values() -> Vec<Json> {
    vec![
        json!({"id": 1, "t": -128, "su": 65535, "i": -2147483648i64, "bi": i64::MIN,
               "bu": "18446744073709551615", "f": 1.5, "d": std::f64::consts::PI,
               "amount": "-12345678.90",
               "wide": "12345678901234567890123456789012345.123456789012345678901234567890",
               "s": "héllo \"q\" \\ 😀 'x'", "txt": "line1\nline2\ttab",
               "vb": "AP8QJw==", "bl": "3q2+7wA=",
               "day": -165i64 * 86_400_000, "tod": 47_655_678, "dt": 1_660_592_867_123i64,
               "ts": 1_660_592_867_456i64, "flag": true, "color": "green",
               "doc": r#"{"a": [1, 2.5, "x"]}"#, "a`b": "tick"}),
        json!({"id": 2, "t": null, "su": null, "i": null, "bi": null, "bu": null, "f": null,
               "d": null, "amount": null, "wide": null, "s": null, "txt": null, "vb": null,
               "bl": null, "day": null, "tod": null, "dt": null, "ts": null, "flag": null,
               "color": null, "doc": null, "a`b": null}),
        json!({"id": 3, "t": 127, "su": 0, "i": 2147483647, "bi": i64::MAX, "bu": "0",
               "f": -0.25, "d": -1e-300, "amount": "-0.05",
               "wide": "-0.000000000000000000000000000001", "s": "", "txt": "a\u{0}b\u{1a}c\r",
               "vb": "", "bl": "AA==", "day": 0, "tod": 0, "dt": -1, "ts": 1000,
               "flag": false, "color": "red", "doc": "[]", "a`b": ""}),
    ]
}

/// A daemon config with one incrementing poll source on `table`, writing to
/// topic `<tag>_<table>`.
fn poll_source(tag: &str, db: &MariaDb, table: &str, extra: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[source]]
name = "{tag}"
kind = "poll"
url = "{url}"
tables = ["{table}"]
topic_prefix = "{tag}_"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 200
{extra}
"#,
        url = db.url()
    )
}

/// Runs a poll source on a fresh `everything` table with its three rows and
/// `extra` config; returns the database, daemon, pipeline name (the topic is
/// `<name>_everything`) and the topic's committed values and keys (kcat `%s` /
/// `%k`, one per line).
async fn everything_source(
    flavor: MySqlFlavor,
    extra: &str,
) -> (MySqlServer, Daemon, String, Vec<String>, Vec<String>) {
    let db = MySqlServer::new(flavor, "ccsrc").await;
    db.exec(EVERYTHING).await;
    db.exec(EVERYTHING_ROWS).await;
    let tag = unique("ccsrc");
    let topic = format!("{tag}_everything");
    let d = Daemon::start(&poll_source(&tag, &db, "everything", extra));
    let values = wait_for(
        "3 messages on the topic",
        Duration::from_secs(60),
        || async {
            let v = kcat_lines(&topic, "%s\n");
            (v.len() >= 3).then_some(v)
        },
    )
    .await;
    assert_eq!(
        values.len(),
        3,
        "messages: {values:#?}\nlog:\n{}",
        d.log_text()
    );
    let keys = kcat_lines(&topic, "%k\n");
    assert_eq!(keys.len(), 3, "keys: {keys:#?}");
    (db, d, tag, values, keys)
}

async fn json_converter_reads_what_the_poll_source_writes(flavor: MySqlFlavor) {
    let (_db, mut d, tag, values, keys) = everything_source(flavor, "").await;
    let topic = format!("{tag}_everything");

    // Values, through JsonConverter as the value converter.
    let got = json_converter_reads("value", &topic, &values);
    let schema = everything_schema();
    for (i, (g, want)) in got.iter().zip(everything_values()).enumerate() {
        let what = format!("value {} ({})", i + 1, values[i]);
        assert_struct_schema(&g["schema"], false, Some("everything"), &schema, &what);
        assert_struct_value(&g["value"], &want, &what);
    }

    // Keys, through JsonConverter as the key converter: the primary key struct.
    let got = json_converter_reads("key", &topic, &keys);
    for (i, g) in got.iter().enumerate() {
        let what = format!("key {} ({})", i + 1, keys[i]);
        assert_struct_schema(
            &g["schema"],
            false,
            None,
            &[("id", prim("INT32", false))],
            &what,
        );
        assert_struct_value(&g["value"], &json!({"id": i + 1}), &what);
    }
    assert_eq!(d.stop(), 0, "log:\n{}", d.log_text());
}

async fn json_converter_reads_the_debezium_envelope(flavor: MySqlFlavor) {
    let (db, mut d, tag, values, keys) = everything_source(flavor, "envelope = \"debezium\"").await;
    let topic = format!("{tag}_everything");
    let stem = format!("{tag}.{}.everything", db.name);

    let got = json_converter_reads("value", &topic, &values);
    let row = everything_schema();
    for (i, (g, want)) in got.iter().zip(everything_values()).enumerate() {
        let what = format!("envelope {} ({})", i + 1, values[i]);
        let schema = &g["schema"];
        let envelope = format!("{stem}.Envelope");
        let names = [
            "before",
            "after",
            "source",
            "transaction",
            "op",
            "ts_ms",
            "ts_us",
            "ts_ns",
        ];
        assert_eq!(schema["name"], envelope.as_str(), "{what}");
        assert_eq!(schema["version"], 2, "{what}");
        let fields: Vec<&str> = schema["fields"]
            .as_array()
            .expect("fields")
            .iter()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert_eq!(fields, names, "{what}: envelope fields");
        let field = |n: usize| &schema["fields"][n]["schema"];
        let value_name = format!("{stem}.Value");
        assert_struct_schema(
            field(0),
            true,
            Some(&value_name),
            &row,
            &format!("{what}: before"),
        );
        assert_struct_schema(
            field(1),
            true,
            Some(&value_name),
            &row,
            &format!("{what}: after"),
        );
        assert_eq!(
            field(2)["name"],
            "io.debezium.connector.mysql.Source",
            "{what}"
        );
        let snapshot = field(2)["fields"]
            .as_array()
            .expect("source fields")
            .iter()
            .find(|f| f["field"] == "snapshot")
            .map(|f| f["schema"].clone());
        assert_eq!(
            snapshot,
            Some(
                json!({"type": "STRING", "optional": true, "name": "io.debezium.data.Enum",
                        "version": 1, "default": "false", "parameters": {"allowed":
                        "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"}})
            ),
            "{what}: source.snapshot"
        );
        assert_eq!(field(3)["name"], "event.block", "{what}: transaction");
        assert_eq!(field(4), &prim("STRING", false), "{what}: op");
        assert_eq!(field(5), &prim("INT64", true), "{what}: ts_ms");

        let v = &g["value"];
        assert_eq!(v["before"], Json::Null, "{what}: before");
        assert_struct_value(&v["after"], &want, &format!("{what}: after"));
        assert_eq!(v["op"], "r", "{what}: op");
        assert_eq!(v["source"]["name"], tag.as_str(), "{what}: source.name");
        assert_eq!(v["source"]["db"], db.name.as_str(), "{what}: source.db");
        assert_eq!(v["source"]["table"], "everything", "{what}: source.table");
        assert_eq!(v["source"]["snapshot"], "true", "{what}: source.snapshot");
        assert!(v["ts_ms"].is_i64(), "{what}: ts_ms");
        assert_eq!(v["transaction"], Json::Null, "{what}: transaction");
    }

    let got = json_converter_reads("key", &topic, &keys);
    let key_name = format!("{stem}.Key");
    for (i, g) in got.iter().enumerate() {
        let what = format!("key {} ({})", i + 1, keys[i]);
        let fields = [("id", prim("INT32", false))];
        assert_struct_schema(&g["schema"], false, Some(&key_name), &fields, &what);
        assert_struct_value(&g["value"], &json!({"id": i + 1}), &what);
    }
    assert_eq!(d.stop(), 0, "log:\n{}", d.log_text());
}

/// MySQL's TIME spans -838:59:59 to 838:59:59, Connect's `Time` one day
/// (JsonConverter rejects milliseconds outside 0..=86400000). Sluice may
/// refuse such rows (the pipeline fails naming the column, as it does for
/// TIMEs beyond int32 milliseconds), but every message it does publish must be
/// readable by JsonConverter.
async fn json_converter_reads_mysql_times_outside_one_day(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "cctime").await;
    db.exec("CREATE TABLE times (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, tod TIME(3))")
        .await;
    db.exec("INSERT INTO times (tod) VALUES ('-00:00:01.000'), ('25:00:00.000'), ('12:00:00.000')")
        .await;
    let tag = unique("cctime");
    let topic = format!("{tag}_times");
    let port = free_port();
    let mut d = Daemon::start(
        &poll_source(&tag, &db, "times", "")
            .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\"")),
    );
    // Row 3 is the last row: once it is published, so is everything before it.
    let published = wait_for(
        "row 3 on the topic, or the pipeline failed",
        Duration::from_secs(60),
        || async {
            let v = kcat_lines(&topic, "%s\n");
            if v.iter().any(|m| m.contains(r#""id":3,"#)) {
                return Some(true);
            }
            let status = http_get(port, &format!("/connectors/{tag}/status")).await;
            status.contains("FAILED").then_some(false)
        },
    )
    .await;
    let values = kcat_lines(&topic, "%s\n");
    if published {
        let got = json_converter_reads("value", &topic, &values);
        assert_eq!(got[2]["value"]["tod"], 43_200_000, "{}", values[2]);
    } else {
        assert!(values.is_empty(), "published before failing: {values:#?}");
        let log = d.log_text();
        assert!(
            log.contains("tod"),
            "the failure names the column; log:\n{log}"
        );
    }
    assert_eq!(d.stop(), 0, "log:\n{}", d.log_text());
}

/// `(key, value)` lines JsonConverter wrote (`ConnectJsonCheck <mode>`); an
/// empty value is a tombstone.
fn json_converter_writes(mode: &str, topic: &str) -> Vec<(String, String)> {
    let out = java(&[mode, topic], String::new());
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ConnectJsonCheck {mode} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| {
            let (k, v) = l.split_once('\t').expect("key<TAB>value");
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Produces `(key, value)` messages with kcat ("" value = tombstone).
fn produce(topic: &str, messages: &[(String, String)]) {
    let m: Vec<(Option<&str>, &str)> = messages
        .iter()
        .map(|(k, v)| (Some(k.as_str()), v.as_str()))
        .collect();
    kcat_produce(topic, &m);
}

/// A daemon with one upserting, deleting sink into MariaDB and one into
/// PostgreSQL, both keyed by the record key, on `topic`.
fn start_sinks(tag: &str, topic: &str, my: &MariaDb, pg: &Postgres) -> Daemon {
    let sink = |name: String, url: String| {
        format!(
            r#"
[[sink]]
name = "{name}"
url = "{url}"
topics = ["{topic}"]
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50
"#
        )
    };
    Daemon::start(&format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"\"\n{}{}",
        sink(format!("{tag}_my"), my.url()),
        sink(format!("{tag}_pg"), pg.url())
    ))
}

/// `ConnectJsonCheck`'s rows 1–4 as MariaDB returns them (`HEX(b)`), columns split by `|`.
const MARIADB_ROWS: [&str; 4] = [
    "1|-128|-32768|-2147483648|-9223372036854775808|1.5|3.141592653589793|1|héllo \"q\" \\ 😀 'x'\n\ttab|00FF10275C|-12345678.90|1969-07-20|13:14:15.678|2022-08-15 19:47:47.123|tick`|given|r1|5|9.99",
    "2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|n/a|r2|7|1.25",
    "3|127|32767|2147483647|9223372036854775807|-0.25|-1e-300|0|||-0.05|1970-01-01|00:00:00.000|1969-12-31 23:59:59.999||||-1|-1.25",
    "4|0|0|0|0|0|0|1|numeric decimal|01|123456789012345678901234567890.12|9999-12-31|23:59:59.999|9999-12-31 23:59:59.999|four|n4|r4|4|4.00",
];

/// The same rows as PostgreSQL's text output (`encode(b, 'hex')`).
const POSTGRES_ROWS: [&str; 4] = [
    "1|-128|-32768|-2147483648|-9223372036854775808|1.5|3.141592653589793|t|héllo \"q\" \\ 😀 'x'\n\ttab|00ff10275c|-12345678.90|1969-07-20|13:14:15.678|2022-08-15 19:47:47.123|tick`|given|r1|5|9.99",
    "2|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|n/a|r2|7|1.25",
    "3|127|32767|2147483647|9223372036854775807|-0.25|-1e-300|f|||-0.05|1970-01-01|00:00:00|1969-12-31 23:59:59.999||||-1|-1.25",
    "4|0|0|0|0|0|0|t|numeric decimal|01|123456789012345678901234567890.12|9999-12-31|23:59:59.999|9999-12-31 23:59:59.999|four|n4|r4|4|4.00",
];

/// Asserts `got` equals `want` (rows of `|`-separated columns), row by row.
fn assert_rows(got: &[Vec<String>], want: &[&str], what: &str, messages: &[(String, String)]) {
    assert_eq!(got.len(), want.len(), "{what} rows: {got:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let w: Vec<&str> = w.split('|').collect();
        assert_eq!(g, &w, "{what} row {}; message: {}", i + 1, messages[i].1);
    }
}

async fn sluice_sink_reads_what_json_converter_writes(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "ccsink").await;
    let pg = Postgres::create("ccsink").await;
    let tag = unique("ccsink");
    let topic = format!("{tag}_everything");
    // Rows 1–4 of every Connect type (row 4 with `decimal.format=NUMERIC`),
    // then a tombstone for row 4.
    let messages = json_converter_writes("write", &topic);
    assert_eq!(messages.len(), 5, "{messages:#?}");
    produce(&topic, &messages[..4]);
    let mut d = start_sinks(&tag, &topic, &my, &pg);

    let my_sql = format!(
        "SELECT id, i8, i16, i32, i64, f32, f64, flag, s, HEX(b), amount, day, tod, ts, `a``b`, note, req, cnt, price FROM `{topic}` ORDER BY id"
    );
    let pg_sql = format!(
        "SELECT id, i8, i16, i32, i64, f32, f64, flag, s, encode(b, 'hex'), amount, day, tod, ts, \"a`b\", note, req, cnt, price FROM \"{topic}\" ORDER BY id"
    );
    wait_for("4 rows in MariaDB", Duration::from_secs(60), || async {
        (my.count(&topic).await == Some(4)).then_some(())
    })
    .await;
    wait_for("4 rows in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&topic).await == Some(4)).then_some(())
    })
    .await;
    assert_rows(&my.rows(&my_sql).await, &MARIADB_ROWS, "MariaDB", &messages);
    assert_rows(
        &pg.rows(&pg_sql).await,
        &POSTGRES_ROWS,
        "PostgreSQL",
        &messages,
    );

    // JsonConverter's tombstone (the key, a null value) deletes row 4.
    assert_eq!(
        messages[4].1, "",
        "JsonConverter writes a tombstone as a null value"
    );
    produce(&topic, &messages[4..]);
    wait_for(
        "row 4 deleted in MariaDB",
        Duration::from_secs(60),
        || async { (my.count(&topic).await == Some(3)).then_some(()) },
    )
    .await;
    wait_for(
        "row 4 deleted in PostgreSQL",
        Duration::from_secs(60),
        || async { (pg.count(&topic).await == Some(3)).then_some(()) },
    )
    .await;
    assert_rows(
        &my.rows(&my_sql).await,
        &MARIADB_ROWS[..3],
        "MariaDB",
        &messages,
    );
    assert_rows(
        &pg.rows(&pg_sql).await,
        &POSTGRES_ROWS[..3],
        "PostgreSQL",
        &messages,
    );
    assert_eq!(d.stop(), 0, "log:\n{}", d.log_text());
}

async fn sluice_sink_applies_debezium_events_json_converter_writes(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "ccdbz").await;
    let pg = Postgres::create("ccdbz").await;
    let tag = unique("ccdbz");
    let topic = format!("{tag}_customers");
    // Create 1 and 2, update 1, delete 2 and its tombstone, create 3.
    let messages = json_converter_writes("write-debezium", &topic);
    assert_eq!(messages.len(), 6, "{messages:#?}");
    produce(&topic, &messages);
    let mut d = start_sinks(&tag, &topic, &my, &pg);

    // Row 3 comes last on the topic's one partition: once it is there, every
    // earlier event has been applied.
    let sql = |q: char| format!("SELECT id, name, amount, seen FROM {q}{topic}{q} ORDER BY id");
    let last = |rows: Option<Vec<Vec<String>>>| rows.filter(|r| r.iter().any(|r| r[0] == "3"));
    let rows = wait_for("row 3 in MariaDB", Duration::from_secs(60), || async {
        last(my.try_rows(&sql('`')).await)
    })
    .await;
    assert_eq!(
        rows,
        [
            ["1", "a2", "3.00", "2024-02-29 12:00:00.000"],
            ["3", "c", "NULL", "NULL"]
        ],
        "MariaDB; messages: {messages:#?}"
    );
    let rows = wait_for("row 3 in PostgreSQL", Duration::from_secs(60), || async {
        last(pg.try_rows(&sql('"')).await)
    })
    .await;
    assert_eq!(
        rows,
        [
            ["1", "a2", "3.00", "2024-02-29 12:00:00"],
            ["3", "c", "NULL", "NULL"]
        ],
        "PostgreSQL; messages: {messages:#?}"
    );
    assert_eq!(d.stop(), 0, "log:\n{}", d.log_text());
}
