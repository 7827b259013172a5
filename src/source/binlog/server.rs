//! What a binlog source needs from its server, checked before it starts.
//!
//! Settings: `log_bin = ON`, `binlog_format = ROW`, `binlog_row_image = FULL`,
//! `binlog_row_metadata = FULL` (each table map then describes its table
//! completely, see [`super::table`]), and on MySQL `binlog_row_value_options`
//! without `PARTIAL_JSON`. Grants: `REPLICATION SLAVE` (read the binlog),
//! `REPLICATION CLIENT` or MariaDB's `BINLOG MONITOR` (list binlogs), `SELECT`
//! on the captured tables, and on MySQL `RELOAD` for the snapshot's brief
//! global read lock. Each problem is reported as `{setting, expected, actual}`
//! with the fix.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::table::Charsets;
use crate::position::BinlogPosition;

/// MariaDB or MySQL: they differ in GTIDs, status statements and snapshot locking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// MariaDB (domain-server-seq GTIDs, always on).
    MariaDb,
    /// MySQL (uuid:interval GTID sets, when `gtid_mode = ON`).
    MySql,
}

/// A server setting that is not what the binlog source needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The setting or grant.
    pub setting: String,
    /// What Sluice needs.
    pub expected: String,
    /// What the server has.
    pub actual: String,
    /// How to fix it.
    pub fix: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} is {}, needs {}: {}",
            self.setting, self.actual, self.expected, self.fix
        )
    }
}

/// What the server is.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    /// Family.
    pub flavor: Flavor,
    /// `@@version`.
    pub version: String,
    /// `@@server_id`.
    pub server_id: u32,
    /// MySQL `gtid_mode = ON` (MariaDB GTIDs are always written).
    pub gtid_mode: bool,
}

async fn var(conn: &mut Conn, name: &str) -> Result<Option<String>, mysql_async::Error> {
    let row: Option<Row> = conn
        .query_first(format!("SHOW GLOBAL VARIABLES LIKE '{name}'"))
        .await?;
    Ok(row.and_then(|r| r.get::<Option<String>, _>(1).flatten()))
}

/// Reads the server's family, version and GTID mode.
pub async fn server_info(conn: &mut Conn) -> Result<ServerInfo, mysql_async::Error> {
    let version = var(conn, "version").await?.unwrap_or_default();
    let flavor = if version.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    let server_id = var(conn, "server_id")
        .await?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let gtid_mode = match flavor {
        Flavor::MariaDb => true,
        Flavor::MySql => var(conn, "gtid_mode")
            .await?
            .is_some_and(|m| m.eq_ignore_ascii_case("ON")),
    };
    Ok(ServerInfo {
        flavor,
        version,
        server_id,
        gtid_mode,
    })
}

/// Checks every setting and grant; an empty list means ready.
pub async fn validate(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<Vec<Problem>, mysql_async::Error> {
    let mut problems = Vec::new();
    let mut need = |setting: &str,
                    actual: Option<String>,
                    ok: &dyn Fn(&str) -> bool,
                    expected: &str,
                    fix: &str| {
        let actual =
            actual.unwrap_or_else(|| "not set (unsupported by this server version)".into());
        if !ok(&actual) {
            problems.push(Problem {
                setting: setting.into(),
                expected: expected.into(),
                actual,
                fix: fix.into(),
            });
        }
    };
    let eq = |want: &'static str| move |v: &str| v.eq_ignore_ascii_case(want);
    need(
        "log_bin",
        var(conn, "log_bin").await?,
        &eq("ON"),
        "ON",
        "start the server with --log-bin (and a server_id)",
    );
    need(
        "binlog_format",
        var(conn, "binlog_format").await?,
        &eq("ROW"),
        "ROW",
        "SET GLOBAL binlog_format = 'ROW' and put binlog_format = ROW in the server config",
    );
    need(
        "binlog_row_image",
        var(conn, "binlog_row_image").await?,
        &eq("FULL"),
        "FULL",
        "SET GLOBAL binlog_row_image = 'FULL' and put it in the server config",
    );
    need(
        "binlog_row_metadata",
        var(conn, "binlog_row_metadata").await?,
        &eq("FULL"),
        "FULL",
        "SET GLOBAL binlog_row_metadata = 'FULL' (MariaDB 10.5+, MySQL 8.0.1+) and put it in the server config",
    );
    if info.flavor == Flavor::MySql {
        need(
            "binlog_row_value_options",
            Some(var(conn, "binlog_row_value_options").await?.unwrap_or_default()),
            &|v: &str| !v.to_ascii_uppercase().contains("PARTIAL_JSON"),
            "'' (no PARTIAL_JSON)",
            "SET GLOBAL binlog_row_value_options = '': partial JSON updates do not carry the whole document",
        );
    }
    let grants: Vec<String> = conn.query("SHOW GRANTS").await?;
    let all = grants.join("\n").to_ascii_uppercase();
    let global_all = grants
        .iter()
        .any(|g| g.to_ascii_uppercase().contains("ALL PRIVILEGES ON *.*"));
    let has = |p: &str| global_all || all.contains(p);
    if !has("REPLICATION SLAVE") && !has("REPLICATION REPLICA") {
        problems.push(Problem {
            setting: "grant REPLICATION SLAVE".into(),
            expected: "granted ON *.*".into(),
            actual: "missing".into(),
            fix: "GRANT REPLICATION SLAVE ON *.* TO the source's user".into(),
        });
    }
    if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
        problems.push(Problem {
            setting: "grant REPLICATION CLIENT / BINLOG MONITOR".into(),
            expected: "granted ON *.*".into(),
            actual: "missing".into(),
            fix: "GRANT REPLICATION CLIENT ON *.* (MySQL) or BINLOG MONITOR ON *.* (MariaDB) TO the source's user".into(),
        });
    }
    if !has("SELECT") {
        problems.push(Problem {
            setting: "grant SELECT".into(),
            expected: "SELECT on the captured tables".into(),
            actual: "missing".into(),
            fix: "GRANT SELECT ON <db>.* TO the source's user".into(),
        });
    }
    if info.flavor == Flavor::MySql && !has("RELOAD") {
        problems.push(Problem {
            setting: "grant RELOAD".into(),
            expected: "granted ON *.* (the snapshot's brief FLUSH TABLES WITH READ LOCK)".into(),
            actual: "missing".into(),
            fix: "GRANT RELOAD ON *.* TO the source's user, or use snapshot_mode = \"never\"/\"schema_only\"".into(),
        });
    }
    Ok(problems)
}

/// The server's current binlog end: position and executed GTIDs (MySQL's
/// `Executed_Gtid_Set`, MariaDB's `@@gtid_binlog_pos`).
pub async fn binlog_status(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<(BinlogPosition, String), mysql_async::Error> {
    let Some(st) = crate::source::mysql_conn::binlog_status(conn).await? else {
        return Err(mysql_async::Error::Other(
            "the server reports no binlog status: is log_bin ON?".into(),
        ));
    };
    let gtids = match info.flavor {
        Flavor::MySql => st.executed_gtid_set.unwrap_or_default(),
        Flavor::MariaDb => conn
            .query_first::<Option<String>, _>("SELECT @@gtid_binlog_pos")
            .await?
            .flatten()
            .unwrap_or_default(),
    };
    Ok((BinlogPosition::new(st.file, st.position), gtids))
}

/// The binlog files the server still has, oldest first.
pub async fn binlog_files(conn: &mut Conn) -> Result<Vec<String>, mysql_async::Error> {
    let rows: Vec<Row> = conn.query("SHOW BINARY LOGS").await?;
    Ok(rows.iter().filter_map(|r| r.get::<String, _>(0)).collect())
}

/// MySQL: `@@gtid_purged`, the transactions no longer in any binlog.
pub async fn gtid_purged(conn: &mut Conn) -> Result<String, mysql_async::Error> {
    Ok(conn
        .query_first::<Option<String>, _>("SELECT @@GLOBAL.gtid_purged")
        .await?
        .flatten()
        .unwrap_or_default()
        .replace('\n', ""))
}

/// Character-set ids of every collation, for decoding binlog text.
pub async fn charsets(conn: &mut Conn) -> Result<Charsets, mysql_async::Error> {
    let rows: Vec<(u64, String)> = conn
        .query(
            "SELECT ID, CHARACTER_SET_NAME FROM information_schema.COLLATIONS WHERE ID IS NOT NULL",
        )
        .await?;
    Ok(Charsets::from_pairs(rows.into_iter().filter_map(
        |(id, name)| u16::try_from(id).ok().map(|id| (id, name)),
    )))
}
