//! The codec's options: which envelope, and how decimals and times are
//! written. Defined here, not in `config`, so the codec depends on nothing
//! above it; the config file deserializes into these types directly.

use serde::Deserialize;

/// Message envelope written by a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Envelope {
    /// The row only (JDBC source style); deletes are tombstones.
    #[default]
    Flat,
    /// Debezium's `before`/`after`/`source`/`op`/`ts_ms`.
    Debezium,
}

/// How DECIMAL values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DecimalHandling {
    /// Connect `Decimal` logical type (exact).
    #[default]
    Precise,
    /// Decimal text in a string field.
    String,
    /// float64 (may lose precision).
    Double,
}

/// How TIME/DATETIME/TIMESTAMP values are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimePrecision {
    /// Connect `Time` (int32 ms) and `Timestamp` (int64 ms).
    #[default]
    Connect,
    /// Debezium `MicroTime` / `MicroTimestamp` (int64 µs), lossless.
    Micros,
}
