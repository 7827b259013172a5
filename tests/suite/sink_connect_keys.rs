//! Confluent JDBC sink keys Sluice honours: `pk.mode = record_value` without
//! `pk.fields`, `quote.sql.identifiers = never`, `errors.log.*`, the retry
//! bounds (`max.retries`, `retry.backoff.ms`, `errors.retry.timeout`) and the
//! dead-letter topic's context headers and replication factor.

use std::time::Duration;

use crate::suite::sink_targets::sink_config;
use crate::support::*;

fn struct_message(fields: &[(&str, &str)], payload: &str) -> String {
    let fields: Vec<String> = fields
        .iter()
        .map(|(name, ty)| format!(r#"{{"type":"{ty}","optional":false,"field":"{name}"}}"#))
        .collect();
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{}],"optional":false,"name":"r"}},"payload":{payload}}}"#,
        fields.join(",")
    )
}

fn id_name(id: i64, name: &str) -> String {
    struct_message(
        &[("id", "int64"), ("name", "string")],
        &format!(r#"{{"id":{id},"name":"{name}"}}"#),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_value_without_pk_fields_keys_on_every_value_field() {
    let pg = Postgres::create("pkall").await;
    let tag = unique("pkall");
    let topic = format!("pkall_{tag}");
    kcat_produce(
        &topic,
        &[
            (None, &id_name(1, "a")),
            (None, &id_name(1, "a")),
            (None, &id_name(1, "b")),
        ],
    );
    let extra = "insert_mode = \"upsert\"\npk_mode = \"record_value\"";
    let mut d = Daemon::start(&sink_config(&tag, &pg.url(), &topic, extra));
    wait_for("rows in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    let pk = pg
        .rows(&format!(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid \
             AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '\"{topic}\"'::regclass \
             AND i.indisprimary ORDER BY a.attname"
        ))
        .await;
    assert_eq!(pk, [["id"], ["name"]], "every value field is in the key");
    let rows = pg
        .rows(&format!("SELECT id, name FROM \"{topic}\" ORDER BY name"))
        .await;
    assert_eq!(
        rows,
        [["1", "a"], ["1", "b"]],
        "the repeated record is one row"
    );
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quote_never_folds_names_as_the_server_and_refuses_others() {
    let pg = Postgres::create("unq").await;
    let my = MySqlServer::new(MySqlFlavor::MariaDb, "unq").await;
    let tag = unique("unq");
    let topic = format!("Orders_{tag}");
    let dlq = format!("unq_dlq_{tag}");
    let good = |id: i64| {
        struct_message(
            &[("OrderId", "int64"), ("Item", "string")],
            &format!(r#"{{"OrderId":{id},"Item":"x{id}"}}"#),
        )
    };
    let bad = struct_message(&[("bad-name", "int64")], r#"{"bad-name":3}"#);
    kcat_produce(&topic, &[(None, &good(1)), (None, &bad), (None, &good(2))]);
    let extra = |dlq: &str| {
        format!(
            "quote_sql_identifiers = \"never\"\nerrors_tolerance = \"all\"\ndlq_topic = \"{dlq}\""
        )
    };
    let pg_sink = sink_config(&format!("{tag}_pg"), &pg.url(), &topic, &extra(&dlq));
    let my_sink = sink_config(
        &format!("{tag}_my"),
        &my.url(),
        &topic,
        &extra(&format!("unq_dlq2_{tag}")),
    );
    let mut d1 = Daemon::start(&pg_sink);
    let mut d2 = Daemon::start(&my_sink);
    let folded = topic.to_lowercase();
    wait_for("rows in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count(&folded).await == Some(2)).then_some(())
    })
    .await;
    let rows = pg
        .rows(&format!(
            "SELECT orderid, item FROM {folded} ORDER BY orderid"
        ))
        .await;
    assert_eq!(
        rows,
        [["1", "x1"], ["2", "x2"]],
        "names folded to lower case"
    );
    assert_eq!(
        pg.count(&topic).await,
        None,
        "no table named with upper case"
    );
    let lines = wait_for("the refused record", Duration::from_secs(60), || async {
        let lines = kcat_lines(&dlq, "%h\n");
        (lines.len() == 1).then_some(lines)
    })
    .await;
    assert!(
        lines[0].contains("\"bad-name\" cannot be written unquoted"),
        "{lines:?}"
    );
    // MariaDB keeps unquoted names as written.
    wait_for("rows in MariaDB", Duration::from_secs(60), || async {
        (my.count(&topic).await == Some(2)).then_some(())
    })
    .await;
    let rows = my
        .rows(&format!(
            "SELECT OrderId, Item FROM {topic} ORDER BY OrderId"
        ))
        .await;
    assert_eq!(rows, [["1", "x1"], ["2", "x2"]]);
    assert_eq!(d1.stop(), 0);
    assert_eq!(d2.stop(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_log_names_failed_records_and_their_content_only_when_asked() {
    let my = MySqlServer::new(MySqlFlavor::MariaDb, "elog").await;
    let tag = unique("elog");
    let topic = format!("elog_{tag}");
    kcat_produce(
        &topic,
        &[
            (None, &id_name(1, "a")),
            (Some("k-secretish"), "not json: marker-7731"),
            (None, &id_name(2, "b")),
        ],
    );
    let run = |include: bool| {
        let tag = format!("{tag}_{include}");
        let url = my.url();
        let topic = topic.clone();
        async move {
            let extra = format!(
                "table_name_format = \"t_{include}\"\nerrors_tolerance = \"all\"\n\
                 errors_log_enable = true\nerrors_log_include_messages = {include}"
            );
            let d = Daemon::start(&sink_config(&tag, &url, &topic, &extra));
            let log = wait_for(
                "the failed record's log line",
                Duration::from_secs(60),
                || {
                    let text = d.log_text();
                    async move { text.contains("record failed").then_some(text) }
                },
            )
            .await;
            (d, log)
        }
    };
    let (mut d, log) = run(true).await;
    assert!(
        log.contains(&format!("topic={topic}")) || log.contains(&topic),
        "{log}"
    );
    assert!(log.contains("offset=1"), "{log}");
    assert!(
        log.contains("marker-7731") && log.contains("k-secretish"),
        "{log}"
    );
    assert_eq!(d.stop(), 0);
    let (mut d, log) = run(false).await;
    assert!(log.contains("offset=1"), "{log}");
    assert!(
        !log.contains("marker-7731"),
        "no value without include_messages: {log}"
    );
    assert_eq!(d.stop(), 0);
    assert_eq!(my.count("t_true").await, Some(2));
}

/// A target nobody listens on: every run fails with a transient error.
fn unreachable_sink(tag: &str, extra: &str) -> String {
    sink_config(
        tag,
        &format!("mysql://root@127.0.0.1:{}/db", free_port()),
        &format!("never_{tag}"),
        extra,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_retries_and_retry_timeout_bound_transient_failures() {
    let tag = unique("retry");
    let d = Daemon::start(&unreachable_sink(
        &tag,
        "max_retries = 2\nretry_backoff_ms = 100",
    ));
    let log = wait_for("the pipeline to give up", Duration::from_secs(60), || {
        let text = d.log_text();
        async move {
            text.contains("gave up after max_retries = 2")
                .then_some(text)
        }
    })
    .await;
    let restarts = log.matches("pipeline failed; restarting").count();
    assert_eq!(restarts, 2, "two retries, then failed: {log}");
    drop(d);
    let tag = unique("retry0");
    let d = Daemon::start(&unreachable_sink(&tag, "errors_retry_timeout = 0"));
    let log = wait_for("no retry at all", Duration::from_secs(60), || {
        let text = d.log_text();
        async move { text.contains("errors_retry_timeout = 0 ms").then_some(text) }
    })
    .await;
    assert_eq!(
        log.matches("pipeline failed; restarting").count(),
        0,
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letter_context_headers_and_replication_factor() {
    let my = MySqlServer::new(MySqlFlavor::MariaDb, "dlqh").await;
    let tag = unique("dlqh");
    let topic = format!("dlqh_{tag}");
    kcat_produce(&topic, &[(None, "not json"), (None, &id_name(1, "a"))]);
    let dlq = |on: bool| format!("dlqh_{tag}_{on}");
    let extra = |on: bool| {
        format!(
            "table_name_format = \"t_{on}\"\nerrors_tolerance = \"all\"\ndlq_topic = \"{}\"\n\
             dlq_context_headers = {on}\ndlq_replication_factor = 1",
            dlq(on)
        )
    };
    let mut d1 = Daemon::start(&sink_config(
        &format!("{tag}_on"),
        &my.url(),
        &topic,
        &extra(true),
    ));
    let mut d2 = Daemon::start(&sink_config(
        &format!("{tag}_off"),
        &my.url(),
        &topic,
        &extra(false),
    ));
    let on = wait_for(
        "a dead letter with headers",
        Duration::from_secs(60),
        || async {
            let lines = kcat_lines(&dlq(true), "%s|%h\n");
            (lines.len() == 1).then_some(lines)
        },
    )
    .await;
    assert!(
        on[0].contains(&format!("__connect.errors.connector.name={tag}_on")),
        "{on:?}"
    );
    assert!(
        on[0].contains("__connect.errors.stage=VALUE_CONVERTER"),
        "{on:?}"
    );
    assert!(on[0].contains("__connect.errors.offset=0"), "{on:?}");
    let off = wait_for("a dead letter without", Duration::from_secs(60), || async {
        let lines = kcat_lines(&dlq(false), "%s|%h\n");
        (lines.len() == 1).then_some(lines)
    })
    .await;
    assert!(off[0].starts_with("not json|"), "{off:?}");
    assert!(!off[0].contains("__connect.errors"), "{off:?}");
    assert_eq!(d1.stop(), 0);
    assert_eq!(d2.stop(), 0);
    // One broker cannot hold three replicas: the sink stops naming the key.
    let tag3 = unique("dlq3");
    let extra = format!(
        "errors_tolerance = \"all\"\ndlq_topic = \"dlq3_{tag3}\"\n\
         \"errors.deadletterqueue.topic.replication.factor\" = \"3\""
    );
    let d = Daemon::start(&sink_config(&tag3, &my.url(), &topic, &extra));
    let log = wait_for("the refused factor", Duration::from_secs(60), || {
        let text = d.log_text();
        async move {
            text.contains("errors.deadletterqueue.topic.replication.factor")
                .then_some(text)
        }
    })
    .await;
    assert!(
        log.contains("errors.deadletterqueue.topic.replication.factor"),
        "{log}"
    );
    assert!(
        !log.contains("pipeline failed; restarting"),
        "definite, not retried: {log}"
    );
}

/// A sink of schemaless JSON (`*.converter.schemas.enable = false`) into an
/// existing table.
fn schemaless_config(tag: &str, url: &str, topic: &str, table: &str, extra: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[sink]]
name = "{tag}"
url = "{url}"
topics = ["{topic}"]
table_name_format = "{table}"
max_wait_ms = 50
"value.converter.schemas.enable" = "false"
errors_tolerance = "all"
dlq_topic = "{topic}_dlq"
{extra}
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemaless_json_is_typed_by_an_existing_postgres_table() {
    let pg = Postgres::create("nosch").await;
    pg.client
        .batch_execute(
            "CREATE TABLE plain (id BIGINT PRIMARY KEY, name TEXT, amount NUMERIC(10,2), \
             at TIMESTAMP(3), ok BOOLEAN)",
        )
        .await
        .expect("create");
    let tag = unique("nosch");
    let topic = format!("nosch_{tag}");
    kcat_produce(
        &topic,
        &[
            (
                Some("1"),
                r#"{"name":"a","amount":12.5,"at":1660592867000,"ok":true}"#,
            ),
            (Some("2"), r#"{"name":null}"#),
            (Some("3"), r#"{"name":"c","nope":1}"#),
            (Some("1"), r#"{"name":"a2","amount":7.25}"#),
        ],
    );
    let extra = "key_converter_schemas_enable = false\npk_mode = \"record_key\"\n\
                 pk_fields = [\"id\"]\ninsert_mode = \"upsert\"";
    let mut d = Daemon::start(&schemaless_config(&tag, &pg.url(), &topic, "plain", extra));
    let dead = wait_for(
        "the record with an unknown field",
        Duration::from_secs(60),
        || async {
            let lines = kcat_lines(&format!("{topic}_dlq"), "%h\n");
            (lines.len() == 1).then_some(lines)
        },
    )
    .await;
    assert!(
        dead[0].contains("field `nope` has no column in table plain"),
        "{dead:?}"
    );
    wait_for("rows in PostgreSQL", Duration::from_secs(60), || async {
        let rows = pg.rows("SELECT name FROM plain WHERE id = 1").await;
        (rows == [["a2"]]).then_some(())
    })
    .await;
    let rows = pg
        .rows("SELECT id, name, amount, extract(epoch from at)::bigint, ok FROM plain ORDER BY id")
        .await;
    assert_eq!(
        rows,
        [
            ["1", "a2", "7.25", "1660592867", "t"],
            ["2", "NULL", "NULL", "NULL", "NULL"]
        ],
        "upserted by the schemaless key; fields typed by their columns"
    );
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemaless_json_is_typed_by_an_existing_mariadb_table() {
    let my = MySqlServer::new(MySqlFlavor::MariaDb, "nosch").await;
    my.exec(
        "CREATE TABLE plain (id BIGINT NOT NULL, name VARCHAR(40), amount DECIMAL(10,2), \
         at DATETIME(3), day DATE)",
    )
    .await;
    let tag = unique("noschm");
    let topic = format!("noschm_{tag}");
    kcat_produce(
        &topic,
        &[
            (
                None,
                r#"{"id":1,"name":"é","amount":-3.5,"at":86400000,"day":2}"#,
            ),
            (None, r#"{"id":"two"}"#),
            (None, r#"{"id":3}"#),
        ],
    );
    let mut d = Daemon::start(&schemaless_config(&tag, &my.url(), &topic, "plain", ""));
    wait_for("rows in MariaDB", Duration::from_secs(60), || async {
        (my.count("plain").await == Some(2)).then_some(())
    })
    .await;
    let rows = my
        .rows("SELECT id, name, amount, at, day FROM plain ORDER BY id")
        .await;
    assert_eq!(
        rows,
        [
            ["1", "é", "-3.50", "1970-01-02 00:00:00.000", "1970-01-03"],
            ["3", "NULL", "NULL", "NULL", "NULL"]
        ]
    );
    let dead = kcat_lines(&format!("{topic}_dlq"), "%h\n");
    assert_eq!(dead.len(), 1, "the id that is no number: {dead:?}");
    assert_eq!(d.stop(), 0);
    // auto_create cannot apply without a schema: refused at validation.
    let cfg = write_config(&schemaless_config(
        &tag,
        &my.url(),
        &topic,
        "plain",
        "auto_create = true",
    ));
    let (code, out) = sluice(&["check", "--config", cfg.to_str().unwrap_or_default()]);
    assert_ne!(code, 0);
    assert!(
        out.contains("auto_create") && out.contains("schemaless"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_max_two_shares_four_partitions_and_applies_every_record_once() {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let pg = Postgres::create("tasks").await;
    let tag = unique("tasks");
    let topic = format!("tasks_{tag}");
    let admin: AdminClient<DefaultClientContext> = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let created = admin
        .create_topics(
            &[NewTopic::new(&topic, 4, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create topic");
    created.into_iter().for_each(|r| {
        r.expect("topic created");
    });
    const N: i64 = 400;
    let keys: Vec<String> = (0..N).map(|i| format!("k{i}")).collect();
    let values: Vec<String> = (0..N).map(|i| id_name(i, "x")).collect();
    let first: Vec<(Option<&str>, &str)> = (0..N as usize / 2)
        .map(|i| (Some(keys[i].as_str()), values[i].as_str()))
        .collect();
    kcat_produce(&topic, &first);
    let port = free_port();
    // Plain inserts keyed by id: a record applied twice would fail the pipeline.
    let config = sink_config(
        &tag,
        &pg.url(),
        &topic,
        "tasks_max = 2\npk_mode = \"record_value\"\npk_fields = [\"id\"]\nbatch_size = 20",
    )
    .replace("listen = \"\"", &format!("listen = \"127.0.0.1:{port}\""));
    let mut d = Daemon::start(&config);
    wait_for("both tasks own partitions", Duration::from_secs(60), || {
        let log = d.log_text();
        async move { (log.matches("partitions=2").count() >= 2).then_some(()) }
    })
    .await;
    let rest: Vec<(Option<&str>, &str)> = (N as usize / 2..N as usize)
        .map(|i| (Some(keys[i].as_str()), values[i].as_str()))
        .collect();
    kcat_produce(&topic, &rest);
    wait_for(
        "every record in PostgreSQL",
        Duration::from_secs(90),
        || async { (pg.count(&topic).await == Some(N)).then_some(()) },
    )
    .await;
    let distinct = pg
        .rows(&format!(
            "SELECT count(DISTINCT id), min(id), max(id) FROM \"{topic}\""
        ))
        .await;
    assert_eq!(distinct, [["400", "0", "399"]]);
    let status = crate::suite::seed::http_get(port, &format!("/connectors/{tag}/status")).await;
    let v: serde_json::Value = serde_json::from_str(&status).expect("status JSON");
    let ids: Vec<i64> = (v["tasks"].as_array().cloned().unwrap_or_default().iter())
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(ids, [0, 1], "{v}");
    assert_eq!(v["tasks"][1]["state"], "RUNNING", "{v}");
    let log = d.log_text();
    assert!(!log.contains("pipeline failed"), "{log}");
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemaless_fields_find_folded_columns_with_quote_never() {
    let pg = Postgres::create("noschq").await;
    pg.client
        .batch_execute("CREATE TABLE mixed (orderid BIGINT, item TEXT)")
        .await
        .expect("create");
    let tag = unique("noschq");
    let topic = format!("noschq_{tag}");
    kcat_produce(&topic, &[(None, r#"{"OrderId":1,"Item":"a"}"#)]);
    let extra = "quote_sql_identifiers = \"never\"";
    let mut d = Daemon::start(&schemaless_config(&tag, &pg.url(), &topic, "Mixed", extra));
    wait_for("the row in PostgreSQL", Duration::from_secs(60), || async {
        (pg.count("mixed").await == Some(1)).then_some(())
    })
    .await;
    assert_eq!(
        pg.rows("SELECT orderid, item FROM mixed").await,
        [["1", "a"]]
    );
    assert_eq!(d.stop(), 0);
}
