//! Avro bodies straight from row values: the source's hot path.
//!
//! [`super::encode`] reads a Connect JSON payload; a source has the row's
//! [`Value`]s already, so writing them as JSON text and parsing that text
//! back cost more than the Avro encoding itself. Here each column goes
//! through the same conversion the JSON path makes ([`scalar`]: range
//! checks, decimal bytes, time units) and then straight into Avro's binary
//! encoding, by the [`Node`] derived from the same Connect schema. Nulls,
//! defaults and non-finite floats follow the JSON path's rules
//! (`values::write_column`), so the bytes are those the JSON round trip
//! gives (`tests.rs` checks that over the type matrix).

use super::binary::{write_bytes, write_long};
use super::schema::Node;
use crate::connect::error::{CodecError, FieldRef};
use crate::connect::types::Conv;
use crate::connect::values::{null_or_non_finite, scalar, Scalar};
use crate::event::Value;

/// Appends one column's value: `default` stands in for a null, a null or a
/// non-finite float in an optional column is null.
pub(crate) fn write_column(
    out: &mut Vec<u8>,
    node: &Node,
    conv: Conv,
    optional: bool,
    default: Option<&Value>,
    v: &Value,
    field: FieldRef<'_>,
) -> Result<(), CodecError> {
    if !null_or_non_finite(v) {
        return write_scalar(out, node, Some(&scalar(conv, v, field)?), field);
    }
    match (v, default) {
        (Value::Null, Some(d)) => write_scalar(out, node, Some(&scalar(conv, d, field)?), field),
        _ if optional => write_scalar(out, node, None, field),
        (Value::Null, None) => Err(CodecError::NullInRequired {
            field: field.render(),
        }),
        _ => Err(CodecError::NonFinite {
            field: field.render(),
            value: match v {
                Value::Float32(f) => f.to_string(),
                Value::Float64(f) => f.to_string(),
                _ => String::new(),
            },
        }),
    }
}

/// Appends `s` (`None`: null) as `node` says.
pub(crate) fn write_scalar(
    out: &mut Vec<u8>,
    node: &Node,
    s: Option<&Scalar<'_>>,
    field: FieldRef<'_>,
) -> Result<(), CodecError> {
    if let Node::Optional { null_first, inner } = node {
        let (null_idx, value_idx) = if *null_first { (0, 1) } else { (1, 0) };
        return match s {
            None => {
                write_long(out, null_idx);
                Ok(())
            }
            Some(_) => {
                write_long(out, value_idx);
                write_scalar(out, inner, s, field)
            }
        };
    }
    let bad = |reason: String| CodecError::InvalidValue {
        field: field.render(),
        reason,
    };
    let Some(s) = s else {
        return Err(bad("null in a required field".into()));
    };
    match (node, s) {
        (Node::Boolean, Scalar::Bool(b)) => out.push(u8::from(*b)),
        (Node::Int, Scalar::Long(i)) => {
            if i32::try_from(*i).is_err() {
                return Err(bad(format!("{i} is out of range")));
            }
            write_long(out, *i);
        }
        (Node::Long, Scalar::Long(i)) => write_long(out, *i),
        (Node::Float, Scalar::F32(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (Node::Float, Scalar::F64(f)) => out.extend_from_slice(&(*f as f32).to_le_bytes()),
        (Node::Double, Scalar::F64(f)) => out.extend_from_slice(&f.to_le_bytes()),
        (Node::String, Scalar::Str(t)) => write_bytes(out, t.as_bytes()),
        (Node::String, Scalar::Text(t)) => write_bytes(out, t.as_bytes()),
        (Node::Bytes, Scalar::Bytes(b)) => write_bytes(out, b),
        (Node::Bytes, Scalar::Owned(b)) => write_bytes(out, b),
        (Node::Record(fields), Scalar::Geometry { wkb, srid }) => match fields.as_slice() {
            [(w, wkb_node), (s, srid_node)] if w == "wkb" && s == "srid" => {
                write_scalar(out, wkb_node, Some(&Scalar::Bytes(wkb)), field)?;
                let srid = srid.map(Scalar::Long);
                write_scalar(out, srid_node, srid.as_ref(), field)?;
            }
            _ => {
                return Err(bad(format!(
                    "a Geometry does not fit the Avro record {node:?}"
                )))
            }
        },
        (node, s) => return Err(bad(format!("{s:?} does not fit the Avro schema {node:?}"))),
    }
    Ok(())
}
