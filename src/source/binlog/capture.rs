//! Which tables a binlog source captures: `databases` (default: the URL's
//! database), `tables` and `table_exclude`; system databases never.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::SourceConfig;
use crate::event::TableId;
use crate::source::SourceError;

const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// Which tables a source captures.
#[derive(Debug, Clone)]
pub struct Capture {
    databases: Vec<String>,
    include: Vec<String>,
    exclude: Vec<String>,
}

impl Capture {
    /// From `databases` (default: the URL's database), `tables` and `table_exclude`.
    pub fn new(cfg: &SourceConfig, url_database: Option<String>) -> Self {
        let databases = if cfg.databases.is_empty() {
            url_database.into_iter().collect()
        } else {
            cfg.databases.clone()
        };
        Capture {
            databases,
            include: cfg.tables.clone(),
            exclude: cfg.table_exclude.clone(),
        }
    }

    /// True when changes of `db`.`table` are published.
    pub fn captures(&self, db: &str, table: &str) -> bool {
        if SYSTEM_DATABASES.contains(&db) {
            return false;
        }
        if !self.databases.is_empty() && !self.databases.iter().any(|d| d == db) {
            return false;
        }
        let matches = |list: &[String]| {
            list.iter().any(|e| match e.split_once('.') {
                Some((d, t)) => d == db && t == table,
                None => e == table,
            })
        };
        (self.include.is_empty() || matches(&self.include)) && !matches(&self.exclude)
    }

    /// True when tables of `db` may be captured (DDL there is reported).
    pub fn captures_database(&self, db: &str) -> bool {
        !SYSTEM_DATABASES.contains(&db)
            && (self.databases.is_empty() || self.databases.iter().any(|d| d == db))
    }

    /// The captured base tables that exist now.
    pub async fn list_tables(&self, conn: &mut Conn) -> Result<Vec<TableId>, SourceError> {
        let all: Vec<(String, String)> = conn
            .query("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME")
            .await?;
        Ok(all
            .into_iter()
            .filter(|(d, t)| self.captures(d, t))
            .map(|(d, t)| TableId::new(d, t))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cap(dbs: &[&str], inc: &[&str], exc: &[&str]) -> Capture {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Capture {
            databases: v(dbs),
            include: v(inc),
            exclude: v(exc),
        }
    }

    #[test]
    fn capture_filters_by_database_table_and_exclusion() {
        let c = cap(&["shop"], &["orders", "other.users"], &[]);
        assert!(c.captures("shop", "orders"));
        assert!(!c.captures("shop", "users"));
        assert!(!c.captures("other", "orders"));
        let c = cap(&[], &[], &["shop.audit"]);
        assert!(c.captures("any", "t"));
        assert!(!c.captures("shop", "audit"));
        assert!(!c.captures("mysql", "user"));
    }
}
