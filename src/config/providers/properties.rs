//! Java properties files (`java.util.Properties.load`), as Connect's
//! `FileConfigProvider` reads them: `key=value`, `key: value` or
//! `key value`; `#` and `!` comment lines; a line ending in an odd number of
//! backslashes continues on the next (its leading blanks dropped); escapes
//! `\t`, `\n`, `\r`, `\f`, `\uXXXX`, and `\` before any other character
//! stands for that character. A key given twice keeps its last value.

use std::collections::BTreeMap;

/// The key/value pairs of a properties file.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in logical_lines(text) {
        let line = line.trim_start_matches([' ', '\t', '\u{c}']);
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let (key, value) = split_key(line);
        out.insert(unescape(key), unescape(value));
    }
    out
}

/// Joins continued lines (a line ending in an odd number of `\`).
fn logical_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for raw in text.lines() {
        let piece = match current {
            Some(_) => raw.trim_start_matches([' ', '\t', '\u{c}']),
            None => raw,
        };
        let trailing = piece.len() - piece.trim_end_matches('\\').len();
        let continues = trailing % 2 == 1;
        let piece = if continues {
            &piece[..piece.len() - 1]
        } else {
            piece
        };
        let mut line = current.take().unwrap_or_default();
        line.push_str(piece);
        if continues {
            current = Some(line);
        } else {
            out.push(line);
        }
    }
    out.extend(current);
    out
}

/// Splits at the first unescaped `=`, `:` or blank; blanks around, and one
/// `=`/`:` after the key, are separators.
fn split_key(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | 0x0c => break,
            _ => i += 1,
        }
    }
    let i = i.min(bytes.len());
    let key = &line[..i];
    let mut rest = line[i..].trim_start_matches([' ', '\t', '\u{c}']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\u{c}']);
    }
    (key, rest)
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(ch) => out.push(ch),
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_java_properties() {
        let text = "# comment\n! also\n  password = s3cr=et \nuser:cdc\nhost  db.local\n\
                    empty=\nlong = a\\\n    b\\\\\nesc\\ key=\\u0041\\tz\nurl=jdbc\\:mysql://h\n";
        let p = parse(text);
        assert_eq!(p.get("password").map(String::as_str), Some("s3cr=et "));
        assert_eq!(p.get("user").map(String::as_str), Some("cdc"));
        assert_eq!(p.get("host").map(String::as_str), Some("db.local"));
        assert_eq!(p.get("empty").map(String::as_str), Some(""));
        assert_eq!(p.get("long").map(String::as_str), Some("ab\\"));
        assert_eq!(p.get("esc key").map(String::as_str), Some("A\tz"));
        assert_eq!(p.get("url").map(String::as_str), Some("jdbc:mysql://h"));
        assert!(!p.contains_key("# comment") && !p.contains_key("!"));
    }
}
