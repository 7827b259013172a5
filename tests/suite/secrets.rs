//! Secrets the way operators keep them: Connect's config providers
//! (`${file:...}`, `${directory:...}`, `${env:...}`), systemd credentials
//! (`${credential:...}` from `$CREDENTIALS_DIRECTORY`) and
//! `SLUICE_SINK__<NAME>__<KEY>` overrides, each giving a sink the password of
//! a real MariaDB user; resolved values never show in REST reads, the state
//! file, status traces or the log.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::rest::call;
use crate::support::*;

const SINK: &str = "io.confluent.connect.jdbc.JdbcSinkConnector";
const T: Duration = Duration::from_secs(90);

fn record(id: i32) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"id"}}],"optional":false,"name":"r"}},"payload":{{"id":{id}}}}}"#
    )
}

/// A MariaDB user with a password, allowed to use `db`.
async fn user_with_password(db: &MariaDb) -> (String, String) {
    let user = unique("u");
    let secret = unique("pw-s3cret");
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
    (user, secret)
}

/// `db.properties`, `secrets/db` and `creds/db` under `dir`, each holding `secret`.
fn secret_files(dir: &Path, secret: &str) {
    std::fs::create_dir_all(dir.join("secrets")).expect("secrets dir");
    std::fs::create_dir_all(dir.join("creds")).expect("creds dir");
    std::fs::write(
        dir.join("secrets/db.properties"),
        format!("# the database\nuser = nobody\npassword = {secret}\n"),
    )
    .expect("properties");
    std::fs::write(dir.join("secrets/db"), format!("{secret}\n")).expect("dir secret");
    std::fs::write(dir.join("creds/db"), format!("{secret}\n")).expect("credential");
}

async fn wait_status(port: u16, name: &str, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/connectors/{name}/status");
    wait_for(what, T, || async {
        let r = call(port, "GET", &path, None, None).await.json();
        ok(&r).then_some(r)
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn config_file_sinks_take_passwords_from_every_provider() {
    let db = MariaDb::create("secrets").await;
    let (user, secret) = user_with_password(&db).await;
    let dir = scratch("secrets");
    secret_files(&dir, &secret);
    let topic = unique("secrets_in");
    kcat_produce(&topic, &[(None, &record(1))]);
    let base = unique("sec");
    let port = free_port();
    let props = dir.join("secrets/db.properties").display().to_string();
    let secrets = dir.join("secrets").display().to_string();
    let providers = [
        ("file", format!("${{file:{props}:password}}")),
        ("dir", format!("${{directory:{secrets}:db}}")),
        ("env", "${env:SECRETS_TEST_PASSWORD}".to_string()),
        ("cred", "${credential:db}".to_string()),
        // Overridden by SLUICE_SINK__<NAME>__PASSWORD below.
        ("override", "not-the-password".to_string()),
    ];
    let mut config = format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n",
        dir.join("state").display()
    );
    for (what, password) in &providers {
        config.push_str(&format!(
            "[[sink]]\nname = \"{base}-{what}\"\nurl = \"mysql://127.0.0.1:3306/{}\"\nuser = \"{user}\"\npassword = \"{password}\"\ntopics = [\"{topic}\"]\nauto_create = true\ntable_name_format = \"t_{what}\"\nmax_wait_ms = 50\n",
            db.name
        ));
    }
    let override_var = format!(
        "SLUICE_SINK__{}_OVERRIDE__PASSWORD",
        base.to_ascii_uppercase()
    );
    let creds = dir.join("creds").display().to_string();
    let daemon = Daemon::start_with_env(
        write_config(&config),
        &[
            ("SECRETS_TEST_PASSWORD", secret.as_str()),
            ("CREDENTIALS_DIRECTORY", creds.as_str()),
            (override_var.as_str(), secret.as_str()),
        ],
    );
    for (what, _) in &providers {
        let table = format!("t_{what}");
        wait_for(&format!("the row in {table}"), T, || async {
            (db.count(&table).await == Some(1)).then_some(())
        })
        .await;
    }
    // The REST view of a file pipeline shows the reference, not the password.
    let r = call(
        port,
        "GET",
        &format!("/connectors/{base}-file/config"),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["password"], json!(providers[0].1), "{}", r.body);
    let r = call(
        port,
        "GET",
        &format!("/connectors/{base}-override"),
        None,
        None,
    )
    .await;
    assert_eq!(
        r.json()["config"]["password"],
        json!("[hidden]"),
        "{}",
        r.body
    );
    let all = call(
        port,
        "GET",
        "/connectors?expand=info&expand=status",
        None,
        None,
    )
    .await;
    assert!(!all.body.contains(&secret), "{}", all.body);
    assert!(
        !daemon.log_text().contains(&secret),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_connectors_keep_placeholders_and_never_show_resolved_values() {
    let db = MariaDb::create("restsec").await;
    let (user, secret) = user_with_password(&db).await;
    let dir = scratch("restsec");
    secret_files(&dir, &secret);
    let wrong = unique("wr0ng-secret");
    std::fs::write(dir.join("secrets/wrong"), format!("{wrong}\n")).expect("wrong");
    let state = dir.join("state");
    let port = free_port();
    let secrets = dir.join("secrets").display().to_string();
    let config = format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\nallowed_file_dirs = [\"{secrets}\"]\nallowed_env_vars = [\"SECRETS_TEST_*\"]\n",
        state.display()
    );
    let daemon = Daemon::start_with_env(
        write_config(&config),
        &[
            ("SECRETS_TEST_USER", user.as_str()),
            ("HOME_SECRET", secret.as_str()),
        ],
    );
    let topic = unique("restsec_in");
    kcat_produce(&topic, &[(None, &record(1))]);
    let url = format!("jdbc:mysql://127.0.0.1:3306/{}", db.name);
    let placeholder = format!("${{file:{secrets}/db.properties:password}}");
    let put = |name: String, config: Value| async move {
        call(
            port,
            "PUT",
            &format!("/connectors/{name}/config"),
            Some(&config),
            None,
        )
        .await
    };

    // Declared the Connect way (accepted, not required); user from the environment.
    let good = unique("good");
    let r = put(
        good.clone(),
        json!({"connector.class": SINK, "connection.url": url, "topics": topic,
            "auto.create": "true", "table.name.format": "t_rest",
            "connection.user": "${env:SECRETS_TEST_USER}",
            "connection.password": placeholder,
            "config.providers": "file,env",
            "config.providers.file.class": "org.apache.kafka.common.config.provider.FileConfigProvider",
            "config.providers.env.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider"}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(
        r.json()["config"]["connection.password"],
        json!(placeholder)
    );
    wait_for("the row in t_rest", T, || async {
        (db.count("t_rest").await == Some(1)).then_some(())
    })
    .await;
    let r = call(
        port,
        "GET",
        &format!("/connectors/{good}/config"),
        None,
        None,
    )
    .await;
    assert_eq!(
        r.json()["connection.password"],
        json!(placeholder),
        "{}",
        r.body
    );
    assert_eq!(
        r.json()["connection.user"],
        json!("${env:SECRETS_TEST_USER}")
    );
    let stored = std::fs::read_to_string(state.join("connectors.json")).unwrap_or_default();
    assert!(
        stored.contains("db.properties:password") && !stored.contains(&secret),
        "{stored}"
    );

    // Only what [http] allows: another variable, a file elsewhere.
    let r = put(
        unique("env"),
        json!({"connector.class": SINK, "connection.url": url, "topics": topic,
            "connection.password": "${env:HOME_SECRET}"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let m = r.json()["message"].as_str().unwrap_or("").to_string();
    assert!(
        m.contains("HOME_SECRET") && m.contains("allowed_env_vars"),
        "{m}"
    );
    let r = put(
        unique("etc"),
        json!({"connector.class": SINK, "connection.url": url, "topics": topic,
            "connection.password": "${file:/etc/passwd:root}"}),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("allowed_file_dirs"), "{}", r.body);

    // A missing key: stored, then FAILED at start with a message naming it.
    let missing = unique("missing");
    let r = put(
        missing.clone(),
        json!({"connector.class": SINK, "connection.url": url, "topics": topic,
            "connection.password": format!("${{file:{secrets}/db.properties:no_such_key}}")}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = wait_status(port, &missing, "missing FAILED", |s| {
        s["connector"]["state"] == "FAILED"
    })
    .await;
    let trace = status.to_string();
    assert!(
        trace.contains("no_such_key") && trace.contains("connection.password"),
        "{trace}"
    );

    // A wrong password from a directory: the connection fails; neither the
    // resolved user nor the password shows anywhere.
    let denied = unique("denied");
    let r = put(
        denied.clone(),
        json!({"connector.class": SINK, "connection.url": url, "topics": topic,
            "connection.user": "${env:SECRETS_TEST_USER}",
            "connection.password": format!("${{directory:{secrets}:wrong}}")}),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let status = wait_status(port, &denied, "a trace of the refused login", |s| {
        s.to_string().contains("Access denied")
    })
    .await;
    let mut shown = vec![status.to_string(), daemon.log_text()];
    for path in ["", "/config", "/status", "/tasks"] {
        shown.push(
            call(
                port,
                "GET",
                &format!("/connectors/{denied}{path}"),
                None,
                None,
            )
            .await
            .body,
        );
    }
    shown.push(
        call(
            port,
            "GET",
            "/connectors?expand=info&expand=status",
            None,
            None,
        )
        .await
        .body,
    );
    for text in &shown {
        assert!(!text.contains(&wrong) && !text.contains(&secret), "{text}");
        assert!(!text.contains(&user), "the resolved user shows: {text}");
    }
    assert!(
        daemon.log_text().contains("Access denied"),
        "{}",
        daemon.log_text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn check_resolves_references_and_names_a_missing_key() {
    let db = MariaDb::create("checksec").await;
    let (user, secret) = user_with_password(&db).await;
    let dir = scratch("checksec");
    secret_files(&dir, &secret);
    let props = dir.join("secrets/db.properties").display().to_string();
    let config = |key: &str| {
        format!(
            "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"\"\n[[sink]]\nname = \"chk\"\nurl = \"mysql://127.0.0.1:3306/{}\"\nuser = \"{user}\"\npassword = \"${{file:{props}:{key}}}\"\ntopics = [\"t\"]\n",
            db.name
        )
    };
    let path = write_config(&config("password"));
    let (code, out) = sluice(&["check", "--config", &path.display().to_string()]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("sink \"chk\": target") && out.contains("reachable"),
        "{out}"
    );
    assert!(!out.contains(&secret), "{out}");
    let path = write_config(&config("nope"));
    let (code, out) = sluice(&["check", "--config", &path.display().to_string()]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("no key \"nope\"") && out.contains("`password`"),
        "{out}"
    );
    // `sluice validate` (ExecStartPre) reads nothing but refuses a misspelt provider.
    let path = write_config(&config("nope").replace("${file:", "${fiel:"));
    let (code, out) = sluice(&["validate", "--config", &path.display().to_string()]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("unknown config provider \"fiel\"") && out.contains("\"chk\""),
        "{out}"
    );
    let path = write_config(&config("nope"));
    let (code, out) = sluice(&["validate", "--config", &path.display().to_string()]);
    assert_eq!(code, 0, "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn reload_reads_a_rotated_secret_again() {
    let db = MariaDb::create("rotsec").await;
    let (user, secret) = user_with_password(&db).await;
    let dir = scratch("rotsec");
    secret_files(&dir, "not-the-password-yet");
    let topic = unique("rotsec_in");
    kcat_produce(&topic, &[(None, &record(1))]);
    let port = free_port();
    let name = unique("rot");
    let config = format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n[[sink]]\nname = \"{name}\"\nurl = \"mysql://127.0.0.1:3306/{}\"\nuser = \"{user}\"\npassword = \"${{directory:{}:db}}\"\ntopics = [\"{topic}\"]\nauto_create = true\ntable_name_format = \"t\"\nmax_wait_ms = 50\n",
        dir.join("state").display(),
        db.name,
        dir.join("secrets").display()
    );
    let daemon = Daemon::start_file(write_config(&config));
    wait_status(port, &name, "FAILED with the old secret", |s| {
        s["connector"]["state"] == "FAILED"
    })
    .await;
    // The operator rotates the secret file and reloads; the config is unchanged.
    std::fs::write(dir.join("secrets/db"), format!("{secret}\n")).expect("rotate");
    daemon.hup();
    wait_for("the row after the reload", T, || async {
        (db.count("t").await == Some(1)).then_some(())
    })
    .await;
    assert!(!daemon.log_text().contains(&secret));
}

#[tokio::test(flavor = "multi_thread")]
async fn kafka_sasl_password_from_a_properties_file() {
    let db = MariaDb::create("kafkasec").await;
    let dir = scratch("kafkasec");
    let props = dir.join("kafka.properties");
    std::fs::write(&props, "sasl.password=sluice-test-secret\n").expect("properties");
    let topic = unique("kafkasec_in");
    kcat_produce(&topic, &[(None, &record(1))]);
    let port = free_port();
    let name = unique("ksec");
    let config = format!(
        "state_dir = \"{}\"\n[kafka]\nbootstrap_servers = \"127.0.0.1:9094\"\nsecurity_protocol = \"SASL_SSL\"\n\
         sasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"sluice\"\n\
         sasl_password = \"${{file:{}:sasl.password}}\"\nssl_ca_location = \"/var/lib/sluice-test/tls/ca.pem\"\n\
         [http]\nlisten = \"127.0.0.1:{port}\"\n[[sink]]\nname = \"{name}\"\nurl = \"{}\"\ntopics = [\"{topic}\"]\n\
         auto_create = true\ntable_name_format = \"t\"\nmax_wait_ms = 50\n",
        dir.join("state").display(),
        props.display(),
        db.url()
    );
    let daemon = Daemon::start_file(write_config(&config));
    wait_for("the row read over SASL_SSL", T, || async {
        (db.count("t").await == Some(1)).then_some(())
    })
    .await;
    assert!(!daemon.log_text().contains("sluice-test-secret"));
}
