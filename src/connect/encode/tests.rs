//! Tests for [`super`]: exact bytes of encoded messages.

use super::*;
use crate::event::TableId;
use crate::position::Position;
use crate::schema::Column;

pub(crate) fn opts(envelope: Envelope) -> EncodeOptions {
    EncodeOptions {
        envelope,
        decimal_handling: DecimalHandling::Precise,
        time_precision: TimePrecision::Connect,
        connector: "mysql".into(),
        server_name: "my-source-connect".into(),
        debezium_types: false,
    }
}

/// The seed table: `users(id INT NOT NULL PRIMARY KEY, user_id, pwd, name VARCHAR, created_at TIMESTAMP)`.
pub(crate) fn seed_schema() -> Arc<TableSchema> {
    let s = || ColumnType::String { max_len: Some(255) };
    Arc::new(TableSchema {
        name: "users".into(),
        columns: vec![
            Column::new("id", ColumnType::Int32, false),
            Column::new("user_id", s(), true),
            Column::new("pwd", s(), true),
            Column::new("name", s(), true),
            Column::new("created_at", ColumnType::Timestamp, true),
        ],
        primary_key: vec!["id".into()],
    })
}

pub(crate) fn seed_row() -> Vec<Value> {
    vec![
        Value::Int(1),
        Value::String("test1".into()),
        Value::Null,
        Value::String("test1".into()),
        Value::Timestamp(1_660_592_867_000_000),
    ]
}

pub(crate) fn event(
    schema: &Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
) -> ChangeEvent {
    ChangeEvent {
        table: TableId::new("mydb", "users").into(),
        op,
        before,
        after,
        schema: Arc::clone(schema),
        position: Position::None,
        ts_ms: 1_660_592_867_000,
    }
}

fn text(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8(bytes.expect("present")).expect("utf-8")
}

#[test]
fn seed_message_is_byte_for_byte_the_golden_file() {
    let golden = include_str!("../../../tests/golden/seed_users.json").trim_end();
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let out = enc
        .encode(&event(&seed_schema(), Op::Create, None, Some(seed_row())))
        .expect("encodes");
    assert_eq!(text(out.value), golden);
    assert_eq!(
        text(out.key),
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":1}}"#
    );
}

#[test]
fn flat_delete_is_a_tombstone_with_the_key() {
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let out = enc
        .encode(&event(&seed_schema(), Op::Delete, Some(seed_row()), None))
        .expect("encodes");
    assert_eq!(out.value, None);
    assert!(text(out.key).ends_with(r#""payload":{"id":1}}"#));
}

#[test]
fn tables_without_a_primary_key_have_no_key() {
    let mut schema = (*seed_schema()).clone();
    schema.primary_key.clear();
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let out = enc
        .encode(&event(&Arc::new(schema), Op::Read, None, Some(seed_row())))
        .expect("encodes");
    assert_eq!(out.key, None);
    assert!(out.value.is_some());
}

#[test]
fn debezium_create_matches_debezium_shape() {
    let mut enc = Encoder::new(opts(Envelope::Debezium));
    let info = SourceInfo {
        server_id: 1,
        file: "mysql-bin.000042".into(),
        pos: 1337,
        gtid: Some("0-1-28".into()),
        processed_ts_us: Some(1_660_592_868_000_000),
        ..SourceInfo::default()
    };
    let out = enc
        .encode_with(
            &event(&seed_schema(), Op::Create, None, Some(seed_row())),
            &info,
        )
        .expect("encodes");
    assert_eq!(
        text(out.key),
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"my-source-connect.mydb.users.Key"},"payload":{"id":1}}"#
    );
    let value = text(out.value);
    let row = r#"{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"user_id"},{"type":"string","optional":true,"field":"pwd"},{"type":"string","optional":true,"field":"name"},{"type":"int64","optional":true,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"created_at"}],"optional":true,"name":"my-source-connect.mydb.users.Value","field":"before"}"#;
    assert!(
        value.starts_with(&format!(r#"{{"schema":{{"type":"struct","fields":[{row}"#)),
        "{value}"
    );
    assert!(value.contains(
        r#""optional":false,"name":"my-source-connect.mydb.users.Envelope","version":2},"payload":"#
    ));
    let payload = format!(
        r#""payload":{{"before":null,"after":{{"id":1,"user_id":"test1","pwd":null,"name":"test1","created_at":1660592867000}},"source":{{"version":"{}","connector":"mysql","name":"my-source-connect","ts_ms":1660592867000,"snapshot":"false","db":"mydb","sequence":null,"ts_us":1660592867000000,"ts_ns":1660592867000000000,"table":"users","server_id":1,"gtid":"0-1-28","file":"mysql-bin.000042","pos":1337,"row":0,"thread":null,"query":null}},"transaction":null,"op":"c","ts_ms":1660592868000,"ts_us":1660592868000000,"ts_ns":1660592868000000000}}}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert!(value.ends_with(&payload), "{value}");
    serde_json::from_str::<serde_json::Value>(&value).expect("valid JSON");
}

#[test]
fn debezium_delete_carries_before_and_reads_are_snapshots() {
    let mut enc = Encoder::new(opts(Envelope::Debezium));
    let del = enc
        .encode(&event(&seed_schema(), Op::Delete, Some(seed_row()), None))
        .expect("encodes");
    let v = text(del.value);
    assert!(
        v.contains(r#""payload":{"before":{"id":1,"#)
            && v.contains(r#""after":null"#)
            && v.contains(r#""op":"d""#)
    );
    let read = enc
        .encode(&event(&seed_schema(), Op::Read, None, Some(seed_row())))
        .expect("encodes");
    assert!(text(read.value).contains(r#""snapshot":"true""#));
    let err = enc
        .encode(&event(&seed_schema(), Op::Delete, None, None))
        .expect_err("no row");
    assert!(
        matches!(err, CodecError::MissingRow { op: "d", .. }),
        "{err}"
    );
}

#[test]
fn time_precision_and_decimal_handling_change_the_schema() {
    let schema = Arc::new(TableSchema {
        name: "t".into(),
        columns: vec![
            Column::new(
                "d",
                ColumnType::Decimal {
                    scale: 2,
                    precision: None,
                },
                true,
            ),
            Column::new("ts", ColumnType::Timestamp, true),
            Column::new("tm", ColumnType::Time, true),
        ],
        primary_key: vec![],
    });
    let row = vec![
        Value::Decimal("1.50".into()),
        Value::Timestamp(1_000_001),
        Value::Time(-1),
    ];
    let mut o = opts(Envelope::Flat);
    o.time_precision = TimePrecision::Micros;
    o.decimal_handling = DecimalHandling::String;
    let v = text(
        Encoder::new(o.clone())
            .encode(&event(&schema, Op::Create, None, Some(row.clone())))
            .expect("ok")
            .value,
    );
    assert!(
        v.contains(r#"{"type":"string","optional":true,"field":"d"}"#),
        "{v}"
    );
    assert!(v.contains(r#"{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"ts"}"#));
    assert!(v.contains(r#"{"type":"int64","optional":true,"name":"io.debezium.time.MicroTime","version":1,"field":"tm"}"#));
    assert!(
        v.ends_with(r#""payload":{"d":"1.50","ts":1000001,"tm":-1}}"#),
        "{v}"
    );
    o.decimal_handling = DecimalHandling::Double;
    let v = text(
        Encoder::new(o)
            .encode(&event(&schema, Op::Create, None, Some(row)))
            .expect("ok")
            .value,
    );
    assert!(
        v.contains(r#"{"type":"double","optional":true,"field":"d"}"#),
        "{v}"
    );
    assert!(v.contains(r#""d":1.5,"#));
}

#[test]
fn defaults_and_escaped_names_render_in_the_schema() {
    let mut id = Column::new("we\"ird \\ name", ColumnType::Int16, false);
    id.default = Some(Value::Int(7));
    let mut price = Column::new(
        "price",
        ColumnType::Decimal {
            scale: 2,
            precision: Some(10),
        },
        false,
    );
    price.default = Some(Value::Decimal("0".into()));
    let mut note = Column::new("note", ColumnType::String { max_len: None }, true);
    note.default = Some(Value::Null);
    let schema = Arc::new(TableSchema {
        name: "t".into(),
        columns: vec![id, price, note],
        primary_key: vec![],
    });
    let row = vec![Value::Null, Value::Decimal("12.34".into()), Value::Null];
    let v = text(
        Encoder::new(opts(Envelope::Flat))
            .encode(&event(&schema, Op::Create, None, Some(row)))
            .expect("ok")
            .value,
    );
    assert_eq!(
        v,
        r#"{"schema":{"type":"struct","fields":[{"type":"int16","optional":false,"default":7,"field":"we\"ird \\ name"},{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"default":"AA==","field":"price"},{"type":"string","optional":true,"field":"note"}],"optional":false,"name":"t"},"payload":{"we\"ird \\ name":7,"price":"BNI=","note":null}}"#
    );
}

#[test]
fn schema_cache_follows_schema_changes() {
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let first = enc
        .encode(&event(&seed_schema(), Op::Create, None, Some(seed_row())))
        .expect("ok");
    // Equal content behind a new Arc: same bytes.
    let again = enc
        .encode(&event(&seed_schema(), Op::Create, None, Some(seed_row())))
        .expect("ok");
    assert_eq!(first, again);
    let mut wider = (*seed_schema()).clone();
    wider
        .columns
        .push(Column::new("age", ColumnType::Int8, true));
    let mut row = seed_row();
    row.push(Value::Int(42));
    let changed = enc
        .encode(&event(&Arc::new(wider), Op::Create, None, Some(row)))
        .expect("ok");
    let v = text(changed.value);
    assert!(
        v.contains(r#"{"type":"int8","optional":true,"field":"age"}"#)
            && v.ends_with(r#","age":42}}"#),
        "{v}"
    );
}

#[test]
fn bad_rows_are_errors_naming_the_column() {
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let mut row = seed_row();
    row[0] = Value::Null;
    let e = enc
        .encode(&event(&seed_schema(), Op::Create, None, Some(row)))
        .expect_err("null id");
    assert_eq!(
        e.to_string(),
        "field `id` is required (optional=false, no default) but the value is null"
    );
    let mut row = seed_row();
    row[4] = Value::String("yesterday".into());
    let e = enc
        .encode(&event(&seed_schema(), Op::Create, None, Some(row)))
        .expect_err("bad type");
    assert_eq!(
        e.to_string(),
        "field `created_at`: expected a timestamp, found a string value"
    );
    let e = enc
        .encode(&event(
            &seed_schema(),
            Op::Create,
            None,
            Some(vec![Value::Int(1)]),
        ))
        .expect_err("short row");
    assert!(
        e.to_string()
            .contains("row has 1 values but the schema has 5 columns"),
        "{e}"
    );
    let e = enc
        .encode(&event(&seed_schema(), Op::Update, None, None))
        .expect_err("no row");
    assert!(matches!(e, CodecError::MissingRow { .. }));
    let mut bad_pk = (*seed_schema()).clone();
    bad_pk.primary_key = vec!["nope".into()];
    let e = enc
        .encode(&event(
            &Arc::new(bad_pk),
            Op::Create,
            None,
            Some(seed_row()),
        ))
        .expect_err("pk");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn debezium_row_errors_name_the_envelope_field() {
    let mut enc = Encoder::new(opts(Envelope::Debezium));
    let mut row = seed_row();
    row[0] = Value::Int(1 << 40);
    let e = enc
        .encode(&event(
            &seed_schema(),
            Op::Update,
            Some(seed_row()),
            Some(row),
        ))
        .expect_err("range");
    assert_eq!(
        e.to_string(),
        "field `after.id`: value 1099511627776 is out of range for int32"
    );
}

#[test]
fn recycled_buffers_carry_nothing_over_and_large_ones_are_freed() {
    let mut enc = Encoder::new(opts(Envelope::Flat));
    let ev = event(&seed_schema(), Op::Create, None, Some(seed_row()));
    let first = enc.encode(&ev).expect("encode");
    let want = (first.key.clone(), first.value.clone());
    // Buffers full of other bytes come back; the next message is the same.
    let mut junk = first.value.clone().expect("value");
    junk.extend_from_slice(b"stale bytes that must not survive");
    enc.recycle([junk, vec![b'x'; 100], vec![0; super::MAX_SPARE_BYTES + 1]]);
    assert_eq!(enc.spare.len(), 2, "the oversized buffer is not kept");
    let again = enc.encode(&ev).expect("encode");
    assert_eq!((again.key, again.value), want);
    assert!(enc.spare.is_empty(), "both spares were used");
}

/// A table of the MySQL types Debezium names itself, with their semantics
/// as the binlog source carries them.
fn semantic_schema() -> Arc<TableSchema> {
    let with = |name: &str, ty: ColumnType, semantic: Semantic| {
        let mut c = Column::new(name, ty, true);
        c.semantic = Some(semantic);
        c
    };
    let bytes = ColumnType::Bytes { max_len: None };
    let string = ColumnType::String { max_len: None };
    Arc::new(TableSchema {
        name: "users".into(),
        columns: vec![
            Column::new("id", ColumnType::Int32, false),
            with("b", bytes.clone(), Semantic::Bits { length: 10 }),
            with(
                "e",
                string.clone(),
                Semantic::Enum(vec!["a".into(), "b,c".into()]),
            ),
            with(
                "s",
                string.clone(),
                Semantic::Set(vec!["x".into(), "y".into()]),
            ),
            with("j", string, Semantic::Json),
            with("g", bytes, Semantic::Geometry),
            with(
                "ts",
                ColumnType::MicroTimestamp,
                Semantic::Timestamp { fsp: 6 },
            ),
            with("yr", ColumnType::Int32, Semantic::Year),
            with(
                "u",
                ColumnType::Decimal {
                    scale: 0,
                    precision: Some(20),
                },
                Semantic::UnsignedBigint,
            ),
        ],
        primary_key: vec!["id".into()],
    })
}

fn semantic_row(ts: i64) -> Vec<Value> {
    // POINT(3 4) with SRID 0 (MySQL's internal form: SRID, then WKB).
    let mut point = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
    point.extend_from_slice(&3f64.to_le_bytes());
    point.extend_from_slice(&4f64.to_le_bytes());
    vec![
        Value::Int(1),
        Value::Bytes(vec![0x02, 0x01]),
        Value::String("b,c".into()),
        Value::String("x,y".into()),
        Value::String("{\"a\":1}".into()),
        Value::Bytes(point),
        Value::Timestamp(ts),
        Value::Int(2024),
        Value::Decimal("18446744073709551615".into()),
    ]
}

#[test]
fn debezium_types_name_what_the_mysql_column_was() {
    let mut o = opts(Envelope::Debezium);
    o.debezium_types = true;
    o.decimal_handling = DecimalHandling::String;
    let mut enc = Encoder::new(o);
    let ev = event(
        &semantic_schema(),
        Op::Create,
        None,
        Some(semantic_row(1_000_000)),
    );
    let v = text(enc.encode(&ev).expect("encodes").value);
    for field in [
        r#"{"type":"bytes","optional":true,"name":"io.debezium.data.Bits","version":1,"parameters":{"length":"10"},"field":"b"}"#,
        r#"{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"a,b,c"},"field":"e"}"#,
        r#"{"type":"string","optional":true,"name":"io.debezium.data.EnumSet","version":1,"parameters":{"allowed":"x,y"},"field":"s"}"#,
        r#"{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"j"}"#,
        r#"{"type":"struct","fields":[{"type":"bytes","optional":false,"field":"wkb"},{"type":"int32","optional":true,"field":"srid"}],"optional":true,"name":"io.debezium.data.geometry.Geometry","version":1,"doc":"Geometry","field":"g"}"#,
        r#"{"type":"string","optional":true,"name":"io.debezium.time.ZonedTimestamp","version":1,"field":"ts"}"#,
        r#"{"type":"int32","optional":true,"name":"io.debezium.time.Year","version":1,"field":"yr"}"#,
        // BIGINT UNSIGNED stays a Decimal under decimal.handling.mode = string.
        r#"{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"0","connect.decimal.precision":"20"},"field":"u"}"#,
    ] {
        assert!(v.contains(field), "{field} in {v}");
    }
    assert!(
        v.contains(r#""b":"AQI=","e":"b,c","s":"x,y","j":"{\"a\":1}","g":{"wkb":"AQEAAAAAAAAAAAAIQAAAAAAAABBA","srid":null},"ts":"1970-01-01T00:00:01.000000Z","yr":2024,"u":"AP//////////"}"#),
        "{v}"
    );
    // A snapshot read leaves a zero fraction out, as Debezium's does.
    let read = event(
        &semantic_schema(),
        Op::Read,
        None,
        Some(semantic_row(1_000_000)),
    );
    let v = text(enc.encode(&read).expect("encodes").value);
    assert!(v.contains(r#""ts":"1970-01-01T00:00:01Z""#), "{v}");
    let read = event(
        &semantic_schema(),
        Op::Read,
        None,
        Some(semantic_row(1_500_000)),
    );
    let v = text(enc.encode(&read).expect("encodes").value);
    assert!(v.contains(r#""ts":"1970-01-01T00:00:01.500000Z""#), "{v}");
    // The flat envelope keeps Connect's types.
    let mut flat = Encoder::new(opts(Envelope::Flat));
    let v = text(flat.encode(&ev).expect("encodes").value);
    assert!(
        !v.contains("io.debezium.data") && v.contains(r#""b":"AgE=""#),
        "{v}"
    );
}
