//! The encoder's direct Avro and JSON Schema bodies ([`Encoder::with_avro`],
//! [`Encoder::with_json_schema`]) against the path they replace, kept here
//! as the oracle: the Connect JSON message, parsed, its schema derived
//! ([`avro::from_connect`], [`jsonschema::from_connect`]) and its payload
//! encoded ([`avro::encode`], [`jsonschema::encode`]). Same schema text and,
//! for Avro, the same bytes; for JSON Schema the same header and the same
//! JSON (floats may be spelled differently: Java's `1.0E7` here, `1e7`
//! there), over the type matrix, both envelopes, every operation and every
//! time and decimal setting.

use serde_json::Value as Json;

use super::{all_types, event};
use crate::connect::options::{DecimalHandling, Envelope, TimePrecision};
use crate::connect::{avro, jsonschema, EncodeOptions, Encoder, Framed, MessagePart, SourceInfo};
use crate::event::{ChangeEvent, Op, Value};
use crate::schema::{Column, ColumnType, TableSchema};
use std::sync::Arc;

/// Which direct body is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Direct {
    Avro,
    JsonSchema,
}

impl Direct {
    fn encoder(self, opts: &EncodeOptions) -> Encoder {
        let e = Encoder::new(opts.clone());
        match self {
            Direct::Avro => e.with_avro(true, true),
            Direct::JsonSchema => e.with_json_schema(true, true),
        }
    }
}

/// The old path: Connect JSON → (Avro schema text, framed Avro body).
fn via_json(json: &[u8], part: MessagePart) -> (String, Vec<u8>) {
    let msg: Json = serde_json::from_slice(json).expect("connect json");
    let schema = avro::from_connect(&msg["schema"], part).expect("avro schema");
    let mut out = vec![0; 5];
    avro::encode(&schema, &msg["payload"], &mut out).expect("avro body");
    (schema.text, out)
}

/// The old path: Connect JSON → (JSON Schema text, framed JSON body).
fn via_json_schema(json: &[u8], part: MessagePart) -> (String, Vec<u8>) {
    let msg: Json = serde_json::from_slice(json).expect("connect json");
    let plan = jsonschema::from_connect(&msg["schema"], part).expect("json schema");
    let mut out = vec![0; 5];
    jsonschema::encode(&plan, &msg["payload"], &mut out).expect("json schema body");
    (plan.text, out)
}

/// Asserts that `direct` (with `schema`) is what the old path makes of `json`.
fn same_body(kind: Direct, part: MessagePart, json: &[u8], direct: &[u8], schema: &Option<Framed>) {
    match (kind, schema) {
        (Direct::Avro, Some(Framed::Avro(s))) => {
            let (text, body) = via_json(json, part);
            assert_eq!(s.text, text);
            assert_eq!(direct, &body[..], "{part}");
        }
        (Direct::JsonSchema, Some(Framed::Json(s))) => {
            let (text, body) = via_json_schema(json, part);
            assert_eq!(s.text, text);
            assert_eq!(direct.get(..5), Some(&[0u8; 5][..]), "{part}: header");
            let parse = |b: &[u8]| -> Json {
                serde_json::from_slice(&b[5..])
                    .unwrap_or_else(|e| panic!("{part}: {e}: {}", String::from_utf8_lossy(b)))
            };
            assert_eq!(parse(direct), parse(&body), "{part}");
        }
        (kind, schema) => panic!("{part}: {kind:?} body with schema {schema:?}"),
    }
}

fn info() -> SourceInfo<'static> {
    SourceInfo {
        snapshot: None,
        server_id: 7,
        gtid: Some("0-7-42".into()),
        file: "bin.000003".into(),
        pos: 4711,
        row: 2,
        thread: Some(99),
        query: Some("INSERT INTO all_types VALUES (…)".into()),
        processed_ts_us: Some(1_700_000_000_123_000),
    }
}

fn options(envelope: Envelope, time: TimePrecision, decimals: DecimalHandling) -> EncodeOptions {
    EncodeOptions {
        envelope,
        decimal_handling: decimals,
        time_precision: time,
        connector: "mysql".into(),
        server_name: "src-1".into(),
        debezium_types: false,
    }
}

/// Encodes `ev` both ways and asserts the same schemas and bodies; returns
/// how many messages were compared.
fn same(opts: &EncodeOptions, ev: &ChangeEvent, kind: Direct) -> usize {
    let info = info();
    let json = Encoder::new(opts.clone()).encode_with(ev, &info);
    let direct = kind.encoder(opts).encode_with(ev, &info);
    let (json, direct) = match (json, direct) {
        (Ok(j), Ok(d)) => (j, d),
        (Err(j), Err(d)) => {
            assert_eq!(j.to_string(), d.to_string(), "same error for {ev:?}");
            return 0;
        }
        (j, d) => panic!("one path failed: json {j:?}, {kind:?} {d:?}"),
    };
    let mut compared = 0;
    for (part, j, d, schema) in [
        (MessagePart::Key, &json.key, &direct.key, &direct.key_framed),
        (
            MessagePart::Value,
            &json.value,
            &direct.value,
            &direct.value_framed,
        ),
    ] {
        match (j, d) {
            (Some(j), Some(d)) => {
                same_body(kind, part, j, d, schema);
                compared += 1;
            }
            (None, None) => assert!(schema.is_none()),
            _ => panic!("{part}: one path wrote a message, the other none"),
        }
    }
    compared
}

#[test]
fn direct_avro_equals_the_json_round_trip_over_the_type_matrix() {
    let (schema, rows) = all_types();
    let mut compared = 0;
    for envelope in [Envelope::Flat, Envelope::Debezium] {
        for time in [
            TimePrecision::Connect,
            TimePrecision::Micros,
            TimePrecision::Adaptive,
            TimePrecision::AdaptiveTimeMicroseconds,
        ] {
            for decimals in [
                DecimalHandling::Precise,
                DecimalHandling::String,
                DecimalHandling::Double,
            ] {
                let opts = options(envelope, time, decimals);
                for (i, row) in rows.iter().enumerate() {
                    let other = &rows[(i + 1) % rows.len()];
                    for (op, before, after) in [
                        (Op::Create, None, Some(row.clone())),
                        (Op::Read, None, Some(row.clone())),
                        (Op::Update, Some(other.clone()), Some(row.clone())),
                        (Op::Update, None, Some(row.clone())),
                        (Op::Delete, Some(row.clone()), None),
                    ] {
                        for kind in [Direct::Avro, Direct::JsonSchema] {
                            compared += same(
                                &opts,
                                &event(&schema, op, before.clone(), after.clone()),
                                kind,
                            );
                        }
                    }
                }
            }
        }
    }
    // 2 envelopes × 4 × 3 settings × 3 rows × 5 ops, a key and a value each,
    // less the flat deletes' values (tombstones); for both direct bodies.
    assert_eq!(compared, 2 * (2 * 4 * 3 * 3 * 5 * 2 - 4 * 3 * 3));
}

#[test]
fn defaults_nulls_and_non_finite_floats_match() {
    let with_default = |name: &str, ty, default: Value| {
        let mut c = Column::new(name, ty, true);
        c.default = Some(default);
        c
    };
    let schema = Arc::new(TableSchema {
        name: "defaults".into(),
        columns: vec![
            Column::new("id", ColumnType::Int32, false),
            with_default("qty", ColumnType::Int32, Value::Int(7)),
            with_default(
                "label",
                ColumnType::String { max_len: None },
                Value::String("none".into()),
            ),
            with_default(
                "price",
                ColumnType::Decimal {
                    scale: 2,
                    precision: Some(8),
                },
                Value::Decimal("1.50".into()),
            ),
            Column::new("f32", ColumnType::Float32, true),
            Column::new("f64", ColumnType::Float64, true),
            Column::new("req", ColumnType::Float64, false),
        ],
        primary_key: vec!["id".into(), "label".into()],
    });
    let rows = [
        vec![
            Value::Int(1),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Float32(f32::NAN),
            Value::Float64(f64::NEG_INFINITY),
            Value::Float64(0.1),
        ],
        vec![
            Value::Int(-2),
            Value::Int(3),
            Value::String("x".into()),
            Value::Decimal("-0.01".into()),
            Value::Float32(f32::MIN_POSITIVE),
            Value::Float32(0.1),
            Value::Float64(1e300),
        ],
        // Errors must be the same too: a non-finite float in a required column.
        vec![
            Value::Int(3),
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Null,
            Value::Float64(f64::NAN),
        ],
    ];
    let mut compared = 0;
    for envelope in [Envelope::Flat, Envelope::Debezium] {
        let opts = options(envelope, TimePrecision::Connect, DecimalHandling::Precise);
        for row in &rows {
            for kind in [Direct::Avro, Direct::JsonSchema] {
                compared += same(
                    &opts,
                    &event(&schema, Op::Create, None, Some(row.clone())),
                    kind,
                );
            }
        }
    }
    assert_eq!(compared, 2 * 2 * 2 * 2, "the third row fails on both paths");
}

#[test]
fn floats_are_exact_where_the_json_round_trip_is_not_always() {
    let schema = Arc::new(TableSchema {
        name: "floats".into(),
        columns: vec![
            Column::new("f32", ColumnType::Float32, false),
            Column::new("f64", ColumnType::Float64, false),
        ],
        primary_key: vec![],
    });
    let opts = options(
        Envelope::Flat,
        TimePrecision::Connect,
        DecimalHandling::Precise,
    );
    let mut json = Encoder::new(opts.clone());
    let mut direct = Encoder::new(opts).with_avro(false, true);
    // A deterministic spread of bit patterns (xorshift), finite ones only.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let (mut compared, mut json_off) = (0, 0);
    for _ in 0..5_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let (f, d) = (f32::from_bits(x as u32), f64::from_bits(x));
        if !f.is_finite() || !d.is_finite() {
            continue;
        }
        let ev = event(
            &schema,
            Op::Create,
            None,
            Some(vec![Value::Float32(f), Value::Float64(d)]),
        );
        let got = direct.encode(&ev).expect("avro").value.expect("value");
        let mut exact = vec![0; 5];
        exact.extend_from_slice(&f.to_le_bytes());
        exact.extend_from_slice(&d.to_le_bytes());
        assert_eq!(got, exact, "{f} {d}");
        let old = json.encode(&ev).expect("json").value.expect("value");
        let (_, old) = via_json(&old, MessagePart::Value);
        // The old path's f32 is always right; its f64 was one ulp off for
        // about 30% of these bit patterns (extreme exponents, 17 digits):
        // serde_json parses floats "best effort" without its
        // `float_roundtrip` feature. The direct path parses nothing.
        assert_eq!(old[..9], exact[..9], "{f}");
        json_off += usize::from(old != exact);
        compared += 1;
    }
    assert!(compared > 4_000, "{compared}");
    println!("the JSON round trip was off for {json_off} of {compared} doubles");
}
