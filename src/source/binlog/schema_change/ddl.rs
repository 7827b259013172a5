//! Just enough of a DDL statement to know which tables it touches (and
//! how) or which database it is about: the schema-change record needs no
//! more, the definitions come from `information_schema`.

/// What a DDL statement does to one table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// `CREATE TABLE`, and the new name of a `RENAME TABLE`.
    Create,
    /// `ALTER TABLE`, `CREATE INDEX`, `DROP INDEX` (`TRUNCATE` is none).
    Alter,
    /// `DROP TABLE`, and the old name of a `RENAME TABLE`.
    Drop,
}

impl ChangeKind {
    pub(super) fn name(self) -> &'static str {
        match self {
            ChangeKind::Create => "CREATE",
            ChangeKind::Alter => "ALTER",
            ChangeKind::Drop => "DROP",
        }
    }
}

/// The tables a DDL statement touches, in statement order: (kind,
/// database — `default_db` when unqualified —, table). Empty for
/// statements on databases or anything else.
pub fn touched_tables(ddl: &str, default_db: &str) -> Vec<(ChangeKind, String, String)> {
    let toks = tokens(ddl);
    let word = |i: usize| toks.get(i).map(|t| t.upper.as_str()).unwrap_or("");
    let mut out = Vec::new();
    // A possibly qualified name at `i`: (db, table, next index).
    let name_at = |i: usize| -> Option<(String, String, usize)> {
        let first = toks.get(i).filter(|t| t.ident)?;
        match (toks.get(i + 1), toks.get(i + 2)) {
            (Some(dot), Some(second)) if dot.text == "." && second.ident => {
                Some((first.text.clone(), second.text.clone(), i + 3))
            }
            _ => Some((default_db.to_string(), first.text.clone(), i + 1)),
        }
    };
    let mut i;
    // CREATE [OR REPLACE] [TEMPORARY] TABLE / ALTER [ONLINE] [IGNORE] TABLE ...
    let skip = |mut i: usize, words: &[&str]| {
        while words.contains(&word(i)) {
            i += 1;
        }
        i
    };
    match word(0) {
        "CREATE" => {
            i = skip(1, &["OR", "REPLACE", "TEMPORARY"]);
            if word(i) == "TABLE" {
                i = skip(i + 1, &["IF", "NOT", "EXISTS"]);
                if let Some((db, t, _)) = name_at(i) {
                    out.push((ChangeKind::Create, db, t));
                }
            } else {
                // CREATE [UNIQUE|FULLTEXT|SPATIAL] INDEX name ON table
                i = skip(i, &["UNIQUE", "FULLTEXT", "SPATIAL"]);
                if word(i) == "INDEX" {
                    if let Some(on) = (i..toks.len()).find(|&k| word(k) == "ON") {
                        if let Some((db, t, _)) = name_at(on + 1) {
                            out.push((ChangeKind::Alter, db, t));
                        }
                    }
                }
            }
        }
        "ALTER" => {
            i = skip(1, &["ONLINE", "IGNORE"]);
            if word(i) == "TABLE" {
                if let Some((db, t, next)) = name_at(i + 1) {
                    // ALTER TABLE a RENAME [TO|AS] b
                    let rename = word(next) == "RENAME"
                        && !matches!(word(next + 1), "COLUMN" | "INDEX" | "KEY");
                    if rename {
                        let j = skip(next + 1, &["TO", "AS"]);
                        if let Some((db2, t2, _)) = name_at(j) {
                            out.push((ChangeKind::Drop, db, t));
                            out.push((ChangeKind::Create, db2, t2));
                        }
                    } else {
                        out.push((ChangeKind::Alter, db, t));
                    }
                }
            }
        }
        "DROP" => {
            i = skip(1, &["TEMPORARY"]);
            if word(i) == "TABLE" {
                i = skip(i + 1, &["IF", "EXISTS"]);
                while let Some((db, t, next)) = name_at(i) {
                    out.push((ChangeKind::Drop, db, t));
                    if toks.get(next).is_some_and(|t| t.text == ",") {
                        i = next + 1;
                    } else {
                        break;
                    }
                }
            } else if word(i) == "INDEX" {
                if let Some(on) = (i..toks.len()).find(|&k| word(k) == "ON") {
                    if let Some((db, t, _)) = name_at(on + 1) {
                        out.push((ChangeKind::Alter, db, t));
                    }
                }
            }
        }
        "RENAME" if word(1) == "TABLE" => {
            // RENAME TABLE a TO b [, c TO d]
            i = 2;
            while let Some((db, t, next)) = name_at(i) {
                if word(next) != "TO" {
                    break;
                }
                let Some((db2, t2, after)) = name_at(next + 1) else {
                    break;
                };
                out.push((ChangeKind::Drop, db, t));
                out.push((ChangeKind::Create, db2, t2));
                if toks.get(after).is_some_and(|t| t.text == ",") {
                    i = after + 1;
                } else {
                    break;
                }
            }
        }
        _ => {}
    }
    out
}

/// True for statements on a database (`CREATE` / `ALTER` / `DROP DATABASE`
/// or `SCHEMA`), with the database named.
pub fn database_statement(ddl: &str) -> Option<String> {
    let toks = tokens(ddl);
    let word = |i: usize| toks.get(i).map(|t| t.upper.as_str()).unwrap_or("");
    if !matches!(word(0), "CREATE" | "ALTER" | "DROP") || !matches!(word(1), "DATABASE" | "SCHEMA")
    {
        return None;
    }
    let mut i = 2;
    while matches!(word(i), "IF" | "NOT" | "EXISTS") {
        i += 1;
    }
    toks.get(i).filter(|t| t.ident).map(|t| t.text.clone())
}

#[derive(Debug)]
struct Token {
    text: String,
    upper: String,
    /// A name (bare word or backquoted), not punctuation or a string.
    ident: bool,
}

/// SQL words, backquoted names (``` `` ``` escapes a backquote), strings and
/// punctuation; comments skipped.
fn tokens(sql: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = sql.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '`' {
            chars.next();
            let mut name = String::new();
            while let Some(c) = chars.next() {
                if c == '`' {
                    if chars.peek() == Some(&'`') {
                        chars.next();
                        name.push('`');
                    } else {
                        break;
                    }
                } else {
                    name.push(c);
                }
            }
            out.push(Token {
                upper: name.to_uppercase(),
                text: name,
                ident: true,
            });
        } else if c == '\'' || c == '"' {
            chars.next();
            let mut s = String::new();
            while let Some(d) = chars.next() {
                if d == '\\' {
                    if let Some(e) = chars.next() {
                        s.push(e);
                    }
                } else if d == c {
                    if chars.peek() == Some(&c) {
                        chars.next();
                        s.push(c);
                    } else {
                        break;
                    }
                } else {
                    s.push(d);
                }
            }
            out.push(Token {
                upper: String::new(),
                text: s,
                ident: false,
            });
        } else if c == '#' || (c == '-' && sql_comment_dash(&chars)) {
            for d in chars.by_ref() {
                if d == '\n' {
                    break;
                }
            }
        } else if c == '/' && {
            let mut look = chars.clone();
            look.next();
            look.peek() == Some(&'*')
        } {
            chars.next();
            chars.next();
            let mut prev = ' ';
            for d in chars.by_ref() {
                if prev == '*' && d == '/' {
                    break;
                }
                prev = d;
            }
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let mut w = String::new();
            while let Some(&d) = chars.peek() {
                if d.is_alphanumeric() || d == '_' || d == '$' {
                    w.push(d);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push(Token {
                upper: w.to_uppercase(),
                text: w,
                ident: true,
            });
        } else {
            chars.next();
            out.push(Token {
                text: c.to_string(),
                upper: c.to_string(),
                ident: false,
            });
        }
    }
    out
}

fn sql_comment_dash(chars: &std::iter::Peekable<std::str::Chars<'_>>) -> bool {
    let mut look = chars.clone();
    look.next();
    look.next() == Some('-') && look.peek().is_none_or(|c| c.is_whitespace())
}
