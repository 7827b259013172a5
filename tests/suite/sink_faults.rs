//! Whose fault a refused write is, on the real servers: a record's (a value
//! out of range, a row too large for `max_allowed_packet`) goes to the
//! dead-letter topic under `errors_tolerance = "all"` while the records
//! around it are applied, and stops the pipeline naming it otherwise; the
//! target's (a trigger whose definer is gone, a trigger calling a missing
//! function, a table missing while `auto_create = false`) stops the pipeline
//! with the server's message and never dead-letters, whatever the tolerance.

use serde_json::json;

use super::sink_modes::{config, field, id_key, message, Db, DEADLINE};
use crate::both_flavors;
use crate::suite::seed::http_get;
use crate::support::*;

both_flavors!(
    a_value_out_of_range_is_dead_lettered_and_the_others_applied,
    a_trigger_whose_definer_is_gone_stops_the_pipeline_without_dead_letters
);

/// One `[[sink]]` section with a short flush interval and `extra` settings.
fn sink(name: &str, url: &str, topic: &str, extra: &str) -> String {
    format!(
        "[[sink]]\nname = \"{name}\"\nurl = \"{url}\"\ntopics = [\"{topic}\"]\n\
         flush_interval_ms = 50\n{extra}\n"
    )
}

/// `{id, n}` with `n` an int32 (the tables below hold it in a TINYINT).
fn row(id: i64, n: i64) -> String {
    message(
        "r",
        &[field("id", "int32", false), field("n", "int32", true)],
        json!({"id": id, "n": n}),
    )
}

/// Settings of a sink that dead-letters into `dlq`, on a table it neither creates nor alters.
fn tolerant(dlq: &str) -> String {
    format!("errors_tolerance = \"all\"\ndlq_topic = \"{dlq}\"\nauto_create = false\nauto_evolve = false")
}

/// The status of connector `name` once it is FAILED.
async fn failed(port: u16, name: &str) -> String {
    wait_for(&format!("{name} to fail"), DEADLINE, || async {
        let s = http_get(port, &format!("/connectors/{name}/status")).await;
        s.contains("FAILED").then_some(s)
    })
    .await
}

/// Lines (`offset|headers`) of the dead-letter topic `dlq`, once there are `n`.
async fn dead_letters(dlq: &str, n: usize) -> Vec<String> {
    wait_for(&format!("{n} dead letters in {dlq}"), DEADLINE, || async {
        let lines = kcat_lines(dlq, "%o|%h\n");
        (lines.len() == n).then_some(lines)
    })
    .await
}

/// Asserts that nothing was written to `dlq` (kcat reads nothing from a missing topic).
fn no_dead_letters(dlq: &str) {
    assert_eq!(
        kcat_lines(dlq, "%o\n"),
        Vec::<String>::new(),
        "dead letters in {dlq}"
    );
}

async fn a_value_out_of_range_is_dead_lettered_and_the_others_applied(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "range").await;
    my.exec("CREATE TABLE t (id INT PRIMARY KEY, n TINYINT)")
        .await;
    let tag = unique("range");
    let (topic, dlq) = (format!("range_{tag}"), format!("range_dlq_{tag}"));
    kcat_produce(
        &topic,
        &[(None, &row(1, 1)), (None, &row(2, 300)), (None, &row(3, 3))],
    );
    let extra = format!("{}\ntable_name_format = \"t\"", tolerant(&dlq));
    let mut d = Daemon::start(&config(0, &[sink(&tag, &my.url(), &topic, &extra)]));
    let db = Db::My(&my);
    db.wait_applied(&tag, &topic, 3).await;
    assert_eq!(db.table("t", "id, n").await, [["1", "1"], ["3", "3"]]);
    let letters = dead_letters(&dlq, 1).await;
    assert!(
        letters[0].contains("__connect.errors.offset=1,"),
        "{letters:?}"
    );
    assert!(letters[0].contains("ERROR 1264"), "{letters:?}");
    assert_eq!(d.stop(), 0);
}

async fn a_trigger_whose_definer_is_gone_stops_the_pipeline_without_dead_letters(
    flavor: MySqlFlavor,
) {
    let my = MySqlServer::new(flavor, "definer").await;
    my.exec("CREATE TABLE t (id INT PRIMARY KEY, n TINYINT)")
        .await;
    // The server warns (1449) but creates it; every insert then fails with 1449.
    my.exec(
        "CREATE DEFINER=`sluice_nobody`@`%` TRIGGER t_ins BEFORE INSERT ON t \
         FOR EACH ROW SET NEW.n = NEW.n",
    )
    .await;
    let tag = unique("definer");
    let (topic, dlq) = (format!("definer_{tag}"), format!("definer_dlq_{tag}"));
    kcat_produce(&topic, &[(None, &row(1, 1)), (None, &row(2, 2))]);
    let port = free_port();
    let extra = format!("{}\ntable_name_format = \"t\"", tolerant(&dlq));
    let mut d = Daemon::start(&config(port, &[sink(&tag, &my.url(), &topic, &extra)]));
    let status = failed(port, &tag).await;
    assert!(status.contains("ERROR 1449"), "{status}");
    assert_eq!(my.count("t").await, Some(0));
    assert_eq!(Db::My(&my).stored_offsets(&tag, &topic).await, []);
    no_dead_letters(&dlq);
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trigger_calling_a_missing_function_stops_the_pipeline_without_dead_letters() {
    let pg = Postgres::create("nofn").await;
    pg.client
        .batch_execute(
            "CREATE TABLE t (id INT PRIMARY KEY, n SMALLINT);
             CREATE FUNCTION t_ins() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN PERFORM sluice_missing_fn(NEW.id); RETURN NEW; END $$;
             CREATE TRIGGER t_ins BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION t_ins();",
        )
        .await
        .expect("trigger");
    let tag = unique("nofn");
    let (topic, dlq) = (format!("nofn_{tag}"), format!("nofn_dlq_{tag}"));
    kcat_produce(&topic, &[(None, &row(1, 1)), (None, &row(2, 2))]);
    let port = free_port();
    let extra = format!("{}\ntable_name_format = \"t\"", tolerant(&dlq));
    let mut d = Daemon::start(&config(port, &[sink(&tag, &pg.url(), &topic, &extra)]));
    let status = failed(port, &tag).await;
    assert!(status.contains("42883"), "{status}");
    assert_eq!(pg.count("t").await, Some(0));
    assert_eq!(Db::Pg(&pg).stored_offsets(&tag, &topic).await, []);
    no_dead_letters(&dlq);
    assert_eq!(d.stop(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_table_without_auto_create_stops_the_pipeline_without_dead_letters() {
    let my = MySqlServer::create("notable").await;
    let pg = Postgres::create("notable").await;
    let tag = unique("notable");
    let topic = format!("notable_{tag}");
    kcat_produce(&topic, &[(None, &row(1, 1))]);
    let port = free_port();
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let (q_my, q_pg) = (format!("{tag}_my_dlq"), format!("{tag}_pg_dlq"));
    let mut d = Daemon::start(&config(
        port,
        &[
            sink(&s_my, &my.url(), &topic, &tolerant(&q_my)),
            sink(&s_pg, &pg.url(), &topic, &tolerant(&q_pg)),
        ],
    ));
    for s in [&s_my, &s_pg] {
        let status = failed(port, s).await;
        assert!(
            status.contains(&format!(
                "table {topic} does not exist and auto_create is false"
            )),
            "{status}"
        );
    }
    assert_eq!(Db::My(&my).stored_offsets(&s_my, &topic).await, []);
    assert_eq!(Db::Pg(&pg).stored_offsets(&s_pg, &topic).await, []);
    no_dead_letters(&q_my);
    no_dead_letters(&q_pg);
    assert_eq!(d.stop(), 0);
}

/// Creates `topic` (one partition) taking messages of up to 100 MB.
async fn create_large_topic(topic: &str) {
    create_topic_max_bytes(topic, 100_000_000).await;
}

/// Like [`kcat_produce`], for messages over the producer's 1 MB default (lz4-compressed).
fn kcat_produce_large(topic: &str, messages: &[(String, String)]) {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kcat")
        .args([
            "-P", "-b", KAFKA, "-t", topic, "-K", "\u{1}", "-Z", "-z", "lz4",
        ])
        .args(["-X", "message.max.bytes=100000000"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat");
    {
        let stdin = child.stdin.as_mut().expect("stdin");
        for (k, v) in messages {
            writeln!(stdin, "{k}\u{1}{v}").expect("write");
        }
    }
    assert!(child.wait().expect("kcat").success(), "kcat produce failed");
}

/// A record whose row needs a statement over the server's `max_allowed_packet`
/// (its string doubles in SQL: each `'` is written `''`) between two small
/// ones: with tolerance all it is dead-lettered and the others applied; with
/// tolerance none the one before it is applied and the pipeline stops naming it.
#[tokio::test(flavor = "multi_thread")]
async fn a_row_over_max_allowed_packet_is_a_record_error_never_an_endless_retry() {
    let all = MySqlServer::create("packet").await;
    let none = MySqlServer::create("packet").await;
    let packet: usize = all.rows("SELECT @@max_allowed_packet").await[0][0]
        .parse()
        .expect("max_allowed_packet");
    let tag = unique("packet");
    let (topic, dlq) = (format!("packet_{tag}"), format!("packet_dlq_{tag}"));
    for db in [&all, &none] {
        db.exec("CREATE TABLE big (id INT PRIMARY KEY, s LONGTEXT)")
            .await;
    }
    create_large_topic(&topic).await;
    create_large_topic(&dlq).await;
    let value = |id: i64, s: &str| {
        message(
            "big",
            &[field("id", "int32", false), field("s", "string", true)],
            json!({"id": id, "s": s}),
        )
    };
    let huge = "'".repeat(packet / 2 + (1 << 20));
    kcat_produce_large(
        &topic,
        &[
            (id_key(1), value(1, "small")),
            (id_key(2), value(2, &huge)),
            (id_key(3), value(3, "small")),
        ],
    );
    drop(huge);
    let port = free_port();
    let keyed = "insert_mode = \"upsert\"\npk_mode = \"record_key\"\ntable_name_format = \"big\"";
    let (s_all, s_none) = (format!("{tag}_all"), format!("{tag}_none"));
    let mut d = Daemon::start(&config(
        port,
        &[
            sink(
                &s_all,
                &all.url(),
                &topic,
                &format!("{keyed}\n{}", tolerant(&dlq)),
            ),
            sink(
                &s_none,
                &none.url(),
                &topic,
                &format!("{keyed}\nauto_create = false\nauto_evolve = false"),
            ),
        ],
    ));
    Db::My(&all).wait_applied(&s_all, &topic, 3).await;
    assert_eq!(
        all.rows("SELECT id, s FROM big ORDER BY id").await,
        [["1", "small"], ["3", "small"]]
    );
    let letters = dead_letters(&dlq, 1).await;
    assert!(
        letters[0].contains("__connect.errors.offset=1,"),
        "{letters:?}"
    );
    assert!(letters[0].contains("max_allowed_packet"), "{letters:?}");

    let status = failed(port, &s_none).await;
    assert!(status.contains(&format!("record {topic}[0]@1")), "{status}");
    assert!(status.contains("max_allowed_packet"), "{status}");
    assert_eq!(
        none.rows("SELECT id, s FROM big ORDER BY id").await,
        [["1", "small"]]
    );
    assert_eq!(
        Db::My(&none).stored_offsets(&s_none, &topic).await,
        [(0, 1)]
    );
    assert_eq!(d.stop(), 0);
}
