//! Binlog source compatibility: MySQL's compressed transactions and tagged
//! GTIDs, and Debezium's connector config through the Connect REST API.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;

use super::binlog::{
    assert_exactly_once_per_key, binlog_config, wait_replay_equals, wait_streaming,
};
use crate::support::*;

/// MySQL only: compressed transactions (TRANSACTION_PAYLOAD events) and
/// tagged GTIDs are read, and a restart resumes by the stored GTID set
/// (tags included) without repeating or skipping a transaction.
#[tokio::test(flavor = "multi_thread")]
async fn mysql_compressed_transactions_and_tagged_gtids_resume_exactly() {
    let db = MySqlServer::new(MySqlFlavor::MySql, "blzip").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL, j JSON)")
        .await;
    let name = unique("blzip");
    let mut daemon = Daemon::start(&binlog_config(&name, &db.url(), ""));
    wait_streaming(&daemon, 1, Duration::from_secs(120)).await;
    let batch = |from: i64| {
        format!(
            "SET SESSION binlog_transaction_compression = ON; \
             BEGIN; INSERT INTO t VALUES ({from}, 0, '{{\"a\": [1, 2]}}'), ({}, 0, NULL); UPDATE t SET seq = seq + 1 WHERE id = {from}; COMMIT; \
             SET SESSION binlog_transaction_compression = OFF; \
             SET gtid_next = 'AUTOMATIC:sluice_tag'; INSERT INTO t VALUES ({}, 0, '[]'); SET gtid_next = 'AUTOMATIC'; \
             ALTER TABLE t COMMENT 'ddl between'; \
             INSERT INTO t VALUES ({}, 0, NULL)",
            from + 1,
            from + 2,
            from + 3
        )
    };
    db.exec(&batch(1)).await;
    let topic = format!("{name}.{}.t", db.name);
    wait_replay_equals(&topic, &json_state(&db).await, &daemon).await;
    daemon.stop();
    db.exec(&batch(10)).await;
    daemon.restart();
    wait_replay_equals(&topic, &json_state(&db).await, &daemon).await;
    assert_exactly_once_per_key(&topic);
    let msgs = kcat_read(&topic);
    assert_eq!(
        msgs.len(),
        10,
        "5 rows and 1 update per batch, each once: {msgs:?}"
    );
    assert_eq!(
        msgs[0].1.as_ref().expect("row")["payload"]["j"],
        r#"{"a": [1, 2]}"#
    );
    let log = daemon.log_text();
    assert!(
        log.contains("by_gtid=true"),
        "the restart resumed by GTID set"
    );
    assert!(
        log.contains(":sluice_tag:1"),
        "the tagged GTID is in the stored set: {log}"
    );
}

/// Key → payload (`id`, `seq`, `j`) of `t` with a JSON column.
async fn json_state(db: &MySqlServer) -> BTreeMap<String, Json> {
    db.rows("SELECT id, seq, j FROM t")
        .await
        .into_iter()
        .map(|r| {
            let id: i64 = r[0].parse().expect("id");
            let seq: i64 = r[1].parse().expect("seq");
            // The binlog's binary JSON is printed as MySQL prints it (as the snapshot reads it).
            let j = if r[2] == "NULL" {
                Json::Null
            } else {
                Json::String(r[2].clone())
            };
            (
                serde_json::json!({"id": id}).to_string(),
                serde_json::json!({"id": id, "seq": seq, "j": j}),
            )
        })
        .collect()
}

/// Debezium's tutorial connector config, POSTed verbatim to the Connect REST
/// API, runs as a binlog source with Debezium's topic naming and envelope.
async fn debezium_connector_config_over_rest(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "inventory").await;
    db.exec("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(50)); INSERT INTO customers VALUES (1001, 'sally@example.com')").await;
    let port = free_port();
    let prefix = unique("dbserver1");
    let state = scratch("blrest");
    let daemon = Daemon::start(&format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        state.display()
    ));
    let class = match flavor {
        MySqlFlavor::MariaDb => "io.debezium.connector.mariadb.MariaDbConnector",
        MySqlFlavor::MySql => "io.debezium.connector.mysql.MySqlConnector",
    };
    let body = serde_json::json!({"name": format!("{prefix}-connector"), "config": {
        "connector.class": class, "tasks.max": "1",
        "database.hostname": "127.0.0.1", "database.port": flavor.port().to_string(),
        "database.user": "root", "database.password": "",
        "database.server.id": "184054", "topic.prefix": prefix,
        "database.include.list": db.name,
        "schema.history.internal.kafka.bootstrap.servers": KAFKA,
        "schema.history.internal.kafka.topic": "schema-changes.inventory"}});
    let reply = crate::support::rest::call(port, "POST", "/connectors", Some(&body), None).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.json()["config"]["database.password"], "[hidden]");
    let topic = format!("{prefix}.{}.customers", db.name);
    let msgs = wait_for("the snapshot row", Duration::from_secs(120), || async {
        let m = kcat_read(&topic);
        (!m.is_empty()).then_some(m)
    })
    .await;
    let v = msgs[0].1.as_ref().expect("value");
    assert_eq!(v["payload"]["op"], "r");
    assert_eq!(v["payload"]["after"]["email"], "sally@example.com");
    assert_eq!(v["payload"]["source"]["name"], prefix.as_str());
    db.exec("UPDATE customers SET email = 'sally@example.org' WHERE id = 1001")
        .await;
    let msgs = wait_for("the update", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 2).then_some(m)
    })
    .await;
    let u = msgs[1].1.as_ref().expect("value");
    assert_eq!(u["payload"]["op"], "u");
    assert_eq!(u["payload"]["before"]["email"], "sally@example.com");
    assert_eq!(u["payload"]["after"]["email"], "sally@example.org");
    drop(daemon);
}

crate::both_flavors!(debezium_connector_config_over_rest);

/// `sluice offsets show|reset` on a binlog source: the position is shown,
/// and after a reset the next start snapshots again.
#[tokio::test(flavor = "multi_thread")]
async fn offsets_reset_makes_a_binlog_source_snapshot_again() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "bloff").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .await;
    let name = unique("bloff");
    let mut daemon = Daemon::start(&binlog_config(&name, &db.url(), ""));
    let topic = format!("{name}.{}.t", db.name);
    wait_for("the snapshot", Duration::from_secs(120), || async {
        (kcat_read(&topic).len() == 2).then_some(())
    })
    .await;
    daemon.stop();
    let cfg = daemon.config.to_str().expect("path").to_string();
    let (code, out) = sluice(&["offsets", "show", "--config", &cfg, "--pipeline", &name]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("server={name}")) && out.contains("\"snapshot_completed\":true"),
        "{out}"
    );
    let (code, out) = sluice(&["offsets", "reset", "--config", &cfg, "--pipeline", &name]);
    assert_eq!(code, 0, "{out}");
    daemon.restart();
    wait_for("a second snapshot", Duration::from_secs(120), || async {
        (kcat_read(&topic).len() == 4).then_some(())
    })
    .await;
}
