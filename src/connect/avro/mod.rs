//! Avro from Connect: schemas derived the way Confluent's `AvroData`
//! (`fromConnectSchema`, `connect.meta.data = true`) derives them, and values
//! written in Avro's binary encoding. Pure: no registry, no I/O (the source's
//! `wire` module registers the schemas and frames the bodies).
//!
//! The schema input is a Connect schema in its JsonConverter form (what
//! [`super::Encoder`] writes), so both envelopes, the decimal and time
//! choices and the Debezium semantic types come out exactly as in JSON.
//! Values come either as a JsonConverter payload ([`encode`]: JSON Schema's
//! sibling path, heartbeats, tests) or, on the source's hot path, straight
//! from the row values (`row`, used by the encoder's `with_avro`), with the
//! same bytes.
//!
//! # AvroData's rules, as followed here
//! * int8 / int16 → `int` with `"connect.type": "int8"` / `"int16"`; int32 →
//!   `int`; int64 → `long`; float32 / float64 → `float` / `double`; boolean,
//!   string, bytes as themselves; array → `array`; a map with required string
//!   keys → `map`, any other map → an array of `io.confluent.connect.avro.MapEntry`
//!   records (`key`, `value`).
//! * struct → `record` named after the Connect name split at its last dot
//!   into namespace and name; an unnamed struct is
//!   `io.confluent.connect.avro.ConnectDefault`. A record already defined
//!   (Debezium's `before` and `after`) is referred to by its full name.
//! * Metadata on the base schema: `connect.doc`, `connect.version`,
//!   `connect.parameters`, `connect.default`, `connect.name`, `connect.type`.
//! * Logical types: Connect `Decimal` → `bytes` with `"logicalType":
//!   "decimal"`, `precision` (`connect.decimal.precision`, else 64) and
//!   `scale`; `Date` → `date`, `Time` → `time-millis`, `Timestamp` →
//!   `timestamp-millis`. Debezium's semantic types (`io.debezium.time.*`,
//!   `io.debezium.data.*`) keep their base type and carry their name in
//!   `connect.name`, as Debezium's Avro output does.
//! * An optional schema is the union `["null", T]`, its field's default
//!   `null`; with a non-null default it is `[T, "null"]` and the field's
//!   default is that value.
//! * Names Avro refuses (a `-` in a server name, a column `order id`) are
//!   adjusted as Debezium's `schema.name.adjustment.mode = avro` does: each
//!   invalid character becomes `_`, a leading digit gets a `_` before it.

mod binary;
mod read;
mod row;
mod schema;

#[cfg(test)]
mod tests;

pub use binary::encode;
pub(crate) use binary::write_long;
pub use read::AvroReader;
pub(crate) use row::{write_column, write_scalar};
pub(crate) use schema::Node;
pub use schema::{from_connect, AvroSchema};
