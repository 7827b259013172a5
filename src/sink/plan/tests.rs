//! Planning tests: runs, chunks, bulk steps, per dialect.
use std::sync::Arc;

use super::*;
use crate::schema::{Column, TableSchema};

fn schema(pk: bool) -> Arc<TableSchema> {
    Arc::new(TableSchema {
        name: "t".into(),
        columns: vec![
            Column::new("id", ColumnType::Int32, false),
            Column::new("v", ColumnType::String { max_len: None }, true),
        ],
        primary_key: if pk { vec!["id".into()] } else { vec![] },
    })
}

fn change(s: &Arc<TableSchema>, op: Op, id: i64) -> RowChange {
    RowChange {
        table: "t".into(),
        schema: s.clone(),
        op,
        row: vec![Value::Int(id), Value::String(format!("v{id}"))],
    }
}

#[test]
fn consecutive_inserts_become_one_statement() {
    let s = schema(false);
    let changes: Vec<RowChange> = (1..=3).map(|i| change(&s, Op::Create, i)).collect();
    let (stmts, counts) = plan(Dialect::MySql, &changes, InsertMode::Insert, false).expect("plan");
    assert_eq!(stmts.len(), 1);
    assert_eq!(
        stmts[0],
        "INSERT INTO `t` (`id`, `v`) VALUES (1,'v1'),(2,'v2'),(3,'v3')"
    );
    assert_eq!(counts.applied, vec![("t".to_string(), "create", 3)]);
}

#[test]
fn deletes_split_runs_and_keep_order() {
    let s = schema(true);
    let changes = vec![
        change(&s, Op::Create, 1),
        change(&s, Op::Delete, 1),
        change(&s, Op::Create, 1),
    ];
    let (stmts, _) = plan(Dialect::Postgres, &changes, InsertMode::Upsert, true).expect("plan");
    assert_eq!(stmts.len(), 3);
    assert!(stmts[1].starts_with("DELETE FROM \"t\""), "{}", stmts[1]);
}

#[test]
fn deletes_are_skipped_and_counted_when_disabled() {
    let s = schema(true);
    let changes = vec![change(&s, Op::Delete, 1), change(&s, Op::Create, 2)];
    let (stmts, counts) = plan(Dialect::MySql, &changes, InsertMode::Insert, false).expect("plan");
    assert_eq!(stmts.len(), 1);
    assert_eq!(counts.skipped_deletes, 1);
}

/// Inserts of keys 1 and 2, then a delete of key 1.
fn two_inserts_and_a_delete() -> Vec<RowChange> {
    let s = schema(true);
    vec![
        change(&s, Op::Create, 1),
        change(&s, Op::Create, 2),
        change(&s, Op::Delete, 1),
    ]
}

#[test]
fn described_tables_get_binary_copy_with_a_types_check() {
    let changes = two_inserts_and_a_delete();
    let formats = CopyFormats::default();
    let plan = |formats: &CopyFormats| {
        plan_steps_with(
            Dialect::Postgres,
            &changes,
            InsertMode::Insert,
            true,
            true,
            Some(formats),
            usize::MAX,
        )
        .expect("plan")
        .0
    };
    // Unknown table, or a column of it unknown: text.
    assert!(matches!(
        &plan(&formats)[0],
        Statement::Copy { binary: None, .. }
    ));
    let id = ("id".to_string(), (BinaryKind::Int8, "bigint".to_string()));
    formats.set("t", [id.clone()].into_iter().collect());
    assert!(matches!(
        &plan(&formats)[0],
        Statement::Copy { binary: None, .. }
    ));
    let v = ("v".to_string(), (BinaryKind::Text, "text".to_string()));
    formats.set("t", [id, v].into_iter().collect());
    let steps = plan(&formats);
    let Statement::Copy {
        sql,
        data,
        binary: Some(b),
    } = &steps[0]
    else {
        panic!("binary COPY expected: {:?}", steps[0]);
    };
    assert_eq!(
        sql,
        "COPY \"t\" (\"id\", \"v\") FROM STDIN WITH (FORMAT binary)"
    );
    assert!(data.starts_with(b"PGCOPY\n\xff\r\n\0"));
    assert_eq!(b.table, "t");
    assert!(
        b.check.contains("IS DISTINCT FROM 'id:bigint,v:text'"),
        "{}",
        b.check
    );
    // A value of another kind than its column's: text for the run.
    formats.set(
        "t",
        [
            ("id".to_string(), (BinaryKind::Int8, "bigint".to_string())),
            ("v".to_string(), (BinaryKind::Int8, "bigint".to_string())),
        ]
        .into_iter()
        .collect(),
    );
    assert!(matches!(
        &plan(&formats)[0],
        Statement::Copy { binary: None, .. }
    ));
    formats.forget("t");
    assert!(formats.get("t").is_none());
}

#[test]
fn postgres_insert_runs_become_copy() {
    let changes = two_inserts_and_a_delete();
    let (steps, counts) =
        plan_steps(Dialect::Postgres, &changes, InsertMode::Insert, true, true).expect("plan");
    assert_eq!(steps.len(), 2);
    assert_eq!(
        steps[0],
        Statement::Copy {
            sql: "COPY \"t\" (\"id\", \"v\") FROM STDIN".into(),
            data: Bytes::from_static(b"1\tv1\n2\tv2\n"),
            binary: None,
        }
    );
    assert!(matches!(&steps[1], Statement::Sql(s) if s.starts_with("DELETE")));
    assert_eq!(counts.applied[0], ("t".to_string(), "create", 2));
    // Upserts and other dialects keep SQL.
    let (steps, _) =
        plan_steps(Dialect::Postgres, &changes, InsertMode::Upsert, true, true).expect("plan");
    assert!(steps.iter().all(|s| matches!(s, Statement::Sql(_))));
    let (steps, _) =
        plan_steps(Dialect::Sqlite, &changes, InsertMode::Insert, true, true).expect("plan");
    assert!(steps.iter().all(|s| matches!(s, Statement::Sql(_))));
}

#[test]
fn mysql_insert_runs_become_load_data_unless_they_hold_bytes() {
    let changes = two_inserts_and_a_delete();
    let (steps, counts) =
        plan_steps(Dialect::MySql, &changes, InsertMode::Insert, true, true).expect("plan");
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert_eq!(
        steps[0],
        Statement::Load {
            sql: "LOAD DATA LOCAL INFILE 'sluice-batch' INTO TABLE `t` CHARACTER SET utf8mb4 \
                  FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (`id`, `v`)"
                .into(),
            data: "1\tv1\n2\tv2\n".into(),
            rows: 2,
        }
    );
    assert!(matches!(&steps[1], Statement::Sql(s) if s.starts_with("DELETE")));
    assert_eq!(counts.applied[0], ("t".to_string(), "create", 2));
    // Without bulk steps, for upserts, and for a run holding bytes: INSERT statements.
    for (mode, bulk) in [(InsertMode::Insert, false), (InsertMode::Upsert, true)] {
        let (steps, _) = plan_steps(Dialect::MySql, &changes, mode, true, bulk).expect("plan");
        assert!(steps.iter().all(|s| matches!(s, Statement::Sql(_))));
    }
    let mut with_bytes = changes[..2].to_vec();
    with_bytes[1].row[1] = Value::Bytes(vec![0, 1]);
    let (steps, _) =
        plan_steps(Dialect::MySql, &with_bytes, InsertMode::Insert, true, true).expect("plan");
    assert_eq!(steps.len(), 1);
    assert!(matches!(&steps[0], Statement::Sql(s) if s.starts_with("INSERT")));
}

#[test]
fn large_postgres_upsert_runs_go_through_a_staging_table() {
    let s = schema(true);
    let mut changes: Vec<RowChange> = (0..COPY_UPSERT_MIN_ROWS as i64)
        .map(|i| change(&s, Op::Create, i))
        .collect();
    // Key 0 again, later: only its last row is staged.
    let mut again = change(&s, Op::Update, 0);
    again.row[1] = Value::String("last".into());
    changes.push(again);
    let (steps, counts) =
        plan_steps(Dialect::Postgres, &changes, InsertMode::Upsert, true, true).expect("plan");
    assert_eq!(steps.len(), 3, "{steps:?}");
    assert_eq!(
        steps[0],
        Statement::Sql(
            "CREATE TEMP TABLE pg_temp.\"sluice_upsert_stage\" AS SELECT \"id\", \"v\" FROM \"t\" WITH NO DATA".into()
        )
    );
    let Statement::Copy {
        sql,
        data,
        binary: None,
    } = &steps[1]
    else {
        panic!("text COPY expected: {:?}", steps[1]);
    };
    let data = String::from_utf8(data.to_vec()).expect("text");
    assert_eq!(
        sql,
        "COPY pg_temp.\"sluice_upsert_stage\" (\"id\", \"v\") FROM STDIN"
    );
    assert_eq!(data.lines().count(), COPY_UPSERT_MIN_ROWS);
    assert!(
        data.ends_with("0\tlast\n") && !data.starts_with("0\tv0\n"),
        "{data}"
    );
    assert_eq!(
        steps[2],
        Statement::Sql(
            "INSERT INTO \"t\" (\"id\", \"v\") SELECT \"id\", \"v\" FROM pg_temp.\"sluice_upsert_stage\" \
             ON CONFLICT (\"id\") DO UPDATE SET \"v\" = EXCLUDED.\"v\"; DROP TABLE pg_temp.\"sluice_upsert_stage\""
                .into()
        )
    );
    let total: u64 = counts.applied.iter().map(|(_, _, n)| n).sum();
    assert_eq!(total, COPY_UPSERT_MIN_ROWS as u64 + 1);
    // Small runs keep the SQL upsert.
    let (steps, _) = plan_steps(
        Dialect::Postgres,
        &changes[..10],
        InsertMode::Upsert,
        true,
        true,
    )
    .expect("plan");
    assert!(matches!(&steps[..], [Statement::Sql(s)] if s.contains("ON CONFLICT")));
}

#[test]
fn large_runs_are_chunked() {
    let s = schema(false);
    let changes: Vec<RowChange> = (0..2500).map(|i| change(&s, Op::Create, i)).collect();
    let (stmts, _) = plan(Dialect::MySql, &changes, InsertMode::Insert, false).expect("plan");
    assert_eq!(stmts.len(), 3);
}

#[test]
fn a_row_too_large_for_the_target_goes_alone_or_is_refused_by_its_index() {
    let s = schema(true);
    let big = |id: i64, len: usize| RowChange {
        row: vec![Value::Int(id), Value::String("x".repeat(len))],
        ..change(&s, Op::Create, id)
    };
    let changes = vec![
        change(&s, Op::Create, 1),
        big(2, 300),
        change(&s, Op::Create, 3),
    ];
    let planned = |limit| {
        plan_steps_with(
            Dialect::MySql,
            &changes,
            InsertMode::Upsert,
            true,
            false,
            None,
            limit,
        )
    };
    // Without a limit: one statement; under 400 bytes the big row goes alone.
    assert_eq!(planned(usize::MAX).expect("plan").0.len(), 1);
    let (steps, counts) = planned(400).expect("plan");
    assert!(steps.len() >= 2, "{steps:?}");
    assert!(steps
        .iter()
        .all(|s| matches!(s, Statement::Sql(q) if q.len() <= 400)));
    assert_eq!(counts.applied, vec![("t".to_string(), "create", 3)]);
    // Under 200 bytes the big row (the second change) cannot be written at all.
    match planned(200) {
        Err(SqlError::TooLarge {
            change,
            bytes,
            limit,
            ..
        }) => {
            assert_eq!((change, limit), (1, 200));
            assert!(bytes > 300, "{bytes}");
        }
        other => panic!("{other:?}"),
    }
}
