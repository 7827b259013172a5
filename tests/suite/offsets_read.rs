//! Reading stored source positions on a busy offsets topic.

use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use crate::suite::binlog::master_status;
use crate::support::*;

/// A daemon with one binlog source `name` on `url`, its positions in `offsets_topic`.
fn source_config(name: &str, offsets_topic: &str, url: &str) -> String {
    format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
offsets_topic = "{offsets_topic}"
[http]
listen = "127.0.0.1:{port}"
[[source]]
name = "{name}"
kind = "binlog"
url = "{url}"
"#,
        port = free_port(),
    )
}

/// Another source's transaction on the shared offsets topic is still open
/// when this source starts, and this source's stored position was written
/// after that transaction began. A `read_committed` reader reaches the end of
/// the partition at the open transaction, before the stored position: the
/// source must wait until the transaction is decided and resume from its
/// position, not take itself for new and snapshot the table.
#[tokio::test(flavor = "multi_thread")]
async fn a_position_behind_another_sources_open_transaction_is_still_read() {
    let db = MariaDb::create("offbusy").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)")
        .await;
    let (file, pos) = master_status(&db).await;
    db.exec("INSERT INTO t VALUES (2), (3)").await;

    let name = unique("offbusy");
    let offsets_topic = format!("{name}_offsets");
    let other: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("transactional.id", format!("{name}-other"))
        .create()
        .expect("producer");
    other
        .init_transactions(Duration::from_secs(30))
        .expect("init_transactions");
    other.begin_transaction().expect("begin_transaction");
    other
        .send(
            BaseRecord::to(&offsets_topic)
                .key(r#"["other",{"server":"other"}]"#)
                .payload(r#"{"file":"x","pos":4}"#),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    other.flush(Duration::from_secs(10)).expect("flush");

    // Written after the open transaction's record: beyond the stable offset.
    let offset = serde_json::json!({"file": file, "pos": pos, "gtids": "", "row": 0, "snapshot_completed": true});
    kcat_produce(
        &offsets_topic,
        &[(
            Some(&format!(r#"["{name}",{{"server":"{name}"}}]"#)),
            &offset.to_string(),
        )],
    );
    let daemon = Daemon::start(&source_config(&name, &offsets_topic, &db.url()));
    // The other source commits a while later.
    tokio::time::sleep(Duration::from_secs(3)).await;
    other
        .commit_transaction(Duration::from_secs(30))
        .expect("commit_transaction");

    let topic = format!("{name}.{}.t", db.name);
    let rows = wait_for("rows 2 and 3", Duration::from_secs(60), || async {
        let m = kcat_read(&topic);
        (m.len() >= 2).then_some(m)
    })
    .await;
    let ids: Vec<i64> = rows
        .iter()
        .filter_map(|(_, v)| v.as_ref()?["payload"]["id"].as_i64())
        .collect();
    assert_eq!(
        ids,
        vec![2, 3],
        "resumed at the stored position (a snapshot would also give row 1)"
    );
    let log = daemon.log_text();
    assert!(
        !log.contains("stored=None"),
        "the stored position was missed:\n{log}"
    );
}

/// The offsets topic a source creates is compacted and rolls a segment an
/// hour, so compaction keeps what each start reads to about an hour of
/// records (Kafka compacts only closed segments; its default roll is 7 days).
#[tokio::test(flavor = "multi_thread")]
async fn the_offsets_topic_is_created_compacted_with_hourly_segments() {
    use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
    use rdkafka::client::DefaultClientContext;

    let db = MariaDb::create("offcfg").await;
    db.exec("CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)")
        .await;
    let name = unique("offcfg");
    let offsets_topic = format!("{name}_offsets");
    let _daemon = Daemon::start(&source_config(&name, &offsets_topic, &db.url()));
    let topic = format!("{name}.{}.t", db.name);
    wait_for("the snapshot row", Duration::from_secs(60), || async {
        (!kcat_read(&topic).is_empty()).then_some(())
    })
    .await;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let described = admin
        .describe_configs(
            [&ResourceSpecifier::Topic(&offsets_topic)],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("describe_configs");
    let config = described
        .into_iter()
        .next()
        .expect("one resource")
        .expect("the offsets topic exists");
    let value = |key: &str| {
        config
            .get(key)
            .and_then(|e| e.value.clone())
            .unwrap_or_else(|| panic!("no {key} in {:?}", config.entry_map().keys()))
    };
    assert_eq!(value("cleanup.policy"), "compact");
    assert_eq!(value("segment.ms"), "3600000");
}
