//! Kafka Connect standalone's offsets file: a Java-serialized
//! `java.util.HashMap<byte[], byte[]>`, as `FileOffsetBackingStore.save()`
//! writes it with `ObjectOutputStream.writeObject`.
//!
//! Only that shape is read (Java's Object Serialization Stream Protocol,
//! version 5): the stream header, a `TC_OBJECT` of class `java.util.HashMap`
//! (its `loadFactor`/`threshold` fields, then its `writeObject` data: a block
//! with the bucket count and the size, then `size` key/value objects), each
//! key and value a `byte[]` (`TC_ARRAY` of class `[B`), `TC_NULL`, or a
//! back-reference to an earlier array. Anything else is an error naming the
//! byte offset and what was found, never a guess.

/// Why the file is not a serialized `HashMap<byte[], byte[]>`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JavaMapError {
    /// The stream ended early.
    #[error("truncated at byte {at}: {what} expected")]
    Truncated {
        /// Byte offset.
        at: usize,
        /// What was being read.
        what: &'static str,
    },
    /// The first four bytes are not `AC ED 00 05`.
    #[error("not a Java serialization stream (starts with {found})")]
    NotJavaSerialization {
        /// The first bytes, in hex.
        found: String,
    },
    /// An unexpected tag or class.
    #[error("at byte {at}: expected {expected}, found {found}")]
    Unexpected {
        /// Byte offset.
        at: usize,
        /// What the format allows there.
        expected: &'static str,
        /// What is there.
        found: String,
    },
    /// Bytes after the map.
    #[error("{0} unexpected bytes after the map")]
    Trailing(usize),
}

const MAGIC: [u8; 4] = [0xAC, 0xED, 0x00, 0x05];
const TC_NULL: u8 = 0x70;
const TC_REFERENCE: u8 = 0x71;
const TC_CLASSDESC: u8 = 0x72;
const TC_OBJECT: u8 = 0x73;
const TC_STRING: u8 = 0x74;
const TC_ARRAY: u8 = 0x75;
const TC_BLOCKDATA: u8 = 0x77;
const TC_ENDBLOCKDATA: u8 = 0x78;
const TC_BLOCKDATALONG: u8 = 0x7A;
const BASE_HANDLE: u32 = 0x7E_0000;
const SC_WRITE_METHOD: u8 = 0x01;
const SC_SERIALIZABLE: u8 = 0x02;
/// Nesting bound for class descriptors (a HashMap has one level).
const MAX_DEPTH: usize = 8;

/// What a handle stands for.
#[derive(Debug, Clone)]
enum Handle {
    Class(ClassDesc),
    String(String),
    Bytes(Vec<u8>),
    /// The map itself (never referenced by well-formed Connect files).
    Map,
}

impl Handle {
    fn kind(&self) -> &'static str {
        match self {
            Handle::Class(_) => "a class descriptor",
            Handle::String(_) => "a string",
            Handle::Bytes(_) => "a byte[]",
            Handle::Map => "the map",
        }
    }
}

#[derive(Debug, Clone)]
struct ClassDesc {
    name: String,
    flags: u8,
    /// Field type codes in stream order.
    fields: Vec<u8>,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
    handles: Vec<Handle>,
}

/// The entries of a serialized `HashMap<byte[], byte[]>` in stream order
/// (`None` is a Java `null`).
pub type Entries = Vec<(Option<Vec<u8>>, Option<Vec<u8>>)>;

/// Parses the bytes of a Connect standalone offsets file.
pub fn parse(bytes: &[u8]) -> Result<Entries, JavaMapError> {
    if bytes.get(..4) != Some(&MAGIC[..]) {
        let found: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02X}")).collect();
        return Err(JavaMapError::NotJavaSerialization {
            found: if found.is_empty() {
                "nothing: the file is empty".into()
            } else {
                found.join(" ")
            },
        });
    }
    let mut r = Reader {
        b: bytes,
        at: 4,
        handles: Vec::new(),
    };
    let entries = r.map()?;
    if r.at != bytes.len() {
        return Err(JavaMapError::Trailing(bytes.len() - r.at));
    }
    Ok(entries)
}

impl Reader<'_> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&[u8], JavaMapError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(JavaMapError::Truncated { at: self.at, what })?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, JavaMapError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, JavaMapError> {
        let s = self.take(2, what)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, JavaMapError> {
        let s = self.take(4, what)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn i32(&mut self, what: &'static str) -> Result<i32, JavaMapError> {
        let s = self.take(4, what)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// Java's modified UTF-8 with a u16 length; class and field names are ASCII.
    fn utf(&mut self, what: &'static str) -> Result<String, JavaMapError> {
        let n = usize::from(self.u16(what)?);
        Ok(String::from_utf8_lossy(self.take(n, what)?).into_owned())
    }

    fn unexpected(&self, at: usize, expected: &'static str, found: String) -> JavaMapError {
        JavaMapError::Unexpected {
            at,
            expected,
            found,
        }
    }

    fn tag_name(tag: u8) -> String {
        let name = match tag {
            TC_NULL => "TC_NULL",
            TC_REFERENCE => "TC_REFERENCE",
            TC_CLASSDESC => "TC_CLASSDESC",
            TC_OBJECT => "TC_OBJECT",
            TC_STRING => "TC_STRING",
            TC_ARRAY => "TC_ARRAY",
            TC_BLOCKDATA => "TC_BLOCKDATA",
            TC_ENDBLOCKDATA => "TC_ENDBLOCKDATA",
            _ => return format!("byte 0x{tag:02X}"),
        };
        format!("{name} (0x{tag:02X})")
    }

    fn handle(&mut self, at: usize) -> Result<Handle, JavaMapError> {
        let h = self.u32("a handle")?;
        let idx = h.checked_sub(BASE_HANDLE).map(|i| i as usize);
        match idx.and_then(|i| self.handles.get(i)) {
            Some(x) => Ok(x.clone()),
            None => Err(self.unexpected(
                at,
                "a reference to an earlier object",
                format!("handle 0x{h:08X}"),
            )),
        }
    }

    /// `classDesc`: a new descriptor, a reference to one, or null.
    fn class_desc(&mut self, depth: usize) -> Result<Option<ClassDesc>, JavaMapError> {
        let at = self.at;
        if depth > MAX_DEPTH {
            return Err(self.unexpected(at, "a shallow class hierarchy", "deeper nesting".into()));
        }
        match self.u8("a class descriptor")? {
            TC_NULL => Ok(None),
            TC_REFERENCE => match self.handle(at)? {
                Handle::Class(c) => Ok(Some(c)),
                other => Err(self.unexpected(
                    at,
                    "a reference to a class descriptor",
                    format!("a reference to {}", other.kind()),
                )),
            },
            TC_CLASSDESC => {
                let name = self.utf("a class name")?;
                self.take(8, "a serialVersionUID")?;
                let slot = self.handles.len();
                self.handles.push(Handle::Map); // replaced below, once complete
                let flags = self.u8("class flags")?;
                let count = self.u16("a field count")?;
                let mut fields = Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let code = self.u8("a field type code")?;
                    self.utf("a field name")?;
                    if code == b'L' || code == b'[' {
                        self.string()?;
                    }
                    fields.push(code);
                }
                self.end_block("the end of the class annotation")?;
                let desc = ClassDesc {
                    name,
                    flags,
                    fields,
                };
                self.handles[slot] = Handle::Class(desc.clone());
                if let Some(sup) = self.class_desc(depth + 1)? {
                    return Err(self.unexpected(
                        at,
                        "a class without serializable superclass",
                        format!("{} extends {}", desc.name, sup.name),
                    ));
                }
                Ok(Some(desc))
            }
            tag => Err(self.unexpected(at, "a class descriptor", Self::tag_name(tag))),
        }
    }

    /// A field's type name: `TC_STRING` or a reference to one.
    fn string(&mut self) -> Result<String, JavaMapError> {
        let at = self.at;
        match self.u8("a string")? {
            TC_STRING => {
                let s = self.utf("a string")?;
                self.handles.push(Handle::String(s.clone()));
                Ok(s)
            }
            TC_REFERENCE => match self.handle(at)? {
                Handle::String(s) => Ok(s),
                other => Err(self.unexpected(
                    at,
                    "a reference to a string",
                    format!("a reference to {}", other.kind()),
                )),
            },
            tag => Err(self.unexpected(at, "a string", Self::tag_name(tag))),
        }
    }

    fn end_block(&mut self, what: &'static str) -> Result<(), JavaMapError> {
        let at = self.at;
        match self.u8(what)? {
            TC_ENDBLOCKDATA => Ok(()),
            tag => Err(self.unexpected(at, what, Self::tag_name(tag))),
        }
    }

    /// The map object and its entries.
    fn map(&mut self) -> Result<Entries, JavaMapError> {
        let at = self.at;
        let tag = self.u8("the map object")?;
        if tag != TC_OBJECT {
            return Err(self.unexpected(at, "TC_OBJECT (the map)", Self::tag_name(tag)));
        }
        let desc_at = self.at;
        let desc = self
            .class_desc(0)?
            .ok_or_else(|| self.unexpected(desc_at, "java.util.HashMap", "null".into()))?;
        if desc.name != "java.util.HashMap" {
            return Err(self.unexpected(desc_at, "java.util.HashMap", desc.name));
        }
        if desc.flags & (SC_WRITE_METHOD | SC_SERIALIZABLE) != (SC_WRITE_METHOD | SC_SERIALIZABLE) {
            return Err(self.unexpected(
                desc_at,
                "HashMap's serialization flags (0x03)",
                format!("0x{:02X}", desc.flags),
            ));
        }
        self.handles.push(Handle::Map);
        // loadFactor (float), threshold (int): primitive values, sizes by type code.
        for code in &desc.fields {
            let size = match code {
                b'B' | b'Z' => 1,
                b'C' | b'S' => 2,
                b'F' | b'I' => 4,
                b'D' | b'J' => 8,
                _ => {
                    return Err(self.unexpected(
                        desc_at,
                        "HashMap's primitive fields",
                        format!("a field of type '{}'", char::from(*code)),
                    ))
                }
            };
            self.take(size, "a field value")?;
        }
        // writeObject: a block holding the bucket count and the size.
        let block_at = self.at;
        let block = match self.u8("HashMap's block data")? {
            TC_BLOCKDATA => usize::from(self.u8("a block length")?),
            TC_BLOCKDATALONG => self.u32("a block length")? as usize,
            tag => return Err(self.unexpected(block_at, "TC_BLOCKDATA", Self::tag_name(tag))),
        };
        if block != 8 {
            return Err(self.unexpected(
                block_at,
                "an 8-byte block (buckets, size)",
                format!("{block} bytes"),
            ));
        }
        let _buckets = self.i32("the bucket count")?;
        let size_at = self.at;
        let size = self.i32("the map size")?;
        let size = usize::try_from(size)
            .map_err(|_| self.unexpected(size_at, "a map size", size.to_string()))?;
        // Each entry is at least two one-byte tags: a size past that is corrupt.
        if size > self.b.len() / 2 {
            return Err(self.unexpected(
                size_at,
                "a map size that fits the file",
                size.to_string(),
            ));
        }
        let mut entries = Vec::with_capacity(size);
        for _ in 0..size {
            let k = self.byte_array()?;
            let v = self.byte_array()?;
            entries.push((k, v));
        }
        self.end_block("the end of the map (TC_ENDBLOCKDATA)")?;
        Ok(entries)
    }

    /// A `byte[]`, `null`, or a reference to an earlier `byte[]`.
    fn byte_array(&mut self) -> Result<Option<Vec<u8>>, JavaMapError> {
        let at = self.at;
        match self.u8("a key or value")? {
            TC_NULL => Ok(None),
            TC_REFERENCE => match self.handle(at)? {
                Handle::Bytes(b) => Ok(Some(b)),
                other => Err(self.unexpected(
                    at,
                    "a reference to a byte[]",
                    format!("a reference to {}", other.kind()),
                )),
            },
            TC_ARRAY => {
                let desc_at = self.at;
                let desc = self
                    .class_desc(0)?
                    .ok_or_else(|| self.unexpected(desc_at, "class [B", "null".into()))?;
                if desc.name != "[B" {
                    return Err(self.unexpected(desc_at, "class [B (byte[])", desc.name));
                }
                let len_at = self.at;
                let len = self.i32("an array length")?;
                let len = usize::try_from(len)
                    .map_err(|_| self.unexpected(len_at, "an array length", len.to_string()))?;
                let bytes = self.take(len, "the array's bytes")?.to_vec();
                self.handles.push(Handle::Bytes(bytes.clone()));
                Ok(Some(bytes))
            }
            tag => Err(self.unexpected(at, "a byte[] (TC_ARRAY) or null", Self::tag_name(tag))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by Kafka Connect 4.1.1 standalone running Debezium's MySQL
    /// connector 3.6.1 (`offset.storage.file.filename`).
    const CONNECT_FILE: &[u8] = include_bytes!("testdata/connect-standalone-offsets.dat");

    #[test]
    fn reads_a_file_written_by_connect_standalone() {
        let entries = parse(CONNECT_FILE).expect("parse");
        assert_eq!(entries.len(), 1, "{entries:?}");
        let (k, v) = &entries[0];
        let key: serde_json::Value =
            serde_json::from_slice(k.as_deref().expect("key")).expect("key json");
        assert_eq!(
            key,
            serde_json::json!(["fixture-dbz", {"server": "fixdbz"}])
        );
        let value: serde_json::Value =
            serde_json::from_slice(v.as_deref().expect("value")).expect("value json");
        assert!(
            value.get("file").and_then(|f| f.as_str()).is_some(),
            "{value}"
        );
        assert!(
            value.get("pos").and_then(|p| p.as_u64()).is_some(),
            "{value}"
        );
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        for n in 0..CONNECT_FILE.len() {
            assert!(
                parse(&CONNECT_FILE[..n]).is_err(),
                "prefix of {n} bytes parsed"
            );
        }
    }

    #[test]
    fn trailing_bytes_and_wrong_magic_are_refused() {
        let mut more = CONNECT_FILE.to_vec();
        more.push(0);
        assert_eq!(parse(&more), Err(JavaMapError::Trailing(1)));
        let err = parse(b"{\"not\":\"java\"}").expect_err("json");
        assert!(
            err.to_string().contains("not a Java serialization stream"),
            "{err}"
        );
        let err = parse(b"").expect_err("empty");
        assert!(err.to_string().contains("empty"), "{err}");
    }

    /// A hand-built stream: two entries, a null value, and a back-reference
    /// to the `[B` class descriptor, as Java writes a second array.
    #[test]
    fn reads_nulls_and_references() {
        let mut s = MAGIC.to_vec();
        s.push(TC_OBJECT);
        s.push(TC_CLASSDESC);
        s.extend_from_slice(&17u16.to_be_bytes());
        s.extend_from_slice(b"java.util.HashMap");
        s.extend_from_slice(&[0x05, 0x07, 0xDA, 0xC1, 0xC3, 0x16, 0x60, 0xD1]);
        s.push(0x03);
        s.extend_from_slice(&2u16.to_be_bytes());
        s.push(b'F');
        s.extend_from_slice(&10u16.to_be_bytes());
        s.extend_from_slice(b"loadFactor");
        s.push(b'I');
        s.extend_from_slice(&9u16.to_be_bytes());
        s.extend_from_slice(b"threshold");
        s.extend_from_slice(&[TC_ENDBLOCKDATA, TC_NULL]);
        s.extend_from_slice(&0.75f32.to_be_bytes());
        s.extend_from_slice(&12i32.to_be_bytes());
        s.extend_from_slice(&[TC_BLOCKDATA, 8]);
        s.extend_from_slice(&16i32.to_be_bytes());
        s.extend_from_slice(&2i32.to_be_bytes());
        // key 1: new [B descriptor (handle 2), array (handle 3)
        s.push(TC_ARRAY);
        s.push(TC_CLASSDESC);
        s.extend_from_slice(&2u16.to_be_bytes());
        s.extend_from_slice(b"[B");
        s.extend_from_slice(&[0xAC, 0xF3, 0x17, 0xF8, 0x06, 0x08, 0x54, 0xE0]);
        s.push(0x02);
        s.extend_from_slice(&0u16.to_be_bytes());
        s.extend_from_slice(&[TC_ENDBLOCKDATA, TC_NULL]);
        s.extend_from_slice(&2i32.to_be_bytes());
        s.extend_from_slice(b"k1");
        // value 1: null
        s.push(TC_NULL);
        // key 2: array through a reference to the descriptor
        s.push(TC_ARRAY);
        s.push(TC_REFERENCE);
        s.extend_from_slice(&(BASE_HANDLE + 2).to_be_bytes());
        s.extend_from_slice(&2i32.to_be_bytes());
        s.extend_from_slice(b"k2");
        // value 2: a reference to key 1's array (handle 3)
        s.push(TC_REFERENCE);
        s.extend_from_slice(&(BASE_HANDLE + 3).to_be_bytes());
        s.push(TC_ENDBLOCKDATA);
        let entries = parse(&s).expect("parse");
        assert_eq!(
            entries,
            vec![
                (Some(b"k1".to_vec()), None),
                (Some(b"k2".to_vec()), Some(b"k1".to_vec())),
            ]
        );
        // A map of another class is named.
        let mut other = s.clone();
        other[8..8 + 17].copy_from_slice(b"java.util.TreeMap");
        let err = parse(&other).expect_err("treemap");
        assert!(err.to_string().contains("java.util.TreeMap"), "{err}");
    }
}
