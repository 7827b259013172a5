//! Request bodies: JSON with `//` and `/* */` comments allowed outside
//! strings (people paste commented examples from blogs and runbooks), and a
//! 400 message that says where broken JSON is broken.
//!
//! [`strip_comments`] is pure: it replaces every comment by blanks and keeps
//! its line breaks, so the line and column serde reports for the stripped
//! text are those of the original body.

use serde_json::{Map, Value};

/// A comment that never ends.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unterminated /* comment starting at line {line}, column {column}")]
pub struct UnterminatedComment {
    /// 1-based line of the `/*`.
    pub line: usize,
    /// 1-based column (in characters) of the `/*`.
    pub column: usize,
}

/// `text` with its `//` and `/* */` comments (outside strings) replaced by
/// spaces; line breaks inside comments are kept.
pub fn strip_comments(text: &str) -> Result<String, UnterminatedComment> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let (mut line, mut column) = (1usize, 0usize);
    let mut in_string = false;
    let mut escaped = false;
    while let Some(c) = chars.next() {
        column += 1;
        if c == '\n' {
            line += 1;
            column = 0;
        }
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                // To the end of the line; the line break stays.
                out.push(' ');
                while let Some(&n) = chars.peek() {
                    if n == '\n' || n == '\r' {
                        break;
                    }
                    chars.next();
                    out.push(' ');
                }
            }
            ('/', Some('*')) => {
                let start = UnterminatedComment { line, column };
                chars.next();
                column += 1;
                out.push_str("  ");
                let mut closed = false;
                while let Some(n) = chars.next() {
                    column += 1;
                    if n == '*' && chars.peek() == Some(&'/') {
                        chars.next();
                        column += 1;
                        out.push_str("  ");
                        closed = true;
                        break;
                    }
                    if n == '\n' {
                        line += 1;
                        column = 0;
                        out.push('\n');
                    } else if n == '\r' {
                        out.push('\r');
                    } else {
                        out.push(' ');
                    }
                }
                if !closed {
                    return Err(start);
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// The body as JSON (comments allowed), or the 400 message naming where it breaks.
pub fn parse(body: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(body).map_err(|e| {
        format!(
            "the body is not UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    let stripped = strip_comments(text).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    serde_json::from_str::<Value>(&stripped).map_err(|e| {
        let what = e.to_string();
        // serde appends " at line L column C"; say it first and plainly.
        let reason = what
            .rsplit_once(" at line ")
            .map_or(what.as_str(), |(r, _)| r);
        format!(
            "the body is not valid JSON at line {}, column {}: {reason}",
            e.line(),
            e.column()
        )
    })
}

/// The body as a JSON object (comments allowed), or the 400 message.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, String> {
    match parse(body)? {
        Value::Object(m) => Ok(m),
        _ => Err("the body must be a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(s: &str) -> String {
        strip_comments(s).expect("strips")
    }

    #[test]
    fn line_comments_become_blanks_and_keep_the_line_break() {
        assert_eq!(
            strip("{\"a\": 1, // note\n\"b\": 2}"),
            "{\"a\": 1,        \n\"b\": 2}"
        );
    }

    #[test]
    fn block_comments_become_blanks_and_keep_line_breaks() {
        assert_eq!(strip("{/* x\ny */\"a\":1}"), "{    \n    \"a\":1}");
    }

    #[test]
    fn comment_markers_inside_strings_survive() {
        let s = r#"{"url": "http://h:1/x", "p": "/* not a comment */", "q": "a//b"}"#;
        assert_eq!(strip(s), s);
    }

    #[test]
    fn escaped_quotes_do_not_end_a_string() {
        let s = r#"{"a": "say \"//hi\" /*", "b": 1} // tail"#;
        let out = strip(s);
        assert!(out.starts_with(r#"{"a": "say \"//hi\" /*", "b": 1}"#));
        assert_eq!(out.trim_end(), r#"{"a": "say \"//hi\" /*", "b": 1}"#);
    }

    #[test]
    fn an_escaped_backslash_before_a_quote_ends_the_string() {
        let s = "{\"a\": \"x\\\\\", // c\n\"b\": 2}";
        let v: Value = serde_json::from_str(&strip(s)).expect("json");
        assert_eq!(v["a"], "x\\");
        assert_eq!(v["b"], 2);
    }

    #[test]
    fn an_unterminated_block_comment_is_an_error_naming_its_start() {
        assert_eq!(
            strip_comments("{\"a\": 1,\n  /* open"),
            Err(UnterminatedComment { line: 2, column: 3 })
        );
    }

    #[test]
    fn a_comment_at_the_end_without_a_line_break_is_fine() {
        assert_eq!(strip("{} // done"), "{}        ");
    }

    #[test]
    fn a_lone_slash_is_kept_for_serde_to_refuse() {
        assert_eq!(strip("{/}"), "{/}");
        assert!(parse(b"{/}").is_err());
    }

    #[test]
    fn block_comment_end_needs_both_characters() {
        assert_eq!(strip("/* a * / b */1"), "             1");
    }

    #[test]
    fn the_seed_example_with_comments_parses() {
        let body = br#"{
  "name": "orders",
  "config": {
    "mode": "incrementing",   // the id column only grows
    /* "poll.interval.ms": "1000", */
    "incrementing.column.name": "id"
  }
}"#;
        let v = parse_object(body).expect("parses");
        assert_eq!(v["config"]["mode"], "incrementing");
        assert!(v["config"].get("poll.interval.ms").is_none());
    }

    #[test]
    fn broken_json_names_its_line_and_column() {
        let e = parse(b"{\n  \"a\": 1,\n  \"b\" 2\n}").expect_err("broken");
        assert!(e.contains("line 3, column 7"), "{e}");
        assert!(e.contains("expected `:`"), "{e}");
    }

    #[test]
    fn positions_after_a_comment_are_those_of_the_original() {
        let e = parse(b"{ /* c */ \"a\": } ").expect_err("broken");
        assert!(e.contains("line 1, column 16"), "{e}");
    }

    #[test]
    fn non_objects_and_non_utf8_are_refused() {
        assert_eq!(
            parse_object(b"[1]").expect_err("array"),
            "the body must be a JSON object"
        );
        assert!(parse(b"\xff").expect_err("bytes").contains("not UTF-8"));
    }
}
