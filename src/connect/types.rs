//! One column's type in both directions: Sluice's [`ColumnType`] ↔ a Connect
//! schema. (Values themselves are converted in `super::values`.)
//!
//! [`Conv`] is the wire form of a column, chosen once per table schema so the
//! per-row paths are a `match` and a write. Encoding picks it from the column
//! type and the source's `decimal_handling` / `time_precision`; decoding picks
//! it from the Connect schema's type and logical name, accepting Connect's
//! logical types and Debezium's time types:
//!
//! | Connect schema                                  | ColumnType       | Value                 |
//! |-------------------------------------------------|------------------|-----------------------|
//! | `bytes` `org.apache.kafka.connect.data.Decimal` | `Decimal`        | canonical text        |
//! | `int32` `…data.Date`, `io.debezium.time.Date`   | `Date`           | days                  |
//! | `int32` `…data.Time`, `io.debezium.time.Time`   | `Time`           | ms → µs               |
//! | `int64` `io.debezium.time.MicroTime` / `NanoTime` | `MicroTime`    | µs (ns floored)       |
//! | `int64` `…data.Timestamp`, `io.debezium.time.Timestamp` | `Timestamp` | ms → µs          |
//! | `int64` `io.debezium.time.MicroTimestamp` / `NanoTimestamp` | `MicroTimestamp` | µs (ns floored) |
//! | `string` `io.debezium.time.ZonedTimestamp`      | `MicroTimestamp` | ISO-8601 → µs         |
//!
//! Other logical names (`io.debezium.data.Json`, `Enum`, ...) decode as their
//! base type; Connect's own logical names on the wrong base type are errors.

use super::decimal;
use super::options::{DecimalHandling, TimePrecision};
use super::schema_json::{ConnectSchema, SchemaType};
use crate::schema::ColumnType;

pub(crate) const DECIMAL: &str = "org.apache.kafka.connect.data.Decimal";
pub(crate) const DATE: &str = "org.apache.kafka.connect.data.Date";
pub(crate) const TIME: &str = "org.apache.kafka.connect.data.Time";
pub(crate) const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
pub(crate) const MICRO_TIME: &str = "io.debezium.time.MicroTime";
pub(crate) const MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
const DBZ_DATE: &str = "io.debezium.time.Date";
const DBZ_TIME: &str = "io.debezium.time.Time";
const DBZ_TIMESTAMP: &str = "io.debezium.time.Timestamp";
const NANO_TIME: &str = "io.debezium.time.NanoTime";
const NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
pub(crate) const ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
pub(crate) const BITS: &str = "io.debezium.data.Bits";
pub(crate) const GEOMETRY: &str = "io.debezium.data.geometry.Geometry";
const SOURCE_LENGTH: &str = "__debezium.source.column.length";

/// How one column travels as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Conv {
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Bytes,
    /// Connect Decimal: base64 unscaled bytes (a JSON number is accepted on read).
    Decimal {
        scale: u32,
    },
    /// `decimal_handling = "string"`: canonical text.
    DecimalText {
        scale: u32,
    },
    /// `decimal_handling = "double"`.
    DecimalDouble,
    /// int32 days.
    Date,
    /// int32 ms since midnight.
    TimeMillis,
    /// int64 µs.
    TimeMicros,
    /// int64 ns (read only from others; written back as ns).
    TimeNanos,
    /// int64 ms since the epoch.
    TimestampMillis,
    /// int64 µs since the epoch.
    TimestampMicros,
    /// int64 ns since the epoch.
    TimestampNanos,
    /// ISO-8601 text with offset.
    ZonedTimestamp,
    /// `io.debezium.time.ZonedTimestamp` as Debezium's MySQL connector
    /// writes a `TIMESTAMP(fsp)`: UTC, `Z`, exactly `fsp` fraction digits
    /// (`zeros`: also when the fraction is zero, as its streamed values
    /// have them; its snapshot reads have none then, see [`Conv::for_op`]).
    ZonedFixed {
        fsp: u32,
        zeros: bool,
    },
    /// `io.debezium.data.Bits`: a MySQL `BIT(n)`'s bytes, little-endian on
    /// the wire (big-endian in Sluice's values, as MySQL stores them).
    BitsLe,
    /// `io.debezium.data.geometry.Geometry`: a struct of `wkb` (bytes) and
    /// `srid` (optional int32) on the wire; MySQL's internal form (4-byte
    /// little-endian SRID, then the WKB) in Sluice's values.
    Geometry,
}

/// Why a schema cannot be a table column.
pub(crate) enum ColumnIssue {
    /// The schema is malformed for its logical type.
    Invalid(String),
    /// Struct, array or map.
    Unsupported,
}

impl Conv {
    /// The wire form Sluice writes for a column type.
    pub fn for_column(ty: &ColumnType, decimals: DecimalHandling, time: TimePrecision) -> Conv {
        use TimePrecision as P;
        match ty {
            ColumnType::Int8 => Conv::Int8,
            ColumnType::Int16 => Conv::Int16,
            ColumnType::Int32 => Conv::Int32,
            ColumnType::Int64 => Conv::Int64,
            ColumnType::Float32 => Conv::Float32,
            ColumnType::Float64 => Conv::Float64,
            ColumnType::Boolean => Conv::Boolean,
            ColumnType::String { .. } => Conv::String,
            ColumnType::Bytes { .. } => Conv::Bytes,
            ColumnType::Decimal { scale, .. } => match decimals {
                DecimalHandling::Precise => Conv::Decimal { scale: *scale },
                DecimalHandling::String => Conv::DecimalText { scale: *scale },
                DecimalHandling::Double => Conv::DecimalDouble,
            },
            ColumnType::Date => Conv::Date,
            ColumnType::Time => match time {
                P::Micros | P::AdaptiveTimeMicroseconds => Conv::TimeMicros,
                P::Nanos => Conv::TimeNanos,
                P::Connect | P::Adaptive => Conv::TimeMillis,
            },
            ColumnType::MicroTime => match time {
                P::Connect => Conv::TimeMillis,
                P::Nanos => Conv::TimeNanos,
                _ => Conv::TimeMicros,
            },
            ColumnType::Timestamp => match time {
                P::Micros => Conv::TimestampMicros,
                P::Nanos => Conv::TimestampNanos,
                _ => Conv::TimestampMillis,
            },
            ColumnType::MicroTimestamp => match time {
                P::Connect => Conv::TimestampMillis,
                P::Nanos => Conv::TimestampNanos,
                _ => Conv::TimestampMicros,
            },
        }
    }

    /// The wire form of a value of operation `op`: Debezium's MySQL
    /// connector writes a TIMESTAMP's zero fraction when streaming and
    /// leaves it out in snapshot reads (`r`).
    #[inline]
    pub fn for_op(self, op: crate::event::Op) -> Conv {
        match self {
            Conv::ZonedFixed { fsp, .. } if op == crate::event::Op::Read => {
                Conv::ZonedFixed { fsp, zeros: false }
            }
            c => c,
        }
    }

    /// The Connect schema of this wire form (no default); `precision` feeds
    /// `connect.decimal.precision`.
    pub fn schema(self, precision: Option<u32>, optional: bool) -> ConnectSchema {
        let s = |ty| ConnectSchema::new(ty, optional);
        match self {
            Conv::Boolean => s(SchemaType::Boolean),
            Conv::Int8 => s(SchemaType::Int8),
            Conv::Int16 => s(SchemaType::Int16),
            Conv::Int32 => s(SchemaType::Int32),
            Conv::Int64 => s(SchemaType::Int64),
            Conv::Float32 => s(SchemaType::Float32),
            Conv::Float64 | Conv::DecimalDouble => s(SchemaType::Float64),
            Conv::String | Conv::DecimalText { .. } => s(SchemaType::String),
            Conv::Bytes => s(SchemaType::Bytes),
            Conv::Decimal { scale } => {
                let d = s(SchemaType::Bytes)
                    .named(DECIMAL, Some(1))
                    .param("scale", scale.to_string());
                match precision {
                    Some(p) => d.param("connect.decimal.precision", p.to_string()),
                    None => d,
                }
            }
            Conv::Date => s(SchemaType::Int32).named(DATE, Some(1)),
            Conv::TimeMillis => s(SchemaType::Int32).named(TIME, Some(1)),
            Conv::TimeMicros => s(SchemaType::Int64).named(MICRO_TIME, Some(1)),
            Conv::TimeNanos => s(SchemaType::Int64).named(NANO_TIME, Some(1)),
            Conv::TimestampMillis => s(SchemaType::Int64).named(TIMESTAMP, Some(1)),
            Conv::TimestampMicros => s(SchemaType::Int64).named(MICRO_TIMESTAMP, Some(1)),
            Conv::TimestampNanos => s(SchemaType::Int64).named(NANO_TIMESTAMP, Some(1)),
            Conv::ZonedTimestamp | Conv::ZonedFixed { .. } => {
                s(SchemaType::String).named(ZONED_TIMESTAMP, Some(1))
            }
            Conv::BitsLe => s(SchemaType::Bytes).named(BITS, Some(1)),
            Conv::Geometry => geometry_schema(optional),
        }
    }

    /// The column type and wire form for a Connect field schema.
    pub fn from_schema(s: &ConnectSchema) -> Result<(ColumnType, Conv), ColumnIssue> {
        let ty = s.ty;
        let wrong = |name: &str, want: SchemaType| {
            ColumnIssue::Invalid(format!(
                "logical type {name} must have type {}, not {}",
                want.json_name(),
                ty.json_name()
            ))
        };
        let param = |key: &str| s.parameters.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        let length = || param(SOURCE_LENGTH).and_then(|v| v.parse::<u32>().ok());
        let logical = match s.name.as_deref() {
            Some(DECIMAL) if ty != SchemaType::Bytes => {
                return Err(wrong(DECIMAL, SchemaType::Bytes))
            }
            Some(DECIMAL) => {
                let scale = param("scale").ok_or_else(|| {
                    ColumnIssue::Invalid("Decimal schema has no `scale` parameter".into())
                })?;
                let scale = scale
                    .parse::<u32>()
                    .ok()
                    .filter(|s| *s <= decimal::MAX_SCALE)
                    .ok_or_else(|| {
                        ColumnIssue::Invalid(format!("invalid Decimal scale `{scale}`"))
                    })?;
                let precision = param("connect.decimal.precision").and_then(|p| p.parse().ok());
                Some((
                    ColumnType::Decimal { scale, precision },
                    Conv::Decimal { scale },
                    ty,
                ))
            }
            Some(n @ (DATE | TIME)) if ty != SchemaType::Int32 => {
                return Err(wrong(n, SchemaType::Int32))
            }
            Some(TIMESTAMP) if ty != SchemaType::Int64 => {
                return Err(wrong(TIMESTAMP, SchemaType::Int64))
            }
            Some(DATE | DBZ_DATE) => Some((ColumnType::Date, Conv::Date, SchemaType::Int32)),
            Some(TIME | DBZ_TIME) => Some((ColumnType::Time, Conv::TimeMillis, SchemaType::Int32)),
            Some(MICRO_TIME) => Some((ColumnType::MicroTime, Conv::TimeMicros, SchemaType::Int64)),
            Some(NANO_TIME) => Some((ColumnType::MicroTime, Conv::TimeNanos, SchemaType::Int64)),
            Some(TIMESTAMP | DBZ_TIMESTAMP) => Some((
                ColumnType::Timestamp,
                Conv::TimestampMillis,
                SchemaType::Int64,
            )),
            Some(MICRO_TIMESTAMP) => Some((
                ColumnType::MicroTimestamp,
                Conv::TimestampMicros,
                SchemaType::Int64,
            )),
            Some(NANO_TIMESTAMP) => Some((
                ColumnType::MicroTimestamp,
                Conv::TimestampNanos,
                SchemaType::Int64,
            )),
            Some(ZONED_TIMESTAMP) => Some((
                ColumnType::MicroTimestamp,
                Conv::ZonedTimestamp,
                SchemaType::String,
            )),
            Some(BITS) => Some((
                ColumnType::Bytes { max_len: None },
                Conv::BitsLe,
                SchemaType::Bytes,
            )),
            Some(GEOMETRY) if s.member("wkb").is_some() => Some((
                ColumnType::Bytes { max_len: None },
                Conv::Geometry,
                SchemaType::Struct,
            )),
            _ => None,
        };
        // Debezium's names only apply on their own base type; otherwise the base type wins.
        if let Some((col, conv, base)) = logical {
            if base == ty {
                return Ok((col, conv));
            }
        }
        Ok(match ty {
            SchemaType::Int8 => (ColumnType::Int8, Conv::Int8),
            SchemaType::Int16 => (ColumnType::Int16, Conv::Int16),
            SchemaType::Int32 => (ColumnType::Int32, Conv::Int32),
            SchemaType::Int64 => (ColumnType::Int64, Conv::Int64),
            SchemaType::Float32 => (ColumnType::Float32, Conv::Float32),
            SchemaType::Float64 => (ColumnType::Float64, Conv::Float64),
            SchemaType::Boolean => (ColumnType::Boolean, Conv::Boolean),
            SchemaType::String => (ColumnType::String { max_len: length() }, Conv::String),
            SchemaType::Bytes => (ColumnType::Bytes { max_len: length() }, Conv::Bytes),
            SchemaType::Array | SchemaType::Map | SchemaType::Struct => {
                return Err(ColumnIssue::Unsupported)
            }
        })
    }
}

/// Debezium's `io.debezium.data.geometry.Geometry` schema.
fn geometry_schema(optional: bool) -> ConnectSchema {
    let mut g = ConnectSchema::new(SchemaType::Struct, optional)
        .named(GEOMETRY, Some(1))
        .field("wkb", ConnectSchema::new(SchemaType::Bytes, false))
        .field("srid", ConnectSchema::new(SchemaType::Int32, true));
    g.doc = Some("Geometry".into());
    g
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_map_to_wire_forms() {
        use ColumnType as T;
        let conv = |t: &T, d, p| Conv::for_column(t, d, p);
        let (pr, co) = (DecimalHandling::Precise, TimePrecision::Connect);
        assert_eq!(conv(&T::Time, pr, co), Conv::TimeMillis);
        assert_eq!(conv(&T::Time, pr, TimePrecision::Micros), Conv::TimeMicros);
        assert_eq!(
            conv(&T::Timestamp, pr, TimePrecision::Micros),
            Conv::TimestampMicros
        );
        assert_eq!(conv(&T::MicroTimestamp, pr, co), Conv::TimestampMillis);
        let (ad, atm) = (
            TimePrecision::Adaptive,
            TimePrecision::AdaptiveTimeMicroseconds,
        );
        assert_eq!(TimePrecision::default(), atm, "lossless by default");
        assert_eq!(conv(&T::MicroTimestamp, pr, ad), Conv::TimestampMicros);
        assert_eq!(conv(&T::MicroTimestamp, pr, atm), Conv::TimestampMicros);
        assert_eq!(conv(&T::Timestamp, pr, atm), Conv::TimestampMillis);
        assert_eq!(conv(&T::Time, pr, ad), Conv::TimeMillis);
        assert_eq!(conv(&T::Time, pr, atm), Conv::TimeMicros);
        assert_eq!(conv(&T::MicroTime, pr, ad), Conv::TimeMicros);
        assert_eq!(conv(&T::MicroTime, pr, co), Conv::TimeMillis);
        let ns = TimePrecision::Nanos;
        assert_eq!(conv(&T::Time, pr, ns), Conv::TimeNanos);
        assert_eq!(conv(&T::MicroTime, pr, ns), Conv::TimeNanos);
        assert_eq!(conv(&T::Timestamp, pr, ns), Conv::TimestampNanos);
        assert_eq!(conv(&T::MicroTimestamp, pr, ns), Conv::TimestampNanos);
        let dec = T::Decimal {
            scale: 2,
            precision: Some(10),
        };
        assert_eq!(
            conv(&dec, DecimalHandling::String, co),
            Conv::DecimalText { scale: 2 }
        );
        assert_eq!(conv(&dec, DecimalHandling::Double, co), Conv::DecimalDouble);
        let schema = conv(&dec, pr, co).schema(Some(10), true);
        assert_eq!(
            Conv::from_schema(&schema).ok(),
            Some((dec, Conv::Decimal { scale: 2 }))
        );
    }

    #[test]
    fn debezium_logical_names_decode() {
        let named = |ty, name: &str| ConnectSchema::new(ty, true).named(name, Some(1));
        let check = |s: ConnectSchema, col: ColumnType, conv: Conv| {
            assert_eq!(Conv::from_schema(&s).ok(), Some((col, conv)), "{s:?}");
        };
        check(
            named(SchemaType::Int32, "io.debezium.time.Date"),
            ColumnType::Date,
            Conv::Date,
        );
        check(
            named(SchemaType::Int64, "io.debezium.time.Timestamp"),
            ColumnType::Timestamp,
            Conv::TimestampMillis,
        );
        check(
            named(SchemaType::Int64, "io.debezium.time.NanoTime"),
            ColumnType::MicroTime,
            Conv::TimeNanos,
        );
        check(
            named(SchemaType::String, "io.debezium.time.ZonedTimestamp"),
            ColumnType::MicroTimestamp,
            Conv::ZonedTimestamp,
        );
        check(
            named(SchemaType::String, "io.debezium.data.Json"),
            ColumnType::String { max_len: None },
            Conv::String,
        );
        let sized = ConnectSchema::new(SchemaType::String, true)
            .param("__debezium.source.column.length", "255");
        check(
            sized,
            ColumnType::String { max_len: Some(255) },
            Conv::String,
        );
        let bad = named(SchemaType::String, DATE);
        assert!(matches!(
            Conv::from_schema(&bad),
            Err(ColumnIssue::Invalid(_))
        ));
        let no_scale = named(SchemaType::Bytes, DECIMAL);
        assert!(matches!(
            Conv::from_schema(&no_scale),
            Err(ColumnIssue::Invalid(_))
        ));
        let nested = ConnectSchema::new(SchemaType::Struct, true);
        assert!(matches!(
            Conv::from_schema(&nested),
            Err(ColumnIssue::Unsupported)
        ));
    }
}
