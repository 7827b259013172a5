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
    let (config, topic) = source_and_pg_sink_config(
        &name,
        &db,
        &pg,
        "max_transaction_rows = 64\nsnapshot_locking = \"minimal\"",
    );
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

/// MySQL: a stored GTID set that `@@gtid_purged` has moved past is a clear
/// error under `initial`, and a new snapshot under `when_needed`. Purges the
/// shared MySQL server's older binlogs, so it runs alone (ignored in the suite).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "purges the shared MySQL server's binlogs; run alone: scripts/crash-binlog.sh"]
async fn mysql_gtid_purged_past_the_stored_set() {
    let db = MySqlServer::new(MySqlFlavor::MySql, "blgone").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1), (2)")
        .await;
    let uuid = db.rows("SELECT @@server_uuid").await[0][0].clone();
    let (old_file, _) = super::binlog::master_status(&db).await;
    db.exec("FLUSH BINARY LOGS").await;
    let (new_file, _) = super::binlog::master_status(&db).await;
    db.exec(&format!("PURGE BINARY LOGS TO '{new_file}'")).await;
    let purged = db.rows("SELECT @@GLOBAL.gtid_purged").await[0][0].clone();
    assert!(!purged.is_empty(), "the purge left gtid_purged empty");
    // A position from before the purge: its GTID set lacks what was purged since.
    let stale = serde_json::json!({"file": old_file, "pos": 4, "gtids": format!("{uuid}:1"),
        "row": 0, "snapshot_completed": true});
    for (mode, snapshot_again) in [("initial", false), ("when_needed", true)] {
        let name = unique("blgone");
        kcat_produce(
            "sluice_offsets",
            &[(
                Some(&format!(r#"["{name}",{{"server":"{name}"}}]"#)),
                &stale.to_string(),
            )],
        );
        let daemon = Daemon::start(&super::binlog::binlog_config(
            &name,
            &db.url(),
            &format!("snapshot_mode = \"{mode}\""),
        ));
        if snapshot_again {
            wait_for("the re-snapshot", Duration::from_secs(120), || async {
                (kcat_read(&format!("{name}.{}.t", db.name)).len() == 2).then_some(())
            })
            .await;
        } else {
            let log = wait_for(
                "the purged-GTID error",
                Duration::from_secs(120),
                || async {
                    let l = daemon.log_text();
                    l.contains("@@gtid_purged").then_some(l)
                },
            )
            .await;
            assert!(log.contains("has moved past the stored GTID set"), "{log}");
            assert!(log.contains("when_needed"), "{log}");
        }
    }
}
