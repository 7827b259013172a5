//! `quote_sql_identifiers = "never"` (Connect's `quote.sql.identifiers`):
//! table and column names mean what they would mean written unquoted.
//!
//! Written unquoted, a name must be a plain identifier (a letter or `_`,
//! then letters, digits, `_` or `$`) that is no reserved word, and the
//! server folds it: PostgreSQL to lower case, MySQL/MariaDB and SQLite keep
//! it as written. [`unquoted_name`] gives the name the server would use, or
//! says why the name cannot be written unquoted; the sink then writes that
//! name (quoted, which for such a name means exactly the same as unquoted), so
//! a topic `Orders` lands in PostgreSQL's `orders` as Connect's sink does it.

use super::Dialect;

/// Words reserved in SQL:2016 and in at least one of MySQL/MariaDB,
/// PostgreSQL or SQLite: an unquoted column or table with one of these names
/// is a syntax error (or means something else) on some target.
const RESERVED: &[&str] = &[
    "add",
    "all",
    "alter",
    "and",
    "any",
    "as",
    "asc",
    "between",
    "both",
    "by",
    "case",
    "cast",
    "check",
    "collate",
    "column",
    "constraint",
    "create",
    "cross",
    "current_date",
    "current_time",
    "current_timestamp",
    "current_user",
    "default",
    "delete",
    "desc",
    "distinct",
    "drop",
    "else",
    "end",
    "except",
    "exists",
    "false",
    "fetch",
    "for",
    "foreign",
    "from",
    "full",
    "grant",
    "group",
    "having",
    "in",
    "index",
    "inner",
    "insert",
    "intersect",
    "into",
    "is",
    "join",
    "key",
    "leading",
    "left",
    "like",
    "limit",
    "natural",
    "not",
    "null",
    "offset",
    "on",
    "or",
    "order",
    "outer",
    "primary",
    "references",
    "right",
    "select",
    "set",
    "some",
    "table",
    "then",
    "to",
    "trailing",
    "true",
    "union",
    "unique",
    "update",
    "user",
    "using",
    "values",
    "when",
    "where",
    "window",
    "with",
];

/// Why a name cannot be written unquoted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnquotedError {
    /// Not a plain identifier.
    #[error("identifier {0:?} cannot be written unquoted (quote_sql_identifiers = \"never\"): only letters, digits, '_' and '$', not starting with a digit or '$'")]
    NotPlain(String),
    /// A reserved word.
    #[error("identifier {0:?} is a reserved SQL word and cannot be written unquoted (quote_sql_identifiers = \"never\")")]
    Reserved(String),
}

/// The name `dialect`'s server uses for `name` written unquoted.
pub fn unquoted_name(dialect: Dialect, name: &str) -> Result<String, UnquotedError> {
    let mut chars = name.chars();
    let plain = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !plain {
        return Err(UnquotedError::NotPlain(name.to_string()));
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED.binary_search(&lower.as_str()).is_ok() {
        return Err(UnquotedError::Reserved(name.to_string()));
    }
    Ok(match dialect {
        Dialect::Postgres => lower,
        Dialect::MySql | Dialect::Sqlite => name.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_words_are_sorted_for_binary_search() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn plain_names_fold_as_each_server_folds_them() {
        let ok = |d, n| unquoted_name(d, n).ok();
        assert_eq!(ok(Dialect::Postgres, "OrderId").as_deref(), Some("orderid"));
        assert_eq!(ok(Dialect::MySql, "OrderId").as_deref(), Some("OrderId"));
        assert_eq!(ok(Dialect::Sqlite, "_a$1").as_deref(), Some("_a$1"));
    }

    #[test]
    fn other_names_are_refused_naming_them() {
        for bad in ["a-b", "1st", "$x", "", "naïve", "a b", "x\"y"] {
            let e = unquoted_name(Dialect::Postgres, bad);
            assert_eq!(e, Err(UnquotedError::NotPlain(bad.into())), "{bad}");
        }
        let e = unquoted_name(Dialect::MySql, "Order")
            .err()
            .map(|e| e.to_string());
        assert!(e.is_some_and(|e| e.contains("\"Order\"") && e.contains("reserved")));
    }
}
