//! GTID state, typed per server family.
//!
//! MariaDB numbers transactions `domain-server-seq` and a replica's state is
//! the last GTID applied per domain ([`MariaGtidList`], the text of
//! `@@gtid_binlog_pos` and `@slave_connect_state`). MySQL keeps the set of
//! executed transactions as `uuid[:tag]:intervals` ([`MysqlGtidSet`], the text
//! of `@@gtid_executed`). Both are stored with the source position and used to
//! resume.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A GTID text that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("GTID \"{text}\": {reason}")]
pub struct GtidParseError {
    /// The text.
    pub text: String,
    /// Why.
    pub reason: &'static str,
}

fn bad(text: &str, reason: &'static str) -> GtidParseError {
    GtidParseError {
        text: text.to_string(),
        reason,
    }
}

/// One MariaDB GTID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MariaGtid {
    /// Replication domain.
    pub domain: u32,
    /// Originating server id.
    pub server: u32,
    /// Sequence number.
    pub seq: u64,
}

impl fmt::Display for MariaGtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

impl FromStr for MariaGtid {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut it = s.trim().splitn(3, '-');
        let mut num = || it.next().and_then(|p| p.parse::<u64>().ok());
        let (Some(d), Some(sv), Some(seq)) = (num(), num(), num()) else {
            return Err(bad(s, "expected domain-server-sequence"));
        };
        Ok(MariaGtid {
            domain: u32::try_from(d).map_err(|_| bad(s, "domain out of range"))?,
            server: u32::try_from(sv).map_err(|_| bad(s, "server id out of range"))?,
            seq,
        })
    }
}

/// MariaDB replication state: the last GTID per domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MariaGtidList {
    by_domain: BTreeMap<u32, MariaGtid>,
}

impl MariaGtidList {
    /// Records `gtid` as the last applied of its domain.
    pub fn apply(&mut self, gtid: MariaGtid) {
        self.by_domain.insert(gtid.domain, gtid);
    }

    /// True when no domain has a GTID.
    pub fn is_empty(&self) -> bool {
        self.by_domain.is_empty()
    }

    /// The last GTID of `domain`, if any.
    pub fn get(&self, domain: u32) -> Option<MariaGtid> {
        self.by_domain.get(&domain).copied()
    }

    /// The last GTID of each domain, by domain.
    pub fn iter(&self) -> impl Iterator<Item = MariaGtid> + '_ {
        self.by_domain.values().copied()
    }
}

impl fmt::Display for MariaGtidList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.by_domain.values().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl FromStr for MariaGtidList {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut list = MariaGtidList::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            list.apply(part.parse()?);
        }
        Ok(list)
    }
}

/// A MySQL GTID set: per source (`uuid` or `uuid:tag`), sorted disjoint
/// closed intervals of transaction numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MysqlGtidSet {
    sets: BTreeMap<String, Vec<(u64, u64)>>,
}

impl MysqlGtidSet {
    /// Adds transaction `gno` of `source` (`uuid` or `uuid:tag`, lowercase).
    pub fn add(&mut self, source: &str, gno: u64) {
        let ivs = self.sets.entry(source.to_ascii_lowercase()).or_default();
        let i = ivs.partition_point(|&(_, end)| end.saturating_add(1) < gno);
        if i < ivs.len() && ivs[i].0 <= gno.saturating_add(1) {
            ivs[i].0 = ivs[i].0.min(gno);
            ivs[i].1 = ivs[i].1.max(gno);
            // Merge with the next interval when they now touch.
            if i + 1 < ivs.len() && ivs[i + 1].0 <= ivs[i].1.saturating_add(1) {
                ivs[i].1 = ivs[i].1.max(ivs[i + 1].1);
                ivs.remove(i + 1);
            }
        } else {
            ivs.insert(i, (gno, gno));
        }
    }

    /// True when `gno` of `source` is in the set.
    pub fn contains(&self, source: &str, gno: u64) -> bool {
        self.sets
            .get(&source.to_ascii_lowercase())
            .is_some_and(|ivs| ivs.iter().any(|&(a, b)| a <= gno && gno <= b))
    }

    /// True when every transaction of `other` is in `self`.
    pub fn contains_set(&self, other: &MysqlGtidSet) -> bool {
        other.sets.iter().all(|(src, ivs)| {
            let mine = self.sets.get(src).map(Vec::as_slice).unwrap_or(&[]);
            ivs.iter()
                .all(|&(a, b)| mine.iter().any(|&(x, y)| x <= a && b <= y))
        })
    }

    /// True when the set is empty.
    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    /// Each source with its intervals, for building a GTID dump request.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[(u64, u64)])> {
        self.sets.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
}

impl fmt::Display for MysqlGtidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (src, ivs)) in self.sets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(src)?;
            for &(a, b) in ivs {
                if a == b {
                    write!(f, ":{a}")?;
                } else {
                    write!(f, ":{a}-{b}")?;
                }
            }
        }
        Ok(())
    }
}

impl FromStr for MysqlGtidSet {
    type Err = GtidParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut set = MysqlGtidSet::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let mut fields = part.split(':');
            let uuid = fields.next().unwrap_or_default();
            if uuid.len() != 36 || uuid.bytes().filter(|&b| b == b'-').count() != 4 {
                return Err(bad(s, "expected uuid:interval[:interval...]"));
            }
            let mut source = uuid.to_ascii_lowercase();
            for f in fields {
                if f.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                    // A tag (MySQL 8.3+): applies to the intervals after it.
                    source = format!("{}:{}", uuid.to_ascii_lowercase(), f.to_ascii_lowercase());
                    continue;
                }
                let (a, b) = match f.split_once('-') {
                    Some((a, b)) => (a.parse::<u64>().ok(), b.parse::<u64>().ok()),
                    None => (f.parse().ok(), f.parse().ok()),
                };
                let (Some(a), Some(b)) = (a, b) else {
                    return Err(bad(s, "interval is not a number range"));
                };
                if a == 0 || b < a {
                    return Err(bad(s, "interval must be 1 or more and ascending"));
                }
                // Large intervals: insert the bounds, then fill by merging.
                let ivs = set.sets.entry(source.clone()).or_default();
                ivs.push((a, b));
                ivs.sort_unstable();
                let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
                for &(x, y) in ivs.iter() {
                    match merged.last_mut() {
                        Some(last) if x <= last.1.saturating_add(1) => last.1 = last.1.max(y),
                        _ => merged.push((x, y)),
                    }
                }
                *ivs = merged;
            }
        }
        Ok(set)
    }
}

/// Decodes MariaDB's GTID event body (type 162): seq u64, domain u32, flags u8.
pub fn decode_maria_gtid(data: &[u8], server_id: u32) -> Option<MariaGtid> {
    let seq = u64::from_le_bytes(data.get(0..8)?.try_into().ok()?);
    let domain = u32::from_le_bytes(data.get(8..12)?.try_into().ok()?);
    Some(MariaGtid {
        domain,
        server: server_id,
        seq,
    })
}

/// MariaDB GTID flag: the transaction is a standalone statement (DDL or a
/// non-transactional write) with no BEGIN/COMMIT around it.
pub const MARIA_FL_STANDALONE: u8 = 1;

/// The flags byte of a MariaDB GTID event.
pub fn maria_gtid_flags(data: &[u8]) -> u8 {
    data.get(12).copied().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maria_list_round_trips_and_keeps_last_per_domain() {
        let mut l: MariaGtidList = "0-1-28,1-2-5".parse().expect("parse");
        l.apply(MariaGtid {
            domain: 0,
            server: 1,
            seq: 29,
        });
        assert_eq!(l.to_string(), "0-1-29,1-2-5");
        assert!("0-1".parse::<MariaGtidList>().is_err());
        assert!(MariaGtidList::from_str("").expect("empty").is_empty());
    }

    #[test]
    fn maria_gtid_event_decodes() {
        let mut data = 42u64.to_le_bytes().to_vec();
        data.extend(3u32.to_le_bytes());
        data.push(MARIA_FL_STANDALONE);
        let g = decode_maria_gtid(&data, 7).expect("decode");
        assert_eq!(g.to_string(), "3-7-42");
        assert_eq!(maria_gtid_flags(&data), MARIA_FL_STANDALONE);
        assert!(decode_maria_gtid(&data[..5], 7).is_none());
    }

    const U: &str = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    #[test]
    fn mysql_set_adds_and_merges_intervals() {
        let mut s = MysqlGtidSet::default();
        for g in [1, 2, 3, 5, 7, 6] {
            s.add(U, g);
        }
        assert_eq!(s.to_string(), format!("{U}:1-3:5-7"));
        s.add(U, 4);
        assert_eq!(s.to_string(), format!("{U}:1-7"));
        assert!(s.contains(U, 4) && !s.contains(U, 8));
    }

    #[test]
    fn mysql_set_parses_multi_source_and_tags() {
        let text = format!("{U}:1-5:7,{}:1-2,{U}:tag_a:1-3", U.replace('3', "4"));
        let s: MysqlGtidSet = text.parse().expect("parse");
        assert!(s.contains(U, 7) && !s.contains(U, 6));
        assert!(s.contains(&format!("{U}:tag_a"), 3));
        let older: MysqlGtidSet = format!("{U}:1-4").parse().expect("parse");
        assert!(s.contains_set(&older));
        assert!(!older.contains_set(&s));
        assert!("nope:1-2".parse::<MysqlGtidSet>().is_err());
        assert!(format!("{U}:5-2").parse::<MysqlGtidSet>().is_err());
    }
}
