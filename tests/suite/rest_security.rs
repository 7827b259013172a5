//! The REST API cannot be abused: connectors name local files only under
//! `[http] allowed_file_dirs` (nothing else is read, not even to fail),
//! cross-origin browser requests and non-JSON bodies are refused, an empty
//! token is a start-up error, `Bearer` is matched in any case, and a password
//! in a URL's query string connects but never shows (REST reads, status
//! trace, daemon log).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::rest::{call, holds_for, send};
use crate::support::*;

const SINK: &str = "io.confluent.connect.jdbc.JdbcSinkConnector";
const SOURCE: &str = "io.confluent.connect.jdbc.JdbcSourceConnector";

fn daemon_config(port: u16, state: &std::path::Path, http: &str) -> String {
    format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\noffsets_topic = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n{http}\n",
        state.display(),
        unique("sluice_offsets")
    )
}

async fn wait_state(port: u16, name: &str, state: &str) -> Value {
    let path = format!("/connectors/{name}/status");
    wait_for(
        &format!("{name} {state}"),
        Duration::from_secs(60),
        || async {
            let r = call(port, "GET", &path, None, None).await.json();
            (r["connector"]["state"] == state).then_some(r)
        },
    )
    .await
}

fn message(r: &crate::support::rest::Reply) -> String {
    r.json()["message"].as_str().unwrap_or("").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_connectors_name_local_files_only_under_allowed_dirs() {
    let dir = scratch("rest-files");
    let secrets = dir.join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    std::fs::write(secrets.join("db.pass"), "unused\n").expect("password file");
    std::fs::write(dir.join("outside.pass"), "outside\n").expect("outside file");
    std::os::unix::fs::symlink(dir.join("outside.pass"), secrets.join("link.pass"))
        .expect("symlink");
    let state = dir.join("state");
    let port = free_port();
    let http = format!("allowed_file_dirs = [\"{}\"]", secrets.display());
    let mut daemon = Daemon::start(&daemon_config(port, &state, &http));
    let topic = unique("files");
    kcat_produce(&topic, &[(Some("k"), "")]);
    let sink = |extra: Value| {
        let mut config = json!({"connector.class": SINK, "topics": topic,
            "connection.url": format!("sqlite://{}", secrets.join("t.db").display())});
        if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
            c.extend(e.clone());
        }
        config
    };
    let put = |name: &str, config: Value| {
        let path = format!("/connectors/{name}/config");
        async move { call(port, "PUT", &path, Some(&config), None).await }
    };

    // Under the allowed directory: created, started, its password file read at start.
    let ok = unique("allowed");
    let r = put(&ok, sink(json!({"password_file": secrets.join("db.pass")}))).await;
    assert_eq!(r.status, 201, "{}", r.body);
    wait_state(port, &ok, "RUNNING").await;
    let connectors_json = state.join("connectors.json");
    assert!(connectors_json.exists());

    // The attack: the daemon's own state file as the password of a
    // server the caller controls. Refused; the server never hears from Sluice.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listener");
    let evil = listener.local_addr().expect("addr").port();
    let attack = unique("attack");
    let r = put(
        &attack,
        json!({"connector.class": SINK, "topics": topic,
            "connection.url": format!("jdbc:mysql://127.0.0.1:{evil}/x"),
            "connection.user": "x",
            "password_file": connectors_json.display().to_string()}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.json()["error_code"], 400);
    let m = message(&r);
    assert!(
        m.contains("`password_file`") && m.contains("allowed_file_dirs"),
        "{m}"
    );
    assert_eq!(
        call(port, "GET", &format!("/connectors/{attack}"), None, None)
            .await
            .status,
        404
    );
    holds_for(
        "no connection to the caller's server",
        Duration::from_secs(3),
        || async {
            tokio::time::timeout(Duration::from_millis(200), listener.accept())
                .await
                .is_err()
        },
    )
    .await;

    // /dev/zero: refused at once, nothing read.
    let start = Instant::now();
    let r = put(&unique("zero"), sink(json!({"password_file": "/dev/zero"}))).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(message(&r).contains("`password_file`"), "{}", r.body);

    // Every other way to name a file outside: TLS keys, '..', relative
    // paths, a SQLite target, a socket in the URL.
    let escapes = [
        (
            json!({"ssl.ca": "/etc/ssl/certs/ca-certificates.crt", "ssl.mode": "verify_ca"}),
            "`ssl.ca`",
        ),
        (
            json!({"password_file": format!("{}/../outside.pass", secrets.display())}),
            "`password_file`",
        ),
        (json!({"password_file": "db.pass"}), "`password_file`"),
        (
            json!({"connection.url": format!("sqlite://{}", dir.join("x.db").display())}),
            "`connection.url`",
        ),
        (
            json!({"connection.url": "jdbc:sqlite:/etc/passwd"}),
            "`connection.url`",
        ),
        (
            json!({"connection.url": "mysql://127.0.0.1/x?socket=/run/mysqld/mysqld.sock"}),
            "socket",
        ),
    ];
    for (extra, key) in escapes {
        let r = put(&unique("escape"), sink(extra.clone())).await;
        assert_eq!(r.status, 400, "{extra}: {}", r.body);
        assert!(message(&r).contains(key), "{extra}: {}", r.body);
    }

    // A symlink inside the allowed directory pointing out of it passes the
    // lexical check but is refused when the pipeline starts, before reading.
    let link = unique("link");
    let r = put(
        &link,
        sink(json!({"password_file": secrets.join("link.pass")})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = wait_state(port, &link, "FAILED").await;
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or("");
    assert!(trace.contains("symlinks"), "{status}");
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_writes_need_json_same_origin_and_a_bearer_in_any_case() {
    let dir = scratch("rest-guard");
    let token_file = dir.join("token");
    std::fs::write(&token_file, "tok-3n\n").expect("token");
    let port = free_port();
    let http = format!("auth_token_file = \"{}\"", token_file.display());
    let mut daemon = Daemon::start(&daemon_config(port, &dir, &http));
    // A body that passes every guard and fails validation: 400 means "let through".
    let body = json!({"name": unique("guard"), "config": {"connector.class": "com.example.Nope"}})
        .to_string();
    let auth = "Authorization: Bearer tok-3n\r\n";
    let json_ct = "Content-Type: application/json\r\n";

    // No Content-Type, or a form / text one: 415 in Connect's shape.
    for ct in [
        "",
        "Content-Type: text/plain\r\n",
        "Content-Type: application/x-www-form-urlencoded\r\n",
    ] {
        let r = send(port, "POST", "/connectors", &format!("{auth}{ct}"), &body).await;
        assert_eq!(r.status, 415, "{ct:?}: {}", r.body);
        assert_eq!(r.json()["error_code"], 415, "{}", r.body);
        assert!(message(&r).contains("application/json"), "{}", r.body);
    }
    let r = send(
        port,
        "POST",
        "/connectors",
        &format!("{auth}Content-Type: application/json; charset=utf-8\r\n"),
        &body,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // A request without a body needs no Content-Type (Connect's `curl -X PUT .../pause`).
    let r = send(port, "PUT", "/connectors/none-such/pause", auth, "").await;
    assert_eq!(r.status, 404, "{}", r.body);

    // Cross-origin: 403 for writes, whatever else the request carries.
    let evil = "Origin: http://evil.example\r\n";
    let r = send(
        port,
        "POST",
        "/connectors",
        &format!("{auth}{json_ct}{evil}"),
        &body,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(r.json()["error_code"], 403);
    let r = send(
        port,
        "POST",
        "/connectors",
        &format!("{auth}{json_ct}Sec-Fetch-Site: cross-site\r\n"),
        &body,
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    let r = send(
        port,
        "DELETE",
        "/connectors/x",
        &format!("{auth}{evil}"),
        "",
    )
    .await;
    assert_eq!(r.status, 403, "{}", r.body);
    // The server's own origin is fine.
    let own = format!("Origin: http://127.0.0.1:{port}\r\n");
    let r = send(
        port,
        "POST",
        "/connectors",
        &format!("{auth}{json_ct}{own}"),
        &body,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    // No CORS header, ever: a preflight gets none, so a browser stops there.
    let preflight = send(
        port,
        "OPTIONS",
        "/connectors",
        &format!("{evil}Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n"),
        "",
    )
    .await;
    assert!(
        !preflight.has_header("access-control-"),
        "{}",
        preflight.head
    );
    assert_ne!(preflight.status / 100, 2, "{}", preflight.head);
    let read = send(port, "GET", "/connectors", evil, "").await;
    assert_eq!(read.status, 200, "{}", read.body);
    assert!(!read.has_header("access-control-"), "{}", read.head);

    // Bearer in any case; the token itself exactly.
    for scheme in ["Bearer", "bearer", "BEARER"] {
        let h = format!("Authorization: {scheme} tok-3n\r\n{json_ct}");
        let r = send(port, "POST", "/connectors", &h, &body).await;
        assert_eq!(r.status, 400, "{scheme}: {}", r.body);
    }
    for wrong in ["Bearer TOK-3N", "Bearer tok-3", "Basic tok-3n", "tok-3n"] {
        let h = format!("Authorization: {wrong}\r\n{json_ct}");
        let r = send(port, "POST", "/connectors", &h, &body).await;
        assert_eq!(r.status, 401, "{wrong}: {}", r.body);
    }
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_token_is_a_start_up_error() {
    let dir = scratch("rest-empty-token");
    let token_file = dir.join("token");
    std::fs::write(&token_file, " \n\n").expect("token");
    let port = free_port();
    let config = daemon_config(
        port,
        &dir,
        &format!("auth_token_file = \"{}\"", token_file.display()),
    );
    let mut daemon = Daemon::start(&config);
    let code = daemon.wait_exit();
    let log = daemon.log_text();
    assert_ne!(code, 0, "{log}");
    assert!(
        log.contains("auth_token_file") && log.contains("empty"),
        "{log}"
    );
    let (code, out) = sluice(&["check", "--config", &daemon.config.display().to_string()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("FAIL") && l.contains("auth_token_file") && l.contains("empty")),
        "{out}"
    );

    let config = daemon_config(free_port(), &dir, "auth_token = \"\"");
    let mut daemon = Daemon::start(&config);
    let code = daemon.wait_exit();
    let log = daemon.log_text();
    assert_ne!(code, 0, "{log}");
    assert!(log.contains("auth_token") && log.contains("empty"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_query_string_password_connects_and_never_shows() {
    let db = MariaDb::create("restpw").await;
    db.exec("CREATE TABLE users (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(255))")
        .await;
    db.exec("INSERT INTO users (name) VALUES ('a'), ('b')")
        .await;
    let user = unique("u");
    let secret = unique("s3cret");
    for host in ["%", "localhost", "127.0.0.1"] {
        db.exec(&format!(
            "CREATE USER '{user}'@'{host}' IDENTIFIED BY '{secret}'"
        ))
        .await;
        db.exec(&format!(
            "GRANT ALL ON `{}`.* TO '{user}'@'{host}'",
            db.name
        ))
        .await;
    }
    let url = |database: &str| {
        format!("jdbc:mysql://127.0.0.1:3306/{database}?user={user}&password={secret}")
    };
    let dir = scratch("rest-pw");
    let port = free_port();
    let mut daemon = Daemon::start(&daemon_config(port, &dir, ""));
    let prefix = format!("{}_", unique("pw"));
    let topic = format!("{prefix}users");
    let (source, sink, denied) = (unique("pwsrc"), unique("pwsink"), unique("pwdenied"));
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{source}/config"),
        Some(
            &json!({"connector.class": SOURCE, "connection.url": url(&db.name),
            "mode": "incrementing", "incrementing.column.name": "id",
            "table.whitelist": "users", "topic.prefix": prefix, "poll.interval.ms": "500"}),
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains(&secret), "{}", r.body);
    wait_for("2 messages", Duration::from_secs(60), || async {
        (kcat_lines(&topic, "%s\n").len() == 2).then_some(())
    })
    .await;
    // The sink connects with the same URL form: rows arrive, so the password was used.
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{sink}/config"),
        Some(
            &json!({"connector.class": SINK, "connection.url": url(&db.name),
            "topics": topic, "auto.create": "true"}),
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    wait_for("2 rows applied", Duration::from_secs(60), || async {
        (db.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    // A database the user may not use: FAILED, the trace names the URL without the password.
    let r = call(
        port,
        "PUT",
        &format!("/connectors/{denied}/config"),
        Some(
            &json!({"connector.class": SINK, "connection.url": url("mysql"),
            "topics": topic}),
        ),
        None,
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = wait_state(port, &denied, "FAILED").await;
    let trace = status["tasks"][0]["trace"].as_str().unwrap_or("");
    assert!(trace.contains("127.0.0.1:3306"), "{status}");

    let mut shown = Vec::new();
    for name in [&source, &sink, &denied] {
        for path in ["", "/config", "/status", "/tasks"] {
            let r = call(
                port,
                "GET",
                &format!("/connectors/{name}{path}"),
                None,
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{path}: {}", r.body);
            shown.push(r.body);
        }
    }
    let expanded = call(
        port,
        "GET",
        "/connectors?expand=info&expand=status",
        None,
        None,
    )
    .await;
    assert!(
        expanded.body.contains("password=[hidden]"),
        "{}",
        expanded.body
    );
    shown.push(expanded.body);
    for body in &shown {
        assert!(!body.contains(&secret), "{body}");
    }
    assert_eq!(daemon.stop(), 0, "log:\n{}", daemon.log_text());
    let log = daemon.log_text();
    assert!(!log.contains(&secret), "{log}");
    for host in ["%", "localhost", "127.0.0.1"] {
        db.exec(&format!("DROP USER '{user}'@'{host}'")).await;
    }
}
