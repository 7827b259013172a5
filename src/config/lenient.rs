//! Deserializers that accept both TOML-native values and the strings a Kafka
//! Connect JSON config uses (`"auto.create": "true"`, `"batch.size": "3000"`,
//! `"table.whitelist": "a,b"`).

use serde::de::{self, Deserializer};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(untagged)]
enum BoolOrString {
    Bool(bool),
    String(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IntOrString {
    Int(u64),
    String(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ListOrString {
    List(Vec<String>),
    String(String),
}

/// A boolean, or the strings `"true"` / `"false"`.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match BoolOrString::deserialize(d)? {
        BoolOrString::Bool(b) => Ok(b),
        BoolOrString::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(de::Error::custom(format!(
                "expected true or false, found \"{other}\""
            ))),
        },
    }
}

/// A non-negative integer, or a string holding one.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match IntOrString::deserialize(d)? {
        IntOrString::Int(n) => Ok(n),
        IntOrString::String(s) => s.trim().parse().map_err(|_| {
            de::Error::custom(format!("expected a non-negative integer, found \"{s}\""))
        }),
    }
}

/// A list of strings, or one comma-separated string (Connect style).
pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(match ListOrString::deserialize(d)? {
        ListOrString::List(v) => v,
        ListOrString::String(s) => s
            .split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(deserialize_with = "bool")]
        b: bool,
        #[serde(deserialize_with = "u64")]
        n: u64,
        #[serde(deserialize_with = "list")]
        l: Vec<String>,
    }

    #[test]
    fn accepts_connect_strings() {
        let t: T = serde_json::from_str(r#"{"b":"true","n":"3000","l":"a, b"}"#).expect("parse");
        assert!(t.b);
        assert_eq!(t.n, 3000);
        assert_eq!(t.l, vec!["a", "b"]);
    }

    #[test]
    fn accepts_native_values() {
        let t: T = serde_json::from_str(r#"{"b":false,"n":5,"l":["x"]}"#).expect("parse");
        assert!(!t.b);
        assert_eq!(t.n, 5);
        assert_eq!(t.l, vec!["x"]);
    }

    #[test]
    fn rejects_garbage_with_reason() {
        let e = serde_json::from_str::<T>(r#"{"b":"yes","n":5,"l":[]}"#)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("did not match") || e.contains("expected true or false"),
            "{e}"
        );
    }
}
