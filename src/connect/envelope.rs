//! Debezium's change-event envelope, written and recognised.
//!
//! Sluice writes the shape Debezium 2.7's MySQL connector writes, so Debezium
//! consumers (the JDBC sink, `ExtractNewRecordState`, Flink CDC) read it as
//! their own:
//!
//! * key: struct `<server>.<db>.<table>.Key` of the primary-key columns;
//! * value: struct `<server>.<db>.<table>.Envelope`, version 2, with fields
//!   `before` / `after` (optional struct `<server>.<db>.<table>.Value`),
//!   `source` (`io.debezium.connector.mysql.Source`, version 1),
//!   `transaction` (optional `event.block`, always null: Sluice does not
//!   write transaction metadata), `op` (`c`,`u`,`d`,`r`) and `ts_ms` /
//!   `ts_us` / `ts_ns` (when the event was encoded) — Debezium 3.x's order.
//!
//! Column types inside `before`/`after` are Sluice's Connect types; a binlog
//! source writes Debezium's MySQL names where they are known from the column
//! type (`EncodeOptions::debezium_types`: TINYINT as int16,
//! `io.debezium.time.Date`/`Time`/`Timestamp`). The remaining differences
//! from Debezium 3.6.1's messages are listed in the README ("Debezium's
//! messages, compared") and in `tests/suite/debezium_diff.rs`.
//!
//! A Debezium delete is followed by a tombstone by default; the encoder
//! returns only the delete message, and the caller may add a tombstone
//! (`key`, no value) for log compaction.
//!
//! On the way in, a struct schema is an envelope when it has a string `op`
//! field and a struct `before` or `after` field; a name ending in `.Envelope`
//! without those is rejected rather than mistaken for a row.

use std::borrow::Cow;

use super::json_text::write_str;
use super::schema_json::{ConnectSchema, SchemaType};
use super::values::Scalar;
use crate::event::{ChangeEvent, Op, TableId};

/// `source.snapshot`'s allowed values, as Debezium 2.7 lists them.
const SNAPSHOT_VALUES: &str =
    "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental";

/// Source metadata for a Debezium envelope's `source` block (binlog coordinates
/// and the like). Fields the source does not know stay at their defaults.
/// Text fields borrow where they can: a source builds one per record, from
/// its position, and copying the file name and GTID each time cost two
/// allocations per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceInfo<'a> {
    /// `snapshot`: `"true"`, `"last"`, `"false"`...; `None` → `"true"` for reads, else `"false"`.
    pub snapshot: Option<Cow<'a, str>>,
    /// MySQL `server_id` of the server that wrote the change.
    pub server_id: i64,
    /// GTID of the transaction, when GTIDs are on.
    pub gtid: Option<Cow<'a, str>>,
    /// Binlog file name.
    pub file: Cow<'a, str>,
    /// Binlog position of the event.
    pub pos: i64,
    /// Row number within the rows event.
    pub row: i32,
    /// Thread id of the writing connection, when known.
    pub thread: Option<i64>,
    /// The SQL statement, when `binlog_rows_query_log_events` is on.
    pub query: Option<Cow<'a, str>>,
    /// When the event was processed, in microseconds since the epoch: the
    /// envelope's `ts_ms`, `ts_us` and `ts_ns`; `None` → the current time.
    pub processed_ts_us: Option<i64>,
}

/// The envelope's processing time as `ts_ms` and `ts_us`.
fn processed_times(info: &SourceInfo<'_>) -> (i64, i64) {
    let us = info
        .processed_ts_us
        .unwrap_or_else(|| chrono::Utc::now().timestamp_micros());
    (us.div_euclid(1_000), us)
}

/// `<server>.<db>.<table>`, Debezium's topic and schema-name stem.
pub(crate) fn stem(server: &str, ev: &ChangeEvent) -> String {
    format!("{server}.{}.{}", ev.table.database, ev.table.table)
}

fn source_schema() -> ConnectSchema {
    let string = |optional| ConnectSchema::new(SchemaType::String, optional);
    let int64 = |optional| ConnectSchema::new(SchemaType::Int64, optional);
    let snapshot = string(true)
        .named("io.debezium.data.Enum", Some(1))
        .param("allowed", SNAPSHOT_VALUES);
    let mut snapshot = snapshot;
    snapshot.default = Some("\"false\"".into());
    ConnectSchema::new(SchemaType::Struct, false)
        .field("version", string(false))
        .field("connector", string(false))
        .field("name", string(false))
        .field("ts_ms", int64(false))
        .field("snapshot", snapshot)
        .field("db", string(false))
        .field("sequence", string(true))
        .field("ts_us", int64(true))
        .field("ts_ns", int64(true))
        .field("table", string(true))
        .field("server_id", int64(false))
        .field("gtid", string(true))
        .field("file", string(false))
        .field("pos", int64(false))
        .field("row", ConnectSchema::new(SchemaType::Int32, false))
        .field("thread", int64(true))
        .field("query", string(true))
        .named("io.debezium.connector.mysql.Source", Some(1))
}

fn transaction_schema() -> ConnectSchema {
    ConnectSchema::new(SchemaType::Struct, true)
        .field("id", ConnectSchema::new(SchemaType::String, false))
        .field("total_order", ConnectSchema::new(SchemaType::Int64, false))
        .field(
            "data_collection_order",
            ConnectSchema::new(SchemaType::Int64, false),
        )
        .named("event.block", Some(1))
}

/// The envelope schema around `row` (an optional struct named `<stem>.Value`).
pub(crate) fn envelope_schema(stem: &str, row: ConnectSchema) -> ConnectSchema {
    let int64 = || ConnectSchema::new(SchemaType::Int64, true);
    ConnectSchema::new(SchemaType::Struct, false)
        .field("before", row.clone())
        .field("after", row)
        .field("source", source_schema())
        .field("transaction", transaction_schema())
        .field("op", ConnectSchema::new(SchemaType::String, false))
        .field("ts_ms", int64())
        .field("ts_us", int64())
        .field("ts_ns", int64())
        .named(format!("{stem}.Envelope"), Some(2))
}

fn opt_str(out: &mut String, v: Option<&str>) {
    match v {
        Some(s) => write_str(out, s),
        None => out.push_str("null"),
    }
}

fn opt_int(out: &mut String, v: Option<i64>) {
    match v {
        Some(i) => int(out, i),
        None => out.push_str("null"),
    }
}

/// Appends an integer's decimal digits (no `String` per number: the
/// envelope writes eight of them per message).
fn int(out: &mut String, v: impl itoa::Integer) {
    out.push_str(itoa::Buffer::new().format(v));
}

/// The constant runs of a table's Debezium `source` block, escaped once
/// per table instead of per message ([`write_tail`]).
#[derive(Debug)]
pub(crate) struct TailParts {
    /// `,"source":{"version":…,"connector":…,"name":…,"ts_ms":`
    head: String,
    /// `,"db":…,"sequence":null,"ts_us":`
    db: String,
    /// `,"table":…,"server_id":`
    table: String,
}

impl TailParts {
    /// The parts for messages of `table`.
    pub(crate) fn new(connector: &str, server: &str, table: &TableId) -> TailParts {
        let mut head = String::from(",\"source\":{\"version\":");
        write_str(&mut head, env!("CARGO_PKG_VERSION"));
        head.push_str(",\"connector\":");
        write_str(&mut head, connector);
        head.push_str(",\"name\":");
        write_str(&mut head, server);
        head.push_str(",\"ts_ms\":");
        let mut db = String::from(",\"db\":");
        write_str(&mut db, &table.database);
        db.push_str(",\"sequence\":null,\"ts_us\":");
        let mut name = String::from(",\"table\":");
        write_str(&mut name, &table.table);
        name.push_str(",\"server_id\":");
        TailParts {
            head,
            db,
            table: name,
        }
    }
}

/// Appends the envelope fields after `before`/`after`: `source` through
/// `transaction`; `parts` are those of the event's table.
pub(crate) fn write_tail(
    out: &mut String,
    parts: &TailParts,
    ev: &ChangeEvent,
    info: &SourceInfo<'_>,
) {
    let snapshot = match (&info.snapshot, ev.op) {
        (Some(s), _) => s.as_ref(),
        (None, Op::Read) => "true",
        (None, _) => "false",
    };
    out.push_str(&parts.head);
    int(out, ev.ts_ms);
    out.push_str(",\"snapshot\":");
    write_str(out, snapshot);
    out.push_str(&parts.db);
    opt_int(out, ev.ts_ms.checked_mul(1_000));
    out.push_str(",\"ts_ns\":");
    opt_int(out, ev.ts_ms.checked_mul(1_000_000));
    out.push_str(&parts.table);
    int(out, info.server_id);
    out.push_str(",\"gtid\":");
    opt_str(out, info.gtid.as_deref());
    out.push_str(",\"file\":");
    write_str(out, &info.file);
    out.push_str(",\"pos\":");
    int(out, info.pos);
    out.push_str(",\"row\":");
    int(out, info.row);
    out.push_str(",\"thread\":");
    opt_int(out, info.thread);
    out.push_str(",\"query\":");
    opt_str(out, info.query.as_deref());
    out.push_str("},\"transaction\":null,\"op\":");
    write_str(out, ev.op.code());
    let (ms, us) = processed_times(info);
    out.push_str(",\"ts_ms\":");
    int(out, ms);
    out.push_str(",\"ts_us\":");
    int(out, us);
    out.push_str(",\"ts_ns\":");
    opt_int(out, us.checked_mul(1_000));
}

/// The `source` block's fields (in [`source_schema`]'s order) as the Avro
/// path writes them; `None` is null. The same values as [`write_tail`].
pub(crate) fn source_scalars<'a>(
    connector: &'a str,
    server: &'a str,
    ev: &'a ChangeEvent,
    info: &'a SourceInfo<'a>,
) -> [Option<Scalar<'a>>; 17] {
    let snapshot = match (&info.snapshot, ev.op) {
        (Some(s), _) => s.as_ref(),
        (None, Op::Read) => "true",
        (None, _) => "false",
    };
    [
        Some(Scalar::Str(env!("CARGO_PKG_VERSION"))),
        Some(Scalar::Str(connector)),
        Some(Scalar::Str(server)),
        Some(Scalar::Long(ev.ts_ms)),
        Some(Scalar::Str(snapshot)),
        Some(Scalar::Str(&ev.table.database)),
        None,
        ev.ts_ms.checked_mul(1_000).map(Scalar::Long),
        ev.ts_ms.checked_mul(1_000_000).map(Scalar::Long),
        Some(Scalar::Str(&ev.table.table)),
        Some(Scalar::Long(info.server_id)),
        info.gtid.as_deref().map(Scalar::Str),
        Some(Scalar::Str(&info.file)),
        Some(Scalar::Long(info.pos)),
        Some(Scalar::Long(info.row.into())),
        info.thread.map(Scalar::Long),
        info.query.as_deref().map(Scalar::Str),
    ]
}

/// The envelope's fields after `source` — `transaction`, `op`, `ts_ms`,
/// `ts_us`, `ts_ns` — as the Avro path writes them (see [`write_tail`]).
pub(crate) fn after_source_scalars(
    ev: &ChangeEvent,
    info: &SourceInfo<'_>,
) -> [Option<Scalar<'static>>; 5] {
    let (ms, us) = processed_times(info);
    [
        None,
        Some(Scalar::Str(ev.op.code())),
        Some(Scalar::Long(ms)),
        Some(Scalar::Long(us)),
        us.checked_mul(1_000).map(Scalar::Long),
    ]
}

/// For a struct schema that is a Debezium envelope, the row schema (`after`,
/// else `before`); `Ok(None)` for a plain struct.
pub(crate) fn row_schema(schema: &ConnectSchema) -> Result<Option<&ConnectSchema>, String> {
    let is_struct = |s: &&ConnectSchema| s.ty == SchemaType::Struct;
    let op = schema.member("op").filter(|s| s.ty == SchemaType::String);
    let after = schema.member("after").filter(is_struct);
    let before = schema.member("before").filter(is_struct);
    let named = schema
        .name
        .as_deref()
        .is_some_and(|n| n.ends_with(".Envelope"));
    match (op, after.or(before)) {
        (Some(_), Some(row)) => {
            if let (Some(a), Some(b)) = (after, before) {
                if a.fields != b.fields {
                    return Err("envelope `before` and `after` schemas differ".into());
                }
            }
            Ok(Some(row))
        }
        _ if named => Err(
            "a schema named *.Envelope needs a string `op` and a struct `before` or `after`".into(),
        ),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(s: &ConnectSchema) -> String {
        let mut out = String::new();
        s.render(&mut out);
        out
    }

    #[test]
    fn the_source_block_escapes_names_and_matches_its_fields() {
        use crate::schema::TableSchema;
        let ev = ChangeEvent {
            table: std::sync::Arc::new(TableId::new("we\"ird", "t\\1\n")),
            op: Op::Update,
            before: None,
            after: None,
            schema: std::sync::Arc::new(TableSchema {
                name: "t".into(),
                columns: Vec::new(),
                primary_key: Vec::new(),
            }),
            position: crate::position::Position::None,
            ts_ms: 1_700_000_000_123,
        };
        let info = SourceInfo {
            server_id: 7,
            gtid: Some("g:1".into()),
            file: "bin.000002".into(),
            pos: 4,
            row: 1,
            processed_ts_us: Some(1_700_000_000_456_000),
            ..SourceInfo::default()
        };
        let parts = TailParts::new("mysql", "srv\"x", &ev.table);
        let mut out = String::from("{\"a\":1");
        write_tail(&mut out, &parts, &ev, &info);
        out.push('}');
        let v: serde_json::Value = serde_json::from_str(&out).expect(&out);
        let src = &v["source"];
        assert_eq!(src["name"], "srv\"x");
        assert_eq!(src["db"], "we\"ird");
        assert_eq!(src["table"], "t\\1\n");
        assert_eq!(src["ts_ms"], 1_700_000_000_123_i64);
        assert_eq!(src["ts_ns"], 1_700_000_000_123_000_000_i64);
        assert_eq!(
            (src["server_id"].as_i64(), src["snapshot"].as_str()),
            (Some(7), Some("false"))
        );
        assert_eq!(
            (v["op"].as_str(), v["ts_us"].as_i64()),
            (Some("u"), Some(1_700_000_000_456_000))
        );
        let keys: Vec<&str> = src
            .as_object()
            .expect("source")
            .keys()
            .map(String::as_str)
            .collect();
        let fields: Vec<String> = source_schema().fields.into_iter().map(|(n, _)| n).collect();
        assert_eq!(keys, fields, "the block's fields in its schema's order");
    }

    #[test]
    fn source_schema_mirrors_debezium_mysql() {
        let text = render(&source_schema());
        assert!(text.starts_with(
            r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},"#
        ));
        assert!(text.contains(r#"{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"}"#));
        assert!(text.ends_with(r#"{"type":"string","optional":true,"field":"query"}],"optional":false,"name":"io.debezium.connector.mysql.Source","version":1}"#));
    }

    #[test]
    fn envelope_schema_field_order_and_version() {
        let row = ConnectSchema::new(SchemaType::Struct, true)
            .field("id", ConnectSchema::new(SchemaType::Int32, false))
            .named("srv.db.t.Value", None);
        let env = envelope_schema("srv.db.t", row);
        let names: Vec<&str> = env.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "before",
                "after",
                "source",
                "transaction",
                "op",
                "ts_ms",
                "ts_us",
                "ts_ns"
            ]
        );
        let text = render(&env);
        assert!(
            text.ends_with(r#""optional":false,"name":"srv.db.t.Envelope","version":2}"#),
            "{text}"
        );
        assert!(text.contains(
            r#""optional":true,"name":"event.block","version":1,"field":"transaction"}"#
        ));
    }

    #[test]
    fn detects_envelopes_and_plain_structs() {
        let row = ConnectSchema::new(SchemaType::Struct, true).named("x.Value", None);
        let env = envelope_schema("x", row.clone());
        assert_eq!(row_schema(&env).ok().flatten(), Some(&row));
        let plain = ConnectSchema::new(SchemaType::Struct, false)
            .field("op", ConnectSchema::new(SchemaType::String, true))
            .field("after", ConnectSchema::new(SchemaType::String, true));
        assert_eq!(
            row_schema(&plain),
            Ok(None),
            "an `after` column is not an envelope"
        );
        let fake = ConnectSchema::new(SchemaType::Struct, false).named("a.b.Envelope", None);
        assert!(row_schema(&fake).is_err());
    }
}
