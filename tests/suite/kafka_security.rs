//! Secured Kafka: the test broker's SASL_SSL listener (127.0.0.1:9094,
//! SCRAM-SHA-512, user `sluice`) and mTLS listener (127.0.0.1:9095), both
//! presenting the test CA's certificate (scripts/services.sh). A binlog source
//! and a sink run exactly once over each; a wrong password and an untrusted
//! CA are one clear line in `sluice check` and in the pipeline's status; a
//! zstd topic written by kcat is applied by a sink.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::binlog::{
    assert_exactly_once_per_key, fill, run_writer, source_and_pg_sink_config, table_state,
    wait_pg_copy_equals, wait_replay_equals,
};
use crate::support::rest::call;
use crate::support::*;

const TLS_DIR: &str = "/var/lib/sluice-test/tls";
const SASL_SSL: &str = "127.0.0.1:9094";
const MTLS: &str = "127.0.0.1:9095";

fn tls_file(name: &str) -> String {
    let p = PathBuf::from(TLS_DIR).join(name);
    assert!(
        p.exists(),
        "{} is missing (run scripts/services.sh up)",
        p.display()
    );
    p.display().to_string()
}

/// `[kafka]` keys for the SASL_SSL listener with `password` and CA `ca`.
fn sasl_ssl_keys(password: &str, ca: &str) -> String {
    format!(
        "bootstrap_servers = \"{SASL_SSL}\"\nsecurity_protocol = \"SASL_SSL\"\n\
         sasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"sluice\"\n\
         sasl_password = \"{password}\"\nssl_ca_location = \"{ca}\"\n"
    )
}

/// `[kafka]` keys for the mTLS listener, as Kafka Connect names them.
fn mtls_keys() -> String {
    format!(
        "bootstrap_servers = \"{MTLS}\"\n\"security.protocol\" = \"SSL\"\n\
         \"ssl.ca.location\" = \"{}\"\n\"ssl.certificate.location\" = \"{}\"\n\
         \"ssl.key.location\" = \"{}\"\n",
        tls_file("ca.pem"),
        tls_file("client.pem"),
        tls_file("client-key.pem")
    )
}

/// `config` with its `[kafka]` bootstrap line replaced by `keys`.
fn secured(config: &str, keys: &str) -> String {
    let plain = format!("bootstrap_servers = \"{KAFKA}\"\n");
    assert!(config.contains(&plain), "a [kafka] section: {config}");
    config.replacen(&plain, keys, 1)
}

/// A CA that signed nothing the broker presents.
fn untrusted_ca() -> String {
    wrong_ca().display().to_string()
}

/// A binlog source and a PostgreSQL sink over `keys`, a writer running and
/// one kill -9: the topic holds every change once, the copy equals the table.
async fn source_and_sink_exactly_once_over(tag: &str, keys: &str) {
    let db = MySqlServer::new(MySqlFlavor::MariaDb, tag).await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, seq INT NOT NULL)")
        .await;
    fill(&db, 300).await;
    let pg = Postgres::create(tag).await;
    let name = unique(tag);
    let (config, topic) = source_and_pg_sink_config(
        &name,
        &db,
        &pg,
        "max_transaction_rows = 64\nsnapshot_locking = \"minimal\"",
    );
    let config = secured(&config, keys);
    let stop = Arc::new(AtomicBool::new(false));
    let writer = tokio::spawn(run_writer(db.url(), stop.clone(), 301));
    let mut daemon = Daemon::start(&config);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    daemon.kill();
    daemon.restart();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    let statements = writer.await.expect("writer");
    assert!(statements > 50, "the writer ran {statements} statements");

    let want = table_state(&db).await;
    wait_replay_equals(&topic, &want, &daemon).await;
    let n = assert_exactly_once_per_key(&topic);
    assert!(n >= 300, "only {n} messages");
    wait_pg_copy_equals(&db, &pg).await;
    let log = daemon.log_text();
    assert_eq!(
        log.matches("sluice running").count(),
        2,
        "the daemon ran twice:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binlog_source_and_a_sink_over_sasl_ssl_exactly_once() {
    source_and_sink_exactly_once_over(
        "kfsasl",
        &sasl_ssl_keys("sluice-test-secret", &tls_file("ca.pem")),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binlog_source_and_a_sink_over_mtls_with_zstd_exactly_once() {
    let keys = format!(
        "{}[kafka.properties]\n\"compression.type\" = \"zstd\"\n",
        mtls_keys()
    );
    source_and_sink_exactly_once_over("kfmtls", &keys).await;
}

/// A sink over `keys` (nothing to consume): `sluice check` fails with one
/// line naming `what`, and the running pipeline turns FAILED with it.
async fn refused_in_check_and_status(keys: &str, what: &str) {
    let port = free_port();
    let config = format!(
        "[kafka]\n{keys}[http]\nlisten = \"127.0.0.1:{port}\"\n[[sink]]\nname = \"refused\"\n\
         url = \"sqlite://{}\"\ntopics = [\"{}\"]\n",
        scratch("refused").join("t.db").display(),
        unique("refused")
    );
    let path = write_config(&config);
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("utf8 path")]);
    assert_ne!(code, 0, "check passed:\n{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 1, "one failing line:\n{out}");
    assert!(
        fails[0].contains("kafka") && fails[0].contains(what),
        "{out}"
    );
    assert!(
        !out.contains("sluice-test-secret") && !out.contains("wrong-secret"),
        "a password shown:\n{out}"
    );

    let daemon = Daemon::start_file(path);
    let status = wait_for("the pipeline to fail", Duration::from_secs(60), || async {
        let reply = call(port, "GET", "/connectors/refused/status", None, None).await;
        let json = reply.json();
        (json["tasks"][0]["state"] == "FAILED").then_some(json)
    })
    .await;
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or_default();
    assert!(trace.contains(what), "{status}\n{}", daemon.log_text());
    assert!(!trace.contains("secret"), "{trace}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_one_clear_line_in_check_and_status() {
    refused_in_check_and_status(
        &sasl_ssl_keys("wrong-secret", &tls_file("ca.pem")),
        "SASL authentication failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untrusted_ca_is_one_clear_line_in_check_and_status() {
    refused_in_check_and_status(
        &sasl_ssl_keys("sluice-test-secret", &untrusted_ca()),
        "TLS handshake failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zstd_topic_written_by_kcat_is_applied() {
    let pg = Postgres::create("kfzstd").await;
    let topic = unique("kfzstd");
    let schema = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"name"}],"optional":false,"name":"t"}"#;
    let mut kcat = Command::new("kcat")
        .args(["-P", "-b", KAFKA, "-t", &topic, "-z", "zstd"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat");
    {
        use std::io::Write;
        let stdin = kcat.stdin.as_mut().expect("stdin");
        for id in 1..=50 {
            writeln!(
                stdin,
                r#"{{"schema":{schema},"payload":{{"id":{id},"name":"n{id}"}}}}"#
            )
            .expect("write");
        }
    }
    assert!(kcat.wait().expect("kcat").success(), "kcat produce failed");
    let config = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n[[sink]]\n\
         name = \"{topic}\"\nurl = \"{}\"\ntopics = [\"{topic}\"]\ntable_name_format = \"t\"\n\
         auto_create = true\nmax_wait_ms = 50\n",
        free_port(),
        pg.url()
    );
    let daemon = Daemon::start(&config);
    wait_for(
        "50 rows from the zstd topic",
        Duration::from_secs(60),
        || async { (pg.count("t").await == Some(50)).then_some(()) },
    )
    .await;
    let rows = pg
        .rows("SELECT id::text, name FROM t ORDER BY t.id LIMIT 2")
        .await;
    let want: Vec<Vec<String>> = [["1", "n1"], ["2", "n2"]]
        .iter()
        .map(|r| r.iter().map(|s| s.to_string()).collect())
        .collect();
    assert_eq!(rows, want, "{}", daemon.log_text());
}
