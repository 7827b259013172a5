//! Per-type tests for [`super`] (values): every wire form, its edge values, and the
//! value → JSON → value round trip.

use super::*;

const F: FieldRef<'static> = FieldRef {
    prefix: "",
    name: "c",
};

fn enc(conv: Conv, v: Value) -> Result<String, CodecError> {
    let mut out = String::new();
    write_column(&mut out, conv, true, None, &v, F).map(|()| out)
}

fn enc_ok(conv: Conv, v: Value) -> String {
    enc(conv, v).expect("encodes")
}

fn dec(conv: Conv, raw: &str) -> Result<Value, CodecError> {
    read_column(Some(raw), conv, true, None, F)
}

fn dec_ok(conv: Conv, raw: &str) -> Value {
    dec(conv, raw).expect("decodes")
}

fn round_trip(conv: Conv, v: Value) {
    let json = enc_ok(conv, v.clone());
    let back = dec_ok(conv, &json);
    assert_eq!(back, v, "{conv:?} via {json}");
}

#[test]
fn integers_at_their_limits() {
    assert_eq!(enc_ok(Conv::Int8, Value::Int(-128)), "-128");
    assert_eq!(enc_ok(Conv::Int8, Value::Int(127)), "127");
    assert!(matches!(
        enc(Conv::Int8, Value::Int(128)),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        enc(Conv::Int16, Value::Int(-32_769)),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        enc(Conv::Int32, Value::Int(1 << 31)),
        Err(CodecError::OutOfRange { .. })
    ));
    for (conv, lo, hi) in [
        (Conv::Int8, -128, 127),
        (Conv::Int16, -32_768, 32_767),
        (Conv::Int32, i64::from(i32::MIN), i64::from(i32::MAX)),
        (Conv::Int64, i64::MIN, i64::MAX),
    ] {
        round_trip(conv, Value::Int(lo));
        round_trip(conv, Value::Int(hi));
        round_trip(conv, Value::Int(0));
    }
    assert_eq!(
        enc_ok(Conv::Int64, Value::Int(i64::MIN)),
        "-9223372036854775808"
    );
}

#[test]
fn integer_decoding_checks_range_and_type() {
    let e = dec(Conv::Int8, "128").expect_err("range");
    assert!(
        matches!(&e, CodecError::OutOfRange { field, ty: "int8", .. } if field == "c"),
        "{e}"
    );
    assert!(matches!(
        dec(Conv::Int16, "-32769"),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        dec(Conv::Int32, "2147483648"),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        dec(Conv::Int64, "9223372036854775808"),
        Err(CodecError::OutOfRange { .. })
    ));
    let e = dec(Conv::Int32, "\"5\"").expect_err("string");
    assert!(
        e.to_string().contains("field `c`: expected an integer"),
        "{e}"
    );
    assert!(matches!(
        dec(Conv::Int32, "1.5"),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        dec(Conv::Int32, "true"),
        Err(CodecError::TypeMismatch { .. })
    ));
}

#[test]
fn floats_round_trip_and_reject_non_finite_when_required() {
    round_trip(Conv::Float32, Value::Float32(0.1));
    round_trip(Conv::Float32, Value::Float32(f32::MAX));
    round_trip(Conv::Float32, Value::Float32(-f32::MIN_POSITIVE));
    round_trip(Conv::Float64, Value::Float64(0.1));
    round_trip(Conv::Float64, Value::Float64(f64::MAX));
    round_trip(Conv::Float64, Value::Float64(-1e-300));
    assert_eq!(enc_ok(Conv::Float64, Value::Float64(1.0)), "1.0");
    assert_eq!(
        enc_ok(Conv::Float32, Value::Float32(f32::NAN)),
        "null",
        "optional → null"
    );
    let mut out = String::new();
    let e = write_column(
        &mut out,
        Conv::Float64,
        false,
        None,
        &Value::Float64(f64::INFINITY),
        F,
    )
    .expect_err("required");
    assert!(matches!(e, CodecError::NonFinite { .. }));
    assert!(matches!(
        dec(Conv::Float32, "1e50"),
        Err(CodecError::OutOfRange { .. })
    ));
    assert!(matches!(
        dec(Conv::Float64, "\"x\""),
        Err(CodecError::TypeMismatch { .. })
    ));
}

#[test]
fn floats_accept_jacksons_quoted_non_numbers() {
    assert!(matches!(dec_ok(Conv::Float64, "\"NaN\""), Value::Float64(f) if f.is_nan()));
    assert_eq!(
        dec_ok(Conv::Float64, "\"Infinity\""),
        Value::Float64(f64::INFINITY)
    );
    assert_eq!(
        dec_ok(Conv::Float32, "\"-Infinity\""),
        Value::Float32(f32::NEG_INFINITY)
    );
}

#[test]
fn booleans() {
    round_trip(Conv::Boolean, Value::Boolean(true));
    round_trip(Conv::Boolean, Value::Boolean(false));
    assert!(matches!(
        dec(Conv::Boolean, "1"),
        Err(CodecError::TypeMismatch { .. })
    ));
}

#[test]
fn strings_with_escapes_unicode_and_empty() {
    for s in [
        "",
        "plain",
        "quote \" backslash \\",
        "nul \u{0} esc \u{1b}",
        "ünïcödé 😀",
        "line\nbreak\ttab",
    ] {
        round_trip(Conv::String, Value::String(s.into()));
    }
    assert_eq!(
        enc_ok(Conv::String, Value::String("a\u{0}b".into())),
        r#""a\u0000b""#
    );
    assert!(matches!(
        dec(Conv::String, "5"),
        Err(CodecError::TypeMismatch { .. })
    ));
}

#[test]
fn bytes_are_padded_standard_base64() {
    assert_eq!(
        enc_ok(Conv::Bytes, Value::Bytes(vec![0, 0xFF, 0x10])),
        r#""AP8Q""#
    );
    assert_eq!(enc_ok(Conv::Bytes, Value::Bytes(vec![0])), r#""AA==""#);
    round_trip(Conv::Bytes, Value::Bytes(vec![]));
    round_trip(Conv::Bytes, Value::Bytes(vec![0, 0, 0, 1, 0xFE]));
    assert_eq!(
        dec_ok(Conv::Bytes, r#""AA""#),
        Value::Bytes(vec![0]),
        "padding optional on read"
    );
    let e = dec(Conv::Bytes, r#""!!notbase64""#).expect_err("bad base64");
    assert!(
        matches!(&e, CodecError::InvalidBase64 { field, .. } if field == "c"),
        "{e}"
    );
}

#[test]
fn decimals_as_base64_two_complement() {
    let d = Conv::Decimal { scale: 2 };
    assert_eq!(enc_ok(d, Value::Decimal("12.34".into())), r#""BNI=""#);
    assert_eq!(enc_ok(d, Value::Decimal("-12.34".into())), r#""+y4=""#);
    assert_eq!(enc_ok(d, Value::Decimal("0.00".into())), r#""AA==""#);
    assert_eq!(
        enc_ok(d, Value::Decimal("1.5".into())),
        enc_ok(d, Value::Decimal("1.50".into()))
    );
    round_trip(d, Value::Decimal("-0.01".into()));
    round_trip(d, Value::Decimal("99999999.99".into()));
    let big = Conv::Decimal { scale: 30 };
    let max = format!("{}.{}", "9".repeat(35), "9".repeat(30));
    round_trip(big, Value::Decimal(max.clone()));
    round_trip(big, Value::Decimal(format!("-{max}")));
    let unsigned = Conv::Decimal { scale: 0 };
    round_trip(unsigned, Value::Decimal("18446744073709551615".into()));
    assert_eq!(
        dec_ok(unsigned, "18446744073709551615"),
        Value::Decimal("18446744073709551615".into())
    );
    assert_eq!(
        dec_ok(d, "12.3"),
        Value::Decimal("12.30".into()),
        "numeric decimal.format"
    );
    assert!(matches!(
        enc(d, Value::Decimal("1.234".into())),
        Err(CodecError::InvalidDecimal { .. })
    ));
    assert!(matches!(
        enc(d, Value::String("1".into())),
        Err(CodecError::TypeMismatch { .. })
    ));
    assert!(matches!(
        dec(d, r#""""#),
        Err(CodecError::InvalidDecimal { .. })
    ));
    assert!(matches!(
        dec(d, "true"),
        Err(CodecError::TypeMismatch { .. })
    ));
}

#[test]
fn decimal_handling_string_and_double() {
    let t = Conv::DecimalText { scale: 3 };
    assert_eq!(enc_ok(t, Value::Decimal("-1.5".into())), r#""-1.500""#);
    round_trip(t, Value::Decimal("-1.500".into()));
    assert_eq!(
        enc_ok(Conv::DecimalDouble, Value::Decimal("12.50".into())),
        "12.5"
    );
    assert_eq!(dec_ok(Conv::DecimalDouble, "12.5"), Value::Float64(12.5));
}

#[test]
fn dates_including_negative_days() {
    round_trip(Conv::Date, Value::Date(0));
    round_trip(Conv::Date, Value::Date(-719_162));
    round_trip(Conv::Date, Value::Date(2_932_896));
    assert_eq!(enc_ok(Conv::Date, Value::Date(-1)), "-1");
}

#[test]
fn times_in_millis_floor_and_stay_within_one_day() {
    assert_eq!(
        enc_ok(Conv::TimeMillis, Value::Time(45_296_789_123)),
        "45296789"
    );
    assert_eq!(
        enc_ok(Conv::TimeMillis, Value::Time(86_400_000_000)),
        "86400000"
    );
    // JsonConverter rejects Time outside [0, 24h]: negative and long MySQL TIMEs
    // are errors in millisecond form (time_precision = "micros" carries them).
    for outside in [-1, -1_000_000, 86_400_001_000, 25 * 3_600_000_000] {
        assert!(
            matches!(
                enc(Conv::TimeMillis, Value::Time(outside)),
                Err(CodecError::OutOfRange { .. })
            ),
            "{outside} µs"
        );
    }
    let past_int32 = Value::Time(838 * 3_600_000_000);
    assert!(matches!(
        enc(Conv::TimeMillis, past_int32.clone()),
        Err(CodecError::OutOfRange { .. })
    ));
    assert_eq!(
        enc_ok(Conv::TimeMicros, past_int32.clone()),
        "3016800000000"
    );
    round_trip(Conv::TimeMicros, Value::Time(-3_020_399_000_000));
    round_trip(Conv::TimeMillis, Value::Time(86_399_999_000));
    assert_eq!(dec_ok(Conv::TimeNanos, "1500"), Value::Time(1));
}

#[test]
fn timestamps_floor_before_1970() {
    assert_eq!(
        enc_ok(
            Conv::TimestampMillis,
            Value::Timestamp(1_660_592_867_000_999)
        ),
        "1660592867000"
    );
    assert_eq!(enc_ok(Conv::TimestampMillis, Value::Timestamp(-1)), "-1");
    assert_eq!(
        enc_ok(Conv::TimestampMillis, Value::Timestamp(-1_001)),
        "-2"
    );
    round_trip(
        Conv::TimestampMillis,
        Value::Timestamp(-62_135_596_800_000_000),
    );
    round_trip(Conv::TimestampMicros, Value::Timestamp(-1));
    round_trip(
        Conv::TimestampNanos,
        Value::Timestamp(1_660_592_867_123_456),
    );
    assert_eq!(dec_ok(Conv::TimestampNanos, "-1"), Value::Timestamp(-1));
    assert!(matches!(
        dec(Conv::TimestampMillis, "9223372036854775807"),
        Err(CodecError::OutOfRange { .. })
    ));
}

#[test]
fn zoned_timestamps() {
    assert_eq!(
        enc_ok(Conv::ZonedTimestamp, Value::Timestamp(1_500)),
        r#""1970-01-01T00:00:00.001500Z""#
    );
    round_trip(
        Conv::ZonedTimestamp,
        Value::Timestamp(1_660_592_867_123_456),
    );
    assert_eq!(
        dec_ok(Conv::ZonedTimestamp, r#""2022-08-15T21:47:47+02:00""#),
        Value::Timestamp(1_660_592_867_000_000)
    );
    assert!(matches!(
        dec(Conv::ZonedTimestamp, r#""yesterday""#),
        Err(CodecError::InvalidValue { .. })
    ));
}

#[test]
fn nulls_defaults_and_required_fields() {
    assert_eq!(enc_ok(Conv::Int32, Value::Null), "null");
    let mut out = String::new();
    write_column(&mut out, Conv::Int32, false, Some("7"), &Value::Null, F).expect("default");
    assert_eq!(out, "7");
    let e =
        write_column(&mut out, Conv::Int32, false, None, &Value::Null, F).expect_err("required");
    assert!(matches!(e, CodecError::NullInRequired { .. }));
    assert_eq!(
        read_column(None, Conv::Int32, false, Some(&Value::Int(7)), F).expect("default"),
        Value::Int(7)
    );
    assert_eq!(
        read_column(Some("null"), Conv::Int32, true, None, F).expect("null"),
        Value::Null
    );
    let e = read_column(None, Conv::Int32, false, None, F).expect_err("missing");
    assert_eq!(
        e.to_string(),
        "field `c` is required (optional=false, no default) but the value is null"
    );
}

#[test]
fn value_mismatches_name_the_field() {
    let field = FieldRef {
        prefix: "after",
        name: "id",
    };
    let mut out = String::new();
    let e = write_column(
        &mut out,
        Conv::Int32,
        true,
        None,
        &Value::String("x".into()),
        field,
    )
    .expect_err("bad");
    assert_eq!(
        e.to_string(),
        "field `after.id`: expected an integer, found a string value"
    );
}

#[test]
fn debezium_bits_are_little_endian_on_the_wire() {
    // BIT(10) b'1000000001': MySQL's bytes 0x02 0x01; Debezium's 0x01 0x02.
    assert_eq!(
        enc_ok(Conv::BitsLe, Value::Bytes(vec![0x02, 0x01])),
        "\"AQI=\""
    );
    assert_eq!(
        dec_ok(Conv::BitsLe, "\"AQI=\""),
        Value::Bytes(vec![0x02, 0x01])
    );
    round_trip(Conv::BitsLe, Value::Bytes(vec![0x80, 0, 0, 0, 0, 0, 0, 1]));
}

#[test]
fn debezium_geometry_is_a_struct_of_wkb_and_srid() {
    let mut g = 4326u32.to_le_bytes().to_vec();
    g.extend_from_slice(&[1, 1, 0, 0, 0]);
    assert_eq!(
        enc_ok(Conv::Geometry, Value::Bytes(g.clone())),
        r#"{"wkb":"AQEAAAA=","srid":4326}"#
    );
    round_trip(Conv::Geometry, Value::Bytes(g));
    // SRID 0 is null, as Debezium writes it, and reads back as 0.
    let zero = vec![0, 0, 0, 0, 1, 1, 0, 0, 0];
    assert_eq!(
        enc_ok(Conv::Geometry, Value::Bytes(zero.clone())),
        r#"{"wkb":"AQEAAAA=","srid":null}"#
    );
    round_trip(Conv::Geometry, Value::Bytes(zero));
    assert!(enc(Conv::Geometry, Value::Bytes(vec![1, 2])).is_err());
    assert!(dec(Conv::Geometry, r#"{"srid":1}"#).is_err());
    assert!(dec(Conv::Geometry, r#"{"wkb":"AQ==","srid":-1}"#).is_err());
}

#[test]
fn debezium_zoned_timestamps_have_the_columns_fraction_digits() {
    let z = |fsp, zeros| Conv::ZonedFixed { fsp, zeros };
    let t = Value::Timestamp(2_147_483_647_999_999);
    assert_eq!(
        enc_ok(z(6, true), t.clone()),
        "\"2038-01-19T03:14:07.999999Z\""
    );
    assert_eq!(
        enc_ok(z(3, true), t.clone()),
        "\"2038-01-19T03:14:07.999Z\""
    );
    assert_eq!(enc_ok(z(0, true), t), "\"2038-01-19T03:14:07Z\"");
    let whole = Value::Timestamp(1_000_000);
    assert_eq!(
        enc_ok(z(6, true), whole.clone()),
        "\"1970-01-01T00:00:01.000000Z\""
    );
    assert_eq!(
        enc_ok(z(6, false), whole.clone()),
        "\"1970-01-01T00:00:01Z\""
    );
    round_trip(z(6, true), whole);
    assert_eq!(
        z(6, true).for_op(crate::event::Op::Read),
        z(6, false),
        "snapshot reads leave a zero fraction out"
    );
    assert_eq!(z(6, true).for_op(crate::event::Op::Update), z(6, true));
}
