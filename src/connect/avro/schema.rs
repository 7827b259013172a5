//! Connect schema (JsonConverter form) → Avro schema text and an encoding plan.

use std::collections::HashSet;

use serde_json::{json, Map, Value as Json};

use crate::connect::error::{CodecError, MessagePart};

const NAMESPACE: &str = "io.confluent.connect.avro";
const DEFAULT_NAME: &str = "ConnectDefault";
const MAP_ENTRY: &str = "MapEntry";
const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
const DATE: &str = "org.apache.kafka.connect.data.Date";
const TIME: &str = "org.apache.kafka.connect.data.Time";
const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
const PRECISION_PARAM: &str = "connect.decimal.precision";
const PRECISION_DEFAULT: u64 = 64;

/// How one value is written (the Avro schema, reduced to what encoding needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    /// Connect bytes (base64 in JSON), also Decimal.
    Bytes,
    /// `["null", T]` (`null_first`) or `[T, "null"]`.
    Optional {
        null_first: bool,
        inner: Box<Node>,
    },
    /// Fields in order: (Connect field name, plan).
    Record(Vec<(String, Node)>),
    Array(Box<Node>),
    /// A map with string keys.
    Map(Box<Node>),
    /// Any other map: an array of key/value records (JSON: `[[k, v], ...]`).
    MapEntries(Box<Node>, Box<Node>),
}

/// An Avro schema derived from a Connect schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvroSchema {
    /// The schema as registered (compact JSON).
    pub text: String,
    /// The top-level record's full name (for the record-name subject strategies).
    pub full_name: Option<String>,
    pub(crate) node: Node,
}

/// Derives the Avro schema of a Connect schema given as JsonConverter JSON.
pub fn from_connect(schema: &Json, part: MessagePart) -> Result<AvroSchema, CodecError> {
    let mut ctx = Ctx {
        part,
        defined: HashSet::new(),
    };
    let (avro, node) = ctx.convert(schema, "")?;
    let full_name = match &avro {
        Json::Object(o) if o.get("type") == Some(&json!("record")) => Some(full_name_of(o)),
        Json::Array(u) => u.iter().find_map(|s| match s {
            Json::Object(o) if o.get("type") == Some(&json!("record")) => Some(full_name_of(o)),
            _ => None,
        }),
        _ => None,
    };
    Ok(AvroSchema {
        text: avro.to_string(),
        full_name,
        node,
    })
}

fn full_name_of(o: &Map<String, Json>) -> String {
    let name = o.get("name").and_then(Json::as_str).unwrap_or_default();
    match o.get("namespace").and_then(Json::as_str) {
        Some(ns) if !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_string(),
    }
}

struct Ctx {
    part: MessagePart,
    /// Full names of the records already written out.
    defined: HashSet<String>,
}

/// An Avro name: invalid characters become `_`, a leading digit gets `_`.
pub(crate) fn avro_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 1);
    for (i, c) in s.chars().enumerate() {
        if i == 0 && c.is_ascii_digit() {
            out.push('_');
        }
        out.push(if c.is_ascii_alphanumeric() || c == '_' {
            c
        } else {
            '_'
        });
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Splits a Connect name at its last dot into (namespace, name), each part adjusted.
fn split_name(full: &str) -> (Option<String>, String) {
    match full.rsplit_once('.') {
        Some((ns, name)) => {
            let ns = ns.split('.').map(avro_name).collect::<Vec<_>>().join(".");
            (Some(ns), avro_name(name))
        }
        None => (None, avro_name(full)),
    }
}

impl Ctx {
    fn err(&self, path: &str, reason: impl Into<String>) -> CodecError {
        CodecError::InvalidSchema {
            part: self.part,
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    /// (Avro schema, plan) of one Connect schema, optional wrapping included.
    fn convert(&mut self, s: &Json, path: &str) -> Result<(Json, Node), CodecError> {
        let o = s
            .as_object()
            .ok_or_else(|| self.err(path, "a schema must be an object"))?;
        let ty = o
            .get("type")
            .and_then(Json::as_str)
            .ok_or_else(|| self.err(path, "missing \"type\""))?;
        let optional = o.get("optional").and_then(Json::as_bool).unwrap_or(false);
        let name = o.get("name").and_then(Json::as_str);
        let params = o.get("parameters").and_then(Json::as_object);
        let default = o.get("default").filter(|d| !d.is_null());

        if ty == "struct" && optional {
            // AvroData: ["null", record], the record built from the required schema.
            let mut required = o.clone();
            required.insert("optional".into(), Json::Bool(false));
            required.remove("default");
            let (record, node) = self.convert(&Json::Object(required), path)?;
            return Ok((
                json!(["null", record]),
                Node::Optional {
                    null_first: true,
                    inner: Box::new(node),
                },
            ));
        }

        let mut connect_type = None;
        let (mut base, node) = match ty {
            "int8" | "int16" => {
                connect_type = Some(ty);
                (type_obj("int"), Node::Int)
            }
            "int32" => (type_obj("int"), Node::Int),
            "int64" => (type_obj("long"), Node::Long),
            "float32" | "float" => (type_obj("float"), Node::Float),
            "float64" | "double" => (type_obj("double"), Node::Double),
            "boolean" => (type_obj("boolean"), Node::Boolean),
            "string" => (type_obj("string"), Node::String),
            "bytes" => {
                let mut b = type_obj("bytes");
                if name == Some(DECIMAL) {
                    let scale = param_u64(params, "scale").unwrap_or(0);
                    let precision = param_u64(params, PRECISION_PARAM).unwrap_or(PRECISION_DEFAULT);
                    b.insert("scale".into(), json!(scale));
                    b.insert("precision".into(), json!(precision));
                }
                (b, Node::Bytes)
            }
            "array" => {
                let items = o
                    .get("items")
                    .ok_or_else(|| self.err(path, "array without \"items\""))?;
                let (items, node) = self.convert(items, &join(path, "items"))?;
                let mut b = type_obj("array");
                b.insert("items".into(), items);
                (b, Node::Array(Box::new(node)))
            }
            "map" => {
                let keys = o
                    .get("keys")
                    .ok_or_else(|| self.err(path, "map without \"keys\""))?;
                let values = o
                    .get("values")
                    .ok_or_else(|| self.err(path, "map without \"values\""))?;
                let string_keys = keys.get("type").and_then(Json::as_str) == Some("string")
                    && !keys
                        .get("optional")
                        .and_then(Json::as_bool)
                        .unwrap_or(false);
                if string_keys {
                    let (values, node) = self.convert(values, &join(path, "values"))?;
                    let mut b = type_obj("map");
                    b.insert("values".into(), values);
                    (b, Node::Map(Box::new(node)))
                } else {
                    let (k, kn) = self.field(keys, "key", &join(path, "keys"))?;
                    let (v, vn) = self.field(values, "value", &join(path, "values"))?;
                    let (ns, rname) = match name {
                        None => (Some(NAMESPACE.to_string()), MAP_ENTRY.to_string()),
                        Some(n) => split_name(n),
                    };
                    let mut rec = Map::new();
                    rec.insert("type".into(), json!("record"));
                    rec.insert("name".into(), json!(rname));
                    if let Some(ns) = ns {
                        rec.insert("namespace".into(), json!(ns));
                    }
                    rec.insert("fields".into(), json!([k, v]));
                    if name.is_some() {
                        rec.insert("connect.internal.type".into(), json!(MAP_ENTRY));
                    }
                    let mut b = type_obj("array");
                    b.insert("items".into(), Json::Object(rec));
                    (b, Node::MapEntries(Box::new(kn), Box::new(vn)))
                }
            }
            "struct" => {
                let (ns, rname) = match name {
                    None => (Some(NAMESPACE.to_string()), DEFAULT_NAME.to_string()),
                    Some(n) => split_name(n),
                };
                let full = match &ns {
                    Some(ns) => format!("{ns}.{rname}"),
                    None => rname.clone(),
                };
                let fields = o
                    .get("fields")
                    .and_then(Json::as_array)
                    .ok_or_else(|| self.err(path, "struct without \"fields\""))?;
                let mut avro_fields = Vec::with_capacity(fields.len());
                let mut nodes = Vec::with_capacity(fields.len());
                let first_definition = self.defined.insert(full.clone());
                for f in fields {
                    let fname = f
                        .get("field")
                        .and_then(Json::as_str)
                        .ok_or_else(|| self.err(path, "a struct field without \"field\""))?;
                    let (af, n) = self.field(f, fname, &join(path, fname))?;
                    avro_fields.push(af);
                    nodes.push((fname.to_string(), n));
                }
                if !first_definition {
                    // Already defined (Debezium's before/after): a reference by name.
                    return Ok((Json::String(full), Node::Record(nodes)));
                }
                let mut b = type_obj("record");
                b.insert("name".into(), json!(rname));
                if let Some(ns) = ns {
                    b.insert("namespace".into(), json!(ns));
                }
                b.insert("fields".into(), Json::Array(avro_fields));
                (b, Node::Record(nodes))
            }
            other => return Err(self.err(path, format!("unknown Connect type \"{other}\""))),
        };

        // Metadata, in AvroData's order.
        if let Some(doc) = o.get("doc").and_then(Json::as_str) {
            base.insert("connect.doc".into(), json!(doc));
        }
        if let Some(v) = o.get("version").and_then(Json::as_i64) {
            base.insert("connect.version".into(), json!(v));
        }
        if let Some(p) = params.filter(|p| !p.is_empty()) {
            base.insert("connect.parameters".into(), Json::Object(p.clone()));
        }
        if let Some(d) = default {
            base.insert("connect.default".into(), avro_default(ty, d));
        }
        if let Some(n) = name {
            base.insert("connect.name".into(), json!(n));
        }
        if let Some(t) = connect_type {
            base.insert("connect.type".into(), json!(t));
        }
        let logical = match name {
            Some(DECIMAL) => Some("decimal"),
            Some(DATE) if ty == "int32" => Some("date"),
            Some(TIME) if ty == "int32" => Some("time-millis"),
            Some(TIMESTAMP) if ty == "int64" => Some("timestamp-millis"),
            _ => None,
        };
        if let Some(l) = logical {
            base.insert("logicalType".into(), json!(l));
        }
        let base = if base.len() == 1 {
            // A bare primitive is written as its name, as Avro's toString does.
            base.remove("type").unwrap_or(Json::Null)
        } else {
            Json::Object(base)
        };
        if !optional {
            return Ok((base, node));
        }
        let null_first = default.is_none();
        let union = if null_first {
            json!(["null", base])
        } else {
            json!([base, "null"])
        };
        Ok((
            union,
            Node::Optional {
                null_first,
                inner: Box::new(node),
            },
        ))
    }

    /// A record field: `{"name", "type", "default"?}`.
    fn field(&mut self, s: &Json, name: &str, path: &str) -> Result<(Json, Node), CodecError> {
        let (ty, node) = self.convert(s, path)?;
        let mut f = Map::new();
        f.insert("name".into(), json!(avro_name(name)));
        f.insert("type".into(), ty);
        let optional = s.get("optional").and_then(Json::as_bool).unwrap_or(false);
        match s.get("default").filter(|d| !d.is_null()) {
            Some(d) => {
                let t = s.get("type").and_then(Json::as_str).unwrap_or_default();
                f.insert("default".into(), avro_default(t, d));
            }
            None if optional => {
                f.insert("default".into(), Json::Null);
            }
            None => {}
        }
        Ok((Json::Object(f), node))
    }
}

fn type_obj(t: &str) -> Map<String, Json> {
    let mut m = Map::new();
    m.insert("type".into(), json!(t));
    m
}

fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_string()
    } else {
        format!("{path}.{seg}")
    }
}

fn param_u64(params: Option<&Map<String, Json>>, key: &str) -> Option<u64> {
    params?.get(key)?.as_str()?.parse().ok()
}

/// A Connect JSON default as an Avro default: bytes (base64 in Connect JSON)
/// become the ISO-8859-1 string of the bytes, as Avro writes byte defaults.
fn avro_default(ty: &str, d: &Json) -> Json {
    if ty != "bytes" {
        return d.clone();
    }
    use base64::Engine;
    match d
        .as_str()
        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
    {
        Some(bytes) => Json::String(bytes.iter().map(|&b| char::from(b)).collect()),
        None => d.clone(),
    }
}
