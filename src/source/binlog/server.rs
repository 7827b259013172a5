//! What a binlog source needs from its server, checked before it starts.
//!
//! Settings: `log_bin = ON`, `binlog_format = ROW`, `binlog_row_image = FULL`,
//! `binlog_row_metadata = FULL` (each table map then describes its table
//! completely, see [`super::table`]), and on MySQL `binlog_row_value_options`
//! without `PARTIAL_JSON`. Grants: `REPLICATION SLAVE` (read the binlog),
//! `REPLICATION CLIENT` or MariaDB's `BINLOG MONITOR` (list binlogs), `SELECT`
//! on the captured tables, and on MySQL `RELOAD` only with
//! `snapshot_locking = "minimal"` (the snapshot's brief global read lock). Each problem is reported as `{setting, expected, actual}`
//! with the fix.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::charset::Charsets;
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

/// The settings [`check_settings`] looks at.
pub const SETTINGS: [&str; 5] = [
    "log_bin",
    "binlog_format",
    "binlog_row_image",
    "binlog_row_metadata",
    "binlog_row_value_options",
];

/// Checks every setting and grant; an empty list means ready. `needs_reload`:
/// the snapshot takes MySQL's global read lock (`snapshot_locking = "minimal"`).
pub async fn validate(
    conn: &mut Conn,
    info: &ServerInfo,
    needs_reload: bool,
) -> Result<Vec<Problem>, mysql_async::Error> {
    let mut vars = HashMap::new();
    for name in SETTINGS {
        vars.insert(name, var(conn, name).await?);
    }
    let grants: Vec<String> = conn.query("SHOW GRANTS").await?;
    Ok(check_settings(info.flavor, &vars, &grants, needs_reload))
}

fn problem(setting: &str, expected: &str, actual: &str, fix: &str) -> Problem {
    Problem {
        setting: setting.into(),
        expected: expected.into(),
        actual: actual.into(),
        fix: fix.into(),
    }
}

/// Pure check of server variables (`None`: the server does not have it) and
/// `SHOW GRANTS` lines; `needs_reload` as in [`validate`].
pub fn check_settings(
    flavor: Flavor,
    vars: &HashMap<&str, Option<String>>,
    grants: &[String],
    needs_reload: bool,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let required = [
        ("log_bin", "ON", "start the server with --log-bin (and a server_id)"),
        ("binlog_format", "ROW", "SET GLOBAL binlog_format = 'ROW' and put binlog_format = ROW in the server config"),
        ("binlog_row_image", "FULL", "SET GLOBAL binlog_row_image = 'FULL' and put it in the server config"),
        (
            "binlog_row_metadata",
            "FULL",
            "SET GLOBAL binlog_row_metadata = 'FULL' (MariaDB 10.5+, MySQL 8.0.1+) and put it in the server config",
        ),
    ];
    for (name, want, fix) in required {
        let actual = vars.get(name).cloned().flatten();
        match actual {
            Some(v) if v.eq_ignore_ascii_case(want) || (name == "log_bin" && v == "1") => {}
            Some(v) => problems.push(problem(name, want, &v, fix)),
            None => problems.push(problem(
                name,
                want,
                "not set (unsupported by this server version)",
                fix,
            )),
        }
    }
    if flavor == Flavor::MySql {
        let v = vars
            .get("binlog_row_value_options")
            .cloned()
            .flatten()
            .unwrap_or_default();
        if v.to_ascii_uppercase().contains("PARTIAL_JSON") {
            problems.push(problem(
                "binlog_row_value_options",
                "'' (no PARTIAL_JSON)",
                &v,
                "SET GLOBAL binlog_row_value_options = '': partial JSON updates do not carry the whole document",
            ));
        }
    }
    let all = grants.join("\n").to_ascii_uppercase();
    let global_all = all.contains("ALL PRIVILEGES ON *.*");
    let has = |p: &str| global_all || all.contains(p);
    if !has("REPLICATION SLAVE") && !has("REPLICATION REPLICA") {
        problems.push(problem(
            "grant REPLICATION SLAVE",
            "granted ON *.*",
            "missing",
            "GRANT REPLICATION SLAVE ON *.* TO the source's user",
        ));
    }
    if !has("REPLICATION CLIENT") && !has("BINLOG MONITOR") {
        problems.push(problem(
            "grant REPLICATION CLIENT / BINLOG MONITOR",
            "granted ON *.*",
            "missing",
            "GRANT REPLICATION CLIENT ON *.* (MySQL) or BINLOG MONITOR ON *.* (MariaDB) TO the source's user",
        ));
    }
    if !has("SELECT") {
        problems.push(problem(
            "grant SELECT",
            "SELECT on the captured tables",
            "missing",
            "GRANT SELECT ON <db>.* TO the source's user",
        ));
    }
    if flavor == Flavor::MySql && needs_reload && !has("RELOAD") {
        problems.push(problem(
            "grant RELOAD",
            "granted ON *.* (the snapshot's brief FLUSH TABLES WITH READ LOCK)",
            "missing",
            "GRANT RELOAD ON *.* TO the source's user, or use snapshot_locking = \"none\" (chunked, lock-free)",
        ));
    }
    problems
}

/// The server's current binlog end: position and executed GTIDs (MySQL's
/// `Executed_Gtid_Set`, MariaDB's `@@gtid_binlog_pos`).
pub async fn binlog_status(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<(BinlogPosition, String), mysql_async::Error> {
    let Some(st) = crate::mysql::binlog_status(conn).await? else {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ready() -> HashMap<&'static str, Option<String>> {
        [
            ("log_bin", "ON"),
            ("binlog_format", "ROW"),
            ("binlog_row_image", "FULL"),
            ("binlog_row_metadata", "FULL"),
            ("binlog_row_value_options", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k, Some(v.to_string())))
        .collect()
    }

    const CDC_GRANTS: &str =
        "GRANT SELECT, RELOAD, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO `cdc`@`%`";

    #[test]
    fn a_ready_server_has_no_problems() {
        for flavor in [Flavor::MariaDb, Flavor::MySql] {
            assert!(check_settings(flavor, &ready(), &[CDC_GRANTS.into()], true).is_empty());
        }
        let all = ["GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost`".to_string()];
        assert!(check_settings(Flavor::MariaDb, &ready(), &all, true).is_empty());
    }

    #[test]
    fn each_wrong_setting_is_one_line_naming_it_and_the_fix() {
        let mut v = ready();
        v.insert("binlog_format", Some("STATEMENT".into()));
        v.insert("binlog_row_metadata", Some("MINIMAL".into()));
        v.insert("binlog_row_value_options", Some("PARTIAL_JSON".into()));
        let p = check_settings(Flavor::MySql, &v, &[CDC_GRANTS.into()], true);
        let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].starts_with("binlog_format is STATEMENT, needs ROW: SET GLOBAL binlog_format")
        );
        assert!(lines[1].starts_with("binlog_row_metadata is MINIMAL, needs FULL"));
        assert!(lines[2].contains("binlog_row_value_options is PARTIAL_JSON"));
        // MariaDB has no binlog_row_value_options: not checked there.
        let p = check_settings(Flavor::MariaDb, &v, &[CDC_GRANTS.into()], true);
        assert_eq!(p.len(), 2);
    }

    #[test]
    fn a_missing_variable_says_the_server_is_too_old() {
        let mut v = ready();
        v.insert("binlog_row_metadata", None);
        let p = check_settings(Flavor::MariaDb, &v, &[CDC_GRANTS.into()], true);
        assert_eq!(p.len(), 1);
        assert!(p[0].actual.contains("unsupported by this server version"));
    }

    #[test]
    fn missing_grants_differ_by_flavor() {
        let only_select = ["GRANT SELECT ON `shop`.* TO `cdc`@`%`".to_string()];
        let maria = check_settings(Flavor::MariaDb, &ready(), &only_select, true);
        let names: Vec<&str> = maria.iter().map(|p| p.setting.as_str()).collect();
        assert_eq!(
            names,
            [
                "grant REPLICATION SLAVE",
                "grant REPLICATION CLIENT / BINLOG MONITOR"
            ]
        );
        let mysql = check_settings(Flavor::MySql, &ready(), &only_select, true);
        assert_eq!(
            mysql.len(),
            3,
            "MySQL also needs RELOAD for the snapshot lock"
        );
        let lock_free = check_settings(Flavor::MySql, &ready(), &only_select, false);
        assert_eq!(lock_free.len(), 2, "no RELOAD without the lock");
        let monitor =
            ["GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO `cdc`@`%`".to_string()];
        assert!(check_settings(Flavor::MariaDb, &ready(), &monitor, true).is_empty());
    }
}
