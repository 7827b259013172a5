//! What a poll source checks before it reads: its query (or each table it
//! would poll) runs, and the mode's columns exist and, with
//! `validate_non_null`, cannot be NULL. A start runs the same checks on its
//! first poll of each table; `sluice check` runs them alone ([`preflight`]).

use mysql_async::consts::ColumnFlags;
use mysql_async::prelude::Queryable;

use super::query::{QuerySpec, Relation};
use super::{discover_tables, QUERY_PARTITION};
use crate::config::{PollMode, SourceConfig};
use crate::event::TableId;
use crate::mysql;
use crate::source::SourceError;

/// For `sluice check`: probes what the source reads (its query, or each
/// table it would poll) as a start does, without reading rows: the query
/// runs, the mode's columns exist and, with `validate_non_null`, cannot be
/// NULL. Returns how many tables (or queries) were probed.
pub async fn preflight(cfg: &SourceConfig) -> Result<usize, SourceError> {
    let endpoint = cfg.endpoint()?;
    let database = endpoint.database().unwrap_or_default();
    let mode = cfg.mode.unwrap_or(PollMode::Bulk);
    let pool = mysql::pool_settled(&endpoint).await?;
    let mut conn = pool.get_conn().await?;
    let tables: Vec<Option<String>> = match &cfg.query {
        Some(_) => vec![None],
        None => discover_tables(&mut conn, &database, &cfg.tables, &cfg.table_exclude)
            .await?
            .into_iter()
            .map(Some)
            .collect(),
    };
    let mut probed = 0;
    for table in &tables {
        if mode == PollMode::Bulk && table.is_some() {
            continue;
        }
        let table_id = TableId::new(
            database.clone(),
            table.as_deref().unwrap_or(QUERY_PARTITION),
        );
        let result = conn
            .exec_iter(spec_for(cfg, mode, &database, table.as_deref()).probe(), ())
            .await?;
        let columns = result.columns().map(|c| c.to_vec()).unwrap_or_default();
        result.drop_result().await?;
        check_columns(cfg, mode, &table_id, &columns)?;
        probed += 1;
    }
    drop(conn);
    pool.disconnect().await.ok();
    Ok(probed)
}

/// What a source's queries read from `table` (`None`: its custom query),
/// without `query_suffix` (probes take none).
pub(super) fn spec_for<'a>(
    cfg: &'a SourceConfig,
    mode: PollMode,
    database: &'a str,
    table: Option<&'a str>,
) -> QuerySpec<'a> {
    let relation = match (table, &cfg.query) {
        (Some(table), _) => Relation::Table { database, table },
        (None, q) => Relation::Query(q.as_deref().unwrap_or_default()),
    };
    QuerySpec {
        relation,
        mode,
        incrementing: cfg.incrementing_column.as_deref(),
        timestamps: &cfg.timestamp_columns,
        suffix: None,
    }
}

/// Checks the probed result columns: the mode's columns exist and, with
/// `validate_non_null`, cannot be NULL (timestamps: at least one of them).
/// A custom query's columns are not refused for being nullable (Connect does
/// not check queries, and a computed or outer-joined column reports itself
/// nullable): that is logged as a warning instead.
pub(super) fn check_columns(
    cfg: &SourceConfig,
    mode: PollMode,
    table: &TableId,
    columns: &[mysql_async::Column],
) -> Result<(), SourceError> {
    let find = |name: &str| columns.iter().find(|c| c.name_str() == name);
    let nullable = |c: &mysql_async::Column| !c.flags().contains(ColumnFlags::NOT_NULL_FLAG);
    let refuse = |role: &'static str, columns: Vec<String>| {
        if cfg.query.is_some() {
            tracing::warn!(
                pipeline = %cfg.name,
                role,
                columns = ?columns,
                "the query's {role} column(s) may be NULL: rows with NULL there are never read"
            );
            return Ok(());
        }
        Err(SourceError::NullableColumn {
            table: table.clone(),
            role,
            columns,
        })
    };
    if mode.uses_incrementing() {
        let name = cfg.incrementing_column.clone().unwrap_or_default();
        let Some(col) = find(&name) else {
            return Err(SourceError::ColumnNotFound {
                table: table.clone(),
                role: "incrementing",
                columns: vec![name],
            });
        };
        if cfg.validate_non_null && nullable(col) {
            refuse("incrementing", vec![name])?;
        }
    }
    if mode.uses_timestamp() {
        let found: Vec<&mysql_async::Column> = cfg
            .timestamp_columns
            .iter()
            .filter_map(|c| find(c))
            .collect();
        if found.len() != cfg.timestamp_columns.len() {
            return Err(SourceError::ColumnNotFound {
                table: table.clone(),
                role: "timestamp",
                columns: cfg.timestamp_columns.clone(),
            });
        }
        if cfg.validate_non_null && found.iter().all(|c| nullable(c)) {
            refuse("timestamp", cfg.timestamp_columns.clone())?;
        }
    }
    Ok(())
}
