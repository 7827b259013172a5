//! The sink's modes on MariaDB and PostgreSQL: insert modes and pk modes,
//! deletes, table renames, field filters, `db_timezone`. Debezium topics are in
//! `sink_modes/debezium.rs`, evolution and dead letters in `sink_modes/evolve.rs`.

mod debezium;
mod evolve;

use std::time::Duration;

use serde_json::{json, Value};

use crate::both_flavors;
use crate::suite::seed::http_get;
use crate::support::*;

both_flavors!(
    upsert_by_struct_record_key_on_mariadb_and_postgres,
    update_mode_changes_existing_rows_only,
    tombstones_delete_when_enabled_and_are_counted_when_not,
    table_rename_field_filters_and_db_timezone
);

pub(crate) const DEADLINE: Duration = Duration::from_secs(60);

/// A target database of either kind.
#[derive(Clone, Copy)]
pub(crate) enum Db<'a> {
    My(&'a MariaDb),
    Pg(&'a Postgres),
}

impl Db<'_> {
    /// `name` quoted as an identifier.
    pub(crate) fn q(&self, name: &str) -> String {
        match self {
            Db::My(_) => format!("`{name}`"),
            Db::Pg(_) => format!("\"{name}\""),
        }
    }

    /// Rows as text, or None when the query fails (e.g. no table yet).
    pub(crate) async fn rows(&self, sql: &str) -> Option<Vec<Vec<String>>> {
        match self {
            Db::My(d) => d.try_rows(sql).await,
            Db::Pg(d) => d.try_rows(sql).await,
        }
    }

    /// The next offsets `sink` stored for `topic`, by partition.
    pub(crate) async fn stored_offsets(&self, sink: &str, topic: &str) -> Vec<(i32, i64)> {
        let sql = format!(
            "SELECT kafka_partition, next_offset FROM sluice_sink_offsets \
             WHERE sink = '{sink}' AND topic = '{topic}' ORDER BY kafka_partition"
        );
        self.rows(&sql)
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| {
                (
                    r[0].parse().expect("partition"),
                    r[1].parse().expect("offset"),
                )
            })
            .collect()
    }

    /// Waits until `sink` has applied the first `n` records of partition 0 of `topic`.
    pub(crate) async fn wait_applied(&self, sink: &str, topic: &str, n: i64) {
        wait_for(
            &format!("{sink} to apply {n} records"),
            DEADLINE,
            || async { (self.stored_offsets(sink, topic).await == [(0, n)]).then_some(()) },
        )
        .await;
    }

    /// `SELECT <cols> FROM <table> ORDER BY 1`.
    pub(crate) async fn table(&self, table: &str, cols: &str) -> Vec<Vec<String>> {
        let sql = format!("SELECT {cols} FROM {} ORDER BY 1", self.q(table));
        self.rows(&sql)
            .await
            .unwrap_or_else(|| panic!("query failed: {sql}"))
    }
}

/// A whole config: `[kafka]`, `[http]` (`port` 0: none) and the given `[[sink]]` sections.
pub(crate) fn config(port: u16, sinks: &[String]) -> String {
    let listen = if port == 0 {
        String::new()
    } else {
        format!("127.0.0.1:{port}")
    };
    format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"{listen}\"\n{}",
        sinks.concat()
    )
}

/// One `[[sink]]` section with auto create/evolve and a short flush interval.
pub(crate) fn sink(name: &str, url: &str, topic: &str, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"{name}\"\nurl = \"{url}\"\ntopics = [\"{topic}\"]\nauto_create = true\n\
         auto_evolve = true\nflush_interval_ms = 50\n{extra}\n"
    )
}

/// A Connect field schema.
pub(crate) fn field(name: &str, ty: &str, optional: bool) -> Value {
    json!({"type": ty, "optional": optional, "field": name})
}

/// A Connect JSON message: struct schema of `fields`, and `payload`.
pub(crate) fn message(name: &str, fields: &[Value], payload: Value) -> String {
    json!({"schema": {"type": "struct", "fields": fields, "optional": false, "name": name},
           "payload": payload})
    .to_string()
}

/// A struct key `{id}` (int32).
pub(crate) fn id_key(id: i64) -> String {
    message("k", &[field("id", "int32", false)], json!({ "id": id }))
}

/// `{id, name, qty}` plain struct.
fn item(id: i64, name: &str, qty: i64) -> String {
    message(
        "items",
        &[
            field("id", "int32", false),
            field("name", "string", true),
            field("qty", "int32", true),
        ],
        json!({"id": id, "name": name, "qty": qty}),
    )
}

fn produce(topic: &str, messages: &[(Option<String>, String)]) {
    let refs: Vec<(Option<&str>, &str)> = messages
        .iter()
        .map(|(k, v)| (k.as_deref(), v.as_str()))
        .collect();
    kcat_produce(topic, &refs);
}

/// Reads one metric's value from `/metrics` (0 when absent).
pub(crate) async fn metric(port: u16, name: &str, pipeline: &str) -> f64 {
    let text = http_get(port, "/metrics").await;
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(&format!("pipeline=\"{pipeline}\"")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn upsert_by_struct_record_key_on_mariadb_and_postgres(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "ups").await;
    let pg = Postgres::create("ups").await;
    let tag = unique("ups");
    let topic = format!("ups_{tag}");
    let k = |id| Some(id_key(id));
    produce(
        &topic,
        &[
            (k(1), item(1, "one", 10)),
            (k(2), item(2, "two", 20)),
            (k(1), item(1, "uno", 11)),
            (k(3), item(3, "three", 30)),
            (k(2), item(2, "dos", 21)),
            (k(1), item(1, "eins", 12)),
        ],
    );
    let extra = "insert_mode = \"upsert\"\npk_mode = \"record_key\"";
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let mut d = Daemon::start(&config(
        0,
        &[
            sink(&s_my, &my.url(), &topic, extra),
            sink(&s_pg, &pg.url(), &topic, extra),
        ],
    ));
    let expected = [
        ["1", "eins", "12"],
        ["2", "dos", "21"],
        ["3", "three", "30"],
    ];
    for (db, s) in [(Db::My(&my), &s_my), (Db::Pg(&pg), &s_pg)] {
        db.wait_applied(s, &topic, 6).await;
        assert_eq!(db.table(&topic, "id, name, qty").await, expected);
    }
    let pk = my
        .rows(&format!(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = \
             DATABASE() AND TABLE_NAME = '{topic}' AND CONSTRAINT_NAME = 'PRIMARY'"
        ))
        .await;
    assert_eq!(pk, [["id"]], "the key's field is the primary key");
    assert_eq!(d.stop(), 0);
}

async fn update_mode_changes_existing_rows_only(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "upd").await;
    let tag = unique("upd");
    let topic = format!("upd_{tag}");
    my.exec(&format!(
        "CREATE TABLE `{topic}` (id INT PRIMARY KEY, name VARCHAR(20), qty INT); \
         INSERT INTO `{topic}` VALUES (1, 'one', 1), (2, 'two', 2)"
    ))
    .await;
    produce(
        &topic,
        &[
            (Some(id_key(1)), item(1, "uno", 10)),
            (Some(id_key(3)), item(3, "tres", 30)),
        ],
    );
    let extra = "insert_mode = \"update\"\npk_mode = \"record_key\"";
    let mut d = Daemon::start(&config(0, &[sink(&tag, &my.url(), &topic, extra)]));
    Db::My(&my).wait_applied(&tag, &topic, 2).await;
    assert_eq!(
        Db::My(&my).table(&topic, "id, name, qty").await,
        [["1", "uno", "10"], ["2", "two", "2"]],
        "key 1 updated, key 2 untouched, key 3 not inserted"
    );
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_pk_mode_keys_rows_by_coordinates() {
    let pg = Postgres::create("kpk").await;
    let tag = unique("kpk");
    let topic = format!("kpk_{tag}");
    produce(&topic, &[(None, item(7, "a", 1)), (None, item(7, "a", 1))]);
    let mut d = Daemon::start(&config(
        0,
        &[sink(&tag, &pg.url(), &topic, "pk_mode = \"kafka\"")],
    ));
    Db::Pg(&pg).wait_applied(&tag, &topic, 2).await;
    let rows = Db::Pg(&pg)
        .table(
            &topic,
            "__connect_offset, __connect_topic, __connect_partition, id, name",
        )
        .await;
    assert_eq!(
        rows,
        [
            ["0", topic.as_str(), "0", "7", "a"],
            ["1", topic.as_str(), "0", "7", "a"]
        ]
    );
    let pk = pg
        .rows(&format!(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '\"{topic}\"'::regclass AND i.indisprimary \
             ORDER BY a.attname"
        ))
        .await;
    assert_eq!(
        pk,
        [
            ["__connect_offset"],
            ["__connect_partition"],
            ["__connect_topic"]
        ]
    );
    assert_eq!(d.stop(), 0);
}

async fn tombstones_delete_when_enabled_and_are_counted_when_not(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "tomb").await;
    let tag = unique("tomb");
    let topic = format!("tomb_{tag}");
    produce(
        &topic,
        &[
            (Some(id_key(1)), item(1, "one", 1)),
            (Some(id_key(2)), item(2, "two", 2)),
            (Some(id_key(1)), String::new()),
            (Some(id_key(3)), item(3, "three", 3)),
            (Some(id_key(3)), String::new()),
            (Some(id_key(3)), item(3, "again", 4)),
        ],
    );
    let port = free_port();
    let (on, off) = (format!("{tag}_on"), format!("{tag}_off"));
    let keyed = "insert_mode = \"upsert\"\npk_mode = \"record_key\"";
    let mut d = Daemon::start(&config(
        port,
        &[
            sink(
                &on,
                &my.url(),
                &topic,
                &format!("{keyed}\ndelete_enabled = true\ntable_name_format = \"on_${{topic}}\""),
            ),
            sink(
                &off,
                &my.url(),
                &topic,
                &format!("{keyed}\ntable_name_format = \"off_${{topic}}\""),
            ),
        ],
    ));
    let db = Db::My(&my);
    db.wait_applied(&on, &topic, 6).await;
    db.wait_applied(&off, &topic, 6).await;
    assert_eq!(
        db.table(&format!("on_{topic}"), "id, name").await,
        [["2", "two"], ["3", "again"]]
    );
    assert_eq!(
        db.table(&format!("off_{topic}"), "id, name").await,
        [["1", "one"], ["2", "two"], ["3", "again"]]
    );
    let skipped = metric(port, "sluice_sink_tombstones_skipped_total", &off).await;
    assert_eq!(skipped, 2.0);
    assert_eq!(
        metric(port, "sluice_sink_tombstones_skipped_total", &on).await,
        0.0
    );
    let status = http_get(port, &format!("/connectors/{off}/status")).await;
    assert!(status.contains("RUNNING"), "not an error: {status}");
    assert_eq!(d.stop(), 0);
}

async fn table_rename_field_filters_and_db_timezone(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "ren").await;
    let pg = Postgres::create("ren").await;
    let tag = unique("ren");
    let topic = format!("shop.eu.orders_{tag}");
    let fields = [
        field("order_id", "int64", false),
        field("item", "string", true),
        field("secret", "string", true),
        json!({"type": "int64", "optional": true, "name": "org.apache.kafka.connect.data.Timestamp",
               "version": 1, "field": "at"}),
    ];
    let order = |id: i64| {
        message(
            "orders",
            &fields,
            json!({"order_id": id, "item": format!("i{id}"), "secret": "s", "at": 1660592867000_i64}),
        )
    };
    let key = |id: i64| {
        message(
            "k",
            &[field("order_id", "int64", false)],
            json!({ "order_id": id }),
        )
    };
    produce(
        &topic,
        &[(Some(key(1)), order(1)), (Some(key(2)), order(2))],
    );
    let rename =
        "table_name_regex = 'shop\\.([a-z]+)\\.(.*)'\ntable_name_replacement = '${2}_$1'\n\
                  table_name_format = 'x_${topic}'";
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let mut d = Daemon::start(&config(
        0,
        &[
            sink(
                &s_my,
                &my.url(),
                &topic,
                &format!(
                    "{rename}\npk_mode = \"record_key\"\n\"fields.whitelist\" = \"item,at\"\n\
                     db_timezone = \"+02:00\""
                ),
            ),
            sink(
                &s_pg,
                &pg.url(),
                &topic,
                &format!(
                    "{rename}\npk_mode = \"record_value\"\npk_fields = [\"order_id\"]\n\
                          fields_exclude = [\"secret\", \"order_id\"]"
                ),
            ),
        ],
    ));
    let table = format!("x_orders_{tag}_eu");
    Db::My(&my).wait_applied(&s_my, &topic, 2).await;
    Db::Pg(&pg).wait_applied(&s_pg, &topic, 2).await;
    // MariaDB: the key field, the listed fields; the Timestamp in +02:00 wall time.
    assert_eq!(
        Db::My(&my).table(&table, "*").await,
        [
            ["1", "i1", "2022-08-15 21:47:47.000"],
            ["2", "i2", "2022-08-15 21:47:47.000"]
        ]
    );
    // PostgreSQL: everything but `secret`; pk_fields are kept though excluded; UTC.
    assert_eq!(
        Db::Pg(&pg).table(&table, "*").await,
        [
            ["1", "i1", "2022-08-15 19:47:47"],
            ["2", "i2", "2022-08-15 19:47:47"]
        ]
    );
    assert_eq!(d.stop(), 0);
}
