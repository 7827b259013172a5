//! Dialect-independent pieces of literal writing: calendar arithmetic, time and
//! number formatting. Dates are proleptic Gregorian, computed exactly with
//! Howard Hinnant's `civil_from_days` (no floating point, no time zone).

use std::fmt::Write;

/// Why a value cannot be written as a literal; a fixed text, so it can never quote the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LiteralError(
    /// The reason, e.g. `PostgreSQL text cannot contain NUL characters`.
    pub &'static str,
);

/// Microseconds in a day.
pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;

/// A calendar date; `year` may be zero or negative (astronomical numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    /// Year (0 is 1 BC).
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day of the month, 1–31.
    pub day: u32,
}

/// The calendar date `days` after 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> Civil {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day }
}

/// Splits microseconds since the epoch into (date, microseconds into that day), flooring.
pub(crate) fn split_timestamp(micros: i64) -> (Civil, i64) {
    (
        civil_from_days(micros.div_euclid(MICROS_PER_DAY)),
        micros.rem_euclid(MICROS_PER_DAY),
    )
}

/// Writes `YYYY-MM-DD` for a year in 1..=9999 (callers handle other years).
pub(crate) fn write_ymd(out: &mut String, year: i64, c: Civil) {
    if (0..=9999).contains(&year) {
        push_digits(out, year as u64, 4);
        out.push('-');
        push_digits(out, u64::from(c.month), 2);
        out.push('-');
        push_digits(out, u64::from(c.day), 2);
    } else {
        let _ = write!(out, "{year:04}-{:02}-{:02}", c.month, c.day);
    }
}

/// Writes `s` as one field of a tab-separated bulk format (PostgreSQL COPY
/// text, MySQL LOAD DATA): backslash, tab, newline, carriage return and NUL
/// as backslash escapes, everything else as is.
pub(crate) fn write_tab_escaped(out: &mut String, s: &str) {
    out.reserve(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
}

/// Writes an integer in decimal.
pub(crate) fn write_int(out: &mut String, i: i64) {
    out.push_str(itoa::Buffer::new().format(i));
}

/// Writes `v` in decimal, zero-padded to at least `width` digits.
fn push_digits(out: &mut String, v: u64, width: usize) {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(v);
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(digits);
}

/// Writes `H…H:MM:SS.ffffff` for a non-negative duration in microseconds.
pub(crate) fn write_hms(out: &mut String, micros: i64) {
    let secs = (micros / 1_000_000).unsigned_abs();
    let frac = (micros % 1_000_000).unsigned_abs();
    push_digits(out, secs / 3600, 2);
    out.push(':');
    push_digits(out, secs / 60 % 60, 2);
    out.push(':');
    push_digits(out, secs % 60, 2);
    out.push('.');
    push_digits(out, frac, 6);
}

/// Writes a finite float with the shortest text that parses back to the same
/// value (Rust's `{:e}` is shortest round-trip). `f32` values are widened to
/// `f64` first: the decimal is then the f32's exact value, so the server's
/// double → float conversion cannot round twice.
pub(crate) fn write_float(out: &mut String, v: f64) -> Result<(), LiteralError> {
    if !v.is_finite() {
        return Err(LiteralError("NaN and infinite floats have no literal here"));
    }
    let _ = write!(out, "{v:e}");
    Ok(())
}

/// Checks that `text` is a plain decimal number: optional leading `-`, digits,
/// at most one `.` followed by digits.
pub(crate) fn check_decimal(text: &str) -> Result<(), LiteralError> {
    const BAD: LiteralError = LiteralError("decimal value is not a plain number");
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (int, frac) = match digits.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int) || frac.is_some_and(|f| !all_digits(f)) {
        return Err(BAD);
    }
    Ok(())
}

/// Lowercase hex of `bytes`.
/// Single-quoted SQL-standard string: `'` doubled, no backslash escapes.
/// `nul_error` names the dialect's reason for refusing NUL characters.
pub(crate) fn write_doubled_quotes(
    out: &mut String,
    s: &str,
    nul_error: &'static str,
) -> Result<(), LiteralError> {
    if s.contains('\0') {
        return Err(LiteralError(nul_error));
    }
    out.reserve(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        out.push(c);
    }
    out.push('\'');
    Ok(())
}

pub(crate) fn write_hex(out: &mut String, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 15)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(days: i64) -> (i64, u32, u32) {
        let c = civil_from_days(days);
        (c.year, c.month, c.day)
    }

    #[test]
    fn civil_dates_around_the_epoch_and_far_away() {
        assert_eq!(ymd(0), (1970, 1, 1));
        assert_eq!(ymd(-1), (1969, 12, 31));
        assert_eq!(ymd(19_219), (2022, 8, 15));
        assert_eq!(ymd(11_016), (2000, 2, 29));
        assert_eq!(ymd(-719_162), (1, 1, 1));
        assert_eq!(ymd(-719_163), (0, 12, 31));
        assert_eq!(ymd(2_932_896), (9999, 12, 31));
        assert_eq!(ymd(-354_285), (1000, 1, 1));
    }

    #[test]
    fn timestamps_floor_before_1970() {
        let (c, t) = split_timestamp(-1);
        assert_eq!(
            (c.year, c.month, c.day, t),
            (1969, 12, 31, MICROS_PER_DAY - 1)
        );
        let mut s = String::new();
        write_hms(&mut s, t);
        assert_eq!(s, "23:59:59.999999");
    }

    #[test]
    fn floats_round_trip() {
        for v in [0.1f64, -1.5e300, 5e-324, 1.0, 0.0, -0.0, f64::MAX] {
            let mut s = String::new();
            write_float(&mut s, v).expect("finite");
            assert_eq!(s.parse::<f64>().expect("parses"), v, "{s}");
        }
        let mut s = String::new();
        write_float(&mut s, f64::from(0.1f32)).expect("finite");
        assert_eq!(s.parse::<f64>().expect("parses") as f32, 0.1f32);
        assert!(write_float(&mut s, f64::NAN).is_err());
        assert!(write_float(&mut s, f64::INFINITY).is_err());
    }

    #[test]
    fn decimals_must_be_plain_numbers() {
        for ok in ["0", "-12.340", "123456789012345678901234567890.5"] {
            assert!(check_decimal(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "-", ".5", "5.", "1.2.3", "1e5", "--1", "1;DROP", "+1", " 1", "1 ",
        ] {
            assert!(check_decimal(bad).is_err(), "{bad:?}");
        }
    }
}
