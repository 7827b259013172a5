//! Tests for [`super`]: messages from Sluice, Debezium and other producers,
//! and every rejection.

use super::*;
use crate::event::Value;
use crate::schema::{Column, ColumnType};

const ORDERS: &str = include_str!("../../../tests/golden/plain_orders.json");
const DBZ_VALUE: &str = include_str!("../../../tests/golden/debezium_customers_update.value.json");
const DBZ_KEY: &str = include_str!("../../../tests/golden/debezium_customers.key.json");

fn value_only(json: &str) -> Result<Decoded, CodecError> {
    decode(None, Some(json.as_bytes()))
}

fn err(json: &str) -> String {
    value_only(json).expect_err("rejected").to_string()
}

fn struct_msg(fields: &str, payload: &str) -> String {
    format!(
        r#"{{"schema":{{"type":"struct","fields":[{fields}],"optional":false,"name":"t"}},"payload":{payload}}}"#
    )
}

#[test]
fn plain_struct_from_another_producer() {
    let d = value_only(ORDERS).expect("decodes");
    assert_eq!(d.op, Op::Create);
    assert!(d.key.is_none() && d.before.is_none() && d.ts_ms.is_none());
    let (schema, row) = d.value.expect("row");
    assert_eq!(schema.name, "orders");
    assert!(schema.primary_key.is_empty());
    assert_eq!(
        schema.columns[0],
        Column::new("order_id", ColumnType::Int64, false)
    );
    assert_eq!(
        schema.columns[1],
        Column::new("item", ColumnType::String { max_len: None }, true)
    );
    assert_eq!(row, vec![Value::Int(5), Value::String("book".into())]);
}

#[test]
fn debezium_update_from_debezium_itself() {
    let d = decode(Some(DBZ_KEY.as_bytes()), Some(DBZ_VALUE.as_bytes())).expect("decodes");
    assert_eq!(d.op, Op::Update);
    assert_eq!(d.ts_ms, Some(1_709_288_130_000), "source.ts_ms");
    let (key_schema, key) = d.key.expect("key");
    assert_eq!(key_schema.name, "dbserver1.inventory.customers.Key");
    assert_eq!(key_schema.primary_key, vec!["id".to_string()]);
    assert_eq!(key, vec![Value::Int(1004)]);
    let (schema, after) = d.value.expect("after");
    assert_eq!(schema.name, "dbserver1.inventory.customers.Value");
    let types: Vec<&ColumnType> = schema.columns.iter().map(|c| &c.ty).collect();
    assert_eq!(
        types,
        [
            &ColumnType::Int32,
            &ColumnType::String { max_len: None },
            &ColumnType::String { max_len: None },
            &ColumnType::Decimal {
                scale: 2,
                precision: Some(10)
            },
            &ColumnType::Date,
            &ColumnType::Timestamp,
            &ColumnType::MicroTimestamp,
            &ColumnType::String { max_len: None },
            &ColumnType::Float32,
            &ColumnType::Decimal {
                scale: 0,
                precision: Some(20)
            },
            &ColumnType::String { max_len: None },
        ]
    );
    assert_eq!(schema.columns[5].default, Some(Value::Timestamp(0)));
    assert_eq!(
        after,
        vec![
            Value::Int(1004),
            Value::String("Anne Marie".into()),
            Value::String("annek@noanswer.org".into()),
            Value::Decimal("1234.50".into()),
            Value::Date(7441),
            Value::Timestamp(1_562_054_400_000_000),
            Value::Timestamp(1_709_288_130_123_456),
            Value::String("{\"vip\":true}".into()),
            Value::Float32(4.5),
            Value::Decimal("18446744073709551615".into()),
            Value::String("gold".into()),
        ]
    );
    let before = d.before.expect("before image");
    assert_eq!(before[3], Value::Decimal("1233.50".into()));
    assert_eq!(before[6], Value::Timestamp(1_709_110_800_000_000));
}

#[test]
fn debezium_delete_uses_before_and_other_ops() {
    let del = DBZ_VALUE.replace(r#""op": "u""#, r#""op": "d""#);
    let d = value_only(&del).expect("decodes");
    assert_eq!(d.op, Op::Delete);
    assert_eq!(
        d.value.expect("before row").1[1],
        Value::String("Anne".into())
    );
    assert!(d.before.is_none());
    let e = err(&DBZ_VALUE.replace(r#""op": "u""#, r#""op": "t""#));
    assert_eq!(e, "unsupported Debezium op `t`");
    let no_after = DBZ_VALUE
        .replace(r#""op": "u""#, r#""op": "c""#)
        .replace(r#""after": {"#, r#""after": null, "x": {"#);
    assert_eq!(
        err(&no_after),
        "op `c` needs the `after` row, which is missing"
    );
    let read = DBZ_VALUE.replace(r#""op": "u""#, r#""op": "r""#);
    assert_eq!(value_only(&read).expect("decodes").op, Op::Read);
}

#[test]
fn envelope_row_errors_name_before_or_after() {
    let bad = DBZ_VALUE.replace(
        r#""id": 1004,
      "first_name": "Anne Marie""#,
        r#""id": "x",
      "first_name": "Anne Marie""#,
    );
    assert_eq!(
        err(&bad),
        r#"field `after.id`: expected an integer, found string "x""#
    );
}

#[test]
fn tombstones_in_every_spelling() {
    let key = br#"{"schema":{"type":"int64","optional":false},"payload":42}"#;
    for value in [
        None,
        Some(&b""[..]),
        Some(&b"null"[..]),
        Some(&br#"{"schema":null,"payload":null}"#[..]),
    ] {
        let d = decode(Some(key), value).expect("tombstone");
        assert_eq!(d.op, Op::Delete);
        assert!(d.value.is_none());
        let (schema, row) = d.key.expect("key");
        assert_eq!(row, vec![Value::Int(42)]);
        assert_eq!(
            schema.columns[0].name, "",
            "primitive key: one unnamed column"
        );
        assert_eq!(schema.columns[0].ty, ColumnType::Int64);
    }
    let optional_struct =
        r#"{"schema":{"type":"struct","fields":[],"optional":true},"payload":null}"#;
    assert_eq!(
        value_only(optional_struct).expect("tombstone").op,
        Op::Delete
    );
    let required_struct =
        r#"{"schema":{"type":"struct","fields":[],"optional":false},"payload":null}"#;
    assert!(err(required_struct).contains("field `value` is required"));
}

#[test]
fn keys_struct_primitive_and_absent() {
    let key = br#"{"schema":{"type":"struct","fields":[{"type":"string","optional":false,"field":"a"},{"type":"int8","optional":false,"field":"b"}],"optional":false},"payload":{"a":"x","b":1}}"#;
    let d = decode(Some(key), Some(ORDERS.as_bytes())).expect("decodes");
    let (schema, row) = d.key.expect("key");
    assert_eq!(schema.primary_key, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(row, vec![Value::String("x".into()), Value::Int(1)]);
    let string_key = br#"{"schema":{"type":"string","optional":false,"name":"k"},"payload":"abc"}"#;
    let (schema, row) = decode(Some(string_key), None)
        .expect("decodes")
        .key
        .expect("key");
    assert_eq!(
        (schema.name.as_str(), row),
        ("k", vec![Value::String("abc".into())])
    );
    let null_key = br#"{"schema":null,"payload":null}"#;
    assert!(decode(Some(null_key), None).expect("decodes").key.is_none());
    let e = decode(Some(b"abc"), None).expect_err("not JSON");
    assert!(e.to_string().starts_with("key is not valid JSON"), "{e}");
}

#[test]
fn rejects_messages_without_the_connect_envelope() {
    let e = err(r#"{"order_id":5,"item":"book"}"#);
    assert!(
        e.contains(r#"JsonConverter with schemas.enable requires "schema" and "payload" fields and may not contain additional fields"#),
        "{e}"
    );
    assert!(e.contains(r#"unexpected field "order_id""#), "{e}");
    let e = err(r#"{"payload":{"a":1}}"#);
    assert!(e.contains(r#"no "schema" field"#), "{e}");
    let e = err(r#"{"schema":{"type":"int32"}}"#);
    assert!(e.contains(r#"no "payload" field"#), "{e}");
    let extra = ORDERS.replacen('{', r#"{"extra":1,"#, 1);
    assert!(err(&extra).contains(r#"unexpected field "extra""#));
    assert!(err("[1,2]").contains("the message is an array"));
    assert!(err("5").contains("the message is a number"));
    assert!(err("{\"schema\":").starts_with("value is not valid JSON"));
    assert_eq!(
        err(r#"{"schema":null,"payload":{"a":1}}"#),
        "value: the schema is null but the payload is not; schemaless messages are not supported"
    );
}

#[test]
fn rejects_payloads_that_do_not_match_the_schema() {
    let f = r#"{"type":"int32","optional":false,"field":"qty"}"#;
    assert_eq!(
        err(&struct_msg(f, r#"{"qty":"7"}"#)),
        r#"field `qty`: expected an integer, found string "7""#
    );
    assert_eq!(
        err(&struct_msg(f, r#"{"qty":null}"#)),
        "field `qty` is required (optional=false, no default) but the value is null"
    );
    assert!(err(&struct_msg(f, "{}")).contains("field `qty` is required"));
    let b = r#"{"type":"bytes","optional":true,"field":"blob"}"#;
    assert!(err(&struct_msg(b, r#"{"blob":"not base64!"}"#))
        .starts_with("field `blob`: invalid base64"));
    let small = r#"{"type":"int8","optional":true,"field":"tiny"}"#;
    assert_eq!(
        err(&struct_msg(small, r#"{"tiny":300}"#)),
        "field `tiny`: value 300 is out of range for int8"
    );
    assert!(err(&struct_msg(f, "[1]")).contains("expected a struct (JSON object)"));
}

#[test]
fn missing_fields_take_defaults_and_extra_fields_are_ignored() {
    let fields = r#"{"type":"int32","optional":false,"default":9,"field":"a"},{"type":"string","optional":true,"field":"b"}"#;
    let d = value_only(&struct_msg(fields, r#"{"zzz":1}"#)).expect("decodes");
    assert_eq!(d.value.expect("row").1, vec![Value::Int(9), Value::Null]);
    let bad_default = r#"{"type":"int32","optional":false,"default":"x","field":"a"}"#;
    assert!(err(&struct_msg(bad_default, "{}")).contains("invalid schema at `a`: bad default"));
}

#[test]
fn nested_columns_are_unsupported_not_panics() {
    let nested = r#"{"type":"struct","fields":[],"optional":true,"name":"inner","field":"addr"}"#;
    assert_eq!(
        err(&struct_msg(nested, r#"{"addr":null}"#)),
        "field `addr` has type struct (inner), which is unsupported for a table column"
    );
    let arr = r#"{"type":"array","items":{"type":"int32","optional":false},"optional":true,"field":"tags"}"#;
    assert!(err(&struct_msg(arr, "{}")).contains("`tags` has type array"));
    let map = r#"{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},"optional":true,"field":"m"}"#;
    assert!(err(&struct_msg(map, "{}")).contains("`m` has type map"));
    assert!(
        err(r#"{"schema":{"type":"string","optional":false},"payload":"x"}"#)
            .contains("expected a struct schema")
    );
}

#[test]
fn field_names_map_through_exactly() {
    let f = r#"{"type":"int32","optional":true,"field":" Mixed Case "},{"type":"int32","optional":true,"field":"esc\"aped"}"#;
    let d = value_only(&struct_msg(f, r#"{" Mixed Case ":1,"esc\"aped":2}"#)).expect("decodes");
    let (schema, row) = d.value.expect("row");
    assert_eq!(schema.columns[0].name, " Mixed Case ");
    assert_eq!(schema.columns[1].name, "esc\"aped");
    assert_eq!(row, vec![Value::Int(1), Value::Int(2)]);
    let d = value_only(&struct_msg(f, r#"{"esc\"aped":2," Mixed Case ":1}"#)).expect("any order");
    assert_eq!(d.value.expect("row").1, vec![Value::Int(1), Value::Int(2)]);
}

#[test]
fn decimals_as_bytes_or_numbers() {
    let f = r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"3"},"field":"p"}"#;
    let row = |p: &str| {
        value_only(&struct_msg(f, p))
            .expect("decodes")
            .value
            .expect("row")
            .1
    };
    assert_eq!(row(r#"{"p":"BNI="}"#), vec![Value::Decimal("1.234".into())]);
    assert_eq!(row(r#"{"p":-1.5}"#), vec![Value::Decimal("-1.500".into())]);
    assert_eq!(
        row(r#"{"p":123456789012345678901234567890.123}"#),
        vec![Value::Decimal("123456789012345678901234567890.123".into())]
    );
    let no_scale = f.replace(r#""parameters":{"scale":"3"},"#, "");
    assert!(err(&struct_msg(&no_scale, r#"{"p":"AA=="}"#)).contains("no `scale` parameter"));
}

#[test]
fn schema_cache_reuses_compiled_schemas() {
    let mut dec = Decoder::new();
    let a = dec
        .decode(None, Some(ORDERS.as_bytes()))
        .expect("first")
        .value
        .expect("row")
        .0;
    let b = dec
        .decode(None, Some(ORDERS.as_bytes()))
        .expect("second")
        .value
        .expect("row")
        .0;
    assert!(
        Arc::ptr_eq(&a, &b),
        "same schema text → same Arc<TableSchema>"
    );
    let other = struct_msg(
        r#"{"type":"int8","optional":true,"field":"x"}"#,
        r#"{"x":1}"#,
    );
    dec.decode(None, Some(other.as_bytes())).expect("other");
    let c = dec
        .decode(None, Some(ORDERS.as_bytes()))
        .expect("third")
        .value
        .expect("row")
        .0;
    assert!(Arc::ptr_eq(&a, &c), "found again through the map");
}

#[test]
fn repeated_schema_text_takes_the_fast_path_with_the_same_result_and_errors() {
    let fields = r#"{"type":"int32","optional":false,"field":"a"}"#;
    let first = struct_msg(fields, r#"{"a":1}"#);
    let second = struct_msg(fields, r#" {"a":2} "#);
    let mut d = Decoder::new();
    let one = d.decode(None, Some(first.as_bytes())).expect("first");
    let two = d.decode(None, Some(second.as_bytes())).expect("second");
    assert_eq!(two, value_only(&second).expect("general path"));
    assert!(Arc::ptr_eq(
        &one.value.expect("row").0,
        &two.value.as_ref().expect("row").0
    ));
    // A repeated payload key falls back to the general path (the last one wins).
    let twice = struct_msg(fields, r#"{"a":3},"payload":{"a":4}"#);
    assert_eq!(
        d.decode(None, Some(twice.as_bytes()))
            .expect("general path"),
        value_only(&twice).expect("general path")
    );
    // Same schema text, but a field after the payload or a broken payload:
    // rejected exactly as the general path rejects them.
    for bad in [
        struct_msg(fields, r#"{"a":3},"x":1"#),
        struct_msg(fields, r#"{"a":"#),
    ] {
        let fast = d.decode(None, Some(bad.as_bytes())).expect_err("rejected");
        assert_eq!(fast.to_string(), err(&bad), "{bad}");
    }
    // A null payload is read as the general path reads it.
    let null = struct_msg(fields, "null");
    assert_eq!(
        format!("{:?}", d.decode(None, Some(null.as_bytes()))),
        format!("{:?}", value_only(&null))
    );
}

#[test]
fn wide_payloads_in_any_field_order_decode() {
    // 5,000 fields, the payload's in reverse order with an undeclared field
    // first: each value reaches its column (names found through one index).
    const N: usize = 5_000;
    let fields = (0..N)
        .map(|i| format!(r#"{{"type":"int64","optional":false,"field":"f{i}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let payload = format!(
        "{{\"extra\":0,{}}}",
        (0..N)
            .rev()
            .map(|i| format!("\"f{i}\":{i}"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let (schema, row) = value_only(&struct_msg(&fields, &payload))
        .expect("decodes")
        .value
        .expect("row");
    assert_eq!(schema.columns.len(), N);
    assert_eq!(row, (0..N as i64).map(Value::Int).collect::<Vec<_>>());
    let dup = r#"{"type":"int64","optional":false,"field":"a"},{"type":"int64","optional":false,"field":"a"}"#;
    assert!(err(&struct_msg(dup, "{}")).contains("duplicate field `a`"));
}
