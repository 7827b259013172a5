//! Compiled schemas: what the decoder keeps per distinct schema text.
//!
//! A schema is parsed once into a [`Shape`] — null, a plain row struct, a
//! Debezium envelope around a row struct, or a primitive key — whose
//! [`RowPlan`] holds the `Arc<TableSchema>` handed to sinks (so equal schemas
//! share one pointer, which sinks use to skip re-planning DDL) and, per
//! column, the wire form, nullability and converted default. The cache keeps
//! the last schema per message part (compared as text, before any hashing)
//! and a map of up to [`MAX_CACHED_SCHEMAS`] more; past that it starts over,
//! which only costs re-parsing.

use std::collections::HashMap;
use std::sync::Arc;

use super::envelope;
use super::error::{CodecError, FieldRef, MessagePart};
use super::json_text::classify;
use super::schema_json::{ConnectSchema, SchemaType};
use super::types::{ColumnIssue, Conv};
use super::values::read_value;
use crate::event::Value;
use crate::schema::{Column, TableSchema};

/// Distinct schemas kept per message part before the cache is cleared.
pub(crate) const MAX_CACHED_SCHEMAS: usize = 1024;

/// How to read one column's payload.
#[derive(Debug)]
pub(crate) struct ColPlan {
    pub conv: Conv,
    pub optional: bool,
    pub default: Option<Value>,
}

/// A compiled struct (or primitive key) schema.
#[derive(Debug)]
pub(crate) struct RowPlan {
    pub schema: Arc<TableSchema>,
    pub cols: Vec<ColPlan>,
    /// Whether the struct itself may be null.
    pub optional: bool,
}

#[derive(Debug)]
pub(crate) enum Shape {
    /// `"schema":null`.
    Null,
    /// A plain struct.
    Row(RowPlan),
    /// A Debezium envelope around rows of this plan.
    Envelope { row: RowPlan, optional: bool },
    /// A primitive (key only): one column with an empty name.
    Primitive(RowPlan),
}

#[derive(Debug)]
pub(crate) struct Compiled {
    pub text: Box<str>,
    pub shape: Shape,
}

#[derive(Debug, Default)]
pub(crate) struct Cache {
    pub last: Option<Arc<Compiled>>,
    pub map: HashMap<Box<str>, Arc<Compiled>>,
}

pub(crate) fn compile(
    cache: &mut Cache,
    part: MessagePart,
    text: &str,
) -> Result<Arc<Compiled>, CodecError> {
    if let Some(last) = &cache.last {
        if &*last.text == text {
            return Ok(Arc::clone(last));
        }
    }
    let compiled = match cache.map.get(text) {
        Some(c) => Arc::clone(c),
        None => {
            let shape = compile_shape(part, text)?;
            let c = Arc::new(Compiled {
                text: text.into(),
                shape,
            });
            if cache.map.len() >= MAX_CACHED_SCHEMAS {
                cache.map.clear();
            }
            cache.map.insert(text.into(), Arc::clone(&c));
            c
        }
    };
    cache.last = Some(Arc::clone(&compiled));
    Ok(compiled)
}

fn compile_shape(part: MessagePart, text: &str) -> Result<Shape, CodecError> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|source| CodecError::Json { part, source })?;
    if json.is_null() {
        return Ok(Shape::Null);
    }
    let schema = ConnectSchema::parse(&json).map_err(|e| CodecError::InvalidSchema {
        part,
        path: e.path,
        reason: e.reason,
    })?;
    match schema.ty {
        SchemaType::Struct => {
            let row = match part {
                MessagePart::Value => {
                    envelope::row_schema(&schema).map_err(|reason| CodecError::InvalidSchema {
                        part,
                        path: String::new(),
                        reason,
                    })?
                }
                MessagePart::Key => None,
            };
            match row {
                Some(row) => Ok(Shape::Envelope {
                    row: row_plan(part, row, "after")?,
                    optional: schema.optional,
                }),
                None => Ok(Shape::Row(row_plan(part, &schema, "")?)),
            }
        }
        SchemaType::Array | SchemaType::Map => Err(CodecError::NotAStruct {
            part,
            found: schema.describe(),
        }),
        _ if part == MessagePart::Value => Err(CodecError::NotAStruct {
            part,
            found: schema.describe(),
        }),
        _ => {
            let mut s = schema.clone();
            s.fields = Vec::new();
            let one = ConnectSchema::new(SchemaType::Struct, schema.optional).field("", s);
            let mut plan = row_plan(part, &one, "")?;
            if let Some(t) = Arc::get_mut(&mut plan.schema) {
                t.name = schema.name.unwrap_or_default();
            }
            Ok(Shape::Primitive(plan))
        }
    }
}

fn row_plan(
    part: MessagePart,
    schema: &ConnectSchema,
    prefix: &str,
) -> Result<RowPlan, CodecError> {
    let mut cols = Vec::with_capacity(schema.fields.len());
    let mut columns = Vec::with_capacity(schema.fields.len());
    for (name, fs) in &schema.fields {
        let field = FieldRef { prefix, name };
        let (ty, conv) = Conv::from_schema(fs).map_err(|issue| match issue {
            ColumnIssue::Unsupported => CodecError::UnsupportedType {
                field: field.render(),
                ty: fs.describe(),
            },
            ColumnIssue::Invalid(reason) => CodecError::InvalidSchema {
                part,
                path: field.render(),
                reason,
            },
        })?;
        let default = match &fs.default {
            Some(text) => Some(read_value(classify(text), conv, field).map_err(|e| {
                CodecError::InvalidSchema {
                    part,
                    path: field.render(),
                    reason: format!("bad default: {e}"),
                }
            })?),
            None => None,
        };
        cols.push(ColPlan {
            conv,
            optional: fs.optional,
            default: default.clone(),
        });
        columns.push(Column {
            name: name.clone(),
            ty,
            optional: fs.optional,
            default,
            semantic: None,
            parameters: Vec::new(),
        });
    }
    let primary_key = match part {
        MessagePart::Key => columns.iter().map(|c| c.name.clone()).collect(),
        MessagePart::Value => Vec::new(),
    };
    let name = schema.name.clone().unwrap_or_default();
    let schema_out = Arc::new(TableSchema {
        name,
        columns,
        primary_key,
    });
    Ok(RowPlan {
        schema: schema_out,
        cols,
        optional: schema.optional,
    })
}
