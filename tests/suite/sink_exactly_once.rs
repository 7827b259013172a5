//! Exactly once from Kafka into the database under crashes and rebalances
//! (design.md §5): a stream of upserts and deletes on a 3-partition topic,
//! keys updated many times so per-key order matters. Two sinks read it: one
//! upserts/deletes into a `state` table (must equal the last change of each
//! key), one inserts every record into a `log` table without a key (a record
//! applied twice would be an extra row, a lost one a missing row). The
//! three-daemon case runs on 6 partitions, the layout `scripts/bench.sh sinks`
//! measures.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use serde_json::json;

use crate::both_flavors;
use crate::suite::sink_modes::{config, field, id_key, message, metric, sink, Db};
use crate::support::*;

both_flavors!(kill_9_while_applying_loses_and_doubles_nothing);

const PARTITIONS: i32 = 3;
const LONG: Duration = Duration::from_secs(240);

/// Creates `topic` with three partitions.
async fn create_topic(topic: &str) {
    create_topic_with(topic, PARTITIONS).await;
}

/// Creates `topic` with `partitions` partitions.
async fn create_topic_with(topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("admin client");
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
        )
        .await
        .expect("create topic");
    for r in results {
        r.expect("topic created");
    }
}

/// The end offset of every partition of `topic`.
fn end_offsets(topic: &str) -> Vec<(i32, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", KAFKA)
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata
        .topics()
        .first()
        .map_or(0, |t| t.partitions().len());
    (0..partitions as i32)
        .map(|p| {
            let (_, high) = consumer
                .fetch_watermarks(topic, p, Duration::from_secs(10))
                .expect("watermarks");
            (p, high)
        })
        .collect()
}

/// A generated change stream and what a single clean run leaves behind.
struct Stream {
    /// (key, value; empty = tombstone).
    messages: Vec<(String, String)>,
    /// Final rows by id: (version, seq).
    state: BTreeMap<i64, (i64, i64)>,
    /// Records with a value (rows of the log table).
    values: i64,
}

/// `n` changes over `keys` keys: upserts with increasing versions, deletes,
/// and re-inserts of deleted keys.
fn stream(seed: u64, n: i64, keys: i64) -> Stream {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut versions: BTreeMap<i64, i64> = BTreeMap::new();
    let mut s = Stream {
        messages: Vec::new(),
        state: BTreeMap::new(),
        values: 0,
    };
    let fields = [
        field("id", "int32", false),
        field("version", "int32", false),
        field("seq", "int32", false),
        field("note", "string", true),
    ];
    for seq in 0..n {
        let id = rng.random_range(0..keys);
        let version = versions.entry(id).or_insert(0);
        *version += 1;
        if s.state.contains_key(&id) && rng.random_bool(0.15) {
            s.state.remove(&id);
            s.messages.push((id_key(id), String::new()));
            continue;
        }
        s.state.insert(id, (*version, seq));
        s.values += 1;
        let payload = json!({"id": id, "version": *version, "seq": seq, "note": format!("n{seq}")});
        s.messages
            .push((id_key(id), message("change", &fields, payload)));
    }
    s
}

fn produce(topic: &str, messages: &[(String, String)]) {
    let refs: Vec<(Option<&str>, &str)> = messages
        .iter()
        .map(|(k, v)| (Some(k.as_str()), v.as_str()))
        .collect();
    kcat_produce(topic, &refs);
}

/// The daemon config: a `state` sink (upsert + delete) and a `log` sink
/// (insert, no key), small batches, quick failure detection.
fn pipelines(tag: &str, url: &str, topic: &str) -> String {
    let state = sink(
        &format!("{tag}_state"),
        url,
        topic,
        "insert_mode = \"upsert\"\npk_mode = \"record_key\"\ndelete_enabled = true\n\
         batch_size = 50\ntable_name_format = \"state\"",
    );
    let log = sink(
        &format!("{tag}_log"),
        url,
        topic,
        "batch_size = 50\ntable_name_format = \"log\"",
    );
    config(0, &[state, log]).replacen(
        "[http]",
        "[kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n\
         \"heartbeat.interval.ms\" = \"1000\"\n[http]",
        1,
    )
}

/// Rows of the log table so far (0 before it exists).
async fn logged(db: Db<'_>) -> i64 {
    let rows = db
        .rows("SELECT COUNT(*) FROM log")
        .await
        .unwrap_or_default();
    rows.first()
        .and_then(|r| r.first())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Waits until both sinks stored every partition's end offset, then checks
/// the tables against `s`.
async fn assert_exactly_once(db: Db<'_>, tag: &str, topic: &str, s: &Stream) {
    let end = end_offsets(topic);
    for name in [format!("{tag}_state"), format!("{tag}_log")] {
        wait_for(&format!("{name} to reach {end:?}"), LONG, || async {
            (db.stored_offsets(&name, topic).await == end).then_some(())
        })
        .await;
    }
    let log = db
        .rows("SELECT COUNT(*), COUNT(DISTINCT seq) FROM log")
        .await
        .expect("log");
    let want = s.values.to_string();
    assert_eq!(
        log,
        [[want.clone(), want]],
        "every record applied exactly once"
    );
    let state = db
        .rows("SELECT id, version, seq FROM state ORDER BY id")
        .await
        .expect("state");
    let expected: Vec<Vec<String>> = s
        .state
        .iter()
        .map(|(id, (v, seq))| vec![id.to_string(), v.to_string(), seq.to_string()])
        .collect();
    assert_eq!(state.len(), expected.len(), "live keys");
    assert!(state == expected, "state table equals a clean run's result");
}

async fn kill_9_while_applying_loses_and_doubles_nothing(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "eo_kill").await;
    let db = Db::My(&my);
    let tag = unique("eokill");
    let topic = format!("eo_kill_{tag}");
    create_topic(&topic).await;
    let s = stream(rand::rng().random(), 20_000, 1_500);
    produce(&topic, &s.messages);
    let mut d = Daemon::start(&pipelines(&tag, &my.url(), &topic));
    let mut rng = rand::rng();
    let mut mid_stream = 0;
    for quarter in 1..=3 {
        // Kill at a random point of the next quarter of the stream.
        let at = s.values * quarter / 4 + rng.random_range(0..s.values / 8);
        let start = Instant::now();
        while logged(db).await < at {
            assert!(start.elapsed() < LONG, "no progress to {at} rows");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if logged(db).await < s.values {
            mid_stream += 1;
        }
        d.kill();
        d.restart();
    }
    eprintln!("kill -9 hit the stream {mid_stream} times of 3");
    assert_exactly_once(db, &tag, &topic, &s).await;
    assert_eq!(d.stop(), 0);
}

/// How often `d` logged an assignment for each of the two pipelines of `tag`.
fn assignments(d: &Daemon, tag: &str) -> [usize; 2] {
    let log = d.log_text();
    [format!("{tag}_state"), format!("{tag}_log")].map(|p| {
        log.lines()
            .filter(|l| l.contains("partitions assigned") && l.contains(&format!("pipeline={p} ")))
            .count()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_hand_partitions_over_without_loss_or_double_apply() {
    let pg = Postgres::create("eo_two").await;
    let db = Db::Pg(&pg);
    let tag = unique("eotwo");
    let topic = format!("eo_two_{tag}");
    create_topic(&topic).await;
    let s = stream(rand::rng().random(), 15_000, 1_000);
    let third = s.messages.len() / 3;
    let config = pipelines(&tag, &pg.url(), &topic).replace("batch_size = 50", "batch_size = 10");
    produce(&topic, &s.messages[..third]);
    let mut a = Daemon::start(&config);
    wait_for("the first instance to apply rows", LONG, || async {
        (logged(db).await > 300).then_some(())
    })
    .await;
    // Both of its pipelines must own their partitions before the second
    // instance joins: one still joining would share the first generation with
    // it and never see the hand-over this test is about.
    wait_for("the first instance to join both groups", LONG, || async {
        assignments(&a, &tag).iter().all(|&n| n >= 1).then_some(())
    })
    .await;
    // Midway, a second instance joins both groups and takes partitions over.
    let mut b = Daemon::start(&config);
    wait_for(
        "the rebalance to give both instances partitions",
        LONG,
        || async {
            let (ca, cb) = (assignments(&a, &tag), assignments(&b, &tag));
            (ca.iter().all(|&n| n >= 2) && cb.iter().all(|&n| n >= 1)).then_some(())
        },
    )
    .await;
    let before = logged(db).await;
    assert!(before < s.values, "the first third was still being applied");
    produce(&topic, &s.messages[third..2 * third]);
    wait_for("both instances to apply more rows", LONG, || async {
        (logged(db).await > before + 1_000).then_some(())
    })
    .await;
    // Midway again, the first one leaves: the second takes every partition.
    assert_eq!(a.stop(), 0);
    produce(&topic, &s.messages[2 * third..]);
    assert_exactly_once(db, &tag, &topic, &s).await;
    assert!(
        assignments(&b, &tag).iter().all(|&n| n >= 2),
        "the second instance was reassigned after the first left"
    );
    assert_eq!(b.stop(), 0);
}

/// The partition count of `d`'s latest assignment for each of the two
/// pipelines of `tag` (None before its first).
fn last_assigned(d: &Daemon, tag: &str) -> [Option<usize>; 2] {
    let log = d.log_text();
    [format!("{tag}_state"), format!("{tag}_log")].map(|p| {
        log.lines()
            .rfind(|l| l.contains("partitions assigned") && l.contains(&format!("pipeline={p} ")))
            .and_then(|l| {
                l.split_once(" partitions=")?
                    .1
                    .split(' ')
                    .next()?
                    .parse()
                    .ok()
            })
    })
}

/// Three daemons share both sink groups on a 6-partition topic into
/// PostgreSQL (the layout `scripts/bench.sh sinks` measures), two partitions
/// each; one of them is killed with kill -9 while it is applying batches; the
/// other two take its partitions over (three each) and the tables equal a
/// single clean run: nothing its open transaction held is lost, nothing it
/// committed is applied again.
#[tokio::test(flavor = "multi_thread")]
async fn three_instances_one_killed_mid_batch_lose_and_double_nothing() {
    let pg = Postgres::create("eo_three").await;
    let db = Db::Pg(&pg);
    let tag = unique("eothree");
    let topic = format!("eo_three_{tag}");
    create_topic_with(&topic, 6).await;
    let s = stream(rand::rng().random(), 24_000, 1_500);
    let half = s.messages.len() / 2;
    let config = pipelines(&tag, &pg.url(), &topic).replace("batch_size = 50", "batch_size = 10");
    let ports = [free_port(), free_port(), free_port()];
    let mut daemons = ports.map(|port| {
        Daemon::start(&config.replacen(
            "listen = \"\"",
            &format!("listen = \"127.0.0.1:{port}\""),
            1,
        ))
    });
    // The group settles with every member holding two of the six partitions
    // of both pipelines before any record is there to apply.
    wait_for(
        "the three instances to hold two partitions each",
        LONG,
        || async {
            daemons
                .iter()
                .all(|d| last_assigned(d, &tag) == [Some(2), Some(2)])
                .then_some(())
        },
    )
    .await;
    produce(&topic, &s.messages[..half]);
    let first_half = s.messages[..half]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .count() as i64;
    // The victim is killed while it applies: its applied-rows count moved
    // between two looks 20 ms apart, so a batch of its partitions is in flight.
    let victim = 1;
    let log_pipeline = format!("{tag}_log");
    let start = Instant::now();
    let mut last = 0.0;
    loop {
        let now = metric(
            ports[victim],
            "sluice_sink_rows_applied_total",
            &log_pipeline,
        )
        .await;
        if last > 0.0 && now > last {
            break;
        }
        last = now;
        assert!(start.elapsed() < LONG, "the victim never applied rows");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let at_kill = logged(db).await;
    daemons[victim].kill();
    assert!(
        at_kill < first_half,
        "killed mid-stream ({at_kill} of the first {first_half} rows applied)"
    );
    // The survivors' session to the group sees the victim expire and they
    // share its partitions: three each.
    for (i, d) in daemons.iter().enumerate().filter(|(i, _)| *i != victim) {
        wait_for(
            &format!("instance {i} to take three partitions of each pipeline"),
            LONG,
            || async { (last_assigned(d, &tag) == [Some(3), Some(3)]).then_some(()) },
        )
        .await;
    }
    produce(&topic, &s.messages[half..]);
    assert_exactly_once(db, &tag, &topic, &s).await;
    for (i, d) in daemons.iter_mut().enumerate().filter(|(i, _)| *i != victim) {
        assert_eq!(d.stop(), 0, "instance {i} stopped cleanly");
    }
}

/// Sends `sig` (`-STOP`, `-CONT`) to the daemon started on `d.config` (found
/// by its config file's unique path).
fn signal(d: &Daemon, sig: &str) {
    let out = std::process::Command::new("pgrep")
        .args(["-f", &d.config.display().to_string()])
        .output()
        .expect("pgrep");
    let pids = String::from_utf8_lossy(&out.stdout);
    let pid = pids.split_whitespace().next().expect("the daemon's pid");
    let status = std::process::Command::new("kill")
        .args([sig, pid])
        .status()
        .expect("kill");
    assert!(status.success(), "kill {sig} {pid}");
}

/// A member frozen (SIGSTOP) past the session timeout loses its partitions to
/// a second instance; thawed, the first member still holds batches it
/// believes it owns, and the second started from offsets the first may pass.
/// The offsets compare-and-set in the apply transaction refuses whatever the
/// other member applied meanwhile, so the tables equal a single clean run.
#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_member_thawed_after_a_rebalance_applies_nothing_twice() {
    let pg = Postgres::create("eo_frozen").await;
    let db = Db::Pg(&pg);
    let tag = unique("eofrozen");
    let topic = format!("eo_frozen_{tag}");
    create_topic(&topic).await;
    let s = stream(rand::rng().random(), 12_000, 1_000);
    let half = s.messages.len() / 2;
    let config = pipelines(&tag, &pg.url(), &topic).replace("batch_size = 50", "batch_size = 10");
    produce(&topic, &s.messages[..half]);
    let mut a = Daemon::start(&config);
    wait_for("the first instance to apply rows", LONG, || async {
        (logged(db).await > 300).then_some(())
    })
    .await;
    signal(&a, "-STOP");
    let mut b = Daemon::start(&config);
    // The frozen member misses its heartbeats: after the session timeout the
    // second instance is given every partition. (It cannot apply yet when the
    // first was frozen inside an apply transaction, which holds the
    // partitions' offsets rows locked until it goes on.)
    wait_for(
        "the second instance to take the partitions over",
        LONG,
        || async { assignments(&b, &tag).iter().all(|&n| n >= 1).then_some(()) },
    )
    .await;
    signal(&a, "-CONT");
    produce(&topic, &s.messages[half..]);
    assert_exactly_once(db, &tag, &topic, &s).await;
    let refused = a
        .log_text()
        .lines()
        .filter(|l| l.contains("resuming from the stored offsets"))
        .count();
    eprintln!("the thawed member's batches refused by the offsets check: {refused}");
    assert_eq!(a.stop(), 0);
    assert_eq!(b.stop(), 0);
}
