//! `sluice check`: validate the config, then reach every server it names.
//!
//! Each problem is one line naming the pipeline and the cause; the caller
//! exits non-zero when any is found. Nothing is written anywhere.

use std::time::Duration;

use mysql_async::prelude::Queryable;

use crate::config::{Config, DbKind, SourceConfig};
use crate::kafka::{client, KafkaError};

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckLine {
    /// Passed?
    pub ok: bool,
    /// What was checked, or what is wrong.
    pub message: String,
}

impl CheckLine {
    fn ok(message: String) -> Self {
        CheckLine { ok: true, message }
    }
    fn fail(message: String) -> Self {
        CheckLine { ok: false, message }
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a key-less table's snapshot chunk can be spooled to `dir`.
fn spool_line(dir: &std::path::Path) -> CheckLine {
    match crate::source::binlog::chunks::spool_probe(dir) {
        Ok(()) => CheckLine::ok(format!(
            "temporary directory {}: writable (a key-less table's snapshot chunk is spooled there past 4 MiB)",
            dir.display()
        )),
        Err(e) => CheckLine::fail(format!(
            "temporary directory {}: {e}; a key-less table's snapshot chunk is spooled there past 4 MiB (set TMPDIR to a writable directory)",
            dir.display()
        )),
    }
}

/// Runs every check of `config`.
pub async fn run(config: &Config) -> Vec<CheckLine> {
    let errors = config.validate();
    if !errors.is_empty() {
        return errors
            .into_iter()
            .map(|e| CheckLine::fail(e.to_string()))
            .collect();
    }
    let mut out = vec![check_kafka(config).await];
    out.extend(check_http_and_state(config));
    let binlog =
        |s: &SourceConfig| s.resolved_kind().ok() == Some(crate::config::SourceKind::Binlog);
    if config.source.iter().any(binlog) {
        out.push(spool_line(&crate::source::binlog::chunks::spool_dir()));
    }
    for s in &config.source {
        if binlog(s) {
            out.extend(check_binlog_source(s).await);
            if s.signal_channel("kafka") {
                out.push(check_signal_topic(config, s).await);
            }
        } else {
            out.push(check_source(s).await);
            out.extend(check_poll_columns(s).await);
        }
    }
    for s in &config.sink {
        let line = match s.endpoint() {
            Err(e) => CheckLine::fail(e.to_string()),
            Ok(ep) => {
                match tokio::time::timeout(TIMEOUT, crate::sink::target::Target::connect(&ep)).await
                {
                    Ok(Ok(_)) => CheckLine::ok(format!(
                        "sink \"{}\": target {} reachable",
                        s.name,
                        ep.display_url()
                    )),
                    Ok(Err(e)) => CheckLine::fail(format!(
                        "sink \"{}\": target {}: {e}",
                        s.name,
                        ep.display_url()
                    )),
                    Err(_) => CheckLine::fail(format!(
                        "sink \"{}\": target {}: timed out after {}s",
                        s.name,
                        ep.display_url(),
                        TIMEOUT.as_secs()
                    )),
                }
            }
        };
        out.push(line);
    }
    out
}

async fn check_kafka(config: &Config) -> CheckLine {
    let kafka = config.kafka.clone();
    let servers = kafka.bootstrap_servers.clone();
    let result = tokio::task::spawn_blocking(move || client::probe(&kafka, TIMEOUT)).await;
    match result {
        Ok(Ok(n)) => CheckLine::ok(format!("kafka: {servers} reachable ({n} broker(s))")),
        Ok(Err(e @ KafkaError::Refused { .. })) => CheckLine::fail(e.to_string()),
        Ok(Err(e)) => CheckLine::fail(format!("kafka: cannot reach {servers}: {e}")),
        Err(e) => CheckLine::fail(format!("kafka: check failed: {e}")),
    }
}

/// A binlog source reading Debezium's Kafka signal channel: its topic
/// exists, with one partition, on the channel's brokers (asked with the
/// reader's own settings).
async fn check_signal_topic(config: &Config, s: &SourceConfig) -> CheckLine {
    use crate::source::binlog::signal_topic;
    let (kafka, cfg) = (config.kafka.clone(), s.clone());
    let probe =
        tokio::task::spawn_blocking(move || signal_topic::probe(&kafka, &cfg, TIMEOUT)).await;
    let brokers = s
        .signal_kafka_bootstrap_servers
        .as_deref()
        .unwrap_or(&config.kafka.bootstrap_servers);
    match probe {
        Ok(Ok(())) => CheckLine::ok(format!(
            "source \"{}\": kafka signal topic \"{}\" on {brokers} ready (1 partition)",
            s.name,
            s.signal_topic()
        )),
        Ok(Err(e)) => CheckLine::fail(format!("source \"{}\": {e}", s.name)),
        Err(e) => CheckLine::fail(format!(
            "source \"{}\": kafka signal topic check failed: {e}",
            s.name
        )),
    }
}

async fn check_source(s: &SourceConfig) -> CheckLine {
    let ep = match s.endpoint() {
        Ok(ep) => ep,
        Err(e) => return CheckLine::fail(e.to_string()),
    };
    if ep.kind != DbKind::MySql {
        return CheckLine::fail(format!(
            "source \"{}\": key `url`: sources read MySQL/MariaDB, not {}",
            s.name,
            ep.display_url()
        ));
    }
    let binlog = s.resolved_kind().ok() == Some(crate::config::SourceKind::Binlog);
    if binlog {
        return check_binlog_tables(s, &ep).await;
    }
    let dbs: Vec<String> = match ep.database() {
        Some(db) => vec![db],
        // A custom query may name its tables with their database.
        None if s.query.is_some() => vec![],
        None => {
            return CheckLine::fail(format!(
                "source \"{}\": key `url`: names no database",
                s.name
            ))
        }
    };
    let probe = async {
        let pool = crate::mysql::pool_settled(&ep).await?;
        let mut conn = pool.get_conn().await?;
        let mut tables: Vec<(String, String)> = Vec::new();
        for db in &dbs {
            let names: Vec<String> = conn
                .exec(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                    (db,),
                )
                .await?;
            tables.extend(names.into_iter().map(|t| (db.clone(), t)));
        }
        drop(conn);
        pool.disconnect().await?;
        Ok::<_, mysql_async::Error>(tables)
    };
    match tokio::time::timeout(TIMEOUT, probe).await {
        Err(_) => CheckLine::fail(format!(
            "source \"{}\": {}: timed out after {}s",
            s.name,
            ep.display_url(),
            TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => CheckLine::fail(format!("source \"{}\": {}: {e}", s.name, ep.display_url())),
        Ok(Ok(tables)) => {
            let missing: Vec<&String> = s
                .tables
                .iter()
                .filter(|t| match t.split_once('.') {
                    Some((d, n)) => !tables.iter().any(|(x, y)| x == d && y == n),
                    None => !tables.iter().any(|(_, y)| y == t.as_str()),
                })
                .collect();
            if missing.is_empty() {
                CheckLine::ok(format!(
                    "source \"{}\": {} reachable",
                    s.name,
                    ep.display_url()
                ))
            } else {
                CheckLine::fail(format!(
                    "source \"{}\": key `tables`: {missing:?} not found in database {}",
                    s.name,
                    dbs.join(", ")
                ))
            }
        }
    }
}

/// Binlog sources: the server is reachable; how many existing tables the
/// filters (Debezium's regex lists) capture. None is not an error: a table
/// is captured from its CREATE TABLE on.
async fn check_binlog_tables(s: &SourceConfig, ep: &crate::config::DbEndpoint) -> CheckLine {
    let filter = match crate::source::filter::TableFilter::new(s, ep.database()) {
        Ok(f) => f,
        Err(e) => return CheckLine::fail(e.to_string()),
    };
    let probe = async {
        let pool = crate::mysql::pool_settled(ep).await?;
        let mut conn = pool.get_conn().await?;
        let all: Vec<(String, String)> = conn
            .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'")
            .await?;
        drop(conn);
        pool.disconnect().await?;
        Ok::<_, mysql_async::Error>(all)
    };
    match tokio::time::timeout(TIMEOUT, probe).await {
        Err(_) => CheckLine::fail(format!(
            "source \"{}\": {}: timed out after {}s",
            s.name,
            ep.display_url(),
            TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => CheckLine::fail(format!("source \"{}\": {}: {e}", s.name, ep.display_url())),
        Ok(Ok(all)) => {
            let n = all.iter().filter(|(d, t)| filter.captures(d, t)).count();
            CheckLine::ok(if n == 0 {
                format!(
                    "source \"{}\": {} reachable; no existing table matches the filters yet (captured once created)",
                    s.name,
                    ep.display_url()
                )
            } else {
                format!(
                    "source \"{}\": {} reachable; {n} table(s) captured",
                    s.name,
                    ep.display_url()
                )
            })
        }
    }
}

/// Poll sources: the query runs and the mode's columns exist and are NOT
/// NULL (`validate_non_null`), as a start would check.
async fn check_poll_columns(s: &SourceConfig) -> Vec<CheckLine> {
    match tokio::time::timeout(TIMEOUT, crate::source::poll::preflight(s)).await {
        Err(_) => vec![], // the reachability line reports the timeout
        Ok(Ok(0)) => vec![],
        Ok(Ok(n)) => vec![CheckLine::ok(format!(
            "source \"{}\": {} probed: the mode's columns are there{}",
            s.name,
            if s.query.is_some() {
                "the query".to_string()
            } else {
                format!("{n} table(s)")
            },
            if s.validate_non_null {
                " and NOT NULL"
            } else {
                ""
            }
        ))],
        Ok(Err(e)) => vec![CheckLine::fail(format!("source \"{}\": {e}", s.name))],
    }
}

/// A binlog source: each server its `url` lists (several when it follows a
/// failover) reachable, its tables, binlog settings and grants.
async fn check_binlog_source(s: &SourceConfig) -> Vec<CheckLine> {
    let Ok(ep) = s.endpoint() else {
        return vec![check_source(s).await];
    };
    let servers = ep.servers();
    if servers.len() == 1 {
        let mut out = vec![check_source(s).await];
        out.extend(check_binlog_server(s, &ep, false).await);
        return out;
    }
    let mut out = Vec::new();
    for server in &servers {
        out.push(check_binlog_tables(s, server).await);
        out.extend(check_binlog_server(s, server, true).await);
    }
    out
}

/// Binlog settings and grants: one line per problem, naming the setting and the fix.
async fn check_binlog_server(
    s: &SourceConfig,
    ep: &crate::config::DbEndpoint,
    several: bool,
) -> Vec<CheckLine> {
    use crate::source::binlog::{failover, server};
    let probe = async {
        let pool = crate::mysql::pool_settled(ep).await?;
        let mut conn = pool.get_conn().await?;
        let info = server::server_info(&mut conn).await?;
        let locks = s.snapshot_locking == crate::config::SnapshotLocking::Minimal;
        let mut problems = server::validate(&mut conn, &info, locks).await?;
        if several {
            match failover::problems(&mut conn, &info).await {
                Ok(more) => problems.extend(more),
                Err(crate::source::SourceError::Mysql(e)) => return Err(e),
                Err(_) => {}
            }
        }
        drop(conn);
        pool.disconnect().await?;
        Ok::<_, mysql_async::Error>((info, problems))
    };
    match tokio::time::timeout(TIMEOUT, probe).await {
        Err(_) | Ok(Err(_)) => vec![], // the reachability line already failed
        Ok(Ok((info, problems))) if problems.is_empty() => {
            vec![CheckLine::ok(format!(
            "source \"{}\": binlog ready on {}{} (ROW, FULL row image, FULL metadata, grants{})",
            s.name,
            info.version,
            if several { format!(" at {}", ep.hosts().join(",")) } else { String::new() },
            if several { ", GTIDs, log_slave_updates" } else { "" }
        ))]
        }
        Ok(Ok((_, problems))) => problems
            .into_iter()
            .map(|p| match several {
                true => CheckLine::fail(format!(
                    "source \"{}\": server {}: {p}",
                    s.name,
                    ep.hosts().join(",")
                )),
                false => CheckLine::fail(format!("source \"{}\": {p}", s.name)),
            })
            .collect(),
    }
}

/// What the daemon itself refuses at start: an unreadable or empty token file, a bad
/// listen address, a state directory or connectors file it cannot use.
fn check_http_and_state(config: &Config) -> Vec<CheckLine> {
    let mut out = Vec::new();
    if !config.http.listen.is_empty() {
        match config.http.listen.parse::<std::net::SocketAddr>() {
            Ok(_) => {}
            Err(e) => out.push(CheckLine::fail(format!(
                "http: key `listen`: \"{}\" is not an address:port: {e}",
                config.http.listen
            ))),
        }
        match crate::daemon::auth_token(config) {
            Ok(Some(_)) => out.push(CheckLine::ok(
                "http: bearer token loaded for REST writes".into(),
            )),
            Ok(None) => {}
            Err(e) => out.push(CheckLine::fail(e.to_string())),
        }
    }
    let dir = crate::app::state_dir(config.state_dir.as_deref());
    let store = crate::app::Store::new(&dir);
    match store.load() {
        Err(e) => out.push(CheckLine::fail(format!("state_dir {}: {e}", dir.display()))),
        Ok(stored) => {
            let writable = std::fs::metadata(&dir)
                .map(|m| m.is_dir() && !m.permissions().readonly())
                .unwrap_or_else(|_| dir.parent().is_some_and(|p| p.exists()));
            if writable {
                out.push(CheckLine::ok(format!(
                    "state_dir {}: usable ({} REST connector(s) stored)",
                    dir.display(),
                    stored.len()
                )));
            } else {
                out.push(CheckLine::fail(format!(
                    "state_dir {}: not a writable directory (REST-created connectors are stored there); set `state_dir` or create it",
                    dir.display()
                )));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spool_directory_line_names_the_directory_and_the_cause() {
        let ok = spool_line(&std::env::temp_dir());
        assert!(ok.ok && ok.message.contains("writable"), "{}", ok.message);
        let bad = spool_line(std::path::Path::new("/nonexistent-sluice-dir"));
        assert!(!bad.ok);
        assert!(
            bad.message.contains("/nonexistent-sluice-dir")
                && bad.message.contains("No such file")
                && bad.message.contains("TMPDIR"),
            "{}",
            bad.message
        );
    }
}
