//! The sink into an embedded SQLite file: plain Connect JSON from another
//! producer, upserted by a key taken from the value, checked with rusqlite.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::support::*;

/// A plain Connect struct: int32 key, a string with a hostile field name, a
/// Decimal(10,2) (`amount_b64`: base64 of the unscaled value), a Timestamp
/// and a boolean.
fn message(id: i32, name: &str, amount_b64: &str, at_ms: i64, ok: bool) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"int32","optional":false,"field":"id"}},{{"type":"string","optional":true,"field":"na\"me"}},{{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{{"scale":"2","connect.decimal.precision":"10"}},"field":"amount"}},{{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"at"}},{{"type":"boolean","optional":true,"field":"ok"}}],"optional":false,"name":"orders"}},"payload":{{"id":{id},"na\"me":"{name}","amount":"{amount_b64}","at":{at_ms},"ok":{ok}}}}}"#
    )
}

/// Rows of `sql` as text (NULL as "NULL"), or `None` while the file or table is missing.
pub(crate) fn sqlite_rows(path: &Path, sql: &str) -> Option<Vec<Vec<String>>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let mut stmt = conn.prepare(sql).ok()?;
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => "NULL".to_string(),
                        rusqlite::types::ValueRef::Integer(v) => v.to_string(),
                        rusqlite::types::ValueRef::Real(v) => v.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        rusqlite::types::ValueRef::Blob(b) => format!("{b:02x?}"),
                    })
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .ok()?;
    rows.collect::<Result<Vec<_>, _>>().ok()
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_json_upserts_into_sqlite() {
    let tag = unique("lite");
    let topic = format!("lite_{tag}");
    let db = scratch("sqlite").join("t.db");
    kcat_produce(
        &topic,
        &[
            // 12.30, 2022-08-15 19:47:47.123 UTC
            (None, &message(1, "first", "BM4=", 1_660_592_867_123, true)),
            // -0.05, 1969-12-31 23:59:59.000
            (None, &message(2, "it's", "+w==", -1_000, false)),
            // id 1 again: 99999999.99, the update wins
            (None, &message(1, "updated", "AlQL4/8=", 0, false)),
        ],
    );
    let config = format!(
        r#"
[kafka]
bootstrap_servers = "{KAFKA}"
[http]
listen = ""
[[sink]]
name = "{tag}"
url = "sqlite://{db}"
topics = ["{topic}"]
auto_create = true
auto_evolve = true
insert_mode = "upsert"
pk_mode = "record_value"
pk_fields = ["id"]
max_wait_ms = 50
"#,
        db = db.display()
    );
    let (code, out) = sluice(&[
        "check",
        "--config",
        write_config(&config).to_str().expect("path"),
    ]);
    assert!(
        code == 0
            && out.contains(&format!(
                "sink \"{tag}\": target sqlite://{} reachable",
                db.display()
            )),
        "{out}"
    );
    let mut d = Daemon::start(&config);
    let select = format!(
        "SELECT id, \"na\"\"me\", amount, typeof(amount), at, ok FROM \"{topic}\" ORDER BY id"
    );
    let want = [
        [
            "1",
            "updated",
            "99999999.99",
            "text",
            "1970-01-01 00:00:00.000",
            "0",
        ],
        ["2", "it's", "-0.05", "text", "1969-12-31 23:59:59.000", "0"],
    ];
    let rows = wait_for(
        "2 upserted rows in SQLite",
        Duration::from_secs(60),
        || async { sqlite_rows(&db, &select).filter(|r| r == &want) },
    )
    .await;
    assert_eq!(rows, want, "log:\n{}", d.log_text());
    let offsets = sqlite_rows(
        &db,
        &format!(
            "SELECT kafka_partition, next_offset FROM sluice_sink_offsets \
             WHERE sink = '{tag}' AND topic = '{topic}'"
        ),
    );
    assert_eq!(offsets, Some(vec![vec!["0".to_string(), "3".to_string()]]));
    let declared = sqlite_rows(
        &db,
        &format!("SELECT name, type, pk FROM pragma_table_info('{topic}') ORDER BY cid"),
    );
    assert_eq!(
        declared,
        Some(
            [
                ["id", "INTEGER", "1"],
                ["na\"me", "TEXT", "0"],
                ["amount", "DECIMAL_TEXT_SCALE(2)", "0"],
                ["at", "DATETIME(3)", "0"],
                ["ok", "BOOLEAN", "0"],
            ]
            .iter()
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .collect()
        )
    );
    assert_eq!(d.stop(), 0);
}
