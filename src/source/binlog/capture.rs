//! Which tables a binlog source captures: the source's
//! [`TableFilter`](crate::source::filter::TableFilter) (Debezium's anchored
//! regex lists over databases and `<db>.<table>`); system databases never.

use mysql_async::prelude::Queryable;
use mysql_async::Conn;

use crate::config::{ConfigError, SourceConfig};
use crate::event::TableId;
use crate::source::filter::TableFilter;
use crate::source::SourceError;

/// Which tables a source captures.
#[derive(Debug, Clone)]
pub struct Capture {
    filter: TableFilter,
}

impl Capture {
    /// From `databases` (default: the URL's database), `tables` and their exclusions.
    pub fn new(cfg: &SourceConfig, url_database: Option<String>) -> Result<Self, ConfigError> {
        Ok(Capture {
            filter: TableFilter::new(cfg, url_database)?,
        })
    }

    /// True when changes of `db`.`table` are published.
    pub fn captures(&self, db: &str, table: &str) -> bool {
        self.filter.captures(db, table)
    }

    /// True when tables of `db` may be captured (DDL there is reported).
    pub fn captures_database(&self, db: &str) -> bool {
        self.filter.captures_database(db)
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
