//! Integration tests on the real services (MariaDB, PostgreSQL, Kafka, kcat),
//! as one test binary. Each test owns its database, topic prefix and pipeline
//! names, so tests run in parallel and re-run without cleanup.

mod suite;
mod support;
