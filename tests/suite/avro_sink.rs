//! Avro into sinks through the real Schema Registry (issue 19, items 4 and 5):
//! - A binlog source on MariaDB writes the type matrix as Avro (both
//!   envelopes), and three sinks of the same daemon apply it into MySQL 9
//!   (Connect's converter keys), MariaDB and PostgreSQL: the
//!   target rows equal the source rows as the JSON matrix compares them,
//!   through an UPDATE, a DELETE and an ALTER TABLE ADD COLUMN
//!   (`auto_evolve`).
//! - An independent producer: Python's `fastavro` writes wire-format values
//!   with schemas it registered through the registry's REST API (a second,
//!   compatible version adds a field), and the sink applies them.
//! - Records the sink cannot read — an unknown schema id, a JSON message on
//!   an Avro topic, a body that does not match its schema — go to the
//!   dead-letter topic with a reason naming the id and the record; a
//!   registry that cannot be reached is retried, and nothing is skipped.

use std::time::Duration;

use super::avro::{registry_head, REGISTRY};
use super::binlog::{binlog_config, wait_streaming};
use super::binlog_types::{canonical_rows, differences, exec_permissive, matrix, utc_rows};
use crate::support::*;

/// The matrix's targets: MySQL-family servers by tag, and PostgreSQL.
struct Targets {
    mysql: Vec<(&'static str, MySqlServer)>,
    pg: Postgres,
}

impl Targets {
    async fn new() -> Targets {
        Targets {
            mysql: vec![
                (
                    "mysql",
                    MySqlServer::new(MySqlFlavor::MySql, "avsink_tgt").await,
                ),
                (
                    "mariadb",
                    MySqlServer::new(MySqlFlavor::MariaDb, "avsink_tgt").await,
                ),
            ],
            pg: Postgres::create("avsink_tgt").await,
        }
    }

    /// Each target's tag and URL.
    fn urls(&self) -> Vec<(&'static str, String)> {
        let mut out: Vec<_> = self.mysql.iter().map(|(t, db)| (*t, db.url())).collect();
        out.push(("postgres", self.pg.url()));
        out
    }

    /// `added` of row 1000 in every target, once all have it.
    async fn added(&self) -> Option<Vec<String>> {
        let mut out = Vec::new();
        for (_, db) in &self.mysql {
            let sql = "SELECT CAST(added AS CHAR) FROM t WHERE id = 1000";
            out.push(db.try_rows(sql).await?.first()?.first()?.clone());
        }
        let sql = "SELECT added::text FROM t WHERE id = 1000";
        out.push(self.pg.try_rows(sql).await?.first()?.first()?.clone());
        Some(out)
    }

    /// Every target's rows as canonical text, by tag.
    async fn rows(&self) -> Vec<(&'static str, Vec<(String, Vec<String>)>)> {
        let mut out = Vec::new();
        for (tag, db) in &self.mysql {
            let rows = utc_rows(&db.pool, &matrix::mysql_select("t", false)).await;
            out.push((*tag, canonical_rows(rows)));
        }
        let rows = self.pg.rows(&matrix::pg_select("t")).await;
        out.push(("postgres", canonical_rows(rows)));
        out
    }
}

/// A binlog source writing `converter` (`avro` or `json_schema`) in
/// `envelope` and one sink per target; the MySQL one with Connect's converter
/// keys, the others with Sluice's and `[schema_registry]`.
fn matrix_config(
    name: &str,
    db: &MySqlServer,
    targets: &Targets,
    envelope: &str,
    converter: &str,
) -> String {
    let source = binlog_config(
        name,
        &db.url(),
        &format!(
            "tables = [\"t\"]\nenvelope = \"{envelope}\"\nkey_converter = \"{converter}\"\nvalue_converter = \"{converter}\""
        ),
    );
    let topic = format!("{name}.{}.t", db.name);
    let class = match converter {
        "json_schema" => "io.confluent.connect.json.JsonSchemaConverter",
        _ => "io.confluent.connect.avro.AvroConverter",
    };
    let connect_keys = format!(
        r#""key.converter" = "{class}"
"key.converter.schema.registry.url" = "{REGISTRY}"
"value.converter" = "{class}"
"value.converter.schema.registry.url" = "{REGISTRY}""#
    );
    let mut out = source;
    for (tag, url) in targets.urls() {
        let converters = match tag {
            "mysql" => connect_keys.clone(),
            _ => format!("key_converter = \"{converter}\"\nvalue_converter = \"{converter}\""),
        };
        out.push_str(&format!(
            r#"
[[sink]]
name = "{name}_{tag}"
url = "{url}"
topics = ["{topic}"]
table_name_format = "t"
auto_create = true
auto_evolve = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50
errors_tolerance = "all"
dlq_topic = "{name}_{tag}_dlq"
{converters}
"#
        ));
    }
    out + &format!("\n[schema_registry]\nurl = \"{REGISTRY}\"\n")
}

/// The binlog matrix through `converter` (`avro` or `json_schema`) into
/// every target, compared with the source; returns the topic.
pub(crate) async fn the_matrix_reaches_every_target(envelope: &str, converter: &str) -> String {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "avsink").await;
    let targets = Targets::new().await;
    db.exec(&matrix::create_table("t")).await;
    let name = unique("avsink");
    // The sinks subscribe before the source writes.
    create_topic_max_bytes(&format!("{name}.{}.t", db.name), 16 << 20).await;
    let mut daemon = Daemon::start(&matrix_config(&name, &db, &targets, envelope, converter));
    wait_streaming(&daemon, 1, Duration::from_secs(60)).await;

    // Every change comes from the binlog: the matrix rows, an update, a
    // delete, then a column added (optional: BACKWARD compatible).
    let rows = matrix::rows_in_day(MySqlFlavor::MariaDb);
    exec_permissive(&db, &matrix::insert_sql("t", &rows, 0)).await;
    let (first, last) = (rows[0].id, rows[rows.len() - 1].id);
    db.exec(&format!(
        "UPDATE t SET i = 7, vc = 'updated', d10 = -0.5 WHERE id = {first}"
    ))
    .await;
    db.exec(&format!("DELETE FROM t WHERE id = {last}")).await;
    db.exec("ALTER TABLE t ADD COLUMN added INT").await;
    db.exec("INSERT INTO t (id, added) VALUES (1000, 6)").await;

    let log_tail = || {
        let l = daemon.log_text();
        l.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    };
    let added = wait_for(
        "the last row in every target",
        Duration::from_secs(90),
        || async {
            if daemon.log_text().contains(" ERROR ") {
                panic!("the daemon logged an error:\n{}", log_tail());
            }
            targets.added().await
        },
    )
    .await;
    assert_eq!(added, vec!["6"; 3], "the added column");
    // The row deleted before the last insert is gone, so every target is current.
    let source = canonical_rows(utc_rows(&db.pool, &matrix::mysql_select("t", true)).await);
    assert_eq!(source.len(), rows.len(), "the source: rows - 1 deleted + 1");
    let mut diffs = Vec::new();
    for (tag, got) in targets.rows().await {
        assert_eq!(
            got.len(),
            source.len(),
            "{tag} holds every row, the deleted one not"
        );
        diffs.extend(differences(tag, &source, &got));
    }
    assert!(diffs.is_empty(), "values differ:\n{}", diffs.join("\n"));
    daemon.stop();
    for (tag, _) in targets.urls() {
        assert!(
            kcat_read(&format!("{name}_{tag}_dlq")).is_empty(),
            "nothing was dead-lettered by the {tag} sink"
        );
    }
    format!("{name}.{}.t", db.name)
}

#[tokio::test(flavor = "multi_thread")]
async fn flat_avro_from_the_binlog_reaches_mariadb_mysql_and_postgres_exactly() {
    the_matrix_reaches_every_target("flat", "avro").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn debezium_avro_from_the_binlog_reaches_mariadb_mysql_and_postgres_exactly() {
    the_matrix_reaches_every_target("debezium", "avro").await;
}

/// An independent producer: registers Avro schemas through the registry's
/// REST API (Confluent's, under the `<topic>-value` subject) and writes one
/// wire-format message per file with fastavro. `good` writes two orders
/// under version 1 and an update of order 1 under version 2 (BACKWARD
/// compatible: a new optional field and a new required one with a default); `bad` writes a good order, an unknown schema
/// id, a JSON message, a truncated body and another good order. Prints the
/// registered ids.
const PRODUCER: &str = r#"
import datetime, decimal, io, json, os, struct, sys, urllib.request
import fastavro

registry, topic, outdir, mode = sys.argv[1:5]

def register(schema):
    body = json.dumps({"schema": json.dumps(schema)}).encode()
    req = urllib.request.Request(f"{registry}/subjects/{topic}-value/versions", data=body,
        headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}, method="POST")
    with urllib.request.urlopen(req) as r:
        return json.load(r)["id"]

v1 = {"type": "record", "name": "Order", "namespace": "shop.orders", "fields": [
    {"name": "id", "type": "long"},
    {"name": "customer", "type": "string"},
    {"name": "note", "type": ["null", "string"], "default": None},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
    {"name": "placed", "type": {"type": "long", "logicalType": "timestamp-millis"}},
    {"name": "due", "type": ["null", {"type": "int", "logicalType": "date"}], "default": None},
    {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID"]}},
    {"name": "weight", "type": "double"},
    {"name": "gift", "type": "boolean"},
]}
v2 = dict(v1, fields=v1["fields"] + [
    {"name": "channel", "type": ["null", "string"], "default": None},
    {"name": "qty", "type": "int", "default": 1},
])

def frame(sid, schema, record):
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), record)
    return b"\0" + struct.pack(">I", sid) + out.getvalue()

utc = datetime.timezone.utc
def order(i, customer, **kw):
    o = {"id": i, "customer": customer, "note": None, "price": decimal.Decimal("12.50"),
         "placed": datetime.datetime(2024, 2, 29, 23, 59, 58, 123000, tzinfo=utc),
         "due": datetime.date(2024, 3, 1), "status": "NEW", "weight": 1.25, "gift": False}
    o.update(kw)
    return o

id1 = register(v1)
if mode == "good":
    id2 = register(v2)
    messages = [
        frame(id1, v1, order(1, "ann", note="first")),
        frame(id1, v1, order(2, "bob", price=decimal.Decimal("-0.05"), due=None, gift=True)),
        frame(id2, v2, order(1, "ann", status="PAID", price=decimal.Decimal("99999999.99"), channel="web", qty=3)),
    ]
    ids = [id1, id2]
else:
    good = frame(id1, v1, order(1, "ann"))
    messages = [
        good,
        b"\0" + struct.pack(">I", 2147483000) + good[5:],
        b'{"schema":null,"payload":{"id":3}}',
        good[:-3],
        frame(id1, v1, order(2, "bob")),
    ]
    ids = [id1]
for n, m in enumerate(messages):
    with open(os.path.join(outdir, f"{n:02}.bin"), "wb") as f:
        f.write(m)
print(json.dumps(ids))
"#;

/// Runs [`PRODUCER`] in `mode` for `topic` and produces its messages with
/// kcat; returns the registered ids.
fn produce_with_fastavro(topic: &str, mode: &str) -> Vec<u32> {
    produce_with_python(topic, "avro-producer", PRODUCER, &[mode])
}

/// Runs the Python producer `script` (named `name`) with the registry's URL,
/// `topic`, a scratch directory and `args`; it writes one `.bin` file per
/// message there, which kcat produces to `topic` in name order. Returns the
/// schema ids the script prints (a JSON list).
pub(crate) fn produce_with_python(
    topic: &str,
    name: &str,
    script: &str,
    args: &[&str],
) -> Vec<u32> {
    let dir = scratch(name);
    let path = dir.join("produce.py");
    std::fs::write(&path, script).expect("write producer");
    let out = std::process::Command::new("python3")
        .arg(&path)
        .args([REGISTRY, topic])
        .arg(&dir)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the {name} failed (scripts/services.sh up installs the Python test tools):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("scratch")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    let kcat = std::process::Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", topic])
        .args(&files)
        .status()
        .expect("kcat");
    assert!(kcat.success(), "kcat produce failed");
    serde_json::from_slice(&out.stdout).expect("ids")
}

/// One producer test's names: the sink, its topic, its dead-letter topic and
/// a SQLite file.
struct Orders {
    name: String,
    topic: String,
    dlq: String,
    sqlite: std::path::PathBuf,
}

impl Orders {
    /// Fresh names, the topic created and [`PRODUCER`]'s `mode` messages in
    /// it; also returns the registered schema ids.
    async fn produced(prefix: &str, mode: &str) -> (Orders, Vec<u32>) {
        let name = unique(prefix);
        let orders = Orders {
            topic: format!("{name}_orders"),
            dlq: format!("{name}_dlq"),
            sqlite: scratch(prefix).join("t.db"),
            name,
        };
        create_topic_max_bytes(&orders.topic, 1 << 20).await;
        let ids = produce_with_fastavro(&orders.topic, mode);
        (orders, ids)
    }

    fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.sqlite.display())
    }

    /// A daemon whose sink reads Avro values into `url`'s `orders` (keys
    /// taken from the value), bad records to the dead-letter topic, plus
    /// `extra` sink lines.
    fn config(&self, url: &str, extra: &str) -> String {
        let Orders {
            name, topic, dlq, ..
        } = self;
        format!(
            r#"{head}
[[sink]]
name = "{name}"
url = "{url}"
topics = ["{topic}"]
table_name_format = "orders"
auto_create = true
auto_evolve = true
insert_mode = "upsert"
pk_mode = "record_value"
pk_fields = ["id"]
max_wait_ms = 50
errors_tolerance = "all"
dlq_topic = "{dlq}"
value_converter = "avro"
{extra}
"#,
            head = registry_head(),
        )
    }

    /// Rows of `sql` on the SQLite file, once it has `n` of them.
    async fn sqlite_rows(&self, sql: &str, n: usize) -> Vec<Vec<String>> {
        wait_for(
            &format!("{n} rows in SQLite"),
            Duration::from_secs(60),
            || async {
                let rows = super::sqlite_sink::sqlite_rows(&self.sqlite, sql)?;
                (rows.len() == n).then_some(rows)
            },
        )
        .await
    }

    /// Asserts that nothing was dead-lettered.
    fn no_dead_letters(&self) {
        assert!(kcat_read(&self.dlq).is_empty(), "nothing was dead-lettered");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn avro_from_fastavro_is_applied_into_postgres() {
    let pg = Postgres::create("avfast").await;
    let (orders, ids) = Orders::produced("avfast", "good").await;
    assert_eq!(ids.len(), 2, "two schema versions: {ids:?}");
    let mut daemon = Daemon::start(&orders.config(&pg.url(), ""));
    let sql = "SELECT id::text, customer, coalesce(note, 'NULL'), price::text, \
               to_char(placed, 'YYYY-MM-DD HH24:MI:SS.MS'), coalesce(due::text, 'NULL'), \
               status, weight::text, gift::text, coalesce(channel, 'NULL'), qty::text \
               FROM orders ORDER BY id";
    let rows = wait_for(
        "both orders, the update applied",
        Duration::from_secs(60),
        || async {
            let rows = pg.try_rows(sql).await?;
            (rows.len() == 2 && rows[0][9] == "web").then_some(rows)
        },
    )
    .await;
    daemon.stop();
    let want = [
        [
            "1",
            "ann",
            "NULL",
            "99999999.99",
            "2024-02-29 23:59:58.123",
            "2024-03-01",
            "PAID",
            "1.25",
            "false",
            "web",
            "3",
        ],
        [
            "2",
            "bob",
            "NULL",
            "-0.05",
            "2024-02-29 23:59:58.123",
            "NULL",
            "NEW",
            "1.25",
            "true",
            "NULL",
            "1",
        ],
    ];
    assert_eq!(rows, want.map(|r| r.map(str::to_string).to_vec()).to_vec());
    // The column types follow the Avro logical types.
    let types = pg
        .rows(
            "SELECT column_name, data_type FROM information_schema.columns \
             WHERE table_name = 'orders' AND column_name IN ('price', 'placed', 'due') \
             ORDER BY column_name",
        )
        .await;
    assert_eq!(
        types,
        vec![
            vec!["due".to_string(), "date".into()],
            vec!["placed".into(), "timestamp without time zone".into()],
            vec!["price".into(), "numeric".into()],
        ]
    );
    orders.no_dead_letters();
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_avro_records_go_to_the_dlq_naming_the_schema_id() {
    let (orders, _) = Orders::produced("avdlq", "bad").await;
    let mut daemon = Daemon::start(&orders.config(&orders.sqlite_url(), ""));
    let reasons = wait_for("three dead letters", Duration::from_secs(60), || async {
        let lines = kcat_lines(&orders.dlq, "%h\n");
        (lines.len() >= 3).then_some(lines)
    })
    .await;
    let rows = orders
        .sqlite_rows("SELECT id, customer FROM orders ORDER BY id", 2)
        .await;
    daemon.stop();
    assert_eq!(rows, vec![vec!["1", "ann"], vec!["2", "bob"]]);
    assert_eq!(reasons.len(), 3, "{reasons:#?}");
    for line in &reasons {
        assert!(
            line.contains("__connect.errors.stage=VALUE_CONVERTER")
                && line.contains(
                    "__connect.errors.class.name=io.confluent.connect.avro.AvroConverter"
                ),
            "{line}"
        );
    }
    let expect = [
        (
            1,
            "value schema id 2147483000 is not in the schema registry",
        ),
        (2, "not in the schema registry wire format"),
        (3, "does not match its schema"),
    ];
    for (line, (offset, reason)) in reasons.iter().zip(expect) {
        let at = format!("{}[0]@{offset}", orders.topic);
        assert!(
            line.contains(reason) && line.contains(&at),
            "the dead letter of offset {offset} names {at:?} and {reason:?}: {line}"
        );
    }
}

/// Forwards every connection to `listen` to the registry, from now on.
async fn forward_to_registry(listen: u16) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", listen))
        .await
        .expect("bind the registry's stand-in port");
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut registry) = tokio::net::TcpStream::connect("127.0.0.1:8081").await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut registry).await;
                }
            });
        }
    });
}

/// A registry that cannot be reached is the pipeline's transient error, not
/// the records': nothing is dead-lettered or skipped, and once the registry
/// answers the records are applied.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_registry_is_retried_without_losing_records() {
    let (orders, _) = Orders::produced("avdown", "good").await;
    // Nothing listens there until the forwarder starts.
    let port = free_port();
    let registry = format!(
        "\"value.converter.schema.registry.url\" = \"http://127.0.0.1:{port}/apis/ccompat/v7\""
    );
    let mut daemon = Daemon::start(&orders.config(&orders.sqlite_url(), &registry));
    wait_for("a failed lookup", Duration::from_secs(60), || async {
        let log = daemon.log_text();
        (log.contains("schema registry unavailable; retrying")
            && log.contains("pipeline failed; restarting"))
        .then_some(())
    })
    .await;
    assert!(
        super::sqlite_sink::sqlite_rows(&orders.sqlite, "SELECT id FROM orders")
            .is_none_or(|r| r.is_empty()),
        "nothing applied without the schemas"
    );
    forward_to_registry(port).await;
    let rows = orders
        .sqlite_rows(
            "SELECT id, customer, status, coalesce(channel, 'NULL') FROM orders \
             WHERE channel = 'web' OR id = 2 ORDER BY id",
            2,
        )
        .await;
    daemon.stop();
    assert_eq!(
        rows,
        vec![
            vec!["1", "ann", "PAID", "web"],
            vec!["2", "bob", "NEW", "NULL"]
        ]
    );
    orders.no_dead_letters();
}
