//! Schemaless JSON records (`value.converter.schemas.enable = false`, and
//! the key's likewise) typed by the target table: each field of a plain
//! JSON object is read as the type of the table's column of that name, by
//! wrapping the object in a Connect JSON envelope whose schema holds those
//! columns ([`crate::connect::schemaless`]); the ordinary decoder then reads
//! it. A field the table has no column for is the record's error, naming it.
//! Tables are never created or altered for such records (validation refuses
//! `auto_create`/`auto_evolve` with schemaless values).

use serde_json::{Map, Value as Json};

use super::record::RecordError;
use crate::connect::schemaless::{wrap_primitive, wrap_struct};
use crate::schema::{Column, TableSchema};

/// The columns of `table` the object's fields name (found under `fold`, the
/// name the target gives a field), each carrying its field's name.
fn columns(
    table: &TableSchema,
    object: &Map<String, Json>,
    fold: &dyn Fn(&str) -> String,
) -> Result<Vec<Column>, RecordError> {
    object
        .keys()
        .map(|field| {
            let column = table
                .column(&fold(field))
                .ok_or_else(|| RecordError::NoColumn {
                    field: field.clone(),
                    table: table.name.clone(),
                })?;
            Ok(Column {
                name: field.clone(),
                ..column.clone()
            })
        })
        .collect()
}

fn wrap_object(
    table: &TableSchema,
    object: &Map<String, Json>,
    fold: &dyn Fn(&str) -> String,
    raw: &str,
) -> Result<String, RecordError> {
    let cols = columns(table, object, fold)?;
    let refs: Vec<&Column> = cols.iter().collect();
    Ok(wrap_struct(&refs, raw))
}

fn text<'b>(part: &'static str, bytes: &'b [u8]) -> Result<&'b str, RecordError> {
    std::str::from_utf8(bytes).map_err(|_| RecordError::Schemaless {
        part,
        reason: "not UTF-8".into(),
    })
}

/// A schemaless value (a JSON object, or `null`) as Connect JSON with the
/// schema of `table`'s columns it names.
pub(super) fn wrap_value(
    table: &TableSchema,
    fold: &dyn Fn(&str) -> String,
    bytes: &[u8],
) -> Result<String, RecordError> {
    let bad = |reason: String| RecordError::Schemaless {
        part: "value",
        reason,
    };
    let raw = text("value", bytes)?;
    let parsed: Json = serde_json::from_str(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
    match parsed {
        Json::Object(object) => wrap_object(table, &object, fold, raw),
        Json::Null => Ok(r#"{"schema":null,"payload":null}"#.to_string()),
        _ => Err(bad("not a JSON object".into())),
    }
}

/// A schemaless key: an object (typed by the columns it names), a primitive
/// (typed by the column `pk_fields[0]`), or `null` (`None`).
pub(super) fn wrap_key(
    table: &TableSchema,
    fold: &dyn Fn(&str) -> String,
    pk_fields: &[String],
    bytes: &[u8],
) -> Result<Option<String>, RecordError> {
    let bad = |reason: String| RecordError::Schemaless {
        part: "key",
        reason,
    };
    let raw = text("key", bytes)?;
    let parsed: Json = serde_json::from_str(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
    match parsed {
        Json::Null => Ok(None),
        Json::Object(object) => wrap_object(table, &object, fold, raw).map(Some),
        Json::Array(_) => Err(bad("an array cannot be a key".into())),
        _ => {
            let name = pk_fields
                .first()
                .ok_or(RecordError::PrimitiveKeyNeedsName)?;
            let column = table
                .column(&fold(name))
                .ok_or_else(|| RecordError::NoColumn {
                    field: name.clone(),
                    table: table.name.clone(),
                })?;
            Ok(Some(wrap_primitive(column, raw)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::ColumnType;

    fn same(name: &str) -> String {
        name.to_string()
    }

    #[test]
    fn folded_names_find_their_columns() {
        let lower = |n: &str| n.to_ascii_lowercase();
        let text = wrap_value(&table(), &lower, br#"{"ID":4}"#).expect("wraps");
        let d = crate::connect::decode(None, Some(text.as_bytes())).expect("decodes");
        let (schema, row) = d.value.expect("value");
        assert_eq!(schema.columns[0].name, "ID", "the field keeps its name");
        assert_eq!(row, [crate::event::Value::Int(4)]);
    }

    fn table() -> TableSchema {
        TableSchema {
            name: "t".into(),
            columns: vec![
                Column::new("id", ColumnType::Int32, false),
                Column::new("name", ColumnType::String { max_len: None }, true),
            ],
            primary_key: vec!["id".into()],
        }
    }

    #[test]
    fn objects_are_typed_by_the_columns_they_name() {
        let text = wrap_value(&table(), &same, br#"{"name":"a","id":3}"#).expect("wraps");
        let d = crate::connect::decode(None, Some(text.as_bytes())).expect("decodes");
        let (schema, row) = d.value.expect("value");
        let at = |n: &str| schema.column_index(n).and_then(|i| row.get(i)).cloned();
        assert_eq!(at("id"), Some(crate::event::Value::Int(3)));
        assert_eq!(at("name"), Some(crate::event::Value::String("a".into())));
    }

    #[test]
    fn unknown_fields_and_non_objects_are_the_records_errors() {
        let e = wrap_value(&table(), &same, br#"{"id":1,"extra":2}"#).err();
        assert_eq!(
            e,
            Some(RecordError::NoColumn {
                field: "extra".into(),
                table: "t".into()
            })
        );
        assert!(wrap_value(&table(), &same, b"[1]").is_err());
        assert!(wrap_value(&table(), &same, b"{oops").is_err());
        let key = wrap_key(&table(), &same, &["id".into()], b"42").expect("key");
        let d = crate::connect::decode(key.as_deref().map(str::as_bytes), None).expect("key");
        assert_eq!(
            d.key.map(|(_, r)| r),
            Some(vec![crate::event::Value::Int(42)])
        );
    }
}
