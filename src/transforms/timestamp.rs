//! Connect's `TimestampConverter` (`$Key` / `$Value`): one field (or the
//! whole key/value) between `Timestamp`, `Date`, `Time`, `unix` (int64 at
//! `unix.precision`) and `string` (Java `SimpleDateFormat` patterns, UTC).
//!
//! As in Connect: the input type comes from the schema (a logical name, an
//! int64 is unix, a string is parsed with `format`); values go through epoch
//! millis, so micro- and nanosecond inputs are truncated toward zero; `Date`
//! keeps the day (floored), `Time` the millis of the day; parsing is lenient
//! (`2024-02-30` is 1 March). Patterns use the letters `y M d H h k m s S a
//! E Z X` and quoted text; another letter is a config error naming it.

use chrono::{DateTime, Datelike, NaiveDate, Timelike};
use serde_json::{Map, Value as Json};

use super::record::Data;
use super::unwrap::{copy_basics, value_or_default};
use super::{Props, Record, Side, TransformError};
use crate::connect::schema_json::{ConnectSchema, SchemaType};

const TIMESTAMP: &str = "org.apache.kafka.connect.data.Timestamp";
const DATE: &str = "org.apache.kafka.connect.data.Date";
const TIME: &str = "org.apache.kafka.connect.data.Time";
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Unix,
    Date,
    Time,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Precision {
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// The configured transform.
#[derive(Debug)]
pub(crate) struct TimestampConverter {
    pub(crate) side: Side,
    field: Option<String>,
    target: Kind,
    format: Option<Vec<Token>>,
    precision: Precision,
    with_defaults: bool,
}

impl TimestampConverter {
    pub(crate) fn configure(p: &mut Props<'_>, side: Side) -> Result<Self, TransformError> {
        let field = p.take("field").filter(|f| !f.trim().is_empty());
        let target = match p.required("target.type")?.trim() {
            "string" => Kind::String,
            "unix" => Kind::Unix,
            "Date" => Kind::Date,
            "Time" => Kind::Time,
            "Timestamp" => Kind::Timestamp,
            other => {
                return Err(p.invalid(
                    "target.type",
                    format!("`{other}` is not one of string, unix, Date, Time, Timestamp"),
                ))
            }
        };
        let format = match p.take("format").filter(|f| !f.trim().is_empty()) {
            Some(f) => Some(tokens(&f).map_err(|e| p.invalid("format", format!("`{f}`: {e}")))?),
            None if target == Kind::String => {
                return Err(p.invalid(
                    "format",
                    "is required when target.type is string (a SimpleDateFormat pattern)".into(),
                ))
            }
            None => None,
        };
        let precision = match p.take("unix.precision").as_deref().map(str::trim) {
            None | Some("milliseconds") => Precision::Millis,
            Some("seconds") => Precision::Seconds,
            Some("microseconds") => Precision::Micros,
            Some("nanoseconds") => Precision::Nanos,
            Some(other) => {
                return Err(p.invalid(
                    "unix.precision",
                    format!(
                        "`{other}` is not one of seconds, milliseconds, microseconds, nanoseconds"
                    ),
                ))
            }
        };
        Ok(TimestampConverter {
            side,
            field,
            target,
            format,
            precision,
            with_defaults: p.bool("replace.null.with.default", true)?,
        })
    }

    fn target_schema(&self, optional: bool) -> ConnectSchema {
        match self.target {
            Kind::String => ConnectSchema::new(SchemaType::String, optional),
            Kind::Unix => ConnectSchema::new(SchemaType::Int64, optional),
            Kind::Date => ConnectSchema::new(SchemaType::Int32, optional).named(DATE, Some(1)),
            Kind::Time => ConnectSchema::new(SchemaType::Int32, optional).named(TIME, Some(1)),
            Kind::Timestamp => {
                ConnectSchema::new(SchemaType::Int64, optional).named(TIMESTAMP, Some(1))
            }
        }
    }

    pub(crate) fn apply(&self, mut r: Record) -> Result<Option<Record>, TransformError> {
        let slot = Side::of(&mut r, self.side);
        let Some(data) = slot.as_ref() else {
            return Ok(Some(r));
        };
        let new = match (&self.field, &data.schema) {
            (None, Some(schema)) => Data {
                schema: Some(self.target_schema(schema.optional)),
                value: self.convert(&data.value, input_kind(Some(schema), &data.value)?)?,
            },
            (None, None) => Data {
                schema: None,
                value: self.convert(&data.value, input_kind(None, &data.value)?)?,
            },
            (Some(field), Some(schema)) => {
                if data.value.is_null() {
                    return Ok(Some(r));
                }
                let Some(row) = data
                    .value
                    .as_object()
                    .filter(|_| schema.ty == SchemaType::Struct)
                else {
                    return Err(TransformError::Record {
                        reason: format!(
                            "converting field `{field}` needs a struct, found {}",
                            schema.describe()
                        ),
                    });
                };
                let mut s = copy_basics(schema);
                let mut out = Map::new();
                for (name, fs) in &schema.fields {
                    let v = row.get(name).cloned().unwrap_or(Json::Null);
                    let v = value_or_default(v, fs, self.with_defaults);
                    if name == field {
                        s.fields
                            .push((name.clone(), self.target_schema(fs.optional)));
                        out.insert(name.clone(), self.convert(&v, input_kind(Some(fs), &v)?)?);
                    } else {
                        s.fields.push((name.clone(), fs.clone()));
                        out.insert(name.clone(), v);
                    }
                }
                Data {
                    schema: Some(s),
                    value: Json::Object(out),
                }
            }
            (Some(field), None) => {
                let Some(row) = data.value.as_object() else {
                    return Ok(Some(r));
                };
                let mut out = row.clone();
                if let Some(v) = row.get(field) {
                    out.insert(field.clone(), self.convert(v, input_kind(None, v)?)?);
                }
                Data {
                    schema: None,
                    value: Json::Object(out),
                }
            }
        };
        *slot = Some(new);
        Ok(Some(r))
    }

    /// Converts one value of kind `from` to the target (null stays null).
    fn convert(&self, v: &Json, from: Kind) -> Result<Json, TransformError> {
        if v.is_null() {
            return Ok(Json::Null);
        }
        let bad = |what: &str| TransformError::Record {
            reason: format!("timestamp value {v} is not {what}"),
        };
        let ms = match from {
            Kind::Timestamp | Kind::Time => v.as_i64().ok_or_else(|| bad("an integer"))?,
            Kind::Date => v
                .as_i64()
                .ok_or_else(|| bad("an integer"))?
                .checked_mul(DAY_MS)
                .ok_or_else(|| bad("a date in range"))?,
            Kind::Unix => {
                let n = v.as_i64().ok_or_else(|| bad("an integer"))?;
                match self.precision {
                    Precision::Seconds => n.checked_mul(1000).ok_or_else(|| bad("in range"))?,
                    Precision::Millis => n,
                    Precision::Micros => n / 1000,
                    Precision::Nanos => n / 1_000_000,
                }
            }
            Kind::String => {
                let text = v.as_str().ok_or_else(|| bad("a string"))?;
                let Some(format) = &self.format else {
                    return Err(TransformError::Record {
                        reason: "a string timestamp needs the format setting".into(),
                    });
                };
                parse(format, text).ok_or_else(|| TransformError::Record {
                    reason: format!("could not parse timestamp `{text}` with the format setting"),
                })?
            }
        };
        Ok(match self.target {
            Kind::Timestamp => Json::Number(ms.into()),
            Kind::Date => Json::Number(ms.div_euclid(DAY_MS).into()),
            Kind::Time => Json::Number(ms.rem_euclid(DAY_MS).into()),
            Kind::Unix => Json::Number(
                match self.precision {
                    Precision::Seconds => ms / 1000,
                    Precision::Millis => ms,
                    Precision::Micros => ms.checked_mul(1000).ok_or_else(|| bad("in range"))?,
                    Precision::Nanos => ms.checked_mul(1_000_000).ok_or_else(|| bad("in range"))?,
                }
                .into(),
            ),
            Kind::String => {
                let format = self.format.as_deref().unwrap_or_default();
                Json::String(format_ms(format, ms).ok_or_else(|| bad("a representable time"))?)
            }
        })
    }
}

/// The input kind from the schema (Connect's `timestampTypeFromSchema`),
/// or from the JSON value when there is none.
fn input_kind(schema: Option<&ConnectSchema>, v: &Json) -> Result<Kind, TransformError> {
    let Some(s) = schema else {
        return match v {
            Json::String(_) => Ok(Kind::String),
            Json::Number(_) => Ok(Kind::Unix),
            _ => Err(TransformError::Record {
                reason: format!("{v} is not a timestamp (a number or a string)"),
            }),
        };
    };
    match (s.name.as_deref(), s.ty) {
        (Some(TIMESTAMP), _) => Ok(Kind::Timestamp),
        (Some(DATE), _) => Ok(Kind::Date),
        (Some(TIME), _) => Ok(Kind::Time),
        (_, SchemaType::String) => Ok(Kind::String),
        (_, SchemaType::Int64) => Ok(Kind::Unix),
        _ => Err(TransformError::Record {
            reason: format!(
                "schema {} does not correspond to a known timestamp type format",
                s.describe()
            ),
        }),
    }
}

/// One piece of a `SimpleDateFormat` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// A pattern letter and how often it repeats.
    Field(char, usize),
}

fn tokens(pattern: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                out.push(Token::Literal("'".into()));
                i += 2;
                continue;
            }
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("unterminated quote".into()),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Token::Literal(text));
        } else if c.is_ascii_alphabetic() {
            if !"yMdHhkmsSaEZX".contains(c) {
                return Err(format!("pattern letter `{c}` is not supported"));
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            out.push(Token::Field(c, n));
            i += n;
        } else {
            out.push(Token::Literal(c.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn pad(out: &mut String, n: i64, width: usize) {
    if n < 0 {
        out.push('-');
    }
    let digits = n.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Formats epoch millis (UTC) with `format`.
fn format_ms(format: &[Token], ms: i64) -> Option<String> {
    let t = DateTime::from_timestamp_millis(ms)?.naive_utc();
    let mut out = String::new();
    for tok in format {
        match tok {
            Token::Literal(s) => out.push_str(s),
            Token::Field(c, n) => {
                let n = *n;
                match c {
                    'y' if n == 2 => pad(&mut out, i64::from(t.year().rem_euclid(100)), 2),
                    'y' => pad(&mut out, i64::from(t.year()), n),
                    'M' if n >= 4 => out.push_str(MONTHS[t.month0() as usize]),
                    'M' if n == 3 => out.push_str(&MONTHS[t.month0() as usize][..3]),
                    'M' => pad(&mut out, i64::from(t.month()), n),
                    'd' => pad(&mut out, i64::from(t.day()), n),
                    'H' => pad(&mut out, i64::from(t.hour()), n),
                    'k' => pad(
                        &mut out,
                        i64::from(if t.hour() == 0 { 24 } else { t.hour() }),
                        n,
                    ),
                    'h' => {
                        let h = t.hour() % 12;
                        pad(&mut out, i64::from(if h == 0 { 12 } else { h }), n)
                    }
                    'm' => pad(&mut out, i64::from(t.minute()), n),
                    's' => pad(&mut out, i64::from(t.second()), n),
                    'S' => pad(&mut out, i64::from(t.nanosecond() / 1_000_000), n),
                    'a' => out.push_str(if t.hour() < 12 { "AM" } else { "PM" }),
                    'E' => {
                        let day = DAYS[t.weekday().num_days_from_monday() as usize];
                        out.push_str(if n >= 4 { day } else { &day[..3] });
                    }
                    'Z' => out.push_str("+0000"),
                    _ => out.push('Z'), // 'X': ISO 8601 zone, UTC
                }
            }
        }
    }
    Some(out)
}

/// Parses `text` with `format` as a lenient `SimpleDateFormat` in UTC:
/// fields out of range roll over. `None` when the text does not match.
fn parse(format: &[Token], text: &str) -> Option<i64> {
    let s: Vec<char> = text.chars().collect();
    let mut i = 0;
    let (mut year, mut month, mut day) = (1970_i64, 1_i64, 1_i64);
    let (mut hour, mut minute, mut second, mut milli) = (0_i64, 0_i64, 0_i64, 0_i64);
    let mut pm: Option<bool> = None;
    let mut hour12 = false;
    let mut offset_min = 0_i64;
    for (k, tok) in format.iter().enumerate() {
        match tok {
            Token::Literal(l) => {
                for c in l.chars() {
                    if s.get(i) != Some(&c) {
                        return None;
                    }
                    i += 1;
                }
            }
            Token::Field(c, n) => {
                let abutting = matches!(format.get(k + 1),
                    Some(Token::Field(nc, nn)) if "ydHkhmsS".contains(*nc) || (*nc == 'M' && *nn < 3));
                let number = |i: &mut usize| -> Option<i64> {
                    let start = *i;
                    let neg = s.get(*i) == Some(&'-');
                    if neg {
                        *i += 1;
                    }
                    let digits_start = *i;
                    while *i < s.len()
                        && s[*i].is_ascii_digit()
                        && (!abutting || *i - digits_start < *n)
                    {
                        *i += 1;
                    }
                    if *i == digits_start {
                        *i = start;
                        return None;
                    }
                    let v: i64 = s[digits_start..*i]
                        .iter()
                        .collect::<String>()
                        .parse()
                        .ok()?;
                    Some(if neg { -v } else { v })
                };
                match c {
                    'y' => {
                        let start = i;
                        let v = number(&mut i)?;
                        year = if *n <= 2 && i - start == 2 {
                            two_digit_year(v)
                        } else {
                            v
                        };
                    }
                    'M' if *n >= 3 => {
                        let (idx, len) = name_at(&s[i..], &MONTHS)?;
                        month = idx as i64 + 1;
                        i += len;
                    }
                    'M' => month = number(&mut i)?,
                    'd' => day = number(&mut i)?,
                    'H' => hour = number(&mut i)?,
                    'k' => hour = number(&mut i)? % 24,
                    'h' => {
                        hour = number(&mut i)? % 12;
                        hour12 = true;
                    }
                    'm' => minute = number(&mut i)?,
                    's' => second = number(&mut i)?,
                    'S' => milli = number(&mut i)?,
                    'a' => {
                        let rest: String = s[i..]
                            .iter()
                            .take(2)
                            .collect::<String>()
                            .to_ascii_uppercase();
                        pm = Some(match rest.as_str() {
                            "AM" => false,
                            "PM" => true,
                            _ => return None,
                        });
                        i += 2;
                    }
                    'E' => {
                        let (_, len) = name_at(&s[i..], &DAYS)?;
                        i += len;
                    }
                    _ => {
                        // 'Z' / 'X': Z, or ±hh[[:]mm]
                        if s.get(i) == Some(&'Z') {
                            i += 1;
                            continue;
                        }
                        let sign = match s.get(i) {
                            Some('+') => 1,
                            Some('-') => -1,
                            _ => return None,
                        };
                        i += 1;
                        let digit = |j: usize| s.get(j).and_then(|c| c.to_digit(10)).map(i64::from);
                        let h = digit(i)? * 10 + digit(i + 1)?;
                        i += 2;
                        if s.get(i) == Some(&':') {
                            i += 1;
                        }
                        let m = match (digit(i), digit(i + 1)) {
                            (Some(a), Some(b)) => {
                                i += 2;
                                a * 10 + b
                            }
                            _ => 0,
                        };
                        offset_min = sign * (h * 60 + m);
                    }
                }
            }
        }
    }
    if pm == Some(true) && (hour12 || hour < 12) {
        hour += 12;
    }
    // Lenient: months roll into years, days, hours… into the next unit.
    let y = year + (month - 1).div_euclid(12);
    let m = (month - 1).rem_euclid(12) + 1;
    let first = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, u32::try_from(m).ok()?, 1)?;
    let days = i64::from(first.num_days_from_ce()) - 719_163 + (day - 1);
    let ms = days
        .checked_mul(DAY_MS)?
        .checked_add(hour * 3_600_000 + minute * 60_000 + second * 1000 + milli)?;
    ms.checked_sub(offset_min * 60_000)
}

/// A month or day name (full or its first three letters, any case) at the
/// start of `s`: (index, characters taken).
fn name_at(s: &[char], names: &[&str]) -> Option<(usize, usize)> {
    let lower: String = s.iter().take(9).collect::<String>().to_ascii_lowercase();
    for (idx, name) in names.iter().enumerate() {
        let full = name.to_ascii_lowercase();
        if lower.starts_with(&full) {
            return Some((idx, full.chars().count()));
        }
    }
    for (idx, name) in names.iter().enumerate() {
        if lower.starts_with(&name[..3].to_ascii_lowercase()) {
            return Some((idx, 3));
        }
    }
    None
}

/// `SimpleDateFormat`'s two-digit year: within 80 years before and 20
/// after now.
fn two_digit_year(v: i64) -> i64 {
    let now = i64::from(chrono::Utc::now().year());
    let start = now - 80;
    let mut y = (start / 100) * 100 + v;
    if y < start {
        y += 100;
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_like_simple_date_format_in_utc() {
        let f = tokens("yyyy-MM-dd HH:mm:ss.SSS XXX EEE MMM a").expect("test value");
        assert_eq!(
            format_ms(&f, -86_399_999).expect("test value"),
            "1969-12-31 00:00:00.001 Z Wed Dec AM"
        );
        let p = tokens("yyyy-MM-dd HH:mm:ss.SSS").expect("test value");
        // Lenient: 30 February and 25:61 roll over.
        assert_eq!(
            parse(&p, "2024-02-30 25:61:07.123"),
            Some(1_709_344_867_123)
        );
        assert_eq!(parse(&p, "2024-02-30"), None);
        let q = tokens("yyyyMMdd'T'HHmmssZ").expect("test value");
        assert_eq!(parse(&q, "20240101T010000+0100"), Some(1_704_067_200_000));
        assert!(tokens("yyyy-MM-dd G").expect_err("fails").contains("`G`"));
        assert!(tokens("'open").is_err());
    }
}
