//! Connect's `ReplaceField`, `InsertField` and `MaskField` (`$Key` and
//! `$Value`), as they behave in Kafka 4.1 on the JSON converter's records:
//!
//! * `ReplaceField` and `InsertField` pass a null key or value through;
//!   `MaskField` fails on it (Connect does; put it behind a
//!   `RecordIsTombstone` predicate with `negate = true`).
//! * Each writes a new struct schema carrying the old one's name, version,
//!   doc and parameters, but required (`SchemaUtil.copySchemaBasics`);
//!   `MaskField` keeps the schema as it is.
//! * With `replace.null.with.default` (the default) a null field that has a
//!   default comes out as the default, as Connect's `Struct.get` returns it.
//! * Masking writes the type's zero (`""`, `0`, `0.0`, `false`, epoch 0 for
//!   `Date`/`Time`/`Timestamp`, an empty array or map, a `Decimal` 0) or,
//!   with `replacement`, that text parsed as the field's type (numbers and
//!   strings only). Bytes and structs cannot be masked. A `Decimal` is
//!   masked at scale 0, so a column of another scale fails, as Connect's
//!   converter fails on it.

use serde_json::{Map, Number, Value as Json};

use super::record::Data;
use super::unwrap::{copy_basics, value_or_default};
use super::{Props, Record, Side, TransformError};
use base64::Engine as _;

use crate::connect::decimal;
use crate::connect::schema_json::{ConnectSchema, SchemaType};

fn list(text: Option<String>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::Key => "key",
        Side::Value => "value",
    }
}

/// `ReplaceField$Key` / `$Value`: `exclude`, `include`, `renames`.
#[derive(Debug)]
pub(crate) struct ReplaceField {
    pub(crate) side: Side,
    exclude: Vec<String>,
    include: Vec<String>,
    renames: Vec<(String, String)>,
    with_defaults: bool,
}

impl ReplaceField {
    pub(crate) fn configure(p: &mut Props<'_>, side: Side) -> Result<Self, TransformError> {
        let mut exclude = list(p.take("exclude"));
        exclude.extend(list(p.take("blacklist")));
        let mut include = list(p.take("include"));
        include.extend(list(p.take("whitelist")));
        let mut renames = Vec::new();
        for pair in list(p.take("renames")) {
            match pair.split_once(':') {
                Some((from, to)) if !from.is_empty() && !to.is_empty() && !to.contains(':') => {
                    renames.push((from.to_owned(), to.to_owned()));
                }
                _ => return Err(p.invalid("renames", format!("`{pair}` is not a `from:to` pair"))),
            }
        }
        Ok(ReplaceField {
            side,
            exclude,
            include,
            renames,
            with_defaults: p.bool("replace.null.with.default", true)?,
        })
    }

    fn keeps(&self, name: &str) -> bool {
        !self.exclude.iter().any(|e| e == name)
            && (self.include.is_empty() || self.include.iter().any(|i| i == name))
    }

    fn renamed<'a>(&'a self, name: &'a str) -> &'a str {
        self.renames
            .iter()
            .find(|(from, _)| from == name)
            .map_or(name, |(_, to)| to.as_str())
    }

    pub(crate) fn apply(&self, mut r: Record) -> Result<Option<Record>, TransformError> {
        let slot = Side::of(&mut r, self.side);
        let Some(data) = slot.as_ref().filter(|d| !d.value.is_null()) else {
            return Ok(Some(r));
        };
        let fields = require_struct(data, self.side, "field replacement")?;
        let mut out = Map::new();
        let new = match &data.schema {
            Some(schema) => {
                let mut s = copy_basics(schema);
                for (name, fs) in &schema.fields {
                    if self.keeps(name) {
                        let v = fields.get(name).cloned().unwrap_or(Json::Null);
                        let to = self.renamed(name).to_owned();
                        out.insert(to.clone(), value_or_default(v, fs, self.with_defaults));
                        s.fields.push((to, fs.clone()));
                    }
                }
                Data {
                    schema: Some(s),
                    value: Json::Object(out),
                }
            }
            None => {
                for (name, v) in fields {
                    if self.keeps(name) {
                        out.insert(self.renamed(name).to_owned(), v.clone());
                    }
                }
                Data {
                    schema: None,
                    value: Json::Object(out),
                }
            }
        };
        *slot = Some(new);
        Ok(Some(r))
    }
}

/// A struct's (or schemaless map's) fields, or Connect's error for anything else.
fn require_struct<'a>(
    data: &'a Data,
    side: Side,
    purpose: &str,
) -> Result<&'a Map<String, Json>, TransformError> {
    match (&data.schema, data.fields()) {
        (Some(s), Some(f)) if s.ty == SchemaType::Struct => Ok(f),
        (None, Some(f)) => Ok(f),
        (Some(s), _) => Err(TransformError::Record {
            reason: format!(
                "{purpose} needs a struct {}, found {}",
                side_name(side),
                s.describe()
            ),
        }),
        (None, _) => Err(TransformError::Record {
            reason: format!(
                "{purpose} needs a struct or map {} , found {}",
                side_name(side),
                data.value
            ),
        }),
    }
}

/// One `InsertField` field: its name and whether it is required (`name!`).
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    required: bool,
}

impl Spec {
    fn parse(text: Option<String>) -> Option<Spec> {
        let text = text?.trim().to_owned();
        if text.is_empty() {
            return None;
        }
        Some(if let Some(n) = text.strip_suffix('!') {
            Spec {
                name: n.to_owned(),
                required: true,
            }
        } else {
            Spec {
                name: text.strip_suffix('?').unwrap_or(&text).to_owned(),
                required: false,
            }
        })
    }
}

/// `InsertField$Key` / `$Value`: topic, partition, offset, timestamp and a
/// static field.
#[derive(Debug)]
pub(crate) struct InsertField {
    pub(crate) side: Side,
    topic: Option<Spec>,
    partition: Option<Spec>,
    offset: Option<Spec>,
    timestamp: Option<Spec>,
    static_field: Option<Spec>,
    static_value: Option<String>,
    with_defaults: bool,
}

impl InsertField {
    pub(crate) fn configure(p: &mut Props<'_>, side: Side) -> Result<Self, TransformError> {
        let t = InsertField {
            side,
            topic: Spec::parse(p.take("topic.field")),
            partition: Spec::parse(p.take("partition.field")),
            offset: Spec::parse(p.take("offset.field")),
            timestamp: Spec::parse(p.take("timestamp.field")),
            static_field: Spec::parse(p.take("static.field")),
            static_value: p.take("static.value"),
            with_defaults: p.bool("replace.null.with.default", true)?,
        };
        if t.topic.is_none()
            && t.partition.is_none()
            && t.offset.is_none()
            && t.timestamp.is_none()
            && t.static_field.is_none()
        {
            return Err(p.invalid(
                "topic.field",
                "(or partition.field, offset.field, timestamp.field, static.field): \
                 none is set, so there is nothing to insert"
                    .into(),
            ));
        }
        Ok(t)
    }

    pub(crate) fn apply(&self, mut r: Record) -> Result<Option<Record>, TransformError> {
        if Side::of(&mut r, self.side)
            .as_ref()
            .is_none_or(|d| d.value.is_null())
        {
            return Ok(Some(r));
        }
        let mut extra: Vec<(String, ConnectSchema, Json)> = Vec::new();
        let field = |spec: &Spec, ty: SchemaType| ConnectSchema::new(ty, !spec.required);
        if let Some(s) = &self.topic {
            extra.push((
                s.name.clone(),
                field(s, SchemaType::String),
                Json::String(r.topic.clone()),
            ));
        }
        if let Some(s) = &self.partition {
            extra.push((
                s.name.clone(),
                field(s, SchemaType::Int32),
                r.partition.map_or(Json::Null, |p| Json::Number(p.into())),
            ));
        }
        if let Some(s) = &self.offset {
            let Some(offset) = r.offset else {
                return Err(TransformError::Record {
                    reason: "offset.field can only be inserted into records a sink consumed \
                             (Connect: \"Only SinkRecord supported for [field insertion]\")"
                        .into(),
                });
            };
            extra.push((
                s.name.clone(),
                field(s, SchemaType::Int64),
                Json::Number(offset.into()),
            ));
        }
        if let Some(s) = &self.timestamp {
            extra.push((
                s.name.clone(),
                field(s, SchemaType::Int64)
                    .named("org.apache.kafka.connect.data.Timestamp", Some(1)),
                r.timestamp.map_or(Json::Null, |t| Json::Number(t.into())),
            ));
        }
        if let Some(s) = &self.static_field {
            extra.push((
                s.name.clone(),
                field(s, SchemaType::String),
                self.static_value
                    .as_ref()
                    .map_or(Json::Null, |v| Json::String(v.clone())),
            ));
        }
        for (name, fs, v) in &extra {
            if !fs.optional && v.is_null() {
                return Err(TransformError::Record {
                    reason: format!("required field `{name}` would be null"),
                });
            }
        }
        let side = self.side;
        let with_defaults = self.with_defaults;
        let slot = Side::of(&mut r, side);
        let Some(data) = slot.as_ref().filter(|d| !d.value.is_null()) else {
            return Ok(Some(r));
        };
        let fields = require_struct(data, side, "field insertion")?;
        let new = match &data.schema {
            Some(schema) => {
                let mut s = copy_basics(schema);
                let mut out = Map::new();
                for (name, fs) in &schema.fields {
                    let v = fields.get(name).cloned().unwrap_or(Json::Null);
                    out.insert(name.clone(), value_or_default(v, fs, with_defaults));
                    s.fields.push((name.clone(), fs.clone()));
                }
                for (name, fs, v) in extra {
                    out.insert(name.clone(), v);
                    s.fields.push((name, fs));
                }
                Data {
                    schema: Some(s),
                    value: Json::Object(out),
                }
            }
            None => {
                let mut out = fields.clone();
                for (name, _, v) in extra {
                    out.insert(name, v);
                }
                Data {
                    schema: None,
                    value: Json::Object(out),
                }
            }
        };
        *slot = Some(new);
        Ok(Some(r))
    }
}

/// `MaskField$Key` / `$Value`: `fields`, `replacement`.
#[derive(Debug)]
pub(crate) struct MaskField {
    pub(crate) side: Side,
    fields: Vec<String>,
    replacement: Option<String>,
    with_defaults: bool,
}

impl MaskField {
    pub(crate) fn configure(p: &mut Props<'_>, side: Side) -> Result<Self, TransformError> {
        let fields = list(p.take("fields"));
        if fields.is_empty() {
            return Err(p.invalid("fields", "is required (the fields to mask)".into()));
        }
        Ok(MaskField {
            side,
            fields,
            replacement: p.take("replacement").filter(|s| !s.is_empty()),
            with_defaults: p.bool("replace.null.with.default", true)?,
        })
    }

    pub(crate) fn apply(&self, mut r: Record) -> Result<Option<Record>, TransformError> {
        let side = self.side;
        let slot = Side::of(&mut r, side);
        let Some(data) = slot.as_ref() else {
            return Err(TransformError::Record {
                reason: format!(
                    "mask fields needs a struct or map {}, found null",
                    side_name(side)
                ),
            });
        };
        let fields = require_struct(data, side, "mask fields")?;
        let mut out = Map::new();
        match &data.schema {
            Some(schema) => {
                for (name, fs) in &schema.fields {
                    let v = fields.get(name).cloned().unwrap_or(Json::Null);
                    let v = value_or_default(v, fs, self.with_defaults);
                    let v = if self.fields.contains(name) && !v.is_null() {
                        self.mask(name, Some(fs), &v)?
                    } else {
                        v
                    };
                    out.insert(name.clone(), v);
                }
            }
            None => {
                for (name, v) in fields {
                    let v = if self.fields.contains(name) && !v.is_null() {
                        self.mask(name, None, v)?
                    } else {
                        v.clone()
                    };
                    out.insert(name.clone(), v);
                }
            }
        }
        let schema = data.schema.clone();
        *slot = Some(Data {
            schema,
            value: Json::Object(out),
        });
        Ok(Some(r))
    }

    fn mask(
        &self,
        field: &str,
        schema: Option<&ConnectSchema>,
        v: &Json,
    ) -> Result<Json, TransformError> {
        let cannot = |what: &str| TransformError::Record {
            reason: format!(
                "cannot mask field `{field}` ({what}){}",
                if self.replacement.is_some() {
                    " with a custom replacement"
                } else {
                    ""
                }
            ),
        };
        let kind = Kind::of(schema, v);
        match (&self.replacement, kind) {
            (_, Kind::Bytes) => Err(cannot("bytes")),
            (_, Kind::Struct) => Err(cannot("a struct")),
            (None, Kind::String) => Ok(Json::String(String::new())),
            (None, Kind::Int) => Ok(Json::Number(0.into())),
            (None, Kind::Float) => Ok(float(0.0)),
            (None, Kind::Bool) => Ok(Json::Bool(false)),
            (None, Kind::Temporal) => Ok(Json::Number(0.into())),
            (None, Kind::Array) => Ok(Json::Array(Vec::new())),
            (None, Kind::Map) => Ok(Json::Object(Map::new())),
            (None, Kind::Decimal(scale)) => decimal(field, "0", scale),
            (Some(rep), Kind::String) => Ok(Json::String(rep.clone())),
            (Some(rep), Kind::Int) => {
                // Connect: `new BigDecimal(replacement).longValue()` (or
                // int/short/byteValue): the fraction is cut off and a value
                // too wide for the field wraps, as Java's narrowing does.
                let n = java_integer(rep).ok_or_else(|| not_number(rep))?;
                Ok(Json::Number(
                    match schema.map(|s| s.ty) {
                        Some(SchemaType::Int8) => i64::from(n as i8),
                        Some(SchemaType::Int16) => i64::from(n as i16),
                        Some(SchemaType::Int32) => i64::from(n as i32),
                        _ => n,
                    }
                    .into(),
                ))
            }
            (Some(rep), Kind::Float) => {
                if !is_big_decimal(rep) {
                    return Err(not_number(rep));
                }
                let v: f64 = rep.parse().map_err(|_| not_number(rep))?;
                Ok(match schema.map(|s| s.ty) {
                    Some(SchemaType::Float32) => float(f64::from(v as f32)),
                    _ => float(v),
                })
            }
            (Some(rep), Kind::Decimal(scale)) => decimal(field, rep, scale),
            (Some(_), Kind::Bool) => Err(cannot("a boolean")),
            (Some(_), Kind::Temporal) => Err(cannot("a date/time")),
            (Some(_), Kind::Array) => Err(cannot("an array")),
            (Some(_), Kind::Map) => Err(cannot("a map")),
        }
    }
}

fn not_number(rep: &str) -> TransformError {
    TransformError::Record {
        reason: format!("replacement `{rep}` is not a number (Java's BigDecimal syntax)"),
    }
}

/// Whether `text` is in `java.math.BigDecimal`'s syntax: sign, digits with
/// an optional point, optional exponent.
fn is_big_decimal(text: &str) -> bool {
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], Some(&text[i + 1..])),
        None => (text, None),
    };
    let mantissa = mantissa.strip_prefix(['+', '-']).unwrap_or(mantissa);
    let digits = mantissa.chars().filter(char::is_ascii_digit).count();
    let points = mantissa.chars().filter(|c| *c == '.').count();
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
    });
    digits > 0 && points <= 1 && digits + points == mantissa.len() && exp_ok
}

/// `new BigDecimal(text).longValue()`: the integer part, wrapped to 64 bits.
fn java_integer(text: &str) -> Option<i64> {
    if !is_big_decimal(text) {
        return None;
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches(['+', '-']);
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{int}{frac}");
    // The point sits after `int.len() + exp` digits.
    let point = i64::try_from(int.len()).ok()?.checked_add(exp)?;
    let whole: String = if point <= 0 {
        String::new()
    } else if point as usize >= digits.len() {
        let zeros = (point as usize - digits.len()).min(64);
        format!("{digits}{}", "0".repeat(zeros))
    } else {
        digits[..point as usize].to_owned()
    };
    let mut v: u64 = 0;
    for d in whole.bytes() {
        v = v.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
    }
    Some(if negative {
        v.wrapping_neg() as i64
    } else {
        v as i64
    })
}

fn float(v: f64) -> Json {
    Number::from_f64(v).map_or(Json::Null, Json::Number)
}

/// A `Decimal` value (base64 of the unscaled big-endian two's complement)
/// for `text`, which must carry the column's scale (Connect's converter
/// refuses any other).
fn decimal(field: &str, text: &str, scale: u32) -> Result<Json, TransformError> {
    let text = text.trim();
    if !is_big_decimal(text) {
        return Err(not_number(text));
    }
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(i64::MAX)),
        None => (text, 0),
    };
    let digits_after = mantissa.split_once('.').map_or(0, |(_, f)| f.len() as i64);
    let written = digits_after.saturating_sub(exp);
    if written != i64::from(scale) {
        return Err(TransformError::Record {
            reason: format!(
                "masking Decimal field `{field}` (scale {scale}) writes `{text}` at scale \
                 {written}, which Connect's converter refuses"
            ),
        });
    }
    let unscaled = decimal::parse(text, scale).map_err(|e| TransformError::Record {
        reason: format!("replacement `{text}` for Decimal field `{field}`: {e}"),
    })?;
    Ok(Json::String(
        base64::engine::general_purpose::STANDARD.encode(decimal::to_twos_complement(&unscaled)),
    ))
}

/// What a value is, for masking: by schema, else by JSON kind.
enum Kind {
    String,
    Int,
    Float,
    Bool,
    Bytes,
    Temporal,
    Decimal(u32),
    Array,
    Map,
    Struct,
}

impl Kind {
    fn of(schema: Option<&ConnectSchema>, v: &Json) -> Kind {
        let Some(s) = schema else {
            return match v {
                Json::String(_) => Kind::String,
                Json::Number(n) if n.is_f64() => Kind::Float,
                Json::Number(_) => Kind::Int,
                Json::Bool(_) => Kind::Bool,
                Json::Array(_) => Kind::Array,
                _ => Kind::Map,
            };
        };
        match s.name.as_deref() {
            Some("org.apache.kafka.connect.data.Decimal") => {
                let scale = s
                    .parameters
                    .iter()
                    .find(|(k, _)| k == "scale")
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                return Kind::Decimal(scale);
            }
            Some(
                "org.apache.kafka.connect.data.Date"
                | "org.apache.kafka.connect.data.Time"
                | "org.apache.kafka.connect.data.Timestamp",
            ) => return Kind::Temporal,
            _ => {}
        }
        match s.ty {
            SchemaType::Int8 | SchemaType::Int16 | SchemaType::Int32 | SchemaType::Int64 => {
                Kind::Int
            }
            SchemaType::Float32 | SchemaType::Float64 => Kind::Float,
            SchemaType::Boolean => Kind::Bool,
            SchemaType::String => Kind::String,
            SchemaType::Bytes => Kind::Bytes,
            SchemaType::Array => Kind::Array,
            SchemaType::Map => Kind::Map,
            SchemaType::Struct => Kind::Struct,
        }
    }
}
