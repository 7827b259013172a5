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

/// How TIME/DATETIME/TIMESTAMP values are written (Debezium's
/// `time.precision.mode`). Columns with more than 3 fractional digits
/// arrive as [`ColumnType::MicroTime`](crate::schema::ColumnType) /
/// `MicroTimestamp`, the others as `Time` / `Timestamp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TimePrecision {
    /// Connect `Time` (int32 ms) and `Timestamp` (int64 ms) for every
    /// column: sub-millisecond digits are cut off.
    Connect,
    /// Debezium `MicroTime` / `MicroTimestamp` (int64 µs) for every column.
    #[serde(alias = "microseconds")]
    Micros,
    /// Debezium `NanoTime` / `NanoTimestamp` (int64 ns) for every column.
    #[serde(alias = "nanoseconds")]
    Nanos,
    /// Debezium's `adaptive`: Connect's millisecond types for columns with
    /// up to 3 fractional digits, `MicroTime` / `MicroTimestamp` above.
    Adaptive,
    /// The default, Debezium MySQL's default: as `adaptive`, but TIME is
    /// always `MicroTime` (MySQL's ±838:59:59 does not fit Connect's `Time`).
    /// Lossless for every value.
    #[default]
    #[serde(rename = "adaptive_time_microseconds")]
    AdaptiveTimeMicroseconds,
}
