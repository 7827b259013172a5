use std::path::Path;

use serde_json::{json, Map, Value};

use super::*;
use crate::config::connect_json::ConnectorConfig;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn r(provider: &str, path: &str, key: &str) -> Piece {
    Piece::Ref(Reference {
        provider: provider.into(),
        path: path.into(),
        key: key.into(),
    })
}

fn lit(t: &str) -> Piece {
    Piece::Literal(t.into())
}

#[test]
fn parses_references_like_connect() {
    assert_eq!(
        parse("${file:/etc/sluice/db.properties:password}").ok(),
        Some(vec![r("file", "/etc/sluice/db.properties", "password")])
    );
    assert_eq!(
        parse("${env:DB_PW}").ok(),
        Some(vec![r("env", "", "DB_PW")])
    );
    // Path up to the first ':' after the provider; the key keeps the rest.
    assert_eq!(
        parse("${file:/a:b:c}").ok(),
        Some(vec![r("file", "/a", "b:c")])
    );
    // Several references in one value, with text around them.
    assert_eq!(
        parse("mysql://${env:U}:${directory:/run/secrets:pw}@h/db").ok(),
        Some(vec![
            lit("mysql://"),
            r("env", "", "U"),
            lit(":"),
            r("directory", "/run/secrets", "pw"),
            lit("@h/db"),
        ])
    );
}

#[test]
fn text_that_is_no_reference_stays() {
    for s in [
        "${topic}",
        "a$b",
        "cost: $5",
        "${unclosed:x",
        "plain",
        "$",
        "${}",
    ] {
        assert_eq!(parse(s).ok(), Some(vec![lit(s)]), "{s}");
        assert!(!has_references(s), "{s}");
    }
    assert_eq!(parse("").ok(), Some(vec![]));
}

#[test]
fn escaped_dollar_is_literal() {
    assert_eq!(parse("$${env:HOME}").ok(), Some(vec![lit("${env:HOME}")]));
    assert!(!has_references("pa$${x:y}ss"));
    assert_eq!(
        parse("$${env:A}${env:B}").ok(),
        Some(vec![lit("${env:A}"), r("env", "", "B")])
    );
    let env = |_: &str| Some("v".to_string());
    let mut res = Resolver::with_env(None, &env);
    assert_eq!(
        res.resolve_str("x$${env:A}y").ok().as_deref(),
        Some("x${env:A}y")
    );
}

#[test]
fn nested_references_are_refused() {
    let e = parse("${file:${env:DIR}/db.properties:pw}").err();
    assert!(matches!(e, Some(ProviderError::Nested { .. })), "{e:?}");
    assert!(has_references("${file:${env:DIR}:pw}"));
}

#[test]
fn only_references_tells_placeholders_from_secrets() {
    assert!(only_references("${file:/x:pw}"));
    assert!(only_references("${env:A}${env:B}"));
    assert!(!only_references("s3cret"));
    assert!(!only_references("s3cret${env:A}"));
    assert!(!only_references(""));
}

#[test]
fn resolves_every_provider() {
    let dir = std::env::temp_dir().join(format!("sluice-providers-{}", std::process::id()));
    let secrets = dir.join("secrets");
    let creds = dir.join("creds");
    for d in [&secrets, &creds] {
        std::fs::create_dir_all(d).ok();
    }
    std::fs::write(
        dir.join("db.properties"),
        "# db\npassword = fr0m-file\nuser: cdc\n",
    )
    .ok();
    std::fs::write(secrets.join("db"), "fr0m-dir\n").ok();
    std::fs::write(creds.join("db"), "fr0m-cred\r\n").ok();
    let creds_s = creds.display().to_string();
    let env = move |k: &str| match k {
        "DB_PW" => Some("fr0m-env".to_string()),
        "CREDENTIALS_DIRECTORY" => Some(creds_s.clone()),
        _ => None,
    };
    let mut res = Resolver::with_env(None, &env);
    let props = dir.join("db.properties").display().to_string();
    let value = format!(
        "${{file:{props}:password}}|${{directory:{}:db}}|${{env:DB_PW}}|${{credential:db}}",
        secrets.display()
    );
    assert_eq!(
        res.resolve_str(&value).ok().as_deref(),
        Some("fr0m-file|fr0m-dir|fr0m-env|fr0m-cred")
    );
    // Errors name the provider and key or variable, never a value.
    let err = |res: &mut Resolver, s: &str| {
        res.resolve_str(s)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err(&mut res, &format!("${{file:{props}:nope}}"));
    assert!(e.contains("no key \"nope\"") && e.contains(&props), "{e}");
    let e = err(&mut res, "${env:NOT_SET_HERE}");
    assert!(e.contains("NOT_SET_HERE") && e.contains("not set"), "{e}");
    let e = err(&mut res, "${vault:secret/db:pw}");
    assert!(e.contains("unknown config provider \"vault\""), "{e}");
    let e = err(
        &mut res,
        &format!("${{directory:{}:missing}}", secrets.display()),
    );
    assert!(e.contains("missing") && e.contains("cannot read"), "{e}");
    let e = err(
        &mut res,
        &format!("${{directory:{}:..}}", secrets.display()),
    );
    assert!(e.contains("file name"), "{e}");
    let e = err(&mut res, "${file:pw}");
    assert!(e.contains("needs a path"), "{e}");
    let resolved = res.finish();
    assert_eq!(
        resolved.scrub("user fr0m-env failed, fr0m-file"),
        "user [hidden] failed, [hidden]"
    );
    let no_creds = |_: &str| None;
    let mut res = Resolver::with_env(None, &no_creds);
    let e = err(&mut res, "${credential:db}");
    assert!(e.contains("CREDENTIALS_DIRECTORY"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn rest_connectors_read_only_what_is_allowed() {
    let allowed = AllowedFileDirs::new(&["/etc/sluice/secrets".to_string()])
        .with_env_vars(&["SLUICE_DB_*".to_string(), "PGPASSWORD".to_string()]);
    let check = |config: Value| {
        check_rest("x", &obj(config), &allowed)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        check(json!({"connection.password": "${env:SLUICE_DB_PW}"})),
        None
    );
    assert_eq!(
        check(json!({"connection.password": "${env:PGPASSWORD}"})),
        None
    );
    assert_eq!(
        check(json!({"connection.password": "${file:/etc/sluice/secrets/db.properties:pw}"})),
        None
    );
    let e = check(json!({"connection.password": "${env:HOME}"})).unwrap_or_default();
    assert!(
        e.contains("allowed_env_vars") && e.contains("connection.password"),
        "{e}"
    );
    let e = check(json!({"connection.password": "${file:/etc/shadow:root}"})).unwrap_or_default();
    assert!(e.contains("allowed_file_dirs"), "{e}");
    let e = check(json!({"connection.password": "${directory:/etc/sluice/secrets:..}"}))
        .unwrap_or_default();
    assert!(e.contains("file name"), "{e}");
    // A Connect declaration binds a name to a provider; an unknown class is refused.
    let declared = json!({
        "config.providers": "vault",
        "config.providers.vault.class": "org.apache.kafka.common.config.provider.EnvVarConfigProvider",
        "connection.password": "${vault:PGPASSWORD}",
    });
    assert_eq!(check(declared), None);
    let e = check(json!({"config.providers.x.class": "com.example.Vault"})).unwrap_or_default();
    assert!(e.contains("com.example.Vault"), "{e}");
    let e = check(json!({"connection.password": "${x:y}"})).unwrap_or_default();
    assert!(e.contains("unknown config provider"), "{e}");
}

#[test]
fn pipelines_resolve_at_start_and_keep_placeholders_elsewhere() {
    let dir = std::env::temp_dir().join(format!("sluice-providers-p-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    std::fs::write(dir.join("db.properties"), "password=s3cret-from-file\n").ok();
    let reference = format!("${{file:{}/db.properties:password}}", dir.display());
    let raw = obj(
        json!({"name": "s", "url": "mysql://u@127.0.0.1/db", "topics": ["t"],
        "password": reference, "table_name_format": "${topic}"}),
    );
    let Ok(Some((ConnectorConfig::Sink(sink), resolved))) =
        resolve_pipeline("sink", "s", &raw, None)
    else {
        panic!("not resolved");
    };
    assert_eq!(
        sink.password.as_ref().map(Secret::expose),
        Some("s3cret-from-file")
    );
    assert_eq!(resolved.scrub("x s3cret-from-file"), "x [hidden]");
    assert_eq!(sink.table_name_format, "${topic}");
    // Without references nothing is rebuilt.
    let plain = obj(json!({"name": "s", "url": "mysql://h/db", "topics": ["t"]}));
    assert!(matches!(
        resolve_pipeline("sink", "s", &plain, None),
        Ok(None)
    ));
    // The REST view keeps the placeholder, hides literal passwords.
    let shown = super::super::connect_json::redacted(&obj(json!({
        "connection.password": reference, "database.password": "lit"})));
    assert_eq!(shown["connection.password"], json!(reference));
    assert_eq!(shown["database.password"], json!("[hidden]"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn env_overrides_reach_pipelines_by_name() {
    let dir = std::env::temp_dir().join(format!("sluice-penv-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        "[[source]]\nname = \"orders-db.v2\"\nurl = \"mysql://u@h/db\"\n\n\
         [[sink]]\nname = \"a\"\nurl = \"mysql://u@h/db\"\ntopics = [\"t\"]\n\n\
         [[sink]]\nname = \"b\"\nurl = \"mysql://u@h/db\"\ntopics = [\"t\"]\n",
    )
    .ok();
    let load = |vars: &[(&str, &str)]| {
        let vars = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        figment::Figment::new()
            .merge(figment::providers::Toml::file_exact(&path))
            .merge(PipelineEnv::with_vars(Path::new(&path), vars))
            .extract::<crate::config::Config>()
            .map_err(|e| e.to_string())
    };
    use figment::providers::Format;
    let c = load(&[
        ("SLUICE_SOURCE__ORDERS_DB_V2__PASSWORD", "123456"),
        ("SLUICE_SINK__B__PASSWORD", "pw-b"),
        ("SLUICE_SINK__B__BATCH_SIZE", "7"),
        ("SLUICE_SINK__a__user", "ua"),
    ])
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        c.source[0].password.as_ref().map(Secret::expose),
        Some("123456")
    );
    assert_eq!(c.sink[0].name, "a");
    assert_eq!(c.sink[0].user.as_deref(), Some("ua"));
    assert!(c.sink[0].password.is_none());
    assert_eq!(
        c.sink[1].password.as_ref().map(Secret::expose),
        Some("pw-b")
    );
    assert_eq!(c.sink[1].batch_size, 7);
    let e = load(&[("SLUICE_SINK__NOPE__PASSWORD", "x")])
        .err()
        .unwrap_or_default();
    assert!(
        e.contains("SLUICE_SINK__NOPE__PASSWORD") && e.contains("no [[sink]]"),
        "{e}"
    );
    let e = load(&[("SLUICE_SINK__A", "x")]).err().unwrap_or_default();
    assert!(e.contains("<PIPELINE NAME>"), "{e}");
    assert!(is_pipeline_override("source__x__password") && !is_pipeline_override("kafka__x"));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn kafka_section_resolves_its_references() {
    let dir = std::env::temp_dir().join(format!("sluice-providers-k-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    std::fs::write(dir.join("kafka"), "scram-pw\n").ok();
    let raw = json!({"bootstrap_servers": "127.0.0.1:9094", "sasl_username": "sluice",
        "sasl_password": format!("${{directory:{}:kafka}}", dir.display())});
    let Ok(Some((kafka, resolved))) = resolve_kafka(&raw) else {
        panic!("not resolved");
    };
    assert_eq!(
        kafka.sasl_password.as_ref().map(Secret::expose),
        Some("scram-pw")
    );
    assert_eq!(resolved.scrub("scram-pw!"), "[hidden]!");
    assert!(matches!(
        resolve_kafka(&json!({"bootstrap_servers": "h:9092"})),
        Ok(None)
    ));
    let missing = json!({"sasl_password": "${env:SLUICE_TEST_SURELY_UNSET_VAR}"});
    let e = resolve_kafka(&missing)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        e.contains("kafka")
            && e.contains("sasl_password")
            && e.contains("SLUICE_TEST_SURELY_UNSET_VAR"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_url_held_in_a_reference_is_checked_when_resolved() {
    let allowed = AllowedFileDirs::default().with_env_vars(&["DB_*".to_string()]);
    let sink = |url: &str| {
        obj(
            json!({"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": url, "topics": "t"}),
        )
    };
    for url in ["${env:DB_URL}", "jdbc:mysql://${env:DB_HOST}:3306/db"] {
        let built = super::super::connect_json::from_connect("x", &sink(url), &allowed);
        assert!(built.is_ok(), "{url}: {:?}", built.err());
    }
    let e = super::super::connect_json::from_connect("x", &sink("ftp://h"), &allowed)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unsupported URL"), "{e}");
    // At start the resolved URL is checked like a written one.
    let env = |k: &str| (k == "DB_URL").then(|| "ftp://nowhere".to_string());
    let mut res = Resolver::with_env(None, &env);
    let resolved = res
        .resolve_map(&sink("${env:DB_URL}"))
        .ok()
        .unwrap_or_default();
    let e = super::super::connect_json::from_connect("x", &resolved, &allowed)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("unsupported URL"), "{e}");
}

#[test]
fn validate_reports_malformed_references_without_reading() {
    let raw = super::super::connect_json::RawConfig {
        kafka: json!({"sasl_password": "${env:KAFKA_PW}"}),
        source: vec![obj(json!({"name": "a", "password": "${fiel:/x:pw}"}))],
        sink: vec![
            obj(json!({"name": "b", "password": "${credential:db}", "user": "${env:U}"})),
            obj(json!({"name": "c", "user": "${env:/x:U}"})),
            obj(json!({"name": "d", "password": "${file:/missing/not-read.properties:pw}"})),
        ],
    };
    let errors: Vec<String> = check_file_references(&raw)
        .iter()
        .map(|e| e.to_string())
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].contains("\"a\"") && errors[0].contains("unknown config provider \"fiel\""));
    assert!(errors[1].contains("\"c\"") && errors[1].contains("takes no path"));
}

#[test]
fn errors_about_resolved_values_hide_them() {
    let dir = std::env::temp_dir().join(format!("sluice-providers-e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok();
    std::fs::write(dir.join("mode"), "bogus-mode-value\n").ok();
    let raw = obj(json!({"name": "s", "url": "mysql://h/db", "topics": ["t"],
        "insert_mode": format!("${{directory:{}:mode}}", dir.display())}));
    let e = resolve_pipeline("sink", "s", &raw, None)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("insert_mode") || e.contains("variant"), "{e}");
    assert!(
        !e.contains("bogus-mode-value") && e.contains("[hidden]"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_source_with_references_keeps_its_column_mapper_keys() {
    std::env::set_var("DBZKEYS_TEST_SOURCE_URL", "mysql://h/db");
    let raw = obj(json!({"name": "s", "kind": "binlog",
        "url": "${env:DBZKEYS_TEST_SOURCE_URL}",
        "column.mask.with.4.chars": "db.t.c"}));
    let resolved = resolve_pipeline("source", "s", &raw, None);
    let Ok(Some((ConnectorConfig::Source(source), _))) = resolved else {
        panic!("not resolved: {:?}", resolved.err().map(|e| e.to_string()));
    };
    assert_eq!(source.url, "mysql://h/db");
    assert_eq!(
        source
            .column_rules
            .get("column.mask.with.4.chars")
            .map(String::as_str),
        Some("db.t.c")
    );
}
