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
            c.query_drop("UPDATE t SET seq = seq + 1 WHERE id <= 300")
                .await
                .expect("big update");
            n += 1;
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
