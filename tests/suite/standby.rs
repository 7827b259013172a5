//! Standby sources: three daemons run the same binlog source with
//! `standby = true` (each its own state dir and HTTP port) while a writer
//! runs. The leader is killed with kill -9 three times and frozen once with
//! SIGSTOP past the session timeout, then resumed: each time another
//! instance takes over within the stated bound (session timeout + 4 s), the
//! frozen one stands down when it wakes (fenced, or told by the
//! coordinator) instead of leading again, and the topic holds every change
//! exactly once, in order per key.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value as Json;

use super::binlog::{binlog_config_on, fill, run_writer, stop_writer_and_check_topic};
use super::seed::http_get;
use crate::support::*;

/// The session timeout the test runs with (the broker's default minimum).
const SESSION_TIMEOUT: Duration = Duration::from_millis(6000);
/// The takeover bound the README states: session timeout + 4 s.
const TAKEOVER_BOUND: Duration = Duration::from_millis(6000 + 4000);

/// `GET path` on `port`, or None when the daemon does not answer in time
/// (frozen, killed).
async fn get(port: u16, path: &str) -> Option<String> {
    tokio::time::timeout(Duration::from_millis(1500), http_get(port, path))
        .await
        .ok()
}

/// The task's state and trace of `name` on the daemon at `port`.
async fn task(port: u16, name: &str) -> Option<(String, String)> {
    let body = get(port, &format!("/connectors/{name}/status")).await?;
    let v: Json = serde_json::from_str(&body).ok()?;
    let t = &v["tasks"][0];
    Some((
        t["state"].as_str()?.to_string(),
        t["trace"].as_str().unwrap_or("").to_string(),
    ))
}

/// Waits until exactly one of `ports` (the live daemons) reports RUNNING;
/// returns its index.
async fn leader_among(ports: &[u16], live: &[bool], name: &str, deadline: Duration) -> usize {
    let start = Instant::now();
    loop {
        let mut running = Vec::new();
        for (i, &port) in ports.iter().enumerate() {
            if live[i] && task(port, name).await.is_some_and(|(s, _)| s == "RUNNING") {
                running.push(i);
            }
        }
        if running.len() == 1 {
            return running[0];
        }
        assert!(
            start.elapsed() < deadline,
            "no single leader after {deadline:?}: running on {running:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standby_takes_over_from_a_killed_or_frozen_leader_exactly_once() {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, "standby").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 300).await;
    let name = unique("standby");
    let topic = format!("{name}.{}.t", db.name);
    let extra = format!(
        "standby = true\nstandby_session_timeout_ms = {}\nmax_batch_rows = 200",
        SESSION_TIMEOUT.as_millis()
    );
    let mut ports = Vec::new();
    while ports.len() < 3 {
        let p = free_port();
        if !ports.contains(&p) {
            ports.push(p);
        }
    }
    let mut daemons: Vec<Daemon> = ports
        .iter()
        .map(|&p| Daemon::start(&binlog_config_on(p, &name, &db.url(), &extra)))
        .collect();
    let mut live = [true; 3];

    // One leader; the others stand by and name it.
    let mut leader = leader_among(&ports, &live, &name, Duration::from_secs(40)).await;
    let leader_id = format!("127.0.0.1:{}", ports[leader]);
    for i in (0..3).filter(|&i| i != leader) {
        let port = ports[i];
        let (state, trace) = wait_for(
            "a standby naming the leader",
            Duration::from_secs(20),
            || {
                let leader_id = leader_id.clone();
                let name = name.clone();
                async move {
                    task(port, &name)
                        .await
                        .filter(|(_, trace)| trace.contains(&leader_id))
                }
            },
        )
        .await;
        assert_eq!(state, "UNASSIGNED", "a standby instance: {trace}");
        assert_eq!(trace, format!("standby; leader is {leader_id}"));
    }
    let metric = |port: u16| {
        let name = name.clone();
        async move {
            let text = get(port, "/metrics").await.unwrap_or_default();
            let line = format!("sluice_source_leader{{pipeline=\"{name}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&line).map(str::to_string))
        }
    };
    assert_eq!(metric(ports[leader]).await.as_deref(), Some("1"));
    let other = (leader + 1) % 3;
    assert_eq!(metric(ports[other]).await.as_deref(), Some("0"));
    let ready = get(ports[other], "/readyz").await.unwrap_or_default();
    assert_eq!(ready, "ready\n", "a standby instance is ready");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 301));
    let mut takeovers = Vec::new();

    // kill -9 the leader three times; the killed one comes back as a standby.
    for round in 0..3u64 {
        tokio::time::sleep(Duration::from_millis(1500 + round * 300)).await;
        daemons[leader].kill();
        live[leader] = false;
        let killed = Instant::now();
        let next = leader_among(&ports, &live, &name, Duration::from_secs(30)).await;
        let took = killed.elapsed();
        println!("kill -9 round {round}: {took:?} until instance {next} led");
        takeovers.push(took);
        assert_ne!(next, leader);
        daemons[leader].restart();
        live[leader] = true;
        leader = next;
    }

    // SIGSTOP the leader past the session timeout, then SIGCONT it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let frozen = leader;
    daemons[frozen].freeze();
    live[frozen] = false;
    let stopped = Instant::now();
    let next = leader_among(&ports, &live, &name, Duration::from_secs(30)).await;
    let took = stopped.elapsed();
    println!("SIGSTOP: {took:?} until instance {next} led");
    takeovers.push(took);
    // The new leader publishes for a while before the old one wakes.
    tokio::time::sleep(Duration::from_millis(2000)).await;
    daemons[frozen].thaw();
    live[frozen] = true;
    let port = ports[frozen];
    let (_, trace) = wait_for(
        "the woken instance to stand by",
        Duration::from_secs(30),
        || {
            let name = name.clone();
            async move { task(port, &name).await.filter(|(s, _)| s == "UNASSIGNED") }
        },
    )
    .await;
    assert!(trace.starts_with("standby"), "{trace}");
    // The leader is still the new one, and stays so.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        leader_among(&ports, &live, &name, Duration::from_secs(5)).await,
        next,
        "the woken instance took leadership back"
    );
    let woken_log = daemons[frozen].log_text();
    let after_wake = woken_log
        .rsplit_once("leading: starting the source")
        .map_or("", |(_, tail)| tail);
    assert!(
        after_wake.contains("fenced") || after_wake.contains("leadership revoked"),
        "the woken leader neither was fenced nor saw its leadership revoked:\n{after_wake}"
    );
    assert!(
        !after_wake.contains("pipeline failed"),
        "the woken leader failed instead of standing by:\n{after_wake}"
    );
    println!(
        "woken leader: fenced = {}, revoked = {}",
        after_wake.contains("fenced"),
        after_wake.contains("leadership revoked")
    );

    let n = stop_writer_and_check_topic(&stop, writer, &topic, &db, &daemons[next], 300).await;
    let max = *takeovers.iter().max().expect("takeovers");
    let med = median(&mut takeovers.clone());
    println!(
        "takeover times: {takeovers:?}; median {med:?}, max {max:?} (bound {TAKEOVER_BOUND:?}); {n} messages"
    );
    assert!(
        max <= TAKEOVER_BOUND,
        "a takeover took {max:?}, over the bound {TAKEOVER_BOUND:?}: {takeovers:?}"
    );
}
