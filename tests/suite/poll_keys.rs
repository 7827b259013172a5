//! The JDBC source keys beyond the modes: a custom `query`, `timestamp.initial`,
//! `timestamp.delay.interval.ms`, `validate.non.null`, and `db.timezone` (IANA
//! zones) for the poll source and the sink, read back from Kafka and the target.

use std::time::Duration;

use serde_json::{json, Value as Json};

use super::sink_modes::{config, field, message, sink, Db};
use crate::both_flavors;
use crate::support::rest::holds_for;
use crate::support::*;

both_flavors!(
    query_mode_reads_a_join_to_the_prefix_topic,
    bulk_query_runs_as_written,
    timestamp_initial_skips_older_rows,
    timestamp_initial_now_is_stored_before_the_first_row,
    delay_interval_holds_back_recent_rows,
    nullable_columns_are_refused_unless_validation_is_off,
    check_probes_queries_and_nullable_columns,
    query_columns_may_be_nullable_as_in_connect,
    db_timezone_reads_datetimes_as_wall_times_of_the_zone
);

fn source_config(db: &MySqlServer, tag: &str, extra: &str) -> String {
    super::poll_modes::poll_source_config(db, tag, extra)
}

/// The committed messages' values on `topic`.
fn values(topic: &str) -> Vec<Json> {
    kcat_read(topic)
        .into_iter()
        .filter_map(|(_, v)| v)
        .collect()
}

async fn wait_values(topic: &str, n: usize) -> Vec<Json> {
    wait_for(
        &format!("{n} messages on {topic}"),
        Duration::from_secs(60),
        || async {
            let v = values(topic);
            (v.len() >= n).then_some(v)
        },
    )
    .await
}

fn ids(values: &[Json]) -> Vec<i64> {
    values
        .iter()
        .filter_map(|v| v["payload"]["id"].as_i64())
        .collect()
}

async fn wait_log(d: &Daemon, needle: &str) -> String {
    wait_for(
        &format!("\"{needle}\" in the log"),
        Duration::from_secs(60),
        || async {
            let log = d.log_text();
            log.contains(needle).then_some(log)
        },
    )
    .await
}

async fn query_mode_reads_a_join_to_the_prefix_topic(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "pq").await;
    db.exec(
        "CREATE TABLE c (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, vip TINYINT NOT NULL); \
         CREATE TABLE o (id BIGINT PRIMARY KEY, cid INT NOT NULL, amount INT NOT NULL); \
         INSERT INTO c VALUES (1, 'ann', 1), (2, 'bob', 0); \
         INSERT INTO o VALUES (1, 1, 10), (2, 2, 20), (3, 1, 30)",
    )
    .await;
    let tag = unique("pq");
    // The query has its own WHERE and selects the key under an alias: both
    // work, as the query is read as a derived table.
    let extra = format!(
        "mode = \"incrementing\"\n\"incrementing.column.name\" = \"order_id\"\n\
         \"topic.prefix\" = \"{tag}_orders\"\n\
         query = \"SELECT o.id AS order_id, o.amount, c.name FROM o JOIN c ON c.id = o.cid WHERE c.vip = 1\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    let topic = format!("{tag}_orders");
    let v = wait_values(&topic, 2).await;
    let rows: Vec<(i64, i64, String)> = v
        .iter()
        .map(|v| {
            let p = &v["payload"];
            (
                p["order_id"].as_i64().unwrap_or(-1),
                p["amount"].as_i64().unwrap_or(-1),
                p["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(rows, [(1, 10, "ann".into()), (3, 30, "ann".into())]);
    assert_eq!(
        v[0]["schema"].get("name"),
        None,
        "a query's value schema has no name, as in Connect"
    );
    db.exec("INSERT INTO o VALUES (4, 2, 40), (5, 1, 50)").await;
    let v = wait_values(&topic, 3).await;
    assert_eq!(v[2]["payload"]["order_id"], 5, "only the new vip row");
    assert_eq!(d.stop(), 0);
    // A restart resumes after the stored offset of the query.
    db.exec("INSERT INTO o VALUES (6, 1, 60)").await;
    d.restart();
    let v = wait_values(&topic, 4).await;
    assert_eq!(v[3]["payload"]["order_id"], 6);
    holds_for("nothing re-sent", Duration::from_millis(800), || async {
        values(&topic).len() == 4
    })
    .await;
    assert_eq!(d.stop(), 0);
}

async fn bulk_query_runs_as_written(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "pqb").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, v INT); INSERT INTO t VALUES (1, 1), (2, 5), (3, 9)",
    )
    .await;
    let tag = unique("pqb");
    let extra = format!(
        "mode = \"bulk\"\ntopic_prefix = \"{tag}_big\"\n\
         query = \"SELECT id, v FROM t WHERE v > 2 ORDER BY id;\"\n\"query.suffix\" = \"\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    // Bulk re-runs the query on every poll: the two matching rows come again.
    let v = wait_values(&format!("{tag}_big"), 4).await;
    assert_eq!(ids(&v[..4]), [2, 3, 2, 3]);
    assert_eq!(d.stop(), 0);
}

async fn timestamp_initial_skips_older_rows(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tsinit").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, at DATETIME(3) NOT NULL); \
         INSERT INTO t VALUES (1, '2020-01-01 00:00:00'), (2, '2023-06-01 00:00:00'), (3, '2024-01-01 00:00:00')",
    )
    .await;
    let tag = unique("tsinit");
    // 2023-01-01T00:00:00Z, as Connect takes it: ms since the epoch, a string in REST configs.
    let extra = format!(
        "mode = \"timestamp\"\ntimestamp_columns = [\"at\"]\ntopic_prefix = \"{tag}_\"\n\
         \"timestamp.initial\" = \"1672531200000\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    let topic = format!("{tag}_t");
    let v = wait_values(&topic, 2).await;
    assert_eq!(ids(&v), [2, 3], "rows before timestamp.initial are skipped");
    assert_eq!(d.stop(), 0);
}

async fn timestamp_initial_now_is_stored_before_the_first_row(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tsnow").await;
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, inc INT NOT NULL, at TIMESTAMP(3) NOT NULL); \
         SET time_zone = '+00:00'; INSERT INTO t VALUES (1, 1, '2020-01-01 00:00:00'), (2, 2, NOW(3) - INTERVAL 1 HOUR)",
    )
    .await;
    let tag = unique("tsnow");
    let extra = format!(
        "mode = \"timestamp+incrementing\"\ntimestamp_columns = [\"at\"]\nincrementing_column = \"inc\"\n\
         topic_prefix = \"{tag}_\"\ntimestamp_initial = -1"
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    wait_log(&d, "starting at timestamp.initial").await;
    assert_eq!(d.stop(), 0);
    // Written while the source is down, after the "now" it started at: a
    // restart reads it (the start point was stored, not taken anew).
    db.exec("INSERT INTO t VALUES (3, 3, NOW(3))").await;
    d.restart();
    let topic = format!("{tag}_t");
    let v = wait_values(&topic, 1).await;
    assert_eq!(ids(&v), [3]);
    holds_for("no older row read", Duration::from_millis(800), || async {
        values(&topic).len() == 1
    })
    .await;
    assert_eq!(d.stop(), 0);
}

async fn delay_interval_holds_back_recent_rows(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tsdelay").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, at TIMESTAMP(3) NOT NULL)")
        .await;
    let tag = unique("tsdelay");
    let extra = format!(
        "mode = \"timestamp\"\ntimestamp_columns = [\"at\"]\ntopic_prefix = \"{tag}_\"\n\
         \"timestamp.delay.interval.ms\" = \"4000\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    db.exec("SET time_zone = '+00:00'; INSERT INTO t VALUES (1, NOW(3) - INTERVAL 1 MINUTE)")
        .await;
    let topic = format!("{tag}_t");
    let v = wait_values(&topic, 1).await;
    assert_eq!(ids(&v), [1]);
    // Row 2 is written once the daemon polls (row 1 is on the topic), so a slow
    // start cannot eat into the delay: it is younger than the delay and held
    // back for about 4 s, then read.
    db.exec("SET time_zone = '+00:00'; INSERT INTO t VALUES (2, NOW(3))")
        .await;
    holds_for(
        "the recent row held back",
        Duration::from_secs(2),
        || async { values(&topic).len() == 1 },
    )
    .await;
    let v = wait_values(&topic, 2).await;
    assert_eq!(ids(&v), [1, 2]);
    assert_eq!(d.stop(), 0);
}

async fn nullable_columns_are_refused_unless_validation_is_off(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "nn").await;
    db.exec(
        "CREATE TABLE loose (id INT NOT NULL, seq INT NULL, at DATETIME NULL); \
         INSERT INTO loose VALUES (1, 1, '2024-01-01 00:00:00')",
    )
    .await;
    let tag = unique("nn");
    let base = format!(
        "mode = \"timestamp+incrementing\"\ntimestamp_columns = [\"at\"]\nincrementing_column = \"seq\"\n\
         topic_prefix = \"{tag}_\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &base));
    let log = wait_log(&d, "are nullable").await;
    assert!(
        log.contains(&format!("{}.loose", db.name)) && log.contains("seq"),
        "the error names the table and column: {log}"
    );
    assert_eq!(d.stop(), 0);
    let topic = format!("{tag}_loose");
    assert!(
        values(&topic).is_empty(),
        "nothing read from a refused table"
    );
    let tag2 = unique("nn");
    let off = format!("{base}\n\"validate.non.null\" = \"false\"").replace(&tag, &tag2);
    let mut d = Daemon::start(&source_config(&db, &tag2, &off));
    let v = wait_values(&format!("{tag2}_loose"), 1).await;
    assert_eq!(ids(&v), [1], "validate.non.null = false skips the check");
    assert_eq!(d.stop(), 0);
}

/// `sluice check` runs the probes a start runs: a broken query and a
/// nullable timestamp column fail it, naming the cause.
async fn check_probes_queries_and_nullable_columns(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "pchk").await;
    db.exec("CREATE TABLE ev (id INT PRIMARY KEY, at DATETIME NULL)")
        .await;
    let tag = unique("pchk");
    let check = |extra: &str| {
        let path = write_config(&source_config(&db, &tag, extra));
        sluice(&["check", "--config", path.to_str().expect("utf8")])
    };
    let (code, out) = check(&format!(
        "mode = \"incrementing\"\nincrementing_column = \"id\"\ntopic_prefix = \"{tag}\"\n\
         query = \"SELECT id, at FROM ev WHERE id > 10\""
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("the query probed"), "{out}");
    let (code, out) = check(&format!(
        "mode = \"incrementing\"\nincrementing_column = \"id\"\ntopic_prefix = \"{tag}\"\n\
         query = \"SELECT id, at FROM no_such_table\""
    ));
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("no_such_table"), "{out}");
    let (code, out) = check("mode = \"timestamp\"\ntimestamp_columns = [\"at\"]");
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("are nullable") && out.contains("ev") && out.contains("at"),
        "{out}"
    );
}

/// Connect does not check a query's columns for NULL; neither does Sluice
/// (it warns): a LEFT JOIN's timestamp column is nullable by nature.
async fn query_columns_may_be_nullable_as_in_connect(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "pqn").await;
    db.exec(
        "CREATE TABLE o (id INT PRIMARY KEY, at TIMESTAMP(3) NULL); \
         SET time_zone = '+00:00'; INSERT INTO o VALUES (1, '2024-01-01 00:00:00'), (2, NULL)",
    )
    .await;
    let tag = unique("pqn");
    let extra = format!(
        "mode = \"timestamp\"\ntimestamp_columns = [\"at\"]\ntopic_prefix = \"{tag}_q\"\n\
         query = \"SELECT id, at FROM o\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    let v = wait_values(&format!("{tag}_q"), 1).await;
    assert_eq!(ids(&v), [1], "the row with a NULL timestamp is not read");
    assert!(d.log_text().contains("may be NULL"), "{}", d.log_text());
    assert_eq!(d.stop(), 0);
}

async fn db_timezone_reads_datetimes_as_wall_times_of_the_zone(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tz").await;
    // Paris wall times: winter (UTC+1), summer (UTC+2), and one 30 minutes ago
    // in Paris (UTC + 30 min is in Paris' past in every season; read as UTC it
    // would be in the future and held back by the bound).
    db.exec(
        "CREATE TABLE t (id INT PRIMARY KEY, at DATETIME(3) NOT NULL); \
         INSERT INTO t VALUES (1, '2024-01-01 12:00:00'), (2, '2024-07-01 12:00:00'), \
         (3, UTC_TIMESTAMP(3) + INTERVAL 30 MINUTE)",
    )
    .await;
    let tag = unique("tz");
    let extra = format!(
        "mode = \"timestamp\"\ntimestamp_columns = [\"at\"]\ntopic_prefix = \"{tag}_\"\n\
         \"db.timezone\" = \"Europe/Paris\""
    );
    let mut d = Daemon::start(&source_config(&db, &tag, &extra));
    let v = wait_values(&format!("{tag}_t"), 3).await;
    assert_eq!(ids(&v), [1, 2, 3]);
    assert_eq!(
        v[0]["payload"]["at"], 1_704_106_800_000i64,
        "12:00 CET = 11:00Z"
    );
    assert_eq!(
        v[1]["payload"]["at"], 1_719_828_000_000i64,
        "12:00 CEST = 10:00Z"
    );
    let now = chrono::Utc::now().timestamp_millis();
    let at = v[2]["payload"]["at"].as_i64().unwrap_or(0);
    assert!(
        at < now && at > now - 3 * 3600 * 1000,
        "the recent row is an instant in the past: {at} vs now {now}"
    );
    assert_eq!(d.stop(), 0);
}

/// The sink writes Timestamps as wall times of an IANA `db_timezone`, with
/// its daylight saving time (one target: MariaDB).
#[tokio::test(flavor = "multi_thread")]
async fn sink_db_timezone_writes_wall_times_with_dst() {
    let my = MariaDb::create("sinktz").await;
    let tag = unique("sinktz");
    let topic = format!("tz_{tag}");
    let fields = [
        field("id", "int64", false),
        json!({"type": "int64", "optional": true, "name": "org.apache.kafka.connect.data.Timestamp",
               "version": 1, "field": "at"}),
    ];
    // 2024-01-15T12:00:00Z (CET, +1) and 2024-07-15T12:00:00Z (CEST, +2).
    let m1 = message("e", &fields, json!({"id": 1, "at": 1_705_320_000_000i64}));
    let m2 = message("e", &fields, json!({"id": 2, "at": 1_721_044_800_000i64}));
    kcat_produce(&topic, &[(None, m1.as_str()), (None, m2.as_str())]);
    let name = format!("{tag}_s");
    let mut d = Daemon::start(&config(
        0,
        &[sink(
            &name,
            &my.url(),
            &topic,
            "\"db.timezone\" = \"Europe/Paris\"",
        )],
    ));
    Db::My(&my).wait_applied(&name, &topic, 2).await;
    assert_eq!(
        Db::My(&my).table(&topic, "id, at").await,
        [
            ["1", "2024-01-15 13:00:00.000"],
            ["2", "2024-07-15 14:00:00.000"]
        ]
    );
    assert_eq!(d.stop(), 0);
}
