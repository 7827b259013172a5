//! The Kafka Connect REST API: the seed's `POST /connectors` calls verbatim
//! drive a real pipeline (MariaDB → Kafka → MariaDB) that pauses, resumes,
//! restarts, survives a daemon restart from the state directory, and stops
//! when deleted; plus Connect's error codes and the bearer token.

use std::time::Duration;

use serde_json::json;

use crate::support::rest::{call, holds_for};
use crate::support::*;

const USERS: &str = "CREATE TABLE users (
    id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id VARCHAR(255),
    pwd VARCHAR(255),
    name VARCHAR(255),
    created_at TIMESTAMP NULL DEFAULT NULL)";

/// A daemon config without pipelines: Kafka (with the test's own offsets
/// topic), the API on `port`, a state dir.
fn empty_config(port: u16, state_dir: &std::path::Path, extra_http: &str) -> String {
    let offsets = unique("sluice_offsets");
    format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\noffsets_topic = \"{offsets}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{extra_http}\n",
        state_dir.display()
    )
}

/// The seed's source connector call, verbatim but for the database and topic prefix.
fn seed_source(name: &str, db: &str, prefix: &str) -> serde_json::Value {
    json!({"name": name, "config": {
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "tasks.max": "1",
        "connection.url": format!("jdbc:mysql://127.0.0.1:3306/{db}"),
        "connection.user": "root",
        "connection.password": "",
        "mode": "incrementing",
        "incrementing.column.name": "id",
        "table.whitelist": "users",
        "topic.prefix": prefix,
    }})
}

/// The seed's sink connector call, verbatim but for the database and topic.
fn seed_sink(name: &str, db: &str, topic: &str) -> serde_json::Value {
    json!({"name": name, "config": {
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": format!("jdbc:mysql://127.0.0.1:3306/{db}"),
        "connection.user": "root",
        "connection.password": "",
        "auto.create": "true",
        "auto.evolve": "true",
        "delete.enabled": "false",
        "tasks.max": "1",
        "topics": topic,
    }})
}

async fn wait_count(db: &MariaDb, table: &str, n: i64) {
    wait_for(
        &format!("{n} rows in {table}"),
        Duration::from_secs(60),
        || async { (db.count(table).await == Some(n)).then_some(()) },
    )
    .await;
}

async fn wait_state(port: u16, name: &str, state: &str) {
    let path = format!("/connectors/{name}/status");
    wait_for(
        &format!("{name} {state}"),
        Duration::from_secs(30),
        || async {
            let r = call(port, "GET", &path, None, None).await;
            (r.json()["connector"]["state"] == state).then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_connectors_over_rest_run_pause_resume_survive_restart_and_delete() {
    let db = MariaDb::create("rest").await;
    db.exec(USERS).await;
    db.exec("INSERT INTO users (user_id, name) VALUES ('test1', 'test1'), ('test2', 'test2')")
        .await;
    let tag = unique("rest");
    let prefix = format!("my_topic_{tag}_");
    let topic = format!("{prefix}users");
    let (source, sink) = (
        format!("my-source-connect-{tag}"),
        format!("my-sink-connect-{tag}"),
    );
    let state = scratch("state");
    let port = free_port();
    let mut daemon = Daemon::start(&empty_config(port, &state, ""));

    let r = call(
        port,
        "POST",
        "/connectors",
        Some(&seed_source(&source, &db.name, &prefix)),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}\nlog:\n{}", r.body, daemon.log_text());
    let created = r.json();
    assert_eq!(created["name"], json!(source));
    assert_eq!(created["type"], "source");
    assert_eq!(created["config"]["connection.password"], "[hidden]");
    assert_eq!(created["tasks"][0]["task"], 0);
    // The sink starts once the source has created its topic.
    wait_for(
        "2 messages on the topic",
        Duration::from_secs(60),
        || async { (kcat_lines(&topic, "%s\n").len() == 2).then_some(()) },
    )
    .await;
    let r = call(
        port,
        "POST",
        "/connectors",
        Some(&seed_sink(&sink, &db.name, &topic)),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["type"], "sink");

    // Rows flow MariaDB → Kafka → MariaDB.
    wait_count(&db, &topic, 2).await;
    wait_state(port, &source, "RUNNING").await;
    let status = call(
        port,
        "GET",
        &format!("/connectors/{source}/status"),
        None,
        None,
    )
    .await;
    let status = status.json();
    assert_eq!(status["name"], json!(source));
    assert_eq!(status["type"], "source");
    assert_eq!(status["tasks"][0]["id"], 0);
    assert_eq!(status["tasks"][0]["state"], "RUNNING");

    let list = call(port, "GET", "/connectors", None, None).await.json();
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        names.contains(&source.as_str()) && names.contains(&sink.as_str()),
        "{list}"
    );
    let expanded = call(
        port,
        "GET",
        "/connectors?expand=status&expand=info",
        None,
        None,
    )
    .await
    .json();
    assert_eq!(expanded[&sink]["status"]["connector"]["state"], "RUNNING");
    assert_eq!(expanded[&sink]["info"]["config"]["topics"], json!(topic));
    let config = call(
        port,
        "GET",
        &format!("/connectors/{sink}/config"),
        None,
        None,
    )
    .await
    .json();
    assert_eq!(config["connection.password"], "[hidden]");
    assert_eq!(config["auto.create"], "true");
    let tasks = call(
        port,
        "GET",
        &format!("/connectors/{sink}/tasks"),
        None,
        None,
    )
    .await
    .json();
    assert_eq!(tasks[0]["id"], json!({"connector": sink, "task": 0}));

    // Persisted (with the password key, readable by the owner only).
    let file = state.join("connectors.json");
    let stored = std::fs::read_to_string(&file).expect("state file");
    assert!(
        stored.contains(&source) && stored.contains("connection.password"),
        "{stored}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Connect's errors.
    let dup = call(
        port,
        "POST",
        "/connectors",
        Some(&seed_source(&source, &db.name, &prefix)),
        None,
    )
    .await;
    assert_eq!(dup.status, 409, "{}", dup.body);
    assert_eq!(dup.json()["error_code"], 409);
    let missing = call(
        port,
        "GET",
        "/connectors/no-such-connector/status",
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["error_code"], 404);
    assert!(missing.json()["message"]
        .as_str()
        .unwrap_or("")
        .contains("no-such-connector"));
    let mut bad = seed_source(&unique("bad"), &db.name, &prefix);
    bad["config"]["mode"] = json!("sometimes");
    let bad = call(port, "POST", "/connectors", Some(&bad), None).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(
        bad.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains("sometimes"),
        "{}",
        bad.body
    );
    let bad_class =
        json!({"name": unique("bad"), "config": {"connector.class": "com.example.Nope"}});
    let bad_class = call(port, "POST", "/connectors", Some(&bad_class), None).await;
    assert_eq!(bad_class.status, 400);
    assert!(
        bad_class.body.contains("com.example.Nope"),
        "{}",
        bad_class.body
    );

    // Pause: no new rows; resume: they arrive.
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{source}/pause"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_state(port, &source, "PAUSED").await;
    assert_eq!(
        call(
            port,
            "GET",
            &format!("/connectors/{source}/status"),
            None,
            None
        )
        .await
        .json()["tasks"][0]["state"],
        "PAUSED"
    );
    db.exec("INSERT INTO users (user_id, name) VALUES ('test3', 'test3')")
        .await;
    // Longer than the seed's default 5 s poll interval.
    holds_for(
        "2 rows while the source is paused",
        Duration::from_secs(7),
        || async { db.count(&topic).await == Some(2) },
    )
    .await;
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{source}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_count(&db, &topic, 3).await;

    // Restart.
    let r = call(
        port,
        "POST",
        &format!("/connectors/{source}/restart"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    wait_state(port, &source, "RUNNING").await;

    // A daemon restart brings both back from the state directory, the
    // paused sink still paused.
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/pause"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
    daemon.restart();
    wait_state(port, &source, "RUNNING").await;
    wait_state(port, &sink, "PAUSED").await;
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/resume"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_state(port, &sink, "RUNNING").await;
    db.exec("INSERT INTO users (user_id, name) VALUES ('test4', 'test4')")
        .await;
    wait_count(&db, &topic, 4).await;

    // Delete: gone from the API and the file, and no more rows.
    let r = call(port, "DELETE", &format!("/connectors/{source}"), None, None).await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        call(port, "GET", &format!("/connectors/{source}"), None, None)
            .await
            .status,
        404
    );
    let stored = std::fs::read_to_string(&file).expect("state file");
    assert!(
        !stored.contains(&source) && stored.contains(&sink),
        "{stored}"
    );
    db.exec("INSERT INTO users (user_id, name) VALUES ('test5', 'test5')")
        .await;
    holds_for(
        "4 rows after the source is deleted",
        Duration::from_secs(7),
        || async { db.count(&topic).await == Some(4) },
    )
    .await;
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn token_guards_writes_and_config_file_pipelines_are_read_only() {
    let dir = scratch("rest-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "s3cret-token\n").expect("token");
    let tag = unique("tok");
    let toml_sink = format!("file-sink-{tag}");
    let port = free_port();
    let config = format!(
        "{}\n[[sink]]\nname = \"{toml_sink}\"\nurl = \"sqlite://{}\"\ntopics = [\"{tag}_t\"]\npassword = \"file-pw\"\n",
        empty_config(
            port,
            &dir,
            // The REST sink's SQLite file lies in `dir`, which the operator allows.
            &format!(
                "auth_token_file = \"{}\"\nallowed_file_dirs = [\"{}\"]",
                token_file.display(),
                dir.display()
            )
        ),
        dir.join("target.db").display()
    );
    // Sinks need their topics to exist: a tombstone (skipped) creates each.
    for t in ["t", "u"] {
        kcat_produce(&format!("{tag}_{t}"), &[(Some("k"), "")]);
    }
    let mut daemon = Daemon::start(&config);
    let token = Some("s3cret-token");

    // Reads are open, and the config file's pipeline is listed.
    wait_state(port, &toml_sink, "RUNNING").await;
    let shown = call(port, "GET", &format!("/connectors/{toml_sink}"), None, None)
        .await
        .json();
    assert_eq!(shown["type"], "sink");
    assert_eq!(
        shown["config"]["connector.class"],
        "io.confluent.connect.jdbc.JdbcSinkConnector"
    );
    assert_eq!(shown["config"]["password"], "[hidden]");

    // Writes need the token.
    let name = format!("rest-sink-{tag}");
    let body = json!({"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": format!("sqlite://{}", dir.join("rest.db").display()),
        "topics": format!("{tag}_u"), "batch.size": "10"});
    let path = format!("/connectors/{name}/config");
    assert_eq!(
        call(port, "PUT", &path, Some(&body), None).await.status,
        401
    );
    assert_eq!(
        call(port, "PUT", &path, Some(&body), Some("wrong"))
            .await
            .status,
        401
    );
    let r = call(port, "PUT", &path, Some(&body), token).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let mut changed = body.clone();
    changed["batch.size"] = json!("20");
    let r = call(port, "PUT", &path, Some(&changed), token).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        call(port, "GET", &path, None, None).await.json()["batch.size"],
        "20"
    );
    wait_state(port, &name, "RUNNING").await;

    // The config file's pipeline can be paused but not changed or deleted.
    let r = call(
        port,
        "DELETE",
        &format!("/connectors/{toml_sink}"),
        None,
        token,
    )
    .await;
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains("config file"), "{}", r.body);
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{toml_sink}/config"),
        Some(&body),
        token,
    )
    .await;
    assert_eq!(r.status, 409);
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{toml_sink}/pause"),
        None,
        token,
    )
    .await;
    assert_eq!(r.status, 202);
    wait_state(port, &toml_sink, "PAUSED").await;

    // Bad bodies are 400, unknown names 404, deletes need the token too.
    let r = call(
        port,
        "POST",
        "/connectors",
        Some(&json!(["not", "an", "object"])),
        token,
    )
    .await;
    assert_eq!(r.status, 400);
    assert_eq!(
        call(port, "DELETE", "/connectors/nope", None, token)
            .await
            .status,
        404
    );
    assert_eq!(
        call(port, "DELETE", &format!("/connectors/{name}"), None, None)
            .await
            .status,
        401
    );
    assert_eq!(
        call(port, "DELETE", &format!("/connectors/{name}"), None, token)
            .await
            .status,
        204
    );
    assert_eq!(call(port, "GET", &path, None, None).await.status, 404);
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
}
