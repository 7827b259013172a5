//! Debezium-produced topics: the MySQL connector's envelope (with the
//! tombstone after each delete) and `ExtractNewRecordState`'s unwrapped rows
//! (deletes as tombstones, or flagged `__deleted` with tombstones dropped).

use serde_json::{json, Value};

use super::{config, field, id_key, message, produce, sink, Db};
use crate::both_flavors;
use crate::support::*;

both_flavors!(
    debezium_envelope_topic_applies_upserts_and_deletes,
    extract_new_record_state_topics_apply_with_tombstones_or_deleted_flags
);

/// Debezium MySQL connector's row schema for `inventory.items`.
fn dbz_row_schema(field_name: &str) -> Value {
    json!({"type": "struct", "optional": true, "name": "dbserver1.inventory.items.Value",
           "field": field_name,
           "fields": [field("id", "int32", false), field("name", "string", true),
                      field("qty", "int32", true)]})
}

/// A Debezium MySQL change event (`op` c/u/d/r) for `inventory.items`.
fn dbz(op: &str, before: Option<(i64, &str, i64)>, after: Option<(i64, &str, i64)>) -> String {
    let row = |r: Option<(i64, &str, i64)>| match r {
        Some((id, name, qty)) => json!({"id": id, "name": name, "qty": qty}),
        None => Value::Null,
    };
    let source_fields = [
        field("version", "string", false),
        field("connector", "string", false),
        field("name", "string", false),
        field("ts_ms", "int64", false),
        field("db", "string", false),
        field("table", "string", true),
        field("server_id", "int64", false),
        field("file", "string", false),
        field("pos", "int64", false),
        field("row", "int32", false),
    ];
    json!({
        "schema": {"type": "struct", "optional": false, "version": 2,
                   "name": "dbserver1.inventory.items.Envelope",
                   "fields": [dbz_row_schema("before"), dbz_row_schema("after"),
                       {"type": "struct", "optional": false, "name": "io.debezium.connector.mysql.Source",
                        "field": "source", "fields": source_fields},
                       field("op", "string", false), field("ts_ms", "int64", true)]},
        "payload": {"before": row(before), "after": row(after),
                    "source": {"version": "2.7.3.Final", "connector": "mysql", "name": "dbserver1",
                               "ts_ms": 1709288130000_i64, "db": "inventory", "table": "items",
                               "server_id": 223344, "file": "mysql-bin.000003", "pos": 4868, "row": 0},
                    "op": op, "ts_ms": 1709288130512_i64}
    })
    .to_string()
}

/// The change stream both Debezium tests apply, and its final table.
const FINAL_ITEMS: [[&str; 3]; 2] = [["2", "two", "22"], ["3", "three", "3"]];

async fn debezium_envelope_topic_applies_upserts_and_deletes(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "dbz").await;
    let pg = Postgres::create("dbz").await;
    let tag = unique("dbz");
    let topic = format!("dbserver1.inventory.items_{tag}");
    let k = |id| Some(id_key(id));
    produce(
        &topic,
        &[
            (k(1), dbz("r", None, Some((1, "one", 1)))),
            (k(2), dbz("c", None, Some((2, "two", 2)))),
            (k(1), dbz("u", Some((1, "one", 1)), Some((1, "uno", 11)))),
            (k(2), dbz("u", Some((2, "two", 2)), Some((2, "two", 22)))),
            (k(1), dbz("d", Some((1, "uno", 11)), None)),
            (k(1), String::new()),
            (k(3), dbz("c", None, Some((3, "three", 3)))),
        ],
    );
    let extra = "insert_mode = \"upsert\"\npk_mode = \"record_key\"\ndelete_enabled = true\n\
                 table_name_regex = 'dbserver1\\.inventory\\.(.*)'\ntable_name_replacement = '$1'";
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let mut d = Daemon::start(&config(
        0,
        &[
            sink(&s_my, &my.url(), &topic, extra),
            sink(&s_pg, &pg.url(), &topic, extra),
        ],
    ));
    let table = format!("items_{tag}");
    for (db, s) in [(Db::My(&my), &s_my), (Db::Pg(&pg), &s_pg)] {
        db.wait_applied(s, &topic, 7).await;
        assert_eq!(db.table(&table, "id, name, qty").await, FINAL_ITEMS);
    }
    assert_eq!(d.stop(), 0);
}

/// `ExtractNewRecordState` output: the `after` row as a plain struct, with
/// `__deleted` when `delete.handling.mode = rewrite`.
fn unwrapped(id: i64, name: &str, qty: i64, deleted: Option<bool>) -> String {
    let mut fields = vec![
        field("id", "int32", false),
        field("name", "string", true),
        field("qty", "int32", true),
    ];
    let mut payload = json!({"id": id, "name": name, "qty": qty});
    if let Some(d) = deleted {
        fields.push(field("__deleted", "string", true));
        payload["__deleted"] = json!(d.to_string());
    }
    message("dbserver1.inventory.items.Value", &fields, payload)
}

async fn extract_new_record_state_topics_apply_with_tombstones_or_deleted_flags(
    flavor: MySqlFlavor,
) {
    let my = MySqlServer::new(flavor, "enrs").await;
    let tag = unique("enrs");
    let (plain, rewrite) = (format!("plain_{tag}"), format!("rewrite_{tag}"));
    let k = |id| Some(id_key(id));
    // Default SMT settings with drop.tombstones = false: deletes are tombstones.
    produce(
        &plain,
        &[
            (k(1), unwrapped(1, "one", 1, None)),
            (k(2), unwrapped(2, "two", 2, None)),
            (k(1), unwrapped(1, "uno", 11, None)),
            (k(2), unwrapped(2, "two", 22, None)),
            (k(1), String::new()),
            (k(3), unwrapped(3, "three", 3, None)),
        ],
    );
    // delete.handling.mode = rewrite with tombstones dropped: `__deleted` marks deletes.
    produce(
        &rewrite,
        &[
            (k(1), unwrapped(1, "one", 1, Some(false))),
            (k(2), unwrapped(2, "two", 2, Some(false))),
            (k(1), unwrapped(1, "uno", 11, Some(false))),
            (k(2), unwrapped(2, "two", 22, Some(false))),
            (k(1), unwrapped(1, "uno", 11, Some(true))),
            (k(3), unwrapped(3, "three", 3, Some(false))),
        ],
    );
    let extra = "insert_mode = \"upsert\"\npk_mode = \"record_key\"\ndelete_enabled = true";
    let (s1, s2) = (format!("{tag}_1"), format!("{tag}_2"));
    let mut d = Daemon::start(&config(
        0,
        &[
            sink(&s1, &my.url(), &plain, extra),
            sink(
                &s2,
                &my.url(),
                &rewrite,
                &format!("{extra}\nfields_exclude = \"__deleted\""),
            ),
        ],
    ));
    let db = Db::My(&my);
    db.wait_applied(&s1, &plain, 6).await;
    db.wait_applied(&s2, &rewrite, 6).await;
    assert_eq!(db.table(&plain, "id, name, qty").await, FINAL_ITEMS);
    assert_eq!(
        db.table(&rewrite, "*").await,
        FINAL_ITEMS,
        "no __deleted column"
    );
    assert_eq!(d.stop(), 0);
}
