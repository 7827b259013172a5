//! The poll source's modes and table selection, read back from Kafka.

use std::time::Duration;

use serde_json::Value as Json;

use crate::both_flavors;
use crate::support::*;

both_flavors!(
    timestamp_mode_sees_updates,
    timestamp_incrementing_mode_keeps_ties,
    bulk_mode_rereads_table_and_lists_filter_tables,
    include_list_with_connect_names,
    json_enum_and_temporal_columns_read_alike
);

fn source_config(db: &MySqlServer, tag: &str, prefix: &str, extra: &str) -> String {
    poll_source_config(db, tag, &format!("topic_prefix = \"{prefix}\"\n{extra}"))
}

/// A daemon config with one poll source `tag` on `db` (100 ms polls), plus `extra` keys.
pub(crate) fn poll_source_config(db: &MySqlServer, tag: &str, extra: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[source]]
name = "{tag}"
kind = "poll"
url = "{url}"
poll_interval_ms = 100
{extra}
"#,
        url = db.url()
    )
}

/// Payloads of the committed messages on `topic`.
fn payloads(topic: &str) -> Vec<Json> {
    kcat_read(topic)
        .into_iter()
        .filter_map(|(_, v)| v.map(|v| v["payload"].clone()))
        .collect()
}

async fn wait_payloads(topic: &str, n: usize) -> Vec<Json> {
    wait_for(
        &format!("{n} messages on {topic}"),
        Duration::from_secs(60),
        || async {
            let p = payloads(topic);
            (p.len() >= n).then_some(p)
        },
    )
    .await
}

async fn timestamp_mode_sees_updates(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "ts").await;
    db.exec(
        "CREATE TABLE items (id INT PRIMARY KEY, v VARCHAR(10), updated_at DATETIME(3) NOT NULL)",
    )
    .await;
    db.exec("INSERT INTO items VALUES (1, 'a', '2024-01-01 00:00:00.000'), (2, 'b', '2024-01-01 00:00:01.000')").await;
    let tag = unique("ts");
    let prefix = format!("{tag}_");
    let mut d = Daemon::start(&source_config(
        &db,
        &tag,
        &prefix,
        "mode = \"timestamp\"\ntimestamp_columns = [\"updated_at\"]",
    ));
    let topic = format!("{prefix}items");
    let p = wait_payloads(&topic, 2).await;
    assert_eq!(p[0]["v"], "a");
    assert_eq!(p[0]["updated_at"], 1_704_067_200_000i64);
    db.exec("UPDATE items SET v = 'a2', updated_at = '2024-01-02 00:00:00.000' WHERE id = 1")
        .await;
    let p = wait_payloads(&topic, 3).await;
    assert_eq!(p[2]["id"], 1);
    assert_eq!(p[2]["v"], "a2");
    // A restart resumes after the last committed timestamp: nothing re-sent.
    assert_eq!(d.stop(), 0);
    d.restart();
    db.exec("INSERT INTO items VALUES (3, 'c', '2024-01-03 00:00:00.000')")
        .await;
    let p = wait_payloads(&topic, 4).await;
    assert_eq!(p[3]["id"], 3);
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        payloads(&topic).len(),
        4,
        "no message re-sent after restart"
    );
    assert_eq!(d.stop(), 0);
}

async fn timestamp_incrementing_mode_keeps_ties(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tsi").await;
    db.exec("CREATE TABLE ev (id INT PRIMARY KEY, ts TIMESTAMP(3) NOT NULL)")
        .await;
    // Three rows share one timestamp: the incrementing column breaks the tie.
    db.exec("SET time_zone = '+00:00'; INSERT INTO ev VALUES (1, '2024-01-01 00:00:00'), (2, '2024-01-01 00:00:00'), (3, '2024-01-01 00:00:00')").await;
    let tag = unique("tsi");
    let prefix = format!("{tag}_");
    let mut d = Daemon::start(&source_config(
        &db,
        &tag,
        &prefix,
        "mode = \"timestamp+incrementing\"\ntimestamp_columns = [\"ts\"]\nincrementing_column = \"id\"\nbatch_max_rows = 2",
    ));
    let topic = format!("{prefix}ev");
    let p = wait_payloads(&topic, 3).await;
    let ids: Vec<i64> = p.iter().filter_map(|v| v["id"].as_i64()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(d.stop(), 0);
    db.exec("SET time_zone = '+00:00'; INSERT INTO ev VALUES (4, '2024-01-01 00:00:00')")
        .await;
    d.restart();
    let p = wait_payloads(&topic, 4).await;
    assert_eq!(
        p[3]["id"], 4,
        "a late row with an equal timestamp but higher id is read"
    );
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(payloads(&topic).len(), 4);
    assert_eq!(d.stop(), 0);
}

async fn bulk_mode_rereads_table_and_lists_filter_tables(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "bulk").await;
    db.exec("CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY); CREATE TABLE c (id INT PRIMARY KEY)").await;
    db.exec("INSERT INTO a VALUES (1), (2); INSERT INTO b VALUES (1); INSERT INTO c VALUES (1)")
        .await;
    let tag = unique("bulk");
    let prefix = format!("{tag}_");
    let cfg = source_config(
        &db,
        &tag,
        &prefix,
        "mode = \"bulk\"\ntable_exclude = [\"b\"]",
    )
    .replace("poll_interval_ms = 100", "poll_interval_ms = 1000");
    let mut d = Daemon::start(&cfg);
    // Bulk re-reads: the two rows of `a` arrive again on later polls.
    wait_payloads(&format!("{prefix}a"), 4).await;
    wait_payloads(&format!("{prefix}c"), 1).await;
    assert_eq!(d.stop(), 0);
    assert!(
        payloads(&format!("{prefix}b")).is_empty(),
        "excluded table b was read"
    );
}

async fn include_list_with_connect_names(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "incl").await;
    db.exec("CREATE TABLE a (id INT PRIMARY KEY); CREATE TABLE b (id INT PRIMARY KEY)")
        .await;
    db.exec("INSERT INTO a VALUES (1); INSERT INTO b VALUES (1)")
        .await;
    let tag = unique("incl");
    let prefix = format!("{tag}_");
    let extra = format!("mode = \"incrementing\"\n\"incrementing.column.name\" = \"id\"\n\"table.whitelist\" = \"{}.b\"", db.name);
    let mut d = Daemon::start(&source_config(&db, &tag, &prefix, &extra));
    let p = wait_payloads(&format!("{prefix}b"), 1).await;
    assert_eq!(p[0]["id"], 1);
    assert_eq!(d.stop(), 0);
    assert!(
        payloads(&format!("{prefix}a")).is_empty(),
        "table a is not in the include list"
    );
}

/// Types whose MySQL and MariaDB forms differ (JSON is binary JSON on MySQL and
/// LONGTEXT on MariaDB; MySQL sends JSON results with the binary charset) come
/// out as the same Connect values.
async fn json_enum_and_temporal_columns_read_alike(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "types").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, j JSON, e ENUM('x','y'), s SET('a','b'), \
         ts TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3), dt DATETIME(6), y YEAR, \
         u BIGINT UNSIGNED, b BIT(1), bin VARBINARY(4))",
    )
    .await;
    db.exec(
        "SET time_zone = '+00:00'; INSERT INTO t VALUES (1, '{\"a\": 1, \"b\": [true, null]}', 'y', 'a,b', \
         '2024-05-06 07:08:09.123', '2024-05-06 07:08:09.123456', 2024, 18446744073709551615, b'1', X'00ff')",
    )
    .await;
    let tag = unique("types");
    let prefix = format!("{tag}_");
    let mut d = Daemon::start(&source_config(
        &db,
        &tag,
        &prefix,
        "mode = \"incrementing\"\nincrementing_column = \"id\"",
    ));
    let topic = format!("{prefix}t");
    let msgs = wait_for("the row", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (!m.is_empty()).then_some(m)
    })
    .await;
    let value = msgs[0].1.clone().expect("value");
    let p = &value["payload"];
    let j: Json = serde_json::from_str(p["j"].as_str().expect("JSON as a string")).expect("json");
    assert_eq!(
        j,
        serde_json::json!({"a": 1, "b": [true, null]}),
        "{flavor:?}"
    );
    assert_eq!(p["e"], "y");
    assert_eq!(p["s"], "a,b");
    assert_eq!(p["ts"], 1_714_979_289_123i64);
    assert_eq!(p["dt"], 1_714_979_289_123i64);
    assert_eq!(p["b"], true);
    assert_eq!(p["bin"], "AP8=");
    let field_type = |name: &str| {
        value["schema"]["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["field"] == name))
            .map(|f| f["type"].clone())
    };
    assert_eq!(field_type("j"), Some(Json::from("string")), "{flavor:?}");
    assert_eq!(field_type("u"), Some(Json::from("bytes")), "{flavor:?}");
    assert_eq!(d.stop(), 0);
}
