//! Column-level settings, applied to each change event before it is
//! encoded, as Debezium's MySQL connector applies them:
//!
//! * `column.include.list` / `column.exclude.list`: the columns published
//!   (regexes over `<db>.<table>.<column>`);
//! * `message.key.columns`: the key's columns per table (Debezium's
//!   `CustomKeyMapper`: for each `<table regex>.<column>` pattern in order,
//!   the table's columns it matches, in table order; no match: the primary key);
//! * the column mappers: `column.truncate.to.N.chars` (strings longer than N
//!   UTF-16 units, byte strings longer than N bytes), `column.mask.with.N.chars`
//!   (the value — NULL too, as Debezium — becomes N `*`), and
//!   `column.mask.hash[.v2].ALGO.with.salt.SALT` (the lowercase hex digest of
//!   the salt's UTF-8 bytes followed by the value: Java's serialized form of
//!   the string for v1, its UTF-8 bytes for v2; cut to the column's declared
//!   length when the schema knows it). Masks and hashes change text columns
//!   only, truncation text and binary columns, as Debezium's mappers do. When
//!   several mappers match a column the first in Debezium's order applies:
//!   truncate, mask, hash v2, hash.
//!
//! Each table's plan is made once per schema (a DDL change makes a new one);
//! with none of these settings the event passes through untouched.
//!
//! A key column that the column lists leave out of the value is refused (a
//! definite error naming table and column): Debezium keeps it in the key,
//! Sluice's encoder takes the key from the value's columns.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use md5::Md5;
use sha1::Sha1;
use sha2::{Sha224, Sha256, Sha384, Sha512};

use crate::config::debezium::{ColumnMapper, ColumnRule, HashAlgo, Patterns};
use crate::config::{ConfigError, SourceConfig};
use crate::event::{ChangeEvent, Row, TableId, Value};
use crate::schema::{ColumnType, TableSchema};

/// A source's column settings and the plan of each table seen.
#[derive(Debug, Default)]
pub struct ColumnMapping {
    pipeline: String,
    include: Patterns,
    exclude: Patterns,
    mappers: Vec<ColumnMapper>,
    key: Option<Patterns>,
    plans: HashMap<TableId, Plan>,
}

#[derive(Debug)]
struct Plan {
    /// The schema the plan was made for.
    input: Arc<TableSchema>,
    /// The schema published; `None`: the event passes unchanged.
    output: Option<Arc<TableSchema>>,
    /// Input indexes kept, in order.
    keep: Vec<usize>,
    /// Per output column, how its value changes.
    ops: Vec<Option<ValueOp>>,
}

#[derive(Debug, Clone)]
enum ValueOp {
    Mask(String),
    Hash {
        algo: HashAlgo,
        salt: String,
        v2: bool,
        cut: Option<usize>,
    },
    Truncate(usize),
}

impl ColumnMapping {
    /// The settings of `cfg` (already validated; an error names the key).
    pub fn new(cfg: &SourceConfig) -> Result<Self, ConfigError> {
        let (include, exclude) = cfg.column_patterns()?;
        let mut mappers = cfg.column_mappers()?;
        mappers.sort_by_key(|m| match m.rule {
            ColumnRule::Truncate { .. } => 0,
            ColumnRule::Mask { .. } => 1,
            ColumnRule::Hash { v2: true, .. } => 2,
            ColumnRule::Hash { v2: false, .. } => 3,
        });
        Ok(ColumnMapping {
            pipeline: cfg.name.clone(),
            include,
            exclude,
            mappers,
            key: cfg.key_column_patterns()?,
            plans: HashMap::new(),
        })
    }

    /// True when no setting applies (every event passes unchanged).
    pub fn is_identity(&self) -> bool {
        self.include.is_empty()
            && self.exclude.is_empty()
            && self.mappers.is_empty()
            && self.key.is_none()
    }

    /// The event as published: its columns filtered, its key columns
    /// chosen, its values masked.
    pub fn apply<'e>(&mut self, ev: &'e ChangeEvent) -> Result<Cow<'e, ChangeEvent>, ConfigError> {
        if self.is_identity() {
            return Ok(Cow::Borrowed(ev));
        }
        let fresh = match self.plans.get_mut(&ev.table) {
            Some(p) if Arc::ptr_eq(&p.input, &ev.schema) => true,
            Some(p) if *p.input == *ev.schema => {
                p.input = Arc::clone(&ev.schema);
                true
            }
            _ => false,
        };
        if !fresh {
            let plan = self.plan(&ev.table, &ev.schema)?;
            self.plans.insert(TableId::clone(&ev.table), plan);
        }
        let Some(plan) = self.plans.get(&ev.table) else {
            return Ok(Cow::Borrowed(ev));
        };
        let Some(output) = &plan.output else {
            return Ok(Cow::Borrowed(ev));
        };
        let map_row = |row: &Row| -> Row {
            plan.keep
                .iter()
                .zip(&plan.ops)
                .map(|(&i, op)| {
                    let v = row.get(i).cloned().unwrap_or(Value::Null);
                    match op {
                        Some(op) => op.apply(v),
                        None => v,
                    }
                })
                .collect()
        };
        Ok(Cow::Owned(ChangeEvent {
            table: ev.table.clone(),
            op: ev.op,
            before: ev.before.as_ref().map(map_row),
            after: ev.after.as_ref().map(map_row),
            schema: Arc::clone(output),
            position: ev.position.clone(),
            ts_ms: ev.ts_ms,
        }))
    }

    fn plan(&self, table: &TableId, schema: &Arc<TableSchema>) -> Result<Plan, ConfigError> {
        let qualified = |col: &str| format!("{}.{}.{col}", table.database, table.table);
        let keep: Vec<usize> = schema
            .columns
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                let q = qualified(&c.name);
                (self.include.is_empty() || self.include.matches(&q)) && !self.exclude.matches(&q)
            })
            .map(|(i, _)| i)
            .collect();
        let primary_key = match &self.key {
            None => schema.primary_key.clone(),
            Some(patterns) => {
                // In list order, and in table order within an entry: a column
                // comes at the first entry matching it.
                let mut firsts: Vec<(usize, &String)> = schema
                    .columns
                    .iter()
                    .filter_map(|c| Some((patterns.first_match(&qualified(&c.name))?, &c.name)))
                    .collect();
                firsts.sort_by_key(|&(entry, _)| entry);
                let key: Vec<String> = firsts.into_iter().map(|(_, n)| n.clone()).collect();
                if key.is_empty() {
                    schema.primary_key.clone()
                } else {
                    key
                }
            }
        };
        for k in &primary_key {
            let kept = keep.iter().any(|&i| schema.columns[i].name == *k);
            if !kept {
                return Err(ConfigError::Invalid {
                    pipeline: self.pipeline.clone(),
                    key: if self.include.is_empty() {
                        "column.exclude.list".into()
                    } else {
                        "column.include.list".into()
                    },
                    reason: format!(
                        "leaves key column `{k}` of {table} out of the value; Sluice writes a key only from published columns: keep it, or choose other key columns with message.key.columns"
                    ),
                });
            }
        }
        let ops: Vec<Option<ValueOp>> = keep
            .iter()
            .map(|&i| {
                let col = &schema.columns[i];
                let q = qualified(&col.name);
                self.mappers
                    .iter()
                    .filter(|m| m.columns.matches(&q))
                    .find_map(|m| ValueOp::for_column(&m.rule, &col.ty))
            })
            .collect();
        let unchanged = keep.len() == schema.columns.len()
            && ops.iter().all(Option::is_none)
            && primary_key == schema.primary_key;
        let output = (!unchanged).then(|| {
            Arc::new(TableSchema {
                name: schema.name.clone(),
                columns: keep
                    .iter()
                    .zip(&ops)
                    .map(|(&i, op)| {
                        let mut col = schema.columns[i].clone();
                        if let Some(op) = op {
                            col.parameters.push(op.parameter());
                        }
                        col
                    })
                    .collect(),
                primary_key,
            })
        });
        Ok(Plan {
            input: Arc::clone(schema),
            output,
            keep,
            ops,
        })
    }
}

impl ValueOp {
    /// The change `rule` makes to a column of type `ty`, if any (Debezium's
    /// mappers pass other types through).
    fn for_column(rule: &ColumnRule, ty: &ColumnType) -> Option<ValueOp> {
        let text = matches!(ty, ColumnType::String { .. });
        match rule {
            ColumnRule::Truncate { chars } => {
                let shorter = match ty {
                    ColumnType::String { max_len } | ColumnType::Bytes { max_len } => {
                        max_len.is_none_or(|n| n as usize > *chars)
                    }
                    _ => false,
                };
                shorter.then_some(ValueOp::Truncate(*chars))
            }
            ColumnRule::Mask { chars } if text => Some(ValueOp::Mask("*".repeat(*chars))),
            ColumnRule::Hash { algo, salt, v2 } if text => Some(ValueOp::Hash {
                algo: *algo,
                salt: salt.clone(),
                v2: *v2,
                cut: match ty {
                    ColumnType::String { max_len } => max_len.map(|n| n as usize),
                    _ => None,
                },
            }),
            _ => None,
        }
    }

    /// The schema parameter Debezium's mapper adds to the column.
    fn parameter(&self) -> (String, String) {
        match self {
            ValueOp::Mask(_) | ValueOp::Hash { .. } => ("masked".into(), "true".into()),
            ValueOp::Truncate(n) => ("truncateLength".into(), n.to_string()),
        }
    }

    fn apply(&self, v: Value) -> Value {
        match (self, v) {
            (ValueOp::Mask(mask), _) => Value::String(mask.clone()),
            (ValueOp::Hash { .. }, Value::Null) => Value::Null,
            (
                ValueOp::Hash {
                    algo,
                    salt,
                    v2,
                    cut,
                },
                Value::String(s),
            ) => {
                let mut hex = debezium_hash(*algo, salt, &s, *v2);
                if let Some(n) = cut.filter(|n| *n > 0) {
                    hex.truncate(n);
                }
                Value::String(hex)
            }
            (ValueOp::Truncate(n), Value::String(s)) => Value::String(truncate_utf16(s, *n)),
            (ValueOp::Truncate(n), Value::Bytes(mut b)) => {
                b.truncate(*n);
                Value::Bytes(b)
            }
            (_, other) => other,
        }
    }
}

/// The first `n` UTF-16 units of `s` (Java's `substring(0, n)`); a
/// surrogate pair that `n` would split is left out whole.
fn truncate_utf16(s: String, n: usize) -> String {
    let mut units = 0;
    for (i, ch) in s.char_indices() {
        units += ch.len_utf16();
        if units > n {
            return s[..i].to_string();
        }
    }
    s
}

/// Debezium's `MaskStrings` hash: the lowercase hex digest of the salt's
/// bytes then the value's bytes — Java's `ObjectOutputStream` form of the
/// string (strategy V1, the default) or its UTF-8 bytes (V2).
pub fn debezium_hash(algo: HashAlgo, salt: &str, value: &str, v2: bool) -> String {
    let bytes = if v2 {
        value.as_bytes().to_vec()
    } else {
        java_serialized_string(value)
    };
    let digest: Vec<u8> = match algo {
        HashAlgo::Md5 => digest_of::<Md5>(salt, &bytes),
        HashAlgo::Sha224 => digest_of::<Sha224>(salt, &bytes),
        HashAlgo::Sha256 => digest_of::<Sha256>(salt, &bytes),
        HashAlgo::Sha384 => digest_of::<Sha384>(salt, &bytes),
        HashAlgo::Sha512 => digest_of::<Sha512>(salt, &bytes),
        HashAlgo::Sha1 => {
            use sha1::Digest;
            let mut h = Sha1::new();
            h.update(salt.as_bytes());
            h.update(&bytes);
            h.finalize().to_vec()
        }
    };
    let mut hex = String::with_capacity(digest.len() * 2);
    for b in digest {
        hex.push_str(&format!("{b:02x}"));
    }
    hex
}

fn digest_of<D: sha2::Digest>(salt: &str, bytes: &[u8]) -> Vec<u8> {
    let mut h = D::new();
    h.update(salt.as_bytes());
    h.update(bytes);
    h.finalize().to_vec()
}

/// `new ObjectOutputStream(out).writeObject(s)`: the stream header, then
/// `TC_STRING` + u16 length (or `TC_LONGSTRING` + u64 past 65535 bytes) and
/// the string in Java's modified UTF-8 (NUL as two bytes, each UTF-16
/// surrogate as three).
pub fn java_serialized_string(s: &str) -> Vec<u8> {
    let mut utf = Vec::with_capacity(s.len() + 8);
    for unit in s.encode_utf16() {
        match unit {
            0x0001..=0x007F => utf.push(unit as u8),
            0x0000 | 0x0080..=0x07FF => {
                utf.push(0xC0 | ((unit >> 6) & 0x1F) as u8);
                utf.push(0x80 | (unit & 0x3F) as u8);
            }
            _ => {
                utf.push(0xE0 | ((unit >> 12) & 0x0F) as u8);
                utf.push(0x80 | ((unit >> 6) & 0x3F) as u8);
                utf.push(0x80 | (unit & 0x3F) as u8);
            }
        }
    }
    let mut out = vec![0xAC, 0xED, 0x00, 0x05];
    match u16::try_from(utf.len()) {
        Ok(len) => {
            out.push(0x74);
            out.extend_from_slice(&len.to_be_bytes());
        }
        Err(_) => {
            out.push(0x7C);
            out.extend_from_slice(&(utf.len() as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&utf);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Op;
    use crate::position::Position;
    use crate::schema::Column;

    #[test]
    fn hashes_match_debeziums_own_test_vectors() {
        // io.debezium.relational.mapping.MaskStringsTest, salt "salt".
        let h = |algo, v, v2| debezium_hash(algo, "salt", v, v2);
        assert_eq!(
            h(HashAlgo::Sha256, "hello", false),
            "af5843a0f0e728ab0332c8888b6e1190bfb79e584f0d40538de8f10df6ef29c6"
        );
        assert_eq!(
            h(HashAlgo::Sha256, "world", false),
            "4588e1f2dcdc7fefc1515d3acd5acb9033478eace68286f383c337b9ff4464a3"
        );
        assert_eq!(
            h(HashAlgo::Md5, "hello", false),
            "46f48a7a5ea32efba87cbff49d46d35a"
        );
        assert_eq!(
            h(HashAlgo::Md5, "world", false),
            "030f632140d9c9591b0d8c21098024b8"
        );
        assert_eq!(
            h(HashAlgo::Sha256, "hello", true),
            "cd31b3b98ece60cb739c0bf770b2de892ae0ad133f645513c3d83f08757a843a"
        );
        assert_eq!(
            h(HashAlgo::Sha256, "world", true),
            "e84ac3142870113ddc6710c06f76421befc8e8ca6de64e98d2993ed8d41f4085"
        );
        assert_eq!(
            h(HashAlgo::Md5, "hello", true),
            "06decc8b095724f80103712c235586be"
        );
        assert_eq!(
            h(HashAlgo::Md5, "world", true),
            "172c8e95398cc72ab5358ead6981e7e5"
        );
        assert_eq!(h(HashAlgo::Sha1, "x", true).len(), 40);
        assert_eq!(h(HashAlgo::Sha512, "x", false).len(), 128);
    }

    #[test]
    fn java_serialization_uses_modified_utf8() {
        assert_eq!(
            java_serialized_string("hi"),
            vec![0xAC, 0xED, 0, 5, 0x74, 0, 2, b'h', b'i']
        );
        // NUL is two bytes; é two; € three; 😀 is a surrogate pair, 3 + 3.
        let s = java_serialized_string("\u{0}é€😀");
        assert_eq!(&s[5..7], &[0, 13]);
        assert_eq!(&s[7..9], &[0xC0, 0x80]);
        assert_eq!(&s[9..11], &[0xC3, 0xA9]);
        assert_eq!(&s[14..17], &[0xED, 0xA0, 0xBD]);
        let long = java_serialized_string(&"a".repeat(70_000));
        assert_eq!(long[4], 0x7C);
        assert_eq!(&long[5..13], &70_000u64.to_be_bytes());
    }

    #[test]
    fn truncation_counts_utf16_units() {
        assert_eq!(truncate_utf16("abcdef".into(), 3), "abc");
        assert_eq!(truncate_utf16("ab".into(), 3), "ab");
        assert_eq!(truncate_utf16("é😀x".into(), 2), "é");
        assert_eq!(truncate_utf16("é😀x".into(), 3), "é😀");
    }

    fn cfg(extra: &str) -> SourceConfig {
        let s = crate::config::Config::test_source(&format!(
            "kind = \"binlog\"\nurl = \"mysql://h/db\"\nenvelope = \"debezium\"\n{extra}"
        ));
        s.validate().unwrap_or_else(|e| panic!("{e}"));
        s
    }

    fn event() -> ChangeEvent {
        let text = ColumnType::String { max_len: None };
        let schema = TableSchema {
            name: "t".into(),
            columns: vec![
                Column::new("id", ColumnType::Int32, false),
                Column::new("email", text.clone(), true),
                Column::new("name", text.clone(), true),
                Column::new("code", ColumnType::String { max_len: Some(8) }, true),
                Column::new("blob", ColumnType::Bytes { max_len: None }, true),
                Column::new("n", ColumnType::Int64, true),
            ],
            primary_key: vec!["id".into()],
        };
        ChangeEvent {
            table: TableId::new("db", "t").into(),
            op: Op::Create,
            before: None,
            after: Some(vec![
                Value::Int(1),
                Value::String("hello".into()),
                Value::Null,
                Value::String("world".into()),
                Value::Bytes(vec![1, 2, 3, 4]),
                Value::Int(7),
            ]),
            schema: Arc::new(schema),
            position: Position::None,
            ts_ms: 0,
        }
    }

    fn mapped(extra: &str) -> Result<ChangeEvent, ConfigError> {
        let mut m = ColumnMapping::new(&cfg(extra))?;
        let ev = event();
        m.apply(&ev).map(Cow::into_owned)
    }

    #[test]
    fn no_settings_pass_events_through() {
        let mut m = ColumnMapping::new(&cfg("")).unwrap_or_default();
        let ev = event();
        assert!(matches!(m.apply(&ev), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn masks_hashes_and_truncation() {
        let ev = mapped(
            "\"column.mask.with.3.chars\" = \"db.t.name\"\n\"column.mask.hash.SHA-256.with.salt.salt\" = \"DB.T.EMAIL, db.t.code, db.t.n\"\n\"column.truncate.to.2.chars\" = \"db.t.blob\"",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let after = ev.after.unwrap_or_default();
        assert_eq!(
            after[1],
            Value::String(
                "af5843a0f0e728ab0332c8888b6e1190bfb79e584f0d40538de8f10df6ef29c6".into()
            )
        );
        assert_eq!(after[2], Value::String("***".into()), "NULL is masked too");
        // Cut to the column's declared length.
        assert_eq!(after[3], Value::String("4588e1f2".into()));
        assert_eq!(after[4], Value::Bytes(vec![1, 2]));
        assert_eq!(after[5], Value::Int(7), "not a text column: unchanged");
        // Truncation first, as Debezium orders its mappers.
        let ev = mapped("\"column.mask.with.3.chars\" = \"db.t.email\"\n\"column.truncate.to.2.chars\" = \"db.t.email\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.after.unwrap_or_default()[1], Value::String("he".into()));
    }

    #[test]
    fn column_lists_filter_the_schema_and_rows() {
        let ev = mapped("\"column.exclude.list\" = \"db.t.(email|blob)\"")
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = ev.schema.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["id", "name", "code", "n"]);
        assert_eq!(ev.after.map(|r| r.len()), Some(4));
        let ev = mapped("\"column.include.list\" = \"db.t.id,db.t.n\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.after, Some(vec![Value::Int(1), Value::Int(7)]));
        let err = mapped("\"column.exclude.list\" = \"db.t.id\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("column.exclude.list") && err.contains("`id`"),
            "{err}"
        );
    }

    #[test]
    fn key_columns_follow_message_key_columns() {
        let ev = mapped("\"message.key.columns\" = \"db.t:code,email\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.schema.primary_key, ["code", "email"]);
        // Several columns matched by one pattern come in table order.
        let ev = mapped("\"message.key.columns\" = \"(.*).t:(n|email)\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.schema.primary_key, ["email", "n"]);
        // No match: the primary key.
        let ev =
            mapped("\"message.key.columns\" = \"other.t:code\"").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ev.schema.primary_key, ["id"]);
    }
}
