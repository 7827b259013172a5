//! The encoder's Avro bodies ([`Encoder::with_avro`](super::Encoder::with_avro)):
//! the same messages as the JSON path, written straight from the row values
//! by the table's Avro schema ([`crate::connect::avro::write_column`]), each
//! behind Confluent's 5-byte header with a zero schema id (the publisher
//! fills it in).

use std::sync::Arc;

use super::{debezium_rows, EncodeOptions, TablePlan, KEY, VALUE};
use crate::connect::avro::{self, AvroSchema, Node};
use crate::connect::envelope::{self, SourceInfo};
use crate::connect::error::{CodecError, FieldRef};
use crate::connect::options::Envelope;
use crate::event::{ChangeEvent, Op, Value};
use std::sync::atomic::Ordering;

/// Magic byte 0 and a schema id not known yet.
const HEADER: [u8; 5] = [0; 5];

fn shape(node: &Node, what: &str) -> CodecError {
    CodecError::InvalidValue {
        field: what.into(),
        reason: format!("unexpected Avro schema shape {node:?}"),
    }
}

impl TablePlan {
    /// The Avro value (`None`: a flat delete's tombstone).
    pub(super) fn avro_value(
        &self,
        schema: &Arc<AvroSchema>,
        ev: &ChangeEvent,
        opts: &EncodeOptions,
        info: &SourceInfo<'_>,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<Option<Vec<u8>>, CodecError> {
        let node = &schema.node;
        match opts.envelope {
            Envelope::Flat if ev.op == Op::Delete => Ok(None),
            Envelope::Flat => {
                let after = ev.after.as_ref().ok_or(CodecError::MissingRow {
                    op: ev.op.code(),
                    row: "after",
                })?;
                let mut out = self.start_avro(VALUE, spare);
                self.avro_row(&mut out, node, after, None, "", ev)?;
                Ok(Some(self.done_avro(VALUE, out)))
            }
            Envelope::Debezium => {
                let (before, after) = debezium_rows(ev)?;
                let Node::Record(fields) = node else {
                    return Err(shape(node, "(envelope)"));
                };
                let [(_, before_node), (_, after_node), (_, source_node), rest @ ..] =
                    fields.as_slice()
                else {
                    return Err(shape(node, "(envelope)"));
                };
                let Node::Record(source_fields) = source_node else {
                    return Err(shape(source_node, "source"));
                };
                let mut out = self.start_avro(VALUE, spare);
                self.avro_opt_row(&mut out, before_node, before, "before", ev)?;
                self.avro_opt_row(&mut out, after_node, after, "after", ev)?;
                let source = envelope::source_scalars(&opts.connector, &opts.server_name, ev, info);
                let tail = envelope::after_source_scalars(ev, info);
                if source_fields.len() != source.len() || rest.len() != tail.len() {
                    return Err(shape(node, "(envelope)"));
                }
                for ((name, n), s) in source_fields.iter().zip(&source) {
                    let field = FieldRef {
                        prefix: "source",
                        name,
                    };
                    avro::write_scalar(&mut out, n, s.as_ref(), field)?;
                }
                for ((name, n), s) in rest.iter().zip(&tail) {
                    avro::write_scalar(&mut out, n, s.as_ref(), FieldRef::new(name))?;
                }
                Ok(Some(self.done_avro(VALUE, out)))
            }
        }
    }

    /// The Avro key of `row`.
    pub(super) fn avro_key(
        &self,
        schema: &Arc<AvroSchema>,
        row: &[Value],
        ev: &ChangeEvent,
        spare: &mut Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, CodecError> {
        let mut out = self.start_avro(KEY, spare);
        self.avro_row(&mut out, &schema.node, row, Some(&self.key_idx), "key", ev)?;
        Ok(self.done_avro(KEY, out))
    }

    /// An optional row struct (`before` / `after`).
    fn avro_opt_row(
        &self,
        out: &mut Vec<u8>,
        node: &Node,
        row: Option<&Vec<Value>>,
        prefix: &str,
        ev: &ChangeEvent,
    ) -> Result<(), CodecError> {
        match (node, row) {
            (Node::Optional { null_first, inner }, row) => {
                let (null_idx, value_idx) = if *null_first { (0, 1) } else { (1, 0) };
                match row {
                    None => avro::write_long(out, null_idx),
                    Some(row) => {
                        avro::write_long(out, value_idx);
                        self.avro_row(out, inner, row, None, prefix, ev)?;
                    }
                }
                Ok(())
            }
            (node, Some(row)) => self.avro_row(out, node, row, None, prefix, ev),
            (node, None) => Err(shape(node, prefix)),
        }
    }

    /// The record of all columns of `row`, or of `only` (the key).
    fn avro_row(
        &self,
        out: &mut Vec<u8>,
        node: &Node,
        row: &[Value],
        only: Option<&[usize]>,
        prefix: &str,
        ev: &ChangeEvent,
    ) -> Result<(), CodecError> {
        self.check_width(row, ev)?;
        let Node::Record(fields) = node else {
            return Err(shape(node, prefix));
        };
        let wanted = only.map_or(row.len(), <[usize]>::len);
        if fields.len() != wanted {
            return Err(shape(node, prefix));
        }
        let write = |out: &mut Vec<u8>, n: usize, i: usize| -> Result<(), CodecError> {
            let (Some(col), Some(v), Some(meta), Some((_, node))) = (
                self.cols.get(i),
                row.get(i),
                self.schema.columns.get(i),
                fields.get(n),
            ) else {
                return Ok(());
            };
            let field = FieldRef {
                prefix,
                name: &meta.name,
            };
            let default = meta.default.as_ref().filter(|d| !d.is_null());
            avro::write_column(
                out,
                node,
                col.conv.for_op(ev.op),
                col.optional,
                default,
                v,
                field,
            )
        };
        match only {
            Some(idx) => idx
                .iter()
                .enumerate()
                .try_for_each(|(n, &i)| write(out, n, i)),
            None => (0..row.len()).try_for_each(|i| write(out, i, i)),
        }
    }

    /// A buffer holding the wire header, with room for a message like the
    /// table's last one.
    fn start_avro(&self, which: usize, spare: &mut Vec<Vec<u8>>) -> Vec<u8> {
        let mut out = spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(super::room(&self.last_len[which], 64)));
        out.clear();
        out.extend_from_slice(&HEADER);
        out
    }

    fn done_avro(&self, which: usize, out: Vec<u8>) -> Vec<u8> {
        self.last_len[which].store(out.len(), Ordering::Relaxed);
        out
    }
}
