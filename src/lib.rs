//! Sluice: change-data-capture from MySQL/MariaDB to Kafka, and from Kafka to
//! databases, in one daemon. ARCHITECTURE.md at the repository root is the
//! map; this is its summary.
//!
//! ```text
//! source path:  MySQL binlog / tables ─► source::{binlog,poll} ─► ChangeEvent
//!               ─► connect (Encoder) ─► source::publish ─► Kafka
//!               (one Kafka transaction: the batch's messages + the source position)
//! sink path:    Kafka topics ─► sink::consume ─► sink::decode (connect Decoder)
//!               ─► RowChange ─► sink::plan (dialect SQL) ─► sink::apply ─► sink::target
//!               (one database transaction: the batch's rows + the consumed offsets)
//! ```
//!
//! Two row types, on purpose. A source builds [`event::ChangeEvent`]s (a
//! table, an op, the rows before and after, the schema, the source position),
//! which the [`connect`] codec encodes. A sink decodes a record into a
//! [`sink::decode::RowChange`] (the target table, one row in the target's
//! column order, an op): a target writes one row per record, picked by
//! `pk_mode` and the field filters from key and value, and a record's
//! position is its Kafka offset, which the sink tracks per batch
//! ([`sink::offsets`]) rather than per row. Both are rows of [`value::Value`]
//! over a [`schema::TableSchema`]. No SQL in the codec, no JSON in the
//! dialects, no driver in [`sink::dialect`].
//!
//! Layers, bottom up (a module uses only those below it): `value`, `schema`,
//! `position`, `config`, `metrics`, `redact`, `active_topics` · `connect` (the codec), `mysql`
//! (connections, TLS, error classes), `kafka` (clients, producer, offsets
//! topic) · `event`, `source`, `sink` (neither imports the other) · `app`
//! (supervisor) · `http` (REST API, metrics) · `daemon` (assembly, signals,
//! systemd), `check`, `offsets_cmd` · `main.rs` (CLI).

/// The global allocator is the system's, `malloc` on Unix, named so rather
/// than left to the default: `kafka::topic_handle` hands message buffers
/// to librdkafka, which releases them with `free(3)`.
#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

pub mod active_topics;
pub mod app;
pub mod check;
pub mod config;
pub mod connect;
pub mod daemon;
pub mod event;
pub mod http;
pub mod kafka;
pub mod liveness;
pub mod log_levels;
pub mod metrics;
pub mod mysql;
pub mod offsets_cmd;
pub mod position;
pub(crate) mod redact;
pub mod registry;
pub mod schema;
pub mod sink;
pub mod snapshot_cmd;
pub mod source;
pub mod transforms;
pub mod value;
