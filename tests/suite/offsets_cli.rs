//! `sluice offsets show|reset` on real services: a poll source's position in
//! the offsets topic and a sink's rows in `sluice_sink_offsets`, shown, reset
//! to the beginning (the next start re-reads everything), set to a given
//! position, and refused while the pipeline runs.

use std::time::Duration;

use crate::suite::seed::http_get;
use crate::support::*;

const T: Duration = Duration::from_secs(90);

fn path(p: &std::path::Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs `sluice offsets <args> --config <cfg> --pipeline <name>`.
fn offsets(args: &[&str], cfg: &std::path::Path, pipeline: &str) -> (i32, String) {
    let mut all = vec!["offsets"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", path(cfg), "--pipeline", pipeline]);
    sluice(&all)
}

/// Waits until the daemon's HTTP server reports `pipeline` RUNNING.
async fn wait_running(port: u16, pipeline: &str) {
    wait_for("the pipeline to run", T, || async {
        let body = http_get(port, &format!("/connectors/{pipeline}/status")).await;
        body.contains("\"RUNNING\"").then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn source_offsets_show_reset_and_set() {
    let db = MariaDb::create("offs").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(10))")
        .await;
    db.exec("INSERT INTO t (v) VALUES ('a'), ('b'), ('c')")
        .await;
    let name = unique("offsrc");
    let prefix = format!("{name}_");
    let topic = format!("{prefix}t");
    let port = free_port();
    let cfg = write_config(&format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
offsets_topic = "{name}_offsets"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
kind = "poll"
url = "{url}"
tables = ["t"]
topic_prefix = "{prefix}"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 200
"#,
        url = db.url()
    ));
    let count = |n: usize| {
        let topic = topic.clone();
        async move {
            wait_for(&format!("{n} messages on {topic}"), T, || async {
                (kcat_lines(&topic, "%o\n").len() >= n).then_some(())
            })
            .await
        }
    };

    // Before any run: nothing committed.
    let (code, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no committed position"), "{out}");

    let mut daemon = Daemon::start_file(cfg.clone());
    count(3).await;
    wait_running(port, &name).await;
    let table = format!("{}.t", db.name);
    let shown = wait_for("the committed position", T, || async {
        let (code, out) = offsets(&["show"], &cfg, &name);
        (code == 0 && out.contains(r#"{"incrementing":3}"#)).then_some(out)
    })
    .await;
    assert_eq!(shown.trim(), format!("{table}\t{{\"incrementing\":3}}"));

    // Refused while the daemon of this config runs the source.
    let (code, out) = offsets(&["reset"], &cfg, &name);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("is running") && out.contains("RUNNING"),
        "{out}"
    );
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());

    // Reset: the next start re-reads the table from the beginning.
    let (code, out) = offsets(&["reset"], &cfg, &name);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&table) && out.contains("reset"), "{out}");
    let (_, out) = offsets(&["show"], &cfg, &name);
    assert!(out.contains("no committed position"), "{out}");
    daemon.restart();
    count(6).await;
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());
    let ids: Vec<String> = kcat_lines(&topic, "%s\n")
        .iter()
        .map(|v| {
            let v: serde_json::Value = serde_json::from_str(v).expect("json");
            v["payload"]["id"].to_string()
        })
        .collect();
    assert_eq!(ids, ["1", "2", "3", "1", "2", "3"]);

    // --to: resume after id 2, so only row 3 is read again.
    let (code, out) = offsets(&["reset", "--to", r#"{"incrementing":2}"#], &cfg, &name);
    assert_eq!(code, 0, "{out}");
    let (_, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(out.trim(), format!("{table}\t{{\"incrementing\":2}}"));
    daemon.restart();
    count(7).await;
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());
    assert_eq!(
        kcat_lines(&topic, "%o\n").len(),
        7,
        "exactly one row re-read"
    );

    // A position that is not a poll offset is refused as a usage error.
    let (code, out) = offsets(&["reset", "--to", r#"{"incrementing":"x"}"#], &cfg, &name);
    assert_eq!(code, 2, "{out}");
}

fn record(id: i32) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"id"}}],"optional":false,"name":"r"}},"payload":{{"id":{id}}}}}"#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_offsets_show_reset_and_set() {
    let db = MariaDb::create("offsink").await;
    let name = unique("offsink");
    let topic = format!("{name}_in");
    let recs: Vec<String> = (1..=3).map(record).collect();
    let msgs: Vec<(Option<&str>, &str)> = recs.iter().map(|r| (None, r.as_str())).collect();
    kcat_produce(&topic, &msgs);
    let port = free_port();
    // No key, plain inserts: a record applied twice is an extra row.
    let cfg = write_config(&log_sink_config(
        &format!("127.0.0.1:{port}"),
        &name,
        &db.url(),
        &topic,
    ));
    let rows = |n: i64| {
        let db = &db;
        async move {
            wait_for(&format!("{n} rows"), T, || async {
                (db.count("log").await == Some(n)).then_some(())
            })
            .await
        }
    };
    // Before the sink ever ran: no offsets table, nothing stored.
    let (code, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("no stored offsets"), "{out}");
    let mut daemon = Daemon::start_file(cfg.clone());
    rows(3).await;
    let (code, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(code, 0, "{out}");
    assert_eq!(out.trim(), format!("{topic}\t0\t3"));

    // Refused while running: the HTTP status, and the group's members.
    let (code, out) = offsets(&["reset"], &cfg, &name);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("is running"), "{out}");
    let no_http = write_config(
        &std::fs::read_to_string(&cfg)
            .expect("config")
            .replace(&format!("127.0.0.1:{port}"), ""),
    );
    let (code, out) = offsets(&["reset"], &no_http, &name);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("active member"), "{out}");
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());

    // Reset to the beginning: every record is applied again.
    let (code, out) = wait_for("the group to empty", T, || async {
        let r = offsets(&["reset"], &cfg, &name);
        (!r.1.contains("active member")).then_some(r)
    })
    .await;
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("{topic}\t0\t0")), "{out}");
    daemon.restart();
    rows(6).await;
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());

    // One partition set by hand: only the record at offset 2 again.
    let (code, out) = offsets(
        &[
            "reset",
            "--topic",
            &topic,
            "--partition",
            "0",
            "--offset",
            "2",
        ],
        &cfg,
        &name,
    );
    assert_eq!(code, 0, "{out}");
    let (_, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(out.trim(), format!("{topic}\t0\t2"));
    daemon.restart();
    rows(7).await;
    let (_, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(out.trim(), format!("{topic}\t0\t3"));
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());
    let ids = db
        .rows("SELECT id, COUNT(*) FROM log GROUP BY id ORDER BY id")
        .await;
    assert_eq!(ids, [["1", "2"], ["2", "2"], ["3", "3"]]);
}

#[test]
fn unknown_pipeline_and_misplaced_arguments_are_usage_errors() {
    let cfg = write_config(
        "[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n[[sink]]\nname = \"s\"\nurl = \"mysql://root@127.0.0.1:1/db\"\ntopics = [\"t\"]\n",
    );
    let (code, out) = offsets(&["show"], &cfg, "nope");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("no source or sink named \"nope\""), "{out}");
    let (code, out) = offsets(&["reset", "--force", "--to", "{}"], &cfg, "s");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("is a sink"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn sink_offsets_on_postgres() {
    let pg = Postgres::create("offpg").await;
    let name = unique("offpg");
    let topic = format!("{name}_in");
    let recs: Vec<String> = (1..=2).map(record).collect();
    let msgs: Vec<(Option<&str>, &str)> = recs.iter().map(|r| (None, r.as_str())).collect();
    kcat_produce(&topic, &msgs);
    let cfg = write_config(&log_sink_config("", &name, &pg.url(), &topic));
    let mut daemon = Daemon::start_file(cfg.clone());
    wait_for("2 rows", T, || async {
        (pg.count("log").await == Some(2)).then_some(())
    })
    .await;
    assert_eq!(daemon.stop(), 0, "{}", daemon.log_text());
    let (code, out) = offsets(&["show"], &cfg, &name);
    assert_eq!((code, out.trim()), (0, format!("{topic}\t0\t2").as_str()));
    let (code, out) = wait_for("the group to empty", T, || async {
        let r = offsets(
            &[
                "reset",
                "--topic",
                &topic,
                "--partition",
                "0",
                "--offset",
                "1",
            ],
            &cfg,
            &name,
        );
        (!r.1.contains("active member")).then_some(r)
    })
    .await;
    assert_eq!(code, 0, "{out}");
    let (_, out) = offsets(&["show"], &cfg, &name);
    assert_eq!(out.trim(), format!("{topic}\t0\t1"));
}
