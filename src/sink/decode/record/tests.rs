use super::*;

fn mapper(pk_mode: PkMode, pk_fields: &[String]) -> RowMapper {
    RowMapper::new(MapRules {
        pk_mode,
        pk_fields: pk_fields.to_vec(),
        ..MapRules::default()
    })
}

fn value_schema() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        name: "orders".into(),
        columns: vec![
            Column::new("order_id", ColumnType::Int64, false),
            Column::new("item", ColumnType::String { max_len: None }, true),
        ],
        primary_key: vec![],
    })
}

fn rec(key: Option<(Arc<TableSchema>, Row)>) -> SinkRecord {
    SinkRecord {
        topic: "orders".into(),
        partition: 2,
        offset: 41,
        op: Op::Create,
        key,
        value: Some((
            value_schema(),
            vec![Value::Int(5), Value::String("book".into())],
        )),
    }
}

#[test]
fn none_mode_uses_value_fields() {
    let c = mapper(PkMode::None, &[]).map(&rec(None), "t").expect("map");
    assert_eq!(c.schema.columns.len(), 2);
    assert!(c.schema.primary_key.is_empty());
    assert_eq!(c.row[1], Value::String("book".into()));
}

#[test]
fn kafka_mode_prepends_coordinates() {
    let c = mapper(PkMode::Kafka, &[])
        .map(&rec(None), "t")
        .expect("map");
    assert_eq!(
        c.schema.primary_key,
        KAFKA_COLUMNS.map(str::to_string).to_vec()
    );
    assert_eq!(
        c.row[..3],
        [
            Value::String("orders".into()),
            Value::Int(2),
            Value::Int(41)
        ]
    );
    assert_eq!(c.row.len(), 5);
}

#[test]
fn record_value_mode_requires_fields() {
    let ok = mapper(PkMode::RecordValue, &["order_id".into()]).map(&rec(None), "t");
    assert_eq!(ok.expect("map").schema.primary_key, vec!["order_id"]);
    let err = mapper(PkMode::RecordValue, &["nope".into()]).map(&rec(None), "t");
    assert_eq!(err.err(), Some(RecordError::MissingPkField("nope".into())));
}

#[test]
fn record_value_mode_without_fields_keys_on_every_value_field() {
    let c = mapper(PkMode::RecordValue, &[])
        .map(&rec(None), "t")
        .expect("map");
    assert_eq!(c.schema.primary_key, vec!["order_id", "item"]);
    assert_eq!(c.row, [Value::Int(5), Value::String("book".into())]);
    // Key fields survive an exclude list, as they do with named pk_fields.
    let rules = MapRules {
        pk_mode: PkMode::RecordValue,
        fields: FieldFilter::Exclude(vec!["item".into()]),
        ..MapRules::default()
    };
    let c = RowMapper::new(rules).map(&rec(None), "t").expect("map");
    assert_eq!(c.schema.columns.len(), 2);
    let tombstone = SinkRecord {
        value: None,
        ..rec(None)
    };
    assert_eq!(
        mapper(PkMode::RecordValue, &[]).map(&tombstone, "t").err(),
        Some(RecordError::NoValueFields)
    );
}

#[test]
fn unquoted_names_fold_or_are_refused() {
    use crate::sink::dialect::Dialect;
    let rules = |d| MapRules {
        pk_mode: PkMode::RecordValue,
        pk_fields: vec!["order_id".into()],
        unquoted: Some(d),
        ..MapRules::default()
    };
    let c = RowMapper::new(rules(Dialect::Postgres))
        .map(&rec(None), "Orders")
        .expect("map");
    assert_eq!(c.table, "orders");
    assert_eq!(c.schema.name, "orders");
    assert_eq!(c.row, [Value::Int(5), Value::String("book".into())]);
    let c = RowMapper::new(rules(Dialect::MySql))
        .map(&rec(None), "Orders")
        .expect("map");
    assert_eq!(c.table, "Orders");
    let e = RowMapper::new(rules(Dialect::MySql)).map(&rec(None), "my-orders");
    assert!(e.err().is_some_and(|e| e
        .to_string()
        .contains("\"my-orders\" cannot be written unquoted")));
    let clash = Arc::new(TableSchema {
        name: "v".into(),
        columns: vec![
            Column::new("order_id", ColumnType::Int64, false),
            Column::new("Order_Id", ColumnType::Int64, true),
        ],
        primary_key: vec![],
    });
    let r = SinkRecord {
        value: Some((clash, vec![Value::Int(1), Value::Int(2)])),
        ..rec(None)
    };
    assert_eq!(
        RowMapper::new(rules(Dialect::Postgres)).map(&r, "t").err(),
        Some(RecordError::UnquotedClash(
            "order_id".into(),
            "Order_Id".into()
        ))
    );
}

#[test]
fn record_key_struct_and_primitive() {
    let key_schema = Arc::new(TableSchema {
        name: "k".into(),
        columns: vec![Column::new("order_id", ColumnType::Int64, false)],
        primary_key: vec![],
    });
    let r = rec(Some((key_schema, vec![Value::Int(5)])));
    let c = mapper(PkMode::RecordKey, &[]).map(&r, "t").expect("map");
    assert_eq!(c.schema.primary_key, vec!["order_id"]);
    assert_eq!(c.schema.columns.len(), 2, "key field not duplicated");

    let prim = Arc::new(TableSchema {
        name: String::new(),
        columns: vec![Column::new("", ColumnType::Int64, false)],
        primary_key: vec![],
    });
    let r = rec(Some((prim, vec![Value::Int(9)])));
    assert_eq!(
        mapper(PkMode::RecordKey, &[]).map(&r, "t").err(),
        Some(RecordError::PrimitiveKeyNeedsName)
    );
    let c = mapper(PkMode::RecordKey, &["id".into()])
        .map(&r, "t")
        .expect("map");
    assert_eq!(c.schema.columns[0].name, "id");
    assert_eq!(c.row[0], Value::Int(9));
}

#[test]
fn missing_key_is_an_error() {
    assert_eq!(
        mapper(PkMode::RecordKey, &[]).map(&rec(None), "t").err(),
        Some(RecordError::MissingKey)
    );
}

fn key_schema() -> Arc<TableSchema> {
    Arc::new(TableSchema {
        name: "k".into(),
        columns: vec![Column::new("order_id", ColumnType::Int64, false)],
        primary_key: vec![],
    })
}

#[test]
fn field_filters_keep_key_fields() {
    let r = rec(Some((key_schema(), vec![Value::Int(5)])));
    let only = |fields: FieldFilter, mode: PkMode, pk: &[&str]| {
        let rules = MapRules {
            pk_mode: mode,
            pk_fields: pk.iter().map(|s| s.to_string()).collect(),
            fields,
            ..MapRules::default()
        };
        let c = RowMapper::new(rules).map(&r, "t").expect("map");
        let names: Vec<String> = c.schema.columns.iter().map(|c| c.name.clone()).collect();
        names
    };
    // The key field survives an include list that does not name it.
    assert_eq!(
        only(
            FieldFilter::Include(vec!["item".into()]),
            PkMode::RecordKey,
            &[]
        ),
        ["order_id", "item"]
    );
    assert_eq!(
        only(
            FieldFilter::Exclude(vec!["order_id".into()]),
            PkMode::RecordValue,
            &["order_id"]
        ),
        ["order_id", "item"]
    );
    assert_eq!(
        only(FieldFilter::Exclude(vec!["item".into()]), PkMode::None, &[]),
        ["order_id"]
    );
    assert_eq!(
        only(FieldFilter::Include(vec![]), PkMode::Kafka, &[]).len(),
        3,
        "an empty include list keeps only the kafka coordinates"
    );
}

#[test]
fn timestamps_shift_by_the_zone_offset() {
    let schema = Arc::new(TableSchema {
        name: "e".into(),
        columns: vec![
            Column::new("at", ColumnType::Timestamp, true),
            Column::new("day", ColumnType::Date, true),
        ],
        primary_key: vec![],
    });
    let r = SinkRecord {
        value: Some((schema, vec![Value::Timestamp(1_000_000), Value::Date(3)])),
        ..rec(None)
    };
    let rules = MapRules {
        zone: crate::config::DbZone::Fixed(7200),
        ..MapRules::default()
    };
    let c = RowMapper::new(rules).map(&r, "t").expect("map");
    assert_eq!(
        c.row,
        [Value::Timestamp(7_201_000_000), Value::Date(3)],
        "Timestamps move to the zone's wall time, Dates stay"
    );
}

#[test]
fn rewritten_debezium_deletes_are_deletes_when_enabled() {
    let schema = Arc::new(TableSchema {
        name: "v".into(),
        columns: vec![
            Column::new("order_id", ColumnType::Int64, false),
            Column::new(DELETED_FIELD, ColumnType::String { max_len: None }, true),
        ],
        primary_key: vec![],
    });
    let marked = |flag: &str| SinkRecord {
        value: Some((
            schema.clone(),
            vec![Value::Int(5), Value::String(flag.into())],
        )),
        ..rec(Some((key_schema(), vec![Value::Int(5)])))
    };
    let rules = |rewrite| MapRules {
        pk_mode: PkMode::RecordKey,
        rewrite_deletes: rewrite,
        ..MapRules::default()
    };
    let mut on = RowMapper::new(rules(true));
    assert_eq!(on.map(&marked("true"), "t").expect("map").op, Op::Delete);
    assert_eq!(on.map(&marked("false"), "t").expect("map").op, Op::Create);
    let mut off = RowMapper::new(rules(false));
    assert_eq!(off.map(&marked("true"), "t").expect("map").op, Op::Create);
}

#[test]
fn wide_records_map_through_a_per_schema_plan() {
    // 5,000 fields, the key's fields last in the key schema: each column
    // takes its value from the right place, the plan is made once per
    // schema pair (not per record) and names are found through maps.
    const N: usize = 5_000;
    let columns: Vec<Column> = (0..N)
        .map(|i| Column::new(format!("f{i}"), ColumnType::Int64, true))
        .collect();
    let value = Arc::new(TableSchema {
        name: "wide".into(),
        columns,
        primary_key: vec![],
    });
    let key = Arc::new(TableSchema {
        name: "k".into(),
        columns: vec![Column::new(format!("f{}", N - 1), ColumnType::Int64, false)],
        primary_key: vec![format!("f{}", N - 1)],
    });
    let row: Row = (0..N as i64).map(Value::Int).collect();
    let r = SinkRecord {
        topic: "wide".into(),
        partition: 0,
        offset: 1,
        op: Op::Create,
        key: Some((Arc::clone(&key), vec![Value::Int(-1)])),
        value: Some((Arc::clone(&value), row)),
    };
    let mut m = mapper(PkMode::RecordKey, &[]);
    let c = m.map(&r, "t").expect("map");
    // The key column first (from the key row), then the other value fields.
    assert_eq!(c.row.len(), N);
    assert_eq!(c.row[0], Value::Int(-1));
    assert_eq!(c.row[1], Value::Int(0));
    assert_eq!(c.row[N - 1], Value::Int(N as i64 - 2));
    let picks = &m.last.as_ref().expect("cached").3 .2.picks;
    assert_eq!(picks[0], Pick::Key(0));
    assert_eq!(picks[N - 1], Pick::Value(N - 2));
    // The same schemas map again from the cached plan.
    let again = m.map(&r, "t").expect("map");
    assert!(Arc::ptr_eq(&again.schema, &c.schema));
    assert_eq!(again.row, c.row);
}
