//! `db_timezone`: the zone a database's zone-less date-times are in.
//!
//! MySQL `DATETIME` and PostgreSQL `timestamp without time zone` hold a wall
//! clock, not an instant. Kafka Connect's `db.timezone` names the zone that
//! wall clock is in (UTC by default): the JDBC source reads such values, and
//! compares them in timestamp mode, as wall times of that zone; the JDBC sink
//! writes a Connect `Timestamp` (an instant) as the wall time of that zone.
//!
//! A zone is `UTC`, a fixed offset (`+02:00`) or an IANA name
//! (`Europe/Paris`, from the `chrono-tz` database, daylight saving time
//! included). A wall time that occurs twice (the hour repeated when clocks go
//! back) is read as the earlier instant, and one that does not occur (the hour
//! skipped when clocks go forward) with the offset before the gap, which moves
//! it forward by the gap's length: both as Java's `ZonedDateTime` does, so
//! Connect and Sluice agree on every value.

use std::fmt;

use chrono::{DateTime, Duration, NaiveDateTime, Offset, TimeZone};
use chrono_tz::Tz;

/// A database's time zone (`db_timezone`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DbZone {
    /// UTC (the default, as in Connect).
    #[default]
    Utc,
    /// A fixed offset, in seconds east of UTC.
    Fixed(i32),
    /// An IANA zone, with its daylight saving time rules.
    Named(Tz),
}

impl DbZone {
    /// Parses `UTC` (also `Z`, `GMT`), a fixed offset `+HH:MM` / `-HH:MM`, or
    /// an IANA zone name (`Europe/Paris`); the error says what is accepted.
    pub fn parse(tz: &str) -> Result<DbZone, String> {
        let t = tz.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" || t.eq_ignore_ascii_case("gmt") {
            return Ok(DbZone::Utc);
        }
        let err = || {
            format!(
                "\"{tz}\" is not a time zone: use an IANA name like Europe/Paris, UTC, or an offset like +02:00"
            )
        };
        let (sign, rest) = match t.as_bytes().first() {
            Some(b'+') => (1, &t[1..]),
            Some(b'-') => (-1, &t[1..]),
            _ => return t.parse::<Tz>().map(DbZone::Named).map_err(|_| err()),
        };
        let (h, m) = rest.split_once(':').ok_or_else(err)?;
        let h: i32 = h.parse().map_err(|_| err())?;
        let m: i32 = m.parse().map_err(|_| err())?;
        if h > 14 || m > 59 {
            return Err(err());
        }
        Ok(DbZone::Fixed(sign * (h * 3600 + m * 60)))
    }

    /// The zone's offset from UTC at the instant `utc_micros`, in seconds.
    fn offset_at_utc(self, utc: &NaiveDateTime) -> i32 {
        match self {
            DbZone::Utc => 0,
            DbZone::Fixed(s) => s,
            DbZone::Named(tz) => tz.offset_from_utc_datetime(utc).fix().local_minus_utc(),
        }
    }

    /// The instant `utc_micros` (µs since the epoch) as this zone's wall
    /// time, counted in µs as if that wall time were UTC.
    pub fn to_local_micros(self, utc_micros: i64) -> i64 {
        let offset = match self {
            DbZone::Utc => return utc_micros,
            DbZone::Fixed(s) => s,
            DbZone::Named(_) => match DateTime::from_timestamp_micros(utc_micros) {
                Some(dt) => self.offset_at_utc(&dt.naive_utc()),
                None => 0,
            },
        };
        utc_micros.saturating_add(i64::from(offset) * 1_000_000)
    }

    /// A wall time of this zone (µs, counted as if it were UTC) as the
    /// instant it names, in µs since the epoch (see the module doc for the
    /// repeated and skipped hours).
    pub fn to_utc_micros(self, local_micros: i64) -> i64 {
        let offset = match self {
            DbZone::Utc => return local_micros,
            DbZone::Fixed(s) => s,
            DbZone::Named(tz) => match DateTime::from_timestamp_micros(local_micros) {
                Some(dt) => {
                    let local = dt.naive_utc();
                    match tz.offset_from_local_datetime(&local).earliest() {
                        Some(o) => o.fix().local_minus_utc(),
                        // In a gap: the offset in force before it (no zone
                        // changes its offset twice within a day).
                        None => self.offset_at_utc(&(local - Duration::days(1))),
                    }
                }
                None => 0,
            },
        };
        local_micros.saturating_sub(i64::from(offset) * 1_000_000)
    }
}

impl fmt::Display for DbZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbZone::Utc => f.write_str("UTC"),
            DbZone::Fixed(s) => {
                let sign = if *s < 0 { '-' } else { '+' };
                let a = s.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
            }
            DbZone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// µs since the epoch of a UTC wall time.
    fn micros(s: &str) -> i64 {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S")
            .expect("test time")
            .and_utc()
            .timestamp_micros()
    }

    #[test]
    fn parses_utc_offsets_and_iana_names() {
        assert_eq!(DbZone::parse("UTC"), Ok(DbZone::Utc));
        assert_eq!(DbZone::parse("Z"), Ok(DbZone::Utc));
        assert_eq!(DbZone::parse("+02:00"), Ok(DbZone::Fixed(7200)));
        assert_eq!(
            DbZone::parse("-05:30"),
            Ok(DbZone::Fixed(-(5 * 3600 + 1800)))
        );
        assert_eq!(
            DbZone::parse("Europe/Paris"),
            Ok(DbZone::Named(chrono_tz::Europe::Paris))
        );
        assert_eq!(
            DbZone::parse("America/New_York").map(|z| z.to_string()),
            Ok("America/New_York".to_string())
        );
        let err = DbZone::parse("Mars/Olympus").expect_err("unknown zone");
        assert!(err.contains("Mars/Olympus"), "{err}");
        assert!(DbZone::parse("+25:00").is_err());
    }

    #[test]
    fn iana_zones_follow_daylight_saving_time() {
        let paris = DbZone::parse("Europe/Paris").expect("zone");
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            paris.to_local_micros(micros("2024-01-15 12:00:00")),
            micros("2024-01-15 13:00:00")
        );
        assert_eq!(
            paris.to_local_micros(micros("2024-07-15 12:00:00")),
            micros("2024-07-15 14:00:00")
        );
        assert_eq!(
            paris.to_utc_micros(micros("2024-07-15 14:00:00")),
            micros("2024-07-15 12:00:00")
        );
        assert_eq!(
            paris.to_utc_micros(micros("2024-01-15 13:00:00")),
            micros("2024-01-15 12:00:00")
        );
    }

    #[test]
    fn repeated_and_skipped_wall_times_resolve_as_java_does() {
        let paris = DbZone::parse("Europe/Paris").expect("zone");
        // 2024-10-27 02:30 happens twice (+02:00 then +01:00): the earlier.
        assert_eq!(
            paris.to_utc_micros(micros("2024-10-27 02:30:00")),
            micros("2024-10-27 00:30:00")
        );
        // 2024-03-31 02:30 does not exist: read with +01:00 (= 03:30 +02:00).
        assert_eq!(
            paris.to_utc_micros(micros("2024-03-31 02:30:00")),
            micros("2024-03-31 01:30:00")
        );
    }

    #[test]
    fn fixed_offsets_and_utc_round_trip() {
        for zone in [DbZone::Utc, DbZone::Fixed(-(5 * 3600 + 1800))] {
            let t = micros("2024-05-01 08:00:00") + 123;
            assert_eq!(zone.to_utc_micros(zone.to_local_micros(t)), t);
        }
        assert_eq!(DbZone::Fixed(-19800).to_string(), "-05:30");
    }
}
