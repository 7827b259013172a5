//! Avro's binary encoding of a Connect JSON payload (Avro 1.11 spec,
//! "Binary Encoding"): zig-zag varints for int and long, little-endian IEEE
//! floats, length-prefixed bytes and strings, a union as its branch index then
//! the value, records as their fields in order, arrays and maps as one block
//! of items followed by the empty block.

use base64::Engine;
use serde_json::Value as Json;

use super::schema::{AvroSchema, Node};
use crate::connect::error::CodecError;

/// Appends the Avro body of `payload` (JsonConverter's payload form) to `out`.
pub fn encode(schema: &AvroSchema, payload: &Json, out: &mut Vec<u8>) -> Result<(), CodecError> {
    write(&schema.node, payload, out, "")
}

fn bad(path: &str, reason: impl Into<String>) -> CodecError {
    CodecError::InvalidValue {
        field: if path.is_empty() {
            "(root)".into()
        } else {
            path.to_string()
        },
        reason: reason.into(),
    }
}

/// Zig-zag varint of a long (also used for int).
pub(crate) fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

pub(crate) fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    write_long(out, i64::try_from(b.len()).unwrap_or(i64::MAX));
    out.extend_from_slice(b);
}

fn int_in(v: &Json, path: &str, min: i64, max: i64) -> Result<i64, CodecError> {
    let n = v
        .as_i64()
        .ok_or_else(|| bad(path, format!("expected an integer, found {v}")))?;
    if n < min || n > max {
        return Err(bad(path, format!("{n} is out of range")));
    }
    Ok(n)
}

fn write(node: &Node, v: &Json, out: &mut Vec<u8>, path: &str) -> Result<(), CodecError> {
    match node {
        Node::Optional { null_first, inner } => {
            let (null_idx, value_idx) = if *null_first { (0, 1) } else { (1, 0) };
            if v.is_null() {
                write_long(out, null_idx);
                Ok(())
            } else {
                write_long(out, value_idx);
                write(inner, v, out, path)
            }
        }
        _ if v.is_null() => Err(bad(path, "null in a required field")),
        Node::Boolean => {
            let b = v
                .as_bool()
                .ok_or_else(|| bad(path, format!("expected a boolean, found {v}")))?;
            out.push(u8::from(b));
            Ok(())
        }
        Node::Int => {
            write_long(out, int_in(v, path, i32::MIN.into(), i32::MAX.into())?);
            Ok(())
        }
        Node::Long => {
            write_long(out, int_in(v, path, i64::MIN, i64::MAX)?);
            Ok(())
        }
        Node::Float => {
            let f = v
                .as_f64()
                .ok_or_else(|| bad(path, format!("expected a number, found {v}")))?;
            out.extend_from_slice(&(f as f32).to_le_bytes());
            Ok(())
        }
        Node::Double => {
            let f = v
                .as_f64()
                .ok_or_else(|| bad(path, format!("expected a number, found {v}")))?;
            out.extend_from_slice(&f.to_le_bytes());
            Ok(())
        }
        Node::String => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(path, format!("expected a string, found {v}")))?;
            write_bytes(out, s.as_bytes());
            Ok(())
        }
        Node::Bytes => {
            let s = v
                .as_str()
                .ok_or_else(|| bad(path, "expected base64 bytes"))?;
            let b = base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|e| bad(path, format!("invalid base64: {e}")))?;
            write_bytes(out, &b);
            Ok(())
        }
        Node::Record(fields) => {
            let o = v
                .as_object()
                .ok_or_else(|| bad(path, "expected a struct"))?;
            for (name, n) in fields {
                let fv = o.get(name).unwrap_or(&Json::Null);
                let p = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                write(n, fv, out, &p)?;
            }
            Ok(())
        }
        Node::Array(items) => {
            let a = v.as_array().ok_or_else(|| bad(path, "expected an array"))?;
            if !a.is_empty() {
                write_long(out, i64::try_from(a.len()).unwrap_or(i64::MAX));
                for item in a {
                    write(items, item, out, path)?;
                }
            }
            write_long(out, 0);
            Ok(())
        }
        Node::Map(values) => {
            let m = v.as_object().ok_or_else(|| bad(path, "expected a map"))?;
            if !m.is_empty() {
                write_long(out, i64::try_from(m.len()).unwrap_or(i64::MAX));
                for (k, item) in m {
                    write_bytes(out, k.as_bytes());
                    write(values, item, out, path)?;
                }
            }
            write_long(out, 0);
            Ok(())
        }
        Node::MapEntries(kn, vn) => {
            let a = v
                .as_array()
                .ok_or_else(|| bad(path, "expected a map as [[key, value], ...]"))?;
            if !a.is_empty() {
                write_long(out, i64::try_from(a.len()).unwrap_or(i64::MAX));
                for entry in a {
                    let pair = entry
                        .as_array()
                        .filter(|p| p.len() == 2)
                        .ok_or_else(|| bad(path, "a map entry must be [key, value]"))?;
                    write(kn, &pair[0], out, path)?;
                    write(vn, &pair[1], out, path)?;
                }
            }
            write_long(out, 0);
            Ok(())
        }
    }
}
