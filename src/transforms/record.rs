//! The record a transform sees: Kafka Connect's `ConnectRecord` in the
//! terms of its JSON converter. A key or value is a [`ConnectSchema`] (when
//! the record carries one) and the payload as JSON, exactly as
//! `JsonConverter` writes it (`Timestamp` as epoch millis, `Decimal` and
//! bytes as base64, …), so a record read from a Connect JSON message and
//! written back unchanged is the same message.

use serde_json::{Map, Value as Json};

use super::TransformError;
use crate::connect::json_text::{write_f32, write_f64, write_str};
use crate::connect::schema_json::{ConnectSchema, SchemaType};

/// A key or a value: its schema (absent for schemaless data) and payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Data {
    pub(crate) schema: Option<ConnectSchema>,
    /// The payload; `Json::Null` for a null key or value.
    pub(crate) value: Json,
}

/// One header, as Connect's `SimpleHeaderConverter` writes it (see
/// [`header_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub key: String,
    pub value: Option<Vec<u8>>,
}

/// One record on its way through a transform chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub topic: String,
    /// Kafka partition (sink records; `None` on the source side, where the
    /// producer's partitioner chooses).
    pub partition: Option<i32>,
    /// Kafka offset (sink records only).
    pub offset: Option<i64>,
    /// Record timestamp, epoch millis (`None`: unset).
    pub timestamp: Option<i64>,
    /// `None`: a null key.
    pub key: Option<Data>,
    /// `None`: a tombstone.
    pub value: Option<Data>,
    /// Headers the transforms added.
    pub headers: Vec<Header>,
}

impl Data {
    /// Reads one Connect JSON message (`{"schema": …, "payload": …}`);
    /// `None` for JSON `null`, as `JsonConverter` reads it.
    pub fn parse(bytes: &[u8], what: &'static str) -> Result<Option<Data>, TransformError> {
        let json: Json = serde_json::from_slice(bytes).map_err(|e| TransformError::Message {
            what,
            reason: format!("is not JSON: {e}"),
        })?;
        let Json::Object(mut envelope) = json else {
            if json.is_null() {
                return Ok(None);
            }
            return Err(TransformError::Message {
                what,
                reason: "is not a {\"schema\", \"payload\"} object".into(),
            });
        };
        let (Some(schema), Some(payload)) = (envelope.remove("schema"), envelope.remove("payload"))
        else {
            return Err(TransformError::Message {
                what,
                reason: "lacks the \"schema\" and \"payload\" fields of a Connect JSON message"
                    .into(),
            });
        };
        let schema = if schema.is_null() {
            None
        } else {
            Some(
                ConnectSchema::parse(&schema).map_err(|e| TransformError::Message {
                    what,
                    reason: format!("has an invalid schema at `{}`: {}", e.path, e.reason),
                })?,
            )
        };
        if schema.is_none() && payload.is_null() {
            return Ok(None);
        }
        Ok(Some(Data {
            schema,
            value: payload,
        }))
    }

    /// The struct payload's fields, or `None` when this is not a struct.
    pub(crate) fn fields(&self) -> Option<&Map<String, Json>> {
        self.value.as_object()
    }

    /// Writes the Connect JSON message.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(256);
        out.push_str("{\"schema\":");
        match &self.schema {
            Some(s) => s.render(&mut out),
            None => out.push_str("null"),
        }
        out.push_str(",\"payload\":");
        render_value(&mut out, self.schema.as_ref(), &self.value);
        out.push('}');
        out
    }
}

/// Appends `value` as JSON: struct fields in the schema's order, floats as
/// Jackson spells them.
pub(crate) fn render_value(out: &mut String, schema: Option<&ConnectSchema>, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => {
            let v = n.as_f64().unwrap_or(0.0);
            match schema.map(|s| s.ty) {
                Some(SchemaType::Float32) => write_f32(out, v as f32),
                Some(SchemaType::Float64) => write_f64(out, v),
                _ if n.is_f64() => write_f64(out, v),
                _ => out.push_str(&n.to_string()),
            }
        }
        Json::String(s) => write_str(out, s),
        Json::Array(items) => {
            let item_schema = schema.and_then(|s| s.items.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                render_value(out, item_schema, item);
            }
            out.push(']');
        }
        Json::Object(map) => {
            out.push('{');
            let mut first = true;
            let mut member = |out: &mut String, k: &str, s: Option<&ConnectSchema>, v: &Json| {
                if !first {
                    out.push(',');
                }
                first = false;
                write_str(out, k);
                out.push(':');
                render_value(out, s, v);
            };
            match schema {
                Some(s) if s.ty == SchemaType::Struct => {
                    for (name, fs) in &s.fields {
                        member(out, name, Some(fs), map.get(name).unwrap_or(&Json::Null));
                    }
                }
                Some(s) if s.ty == SchemaType::Map => {
                    for (k, v) in map {
                        member(out, k, s.values.as_deref(), v);
                    }
                }
                _ => {
                    for (k, v) in map {
                        member(out, k, None, v);
                    }
                }
            }
            out.push('}');
        }
    }
}

/// A header value as Connect's default `SimpleHeaderConverter` writes it:
/// strings as themselves, numbers and booleans as their text, structs,
/// maps and arrays as JSON, null as no value.
pub(crate) fn header_text(schema: Option<&ConnectSchema>, value: &Json) -> Option<Vec<u8>> {
    match value {
        Json::Null => None,
        Json::String(s) => Some(s.clone().into_bytes()),
        Json::Number(_) | Json::Bool(_) => {
            let mut out = String::new();
            render_value(&mut out, schema, value);
            Some(out.into_bytes())
        }
        Json::Array(_) | Json::Object(_) => {
            let mut out = String::new();
            render_value(&mut out, schema, value);
            Some(out.into_bytes())
        }
    }
}

/// `schema` made optional, without its default (as Debezium copies a
/// field's schema: name, version, doc and parameters).
pub(crate) fn optional(schema: &ConnectSchema) -> ConnectSchema {
    let mut s = schema.clone();
    s.optional = true;
    s.default = None;
    s
}
