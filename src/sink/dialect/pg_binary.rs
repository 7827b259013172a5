//! PostgreSQL's binary COPY format, for the column types whose wire format
//! is plain: the server parses it with less CPU than text (no digit,
//! date or escape parsing; about a sixth less for a narrow table measured
//! with `\copy`), and the sink's COPY is usually the slowest stage.
//!
//! Binary input must match the target column's type exactly (an `int4`
//! column takes 4 bytes, not 8), so the format is used only for columns whose
//! native type is known ([`BinaryKind::of`], from the table's description)
//! and only for values of the matching kind; anything else makes the caller
//! write the run in text format, whose conversions the server does.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::literal::MICROS_PER_DAY;
use crate::event::Value;

/// A PostgreSQL column type Sluice writes in binary COPY format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryKind {
    /// `smallint`.
    Int2,
    /// `integer`.
    Int4,
    /// `bigint`.
    Int8,
    /// `boolean`.
    Bool,
    /// `real`.
    Float4,
    /// `double precision`.
    Float8,
    /// `text`, `character varying` (the server checks the length).
    Text,
    /// `bytea`.
    Bytea,
    /// `date`.
    Date,
    /// `timestamp without time zone`.
    Timestamp,
}

impl BinaryKind {
    /// The kind of a column from its `information_schema.columns.data_type`.
    pub fn of(data_type: &str) -> Option<BinaryKind> {
        Some(match data_type {
            "smallint" => BinaryKind::Int2,
            "integer" => BinaryKind::Int4,
            "bigint" => BinaryKind::Int8,
            "boolean" => BinaryKind::Bool,
            "real" => BinaryKind::Float4,
            "double precision" => BinaryKind::Float8,
            "text" | "character varying" => BinaryKind::Text,
            "bytea" => BinaryKind::Bytea,
            "date" => BinaryKind::Date,
            "timestamp without time zone" => BinaryKind::Timestamp,
            _ => return None,
        })
    }
}

/// The binary-writable columns of one table, by column name: their kind and
/// native type name (`information_schema.columns.data_type`, which is what
/// `format_type` prints for these types).
pub type TableKinds = HashMap<String, (BinaryKind, String)>;

/// The binary-writable columns of every described table of one target,
/// shared between the apply side (which describes tables) and the planners.
#[derive(Debug, Clone, Default)]
pub struct CopyFormats(Arc<RwLock<HashMap<String, Arc<TableKinds>>>>);

impl CopyFormats {
    /// Records `table`'s columns as just described.
    pub fn set(&self, table: &str, kinds: TableKinds) {
        if let Ok(mut map) = self.0.write() {
            map.insert(table.to_string(), Arc::new(kinds));
        }
    }

    /// `table`'s columns, when described.
    pub fn get(&self, table: &str) -> Option<Arc<TableKinds>> {
        self.0.read().ok()?.get(table).cloned()
    }

    /// Forgets `table` (its COPYs go in text format until it is described again).
    pub fn forget(&self, table: &str) {
        if let Ok(mut map) = self.0.write() {
            map.remove(table);
        }
    }
}

/// A statement that fails (rolling the transaction back) unless `columns`
/// of `table` (a quoted identifier) still have the native types `types`.
/// Run after a binary COPY in its transaction — which holds the table's lock
/// from the COPY on, so no `ALTER` can come between — it turns a column
/// retyped behind Sluice's back (whose binary input could otherwise be read
/// as another type of the same width) into an error, and the batch is
/// applied again in text format. `None` when a name needs quoting this
/// check does not do.
pub fn types_check(table: &str, columns: &[&str], types: &[&str]) -> Option<String> {
    let plain = |s: &str| !s.contains(['$', '\\', '\'', ',', ':', '%']);
    if !plain(table) || !columns.iter().chain(types).all(|s| plain(s)) {
        return None;
    }
    let mut pairs: Vec<(&str, &str)> = columns.iter().copied().zip(types.iter().copied()).collect();
    pairs.sort_unstable();
    let names: Vec<String> = pairs.iter().map(|(c, _)| format!("'{c}'")).collect();
    let expected: Vec<String> = pairs.iter().map(|(c, t)| format!("{c}:{t}")).collect();
    Some(format!(
        "DO $sluice$BEGIN IF (SELECT string_agg(attname || ':' || format_type(atttypid, NULL), ',' ORDER BY attname::text COLLATE \"C\") \
         FROM pg_attribute WHERE attrelid = '{table}'::regclass AND NOT attisdropped AND attname IN ({})) \
         IS DISTINCT FROM '{}' THEN RAISE EXCEPTION 'the column types of {table} changed since Sluice read them'; \
         END IF; END$sluice$",
        names.join(", "),
        expected.join(",")
    ))
}

/// Days from 1970-01-01 to PostgreSQL's epoch, 2000-01-01.
const PG_EPOCH_DAYS: i64 = 10_957;
/// 0001-01-01 and 9999-12-31 in days since 1970-01-01: binary dates and
/// timestamps are written only in this range (others go as text, whose
/// era handling the server does).
const MIN_DAYS: i64 = -719_162;
const MAX_DAYS: i64 = 2_932_896;

/// The COPY binary header (signature, flags, header extension length).
const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Rows in binary COPY format for columns of `kinds`; `None` when a value
/// does not match its column's kind (the caller then writes text).
pub fn copy_binary(rows: &[&[Value]], kinds: &[BinaryKind]) -> Option<Vec<u8>> {
    let fields = i16::try_from(kinds.len()).ok()?;
    let mut out = Vec::with_capacity(HEADER.len() + 2 + rows.len() * (2 + kinds.len() * 12));
    out.extend_from_slice(HEADER);
    for row in rows {
        if row.len() != kinds.len() {
            return None;
        }
        out.extend_from_slice(&fields.to_be_bytes());
        for (value, kind) in row.iter().zip(kinds) {
            if !write_field(&mut out, value, *kind) {
                return None;
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    Some(out)
}

fn field(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let Ok(len) = i32::try_from(bytes.len()) else {
        return false;
    };
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
    true
}

/// Appends one field; false when `value` is not written as `kind` here.
fn write_field(out: &mut Vec<u8>, value: &Value, kind: BinaryKind) -> bool {
    match (value, kind) {
        (Value::Null, _) => {
            out.extend_from_slice(&(-1i32).to_be_bytes());
            true
        }
        (Value::Int(i), BinaryKind::Int8) => field(out, &i.to_be_bytes()),
        (Value::Int(i), BinaryKind::Int4) => {
            i32::try_from(*i).is_ok_and(|v| field(out, &v.to_be_bytes()))
        }
        (Value::Int(i), BinaryKind::Int2) => {
            i16::try_from(*i).is_ok_and(|v| field(out, &v.to_be_bytes()))
        }
        (Value::Boolean(b), BinaryKind::Bool) => field(out, &[u8::from(*b)]),
        (Value::Float64(f), BinaryKind::Float8) => field(out, &f.to_bits().to_be_bytes()),
        (Value::Float32(f), BinaryKind::Float8) => {
            field(out, &f64::from(*f).to_bits().to_be_bytes())
        }
        (Value::Float32(f), BinaryKind::Float4) => field(out, &f.to_bits().to_be_bytes()),
        // PostgreSQL text cannot hold NUL: text format reports that.
        (Value::String(s), BinaryKind::Text) => !s.contains('\0') && field(out, s.as_bytes()),
        (Value::Bytes(b), BinaryKind::Bytea) => field(out, b),
        (Value::Date(days), BinaryKind::Date) => {
            let days = i64::from(*days);
            (MIN_DAYS..=MAX_DAYS).contains(&days)
                && i32::try_from(days - PG_EPOCH_DAYS).is_ok_and(|d| field(out, &d.to_be_bytes()))
        }
        (Value::Timestamp(micros), BinaryKind::Timestamp) => {
            let days = micros.div_euclid(MICROS_PER_DAY);
            (MIN_DAYS..=MAX_DAYS).contains(&days)
                && field(
                    out,
                    &(micros - PG_EPOCH_DAYS * MICROS_PER_DAY).to_be_bytes(),
                )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(value: Value, kind: BinaryKind) -> Option<Vec<u8>> {
        let row = [value];
        let rows: [&[Value]; 1] = [&row];
        let data = copy_binary(&rows, &[kind])?;
        // header, field count 1, the field, trailer -1
        assert_eq!(&data[..HEADER.len()], HEADER);
        assert_eq!(&data[HEADER.len()..HEADER.len() + 2], &[0, 1]);
        assert_eq!(&data[data.len() - 2..], &[0xff, 0xff]);
        Some(data[HEADER.len() + 2..data.len() - 2].to_vec())
    }

    #[test]
    fn integers_take_their_column_width() {
        assert_eq!(
            one(Value::Int(-2), BinaryKind::Int8),
            Some(vec![0, 0, 0, 8, 255, 255, 255, 255, 255, 255, 255, 254])
        );
        assert_eq!(
            one(Value::Int(258), BinaryKind::Int4),
            Some(vec![0, 0, 0, 4, 0, 0, 1, 2])
        );
        assert_eq!(
            one(Value::Int(7), BinaryKind::Int2),
            Some(vec![0, 0, 0, 2, 0, 7])
        );
        // Out of the column's range: text, where the server reports it.
        assert_eq!(one(Value::Int(1 << 40), BinaryKind::Int4), None);
        assert_eq!(one(Value::Int(40_000), BinaryKind::Int2), None);
    }

    #[test]
    fn null_is_length_minus_one() {
        assert_eq!(
            one(Value::Null, BinaryKind::Timestamp),
            Some(vec![255, 255, 255, 255])
        );
    }

    #[test]
    fn dates_and_timestamps_count_from_2000() {
        // 2000-01-01 is day 0; 1999-12-31 is -1.
        assert_eq!(
            one(Value::Date(10_957), BinaryKind::Date),
            Some(vec![0, 0, 0, 4, 0, 0, 0, 0])
        );
        assert_eq!(
            one(Value::Date(10_956), BinaryKind::Date),
            Some(vec![0, 0, 0, 4, 255, 255, 255, 255])
        );
        // 2000-01-01 00:00:00.000001
        let us = 10_957 * MICROS_PER_DAY + 1;
        assert_eq!(
            one(Value::Timestamp(us), BinaryKind::Timestamp),
            Some(vec![0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 1])
        );
        // Before year 1: text, with its era.
        assert_eq!(one(Value::Date(-800_000), BinaryKind::Date), None);
        assert_eq!(
            one(
                Value::Timestamp(-800_000 * MICROS_PER_DAY),
                BinaryKind::Timestamp
            ),
            None
        );
    }

    #[test]
    fn mismatched_kinds_and_nul_fall_back_to_text() {
        assert_eq!(one(Value::String("1".into()), BinaryKind::Int8), None);
        assert_eq!(one(Value::Int(1), BinaryKind::Text), None);
        assert_eq!(one(Value::Float64(1.5), BinaryKind::Float4), None);
        assert_eq!(one(Value::String("a\0b".into()), BinaryKind::Text), None);
        assert_eq!(one(Value::Decimal("1.5".into()), BinaryKind::Float8), None);
        assert_eq!(
            one(Value::String("é".into()), BinaryKind::Text),
            Some(vec![0, 0, 0, 2, 0xc3, 0xa9])
        );
        assert_eq!(
            one(Value::Float32(1.5), BinaryKind::Float8),
            Some([vec![0, 0, 0, 8], 1.5f64.to_bits().to_be_bytes().to_vec()].concat())
        );
    }

    #[test]
    fn kinds_come_from_information_schema_names() {
        assert_eq!(BinaryKind::of("bigint"), Some(BinaryKind::Int8));
        assert_eq!(BinaryKind::of("character varying"), Some(BinaryKind::Text));
        assert_eq!(
            BinaryKind::of("timestamp without time zone"),
            Some(BinaryKind::Timestamp)
        );
        assert_eq!(BinaryKind::of("timestamp with time zone"), None);
        assert_eq!(BinaryKind::of("numeric"), None);
        assert_eq!(BinaryKind::of("uuid"), None);
        assert_eq!(BinaryKind::of("character"), None);
    }

    #[test]
    fn names_the_check_cannot_quote_get_no_check() {
        let check = types_check("\"t\"", &["id", "v"], &["bigint", "text"]).expect("plain");
        assert!(
            check.contains("IS DISTINCT FROM 'id:bigint,v:text'"),
            "{check}"
        );
        for bad in ["a%b", "a'b", "a$b", "a\\b", "a,b", "a:b"] {
            assert!(types_check("\"t\"", &[bad], &["bigint"]).is_none(), "{bad}");
            assert!(
                types_check(&format!("\"{bad}\""), &["id"], &["bigint"]).is_none(),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_row_of_another_width_is_refused() {
        let row = [Value::Int(1), Value::Int(2)];
        let rows: [&[Value]; 1] = [&row];
        assert_eq!(copy_binary(&rows, &[BinaryKind::Int8]), None);
    }
}
