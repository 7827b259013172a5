use serde_json::json;

use super::*;
use crate::config::connect_json::build;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn allowed(dirs: &[&str]) -> AllowedFileDirs {
    AllowedFileDirs::new(&dirs.iter().map(|d| d.to_string()).collect::<Vec<_>>())
}

fn file(path: &str) -> LocalFile {
    LocalFile {
        key: "password_file".into(),
        path: path.into(),
    }
}

fn refusal(dirs: &AllowedFileDirs, path: &str) -> String {
    dirs.check("p", &file(path))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn nothing_is_allowed_by_default() {
    let none = AllowedFileDirs::default();
    let err = refusal(&none, "/var/lib/sluice/connectors.json");
    assert!(
        err.contains("password_file") && err.contains("allowed_file_dirs"),
        "{err}"
    );
    assert!(err.contains("/var/lib/sluice/connectors.json"), "{err}");
}

#[test]
fn paths_must_lie_under_an_allowed_dir_lexically() {
    let dirs = allowed(&["/etc/sluice/secrets/", "/srv/db"]);
    assert!(dirs
        .check("p", &file("/etc/sluice/secrets/mysql.pass"))
        .is_ok());
    assert!(dirs
        .check("p", &file("/etc/sluice/secrets/sub/x.pem"))
        .is_ok());
    assert!(dirs.check("p", &file("/srv/db/x.db")).is_ok());
    for bad in [
        "/etc/sluice/secrets/../../../var/lib/sluice/connectors.json",
        "/etc/sluice/secrets/./x",
        "/etc/sluice/secrets",
        "/etc/sluice/secrets2/x",
        "/etc/sluice/x",
        "secrets/x",
        "./x",
        "/dev/zero",
        "",
    ] {
        let err = refusal(&dirs, bad);
        assert!(err.contains("allowed_file_dirs"), "{bad}: {err}");
    }
}

#[test]
fn allowed_dirs_must_be_absolute_and_normalised() {
    assert!(check_allowed_dir("/etc/sluice/secrets").is_ok());
    assert!(check_allowed_dir("etc/sluice").is_err());
    assert!(check_allowed_dir("/etc/../").is_err());
    // A bad entry allows nothing.
    assert_eq!(
        allowed(&["relative", "/a/../b"]),
        AllowedFileDirs::default()
    );
}

#[test]
fn symlinks_cannot_escape_at_start() {
    let base = std::env::temp_dir().join(format!("sluice-files-{}", std::process::id()));
    let allowed_dir = base.join("allowed");
    std::fs::create_dir_all(&allowed_dir).expect("dir");
    std::fs::write(base.join("outside"), "x").expect("write");
    std::fs::write(allowed_dir.join("inside"), "x").expect("write");
    let link = allowed_dir.join("link");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(base.join("outside"), &link).expect("symlink");
    let dirs = AllowedFileDirs::new(&[allowed_dir.display().to_string()]);
    let at = |p: &std::path::Path| file(&p.display().to_string());
    assert!(dirs
        .check_on_disk("p", &at(&allowed_dir.join("inside")))
        .is_ok());
    // A file that does not exist yet (a SQLite database) is judged by its directory.
    assert!(dirs
        .check_on_disk("p", &at(&allowed_dir.join("new.db")))
        .is_ok());
    assert!(dirs.check("p", &at(&link)).is_ok());
    let err = dirs
        .check_on_disk("p", &at(&link))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("symlinks"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

#[test]
fn every_file_a_connector_names_is_found() {
    let raw = obj(json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "connection.url": "jdbc:postgresql://h/db?sslmode=verify-full&sslrootcert=/ca.pem&passfile=/pgpass&host=/run/postgresql",
        "topics": "t",
        "password_file": "/pw",
        "ssl.cert": "/c.pem",
        "ssl.key": "/k.pem",
    }));
    let built = build("s", &raw).expect("valid");
    let mut keys: Vec<(String, String)> = named_files(&built, &raw)
        .into_iter()
        .map(|f| (f.key, f.path))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            (
                "connection.url (host)".to_string(),
                "/run/postgresql".to_string()
            ),
            ("connection.url (passfile)".into(), "/pgpass".into()),
            ("connection.url (sslrootcert)".into(), "/ca.pem".into()),
            ("password_file".into(), "/pw".into()),
            ("ssl.cert".into(), "/c.pem".into()),
            ("ssl.key".into(), "/k.pem".into()),
        ]
    );
}

#[test]
fn sqlite_targets_and_sockets_are_files() {
    for (url, path) in [
        ("sqlite:///var/lib/x.db", "/var/lib/x.db"),
        ("jdbc:sqlite:/var/lib/x.db", "/var/lib/x.db"),
        ("sqlite://x.db", "x.db"),
    ] {
        assert_eq!(url_files(url), [(String::new(), path.to_string())], "{url}");
    }
    assert!(url_files("sqlite::memory:").is_empty());
    assert_eq!(
        url_files("mysql://h/db?socket=/run/mysqld/mysqld.sock"),
        [("socket".to_string(), "/run/mysqld/mysqld.sock".to_string())]
    );
    assert_eq!(
        url_files("postgres://u@%2Frun%2Fpostgresql/db"),
        [("host".to_string(), "/run/postgresql".to_string())]
    );
    assert!(url_files("mysql://h:3306/db?useSSL=true").is_empty());
}

#[test]
fn file_keys() {
    for k in [
        "password_file",
        "ssl_ca",
        "ssl.ca",
        "ssl.key",
        "ssl_cert",
        "sasl_password_file",
        "ssl.truststore.location",
    ] {
        assert!(is_file_key(k), "{k}");
    }
    for k in [
        "ssl_mode",
        "connection.url",
        "topics",
        "pk.fields",
        "key.converter",
        "table.name.format",
    ] {
        assert!(!is_file_key(k), "{k}");
    }
}
