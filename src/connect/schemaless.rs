//! Schemaless JSON (JsonConverter with `schemas.enable = false`) read as
//! Connect JSON: a plain JSON object (or, for a key, a primitive) is wrapped
//! in the envelope `{"schema": …, "payload": …}` whose schema the caller
//! takes from the target table's columns, so the ordinary decoder types each
//! field by its column (Connect JSON's wire forms: decimals as numbers,
//! Date as days, Time and Timestamp as milliseconds).

use super::schema_json::{ConnectSchema, SchemaType};
use super::types::Conv;
use super::{DecimalHandling, TimePrecision};
use crate::schema::{Column, ColumnType};

/// The Connect field schema a column of the target is read with.
fn column_schema(col: &Column) -> ConnectSchema {
    // `Adaptive`: a target's TIME(6)/DATETIME(6) column is read in µs, the others in ms.
    let conv = Conv::for_column(&col.ty, DecimalHandling::Precise, TimePrecision::Adaptive);
    let precision = match col.ty {
        ColumnType::Decimal { precision, .. } => precision,
        _ => None,
    };
    conv.schema(precision, col.optional)
}

/// `{"schema":<struct of columns>,"payload":<payload>}` for a JSON object
/// whose fields are, in order, `columns`.
pub fn wrap_struct(columns: &[&Column], payload: &str) -> String {
    let mut schema = ConnectSchema::new(SchemaType::Struct, false);
    for c in columns {
        schema = schema.field(c.name.clone(), column_schema(c));
    }
    wrap(&schema, payload)
}

/// `{"schema":<column's type>,"payload":<payload>}` for a primitive key.
pub fn wrap_primitive(column: &Column, payload: &str) -> String {
    wrap(&column_schema(column), payload)
}

fn wrap(schema: &ConnectSchema, payload: &str) -> String {
    let mut out = String::with_capacity(payload.len() + 256);
    out.push_str("{\"schema\":");
    schema.render(&mut out);
    out.push_str(",\"payload\":");
    out.push_str(payload);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Value;

    #[test]
    fn a_plain_object_decodes_typed_by_the_columns() {
        let cols = [
            Column::new("id", ColumnType::Int64, false),
            Column::new(
                "amount",
                ColumnType::Decimal {
                    scale: 2,
                    precision: Some(10),
                },
                true,
            ),
            Column::new("at", ColumnType::Timestamp, true),
            Column::new("name", ColumnType::String { max_len: None }, true),
        ];
        let refs: Vec<&Column> = cols.iter().collect();
        let text = wrap_struct(&refs, r#"{"id":7,"amount":12.5,"at":1000,"name":"x"}"#);
        let d = crate::connect::decode(None, Some(text.as_bytes())).expect("decodes");
        let (_, row) = d.value.expect("value");
        assert_eq!(
            row,
            [
                Value::Int(7),
                Value::Decimal("12.50".into()),
                Value::Timestamp(1_000_000),
                Value::String("x".into())
            ]
        );
        let bad = wrap_struct(&refs[..1], r#"{"id":"seven"}"#);
        assert!(crate::connect::decode(None, Some(bad.as_bytes())).is_err());
    }
}
