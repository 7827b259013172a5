//! TLS to MariaDB, MySQL and PostgreSQL with the test CA that `scripts/services.sh`
//! made (/var/lib/sluice-test/tls), a wrong CA made here, a client certificate,
//! and MySQL's `caching_sha2_password` with and without TLS.

use std::path::Path;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use sluice::config::{DbEndpoint, Secret, SslMode, TlsKeys};
use sluice::mysql;

use crate::both_flavors;
use crate::support::*;

both_flavors!(
    every_ssl_mode_connects_as_it_says,
    a_wrong_ca_fails_naming_the_certificate,
    a_client_certificate_is_presented
);

const TLS_DIR: &str = "/var/lib/sluice-test/tls";
const SHA2_USER: &str = "sluice_sha2";
const SHA2_PASSWORD: &str = "sluice-sha2-test";

fn tls_file(name: &str) -> String {
    let p = Path::new(TLS_DIR).join(name);
    assert!(
        p.exists(),
        "{} is missing (run scripts/services.sh up)",
        p.display()
    );
    p.display().to_string()
}

struct Tls<'a> {
    mode: SslMode,
    ca: Option<&'a str>,
    cert: Option<&'a str>,
    key: Option<&'a str>,
}

fn tls(mode: SslMode, ca: Option<&str>) -> Tls<'_> {
    Tls {
        mode,
        ca,
        cert: None,
        key: None,
    }
}

fn endpoint(url: &str, user: Option<&str>, password: Option<&str>, t: &Tls<'_>) -> DbEndpoint {
    let password = password.map(Secret::new);
    DbEndpoint::resolve("tls-test", url, user, password.as_ref(), None)
        .and_then(|e| {
            e.with_tls(
                "tls-test",
                TlsKeys {
                    mode: Some(t.mode),
                    ca: t.ca,
                    cert: t.cert,
                    key: t.key,
                },
            )
        })
        .expect("endpoint")
}

/// (cipher of the session, `""` when plain; CURRENT_USER()).
async fn session(ep: &DbEndpoint) -> Result<(String, String), mysql_async::Error> {
    let mut c = mysql::connect(ep).await?;
    let cipher: Option<(String, String)> = c.query_first("SHOW STATUS LIKE 'Ssl_cipher'").await?;
    let user: Option<String> = c.query_first("SELECT CURRENT_USER()").await?;
    c.disconnect().await?;
    Ok((
        cipher.map(|(_, v)| v).unwrap_or_default(),
        user.unwrap_or_default(),
    ))
}

async fn every_ssl_mode_connects_as_it_says(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tlsmodes").await;
    let ca = tls_file("ca.pem");
    for (t, encrypted) in [
        (tls(SslMode::Disabled, None), false),
        (tls(SslMode::Preferred, None), true),
        (tls(SslMode::Required, None), true),
        (tls(SslMode::VerifyCa, Some(&ca)), true),
        (tls(SslMode::VerifyIdentity, Some(&ca)), true),
    ] {
        let ep = endpoint(&db.url(), None, None, &t);
        let (cipher, _) = session(&ep)
            .await
            .unwrap_or_else(|e| panic!("{flavor:?} ssl_mode={}: {e}", t.mode));
        assert_eq!(
            !cipher.is_empty(),
            encrypted,
            "{flavor:?} ssl_mode={}: cipher {cipher:?}",
            t.mode
        );
    }
    // The JDBC spelling in the URL works too.
    let url = format!(
        "jdbc:mysql://127.0.0.1:{}/{}?sslMode=VERIFY_IDENTITY&sslrootcert={ca}",
        flavor.port(),
        db.name
    );
    let ep = DbEndpoint::resolve("tls-test", &url, Some("root"), None, None)
        .and_then(|e| e.with_tls("tls-test", TlsKeys::default()))
        .expect("endpoint");
    assert_eq!(ep.tls.mode, SslMode::VerifyIdentity);
    let (cipher, _) = session(&ep).await.expect("jdbc sslMode");
    assert!(!cipher.is_empty());
}

async fn a_wrong_ca_fails_naming_the_certificate(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tlswrong").await;
    let wrong = wrong_ca().display().to_string();
    for mode in [SslMode::VerifyCa, SslMode::VerifyIdentity] {
        let ep = endpoint(&db.url(), None, None, &tls(mode, Some(&wrong)));
        let err = session(&ep).await.err().map(|e| e.to_string());
        let err = err.unwrap_or_else(|| panic!("{flavor:?} {mode}: a wrong CA was accepted"));
        assert!(
            err.contains("certificate") && err.contains("UnknownIssuer"),
            "{flavor:?} {mode}: {err}"
        );
    }
    // What an operator sees: `sluice check` names TLS and the mode.
    let cfg = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[[sink]]\nname = \"s\"\nurl = \"{}\"\ntopics = [\"t\"]\nssl_mode = \"verify_ca\"\nssl_ca = \"{wrong}\"\n",
        db.url()
    );
    let (code, out) = sluice(&[
        "check",
        "--config",
        &write_config(&cfg).display().to_string(),
    ]);
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("FAIL")
            && out.contains("TLS ssl_mode=verify_ca")
            && out.contains("certificate"),
        "{out}"
    );
}

async fn a_client_certificate_is_presented(flavor: MySqlFlavor) {
    let db = MySqlServer::new(flavor, "tlsx509").await;
    let user = unique("x509");
    db.exec(&format!(
        "CREATE USER '{user}'@'%' REQUIRE X509; GRANT ALL ON `{}`.* TO '{user}'@'%'",
        db.name
    ))
    .await;
    let (ca, cert, key) = (
        tls_file("ca.pem"),
        tls_file("client.pem"),
        tls_file("client-key.pem"),
    );
    let mut t = tls(SslMode::VerifyIdentity, Some(&ca));
    let url = db.url().replace("root@", &format!("{user}@"));
    let refused = session(&endpoint(&url, None, None, &t)).await;
    assert!(
        refused.is_err(),
        "{flavor:?}: REQUIRE X509 without a client certificate"
    );
    t.cert = Some(&cert);
    t.key = Some(&key);
    let (cipher, who) = session(&endpoint(&url, None, None, &t))
        .await
        .unwrap_or_else(|e| panic!("{flavor:?}: with the client certificate: {e}"));
    assert!(!cipher.is_empty());
    assert!(who.starts_with(&user), "{who}");
    db.exec(&format!("DROP USER '{user}'@'%'")).await;
}

/// MySQL's default auth plugin over plain TCP needs the RSA key exchange on a cache miss.
#[tokio::test(flavor = "multi_thread")]
async fn caching_sha2_password_with_and_without_tls() {
    let db = MySqlServer::new(MySqlFlavor::MySql, "sha2").await;
    let ca = tls_file("ca.pem");
    db.exec("FLUSH PRIVILEGES").await; // empties the sha2 cache: full authentication next
    for t in [
        tls(SslMode::Disabled, None),
        tls(SslMode::VerifyIdentity, Some(&ca)),
    ] {
        let ep = endpoint(&db.url(), Some(SHA2_USER), Some(SHA2_PASSWORD), &t);
        let (cipher, who) = session(&ep)
            .await
            .unwrap_or_else(|e| panic!("sha2 ssl_mode={}: {e}", t.mode));
        assert_eq!(cipher.is_empty(), t.mode == SslMode::Disabled);
        assert_eq!(who, format!("{SHA2_USER}@%"));
    }
    // A wrong password is refused with the server's error, not a TLS one.
    let ep = endpoint(
        &db.url(),
        Some(SHA2_USER),
        Some("wrong"),
        &tls(SslMode::Disabled, None),
    );
    let err = session(&ep)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("1045"), "{err}");
}

/// A poll source on MySQL as the caching_sha2_password user, one without TLS and
/// one with verify_identity, in one daemon.
#[tokio::test(flavor = "multi_thread")]
async fn poll_source_on_mysql_with_caching_sha2_password() {
    let db = MySqlServer::new(MySqlFlavor::MySql, "sha2src").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10)); INSERT INTO t VALUES (1, 'a')")
        .await;
    db.exec("FLUSH PRIVILEGES").await;
    let ca = tls_file("ca.pem");
    let tag = unique("sha2");
    let url = db.url().replace("root@", "");
    let source = |name: &str, tls: &str| {
        format!(
            "[[source]]\nname = \"{tag}_{name}\"\nkind = \"poll\"\nurl = \"{url}\"\nuser = \"{SHA2_USER}\"\npassword = \"{SHA2_PASSWORD}\"\ntopic_prefix = \"{tag}_{name}_\"\nmode = \"incrementing\"\nincrementing_column = \"id\"\npoll_interval_ms = 100\n{tls}\n"
        )
    };
    let cfg = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"\"\n{}{}",
        source("plain", "ssl_mode = \"disabled\""),
        source(
            "tls",
            &format!("ssl_mode = \"verify_identity\"\nssl_ca = \"{ca}\"")
        ),
    );
    let mut d = Daemon::start(&cfg);
    for name in ["plain", "tls"] {
        let topic = format!("{tag}_{name}_t");
        let msgs = wait_for(
            &format!("a message on {topic}"),
            Duration::from_secs(60),
            || async {
                let m = kcat_read(&topic);
                (!m.is_empty()).then_some(m)
            },
        )
        .await;
        let value = msgs[0].1.clone().expect("a value");
        assert_eq!(value["payload"]["v"], "a", "{name}");
    }
    assert_eq!(d.stop(), 0, "{}", d.log_text());
}

/// PostgreSQL sink: modes via `sluice check`, rows over verify_identity, a wrong CA.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_sink_over_tls() {
    let pg = Postgres::create("tlspg").await;
    let ca = tls_file("ca.pem");
    let wrong = wrong_ca().display().to_string();
    let sink = |name: &str, url: &str, tls: &str| {
        format!("[[sink]]\nname = \"{name}\"\nurl = \"{url}\"\ntopics = [\"t\"]\n{tls}\n")
    };
    let check = |sinks: String| {
        let cfg = format!("[kafka]\nbootstrap_servers = \"{KAFKA}\"\n{sinks}");
        sluice(&[
            "check",
            "--config",
            &write_config(&cfg).display().to_string(),
        ])
    };
    let good = [
        sink("disabled", &pg.url(), "ssl_mode = \"disabled\""),
        sink("required", &pg.url(), "ssl_mode = \"required\""),
        sink(
            "verify_ca",
            &pg.url(),
            &format!("ssl_mode = \"verify_ca\"\nssl_ca = \"{ca}\""),
        ),
        sink(
            "full",
            &format!("{}?sslmode=verify-full&sslrootcert={ca}", pg.url()),
            "",
        ),
        sink(
            "localhost",
            &pg.url().replace("127.0.0.1", "localhost"),
            &format!("ssl_mode = \"verify_identity\"\nssl_ca = \"{ca}\""),
        ),
    ];
    let (code, out) = check(good.concat());
    assert_eq!(code, 0, "{out}");
    let (code, out) = check(sink(
        "wrong",
        &pg.url(),
        &format!("ssl_mode = \"verify_ca\"\nssl_ca = \"{wrong}\""),
    ));
    assert_ne!(code, 0, "{out}");
    assert!(
        out.contains("TLS ssl_mode=verify_ca") && out.contains("certificate"),
        "{out}"
    );

    // Rows arrive over a verified TLS session.
    let tag = unique("tlspg");
    let topic = format!("tlspg_{tag}");
    let v = r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"r"},"payload":{"id":7}}"#;
    kcat_produce(&topic, &[(None, v)]);
    let cfg = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"\"\n[[sink]]\nname = \"{tag}\"\nurl = \"{}\"\ntopics = [\"{topic}\"]\nauto_create = true\nmax_wait_ms = 50\nssl_mode = \"verify_identity\"\nssl_ca = \"{ca}\"\n",
        pg.url()
    );
    let mut d = Daemon::start(&cfg);
    wait_for("the row in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&topic).await == Some(1)).then_some(())
    })
    .await;
    let ssl = pg
        .rows(&format!(
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{}' AND a.pid <> pg_backend_pid()",
            pg.name
        ))
        .await;
    assert_eq!(ssl, [["t"]], "the sink's session is encrypted");
    assert_eq!(d.stop(), 0);
}
