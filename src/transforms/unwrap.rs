//! Debezium's `io.debezium.transforms.ExtractNewRecordState` (3.6), the
//! "unwrap" every Debezium-to-JDBC pipeline runs: the envelope's `after`
//! row becomes the value, deletes are handled by
//! `delete.tombstone.handling.mode`, and envelope fields can be copied into
//! the value (`add.fields`) or headers (`add.headers`).
//!
//! Observed behaviour of Debezium's class that is kept here on purpose (the
//! tests diff against it):
//! * A record whose value schema's name does not end in `.Envelope`
//!   (heartbeats, schema changes) passes unchanged.
//! * With nothing added, the value schema is the envelope's `after` schema
//!   as it is (optional); once fields are added it is a copy of its name,
//!   version, doc and parameters with `optional` false.
//! * `rewrite` modes add `__deleted` (optional string `"true"`/`"false"`)
//!   first, then `add.fields`; `__deleted` is added the way Connect's
//!   `InsertField` does it, which writes a null field's default instead of
//!   the null unless `replace.null.with.default = false`.
//! * The `tombstone` mode turns a delete into a record with the `after`
//!   schema and a null value (JsonConverter writes it as
//!   `{"schema": …, "payload": null}`); `delete-to-tombstone` into a true
//!   tombstone. Debezium's own tombstones are dropped except in
//!   `rewrite-with-tombstone`, which keeps them (with the `op` header).
//! * Fields named in `add.fields`/`add.headers` that the envelope lacks are
//!   skipped.

use serde_json::{Map, Value as Json};

use super::record::{header_text, optional, Data, Header, Record};
use super::{Props, TransformError};
use crate::connect::schema_json::{ConnectSchema, SchemaType};

/// `delete.tombstone.handling.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeleteMode {
    Drop,
    Tombstone,
    Rewrite,
    RewriteWithTombstone,
    DeleteToTombstone,
}

/// One `add.fields` / `add.headers` entry: where the field is, and its new name.
#[derive(Debug, Clone)]
struct FieldRef {
    /// `None`: a top-level envelope field; else the struct (`source`, `transaction`).
    within: Option<String>,
    field: String,
    new_name: String,
}

impl FieldRef {
    fn parse(entry: &str, prefix: &str) -> FieldRef {
        let (path, alias) = match entry.split_once(':') {
            Some((p, a)) => (p.trim(), Some(a.trim())),
            None => (entry.trim(), None),
        };
        let (within, field) = match path.split_once('.') {
            Some((s, f)) => (Some(s.to_owned()), f.to_owned()),
            None => match path {
                "op" | "ts_ms" | "ts_us" | "ts_ns" => (None, path.to_owned()),
                "id" | "total_order" | "data_collection_order" => {
                    (Some("transaction".to_owned()), path.to_owned())
                }
                _ => (Some("source".to_owned()), path.to_owned()),
            },
        };
        let new_name = match alias {
            Some(a) => format!("{prefix}{a}"),
            None => format!("{prefix}{}", path.replace('.', "_")),
        };
        FieldRef {
            within,
            field,
            new_name,
        }
    }

    /// The field's schema and value in the envelope, if it has the field.
    fn lookup<'a>(
        &self,
        schema: &'a ConnectSchema,
        value: &'a Map<String, Json>,
    ) -> Option<(&'a ConnectSchema, &'a Json)> {
        match &self.within {
            None => Some((schema.member(&self.field)?, value.get(&self.field)?)),
            Some(s) => {
                let inner = schema.member(s)?;
                let fs = inner.member(&self.field)?;
                let v = value
                    .get(s)
                    .and_then(|v| v.as_object())
                    .and_then(|o| o.get(&self.field))
                    .unwrap_or(&Json::Null);
                Some((fs, v))
            }
        }
    }
}

/// The configured transform.
#[derive(Debug)]
pub(crate) struct ExtractNewRecordState {
    mode: DeleteMode,
    fields: Vec<FieldRef>,
    headers: Vec<FieldRef>,
    route_by_field: Option<String>,
    replace_null_with_default: bool,
}

fn list(text: &str) -> Vec<&str> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

impl ExtractNewRecordState {
    pub(crate) fn configure(p: &mut Props<'_>) -> Result<Self, TransformError> {
        let mode = match p.take("delete.tombstone.handling.mode").as_deref() {
            None | Some("tombstone") => DeleteMode::Tombstone,
            Some("drop") => DeleteMode::Drop,
            Some("rewrite") => DeleteMode::Rewrite,
            Some("rewrite-with-tombstone") => DeleteMode::RewriteWithTombstone,
            Some("delete-to-tombstone") => DeleteMode::DeleteToTombstone,
            Some(other) => {
                return Err(p.invalid(
                    "delete.tombstone.handling.mode",
                    format!("`{other}` is not one of drop, tombstone, rewrite, rewrite-with-tombstone, delete-to-tombstone"),
                ))
            }
        };
        for removed in ["delete.handling.mode", "drop.tombstones"] {
            if p.take(removed).is_some() {
                return Err(p.invalid(
                    removed,
                    "was removed in Debezium 3; use delete.tombstone.handling.mode \
                     (drop, tombstone, rewrite, rewrite-with-tombstone, delete-to-tombstone)"
                        .into(),
                ));
            }
        }
        let field_prefix = p.take("add.fields.prefix").unwrap_or_else(|| "__".into());
        let header_prefix = p.take("add.headers.prefix").unwrap_or_else(|| "__".into());
        let fields = list(&p.take("add.fields").unwrap_or_default())
            .into_iter()
            .map(|e| FieldRef::parse(e, &field_prefix))
            .collect();
        let headers = list(&p.take("add.headers").unwrap_or_default())
            .into_iter()
            .map(|e| FieldRef::parse(e, &header_prefix))
            .collect();
        let route_by_field = p.take("route.by.field").filter(|s| !s.trim().is_empty());
        let replace_null_with_default = p.bool("replace.null.with.default", true)?;
        Ok(ExtractNewRecordState {
            mode,
            fields,
            headers,
            route_by_field,
            replace_null_with_default,
        })
    }

    pub(crate) fn apply(&self, mut r: Record) -> Result<Option<Record>, TransformError> {
        let Some(value) = r.value.take() else {
            if self.mode != DeleteMode::RewriteWithTombstone {
                return Ok(None);
            }
            if self
                .headers
                .iter()
                .any(|h| h.within.is_none() && h.field == "op")
            {
                let name = self
                    .headers
                    .iter()
                    .find(|h| h.within.is_none() && h.field == "op")
                    .map(|h| h.new_name.clone())
                    .unwrap_or_default();
                r.headers.push(Header {
                    key: name,
                    value: Some(b"d".to_vec()),
                });
            }
            return Ok(Some(r));
        };
        let envelope = match &value.schema {
            Some(s) if s.name.as_deref().is_some_and(|n| n.ends_with(".Envelope")) => s,
            _ => {
                r.value = Some(value);
                return Ok(Some(r));
            }
        };
        let Some(payload) = value.value.as_object() else {
            r.value = Some(value);
            return Ok(Some(r));
        };
        for h in &self.headers {
            if let Some((s, v)) = h.lookup(envelope, payload) {
                r.headers.push(Header {
                    key: h.new_name.clone(),
                    value: header_text(Some(s), v),
                });
            }
        }
        let after = payload.get("after").filter(|v| !v.is_null());
        let is_delete = after.is_none() && payload.get("op").and_then(Json::as_str) == Some("d");
        if after.is_none() && !is_delete {
            // A truncate (or an envelope without a row): nothing to write.
            return Ok(None);
        }
        let rewrite = matches!(
            self.mode,
            DeleteMode::Rewrite | DeleteMode::RewriteWithTombstone
        );
        let (side, row) = if is_delete {
            match self.mode {
                DeleteMode::Drop => return Ok(None),
                DeleteMode::DeleteToTombstone => {
                    r.value = None;
                    return Ok(Some(r));
                }
                DeleteMode::Tombstone => {
                    r.value = Some(Data {
                        schema: envelope.member("after").cloned(),
                        value: Json::Null,
                    });
                    return Ok(Some(r));
                }
                DeleteMode::Rewrite | DeleteMode::RewriteWithTombstone => (
                    "before",
                    payload.get("before").cloned().unwrap_or(Json::Null),
                ),
            }
        } else {
            ("after", after.cloned().unwrap_or(Json::Null))
        };
        let Some(row_schema) = envelope.member(side).cloned() else {
            return Err(TransformError::Record {
                reason: format!("the envelope has no `{side}` field"),
            });
        };
        if let Some(field) = &self.route_by_field {
            match row.get(field) {
                Some(Json::String(t)) => r.topic = t.clone(),
                _ => {
                    return Err(TransformError::Record {
                        reason: format!(
                            "route.by.field: `{side}.{field}` is not a string field of the row"
                        ),
                    })
                }
            }
        }
        let mut data = Data {
            schema: Some(row_schema),
            value: row,
        };
        if !rewrite {
            // Debezium rebuilds the row's schema (required) even when it adds nothing.
            data = insert_fields(&data, &[], false);
        } else {
            let deleted = if is_delete { "true" } else { "false" };
            data = insert_fields(
                &data,
                &[(
                    "__deleted".to_owned(),
                    ConnectSchema::new(SchemaType::String, true),
                    Json::String(deleted.into()),
                )],
                self.replace_null_with_default,
            );
        }
        let added: Vec<(String, ConnectSchema, Json)> = self
            .fields
            .iter()
            .filter_map(|f| {
                f.lookup(envelope, payload)
                    .map(|(s, v)| (f.new_name.clone(), optional(s), v.clone()))
            })
            .collect();
        if !added.is_empty() {
            data = insert_fields(&data, &added, false);
        }
        r.value = Some(data);
        Ok(Some(r))
    }
}

/// A struct with `extra` fields appended: the schema a copy of the row's
/// name, version, doc and parameters (required), as Connect's
/// `SchemaUtil.copySchemaBasics` makes it; `with_defaults` writes a null
/// field's default instead of the null (Connect's `Struct.get`).
pub(crate) fn insert_fields(
    data: &Data,
    extra: &[(String, ConnectSchema, Json)],
    with_defaults: bool,
) -> Data {
    let Some(schema) = &data.schema else {
        return data.clone();
    };
    let mut out_schema = copy_basics(schema);
    out_schema.fields = schema.fields.clone();
    let mut out = Map::new();
    let row = data.value.as_object();
    for (name, fs) in &schema.fields {
        let v = row.and_then(|o| o.get(name)).cloned().unwrap_or(Json::Null);
        out.insert(name.clone(), value_or_default(v, fs, with_defaults));
    }
    for (name, fs, v) in extra {
        out_schema.fields.push((name.clone(), fs.clone()));
        out.insert(name.clone(), v.clone());
    }
    Data {
        schema: Some(out_schema),
        value: Json::Object(out),
    }
}

/// `v`, or the field's default when `v` is null and `with_defaults`.
pub(crate) fn value_or_default(v: Json, fs: &ConnectSchema, with_defaults: bool) -> Json {
    if v.is_null() && with_defaults {
        if let Some(d) = &fs.default {
            return serde_json::from_str(d).unwrap_or(Json::Null);
        }
    }
    v
}

/// A struct schema with the name, version, doc and parameters of `schema`
/// and no fields, required (`SchemaUtil.copySchemaBasics(schema, SchemaBuilder.struct())`).
pub(crate) fn copy_basics(schema: &ConnectSchema) -> ConnectSchema {
    let mut s = ConnectSchema::new(SchemaType::Struct, false);
    s.name = schema.name.clone();
    s.version = schema.version;
    s.doc = schema.doc.clone();
    s.parameters = schema.parameters.clone();
    s
}
