//! A key-less table (no primary key, no NOT NULL unique key) snapshotted in
//! chunks (`snapshot_locking = "none"`) while a writer inserts, updates and
//! deletes its rows. Such a table is read in one chunk; a change between its
//! watermarks cannot be matched by key, so it is matched by the whole row
//! (every row here is distinct). Replaying the topic as a multiset of rows
//! (reads and inserts add a row, deletes remove one, updates do both) must
//! give the table's final contents: no row lost, none doubled.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::Value as Json;

use super::binlog::binlog_config_on;
use crate::support::*;

/// Rows before the snapshot, and bytes of padding each (past a chunk's 4 MiB
/// bound in all, so the chunk is spooled to disk).
const ROWS: i64 = 12_000;
const PAD: usize = 1_000;

/// A row as the replay counts it: `n` and the length of `pad`.
type Row = (i64, usize);

fn row_of(v: &Json) -> Option<Row> {
    Some((v["n"].as_i64()?, v["pad"].as_str()?.len()))
}

/// The topic's committed changes as (op, before, after).
fn changes(topic: &str) -> Vec<(String, Option<Row>, Option<Row>)> {
    let mut kcat = Command::new("timeout")
        .args(["120", "kcat", "-C", "-b", KAFKA, "-t", topic])
        .args(["-o", "beginning", "-e", "-q"])
        .args(["-X", "isolation.level=read_committed", "-f", "%s\n"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("kcat");
    let out = kcat.stdout.take().expect("kcat's stdout");
    let mut all = Vec::new();
    for line in BufReader::new(out).lines() {
        let line = line.expect("reading kcat");
        if line.trim().is_empty() {
            continue; // a tombstone
        }
        let v: Json = serde_json::from_str(&line).expect("a JSON value");
        let p = &v["payload"];
        let op = p["op"].as_str().expect("op").to_string();
        all.push((op, row_of(&p["before"]), row_of(&p["after"])));
    }
    kcat.wait().expect("kcat");
    all
}

/// Applies changes to a multiset of rows, as a sink applies them to a
/// key-less table (a delete of a row not there changes nothing).
fn replay(changes: &[(String, Option<Row>, Option<Row>)]) -> BTreeMap<Row, u32> {
    let mut rows: BTreeMap<Row, u32> = BTreeMap::new();
    for (_, before, after) in changes {
        if let Some(b) = before {
            if let Some(c) = rows.get_mut(b) {
                *c -= 1;
                if *c == 0 {
                    rows.remove(b);
                }
            }
        }
        if let Some(a) = after {
            *rows.entry(*a).or_default() += 1;
        }
    }
    rows
}

/// Inserts new rows, moves rows to new values of `n` and deletes rows,
/// each statement its own transaction, until `stop`.
async fn writer(url: String, stop: Arc<AtomicBool>) -> u64 {
    let pool = mysql_async::Pool::new(url.as_str());
    let mut conn = pool.get_conn().await.expect("writer's connection");
    let mut i = 0i64;
    while !stop.load(Ordering::Relaxed) {
        let k = i / 3;
        let sql = match i % 3 {
            0 => format!("INSERT INTO t VALUES ({}, 'w')", 1_000_000 + k),
            1 => format!("UPDATE t SET n = n + 2000000 WHERE n = {k}"),
            _ => format!("DELETE FROM t WHERE n = {}", ROWS - 1 - k),
        };
        conn.query_drop(&sql).await.expect("writer's statement");
        i += 1;
    }
    drop(conn);
    pool.disconnect().await.ok();
    i as u64
}

async fn a_keyless_table_under_writes_is_read_once(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "nokeyw").await;
    db.exec("CREATE TABLE t (n BIGINT NOT NULL, pad TEXT NOT NULL)")
        .await;
    for from in (0..ROWS).step_by(1000) {
        let values: Vec<String> = (from..from + 1000)
            .map(|n| format!("({n}, REPEAT('p', {PAD}))"))
            .collect();
        db.exec(&format!("INSERT INTO t VALUES {}", values.join(", ")))
            .await;
    }
    let name = unique("nokeyw");
    let topic = format!("{name}.{}.t", db.name);
    let stop = Arc::new(AtomicBool::new(false));
    let writing = tokio::spawn(writer(db.url(), stop.clone()));
    // Let the writer get going, so the chunk's window sees its changes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let config = binlog_config_on(
        free_port(),
        &name,
        &db.url(),
        &format!("tables = [\"t\"]\nserver_name = \"{name}\"\nenvelope = \"debezium\""),
    );
    let mut daemon = Daemon::start(&config);
    daemon
        .wait_log("snapshot complete (chunked)", Duration::from_secs(120))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let statements = writing.await.expect("writer");
    let truth: BTreeMap<Row, u32> = db
        .rows("SELECT n, LENGTH(pad) FROM t")
        .await
        .into_iter()
        .map(|r| ((r[0].parse().expect("n"), r[1].parse().expect("length")), 1))
        .collect();
    // The writer's last changes may still be on their way: read until equal.
    let mut got = BTreeMap::new();
    for _ in 0..30 {
        got = replay(&changes(&topic));
        if got == truth {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let missing = truth.keys().filter(|r| !got.contains_key(r)).count();
    let extra: u32 = got
        .iter()
        .map(|(r, c)| c - u32::from(truth.contains_key(r)))
        .sum();
    let all = changes(&topic);
    for (r, c) in &got {
        if *c > u32::from(truth.contains_key(r)) {
            let seen: Vec<_> = all
                .iter()
                .enumerate()
                .filter(|(_, (_, b, a))| *b == Some(*r) || *a == Some(*r))
                .collect();
            eprintln!("extra {r:?} x{c}: {seen:?}");
        }
    }
    assert!(
        missing == 0 && extra == 0,
        "{flavor:?}: replaying the topic gives {} rows, the table has {}: {missing} missing, {extra} extra",
        got.values().sum::<u32>(),
        truth.len()
    );
    let log = daemon.log_text();
    assert_eq!(daemon.stop(), 0, "{log}");
    assert!(
        log.contains("snapshot: key-less table spooled to disk"),
        "a {} KB chunk is spooled: {log}",
        ROWS as usize * PAD / 1000
    );
    println!(
        "{flavor:?}: {statements} writer statements, {} rows at the end",
        truth.len()
    );
}

crate::both_flavors!(a_keyless_table_under_writes_is_read_once);
