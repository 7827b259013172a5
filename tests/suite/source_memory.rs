//! A binlog source's memory is bounded in bytes, not in rows: 4,000 rows of
//! 16 KB (64 MB) stream through a Debezium-envelope source in 16 MB source
//! transactions, then an ad-hoc chunked snapshot reads them again, with the
//! default `max_batch_rows` (4,096), `snapshot_fetch_rows` (10,000) and
//! `max_batch_bytes` (16 MiB). Counted in rows, one snapshot chunk alone
//! would be the whole 64 MB table, and each queued batch 16 MB or more. The
//! daemon's peak RSS (`VmHWM`) may grow past what it took once running idle by
//! at most [`GROWTH_BOUND_MB`]: the encoder hands the Kafka transaction being
//! filled over in 1 MiB pieces, the producer waits past 4 MiB unacknowledged,
//! and a chunk holds at most 4 MiB of values (README, "Memory").
//!
//! The growth, not the peak, is bounded: the test runs the debug binary,
//! whose idle RSS is several times the release build's.

use std::time::Duration;

use serde_json::json;

use super::binlog::binlog_config_on;
use super::binlog_chunks::wait_snapshot_rows;
use super::metrics_scrape::metric_sum;
use super::seed::http_get;
use crate::support::rest::call;
use crate::support::*;

const ROWS: usize = 4_000;
const ROWS_PER_TXN: usize = 1_000;
/// `body` holds 512 MD5 digests: 16,384 bytes.
const BODY_BYTES: usize = 16_384;
const GROWTH_BOUND_MB: u64 = 48;
/// Past this the daemon is stopped at once (the test fails, the machine is spared).
const RSS_GUARD_MB: u64 = 4096;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_kb_rows_stream_and_snapshot_in_bounded_memory() {
    stream_and_snapshot("CREATE TABLE t (id BIGINT PRIMARY KEY, body MEDIUMTEXT NOT NULL)").await;
}

/// The same rows in a table with no key: its snapshot is one chunk of
/// 64 MB, held past 4 MiB in a spool file, not in memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyless_table_snapshots_in_bounded_memory() {
    stream_and_snapshot("CREATE TABLE t (id BIGINT NOT NULL, body MEDIUMTEXT NOT NULL)").await;
}

async fn stream_and_snapshot(ddl: &str) {
    let db = MySqlServer::create("srcmem").await;
    db.exec(ddl).await;
    let name = unique("srcmem");
    let port = free_port();
    let topic = format!("{name}.{}.t", db.name);
    let config = binlog_config_on(
        port,
        &name,
        &db.url(),
        &format!(
            "tables = [\"t\"]\nserver_name = \"{name}\"\nenvelope = \"debezium\"\n\
             include_schema_changes = false\nsnapshot_mode = \"schema_only\""
        ),
    );
    let mut d = Daemon::start(&config);
    wait_for("the source to stream", Duration::from_secs(60), || async {
        http_get(port, "/metrics")
            .await
            .contains("sluice_source_lag_seconds")
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_mb = d.status_kb("VmHWM").unwrap_or(u64::MAX) / 1024;

    for txn in 0..ROWS / ROWS_PER_TXN {
        let first = txn * ROWS_PER_TXN + 1;
        db.exec(&format!(
            "INSERT INTO t SELECT seq, REPEAT(MD5(seq), {reps}) FROM seq_{first}_to_{last}",
            reps = BODY_BYTES / 32,
            last = first + ROWS_PER_TXN - 1,
        ))
        .await;
    }
    let produced = || metric_sum(port, "sluice_source_messages_produced_total", &name);
    let streamed = wait_for("the inserts streamed", Duration::from_secs(300), || async {
        if d.status_kb("VmRSS").unwrap_or(0) > RSS_GUARD_MB * 1024 {
            return Some(false);
        }
        (produced().await >= ROWS as f64).then_some(true)
    })
    .await;
    assert!(streamed, "stopped: RSS over {RSS_GUARD_MB} MiB");

    let reply = call(
        port,
        "POST",
        &format!("/connectors/{name}/snapshot"),
        Some(&json!({"data-collections": [format!("{}.t", db.name)]})),
        None,
    )
    .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    wait_snapshot_rows(port, &name, ROWS as f64, Duration::from_secs(300)).await;
    let committed = wait_for(
        "every message committed",
        Duration::from_secs(60),
        || async {
            let ops = kcat_lines(&topic, "%s\n")
                .iter()
                .map(|v| {
                    let v: serde_json::Value = serde_json::from_str(v).expect("JSON value");
                    let body = v["payload"]["after"]["body"].as_str().map_or(0, str::len);
                    (v["payload"]["op"].as_str().unwrap_or("?").to_string(), body)
                })
                .collect::<Vec<_>>();
            (ops.len() >= 2 * ROWS).then_some(ops)
        },
    )
    .await;
    let peak_mb = d.status_kb("VmHWM").unwrap_or(u64::MAX) / 1024;
    println!(
        "{ddl}: sluice peak RSS (VmHWM): {idle_mb} MiB idle, {peak_mb} MiB after {ROWS} rows \
         of 16 KB streamed and snapshotted (growth bound {GROWTH_BOUND_MB} MiB)"
    );
    assert_eq!(d.stop(), 0, "{}", d.log_text());
    db.exec("DROP TABLE t").await;

    let count = |op: &str| committed.iter().filter(|(o, _)| o == op).count();
    assert_eq!(
        (committed.len(), count("c"), count("r")),
        (2 * ROWS, ROWS, ROWS),
        "each row once streamed and once read"
    );
    assert!(committed.iter().all(|(_, body)| *body == BODY_BYTES));
    assert!(
        peak_mb.saturating_sub(idle_mb) <= GROWTH_BOUND_MB,
        "peak RSS grew by {} MiB (idle {idle_mb}, peak {peak_mb}), over the {GROWTH_BOUND_MB} MiB bound",
        peak_mb.saturating_sub(idle_mb)
    );
}
