//! MySQL/MariaDB inserts through `LOAD DATA LOCAL INFILE` (the sink's fast path
//! for `insert_mode = "insert"`): every value arrives exactly as the `INSERT`
//! path writes it, and what LOCAL would silently skip or truncate (a duplicate
//! key, a value too long) is still an error, or a dead letter.

use std::time::Duration;

use serde_json::json;

use crate::both_flavors;
use crate::suite::seed::http_get;
use crate::suite::sink_targets::sink_config;
use crate::support::*;

both_flavors!(
    load_data_writes_every_value_as_insert_does,
    load_data_never_skips_a_duplicate_or_truncates_a_value
);

fn field(name: &str, ty: &str, logical: Option<&str>) -> serde_json::Value {
    let mut f = json!({"type": ty, "optional": true, "field": name});
    if let Some(l) = logical {
        f["name"] = json!(l);
        f["version"] = json!(1);
    }
    f
}

/// One record of the value-matrix schema; with `blob`, the record also has a
/// bytes field, which makes the sink use INSERT statements (the reference).
fn record(id: i64, s: serde_json::Value, rest: [serde_json::Value; 6], blob: bool) -> String {
    let mut fields = vec![
        json!({"type": "int64", "optional": false, "field": "id"}),
        field("s", "string", None),
        field("d", "int32", Some("org.apache.kafka.connect.data.Date")),
        field("t", "int32", Some("org.apache.kafka.connect.data.Time")),
        field(
            "ts",
            "int64",
            Some("org.apache.kafka.connect.data.Timestamp"),
        ),
        field("f", "double", None),
        field("ok", "boolean", None),
        field("n", "int32", None),
    ];
    let [d, t, ts, f, ok, n] = rest;
    let mut payload = json!({"id": id, "s": s, "d": d, "t": t, "ts": ts, "f": f, "ok": ok, "n": n});
    if blob {
        fields.push(field("blob", "bytes", None));
        payload["blob"] = json!("AAEC");
    }
    json!({"schema": {"type": "struct", "fields": fields, "optional": false, "name": "m"}, "payload": payload})
        .to_string()
}

/// (id, string) pairs that LOAD DATA's text format must carry exactly.
fn strings() -> Vec<(i64, Option<&'static str>)> {
    vec![
        (1, Some("tab\there")),
        (2, Some("line\nbreak\r\nwindows")),
        (3, Some("back\\slash \\N \\t \\\\")),
        (4, Some("\\N")),
        (5, Some("")),
        (6, None),
        (7, Some("emoji 😀 ✓ ü 'quote' \"dq\"")),
        (8, Some("nul\u{0}byte\u{1a}end")),
    ]
}

fn records(blob: bool) -> Vec<String> {
    strings()
        .into_iter()
        .map(|(id, s)| {
            let rest = if id == 6 {
                [(); 6].map(|()| serde_json::Value::Null)
            } else {
                [
                    json!(if id % 2 == 0 { -1 } else { 19_000 + id }),
                    json!(45_296_789 + id),
                    json!(1_660_592_867_123_i64 + id),
                    json!(if id % 2 == 0 {
                        -1.5e300
                    } else {
                        0.1 * id as f64
                    }),
                    json!(id % 2 == 0),
                    json!(if id % 2 == 0 {
                        i64::from(i32::MIN)
                    } else {
                        i64::from(i32::MAX)
                    }),
                ]
            };
            record(id, json!(s), rest, blob)
        })
        .collect()
}

async fn load_data_writes_every_value_as_insert_does(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "load").await;
    let tag = unique("load");
    let (fast, reference) = (format!("load_{tag}"), format!("ins_{tag}"));
    let msgs = records(false);
    let with_blob = records(true);
    let pairs = |m: &[String]| m.iter().map(|v| (None, v.clone())).collect::<Vec<_>>();
    let produce = |topic: &str, m: &[String]| {
        let p = pairs(m);
        let refs: Vec<(Option<&str>, &str)> = p.iter().map(|(k, v)| (*k, v.as_str())).collect();
        kcat_produce(topic, &refs);
    };
    produce(&fast, &msgs);
    produce(&reference, &with_blob);
    let extra = "pk_mode = \"record_value\"\npk_fields = [\"id\"]";
    let mut d1 = Daemon::start(&sink_config(&format!("{tag}_l"), &my.url(), &fast, extra));
    let mut d2 = Daemon::start(&sink_config(
        &format!("{tag}_i"),
        &my.url(),
        &reference,
        extra,
    ));
    let n = strings().len() as i64;
    for table in [&fast, &reference] {
        wait_for("all rows", Duration::from_secs(60), || async {
            (my.count(table).await == Some(n)).then_some(())
        })
        .await;
    }
    let select = |table: &str| {
        format!("SELECT id, HEX(s), s IS NULL, d, t, ts, f, ok, n FROM `{table}` ORDER BY id")
    };
    let got = my.rows(&select(&fast)).await;
    let want = my.rows(&select(&reference)).await;
    assert_eq!(got, want, "LOAD DATA and INSERT rows differ");
    // And both hold the strings byte for byte.
    for (row, (id, s)) in got.iter().zip(strings()) {
        assert_eq!(row[0], id.to_string());
        let hex: String = s
            .unwrap_or("")
            .bytes()
            .map(|b| format!("{b:02X}"))
            .collect();
        let want_hex = if s.is_none() { "NULL".to_string() } else { hex };
        assert_eq!(row[1], want_hex, "string of row {id}");
        assert_eq!(row[2], if s.is_none() { "1" } else { "0" });
    }
    assert_eq!(got[0][3], "2022-01-09", "date of row 1: {:?}", got[0]);
    assert_eq!(got[1][3], "1969-12-31");
    assert_eq!(got[0][8], "2147483647");
    assert_eq!(got[1][8], "-2147483648");
    assert_eq!(d1.stop(), 0);
    assert_eq!(d2.stop(), 0);
}

async fn load_data_never_skips_a_duplicate_or_truncates_a_value(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "loaderr").await;
    let tag = unique("loaderr");
    let topic = format!("dup_{tag}");
    let dlq = format!("dupdlq_{tag}");
    my.exec(&format!(
        "CREATE TABLE `{topic}` (id BIGINT NOT NULL PRIMARY KEY, v VARCHAR(5)); \
         INSERT INTO `{topic}` VALUES (1, 'old')"
    ))
    .await;
    let msg = |id: i64, v: &str| {
        json!({"schema": {"type": "struct", "fields": [
                {"type": "int64", "optional": false, "field": "id"},
                {"type": "string", "optional": true, "field": "v"}], "optional": false, "name": "d"},
            "payload": {"id": id, "v": v}})
        .to_string()
    };
    let (m2, m1, m3) = (msg(2, "two"), msg(1, "dup"), msg(3, "three"));
    kcat_produce(&topic, &[(None, &m2), (None, &m1), (None, &m3)]);
    // errors_tolerance = none: the duplicate stops the sink naming it; the record before it is applied.
    let port = free_port();
    let name = format!("{tag}_none");
    // (auto_evolve would widen VARCHAR(5) for the long value below.)
    let cfg = sink_config(&name, &my.url(), &topic, "")
        .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\""))
        .replace("auto_evolve = true", "auto_evolve = false");
    let mut d = Daemon::start(&cfg);
    let status = wait_for("the sink to fail", Duration::from_secs(60), || async {
        let s = http_get(port, &format!("/connectors/{name}/status")).await;
        s.contains("FAILED").then_some(s)
    })
    .await;
    assert!(
        status.contains("Duplicate") && status.contains(&format!("record {topic}[0]@1")),
        "status names the duplicate and its record: {status}"
    );
    let rows = my
        .rows(&format!("SELECT id, v FROM `{topic}` ORDER BY id"))
        .await;
    assert_eq!(rows, [["1", "old"], ["2", "two"]]);
    d.stop();
    // errors_tolerance = all (another sink, from offset 0): the duplicates (record 2 was
    // applied by the sink above) and the too-long value are dead letters, the rest applied.
    let long = msg(4, "toolong");
    let m5 = msg(5, "five");
    kcat_produce(&topic, &[(None, &long), (None, &m5)]);
    let extra = format!("errors_tolerance = \"all\"\ndlq_topic = \"{dlq}\"");
    let cfg = sink_config(&format!("{tag}_all"), &my.url(), &topic, &extra)
        .replace("auto_evolve = true", "auto_evolve = false");
    let mut d = Daemon::start(&cfg);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = kcat_lines(&dlq, "%s|%h\n");
        if lines.len() >= 3 && my.count(&topic).await == Some(4) {
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "dead letters {lines:?}, rows {:?}; log:\n{}",
            my.rows(&format!("SELECT id, v FROM `{topic}` ORDER BY id"))
                .await,
            d.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let rows = my
        .rows(&format!("SELECT id, v FROM `{topic}` ORDER BY id"))
        .await;
    assert_eq!(
        rows,
        [["1", "old"], ["2", "two"], ["3", "three"], ["5", "five"]]
    );
    let out = lines.join("\n");
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines[0].contains("\"id\":2") && lines[0].contains("Duplicate"),
        "{out}"
    );
    assert!(
        lines[1].contains("\"id\":1") && lines[1].contains("Duplicate"),
        "{out}"
    );
    assert!(
        lines[2].contains("\"id\":4") && lines[2].contains("too long"),
        "{out}"
    );
    assert_eq!(d.stop(), 0);
}
