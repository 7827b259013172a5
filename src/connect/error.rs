//! The codec's one error type.
//!
//! Every variant names what is wrong and where (the message part, the schema
//! path or the field), so a record that fails can go to the dead-letter topic
//! with a reason a person can act on. Codec errors are always *definite*: the
//! same bytes fail the same way on a retry, so callers never retry them.

use std::fmt;

/// Which half of a Kafka record a problem is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessagePart {
    /// The record key.
    Key,
    /// The record value.
    Value,
}

impl fmt::Display for MessagePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MessagePart::Key => "key",
            MessagePart::Value => "value",
        })
    }
}

/// Why a message could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not valid JSON.
    #[error("{part} is not valid JSON: {source}")]
    Json {
        /// Key or value.
        part: MessagePart,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// The message is not exactly a `{"schema":..,"payload":..}` object.
    #[error(
        "{part}: JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields \
         and may not contain additional fields ({problem})"
    )]
    NotConnectJson {
        /// Key or value.
        part: MessagePart,
        /// What was found instead.
        problem: String,
    },
    /// The schema is null but the payload is not (schemaless JSON).
    #[error(
        "{part}: the schema is null but the payload is not; schemaless messages are not supported"
    )]
    Schemaless {
        /// Key or value.
        part: MessagePart,
    },
    /// The schema JSON does not describe a valid Connect schema.
    #[error("{part}: invalid schema at `{path}`: {reason}")]
    InvalidSchema {
        /// Key or value.
        part: MessagePart,
        /// Where in the schema (`fields.created_at`), empty for the root.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A record value that must be a struct (a table row) is something else.
    #[error("{part}: expected a struct schema for a table row, got {found}")]
    NotAStruct {
        /// Key or value.
        part: MessagePart,
        /// The Connect type found.
        found: String,
    },
    /// A field's type cannot be stored in a table column (struct, array, map).
    #[error("field `{field}` has type {ty}, which is unsupported for a table column")]
    UnsupportedType {
        /// Field name (with `after.`/`before.` for envelopes).
        field: String,
        /// The Connect type.
        ty: String,
    },
    /// A payload value (decode) or row value (encode) has the wrong type.
    #[error("field `{field}`: expected {expected}, found {found}")]
    TypeMismatch {
        /// Field name.
        field: String,
        /// What the schema requires.
        expected: &'static str,
        /// What the message or row held.
        found: String,
    },
    /// A number does not fit the field's type.
    #[error("field `{field}`: value {value} is out of range for {ty}")]
    OutOfRange {
        /// Field name.
        field: String,
        /// The value, as text.
        value: String,
        /// The target type.
        ty: &'static str,
    },
    /// A null in a field with `optional=false` and no default.
    #[error("field `{field}` is required (optional=false, no default) but the value is null")]
    NullInRequired {
        /// Field name.
        field: String,
    },
    /// A bytes or Decimal payload is not valid base64.
    #[error("field `{field}`: invalid base64: {source}")]
    InvalidBase64 {
        /// Field name.
        field: String,
        /// The decoder's error.
        #[source]
        source: base64::DecodeError,
    },
    /// A Decimal value cannot be represented at the field's scale.
    #[error("field `{field}`: invalid decimal: {reason}")]
    InvalidDecimal {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// A value is malformed in another way (e.g. a bad ISO-8601 timestamp).
    #[error("field `{field}`: invalid value: {reason}")]
    InvalidValue {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// NaN or an infinity in a required float field (JSON has no such numbers).
    #[error(
        "field `{field}`: {value} cannot be written as a JSON number and the field is required"
    )]
    NonFinite {
        /// Field name.
        field: String,
        /// `NaN`, `inf` or `-inf`.
        value: String,
    },
    /// A Debezium `op` Sluice does not apply (`t` truncate, `m` message, unknown).
    #[error("unsupported Debezium op `{op}`")]
    UnsupportedOp {
        /// The op code found.
        op: String,
    },
    /// An event lacks the row its op needs (e.g. a create without `after`).
    #[error("op `{op}` needs the `{row}` row, which is missing")]
    MissingRow {
        /// Op code (`c`, `u`, `d`, `r`).
        op: &'static str,
        /// `before` or `after`.
        row: &'static str,
    },
}

/// A field's name, with the struct it sits in, rendered only when an error needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldRef<'a> {
    /// Enclosing struct (`after`, `before`, or empty).
    pub prefix: &'a str,
    /// Field name.
    pub name: &'a str,
}

impl<'a> FieldRef<'a> {
    /// A top-level field.
    pub fn new(name: &'a str) -> Self {
        FieldRef { prefix: "", name }
    }

    /// Renders `prefix.name` (or `name`).
    pub fn render(&self) -> String {
        if self.prefix.is_empty() {
            self.name.to_owned()
        } else {
            format!("{}.{}", self.prefix, self.name)
        }
    }
}
