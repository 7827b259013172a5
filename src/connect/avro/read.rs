//! The other way (issue 19 item 4, used by the sink's `decode::wire`): an Avro
//! writer schema → the Connect schema `AvroData.toConnectSchema` gives, and an
//! Avro body → the JsonConverter message `{"schema":…,"payload":…}`, so the
//! sink's existing JSON decode path can apply Avro records.
//!
//! Rules: `["null", T]` / `[T, "null"]` → optional T (other unions are
//! refused); `int` → int32, or int8/int16 by `connect.type`; `long`, `float`,
//! `double`, `boolean`, `string`, `bytes` as themselves; `enum` → string;
//! `fixed` → bytes; logical types `decimal` → Connect Decimal (scale,
//! `connect.decimal.precision`), `date` / `time-millis` / `timestamp-millis` →
//! Date / Time / Timestamp, `time-micros` / `timestamp-micros` → Debezium's
//! MicroTime / MicroTimestamp; `connect.name`, `connect.version`,
//! `connect.parameters` are restored; a record is a struct named by its
//! `connect.name`, else its full name; a field's non-null `default` is its
//! Connect default (bytes in base64), as `AvroData` takes it.

use std::collections::HashMap;

use base64::Engine;
use serde_json::{json, Map, Value as Json};

use crate::connect::error::{CodecError, MessagePart};

/// How one Avro value is read.
#[derive(Debug, Clone)]
enum Read {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    Bytes,
    String,
    Fixed(usize),
    Enum(Vec<String>),
    /// Union branches; only `null` + one other are accepted.
    Optional {
        null_index: i64,
        inner: Box<Read>,
    },
    Record(Vec<(String, Read)>),
    Array(Box<Read>),
    Map(Box<Read>),
}

/// A writer schema, ready to turn bodies into Connect JSON messages.
#[derive(Debug, Clone)]
pub struct AvroReader {
    /// `{"schema":<connect schema>,"payload":` .
    head: String,
    read: Read,
    /// The schema names a record field twice: bodies go through the tree
    /// (where the last value wins), not the direct text path.
    tree_only: bool,
}

impl AvroReader {
    /// Builds the reader of an Avro schema's text.
    pub fn new(avro_schema: &str, part: MessagePart) -> Result<AvroReader, CodecError> {
        let schema: Json = serde_json::from_str(avro_schema)
            .map_err(|source| CodecError::Json { part, source })?;
        let mut ctx = Ctx {
            part,
            named: HashMap::new(),
        };
        let (connect, read) = ctx.convert(&schema, None, "")?;
        Ok(AvroReader {
            head: format!("{{\"schema\":{connect},\"payload\":"),
            tree_only: repeats_a_field(&read),
            read,
        })
    }

    /// The Connect JSON message of one Avro body. The payload is written
    /// as text while the body is read (no JSON tree in between), exactly as
    /// serde_json would print the tree `via_tree` builds.
    pub fn to_connect_json(&self, body: &[u8]) -> Result<Vec<u8>, CodecError> {
        if self.tree_only {
            return self.via_tree(body);
        }
        let mut cur = Cursor { b: body, pos: 0 };
        let mut out = Vec::with_capacity(self.head.len() + body.len() * 4 + 16);
        out.extend_from_slice(self.head.as_bytes());
        write_text(&self.read, &mut cur, &mut out)?;
        if cur.pos != body.len() {
            return Err(bad(format!(
                "{} bytes left after the value",
                body.len() - cur.pos
            )));
        }
        out.push(b'}');
        Ok(out)
    }

    /// [`Self::to_connect_json`] through a `serde_json` tree (the unit
    /// tests' oracle, and the path of [`Self::tree_only`] schemas).
    pub(crate) fn via_tree(&self, body: &[u8]) -> Result<Vec<u8>, CodecError> {
        let mut cur = Cursor { b: body, pos: 0 };
        let payload = read(&self.read, &mut cur)?;
        if cur.pos != body.len() {
            return Err(bad(format!(
                "{} bytes left after the value",
                body.len() - cur.pos
            )));
        }
        let mut out = self.head.clone().into_bytes();
        out.extend_from_slice(payload.to_string().as_bytes());
        out.push(b'}');
        Ok(out)
    }
}

fn bad(reason: String) -> CodecError {
    CodecError::InvalidValue {
        field: "(avro body)".into(),
        reason,
    }
}

struct Ctx {
    part: MessagePart,
    /// Named types seen so far: full name → (Connect schema, reader).
    named: HashMap<String, (Json, Read)>,
}

impl Ctx {
    fn err(&self, path: &str, reason: impl Into<String>) -> CodecError {
        CodecError::InvalidSchema {
            part: self.part,
            path: path.to_string(),
            reason: reason.into(),
        }
    }

    /// (Connect schema, reader); `namespace` is the enclosing one.
    fn convert(
        &mut self,
        s: &Json,
        namespace: Option<&str>,
        path: &str,
    ) -> Result<(Json, Read), CodecError> {
        match s {
            Json::String(t) => self.primitive_or_named(t, &Map::new(), namespace, path),
            Json::Array(branches) => {
                let null_index = branches.iter().position(|b| b == "null");
                let others: Vec<&Json> = branches.iter().filter(|b| *b != "null").collect();
                match (null_index, others.as_slice()) {
                    (Some(i), [one]) => {
                        let (mut c, r) = self.convert(one, namespace, path)?;
                        c["optional"] = Json::Bool(true);
                        Ok((
                            c,
                            Read::Optional {
                                null_index: i64::try_from(i).unwrap_or(0),
                                inner: Box::new(r),
                            },
                        ))
                    }
                    _ => Err(self.err(
                        path,
                        "only unions of null and one type are supported (Connect's optional)",
                    )),
                }
            }
            Json::Object(o) => {
                let t = o
                    .get("type")
                    .ok_or_else(|| self.err(path, "a schema object without \"type\""))?;
                match t {
                    Json::String(t) => self.primitive_or_named(t, o, namespace, path),
                    // {"type": {...}} or {"type": [...]}: the inner schema.
                    other => self.convert(other, namespace, path),
                }
            }
            _ => Err(self.err(path, "not an Avro schema")),
        }
    }

    fn primitive_or_named(
        &mut self,
        t: &str,
        o: &Map<String, Json>,
        namespace: Option<&str>,
        path: &str,
    ) -> Result<(Json, Read), CodecError> {
        let logical = o.get("logicalType").and_then(Json::as_str);
        let connect_type = o.get("connect.type").and_then(Json::as_str);
        let (mut c, r) = match t {
            "null" => return Err(self.err(path, "a null schema outside a union")),
            "boolean" => (json!({"type":"boolean"}), Read::Boolean),
            "int" => {
                let ty = match connect_type {
                    Some("int8") => "int8",
                    Some("int16") => "int16",
                    _ => "int32",
                };
                let mut c = json!({ "type": ty });
                match logical {
                    Some("date") => logical_name(&mut c, "org.apache.kafka.connect.data.Date"),
                    Some("time-millis") => {
                        logical_name(&mut c, "org.apache.kafka.connect.data.Time")
                    }
                    _ => {}
                }
                (c, Read::Int)
            }
            "long" => {
                let mut c = json!({"type":"int64"});
                match logical {
                    Some("timestamp-millis") => {
                        logical_name(&mut c, "org.apache.kafka.connect.data.Timestamp")
                    }
                    Some("timestamp-micros") => {
                        logical_name(&mut c, "io.debezium.time.MicroTimestamp")
                    }
                    Some("time-micros") => logical_name(&mut c, "io.debezium.time.MicroTime"),
                    _ => {}
                }
                (c, Read::Long)
            }
            "float" => (json!({"type":"float"}), Read::Float),
            "double" => (json!({"type":"double"}), Read::Double),
            "string" => (json!({"type":"string"}), Read::String),
            "bytes" => {
                let mut c = json!({"type":"bytes"});
                if logical == Some("decimal") {
                    let scale = o.get("scale").and_then(Json::as_u64).unwrap_or(0);
                    logical_name(&mut c, "org.apache.kafka.connect.data.Decimal");
                    let mut params = json!({ "scale": scale.to_string() });
                    if let Some(p) = o.get("precision").and_then(Json::as_u64) {
                        params["connect.decimal.precision"] = json!(p.to_string());
                    }
                    c["parameters"] = params;
                }
                (c, Read::Bytes)
            }
            "array" => {
                let items = o
                    .get("items")
                    .ok_or_else(|| self.err(path, "array without items"))?;
                let (ic, ir) = self.convert(items, namespace, path)?;
                (
                    json!({"type":"array","items": ic}),
                    Read::Array(Box::new(ir)),
                )
            }
            "map" => {
                let values = o
                    .get("values")
                    .ok_or_else(|| self.err(path, "map without values"))?;
                let (vc, vr) = self.convert(values, namespace, path)?;
                (
                    json!({"type":"map","keys":{"type":"string","optional":false},"values": vc}),
                    Read::Map(Box::new(vr)),
                )
            }
            "record" | "enum" | "fixed" => {
                let full = full_name(o, namespace)
                    .ok_or_else(|| self.err(path, format!("a {t} without a name")))?;
                let ns = full.rsplit_once('.').map(|(ns, _)| ns.to_string());
                let (c, r) = match t {
                    "enum" => {
                        let symbols = o
                            .get("symbols")
                            .and_then(Json::as_array)
                            .map(|s| {
                                s.iter()
                                    .filter_map(|x| x.as_str().map(String::from))
                                    .collect()
                            })
                            .unwrap_or_default();
                        (json!({"type":"string"}), Read::Enum(symbols))
                    }
                    "fixed" => {
                        let size = o.get("size").and_then(Json::as_u64).unwrap_or(0);
                        (
                            json!({"type":"bytes"}),
                            Read::Fixed(usize::try_from(size).unwrap_or(0)),
                        )
                    }
                    _ => {
                        let fields = o
                            .get("fields")
                            .and_then(Json::as_array)
                            .ok_or_else(|| self.err(path, "record without fields"))?;
                        let mut cf = Vec::with_capacity(fields.len());
                        let mut rf = Vec::with_capacity(fields.len());
                        for f in fields {
                            let name = f
                                .get("name")
                                .and_then(Json::as_str)
                                .ok_or_else(|| self.err(path, "a field without a name"))?;
                            let ft = f
                                .get("type")
                                .ok_or_else(|| self.err(path, "a field without a type"))?;
                            let fpath = if path.is_empty() {
                                name.to_string()
                            } else {
                                format!("{path}.{name}")
                            };
                            let (mut c, r) = self.convert(ft, ns.as_deref(), &fpath)?;
                            let default = f.get("default").filter(|d| !d.is_null());
                            if let Some(d) = default.and_then(|d| connect_default(&c, d)) {
                                c["default"] = d;
                            }
                            c["field"] = json!(name);
                            cf.push(c);
                            rf.push((name.to_string(), r));
                        }
                        let name = o
                            .get("connect.name")
                            .and_then(Json::as_str)
                            .map(String::from)
                            .unwrap_or_else(|| full.clone());
                        (
                            json!({"type":"struct","fields": cf,"name": name}),
                            Read::Record(rf),
                        )
                    }
                };
                self.named.insert(full, (c.clone(), r.clone()));
                (c, r)
            }
            name => {
                // A reference to a named type defined earlier.
                let full = match (name.contains('.'), namespace) {
                    (false, Some(ns)) if !self.named.contains_key(name) => format!("{ns}.{name}"),
                    _ => name.to_string(),
                };
                let (c, r) = self
                    .named
                    .get(&full)
                    .or_else(|| self.named.get(name))
                    .cloned()
                    .ok_or_else(|| self.err(path, format!("unknown type \"{name}\"")))?;
                return Ok((with_optional(c), r));
            }
        };
        if let Some(n) = o.get("connect.name").and_then(Json::as_str) {
            c["name"] = json!(n);
        }
        if let Some(v) = o.get("connect.version").and_then(Json::as_i64) {
            c["version"] = json!(v);
        }
        if let Some(p) = o.get("connect.parameters").filter(|p| p.is_object()) {
            c["parameters"] = p.clone();
        }
        Ok((with_optional(c), r))
    }
}

/// A field's Avro default as the Connect default of its schema `c`: bytes
/// (Avro writes them as a string of ISO-8859-1 code points) in base64, as
/// Connect JSON carries them; scalars as they are. Structs, arrays and maps
/// get none (Connect JSON cannot state them for a table column anyway).
fn connect_default(c: &Json, d: &Json) -> Option<Json> {
    match c.get("type").and_then(Json::as_str)? {
        "bytes" => {
            let bytes = (d.as_str()?.chars())
                .map(|ch| u8::try_from(u32::from(ch)).ok())
                .collect::<Option<Vec<u8>>>()?;
            Some(json!(
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ))
        }
        "struct" | "array" | "map" => None,
        _ => Some(d.clone()),
    }
}

fn with_optional(mut c: Json) -> Json {
    c["optional"] = Json::Bool(false);
    c
}

fn logical_name(c: &mut Json, name: &str) {
    c["name"] = json!(name);
    c["version"] = json!(1);
}

fn full_name(o: &Map<String, Json>, enclosing: Option<&str>) -> Option<String> {
    let name = o.get("name")?.as_str()?;
    if name.contains('.') {
        return Some(name.to_string());
    }
    match o.get("namespace").and_then(Json::as_str).or(enclosing) {
        Some(ns) if !ns.is_empty() => Some(format!("{ns}.{name}")),
        _ => Some(name.to_string()),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], CodecError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| {
                bad(format!(
                    "truncated: {n} bytes needed at offset {}",
                    self.pos
                ))
            })?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn long(&mut self) -> Result<i64, CodecError> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            z |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok((z >> 1) as i64 ^ -((z & 1) as i64));
            }
        }
        Err(bad("a varint longer than 10 bytes".into()))
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| bad(format!("negative length {n}")))
    }
}

fn read(r: &Read, c: &mut Cursor<'_>) -> Result<Json, CodecError> {
    Ok(match r {
        Read::Boolean => Json::Bool(c.take(1)?[0] != 0),
        Read::Int => {
            let v = c.long()?;
            i32::try_from(v).map_err(|_| bad(format!("int {v} out of range")))?;
            json!(v)
        }
        Read::Long => json!(c.long()?),
        Read::Float => {
            let b = c.take(4)?;
            let v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            json!(f64::from(v))
        }
        Read::Double => {
            let b = c.take(8)?;
            let mut a = [0u8; 8];
            a.copy_from_slice(b);
            json!(f64::from_le_bytes(a))
        }
        Read::Bytes => {
            let n = c.len()?;
            json!(base64::engine::general_purpose::STANDARD.encode(c.take(n)?))
        }
        Read::Fixed(n) => json!(base64::engine::general_purpose::STANDARD.encode(c.take(*n)?)),
        Read::String => {
            let n = c.len()?;
            let s = std::str::from_utf8(c.take(n)?)
                .map_err(|e| bad(format!("a string is not UTF-8: {e}")))?;
            json!(s)
        }
        Read::Enum(symbols) => {
            let i = c.long()?;
            let s = usize::try_from(i)
                .ok()
                .and_then(|i| symbols.get(i))
                .ok_or_else(|| bad(format!("enum index {i} out of range")))?;
            json!(s)
        }
        Read::Optional { null_index, inner } => {
            let i = c.long()?;
            if i == *null_index {
                Json::Null
            } else if i == 1 - null_index {
                read(inner, c)?
            } else {
                return Err(bad(format!("union branch {i} out of range")));
            }
        }
        Read::Record(fields) => {
            let mut m = Map::new();
            for (name, fr) in fields {
                m.insert(name.clone(), read(fr, c)?);
            }
            Json::Object(m)
        }
        Read::Array(items) => {
            let mut out = Vec::new();
            blocks(c, |c| {
                out.push(read(items, c)?);
                Ok(())
            })?;
            Json::Array(out)
        }
        Read::Map(values) => {
            let mut out = Map::new();
            blocks(c, |c| {
                let n = c.len()?;
                let k = String::from_utf8(c.take(n)?.to_vec())
                    .map_err(|e| bad(format!("a map key is not UTF-8: {e}")))?;
                out.insert(k, read(values, c)?);
                Ok(())
            })?;
            Json::Object(out)
        }
    })
}

/// A JSON scalar or string as serde_json prints it (floats by `ryu`,
/// non-finite ones as `null`; strings escaped as serde_json escapes them).
fn put<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) -> Result<(), CodecError> {
    serde_json::to_writer(out, v).map_err(|e| bad(format!("writing JSON: {e}")))
}

/// Reads one value and appends its JSON text: the same reads, in the same
/// order, as [`read`] (so the same errors), and the text serde_json prints
/// for [`read`]'s tree. A map goes through the tree (a repeated key keeps
/// its first place and its last value there); so does a whole body whose
/// schema names a record field twice ([`AvroReader::tree_only`]).
fn write_text(r: &Read, c: &mut Cursor<'_>, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match r {
        Read::Boolean => {
            let b = c.take(1)?[0] != 0;
            out.extend_from_slice(if b { b"true" } else { b"false" });
        }
        Read::Int => {
            let v = c.long()?;
            i32::try_from(v).map_err(|_| bad(format!("int {v} out of range")))?;
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        Read::Long => out.extend_from_slice(itoa::Buffer::new().format(c.long()?).as_bytes()),
        Read::Float | Read::Double | Read::Enum(_) | Read::Map(_) => put(out, &read(r, c)?)?,
        Read::Bytes => {
            let n = c.len()?;
            let b = c.take(n)?;
            out.push(b'"');
            base64_into(out, b);
            out.push(b'"');
        }
        Read::Fixed(n) => {
            let b = c.take(*n)?;
            out.push(b'"');
            base64_into(out, b);
            out.push(b'"');
        }
        Read::String => {
            let n = c.len()?;
            let s = std::str::from_utf8(c.take(n)?)
                .map_err(|e| bad(format!("a string is not UTF-8: {e}")))?;
            put(out, s)?;
        }
        Read::Optional { null_index, inner } => {
            let i = c.long()?;
            if i == *null_index {
                out.extend_from_slice(b"null");
            } else if i == 1 - null_index {
                write_text(inner, c, out)?;
            } else {
                return Err(bad(format!("union branch {i} out of range")));
            }
        }
        Read::Record(fields) => {
            out.push(b'{');
            for (i, (name, fr)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                put(out, name.as_str())?;
                out.push(b':');
                write_text(fr, c, out)?;
            }
            out.push(b'}');
        }
        Read::Array(items) => {
            out.push(b'[');
            let mut first = true;
            blocks(c, |c| {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_text(items, c, out)
            })?;
            out.push(b']');
        }
    }
    Ok(())
}

fn base64_into(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(b)
            .as_bytes(),
    );
}

/// Whether a record anywhere in `r` names a field twice.
fn repeats_a_field(r: &Read) -> bool {
    match r {
        Read::Record(fields) => {
            fields
                .iter()
                .enumerate()
                .any(|(i, (name, _))| fields[..i].iter().any(|(n, _)| n == name))
                || fields.iter().any(|(_, f)| repeats_a_field(f))
        }
        Read::Optional { inner, .. } | Read::Array(inner) | Read::Map(inner) => {
            repeats_a_field(inner)
        }
        _ => false,
    }
}

/// Reads Avro's blocks (count, items; a negative count is followed by a byte size).
fn blocks(
    c: &mut Cursor<'_>,
    mut item: impl FnMut(&mut Cursor<'_>) -> Result<(), CodecError>,
) -> Result<(), CodecError> {
    loop {
        let mut n = c.long()?;
        if n == 0 {
            return Ok(());
        }
        if n < 0 {
            n = -n;
            c.long()?; // the block's size in bytes
        }
        for _ in 0..n {
            item(c)?;
        }
    }
}
