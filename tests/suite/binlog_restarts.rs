//! A binlog source and its sink survive a MariaDB restart and a Kafka broker
//! restart while a writer runs: nothing lost, nothing doubled. These restart
//! the shared services, so they are `#[ignore]`d in the suite and run alone by
//! `scripts/crash-binlog.sh`.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::binlog::{
    assert_exactly_once_per_key, fill, run_tolerant_writer, source_and_pg_sink_config, table_state,
    wait_pg_copy_equals, wait_replay_equals,
};
use crate::support::*;

fn restart(service: &str) {
    let root = env!("CARGO_MANIFEST_DIR");
    let ok = Command::new("bash")
        .arg(format!("{root}/scripts/services.sh"))
        .args(["restart", service])
        .status()
        .expect("services.sh")
        .success();
    assert!(ok, "services.sh restart {service} failed");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "restarts the shared MariaDB and Kafka; run alone: scripts/crash-binlog.sh"]
async fn survives_a_mariadb_restart_and_a_kafka_restart() {
    let flavor = MySqlFlavor::MariaDb;
    let db = MySqlServer::new(flavor, "blsvc").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 300).await;
    let pg = Postgres::create("blsvc").await;
    let name = unique("blsvc");
    let (config, topic) = source_and_pg_sink_config(&name, &db, &pg, "max_transaction_rows = 64");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_tolerant_writer(db.url(), stop.clone(), 301));
    let daemon = Daemon::start(&config);
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| restart("mariadb"))
        .await
        .expect("restart");
    tokio::time::sleep(Duration::from_secs(3)).await;
    tokio::task::spawn_blocking(|| restart("kafka"))
        .await
        .expect("restart");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(
        statements > 100,
        "the writer ran only {statements} statements"
    );
    let want = table_state(&db).await;
    wait_replay_equals(&topic, &want, &daemon).await;
    assert_exactly_once_per_key(&topic);
    wait_pg_copy_equals(&db, &pg).await;
}
