//! Dead peers on the real MariaDB, through a TCP proxy in the test that can
//! black-hole a connection without closing it (what a host power loss, or a
//! NAT or firewall dropping an idle flow, looks like from the client): the
//! binlog source notices the silence within three heartbeat periods,
//! reconnects when traffic flows again and the topic stays exactly once; a
//! sink waiting on a lock says what it waits for, its statement timeout fires,
//! a black-holed apply is given up client side, and once traffic flows every
//! record is applied exactly once.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::binlog::{binlog_config, fill, run_writer, stop_writer_and_check_topic};
use super::seed::http_get;
use super::sink_modes::{config, field, message, Db, DEADLINE};
use crate::support::*;

/// A loopback TCP proxy to a local port. While black-holed it forwards
/// nothing in either direction and keeps every socket open; bytes already
/// read are delivered when traffic flows again, as a network would. Dropping
/// it ends the listener and every connection's pumps.
struct Proxy {
    port: u16,
    flowing: watch::Sender<bool>,
    listener: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (flowing, rx) = watch::channel(true);
        let listener = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    tokio::join!(pump(cr, sw, rx.clone()), pump(sr, cw, rx));
                });
            }
        });
        Proxy {
            port,
            flowing,
            listener,
        }
    }

    /// Stops forwarding, sockets stay open.
    fn black_hole(&self) {
        self.flowing.send_replace(false);
    }

    /// Forwards again.
    fn flow(&self) {
        self.flowing.send_replace(true);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Copies `r` to `w` while traffic flows; an end of stream is passed on.
async fn pump(mut r: OwnedReadHalf, mut w: OwnedWriteHalf, mut flowing: watch::Receiver<bool>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        if flowing.wait_for(|f| *f).await.is_err() {
            return;
        }
        let read = tokio::select! {
            read = r.read(&mut buf) => read.ok(),
            _ = flowing.changed() => continue, // black-holed (or flowing again): re-check
        };
        let n = match read {
            Some(0) | None => {
                let _ = w.shutdown().await;
                return;
            }
            Some(n) => n,
        };
        if flowing.wait_for(|f| *f).await.is_err() || w.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// How many times `needle` occurs in the daemon's log.
fn log_count(daemon: &Daemon, needle: &str) -> usize {
    daemon.log_text().matches(needle).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_black_holed_binlog_connection_is_noticed_within_three_heartbeats_and_resumed() {
    const PERIOD: Duration = Duration::from_secs(1);
    let db = MySqlServer::create("peerbl").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 500).await;
    let proxy = Proxy::start(3306).await;
    let name = unique("peerbl");
    let url = format!("mysql://root@127.0.0.1:{}/{}", proxy.port, db.name);
    let daemon = Daemon::start(&binlog_config(
        &name,
        &url,
        // The one-cut snapshot: flat messages, checked for seq + 1 per change.
        &format!(
            "heartbeat_interval_ms = {}\nsnapshot_locking = \"minimal\"",
            PERIOD.as_millis()
        ),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 501));
    wait_for("streaming", Duration::from_secs(120), || async {
        (log_count(&daemon, "streaming binlog") >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // events flow through the proxy

    proxy.black_hole();
    let cut = Instant::now();
    let silent = "binlog connection silent for";
    wait_for(
        "the silence to be noticed",
        Duration::from_secs(30),
        || async { (log_count(&daemon, silent) >= 1).then_some(()) },
    )
    .await;
    let noticed = cut.elapsed();
    println!(
        "black-holed binlog connection noticed after {:.2} s (heartbeat period {} s)",
        noticed.as_secs_f64(),
        PERIOD.as_secs()
    );
    // Three periods after the last event, which came at most just before the cut
    // (the writer keeps events coming). Above that: the log is polled every
    // 200 ms, and time the source spends publishing on a tick is not counted as
    // the server's silence (on two busy cores that has measured up to 1.5 s).
    assert!(
        noticed >= PERIOD * 2 && noticed <= PERIOD * 3 + Duration::from_secs(2),
        "noticed after {noticed:?}"
    );
    assert!(daemon
        .log_text()
        .contains("(3 heartbeat periods); reconnecting"));

    // Still black-holed for a while: the reconnect waits, bounded.
    tokio::time::sleep(PERIOD * 2).await;
    proxy.flow();
    wait_for(
        "the source to stream again",
        Duration::from_secs(60),
        || async { (log_count(&daemon, "streaming binlog") >= 2).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await; // writes keep flowing after the reconnect
    let topic = format!("{name}.{}.t", db.name);
    stop_writer_and_check_topic(&stop, writer, &topic, &db, &daemon, 500).await;
}

/// `{id}` (int32) as Connect JSON.
fn row(id: i64) -> String {
    message("r", &[field("id", "int32", false)], json!({ "id": id }))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_sink_says_what_it_waits_for_times_out_and_applies_exactly_once() {
    let my = MySqlServer::create("peersink").await;
    my.exec("CREATE TABLE t (id INT PRIMARY KEY)").await;
    let proxy = Proxy::start(3306).await;
    let tag = unique("peersink");
    let topic = format!("peersink_{tag}");
    let url = format!("mysql://root@127.0.0.1:{}/{}", proxy.port, my.name);
    let first: Vec<String> = (1..=5).map(row).collect();
    let refs: Vec<(Option<&str>, &str)> = first.iter().map(|m| (None, m.as_str())).collect();
    kcat_produce(&topic, &refs);
    let port = free_port();
    // Plain INSERTs: a record applied twice would be a duplicate key, a stop.
    let sink = format!(
        "[[sink]]\nname = \"{tag}\"\nurl = \"{url}\"\ntopics = [\"{topic}\"]\n\
         table_name_format = \"t\"\nauto_create = false\nflush_interval_ms = 50\n\
         statement_timeout_ms = 3000\n"
    );
    let daemon = Daemon::start(&config(port, &[sink]));
    let db = Db::My(&my);
    db.wait_applied(&tag, &topic, 5).await;

    // A session of the test holds the gap above id 5: the sink's inserts wait.
    let mut holder = my.pool.get_conn().await.expect("conn");
    holder
        .query_drop("BEGIN; SELECT id FROM t WHERE id >= 6 FOR UPDATE")
        .await
        .expect("lock the gap");
    let more: Vec<String> = (6..=10).map(row).collect();
    let refs: Vec<(Option<&str>, &str)> = more.iter().map(|m| (None, m.as_str())).collect();
    kcat_produce(&topic, &refs);
    let status_path = format!("/connectors/{tag}/status");
    let waiting = wait_for("the status to say what it waits for", DEADLINE, || async {
        let s = http_get(port, &status_path).await;
        s.contains("\"trace\":\"waiting: applying batch to table t for ")
            .then_some(s)
    })
    .await;
    println!("status while waiting: {waiting}");
    assert!(waiting.contains("RUNNING"), "{waiting}");

    // The server's lock wait timeout (statement_timeout_ms) fires; the pipeline retries.
    daemon.wait_log("1205", DEADLINE).await;

    // Black-holed mid-apply (the retry waits on the lock again): the
    // server's answer is lost, the client-side bound gives up on it.
    wait_for("the apply to wait again", DEADLINE, || async {
        let s = http_get(port, &status_path).await;
        s.contains("\"trace\":\"waiting: applying batch")
            .then_some(())
    })
    .await;
    proxy.black_hole();
    let cut = Instant::now();
    wait_for("the client-side timeout", DEADLINE, || async {
        daemon
            .log_text()
            .contains("applying batch to table t: no answer from the target")
            .then_some(())
    })
    .await;
    println!(
        "black-holed apply given up after {:.2} s (statement_timeout_ms = 3000)",
        cut.elapsed().as_secs_f64()
    );
    holder.query_drop("COMMIT").await.expect("release");
    drop(holder);
    proxy.flow();

    db.wait_applied(&tag, &topic, 10).await;
    let ids: Vec<Vec<String>> = db.table("t", "id").await;
    let want: Vec<Vec<String>> = (1..=10).map(|i| vec![i.to_string()]).collect();
    assert_eq!(ids, want);
    let status = http_get(port, &status_path).await;
    assert!(status.contains("RUNNING"), "{status}");
    assert!(!status.contains("FAILED"), "{status}");
}
