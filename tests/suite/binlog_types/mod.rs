//! The binlog type matrix (issue 3 item 7): every MySQL/MariaDB column type at
//! its limits, read from the binlog, through Kafka, and into a MySQL-family
//! and a PostgreSQL table by two sinks of the same daemon; every value read
//! back is compared with the source row as canonical text.
//!
//! Mappings that cannot be exact, and what the test expects instead (the
//! README's "Type mapping: binlog source" lists them too):
//! - Zero and invalid dates (`0000-00-00`, `2023-00-15`, the zero TIMESTAMP;
//!   allowed by a permissive `sql_mode`) have no Connect value: NULL in a
//!   nullable column (the epoch in a NOT NULL one), as Debezium does.
//! - Times: the matrix runs with the default `time_precision`
//!   (`adaptive_time_microseconds`, lossless): DATETIME/TIMESTAMP with up to 3
//!   fractional digits as Connect `Timestamp` (ms), with more as Debezium
//!   `MicroTimestamp`, every TIME as `MicroTime` (a TIME outside 0–24 h
//!   cannot be a Connect `Time` at all).
//! - PostgreSQL's `TIME` holds 00:00:00–24:00:00 only: rows with a negative
//!   TIME or one past 24 h are refused by PostgreSQL and go to the sink's
//!   dead-letter topic (`errors_tolerance = "all"`); MySQL/MariaDB hold them.
//! - PostgreSQL text cannot hold NUL: a row with one in a string goes to the
//!   DLQ as well (MySQL/MariaDB hold it).
//! - YEAR is an int32: year 0000 arrives as 0.
//! - BIT(64) is bytes (8, big-endian); the target column is binary.
//! - ENUM, SET and JSON are strings; latin1 text is converted to UTF-8.
//! - MySQL's JSON is binary in the binlog: Sluice renders it as MySQL prints
//!   it (same key order and spacing), so the text equals `SELECT j`.

pub(crate) mod matrix;
mod snapshot;

use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

use crate::suite::binlog::{binlog_config, binlog_ready};
use crate::support::*;
use matrix::{Kind, COLUMNS};

/// Size of the big LONGBLOB row (over one 16 MB protocol packet).
const BIG: usize = 20 * 1024 * 1024;

/// Creates `topic` allowing messages up to 64 MiB: the broker's default
/// `message.max.bytes` (1 MiB) refuses the 20 MB row's ~27 MB message.
pub async fn create_big_topic(topic: &str) {
    create_topic_max_bytes(topic, 67_108_864).await;
}

/// Runs `sql` on one connection with a UTC session and a permissive sql_mode.
pub async fn exec_permissive(db: &MySqlServer, sql: &str) {
    let mut c = db.pool.get_conn().await.expect("conn");
    c.query_drop("SET SESSION sql_mode = ''; SET SESSION time_zone = '+00:00'")
        .await
        .expect("session");
    c.query_drop(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Rows of a MySQL-family query as text in a UTC session (NULL as "NULL").
pub async fn utc_rows(pool: &mysql_async::Pool, sql: &str) -> Vec<Vec<String>> {
    let mut c = pool.get_conn().await.expect("conn");
    c.query_drop("SET SESSION time_zone = '+00:00'")
        .await
        .expect("time zone");
    let rows: Vec<mysql_async::Row> = c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.into_iter()
        .map(|r| {
            r.unwrap()
                .into_iter()
                .map(|v| match v {
                    mysql_async::Value::NULL => "NULL".to_string(),
                    mysql_async::Value::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => other.as_sql(true).trim_matches('\'').to_string(),
                })
                .collect()
        })
        .collect()
}

/// What a target must hold for a source value (already canonical): zero and
/// invalid dates become NULL (no Connect value exists for them).
fn expected_in_target(kind: Kind, source: &str) -> String {
    let invalid_date = |s: &str| {
        s.get(..10)
            .is_none_or(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err())
    };
    match kind {
        Kind::Date | Kind::DateTime if source != "NULL" && invalid_date(source) => "NULL".into(),
        _ => source.to_string(),
    }
}

/// Canonical rows: id → one text per column.
pub(crate) fn canonical_rows(rows: Vec<Vec<String>>) -> Vec<(String, Vec<String>)> {
    rows.into_iter()
        .map(|r| {
            let id = r[0].clone();
            let vals = COLUMNS
                .iter()
                .zip(&r[1..])
                .map(|(c, v)| matrix::canonical(c.kind, v))
                .collect();
            (id, vals)
        })
        .collect()
}

/// Compares a target's rows with the source's, column by column; returns every mismatch.
pub(crate) fn differences(
    target: &str,
    source: &[(String, Vec<String>)],
    got: &[(String, Vec<String>)],
) -> Vec<String> {
    let mut out = Vec::new();
    for (id, want) in source {
        let Some((_, have)) = got.iter().find(|(g, _)| g == id) else {
            out.push(format!("{target}: row {id} missing"));
            continue;
        };
        for ((c, w), h) in COLUMNS.iter().zip(want).zip(have) {
            let w = expected_in_target(c.kind, w);
            if &w != h {
                out.push(format!(
                    "{target}: row {id} column {}: want {w:?}, got {h:?}",
                    c.name
                ));
            }
        }
    }
    out
}

fn two_sinks_config(
    name: &str,
    db: &MySqlServer,
    my: &MySqlServer,
    pg: &Postgres,
    topic: &str,
) -> String {
    let source = binlog_config(name, &db.url(), "tables = [\"t\"]");
    format!(
        r#"{source}
[[sink]]
name = "{name}_my"
url = "{my_url}"
topics = ["{topic}"]
table_name_format = "t"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
max_wait_ms = 50

[[sink]]
name = "{name}_pg"
url = "{pg_url}"
topics = ["{topic}"]
table_name_format = "t"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
max_wait_ms = 50
errors_tolerance = "all"
dlq_topic = "{name}_pg_dlq"
"#,
        my_url = my.url(),
        pg_url = pg.url(),
    )
}

/// Checks the Connect JSON of a few key types in the max row (id 2) and the zero-date row (id 4).
fn check_messages(msgs: &[(Option<Json>, Option<Json>)]) {
    let by_id = |id: i64| {
        msgs.iter()
            .filter_map(|(_, v)| v.as_ref())
            .find(|v| v["payload"]["id"] == id)
            .unwrap_or_else(|| panic!("no message for id {id}"))
    };
    let field = |v: &Json, f: &str| -> Json {
        v["schema"]["fields"]
            .as_array()
            .and_then(|fs| fs.iter().find(|x| x["field"] == f).cloned())
            .unwrap_or_else(|| panic!("no field {f}"))
    };
    let max = by_id(2);
    let p = &max["payload"];
    assert_eq!(p["iu"], 4_294_967_295i64, "INT UNSIGNED max is an int64");
    assert_eq!(field(max, "iu")["type"], "int64");
    assert_eq!(field(max, "tiu")["type"], "int16");
    assert_eq!(field(max, "miu")["type"], "int32");
    assert_eq!(p["bi"], i64::MAX);
    // BIGINT UNSIGNED max: Decimal scale 0, unscaled 0x00FFFFFFFFFFFFFFFF.
    assert_eq!(p["biu"], "AP//////////");
    assert_eq!(
        field(max, "biu")["name"],
        "org.apache.kafka.connect.data.Decimal"
    );
    // 99999999.99 → unscaled 9999999999 = 0x02540BE3FF.
    assert_eq!(p["d10"], "AlQL4/8=");
    assert_eq!(field(max, "d10")["parameters"]["scale"], "2");
    assert_eq!(
        field(max, "d10")["parameters"]["connect.decimal.precision"],
        "10"
    );
    assert_eq!(field(max, "d65")["parameters"]["scale"], "30");
    assert_eq!(p["b1"], true);
    assert_eq!(field(max, "b1")["type"], "boolean");
    assert_eq!(p["b64"], "//////////8=", "BIT(64) is 8 bytes");
    assert_eq!(p["bn"], "AP8AAA==", "BINARY(4) keeps its trailing 0x00");
    assert_eq!(p["yr"], 2155);
    assert_eq!(p["e"], "ünï");
    assert_eq!(p["st"], "x,y,z");
    assert_eq!(p["l1"], "café € ÿ");
    // 2038-01-19 03:14:07.999999 UTC in µs (the default time precision:
    // more than 3 fractional digits as Micro*, up to 3 as Connect ms, TIME µs).
    assert_eq!(p["ts"], 2_147_483_647_999_999i64);
    assert_eq!(field(max, "ts")["name"], "io.debezium.time.MicroTimestamp");
    assert_eq!(p["dtm"], 253_402_300_799_999_999i64);
    assert_eq!(p["tm"], 86_399_999_999i64);
    assert_eq!(p["ts0"], 2_147_483_647_000i64, "TIMESTAMP(0) in ms");
    assert_eq!(
        field(max, "ts0")["name"],
        "org.apache.kafka.connect.data.Timestamp"
    );
    assert_eq!(p["dtm3"], 253_402_300_799_999i64, "DATETIME(3) in ms");
    assert_eq!(field(max, "tm")["name"], "io.debezium.time.MicroTime");
    assert_eq!(field(max, "tm0")["name"], "io.debezium.time.MicroTime");
    assert_eq!(field(max, "f")["type"], "float");
    assert_eq!(field(max, "dbl")["type"], "double");
    let zero = &by_id(4)["payload"];
    assert_eq!(zero["dt"], Json::Null, "zero DATE → NULL");
    assert_eq!(zero["dtm"], Json::Null, "zero DATETIME → NULL");
    assert_eq!(zero["ts"], Json::Null, "zero TIMESTAMP → NULL");
    assert_eq!(zero["yr"], 0);
    let nulls = &by_id(6)["payload"];
    for c in COLUMNS {
        assert_eq!(
            nulls[c.name],
            Json::Null,
            "column {} of the NULL row",
            c.name
        );
    }
}

async fn every_type_from_the_binlog_reaches_mysql_and_postgres_exactly(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "bltypes").await;
    let my = MySqlServer::new(flavor, "bltypes_tgt").await;
    let pg = Postgres::create("bltypes_tgt").await;
    db.exec(&matrix::create_table("t")).await;
    let name = unique("bltypes");
    let topic = format!("{name}.{}.t", db.name);
    create_big_topic(&topic).await;
    let daemon = Daemon::start(&two_sinks_config(&name, &db, &my, &pg, &topic));
    wait_for("streaming", Duration::from_secs(60), || async {
        binlog_ready(&daemon.log_text(), 1).then_some(())
    })
    .await;

    // Every row is written after the source streams: values come from the binlog.
    let in_day = matrix::rows_in_day(flavor);
    let long = matrix::rows_long_time(flavor);
    exec_permissive(&db, &matrix::insert_sql("t", &in_day, 0)).await;
    exec_permissive(&db, &matrix::insert_sql("t", &long, 0)).await;
    let big: Vec<u8> = {
        use rand::{Rng, SeedableRng};
        let mut r = rand::rngs::StdRng::seed_from_u64(7);
        (0..BIG).map(|_| r.random()).collect()
    };
    {
        let mut c = db.pool.get_conn().await.expect("conn");
        c.exec_drop("INSERT INTO t (id, lb) VALUES (10, ?)", (big,))
            .await
            .expect("insert the 20 MB row");
    }
    let total = (in_day.len() + long.len() + 1) as i64;
    let pg_rows = total - long.len() as i64;

    let log_tail = || {
        let l = daemon.log_text();
        l.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    };
    wait_for(
        "every row in both targets",
        Duration::from_secs(90),
        || async {
            let m = my.count("t").await.unwrap_or(0);
            let p = pg.count("t").await.unwrap_or(0);
            if m == total && p == pg_rows {
                return Some(());
            }
            if daemon.log_text().contains(" ERROR ") {
                panic!("the daemon logged an error:\n{}", log_tail());
            }
            None
        },
    )
    .await;
    let dlq = wait_for(
        "the long TIMEs in the PostgreSQL DLQ",
        Duration::from_secs(30),
        || async {
            let d = kcat_read(&format!("{name}_pg_dlq"));
            (d.len() == long.len()).then_some(d)
        },
    )
    .await;
    let dlq_ids: Vec<i64> = dlq
        .iter()
        .filter_map(|(_, v)| v.as_ref()?["payload"]["id"].as_i64())
        .collect();
    assert_eq!(dlq_ids, vec![7, 8, 9, 11]);

    let source = canonical_rows(utc_rows(&db.pool, &matrix::mysql_select("t", true)).await);
    assert_eq!(source.len() as i64, total);
    let in_my = canonical_rows(utc_rows(&my.pool, &matrix::mysql_select("t", false)).await);
    let in_pg = canonical_rows(pg.rows(&matrix::pg_select("t")).await);
    let pg_source: Vec<_> = source
        .iter()
        .filter(|(id, _)| !["7", "8", "9", "11"].contains(&id.as_str()))
        .cloned()
        .collect();
    let mut diffs = differences(flavor.tag(), &source, &in_my);
    diffs.extend(differences("postgres", &pg_source, &in_pg));
    assert!(diffs.is_empty(), "values differ:\n{}", diffs.join("\n"));
    let big_row = &source.iter().find(|(id, _)| id == "10").expect("big row").1;
    let lb = COLUMNS.iter().position(|c| c.name == "lb").expect("lb");
    assert!(
        big_row[lb].starts_with(&format!("{BIG}:")),
        "the 20 MB row is in the source: {}",
        big_row[lb]
    );

    check_messages(&kcat_read(&topic));
}

crate::both_flavors!(every_type_from_the_binlog_reaches_mysql_and_postgres_exactly);
