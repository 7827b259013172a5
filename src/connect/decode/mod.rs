//! Sink side: Kafka key and value bytes (from any producer) → rows to apply.
//!
//! Each message is split with `serde_json`'s `RawValue` into its `schema` and
//! `payload` texts without building a tree. The schema text is the cache key:
//! a schema seen before (byte-identical text, the common case since producers
//! render it from a cache) is not parsed again; the last schema per part is
//! compared first, before any hashing. A new schema is parsed once into a
//! [`RowPlan`]: the `Arc<TableSchema>` the sink sees plus each column's wire
//! form and default. The payload object is then read field by field, each
//! value converted straight from its raw JSON text (so a Decimal sent as a JSON
//! number keeps every digit).
//!
//! Validation follows `JsonConverter`, stricter where it would silently
//! corrupt: the message must be exactly `{"schema":…,"payload":…}`; payload
//! types must match the schema (Connect coerces a string in an int32 field to
//! 0; Sluice rejects it, naming the field); int8/16/32 ranges are checked; a
//! null or missing required field without a default is an error; a missing
//! field with a default takes the default; payload fields the schema does not
//! declare are ignored (as Connect ignores them). Struct, array and map columns
//! are rejected, as Connect's JDBC sink rejects them.
//!
//! Shapes understood: a Debezium envelope (op from `op`; the row is `after`,
//! or `before` for deletes), a plain struct (op `Create`), a tombstone (value
//! absent, empty, JSON `null`, or a null payload: op `Delete` with only the
//! key). A struct key becomes a key row whose schema lists every field as the
//! primary key; a primitive key becomes one column with an empty name, for the
//! sink to rename from `pk_fields`.

use std::sync::Arc;

use super::error::{CodecError, FieldRef, MessagePart};
use super::json_text::{classify, string_value, RawKind};
use super::plan::{compile, Cache, RowPlan, Shape};
use super::raw::{split, Members, RawObject};
use super::values::read_column;
use crate::event::{Op, Row};
use crate::schema::TableSchema;

/// A decoded row and the schema its values are aligned with (for keys, the
/// schema's `primary_key` lists every column).
pub type DecodedRow = (Arc<TableSchema>, Row);

/// What one Kafka record asks the sink to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    /// Create for plain structs, the envelope's op for Debezium, Delete for tombstones.
    pub op: Op,
    /// The key row, when the record has a non-null key.
    pub key: Option<DecodedRow>,
    /// The row to apply: `after`, or `before` for a Debezium delete; `None` for tombstones.
    pub value: Option<DecodedRow>,
    /// A Debezium update's `before` image, aligned with `value.schema`.
    pub before: Option<Row>,
    /// Source timestamp (`source.ts_ms`, else the envelope's `ts_ms`), when present.
    pub ts_ms: Option<i64>,
}

/// Decodes Connect JSON records, caching compiled schemas by their text.
#[derive(Debug, Default)]
pub struct Decoder {
    keys: Cache,
    values: Cache,
}

/// Fast path of `split` for a compact `{"schema":<known>,"payload":<p>}` whose
/// schema text is byte for byte `known` (the last schema seen): the payload
/// text, without scanning the schema again. `None` when the message has any
/// other form; the caller then splits it the general way (same result, and
/// the same errors).
fn split_known<'a>(bytes: &'a [u8], known: &str) -> Option<&'a str> {
    let payload = payload_after_known(bytes, known)?;
    // Exactly one JSON value (rejects a trailing `,"x":…` or a repeated key).
    let raw: &serde_json::value::RawValue = serde_json::from_str(payload).ok()?;
    Some(raw.get())
}

/// The text between `{"schema":<known>,"payload":` and the closing `}`, not
/// yet checked to be one JSON value: a caller must parse it as exactly one
/// value (as [`row_payload`] does) and take the general way when that fails.
fn payload_after_known<'a>(bytes: &'a [u8], known: &str) -> Option<&'a str> {
    let rest = (bytes.strip_prefix(b"{\"schema\":"))
        .and_then(|r| r.strip_prefix(known.as_bytes()))
        .and_then(|r| r.strip_prefix(b",\"payload\":"))?;
    let payload = rest.trim_ascii_end().strip_suffix(b"}")?;
    std::str::from_utf8(payload).ok()
}

/// The fast path for the common case, a struct record (key or value) whose
/// schema text is the last one seen: the payload is parsed once, and `None`
/// (take the general way, which gives the same result or the exact error)
/// when anything is unusual.
fn known_row(cache: &Cache, part: MessagePart, bytes: &[u8]) -> Option<Option<DecodedRow>> {
    let compiled = cache.last.as_ref()?;
    let Shape::Row(plan) = &compiled.shape else {
        return None;
    };
    let payload = payload_after_known(bytes, &compiled.text)?;
    row_payload(part, plan, payload, "").ok()
}

/// Decodes one record with a throw-away [`Decoder`] (prefer a long-lived one).
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Decoded, CodecError> {
    Decoder::new().decode(key, value)
}

impl Decoder {
    /// A decoder with an empty schema cache.
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Decodes a record's key and value bytes (`None` = Kafka null). Pass
    /// `key = None` when the sink does not use the key, so an unreadable key
    /// cannot fail the record.
    pub fn decode(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) -> Result<Decoded, CodecError> {
        let key = match key {
            Some(bytes) => self.decode_key(bytes)?,
            None => None,
        };
        let mut out = match value {
            Some(bytes) => self.decode_value(bytes)?,
            None => tombstone(),
        };
        out.key = key;
        Ok(out)
    }

    fn decode_key(&mut self, bytes: &[u8]) -> Result<Option<DecodedRow>, CodecError> {
        let part = MessagePart::Key;
        if let Some(row) = known_row(&self.keys, part, bytes) {
            return Ok(row);
        }
        let Some((schema, payload)) = split(part, bytes)? else {
            return Ok(None);
        };
        let compiled = compile(&mut self.keys, part, schema)?;
        match &compiled.shape {
            Shape::Null => null_schema(part, payload).map(|()| None),
            Shape::Row(plan) => row_payload(part, plan, payload, ""),
            Shape::Envelope { .. } => Err(CodecError::NotAStruct {
                part,
                found: "an envelope".into(),
            }),
            Shape::Primitive(plan) => {
                let Some(col) = plan.cols.first() else {
                    return Ok(None);
                };
                let field = FieldRef::new("(key)");
                let v = read_column(
                    Some(payload),
                    col.conv,
                    col.optional,
                    col.default.as_ref(),
                    field,
                )?;
                Ok((!v.is_null()).then(|| (Arc::clone(&plan.schema), vec![v])))
            }
        }
    }

    fn decode_value(&mut self, bytes: &[u8]) -> Result<Decoded, CodecError> {
        let part = MessagePart::Value;
        if let Some(row) = known_row(&self.values, part, bytes) {
            return Ok(created(row));
        }
        let known = (self.values.last.as_ref())
            .and_then(|c| split_known(bytes, &c.text).map(|p| (Arc::clone(c), p)));
        let (compiled, payload) = match known {
            Some(hit) => hit,
            None => {
                let Some((schema, payload)) = split(part, bytes)? else {
                    return Ok(tombstone());
                };
                (compile(&mut self.values, part, schema)?, payload)
            }
        };
        match &compiled.shape {
            Shape::Null => null_schema(part, payload).map(|()| tombstone()),
            Shape::Primitive(plan) => Err(CodecError::NotAStruct {
                part,
                found: plan.schema.name.clone(),
            }),
            Shape::Row(plan) => row_payload(part, plan, payload, "").map(created),
            Shape::Envelope { row, optional } => envelope_payload(row, *optional, payload),
        }
    }
}

/// A plain struct record: a create of `row`, or a tombstone for a null payload.
fn created(row: Option<DecodedRow>) -> Decoded {
    match row {
        Some(row) => Decoded {
            op: Op::Create,
            key: None,
            value: Some(row),
            before: None,
            ts_ms: None,
        },
        None => tombstone(),
    }
}

fn tombstone() -> Decoded {
    Decoded {
        op: Op::Delete,
        key: None,
        value: None,
        before: None,
        ts_ms: None,
    }
}

fn null_schema(part: MessagePart, payload: &str) -> Result<(), CodecError> {
    match classify(payload) {
        RawKind::Null => Ok(()),
        _ => Err(CodecError::Schemaless { part }),
    }
}

/// Reads a struct payload; `None` for a null payload of an optional struct.
fn row_payload(
    part: MessagePart,
    plan: &RowPlan,
    payload: &str,
    prefix: &str,
) -> Result<Option<DecodedRow>, CodecError> {
    let at = if prefix.is_empty() {
        part.to_string()
    } else {
        prefix.to_owned()
    };
    match classify(payload) {
        RawKind::Null if plan.optional => return Ok(None),
        RawKind::Null => return Err(CodecError::NullInRequired { field: at }),
        RawKind::Object => {}
        other => {
            return Err(CodecError::TypeMismatch {
                field: at,
                expected: "a struct (JSON object)",
                found: other.describe(),
            })
        }
    }
    let obj: RawObject<'_> =
        serde_json::from_str(payload).map_err(|source| CodecError::Json { part, source })?;
    let mut members = Members::new(&obj);
    let mut row = Vec::with_capacity(plan.cols.len());
    for (i, (col, meta)) in plan.cols.iter().zip(&plan.schema.columns).enumerate() {
        let raw = members.get(i, &meta.name);
        let field = FieldRef {
            prefix,
            name: &meta.name,
        };
        row.push(read_column(
            raw,
            col.conv,
            col.optional,
            col.default.as_ref(),
            field,
        )?);
    }
    Ok(Some((Arc::clone(&plan.schema), row)))
}

fn envelope_payload(plan: &RowPlan, optional: bool, payload: &str) -> Result<Decoded, CodecError> {
    let part = MessagePart::Value;
    match classify(payload) {
        RawKind::Null if optional => return Ok(tombstone()),
        RawKind::Null => {
            return Err(CodecError::NullInRequired {
                field: part.to_string(),
            })
        }
        RawKind::Object => {}
        other => {
            return Err(CodecError::TypeMismatch {
                field: part.to_string(),
                expected: "a struct (JSON object)",
                found: other.describe(),
            })
        }
    }
    let obj: RawObject<'_> =
        serde_json::from_str(payload).map_err(|source| CodecError::Json { part, source })?;
    let get = |name: &str| {
        obj.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.get())
    };
    let op_code = match get("op").map(classify) {
        Some(RawKind::String(lit)) => {
            string_value(lit).map_err(|source| CodecError::Json { part, source })?
        }
        None | Some(RawKind::Null) => {
            return Err(CodecError::NullInRequired { field: "op".into() })
        }
        Some(other) => {
            return Err(CodecError::TypeMismatch {
                field: "op".into(),
                expected: "a string",
                found: other.describe(),
            })
        }
    };
    let op = Op::from_code(&op_code).ok_or_else(|| CodecError::UnsupportedOp {
        op: op_code.to_string(),
    })?;
    let read = |name: &'static str| -> Result<Option<DecodedRow>, CodecError> {
        match get(name) {
            Some(raw) => row_payload(part, plan, raw, name),
            None => Ok(None),
        }
    };
    let before = read("before")?;
    let after = read("after")?;
    let ts_ms = source_ts(get("source")).or_else(|| get("ts_ms").and_then(int_of));
    let (value, before) = match op {
        Op::Delete => (before, None),
        _ => (
            Some(after.ok_or(CodecError::MissingRow {
                op: op.code(),
                row: "after",
            })?),
            before.map(|(_, row)| row),
        ),
    };
    Ok(Decoded {
        op,
        key: None,
        value,
        before,
        ts_ms,
    })
}

fn int_of(raw: &str) -> Option<i64> {
    match classify(raw) {
        RawKind::Number(n) => n.parse().ok(),
        _ => None,
    }
}

/// `source.ts_ms`, read leniently (the `source` block is informational).
fn source_ts(raw: Option<&str>) -> Option<i64> {
    let raw = raw?;
    if classify(raw) != RawKind::Object {
        return None;
    }
    let obj: RawObject<'_> = serde_json::from_str(raw).ok()?;
    obj.0
        .iter()
        .find(|(k, _)| k == "ts_ms")
        .and_then(|(_, v)| int_of(v.get()))
}

#[cfg(test)]
mod tests;
