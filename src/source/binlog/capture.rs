//! Which tables a binlog source captures: the source's
//! [`TableFilter`](crate::source::filter::TableFilter) (Debezium's anchored
//! regex lists over databases and `<db>.<table>`); system databases never.
//!
//! Each stored position carries the filter it was written under
//! ([`CaptureSpec`]); a source started under a filter that captures tables
//! the stored one did not ([`Capture::added_tables`], e.g. a table added to
//! `tables` and a SIGHUP reload) backfills them with an on-demand chunked
//! snapshot while the rest streams on.

use std::sync::Arc;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, SourceConfig};
use crate::event::TableId;
use crate::source::filter::TableFilter;
use crate::source::SourceError;

/// The settings a table filter is built from, as stored with positions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureSpec {
    /// `databases` (`database.include.list`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub databases: Vec<String>,
    /// `database_exclude`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub database_exclude: Vec<String>,
    /// `tables` (`table.include.list`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tables: Vec<String>,
    /// `table_exclude`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub table_exclude: Vec<String>,
    /// The URL's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_database: Option<String>,
}

/// Which tables a source captures.
#[derive(Debug, Clone)]
pub struct Capture {
    filter: TableFilter,
    spec: Arc<CaptureSpec>,
}

impl Capture {
    /// From `databases` (default: the URL's database), `tables` and their exclusions.
    pub fn new(cfg: &SourceConfig, url_database: Option<String>) -> Result<Self, ConfigError> {
        let spec = CaptureSpec {
            databases: cfg.databases.clone(),
            database_exclude: cfg.database_exclude.clone(),
            tables: cfg.tables.clone(),
            table_exclude: cfg.table_exclude.clone(),
            url_database: url_database.clone(),
        };
        Ok(Capture {
            filter: TableFilter::new(cfg, url_database)?,
            spec: Arc::new(spec),
        })
    }

    /// The settings this filter was built from.
    pub fn spec(&self) -> Arc<CaptureSpec> {
        Arc::clone(&self.spec)
    }

    /// The tables captured now that the filter of `stored` did not capture
    /// (sorted; empty when the filter is unchanged or `stored` unreadable).
    pub async fn added_tables(
        &self,
        cfg: &SourceConfig,
        stored: &CaptureSpec,
        conn: &mut Conn,
    ) -> Result<Vec<TableId>, SourceError> {
        if *stored == *self.spec {
            return Ok(Vec::new());
        }
        let mut old_cfg = cfg.clone();
        old_cfg.databases.clone_from(&stored.databases);
        old_cfg
            .database_exclude
            .clone_from(&stored.database_exclude);
        old_cfg.tables.clone_from(&stored.tables);
        old_cfg.table_exclude.clone_from(&stored.table_exclude);
        let Ok(old) = TableFilter::new(&old_cfg, stored.url_database.clone()) else {
            return Ok(Vec::new());
        };
        let mut added = self.list_tables(conn).await?;
        added.retain(|t| !old.captures(&t.database, &t.table));
        Ok(added)
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
