//! The same rows read by the snapshot and from the binlog give identical
//! messages (schema and payload): the in-day rows with the default
//! `time_precision` (`adaptive_time_microseconds`: the snapshot's result-set
//! precision and the binlog's table map must agree on each column's form),
//! the long and negative TIMEs with `"micros"`; and the in-day rows again with
//! `time_precision = "connect"` (millisecond `Time`/`Timestamp`).

use std::time::Duration;

use serde_json::Value as Json;

use super::{exec_permissive, matrix};
use crate::suite::binlog::{binlog_config, binlog_ready};
use crate::support::*;

/// Offset of the streamed copies' ids.
const STREAMED: i64 = 100;

/// Each snapshot row's message equals its streamed copy's (id aside).
fn assert_copies_identical(msgs: &[(Option<Json>, Option<Json>)], rows: &[matrix::Row]) {
    let by_id = |id: i64| by_id(msgs, id);
    for r in rows {
        let snap = by_id(r.id);
        let streamed = by_id(r.id + STREAMED);
        assert_eq!(
            snap["schema"], streamed["schema"],
            "row {}: snapshot and binlog schemas differ",
            r.id
        );
        let strip = |v: &Json| {
            let mut p = v["payload"].clone();
            p.as_object_mut().map(|o| o.remove("id"));
            p
        };
        let (a, b) = (strip(&snap), strip(&streamed));
        if a != b {
            let diff: Vec<String> = a
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, v)| b.get(k.as_str()) != Some(v))
                .map(|(k, v)| format!("{k}: snapshot {v}, binlog {}", b[k.as_str()]))
                .collect();
            panic!("row {}: payloads differ:\n{}", r.id, diff.join("\n"));
        }
    }
}

fn by_id(msgs: &[(Option<Json>, Option<Json>)], id: i64) -> Json {
    msgs.iter()
        .filter_map(|(_, v)| v.as_ref())
        .find(|v| v["payload"]["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no message for id {id}"))
}

async fn snapshot_and_binlog_give_identical_messages_for_every_type(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "bltysnap").await;
    // `t`: rows within one day, read by a source with the default times and
    // by one with Connect's; `tl`: the long and negative TIMEs, by a third
    // source with `time_precision = "micros"`.
    db.exec(&matrix::create_table("t")).await;
    db.exec(&matrix::create_table("tl")).await;
    let rows = matrix::rows_in_day(flavor);
    let long = matrix::rows_long_time(flavor);
    exec_permissive(&db, &matrix::insert_sql("t", &rows, 0)).await;
    exec_permissive(&db, &matrix::insert_sql("tl", &long, 0)).await;
    let name = unique("bltysnap");
    let micros = format!("{name}_us");
    let connect = format!("{name}_ms");
    let config = format!(
        "{}\n[[source]]\nname = \"{micros}\"\nkind = \"binlog\"\nurl = \"{url}\"\ntables = [\"tl\"]\ntime_precision = \"micros\"\n\n[[source]]\nname = \"{connect}\"\nkind = \"binlog\"\nurl = \"{url}\"\ntables = [\"t\"]\ntime_precision = \"connect\"\n",
        binlog_config(&name, &db.url(), "tables = [\"t\"]"),
        url = db.url()
    );
    let daemon = Daemon::start(&config);
    wait_for("the sources streaming", Duration::from_secs(60), || async {
        binlog_ready(&daemon.log_text(), 3).then_some(())
    })
    .await;
    exec_permissive(&db, &matrix::insert_sql("t", &rows, STREAMED)).await;
    exec_permissive(&db, &matrix::insert_sql("tl", &long, STREAMED)).await;
    let topic = format!("{name}.{}.t", db.name);
    let msgs = wait_for("both copies", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 2 * rows.len()).then_some(m)
    })
    .await;
    assert_copies_identical(&msgs, &rows);
    let long_topic = format!("{micros}.{}.tl", db.name);
    let long_msgs = wait_for(
        "both copies of the long TIMEs",
        Duration::from_secs(60),
        || async {
            let m = kcat_read(&long_topic);
            (m.len() >= 2 * long.len()).then_some(m)
        },
    )
    .await;
    assert_copies_identical(&long_msgs, &long);
    assert_eq!(
        by_id(&long_msgs, 8)["payload"]["tm0"],
        -((838i64 * 3600 + 59 * 60 + 59) * 1_000_000),
        "-838:59:59 in µs"
    );

    // The default time forms: µs past 3 fractional digits, ms up to 3, TIME µs.
    let max = by_id(&msgs, 2);
    let p = &max["payload"];
    assert_eq!(p["ts"], 2_147_483_647_999_999i64, "TIMESTAMP(6) → µs");
    assert_eq!(p["dtm"], 253_402_300_799_999_999i64, "DATETIME(6) → µs");
    assert_eq!(p["tm"], 86_399_999_999i64, "TIME(6) → MicroTime");
    assert_eq!(p["tm3"], 86_399_999_000i64, "TIME(3) → MicroTime");
    assert_eq!(p["ts0"], 2_147_483_647_000i64, "TIMESTAMP(0) → ms");
    let named = |v: &Json, f: &str| {
        v["schema"]["fields"]
            .as_array()
            .and_then(|fs| fs.iter().find(|x| x["field"] == f))
            .map(|x| x["name"].clone())
            .unwrap_or_else(|| panic!("no field {f}"))
    };
    assert_eq!(named(&max, "dtm"), "io.debezium.time.MicroTimestamp");
    assert_eq!(named(&max, "tm0"), "io.debezium.time.MicroTime");
    assert_eq!(
        named(&max, "dtm3"),
        "org.apache.kafka.connect.data.Timestamp"
    );

    // `time_precision = "connect"`: milliseconds.
    let connect_topic = format!("{connect}.{}.t", db.name);
    let msgs = wait_for(
        "the Connect-time copies",
        Duration::from_secs(60),
        || async {
            let m = kcat_read(&connect_topic);
            (m.len() >= 2 * rows.len()).then_some(m)
        },
    )
    .await;
    assert_copies_identical(&msgs, &rows);
    let max = by_id(&msgs, 2);
    let p = &max["payload"];
    assert_eq!(
        p["ts"], 2_147_483_647_999i64,
        "TIMESTAMP(6) → Timestamp ms (floored)"
    );
    assert_eq!(
        p["dtm"], 253_402_300_799_999i64,
        "DATETIME(6) → Timestamp ms"
    );
    assert_eq!(p["tm"], 86_399_999, "TIME(6) → Time ms");
    assert_eq!(
        p["ts0"], 2_147_483_647_000i64,
        "TIMESTAMP(0) → Timestamp ms"
    );
    assert_eq!(p["tm3"], 86_399_999, "TIME(3) → Time ms");
    assert_eq!(p["dt"], 2_932_896, "DATE → days since the epoch");
    let field = |f: &str| {
        max["schema"]["fields"]
            .as_array()
            .and_then(|fs| fs.iter().find(|x| x["field"] == f).cloned())
            .unwrap_or_else(|| panic!("no field {f}"))
    };
    assert_eq!(
        field("ts")["name"],
        "org.apache.kafka.connect.data.Timestamp"
    );
    assert_eq!(field("tm")["name"], "org.apache.kafka.connect.data.Time");
    assert_eq!(field("dt")["name"], "org.apache.kafka.connect.data.Date");
    let min = &by_id(&msgs, 1)["payload"];
    assert_eq!(min["dt"], -354_285, "1000-01-01 in days");
    assert_eq!(min["ts"], 1000);
}

crate::both_flavors!(snapshot_and_binlog_give_identical_messages_for_every_type);

/// MariaDB's own types (UUID, INET6, INET4): the snapshot and the binlog agree.
///
/// Known gap: the binlog's table map describes these as BINARY(16)/BINARY(4)
/// (binary charset), so streamed rows carry `bytes` (MariaDB's stored form)
/// while the snapshot reads the server's text form (`string`). Fixing it needs
/// the column's type name from `information_schema` in the stream's table-map
/// handling (as MariaDB's JSON would need it too).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "known gap: MariaDB UUID/INET6/INET4 stream as bytes but snapshot as text"]
async fn mariadb_uuid_and_inet_types_match_between_snapshot_and_binlog() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "bltyuuid").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, u UUID, ip6 INET6, ip4 INET4)")
        .await;
    let values = "'123e4567-e89b-12d3-a456-426614174000', '2001:db8::ff00:42:8329', '192.168.0.1'";
    db.exec(&format!("INSERT INTO t VALUES (1, {values})"))
        .await;
    let name = unique("bltyuuid");
    let daemon = Daemon::start(&binlog_config(&name, &db.url(), "tables = [\"t\"]"));
    wait_for("streaming", Duration::from_secs(60), || async {
        binlog_ready(&daemon.log_text(), 1).then_some(())
    })
    .await;
    db.exec(&format!("INSERT INTO t VALUES (2, {values})"))
        .await;
    let topic = format!("{name}.{}.t", db.name);
    let msgs = wait_for("both rows", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 2).then_some(m)
    })
    .await;
    let v: Vec<&Json> = msgs.iter().filter_map(|(_, v)| v.as_ref()).collect();
    assert_eq!(v[0]["schema"], v[1]["schema"], "schemas differ");
    for f in ["u", "ip6", "ip4"] {
        assert_eq!(v[0]["payload"][f], v[1]["payload"][f], "column {f}");
    }
    assert_eq!(v[0]["payload"]["u"], "123e4567-e89b-12d3-a456-426614174000");
}

/// MySQL 9's VECTOR: bytes (little-endian float32s) from the snapshot and the binlog alike.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_vector_matches_between_snapshot_and_binlog() {
    let db = MySqlServer::new(MySqlFlavor::MySql, "bltyvec").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v VECTOR(3))")
        .await;
    let value = "STRING_TO_VECTOR('[1.5, -2, 0]')";
    db.exec(&format!("INSERT INTO t VALUES (1, {value})")).await;
    let name = unique("bltyvec");
    let daemon = Daemon::start(&binlog_config(&name, &db.url(), "tables = [\"t\"]"));
    wait_for("streaming", Duration::from_secs(60), || async {
        binlog_ready(&daemon.log_text(), 1).then_some(())
    })
    .await;
    db.exec(&format!("INSERT INTO t VALUES (2, {value})")).await;
    let topic = format!("{name}.{}.t", db.name);
    let msgs = wait_for("both rows", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 2).then_some(m)
    })
    .await;
    let (a, b) = (by_id(&msgs, 1), by_id(&msgs, 2));
    assert_eq!(a["schema"], b["schema"], "schemas differ");
    assert_eq!(a["payload"]["v"], b["payload"]["v"]);
    // 1.5, -2.0, 0.0 as little-endian float32.
    assert_eq!(a["payload"]["v"], "AADAPwAAAMAAAAAA");
}
