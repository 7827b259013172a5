//! Test support: real services, unique names, the daemon as a child process,
//! waiting on conditions with deadlines, and comparing tables.
//!
//! Services (started by `scripts/services.sh up`): MariaDB root with an empty
//! password on 127.0.0.1:3306, MySQL 9.x root with an empty password on
//! 127.0.0.1:3307, PostgreSQL `postgres` (trust) on 127.0.0.1:5432, Kafka
//! PLAINTEXT on 127.0.0.1:9092, `kcat` on the PATH, and the test CA and
//! certificates the servers present in /var/lib/sluice-test/tls.
//!
//! A MySQL-family test is written once as `async fn name(flavor: MySqlFlavor)`
//! and [`both_flavors!`](crate::both_flavors) turns it into one test per server.

#![allow(dead_code)]

pub mod rest;

use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

pub const MARIADB: &str = "mysql://root@127.0.0.1:3306";
pub const MYSQL: &str = "mysql://root@127.0.0.1:3307";
pub const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";
pub const KAFKA: &str = "127.0.0.1:9092";

/// A unique lowercase name with `prefix`, for databases, topics and pipelines.
pub fn unique(prefix: &str) -> String {
    use rand::Rng;
    let n: u64 = rand::rng().random();
    format!("{prefix}_{:012x}", n & 0xffff_ffff_ffff)
}

/// Polls `check` until it returns `Some`, or panics after `deadline` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, deadline: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < deadline,
            "timed out after {deadline:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Which MySQL-family server a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MySqlFlavor {
    /// MariaDB (Debian 12's 10.11) on 127.0.0.1:3306.
    MariaDb,
    /// MySQL 9.x (Debian sid's) on 127.0.0.1:3307.
    MySql,
}

impl MySqlFlavor {
    /// Root URL of the server, without a database.
    pub fn url(self) -> &'static str {
        match self {
            MySqlFlavor::MariaDb => MARIADB,
            MySqlFlavor::MySql => MYSQL,
        }
    }

    /// The server's TCP port.
    pub fn port(self) -> u16 {
        match self {
            MySqlFlavor::MariaDb => 3306,
            MySqlFlavor::MySql => 3307,
        }
    }

    /// Short lowercase name, for database and topic prefixes.
    pub fn tag(self) -> &'static str {
        match self {
            MySqlFlavor::MariaDb => "mariadb",
            MySqlFlavor::MySql => "mysql",
        }
    }
}

/// Expands `name` (an `async fn name(flavor: MySqlFlavor)`) into a module `name`
/// with the tests `mariadb` and `mysql`, one per server.
#[macro_export]
macro_rules! both_flavors {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread")]
            async fn mariadb() {
                super::$name($crate::support::MySqlFlavor::MariaDb).await
            }
            #[tokio::test(flavor = "multi_thread")]
            async fn mysql() {
                super::$name($crate::support::MySqlFlavor::MySql).await
            }
        }
    )+};
}

/// A MariaDB database created for one test (the MariaDB flavor of [`MySqlServer`]).
pub type MariaDb = MySqlServer;

/// A database created for one test on MariaDB or MySQL.
pub struct MySqlServer {
    pub name: String,
    pub pool: mysql_async::Pool,
    pub flavor: MySqlFlavor,
}

impl MySqlServer {
    /// Creates a fresh MariaDB database named `<prefix>_<random>`.
    pub async fn create(prefix: &str) -> MySqlServer {
        Self::new(MySqlFlavor::MariaDb, prefix).await
    }

    /// Creates a fresh database named `<prefix>_<random>` on the `flavor` server.
    pub async fn new(flavor: MySqlFlavor, prefix: &str) -> MySqlServer {
        let name = unique(prefix);
        let admin = mysql_async::Pool::new(flavor.url());
        let mut c = admin.get_conn().await.unwrap_or_else(|e| {
            panic!(
                "connect to {flavor:?} on 127.0.0.1:{} (run scripts/services.sh up): {e}",
                flavor.port()
            )
        });
        c.query_drop(format!("CREATE DATABASE `{name}`"))
            .await
            .expect("create database");
        drop(c);
        admin.disconnect().await.ok();
        let pool = mysql_async::Pool::new(format!("{}/{name}", flavor.url()).as_str());
        MySqlServer { name, pool, flavor }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{}/{}", self.flavor.url(), self.name)
    }

    /// Runs statements.
    pub async fn exec(&self, sql: &str) {
        let mut c = self.pool.get_conn().await.expect("conn");
        c.query_drop(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs a query and returns rows as strings (NULL as "NULL").
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let mut c = self.pool.get_conn().await.expect("conn");
        let rows: Vec<mysql_async::Row> =
            c.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        rows.into_iter()
            .map(|r| r.unwrap().into_iter().map(|v| mysql_text(&v)).collect())
            .collect()
    }

    /// Like [`MySqlServer::rows`] but `None` on error (e.g. table not created yet).
    pub async fn try_rows(&self, sql: &str) -> Option<Vec<Vec<String>>> {
        let mut c = self.pool.get_conn().await.ok()?;
        let rows: Vec<mysql_async::Row> = c.query(sql).await.ok()?;
        Some(
            rows.into_iter()
                .map(|r| r.unwrap().into_iter().map(|v| mysql_text(&v)).collect())
                .collect(),
        )
    }

    /// `SELECT COUNT(*)`, or None when the table is missing.
    pub async fn count(&self, table: &str) -> Option<i64> {
        let r = self
            .try_rows(&format!("SELECT COUNT(*) FROM `{table}`"))
            .await?;
        r.first()?.first()?.parse().ok()
    }
}

fn mysql_text(v: &mysql_async::Value) -> String {
    match v {
        mysql_async::Value::NULL => "NULL".into(),
        mysql_async::Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.as_sql(true).trim_matches('\'').to_string(),
    }
}

/// A PostgreSQL database created for one test.
pub struct Postgres {
    pub name: String,
    pub client: tokio_postgres::Client,
}

impl Postgres {
    /// Creates a fresh database named `<prefix>_<random>`.
    pub async fn create(prefix: &str) -> Postgres {
        let name = unique(prefix);
        let (admin, conn) =
            tokio_postgres::connect(&format!("{POSTGRES}/postgres"), tokio_postgres::NoTls)
                .await
                .expect("connect to PostgreSQL on 127.0.0.1:5432 (run scripts/services.sh up)");
        tokio::spawn(conn);
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create database");
        let (client, conn) =
            tokio_postgres::connect(&format!("{POSTGRES}/{name}"), tokio_postgres::NoTls)
                .await
                .expect("connect");
        tokio::spawn(conn);
        Postgres { name, client }
    }

    /// The database's URL.
    pub fn url(&self) -> String {
        format!("{POSTGRES}/{}", self.name)
    }

    /// Rows as text (NULL as "NULL"), via the simple protocol.
    pub async fn try_rows(&self, sql: &str) -> Option<Vec<Vec<String>>> {
        let msgs = self.client.simple_query(sql).await.ok()?;
        Some(
            msgs.into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                        (0..r.len())
                            .map(|i| r.get(i).unwrap_or("NULL").to_string())
                            .collect(),
                    ),
                    _ => None,
                })
                .collect(),
        )
    }

    /// Rows, panicking on error.
    pub async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        self.try_rows(sql)
            .await
            .unwrap_or_else(|| panic!("query failed: {sql}"))
    }

    /// `SELECT COUNT(*)`, or None when the table is missing.
    pub async fn count(&self, table: &str) -> Option<i64> {
        let r = self
            .try_rows(&format!("SELECT COUNT(*) FROM \"{table}\""))
            .await?;
        r.first()?.first()?.parse().ok()
    }
}

/// A running `sluice run` child process with its own config and log file.
pub struct Daemon {
    child: Option<Child>,
    pub config: PathBuf,
    pub log: PathBuf,
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join("sluice-tests").join(unique(name));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The Kafka jars `scripts/services.sh` installs (connect-api, connect-json,
/// connect-runtime, jackson, ...).
pub fn kafka_libs() -> PathBuf {
    let base =
        std::env::var("SLUICE_SERVICES_DIR").unwrap_or_else(|_| "/var/lib/sluice-test".into());
    PathBuf::from(base).join("kafka").join("libs")
}

/// Compiles the Java check `source` against the Kafka jars (which must hold
/// `required_jar`) into a scratch directory; returns `<classes>:<libs>/*`.
/// Callers keep the result in a `OnceLock`, to compile once per test run.
pub fn compile_java_check(source: &str, required_jar: &str) -> String {
    let libs = kafka_libs();
    assert!(
        libs.join(required_jar).exists(),
        "{required_jar} missing in {} (run scripts/services.sh up)",
        libs.display()
    );
    let classes = scratch("connect-java");
    let jars = format!("{}/*", libs.display());
    let out = Command::new("javac")
        .arg("-d")
        .arg(&classes)
        .args(["-cp", &jars, source])
        .output()
        .expect("javac is installed");
    assert!(
        out.status.success(),
        "javac failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{}:{jars}", classes.display())
}

/// Path of the built binary.
pub fn sluice_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// Runs `sluice <args>` to completion: (exit code, stdout + stderr).
pub fn sluice(args: &[&str]) -> (i32, String) {
    let out = Command::new(sluice_bin())
        .args(args)
        // Hermetic: never the machine's /var/lib/sluice (see `state_dir_beside`).
        .env("STATE_DIRECTORY", scratch("state"))
        .output()
        .expect("run sluice");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Writes `config` into a scratch dir and returns its path.
pub fn write_config(config: &str) -> PathBuf {
    let path = scratch("cfg").join("sluice.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

impl Daemon {
    /// Starts `sluice run --config <config>`.
    pub fn start(config: &str) -> Daemon {
        let path = write_config(config);
        Self::start_file(path)
    }

    /// Starts the daemon on an existing config file.
    pub fn start_file(path: PathBuf) -> Daemon {
        Self::start_with_env(path, &[])
    }

    /// The daemon's process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// A `kB` field of the daemon's `/proc/<pid>/status` (`VmRSS`, `VmHWM`).
    pub fn status_kb(&self, field: &str) -> Option<u64> {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.pid()?)).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The daemon's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`, or panics after `deadline`.
    pub async fn wait_log(&self, needle: &str, deadline: Duration) {
        wait_for(&format!("\"{needle}\" in the log"), deadline, || async {
            self.log_text().contains(needle).then_some(())
        })
        .await;
    }

    fn signal(&self, sig: &str) {
        if let Some(c) = &self.child {
            let _ = Command::new("kill")
                .args([sig, &c.id().to_string()])
                .status();
        }
    }

    /// SIGTERM, then waits for exit; returns the exit code.
    pub fn stop(&mut self) -> i32 {
        self.signal("-TERM");
        self.wait(Duration::from_secs(40))
    }

    /// SIGKILL (a crash), then reaps.
    pub fn kill(&mut self) {
        self.signal("-KILL");
        self.wait(Duration::from_secs(10));
    }

    fn wait(&mut self, deadline: Duration) -> i32 {
        let Some(mut c) = self.child.take() else {
            return -1;
        };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status.code().unwrap_or(-1);
            }
            if start.elapsed() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!(
                    "sluice did not exit within {deadline:?}; log:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Restarts on the same config.
    pub fn restart(&mut self) {
        let path = self.config.clone();
        let d = Daemon::start_file(path);
        let mut d = d;
        self.child = d.child.take();
    }
}

impl Drop for Daemon {
    /// Stops gracefully (SIGTERM, up to 10 s) so no Kafka transaction is left
    /// open to hold back other tests' `read_committed` readers; then kills.
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Reads every committed message of `topic` with kcat: (key, value) as JSON.
pub fn kcat_read(topic: &str) -> Vec<(Option<serde_json::Value>, Option<serde_json::Value>)> {
    // `timeout` bounds a read of a topic that never goes quiet.
    let out = Command::new("timeout")
        .args([
            "20",
            "kcat",
            "-C",
            "-b",
            KAFKA,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-J",
            "-q",
            "-X",
            "isolation.level=read_committed",
        ])
        .output()
        .expect("kcat is installed (scripts/services.sh up)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let env: serde_json::Value = serde_json::from_str(l).expect("kcat -J line");
            let parse = |f: &str| {
                env.get(f).and_then(|v| v.as_str()).map(|s| {
                    serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.to_string()))
                })
            };
            (parse("key"), parse("payload"))
        })
        .collect()
}

/// Every committed message of `topic` formatted by kcat's `-f` (e.g. `%s\n`),
/// one line each; `timeout` bounds a read of a topic that never goes quiet.
pub fn kcat_lines(topic: &str, format: &str) -> Vec<String> {
    let out = Command::new("timeout")
        .args([
            "20",
            "kcat",
            "-C",
            "-b",
            KAFKA,
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
        ])
        .args(["-f", format, "-X", "isolation.level=read_committed"])
        .output()
        .expect("kcat is installed (scripts/services.sh up)");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Produces `messages` (key, value) to `topic` with kcat (value "" = tombstone).
pub fn kcat_produce(topic: &str, messages: &[(Option<&str>, &str)]) {
    use std::io::Write;
    let mut child = Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", topic, "-K", "\u{1}", "-Z"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for (k, v) in messages {
            writeln!(stdin, "{}\u{1}{}", k.unwrap_or(""), v).expect("write");
        }
    }
    assert!(child.wait().expect("kcat").success(), "kcat produce failed");
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A config with one sink: `topic` into table `log` of `url` (auto_create,
/// plain inserts, 50 ms batches); `listen` is the HTTP address ("" for none).
pub fn log_sink_config(listen: &str, name: &str, url: &str, topic: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "{listen}"
[[sink]]
name = "{name}"
url = "{url}"
topics = ["{topic}"]
auto_create = true
table_name_format = "log"
max_wait_ms = 50
"#
    )
}

/// A CA that signed nothing the servers present, made with the openssl CLI.
pub fn wrong_ca() -> PathBuf {
    let dir = scratch("wrongca");
    let ok = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=Not The Sluice Test CA", "-keyout"])
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("ca.pem"))
        .output()
        .expect("openssl is installed");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    dir.join("ca.pem")
}

/// Creates `topic` (one partition) accepting messages of up to `max_message_bytes`.
pub async fn create_topic_max_bytes(topic: &str, max_message_bytes: u64) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let max = max_message_bytes.to_string();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("max.message.bytes", &max)],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}
