//! Debezium's messages, exactly (issue 15 item 2): Debezium's MySQL connector
//! 3.6.1 (Kafka Connect standalone, `JsonConverter` with schemas) and Sluice's
//! binlog source (`envelope = "debezium"`) capture the same MySQL 9.7 table of
//! every column type (the binlog type matrix's columns, edge values and NULLs)
//! into two topics: snapshot reads, then inserts, updates (before/after),
//! deletes and their tombstones streamed after both snapshots, then an
//! `ALTER TABLE`; and their schema-change topics (`include.schema.changes`,
//! item 3: the snapshot's records and the ALTER's). The topics are
//! compared message by message, key and value, schema and payload, after
//! removing only the fields that must differ between two tools (see
//! [`MAY_DIFFER`]). Anything else that differs is printed per column and fails
//! the test, unless named in [`KNOWN_GAPS`] (commented, per column and reason;
//! the README's Debezium section lists the same gaps).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value as Json;

use super::binlog::{binlog_config, master_status};
use super::binlog_types::exec_permissive;
use super::binlog_types::matrix::{create_table, insert_sql, rows_in_day, rows_long_time};
use super::debezium_takeover::Connect;
use crate::support::*;

mod json;
use json::{diff, known, rename, strip};

/// Payload fields that differ between any two writers of the same change:
/// when it was processed, and who processed it. `source.name` is each tool's
/// `topic.prefix`/`server_name`, which must differ here (two topics); schema
/// names holding it are compared after replacing Sluice's prefix by Debezium's.
const MAY_DIFFER: &[&str] = &[
    "ts_ms",
    "ts_us",
    "ts_ns",
    "source.ts_ms",
    "source.ts_us",
    "source.ts_ns",
    "source.thread",
    "source.version",
    "source.connector",
    "source.name",
];

/// Differences still there: `<op>:<path>` patterns (`op` is Debezium's
/// message's `op`, `-` for a tombstone; `*` matches within one path segment)
/// and why. Each is a known gap listed in the README's Debezium section.
/// Every case must still show each gap it can show (see
/// [`Case::gaps_expected`]): a fixed gap fails the test until it is removed
/// here. Everything not matched is compared exactly.
const KNOWN_GAPS: &[(&str, &str)] = &[
    // YEAR 0000: Debezium writes 2000 in snapshot reads (its JDBC driver's
    // reading) and 1900 when streaming (its binlog client adds 1900 to the
    // stored byte), whatever `enable.time.adjuster` says; Sluice writes 0,
    // the stored year, both ways.
    ("*:value.payload.*.yr", "YEAR 0000: Debezium 2000 / 1900"),
    // A negative TIME inside a JSON value, streamed: Debezium's binlog
    // client prints `-01:02:03` as `02:0-3:0-3`; Sluice prints it right
    // (JSON is otherwise printed as Debezium prints it when streaming).
    (
        "c:value.payload.after.j",
        "negative TIME in JSON: Debezium misprints it",
    ),
    // FLOAT read by Debezium's snapshot goes through JDBC's 6-digit text:
    // 3.4028234e38 arrives as 3.40282e38 (Debezium loses digits; Sluice
    // writes the stored float, as both tools do when streaming).
    (
        "r:value.payload.after.f",
        "FLOAT snapshot read: Debezium rounds",
    ),
];

/// One run: the same mode keys for both tools.
struct Case {
    name: &'static str,
    /// Debezium connector properties, `key=value` lines.
    debezium: &'static str,
    /// Sluice source keys, TOML lines.
    sluice: &'static str,
    /// Times that only the microsecond types hold (TIME outside one day,
    /// TIME 24:00:00) are in the table: not under `time.precision.mode`
    /// `connect` or `adaptive`, whose millisecond `Time` Sluice refuses for
    /// them (the README's type table).
    long_times: bool,
    /// Rows 1 and 2 (each type's minimum and maximum) are in the table: not
    /// under `time.precision.mode = nanoseconds`, whose int64 nanoseconds hold
    /// only 1677-09-21..2262-04-11 (Debezium writes null for DATETIME
    /// 1000-01-01; Sluice stops with an error naming the value, the README's
    /// type table).
    edge_rows: bool,
    /// Gaps (by [`KNOWN_GAPS`] pattern) this case cannot show.
    gaps_absent: &'static [&'static str],
}

/// A case of both tools' `debezium` / `sluice` settings on the whole
/// table, expecting only [`KNOWN_GAPS`].
fn case(name: &'static str, debezium: &'static str, sluice: &'static str) -> Case {
    Case {
        name,
        debezium,
        sluice,
        long_times: true,
        edge_rows: true,
        gaps_absent: &[],
    }
}

// One case at a time (`DEBEZIUM_SERIAL`): each must see no other writes to
// the server between the two tools' snapshots (see `same_messages`), and two
// Connect JVMs at once overload the 2-core test machine.

/// Polls `check` every 500 ms until it gives a value or `secs` pass.
async fn poll<T, F, Fut>(secs: u64, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        if let Some(v) = check().await {
            return Some(v);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    None
}

impl Case {
    /// The gaps every case may show: [`KNOWN_GAPS`].
    fn gaps(&self) -> Vec<(&'static str, &'static str)> {
        KNOWN_GAPS.to_vec()
    }

    /// The gaps (index into [`Case::gaps`], pattern) this case must show.
    fn gaps_expected(&self) -> Vec<(usize, &'static str)> {
        self.gaps()
            .into_iter()
            .enumerate()
            .filter(|(_, (p, _))| !self.gaps_absent.contains(p))
            .map(|(i, (p, _))| (i, p))
            .collect()
    }
}

/// Polls Debezium's topic, then Sluice's, until each holds `want` records
/// (at most 120 s each); `logs` explains a timeout.
async fn read_both(
    name: &str,
    topics: [&String; 2],
    want: usize,
    what: &str,
    logs: &dyn Fn() -> String,
) -> Vec<Vec<(Option<Json>, Option<Json>)>> {
    let mut got = Vec::new();
    for (who, topic) in ["Debezium", "Sluice"].into_iter().zip(topics) {
        let msgs = poll(120, || async {
            let msgs = kcat_read(topic);
            (msgs.len() >= want).then_some(msgs)
        })
        .await;
        let Some(msgs) = msgs else {
            panic!(
                "{name}: {who} did not write {want} {what} within 120 s\n{}",
                logs()
            );
        };
        got.push(msgs);
    }
    got
}

/// Runs Debezium and Sluice on one table, as [`Case`] says, and diffs their
/// topics.
async fn same_messages(case: Case) {
    let name = case.name;
    let _serial = super::debezium_takeover::DEBEZIUM_SERIAL.lock().await;
    let db = MySqlServer::new(MySqlFlavor::MySql, "dbzdiff").await;
    db.exec(&create_table("t")).await;
    let mut rows = rows_in_day(MySqlFlavor::MySql);
    if case.long_times {
        rows.extend(rows_long_time(MySqlFlavor::MySql));
    } else {
        // Row 5 holds TIME 24:00:00.
        rows.retain(|r| r.id != 5);
    }
    if !case.edge_rows {
        rows.retain(|r| r.id > 2);
    }
    let snapshot_rows = rows.len();
    exec_permissive(&db, &insert_sql("t", &rows, 0)).await;
    let before_snapshots = master_status(&db).await;

    let dbz_prefix = unique("dbzdiffd");
    let sl_prefix = unique("dbzdiffs");
    let dbz_topic = format!("{dbz_prefix}.{}.t", db.name);
    let sl_topic = format!("{sl_prefix}.{}.t", db.name);
    let dir = scratch("dbz-diff");
    let mut connect = Connect::start_with(
        &dir,
        &format!("{dbz_prefix}-dbz"),
        &dbz_prefix,
        &db.name,
        3307,
        &format!("{}\nenable.time.adjuster=false", case.debezium),
    );
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = "127.0.0.1:{}"
[[source]]
name = "{sl_prefix}"
kind = "binlog"
url = "mysql://root@127.0.0.1:3307/{}"
tables = ["t"]
server_name = "{sl_prefix}"
envelope = "debezium"
"enable.time.adjuster" = false
{}
"#,
        free_port(),
        db.name,
        case.sluice
    );
    let daemon = Daemon::start(&config);
    for (who, topic) in [("Debezium", &dbz_topic), ("Sluice", &sl_topic)] {
        let done = poll(120, || async {
            (kcat_lines(topic, "%o\n").len() >= snapshot_rows).then_some(())
        })
        .await;
        assert!(
            done.is_some(),
            "{name}: no snapshot from {who} within 120 s\nConnect:\n{}\nSluice:\n{}",
            connect.log_tail(),
            daemon.log_text()
        );
    }
    // Snapshot reads carry the binlog position each tool's snapshot started
    // at: equal when nothing else committed on the server between them. The
    // server is shared with other tests; when something did, the reads'
    // `source.file`/`source.pos` cannot be compared (said on stderr).
    let quiet = master_status(&db).await == before_snapshots;
    if !quiet {
        eprintln!("{name}: the server's binlog moved during the snapshots: snapshot reads' source.file/pos not compared");
    }

    // Streamed after both snapshots: the same rows again (inserts), updates
    // (edge values → others, NULLs → values), and deletes.
    exec_permissive(&db, &insert_sql("t", &rows, 100)).await;
    // Rows 101 and 102 exist only with the edge rows; 104 stands in.
    let (first, second) = if case.edge_rows {
        (101, 102)
    } else {
        (104, 104)
    };
    exec_permissive(
        &db,
        &format!(
            "UPDATE t SET ti = ti + 1, vc = 'updated', dtm = '2001-02-03 04:05:06.7', \
             j = '{{\"u\": 1}}', b64 = 0x8000000000000001 WHERE id IN ({first}, 103)"
        ),
    )
    .await;
    // A negative TIME only where the case's TIME type holds it.
    let sign = if case.long_times { "-" } else { "" };
    exec_permissive(
        &db,
        &format!(
            "UPDATE t SET ti = 5, tiu = 6, biu = 9223372036854775808, d10 = -1.5, \
             ts = '2020-06-01 12:00:00.5', tm = '{sign}12:00:00.25', e = 'b', st = 'x,z', \
             b1 = b'1', b10 = b'1000000001', yr = 2000, bl = 0x01, \
             g = ST_GeomFromText('POINT(3 4)') WHERE id = 106"
        ),
    )
    .await;
    exec_permissive(
        &db,
        &format!("DELETE FROM t WHERE id IN ({second}, 103, 106)"),
    )
    .await;
    // A DDL statement: one more record on each schema-change topic.
    exec_permissive(
        &db,
        "ALTER TABLE t ADD COLUMN extra VARCHAR(12) NOT NULL DEFAULT 'x' COMMENT 'added', \
         ADD INDEX by_extra (extra)",
    )
    .await;
    // Inserts, 3 updates, 3 deletes each with its tombstone.
    let want = snapshot_rows * 2 + 3 + 3 * 2;
    let logs = || {
        format!(
            "Connect:\n{}\nSluice:\n{}",
            connect.log_tail(),
            daemon.log_text()
        )
    };
    let mut got = read_both(name, [&dbz_topic, &sl_topic], want, "messages", &logs).await;
    // The schema-change topics (`include.schema.changes`, on by default
    // under the Debezium envelope, both sides): the snapshot's records (the
    // server's character set, DROP TABLE, DROP / CREATE DATABASE, USE,
    // CREATE TABLE) and the ALTER.
    let schema_want = 7;
    let mut schema_got = read_both(
        name,
        [&dbz_prefix, &sl_prefix],
        schema_want,
        "schema-change records",
        &logs,
    )
    .await;
    // Both topics are read: Connect has nothing left to commit.
    connect.kill();
    let sluice_schema = schema_got.pop().expect("sluice");
    let debezium_schema = schema_got.pop().expect("debezium");
    assert_eq!(
        debezium_schema.len(),
        schema_want,
        "Debezium's schema-change records"
    );
    assert_eq!(
        sluice_schema.len(),
        schema_want,
        "Sluice's schema-change records"
    );
    let sluice = got.pop().expect("sluice");
    let debezium = got.pop().expect("debezium");
    assert_eq!(
        debezium.len(),
        want,
        "Debezium wrote {} messages:\n{}",
        debezium.len(),
        connect.log_tail()
    );
    assert_eq!(
        sluice.len(),
        want,
        "Sluice wrote {} messages:\n{}",
        sluice.len(),
        daemon.log_text()
    );
    drop(daemon);

    let mut diffs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let gaps = case.gaps();
    let mut gaps_seen = vec![0usize; gaps.len()];
    let mut compared = 0;
    let debezium = debezium.into_iter().chain(debezium_schema);
    let sluice = sluice.into_iter().chain(sluice_schema);
    for (i, ((dk, dv), (sk, sv))) in debezium.zip(sluice).enumerate() {
        let op = dv
            .as_ref()
            .and_then(|v| v["payload"]["op"].as_str())
            .unwrap_or("-")
            .to_string();
        let snapshot_record = dv
            .as_ref()
            .is_some_and(|v| v["payload"]["source"]["snapshot"] == "true");
        for (part, d, s) in [("key", dk, sk), ("value", dv, sv)] {
            let (mut d, mut s) = (d.unwrap_or(Json::Null), s.unwrap_or(Json::Null));
            rename(&mut s, &sl_prefix, &dbz_prefix);
            if part == "value" {
                strip(&mut d);
                strip(&mut s);
                if (op == "r" || snapshot_record) && !quiet {
                    for v in [&mut d, &mut s] {
                        if let Some(src) = v["payload"]["source"].as_object_mut() {
                            src.remove("file");
                            src.remove("pos");
                        }
                    }
                }
            }
            let mut out = Vec::new();
            diff(part, &d, &s, &mut out);
            for line in out {
                let (path, what) = line.split_once(": ").unwrap_or((&line, ""));
                match known(&gaps, &op, path) {
                    Some(gap) => gaps_seen[gap] += 1,
                    None => diffs
                        .entry(path.to_string())
                        .or_default()
                        .push(format!("#{i} (op {op}) {what}")),
                }
            }
            compared += 1;
        }
    }
    assert_eq!(compared, (want + schema_want) * 2);
    for ((pattern, why), n) in gaps.iter().zip(&gaps_seen) {
        eprintln!("{name}: known gap {pattern} ({why}): {n} differences");
    }
    if !diffs.is_empty() {
        let mut report = String::new();
        for (path, seen) in &diffs {
            report.push_str(&format!(
                "{path} ({} messages), first: {}\n",
                seen.len(),
                seen[0]
            ));
        }
        panic!(
            "{name}: {} paths differ between Debezium and Sluice:\n{report}",
            diffs.len()
        );
    }
    let fixed: Vec<&str> = case
        .gaps_expected()
        .into_iter()
        .filter(|(i, _)| gaps_seen[*i] == 0)
        .map(|(_, p)| p)
        .collect();
    assert!(
        fixed.is_empty(),
        "{name}: known gaps no longer seen (remove them from KNOWN_GAPS and the README): {fixed:?}"
    );
}

/// Both tools' defaults, except `bigint.unsigned.handling.mode`: Debezium's
/// default `long` wraps values above 2^63; Sluice's (lossless) default is
/// Debezium's `precise`, and Sluice refuses `long`.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_defaults() {
    same_messages(case(
        "defaults",
        "bigint.unsigned.handling.mode=precise",
        "",
    ))
    .await;
}

/// `decimal.handling.mode = string`: DECIMALs as their text.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_decimal_string() {
    same_messages(case(
        "decimal string",
        "bigint.unsigned.handling.mode=precise\ndecimal.handling.mode=string",
        r#""decimal.handling.mode" = "string""#,
    ))
    .await;
}

/// `decimal.handling.mode = double`: DECIMALs as float64.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_decimal_double() {
    same_messages(case(
        "decimal double",
        "bigint.unsigned.handling.mode=precise\ndecimal.handling.mode=double",
        r#""decimal.handling.mode" = "double""#,
    ))
    .await;
}

// `time.precision.mode = adaptive` has no case: Debezium's MySQL connector
// 3.6.1 refuses it (its config validation fails; only
// `adaptive_time_microseconds`, the default, `connect`, `microseconds` and
// `nanoseconds` are MySQL's).
// `bigint.unsigned.handling.mode = long` has none either: Sluice refuses it
// (it wraps values above 2^63); every case runs Debezium with `precise`.

/// `time.precision.mode = connect`: Connect's millisecond types.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_time_connect() {
    same_messages(Case {
        long_times: false,
        // Row 5, whose JSON holds the negative TIME, is left out.
        gaps_absent: &["c:value.payload.after.j"],
        ..case(
            "time connect",
            "bigint.unsigned.handling.mode=precise\ntime.precision.mode=connect",
            r#""time.precision.mode" = "connect""#,
        )
    })
    .await;
}

/// Debezium's column mappers: a mask, a hash (v1, SHA-256) and a hash v2
/// (SHA-512) cut to the column's length, a truncation.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_column_mappers() {
    same_messages(case(
        "column mappers",
        "bigint.unsigned.handling.mode=precise\n\
         column.mask.with.5.chars=.*.t.vc\n\
         column.mask.hash.SHA-256.with.salt.pepper=.*.t.ch\n\
         column.mask.hash.v2.SHA-512.with.salt.pepper=.*.t.l1\n\
         column.truncate.to.4.chars=.*.t.tx",
        r#""column.mask.with.5.chars" = ".*.t.vc"
"column.mask.hash.SHA-256.with.salt.pepper" = ".*.t.ch"
"column.mask.hash.v2.SHA-512.with.salt.pepper" = ".*.t.l1"
"column.truncate.to.4.chars" = ".*.t.tx""#,
    ))
    .await;
}

/// `time.precision.mode = microseconds`: every TIME / DATETIME as Micro*.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_time_microseconds() {
    same_messages(case(
        "time microseconds",
        "bigint.unsigned.handling.mode=precise\ntime.precision.mode=microseconds",
        r#""time.precision.mode" = "microseconds""#,
    ))
    .await;
}

/// `time.precision.mode = nanoseconds`: every TIME / DATETIME as Nano*.
#[tokio::test(flavor = "multi_thread")]
async fn debezium_time_nanoseconds() {
    same_messages(Case {
        edge_rows: false,
        // The FLOAT whose digits Debezium's snapshot loses is in row 2.
        gaps_absent: &["r:value.payload.after.f"],
        ..case(
            "time nanoseconds",
            "bigint.unsigned.handling.mode=precise\ntime.precision.mode=nanoseconds",
            r#""time.precision.mode" = "nanoseconds""#,
        )
    })
    .await;
}

/// MariaDB (Debezium's MariaDB connector is not served here): the same
/// rules. Every column's schema in a streamed message is the one its
/// snapshot read had (the snapshot's types come from `information_schema`,
/// the stream's from the binlog's table map), and the semantic types are
/// Debezium's.
#[tokio::test(flavor = "multi_thread")]
async fn mariadb_writes_the_same_debezium_types_in_snapshot_and_stream() {
    let flavor = MySqlFlavor::MariaDb;
    let db = MySqlServer::new(flavor, "dbzmaria").await;
    db.exec(&create_table("t")).await;
    let rows = rows_in_day(flavor);
    exec_permissive(&db, &insert_sql("t", &rows, 0)).await;
    let name = unique("dbzmaria");
    let extra = "tables = [\"t\"]\nenvelope = \"debezium\"";
    let daemon = Daemon::start(&binlog_config(&name, &db.url(), extra));
    let topic = format!("{name}.{}.t", db.name);
    poll(120, || async {
        (kcat_lines(&topic, "%o\n").len() >= rows.len()).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("no snapshot within 120 s:\n{}", daemon.log_text()));
    exec_permissive(&db, &insert_sql("t", &rows, 100)).await;
    let msgs = poll(120, || async {
        let m = kcat_read(&topic);
        (m.len() >= rows.len() * 2).then_some(m)
    })
    .await
    .unwrap_or_else(|| panic!("no streamed rows within 120 s:\n{}", daemon.log_text()));
    let schema = |op: &str| {
        msgs.iter()
            .filter_map(|(_, v)| v.as_ref())
            .find(|v| v["payload"]["op"] == op)
            .map(|v| v["schema"].clone())
            .unwrap_or_else(|| panic!("a message of op {op}"))
    };
    let (read, created) = (schema("r"), schema("c"));
    let mut out = Vec::new();
    diff("schema", &read, &created, &mut out);
    assert!(
        out.is_empty(),
        "snapshot and stream schemas differ: {out:#?}"
    );
    let after = read["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "after"))
        .cloned()
        .unwrap_or_default();
    let named = |col: &str| {
        after["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["field"] == col))
            .and_then(|f| f["name"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    for (col, want) in [
        ("b10", "io.debezium.data.Bits"),
        ("e", "io.debezium.data.Enum"),
        ("st", "io.debezium.data.EnumSet"),
        ("g", "io.debezium.data.geometry.Geometry"),
        ("ts", "io.debezium.time.ZonedTimestamp"),
        ("yr", "io.debezium.time.Year"),
        ("biu", "org.apache.kafka.connect.data.Decimal"),
    ] {
        assert_eq!(named(col), want, "{col}");
    }
}
