//! DDL and DML generation for every dialect, checked as exact SQL text.

use super::*;

const MY: Dialect = Dialect::MySql;
const PG: Dialect = Dialect::Postgres;

fn text() -> ColumnType {
    ColumnType::String { max_len: None }
}

fn users() -> TableSchema {
    TableSchema {
        name: "users".into(),
        columns: vec![
            Column::new("id", ColumnType::Int32, false),
            Column::new("name", text(), true),
            Column {
                default: Some(Value::String("x'y".into())),
                ..Column::new("note", text(), false)
            },
            Column::new("at", ColumnType::Timestamp, true),
        ],
        primary_key: vec!["id".into()],
    }
}

fn pk() -> Vec<String> {
    vec!["id".into()]
}

#[test]
fn create_table_mysql() {
    let sql = MY.create_table("users", &users(), &pk()).expect("ddl");
    assert_eq!(
        sql,
        "CREATE TABLE `users` (`id` INT NOT NULL, `name` LONGTEXT, \
         `note` LONGTEXT NOT NULL DEFAULT ('x\\'y'), `at` DATETIME(3), PRIMARY KEY (`id`)) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    );
}

#[test]
fn create_table_postgres() {
    let sql = PG.create_table("users", &users(), &pk()).expect("ddl");
    assert_eq!(
        sql,
        "CREATE TABLE \"users\" (\"id\" INTEGER NOT NULL, \"name\" TEXT, \
         \"note\" TEXT NOT NULL DEFAULT 'x''y', \"at\" TIMESTAMP(3), PRIMARY KEY (\"id\"))"
    );
}

#[test]
fn create_table_keys_are_required_and_sized() {
    let mut s = users();
    s.columns[1].optional = true;
    let sql = MY.create_table("t", &s, &["name".into()]).expect("ddl");
    assert!(sql.contains("`name` VARCHAR(256) NOT NULL"), "{sql}");
    let err = MY
        .create_table("t", &s, &["nope".into()])
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("nope")));
    let empty = TableSchema {
        columns: vec![],
        ..users()
    };
    assert!(PG.create_table("t", &empty, &[]).is_err());
}

#[test]
fn hostile_identifiers_are_quoted_not_interpolated() {
    let s = TableSchema {
        name: "t".into(),
        columns: vec![
            Column::new("a`b", ColumnType::Int32, true),
            Column::new("\"; DROP TABLE x; --", ColumnType::Int32, true),
        ],
        primary_key: vec![],
    };
    assert_eq!(
        MY.create_table("we`ird", &s, &[]).expect("ddl"),
        "CREATE TABLE `we``ird` (`a``b` INT, `\"; DROP TABLE x; --` INT) \
         ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    );
    assert_eq!(
        PG.create_table("we\"ird", &s, &[]).expect("ddl"),
        "CREATE TABLE \"we\"\"ird\" (\"a`b\" INTEGER, \"\"\"; DROP TABLE x; --\" INTEGER)"
    );
}

#[test]
fn stored_schema_normalises_types() {
    let s = users();
    let stored = MY.stored_schema(&s, &pk());
    assert_eq!(stored.columns[0].ty, ColumnType::Int32);
    assert_eq!(stored.columns[2].default, Some(Value::String("x'y".into())));
    let s = TableSchema {
        columns: vec![
            Column::new("k", text(), true),
            Column::new("b", ColumnType::Int8, true),
        ],
        ..users()
    };
    let stored = MY.stored_schema(&s, &["k".into()]);
    assert_eq!(
        stored.columns[0].ty,
        ColumnType::String { max_len: Some(256) }
    );
    assert!(!stored.columns[0].optional);
    assert_eq!(PG.stored_schema(&s, &[]).columns[1].ty, ColumnType::Int16);
}

fn current() -> TableSchema {
    MY.stored_schema(&users(), &pk())
}

#[test]
fn alter_adds_nullable_columns_in_one_statement() {
    let diff = SchemaDiff {
        added: vec![
            Column::new("a", ColumnType::Int64, true),
            Column {
                default: Some(Value::Int(7)),
                ..Column::new("b", ColumnType::Int32, false)
            },
        ],
        ..SchemaDiff::default()
    };
    assert_eq!(
        MY.alter_table("users", &current(), &diff).expect("ddl"),
        vec!["ALTER TABLE `users` ADD COLUMN `a` BIGINT, ADD COLUMN `b` INT NOT NULL DEFAULT 7"]
    );
    assert_eq!(
        PG.alter_table("users", &current(), &diff).expect("ddl"),
        vec!["ALTER TABLE \"users\" ADD COLUMN \"a\" BIGINT, ADD COLUMN \"b\" INTEGER NOT NULL DEFAULT 7"]
    );
    assert!(MY
        .alter_table("users", &current(), &SchemaDiff::default())
        .expect("ddl")
        .is_empty());
}

#[test]
fn alter_refuses_required_field_without_default() {
    let diff = SchemaDiff {
        added: vec![Column::new("must", ColumnType::Int32, false)],
        ..SchemaDiff::default()
    };
    let err = PG
        .alter_table("users", &current(), &diff)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "table users: Cannot ALTER TABLE users to add missing field must, as the field is \
             not optional and does not have a default value"
        )
    );
}

#[test]
fn alter_refuses_incompatible_types() {
    let diff = SchemaDiff {
        incompatible: vec![("id".into(), ColumnType::Int32, text())],
        ..SchemaDiff::default()
    };
    let err = MY
        .alter_table("users", &current(), &diff)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("id") && e.contains("Int32") && e.contains("String")));
}

#[test]
fn alter_widens_and_relaxes() {
    let diff = SchemaDiff {
        widened: vec![(
            Column::new("id", ColumnType::Int64, false),
            ColumnType::Int32,
        )],
        relaxed: vec![Column::new("note", text(), true)],
        ..SchemaDiff::default()
    };
    assert_eq!(
        MY.alter_table("users", &current(), &diff).expect("ddl"),
        vec![
            "ALTER TABLE `users` MODIFY COLUMN `id` BIGINT NOT NULL, MODIFY COLUMN `note` LONGTEXT"
        ]
    );
    assert_eq!(
        PG.alter_table("users", &current(), &diff).expect("ddl"),
        vec!["ALTER TABLE \"users\" ALTER COLUMN \"id\" TYPE BIGINT, ALTER COLUMN \"note\" DROP NOT NULL"]
    );
    // int8 -> int16 is the same SMALLINT in PostgreSQL: nothing to do.
    let same = SchemaDiff {
        widened: vec![(Column::new("n", ColumnType::Int16, true), ColumnType::Int8)],
        ..SchemaDiff::default()
    };
    assert!(PG
        .alter_table("users", &current(), &same)
        .expect("ddl")
        .is_empty());
}

fn cols() -> (Vec<&'static str>, Vec<ColumnType>) {
    (vec!["id", "name"], vec![ColumnType::Int32, text()])
}

#[test]
fn multi_row_insert() {
    let (c, t) = cols();
    let t: Vec<&ColumnType> = t.iter().collect();
    let rows = vec![
        vec![Value::Int(1), Value::String("a'\\".into())],
        vec![Value::Int(2), Value::Null],
    ];
    assert_eq!(
        MY.insert("t", &c, &t, &rows).expect("sql"),
        "INSERT INTO `t` (`id`, `name`) VALUES (1,'a\\'\\\\'),(2,NULL)"
    );
    assert_eq!(
        PG.insert("t", &c, &t, &rows).expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (1,'a''\\'),(2,NULL)"
    );
    let short = vec![vec![Value::Int(1)]];
    assert!(MY.insert("t", &c, &t, &short).is_err());
    assert!(MY.insert::<Vec<Value>>("t", &c, &t, &[]).is_err());
}

#[test]
fn value_errors_name_the_column_not_the_value() {
    let t = [&ColumnType::Float64];
    let rows = [[Value::Float64(f64::NAN)]];
    let err = MY
        .insert("t", &["ratio"], &t, &rows)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("column ratio: NaN and infinite floats have no literal here")
    );
}

#[test]
fn upserts() {
    let (c, t) = cols();
    let t: Vec<&ColumnType> = t.iter().collect();
    let rows = vec![
        vec![Value::Int(1), Value::String("a".into())],
        vec![Value::Int(2), Value::String("b".into())],
        vec![Value::Int(1), Value::String("c".into())],
    ];
    assert_eq!(
        MY.upsert("t", &c, &t, &["id"], &rows).expect("sql"),
        "INSERT INTO `t` (`id`, `name`) VALUES (1,'a'),(2,'b'),(1,'c') \
         ON DUPLICATE KEY UPDATE `name` = VALUES(`name`)"
    );
    assert_eq!(
        PG.upsert("t", &c, &t, &["id"], &rows).expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (2,'b'),(1,'c') \
         ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\""
    );
    assert_eq!(
        PG.upsert("t", &c, &t, &["id", "name"], &rows[..1]).expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (1,'a') ON CONFLICT (\"id\", \"name\") DO NOTHING"
    );
    assert_eq!(
        MY.upsert("t", &c, &t, &["id", "name"], &rows[..1])
            .expect("sql"),
        "INSERT INTO `t` (`id`, `name`) VALUES (1,'a') ON DUPLICATE KEY UPDATE `id` = `id`"
    );
    assert!(MY.upsert("t", &c, &t, &["nope"], &rows).is_err());
}

#[test]
fn updates_and_deletes() {
    let (c, t) = cols();
    let t: Vec<&ColumnType> = t.iter().collect();
    let rows = vec![vec![Value::Int(1), Value::String("a".into())]];
    assert_eq!(
        MY.update("t", &c, &t, &["id"], &rows).expect("sql"),
        vec!["UPDATE `t` SET `name` = 'a' WHERE `id` = 1"]
    );
    assert!(MY
        .update("t", &c, &t, &["id", "name"], &rows)
        .expect("sql")
        .is_empty());
    let keys = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
    assert_eq!(
        PG.delete("t", &["id"], &[&ColumnType::Int32], &keys)
            .expect("sql"),
        "DELETE FROM \"t\" WHERE \"id\" IN (1,2)"
    );
    let keys = vec![
        rows[0].clone(),
        vec![Value::Int(2), Value::String("b".into())],
    ];
    assert_eq!(
        MY.delete("t", &c, &t, &keys).expect("sql"),
        "DELETE FROM `t` WHERE (`id`, `name`) IN ((1,'a'),(2,'b'))"
    );
    let null_key = vec![vec![Value::Null]];
    assert!(MY
        .delete("t", &["id"], &[&ColumnType::Int32], &null_key)
        .is_err());
}

#[test]
fn offsets_statements() {
    assert_eq!(
        PG.offsets_table_ddl(),
        "CREATE TABLE IF NOT EXISTS \"sluice_sink_offsets\" (\"sink\" VARCHAR(255) NOT NULL, \
         \"topic\" VARCHAR(255) NOT NULL, \"kafka_partition\" INTEGER NOT NULL, \
         \"next_offset\" BIGINT NOT NULL, PRIMARY KEY (\"sink\", \"topic\", \"kafka_partition\"))"
    );
    assert!(MY
        .offsets_table_ddl()
        .ends_with("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"));
    let offsets = vec![("s".to_string(), "top'ic".to_string(), 3, 42)];
    assert_eq!(
        MY.offsets_upsert(&offsets).expect("sql"),
        "INSERT INTO `sluice_sink_offsets` (`sink`, `topic`, `kafka_partition`, `next_offset`) \
         VALUES ('s','top\\'ic',3,42) ON DUPLICATE KEY UPDATE `next_offset` = VALUES(`next_offset`)"
    );
    assert_eq!(
        PG.offsets_select("s'1").expect("sql"),
        "SELECT \"topic\", \"kafka_partition\", \"next_offset\" FROM \"sluice_sink_offsets\" \
         WHERE \"sink\" = 's''1'"
    );
}

#[test]
fn offsets_lock_statements_sort_rows_and_return_stored_offsets() {
    let first = vec![
        ("s".to_string(), "t".to_string(), 2, 7),
        ("s".to_string(), "t".to_string(), 1, 5),
    ];
    assert_eq!(
        MY.offsets_lock(&first).expect("sql"),
        vec![
            "INSERT INTO `sluice_sink_offsets` (`sink`, `topic`, `kafka_partition`, `next_offset`) \
             VALUES ('s','t',1,5),('s','t',2,7) ON DUPLICATE KEY UPDATE `next_offset` = `next_offset`"
                .to_string(),
            "SELECT `topic`, `kafka_partition`, `next_offset` FROM `sluice_sink_offsets` \
             WHERE (`sink`, `topic`, `kafka_partition`) IN (('s','t',1),('s','t',2)) FOR UPDATE"
                .to_string(),
        ]
    );
    assert_eq!(
        PG.offsets_lock(&first).expect("sql"),
        vec![
            "INSERT INTO \"sluice_sink_offsets\" (\"sink\", \"topic\", \"kafka_partition\", \"next_offset\") \
             VALUES ('s','t',1,5),('s','t',2,7) ON CONFLICT (\"sink\", \"topic\", \"kafka_partition\") \
             DO UPDATE SET \"next_offset\" = \"sluice_sink_offsets\".\"next_offset\" \
             RETURNING \"topic\", \"kafka_partition\", \"next_offset\""
                .to_string()
        ]
    );
    assert_eq!(
        Dialect::Sqlite.offsets_lock(&first).expect("sql"),
        PG.offsets_lock(&first).expect("sql")
    );
}

const LITE: Dialect = Dialect::Sqlite;

#[test]
fn create_table_sqlite() {
    let sql = LITE.create_table("users", &users(), &pk()).expect("ddl");
    assert_eq!(
        sql,
        "CREATE TABLE \"users\" (\"id\" INTEGER NOT NULL, \"name\" TEXT, \
         \"note\" TEXT NOT NULL DEFAULT 'x''y', \"at\" DATETIME(3), PRIMARY KEY (\"id\"))"
    );
    let s = TableSchema {
        name: "t".into(),
        columns: vec![
            Column::new("a`b", ColumnType::Int8, true),
            Column::new("\"; DROP TABLE x; --", ColumnType::Float32, true),
            Column::new(
                "amount",
                ColumnType::Decimal {
                    scale: 2,
                    precision: Some(10),
                },
                true,
            ),
            Column::new("raw", ColumnType::Bytes { max_len: Some(4) }, true),
        ],
        primary_key: vec![],
    };
    assert_eq!(
        LITE.create_table("we\"ird", &s, &[]).expect("ddl"),
        "CREATE TABLE \"we\"\"ird\" (\"a`b\" INTEGER, \"\"\"; DROP TABLE x; --\" REAL, \
         \"amount\" DECIMAL_TEXT_SCALE(2), \"raw\" BLOB)"
    );
}

#[test]
fn sqlite_stored_schema_keeps_no_widths() {
    let s = TableSchema {
        columns: vec![
            Column::new("k", ColumnType::String { max_len: Some(12) }, true),
            Column::new("b", ColumnType::Int8, true),
            Column::new("f", ColumnType::Float32, true),
        ],
        ..users()
    };
    let stored = LITE.stored_schema(&s, &["k".into()]);
    assert_eq!(stored.columns[0].ty, text());
    assert!(!stored.columns[0].optional);
    assert_eq!(stored.columns[1].ty, ColumnType::Int64);
    assert_eq!(stored.columns[2].ty, ColumnType::Float64);
    // So a message that widens int8 -> int64 or a VARCHAR length diffs as nothing.
    let wider = TableSchema {
        columns: vec![
            Column::new("k", ColumnType::String { max_len: Some(40) }, true),
            Column::new("b", ColumnType::Int64, true),
            Column::new("f", ColumnType::Float64, true),
        ],
        ..s.clone()
    };
    assert!(stored
        .diff(&LITE.stored_schema(&wider, &["k".into()]))
        .is_empty());
}

#[test]
fn sqlite_alter_adds_one_column_per_statement_and_never_modifies() {
    let current = LITE.stored_schema(&users(), &pk());
    let diff = SchemaDiff {
        added: vec![
            Column::new("a", ColumnType::Int64, true),
            Column {
                default: Some(Value::Int(7)),
                ..Column::new("b", ColumnType::Int32, false)
            },
        ],
        widened: vec![(
            Column::new("id", ColumnType::Int64, false),
            ColumnType::Int32,
        )],
        relaxed: vec![Column::new("note", text(), true)],
        ..SchemaDiff::default()
    };
    assert_eq!(
        LITE.alter_table("users", &current, &diff).expect("ddl"),
        vec![
            "ALTER TABLE \"users\" ADD COLUMN \"a\" INTEGER",
            "ALTER TABLE \"users\" ADD COLUMN \"b\" INTEGER NOT NULL DEFAULT 7"
        ]
    );
    let widen_only = SchemaDiff {
        added: vec![],
        ..diff
    };
    assert!(LITE
        .alter_table("users", &current, &widen_only)
        .expect("ddl")
        .is_empty());
    let incompatible = SchemaDiff {
        incompatible: vec![("id".into(), ColumnType::Int64, text())],
        ..SchemaDiff::default()
    };
    assert!(LITE.alter_table("users", &current, &incompatible).is_err());
    let required = SchemaDiff {
        added: vec![Column::new("must", ColumnType::Int32, false)],
        ..SchemaDiff::default()
    };
    let err = LITE
        .alter_table("users", &current, &required)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("add missing field must")));
}

#[test]
fn sqlite_dml() {
    let (c, t) = cols();
    let t: Vec<&ColumnType> = t.iter().collect();
    let rows = vec![
        vec![Value::Int(1), Value::String("a'".into())],
        vec![Value::Int(2), Value::String("b".into())],
        vec![Value::Int(1), Value::String("c".into())],
    ];
    assert_eq!(
        LITE.insert("t", &c, &t, &rows[..2]).expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (1,'a'''),(2,'b')"
    );
    assert_eq!(
        LITE.upsert("t", &c, &t, &["id"], &rows).expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (2,'b'),(1,'c') \
         ON CONFLICT (\"id\") DO UPDATE SET \"name\" = EXCLUDED.\"name\""
    );
    assert_eq!(
        LITE.upsert("t", &c, &t, &["id", "name"], &rows[1..2])
            .expect("sql"),
        "INSERT INTO \"t\" (\"id\", \"name\") VALUES (2,'b') ON CONFLICT (\"id\", \"name\") DO NOTHING"
    );
    assert_eq!(
        LITE.update("t", &c, &t, &["id"], &rows[1..2]).expect("sql"),
        vec!["UPDATE \"t\" SET \"name\" = 'b' WHERE \"id\" = 2"]
    );
    let keys = vec![vec![Value::Int(1)], vec![Value::Int(2)]];
    assert_eq!(
        LITE.delete("t", &["id"], &[&ColumnType::Int32], &keys)
            .expect("sql"),
        "DELETE FROM \"t\" WHERE \"id\" IN (1,2)"
    );
    assert_eq!(
        LITE.delete("t", &c, &t, &rows[..2]).expect("sql"),
        "DELETE FROM \"t\" WHERE (\"id\", \"name\") IN (VALUES (1,'a'''),(2,'b'))"
    );
}

#[test]
fn sqlite_offsets_statements() {
    assert_eq!(LITE.offsets_table_ddl(), PG.offsets_table_ddl());
    let offsets = vec![("s".to_string(), "top'ic".to_string(), 3, 42)];
    assert_eq!(
        LITE.offsets_upsert(&offsets).expect("sql"),
        "INSERT INTO \"sluice_sink_offsets\" (\"sink\", \"topic\", \"kafka_partition\", \"next_offset\") \
         VALUES ('s','top''ic',3,42) ON CONFLICT (\"sink\", \"topic\", \"kafka_partition\") \
         DO UPDATE SET \"next_offset\" = EXCLUDED.\"next_offset\""
    );
    assert_eq!(
        LITE.offsets_select("s'1").expect("sql"),
        PG.offsets_select("s'1").expect("sql")
    );
}

#[test]
fn sqlite_value_errors_name_the_column() {
    let t = [&text(), &ColumnType::Float64];
    let rows = [[Value::String("a\0b".into()), Value::Float64(1.0)]];
    let err = LITE
        .insert("t", &["note", "ratio"], &t, &rows)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("column note: SQLite text cannot contain NUL characters")
    );
    let rows = [[Value::String("ok".into()), Value::Float64(f64::NAN)]];
    let err = LITE
        .insert("t", &["note", "ratio"], &t, &rows)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some("column ratio: NaN cannot be stored in SQLite (it would become NULL)")
    );
}
