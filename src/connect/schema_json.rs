//! The Connect schema model, written and read exactly as `JsonConverter` does.
//!
//! [`ConnectSchema`] mirrors Kafka's `Schema`: a type, `optional`, and the
//! optional `name`, `version`, `doc`, `parameters`, `default`, plus `fields`
//! (struct), `items` (array) or `keys`/`values` (map).
//!
//! Writing follows `JsonConverter.asJsonSchema` key for key: `type`, then
//! `fields` / `items` / `keys`,`values`, then `optional` (always), `name`,
//! `version`, `doc`, `parameters`, `default` (each only when set), and for a
//! struct member the key `field` last. There is no whitespace. Rendering
//! happens once per table schema (the encoder caches the text), so it builds a
//! small tree rather than writing straight to the output.
//!
//! Reading follows `JsonConverter.asConnectSchema`: `type` must be a known
//! string; `optional` is true only when it is the boolean `true`; a non-string
//! `name` or non-integral `version` is ignored; `parameters` values must be
//! strings; structs need a `fields` array whose members carry a string
//! `field`; arrays need `items`, maps `keys` and `values`. `default` is kept as
//! JSON text and converted with the field's type later.

use serde_json::Value as Json;

use super::json_text::write_str;

/// Connect's schema types, spelled as `JsonConverter` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SchemaType {
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Boolean,
    String,
    Bytes,
    Array,
    Map,
    Struct,
}

impl SchemaType {
    /// The JSON `type` string (`float32` is `float`, `float64` is `double`).
    pub fn json_name(self) -> &'static str {
        match self {
            SchemaType::Int8 => "int8",
            SchemaType::Int16 => "int16",
            SchemaType::Int32 => "int32",
            SchemaType::Int64 => "int64",
            SchemaType::Float32 => "float",
            SchemaType::Float64 => "double",
            SchemaType::Boolean => "boolean",
            SchemaType::String => "string",
            SchemaType::Bytes => "bytes",
            SchemaType::Array => "array",
            SchemaType::Map => "map",
            SchemaType::Struct => "struct",
        }
    }

    /// Parses a JSON `type` string.
    pub fn from_json_name(name: &str) -> Option<SchemaType> {
        Some(match name {
            "int8" => SchemaType::Int8,
            "int16" => SchemaType::Int16,
            "int32" => SchemaType::Int32,
            "int64" => SchemaType::Int64,
            "float" => SchemaType::Float32,
            "double" => SchemaType::Float64,
            "boolean" => SchemaType::Boolean,
            "string" => SchemaType::String,
            "bytes" => SchemaType::Bytes,
            "array" => SchemaType::Array,
            "map" => SchemaType::Map,
            "struct" => SchemaType::Struct,
            _ => return None,
        })
    }
}

/// One Connect schema (a tree for structs, arrays and maps).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ConnectSchema {
    pub ty: SchemaType,
    pub optional: bool,
    pub name: Option<String>,
    pub version: Option<i32>,
    pub doc: Option<String>,
    /// In insertion order (Connect keeps a `LinkedHashMap`).
    pub parameters: Vec<(String, String)>,
    /// The default as JSON text; never `null` (Connect omits a null default).
    pub default: Option<String>,
    /// Struct members, in order.
    pub fields: Vec<(String, ConnectSchema)>,
    pub items: Option<Box<ConnectSchema>>,
    pub keys: Option<Box<ConnectSchema>>,
    pub values: Option<Box<ConnectSchema>>,
}

/// A schema that could not be read: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SchemaParseError {
    pub path: String,
    pub reason: String,
}

impl ConnectSchema {
    /// A schema of type `ty` with nothing else set.
    pub fn new(ty: SchemaType, optional: bool) -> Self {
        ConnectSchema {
            ty,
            optional,
            name: None,
            version: None,
            doc: None,
            parameters: Vec::new(),
            default: None,
            fields: Vec::new(),
            items: None,
            keys: None,
            values: None,
        }
    }

    /// Sets the name and (optionally) the version.
    pub fn named(mut self, name: impl Into<String>, version: Option<i32>) -> Self {
        self.name = Some(name.into());
        self.version = version;
        self
    }

    /// Adds a parameter.
    pub fn param(mut self, key: &str, value: impl Into<String>) -> Self {
        self.parameters.push((key.to_owned(), value.into()));
        self
    }

    /// Adds a struct member.
    pub fn field(mut self, name: impl Into<String>, schema: ConnectSchema) -> Self {
        self.fields.push((name.into(), schema));
        self
    }

    /// The struct member called `name`.
    pub fn member(&self, name: &str) -> Option<&ConnectSchema> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, s)| s)
    }

    /// `int32`, or `int32 (org.apache.kafka.connect.data.Date)` for logical types.
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.ty.json_name()),
            None => self.ty.json_name().to_owned(),
        }
    }

    /// Appends the schema's JSON.
    pub fn render(&self, out: &mut String) {
        self.render_as(out, None);
    }

    /// Appends the schema's JSON, as a struct member called `field` when given.
    pub fn render_as(&self, out: &mut String, field: Option<&str>) {
        out.push_str("{\"type\":\"");
        out.push_str(self.ty.json_name());
        out.push('"');
        match self.ty {
            SchemaType::Struct => {
                out.push_str(",\"fields\":[");
                for (i, (name, member)) in self.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    member.render_as(out, Some(name));
                }
                out.push(']');
            }
            SchemaType::Array => {
                if let Some(items) = &self.items {
                    out.push_str(",\"items\":");
                    items.render(out);
                }
            }
            SchemaType::Map => {
                if let (Some(keys), Some(values)) = (&self.keys, &self.values) {
                    out.push_str(",\"keys\":");
                    keys.render(out);
                    out.push_str(",\"values\":");
                    values.render(out);
                }
            }
            _ => {}
        }
        out.push_str(if self.optional {
            ",\"optional\":true"
        } else {
            ",\"optional\":false"
        });
        if let Some(name) = &self.name {
            out.push_str(",\"name\":");
            write_str(out, name);
        }
        if let Some(version) = self.version {
            out.push_str(",\"version\":");
            out.push_str(&version.to_string());
        }
        if let Some(doc) = &self.doc {
            out.push_str(",\"doc\":");
            write_str(out, doc);
        }
        if !self.parameters.is_empty() {
            out.push_str(",\"parameters\":{");
            for (i, (k, v)) in self.parameters.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_str(out, v);
            }
            out.push('}');
        }
        if let Some(default) = &self.default {
            out.push_str(",\"default\":");
            out.push_str(default);
        }
        if let Some(field) = field {
            out.push_str(",\"field\":");
            write_str(out, field);
        }
        out.push('}');
    }

    /// Reads a schema from parsed JSON, as `JsonConverter.asConnectSchema` does.
    pub fn parse(json: &Json) -> Result<ConnectSchema, SchemaParseError> {
        parse_at(json, "")
    }
}

fn err(path: &str, reason: impl Into<String>) -> SchemaParseError {
    SchemaParseError {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

fn child_path(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

fn parse_at(json: &Json, path: &str) -> Result<ConnectSchema, SchemaParseError> {
    let Json::Object(obj) = json else {
        return Err(err(path, "a schema must be a JSON object"));
    };
    let ty = match obj.get("type") {
        Some(Json::String(t)) => SchemaType::from_json_name(t)
            .ok_or_else(|| err(path, format!("unknown schema type `{t}`")))?,
        _ => return Err(err(path, "schema must contain a string 'type' field")),
    };
    let optional = matches!(obj.get("optional"), Some(Json::Bool(true)));
    let mut schema = ConnectSchema::new(ty, optional);
    if let Some(Json::String(name)) = obj.get("name") {
        schema.name = Some(name.clone());
    }
    if let Some(v) = obj.get("version").and_then(Json::as_i64) {
        schema.version = Some(
            i32::try_from(v).map_err(|_| err(path, format!("version {v} does not fit int32")))?,
        );
    }
    if let Some(Json::String(doc)) = obj.get("doc") {
        schema.doc = Some(doc.clone());
    }
    if let Some(Json::Object(params)) = obj.get("parameters") {
        for (k, v) in params {
            let Json::String(v) = v else {
                return Err(err(
                    path,
                    format!("schema parameter `{k}` must be a string"),
                ));
            };
            schema.parameters.push((k.clone(), v.clone()));
        }
    }
    match ty {
        SchemaType::Struct => {
            let Some(Json::Array(fields)) = obj.get("fields") else {
                return Err(err(
                    path,
                    "struct schema's \"fields\" argument is not an array",
                ));
            };
            let mut seen = std::collections::HashSet::with_capacity(fields.len());
            for field in fields {
                let Some(Json::String(name)) = field.get("field") else {
                    return Err(err(
                        path,
                        "struct schema's field name not specified properly",
                    ));
                };
                if !seen.insert(name.as_str()) {
                    return Err(err(path, format!("duplicate field `{name}`")));
                }
                let member = parse_at(field, &child_path(path, name))?;
                schema.fields.push((name.clone(), member));
            }
        }
        SchemaType::Array => {
            let items = obj
                .get("items")
                .ok_or_else(|| err(path, "array schema did not specify the element type"))?;
            schema.items = Some(Box::new(parse_at(items, &child_path(path, "items"))?));
        }
        SchemaType::Map => {
            let keys = obj
                .get("keys")
                .ok_or_else(|| err(path, "map schema did not specify the key type"))?;
            let values = obj
                .get("values")
                .ok_or_else(|| err(path, "map schema did not specify the value type"))?;
            schema.keys = Some(Box::new(parse_at(keys, &child_path(path, "keys"))?));
            schema.values = Some(Box::new(parse_at(values, &child_path(path, "values"))?));
        }
        _ => {}
    }
    match obj.get("default") {
        None | Some(Json::Null) => {}
        Some(default) => schema.default = Some(default.to_string()),
    }
    Ok(schema)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConnectSchema, SchemaParseError> {
        ConnectSchema::parse(&serde_json::from_str(text).expect("json"))
    }

    fn render(s: &ConnectSchema) -> String {
        let mut out = String::new();
        s.render(&mut out);
        out
    }

    #[test]
    fn renders_keys_in_json_converter_order() {
        let s = ConnectSchema::new(SchemaType::Struct, false)
            .field(
                "price",
                ConnectSchema::new(SchemaType::Bytes, true)
                    .named("org.apache.kafka.connect.data.Decimal", Some(1))
                    .param("scale", "2")
                    .param("connect.decimal.precision", "10"),
            )
            .field("ratio", ConnectSchema::new(SchemaType::Float32, true))
            .named("t", None);
        assert_eq!(
            render(&s),
            r#"{"type":"struct","fields":[{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"price"},{"type":"float","optional":true,"field":"ratio"}],"optional":false,"name":"t"}"#
        );
    }

    #[test]
    fn renders_doc_default_array_and_map() {
        let mut s = ConnectSchema::new(SchemaType::Int32, false);
        s.doc = Some("a \"doc\"".into());
        s.default = Some("5".into());
        assert_eq!(
            render(&s),
            r#"{"type":"int32","optional":false,"doc":"a \"doc\"","default":5}"#
        );
        let mut a = ConnectSchema::new(SchemaType::Array, true);
        a.items = Some(Box::new(ConnectSchema::new(SchemaType::Float64, false)));
        assert_eq!(
            render(&a),
            r#"{"type":"array","items":{"type":"double","optional":false},"optional":true}"#
        );
        let mut m = ConnectSchema::new(SchemaType::Map, false);
        m.keys = Some(Box::new(ConnectSchema::new(SchemaType::String, false)));
        m.values = Some(Box::new(ConnectSchema::new(SchemaType::Int64, true)));
        let text = render(&m);
        assert_eq!(
            text,
            r#"{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int64","optional":true},"optional":false}"#
        );
        assert_eq!(parse(&text).expect("parses"), m);
    }

    #[test]
    fn parse_round_trips_rendered_schemas() {
        let text = r#"{"type":"struct","fields":[{"type":"int64","optional":false,"default":0,"field":"id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"p"}],"optional":false,"name":"orders","version":3,"doc":"d"}"#;
        let s = parse(text).expect("parses");
        assert_eq!(s.fields.len(), 2);
        assert_eq!(
            s.member("id").and_then(|f| f.default.clone()).as_deref(),
            Some("0")
        );
        assert_eq!(render(&s), text);
    }

    #[test]
    fn parse_is_lenient_where_json_converter_is() {
        let s =
            parse(r#"{"type":"string","optional":"yes","name":5,"version":"2","default":null}"#)
                .expect("parses");
        assert!(!s.optional);
        assert_eq!(s.name, None);
        assert_eq!(s.version, None);
        assert_eq!(s.default, None);
        let s = parse(r#"{"type":"int8"}"#).expect("parses");
        assert!(!s.optional, "missing optional means required");
    }

    #[test]
    fn parse_rejects_malformed_schemas_with_a_path() {
        let e = parse(r#"{"optional":true}"#).expect_err("no type");
        assert!(e.reason.contains("'type'"));
        let e = parse(r#"{"type":"int128"}"#).expect_err("unknown");
        assert!(e.reason.contains("int128"));
        let e = parse(r#"{"type":"struct"}"#).expect_err("no fields");
        assert!(e.reason.contains("fields"));
        let e = parse(r#"{"type":"struct","fields":[{"type":"int8"}]}"#).expect_err("no name");
        assert!(e.reason.contains("field name"));
        let e = parse(r#"{"type":"struct","fields":[{"type":"array","field":"a"}]}"#)
            .expect_err("no items");
        assert_eq!(e.path, "a");
        let e = parse(r#"{"type":"string","parameters":{"x":1}}"#).expect_err("param");
        assert!(e.reason.contains("`x`"));
        let e = parse(r#"[1]"#).expect_err("not an object");
        assert!(e.reason.contains("object"));
        let e = parse(r#"{"type":"struct","fields":[{"type":"int8","field":"a"},{"type":"int8","field":"a"}]}"#)
            .expect_err("duplicate");
        assert!(e.reason.contains("duplicate"));
    }
}
