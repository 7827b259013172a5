//! Low-level JSON text: writing strings and floats the way Jackson (the JSON
//! library behind Kafka's `JsonConverter`) writes them, and classifying raw
//! JSON values on the way in.
//!
//! Matching Jackson byte for byte keeps Sluice's messages identical to what a
//! Connect worker would produce for the same data: strings escape `"`, `\`, the
//! short forms `\b \t \n \f \r` and every other control character as `\u00XX`
//! with upper-case hex, and nothing else (no `/`, no non-ASCII escaping).
//! Floats follow Java's `Double.toString` / `Float.toString` layout (`1.0`,
//! `0.001`, `1.0E7`, `1.0E-4`) with the shortest round-tripping digits.

use std::borrow::Cow;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Appends `s` as a JSON string literal, escaped as Jackson escapes it.
pub(crate) fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0A => "\\n",
            0x0C => "\\f",
            0x0D => "\\r",
            0x00..=0x1F => "",
            _ => continue,
        };
        // `i` and `start` sit next to ASCII bytes, so both are char boundaries.
        out.push_str(&s[start..i]);
        if short.is_empty() {
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends a finite `f64` as Java's `Double.toString` spells it (callers
/// handle non-finite values; they come out as `0.0` here).
pub(crate) fn write_f64(out: &mut String, v: f64) {
    write_float(out, v);
}

/// Appends a finite `f32` as Java's `Float.toString` spells it.
pub(crate) fn write_f32(out: &mut String, v: f32) {
    write_float(out, v);
}

/// Lays out Rust's shortest `{:e}` text of `v`, written on the stack.
fn write_float(out: &mut String, v: impl std::fmt::LowerExp) {
    let mut sci = SciText::default();
    match std::fmt::Write::write_fmt(&mut sci, format_args!("{v:e}")) {
        Ok(()) => java_layout(out, sci.as_str()),
        Err(_) => java_layout(out, &format!("{v:e}")),
    }
}

/// The `{:e}` text of a float, on the stack: a sign, at most 17 digits, a
/// point and `e-324` fit (one allocation less per float written).
#[derive(Default)]
struct SciText {
    buf: [u8; 32],
    len: usize,
}

impl SciText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("0e0")
    }
}

impl std::fmt::Write for SciText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Re-lays Rust's shortest scientific form (`-1.25e-7`) out in Java's style:
/// plain decimal for 1e-3 <= |v| < 1e7, else `d.dddE±n`; always a fraction digit.
fn java_layout(out: &mut String, sci: &str) {
    let (negative, body) = match sci.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, sci),
    };
    let (mantissa, exp) = body.split_once('e').unwrap_or((body, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    // At most 17 significant digits (the buffer keeps 32): no allocation.
    let mut held = [b'0'; 32];
    let mut n = 0;
    for d in mantissa.bytes().filter(u8::is_ascii_digit).take(held.len()) {
        held[n] = d;
        n += 1;
    }
    let digits = std::str::from_utf8(&held[..n]).unwrap_or("");
    if negative {
        out.push('-');
    }
    if digits.is_empty() || digits.bytes().all(|d| d == b'0') {
        out.push_str("0.0");
        return;
    }
    let (first, rest) = digits.split_at(1);
    if (-3..7).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(digits);
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(digits);
                for _ in digits.len()..int_len {
                    out.push('0');
                }
                out.push_str(".0");
            } else {
                let (int_part, frac) = digits.split_at(int_len);
                out.push_str(int_part);
                out.push('.');
                out.push_str(frac);
            }
        }
    } else {
        out.push_str(first);
        out.push('.');
        out.push_str(if rest.is_empty() { "0" } else { rest });
        out.push('E');
        out.push_str(itoa::Buffer::new().format(exp));
    }
}

/// The kind of one raw JSON value, with its text where that is all we need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind<'a> {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written.
    Number(&'a str),
    /// A string literal, quotes included (decode with [`string_value`]).
    String(&'a str),
    /// An object.
    Object,
    /// An array.
    Array,
}

impl RawKind<'_> {
    /// A short description for error messages.
    pub fn describe(&self) -> String {
        match self {
            RawKind::Null => "null".into(),
            RawKind::Bool(b) => format!("boolean {b}"),
            RawKind::Number(n) => format!("number {}", shorten(n)),
            RawKind::String(s) => format!("string {}", shorten(s)),
            RawKind::Object => "an object".into(),
            RawKind::Array => "an array".into(),
        }
    }
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

/// Classifies the text of a valid JSON value (as held by a `RawValue`).
pub(crate) fn classify(raw: &str) -> RawKind<'_> {
    let raw = raw.trim();
    match raw.as_bytes().first() {
        Some(b'n') => RawKind::Null,
        Some(b't') => RawKind::Bool(true),
        Some(b'f') => RawKind::Bool(false),
        Some(b'"') => RawKind::String(raw),
        Some(b'{') => RawKind::Object,
        Some(b'[') => RawKind::Array,
        _ => RawKind::Number(raw),
    }
}

/// Decodes a JSON string literal; borrows when it has no escapes.
pub(crate) fn string_value(literal: &str) -> Result<Cow<'_, str>, serde_json::Error> {
    if !literal.contains('\\') && literal.len() >= 2 {
        if let Some(inner) = literal.get(1..literal.len() - 1) {
            return Ok(Cow::Borrowed(inner));
        }
    }
    serde_json::from_str::<String>(literal).map(Cow::Owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> String {
        let mut out = String::new();
        write_str(&mut out, v);
        out
    }

    fn d(v: f64) -> String {
        let mut out = String::new();
        write_f64(&mut out, v);
        out
    }

    fn f(v: f32) -> String {
        let mut out = String::new();
        write_f32(&mut out, v);
        out
    }

    #[test]
    fn strings_escape_like_jackson() {
        assert_eq!(s("plain"), r#""plain""#);
        assert_eq!(s(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(s("\n\r\t\u{8}\u{c}"), r#""\n\r\t\b\f""#);
        assert_eq!(s("\u{0}\u{1f}\u{1}"), r#""\u0000\u001F\u0001""#);
        assert_eq!(s("/ é 😀 \u{7f}"), "\"/ é 😀 \u{7f}\"");
        assert_eq!(s(""), r#""""#);
    }

    #[test]
    fn escaped_strings_are_valid_json_and_round_trip() {
        for text in [
            "\u{0}x\u{0}",
            "quote\"\\",
            "tab\tnl\n",
            "emoji 😀 ünï",
            "\u{1b}[0m",
        ] {
            let json = s(text);
            let back: String = serde_json::from_str(&json).expect("valid JSON");
            assert_eq!(back, text);
            assert_eq!(string_value(&json).expect("decodes"), text);
        }
    }

    #[test]
    fn doubles_follow_java_to_string() {
        assert_eq!(d(1.0), "1.0");
        assert_eq!(d(-0.0), "-0.0");
        assert_eq!(d(0.0), "0.0");
        assert_eq!(d(0.001), "0.001");
        assert_eq!(d(0.0001), "1.0E-4");
        assert_eq!(d(123456.7), "123456.7");
        assert_eq!(d(1e7), "1.0E7");
        assert_eq!(d(12345678.9), "1.23456789E7");
        assert_eq!(d(0.1), "0.1");
        assert_eq!(d(100.0), "100.0");
        assert_eq!(d(f64::MAX), "1.7976931348623157E308");
        assert_eq!(d(f64::MIN_POSITIVE), "2.2250738585072014E-308");
        // Java prints 4.9E-324 (two digits when one would do); both parse to the same double.
        assert_eq!(d(5e-324), "5.0E-324");
        assert_eq!(d(-2.5e-5), "-2.5E-5");
    }

    #[test]
    fn floats_use_shortest_f32_digits() {
        assert_eq!(f(0.1), "0.1");
        assert_eq!(f(1.5), "1.5");
        assert_eq!(f(f32::MAX), "3.4028235E38");
        assert_eq!(f(-1e-10), "-1.0E-10");
        assert_eq!(f(3.0), "3.0");
    }

    #[test]
    fn any_finite_double_or_float_parses_back_exactly() {
        // Bit patterns from a fixed LCG: 17-digit mantissas, 3-digit exponents.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let v = f64::from_bits(x);
            if v.is_finite() {
                assert_eq!(d(v).parse::<f64>().expect("parses"), v, "{v:e}");
            }
            let w = f32::from_bits((x >> 32) as u32);
            if w.is_finite() {
                assert_eq!(f(w).parse::<f32>().expect("parses"), w, "{w:e}");
            }
        }
    }

    #[test]
    fn written_doubles_parse_back_exactly() {
        for v in [
            0.1,
            1.0 / 3.0,
            -1e300,
            6.02214076e23,
            1e-7,
            9_007_199_254_740_993.0,
        ] {
            let text = d(v);
            assert_eq!(text.parse::<f64>().expect("parses"), v, "{text}");
        }
    }

    #[test]
    fn classify_kinds() {
        assert_eq!(classify("null"), RawKind::Null);
        assert_eq!(classify(" true "), RawKind::Bool(true));
        assert_eq!(classify("-1.5e3"), RawKind::Number("-1.5e3"));
        assert_eq!(classify("\"x\""), RawKind::String("\"x\""));
        assert_eq!(classify("{}"), RawKind::Object);
        assert_eq!(classify("[1]"), RawKind::Array);
    }
}
