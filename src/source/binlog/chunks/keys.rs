//! The chunk key: which columns a table is paged by, how their values are
//! stored in the progress record, the keyset `SELECT`, and the text a row is
//! matched by against the binlog's changes.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value as MyValue};
use serde::{Deserialize, Serialize};

use crate::event::TableId;
use crate::mysql::quote;
use crate::source::SourceError;
use crate::value::Value;

/// One key column's value, as stored in the progress record (lossless:
/// binary keys as base64, dates and times as their parts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyPart {
    /// SQL NULL.
    Null,
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    Uint(u64),
    /// Text or binary bytes, base64.
    Bytes(String),
    /// A float, as text.
    Float(String),
    /// DATE/DATETIME/TIMESTAMP: year, month, day, hour, minute, second, µs.
    Date([u32; 7]),
    /// TIME: negative, days, hours, minutes, seconds, µs.
    Time(bool, [u32; 5]),
}

impl KeyPart {
    /// From a value the server returned.
    pub fn from_mysql(v: &MyValue) -> Self {
        match v {
            MyValue::NULL => KeyPart::Null,
            MyValue::Int(i) => KeyPart::Int(*i),
            MyValue::UInt(u) => KeyPart::Uint(*u),
            MyValue::Bytes(b) => {
                KeyPart::Bytes(base64::engine::general_purpose::STANDARD.encode(b))
            }
            MyValue::Float(f) => KeyPart::Float(f.to_string()),
            MyValue::Double(f) => KeyPart::Float(f.to_string()),
            MyValue::Date(y, mo, d, h, mi, s, us) => KeyPart::Date([
                u32::from(*y),
                u32::from(*mo),
                u32::from(*d),
                u32::from(*h),
                u32::from(*mi),
                u32::from(*s),
                *us,
            ]),
            MyValue::Time(neg, d, h, mi, s, us) => KeyPart::Time(
                *neg,
                [*d, u32::from(*h), u32::from(*mi), u32::from(*s), *us],
            ),
        }
    }

    /// Back to a query parameter; `None` when the stored text is corrupt.
    pub fn to_mysql(&self) -> Option<MyValue> {
        let narrow = |n: u32| u8::try_from(n).ok();
        Some(match self {
            KeyPart::Null => MyValue::NULL,
            KeyPart::Int(i) => MyValue::Int(*i),
            KeyPart::Uint(u) => MyValue::UInt(*u),
            KeyPart::Bytes(b) => {
                MyValue::Bytes(base64::engine::general_purpose::STANDARD.decode(b).ok()?)
            }
            KeyPart::Float(f) => MyValue::Double(f.parse().ok()?),
            KeyPart::Date([y, mo, d, h, mi, s, us]) => MyValue::Date(
                u16::try_from(*y).ok()?,
                narrow(*mo)?,
                narrow(*d)?,
                narrow(*h)?,
                narrow(*mi)?,
                narrow(*s)?,
                *us,
            ),
            KeyPart::Time(neg, [d, h, mi, s, us]) => {
                MyValue::Time(*neg, *d, narrow(*h)?, narrow(*mi)?, narrow(*s)?, *us)
            }
        })
    }
}

/// The key text a row is matched by: the `Debug` form of its key values
/// (rows from the `SELECT` and from the binlog decode to the same values).
pub fn key_text<'v>(values: impl Iterator<Item = &'v Value>) -> String {
    format!("{:?}", values.collect::<Vec<_>>())
}

/// The chunk key ([`choose_key`]) of each table of `database` (or of
/// `table` alone) that has one, from one query of its unique indexes.
pub(super) async fn chunk_keys(
    conn: &mut Conn,
    database: &str,
    table: Option<&str>,
) -> Result<BTreeMap<String, Vec<String>>, SourceError> {
    let rows: Vec<(String, String, String, String)> = conn
        .exec(
            "SELECT s.TABLE_NAME, s.INDEX_NAME, s.COLUMN_NAME, c.IS_NULLABLE FROM information_schema.STATISTICS s \
             JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.COLUMN_NAME \
             WHERE s.TABLE_SCHEMA = ? AND (? IS NULL OR s.TABLE_NAME = ?) AND s.NON_UNIQUE = 0 \
             ORDER BY s.TABLE_NAME, s.INDEX_NAME <> 'PRIMARY', s.INDEX_NAME, s.SEQ_IN_INDEX",
            (database, table, table),
        )
        .await?;
    let mut by_table: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for (table, index, column, nullable) in rows {
        by_table
            .entry(table)
            .or_default()
            .push((index, column, nullable));
    }
    Ok(by_table
        .into_iter()
        .map(|(table, rows)| (table, choose_key(&rows)))
        .filter(|(_, key)| !key.is_empty())
        .collect())
}

/// Which of `tables` have no chunk key: one [`chunk_keys`] query per database.
pub(super) async fn keyless(
    conn: &mut Conn,
    tables: &[TableId],
) -> Result<HashSet<TableId>, SourceError> {
    let mut databases: Vec<&str> = tables.iter().map(|t| t.database.as_str()).collect();
    databases.dedup();
    let mut keyed = HashSet::new();
    for db in databases {
        for table in chunk_keys(conn, db, None).await?.into_keys() {
            keyed.insert(TableId::new(db, &table));
        }
    }
    Ok(tables
        .iter()
        .filter(|t| !keyed.contains(*t))
        .cloned()
        .collect())
}

/// The chunk key from `(index, column, IS_NULLABLE)` rows of unique indexes,
/// `PRIMARY` first: the primary key, else the first all-NOT-NULL unique index.
pub(super) fn choose_key(rows: &[(String, String, String)]) -> Vec<String> {
    let mut names: Vec<&str> = Vec::new();
    for (index, _, _) in rows {
        if !names.contains(&index.as_str()) {
            names.push(index);
        }
    }
    names
        .into_iter()
        .map(|n| rows.iter().filter(|(i, _, _)| i == n).collect::<Vec<_>>())
        .find(|cols| cols.iter().all(|(_, _, nullable)| nullable == "NO"))
        .map(|cols| cols.into_iter().map(|(_, c, _)| c.clone()).collect())
        .unwrap_or_default()
}

/// The `SELECT` of one chunk: keyset pagination after `last`, with an
/// ad-hoc snapshot's `filter` (SQL) ANDed in.
pub(super) fn chunk_sql(
    table: &TableId,
    keys: &[String],
    last: Option<Vec<MyValue>>,
    limit: usize,
    filter: Option<&str>,
) -> (String, Vec<MyValue>) {
    let from = format!(
        "SELECT * FROM {}.{}",
        quote(&table.database),
        quote(&table.table)
    );
    let order = keys.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ");
    let mut conditions: Vec<String> = filter.map(|f| format!("({f})")).into_iter().collect();
    let params = match last {
        Some(vals) if !keys.is_empty() => {
            conditions.push(format!(
                "({order}) > ({})",
                vec!["?"; vals.len()].join(", ")
            ));
            vals
        }
        _ => Vec::new(),
    };
    let mut sql = from;
    if !conditions.is_empty() {
        sql = format!("{sql} WHERE {}", conditions.join(" AND "));
    }
    if !keys.is_empty() {
        sql = format!("{sql} ORDER BY {order} LIMIT {limit}");
    }
    (sql, params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_round_trip_through_json() {
        let vals = [
            MyValue::Int(-5),
            MyValue::UInt(u64::MAX),
            MyValue::Bytes(vec![0, 255, 16, 32]),
            MyValue::Date(2024, 2, 29, 23, 59, 58, 123_456),
            MyValue::Time(true, 1, 2, 3, 4, 5),
            MyValue::NULL,
        ];
        let parts: Vec<KeyPart> = vals.iter().map(KeyPart::from_mysql).collect();
        let json = serde_json::to_string(&parts).expect("json");
        assert!(
            json.starts_with(r#"[{"int":-5},{"uint":18446744073709551615},{"bytes":"AP8QIA=="}"#),
            "{json}"
        );
        let back: Vec<KeyPart> = serde_json::from_str(&json).expect("parse");
        let again: Vec<MyValue> = back.iter().filter_map(KeyPart::to_mysql).collect();
        assert_eq!(again, vals);
        assert_eq!(KeyPart::Bytes("not base64!".into()).to_mysql(), None);
    }

    #[test]
    fn chunks_page_by_composite_keys_as_rows() {
        let t = TableId::new("shop", "order`s");
        let (sql, params) = chunk_sql(
            &t,
            &["a".into(), "b".into()],
            Some(vec![MyValue::Int(1), MyValue::Int(2)]),
            1000,
            None,
        );
        assert_eq!(sql, "SELECT * FROM `shop`.`order``s` WHERE (`a`, `b`) > (?, ?) ORDER BY `a`, `b` LIMIT 1000");
        assert_eq!(params.len(), 2);
        let (first, _) = chunk_sql(&t, &["a".into()], None, 10, None);
        assert_eq!(
            first,
            "SELECT * FROM `shop`.`order``s` ORDER BY `a` LIMIT 10"
        );
        let (whole, _) = chunk_sql(&t, &[], None, 10, None);
        assert_eq!(whole, "SELECT * FROM `shop`.`order``s`");
        let (filtered, params) = chunk_sql(
            &t,
            &["a".into()],
            Some(vec![MyValue::Int(5)]),
            10,
            Some("a > 3 OR b = 1"),
        );
        assert_eq!(filtered, "SELECT * FROM `shop`.`order``s` WHERE (a > 3 OR b = 1) AND (`a`) > (?) ORDER BY `a` LIMIT 10");
        assert_eq!(params.len(), 1);
        let (keyless, _) = chunk_sql(&t, &[], None, 10, Some("n < 5"));
        assert_eq!(keyless, "SELECT * FROM `shop`.`order``s` WHERE (n < 5)");
    }

    #[test]
    fn the_key_is_the_primary_key_else_a_not_null_unique_index() {
        let r = |i: &str, c: &str, n: &str| (i.to_string(), c.to_string(), n.to_string());
        let pk = [
            r("PRIMARY", "a", "NO"),
            r("PRIMARY", "b", "NO"),
            r("u", "c", "NO"),
        ];
        assert_eq!(choose_key(&pk), ["a", "b"]);
        let uniques = [r("u1", "x", "YES"), r("u2", "y", "NO"), r("u2", "z", "NO")];
        assert_eq!(choose_key(&uniques), ["y", "z"]);
        assert!(choose_key(&[r("u1", "x", "YES")]).is_empty());
    }
}
