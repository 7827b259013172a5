//! Debezium's MySQL connector keys, honoured (issue 15 item 3), and the
//! lossless default times (item 1): anchored case-insensitive regex lists,
//! column lists, masks (Debezium's exact hash output), truncation,
//! `message.key.columns`, `tombstones.on.delete`, `skipped.operations`, the
//! REST refusals naming key and value, and DATETIME(6)/TIME(6) reaching a
//! target table unchanged with default settings.

use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::suite::binlog::{binlog_config, wait_streaming};
use crate::support::rest::call;
use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(90);

fn field<'a>(msg: &'a Json, part: &str, f: &str) -> Option<&'a Json> {
    let fields = msg["schema"]["fields"].as_array()?;
    let part = fields.iter().find(|x| x["field"] == part)?;
    part["fields"].as_array()?.iter().find(|x| x["field"] == f)
}

/// One binlog source with every column-level key: only `orders_<n>`
/// tables (regex, written in upper case), one column left out, masked,
/// hashed and truncated columns, a custom key, no update events and no
/// delete tombstones.
async fn debezium_column_keys_shape_the_messages(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "dbzkeys").await;
    let cols = "(id INT PRIMARY KEY, code VARCHAR(20) NOT NULL, email VARCHAR(100), \
                name VARCHAR(50), secret VARCHAR(50), note TEXT, bin VARBINARY(20))";
    for t in ["orders_2024", "orders", "customers"] {
        db.exec(&format!("CREATE TABLE {t} {cols}")).await;
        db.exec(&format!(
            "INSERT INTO {t} VALUES (1, 'K1', 'hello', 'Bob', 's3cret', 'abcdefgh', X'0102030405')"
        ))
        .await;
    }
    let name = unique("dbzkeys");
    let upper = db.name.to_uppercase();
    let d = &db.name;
    let extra = format!(
        r#"envelope = "debezium"
"database.include.list" = "{upper}"
"table.include.list" = "{upper}\\.ORDERS_[0-9]+"
"column.exclude.list" = "{d}\\.orders_.*\\.secret"
"column.mask.with.5.chars" = "{d}.orders_.*.name"
"column.mask.hash.SHA-256.with.salt.salt" = "{d}.orders_.*.email"
"column.truncate.to.4.chars" = "{d}.orders_.*.(note|bin)"
"message.key.columns" = "{d}.orders_.*:code"
"tombstones.on.delete" = "false"
"skipped.operations" = "u,t"
"#
    );
    let daemon = Daemon::start(&binlog_config(&name, &db.url(), &extra));
    wait_streaming(&daemon, 1, DEADLINE).await;
    db.exec("INSERT INTO orders_2024 VALUES (2, 'K2', 'world', NULL, 'x', 'ab', NULL)")
        .await;
    db.exec("UPDATE orders_2024 SET note = 'changed' WHERE id = 1")
        .await;
    db.exec("DELETE FROM orders_2024 WHERE id = 2").await;
    // A marker after the delete: once it is there, everything before it is.
    db.exec("INSERT INTO orders_2024 VALUES (3, 'K3', NULL, NULL, NULL, NULL, NULL)")
        .await;
    let topic = format!("{name}.{d}.orders_2024");
    let msgs = wait_for("the marker row", DEADLINE, || async {
        let m = kcat_read(&topic);
        m.iter()
            .any(|(_, v)| v.as_ref().is_some_and(|v| v["payload"]["after"]["id"] == 3))
            .then_some(m)
    })
    .await;
    let ops: Vec<String> = msgs
        .iter()
        .map(|(_, v)| match v {
            Some(v) => v["payload"]["op"].as_str().unwrap_or("?").to_string(),
            None => "tombstone".into(),
        })
        .collect();
    assert_eq!(
        ops,
        ["r", "c", "d", "c"],
        "no update (skipped), no tombstone after the delete"
    );
    let (key, snap) = (&msgs[0].0, msgs[0].1.as_ref().expect("value"));
    assert_eq!(
        key.as_ref().map(|k| k["payload"].clone()),
        Some(json!({"code": "K1"})),
        "message.key.columns"
    );
    let after = &snap["payload"]["after"];
    // Debezium's own MaskStringsTest value for "hello", salt "salt", SHA-256.
    assert_eq!(
        after["email"],
        "af5843a0f0e728ab0332c8888b6e1190bfb79e584f0d40538de8f10df6ef29c6"
    );
    assert_eq!(after["name"], "*****");
    assert_eq!(after["note"], "abcd");
    assert_eq!(after["bin"], "AQIDBA==", "bytes truncated to 4");
    assert!(after.get("secret").is_none(), "excluded column: {after}");
    assert!(field(snap, "after", "secret").is_none());
    assert!(field(snap, "after", "email").is_some());
    let created = msgs[1].1.as_ref().expect("value");
    assert_eq!(created["payload"]["after"]["name"], "*****", "NULL masked");
    assert_eq!(
        created["payload"]["after"]["email"],
        "4588e1f2dcdc7fefc1515d3acd5acb9033478eace68286f383c337b9ff4464a3"
    );
    let deleted = msgs[2].1.as_ref().expect("value");
    assert_eq!(
        deleted["payload"]["before"]["email"],
        created["payload"]["after"]["email"]
    );
    assert_eq!(
        msgs[2].0.as_ref().map(|k| k["payload"].clone()),
        Some(json!({"code": "K2"}))
    );
    // Neither `orders` nor `customers` is captured.
    for t in ["orders", "customers"] {
        let other = kcat_read(&format!("{name}.{d}.{t}"));
        assert!(other.is_empty(), "{t} was captured: {other:?}");
    }
}

crate::both_flavors!(debezium_column_keys_shape_the_messages);

/// With default settings (flat envelope, and the Debezium envelope as
/// well), DATETIME(6) and TIME(6) values — negative and past-24h TIMEs
/// included — reach a target table on the same server unchanged, as do
/// DATETIME(3), TIME and BIGINT UNSIGNED. (TIMESTAMP(6) is in the type matrix.)
async fn default_settings_keep_microseconds_through_the_sink(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "dbzlossless").await;
    let target = MySqlServer::new(flavor, "dbzlossless_t").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, dt6 DATETIME(6), \
         tm6 TIME(6), dt3 DATETIME(3), tm TIME, bu BIGINT UNSIGNED)",
    )
    .await;
    let rows = "(1, '2024-02-29 14:08:57.312556', '14:08:57.312556', \
                '2024-02-29 14:08:57.312', '838:59:59', 18446744073709551615), \
                (2, '1000-01-01 00:00:00.000001', '-838:59:58.999999', \
                '9999-12-31 23:59:59.999', '-00:00:01', 9223372036854775808)";
    db.exec(&format!("INSERT INTO t VALUES {rows}")).await;
    let name = unique("dbzlossless");
    let flat = format!("{name}.{}.t", db.name);
    let dbz_name = format!("{name}_dbz");
    let dbz = format!("{dbz_name}.{}.t", db.name);
    let tgt = target.url();
    let config = format!(
        r#"{source}
[[source]]
name = "{dbz_name}"
kind = "binlog"
url = "{url}"
tables = ["t"]
envelope = "debezium"

[[sink]]
name = "{name}_flat"
url = "{tgt}"
topics = ["{flat}"]
table_name_format = "t_flat"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50

[[sink]]
name = "{name}_dbz_sink"
url = "{tgt}"
topics = ["{dbz}"]
table_name_format = "t_dbz"
auto_create = true
insert_mode = "upsert"
pk_mode = "record_key"
delete_enabled = true
max_wait_ms = 50
"#,
        source = binlog_config(&name, &db.url(), "tables = [\"t\"]"),
        url = db.url(),
    );
    let daemon = Daemon::start(&config);
    wait_streaming(&daemon, 2, DEADLINE).await;
    // Streamed rows too, beside the snapshot's.
    db.exec(
        "INSERT INTO t VALUES (3, '2038-01-19 03:14:07.999999', \
         '23:59:59.999999', '2000-01-01 00:00:00.001', '00:00:00', 0)",
    )
    .await;
    let select = |table: &str| {
        format!(
            "SELECT id, DATE_FORMAT(dt6, '%Y-%m-%d %H:%i:%s.%f'), \
             CAST(tm6 AS CHAR), DATE_FORMAT(dt3, '%Y-%m-%d %H:%i:%s.%f'), \
             TIME_FORMAT(tm, '%H:%i:%s'), CAST(bu AS CHAR) FROM {table} ORDER BY id"
        )
    };
    let want = db.rows(&select("t")).await;
    assert_eq!(want.len(), 3);
    assert!(want[0][2].contains(".312556"), "{want:?}");
    for table in ["t_flat", "t_dbz"] {
        let got = wait_for(&format!("3 rows in {table}"), DEADLINE, || async {
            let rows = target.try_rows(&select(table)).await?;
            (rows.len() == 3).then_some(rows)
        })
        .await;
        // A TIME(0) source lands in a TIME(6) target: compared to the second.
        assert_eq!(got, want, "{table} differs from the source");
    }
    let msgs = kcat_read(&flat);
    let v = msgs[0].1.as_ref().expect("value");
    let name_of = |f: &str| {
        v["schema"]["fields"]
            .as_array()
            .and_then(|fs| fs.iter().find(|x| x["field"] == f))
            .map(|x| x["name"].clone())
    };
    assert_eq!(
        name_of("dt6"),
        Some(json!("io.debezium.time.MicroTimestamp"))
    );
    assert_eq!(name_of("tm6"), Some(json!("io.debezium.time.MicroTime")));
    assert_eq!(
        name_of("dt3"),
        Some(json!("org.apache.kafka.connect.data.Timestamp"))
    );
    assert_eq!(v["payload"]["dt6"], 1_709_215_737_312_556i64);
}

crate::both_flavors!(default_settings_keep_microseconds_through_the_sink);

/// Over REST: Debezium's keys are taken (regex lists, masks, mode keys);
/// a key Sluice does not support, or a mode value it cannot honour, is a
/// 400 naming the key (and the value).
#[tokio::test(flavor = "multi_thread")]
async fn rest_takes_debezium_keys_and_refuses_the_rest_by_name() {
    let port = free_port();
    let state = scratch("dbzrest");
    let _daemon = Daemon::start(&format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        state.display()
    ));
    wait_for("the REST API", DEADLINE, || async {
        (call(port, "GET", "/connectors", None, None).await.status == 200).then_some(())
    })
    .await;
    let base = json!({
        "connector.class": "io.debezium.connector.mysql.MySqlConnector",
        "database.hostname": "127.0.0.1", "database.port": "3307",
        "database.user": "root", "database.password": "",
        "topic.prefix": "dbzrest", "table.include.list": "inv\\.orders_.*",
        "column.mask.with.8.chars": "inv.orders_.*.email",
        "column.mask.hash.v2.SHA-512.with.salt.pepper": "inv.orders_.*.phone",
        "decimal.handling.mode": "string", "time.precision.mode": "connect",
        "bigint.unsigned.handling.mode": "precise", "include.schema.changes": "false",
        "tombstones.on.delete": "false", "skipped.operations": "t",
        "message.key.columns": "inv.orders_.*:code",
        "snapshot.mode": "never"});
    let validate = |extra: Json| {
        let mut c = base.clone();
        if let (Some(c), Some(e)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        c
    };
    let path = "/connector-plugins/MySqlConnector/config/validate";
    let r = call(port, "PUT", path, Some(&base), None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["error_count"], 0, "{}", r.body);
    for (extra, key, value) in [
        (
            json!({"time.precision.mode": "isostring"}),
            "time.precision.mode",
            "isostring",
        ),
        (
            json!({"bigint.unsigned.handling.mode": "long"}),
            "bigint.unsigned.handling.mode",
            "long",
        ),
        (
            json!({"enable.time.adjuster": "true"}),
            "enable.time.adjuster",
            "",
        ),
        (
            json!({"include.schema.comments": "true"}),
            "include.schema.comments",
            "",
        ),
        (
            json!({"column.propagate.source.type": "inv.*"}),
            "column.propagate.source.type",
            "",
        ),
        (
            json!({"column.mask.hash.SHA3-256.with.salt.x": "inv.t.c"}),
            "column.mask.hash.SHA3-256.with.salt.x",
            "SHA3-256",
        ),
        (
            json!({"table.exclude.list": "inv.x"}),
            "table.exclude.list",
            "",
        ),
    ] {
        let body = json!({"name": unique("dbzrest"), "config": validate(extra.clone())});
        let r = call(port, "POST", "/connectors", Some(&body), None).await;
        assert_eq!(r.status, 400, "{extra}: {}", r.body);
        assert!(r.body.contains(key), "{extra}: {}", r.body);
        assert!(r.body.contains(value), "{extra}: {}", r.body);
        let r = call(port, "PUT", path, Some(&validate(extra.clone())), None).await;
        let infos = r.json();
        let blamed = infos["configs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["value"]["name"] == key)
            .map(|c| c["value"]["errors"].clone());
        assert!(
            blamed
                .as_ref()
                .and_then(Json::as_array)
                .is_some_and(|e| !e.is_empty()),
            "{extra}: validation blames {key}: {}",
            r.body
        );
    }
}
