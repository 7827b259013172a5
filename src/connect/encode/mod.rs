//! Source side: [`ChangeEvent`] → Kafka key and value bytes.
//!
//! The hot path writes JSON text straight into one `String` per message; no
//! JSON tree is built per row. Everything that depends only on the table's
//! schema — the rendered key and value schemas (`{"schema":…,"payload":`),
//! each column's wire form, its escaped `"name":` prefix and its rendered
//! default — is computed once per table and kept in [`Encoder`]'s cache. The
//! cache entry is rebuilt when the event's `Arc<TableSchema>` differs from the
//! cached one both by pointer and by content (a DDL change); an equal schema
//! behind a new pointer only refreshes the pointer.
//!
//! Naming: with the flat envelope the value struct is named
//! [`TableSchema::name`] and the key struct has no name (what Connect's JDBC
//! source plus a `ValueToKey` transform writes); with the Debezium envelope
//! they are `<server_name>.<db>.<table>.Value` / `.Key` / `.Envelope`. The key
//! is `None` when the table has no primary key.
//!
//! With [`Encoder::with_avro`] a key or value is an Avro body instead
//! (`avro_body`), written from the same per-table plan and the Avro schema
//! derived once from the Connect schema above: no JSON text in between.
//! With [`Encoder::with_json_schema`] it is a JSON Schema body: the payload
//! alone, decimals as exact numbers, behind the wire-format header, its JSON
//! Schema derived once per table the same way.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use super::avro::{self, AvroSchema};
use super::envelope::{self, SourceInfo};
use super::error::{CodecError, FieldRef, MessagePart};
use super::json_text::write_str;
use super::jsonschema::{self, JsonSchemaPlan};
use super::options::{DecimalHandling, Envelope, TimePrecision};
use super::schema_json::{ConnectSchema, SchemaType};
use super::types::Conv;
use super::values::{write_column, write_decimal_number, write_value};
use crate::event::{ChangeEvent, Op, Value};
use crate::schema::{Column, ColumnType, Semantic, TableSchema};

/// How a source writes its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Flat row or Debezium envelope.
    pub envelope: Envelope,
    /// How DECIMAL columns are written.
    pub decimal_handling: DecimalHandling,
    /// Connect (ms) or micro-second time types.
    pub time_precision: TimePrecision,
    /// Connector kind for Debezium's `source.connector` (e.g. `"mysql"`).
    pub connector: String,
    /// Source pipeline name (Debezium's logical server name).
    pub server_name: String,
    /// With the Debezium envelope, write the column schemas Debezium's MySQL
    /// connector writes (binlog sources): TINYINT as int16, and under the
    /// adaptive and microsecond `time_precision`s `io.debezium.time.Date`,
    /// `Time` and `Timestamp` for Connect's `Date`, `Time` and `Timestamp`
    /// (same values: days, ms, ms). See [`debezium_column`].
    pub debezium_types: bool,
}

/// One encoded Kafka record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Key bytes; `None` when the table has no primary key.
    pub key: Option<Vec<u8>>,
    /// Value bytes; `None` is a tombstone (a flat-envelope delete). A flat
    /// delete on a table without a primary key has neither key nor value:
    /// there is nothing to publish.
    pub value: Option<Vec<u8>>,
    /// When the key is Avro or JSON Schema ([`Encoder::with_avro`],
    /// [`Encoder::with_json_schema`]): its schema. The key bytes are then
    /// Confluent's wire format with a zero schema id, for the publisher to
    /// fill in once the registry has given it.
    pub key_framed: Option<Framed>,
    /// The same for the value.
    pub value_framed: Option<Framed>,
}

/// The registry schema of a key or value the encoder wrote in Confluent's
/// wire format (schema id zero): an Avro or a JSON Schema body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framed {
    /// An Avro body.
    Avro(Arc<AvroSchema>),
    /// A JSON Schema body.
    Json(Arc<JsonSchemaPlan>),
}

impl Framed {
    /// True when both are the same schema object (a cheap cache check).
    pub fn same(&self, other: &Framed) -> bool {
        match (self, other) {
            (Framed::Avro(a), Framed::Avro(b)) => Arc::ptr_eq(a, b),
            (Framed::Json(a), Framed::Json(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

/// Encodes change events, caching each table's rendered schemas.
#[derive(Debug)]
pub struct Encoder {
    opts: EncodeOptions,
    tables: HashMap<crate::event::TableId, TablePlan, foldhash::fast::RandomState>,
    /// Buffers of published messages, given back ([`Encoder::recycle`]) to
    /// hold the next messages: no allocation and no fresh pages per message.
    spare: Vec<Vec<u8>>,
    /// Keys, values written as Avro ([`Encoder::with_avro`]).
    avro: [bool; 2],
    /// Keys, values written as JSON Schema ([`Encoder::with_json_schema`]).
    json_schema: [bool; 2],
}

/// Most buffers an encoder keeps for reuse (two per message of a 10,000-row
/// batch).
const MAX_SPARE: usize = 20_000;
/// Largest buffer kept for reuse: one that held a large row is freed, not
/// kept for small ones.
const MAX_SPARE_BYTES: usize = 16 * 1024;

#[derive(Debug)]
struct ColPlan {
    conv: Conv,
    optional: bool,
    default: Option<String>,
    /// A decimal's default as a JSON Schema body writes it (a number).
    default_number: Option<String>,
    /// `"name":`, escaped.
    prefix: String,
}

#[derive(Debug)]
struct TablePlan {
    schema: Arc<TableSchema>,
    cols: Vec<ColPlan>,
    key_idx: Vec<usize>,
    /// `{"schema":<key schema>,"payload":`, when the table has a key.
    key_head: Option<String>,
    /// `{"schema":<value schema>,"payload":`.
    value_head: String,
    /// The Avro schemas of the key and the value, when written as Avro.
    avro: [Option<Arc<AvroSchema>>; 2],
    /// Their JSON Schemas, when written as JSON Schema.
    json_schema: [Option<Arc<JsonSchemaPlan>>; 2],
    /// The constant runs of the Debezium `source` block.
    tail: envelope::TailParts,
    /// Lengths of the table's last key and value: the next message's buffer
    /// is made that size and a bit more, so a message is written without
    /// growing its buffer and kept without shrinking it (each would copy it).
    last_len: [AtomicUsize; 2],
}

/// [`TablePlan::last_len`] of keys.
const KEY: usize = 0;
/// [`TablePlan::last_len`] of values.
const VALUE: usize = 1;

impl Encoder {
    /// An encoder with an empty schema cache.
    pub fn new(opts: EncodeOptions) -> Self {
        Encoder {
            opts,
            tables: HashMap::default(),
            spare: Vec::new(),
            avro: [false; 2],
            json_schema: [false; 2],
        }
    }

    /// Writes keys (`key`) and values (`value`) as Avro bodies in
    /// Confluent's wire format, straight from the row values; their schemas
    /// are derived from the Connect schemas the JSON path writes, and the
    /// bytes are those [`crate::connect::avro::encode`] gives for the JSON
    /// payload. The schema id is left zero (see [`Encoded::key_avro`]).
    pub fn with_avro(mut self, key: bool, value: bool) -> Self {
        self.avro = [key, value];
        self.tables.clear();
        self
    }

    /// Writes keys (`key`) and/or values (`value`) as JSON Schema bodies in
    /// Confluent's wire format: a zero schema id, then the payload that
    /// JsonConverter would wrap, decimals as exact numbers (what
    /// [`crate::connect::jsonschema::encode`] makes of the Connect JSON).
    /// Avro wins for a side both name.
    pub fn with_json_schema(mut self, key: bool, value: bool) -> Self {
        self.json_schema = [key, value];
        self.tables.clear();
        self
    }

    /// Keeps (up to a bound) the buffers of messages already published, for
    /// the next messages to be written into.
    pub fn recycle(&mut self, bufs: impl IntoIterator<Item = Vec<u8>>) {
        let room = MAX_SPARE.saturating_sub(self.spare.len());
        let small = bufs.into_iter().filter(|b| b.capacity() <= MAX_SPARE_BYTES);
        self.spare.extend(small.take(room));
    }

    /// The options this encoder writes with.
    pub fn options(&self) -> &EncodeOptions {
        &self.opts
    }

    /// Encodes one event, with default Debezium `source` metadata. A Debezium
    /// delete yields only the delete message; the caller may follow it with a
    /// tombstone (same key, no value) for log compaction, as Debezium does.
    pub fn encode(&mut self, ev: &ChangeEvent) -> Result<Encoded, CodecError> {
        self.encode_with(ev, &SourceInfo::default())
    }

    /// Encodes one event; `info` fills the Debezium `source` block (ignored for flat).
    pub fn encode_with(
        &mut self,
        ev: &ChangeEvent,
        info: &SourceInfo<'_>,
    ) -> Result<Encoded, CodecError> {
        let current = match self.tables.get_mut(&ev.table) {
            Some(p) if Arc::ptr_eq(&p.schema, &ev.schema) => true,
            Some(p) if *p.schema == *ev.schema => {
                p.schema = Arc::clone(&ev.schema);
                true
            }
            _ => false,
        };
        if !current {
            let json_schema = [
                self.json_schema[KEY] && !self.avro[KEY],
                self.json_schema[VALUE] && !self.avro[VALUE],
            ];
            let plan = TablePlan::build(ev, &self.opts, self.avro, json_schema)?;
            self.tables
                .insert(crate::event::TableId::clone(&ev.table), plan);
        }
        let plan = self
            .tables
            .get(&ev.table)
            .ok_or_else(|| CodecError::InvalidValue {
                field: ev.table.to_string(),
                reason: "table missing from the schema cache".into(),
            })?;
        plan.encode(ev, &self.opts, info, &mut self.spare)
    }
}

/// Debezium's MySQL connector's name for a column schema Sluice writes with
/// Connect's name: under every `time.precision.mode` but `connect`, DATE is
/// `io.debezium.time.Date` (int32 days), TIME(0–3) `io.debezium.time.Time`
/// (int32 ms) and DATETIME(0–3) `io.debezium.time.Timestamp` (int64 ms).
fn debezium_column(schema: &mut ConnectSchema, time: TimePrecision) {
    if time == TimePrecision::Connect {
        return;
    }
    let name = match schema.name.as_deref() {
        Some(super::types::DATE) => "io.debezium.time.Date",
        Some(super::types::TIME) => "io.debezium.time.Time",
        Some(super::types::TIMESTAMP) => "io.debezium.time.Timestamp",
        _ => return,
    };
    schema.name = Some(name.into());
}

/// The wire form and schema Debezium's MySQL connector writes for a column
/// that Sluice's Connect model writes as `conv` (see [`debezium_column`]),
/// from what the source column was ([`Semantic`]): TINYINT as int16; BIT(n)
/// as `Bits` (little-endian, parameter `length`); ENUM / SET as `Enum` /
/// `EnumSet` (parameter `allowed`); JSON as `Json`; GEOMETRY as the
/// `Geometry` struct; TIMESTAMP(fsp) as `ZonedTimestamp`; YEAR as `Year`
/// (under every `time.precision.mode`); BIGINT UNSIGNED as a Decimal
/// under every `decimal.handling.mode`.
fn debezium_wire(
    col: &Column,
    conv: Conv,
    precision: Option<u32>,
    time: TimePrecision,
) -> (Conv, ConnectSchema) {
    let conv = match (&col.semantic, conv) {
        (_, Conv::Int8) => Conv::Int16,
        (Some(Semantic::Bits { .. }), _) => Conv::BitsLe,
        (Some(Semantic::Geometry), _) => Conv::Geometry,
        (Some(Semantic::Timestamp { fsp }), _) => Conv::ZonedFixed {
            fsp: *fsp,
            zeros: true,
        },
        (Some(Semantic::UnsignedBigint), _) => Conv::Decimal { scale: 0 },
        _ => conv,
    };
    let schema = conv.schema(precision, col.optional);
    let schema = match &col.semantic {
        Some(Semantic::Bits { length }) => schema.param("length", length.to_string()),
        Some(Semantic::Enum(allowed)) => schema
            .named("io.debezium.data.Enum", Some(1))
            .param("allowed", allowed.join(",")),
        Some(Semantic::Set(allowed)) => schema
            .named("io.debezium.data.EnumSet", Some(1))
            .param("allowed", allowed.join(",")),
        Some(Semantic::Json) => schema.named("io.debezium.data.Json", Some(1)),
        Some(Semantic::Year) => schema.named("io.debezium.time.Year", Some(1)),
        _ => {
            let mut schema = schema;
            debezium_column(&mut schema, time);
            schema
        }
    };
    (conv, schema)
}

impl TablePlan {
    fn build(
        ev: &ChangeEvent,
        opts: &EncodeOptions,
        avro: [bool; 2],
        json_schema: [bool; 2],
    ) -> Result<TablePlan, CodecError> {
        let schema = &ev.schema;
        let debezium = opts.envelope == Envelope::Debezium;
        let mut cols = Vec::with_capacity(schema.columns.len());
        let mut fields = Vec::with_capacity(schema.columns.len());
        for col in &schema.columns {
            let mut conv = Conv::for_column(&col.ty, opts.decimal_handling, opts.time_precision);
            let precision = match col.ty {
                ColumnType::Decimal { precision, .. } => precision,
                _ => None,
            };
            let mut field_schema = if debezium && opts.debezium_types {
                let (c, schema) = debezium_wire(col, conv, precision, opts.time_precision);
                conv = c;
                schema
            } else {
                conv.schema(precision, col.optional)
            };
            for (k, v) in &col.parameters {
                field_schema = field_schema.param(k, v.as_str());
            }
            let default = match &col.default {
                Some(v) if !v.is_null() => {
                    let mut text = String::new();
                    write_value(&mut text, conv, v, FieldRef::new(&col.name))?;
                    Some(text)
                }
                _ => None,
            };
            field_schema.default = default.clone();
            let default_number = match (&col.default, conv) {
                (Some(v), Conv::Decimal { scale }) if !v.is_null() => {
                    let mut text = String::new();
                    write_decimal_number(&mut text, scale, v, FieldRef::new(&col.name))?;
                    Some(text)
                }
                _ => None,
            };
            let mut prefix = String::with_capacity(col.name.len() + 3);
            write_str(&mut prefix, &col.name);
            prefix.push(':');
            cols.push(ColPlan {
                conv,
                optional: col.optional,
                default,
                default_number,
                prefix,
            });
            fields.push((col.name.clone(), field_schema));
        }
        let mut key_idx = Vec::with_capacity(schema.primary_key.len());
        for name in &schema.primary_key {
            let i = schema
                .column_index(name)
                .ok_or_else(|| CodecError::InvalidValue {
                    field: name.clone(),
                    reason: format!("primary-key column is not a column of {}", ev.table),
                })?;
            key_idx.push(i);
        }
        let stem = envelope::stem(&opts.server_name, ev);
        let key_schema = (!key_idx.is_empty()).then(|| {
            let mut key = ConnectSchema::new(SchemaType::Struct, false);
            key.fields = key_idx
                .iter()
                .filter_map(|&i| fields.get(i).cloned())
                .collect();
            if debezium {
                key.name = Some(format!("{stem}.Key"));
            }
            key
        });
        let key_head = key_schema.as_ref().map(head);
        let mut row = ConnectSchema::new(SchemaType::Struct, debezium);
        row.fields = fields;
        let value = if debezium {
            row.name = Some(format!("{stem}.Value"));
            envelope::envelope_schema(&stem, row)
        } else {
            // A poll source's custom query has no table: no name, as in Connect.
            row.name = (!schema.name.is_empty()).then(|| schema.name.clone());
            row
        };
        // The registry schemas of the sides written in a registry format.
        let (mut avro_schemas, mut json_schemas) = ([None, None], [None, None]);
        for (which, part, connect) in [
            (KEY, MessagePart::Key, key_schema.as_ref()),
            (VALUE, MessagePart::Value, Some(&value)),
        ] {
            let Some(connect) = connect.filter(|_| avro[which] || json_schema[which]) else {
                continue;
            };
            let json = connect_json(connect, part)?;
            if avro[which] {
                avro_schemas[which] = Some(Arc::new(avro::from_connect(&json, part)?));
            } else {
                json_schemas[which] = Some(Arc::new(jsonschema::from_connect(&json, part)?));
            }
        }
        Ok(TablePlan {
            schema: Arc::clone(schema),
            cols,
            key_idx,
            key_head,
            value_head: head(&value),
            avro: avro_schemas,
            json_schema: json_schemas,
            tail: envelope::TailParts::new(&opts.connector, &opts.server_name, &ev.table),
            last_len: [AtomicUsize::new(0), AtomicUsize::new(0)],
        })
    }

    fn encode(
        &self,
        ev: &ChangeEvent,
        opts: &EncodeOptions,
        info: &SourceInfo<'_>,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<Encoded, CodecError> {
        let missing = |row| CodecError::MissingRow {
            op: ev.op.code(),
            row,
        };
        let value = match (&self.avro[VALUE], &self.json_schema[VALUE]) {
            (Some(avro), _) => self.avro_value(avro, ev, opts, info, spare)?,
            (None, Some(_)) => self.payload_value(ev, opts, info, spare, true)?,
            (None, None) => self.payload_value(ev, opts, info, spare, false)?,
        };
        let row = ev.after.as_ref().or(ev.before.as_ref());
        let key = match (&self.key_head, &self.avro[KEY], row) {
            (Some(_), Some(avro), Some(row)) => Some(self.avro_key(avro, row, ev, spare)?),
            (Some(_), None, Some(row)) if self.json_schema[KEY].is_some() => {
                let mut out = self.start(KEY, WIRE_HEADER, spare);
                self.write_row(&mut out, row, Some(&self.key_idx), "key", ev, true)?;
                Some(self.done(KEY, out))
            }
            (Some(head), None, Some(row)) => {
                let mut out = self.start(KEY, head, spare);
                self.write_row(&mut out, row, Some(&self.key_idx), "key", ev, false)?;
                out.push('}');
                Some(self.done(KEY, out))
            }
            (Some(_), _, None) => {
                return Err(missing(if ev.op == Op::Delete {
                    "before"
                } else {
                    "after"
                }))
            }
            (None, _, _) => None,
        };
        Ok(Encoded {
            key_framed: key.as_ref().and_then(|_| self.framed(KEY)),
            value_framed: value.as_ref().and_then(|_| self.framed(VALUE)),
            key,
            value,
        })
    }

    /// The registry schema a key or value of this table is written with.
    fn framed(&self, which: usize) -> Option<Framed> {
        match (&self.avro[which], &self.json_schema[which]) {
            (Some(a), _) => Some(Framed::Avro(Arc::clone(a))),
            (None, Some(j)) => Some(Framed::Json(Arc::clone(j))),
            (None, None) => None,
        }
    }

    /// The value's payload (`None`: a flat delete's tombstone): wrapped as
    /// Connect JSON, or (`json_schema`) alone behind the wire-format header,
    /// decimals as numbers.
    fn payload_value(
        &self,
        ev: &ChangeEvent,
        opts: &EncodeOptions,
        info: &SourceInfo<'_>,
        spare: &mut Vec<Vec<u8>>,
        json_schema: bool,
    ) -> Result<Option<Vec<u8>>, CodecError> {
        let missing = |row| CodecError::MissingRow {
            op: ev.op.code(),
            row,
        };
        let (head, close) = match json_schema {
            true => (WIRE_HEADER, ""),
            false => (self.value_head.as_str(), "}"),
        };
        Ok(match opts.envelope {
            Envelope::Flat if ev.op == Op::Delete => None,
            Envelope::Flat => {
                let after = ev.after.as_ref().ok_or_else(|| missing("after"))?;
                let mut out = self.start(VALUE, head, spare);
                self.write_row(&mut out, after, None, "", ev, json_schema)?;
                out.push_str(close);
                Some(self.done(VALUE, out))
            }
            Envelope::Debezium => {
                let (before, after) = debezium_rows(ev)?;
                let mut out = self.start(VALUE, head, spare);
                out.push_str("{\"before\":");
                self.write_opt_row(&mut out, before, "before", ev, json_schema)?;
                out.push_str(",\"after\":");
                self.write_opt_row(&mut out, after, "after", ev, json_schema)?;
                envelope::write_tail(&mut out, &self.tail, ev, info);
                out.push('}');
                out.push_str(close);
                Some(self.done(VALUE, out))
            }
        })
    }

    fn write_opt_row(
        &self,
        out: &mut String,
        row: Option<&Vec<Value>>,
        prefix: &str,
        ev: &ChangeEvent,
        numeric_decimals: bool,
    ) -> Result<(), CodecError> {
        match row {
            Some(row) => self.write_row(out, row, None, prefix, ev, numeric_decimals),
            None => {
                out.push_str("null");
                Ok(())
            }
        }
    }

    /// A row must hold one value per column of the plan (both row writers check it).
    fn check_width(&self, row: &[Value], ev: &ChangeEvent) -> Result<(), CodecError> {
        if row.len() == self.cols.len() {
            return Ok(());
        }
        Err(CodecError::InvalidValue {
            field: ev.table.to_string(),
            reason: format!(
                "row has {} values but the schema has {} columns",
                row.len(),
                self.cols.len()
            ),
        })
    }

    /// Appends `{"col":value,...}` for all columns, or for `only` (the key);
    /// `numeric_decimals`: Decimal columns as exact numbers (JSON Schema),
    /// not JsonConverter's base64.
    fn write_row(
        &self,
        out: &mut String,
        row: &[Value],
        only: Option<&[usize]>,
        prefix: &str,
        ev: &ChangeEvent,
        numeric_decimals: bool,
    ) -> Result<(), CodecError> {
        self.check_width(row, ev)?;
        out.push('{');
        let mut write = |n: usize, i: usize| -> Result<(), CodecError> {
            let (Some(col), Some(v), Some(meta)) =
                (self.cols.get(i), row.get(i), self.schema.columns.get(i))
            else {
                return Ok(());
            };
            if n > 0 {
                out.push(',');
            }
            out.push_str(&col.prefix);
            let field = FieldRef {
                prefix,
                name: &meta.name,
            };
            match (col.conv, numeric_decimals) {
                (Conv::Decimal { scale }, true) if !v.is_null() => {
                    write_decimal_number(out, scale, v, field)
                }
                (conv, numeric) => {
                    let default = match conv {
                        Conv::Decimal { .. } if numeric => &col.default_number,
                        _ => &col.default,
                    };
                    let conv = conv.for_op(ev.op);
                    write_column(out, conv, col.optional, default.as_deref(), v, field)
                }
            }
        };
        match only {
            Some(idx) => idx.iter().enumerate().try_for_each(|(n, &i)| write(n, i))?,
            None => (0..row.len()).try_for_each(|i| write(i, i))?,
        }
        out.push('}');
        Ok(())
    }
}

/// The capacity for a message like the table's last one (`last_len`): its
/// length and an eighth, so that a message of about that size fits without
/// growing and leaves too little spare room to be worth shrinking (a
/// [`crate::source::emit::Buffers::Shrink`] buffer is shrunk, a copy, when a
/// quarter of it is spare); `first` before the table's first message.
pub(super) fn room(last_len: &AtomicUsize, first: usize) -> usize {
    match last_len.load(Ordering::Relaxed) {
        0 => first,
        last => last + last / 8,
    }
}

impl TablePlan {
    /// A message buffer beginning with `head`, with room for a message like
    /// the table's last one (`which`: [`KEY`] or [`VALUE`]): a spare one when
    /// there is one.
    fn start(&self, which: usize, head: &str, spare: &mut Vec<Vec<u8>>) -> String {
        let reused = spare.pop().and_then(|mut buf| {
            buf.clear();
            String::from_utf8(buf).ok() // empty: always valid
        });
        let mut out = reused.unwrap_or_else(|| {
            String::with_capacity(room(&self.last_len[which], head.len() + 512))
        });
        out.push_str(head);
        out
    }

    /// The finished message's bytes; remembers its length for the next.
    fn done(&self, which: usize, out: String) -> Vec<u8> {
        self.last_len[which].store(out.len(), Ordering::Relaxed);
        out.into_bytes()
    }
}

/// A Debezium envelope's `before` and `after` rows for the event's operation.
type Rows<'a> = (Option<&'a Vec<Value>>, Option<&'a Vec<Value>>);

fn debezium_rows(ev: &ChangeEvent) -> Result<Rows<'_>, CodecError> {
    let missing = |row| CodecError::MissingRow {
        op: ev.op.code(),
        row,
    };
    Ok(match ev.op {
        Op::Delete => (
            Some(ev.before.as_ref().ok_or_else(|| missing("before"))?),
            None,
        ),
        Op::Update => (
            ev.before.as_ref(),
            Some(ev.after.as_ref().ok_or_else(|| missing("after"))?),
        ),
        Op::Create | Op::Read => (
            None,
            Some(ev.after.as_ref().ok_or_else(|| missing("after"))?),
        ),
    })
}

/// A Connect schema's JsonConverter form, parsed: what the Avro and JSON
/// Schema derivations read (as the registry path derived them from a
/// Connect JSON message before the bodies were written directly).
fn connect_json(
    schema: &ConnectSchema,
    part: MessagePart,
) -> Result<serde_json::Value, CodecError> {
    let mut text = String::with_capacity(512);
    schema.render(&mut text);
    serde_json::from_str(&text).map_err(|source| CodecError::Json { part, source })
}

/// Confluent's wire-format header with a zero schema id (magic byte 0, then
/// the id the publisher writes in once the registry has given it).
const WIRE_HEADER: &str = "\0\0\0\0\0";

fn head(schema: &ConnectSchema) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("{\"schema\":");
    schema.render(&mut out);
    out.push_str(",\"payload\":");
    out
}

mod avro_body;
#[cfg(test)]
mod tests;
