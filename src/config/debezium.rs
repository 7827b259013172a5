//! Debezium's MySQL connector keys that are more than renames: anchored
//! regex lists, the column mappers whose settings sit in the key's own name
//! (`column.mask.with.12.chars`, `column.mask.hash.SHA-256.with.salt.s1`,
//! `column.truncate.to.20.chars`), `message.key.columns`,
//! `skipped.operations` and the dotted mode keys. Pure parsing, no I/O; the
//! source applies them (`source::filter`, `source::columns`).
//!
//! # Matching, as Debezium does
//! Every list entry is a regular expression matched against the *whole*
//! identifier (anchored at both ends) and case-insensitively, as Debezium's
//! `Predicates.includes` does: `inv.orders_.*` captures `inv.orders_2024`
//! and `INV.Orders_1`, not `inv.orders_x.y` seen as a longer name. Lists are
//! comma-separated. Databases match `<db>`, tables `<db>.<table>`, columns
//! `<db>.<table>.<column>`.
//!
//! # Keys that live in their names
//! A `[[source]]` section (TOML) or a Connect config (REST) may hold
//! `column.mask.*` / `column.truncate.*` keys; they are moved into the
//! section's `column_rules` table (key → column list) before the section is
//! deserialized ([`fold_column_rules`]), so a misspelt key is still refused
//! by name like any unknown key.

use std::collections::BTreeMap;

use regex::{RegexBuilder, RegexSet, RegexSetBuilder};
use serde_json::{Map, Value};

/// The field the column-mapper keys are folded into.
pub const COLUMN_RULES: &str = "column_rules";

/// A comma-separated list of anchored, case-insensitive regexes.
///
/// Compiled as one [`RegexSet`]: a list of 500 table names as 500 regexes
/// took 8 MiB of heap (each `Regex` with its own automata and match caches;
/// `heaptrack`, `scripts/bench.sh scaling`), one set of them well under 1 MiB.
#[derive(Debug, Clone)]
pub struct Patterns(RegexSet);

impl Default for Patterns {
    fn default() -> Self {
        Patterns(RegexSet::empty())
    }
}

/// Compiled size the whole list may take (the `regex` crate's default, 10 MiB,
/// is per regex; a list is many regexes in one).
const SET_SIZE_LIMIT: usize = 64 << 20;

impl Patterns {
    /// Compiles each entry as `^(?:entry)$`, case-insensitively, into one set;
    /// when the set does not compile, the invalid entry is named.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Patterns, String> {
        let anchored: Vec<String> = entries
            .iter()
            .map(|e| format!("^(?:{})$", e.as_ref().trim()))
            .collect();
        RegexSetBuilder::new(&anchored)
            .case_insensitive(true)
            .size_limit(SET_SIZE_LIMIT)
            .build()
            .map(Patterns)
            .map_err(|set_error| {
                // Name the entry that does not compile alone, if one does not.
                for (e, one) in entries.iter().zip(&anchored) {
                    if let Err(err) = RegexBuilder::new(one).case_insensitive(true).build() {
                        let entry = e.as_ref().trim();
                        return format!("`{entry}` is not a valid regular expression: {err}");
                    }
                }
                format!(
                    "the list's {} entries are too large together as regular expressions: {set_error}",
                    anchored.len()
                )
            })
    }

    /// True when the list has no entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when some entry matches all of `text`.
    pub fn matches(&self, text: &str) -> bool {
        self.0.is_match(text)
    }

    /// The position in the list of the first entry matching all of `text`.
    pub fn first_match(&self, text: &str) -> Option<usize> {
        self.0.matches(text).iter().next()
    }
}

/// Which way a column mapper changes string values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRule {
    /// `column.mask.with.N.chars`: the value (even NULL) becomes N `*`.
    Mask {
        /// How many asterisks.
        chars: usize,
    },
    /// `column.mask.hash[.v2].ALGO.with.salt.SALT`: the hex digest of the
    /// salt and the value (v1: Java's serialized form of the string, v2:
    /// its UTF-8 bytes), cut to the column's length when known.
    Hash {
        /// The digest.
        algo: HashAlgo,
        /// The salt, as written in the key.
        salt: String,
        /// Debezium's hashing strategy V2 (the value's bytes only).
        v2: bool,
    },
    /// `column.truncate.to.N.chars`: strings longer than N UTF-16 units and
    /// byte strings longer than N bytes are cut to N.
    Truncate {
        /// The length kept.
        chars: usize,
    },
}

/// The digests Java's `MessageDigest` offers that Sluice computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    /// MD5.
    Md5,
    /// SHA-1.
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl HashAlgo {
    /// The algorithm named as Java names it (`SHA-256`, `MD5`, any case).
    pub fn parse(name: &str) -> Option<HashAlgo> {
        Some(match name.to_ascii_uppercase().as_str() {
            "MD5" => HashAlgo::Md5,
            "SHA-1" | "SHA1" | "SHA" => HashAlgo::Sha1,
            "SHA-224" => HashAlgo::Sha224,
            "SHA-256" => HashAlgo::Sha256,
            "SHA-384" => HashAlgo::Sha384,
            "SHA-512" => HashAlgo::Sha512,
            _ => return None,
        })
    }
}

/// One parsed column mapper: what it does and to which columns.
#[derive(Debug, Clone)]
pub struct ColumnMapper {
    /// The key it came from (for errors and logs).
    pub key: String,
    /// What it does.
    pub rule: ColumnRule,
    /// The columns (`<db>.<table>.<column>`) it applies to.
    pub columns: Patterns,
}

/// True for a key that names a column mapper (`column.mask.…`, `column.truncate.…`).
pub fn is_column_rule_key(key: &str) -> bool {
    key.starts_with("column.mask.") || key.starts_with("column.truncate.")
}

/// Parses a column-mapper key.
pub fn parse_column_rule(key: &str) -> Result<ColumnRule, String> {
    let count = |n: &str| {
        n.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("`{n}` is not a positive number of characters"))
    };
    if let Some(n) = key
        .strip_prefix("column.mask.with.")
        .and_then(|r| r.strip_suffix(".chars"))
    {
        return Ok(ColumnRule::Mask { chars: count(n)? });
    }
    if let Some(n) = key
        .strip_prefix("column.truncate.to.")
        .and_then(|r| r.strip_suffix(".chars"))
    {
        return Ok(ColumnRule::Truncate { chars: count(n)? });
    }
    if let Some(rest) = key.strip_prefix("column.mask.hash.") {
        let (v2, rest) = match rest.strip_prefix("v2.") {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (algo, salt) = rest.split_once(".with.salt.").ok_or_else(|| {
            "expected column.mask.hash.<algorithm>.with.salt.<salt> (or column.mask.hash.v2.…)"
                .to_string()
        })?;
        let algo = HashAlgo::parse(algo).ok_or_else(|| {
            format!("hash algorithm `{algo}` is not supported (MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512)")
        })?;
        return Ok(ColumnRule::Hash {
            algo,
            salt: salt.to_string(),
            v2,
        });
    }
    Err("is not a column mapper Sluice implements (column.mask.with.N.chars, column.mask.hash.ALGO.with.salt.SALT, column.truncate.to.N.chars)".into())
}

/// Parses the folded `column_rules` into mappers; an error names the key.
pub fn column_mappers(
    rules: &BTreeMap<String, String>,
) -> Result<Vec<ColumnMapper>, (String, String)> {
    rules
        .iter()
        .map(|(key, list)| {
            let rule = parse_column_rule(key).map_err(|r| (key.clone(), r))?;
            let entries = split_list(list);
            if entries.is_empty() {
                return Err((key.clone(), "names no column".into()));
            }
            let columns = Patterns::parse(&entries).map_err(|r| (key.clone(), r))?;
            Ok(ColumnMapper {
                key: key.clone(),
                rule,
                columns,
            })
        })
        .collect()
}

fn split_list(list: &str) -> Vec<&str> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

/// Moves the column-mapper keys of one pipeline section into its
/// `column_rules` table (values as strings; a list becomes comma-separated),
/// and its `signal.consumer.*` keys into `signal_consumer` (`config::signal`).
pub fn fold_column_rules(section: &mut Map<String, Value>) {
    super::signal::fold_signal_consumer(section);
    super::transforms::fold_transforms(section);
    super::fold_into_table(section, COLUMN_RULES, is_column_rule_key, str::to_owned);
}

/// Deserializes `[[source]]` sections, folding each one's column-mapper keys
/// first ([`fold_column_rules`]).
pub fn sources<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<super::SourceConfig>, D::Error> {
    use serde::Deserialize;
    let raw = Vec::<Map<String, Value>>::deserialize(d)?;
    raw.into_iter()
        .map(|mut section| {
            fold_column_rules(&mut section);
            super::section_from_value(section)
        })
        .collect()
}

/// `message.key.columns`: per table regex, the key columns. Parsed as
/// Debezium does: `;`-separated `<table regex>:<col>,<col>`; each column
/// becomes the pattern `<table regex>.<col>` over `<db>.<table>.<column>`.
pub fn parse_key_columns(text: &str) -> Result<Patterns, String> {
    let mut entries = Vec::new();
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        let part = part.trim();
        let (table, cols) = part
            .split_once(':')
            .filter(|(t, c)| {
                !t.is_empty()
                    && !c.is_empty()
                    && !c.contains(':')
                    && !t.chars().any(char::is_whitespace)
                    && !c.chars().any(char::is_whitespace)
            })
            .ok_or_else(|| {
                format!("`{part}` is not `<db>.<table>:<column>[,<column>...]` (entries separated by `;`)")
            })?;
        for col in cols.split(',').filter(|c| !c.is_empty()) {
            entries.push(format!("{table}.{col}"));
        }
    }
    if entries.is_empty() {
        return Err("names no table and column".into());
    }
    Patterns::parse(&entries)
}

/// `skipped.operations`: which of `c`, `u`, `d` are not published. Sluice
/// writes no truncate events, so `t` must be listed (Debezium's default is
/// `t`); `none` skips nothing (and so asks for truncate events).
pub fn parse_skipped(list: &[String]) -> Result<SkippedOps, String> {
    let mut out = SkippedOps::default();
    let mut truncate = false;
    for op in list {
        match op.trim() {
            "c" => out.create = true,
            "u" => out.update = true,
            "d" => out.delete = true,
            "t" => truncate = true,
            "none" if list.len() == 1 => {}
            other => {
                return Err(format!(
                    "`{other}` is not an operation: list c, u, d and t, or none"
                ))
            }
        }
    }
    if !truncate {
        return Err("Sluice writes no truncate (`t`) events yet: include `t` in the list (Debezium's default is `t`)".into());
    }
    Ok(out)
}

/// The operations a source does not publish.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SkippedOps {
    /// Inserts (`c`).
    pub create: bool,
    /// Updates (`u`).
    pub update: bool,
    /// Deletes (`d`), with their tombstones.
    pub delete: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(list: &[&str]) -> Patterns {
        Patterns::parse(list).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn patterns_are_anchored_and_case_insensitive() {
        let t = p(&["inv.orders_.*"]);
        assert!(t.matches("inv.orders_2024"));
        assert!(t.matches("INV.Orders_1"));
        assert!(!t.matches("xinv.orders_1"));
        assert!(!t.matches("inv.orders"));
        let exact = p(&["inv.orders"]);
        assert!(exact.matches("inv.orders"));
        assert!(!exact.matches("inv.orders2"), "anchored at the end");
        assert!(!exact.matches("inv.inv.orders"), "anchored at the start");
        // An alternation stays inside the anchors.
        let alt = p(&["a|b"]);
        assert!(alt.matches("a") && alt.matches("b") && !alt.matches("ab"));
        assert!(p(&["db\\.t", "other"]).matches("other"));
        assert!(Patterns::parse(&["("]).is_err());
        assert!(p(&[]).is_empty() && !p(&[]).matches("x"));
        assert!(Patterns::default().is_empty() && !Patterns::default().matches(""));
    }

    #[test]
    fn a_bad_entry_is_named_and_the_first_match_is_found() {
        let err = Patterns::parse(&["ok", " bad( "]).expect_err("refused");
        assert!(err.starts_with("`bad(` is not a valid"), "{err}");
        let t = p(&["db.t.b", "db.t.*", "db.t.a"]);
        assert_eq!(t.first_match("db.t.a"), Some(1));
        assert_eq!(t.first_match("DB.T.B"), Some(0));
        assert_eq!(t.first_match("db.u.a"), None);
        // Many entries, as a long table list: every one matches, alone.
        let names: Vec<String> = (0..2000).map(|i| format!("shop.orders_{i}")).collect();
        let many = Patterns::parse(&names).unwrap_or_else(|e| panic!("{e}"));
        assert!(many.matches("shop.orders_0") && many.matches("SHOP.ORDERS_1999"));
        assert!(!many.matches("shop.orders_2000") && !many.matches("shop.orders_1x"));
        assert_eq!(many.first_match("shop.orders_1234"), Some(1234));
    }

    #[test]
    fn column_rule_keys_parse() {
        assert_eq!(
            parse_column_rule("column.mask.with.12.chars"),
            Ok(ColumnRule::Mask { chars: 12 })
        );
        assert_eq!(
            parse_column_rule("column.truncate.to.20.chars"),
            Ok(ColumnRule::Truncate { chars: 20 })
        );
        assert_eq!(
            parse_column_rule("column.mask.hash.SHA-256.with.salt.CzQMA0cB5K"),
            Ok(ColumnRule::Hash {
                algo: HashAlgo::Sha256,
                salt: "CzQMA0cB5K".into(),
                v2: false
            })
        );
        assert_eq!(
            parse_column_rule("column.mask.hash.v2.md5.with.salt.a.b"),
            Ok(ColumnRule::Hash {
                algo: HashAlgo::Md5,
                salt: "a.b".into(),
                v2: true
            })
        );
        for bad in [
            "column.mask.with.0.chars",
            "column.mask.with.x.chars",
            "column.truncate.to.-1.chars",
            "column.mask.hash.SHA3-256.with.salt.s",
            "column.mask.hash.SHA-256",
            "column.mask.something",
        ] {
            assert!(parse_column_rule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn column_rules_fold_out_of_a_section() {
        let mut m = json!({"name": "s", "column.mask.with.3.chars": "db.t.a, db.t.b",
            "column.truncate.to.2.chars": ["db.t.c", "db.t.d"], "tables": "t"})
        .as_object()
        .cloned()
        .unwrap_or_default();
        fold_column_rules(&mut m);
        assert_eq!(
            m[COLUMN_RULES],
            json!({"column.mask.with.3.chars": "db.t.a, db.t.b",
                "column.truncate.to.2.chars": "db.t.c,db.t.d"})
        );
        assert!(!m.contains_key("column.mask.with.3.chars"));
        let rules: BTreeMap<String, String> =
            serde_json::from_value(m[COLUMN_RULES].clone()).unwrap_or_default();
        let mappers = column_mappers(&rules).unwrap_or_default();
        assert_eq!(mappers.len(), 2);
        assert!(mappers[0].columns.matches("DB.T.B"));
        let bad: BTreeMap<String, String> =
            [("column.mask.with.3.chars".to_string(), " ".to_string())].into();
        assert!(column_mappers(&bad).is_err());
    }

    #[test]
    fn key_columns_parse_like_debezium() {
        let k = parse_key_columns("inventory.customers:pk1,pk2;(.*).purchaseorders:pk3")
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(k.matches("inventory.customers.pk1"));
        assert!(k.matches("inventory.customers.PK2"));
        assert!(k.matches("shop.purchaseorders.pk3"));
        assert!(!k.matches("inventory.customers.pk3"));
        for bad in ["nocolon", "a.b:", ":c", "a b:c", "a.b:c:d", ";"] {
            assert!(parse_key_columns(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn skipped_operations_parse() {
        let l = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(parse_skipped(&l(&["t"])), Ok(SkippedOps::default()));
        assert_eq!(
            parse_skipped(&l(&["c", "d", "t"])),
            Ok(SkippedOps {
                create: true,
                update: false,
                delete: true
            })
        );
        assert!(parse_skipped(&l(&["none"])).is_err_and(|e| e.contains("truncate")));
        assert!(parse_skipped(&l(&["u"])).is_err());
        assert!(parse_skipped(&l(&["r", "t"])).is_err_and(|e| e.contains("`r`")));
    }
}
