//! JSON Schema from and to Connect, as Confluent's `JsonSchemaData` maps
//! them (`key_converter` / `value_converter = "json_schema"`). Pure: no
//! registry, no I/O (the source's `wire` module registers the schemas, the
//! sink's `decode::wire` fetches them).
//!
//! # Connect → JSON Schema (sources)
//! * The root is draft-07 (`$schema`); a struct is `"type": "object"` with
//!   `title` = the Connect name, `properties` in field order, each with
//!   `connect.index` (its position), `required` = the non-optional fields,
//!   and `"additionalProperties": false` (a closed content model, so that a
//!   column added as an optional field is a BACKWARD-compatible version).
//! * int8 / int16 / int32 / int64 → `integer` with `connect.type`; float32 /
//!   float64 → `number` with `connect.type`; bytes → `string` with
//!   `"connect.type": "bytes"` (the value in base64); boolean and string as
//!   themselves; array → `array` with `items`; a map with string keys →
//!   `object` with `additionalProperties` and `"connect.type": "map"` (other
//!   maps are refused).
//! * An optional field is `oneOf: [{"type": "null"}, T]` (its `connect.index`
//!   on the `oneOf`), as Confluent writes it.
//! * A named schema (logical and semantic types, Debezium's records) carries
//!   its name in `title`, `connect.version` and `connect.parameters`; a doc is
//!   `description`, a default `default`. `Decimal` is `number` with
//!   `"connect.type": "bytes"`, and its value is written as a JSON number
//!   (exact, from the unscaled bytes), as Confluent does.
//! * The payload is the plain JSON value: no `schema` / `payload` wrapper.
//!
//! # JSON Schema → Connect (sinks)
//! The reverse of the above, plus what an application registers by hand:
//! `integer` without `connect.type` is int64, `number` is float64 (`double`
//! in JsonConverter's spelling, as float32 is `float`), `type`
//! arrays such as `["string", "null"]` are optional, and a property not in
//! `required` is optional. Properties are ordered by `connect.index`, else
//! as written. The body is checked against the schema (types, required
//! fields) and becomes `{"schema":…,"payload":<body>}` for the JSON path,
//! which accepts decimals as numbers, so nothing is rounded.

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::connect::decimal;
use crate::connect::error::{CodecError, MessagePart};

/// Connect's Decimal logical type.
const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
/// The draft the derived schemas declare.
const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";
/// Most nesting levels followed (a hostile schema cannot recurse forever).
const MAX_DEPTH: usize = 64;

/// A JSON Schema derived from a Connect schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonSchemaPlan {
    /// The schema text to register.
    pub text: String,
    /// The Connect schema's name (for the record-name subject strategies).
    pub name: Option<String>,
    /// The Connect schema, walked with each payload.
    connect: Json,
}

fn invalid(part: MessagePart, path: &str, reason: impl Into<String>) -> CodecError {
    CodecError::InvalidSchema {
        part,
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// Derives the JSON Schema of a Connect schema (its JsonConverter form).
pub fn from_connect(connect: &Json, part: MessagePart) -> Result<JsonSchemaPlan, CodecError> {
    let mut root = to_json_schema(connect, part, "", 0)?;
    if let Some(obj) = root.as_object_mut() {
        obj.shift_insert(0, "$schema".into(), Json::String(DRAFT_07.into()));
    }
    Ok(JsonSchemaPlan {
        text: root.to_string(),
        name: connect
            .get("name")
            .and_then(Json::as_str)
            .map(str::to_string),
        connect: connect.clone(),
    })
}

/// The schema of one Connect schema, without the `oneOf` of optionality.
fn to_json_schema(
    s: &Json,
    part: MessagePart,
    path: &str,
    depth: usize,
) -> Result<Json, CodecError> {
    if depth > MAX_DEPTH {
        return Err(invalid(part, path, "nested too deeply"));
    }
    let ty = s
        .get("type")
        .and_then(Json::as_str)
        .ok_or_else(|| invalid(part, path, "no type"))?;
    let name = s.get("name").and_then(Json::as_str);
    let mut out = Map::new();
    let connect_type = |out: &mut Map<String, Json>, base: &str, t: &str| {
        out.insert("type".into(), Json::String(base.into()));
        out.insert("connect.type".into(), Json::String(t.into()));
    };
    match ty {
        "int8" | "int16" | "int32" | "int64" => connect_type(&mut out, "integer", ty),
        // JsonConverter spells Connect's float32 / float64 `float` / `double`.
        "float" | "float32" => connect_type(&mut out, "number", "float32"),
        "double" | "float64" => connect_type(&mut out, "number", "float64"),
        "bytes" if name == Some(DECIMAL) => connect_type(&mut out, "number", "bytes"),
        "bytes" => connect_type(&mut out, "string", "bytes"),
        "boolean" | "string" => {
            out.insert("type".into(), Json::String(ty.into()));
        }
        "array" => {
            let items = s
                .get("items")
                .ok_or_else(|| invalid(part, path, "array without items"))?;
            out.insert("type".into(), "array".into());
            out.insert(
                "items".into(),
                optional(items, to_json_schema(items, part, path, depth + 1)?),
            );
        }
        "map" => {
            let keys = s
                .get("keys")
                .and_then(|k| k.get("type"))
                .and_then(Json::as_str);
            let key_optional = s
                .get("keys")
                .and_then(|k| k.get("optional"))
                .and_then(Json::as_bool)
                .unwrap_or(false);
            if keys != Some("string") || key_optional {
                return Err(invalid(
                    part,
                    path,
                    "json_schema writes maps with required string keys only",
                ));
            }
            let values = s
                .get("values")
                .ok_or_else(|| invalid(part, path, "map without values"))?;
            connect_type(&mut out, "object", "map");
            out.insert(
                "additionalProperties".into(),
                optional(values, to_json_schema(values, part, path, depth + 1)?),
            );
        }
        "struct" => {
            out.insert("type".into(), "object".into());
            let fields = s
                .get("fields")
                .and_then(Json::as_array)
                .ok_or_else(|| invalid(part, path, "struct without fields"))?;
            let mut props = Map::new();
            let mut required = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                let fname = f
                    .get("field")
                    .and_then(Json::as_str)
                    .ok_or_else(|| invalid(part, path, "field without a name"))?;
                let fpath = join(path, fname);
                let mut fs = optional(f, to_json_schema(f, part, &fpath, depth + 1)?);
                if let Some(o) = fs.as_object_mut() {
                    o.insert("connect.index".into(), json!(i));
                }
                if !is_optional(f) {
                    required.push(Json::String(fname.into()));
                }
                props.insert(fname.into(), fs);
            }
            out.insert("properties".into(), Json::Object(props));
            // A closed content model: adding an optional field is then a
            // BACKWARD-compatible change for the registry.
            out.insert("additionalProperties".into(), Json::Bool(false));
            if !required.is_empty() {
                out.insert("required".into(), Json::Array(required));
            }
        }
        other => return Err(invalid(part, path, format!("unknown type {other}"))),
    }
    if let Some(n) = name {
        out.insert("title".into(), Json::String(n.into()));
    }
    if let Some(v) = s.get("version").filter(|v| !v.is_null()) {
        out.insert("connect.version".into(), v.clone());
    }
    if let Some(p) = s.get("parameters").filter(|p| p.is_object()) {
        out.insert("connect.parameters".into(), p.clone());
    }
    if let Some(d) = s.get("doc").and_then(Json::as_str) {
        out.insert("description".into(), Json::String(d.into()));
    }
    if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
        out.insert("default".into(), d.clone());
    }
    Ok(Json::Object(out))
}

fn is_optional(s: &Json) -> bool {
    s.get("optional").and_then(Json::as_bool).unwrap_or(false)
}

/// `oneOf [null, T]` for an optional schema, else `T`.
fn optional(s: &Json, schema: Json) -> Json {
    if is_optional(s) {
        json!({"oneOf": [{"type": "null"}, schema]})
    } else {
        schema
    }
}

/// Writes `payload` (the JsonConverter payload of `plan`'s schema) as the
/// plain JSON body: unchanged but for decimals, written as exact numbers.
pub fn encode(plan: &JsonSchemaPlan, payload: &Json, out: &mut Vec<u8>) -> Result<(), CodecError> {
    write(&plan.connect, payload, "", out)
}

fn write(s: &Json, v: &Json, path: &str, out: &mut Vec<u8>) -> Result<(), CodecError> {
    let push_json = |v: &Json, out: &mut Vec<u8>| out.extend_from_slice(v.to_string().as_bytes());
    if v.is_null() {
        out.extend_from_slice(b"null");
        return Ok(());
    }
    let ty = s.get("type").and_then(Json::as_str).unwrap_or("");
    match ty {
        "bytes" if s.get("name").and_then(Json::as_str) == Some(DECIMAL) => {
            let Some(b64) = v.as_str() else {
                // Already a number (JsonConverter's numeric decimal format).
                push_json(v, out);
                return Ok(());
            };
            let field = || {
                if path.is_empty() {
                    "(root)".into()
                } else {
                    path.to_string()
                }
            };
            let scale = s
                .get("parameters")
                .and_then(|p| p.get("scale"))
                .and_then(Json::as_str)
                .and_then(|t| t.parse::<u32>().ok())
                .ok_or_else(|| CodecError::InvalidDecimal {
                    field: field(),
                    reason: "no `scale` parameter".into(),
                })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|source| CodecError::InvalidBase64 {
                    field: field(),
                    source,
                })?;
            let unscaled = decimal::from_twos_complement(&bytes).map_err(|reason| {
                CodecError::InvalidDecimal {
                    field: field(),
                    reason,
                }
            })?;
            out.extend_from_slice(decimal::format(&unscaled, scale).as_bytes());
        }
        "struct" => {
            let fields = s.get("fields").and_then(Json::as_array);
            let obj = v.as_object();
            let (Some(fields), Some(obj)) = (fields, obj) else {
                push_json(v, out);
                return Ok(());
            };
            out.push(b'{');
            let mut first = true;
            for f in fields {
                let Some(name) = f.get("field").and_then(Json::as_str) else {
                    continue;
                };
                let Some(fv) = obj.get(name) else { continue };
                if !first {
                    out.push(b',');
                }
                first = false;
                push_json(&Json::String(name.into()), out);
                out.push(b':');
                write(f, fv, &join(path, name), out)?;
            }
            out.push(b'}');
        }
        "array" => match (s.get("items"), v.as_array()) {
            (Some(items), Some(arr)) => {
                out.push(b'[');
                for (i, item) in arr.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(items, item, path, out)?;
                }
                out.push(b']');
            }
            _ => push_json(v, out),
        },
        "map" => match (s.get("values"), v.as_object()) {
            (Some(values), Some(obj)) => {
                out.push(b'{');
                for (i, (k, item)) in obj.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    push_json(&Json::String(k.clone()), out);
                    out.push(b':');
                    write(values, item, path, out)?;
                }
                out.push(b'}');
            }
            _ => push_json(v, out),
        },
        _ => push_json(v, out),
    }
    Ok(())
}

/// A registered JSON Schema, ready to turn bodies into Connect JSON messages.
#[derive(Debug, Clone)]
pub struct JsonSchemaReader {
    /// `{"schema":<connect schema>,"payload":` .
    head: String,
    connect: Json,
    part: MessagePart,
}

impl JsonSchemaReader {
    /// Builds the reader of a JSON Schema's text.
    pub fn new(text: &str, part: MessagePart) -> Result<JsonSchemaReader, CodecError> {
        let schema: Json =
            serde_json::from_str(text).map_err(|source| CodecError::Json { part, source })?;
        let connect = to_connect(&schema, part, "", 0)?;
        Ok(JsonSchemaReader {
            head: format!("{{\"schema\":{connect},\"payload\":"),
            connect,
            part,
        })
    }

    /// The Connect schema (its JsonConverter form).
    pub fn connect_schema(&self) -> &Json {
        &self.connect
    }

    /// The Connect JSON message of a body.
    pub fn to_connect_json(&self, body: &[u8]) -> Result<Vec<u8>, CodecError> {
        let part = self.part;
        let v: Json =
            serde_json::from_slice(body).map_err(|source| CodecError::Json { part, source })?;
        check(&self.connect, &v, "")?;
        let text = std::str::from_utf8(body).map_err(|e| CodecError::InvalidValue {
            field: "(root)".into(),
            reason: e.to_string(),
        })?;
        let mut out = Vec::with_capacity(self.head.len() + body.len() + 1);
        out.extend_from_slice(self.head.as_bytes());
        out.extend_from_slice(text.trim().as_bytes());
        out.push(b'}');
        Ok(out)
    }
}

/// The JSON types a schema allows, and whether `null` is one of them.
fn types_of(s: &Json) -> (Vec<&str>, bool) {
    match s.get("type") {
        Some(Json::String(t)) => (vec![t.as_str()], t == "null"),
        Some(Json::Array(ts)) => {
            let all: Vec<&str> = ts.iter().filter_map(Json::as_str).collect();
            let null = all.contains(&"null");
            (all.into_iter().filter(|t| *t != "null").collect(), null)
        }
        _ => (Vec::new(), false),
    }
}

/// The Connect schema of a JSON Schema (without `optional`, set by the caller).
fn to_connect(s: &Json, part: MessagePart, path: &str, depth: usize) -> Result<Json, CodecError> {
    if depth > MAX_DEPTH {
        return Err(invalid(part, path, "nested too deeply"));
    }
    // oneOf / anyOf [null, T] → optional T.
    for key in ["oneOf", "anyOf"] {
        if let Some(branches) = s.get(key).and_then(Json::as_array) {
            let non_null: Vec<&Json> = branches
                .iter()
                .filter(|b| b.get("type").and_then(Json::as_str) != Some("null"))
                .collect();
            if non_null.len() != 1 {
                return Err(invalid(
                    part,
                    path,
                    format!("{key} other than [null, one schema] cannot be mapped to Connect"),
                ));
            }
            let mut inner = to_connect(non_null[0], part, path, depth + 1)?;
            let optional = branches.len() > 1;
            inner["optional"] = Json::Bool(optional || is_optional(&inner));
            return Ok(inner);
        }
    }
    let (types, nullable) = types_of(s);
    let ty = match types.as_slice() {
        [t] => *t,
        [] if s.get("properties").is_some() => "object",
        _ => {
            return Err(invalid(
                part,
                path,
                format!(
                    "type {} cannot be mapped to Connect (one type, optionally with null)",
                    s.get("type")
                        .map(Json::to_string)
                        .unwrap_or("(none)".into())
                ),
            ))
        }
    };
    let connect_type = s.get("connect.type").and_then(Json::as_str);
    let title = s.get("title").and_then(Json::as_str);
    let mut out = Map::new();
    let mut set = |t: &str| {
        out.insert("type".into(), Json::String(t.into()));
    };
    match (ty, connect_type) {
        ("integer", Some(t @ ("int8" | "int16" | "int32" | "int64"))) => set(t),
        ("integer", _) => set("int64"),
        ("number", _) if title == Some(DECIMAL) => set("bytes"),
        ("number", Some("float32")) => set("float"),
        ("number", _) => set("double"),
        ("string", Some("bytes")) => set("bytes"),
        ("string", _) => set("string"),
        ("boolean", _) => set("boolean"),
        ("array", _) => {
            let items = s
                .get("items")
                .ok_or_else(|| invalid(part, path, "array without items"))?;
            let mut items = to_connect(items, part, path, depth + 1)?;
            default_optional(&mut items);
            set("array");
            out.insert("items".into(), items);
        }
        ("object", _) if s.get("properties").is_none() => {
            let values = match s.get("additionalProperties") {
                Some(v) if v.is_object() => v,
                _ => {
                    return Err(invalid(
                        part,
                        path,
                        "an object without properties needs additionalProperties with a schema",
                    ))
                }
            };
            let mut values = to_connect(values, part, path, depth + 1)?;
            default_optional(&mut values);
            set("map");
            out.insert("keys".into(), json!({"type": "string", "optional": false}));
            out.insert("values".into(), values);
        }
        ("object", _) => {
            set("struct");
            let props = s
                .get("properties")
                .and_then(Json::as_object)
                .ok_or_else(|| invalid(part, path, "properties is not an object"))?;
            let required: Vec<&str> = s
                .get("required")
                .and_then(Json::as_array)
                .map(|r| r.iter().filter_map(Json::as_str).collect())
                .unwrap_or_default();
            let mut fields = Vec::with_capacity(props.len());
            for (i, (name, ps)) in props.iter().enumerate() {
                let fpath = join(path, name);
                let mut f = to_connect(ps, part, &fpath, depth + 1)?;
                if !required.contains(&name.as_str()) {
                    f["optional"] = Json::Bool(true);
                }
                default_optional(&mut f);
                let index = ps
                    .get("connect.index")
                    .and_then(Json::as_u64)
                    .unwrap_or(u64::MAX);
                if let Some(o) = f.as_object_mut() {
                    o.shift_insert(0, "field".into(), Json::String(name.clone()));
                }
                fields.push((index, i, f));
            }
            fields.sort_by_key(|(index, i, _)| (*index, *i));
            out.insert(
                "fields".into(),
                Json::Array(fields.into_iter().map(|(_, _, f)| f).collect()),
            );
        }
        (other, _) => {
            return Err(invalid(
                part,
                path,
                format!("type {other} cannot be mapped to Connect"),
            ))
        }
    }
    if nullable {
        out.insert("optional".into(), Json::Bool(true));
    }
    if let Some(t) = title {
        out.insert("name".into(), Json::String(t.into()));
    }
    if let Some(v) = s.get("connect.version").filter(|v| v.is_number()) {
        out.insert("version".into(), v.clone());
    }
    if let Some(p) = s.get("connect.parameters").and_then(Json::as_object) {
        let p: Map<String, Json> = p
            .iter()
            .map(|(k, v)| {
                let v = match v {
                    Json::String(_) => v.clone(),
                    other => Json::String(other.to_string()),
                };
                (k.clone(), v)
            })
            .collect();
        out.insert("parameters".into(), Json::Object(p));
    }
    if let Some(d) = s.get("description").and_then(Json::as_str) {
        out.insert("doc".into(), Json::String(d.into()));
    }
    if let Some(d) = s.get("default").filter(|d| !d.is_null()) {
        out.insert("default".into(), d.clone());
    }
    Ok(Json::Object(out))
}

fn default_optional(s: &mut Json) {
    if let Some(o) = s.as_object_mut() {
        o.entry("optional").or_insert(Json::Bool(false));
    }
}

/// Checks a body against the Connect schema it is read with.
fn check(s: &Json, v: &Json, path: &str) -> Result<(), CodecError> {
    let field = || {
        if path.is_empty() {
            "(root)".to_string()
        } else {
            path.to_string()
        }
    };
    if v.is_null() {
        if is_optional(s) || s.get("default").is_some_and(|d| !d.is_null()) {
            return Ok(());
        }
        return Err(CodecError::NullInRequired { field: field() });
    }
    let ty = s.get("type").and_then(Json::as_str).unwrap_or("");
    let decimal = s.get("name").and_then(Json::as_str) == Some(DECIMAL);
    let (ok, expected) = match ty {
        "int8" | "int16" | "int32" | "int64" => (v.is_i64() || v.is_u64(), "an integer"),
        "float" | "double" | "float32" | "float64" => (v.is_number(), "a number"),
        "bytes" if decimal => (v.is_number() || v.is_string(), "a decimal number"),
        "bytes" | "string" => (v.is_string(), "a string"),
        "boolean" => (v.is_boolean(), "a boolean"),
        "array" => (v.is_array(), "an array"),
        "map" | "struct" => (v.is_object(), "an object"),
        _ => (true, ""),
    };
    if !ok {
        return Err(CodecError::TypeMismatch {
            field: field(),
            expected,
            found: short(v),
        });
    }
    match ty {
        "struct" => {
            let obj = v.as_object();
            for f in s
                .get("fields")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = f.get("field").and_then(Json::as_str) else {
                    continue;
                };
                let fv = obj.and_then(|o| o.get(name)).unwrap_or(&Json::Null);
                check(f, fv, &join(path, name))?;
            }
        }
        "array" => {
            if let (Some(items), Some(arr)) = (s.get("items"), v.as_array()) {
                for item in arr {
                    check(items, item, path)?;
                }
            }
        }
        "map" => {
            if let (Some(values), Some(obj)) = (s.get("values"), v.as_object()) {
                for (k, item) in obj {
                    check(values, item, &join(path, k))?;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn short(v: &Json) -> String {
    let t = v.to_string();
    if t.len() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

#[cfg(test)]
mod tests;
