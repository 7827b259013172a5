//! systemd's notify protocol, seen from the socket systemd would own:
//! READY=1 with a STATUS= line once the pipelines run, WATCHDOG=1 pings,
//! RELOADING=1 then READY=1 around a SIGHUP reload (pipelines added,
//! changed, removed; a bad file keeps the old ones), STOPPING=1 on SIGTERM.

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::rest::call;
use crate::support::*;

/// Collects every datagram sent to a fresh socket in `dir`.
fn listen(dir: &std::path::Path) -> (String, Arc<Mutex<Vec<String>>>) {
    let path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            sink.lock()
                .expect("lock")
                .extend(text.lines().map(str::to_string));
        }
    });
    (path.display().to_string(), seen)
}

/// Waits for a message matching `pred` at or after index `from`; returns its index.
async fn expect(
    seen: &Arc<Mutex<Vec<String>>>,
    from: usize,
    what: &str,
    pred: impl Fn(&str) -> bool,
) -> usize {
    wait_for(what, Duration::from_secs(30), || async {
        let all = seen.lock().expect("lock").clone();
        all.iter()
            .skip(from)
            .position(|m| pred(m))
            .map(|i| i + from)
    })
    .await
}

fn sink_section(name: &str, topic: &str, db: &std::path::Path, batch: u32) -> String {
    format!(
        "[[sink]]\nname = \"{name}\"\nurl = \"sqlite://{}\"\ntopics = [\"{topic}\"]\nbatch_size = {batch}\n",
        db.with_extension(format!("{name}.db")).display()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_ready_status_watchdog_reload_and_stopping() {
    let dir = scratch("notify");
    let (socket, seen) = listen(&dir);
    let tag = unique("nt");
    let (a, b) = (format!("a-{tag}"), format!("b-{tag}"));
    let port = free_port();
    let head = format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\noffsets_topic = \"sluice_offsets_{tag}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        dir.display()
    );
    // Sinks need their topics to exist: a tombstone (skipped) creates each.
    for t in ["a", "b"] {
        kcat_produce(&format!("{tag}_{t}"), &[(Some("k"), "")]);
    }
    let config = dir.join("sluice.toml");
    let db = dir.join("t.db");
    std::fs::write(
        &config,
        format!("{head}{}", sink_section(&a, &format!("{tag}_a"), &db, 10)),
    )
    .expect("config");
    let mut daemon = Daemon::start_with_env(
        config.clone(),
        &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "2000000")],
    );

    let ready = expect(&seen, 0, "READY=1", |m| m == "READY=1").await;
    expect(&seen, 0, "STATUS= with the pipeline count", |m| {
        m == "STATUS=1 pipeline running; 0 failed"
    })
    .await;
    expect(&seen, ready, "WATCHDOG=1", |m| m == "WATCHDOG=1").await;

    // Reload: b added, a changed (restarted).
    std::fs::write(
        &config,
        format!(
            "{head}{}{}",
            sink_section(&a, &format!("{tag}_a"), &db, 20),
            sink_section(&b, &format!("{tag}_b"), &db, 10)
        ),
    )
    .expect("config");
    let mark = seen.lock().expect("lock").len();
    daemon.hup();
    let reloading = expect(&seen, mark, "RELOADING=1", |m| m == "RELOADING=1").await;
    expect(&seen, reloading, "READY=1 after the reload", |m| {
        m == "READY=1"
    })
    .await;
    expect(&seen, reloading, "STATUS= with two pipelines", |m| {
        m == "STATUS=2 pipelines running; 0 failed"
    })
    .await;
    wait_for("the reload logged", Duration::from_secs(10), || async {
        let log = daemon.log_text();
        (log.contains("configuration reloaded")
            && log.contains("added=1")
            && log.contains("restarted=1"))
        .then_some(())
    })
    .await;
    let names = call(port, "GET", "/connectors", None, None).await.json();
    assert_eq!(names, serde_json::json!([a, b]));

    // A bad file is refused; both pipelines keep running.
    std::fs::write(
        &config,
        format!("{head}[[sink]]\nname = \"{a}\"\nbatch_sise = 3\n"),
    )
    .expect("config");
    let mark = seen.lock().expect("lock").len();
    daemon.hup();
    let reloading = expect(&seen, mark, "RELOADING=1", |m| m == "RELOADING=1").await;
    expect(&seen, reloading, "READY=1 after the refused reload", |m| {
        m == "READY=1"
    })
    .await;
    daemon
        .wait_log("reload refused", Duration::from_secs(10))
        .await;
    assert!(
        daemon.log_text().contains("batch_sise"),
        "{}",
        daemon.log_text()
    );
    let status = call(port, "GET", &format!("/connectors/{b}/status"), None, None)
        .await
        .json();
    assert_eq!(status["connector"]["state"], "RUNNING");

    // Reload removing b.
    std::fs::write(
        &config,
        format!("{head}{}", sink_section(&a, &format!("{tag}_a"), &db, 20)),
    )
    .expect("config");
    daemon.hup();
    wait_for("b removed", Duration::from_secs(30), || async {
        let names = call(port, "GET", "/connectors", None, None).await.json();
        (names == serde_json::json!([a])).then_some(())
    })
    .await;

    let mark = seen.lock().expect("lock").len();
    daemon.term();
    expect(&seen, mark, "STOPPING=1", |m| m == "STOPPING=1").await;
    assert_eq!(daemon.wait_exit(), 0, "log:\n{}", daemon.log_text());
}
