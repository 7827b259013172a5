//! `auto_evolve` widening, and what the sink does with changes and values a
//! table cannot take: the dead-letter topic with `errors_tolerance = "all"`,
//! a stopped pipeline otherwise. Never a silent truncation.

use serde_json::{json, Value};

use super::{config, field, message, metric, sink, Db, DEADLINE};
use crate::both_flavors;
use crate::suite::seed::http_get;
use crate::support::*;

both_flavors!(
    wider_types_and_longer_strings_widen_the_columns,
    incompatible_changes_and_values_that_do_not_fit_go_to_the_dead_letter_topic,
    without_tolerance_a_value_that_does_not_fit_stops_the_pipeline
);

/// A string field with Debezium's column length parameter.
fn string_len(name: &str, len: u32) -> Value {
    json!({"type": "string", "optional": true, "field": name,
           "parameters": {"__debezium.source.column.length": len.to_string()}})
}

/// A Decimal field of `scale`.
fn decimal(name: &str, scale: u32) -> Value {
    json!({"type": "bytes", "optional": true, "name": "org.apache.kafka.connect.data.Decimal",
           "version": 1, "parameters": {"scale": scale.to_string()}, "field": name})
}

/// `{id, n, s, amount}` with `n` of type `n_type` and `s` of length `s_len`;
/// amount 12.34 at scale 2 (or 1.234 at scale 3: the same unscaled bytes).
fn row(id: i64, n_type: &str, n: Value, s_len: u32, s: &str, scale: u32) -> String {
    message(
        "r",
        &[
            field("id", "int32", false),
            field("n", n_type, true),
            string_len("s", s_len),
            decimal("amount", scale),
        ],
        json!({"id": id, "n": n, "s": s, "amount": "BNI="}),
    )
}

/// `(column, type, length)` of `table` from information_schema.
async fn columns(db: Db<'_>, table: &str) -> Vec<Vec<String>> {
    let schema = match db {
        Db::My(_) => "DATABASE()",
        Db::Pg(_) => "current_schema()",
    };
    let sql = format!(
        "SELECT column_name, data_type, character_maximum_length FROM information_schema.columns \
         WHERE table_schema = {schema} AND table_name = '{table}' AND column_name IN ('n', 's') \
         ORDER BY column_name"
    );
    db.rows(&sql).await.expect("information_schema")
}

async fn wider_types_and_longer_strings_widen_the_columns(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "widen").await;
    let pg = Postgres::create("widen").await;
    let tag = unique("widen");
    let topic = format!("widen_{tag}");
    kcat_produce(
        &topic,
        &[(None, &row(1, "int32", json!(7), 10, "short", 2))],
    );
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let mut d = Daemon::start(&config(
        0,
        &[
            sink(&s_my, &my.url(), &topic, ""),
            sink(&s_pg, &pg.url(), &topic, ""),
        ],
    ));
    let (dmy, dpg) = (Db::My(&my), Db::Pg(&pg));
    dmy.wait_applied(&s_my, &topic, 1).await;
    dpg.wait_applied(&s_pg, &topic, 1).await;
    assert_eq!(
        columns(dmy, &topic).await,
        [["n", "int", "NULL"], ["s", "varchar", "10"]]
    );
    let long = "a string of thirty characters!";
    kcat_produce(
        &topic,
        &[(
            None,
            &row(2, "int64", json!(5_000_000_000_i64), 40, long, 2),
        )],
    );
    dmy.wait_applied(&s_my, &topic, 2).await;
    dpg.wait_applied(&s_pg, &topic, 2).await;
    assert_eq!(
        columns(dmy, &topic).await,
        [["n", "bigint", "NULL"], ["s", "varchar", "40"]]
    );
    assert_eq!(
        columns(dpg, &topic).await,
        [["n", "bigint", "NULL"], ["s", "character varying", "40"]]
    );
    for db in [dmy, dpg] {
        assert_eq!(
            db.table(&topic, "id, n, s").await,
            [["1", "7", "short"], ["2", "5000000000", long]]
        );
    }
    assert_eq!(d.stop(), 0);
}

/// The dead letters of `topic` as `value|headers` lines, once there are `n`.
async fn dead_letters(topic: &str, n: usize) -> Vec<String> {
    wait_for(
        &format!("{n} dead letters in {topic}"),
        DEADLINE,
        || async {
            let lines = kcat_lines(topic, "%o|%h\n");
            (lines.len() == n).then_some(lines)
        },
    )
    .await
}

async fn incompatible_changes_and_values_that_do_not_fit_go_to_the_dead_letter_topic(
    flavor: MySqlFlavor,
) {
    let my = MySqlServer::new(flavor, "narrow").await;
    let pg = Postgres::create("narrow").await;
    let tag = unique("narrow");
    let topic = format!("narrow_{tag}");
    let good = |id| row(id, "int32", json!(id), 10, "fits", 2);
    kcat_produce(
        &topic,
        &[
            (None, &good(1)),
            // A type change int32 → string: incompatible.
            (None, &row(2, "string", json!("two"), 10, "fits", 2)),
            (None, &good(3)),
            // A value longer than its column (the schema says 10): not truncated.
            (
                None,
                &row(4, "int32", json!(4), 10, "much longer than ten", 2),
            ),
            (None, &good(5)),
            // Decimal scale 2 → 3: the column cannot hold it losslessly.
            (None, &row(6, "int32", json!(6), 10, "fits", 3)),
            (None, &good(7)),
        ],
    );
    let port = free_port();
    let (s_my, s_pg) = (format!("{tag}_my"), format!("{tag}_pg"));
    let (q_my, q_pg) = (format!("dlq_my_{tag}"), format!("dlq_pg_{tag}"));
    let tolerate = |q: &str| format!("errors_tolerance = \"all\"\ndlq_topic = \"{q}\"");
    let mut d = Daemon::start(&config(
        port,
        &[
            sink(&s_my, &my.url(), &topic, &tolerate(&q_my)),
            sink(&s_pg, &pg.url(), &topic, &tolerate(&q_pg)),
        ],
    ));
    for (db, s, q) in [(Db::My(&my), &s_my, &q_my), (Db::Pg(&pg), &s_pg, &q_pg)] {
        db.wait_applied(s, &topic, 7).await;
        assert_eq!(
            db.table(&topic, "id, n, s, amount").await,
            [
                ["1", "1", "fits", "12.34"],
                ["3", "3", "fits", "12.34"],
                ["5", "5", "fits", "12.34"],
                ["7", "7", "fits", "12.34"]
            ]
        );
        // Schema conflicts are found before the batch is written, so they
        // reach the dead-letter topic first: order the letters by source offset.
        let mut letters: Vec<(i64, String)> = dead_letters(q, 3)
            .await
            .into_iter()
            .map(|line| {
                let offset = line
                    .split("__connect.errors.offset=")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .and_then(|o| o.parse().ok())
                    .unwrap_or_else(|| panic!("no offset header: {line}"));
                (offset, line)
            })
            .collect();
        letters.sort();
        let offsets: Vec<i64> = letters.iter().map(|(o, _)| *o).collect();
        assert_eq!(offsets, [1, 3, 5]);
        for (_, line) in &letters {
            assert!(
                line.contains(&format!("__connect.errors.topic={topic},")),
                "{line}"
            );
        }
        let reason = |i: usize| letters[i].1.as_str();
        assert!(
            reason(0).contains("SchemaError") && reason(0).contains("column n"),
            "{}",
            reason(0)
        );
        assert!(
            reason(1).contains("ApplyError") && reason(1).contains("too long"),
            "{}",
            reason(1)
        );
        assert!(
            reason(2).contains("SchemaError") && reason(2).contains("column amount"),
            "{}",
            reason(2)
        );
        assert_eq!(metric(port, "sluice_sink_dead_letters_total", s).await, 3.0);
    }
    assert_eq!(
        Db::My(&my).stored_offsets(&s_my, &topic).await,
        [(0, 7)],
        "the skipped records' offsets are committed"
    );
    assert_eq!(d.stop(), 0);
}

async fn without_tolerance_a_value_that_does_not_fit_stops_the_pipeline(flavor: MySqlFlavor) {
    let my = MySqlServer::new(flavor, "stop").await;
    let tag = unique("stop");
    let topic = format!("stop_{tag}");
    let port = free_port();
    kcat_produce(&topic, &[(None, &row(1, "int32", json!(1), 10, "fits", 2))]);
    let mut d = Daemon::start(&config(port, &[sink(&tag, &my.url(), &topic, "")]));
    Db::My(&my).wait_applied(&tag, &topic, 1).await;
    kcat_produce(
        &topic,
        &[(
            None,
            &row(2, "int32", json!(2), 10, "much longer than ten", 2),
        )],
    );
    let status = wait_for("the sink to fail", DEADLINE, || async {
        let s = http_get(port, &format!("/connectors/{tag}/status")).await;
        s.contains("FAILED").then_some(s)
    })
    .await;
    assert!(status.contains("Data too long"), "{status}");
    assert_eq!(my.count(&topic).await, Some(1));
    assert_eq!(Db::My(&my).stored_offsets(&tag, &topic).await, [(0, 1)]);
    assert_eq!(d.stop(), 0);
}
