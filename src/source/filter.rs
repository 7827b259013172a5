//! Which tables a binlog source captures, as Debezium's MySQL connector
//! decides it: `database.include.list` / `database.exclude.list` over the
//! database name, then `table.include.list` / `table.exclude.list` over
//! `<db>.<table>`; every entry an anchored, case-insensitive regex
//! ([`crate::config::debezium::Patterns`]). System databases are never
//! captured.
//!
//! Sluice's own forms keep working: with no database list the URL's
//! database is the one captured (a Debezium config names none, so all are),
//! and a table entry without a `.` is also matched against the bare table
//! name (`tables = ["users"]`).

use crate::config::debezium::Patterns;
use crate::config::{ConfigError, SourceConfig};

const SYSTEM_DATABASES: [&str; 4] = ["mysql", "information_schema", "performance_schema", "sys"];

/// A source's table filter.
#[derive(Debug, Clone, Default)]
pub struct TableFilter {
    /// The URL's database, captured alone when no database list is set.
    url_database: Option<String>,
    db_include: Patterns,
    db_exclude: Patterns,
    /// Table entries with a `.`, over `<db>.<table>`.
    include: Patterns,
    exclude: Patterns,
    /// Table entries without a `.`, over the bare table name.
    include_bare: Patterns,
    exclude_bare: Patterns,
}

impl TableFilter {
    /// The filter of `cfg`; `url_database` is the database its URL names.
    pub fn new(cfg: &SourceConfig, url_database: Option<String>) -> Result<Self, ConfigError> {
        let (db_include, db_exclude) = cfg.database_patterns()?;
        let (include, exclude) = cfg.table_patterns()?;
        let bare = |list: &[String]| {
            let entries: Vec<&String> = list.iter().filter(|e| !e.contains('.')).collect();
            Patterns::parse(&entries)
        };
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            pipeline: cfg.name.clone(),
            key: key.into(),
            reason,
        };
        Ok(TableFilter {
            url_database: url_database.filter(|_| db_include.is_empty()),
            db_include,
            db_exclude,
            include,
            exclude,
            include_bare: bare(&cfg.tables).map_err(|r| invalid("table.include.list", r))?,
            exclude_bare: bare(&cfg.table_exclude).map_err(|r| invalid("table.exclude.list", r))?,
        })
    }

    /// True when tables of `db` may be captured.
    pub fn captures_database(&self, db: &str) -> bool {
        if SYSTEM_DATABASES.contains(&db) || self.db_exclude.matches(db) {
            return false;
        }
        match &self.url_database {
            Some(url_db) => url_db == db,
            None => self.db_include.is_empty() || self.db_include.matches(db),
        }
    }

    /// True when changes of `db`.`table` are published.
    pub fn captures(&self, db: &str, table: &str) -> bool {
        if !self.captures_database(db) {
            return false;
        }
        let qualified = format!("{db}.{table}");
        let included = (self.include.is_empty() && self.include_bare.is_empty())
            || self.include.matches(&qualified)
            || self.include_bare.matches(table);
        included && !self.exclude.matches(&qualified) && !self.exclude_bare.matches(table)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(extra: &str, url_db: Option<&str>) -> TableFilter {
        let cfg = crate::config::Config::test_source(&format!(
            "kind = \"binlog\"\nurl = \"mysql://h\"\n{extra}"
        ));
        TableFilter::new(&cfg, url_db.map(str::to_string)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn table_regexes_are_anchored_over_db_and_table() {
        let f = filter("\"table.include.list\" = \"inv.orders_.*\"", None);
        assert!(f.captures("inv", "orders_2024"));
        assert!(
            f.captures("INV", "Orders_2024"),
            "case-insensitive, as Debezium"
        );
        assert!(!f.captures("inv", "orders"));
        assert!(!f.captures("inv", "customers"));
        assert!(!f.captures("xinv", "orders_1"));
        assert!(!f.captures("mysql", "orders_1"));
        let f = filter("\"table.include.list\" = \"inv.orders\"", None);
        assert!(f.captures("inv", "orders") && !f.captures("inv", "orders2"));
        let f = filter(
            "\"table.include.list\" = \"inv\\\\.a, shop\\\\.(b|c)\"",
            None,
        );
        assert!(f.captures("inv", "a") && f.captures("shop", "c"));
        assert!(!f.captures("shop", "a") && !f.captures("inva", "a"));
    }

    #[test]
    fn exclusions_and_databases() {
        let f = filter("\"table.exclude.list\" = \"shop.audit_.*\"", None);
        assert!(f.captures("any", "t"));
        assert!(f.captures("shop", "audit"));
        assert!(!f.captures("shop", "audit_2024"));
        assert!(!f.captures("sys", "t"));
        let f = filter("\"database.include.list\" = \"shop_[0-9]+\"", Some("other"));
        assert!(f.captures("shop_1", "t") && f.captures("SHOP_22", "t"));
        assert!(!f.captures("shop_x", "t") && !f.captures("other", "t"));
        let f = filter("\"database.exclude.list\" = \"tmp.*\"", None);
        assert!(f.captures("shop", "t") && !f.captures("tmp1", "t"));
        assert!(!f.captures_database("tmp"));
        // Without a database list, the URL's database alone.
        let f = filter("", Some("shop"));
        assert!(f.captures("shop", "t") && !f.captures("other", "t"));
        let f = filter("\"database.exclude.list\" = \"shop\"", Some("shop"));
        assert!(!f.captures("shop", "t"));
    }

    #[test]
    fn bare_table_names_keep_working() {
        let f = filter("tables = [\"orders\", \"other.users\"]", Some("shop"));
        assert!(f.captures("shop", "orders"));
        assert!(!f.captures("shop", "users"));
        let f = filter(
            "tables = [\"orders\", \"other.users\"]\ndatabases = [\"shop\", \"other\"]",
            None,
        );
        assert!(f.captures("other", "users") && f.captures("other", "orders"));
        let f = filter("table_exclude = [\"audit\"]", Some("shop"));
        assert!(f.captures("shop", "t") && !f.captures("shop", "audit"));
    }
}
