//! A minimal HTTP/1.1 client for the REST API tests (no client dependency),
//! the daemon started with extra environment, signals, and an
//! observation-window check for "nothing happens".

use std::future::Future;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{sluice_bin, wait_for, Daemon};

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The status line and headers, as received.
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The body as JSON (Null when empty or not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// Whether a header named `name` (any case) was sent.
    pub fn has_header(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.head
            .lines()
            .skip(1)
            .any(|l| l.to_ascii_lowercase().starts_with(&name))
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

/// Sends `method path` with an optional JSON body and bearer token.
pub async fn call(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
    token: Option<&str>,
) -> Reply {
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let headers = format!("Content-Type: application/json\r\n{auth}");
    send(port, method, path, &headers, &payload).await
}

/// Sends `method path` with exactly `headers` (each line ending in `\r\n`,
/// besides Host, Connection and Content-Length) and `payload` as the body.
pub async fn send(port: u16, method: &str, path: &str, headers: &str, payload: &str) -> Reply {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = wait_for("the http server", Duration::from_secs(30), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    );
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    let (head, body) = buf.split_once("\r\n\r\n").unwrap_or((&buf, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        head: head.to_string(),
        body,
    }
}

/// Asserts `check` stays true for all of `window` (e.g. no rows arrive while
/// paused): an observation window, polled, failing as soon as it turns false.
pub async fn holds_for<F, Fut>(what: &str, window: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < window {
        assert!(
            check().await,
            "{what} stopped holding after {:?}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl Daemon {
    /// Starts `sluice run --config <path>` with extra environment variables.
    pub fn start_with_env(path: PathBuf, env: &[(&str, &str)]) -> Daemon {
        let log = path.with_extension("log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let child = Command::new(sluice_bin())
            .args(["run", "--config"])
            .arg(&path)
            .env("SLUICE_LOG", "info,sluice=debug")
            // Hermetic: without `state_dir` in its config, a test daemon keeps its
            // REST connectors beside its config, never in the machine's /var/lib/sluice.
            .env("STATE_DIRECTORY", state_dir_beside(&path))
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("spawn sluice");
        Daemon {
            child: Some(child),
            config: path,
            log,
        }
    }

    /// Sends SIGHUP (reload).
    pub fn hup(&self) {
        self.signal("-HUP");
    }

    /// Sends SIGTERM without waiting.
    pub fn term(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGSTOP (the process freezes, its sockets stay open).
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Sends SIGCONT (a frozen process resumes).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    /// Waits for the exit after a signal; returns the exit code.
    pub fn wait_exit(&mut self) -> i32 {
        self.wait(Duration::from_secs(40))
    }
}

/// A fresh state directory beside the config file `config` (the daemon's
/// `$STATE_DIRECTORY` unless the config sets `state_dir`).
pub fn state_dir_beside(config: &std::path::Path) -> PathBuf {
    let dir = config.with_extension("state");
    std::fs::create_dir_all(&dir).expect("state dir");
    dir
}
