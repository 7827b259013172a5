//! Secrets that never print, and the redaction of passwords written inside
//! connection strings.
//!
//! A password can sit in a connection string in three places, and each is
//! shown as `[hidden]` wherever a URL or an error text is displayed:
//! - userinfo: `mysql://user:pass@host/db` (the password may hold `@` or `/`;
//!   userinfo ends at the last `@` before the query);
//! - query or JDBC parameters: `?user=u&password=s3cret`, `;password=x`,
//!   `?PWD=x&ssl=true` — any key `pwd`, `passwd`, or ending in `password` or
//!   `secret`, matched case-insensitively (also when percent-encoded);
//! - libpq keyword/value strings: `host=h password='it''s'`.
//!
//! A value ends at the next `&`, `;` or blank, unless it is quoted (`'...'`);
//! a raw `&`/`;` inside a password is kept with it when what follows is no
//! `key=value` parameter (`password=a&b&ssl=true` hides `a&b`).

use serde::{Deserialize, Deserializer};

/// The text shown instead of a secret.
pub const HIDDEN: &str = "[hidden]";

/// A secret string: `Debug` and `Display` print `[hidden]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself; call only where it is handed to a client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HIDDEN)
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(HIDDEN)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Whether a config key or URL parameter names a secret: `pwd`, `passwd`,
/// or a name ending in `password` or `secret` (any case, percent-decoded).
pub fn is_secret_name(name: &str) -> bool {
    let k = percent_decode(name.trim()).to_ascii_lowercase();
    k == "pwd" || k == "passwd" || k.ends_with("password") || k.ends_with("secret")
}

/// Replaces every password in a connection string (userinfo, query or JDBC
/// parameters, libpq keywords) with `[hidden]`.
pub fn redact_url(url: &str) -> String {
    redact_text(url)
}

/// Replaces every password written in `text` — in each URL's userinfo and in
/// every `key=value` parameter named like a secret — with `[hidden]`. Safe on
/// any text (error messages, traces); text without such passwords is unchanged.
pub fn redact_text(text: &str) -> String {
    redact_params(&redact_userinfo(text))
}

/// Byte ranges of the passwords in the userinfo of each `scheme://` in `text`.
fn userinfo_passwords(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("://") {
        let start = from + i + 3;
        let rest = &text[start..];
        // The authority (with any unencoded '/' or '@' in a password) runs to the query.
        let end = rest
            .find(|c: char| matches!(c, '?' | '#' | '"' | '\'' | '`') || c.is_whitespace())
            .unwrap_or(rest.len());
        let region = &rest[..end];
        if let Some(at) = region.rfind('@') {
            if let Some(colon) = region[..at].find(':') {
                out.push(start + colon + 1..start + at);
            }
        }
        from = start + end;
    }
    out
}

fn redact_userinfo(text: &str) -> String {
    let mut out = text.to_string();
    for range in userinfo_passwords(text).into_iter().rev() {
        out.replace_range(range, HIDDEN);
    }
    out
}

fn is_param_separator(c: u8) -> bool {
    matches!(c, b'?' | b'&' | b';') || c.is_ascii_whitespace()
}

/// One `key=value` parameter of a connection string, as byte ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// The key.
    pub key: std::ops::Range<usize>,
    /// The value (quotes included when quoted).
    pub value: std::ops::Range<usize>,
}

/// The parameters of `s` (separated by `?`, `&`, `;` or blanks). A secret's
/// value runs through a quoted span, and through following `&`/`;` segments
/// that are not `key=value` themselves (a raw `&` inside a password).
pub(crate) fn params(s: &str) -> Vec<Param> {
    let b = s.as_bytes();
    let next_sep = |from: usize| {
        b[from..]
            .iter()
            .position(|&c| is_param_separator(c))
            .map_or(b.len(), |p| from + p)
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if is_param_separator(b[i]) {
            i += 1;
            continue;
        }
        let end = next_sep(i);
        let Some(eq) = s[i..end].find('=').map(|e| i + e) else {
            i = end;
            continue;
        };
        let key = i..eq;
        let mut value_end = end;
        if is_secret_name(&s[key.clone()]) {
            if b.get(eq + 1) == Some(&b'\'') {
                value_end = quoted_end(b, eq + 1);
            }
            // A raw '&' or ';' inside the password: swallow segments without '='.
            while value_end < b.len() && matches!(b[value_end], b'&' | b';') {
                let seg_end = next_sep(value_end + 1);
                let seg = &s[value_end + 1..seg_end];
                if seg.is_empty() || seg.contains('=') {
                    break;
                }
                value_end = seg_end;
            }
        }
        out.push(Param {
            key,
            value: eq + 1..value_end,
        });
        i = value_end;
    }
    out
}

/// The end (exclusive) of a `'...'` value starting at `open` (`\'` and `''` escape).
fn quoted_end(b: &[u8], open: usize) -> usize {
    let mut j = open + 1;
    while j < b.len() {
        match b[j] {
            b'\\' => j += 2,
            b'\'' if b.get(j + 1) == Some(&b'\'') => j += 2,
            b'\'' => return j + 1,
            _ => j += 1,
        }
    }
    b.len()
}

fn redact_params(text: &str) -> String {
    let mut out = text.to_string();
    for p in params(text).into_iter().rev() {
        if is_secret_name(&text[p.key.clone()]) {
            out.replace_range(p.value, HIDDEN);
        }
    }
    out
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[hidden] [hidden]");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn redacts_userinfo_passwords() {
        assert_eq!(
            redact_url("mysql://cdc:p%40ss@127.0.0.1:3306/db"),
            "mysql://cdc:[hidden]@127.0.0.1:3306/db"
        );
        // An unencoded '@' or '/' in the password: userinfo ends at the last '@'.
        assert_eq!(
            redact_url("mysql://cdc:p@ss@h/db"),
            "mysql://cdc:[hidden]@h/db"
        );
        assert_eq!(
            redact_url("postgres://u:a/b@h/db?x=1"),
            "postgres://u:[hidden]@h/db?x=1"
        );
        assert_eq!(redact_url("mysql://cdc@h/db"), "mysql://cdc@h/db");
        assert_eq!(redact_url("mysql://h:3306/db"), "mysql://h:3306/db");
        assert_eq!(redact_url("sqlite:///x.db"), "sqlite:///x.db");
    }

    #[test]
    fn redacts_query_and_jdbc_passwords() {
        let cases = [
            (
                "jdbc:postgresql://db/app?user=u&password=s3cret",
                "jdbc:postgresql://db/app?user=u&password=[hidden]",
            ),
            (
                "jdbc:sqlserver://h;user=u;password=x",
                "jdbc:sqlserver://h;user=u;password=[hidden]",
            ),
            (
                "mysql://h/db?PWD=x&ssl=true",
                "mysql://h/db?PWD=[hidden]&ssl=true",
            ),
            (
                "mysql://h/db?Passwd=x;a=b",
                "mysql://h/db?Passwd=[hidden];a=b",
            ),
            (
                "mysql://h/db?password=s%26cr%3Dt&x=1",
                "mysql://h/db?password=[hidden]&x=1",
            ),
            // A raw '&' in the password: the next segment is no parameter.
            (
                "postgres://h/db?user=u&password=a&b&sslmode=disable",
                "postgres://h/db?user=u&password=[hidden]&sslmode=disable",
            ),
            // Percent-encoded key, other keys ending in password.
            (
                "mysql://h/db?pass%77ord=x",
                "mysql://h/db?pass%77ord=[hidden]",
            ),
            (
                "jdbc:mysql://h/db?trustCertificateKeyStorePassword=k&useSSL=true",
                "jdbc:mysql://h/db?trustCertificateKeyStorePassword=[hidden]&useSSL=true",
            ),
            // libpq keyword/value, quoted with a blank and an escaped quote.
            (
                "host=h password='it''s a secret' dbname=d",
                "host=h password=[hidden] dbname=d",
            ),
            (
                "host=h password=x dbname=d",
                "host=h password=[hidden] dbname=d",
            ),
            // Both places at once.
            (
                "mysql://u:p@h/db?password=q",
                "mysql://u:[hidden]@h/db?password=[hidden]",
            ),
            // Nothing to hide.
            (
                "mysql://h/db?user=u&ssl=true",
                "mysql://h/db?user=u&ssl=true",
            ),
            ("mysql://h/db?password=", "mysql://h/db?password=[hidden]"),
        ];
        for (input, want) in cases {
            assert_eq!(redact_url(input), want, "{input}");
            // Idempotent: what was shown can be redacted again unchanged.
            assert_eq!(redact_url(want), want, "{want}");
        }
    }

    #[test]
    fn redacts_urls_inside_error_text() {
        let msg = "connecting to jdbc:mysql://root:hunter2@10.0.0.1/db?password=s3cret: refused (user@host)";
        let shown = redact_text(msg);
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.ends_with(" refused (user@host)"), "{shown}");
        assert_eq!(
            redact_text("Access denied for user 'root'@'localhost' (using password: YES)"),
            "Access denied for user 'root'@'localhost' (using password: YES)"
        );
    }

    #[test]
    fn params_keep_a_secret_with_a_raw_ampersand_together() {
        let s = "?user=u&password=a&b&c;ssl=true";
        let found: Vec<(&str, &str)> = params(s)
            .into_iter()
            .map(|p| (&s[p.key], &s[p.value]))
            .collect();
        assert_eq!(
            found,
            [("user", "u"), ("password", "a&b&c"), ("ssl", "true")]
        );
    }

    #[test]
    fn secret_names() {
        for k in [
            "password",
            "PWD",
            "passwd",
            "sslpassword",
            "connection.password",
            "client_secret",
        ] {
            assert!(is_secret_name(k), "{k}");
        }
        for k in ["user", "pass", "password_file", "passfile"] {
            assert!(!is_secret_name(k), "{k}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("s%40cret%2"), "s@cret%2");
        assert_eq!(percent_decode("%41"), "A");
    }
}
