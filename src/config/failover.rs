//! Following the database's failover: a binlog source whose `url` lists
//! several servers (`mysql://cdc@db1:3306,db2:3306/orders`, Connector/J's
//! multi-host form) reads one of them and moves to the next when it dies
//! (`crate::source::binlog::failover`).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `url` with several `host:port` | one server | the servers, in the order they are tried |
//! | `failover_timeout_ms` | 10000 | how long reconnecting to the server being read may fail before the source moves to the next one |
//!
//! Only a binlog source may list several servers: a poll source or a sink
//! has no position that could move to another server, so theirs is refused.

use std::time::Duration;

use super::{ConfigError, SourceConfig, SourceKind};

/// The default of `failover_timeout_ms`.
pub const DEFAULT_FAILOVER_TIMEOUT_MS: u64 = 10_000;

/// Serde default of `failover_timeout_ms`.
pub(super) fn default_timeout_ms() -> u64 {
    DEFAULT_FAILOVER_TIMEOUT_MS
}

/// How long reconnecting to the server being read may fail before the next one is tried.
pub fn timeout(cfg: &SourceConfig) -> Duration {
    Duration::from_millis(cfg.failover_timeout_ms)
}

/// The number of servers `cfg`'s `url` lists.
pub fn server_count(cfg: &SourceConfig) -> usize {
    super::database::url_host_count(&cfg.url)
}

/// Pure checks: several servers only for a binlog source, the timeout only with several.
pub(super) fn validate(cfg: &SourceConfig, kind: SourceKind) -> Result<(), ConfigError> {
    let invalid = |key: &str, reason: &str| ConfigError::Invalid {
        pipeline: cfg.name.clone(),
        key: key.into(),
        reason: reason.into(),
    };
    let servers = server_count(cfg);
    if servers > 1 && kind != SourceKind::Binlog {
        return Err(invalid(
            "url",
            "lists several servers: only a binlog source follows a failover (by GTID); a poll source reads one server",
        ));
    }
    if servers == 1 && cfg.failover_timeout_ms != DEFAULT_FAILOVER_TIMEOUT_MS {
        return Err(invalid(
            "failover_timeout_ms",
            "only applies when url lists several servers (mysql://user@db1:3306,db2:3306/db)",
        ));
    }
    if !(1000..=3_600_000).contains(&cfg.failover_timeout_ms) {
        return Err(invalid(
            "failover_timeout_ms",
            "must be between 1000 and 3600000",
        ));
    }
    Ok(())
}

/// A sink's `url` must name one server.
pub(super) fn validate_sink_url(pipeline: &str, url: &str) -> Result<(), ConfigError> {
    if super::database::url_host_count(url) > 1 {
        return Err(ConfigError::Invalid {
            pipeline: pipeline.to_string(),
            key: "url".into(),
            reason: "lists several servers: a sink writes to one server (only a binlog source follows a failover)".into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(kind: &str, url: &str, extra: &str) -> Result<SourceConfig, String> {
        let text = format!("[[source]]\nname = \"s\"\nkind = \"{kind}\"\nurl = \"{url}\"\n{extra}");
        let config = super::super::Config::from_toml_str(&text).map_err(|e| e.to_string())?;
        let cfg = config.source.into_iter().next().ok_or("no source")?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    #[test]
    fn a_binlog_source_may_list_several_servers() {
        let cfg = source("binlog", "mysql://root@db1:3306,db2:3306/db", "").expect("valid");
        assert_eq!(server_count(&cfg), 2);
        assert_eq!(timeout(&cfg), Duration::from_secs(10));
        let cfg = source(
            "binlog",
            "jdbc:mysql://db1,db2/db",
            "failover_timeout_ms = \"3000\"",
        )
        .expect("valid");
        assert_eq!(timeout(&cfg), Duration::from_secs(3));
    }

    #[test]
    fn poll_sources_and_lone_servers_refuse_the_failover_keys() {
        let err = source(
            "poll",
            "mysql://root@db1:3306,db2:3306/db",
            "mode = \"bulk\"",
        )
        .expect_err("refused");
        assert!(err.contains("several servers"), "{err}");
        let err = source(
            "binlog",
            "mysql://root@db1:3306/db",
            "failover_timeout_ms = 5000",
        )
        .expect_err("refused");
        assert!(err.contains("failover_timeout_ms"), "{err}");
        let err = source("binlog", "mysql://root@a,b/db", "failover_timeout_ms = 10")
            .expect_err("refused");
        assert!(err.contains("between 1000"), "{err}");
    }

    #[test]
    fn a_sink_names_one_server() {
        assert!(validate_sink_url("k", "mysql://root@a:1,b:2/db").is_err());
        assert!(validate_sink_url("k", "postgres://u@h:5432/db").is_ok());
    }
}
