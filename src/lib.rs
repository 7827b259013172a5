//! Sluice: change-data-capture from MySQL/MariaDB to Kafka, and from Kafka to
//! databases, in one daemon.
//!
//! ```text
//! MySQL tables ─► source::poll ─► ChangeEvent ─► connect::encode ─► Kafka (one transaction:
//!                                                                   data + source offset)
//! Kafka topics ─► sink (consumer group) ─► connect::decode ─► ChangeEvent ─► sink::dialect SQL
//!                                              (one DB transaction: rows + consumed offsets)
//! ```
//!
//! One type, [`event::ChangeEvent`], flows through everything. Sources only
//! produce events, the [`connect`] codec only converts them to and from bytes,
//! and sinks only consume them: no SQL in the codec, no JSON in the dialects.

pub mod app;
pub mod check;
pub mod config;
pub mod connect;
pub mod daemon;
pub mod event;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod mysql;
pub mod offsets_cmd;
pub mod position;
pub(crate) mod redact;
pub mod schema;
pub mod sink;
pub mod source;
pub mod value;
