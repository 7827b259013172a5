//! Kafka Connect JSON, both directions, exactly as Kafka's `JsonConverter`
//! (`schemas.enable=true`) writes and reads it.
//!
//! This module only converts: [`ChangeEvent`](crate::event::ChangeEvent)s to
//! key/value bytes on the source side ([`Encoder`]), and key/value bytes from
//! any producer to rows on the sink side ([`Decoder`]). No SQL, no I/O.
//!
//! # Layout
//! * `schema_json` — the Connect schema model, rendered in `asJsonSchema`'s
//!   key order and parsed with `asConnectSchema`'s rules.
//! * `types` — one column type both ways: [`ColumnType`](crate::schema::ColumnType)
//!   ↔ Connect type (logical types, Debezium time types); `values` — one
//!   `Value` ↔ its JSON payload.
//! * `decimal` — decimal text ↔ Java `BigInteger` bytes, past `i128`.
//! * `json_text` — Jackson-identical string escaping and float spelling.
//! * `encode` / `decode` — the hot paths; `plan` — the decoder's compiled
//!   schemas; `raw` — splitting JSON text into raw values without trees.
//! * `envelope` — Debezium's envelope and `source` block; `options` — the
//!   envelope, decimal and time choices the encoder takes.
//!
//! # Where Sluice differs from Connect, on purpose
//! * NaN and ±Infinity: Jackson writes them as the strings `"NaN"`,
//!   `"Infinity"`, which `JsonConverter` then reads back as `0.0`. Sluice
//!   writes `null` for an optional float column and fails a required one
//!   ([`CodecError::NonFinite`]); when decoding it accepts those strings.
//! * MySQL TIME is −838:59:59..838:59:59, Connect `Time` is int32 ms since
//!   midnight: values are written as floor(µs / 1000) even when negative or
//!   past 24h (Connect's Java side would reject them), and values outside
//!   int32 (beyond ±596h) fail; `time_precision = "micros"` carries them all.
//! * Decoding is strict where Connect coerces silently: a string in an int32
//!   field, an int8 out of range, or a boolean from a number is an error
//!   naming the field, not a 0. Decimals in `decimal.format=NUMERIC` (JSON
//!   numbers) are accepted too.
//! * An empty value, or JSON `null`, is a tombstone (Connect reports an error
//!   for an empty byte array).
//! * Every error is definite: the same record fails the same way again, so it
//!   belongs in the dead-letter topic, not in a retry loop.

pub mod avro;
pub(crate) mod decimal;
mod decode;
mod encode;
mod envelope;
mod error;
pub(crate) mod json_text;
pub mod jsonschema;
mod options;
mod plan;
mod raw;
pub(crate) mod schema_json;
pub mod schemaless;
mod types;
mod values;

#[cfg(test)]
mod tests;

pub use decode::{decode, Decoded, DecodedRow, Decoder};
pub use encode::{EncodeOptions, Encoded, Encoder, Framed};
pub use envelope::SourceInfo;
pub use error::{CodecError, MessagePart};
pub use options::{DecimalHandling, Envelope, TimePrecision};
