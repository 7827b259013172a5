//! Integration tests on the real services (MariaDB, PostgreSQL, Kafka, kcat).
//! Each test owns its database, topic prefix and pipeline names.

mod support;

mod cli;
mod poll_modes;
mod seed;
mod sink_targets;
