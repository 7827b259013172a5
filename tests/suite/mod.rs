//! The integration scenarios, one module per area.

mod cli;
mod connect_compat;
mod poll_modes;
pub mod seed;
mod server_compat;
mod sink_exactly_once;
mod sink_modes;
mod sink_targets;
mod sqlite_sink;
mod tls;
