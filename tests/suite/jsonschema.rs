//! JSON Schema through the real Schema Registry (issue 19, `json_schema`):
//! - A binlog source on MariaDB writes the type matrix with
//!   `key_converter` / `value_converter = "json_schema"`; Python's
//!   `jsonschema` validates every key and value against the schema fetched
//!   by id from the registry (which must say `"schemaType": "JSON"`), and
//!   the sinks apply the topic into MySQL, MariaDB and PostgreSQL with target
//!   = source (the Avro matrix's helpers, with the converter swapped).
//! - An application-style producer registers a plain JSON Schema over REST
//!   and writes wire-format messages with kcat; the sink applies them into
//!   SQLite, and a body that does not match its schema or an Avro schema id
//!   on the JSON Schema topic go to the dead-letter topic with the reason.

use std::time::Duration;

use super::avro::{registry_head, topic_through_python};
use super::avro_sink::{produce_with_python, the_matrix_reaches_every_target};
use crate::support::*;

/// Reads kcat's `%K %S\n%k%s` framing from stdin and validates every
/// wire-format key and value with `jsonschema` (Draft 7) against the schema
/// fetched by id; prints `{"keys": n, "values": n, "ids": [...], "titles": [...]}`.
const VALIDATOR: &str = r#"
import json, struct, sys, urllib.request
import jsonschema

REGISTRY = sys.argv[1]
cache = {}

def schema(sid):
    if sid not in cache:
        with urllib.request.urlopen(f"{REGISTRY}/schemas/ids/{sid}") as r:
            answer = json.load(r)
        assert answer.get("schemaType") == "JSON", f"id {sid}: {answer.get('schemaType')}"
        s = json.loads(answer["schema"])
        jsonschema.Draft7Validator.check_schema(s)
        cache[sid] = s
    return cache[sid]

counts = {"keys": 0, "values": 0}
titles = set()
def check(b, what):
    if b is None:
        return
    assert b[0] == 0, f"{what}: magic byte {b[0]}"
    sid = struct.unpack(">I", b[1:5])[0]
    s = schema(sid)
    body = json.loads(b[5:])
    assert "schema" not in body or "payload" not in body, f"{what}: a Connect wrapper"
    jsonschema.Draft7Validator(s).validate(body)
    titles.add(s.get("title"))
    counts[what] += 1

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
    check(key, "keys")
    check(val, "values")
print(json.dumps(dict(counts, ids=sorted(cache), titles=sorted(t for t in titles if t))))
"#;

/// Validates every committed message of `topic` with Python's `jsonschema`.
fn validate_topic(topic: &str) -> serde_json::Value {
    let out = topic_through_python(
        topic,
        "jsonschema-validator",
        VALIDATOR,
        "jsonschema refused a message of",
    );
    serde_json::from_slice(&out).expect("validator output")
}

async fn the_json_schema_matrix(envelope: &str) {
    let topic = the_matrix_reaches_every_target(envelope, "json_schema").await;
    let seen = validate_topic(&topic);
    // The matrix rows, an update, a delete (its tombstone has no value) and one insert.
    assert!(
        seen["values"].as_u64().unwrap_or(0) >= 5,
        "values validated: {seen}"
    );
    assert!(seen["keys"].as_u64() >= seen["values"].as_u64(), "{seen}");
    // The ALTER TABLE registered a second value schema.
    assert!(seen["ids"].as_array().map_or(0, Vec::len) >= 3, "{seen}");
    // Every schema is titled with its Connect name.
    assert!(
        seen["titles"].as_array().is_some_and(|t| !t.is_empty()),
        "{seen}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn flat_json_schema_from_the_binlog_validates_and_reaches_every_target() {
    the_json_schema_matrix("flat").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_json_schema_from_the_binlog_validates_and_reaches_every_target() {
    the_json_schema_matrix("debezium").await;
}

/// An application: registers a plain JSON Schema (and an Avro one, for a
/// wrong-type record) over REST and writes one wire-format message per file.
const PRODUCER: &str = r#"
import json, os, struct, sys, urllib.request

registry, topic, outdir = sys.argv[1:4]

def register(subject, schema, schema_type):
    body = {"schema": json.dumps(schema)}
    if schema_type:
        body["schemaType"] = schema_type
    req = urllib.request.Request(f"{registry}/subjects/{subject}/versions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]

customer = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Customer",
    "type": "object", "required": ["id", "name"], "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"},
        "score": {"type": "number"}, "vip": {"type": ["boolean", "null"]}}}
sid = register(f"{topic}-value", customer, "JSON")
aid = register(f"{topic}-other-value", {"type": "record", "name": "X",
    "fields": [{"name": "id", "type": "long"}]}, None)

def frame(i, body):
    return b"\0" + struct.pack(">I", i) + json.dumps(body).encode()

messages = [
    frame(sid, {"id": 1, "name": "ann", "score": 2.5, "vip": True}),
    frame(sid, {"id": 2, "name": "bob"}),
    frame(sid, {"id": "3", "name": "not an integer id"}),
    frame(aid, {"id": 4}),
    frame(sid, {"id": 1, "name": "ann b", "score": -1, "vip": None}),
]
for n, m in enumerate(messages):
    with open(os.path.join(outdir, f"{n:02}.bin"), "wb") as f:
        f.write(m)
print(json.dumps([sid, aid]))
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_application_json_schema_topic_is_applied_into_sqlite() {
    let name = unique("jsapp");
    let topic = format!("{name}_customers");
    let dlq = format!("{name}_dlq");
    let sqlite = scratch("jsapp").join("t.db");
    create_topic_max_bytes(&topic, 1 << 20).await;
    let ids = produce_with_python(&topic, "jsapp-producer", PRODUCER, &[]);

    let config = format!(
        r#"{head}
[[sink]]
name = "{name}"
url = "sqlite://{db}"
topics = ["{topic}"]
table_name_format = "customers"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_value"
pk_fields = ["id"]
max_wait_ms = 50
errors_tolerance = "all"
dlq_topic = "{dlq}"
"value.converter" = "io.confluent.connect.json.JsonSchemaConverter"
"#,
        head = registry_head(),
        db = sqlite.display(),
    );
    let mut daemon = Daemon::start(&config);
    let sql = "SELECT id, name, coalesce(score, 'NULL'), coalesce(vip, 'NULL') FROM customers ORDER BY id";
    let rows = wait_for(
        "both customers, the update applied",
        Duration::from_secs(60),
        || async {
            let rows = super::sqlite_sink::sqlite_rows(&sqlite, sql)?;
            (rows.len() == 2 && rows[0][1] == "ann b").then_some(rows)
        },
    )
    .await;
    let reasons = wait_for("two dead letters", Duration::from_secs(30), || async {
        let lines = kcat_lines(&dlq, "%h\n");
        (lines.len() >= 2).then_some(lines)
    })
    .await;
    daemon.stop();
    assert_eq!(
        rows,
        vec![
            vec!["1", "ann b", "-1", "NULL"],
            vec!["2", "bob", "NULL", "NULL"],
        ]
        .into_iter()
        .map(|r| r.into_iter().map(str::to_string).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    for line in &reasons {
        assert!(
            line.contains(
                "__connect.errors.class.name=io.confluent.connect.json.JsonSchemaConverter"
            ),
            "{line}"
        );
    }
    let all = reasons.join("\n");
    assert!(
        all.contains(&format!("id {}", ids[0])) && all.contains("expected an integer"),
        "the mismatching body is named: {all}"
    );
    assert!(
        all.contains(&format!("schema id {} is a AVRO schema", ids[1])),
        "the Avro schema under json_schema is named: {all}"
    );
}
