//! kill -9 of a binlog source (and its sink) while a writer runs: after each
//! restart the topic holds every change exactly once, in order per key, and
//! the sink's table equals the source table.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;

use super::binlog::{
    assert_exactly_once_per_key, fill, run_writer, source_and_pg_sink_config, table_state,
    wait_pg_copy_equals, wait_replay_equals,
};
use crate::support::*;

async fn kill_9_repeatedly_loses_and_doubles_nothing(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "blcrash").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 500).await;
    let pg = Postgres::create("blcrash").await;
    let name = unique("blcrash");
    let (config, topic) = source_and_pg_sink_config(
        &name,
        &db,
        &pg,
        // The one-cut snapshot (flat messages: a chunked snapshot's read may
        // repeat a streamed state, see binlog_chunks for its crash test).
        "max_transaction_rows = 64\nmax_batch_rows = 200\nsnapshot_fetch_rows = 100\nsnapshot_locking = \"minimal\"",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 501));
    // Large transactions, split across Kafka transactions by max_transaction_rows.
    let big_stop = stop.clone();
    let big_url = db.url();
    let big = tokio::spawn(async move {
        let pool = mysql_async::Pool::new(big_url.as_str());
        let mut c = pool.get_conn().await.expect("conn");
        let mut n = 0;
        while !big_stop.load(Ordering::Relaxed) {
            match c
                .query_drop("UPDATE t SET seq = seq + 1 WHERE id <= 300")
                .await
            {
                Ok(()) => n += 1,
                // MySQL: the one-cut snapshot's FLUSH TABLES WITH READ LOCK
                // blocks the other writer's COMMIT, which holds the rows this
                // statement waits for; InnoDB's lock wait timeout ends the
                // cycle by rolling this statement back (the table stays the
                // truth the topic is compared with).
                Err(mysql_async::Error::Server(e)) if e.code == 1205 => {}
                Err(e) => panic!("big update: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        n
    });
    let mut daemon = Daemon::start(&config);
    for round in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(900 + round * 400)).await;
        daemon.kill();
        daemon.restart();
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    let big_txns = big.await.expect("big writer");
    assert!(
        statements > 100 && big_txns > 3,
        "writers ran {statements} statements, {big_txns} large transactions"
    );

    let want = table_state(&db).await;
    wait_replay_equals(&topic, &want, &daemon).await;
    let n = assert_exactly_once_per_key(&topic);
    assert!(n >= 500, "only {n} messages");
    wait_pg_copy_equals(&db, &pg).await;
    let log = daemon.log_text();
    assert!(
        log.matches("sluice running").count() >= 4,
        "the daemon ran 4 times"
    );
    drop(db.pool.get_conn().await.expect("conn"));
}

crate::both_flavors!(kill_9_repeatedly_loses_and_doubles_nothing);

/// SIGTERM while the one-cut snapshot runs: the daemon stops at once (not
/// after the 30 s drain deadline, as when the cancelled snapshot's pool
/// waited for a connection it still held), exits 0, and no row of the
/// aborted snapshot becomes visible; the restart snapshots every row once.
async fn a_sigterm_during_the_snapshot_stops_at_once_and_commits_nothing(flavor: MySqlFlavor) {
    const ROWS: u32 = 100_000;
    let db = MySqlServer::new(flavor, "blterm").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL, pad VARCHAR(200))")
        .await;
    fill(&db, ROWS).await;
    db.exec("UPDATE t SET pad = REPEAT('x', 200)").await;
    let name = unique("blterm");
    let topic = format!("{name}.{}.t", db.name);
    let config = super::binlog::binlog_config(
        &name,
        &db.url(),
        "snapshot_fetch_rows = 500\nsnapshot_locking = \"minimal\"",
    );
    let mut daemon = Daemon::start(&config);
    wait_for("the snapshot to start", Duration::from_secs(30), || {
        let log = daemon.log_text();
        async move { log.contains("snapshot started").then_some(()) }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let termed = std::time::Instant::now();
    let code = daemon.stop();
    let took = termed.elapsed();
    let log = daemon.log_text();
    println!("{flavor:?}: SIGTERM during the snapshot: exited {code} after {took:?}");
    assert!(
        !log.contains("snapshot complete"),
        "the snapshot ended before the SIGTERM: make the table bigger\n{log}"
    );
    assert_eq!(code, 0, "{log}");
    assert!(
        took < Duration::from_secs(10) && !log.contains("did not drain"),
        "the daemon took {took:?} to stop:\n{log}"
    );
    assert_eq!(
        kcat_read(&topic).len(),
        0,
        "rows of the aborted snapshot are visible"
    );
    daemon.restart();
    wait_for("the restarted snapshot", Duration::from_secs(120), || {
        let log = daemon.log_text();
        async move { log.contains("snapshot complete").then_some(()) }
    })
    .await;
    let messages = kcat_read(&topic);
    let ids: std::collections::BTreeSet<i64> = messages
        .iter()
        .filter_map(|(_, v)| v.as_ref()?["payload"]["id"].as_i64())
        .collect();
    assert_eq!(messages.len(), ROWS as usize, "every row once");
    assert_eq!(ids.len(), ROWS as usize, "every row once");
}

crate::both_flavors!(a_sigterm_during_the_snapshot_stops_at_once_and_commits_nothing);
