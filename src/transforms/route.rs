//! Connect's `RegexRouter` and the predicates `RecordIsTombstone` and
//! `TopicNameMatches`.
//!
//! Java's regexes match the whole topic (`Matcher.matches()`), so patterns
//! are anchored here. The replacement is read by Java's rules, not the
//! `regex` crate's: `$n` takes as many digits as name an existing group,
//! `${name}` a named group, `\x` is a literal `x`. A pattern the `regex`
//! crate cannot compile (lookarounds, backreferences) is a config error.

use regex::{Captures, Regex};

use super::{Props, Record, TransformError};

/// A compiled whole-string Java-style pattern.
fn anchored(p: &Props<'_>, key: &str, pattern: &str) -> Result<Regex, TransformError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| {
        p.invalid(
            key,
            format!("`{pattern}` is not a regular expression Sluice can run: {e}"),
        )
    })
}

/// One piece of a Java replacement string.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Group(usize),
    Named(String),
}

/// Parses `replacement` by `java.util.regex.Matcher`'s rules for `re`.
fn parse_replacement(re: &Regex, replacement: &str) -> Result<Vec<Piece>, String> {
    let groups = re.captures_len() - 1; // the anchoring group is non-capturing
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(n) => text.push(n),
                None => return Err("character to be escaped is missing".into()),
            },
            '$' => {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) if ch.is_ascii_alphanumeric() => name.push(ch),
                            _ => return Err("named capturing group is missing trailing '}'".into()),
                        }
                    }
                    if re.capture_names().flatten().all(|n| n != name) {
                        return Err(format!("no group with name {{{name}}}"));
                    }
                    pieces.push(Piece::Named(name));
                    continue;
                }
                let Some(first) = chars.next().and_then(|d| d.to_digit(10)) else {
                    return Err("illegal group reference".into());
                };
                let mut group = first as usize;
                if group > groups {
                    return Err(format!("no group {group}"));
                }
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let next = group * 10 + d as usize;
                    if next > groups {
                        break;
                    }
                    group = next;
                    chars.next();
                }
                pieces.push(Piece::Group(group));
            }
            other => text.push(other),
        }
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

fn expand(pieces: &[Piece], caps: &Captures<'_>) -> String {
    let mut out = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Group(g) => out.push_str(caps.get(*g).map_or("", |m| m.as_str())),
            Piece::Named(n) => out.push_str(caps.name(n).map_or("", |m| m.as_str())),
        }
    }
    out
}

/// `org.apache.kafka.connect.transforms.RegexRouter`.
#[derive(Debug)]
pub(crate) struct RegexRouter {
    regex: Regex,
    replacement: Vec<Piece>,
}

impl RegexRouter {
    pub(crate) fn configure(p: &mut Props<'_>) -> Result<Self, TransformError> {
        let pattern = p.required("regex")?;
        let regex = anchored(p, "regex", &pattern)?;
        let text = p
            .take("replacement")
            .ok_or_else(|| p.invalid("replacement", "is required".into()))?;
        let replacement = parse_replacement(&regex, &text)
            .map_err(|e| p.invalid("replacement", format!("`{text}`: {e}")))?;
        Ok(RegexRouter { regex, replacement })
    }

    /// The topic renamed when the pattern matches it whole.
    pub(crate) fn route(&self, topic: &str) -> Option<String> {
        self.regex
            .captures(topic)
            .map(|caps| expand(&self.replacement, &caps))
    }

    pub(crate) fn apply(&self, mut r: Record) -> Record {
        if let Some(t) = self.route(&r.topic) {
            r.topic = t;
        }
        r
    }
}

/// A configured predicate.
#[derive(Debug, Clone)]
pub(crate) enum Predicate {
    /// `RecordIsTombstone`: the value is null.
    Tombstone,
    /// `TopicNameMatches`: the topic matches `pattern` whole.
    TopicMatches(Regex),
}

impl Predicate {
    pub(crate) fn configure(p: &mut Props<'_>) -> Result<Self, TransformError> {
        let class = p.required("type")?;
        match class
            .trim()
            .strip_prefix("org.apache.kafka.connect.transforms.predicates.")
        {
            Some("RecordIsTombstone") => Ok(Predicate::Tombstone),
            Some("TopicNameMatches") => {
                let pattern = p.required("pattern")?;
                Ok(Predicate::TopicMatches(anchored(p, "pattern", &pattern)?))
            }
            _ => Err(p.invalid(
                "type",
                format!(
                    "`{class}` is not a predicate Sluice runs; it runs \
                     org.apache.kafka.connect.transforms.predicates.RecordIsTombstone \
                     and TopicNameMatches"
                ),
            )),
        }
    }

    pub(crate) fn test(&self, r: &Record) -> bool {
        match self {
            Predicate::Tombstone => r.value.as_ref().is_none_or(|v| v.value.is_null()),
            Predicate::TopicMatches(re) => re.is_match(&r.topic),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(re: &str, rep: &str) -> Result<Vec<Piece>, String> {
        parse_replacement(
            &Regex::new(&format!("^(?:{re})$")).expect("test value"),
            rep,
        )
    }

    #[test]
    fn java_group_references_take_only_the_digits_that_name_a_group() {
        let re = Regex::new("^(?:(a)(b))$").expect("test value");
        let p = parse_replacement(&re, "$1_$21").expect("test value");
        let caps = re.captures("ab").expect("test value");
        // `$21` is group 2 then a literal 1 (there is no group 21).
        assert_eq!(expand(&p, &caps), "a_b1");
        assert_eq!(
            pieces("(?P<db>\\w+)\\.(\\w+)", "${db}-\\$x").expect("test value"),
            vec![Piece::Named("db".into()), Piece::Text("-$x".into())]
        );
        assert!(pieces("(a)", "$2")
            .expect_err("fails")
            .contains("no group 2"));
        assert!(pieces("(a)", "$x").is_err());
        assert!(pieces("(a)", "x\\").is_err());
    }
}
