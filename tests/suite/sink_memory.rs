//! Memory is bounded in bytes, not only in records: 3,000 records of 1 MB
//! each go through a PostgreSQL sink with its default `batch_size` (3,000,
//! which would hold the whole topic in one batch) while the daemon's peak
//! RSS (`VmHWM`) stays under [`PEAK_RSS_BOUND_MB`], the bound the README
//! states: the sink's `max_batch_bytes` (16 MiB by default) ends each batch
//! and librdkafka's prefetch is bounded in bytes.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use crate::support::*;

/// Records, and the bytes of each record's string field.
const RECORDS: usize = 3_000;
const FIELD_BYTES: usize = 1 << 20;
/// The peak RSS the daemon stays under (README, "Memory").
const PEAK_RSS_BOUND_MB: u64 = 256;
/// Past this the daemon is stopped at once (the test fails, the machine is spared).
const RSS_GUARD_MB: u64 = 6144;

/// Creates `topic` (one partition) taking messages of up to 2 MB.
async fn create_topic(topic: &str) {
    create_topic_max_bytes(topic, 2_000_000).await;
}

async fn delete_topic(topic: &str) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let _ = admin.delete_topics(&[topic], &AdminOptions::new()).await;
}

/// Letters that do not compress, twice `FIELD_BYTES` (the broker and the
/// fetch limits see the bytes the sink decodes).
fn letters() -> Vec<u8> {
    let mut seed = 42u64;
    (0..2 * FIELD_BYTES)
        .map(|_| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            b'a' + ((seed >> 33) % 26) as u8
        })
        .collect()
}

/// A Connect JSON record `{id, body}` whose body is `FIELD_BYTES` letters
/// from `pool`, starting at a place that depends on `id`.
fn record(id: usize, pool: &[u8]) -> String {
    let at = (id * 7_919) % FIELD_BYTES;
    let body = std::str::from_utf8(&pool[at..at + FIELD_BYTES]).expect("letters");
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int64","optional":false,"field":"id"}},{{"type":"string","optional":true,"field":"body"}}],"optional":false,"name":"big"}},"payload":{{"id":{id},"body":"{body}"}}}}"#
    )
}

async fn produce(topic: &str) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .set("message.max.bytes", "2000000")
        .set("compression.type", "none")
        .create()
        .expect("producer");
    let pool = letters();
    for chunk in 0..RECORDS / 100 {
        let mut sends = Vec::with_capacity(100);
        for i in chunk * 100..(chunk + 1) * 100 {
            let value = record(i, &pool);
            let p = producer.clone();
            let topic = topic.to_string();
            sends.push(tokio::spawn(async move {
                p.send(
                    FutureRecord::<(), _>::to(&topic).payload(&value),
                    Duration::from_secs(30),
                )
                .await
                .map(|_| ())
                .map_err(|(e, _)| e)
            }));
        }
        for s in sends {
            s.await.expect("join").expect("delivered");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_thousand_one_megabyte_records_stay_under_the_rss_bound() {
    let topic = unique("big_records");
    create_topic(&topic).await;
    produce(&topic).await;
    let pg = Postgres::create("big_records").await;
    let name = unique("big");
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[sink]]
name = "{name}"
url = "{url}"
topics = ["{topic}"]
auto_create = true
table_name_format = "big"
{extra}
"#,
        url = pg.url(),
        // To measure without the byte bound (the code before it): a huge one
        // (not a `SLUICE_` variable: the daemon would read that as config).
        extra = std::env::var("SINK_MEMORY_MAX_BATCH_BYTES")
            .map(|n| format!("max_batch_bytes = {n}"))
            .unwrap_or_default(),
    );
    let mut d = Daemon::start(&config);
    let applied = wait_for(
        "3,000 records applied",
        Duration::from_secs(900),
        || async {
            if d.status_kb("VmRSS").unwrap_or(0) > RSS_GUARD_MB * 1024 {
                return Some(None);
            }
            match pg.count("big").await {
                Some(n) if n as usize >= RECORDS => Some(Some(n)),
                _ => None,
            }
        },
    )
    .await;
    let peak_mb = d.status_kb("VmHWM").unwrap_or(u64::MAX) / 1024;
    println!("sluice peak RSS (VmHWM) with {RECORDS} records of 1 MB: {peak_mb} MiB (bound {PEAK_RSS_BOUND_MB} MiB)");
    assert_eq!(d.stop(), 0, "{}", d.log_text());
    let lengths = pg
        .rows("SELECT COUNT(*), MIN(length(body)), MAX(length(body)), COUNT(DISTINCT id) FROM big")
        .await;
    delete_topic(&topic).await;
    // Give the 3 GB back at once (the database stays, as other tests' do).
    let _ = pg.try_rows("DROP TABLE big").await;
    assert_eq!(
        applied,
        Some(RECORDS as i64),
        "stopped: RSS over {RSS_GUARD_MB} MB"
    );
    let n = RECORDS.to_string();
    let len = FIELD_BYTES.to_string();
    assert_eq!(
        lengths,
        [[n.as_str(), len.as_str(), len.as_str(), n.as_str()]]
    );
    assert!(
        peak_mb < PEAK_RSS_BOUND_MB,
        "peak RSS {peak_mb} MiB is over the {PEAK_RSS_BOUND_MB} MiB bound"
    );
}
