//! MySQL's binary JSON (a `JSON` column in the binlog) as the text MySQL
//! itself prints for it, so a streamed row carries the same string as the
//! snapshot's `SELECT` (and the poll source) for the same value.
//!
//! MySQL's form: members in stored order (MySQL sorts keys by length, then
//! bytes), `", "` between items and `": "` after keys; strings escaped as JSON
//! requires; doubles in `my_gcvt` style (shortest digits; fixed notation
//! while the decimal exponent lies in -15 < e <= 15, else `1.5e-20`; an
//! integral fixed value gets `.0`); DECIMAL values as their exact digits; DATE,
//! TIME and DATETIME values as quoted `YYYY-MM-DD`, `[-]HH:MM:SS.ffffff` and
//! `YYYY-MM-DD HH:MM:SS.ffffff`. Other opaque values are written as MySQL's
//! `"base64:type<n>:<data>"`.

use std::fmt::Write as _;
use std::io;

use base64::Engine as _;

use mysql_async::binlog::jsonb::{
    ComplexType, ComplexValue, JsonDom, JsonNumber, JsonScalar, StorageFormat, Value as Jsonb,
};

/// How binary JSON is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonStyle {
    /// As MySQL prints it (the snapshot's `SELECT` gives the same text).
    Mysql,
    /// As Debezium's MySQL connector prints a streamed value (the binlog
    /// client's `JsonStringFormatter`): no spaces after `,` and `:`;
    /// doubles as Java's `Double.toString`, or their exact decimal expansion
    /// where that would use an exponent; strings escaped as Jackson does
    /// (`\u00XX`, upper-case); DATE / TIME / DATETIME without trailing
    /// fraction zeros; other opaque values as base64.
    Debezium,
}

/// Renders binary JSON as MySQL prints it.
pub fn mysql_json_text(v: &Jsonb<'_>) -> io::Result<String> {
    json_text(v, JsonStyle::Mysql)
}

/// Renders binary JSON in `style`.
pub fn json_text(v: &Jsonb<'_>, style: JsonStyle) -> io::Result<String> {
    let mut out = String::new();
    write_value(&mut out, v, style)?;
    Ok(out)
}

fn write_value(out: &mut String, v: &Jsonb<'_>, style: JsonStyle) -> io::Result<()> {
    let dbz = style == JsonStyle::Debezium;
    match v {
        Jsonb::Null => out.push_str("null"),
        Jsonb::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Jsonb::I16(x) => push(out, x),
        Jsonb::U16(x) => push(out, x),
        Jsonb::I32(x) => push(out, x),
        Jsonb::U32(x) => push(out, x),
        Jsonb::I64(x) => push(out, x),
        Jsonb::U64(x) => push(out, x),
        Jsonb::F64(x) if dbz => out.push_str(&java_double(*x)),
        Jsonb::F64(x) => out.push_str(&mysql_double(*x)),
        Jsonb::String(s) => write_str(out, &utf8(s.str_raw())?, style),
        Jsonb::SmallArray(a) => write_array(out, a, style)?,
        Jsonb::LargeArray(a) => write_array(out, a, style)?,
        Jsonb::SmallObject(o) => write_object(out, o, style)?,
        Jsonb::LargeObject(o) => write_object(out, o, style)?,
        Jsonb::Opaque(o) => match v.clone().parse()? {
            JsonDom::Scalar(JsonScalar::Number(JsonNumber::Decimal(d))) => push(out, d),
            JsonDom::Scalar(JsonScalar::DateTime(t)) if dbz => {
                out.push('"');
                out.push_str(&java_time(&t));
                out.push('"');
            }
            JsonDom::Scalar(JsonScalar::DateTime(t)) => write_str(out, &format!("{t:.6}"), style),
            JsonDom::Scalar(JsonScalar::Opaque(_)) if dbz => {
                out.push('"');
                base64::engine::general_purpose::STANDARD.encode_string(o.data_raw(), out);
                out.push('"');
            }
            JsonDom::Scalar(JsonScalar::Opaque(o)) => write_str(out, &o.to_string(), style),
            other => {
                let json = serde_json::Value::from(other);
                out.push_str(&json.to_string());
            }
        },
    }
    Ok(())
}

fn push(out: &mut String, x: impl std::fmt::Display) {
    // Writing into a String cannot fail.
    let _ = write!(out, "{x}");
}

fn utf8(b: &[u8]) -> io::Result<String> {
    String::from_utf8(b.to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "JSON string is not UTF-8"))
}

fn write_str(out: &mut String, s: &str, style: JsonStyle) {
    match style {
        // serde_json escapes exactly what JSON requires, as MySQL does.
        JsonStyle::Mysql => out.push_str(&serde_json::Value::from(s).to_string()),
        // The binlog client's formatter escapes as Jackson does.
        JsonStyle::Debezium => crate::connect::json_text::write_str(out, s),
    }
}

/// A double as Java's `Double.toString`, or, where that has an exponent
/// (magnitudes outside [1e-3, 1e7)), as `new BigDecimal(x).toPlainString()`:
/// the double's exact decimal expansion.
pub fn java_double(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    let mut java = String::new();
    crate::connect::json_text::write_f64(&mut java, x);
    if !java.contains('E') {
        return java;
    }
    // A double has at most 1074 fraction digits, binary and so decimal.
    let mut s = format!("{x:.1074}");
    while s.ends_with('0') {
        s.pop();
    }
    if s.ends_with('.') {
        s.pop();
    }
    s
}

/// A JSON DATE / TIME / DATETIME as the binlog client's formatter writes
/// it: fraction digits only when non-zero, trailing zeros dropped.
fn java_time(t: &mysql_common::binlog::time::MysqlTime) -> String {
    use mysql_common::binlog::time::MysqlTimestampType as T;
    let mut out = String::new();
    let frac = |out: &mut String| {
        if t.second_part != 0 {
            let digits = format!("{:06}", t.second_part);
            out.push('.');
            out.push_str(digits.trim_end_matches('0'));
        }
    };
    match t.time_type {
        T::MYSQL_TIMESTAMP_DATE => {
            let _ = write!(out, "{:04}-{:02}-{:02}", t.year, t.month, t.day);
        }
        T::MYSQL_TIMESTAMP_TIME => {
            if t.neg {
                out.push('-');
            }
            let _ = write!(out, "{:02}:{:02}:{:02}", t.hour, t.minute, t.second);
            frac(&mut out);
        }
        _ => {
            let _ = write!(
                out,
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year, t.month, t.day, t.hour, t.minute, t.second
            );
            frac(&mut out);
        }
    }
    out
}

fn write_array<T: StorageFormat, U: ComplexType>(
    out: &mut String,
    a: &ComplexValue<'_, T, U>,
    style: JsonStyle,
) -> io::Result<()> {
    out.push('[');
    for k in 0..a.element_count() {
        if k > 0 {
            out.push_str(separator(style));
        }
        let item = a
            .elem_at(k)?
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "JSON array too short"))?;
        write_value(out, &item, style)?;
    }
    out.push(']');
    Ok(())
}

/// Between items.
fn separator(style: JsonStyle) -> &'static str {
    match style {
        JsonStyle::Mysql => ", ",
        JsonStyle::Debezium => ",",
    }
}

fn write_object<T: StorageFormat>(
    out: &mut String,
    o: &ComplexValue<'_, T, mysql_async::binlog::jsonb::Object>,
    style: JsonStyle,
) -> io::Result<()> {
    out.push('{');
    for (k, entry) in o.iter().enumerate() {
        let (key, value) = entry?;
        if k > 0 {
            out.push_str(separator(style));
        }
        write_str(out, &utf8(key.value_raw())?, style);
        out.push_str(match style {
            JsonStyle::Mysql => ": ",
            JsonStyle::Debezium => ":",
        });
        write_value(out, &value, style)?;
    }
    out.push('}');
    Ok(())
}

/// A double as MySQL's JSON prints it (`my_gcvt`, then `.0` for integral values).
pub fn mysql_double(x: f64) -> String {
    if !x.is_finite() {
        return "null".into();
    }
    // Shortest round-trip digits and exponent, e.g. "1.2345e-7".
    let e = format!("{:e}", x.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let len = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let decpt = exp + 1; // digits are 0.d1d2… × 10^decpt
    let mut out = String::new();
    if x.is_sign_negative() {
        out.push('-');
    }
    if decpt > -15 && decpt <= 15 {
        if decpt <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', decpt.unsigned_abs() as usize));
            out.push_str(&digits);
        } else if decpt < len {
            let (int, frac) = digits.split_at(decpt as usize);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', (decpt - len) as usize));
            out.push_str(".0");
        }
    } else {
        let (first, rest) = digits.split_at(1);
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(out, "e{}", decpt - 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_mysql_prints_them() {
        // Each pair measured on MySQL 9.7 (`SELECT CAST('[...]' AS JSON)`).
        for (x, want) in [
            (1.0, "1.0"),
            (2.5, "2.5"),
            (1e300, "1e300"),
            (0.1, "0.1"),
            (1e-7, "0.0000001"),
            (-0.0, "-0.0"),
            (1e20, "1e20"),
            (3e15, "3e15"),
            (1e14, "100000000000000.0"),
            (1.23456e15, "1.23456e15"),
            (1e-15, "0.000000000000001"),
            (1.5e-20, "1.5e-20"),
            (1.2345678901234567e-5, "0.000012345678901234568"),
            (12345.678, "12345.678"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e308"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (9007199254740993.0, "9.007199254740992e15"),
            (100.0, "100.0"),
            (-1.5, "-1.5"),
        ] {
            assert_eq!(mysql_double(x), want, "{x:e}");
        }
    }

    #[test]
    fn containers_use_mysql_spacing_and_order() {
        let arr = Jsonb::I64(-9_223_372_036_854_775_808);
        assert_eq!(mysql_json_text(&arr).expect("text"), "-9223372036854775808");
        let s = Jsonb::String(mysql_async::binlog::jsonb::JsonbString::new(
            "é😀\"\\\n".as_bytes().to_vec(),
        ));
        assert_eq!(mysql_json_text(&s).expect("text"), "\"é😀\\\"\\\\\\n\"");
    }

    #[test]
    fn doubles_print_as_debeziums_binlog_client_prints_them() {
        // Java's Double.toString inside [1e-3, 1e7), else BigDecimal's exact
        // plain text (values measured from Debezium 3.6.1 on MySQL 9.7).
        for (x, want) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (1234567.5, "1234567.5"),
            (3e15, "3000000000000000"),
            (1e7, "10000000"),
            (
                1e-7,
                "0.0000000999999999999999954748111825886258685613938723690807819366455078125",
            ),
            (
                1.5e-20,
                "0.0000000000000000000150000000000000014342482253919355900759167070085225881184536056434097872624988667666912078857421875",
            ),
        ] {
            assert_eq!(java_double(x), want, "{x:e}");
        }
    }

    #[test]
    fn debezium_style_is_compact_and_escapes_as_jackson() {
        let s = Jsonb::String(mysql_async::binlog::jsonb::JsonbString::new(
            "é\u{1}\"\n".as_bytes().to_vec(),
        ));
        assert_eq!(
            json_text(&s, JsonStyle::Debezium).expect("text"),
            "\"é\\u0001\\\"\\n\""
        );
        assert_eq!(
            json_text(&s, JsonStyle::Mysql).expect("text"),
            "\"é\\u0001\\\"\\n\""
        );
        assert_eq!(separator(JsonStyle::Debezium), ",");
        assert_eq!(separator(JsonStyle::Mysql), ", ");
    }
}
