//! Following the database's failover: a binlog source whose `url` lists
//! several servers (`mysql://cdc@db1:3306,db2:3306/orders`).
//!
//! **Which server.** The stored position names the server it was read from
//! (`BinlogOffset::server`); a start tries that one first, else the first of
//! the list. Reconnecting to it is retried for `failover_timeout_ms` (default
//! 10 s; each attempt bounded by the rest of that time): a server that restarts
//! or blips within it is kept. Past it, the next server in the list is tried
//! the same way, round the list once; if none answers, the start fails
//! (transient) and the supervisor retries with back-off, starting again at
//! the stored server. A lost binlog connection ends the run (transient), so
//! the restart that follows is where a dead server is noticed.
//!
//! **Is the position there.** A position can move to another server only as
//! GTIDs (file/pos are one server's coordinates): on every start, the
//! server's binlog must hold the stored GTID state ([`not_on_server`]):
//! MariaDB — every stored domain's sequence number lies between the oldest
//! binlog's start (`BINLOG_GTID_POS(<oldest file>, 4)`) and
//! `@@gtid_binlog_pos`; MySQL — `@@gtid_purged` ⊆ stored ⊆ `@@gtid_executed`.
//! A server behind the position (a promoted replica still applying its relay
//! log) is asked again for `failover_timeout_ms`. Otherwise the source stops
//! naming both sets (definite), or snapshots again under
//! `snapshot_mode = "when_needed"`. MySQL needs `gtid_mode = ON` and every
//! server `log_slave_updates` (`log_replica_updates`) ON, so that a promoted
//! replica's binlog holds the primary's transactions under their own GTIDs:
//! the server checks report either as a problem ([`problems`]).
//!
//! **After a switch** the position is committed at once with the new server
//! (before any row), so a restart does not go back to the old one.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Pool};

use super::charset::Charsets;
use super::gtid::{MariaGtidList, MysqlGtidSet};
use super::offset::BinlogOffset;
use super::resume::{MissingResumePoint, PositionNotOnServer};
use super::server::{self, Flavor, Problem, ServerInfo};
use crate::config::{DbEndpoint, SourceConfig};
use crate::metrics::METRICS;
use crate::source::SourceError;

/// The pause between two connection attempts to the same server.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

/// The servers a source may read, in the order of its `url`.
pub struct Servers {
    endpoints: Vec<DbEndpoint>,
    addrs: Vec<String>,
    timeout: Duration,
}

impl Servers {
    /// The servers of `cfg`'s `url` (one for a single-host URL).
    pub fn of(cfg: &SourceConfig, endpoint: &DbEndpoint) -> Servers {
        let endpoints = endpoint.servers();
        let mut addrs = endpoint.hosts();
        addrs.resize(endpoints.len(), String::new());
        Servers {
            endpoints,
            addrs,
            timeout: crate::config::failover::timeout(cfg),
        }
    }

    /// True when the source follows a failover (several servers).
    pub fn several(&self) -> bool {
        self.endpoints.len() > 1
    }

    /// The only (or first) server's endpoint.
    pub fn first(&self) -> &DbEndpoint {
        &self.endpoints[0]
    }
}

/// A server connected to and checked.
pub struct Connected {
    /// Its pool.
    pub pool: Pool,
    /// A connection of it.
    pub conn: Conn,
    /// What it is.
    pub info: ServerInfo,
    /// Its character sets.
    pub charsets: Charsets,
    /// Its `host:port`.
    pub addr: String,
}

/// Connects to the server to read: `preferred` (the stored position's
/// server, when listed) first, each server retried for the failover timeout,
/// then the next; the error of the last attempt when none answers.
pub async fn connect(
    servers: &Servers,
    preferred: Option<&str>,
    pipeline: &str,
    locks: bool,
) -> Result<Connected, SourceError> {
    let n = servers.endpoints.len();
    let start = preferred
        .and_then(|p| servers.addrs.iter().position(|a| a == p))
        .unwrap_or(0);
    let mut last = None;
    for k in 0..n {
        let i = (start + k) % n;
        let addr = &servers.addrs[i];
        let deadline = Instant::now() + servers.timeout;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let left = deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_secs(1));
            let what = format!("connecting to server {addr}");
            let attempt = crate::liveness::waiting_on(
                what.clone(),
                tokio::time::timeout(left, super::check_server(&servers.endpoints[i], locks)),
            )
            .await;
            let err = match attempt {
                Ok(Ok((pool, conn, info, charsets))) => {
                    return Ok(Connected {
                        pool,
                        conn,
                        info,
                        charsets,
                        addr: addr.clone(),
                    });
                }
                Ok(Err(e)) if !e.is_transient() => return Err(e),
                Ok(Err(e)) => e,
                Err(_) => SourceError::Mysql(mysql_async::Error::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("{what}: no answer in {} ms", left.as_millis()),
                ))),
            };
            if Instant::now() >= deadline {
                let next = &servers.addrs[(i + 1) % n];
                tracing::warn!(pipeline, server = %addr, next = %next, error = %err,
                    "server unreachable for failover_timeout_ms ({} ms); trying the next server",
                    servers.timeout.as_millis());
                last = Some(err);
                break;
            }
            if attempts == 1 {
                tracing::info!(pipeline, server = %addr, error = %err,
                    "cannot reach the server; retrying for failover_timeout_ms");
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
    // `url` names at least one server, so some attempt failed.
    Err(last.unwrap_or_else(|| {
        SourceError::Config(crate::config::ConfigError::Invalid {
            pipeline: pipeline.to_string(),
            key: "url".into(),
            reason: "names no server".into(),
        })
    }))
}

/// What a source following a failover needs of each server beyond the
/// single-server checks: GTIDs (MySQL `gtid_mode = ON`) and
/// `log_slave_updates` ON (a promoted replica's binlog must hold the
/// primary's transactions).
pub async fn problems(conn: &mut Conn, info: &ServerInfo) -> Result<Vec<Problem>, SourceError> {
    let mut out = Vec::new();
    if info.flavor == Flavor::MySql && !info.gtid_mode {
        out.push(Problem {
            setting: "gtid_mode".into(),
            expected: "ON".into(),
            actual: "OFF".into(),
            fix: "url lists several servers: following a failover needs GTID positions (a file:pos position belongs to one server); set gtid_mode = ON and enforce_gtid_consistency = ON, or list one server".into(),
        });
    }
    let rows: Vec<(String, String)> = conn
        .query(
            "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('log_slave_updates', 'log_replica_updates')",
        )
        .await?;
    if let Some((name, value)) = rows.into_iter().find(|(_, v)| v != "ON") {
        out.push(Problem {
            setting: name,
            expected: "ON".into(),
            actual: value,
            fix: "url lists several servers: each must write the transactions it replicates to its own binlog, so that a promoted replica continues the primary's GTIDs; set it in the server's config".into(),
        });
    }
    Ok(out)
}

/// How a server's binlog stands to a stored GTID position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holds {
    /// The binlog holds it: reading resumes there.
    Yes,
    /// The server has not reached it (yet): a promoted replica may still be
    /// applying its relay log.
    Behind,
    /// Purged past it, or nothing to position by.
    No,
}

/// Why `server`'s binlog does not hold the stored GTID position `o`, if it
/// does not; a server behind it is asked again every [`RETRY_PAUSE`] for
/// `patience` (a replica just promoted may still be applying what it received).
pub async fn not_on_server(
    conn: &mut Conn,
    info: &ServerInfo,
    server: &str,
    o: &BinlogOffset,
    patience: Duration,
) -> Result<Option<MissingResumePoint>, SourceError> {
    let deadline = Instant::now() + patience;
    loop {
        let (holds, binlog, binlog_var, purged, purged_var) = match info.flavor {
            Flavor::MariaDb => {
                let binlog: String = conn
                    .query_first::<Option<String>, _>("SELECT @@GLOBAL.gtid_binlog_pos")
                    .await?
                    .flatten()
                    .unwrap_or_default();
                let oldest = match server::binlog_files(conn).await?.first() {
                    Some(file) => conn
                        .exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, 4)", (file,))
                        .await?
                        .flatten()
                        .unwrap_or_default(),
                    None => String::new(),
                };
                let holds = maria_holds(&o.gtids, &binlog, &oldest);
                let var = "the oldest binlog starts after";
                (holds, binlog, "@@gtid_binlog_pos", oldest, var)
            }
            Flavor::MySql => {
                let executed: String = conn
                    .query_first::<Option<String>, _>("SELECT @@GLOBAL.gtid_executed")
                    .await?
                    .flatten()
                    .unwrap_or_default()
                    .replace('\n', "");
                let purged = server::gtid_purged(conn).await?;
                let holds = mysql_holds(&o.gtids, &executed, &purged);
                (holds, executed, "@@gtid_executed", purged, "@@gtid_purged")
            }
        };
        match holds {
            Holds::Yes => return Ok(None),
            Holds::Behind if Instant::now() < deadline => {
                tracing::info!(server, stored = %o.gtids, binlog = %binlog,
                    "the server is behind the stored GTID position; waiting for it to catch up");
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Holds::Behind | Holds::No => {
                return Ok(Some(MissingResumePoint::NotOnServer(Box::new(
                    PositionNotOnServer {
                        server: server.to_string(),
                        stored: o.gtids.clone(),
                        binlog,
                        binlog_var,
                        purged,
                        purged_var,
                    },
                ))));
            }
        }
    }
}

/// MariaDB: every domain of `stored` is in the binlog, whose state ends at
/// `binlog` and starts after `oldest`; an empty or unreadable state is not.
fn maria_holds(stored: &str, binlog: &str, oldest: &str) -> Holds {
    let (Ok(stored), Ok(binlog), Ok(oldest)) = (
        stored.parse::<MariaGtidList>(),
        binlog.parse::<MariaGtidList>(),
        oldest.parse::<MariaGtidList>(),
    ) else {
        return Holds::No;
    };
    if stored.is_empty()
        || stored
            .iter()
            .any(|g| oldest.get(g.domain).is_some_and(|s| s.seq > g.seq))
    {
        return Holds::No;
    }
    if stored
        .iter()
        .all(|g| binlog.get(g.domain).is_some_and(|b| b.seq >= g.seq))
    {
        Holds::Yes
    } else {
        Holds::Behind
    }
}

/// MySQL: `purged` ⊆ `stored` ⊆ `executed`; an empty or unreadable set is not.
fn mysql_holds(stored: &str, executed: &str, purged: &str) -> Holds {
    let (Ok(stored), Ok(executed), Ok(purged)) = (
        stored.parse::<MysqlGtidSet>(),
        executed.parse::<MysqlGtidSet>(),
        purged.parse::<MysqlGtidSet>(),
    ) else {
        return Holds::No;
    };
    if stored.is_empty() || !stored.contains_set(&purged) {
        Holds::No
    } else if executed.contains_set(&stored) {
        Holds::Yes
    } else {
        Holds::Behind
    }
}

/// Records `addr` as the server `pipeline` reads (metric, status trace, log),
/// counting a switch when it differs from `stored`, the stored position's.
pub fn reading(pipeline: &str, addr: &str, stored: Option<&str>, all: &Servers) {
    for a in &all.addrs {
        METRICS
            .source_server
            .with_label_values(&[pipeline, a])
            .set(i64::from(a == addr));
    }
    crate::metrics::source_server_set(pipeline, addr);
    match stored {
        Some(old) if old != addr => {
            METRICS
                .source_server_switches
                .with_label_values(&[pipeline])
                .inc();
            tracing::warn!(pipeline, server = %addr, previous = %old, "failed over: reading server {addr} (the stored position was read from {old})");
        }
        _ => tracing::info!(pipeline, server = %addr, "reading server {addr}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mariadb_position_is_held_between_the_oldest_binlog_and_the_end() {
        assert_eq!(maria_holds("0-1-50", "0-2-80", "0-1-10"), Holds::Yes);
        assert_eq!(maria_holds("0-1-50", "0-1-50", ""), Holds::Yes);
        // The server is behind the stored position (a replica still applying, or one that missed transactions).
        assert_eq!(maria_holds("0-1-50", "0-1-40", ""), Holds::Behind);
        // A domain the server has never seen.
        assert_eq!(maria_holds("0-1-50,1-1-5", "0-1-90", ""), Holds::Behind);
        // Purged past it.
        assert_eq!(maria_holds("0-1-50", "0-1-90", "0-1-60"), Holds::No);
        // Nothing stored: the position cannot move.
        assert_eq!(maria_holds("", "0-1-90", ""), Holds::No);
    }

    #[test]
    fn a_mysql_position_is_held_between_purged_and_executed() {
        let u = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
        let set = |r: &str| format!("{u}:{r}");
        assert_eq!(
            mysql_holds(&set("1-50"), &set("1-90"), &set("1-10")),
            Holds::Yes
        );
        assert_eq!(mysql_holds(&set("1-50"), &set("1-40"), ""), Holds::Behind);
        assert_eq!(
            mysql_holds(&set("1-50"), &set("1-90"), &set("1-60")),
            Holds::No
        );
        assert_eq!(mysql_holds("", &set("1-90"), ""), Holds::No);
    }
}
