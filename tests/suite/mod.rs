//! The integration scenarios, one module per area.

pub mod binlog;
mod binlog_compat;
mod binlog_crash;
mod binlog_restarts;
mod binlog_types;
mod cli;
mod connect_compat;
mod dashboard;
pub mod metrics_scrape;
mod offsets_cli;
mod offsets_read;
mod order_service;
mod poll_modes;
mod rest_api;
pub mod seed;
mod server_compat;
mod sink_exactly_once;
mod sink_load_data;
mod sink_modes;
mod sink_offsets_cas;
mod sink_pg_binary;
mod sink_pg_copy_upsert;
mod sink_targets;
mod sqlite_sink;
mod systemd_notify;
mod systemd_units;
mod tls;
