use super::*;

const SEED: &str = r#"
[kafka]
bootstrap_servers = "127.0.0.1:9092"

[[source]]
name = "my-source-connect"
kind = "poll"
url = "mysql://root@127.0.0.1:3306/mydb"
tables = ["users"]
topic_prefix = "my_topic_"
mode = "incrementing"
incrementing_column = "id"
poll_interval_ms = 1000

[[sink]]
name = "my-sink-connect"
url = "mysql://root@127.0.0.1:3306/mydb"
topics = ["my_topic_users"]
auto_create = true
auto_evolve = true
"#;

#[test]
fn seed_config_loads_and_validates() {
    let c = Config::from_toml_str(SEED).expect("load");
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    assert_eq!(c.source[0].topic_for("mydb", "users"), "my_topic_users");
    assert_eq!(c.sink[0].batch_size, 3000);
    assert_eq!(c.sink[0].table_name_format, "${topic}");
    assert_eq!(c.http.listen, "127.0.0.1:8083");
}

#[test]
fn connect_dotted_names_and_string_values_are_accepted() {
    let text = r#"
[[source]]
name = "s"
"connector.class" = "io.confluent.connect.jdbc.JdbcSourceConnector"
"tasks.max" = "1"
"connection.url" = "jdbc:mysql://127.0.0.1:3306/mydb"
"connection.user" = "root"
"connection.password" = "pw"
mode = "incrementing"
"incrementing.column.name" = "id"
"table.whitelist" = "users,orders"
"topic.prefix" = "my_topic_"
"poll.interval.ms" = "1000"

[[sink]]
name = "k"
"connector.class" = "io.confluent.connect.jdbc.JdbcSinkConnector"
"connection.url" = "jdbc:mysql://127.0.0.1:3306/mydb"
topics = "my_topic_users"
"auto.create" = "true"
"auto.evolve" = "true"
"batch.size" = "10"
"#;
    let c = Config::from_toml_str(text).expect("load");
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    let s = &c.source[0];
    assert_eq!(s.resolved_kind().ok(), Some(SourceKind::Poll));
    assert_eq!(s.tables, vec!["users", "orders"]);
    assert_eq!(s.poll_interval_ms, 1000);
    assert_eq!(s.password.as_ref().map(Secret::expose), Some("pw"));
    assert!(c.sink[0].auto_create && c.sink[0].auto_evolve);
    assert_eq!(c.sink[0].batch_size, 10);
    assert!(!format!("{c:?}").contains("\"pw\""));
}

#[test]
fn unknown_key_is_named() {
    let err = Config::from_toml_str(
        "[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\nauto_creat=true\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("auto_creat"), "{err}");
}

#[test]
fn wrong_type_is_named() {
    let err = Config::from_toml_str(
        "[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\nbatch_size='lots'\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(err.contains("batch_size") && err.contains("lots"), "{err}");
}

#[test]
fn wrong_type_in_a_source_is_named() {
    let err = Config::from_toml_str(
        "[[source]]\nname='s'\nkind='binlog'\nurl='mysql://h/d'\nmax_batch_bytes='lots'\n",
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("max_batch_bytes") && err.contains("lots"),
        "{err}"
    );
}

#[test]
fn missing_required_key_is_named() {
    let err = Config::from_toml_str("[[sink]]\nname='k'\ntopics=['t']\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("url"), "{err}");
}

#[test]
fn missing_mode_is_a_validation_error() {
    let c = Config::from_toml_str("[[source]]\nname='s'\nkind='poll'\nurl='mysql://h/d'\n")
        .expect("load");
    let errs: Vec<String> = c.validate().iter().map(|e| e.to_string()).collect();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].contains("`mode`"), "{errs:?}");
}

#[test]
fn duplicate_names_are_rejected() {
    let text = "[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\n[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\n";
    let c = Config::from_toml_str(text).expect("load");
    assert!(c
        .validate()
        .iter()
        .any(|e| e.to_string().contains("unique")));
}

#[test]
fn upsert_without_key_is_rejected() {
    let text = "[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\ninsert_mode='upsert'\n";
    let c = Config::from_toml_str(text).expect("load");
    assert!(c
        .validate()
        .iter()
        .any(|e| e.to_string().contains("pk_mode")));
}

#[test]
fn timezones_parse() {
    assert_eq!(parse_timezone("UTC"), Ok(DbZone::Utc));
    assert_eq!(parse_timezone("+02:00"), Ok(DbZone::Fixed(7200)));
    assert!(parse_timezone("Europe/Paris").is_ok());
    assert!(parse_timezone("Mars/Olympus").is_err());
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
fn env_overrides_nested_keys() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("s.toml", SEED)?;
        jail.set_env("SLUICE_KAFKA__BOOTSTRAP_SERVERS", "10.0.0.1:9092");
        let c = Config::load(Path::new("s.toml")).map_err(|e| e.to_string())?;
        assert_eq!(c.kafka.bootstrap_servers, "10.0.0.1:9092");
        Ok(())
    });
}

fn sink(extra: &str) -> Config {
    let text = format!("[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\n{extra}\n");
    Config::from_toml_str(&text).expect("load")
}

fn sink_errors(extra: &str) -> Vec<String> {
    sink(extra)
        .validate()
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn flush_interval_ms_is_max_wait_ms() {
    assert_eq!(sink("flush_interval_ms = 75").sink[0].max_wait_ms, 75);
    assert_eq!(sink("max_wait_ms = '80'").sink[0].max_wait_ms, 80);
    assert_eq!(sink("").sink[0].max_wait_ms, 200);
}

#[test]
fn table_name_regex_is_validated() {
    assert!(sink_errors("table_name_regex = 'a(.*)'\ntable_name_replacement = 'b$1'").is_empty());
    let errs = sink_errors("table_name_regex = 'a(('\ntable_name_replacement = 'b'");
    assert!(
        errs.iter().any(|e| e.contains("table_name_regex")),
        "{errs:?}"
    );
    let errs = sink_errors("table_name_replacement = 'b'");
    assert!(
        errs.iter().any(|e| e.contains("needs table_name_regex")),
        "{errs:?}"
    );
    let errs = sink_errors("table_name_regex = 'a'");
    assert!(
        errs.iter().any(|e| e.contains("table_name_replacement")),
        "{errs:?}"
    );
}

#[test]
fn field_lists_take_lists_connect_names_and_comma_strings() {
    let c = sink("\"fields.whitelist\" = 'a, b'");
    assert_eq!(c.sink[0].fields_include, vec!["a", "b"]);
    let c = sink("fields_exclude = ['c']");
    assert_eq!(c.sink[0].fields_exclude, vec!["c"]);
    let c = sink("\"fields.blacklist\" = 'c,d'");
    assert_eq!(c.sink[0].fields_exclude, vec!["c", "d"]);
    let errs = sink_errors("fields_include = ['a']\nfields_exclude = ['b']");
    assert!(errs.iter().any(|e| e.contains("not both")), "{errs:?}");
}

#[test]
fn sink_db_timezone_is_validated() {
    assert!(sink_errors("db_timezone = '+02:00'").is_empty());
    let errs = sink_errors("db_timezone = 'Mars/Olympus'");
    assert!(errs.iter().any(|e| e.contains("db_timezone")), "{errs:?}");
}

#[test]
fn a_sink_reads_avro_through_a_registry_and_refuses_json_only_keys() {
    let url = "\"value.converter.schema.registry.url\" = 'http://reg:8081'";
    assert!(sink_errors(&format!(
        "\"value.converter\" = 'io.confluent.connect.avro.AvroConverter'\n{url}"
    ))
    .is_empty());
    let errs = sink_errors("value_converter = 'avro'");
    assert!(
        errs.iter().any(|e| e.contains("needs a schema registry")),
        "{errs:?}"
    );
    let errs = sink_errors(&format!(
        "value_converter = 'avro'\n{url}\n\"value.converter.schemas.enable\" = false"
    ));
    assert!(
        errs.iter()
            .any(|e| e.contains("value.converter.schemas.enable")),
        "{errs:?}"
    );
    assert!(sink_errors(&format!("value_converter = 'json_schema'\n{url}")).is_empty());
    let errs = sink_errors("value_converter = 'json_schema'");
    assert!(
        errs.iter().any(|e| e.contains("needs a schema registry")),
        "{errs:?}"
    );
}

/// A poll source in Connect's REST form with `extra` keys.
fn connect_source(extra: serde_json::Value) -> Result<SourceConfig, ConfigError> {
    let mut c = serde_json::json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSourceConnector",
        "connection.url": "jdbc:mysql://127.0.0.1:3306/mydb",
        "connection.user": "root",
        "topic.prefix": "orders_feed",
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    let map = c.as_object().cloned().unwrap_or_default();
    match connect_json::from_connect("src", &map, &connect_json::AllowedFileDirs::default())? {
        connect_json::ConnectorConfig::Source(s) => Ok(s),
        connect_json::ConnectorConfig::Sink(_) => panic!("not a source"),
    }
}

#[test]
fn connect_query_mode_keys_map_to_a_query_source() {
    let s = connect_source(serde_json::json!({
        "mode": "timestamp+incrementing",
        "query": "SELECT o.id, o.ts FROM o JOIN c ON c.id = o.cid",
        "query.suffix": "LIMIT 500",
        "incrementing.column.name": "id",
        "timestamp.column.name": "ts",
        "timestamp.initial": "-1",
        "timestamp.delay.interval.ms": "2000",
        "validate.non.null": "false",
        "db.timezone": "Europe/Paris",
    }))
    .expect("valid");
    assert_eq!(
        s.query.as_deref(),
        Some("SELECT o.id, o.ts FROM o JOIN c ON c.id = o.cid")
    );
    assert_eq!(s.query_suffix.as_deref(), Some("LIMIT 500"));
    assert_eq!(s.timestamp_initial, Some(-1));
    assert_eq!(s.timestamp_delay_interval_ms, 2000);
    assert!(!s.validate_non_null);
    assert_eq!(
        s.zone().map(|z| z.to_string()).ok().as_deref(),
        Some("Europe/Paris")
    );
    assert_eq!(
        s.topic_for("mydb", "query"),
        "orders_feed",
        "topic = prefix alone"
    );
}

#[test]
fn query_with_tables_or_without_prefix_is_refused() {
    let err = connect_source(serde_json::json!({
        "mode": "bulk", "query": "SELECT 1", "table.whitelist": "users",
    }))
    .expect_err("query + table.whitelist");
    assert!(err.to_string().contains("query"), "{err}");
    let err = connect_source(serde_json::json!({
        "mode": "bulk", "query": "SELECT 1", "topic.prefix": "",
    }))
    .expect_err("query without topic.prefix");
    assert!(err.to_string().contains("topic_prefix"), "{err}");
    let err = connect_source(serde_json::json!({"mode": "bulk", "timestamp.initial": "-2"}))
        .expect_err("timestamp.initial < -1");
    assert!(err.to_string().contains("timestamp_initial"), "{err}");
}

#[test]
fn poll_keys_have_connect_defaults_in_toml() {
    let c = Config::from_toml_str(SEED).expect("load");
    assert!(
        c.source[0].validate_non_null,
        "validate.non.null defaults to true"
    );
    assert_eq!(c.source[0].timestamp_initial, None);
    assert_eq!(c.source[0].zone().ok(), Some(DbZone::Utc));
    let text = SEED.replace(
        "poll_interval_ms = 1000",
        "poll_interval_ms = 1000\nvalidate_non_null = false\ntimestamp_initial = 1700000000000\ndb_timezone = 'America/New_York'",
    );
    let c = Config::from_toml_str(&text).expect("load");
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    assert!(!c.source[0].validate_non_null);
    assert_eq!(c.source[0].timestamp_initial, Some(1_700_000_000_000));
}

#[test]
fn unknown_source_zone_is_refused_by_name() {
    let err = connect_source(serde_json::json!({"mode": "bulk", "db.timezone": "Mars/Olympus"}))
        .expect_err("unknown zone");
    let text = err.to_string();
    assert!(
        text.contains("db_timezone") && text.contains("Mars/Olympus"),
        "{text}"
    );
}

#[test]
fn snapshot_locking_takes_debeziums_name_and_is_binlog_only() {
    let binlog = "[[source]]\nname='s'\nkind='binlog'\nurl='mysql://h/d'\n";
    let c = Config::from_toml_str(binlog).expect("load");
    assert_eq!(
        c.source[0].snapshot_locking,
        SnapshotLocking::None,
        "lock-free by default"
    );
    let c = Config::from_toml_str(&format!(
        "{binlog}\"snapshot.locking.mode\" = \"minimal\"\n"
    ))
    .expect("load");
    assert_eq!(c.source[0].snapshot_locking, SnapshotLocking::Minimal);
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    let err = Config::from_toml_str(&format!("{binlog}snapshot_locking = \"extended\"\n"))
        .map(|_| ())
        .expect_err("unknown mode");
    assert!(err.to_string().contains("extended"), "{err}");
    let poll = "[[source]]\nname='p'\nkind='poll'\nurl='mysql://h/d'\nmode='bulk'\nsnapshot_locking='minimal'\n";
    let errs: Vec<String> = Config::from_toml_str(poll)
        .expect("load")
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        errs.iter().any(|e| e.contains("snapshot_locking")),
        "{errs:?}"
    );
    let c = Config::from_toml_str(&format!(
        "{binlog}\"signal.data.collection\" = \"shop.signal\"\n"
    ))
    .expect("load");
    assert_eq!(
        c.source[0].signal_data_collection.as_deref(),
        Some("shop.signal")
    );
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    let c = Config::from_toml_str(&format!("{binlog}signal_data_collection = \"signal\"\n"))
        .expect("load");
    let errs: Vec<String> = c.validate().iter().map(ToString::to_string).collect();
    assert!(
        errs.iter().any(|e| e.contains("database.table")),
        "{errs:?}"
    );
}

#[test]
fn kafka_signal_channel_keys_load_and_validate() {
    let binlog = "[[source]]\nname='s'\nkind='binlog'\nurl='mysql://h/d'\nserver_name='srv'\n";
    let c = Config::from_toml_str(binlog).expect("load");
    assert!(c.source[0].signal_channel("source") && !c.source[0].signal_channel("kafka"));
    assert_eq!(
        c.source[0].signal_topic(),
        "srv-signal",
        "Debezium's default"
    );
    let c = Config::from_toml_str(&format!(
        "{binlog}\"signal.enabled.channels\" = \"source,kafka\"\n\"signal.kafka.topic\" = \"sig\"\n\
         \"signal.kafka.bootstrap.servers\" = \"k:9092\"\n\"signal.kafka.groupId\" = \"g\"\n"
    ))
    .expect("load");
    let s = &c.source[0];
    assert!(s.signal_channel("kafka") && s.signal_channel("source"));
    assert_eq!(s.signal_topic(), "sig");
    assert_eq!(s.signal_kafka_bootstrap_servers.as_deref(), Some("k:9092"));
    assert_eq!(s.signal_kafka_group_id.as_deref(), Some("g"));
    assert!(c.validate().is_empty(), "{:?}", c.validate());
    let c = Config::from_toml_str(&format!("{binlog}signal_enabled_channels = [\"kafka\"]\n"))
        .expect("load");
    assert!(!c.source[0].signal_channel("source"), "source channel off");
    let errs = |extra: &str| -> Vec<String> {
        Config::from_toml_str(&format!("{binlog}{extra}"))
            .expect("load")
            .validate()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    let e = errs("signal_enabled_channels = \"source,jmx\"\n");
    assert!(e.iter().any(|e| e.contains("jmx")), "{e:?}");
    let e = errs("signal_kafka_topic = \"sig\"\n");
    assert!(
        e.iter()
            .any(|e| e.contains("signal_kafka_topic") && e.contains("kafka signal channel")),
        "{e:?}"
    );
    let e = errs("signal_enabled_channels = \"kafka\"\nsignal_kafka_group_id = \" \"\n");
    assert!(e.iter().any(|e| e.contains("must not be empty")), "{e:?}");
    let poll = "[[source]]\nname='p'\nkind='poll'\nurl='mysql://h/d'\nmode='bulk'\nsignal_enabled_channels='kafka'\n";
    let e: Vec<String> = Config::from_toml_str(poll)
        .expect("load")
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(e.iter().any(|e| e.contains("signal_")), "{e:?}");
}
