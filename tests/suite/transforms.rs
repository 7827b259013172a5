//! Sluice's transforms against Kafka Connect's own: each case runs the same
//! records through Connect's classes (`tests/java/TransformCheck.java`, with
//! Kafka 4.1.1's connect-transforms and Debezium 3.6.1's
//! `ExtractNewRecordState`) and through `sluice::transforms::Chain`, and the
//! outputs (topic, key, value as JsonConverter writes them, headers as
//! `SimpleHeaderConverter` writes them, or a drop, or an error) must be
//! identical, byte for byte.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sluice::transforms::{Chain, Data, Record};

use super::debezium_takeover::debezium_libs;
use crate::support::*;

const JAVA_SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/java/TransformCheck.java"
);

fn classpath() -> &'static str {
    static CP: OnceLock<String> = OnceLock::new();
    CP.get_or_init(|| {
        let libs = format!("{}/*", debezium_libs().display());
        let classes = scratch("transform-java");
        let out = Command::new("javac")
            .args(["-Xlint:none", "-d"])
            .arg(&classes)
            .args(["-cp", &libs, JAVA_SOURCE])
            .output()
            .expect("javac is installed");
        assert!(
            out.status.success(),
            "javac failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        format!("{}:{libs}", classes.display())
    })
}

/// One input record: topic, partition, offset, timestamp, key, value.
struct In<'a>(&'a str, i32, i64, Option<i64>, &'a str, &'a str);

fn line(r: &In<'_>) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\t{}\n",
        r.0,
        r.1,
        r.2,
        r.3.map(|t| t.to_string()).unwrap_or_default(),
        r.4,
        r.5
    )
}

/// Connect's output for each of `props` (`.properties` texts) over `records`.
fn connect(props: &[String], mode: &str, records: &[In<'_>]) -> Vec<Vec<String>> {
    let dir = scratch("transform-case");
    let files: Vec<std::path::PathBuf> = props
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let file = dir.join(format!("{i}.properties"));
            std::fs::write(&file, p).expect("props");
            file
        })
        .collect();
    let mut child = Command::new("java")
        .args(["-cp", classpath(), "TransformCheck", mode])
        .args(&files)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java");
    let input: String = records.iter().map(line).collect();
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("java");
    writer.join().expect("join").expect("write");
    assert!(
        out.status.success(),
        "TransformCheck failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cases = vec![Vec::new()];
    for l in text.lines() {
        if l == "----" {
            cases.push(Vec::new());
        } else if let Some(last) = cases.last_mut() {
            last.push(l.to_owned());
        }
    }
    cases.pop();
    assert_eq!(
        cases.len(),
        props.len(),
        "one output per props file:\n{text}"
    );
    cases
}

/// Sluice's output for the same, in the same form.
fn sluice_out(props: &str, mode: &str, records: &[In<'_>]) -> Vec<String> {
    let mut map = BTreeMap::new();
    let (mut transforms, mut predicates) = (Vec::new(), Vec::new());
    for l in props.lines().filter(|l| !l.trim().is_empty()) {
        let (k, v) = l.split_once('=').expect("key=value");
        // `.properties` escapes: only `\\` is used here.
        let v = &v.replace("\\\\", "\\");
        let list = || {
            v.split(',')
                .map(|s| s.trim().to_owned())
                .collect::<Vec<_>>()
        };
        match k {
            "transforms" => transforms = list(),
            "predicates" => predicates = list(),
            _ => {
                map.insert(k.to_owned(), v.to_owned());
            }
        }
    }
    let chain = match Chain::new(&transforms, &predicates, &map) {
        Ok(c) => c,
        Err(e) => return vec![format!("CONFIG {e}")],
    };
    let sink = mode == "sink";
    records
        .iter()
        .map(|r| {
            let data = |s: &str, what| {
                if s.is_empty() {
                    None
                } else {
                    Data::parse(s.as_bytes(), what).expect("test input parses")
                }
            };
            let rec = Record {
                topic: r.0.to_owned(),
                partition: sink.then_some(r.1),
                offset: sink.then_some(r.2),
                timestamp: if sink { r.3 } else { None },
                key: data(r.4, "key"),
                value: data(r.5, "value"),
                headers: Vec::new(),
            };
            match chain.apply(rec) {
                Err(e) => format!("ERROR {e}"),
                Ok(None) => "DROP".into(),
                Ok(Some(out)) => {
                    let render = |d: &Option<Data>| match d {
                        None => String::new(),
                        Some(d) => d.render(),
                    };
                    let headers: Vec<String> = out
                        .headers
                        .iter()
                        .map(|h| match &h.value {
                            Some(v) => format!("{}={}", h.key, String::from_utf8_lossy(v)),
                            None => h.key.clone(),
                        })
                        .collect();
                    format!(
                        "{}\t{}\t{}\t{}",
                        out.topic,
                        render(&out.key),
                        render(&out.value),
                        headers.join(",")
                    )
                }
            }
        })
        .collect()
}

/// Both sides agree line by line, for each of `props` (errors and config
/// refusals by kind only: the messages are each side's own).
fn same_all(props: &[String], mode: &str, records: &[In<'_>]) {
    let kind = |l: &str| {
        if l.starts_with("ERROR ") {
            "ERROR".to_owned()
        } else if l.starts_with("CONFIG ") {
            "CONFIG".to_owned()
        } else {
            l.to_owned()
        }
    };
    for (props, want) in props.iter().zip(connect(props, mode, records)) {
        let got = sluice_out(props, mode, records);
        let (w, g): (Vec<String>, Vec<String>) = (
            want.iter().map(|l| kind(l)).collect(),
            got.iter().map(|l| kind(l)).collect(),
        );
        if w != g {
            let i = w
                .iter()
                .zip(&g)
                .position(|(a, b)| a != b)
                .unwrap_or(w.len().min(g.len()));
            panic!(
                "props:\n{props}\nmode {mode}, record {i} ({} vs {} lines):\nConnect: {}\nSluice:  {}",
                w.len(),
                g.len(),
                want.get(i).map_or("<none>", String::as_str),
                got.get(i).map_or("<none>", String::as_str)
            );
        }
    }
}

fn same(props: &str, mode: &str, records: &[In<'_>]) {
    same_all(&[props.to_owned()], mode, records);
}

// ---- inputs ----

const ROW: &str = r#"{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"},{"type":"string","optional":true,"default":"dflt","field":"s"},{"type":"double","optional":true,"field":"d"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"ts"}],"optional":true,"name":"shop.inv.t.Value","field":"FIELD"}"#;
const SOURCE: &str = r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"table"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false","field":"snapshot"}],"optional":false,"name":"io.debezium.connector.mysql.Source","field":"source"}"#;
const KEY: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"shop.inv.t.Key"},"payload":{"id":ID}}"#;

fn envelope(op: &str, before: &str, after: &str) -> String {
    let schema = format!(
        r#"{{"type":"struct","fields":[{},{},{SOURCE},{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}}],"optional":false,"name":"shop.inv.t.Envelope","version":2}}"#,
        ROW.replace("FIELD", "before"),
        ROW.replace("FIELD", "after")
    );
    format!(
        r#"{{"schema":{schema},"payload":{{"before":{before},"after":{after},"source":{{"version":"3.6.1.Final","db":"inv","table":"t","ts_ms":1700000000000,"snapshot":"false"}},"op":"{op}","ts_ms":1700000000123}}}}"#
    )
}

fn key(id: i64) -> String {
    KEY.replace("ID", &id.to_string())
}

/// A create, an update, a delete and its tombstone, a snapshot read and a
/// heartbeat-like record without an envelope.
fn change_events() -> Vec<(String, String)> {
    let row = |id: i64, s: &str| format!(r#"{{"id":{id},"s":{s},"d":1.5e-7,"ts":-1}}"#);
    vec![
        (key(1), envelope("c", "null", &row(1, "null"))),
        (key(1), envelope("u", &row(1, "null"), &row(1, "\"x\""))),
        (key(1), envelope("d", &row(1, "\"x\""), "null")),
        (key(1), String::new()),
        (key(2), envelope("r", "null", &row(2, "\"y\""))),
        (
            String::new(),
            r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"ts_ms"}],"optional":false,"name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms":5}}"#.into(),
        ),
    ]
}

fn records(events: &[(String, String)]) -> Vec<In<'_>> {
    events
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            In(
                "shop.inv.t",
                0,
                i as i64,
                Some(1_700_000_000_000 + i as i64),
                k,
                v,
            )
        })
        .collect()
}

const UNWRAP: &str = "transforms.u.type=io.debezium.transforms.ExtractNewRecordState\n";

#[test]
fn extract_new_record_state_matches_debezium_in_every_delete_mode() {
    let events = change_events();
    let recs = records(&events);
    let mut cases = Vec::new();
    for mode in [
        "",
        "drop",
        "tombstone",
        "rewrite",
        "rewrite-with-tombstone",
        "delete-to-tombstone",
    ] {
        let setting = if mode.is_empty() {
            String::new()
        } else {
            format!("transforms.u.delete.tombstone.handling.mode={mode}\n")
        };
        for extra in [
            "",
            "transforms.u.add.fields=op,table,source.ts_ms,ts_ms:EVENT_TS,snapshot,nope\ntransforms.u.add.headers=op,db,source.snapshot\n",
            "transforms.u.replace.null.with.default=false\ntransforms.u.add.fields.prefix=meta_\ntransforms.u.add.fields=version\n",
        ] {
            cases.push(format!("transforms=u\n{UNWRAP}{setting}{extra}"));
        }
    }
    same_all(&cases, "source", &recs);
    same_all(&cases, "sink", &recs);
    same(
        &format!("transforms=u\n{UNWRAP}transforms.u.route.by.field=s\n"),
        "source",
        &recs[1..2],
    );
}

#[test]
fn unwrap_then_route_rename_and_insert_as_a_jdbc_sink_chain_does() {
    let events = change_events();
    let recs = records(&events);
    let props = format!(
        "transforms=u,route,rf,ins\n{UNWRAP}\
         transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter\n\
         transforms.route.regex=([^.]+)\\\\.([^.]+)\\\\.([^.]+)\n\
         transforms.route.replacement=$3_$21copy\n\
         transforms.rf.type=org.apache.kafka.connect.transforms.ReplaceField$Value\n\
         transforms.rf.exclude=d\n\
         transforms.rf.renames=s:label,ts:changed_at\n\
         transforms.ins.type=org.apache.kafka.connect.transforms.InsertField$Value\n\
         transforms.ins.topic.field=src_topic!\n\
         transforms.ins.partition.field=p\n\
         transforms.ins.offset.field=o?\n\
         transforms.ins.timestamp.field=kts\n\
         transforms.ins.static.field=origin\n\
         transforms.ins.static.value=sluice\n"
    );
    same(&props, "sink", &recs);
    // On the source side a record has no offset: Connect refuses offset.field.
    same(&props, "source", &recs);
    let props = "transforms=rk\n\
         transforms.rk.type=org.apache.kafka.connect.transforms.ReplaceField$Key\n\
         transforms.rk.include=id,other\n\
         transforms.rk.renames=id:order_id\n";
    same(props, "sink", &recs);
}

/// A flat record with one field of each kind the field transforms treat differently.
fn flat(values: &str) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}},{{"type":"string","optional":true,"default":"dflt","field":"s"}},{{"type":"int32","optional":true,"field":"n"}},{{"type":"int8","optional":true,"field":"tiny"}},{{"type":"float","optional":true,"field":"f"}},{{"type":"double","optional":true,"field":"d"}},{{"type":"boolean","optional":false,"field":"flag"}},{{"type":"bytes","optional":true,"field":"b"}},{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{{"scale":"0"}},"field":"dec0"}},{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{{"scale":"2"}},"field":"dec2"}},{{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"ts"}},{{"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"}},{{"type":"int32","optional":true,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"tod"}},{{"type":"int64","optional":true,"field":"unix"}},{{"type":"string","optional":true,"field":"text"}},{{"type":"array","items":{{"type":"int32","optional":false}},"optional":true,"field":"arr"}}],"optional":false,"name":"app.orders","version":4,"doc":"orders"}},"payload":{values}}}"#
    )
}

fn flat_records() -> Vec<String> {
    vec![
        flat(
            r#"{"id":1,"s":"a","n":5,"tiny":-3,"f":2.5,"d":1.0E20,"flag":true,"b":"AQI=","dec0":"Bw==","dec2":"AQ==","ts":1700000000123,"day":19000,"tod":3723004,"unix":1700000000123,"text":"2024-02-29T23:59:58.5+0100","arr":[1,2]}"#,
        ),
        flat(
            r#"{"id":2,"s":null,"n":null,"tiny":null,"f":null,"d":null,"flag":false,"b":null,"dec0":null,"dec2":null,"ts":-86399999,"day":-1,"tod":null,"unix":-1500,"text":"1969-12-31T00:00:00.0-0000","arr":null}"#,
        ),
        String::new(),
    ]
}

/// The flat records as sink records of topic `orders`.
fn flat_inputs(values: &[String]) -> Vec<In<'_>> {
    values
        .iter()
        .map(|v| In("orders", 1, 9, None, "", v))
        .collect()
}

#[test]
fn mask_field_matches_connect_for_every_type_with_and_without_replacement() {
    let values = flat_records();
    let recs = flat_inputs(&values);
    let mut cases = Vec::new();
    for fields in ["s,n,tiny,f,d,flag,ts,day,tod,arr,dec0", "b", "dec2", "id"] {
        for replacement in ["", "12", "-7.5", "abc", "1000"] {
            let rep = if replacement.is_empty() {
                String::new()
            } else {
                format!("transforms.m.replacement={replacement}\n")
            };
            cases.push(format!(
                "transforms=m\ntransforms.m.type=org.apache.kafka.connect.transforms.MaskField$Value\ntransforms.m.fields={fields}\n{rep}"
            ));
        }
    }
    same_all(&cases, "sink", &recs);
    // Tombstones skipped by a predicate, as Connect users must.
    let props = "transforms=m\npredicates=tomb\n\
        transforms.m.type=org.apache.kafka.connect.transforms.MaskField$Value\n\
        transforms.m.fields=s\ntransforms.m.predicate=tomb\ntransforms.m.negate=true\n\
        predicates.tomb.type=org.apache.kafka.connect.transforms.predicates.RecordIsTombstone\n";
    same(props, "sink", &recs);
}

#[test]
fn timestamp_converter_matches_connect_between_every_type() {
    let values = flat_records();
    let recs = flat_inputs(&values);
    let mut cases = Vec::new();
    let formats = [
        "yyyy-MM-dd'T'HH:mm:ss.SZ",
        "yyyy-MM-dd HH:mm:ss.SSS XXX EEE MMMM a hh k",
        "yyMMddHHmmss",
    ];
    for field in ["ts", "day", "tod", "unix", "text"] {
        for target in ["string", "unix", "Date", "Time", "Timestamp"] {
            for (i, format) in formats.iter().enumerate() {
                // Other patterns only format (Java's lenient parse of text that
                // does not fit the pattern is not reproduced).
                if i > 0 && (target != "string" || field == "text") {
                    continue;
                }
                for precision in ["milliseconds", "seconds", "microseconds", "nanoseconds"] {
                    if precision != "milliseconds" && field != "unix" && target != "unix" {
                        continue;
                    }
                    cases.push(format!(
                        "transforms=c\ntransforms.c.type=org.apache.kafka.connect.transforms.TimestampConverter$Value\n\
                         transforms.c.field={field}\ntransforms.c.target.type={target}\n\
                         transforms.c.format={format}\ntransforms.c.unix.precision={precision}\n"
                    ));
                }
            }
        }
    }
    same_all(&cases, "sink", &recs);
    // The whole value, and a key.
    let whole = [In(
        "t",
        0,
        0,
        None,
        r#"{"schema":{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1},"payload":1700000000123}"#,
        r#"{"schema":{"type":"int64","optional":true},"payload":1700000000}"#,
    )];
    same(
        "transforms=v,k\n\
         transforms.v.type=org.apache.kafka.connect.transforms.TimestampConverter$Value\n\
         transforms.v.target.type=Timestamp\ntransforms.v.unix.precision=seconds\n\
         transforms.k.type=org.apache.kafka.connect.transforms.TimestampConverter$Key\n\
         transforms.k.target.type=Date\n",
        "sink",
        &whole,
    );
}

#[test]
fn filter_and_predicates_match_connect() {
    let events = change_events();
    let mut recs = records(&events);
    recs.push(In("other.topic", 0, 9, None, "", ""));
    let mut cases = Vec::new();
    for (pred, negate) in [
        ("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone\n", "false"),
        ("org.apache.kafka.connect.transforms.predicates.RecordIsTombstone\n", "true"),
        ("org.apache.kafka.connect.transforms.predicates.TopicNameMatches\npredicates.p.pattern=shop\\\\..*\n", "false"),
        ("org.apache.kafka.connect.transforms.predicates.TopicNameMatches\npredicates.p.pattern=shop\n", "true"),
    ] {
        let props = format!(
            "transforms=f,u\npredicates=p\n\
             transforms.f.type=org.apache.kafka.connect.transforms.Filter\n\
             transforms.f.predicate=p\ntransforms.f.negate={negate}\n\
             predicates.p.type={pred}{UNWRAP}\
             transforms.u.delete.tombstone.handling.mode=rewrite-with-tombstone\n"
        );
        cases.push(props);
    }
    same_all(&cases, "sink", &recs);
}

// ---- in a running pipeline ----

/// A binlog source routes its Debezium-envelope topic with `RegexRouter`;
/// a PostgreSQL sink unwraps the envelopes (`ExtractNewRecordState`, as a
/// JDBC sink does), masks a column except on tombstones, and applies
/// inserts, updates and deletes.
#[tokio::test(flavor = "multi_thread")]
async fn a_source_routes_and_a_sink_unwraps_and_masks() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "smt").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL, secret VARCHAR(20))")
        .await;
    db.exec("INSERT INTO t VALUES (1, 1, 'a'), (2, 1, 'b')")
        .await;
    let pg = Postgres::create("smt").await;
    let name = unique("smt");
    let routed = format!("{name}-orders");
    let config = format!(
        r#"{}
[[sink]]
name = "{name}-sink"
url = "{}"
topics = ["{routed}"]
table_name_format = "t_copy"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50
transforms = "unwrap,mask"
predicates = "tomb"
"transforms.unwrap.type" = "io.debezium.transforms.ExtractNewRecordState"
"transforms.mask.type" = "org.apache.kafka.connect.transforms.MaskField$Value"
"transforms.mask.fields" = "secret"
"transforms.mask.predicate" = "tomb"
"transforms.mask.negate" = true
"predicates.tomb.type" = "org.apache.kafka.connect.transforms.predicates.RecordIsTombstone"
"#,
        super::binlog::binlog_config(
            &name,
            &db.url(),
            r#"envelope = "debezium"
transforms = "route"
"transforms.route.type" = "org.apache.kafka.connect.transforms.RegexRouter"
"transforms.route.regex" = "([^.]+)\\.([^.]+)\\.t"
"transforms.route.replacement" = "$1-orders""#
        ),
        pg.url()
    );
    let mut daemon = Daemon::start(&config);
    super::binlog::wait_streaming(&daemon, 1, std::time::Duration::from_secs(120)).await;
    db.exec("INSERT INTO t VALUES (3, 1, 'c'), (4, 1, 'd'); UPDATE t SET seq = 2, secret = 'z' WHERE id = 2; DELETE FROM t WHERE id = 1")
        .await;
    let want = vec![
        vec!["2".to_owned(), "2".to_owned(), String::new()],
        vec!["3".to_owned(), "1".to_owned(), String::new()],
        vec!["4".to_owned(), "1".to_owned(), String::new()],
    ];
    wait_for(
        "the sink table",
        std::time::Duration::from_secs(120),
        || async {
            let got = pg
                .try_rows("SELECT id::text, seq::text, secret FROM t_copy ORDER BY id")
                .await
                .unwrap_or_default();
            (got == want).then_some(())
        },
    )
    .await;
    // Everything went to the routed topic, in Debezium's envelope; the
    // table's own topic was never written.
    let messages = kcat_read(&routed);
    assert!(
        messages
            .iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| v["payload"]["op"] == "d")),
        "the routed topic holds the delete envelope ({} messages)",
        messages.len()
    );
    assert!(
        messages.iter().any(|(_, v)| v.is_none()),
        "the routed topic holds the delete's tombstone"
    );
    assert!(kcat_read(&format!("{name}.{}.t", db.name)).is_empty());
    daemon.stop();
}

#[test]
fn a_bad_transform_key_is_refused_by_name() {
    let config = super::binlog::binlog_config(
        "smtbad",
        "mysql://root@127.0.0.1:3306/x",
        r#"transforms = "route"
"transforms.route.type" = "org.apache.kafka.connect.transforms.RegexRouter"
"transforms.route.regex" = "(.*)"
"transforms.route.replacement" = "x"
"transforms.route.colour" = "red""#,
    );
    let path = write_config(&config);
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("utf8")]);
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("transforms.route.colour"), "{out}");
}
