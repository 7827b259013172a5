//! The sink on MariaDB, MySQL and PostgreSQL: records from Sluice's source and from
//! any other producer, identifier quoting, auto.evolve rules.

use std::time::Duration;

use crate::both_flavors;
use crate::suite::seed::{http_get, seed_config};
use crate::support::*;

both_flavors!(
    mysql_family_source_to_postgres_sink,
    hostile_identifiers_are_quoted_on_mariadb_and_postgres,
    new_required_field_without_default_fails_naming_the_field,
    bad_records_go_to_the_dead_letter_topic_with_the_reason
);

async fn mysql_family_source_to_postgres_sink(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "src").await;
    let pg = Postgres::create("dst").await;
    db.exec(
        "CREATE TABLE users (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id VARCHAR(255), pwd VARCHAR(255), \
         name VARCHAR(255), created_at TIMESTAMP NULL DEFAULT NULL, amount DECIMAL(10,2), big BIGINT UNSIGNED, \
         born DATE, flag BIT(1), raw VARBINARY(8))",
    )
    .await;
    db.exec(
        "SET time_zone = '+00:00'; INSERT INTO users (user_id, pwd, name, created_at, amount, big, born, flag, raw) VALUES \
         ('test1', NULL, 'tëst ☃ 😀', '2022-08-15 19:47:47', -12.34, 18446744073709551615, '1969-07-20', b'1', X'00ff10'), \
         ('test2', 'it''s', 'x', NULL, NULL, NULL, NULL, NULL, NULL)",
    )
    .await;
    let tag = unique("pg");
    let prefix = format!("pg_{tag}_");
    let table = format!("{prefix}users");
    let mut d = Daemon::start(&seed_config(&db.url(), &pg.url(), &tag, &prefix, ""));
    wait_for("2 rows in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&table).await == Some(2)).then_some(())
    })
    .await;
    let rows = pg
        .rows(&format!(
            "SELECT id, user_id, pwd, name, extract(epoch from created_at)::bigint, amount, big, born, flag, encode(raw, 'hex') FROM \"{table}\" ORDER BY id"
        ))
        .await;
    assert_eq!(
        rows[0],
        [
            "1",
            "test1",
            "NULL",
            "tëst ☃ 😀",
            "1660592867",
            "-12.34",
            "18446744073709551615",
            "1969-07-20",
            "t",
            "00ff10"
        ]
    );
    assert_eq!(
        rows[1],
        ["2", "test2", "it's", "x", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL"]
    );
    assert_eq!(d.stop(), 0);
}

/// A plain Connect struct from another producer, with hostile field names.
fn hostile_message(id: i64) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"order_id"}},{{"type":"string","optional":true,"field":"a`b"}},{{"type":"string","optional":true,"field":"\"; DROP TABLE x; --"}}],"optional":false,"name":"orders"}},"payload":{{"order_id":{id},"a`b":"v{id}","\"; DROP TABLE x; --":"w'{id}"}}}}"#
    )
}

pub(crate) fn sink_config(tag: &str, url: &str, topic: &str, extra: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[sink]]
name = "{tag}"
url = "{url}"
topics = ["{topic}"]
auto_create = true
auto_evolve = true
max_wait_ms = 50
{extra}
"#
    )
}

async fn hostile_identifiers_are_quoted_on_mariadb_and_postgres(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "ident").await;
    let pg = Postgres::create("ident").await;
    my.exec("CREATE TABLE x (id INT)").await;
    pg.client
        .batch_execute("CREATE TABLE x (id INT)")
        .await
        .expect("create x");
    let tag = unique("ident");
    let topic = format!("orders_{tag}");
    kcat_produce(
        &topic,
        &[(None, &hostile_message(1)), (None, &hostile_message(2))],
    );
    let mut d1 = Daemon::start(&sink_config(
        &format!("{tag}_my"),
        &my.url(),
        &topic,
        "pk_mode = \"record_value\"\npk_fields = [\"order_id\"]",
    ));
    let mut d2 = Daemon::start(&sink_config(&format!("{tag}_pg"), &pg.url(), &topic, ""));
    wait_for("rows in MariaDB/MySQL", Duration::from_secs(60), || async {
        (my.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    wait_for("rows in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    let r = my
        .rows(&format!(
            "SELECT order_id, `a``b`, `\"; DROP TABLE x; --` FROM `{topic}` ORDER BY order_id"
        ))
        .await;
    assert_eq!(r, [["1", "v1", "w'1"], ["2", "v2", "w'2"]]);
    let r = pg.rows(&format!("SELECT order_id, \"a`b\", \"\"\"; DROP TABLE x; --\" FROM \"{topic}\" ORDER BY order_id")).await;
    assert_eq!(r, [["1", "v1", "w'1"], ["2", "v2", "w'2"]]);
    // Table x survived on both.
    assert_eq!(my.count("x").await, Some(0));
    assert_eq!(pg.count("x").await, Some(0));
    // The MySQL-family table got its primary key from pk_fields.
    let pk = my
        .rows(&format!("SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{topic}' AND CONSTRAINT_NAME = 'PRIMARY'"))
        .await;
    assert_eq!(pk, [["order_id"]]);
    assert_eq!(d1.stop(), 0);
    assert_eq!(d2.stop(), 0);
}

async fn new_required_field_without_default_fails_naming_the_field(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "req").await;
    let tag = unique("req");
    let topic = format!("req_{tag}");
    let v1 = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"r"},"payload":{"id":1}}"#;
    let v2 = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"must_have"}],"optional":false,"name":"r"},"payload":{"id":2,"must_have":"x"}}"#;
    kcat_produce(&topic, &[(None, v1)]);
    let port = free_port();
    let cfg = sink_config(&tag, &my.url(), &topic, "")
        .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\""));
    let mut d = Daemon::start(&cfg);
    wait_for("the first row", Duration::from_secs(60), || async {
        (my.count(&topic).await == Some(1)).then_some(())
    })
    .await;
    kcat_produce(&topic, &[(None, v2)]);
    let status = wait_for("the sink to fail", Duration::from_secs(60), || async {
        let s = http_get(port, &format!("/connectors/{tag}/status")).await;
        s.contains("FAILED").then_some(s)
    })
    .await;
    assert!(
        status.contains("must_have"),
        "status names the field: {status}"
    );
    assert!(d.log_text().contains("must_have"), "log names the field");
    // The first record was applied; the second was not.
    assert_eq!(my.count(&topic).await, Some(1));
    assert_eq!(d.stop(), 0);
}

async fn bad_records_go_to_the_dead_letter_topic_with_the_reason(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "dlq").await;
    let tag = unique("dlq");
    let topic = format!("dlq_src_{tag}");
    let dlq = format!("dlq_{tag}");
    let good = |id: i64| {
        format!(
            r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}}],"optional":false,"name":"g"}},"payload":{{"id":{id}}}}}"#
        )
    };
    let mismatch = r#"{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"field":"id"}],"optional":false,"name":"g"},"payload":{"id":"seven"}}"#;
    kcat_produce(
        &topic,
        &[
            (None, &good(1)),
            (None, "not json at all"),
            (None, mismatch),
            (None, &good(2)),
        ],
    );
    let extra = format!("errors_tolerance = \"all\"\ndlq_topic = \"{dlq}\"");
    let mut d = Daemon::start(&sink_config(&tag, &my.url(), &topic, &extra));
    wait_for("the good rows", Duration::from_secs(60), || async {
        (my.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    let lines = wait_for("two dead letters", Duration::from_secs(60), || async {
        let lines = kcat_lines(&dlq, "%s|%h\n");
        (lines.len() == 2).then_some(lines)
    })
    .await;
    let out = lines.join("\n");
    assert!(lines[0].starts_with("not json at all|"), "{out}");
    assert!(
        lines[0].contains(&format!("__connect.errors.topic={topic}")),
        "{out}"
    );
    assert!(lines[0].contains("__connect.errors.offset=1"), "{out}");
    assert!(
        lines[1].contains("__connect.errors.exception.message="),
        "{out}"
    );
    assert!(lines[1].contains("id"), "the reason names the field: {out}");
    assert_eq!(d.stop(), 0);
}
