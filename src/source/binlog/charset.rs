//! Character sets of binlog text: collation ids → how their bytes decode.
//!
//! The binlog carries text as raw bytes in the column's character set (the
//! connection's `utf8mb4` does not apply). utf8mb3/utf8mb4 and ASCII are
//! UTF-8; MySQL's latin1 is Windows-1252; `binary` is bytes; any other
//! character set is refused when its table map is read.

use std::collections::HashMap;

/// How a text column's bytes become a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// utf8mb4 / utf8mb3.
    Utf8,
    /// MySQL's latin1 (Windows-1252).
    Latin1,
    /// ASCII.
    Ascii,
    /// binary: the column is bytes.
    Binary,
    /// Another character set, named; decoding it is refused.
    Other(u16),
}

/// Character-set ids → how to decode them (from `information_schema.COLLATIONS`).
#[derive(Debug, Clone, Default)]
pub struct Charsets {
    by_id: HashMap<u16, Charset>,
    /// Bytes per character at most, where the character set is known.
    max_bytes: HashMap<u16, u32>,
}

impl Charsets {
    /// Builds the map from `(collation id, character set name)` pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u16, String)>) -> Self {
        let pairs: Vec<(u16, String)> = pairs.into_iter().collect();
        let max_bytes = pairs
            .iter()
            .filter_map(|(id, name)| {
                let n = match name.as_str() {
                    "utf8mb4" => 4,
                    "utf8mb3" | "utf8" => 3,
                    "latin1" | "ascii" | "binary" => 1,
                    _ => return None,
                };
                Some((*id, n))
            })
            .collect();
        let by_id = pairs
            .into_iter()
            .map(|(id, name)| {
                let cs = match name.as_str() {
                    "utf8mb4" | "utf8mb3" | "utf8" => Charset::Utf8,
                    "latin1" => Charset::Latin1,
                    "ascii" => Charset::Ascii,
                    "binary" => Charset::Binary,
                    _ => Charset::Other(id),
                };
                (id, cs)
            })
            .collect();
        Charsets { by_id, max_bytes }
    }

    /// The common ids, for when the server's table is not available (tests).
    pub fn builtin() -> Self {
        let mut pairs = vec![
            (63, "binary".to_string()),
            (11, "ascii".into()),
            (65, "ascii".into()),
        ];
        for id in [5, 8, 15, 31, 47, 48, 49, 94] {
            pairs.push((id, "latin1".into()));
        }
        for id in [33, 45, 46, 76, 83, 192, 223, 224, 247, 255, 256, 309] {
            pairs.push((id, "utf8mb4".into()));
        }
        Charsets::from_pairs(pairs)
    }

    /// Bytes per character at most in the character set of collation `id`
    /// (`None`: not known).
    pub fn max_bytes(&self, id: u16) -> Option<u32> {
        match self.max_bytes.get(&id) {
            Some(n) => Some(*n),
            None if (255..=323).contains(&id) || (2048..=2400).contains(&id) => Some(4),
            None => None,
        }
    }

    /// How the character set of collation `id` decodes.
    pub fn get(&self, id: u16) -> Charset {
        match self.by_id.get(&id) {
            Some(c) => *c,
            // MySQL 8 utf8mb4 collations occupy 255..=323; MariaDB 11 adds more.
            None if (255..=323).contains(&id) || (2048..=2400).contains(&id) => Charset::Utf8,
            None => Charset::Other(id),
        }
    }
}

/// `bytes` as text in `cs` (`None`: not valid there); UTF-8 and ASCII
/// text keeps the buffer (no copy).
pub fn text_owned(cs: Charset, bytes: Vec<u8>) -> Option<String> {
    match cs {
        Charset::Utf8 | Charset::Binary | Charset::Other(_) => String::from_utf8(bytes).ok(),
        Charset::Ascii => bytes
            .is_ascii()
            .then(|| String::from_utf8(bytes).ok())
            .flatten(),
        Charset::Latin1 => text(cs, &bytes),
    }
}

/// `bytes` as text in `cs` (`None`: not valid there).
pub fn text(cs: Charset, bytes: &[u8]) -> Option<String> {
    match cs {
        Charset::Utf8 | Charset::Binary | Charset::Other(_) => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        Charset::Ascii => bytes
            .is_ascii()
            .then(|| String::from_utf8_lossy(bytes).into_owned()),
        Charset::Latin1 => Some(bytes.iter().map(|&b| cp1252(b)).collect()),
    }
}

/// MySQL's latin1 is Windows-1252: 0x80..0x9F are the cp1252 punctuation.
fn cp1252(b: u8) -> char {
    const HIGH: [u16; 32] = [
        0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
        0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178,
    ];
    if (0x80..0xA0).contains(&b) {
        char::from_u32(u32::from(HIGH[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}')
    } else {
        char::from(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_is_windows_1252() {
        assert_eq!(
            text(Charset::Latin1, b"caf\xe9 \x80").as_deref(),
            Some("café €")
        );
        assert_eq!(text(Charset::Ascii, b"\xe9"), None);
        assert_eq!(text(Charset::Utf8, "é".as_bytes()).as_deref(), Some("é"));
    }

    #[test]
    fn owned_text_reads_as_borrowed_text() {
        let inputs: [&[u8]; 5] = [
            b"plain",
            b"caf\xe9 \x80",
            "é €".as_bytes(),
            b"\xff\xfe",
            b"",
        ];
        for cs in [
            Charset::Utf8,
            Charset::Binary,
            Charset::Other(300),
            Charset::Ascii,
            Charset::Latin1,
        ] {
            for bytes in inputs {
                assert_eq!(
                    text_owned(cs, bytes.to_vec()),
                    text(cs, bytes),
                    "{cs:?} {bytes:?}"
                );
            }
        }
    }

    #[test]
    fn charset_ids_resolve() {
        let c = Charsets::builtin();
        assert_eq!(c.get(63), Charset::Binary);
        assert_eq!(c.get(8), Charset::Latin1);
        assert_eq!(c.get(45), Charset::Utf8);
        assert_eq!(c.get(300), Charset::Utf8);
        assert_eq!(c.get(28), Charset::Other(28));
    }
}
