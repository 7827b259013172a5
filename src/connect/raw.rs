//! Splitting JSON text without building trees.
//!
//! A Connect message is read once with `serde_json`, keeping `schema` and
//! `payload` as borrowed `RawValue` text and noting anything else at the top
//! level (`JsonConverter` accepts exactly those two keys). Payload objects are
//! split the same way into `(name, raw value)` pairs, names borrowed from the
//! input unless they contain escapes, so each field's value can be converted
//! straight from its text by [`super::types`].

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::error::{CodecError, MessagePart};

/// Splits a message into its schema and payload texts; `None` for a null/empty message.
pub(crate) fn split(part: MessagePart, bytes: &[u8]) -> Result<Option<(&str, &str)>, CodecError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let top: TopLevel<'_> =
        serde_json::from_slice(bytes).map_err(|source| CodecError::Json { part, source })?;
    let not_connect = |problem: String| CodecError::NotConnectJson { part, problem };
    if let Some(kind) = top.not_object {
        return if kind == "null" {
            Ok(None)
        } else {
            Err(not_connect(format!("the message is {kind}, not an object")))
        };
    }
    if let Some(extra) = top.extra {
        return Err(not_connect(format!("unexpected field \"{extra}\"")));
    }
    match (top.schema, top.payload) {
        (Some(s), Some(p)) => Ok(Some((s.get(), p.get()))),
        (None, Some(_)) => Err(not_connect("no \"schema\" field".into())),
        (Some(_), None) => Err(not_connect("no \"payload\" field".into())),
        (None, None) => Err(not_connect("neither \"schema\" nor \"payload\"".into())),
    }
}

/// The top-level message: `schema`, `payload`, and what else was there.
#[derive(Default)]
struct TopLevel<'a> {
    schema: Option<&'a RawValue>,
    payload: Option<&'a RawValue>,
    extra: Option<String>,
    not_object: Option<&'static str>,
}

enum TopKey {
    Schema,
    Payload,
    Other(String),
}

impl<'de> Deserialize<'de> for TopKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = TopKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<TopKey, E> {
                Ok(match s {
                    "schema" => TopKey::Schema,
                    "payload" => TopKey::Payload,
                    other => TopKey::Other(other.to_owned()),
                })
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for TopLevel<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = TopLevel<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut top = TopLevel::default();
                while let Some(key) = map.next_key::<TopKey>()? {
                    match key {
                        TopKey::Schema => top.schema = Some(map.next_value()?),
                        TopKey::Payload => top.payload = Some(map.next_value()?),
                        TopKey::Other(name) => {
                            map.next_value::<IgnoredAny>()?;
                            top.extra.get_or_insert(name);
                        }
                    }
                }
                Ok(top)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(TopLevel {
                    not_object: Some("an array"),
                    ..TopLevel::default()
                })
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(TopLevel {
                    not_object: Some("null"),
                    ..TopLevel::default()
                })
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(TopLevel {
                    not_object: Some("a boolean"),
                    ..TopLevel::default()
                })
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(TopLevel {
                    not_object: Some("a number"),
                    ..TopLevel::default()
                })
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                self.visit_i64(0)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                self.visit_i64(0)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(TopLevel {
                    not_object: Some("a string"),
                    ..TopLevel::default()
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A JSON object's members as raw values, keys borrowed when unescaped.
pub(crate) struct RawObject<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

/// Looks up a [`RawObject`]'s members by name in schema order: the member at
/// the field's position when its name matches (producers write fields in
/// schema order), else through a name index built on the first miss, so
/// reading every field is linear in the number of members whatever their
/// order. A name held twice resolves to its first member.
pub(crate) struct Members<'o, 'a> {
    obj: &'o RawObject<'a>,
    index: Option<HashMap<&'o str, &'a RawValue>>,
}

impl<'o, 'a> Members<'o, 'a> {
    /// Lookups over `obj`.
    pub(crate) fn new(obj: &'o RawObject<'a>) -> Self {
        Members { obj, index: None }
    }

    /// The raw text of member `name`, expected at position `at`.
    pub(crate) fn get(&mut self, at: usize, name: &str) -> Option<&'a str> {
        if let Some((k, v)) = self.obj.0.get(at) {
            if k == name {
                return Some(v.get());
            }
        }
        let obj = self.obj;
        let index = self.index.get_or_insert_with(|| {
            let mut index = HashMap::with_capacity(obj.0.len());
            for (k, v) in &obj.0 {
                index.entry(k.as_ref()).or_insert(*v);
            }
            index
        });
        index.get(name).map(|v| v.get())
    }

    /// Whether the name index was built (a member was out of place).
    #[cfg(test)]
    pub(crate) fn indexed(&self) -> bool {
        self.index.is_some()
    }
}

struct ObjKey<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for ObjKey<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ObjKey<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, s: &'de str) -> Result<ObjKey<'de>, E> {
                Ok(ObjKey(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<ObjKey<'de>, E> {
                Ok(ObjKey(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(ObjKey(k)) = map.next_key()? {
                    members.push((k, map.next_value()?));
                }
                Ok(RawObject(members))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_schema_and_payload_text() {
        let msg = br#"{ "payload" : {"a": 1}, "schema":{"type":"struct"} }"#;
        let (schema, payload) = split(MessagePart::Value, msg)
            .expect("ok")
            .expect("present");
        assert_eq!(schema, r#"{"type":"struct"}"#);
        assert_eq!(payload, r#"{"a": 1}"#);
        assert_eq!(split(MessagePart::Value, b"  ").expect("ok"), None);
        assert_eq!(split(MessagePart::Value, b"null").expect("ok"), None);
        let e = split(MessagePart::Key, br#"{"schema":1,"payload":2,"x":3}"#).expect_err("extra");
        assert!(
            e.to_string()
                .starts_with("key: JsonConverter with schemas.enable"),
            "{e}"
        );
        assert!(split(MessagePart::Value, br#""text""#).is_err());
        assert!(split(MessagePart::Value, b"\xff").is_err());
    }

    #[test]
    fn raw_objects_borrow_plain_names_and_unescape_others() {
        let obj: RawObject<'_> =
            serde_json::from_str(r#"{"plain":1,"esc\"d":[1,2],"u\u00e9":null}"#).expect("ok");
        let names: Vec<&str> = obj.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(names, ["plain", "esc\"d", "u\u{e9}"]);
        assert!(matches!(obj.0[0].0, Cow::Borrowed(_)));
        assert_eq!(obj.0[1].1.get(), "[1,2]");
    }

    #[test]
    fn members_are_found_by_position_or_through_one_index() {
        const N: usize = 5_000;
        let in_order = format!(
            "{{{}}}",
            (0..N)
                .map(|i| format!("\"f{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let obj: RawObject<'_> = serde_json::from_str(&in_order).expect("ok");
        let mut m = Members::new(&obj);
        for i in 0..N {
            assert_eq!(m.get(i, &format!("f{i}")), Some(i.to_string().as_str()));
        }
        assert!(!m.indexed(), "in schema order: no index");
        // Reversed: every lookup misses its position, and all are answered
        // by one index (a map), not by scanning the members each time.
        let reversed = format!(
            "{{\"f0\":-1,{}}}",
            (0..N)
                .rev()
                .map(|i| format!("\"f{i}\":{i}"))
                .collect::<Vec<_>>()
                .join(",")
        );
        let obj: RawObject<'_> = serde_json::from_str(&reversed).expect("ok");
        let mut m = Members::new(&obj);
        // A name held twice is its first member, as before.
        assert_eq!(m.get(1, "f0"), Some("-1"));
        assert!(m.indexed());
        for i in 1..N {
            assert_eq!(m.get(i, &format!("f{i}")), Some(i.to_string().as_str()));
        }
        assert_eq!(m.get(0, "missing"), None);
    }
}
