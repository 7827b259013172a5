//! The seed walkthrough, replayed: JDBC-style incrementing source on `users`,
//! sink with auto.create/auto.evolve into `my_topic_users`, on one database.

use std::time::Duration;

use crate::both_flavors;
use crate::support::*;

both_flavors!(
    seed_pipeline_end_to_end,
    restart_mid_stream_loses_and_doubles_nothing
);

const SEED_USERS: &str = "CREATE TABLE users (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id VARCHAR(255),
    pwd VARCHAR(255),
    name VARCHAR(255),
    created_at TIMESTAMP NULL DEFAULT NULL)";

/// The seed's message, byte for byte (design.md §4).
const SEED_MESSAGE: &str = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"user_id"},{"type":"string","optional":true,"field":"pwd"},{"type":"string","optional":true,"field":"name"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created_at"}],"optional":false,"name":"users"},"payload":{"id":1,"user_id":"test1","pwd":null,"name":"test1","created_at":1660592867000}}"#;

pub fn seed_config(db_url: &str, sink_url: &str, tag: &str, prefix: &str, http: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "{http}"
[[source]]
name = "my-source-connect-{tag}"
kind = "poll"
url = "{db_url}"
tables = ["users"]
topic_prefix = "{prefix}"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 200
[[sink]]
name = "my-sink-connect-{tag}"
url = "{sink_url}"
topics = ["{prefix}users"]
auto_create = true
auto_evolve = true
max_wait_ms = 50
"#
    )
}

async fn seed_pipeline_end_to_end(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "mydb").await;
    db.exec(SEED_USERS).await;
    db.exec("SET time_zone = '+00:00'; INSERT INTO users (user_id, pwd, name, created_at) VALUES ('test1', NULL, 'test1', '2022-08-15 19:47:47'), ('test2', 'pw2', 'test2', '2022-08-15 19:47:48')").await;
    let tag = unique("seed");
    let prefix = format!("my_topic_{tag}_");
    let topic = format!("{prefix}users");
    let port = free_port();
    let mut daemon = Daemon::start(&seed_config(
        &db.url(),
        &db.url(),
        &tag,
        &prefix,
        &format!("127.0.0.1:{port}"),
    ));

    // The topic carries the seed's message exactly.
    let values = wait_for(
        "two messages on the topic",
        Duration::from_secs(60),
        || async {
            let v = kcat_lines(&topic, "%s\n");
            (v.len() >= 2).then_some(v)
        },
    )
    .await;
    assert_eq!(
        values[0], SEED_MESSAGE,
        "first message differs from the seed's"
    );
    let keys = kcat_read(&topic);
    let key = keys[0]
        .0
        .clone()
        .expect("rows of a table with a primary key have a key");
    assert_eq!(key["payload"], serde_json::json!({"id": 1}));
    assert_eq!(
        key["schema"]["fields"],
        serde_json::json!([{"type":"int32","optional":false,"field":"id"}])
    );

    // The sink created the table and applied both rows.
    let table = topic.clone();
    wait_for(
        "2 rows in the sink table",
        Duration::from_secs(60),
        || async { (db.count(&table).await == Some(2)).then_some(()) },
    )
    .await;
    let rows = db.rows(&format!("SELECT id, user_id, pwd, name, CAST(UNIX_TIMESTAMP(created_at) AS SIGNED) FROM `{table}` ORDER BY id")).await;
    assert_eq!(rows[0], vec!["1", "test1", "NULL", "test1", "1660592867"]);
    assert_eq!(rows[1], vec!["2", "test2", "pw2", "test2", "1660592868"]);

    // auto.evolve: a new column on the source shows up in the sink table.
    db.exec("ALTER TABLE users ADD COLUMN email VARCHAR(100) NULL")
        .await;
    db.exec(
        "INSERT INTO users (user_id, name, email) VALUES ('test3', 'test3', 'test3@example.com')",
    )
    .await;
    let rows = wait_for("the evolved row", Duration::from_secs(60), || async {
        db.try_rows(&format!("SELECT id, email FROM `{table}` WHERE id = 3"))
            .await
            .filter(|r| !r.is_empty())
    })
    .await;
    assert_eq!(rows[0], vec!["3", "test3@example.com"]);
    let cols = db.rows(&format!("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{table}' ORDER BY ORDINAL_POSITION")).await;
    let cols: Vec<&str> = cols.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        cols,
        ["id", "user_id", "pwd", "name", "created_at", "email"]
    );

    // Metrics and health are served on [http] listen.
    let metrics = http_get(port, "/metrics").await;
    assert!(metrics.contains(&format!("sluice_source_rows_read_total{{op=\"read\",pipeline=\"my-source-connect-{tag}\",table=\"users\"}} 3")), "{metrics}");
    assert!(metrics.contains(&format!("sluice_sink_rows_applied_total{{op=\"create\",pipeline=\"my-sink-connect-{tag}\",table=\"{table}\"}} 3")), "{metrics}");
    assert!(
        metrics.contains("sluice_source_messages_produced_total"),
        "{metrics}"
    );
    assert_eq!(http_get(port, "/healthz").await.trim(), "ok");

    assert_eq!(
        daemon.stop(),
        0,
        "graceful stop exits 0; log:\n{}",
        daemon.log_text()
    );
}

/// A minimal HTTP GET over a raw socket (no client dependency needed).
pub async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The daemon may still be starting: retry the connection for a while.
    let mut s = wait_for("the http server", Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
    })
    .await;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    buf.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(buf)
}

async fn restart_mid_stream_loses_and_doubles_nothing(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "restart").await;
    db.exec("CREATE TABLE users (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50))")
        .await;
    let tag = unique("rs");
    let prefix = format!("t_{tag}_");
    let table = format!("{prefix}users");
    let config = seed_config(&db.url(), &db.url(), &tag, &prefix, "").replace(
        "poll_interval_ms = 200",
        "poll_interval_ms = 50\nbatch_max_rows = 20",
    );
    let mut daemon = Daemon::start(&config);

    let total = 1500;
    let writer = {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            use mysql_async::prelude::Queryable;
            let mut c = pool.get_conn().await.expect("conn");
            for chunk in 0..(total / 10) {
                let values: Vec<String> = (0..10)
                    .map(|i| format!("('n{}')", chunk * 10 + i))
                    .collect();
                c.query_drop(format!(
                    "INSERT INTO users (name) VALUES {}",
                    values.join(",")
                ))
                .await
                .expect("insert");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };
    // Graceful restart, then a crash, while the writer runs.
    wait_for("some rows applied", Duration::from_secs(60), || async {
        db.count(&table).await.filter(|&n| n > 100)
    })
    .await;
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
    daemon.restart();
    wait_for("more rows applied", Duration::from_secs(60), || async {
        db.count(&table).await.filter(|&n| n > 500)
    })
    .await;
    daemon.kill();
    daemon.restart();
    writer.await.expect("writer");

    wait_for("every row applied", Duration::from_secs(90), || async {
        (db.count(&table).await == Some(total)).then_some(())
    })
    .await;
    // Nothing doubled or lost: same ids, each once, same names.
    let diff = db
        .rows(&format!(
            "SELECT COUNT(*) FROM users u LEFT JOIN `{table}` t ON t.id = u.id AND t.name = u.name WHERE t.id IS NULL"
        ))
        .await;
    assert_eq!(diff[0][0], "0");
    let dup = db
        .rows(&format!(
            "SELECT COUNT(*) - COUNT(DISTINCT id) FROM `{table}`"
        ))
        .await;
    assert_eq!(dup[0][0], "0");
    // And the topic holds each row exactly once.
    let msgs = kcat_read(&table);
    assert_eq!(msgs.len() as i64, total, "messages on the topic");
    assert_eq!(daemon.stop(), 0);
}
