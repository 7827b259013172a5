//! The poll source's SQL, built without I/O: what each mode reads after an
//! offset, from a table or from a custom `query`.
//!
//! With `query` the incremental modes read the query as a derived table,
//! `SELECT * FROM (<query>) AS sluice_query WHERE ... ORDER BY ...`: Connect
//! appends its `WHERE` to the query's text, which breaks on a query that has
//! its own `WHERE` or selects the column under an alias; the derived table
//! accepts both and reads the same rows for every query Connect accepts. In
//! `bulk` mode the query runs as written. `query_suffix` is appended last, as
//! Connect's `query.suffix`.

use crate::config::PollMode;
use crate::mysql::quote;
use crate::position::PollOffset;

/// What a poll reads from.
#[derive(Debug, Clone, Copy)]
pub(super) enum Relation<'a> {
    /// A whole table.
    Table {
        /// Its database.
        database: &'a str,
        /// Its name.
        table: &'a str,
    },
    /// A custom SELECT (`query`).
    Query(&'a str),
}

/// A parameter of a poll query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Param {
    /// An incrementing-column value.
    Int(i64),
    /// An instant, µs since the epoch (the caller renders it for the
    /// column's type and `db_timezone`).
    Time(i64),
}

/// The parts of a source's config that shape its queries.
#[derive(Debug, Clone, Copy)]
pub(super) struct QuerySpec<'a> {
    /// Table or query.
    pub relation: Relation<'a>,
    /// The mode.
    pub mode: PollMode,
    /// The incrementing column (modes that use one).
    pub incrementing: Option<&'a str>,
    /// The timestamp columns (modes that use them), `COALESCE`d in order.
    pub timestamps: &'a [String],
    /// Text appended to every query.
    pub suffix: Option<&'a str>,
}

impl QuerySpec<'_> {
    /// The rows a mode filters: the table, or the query as a derived table.
    fn from(&self) -> String {
        match self.relation {
            Relation::Table { database, table } => {
                format!("SELECT * FROM {}.{}", quote(database), quote(table))
            }
            Relation::Query(q) => format!("SELECT * FROM ({}) AS sluice_query", trimmed(q)),
        }
    }

    fn ts_expr(&self) -> String {
        let cols: Vec<String> = self.timestamps.iter().map(|c| quote(c)).collect();
        if cols.len() == 1 {
            cols[0].clone()
        } else {
            format!("COALESCE({})", cols.join(", "))
        }
    }

    fn with_suffix(&self, sql: String) -> String {
        match self.suffix.map(str::trim).filter(|s| !s.is_empty()) {
            Some(s) => format!("{sql} {s}"),
            None => sql,
        }
    }

    /// A query returning no rows but the result's columns (types, nullability).
    pub fn probe(&self) -> String {
        format!("{} WHERE 1 = 0", self.from())
    }

    /// The mode's query after `offset`, reading timestamps below `bound`
    /// (µs; the database's now minus `timestamp_delay_interval_ms`).
    pub fn build(&self, offset: &PollOffset, bound: i64) -> (String, Vec<Param>) {
        let inc = self.incrementing.map(quote).unwrap_or_default();
        let ts = self.ts_expr();
        let (sql, params) = match self.mode {
            PollMode::Bulk => match self.relation {
                Relation::Query(q) => (trimmed(q).to_string(), vec![]),
                Relation::Table { .. } => (self.from(), vec![]),
            },
            PollMode::Incrementing => {
                let from = self.from();
                match offset.incrementing {
                    Some(last) => (
                        format!("{from} WHERE {inc} > ? ORDER BY {inc} ASC"),
                        vec![Param::Int(last)],
                    ),
                    None => (format!("{from} ORDER BY {inc} ASC"), vec![]),
                }
            }
            PollMode::Timestamp => {
                let from = self.from();
                match offset.timestamp_micros() {
                    Some(last) => (
                        format!("{from} WHERE {ts} > ? AND {ts} < ? ORDER BY {ts} ASC"),
                        vec![Param::Time(last), Param::Time(bound)],
                    ),
                    None => (
                        format!("{from} WHERE {ts} < ? ORDER BY {ts} ASC"),
                        vec![Param::Time(bound)],
                    ),
                }
            }
            PollMode::TimestampIncrementing => {
                let from = self.from();
                match offset.timestamp_micros() {
                    Some(last_ts) => (
                        format!(
                            "{from} WHERE {ts} < ? AND (({ts} = ? AND {inc} > ?) OR {ts} > ?) ORDER BY {ts} ASC, {inc} ASC"
                        ),
                        vec![
                            Param::Time(bound),
                            Param::Time(last_ts),
                            Param::Int(offset.incrementing.unwrap_or(i64::MIN)),
                            Param::Time(last_ts),
                        ],
                    ),
                    None => (
                        format!("{from} WHERE {ts} < ? ORDER BY {ts} ASC, {inc} ASC"),
                        vec![Param::Time(bound)],
                    ),
                }
            }
        };
        (self.with_suffix(sql), params)
    }
}

/// The query without surrounding blanks and trailing semicolons.
fn trimmed(q: &str) -> &str {
    q.trim().trim_end_matches(';').trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TS: &[String] = &[];

    fn spec<'a>(relation: Relation<'a>, mode: PollMode, ts: &'a [String]) -> QuerySpec<'a> {
        QuerySpec {
            relation,
            mode,
            incrementing: Some("id"),
            timestamps: ts,
            suffix: None,
        }
    }

    const ORDERS: Relation<'static> = Relation::Table {
        database: "shop",
        table: "orders",
    };

    #[test]
    fn table_modes_filter_after_the_offset() {
        let s = spec(ORDERS, PollMode::Incrementing, TS);
        let offset = PollOffset {
            incrementing: Some(41),
            ..PollOffset::default()
        };
        assert_eq!(
            s.build(&offset, 0),
            (
                "SELECT * FROM `shop`.`orders` WHERE `id` > ? ORDER BY `id` ASC".to_string(),
                vec![Param::Int(41)]
            )
        );
        assert_eq!(
            s.build(&PollOffset::default(), 0).0,
            "SELECT * FROM `shop`.`orders` ORDER BY `id` ASC"
        );
    }

    #[test]
    fn incremental_queries_read_the_query_as_a_derived_table() {
        let q = "SELECT o.id, o.updated_at, c.name FROM o JOIN c ON c.id = o.cid WHERE c.vip = 1 ;";
        let ts = ["updated_at".to_string()];
        let s = spec(Relation::Query(q), PollMode::TimestampIncrementing, &ts);
        let mut offset = PollOffset {
            incrementing: Some(7),
            ..PollOffset::default()
        };
        offset.set_timestamp_micros(5_000_000);
        let (sql, params) = s.build(&offset, 9_000_000);
        assert_eq!(
            sql,
            "SELECT * FROM (SELECT o.id, o.updated_at, c.name FROM o JOIN c ON c.id = o.cid WHERE c.vip = 1) AS sluice_query \
             WHERE `updated_at` < ? AND ((`updated_at` = ? AND `id` > ?) OR `updated_at` > ?) ORDER BY `updated_at` ASC, `id` ASC"
        );
        assert_eq!(
            params,
            [
                Param::Time(9_000_000),
                Param::Time(5_000_000),
                Param::Int(7),
                Param::Time(5_000_000)
            ]
        );
        assert_eq!(
            s.probe(),
            "SELECT * FROM (SELECT o.id, o.updated_at, c.name FROM o JOIN c ON c.id = o.cid WHERE c.vip = 1) AS sluice_query WHERE 1 = 0"
        );
    }

    #[test]
    fn bulk_runs_the_query_as_written_with_its_suffix() {
        let s = QuerySpec {
            suffix: Some(" LIMIT 1000 "),
            ..spec(
                Relation::Query("SELECT a FROM t WHERE b > 2;"),
                PollMode::Bulk,
                TS,
            )
        };
        assert_eq!(
            s.build(&PollOffset::default(), 0),
            ("SELECT a FROM t WHERE b > 2 LIMIT 1000".to_string(), vec![])
        );
    }

    #[test]
    fn timestamp_mode_coalesces_columns_and_bounds_both_sides() {
        let ts = ["updated_at".to_string(), "created_at".to_string()];
        let s = spec(ORDERS, PollMode::Timestamp, &ts);
        let (sql, params) = s.build(&PollOffset::default(), 3);
        assert_eq!(
            sql,
            "SELECT * FROM `shop`.`orders` WHERE COALESCE(`updated_at`, `created_at`) < ? ORDER BY COALESCE(`updated_at`, `created_at`) ASC"
        );
        assert_eq!(params, [Param::Time(3)]);
        let mut offset = PollOffset::default();
        offset.set_timestamp_micros(1);
        assert_eq!(s.build(&offset, 3).1, [Param::Time(1), Param::Time(3)]);
    }
}
