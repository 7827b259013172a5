//! Building Kafka clients: every librdkafka client Sluice creates is
//! configured and created here, by one named constructor per role, so the
//! properties a client runs with can be read in one file.
//!
//! **Common settings** (`base`), in every client: `bootstrap.servers`,
//! `log_level = 4`, `reconnect.backoff.ms = 20`, then the user's
//! `[kafka.properties]` as is, then the security keys of `[kafka]`
//! (`security_protocol`, `sasl_*`, `ssl_*`; see `config::KafkaConfig`). Properties set after the common ones (e.g. a consumer's
//! `group.id`, `isolation.level`) are the role's own and win over
//! `[kafka.properties]`; *tuning defaults* (marked below) are set only when
//! `[kafka.properties]` does not name them.
//!
//! | constructor | client | role-specific properties |
//! |---|---|---|
//! | [`source_producer`] | `ThreadedProducer<C>` | idempotence, `murmur2_random`; tuning: lz4, `linger.ms` 5, batch/queue sizes, 64 MiB messages, `transaction.timeout.ms`; `transactional.id` when given |
//! | [`dead_letter_producer`] | `FutureProducer` | idempotence, 64 MiB messages |
//! | [`sink_consumer`] | `StreamConsumer<C>` | group member, manual commits and offset store, `read_committed`, earliest, bounded prefetch; tuning: 10 s session |
//! | [`offsets_reader`] | `BaseConsumer<C>` | `read_committed`, partition EOF, 10 ms fetch wait, group `sluice-offsets-reader` (never commits) |
//! | [`signal_consumer`] | `StreamConsumer` | Debezium's signal-topic reader: `group.id`, manual commits, `read_committed`, earliest, 100 ms fetch wait; assigned (never subscribed); then `signal.consumer.*` |
//! | [`watermark_probe`] | `BaseConsumer` | `read_uncommitted` (high watermarks, not the last stable offset) |
//! | [`group_client`] | `BaseConsumer` | `group.id`, no auto commit; never subscribes, so it does not join the group (lag, offset commits) |
//! | [`leader_elector`] | `BaseConsumer<C>` | standby group member: `client.id` = worker id, `cooperative-sticky`, the standby session timeout, heartbeats at a fifth of it, no commits |
//! | [`metadata_client`] | `BaseConsumer` | none: metadata, watermarks, group lists |
//! | [`admin`] | `AdminClient` | none: topic creation |
//!
//! Every constructor returns [`KafkaError::Client`] with the librdkafka error
//! attached when the client cannot be created (a bad property, mostly).

use std::time::Duration;

use rdkafka::admin::AdminClient;
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::config::{ClientConfig, FromClientConfig, FromClientConfigAndContext};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::producer::{FutureProducer, ProducerContext, ThreadedProducer};

use super::KafkaError;
use crate::config::KafkaConfig;

/// Largest message the producers write (and the broker must accept): 64 MiB.
const MAX_MESSAGE_BYTES: &str = "67108864";

/// Common config: bootstrap servers, logging, reconnect backoff, then
/// `[kafka.properties]`, then the security keys of `[kafka]` (which win).
fn base(kafka: &KafkaConfig) -> Result<ClientConfig, KafkaError> {
    let mut cfg = ClientConfig::new();
    cfg.set("bootstrap.servers", &kafka.bootstrap_servers);
    cfg.set("log_level", "4");
    // librdkafka connects to the bootstrap address, learns the broker ids
    // from its metadata and then drops that connection for one per broker,
    // which it may open only after this backoff: at the default 100 ms every
    // new client waited about 50 ms more before its first real request, and
    // a transactional producer's init_transactions often missed that moment
    // and waited for its 500 ms retry timer. Kafka's Java clients use 50 ms;
    // the backoff still doubles (up to reconnect.backoff.max.ms) while a
    // broker stays down.
    cfg.set("reconnect.backoff.ms", "20");
    for (k, v) in &kafka.properties {
        cfg.set(k, v.expose());
    }
    for (k, v) in kafka.security_properties()? {
        cfg.set(k, v.expose());
    }
    Ok(cfg)
}

/// Sets each `(key, value)` that `[kafka.properties]` does not name.
fn set_defaults(cfg: &mut ClientConfig, kafka: &KafkaConfig, defaults: &[(&str, &str)]) {
    for (key, value) in defaults {
        if !kafka.properties.contains_key(*key) {
            cfg.set(*key, *value);
        }
    }
}

fn create<T: FromClientConfig>(cfg: &ClientConfig, what: &'static str) -> Result<T, KafkaError> {
    cfg.create().map_err(|e| KafkaError::client(what, e))
}

fn create_with<C: ClientContext, T: FromClientConfigAndContext<C>>(
    cfg: &ClientConfig,
    context: C,
    what: &'static str,
) -> Result<T, KafkaError> {
    cfg.create_with_context(context)
        .map_err(|e| KafkaError::client(what, e))
}

/// The producer sources write through: idempotent, partitioned like Java
/// clients (`murmur2_random`), transactional when `transactional_id` is given
/// (transactions may stay open `transaction_timeout`, unless
/// `[kafka.properties]` sets `transaction.timeout.ms`). Creating it does not
/// run `init_transactions`.
pub fn source_producer<C: ProducerContext>(
    kafka: &KafkaConfig,
    transactional_id: Option<&str>,
    transaction_timeout: Duration,
    context: C,
) -> Result<ThreadedProducer<C>, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random");
    let timeout_ms = transaction_timeout.as_millis().to_string();
    // Tuning defaults; a `[kafka.properties]` entry of the same name wins.
    // lz4: Connect JSON repeats its schema in every message, so batches
    // shrink several times; the broker then copies and validates far less
    // (on a 2-core host it used about half the CPU per message and the
    // source ran 15-40% faster). Every Kafka client reads lz4.
    set_defaults(
        &mut cfg,
        kafka,
        &[
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
            ("batch.num.messages", "10000"),
            ("queue.buffering.max.messages", "200000"),
            ("message.max.bytes", MAX_MESSAGE_BYTES),
            ("transaction.timeout.ms", timeout_ms.as_str()),
        ],
    );
    if let Some(id) = transactional_id {
        cfg.set("transactional.id", id);
    }
    create_with(&cfg, context, "creating producer")
}

/// The producer of a sink's dead-letter topic: idempotent (acks=all), 64 MiB messages.
pub fn dead_letter_producer(kafka: &KafkaConfig) -> Result<FutureProducer, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("enable.idempotence", "true")
        .set("message.max.bytes", MAX_MESSAGE_BYTES);
    create(&cfg, "creating dead-letter producer")
}

/// A sink's consumer-group member (`group_id`): reads committed data only,
/// from the earliest offset when the group has none, and stores and commits
/// offsets only when the sink says so (after its database commit).
pub fn sink_consumer<C: ConsumerContext + 'static>(
    kafka: &KafkaConfig,
    group_id: &str,
    context: C,
) -> Result<StreamConsumer<C>, KafkaError> {
    let mut cfg = base(kafka)?;
    // Kafka Connect's worker defaults: a crashed member's partitions move
    // after 10 s, not librdkafka's 45 s (a restarted sink waits that long).
    set_defaults(
        &mut cfg,
        kafka,
        &[
            ("session.timeout.ms", "10000"),
            ("heartbeat.interval.ms", "3000"),
        ],
    );
    cfg.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("topic.metadata.refresh.interval.ms", "10000");
    // Bounded prefetch, in bytes (librdkafka's defaults queue up to 64 MiB
    // and 100k messages): a few batches ahead is enough, and with one batch
    // decoding while another is applied, this keeps peak RSS under 100 MB
    // for small records, and with the sink's `max_batch_bytes` under the
    // README's bound for 1-MB records. `queued.max.messages.kbytes` bounds
    // the one consumer queue (over all partitions); a fetch may overshoot it
    // by one `fetch.max.bytes` (a record bigger than the fetch limits is
    // still fetched, alone). The limits count fetched bytes, which for
    // compressed topics (Sluice's sources write lz4) are a tenth of the JSON
    // they hold, so one fetch is kept at 256 KiB per partition: librdkafka
    // keeps each fetched batch decompressed until all its records are
    // released, and at 2 MiB those buffers were the largest part of a
    // source-plus-sink daemon's heap (42 MB of Debezium-envelope JSON;
    // peak RSS 119-124 MiB; 93-99 MiB at 512 KiB, 85-91 MiB at 256 KiB, at
    // the same rate, measured with `scripts/bench.sh debezium`).
    // `fetch.max.bytes` stays at 1 MiB: librdkafka refuses a consumer whose
    // `fetch.max.bytes` is below `message.max.bytes`. Each can be raised in
    // `[kafka.properties]`, as a Connect worker's consumer overrides (a
    // broker far away wants bigger fetches: one per round trip per
    // partition).
    set_defaults(
        &mut cfg,
        kafka,
        &[
            ("fetch.max.bytes", "1048576"),
            ("max.partition.fetch.bytes", "262144"),
            ("queued.max.messages.kbytes", "1024"),
            ("queued.min.messages", "40000"),
            // A partition whose queue is full is fetched again this soon, not
            // after librdkafka's default 1 s (which stalls a sink that keeps
            // up). With 10,000 queued messages and 20 ms, a sink writing
            // 8,000-record batches waited for records about a quarter of
            // the time (measured, 1M-row benchmark).
            ("fetch.queue.backoff.ms", "5"),
        ],
    );
    create_with(&cfg, context, "creating consumer")
}

/// The reader of the source-offsets topic: `read_committed`, reports the end
/// of each partition, never commits (its group is only a name).
pub fn offsets_reader<C: ConsumerContext>(
    kafka: &KafkaConfig,
    context: C,
) -> Result<BaseConsumer<C>, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("group.id", "sluice-offsets-reader")
        // Reading to the end is latency-bound: do not let the broker hold an
        // empty fetch for librdkafka's default 500 ms.
        .set("fetch.wait.max.ms", "10")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed");
    create_with(&cfg, context, "creating offsets reader")
}

/// The reader of a binlog source's Kafka signal topic (Debezium's
/// `signal.kafka.*`): `group_id`'s offsets are committed by hand once a
/// signal's effect is stored, `read_committed`, earliest when the group has
/// none. It is assigned its partition, never subscribed. `overrides`
/// (Debezium's `signal.consumer.*`, see `config::signal`) are set last.
pub fn signal_consumer(
    kafka: &KafkaConfig,
    group_id: &str,
    overrides: &[(&str, String)],
) -> Result<StreamConsumer, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("isolation.level", "read_committed")
        .set("fetch.wait.max.ms", "100")
        // A signal topic created after the start is found within seconds.
        .set("topic.metadata.refresh.interval.ms", "5000");
    for (key, value) in overrides {
        cfg.set(*key, value);
    }
    create(&cfg, "creating signal-topic reader")
}

/// A `read_uncommitted` client for high watermarks: asked by a
/// `read_committed` client, Kafka answers with the last stable offset.
pub fn watermark_probe(kafka: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("isolation.level", "read_uncommitted");
    create(&cfg, "creating offsets reader")
}

/// A client of consumer group `group_id` that never subscribes (so it does
/// not join the group): reads and commits the group's offsets.
pub fn group_client(kafka: &KafkaConfig, group_id: &str) -> Result<BaseConsumer, KafkaError> {
    let mut cfg = base(kafka)?;
    cfg.set("group.id", group_id)
        .set("enable.auto.commit", "false");
    create(&cfg, "creating group client")
}

/// A standby source's group member (`crate::kafka::leader`): `client.id` is
/// the worker id (shown in the group's description), `cooperative-sticky`
/// so a joining member never takes partition 0 from a live leader, the
/// session timeout given and heartbeats at a fifth of it; never commits.
pub fn leader_elector<C: ConsumerContext>(
    kafka: &KafkaConfig,
    group_id: &str,
    worker_id: &str,
    session_timeout: Duration,
    context: C,
) -> Result<BaseConsumer<C>, KafkaError> {
    let mut cfg = base(kafka)?;
    let session_ms = session_timeout.as_millis();
    cfg.set("group.id", group_id)
        .set("client.id", worker_id)
        .set("session.timeout.ms", session_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (session_ms / 5).max(100).to_string(),
        )
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "latest");
    create_with(&cfg, context, "creating standby group member")
}

/// A client with the common settings only: metadata, watermarks, group lists.
pub fn metadata_client(kafka: &KafkaConfig) -> Result<BaseConsumer, KafkaError> {
    create(&base(kafka)?, "creating metadata client")
}

/// The cluster's id from the brokers' metadata (Connect's `kafka_cluster_id`).
/// Blocks up to `timeout`: call from a blocking thread.
pub fn cluster_id(kafka: &KafkaConfig, timeout: Duration) -> Result<String, KafkaError> {
    let consumer = metadata_client(kafka)?;
    consumer
        .client()
        .fetch_cluster_id(timeout)
        .ok_or(KafkaError::Timeout("reading the cluster id"))
}

/// Records the first authentication or TLS failure librdkafka reports.
#[derive(Clone, Default)]
struct Watch(std::sync::Arc<std::sync::Mutex<Option<(&'static str, String)>>>);

impl ClientContext for Watch {
    /// The probe's findings go into its result; its librdkafka log lines
    /// (one per failed attempt) would only repeat them.
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        tracing::debug!(?level, fac, message = log_message, "kafka probe client");
        // A connection's failure is logged (facility FAIL) as it happens; the
        // error event that says the same may come later than the metadata
        // request's own failure.
        if fac == "FAIL" {
            if log_message.contains("SASL authentication error") {
                self.record("SASL authentication", log_message);
            } else if log_message.contains("SSL handshake failed") {
                self.record("TLS handshake", log_message);
            }
        }
    }

    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        use rdkafka::types::RDKafkaErrorCode as Code;
        let what = match error.rdkafka_error_code() {
            Some(Code::Authentication | Code::SaslAuthenticationFailed) => "SASL authentication",
            Some(Code::SSL) => "TLS handshake",
            _ => {
                tracing::debug!(error = %error, reason, "kafka client error");
                return;
            }
        };
        self.record(what, reason);
    }
}

impl Watch {
    fn record(&self, what: &'static str, reason: &str) {
        let mut slot = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| (what, reason.to_string()));
    }

    fn found(&self) -> Option<(&'static str, String)> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

impl rdkafka::consumer::ConsumerContext for Watch {}

/// Asks the brokers for metadata: `Ok(brokers)`, [`KafkaError::Refused`]
/// when they refuse this client (authentication or TLS, which no retry
/// fixes), or the metadata error otherwise. Blocks up to `timeout`: call
/// from a blocking thread.
pub fn probe(kafka: &KafkaConfig, timeout: Duration) -> Result<usize, KafkaError> {
    let watch = Watch::default();
    let consumer: BaseConsumer<Watch> =
        create_with(&base(kafka)?, watch.clone(), "creating probe client")?;
    let result = consumer.fetch_metadata(None, timeout);
    let refused = |consumer: &BaseConsumer<Watch>| {
        // Error events and logs are delivered through the client's queue.
        for _ in 0..20 {
            if watch.found().is_some() {
                break;
            }
            let _ = consumer.poll(Duration::from_millis(25));
        }
        watch.found().map(|(what, reason)| KafkaError::Refused {
            bootstrap: kafka.bootstrap_servers.clone(),
            what,
            reason,
        })
    };
    match result {
        Ok(md) if md.brokers().is_empty() => {
            Err(refused(&consumer).unwrap_or(KafkaError::Timeout("reading metadata")))
        }
        Ok(md) => Ok(md.brokers().len()),
        Err(e) => {
            Err(refused(&consumer).unwrap_or_else(|| KafkaError::client("reading metadata", e)))
        }
    }
}

/// Resolves only when the brokers refuse this configuration (authentication
/// or TLS): run beside a pipeline so such a failure stops it at once with a
/// clear error instead of timeouts and retries. Pends forever otherwise.
pub async fn refusal(kafka: &KafkaConfig) -> KafkaError {
    let kafka = kafka.clone();
    let probe = tokio::task::spawn_blocking(move || probe(&kafka, Duration::from_secs(10)));
    match probe.await {
        Ok(Err(e @ KafkaError::Refused { .. })) => e,
        _ => std::future::pending().await,
    }
}

/// An admin client (topic creation).
pub fn admin(kafka: &KafkaConfig) -> Result<AdminClient<DefaultClientContext>, KafkaError> {
    create(&base(kafka)?, "creating admin client")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// This thread's CPU time so far (user + system), in clock ticks.
    fn thread_cpu_ticks() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("stat");
        // The fields after the parenthesised name; utime and stime are the
        // 14th and 15th of the whole line.
        let rest = stat.rsplit_once(')').expect("name").1;
        let f: Vec<&str> = rest.split_whitespace().collect();
        f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
    }

    /// rust-rdkafka's poll loops passed the time left truncated to whole
    /// milliseconds, so under 1 ms left was a non-blocking poll, repeated
    /// until the deadline: `ThreadedProducer`'s polling thread spun through
    /// the end of every 100 ms wait. `vendor/rdkafka` rounds up. 200 polls
    /// of 0.9 ms each spun for 180 ms of CPU; they now sleep.
    #[test]
    fn a_poll_with_under_a_millisecond_left_sleeps_instead_of_spinning() {
        let producer: rdkafka::producer::BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .expect("client");
        let before = thread_cpu_ticks();
        let started = std::time::Instant::now();
        for _ in 0..200 {
            producer.poll(Duration::from_micros(900));
        }
        let wall = started.elapsed();
        let ticks = thread_cpu_ticks() - before;
        assert!(wall >= Duration::from_millis(180), "polls waited: {wall:?}");
        // Clock ticks are 10 ms: a spin would be about 18 ticks.
        assert!(
            ticks <= 5,
            "{ticks} ticks of CPU over {wall:?} of polls: the poll loop spins"
        );
    }

    #[test]
    fn this_build_has_tls_sasl_oidc_and_zstd() {
        // librdkafka refuses these properties at client creation when it was
        // built without OpenSSL, libcurl (OIDC) or zstd.
        let toml = "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"OAUTHBEARER\"\n\
            sasl_oauthbearer_token_endpoint_url = \"https://idp.invalid/token\"\n\
            sasl_oauthbearer_client_id = \"c\"\nsasl_oauthbearer_client_secret = \"s\"\n\
            [kafka.properties]\n\"compression.type\" = \"zstd\"\n";
        let kafka = crate::config::Config::from_toml_str(toml)
            .expect("config")
            .kafka;
        kafka.validate().expect("valid");
        let created = metadata_client(&kafka);
        assert!(created.is_ok(), "{:?}", created.err());
        let scram = crate::config::Config::from_toml_str(
            "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-512\"\nsasl_username = \"u\"\nsasl_password = \"p\"\n",
        )
        .expect("config")
        .kafka;
        assert!(metadata_client(&scram).is_ok());
    }
    use crate::config::Secret;

    #[test]
    fn properties_follow_the_common_settings_and_defaults_yield_to_them() {
        let mut kafka = KafkaConfig::default();
        kafka
            .properties
            .insert("reconnect.backoff.ms".into(), Secret::new("7"));
        kafka
            .properties
            .insert("linger.ms".into(), Secret::new("50"));
        let cfg = base(&kafka).expect("base");
        assert_eq!(cfg.get("reconnect.backoff.ms"), Some("7"));
        assert_eq!(cfg.get("bootstrap.servers"), Some("127.0.0.1:9092"));
        let mut cfg = base(&kafka).expect("base");
        set_defaults(
            &mut cfg,
            &kafka,
            &[("linger.ms", "5"), ("batch.num.messages", "9")],
        );
        assert_eq!(cfg.get("linger.ms"), Some("50"));
        assert_eq!(cfg.get("batch.num.messages"), Some("9"));
        assert_eq!(
            base(&KafkaConfig::default())
                .expect("base")
                .get("reconnect.backoff.ms"),
            Some("20")
        );
    }
}
