//! A chunk's rows between its `SELECT` and its high watermark. A keyed chunk
//! stops at [`super::CHUNK_BYTES`] of values and its row limit by itself and
//! is held in memory; a key-less table is read in one chunk, which keeps as
//! much in memory and spools the rest to a temporary file.
//!
//! The file is created in the temporary directory (`$TMPDIR`, else `/tmp`;
//! the systemd units give the daemon a private one) with mode 0600 and
//! unlinked at once: it holds table data, and nothing is left behind by a
//! crash. Rows are read back in the order they were pushed.
//!
//! The encoding is private to this process and this file: per row a `u32`
//! column count, per value a tag byte and its bytes (lengths as `u64`).

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::value::{Row, Value};

/// Rows held in memory up to a byte and a row bound, the rest in a file.
pub(super) struct Spool {
    limit: usize,
    limit_rows: usize,
    mem: Vec<Row>,
    mem_bytes: usize,
    file: Option<BufWriter<File>>,
    spooled_rows: usize,
    spooled_bytes: u64,
}

impl Spool {
    /// An empty spool holding up to `limit` bytes of values and
    /// `limit_rows` rows in memory (a keyed chunk's bounds).
    pub(super) fn new(limit: usize, limit_rows: usize) -> Spool {
        Spool {
            limit,
            limit_rows,
            mem: Vec::new(),
            mem_bytes: 0,
            file: None,
            spooled_rows: 0,
            spooled_bytes: 0,
        }
    }

    /// Adds a row whose values take `bytes` (the first row always stays in
    /// memory, so a chunk of one wide row needs no file).
    pub(super) fn push(&mut self, row: Row, bytes: usize) -> io::Result<()> {
        let room = self.mem_bytes + bytes <= self.limit && self.mem.len() < self.limit_rows;
        if self.file.is_none() && (self.mem.is_empty() || room) {
            self.mem.push(row);
            self.mem_bytes += bytes;
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(BufWriter::with_capacity(
                64 << 10,
                unlinked_file(&spool_dir())?,
            )),
        };
        self.spooled_bytes += encode_row(file, &row)?;
        self.spooled_rows += 1;
        Ok(())
    }

    /// Rows pushed.
    pub(super) fn len(&self) -> usize {
        self.mem.len() + self.spooled_rows
    }

    /// True when no row was pushed.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes written to the file (`None`: all rows are in memory).
    pub(super) fn spooled(&self) -> Option<u64> {
        self.file.as_ref().map(|_| self.spooled_bytes)
    }

    /// The rows, in the order pushed.
    pub(super) fn into_rows(self) -> io::Result<SpoolRows> {
        let file = match self.file {
            None => None,
            Some(w) => {
                let mut f = w.into_inner().map_err(io::IntoInnerError::into_error)?;
                f.seek(SeekFrom::Start(0))?;
                Some(BufReader::with_capacity(64 << 10, f))
            }
        };
        Ok(SpoolRows {
            mem: self.mem.into_iter(),
            file,
            left: self.spooled_rows,
        })
    }
}

/// A spool's rows, read back one at a time.
pub(super) struct SpoolRows {
    mem: std::vec::IntoIter<Row>,
    file: Option<BufReader<File>>,
    left: usize,
}

impl SpoolRows {
    /// The next row; `None` after the last.
    pub(super) fn next_row(&mut self) -> io::Result<Option<Row>> {
        if let Some(row) = self.mem.next() {
            return Ok(Some(row));
        }
        match &mut self.file {
            Some(f) if self.left > 0 => {
                self.left -= 1;
                decode_row(f).map(Some)
            }
            _ => Ok(None),
        }
    }
}

/// Where spool files go: the temporary directory.
pub fn spool_dir() -> PathBuf {
    std::env::temp_dir()
}

/// Whether a spool file can be created in `dir` (`sluice check`).
pub fn probe(dir: &Path) -> io::Result<()> {
    unlinked_file(dir).map(drop)
}

/// A new file in `dir`, readable and writable by this user only, already
/// unlinked (it lives as long as its handle).
fn unlinked_file(dir: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let path = dir.join(format!(
        "sluice-chunk-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)?;
    std::fs::remove_file(&path)?;
    Ok(file)
}

const NULL: u8 = 0;
const BOOLEAN: u8 = 1;
const INT: u8 = 2;
const FLOAT32: u8 = 3;
const FLOAT64: u8 = 4;
const STRING: u8 = 5;
const BYTES: u8 = 6;
const DECIMAL: u8 = 7;
const DATE: u8 = 8;
const TIME: u8 = 9;
const TIMESTAMP: u8 = 10;

/// Writes a row; returns the bytes written.
fn encode_row(w: &mut impl Write, row: &Row) -> io::Result<u64> {
    let count = u32::try_from(row.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many columns"))?;
    w.write_all(&count.to_le_bytes())?;
    let mut n = 4u64;
    for v in row {
        n += 1 + match v {
            Value::Null => {
                w.write_all(&[NULL])?;
                0
            }
            Value::Boolean(b) => {
                w.write_all(&[BOOLEAN, u8::from(*b)])?;
                1
            }
            Value::Int(i) => fixed(w, INT, &i.to_le_bytes())?,
            Value::Float32(f) => fixed(w, FLOAT32, &f.to_bits().to_le_bytes())?,
            Value::Float64(f) => fixed(w, FLOAT64, &f.to_bits().to_le_bytes())?,
            Value::String(s) => sized(w, STRING, s.as_bytes())?,
            Value::Bytes(b) => sized(w, BYTES, b)?,
            Value::Decimal(s) => sized(w, DECIMAL, s.as_bytes())?,
            Value::Date(d) => fixed(w, DATE, &d.to_le_bytes())?,
            Value::Time(t) => fixed(w, TIME, &t.to_le_bytes())?,
            Value::Timestamp(t) => fixed(w, TIMESTAMP, &t.to_le_bytes())?,
        };
    }
    Ok(n)
}

fn fixed(w: &mut impl Write, tag: u8, bytes: &[u8]) -> io::Result<u64> {
    w.write_all(&[tag])?;
    w.write_all(bytes)?;
    Ok(bytes.len() as u64)
}

fn sized(w: &mut impl Write, tag: u8, bytes: &[u8]) -> io::Result<u64> {
    w.write_all(&[tag])?;
    w.write_all(&(bytes.len() as u64).to_le_bytes())?;
    w.write_all(bytes)?;
    Ok(8 + bytes.len() as u64)
}

fn decode_row(r: &mut impl Read) -> io::Result<Row> {
    let count = u32::from_le_bytes(array(r)?) as usize;
    let mut row = Vec::with_capacity(count);
    for _ in 0..count {
        let [tag] = array(r)?;
        row.push(match tag {
            NULL => Value::Null,
            BOOLEAN => Value::Boolean(array::<1>(r)?[0] != 0),
            INT => Value::Int(i64::from_le_bytes(array(r)?)),
            FLOAT32 => Value::Float32(f32::from_bits(u32::from_le_bytes(array(r)?))),
            FLOAT64 => Value::Float64(f64::from_bits(u64::from_le_bytes(array(r)?))),
            STRING => Value::String(text(bytes(r)?)?),
            BYTES => Value::Bytes(bytes(r)?),
            DECIMAL => Value::Decimal(text(bytes(r)?)?),
            DATE => Value::Date(i32::from_le_bytes(array(r)?)),
            TIME => Value::Time(i64::from_le_bytes(array(r)?)),
            TIMESTAMP => Value::Timestamp(i64::from_le_bytes(array(r)?)),
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("spool file: unknown value tag {other}"),
                ))
            }
        });
    }
    Ok(row)
}

fn array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn bytes(r: &mut impl Read) -> io::Result<Vec<u8>> {
    let len = usize::try_from(u64::from_le_bytes(array(r)?))
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "spool file: length"))?;
    let mut b = vec![0u8; len];
    r.read_exact(&mut b)?;
    Ok(b)
}

fn text(b: Vec<u8>) -> io::Result<String> {
    String::from_utf8(b).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind(i: i64) -> Row {
        vec![
            Value::Null,
            Value::Boolean(i % 2 == 0),
            Value::Int(i),
            Value::Float32(-1.5),
            Value::Float64(f64::from(i as i32) / 3.0),
            Value::String(format!("ü{i}")),
            Value::Bytes(vec![0, 255, i as u8]),
            Value::Decimal("-12.340".into()),
            Value::Date(-1),
            Value::Time(-86_400_000_001),
            Value::Timestamp(1_700_000_000_123_456),
            Value::String(String::new()),
        ]
    }

    fn drain(s: Spool) -> Vec<Row> {
        let mut rows = s.into_rows().expect("into_rows");
        let mut out = Vec::new();
        while let Some(r) = rows.next_row().expect("next_row") {
            out.push(r);
        }
        out
    }

    #[test]
    fn rows_under_the_bound_stay_in_memory() {
        let mut s = Spool::new(1000, 3);
        for i in 0..3 {
            s.push(every_kind(i), 100).expect("push");
        }
        assert_eq!((s.len(), s.spooled()), (3, None));
        assert_eq!(drain(s), (0..3).map(every_kind).collect::<Vec<_>>());
    }

    #[test]
    fn rows_past_the_bound_are_spooled_and_read_back_in_order() {
        let mut s = Spool::new(250, 100);
        for i in 0..1000 {
            s.push(every_kind(i), 100).expect("push");
        }
        assert_eq!(s.len(), 1000);
        assert!(
            s.spooled().is_some_and(|b| b > 998 * 50),
            "{:?}",
            s.spooled()
        );
        assert_eq!(drain(s), (0..1000).map(every_kind).collect::<Vec<_>>());
    }

    #[test]
    fn rows_past_the_row_bound_are_spooled_too() {
        let mut s = Spool::new(1 << 20, 2);
        for i in 0..5 {
            s.push(every_kind(i), 10).expect("push");
        }
        assert!(s.spooled().is_some());
        assert_eq!(drain(s), (0..5).map(every_kind).collect::<Vec<_>>());
    }

    #[test]
    fn a_first_row_past_the_bound_stays_in_memory() {
        let mut s = Spool::new(10, 100);
        s.push(every_kind(7), 1 << 20).expect("push");
        assert_eq!(s.spooled(), None);
        s.push(every_kind(8), 1).expect("push");
        assert!(s.spooled().is_some());
        assert_eq!(drain(s), vec![every_kind(7), every_kind(8)]);
    }

    #[test]
    fn the_spool_file_is_private_and_leaves_no_name_behind() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("spooltest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let f = unlinked_file(&dir).expect("file");
        assert_eq!(f.metadata().expect("meta").mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(&dir).expect("read_dir").count(), 0);
        std::fs::remove_dir(&dir).expect("rmdir");
    }

    #[test]
    fn a_probe_fails_in_a_missing_directory() {
        assert!(probe(&std::env::temp_dir()).is_ok());
        let e = probe(Path::new("/nonexistent-sluice-dir")).expect_err("missing");
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_truncated_or_corrupt_file_is_an_error_not_a_row() {
        let mut buf = Vec::new();
        encode_row(&mut buf, &every_kind(1)).expect("encode");
        assert!(decode_row(&mut &buf[..buf.len() - 1]).is_err());
        buf[4] = 99; // the first value's tag
        let e = decode_row(&mut &buf[..]).expect_err("bad tag");
        assert!(e.to_string().contains("unknown value tag 99"), "{e}");
    }
}
