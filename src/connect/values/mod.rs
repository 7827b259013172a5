//! One value in both directions: a [`Value`] ↔ its JSON payload text, as
//! the column's [`Conv`] says.
//!
//! Writing appends to the message `String` being built; reading takes the raw
//! JSON text of one payload field. Millisecond forms floor microseconds
//! (toward negative infinity), so pre-1970 timestamps and negative MySQL TIMEs
//! stay ordered. Type mismatches, out-of-range integers, bad base64 and
//! decimals that would need rounding are errors naming the field; nothing here
//! panics on any input.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::decimal;
use super::error::{CodecError, FieldRef};
use super::json_text::{self, classify, RawKind};
use super::types::Conv;
use crate::event::Value;

/// Base64 as Jackson reads it: standard alphabet, padding optional.
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A short name for a value's variant, for error messages.
pub(crate) fn value_kind(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Boolean(_) => "a boolean value",
        Value::Int(_) => "an integer value",
        Value::Float32(_) => "a float32 value",
        Value::Float64(_) => "a float64 value",
        Value::String(_) => "a string value",
        Value::Bytes(_) => "a bytes value",
        Value::Decimal(_) => "a decimal value",
        Value::Date(_) => "a date value",
        Value::Time(_) => "a time value",
        Value::Timestamp(_) => "a timestamp value",
    }
    .to_owned()
}

fn mismatch(field: FieldRef<'_>, expected: &'static str, found: String) -> CodecError {
    CodecError::TypeMismatch {
        field: field.render(),
        expected,
        found,
    }
}

fn out_of_range(field: FieldRef<'_>, value: impl ToString, ty: &'static str) -> CodecError {
    CodecError::OutOfRange {
        field: field.render(),
        value: value.to_string(),
        ty,
    }
}

fn int_in(
    field: FieldRef<'_>,
    v: i64,
    min: i64,
    max: i64,
    ty: &'static str,
) -> Result<i64, CodecError> {
    if (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(out_of_range(field, v, ty))
    }
}

/// A null, or a float with no Connect/Avro form (NaN, ±infinity): the column
/// writers put the default or a null in its place.
pub(crate) fn null_or_non_finite(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Float32(f) => !f.is_finite(),
        Value::Float64(f) => !f.is_finite(),
        _ => false,
    }
}

/// Appends one column's payload. `default` is the pre-rendered schema default.
pub(crate) fn write_column(
    out: &mut String,
    conv: Conv,
    optional: bool,
    default: Option<&str>,
    v: &Value,
    field: FieldRef<'_>,
) -> Result<(), CodecError> {
    if !null_or_non_finite(v) {
        return write_value(out, conv, v, field);
    }
    match (v, default) {
        (Value::Null, Some(default)) => out.push_str(default),
        _ if optional => out.push_str("null"),
        (Value::Null, None) => {
            return Err(CodecError::NullInRequired {
                field: field.render(),
            })
        }
        _ => {
            let value = match v {
                Value::Float32(f) => f.to_string(),
                Value::Float64(f) => f.to_string(),
                _ => String::new(),
            };
            return Err(CodecError::NonFinite {
                field: field.render(),
                value,
            });
        }
    }
    Ok(())
}

/// A non-null payload value reduced to what a wire format writes: the
/// checks and conversions of its [`Conv`] are done. The JSON path writes it
/// as text ([`write_value`]), the Avro path in Avro's binary encoding
/// (`super::avro`), so both carry the same value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Bool(bool),
    Long(i64),
    F32(f32),
    F64(f64),
    Str(&'a str),
    /// Text made for the wire (decimal text, ISO-8601 timestamps).
    Text(String),
    Bytes(&'a [u8]),
    /// Bytes made for the wire (a decimal's unscaled two's complement).
    Owned(Vec<u8>),
    /// Debezium's Geometry struct: the WKB and the SRID (`None` for 0).
    Geometry {
        wkb: &'a [u8],
        srid: Option<i64>,
    },
}

/// Appends a non-null value as `conv` requires.
pub(crate) fn write_value(
    out: &mut String,
    conv: Conv,
    v: &Value,
    field: FieldRef<'_>,
) -> Result<(), CodecError> {
    match scalar(conv, v, field)? {
        Scalar::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        Scalar::Long(i) => push_int(out, i),
        Scalar::F32(f) => json_text::write_f32(out, f),
        Scalar::F64(f) => json_text::write_f64(out, f),
        Scalar::Str(s) => json_text::write_str(out, s),
        Scalar::Text(s) => json_text::write_str(out, &s),
        Scalar::Bytes(b) => write_base64(out, b),
        Scalar::Owned(b) => write_base64(out, &b),
        Scalar::Geometry { wkb, srid } => {
            out.push_str("{\"wkb\":");
            write_base64(out, wkb);
            out.push_str(",\"srid\":");
            match srid {
                Some(srid) => push_int(out, srid),
                None => out.push_str("null"),
            }
            out.push('}');
        }
    }
    Ok(())
}

/// A non-null value as `conv` requires it on the wire.
pub(crate) fn scalar<'a>(
    conv: Conv,
    v: &'a Value,
    field: FieldRef<'_>,
) -> Result<Scalar<'a>, CodecError> {
    let int = |expected| match v {
        Value::Int(i) => Ok(*i),
        other => Err(mismatch(field, expected, value_kind(other))),
    };
    let micros = |expected| match v {
        Value::Time(us) | Value::Timestamp(us) => Ok(*us),
        other => Err(mismatch(field, expected, value_kind(other))),
    };
    Ok(match (conv, v) {
        (Conv::Boolean, Value::Boolean(b)) => Scalar::Bool(*b),
        (Conv::Boolean, other) => return Err(mismatch(field, "a boolean", value_kind(other))),
        (Conv::Int8, _) => Scalar::Long(int_in(field, int("an integer")?, -128, 127, "int8")?),
        (Conv::Int16, _) => {
            Scalar::Long(int_in(field, int("an integer")?, -32_768, 32_767, "int16")?)
        }
        (Conv::Int32, _) => Scalar::Long(int_in(
            field,
            int("an integer")?,
            i32::MIN.into(),
            i32::MAX.into(),
            "int32",
        )?),
        (Conv::Int64, _) => Scalar::Long(int("an integer")?),
        (Conv::Float32 | Conv::Float64, Value::Float32(f)) if !f.is_finite() => {
            return Err(CodecError::NonFinite {
                field: field.render(),
                value: f.to_string(),
            })
        }
        (Conv::Float64, Value::Float64(f)) if !f.is_finite() => {
            return Err(CodecError::NonFinite {
                field: field.render(),
                value: f.to_string(),
            })
        }
        (Conv::Float32, Value::Float32(f)) => Scalar::F32(*f),
        (Conv::Float32, other) => return Err(mismatch(field, "a float32", value_kind(other))),
        (Conv::Float64, Value::Float64(f)) => Scalar::F64(*f),
        (Conv::Float64, Value::Float32(f)) => Scalar::F64(f64::from(*f)),
        (Conv::Float64, other) => return Err(mismatch(field, "a float64", value_kind(other))),
        (Conv::String, Value::String(s)) => Scalar::Str(s),
        (Conv::String, other) => return Err(mismatch(field, "a string", value_kind(other))),
        (Conv::Bytes, Value::Bytes(b)) => Scalar::Bytes(b),
        (Conv::Bytes, other) => return Err(mismatch(field, "bytes", value_kind(other))),
        (Conv::Decimal { scale }, _) => {
            Scalar::Owned(decimal::to_twos_complement(&unscaled(v, scale, field)?))
        }
        (Conv::DecimalText { scale }, _) => {
            Scalar::Text(decimal::format(&unscaled(v, scale, field)?, scale))
        }
        (Conv::DecimalDouble, _) => {
            let text = match v {
                Value::Decimal(t) => t.clone(),
                Value::Int(i) => i.to_string(),
                other => return Err(mismatch(field, "a decimal", value_kind(other))),
            };
            let f: f64 = text
                .trim()
                .parse()
                .map_err(|_| CodecError::InvalidDecimal {
                    field: field.render(),
                    reason: format!("`{text}` is not a number"),
                })?;
            if !f.is_finite() {
                return Err(out_of_range(field, text, "double"));
            }
            Scalar::F64(f)
        }
        (Conv::Date, Value::Date(d)) => Scalar::Long(i64::from(*d)),
        (Conv::Date, other) => return Err(mismatch(field, "a date", value_kind(other))),
        (Conv::TimeMillis, _) => {
            let ms = micros("a time")?.div_euclid(1000);
            // Connect's Time is a time of day: JsonConverter rejects anything
            // outside [0, 24h]. MySQL TIME can be negative or up to 838 h; such
            // values need `time_precision = "micros"` (Debezium MicroTime).
            if !(0..=86_400_000).contains(&ms) {
                return Err(out_of_range(
                    field,
                    format!("{ms} ms"),
                    "Connect Time (0..=86400000 ms; use time_precision = \"micros\" for MySQL TIME outside one day)",
                ));
            }
            Scalar::Long(ms)
        }
        (Conv::TimeMicros | Conv::TimestampMicros, _) => {
            Scalar::Long(micros("a time or timestamp")?)
        }
        (Conv::TimestampMillis, _) => Scalar::Long(micros("a timestamp")?.div_euclid(1000)),
        (Conv::TimeNanos | Conv::TimestampNanos, _) => {
            let us = micros("a time or timestamp")?;
            let ns = us
                .checked_mul(1000)
                .ok_or_else(|| out_of_range(field, format!("{us} µs"), "int64 ns"))?;
            Scalar::Long(ns)
        }
        (Conv::ZonedTimestamp, _) => {
            let us = micros("a timestamp")?;
            let t = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| out_of_range(field, format!("{us} µs"), "ISO-8601 timestamp"))?;
            Scalar::Text(t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        }
        (Conv::ZonedFixed { fsp, zeros }, _) => {
            let us = micros("a timestamp")?;
            let t = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| out_of_range(field, format!("{us} µs"), "ISO-8601 timestamp"))?;
            let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if fsp > 0 && (zeros || us.rem_euclid(1_000_000) != 0) {
                let frac = format!("{:06}", us.rem_euclid(1_000_000));
                text.push('.');
                text.push_str(&frac[..(fsp.min(6) as usize)]);
            }
            text.push('Z');
            Scalar::Text(text)
        }
        (Conv::BitsLe, Value::Bytes(b)) => Scalar::Owned(b.iter().rev().copied().collect()),
        (Conv::BitsLe, other) => return Err(mismatch(field, "bytes", value_kind(other))),
        (Conv::Geometry, Value::Bytes(b)) => match b.split_first_chunk::<4>() {
            Some((srid, wkb)) => Scalar::Geometry {
                wkb,
                srid: Some(i64::from(u32::from_le_bytes(*srid))).filter(|s| *s != 0),
            },
            None => {
                return Err(CodecError::InvalidValue {
                    field: field.render(),
                    reason: format!(
                        "a MySQL geometry value has at least 4 bytes (SRID), not {}",
                        b.len()
                    ),
                })
            }
        },
        (Conv::Geometry, other) => return Err(mismatch(field, "bytes", value_kind(other))),
    })
}

/// Appends a decimal as an exact JSON number of `scale` fraction digits
/// (Confluent's JSON Schema bodies write Decimal so, JsonConverter as base64).
pub(crate) fn write_decimal_number(
    out: &mut String,
    scale: u32,
    v: &Value,
    field: FieldRef<'_>,
) -> Result<(), CodecError> {
    out.push_str(&decimal::format(&unscaled(v, scale, field)?, scale));
    Ok(())
}

fn push_int(out: &mut String, i: i64) {
    out.push_str(itoa::Buffer::new().format(i));
}

fn unscaled(v: &Value, scale: u32, field: FieldRef<'_>) -> Result<decimal::Unscaled, CodecError> {
    let parsed = match v {
        Value::Decimal(text) => decimal::parse(text, scale),
        Value::Int(i) => decimal::parse(&i.to_string(), scale),
        other => return Err(mismatch(field, "a decimal", value_kind(other))),
    };
    parsed.map_err(|reason| CodecError::InvalidDecimal {
        field: field.render(),
        reason,
    })
}

fn write_base64(out: &mut String, bytes: &[u8]) {
    out.push('"');
    STANDARD.encode_string(bytes, out);
    out.push('"');
}

/// Reads one column from its raw JSON (`None` when the payload lacks the field).
pub(crate) fn read_column(
    raw: Option<&str>,
    conv: Conv,
    optional: bool,
    default: Option<&Value>,
    field: FieldRef<'_>,
) -> Result<Value, CodecError> {
    match raw.map(classify) {
        Some(RawKind::Object) if conv == Conv::Geometry => {
            read_geometry(raw.unwrap_or_default(), field)
        }
        None | Some(RawKind::Null) => match default {
            Some(d) => Ok(d.clone()),
            None if optional => Ok(Value::Null),
            None => Err(CodecError::NullInRequired {
                field: field.render(),
            }),
        },
        Some(kind) => read_value(kind, conv, field),
    }
}

/// Debezium's Geometry struct (`{"wkb": base64, "srid": int or null}`) as
/// MySQL's internal form: the SRID (4 bytes, little-endian; 0 when null),
/// then the WKB.
fn read_geometry(raw: &str, field: FieldRef<'_>) -> Result<Value, CodecError> {
    let bad = |reason: String| CodecError::InvalidValue {
        field: field.render(),
        reason,
    };
    let v: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| bad(format!("not a Geometry struct: {e}")))?;
    let wkb = v
        .get("wkb")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| bad("Geometry struct without a `wkb` string".into()))?;
    let wkb = LENIENT_B64
        .decode(wkb.as_bytes())
        .map_err(|source| CodecError::InvalidBase64 {
            field: field.render(),
            source,
        })?;
    let srid = match v.get("srid") {
        None | Some(serde_json::Value::Null) => 0,
        Some(n) => n
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(format!("Geometry `srid` {n} is not a 32-bit SRID")))?,
    };
    let mut out = Vec::with_capacity(wkb.len() + 4);
    out.extend_from_slice(&srid.to_le_bytes());
    out.extend_from_slice(&wkb);
    Ok(Value::Bytes(out))
}

/// Converts one non-null raw JSON value as `conv` requires.
pub(crate) fn read_value(
    kind: RawKind<'_>,
    conv: Conv,
    field: FieldRef<'_>,
) -> Result<Value, CodecError> {
    let found = || kind.describe();
    let int = |ty: &'static str, min: i64, max: i64| -> Result<i64, CodecError> {
        let RawKind::Number(n) = kind else {
            return Err(mismatch(field, "an integer", found()));
        };
        match n.parse::<i64>() {
            Ok(v) => int_in(field, v, min, max, ty),
            Err(_) if n.bytes().all(|b| b == b'-' || b.is_ascii_digit()) => {
                Err(out_of_range(field, n, ty))
            }
            Err(_) => Err(mismatch(field, "an integer", found())),
        }
    };
    let text = || match kind {
        RawKind::String(lit) => {
            json_text::string_value(lit).map_err(|e| CodecError::InvalidValue {
                field: field.render(),
                reason: e.to_string(),
            })
        }
        _ => Err(mismatch(field, "a string", found())),
    };
    let bytes = || {
        let t = text()?;
        LENIENT_B64
            .decode(t.as_bytes())
            .map_err(|source| CodecError::InvalidBase64 {
                field: field.render(),
                source,
            })
    };
    let float = |ty: &'static str| -> Result<f64, CodecError> {
        match kind {
            RawKind::Number(n) => n
                .parse::<f64>()
                .map_err(|_| mismatch(field, "a number", found())),
            RawKind::String(lit) => match json_text::string_value(lit).as_deref() {
                Ok("NaN") => Ok(f64::NAN),
                Ok("Infinity") => Ok(f64::INFINITY),
                Ok("-Infinity") => Ok(f64::NEG_INFINITY),
                _ => Err(mismatch(field, ty, found())),
            },
            _ => Err(mismatch(field, ty, found())),
        }
    };
    let i32_max = i64::from(i32::MAX);
    let i32_min = i64::from(i32::MIN);
    Ok(match conv {
        Conv::Boolean => match kind {
            RawKind::Bool(b) => Value::Boolean(b),
            _ => return Err(mismatch(field, "a boolean", found())),
        },
        Conv::Int8 => Value::Int(int("int8", -128, 127)?),
        Conv::Int16 => Value::Int(int("int16", -32_768, 32_767)?),
        Conv::Int32 => Value::Int(int("int32", i32_min, i32_max)?),
        Conv::Int64 => Value::Int(int("int64", i64::MIN, i64::MAX)?),
        Conv::Float32 => {
            let f = float("a float")?;
            let narrow = f as f32;
            if f.is_finite() && !narrow.is_finite() {
                return Err(out_of_range(field, f, "float"));
            }
            Value::Float32(narrow)
        }
        Conv::Float64 | Conv::DecimalDouble => Value::Float64(float("a double")?),
        Conv::String => Value::String(text()?.into_owned()),
        Conv::Bytes => Value::Bytes(bytes()?),
        Conv::Decimal { scale } | Conv::DecimalText { scale } => {
            let parsed = match kind {
                RawKind::Number(n) => decimal::parse(n, scale),
                RawKind::String(_) if matches!(conv, Conv::DecimalText { .. }) => {
                    decimal::parse(&text()?, scale)
                }
                RawKind::String(_) => decimal::from_twos_complement(&bytes()?),
                _ => {
                    return Err(mismatch(
                        field,
                        "a decimal (base64 string or number)",
                        found(),
                    ))
                }
            };
            let u = parsed.map_err(|reason| CodecError::InvalidDecimal {
                field: field.render(),
                reason,
            })?;
            Value::Decimal(decimal::format(&u, scale))
        }
        Conv::Date => Value::Date(int("int32", i32_min, i32_max)? as i32),
        Conv::TimeMillis => Value::Time(int("int32", i32_min, i32_max)? * 1000),
        Conv::TimeMicros => Value::Time(int("int64", i64::MIN, i64::MAX)?),
        Conv::TimeNanos => Value::Time(int("int64", i64::MIN, i64::MAX)?.div_euclid(1000)),
        Conv::TimestampMillis => {
            let ms = int("int64", i64::MIN, i64::MAX)?;
            Value::Timestamp(
                ms.checked_mul(1000)
                    .ok_or_else(|| out_of_range(field, ms, "timestamp"))?,
            )
        }
        Conv::TimestampMicros => Value::Timestamp(int("int64", i64::MIN, i64::MAX)?),
        Conv::TimestampNanos => {
            Value::Timestamp(int("int64", i64::MIN, i64::MAX)?.div_euclid(1000))
        }
        Conv::BitsLe => Value::Bytes(bytes()?.into_iter().rev().collect()),
        Conv::Geometry => return Err(mismatch(field, "a Geometry struct", found())),
        Conv::ZonedTimestamp | Conv::ZonedFixed { .. } => {
            let t = text()?;
            let parsed =
                chrono::DateTime::parse_from_rfc3339(&t).map_err(|e| CodecError::InvalidValue {
                    field: field.render(),
                    reason: format!("`{t}` is not an ISO-8601 timestamp: {e}"),
                })?;
            Value::Timestamp(parsed.timestamp_micros())
        }
    })
}

#[cfg(test)]
mod tests;
