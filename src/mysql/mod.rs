//! MySQL/MariaDB client plumbing shared by the source and the sink: how Sluice
//! connects (credentials, TLS, session setup), the binlog status statement,
//! identifier quoting and the one transient/definite classification of
//! `mysql_async` errors. Both halves depend on this module; it depends on
//! neither (only on `config`).
//!
//! | file | what it holds |
//! |---|---|
//! | `conn.rs` | connection options from a [`DbEndpoint`](crate::config::DbEndpoint), single connections ([`connect`], [`connect_with`]), pools with the [`SESSION_INIT`] statements ([`pool_settled`]), [`binlog_status`] |
//! | `tls.rs` | `ssl_mode` → the driver's TLS options, and the one case in which `preferred` falls back to plain text |
//! | `error.rs` | [`classify`]: what a caller does with a driver error (reconnect and retry, stop, or its own default for unrecognised ones); [`message`]: the server's text with quoted row values redacted |
//! | `quote.rs` | [`quote`]: backquoted identifiers |
//!
//! Everything here is driver-level: what a query *means* (binlog settings,
//! table introspection, the sink's session `sql_mode`) stays with the source
//! or the sink.

mod conn;
mod error;
mod quote;
mod tls;

pub use conn::{
    binlog_status, bounded, connect, connect_with, pool_settled, BinlogStatus, SESSION_INIT,
};
pub use error::{
    blames_row, classify, message, ErrorClass, DEFINITE_CODES, ROW_CODES, TRANSIENT_CODES,
};
pub use quote::quote;
