//! Cross-module tests: encode → decode round trips for every type and both
//! envelopes, and decoding of damaged messages (never a panic).

use std::sync::Arc;

use super::options::{DecimalHandling, Envelope, TimePrecision};
use super::*;
use crate::event::{ChangeEvent, Op, TableId, Value};
use crate::position::Position;
use crate::schema::{Column, ColumnType, TableSchema};

mod avro_direct;

fn opts(envelope: Envelope, time_precision: TimePrecision) -> EncodeOptions {
    EncodeOptions {
        envelope,
        decimal_handling: DecimalHandling::Precise,
        time_precision,
        connector: "mysql".into(),
        server_name: "src".into(),
        debezium_types: false,
    }
}

fn all_types() -> (Arc<TableSchema>, Vec<Vec<Value>>) {
    let col = |n: &str, ty, opt| Column::new(n, ty, opt);
    let schema = Arc::new(TableSchema {
        name: "all_types".into(),
        columns: vec![
            col("id", ColumnType::Int64, false),
            col("i8", ColumnType::Int8, true),
            col("i16", ColumnType::Int16, true),
            col("i32", ColumnType::Int32, true),
            col("f32", ColumnType::Float32, true),
            col("f64", ColumnType::Float64, true),
            col("flag", ColumnType::Boolean, true),
            col("txt", ColumnType::String { max_len: None }, true),
            col("bin", ColumnType::Bytes { max_len: None }, true),
            col(
                "money",
                ColumnType::Decimal {
                    scale: 2,
                    precision: Some(10),
                },
                true,
            ),
            col(
                "huge",
                ColumnType::Decimal {
                    scale: 30,
                    precision: Some(65),
                },
                true,
            ),
            col(
                "ubig",
                ColumnType::Decimal {
                    scale: 0,
                    precision: Some(20),
                },
                true,
            ),
            col("day", ColumnType::Date, true),
            col("tod", ColumnType::Time, true),
            col("at", ColumnType::Timestamp, true),
        ],
        primary_key: vec!["id".into()],
    });
    let max_65_30 = format!("{}.{}", "9".repeat(35), "9".repeat(30));
    let rows = vec![
        vec![
            Value::Int(i64::MAX),
            Value::Int(-128),
            Value::Int(32_767),
            Value::Int(i64::from(i32::MIN)),
            Value::Float32(3.25),
            Value::Float64(-1.0e-300),
            Value::Boolean(true),
            Value::String("quote \" backslash \\ nul \u{0} emoji 😀".into()),
            Value::Bytes(vec![0, 1, 0xFF, 0]),
            Value::Decimal("-12345678.90".into()),
            Value::Decimal(format!("-{max_65_30}")),
            Value::Decimal("18446744073709551615".into()),
            Value::Date(-25_567),
            Value::Time(86_399_999_000),
            Value::Timestamp(-1_000),
        ],
        vec![
            Value::Int(i64::MIN),
            Value::Int(127),
            Value::Int(-32_768),
            Value::Int(i64::from(i32::MAX)),
            Value::Float32(-0.0),
            Value::Float64(f64::MAX),
            Value::Boolean(false),
            Value::String(String::new()),
            Value::Bytes(vec![]),
            Value::Decimal("0.00".into()),
            Value::Decimal(max_65_30),
            Value::Decimal("0".into()),
            Value::Date(2_932_896),
            Value::Time(0),
            Value::Timestamp(253_402_300_799_000_000),
        ],
        {
            let mut nulls = vec![Value::Null; 15];
            nulls[0] = Value::Int(0);
            nulls
        },
    ];
    (schema, rows)
}

fn event(
    schema: &Arc<TableSchema>,
    op: Op,
    before: Option<Vec<Value>>,
    after: Option<Vec<Value>>,
) -> ChangeEvent {
    ChangeEvent {
        table: TableId::new("db", "all_types").into(),
        op,
        before,
        after,
        schema: Arc::clone(schema),
        position: Position::None,
        ts_ms: 1_700_000_000_000,
    }
}

#[test]
fn flat_round_trip_for_every_type() {
    let (schema, rows) = all_types();
    let mut enc = Encoder::new(opts(Envelope::Flat, TimePrecision::Connect));
    let mut dec = Decoder::new();
    for row in rows {
        let out = enc
            .encode(&event(&schema, Op::Create, None, Some(row.clone())))
            .expect("encodes");
        let d = dec
            .decode(out.key.as_deref(), out.value.as_deref())
            .expect("decodes");
        assert_eq!(d.op, Op::Create);
        let (value_schema, back) = d.value.expect("row");
        assert_eq!(back, row);
        assert_eq!(
            value_schema.columns, schema.columns,
            "types survive the trip"
        );
        assert_eq!(value_schema.name, "all_types");
        let (key_schema, key) = d.key.expect("key");
        assert_eq!(key, vec![row[0].clone()]);
        assert_eq!(key_schema.primary_key, vec!["id".to_string()]);
    }
}

#[test]
fn debezium_round_trip_for_every_op() {
    let (schema, rows) = all_types();
    let mut enc = Encoder::new(opts(Envelope::Debezium, TimePrecision::Connect));
    let mut dec = Decoder::new();
    let (a, b) = (rows[0].clone(), rows[1].clone());
    let cases = [
        (Op::Create, None, Some(a.clone())),
        (Op::Read, None, Some(a.clone())),
        (Op::Update, Some(a.clone()), Some(b.clone())),
        (Op::Delete, Some(b.clone()), None),
    ];
    for (op, before, after) in cases {
        let out = enc
            .encode(&event(&schema, op, before.clone(), after.clone()))
            .expect("encodes");
        let d = dec
            .decode(out.key.as_deref(), out.value.as_deref())
            .expect("decodes");
        assert_eq!(d.op, op);
        assert_eq!(d.ts_ms, Some(1_700_000_000_000));
        let (value_schema, row) = d.value.expect("row");
        assert_eq!(value_schema.name, "src.db.all_types.Value");
        assert_eq!(value_schema.columns, schema.columns);
        match op {
            Op::Delete => assert_eq!(Some(row), before),
            _ => {
                assert_eq!(Some(row), after);
                assert_eq!(d.before, before);
            }
        }
        assert_eq!(d.key.expect("key").0.name, "src.db.all_types.Key");
    }
}

#[test]
fn micro_precision_round_trip_is_lossless() {
    let schema = Arc::new(TableSchema {
        name: "t".into(),
        columns: vec![
            Column::new("tod", ColumnType::Time, true),
            Column::new("at", ColumnType::Timestamp, true),
        ],
        primary_key: vec![],
    });
    let row = vec![Value::Time(-3_020_399_999_999), Value::Timestamp(-1)];
    let mut enc = Encoder::new(opts(Envelope::Flat, TimePrecision::Micros));
    let out = enc
        .encode(&event(&schema, Op::Create, None, Some(row.clone())))
        .expect("encodes");
    let (s, back) = decode(None, out.value.as_deref())
        .expect("decodes")
        .value
        .expect("row");
    assert_eq!(back, row);
    assert_eq!(s.columns[0].ty, ColumnType::MicroTime);
    assert_eq!(s.columns[1].ty, ColumnType::MicroTimestamp);
}

#[test]
fn millisecond_times_floor_on_the_way_out() {
    let schema = Arc::new(TableSchema {
        name: "t".into(),
        columns: vec![Column::new("at", ColumnType::Timestamp, false)],
        primary_key: vec![],
    });
    let mut enc = Encoder::new(opts(Envelope::Flat, TimePrecision::Connect));
    let out = enc
        .encode(&event(
            &schema,
            Op::Create,
            None,
            Some(vec![Value::Timestamp(-1_500)]),
        ))
        .expect("ok");
    let (_, back) = decode(None, out.value.as_deref())
        .expect("decodes")
        .value
        .expect("row");
    assert_eq!(
        back,
        vec![Value::Timestamp(-2_000)],
        "floor(-1.5 ms) = -2 ms"
    );
}

#[test]
fn golden_seed_decodes_to_the_seed_row() {
    let golden = include_str!("../../tests/golden/seed_users.json");
    let (schema, row) = decode(None, Some(golden.as_bytes()))
        .expect("decodes")
        .value
        .expect("row");
    assert_eq!(schema.name, "users");
    assert_eq!(row[4], Value::Timestamp(1_660_592_867_000_000));
    assert_eq!(row[2], Value::Null);
}

/// Damaged messages (truncated, bytes flipped) must fail cleanly, never panic.
#[test]
fn damaged_messages_never_panic() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let (schema, rows) = all_types();
    let mut samples: Vec<Vec<u8>> = vec![
        include_bytes!("../../tests/golden/debezium_customers_update.value.json").to_vec(),
        include_bytes!("../../tests/golden/seed_users.json").to_vec(),
    ];
    for env in [Envelope::Flat, Envelope::Debezium] {
        let mut enc = Encoder::new(opts(env, TimePrecision::Connect));
        let out = enc
            .encode(&event(
                &schema,
                Op::Update,
                Some(rows[1].clone()),
                Some(rows[0].clone()),
            ))
            .expect("ok");
        samples.extend(out.value);
        samples.extend(out.key);
    }
    const ALPHABET: &[u8] = b"{}[]\",:0123456789-.eE nultrfasAZ\\/+=";
    let mut dec = Decoder::new();
    for sample in &samples {
        for _ in 0..400 {
            let mut m = sample.clone();
            match rng.random_range(0..3) {
                0 => m.truncate(rng.random_range(0..m.len())),
                1 => {
                    for _ in 0..rng.random_range(1..4) {
                        let i = rng.random_range(0..m.len());
                        m[i] = ALPHABET[rng.random_range(0..ALPHABET.len())];
                    }
                }
                _ => {
                    let i = rng.random_range(0..m.len());
                    let j = rng.random_range(i..m.len());
                    m.drain(i..j);
                }
            }
            let _ = dec.decode(Some(&m), Some(&m));
        }
    }
}
