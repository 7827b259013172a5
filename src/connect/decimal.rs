//! Exact decimals: text ↔ unscaled integer ↔ Java `BigInteger` bytes.
//!
//! Connect's `Decimal` logical type carries the *unscaled* value as the bytes
//! of Java's `BigInteger.toByteArray()`: big-endian two's complement, minimal
//! length, with room for the sign bit (`0` → `[0x00]`, `128` → `[0x00, 0x80]`,
//! `-129` → `[0xFF, 0x7F]`). MySQL's DECIMAL(65,30) needs 65 digits, far past
//! `i128`, so the conversion is a small schoolbook bignum on digit strings and
//! byte vectors (quadratic, but bounded by [`MAX_DIGITS`] / [`MAX_BYTES`] so a
//! hostile message cannot make it slow).
//!
//! Canonical text is what [`crate::event::Value::Decimal`] holds: optional `-`,
//! at least one integer digit, and exactly `scale` fraction digits (`-12.340`,
//! `0.05`, `7`). Zero is never negative.

/// Most decimal digits accepted in one value (Java allows more; no database does).
pub(crate) const MAX_DIGITS: usize = 2_500;
/// Most unscaled bytes accepted in one value (~2,466 decimal digits).
pub(crate) const MAX_BYTES: usize = 1_024;
/// Largest scale accepted (PostgreSQL's `numeric` limit).
pub(crate) const MAX_SCALE: u32 = 1_000;

/// A sign and the unscaled magnitude as decimal digits (no leading zeros; `"0"` for zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unscaled {
    /// True for values below zero (never for zero).
    pub negative: bool,
    /// Magnitude digits, ASCII.
    pub digits: String,
}

/// Parses decimal text (`-12.3`, `1.25E+3`, `+7`) into its unscaled value at `scale`.
/// Fewer fraction digits than `scale` are padded; more are accepted only when
/// the extra digits are zeros (anything else would round, which Connect refuses).
pub(crate) fn parse(text: &str, scale: u32) -> Result<Unscaled, String> {
    let t = text.trim();
    let (negative, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(format!("`{}` is not a decimal number", shorten(text)));
    }
    let exp: i64 = match exponent {
        None => 0,
        Some(e) => e
            .parse::<i64>()
            .ok()
            .filter(|e| e.abs() <= MAX_DIGITS as i64)
            .ok_or_else(|| format!("`{}` has an unusable exponent", shorten(text)))?,
    };
    let mut digits: String = String::with_capacity(int_part.len() + frac_part.len());
    digits.push_str(int_part);
    digits.push_str(frac_part);
    // unscaled = digits * 10^(scale + exp - frac_len)
    let shift = i64::from(scale) + exp - frac_part.len() as i64;
    if shift >= 0 {
        if digits.len() as i64 + shift > MAX_DIGITS as i64 {
            return Err(format!("more than {MAX_DIGITS} digits"));
        }
        digits.extend(std::iter::repeat_n('0', shift as usize));
    } else {
        let drop = (-shift) as usize;
        let keep = digits.len().saturating_sub(drop);
        if digits[keep..].bytes().any(|b| b != b'0') {
            return Err(format!(
                "`{}` has more than {scale} fraction digits (would need rounding)",
                shorten(text)
            ));
        }
        digits.truncate(keep);
    }
    Ok(normalize(negative, digits))
}

fn normalize(negative: bool, digits: String) -> Unscaled {
    let trimmed = digits.trim_start_matches('0');
    if trimmed.is_empty() {
        return Unscaled {
            negative: false,
            digits: "0".into(),
        };
    }
    let digits = if trimmed.len() == digits.len() {
        digits
    } else {
        trimmed.to_owned()
    };
    Unscaled { negative, digits }
}

/// Renders the canonical text of `u` at `scale` (`-12.340`).
pub(crate) fn format(u: &Unscaled, scale: u32) -> String {
    let scale = scale as usize;
    let mut out = String::with_capacity(u.digits.len() + scale + 3);
    if u.negative {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&u.digits);
    } else if u.digits.len() > scale {
        let (int_part, frac) = u.digits.split_at(u.digits.len() - scale);
        out.push_str(int_part);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - u.digits.len()));
        out.push_str(&u.digits);
    }
    out
}

/// Java `BigInteger.toByteArray()` of the unscaled value.
pub(crate) fn to_twos_complement(u: &Unscaled) -> Vec<u8> {
    // Magnitude, big-endian base 256, by Horner's rule over the decimal digits.
    let mut mag: Vec<u8> = vec![0];
    for d in u.digits.bytes() {
        let mut carry = u32::from(d.saturating_sub(b'0'));
        for byte in mag.iter_mut().rev() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xFF) as u8;
            carry = v >> 8;
        }
        if carry > 0 {
            mag.insert(0, carry as u8);
        }
    }
    let first_nonzero = mag.iter().position(|&b| b != 0).unwrap_or(mag.len() - 1);
    let mut mag = mag.split_off(first_nonzero);
    if !u.negative {
        if mag[0] & 0x80 != 0 {
            mag.insert(0, 0);
        }
        return mag;
    }
    negate(&mut mag);
    if mag[0] & 0x80 == 0 {
        mag.insert(0, 0xFF);
    }
    mag
}

/// Two's-complement negation in place (invert, add one).
fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for byte in bytes.iter_mut().rev() {
        let (v, c) = (!*byte).overflowing_add(u8::from(carry));
        *byte = v;
        carry = c;
    }
}

/// The unscaled value of Java `BigInteger` bytes.
pub(crate) fn from_twos_complement(bytes: &[u8]) -> Result<Unscaled, String> {
    let Some(&first) = bytes.first() else {
        return Err("zero-length unscaled value".into());
    };
    if bytes.len() > MAX_BYTES {
        return Err(format!("unscaled value longer than {MAX_BYTES} bytes"));
    }
    let negative = first & 0x80 != 0;
    let mut mag = bytes.to_vec();
    if negative {
        negate(&mut mag);
    }
    // Decimal limbs, little-endian base 10^9.
    const BASE: u64 = 1_000_000_000;
    let mut limbs: Vec<u32> = Vec::with_capacity(mag.len() / 4 + 1);
    for &b in &mag {
        let mut carry = u64::from(b);
        for limb in limbs.iter_mut() {
            let v = u64::from(*limb) * 256 + carry;
            *limb = (v % BASE) as u32;
            carry = v / BASE;
        }
        while carry > 0 {
            limbs.push((carry % BASE) as u32);
            carry /= BASE;
        }
    }
    let mut digits = String::with_capacity(limbs.len() * 9 + 1);
    match limbs.split_last() {
        None => digits.push('0'),
        Some((top, rest)) => {
            digits.push_str(&top.to_string());
            for limb in rest.iter().rev() {
                digits.push_str(&format!("{limb:09}"));
            }
        }
    }
    Ok(normalize(negative, digits))
}

fn shorten(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(text: &str) -> Vec<u8> {
        to_twos_complement(&parse(text, 0).expect("parses"))
    }

    fn text_of(bytes: &[u8], scale: u32) -> String {
        format(&from_twos_complement(bytes).expect("decodes"), scale)
    }

    #[test]
    fn java_biginteger_bytes_for_edge_values() {
        let cases: &[(&str, &[u8])] = &[
            ("0", &[0x00]),
            ("1", &[0x01]),
            ("-1", &[0xFF]),
            ("127", &[0x7F]),
            ("128", &[0x00, 0x80]),
            ("-128", &[0x80]),
            ("-129", &[0xFF, 0x7F]),
            ("255", &[0x00, 0xFF]),
            ("256", &[0x01, 0x00]),
            ("-255", &[0xFF, 0x01]),
            ("-256", &[0xFF, 0x00]),
            ("32767", &[0x7F, 0xFF]),
            ("-32768", &[0x80, 0x00]),
            ("65535", &[0x00, 0xFF, 0xFF]),
        ];
        for (text, expected) in cases {
            assert_eq!(bytes_of(text), *expected, "{text}");
            assert_eq!(text_of(expected, 0), *text, "{text}");
        }
    }

    #[test]
    fn matches_i128_for_many_values() {
        let mut v: i128 = 1;
        for _ in 0..75 {
            for x in [v, -v, v - 1, -(v - 1), v + 1, -(v + 1)] {
                let bytes = x.to_be_bytes();
                // Minimal form of the i128 two's complement.
                let mut start = 0;
                while start < 15
                    && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
                        || (bytes[start] == 0xFF && bytes[start + 1] & 0x80 != 0))
                {
                    start += 1;
                }
                assert_eq!(bytes_of(&x.to_string()), &bytes[start..], "{x}");
                assert_eq!(text_of(&bytes[start..], 0), x.to_string());
            }
            v *= 3;
        }
    }

    #[test]
    fn sixty_five_digit_extremes_round_trip() {
        let nines = "9".repeat(65);
        for text in [nines.clone(), format!("-{nines}")] {
            let b = bytes_of(&text);
            assert_eq!(
                b.len(),
                28,
                "10^65-1 has bitLength 216; Java adds a sign byte"
            );
            assert_eq!(text_of(&b, 0), text);
        }
        let max_65_30 = format!("{}.{}", "9".repeat(35), "9".repeat(30));
        let u = parse(&format!("-{max_65_30}"), 30).expect("parses");
        let back = format(
            &from_twos_complement(&to_twos_complement(&u)).expect("ok"),
            30,
        );
        assert_eq!(back, format!("-{max_65_30}"));
        // 10^64 - 1 and its negative.
        let n64 = "9".repeat(64);
        assert_eq!(text_of(&bytes_of(&n64), 0), n64);
        assert_eq!(text_of(&bytes_of(&format!("-{n64}")), 0), format!("-{n64}"));
    }

    #[test]
    fn unsigned_bigint_max_as_scale_zero_decimal() {
        let b = bytes_of("18446744073709551615");
        assert_eq!(b, [0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(text_of(&b, 0), "18446744073709551615");
    }

    #[test]
    fn scale_padding_and_trimming() {
        let at = |t: &str, s: u32| format(&parse(t, s).expect("parses"), s);
        assert_eq!(at("1.5", 3), "1.500");
        assert_eq!(at("-12.34", 3), "-12.340");
        assert_eq!(at("7", 2), "7.00");
        assert_eq!(at(".5", 2), "0.50");
        assert_eq!(at("5.", 0), "5");
        assert_eq!(at("0.05", 2), "0.05");
        assert_eq!(at("-0.050", 2), "-0.05");
        assert_eq!(at("-0.00", 2), "0.00");
        assert_eq!(at("00012.10", 1), "12.1");
        assert_eq!(at("1.25E+3", 0), "1250");
        assert_eq!(at("1.25e-1", 3), "0.125");
        assert!(parse("1.234", 2).is_err(), "would round");
        assert!(parse("abc", 2).is_err());
        assert!(parse("", 2).is_err());
        assert!(parse("-", 2).is_err());
        assert!(parse("1e999999999", 0).is_err());
        assert!(parse("1.2.3", 2).is_err());
    }

    #[test]
    fn scale_applies_to_bytes() {
        assert_eq!(text_of(&[0x04, 0xD2], 2), "12.34");
        assert_eq!(text_of(&[0xFB, 0x2E], 2), "-12.34");
        assert_eq!(text_of(&[0x05], 3), "0.005");
        assert_eq!(text_of(&[0x00], 2), "0.00");
    }

    #[test]
    fn rejects_empty_and_oversized_bytes() {
        assert!(from_twos_complement(&[]).is_err());
        assert!(from_twos_complement(&vec![0x7F; MAX_BYTES + 1]).is_err());
        assert!(parse(&"9".repeat(MAX_DIGITS + 1), 0).is_err());
    }

    #[test]
    fn redundant_sign_bytes_are_accepted() {
        assert_eq!(text_of(&[0x00, 0x00, 0x01], 0), "1");
        assert_eq!(text_of(&[0xFF, 0xFF, 0xFF], 0), "-1");
    }
}
