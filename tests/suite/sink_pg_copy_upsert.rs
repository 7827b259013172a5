//! PostgreSQL upserts of large runs go through COPY into a staging table and
//! `INSERT … ON CONFLICT` from it: against the real server, new keys are
//! inserted, existing keys updated, a key repeated in the run ends with its
//! last row, and two such runs in one transaction (split by a delete) work.

use std::sync::Arc;

use sluice::config::{DbEndpoint, InsertMode};
use sluice::event::{Op, Value};
use sluice::schema::{Column, ColumnType, TableSchema};
use sluice::sink::decode::RowChange;
use sluice::sink::plan::{plan_steps, Statement, COPY_UPSERT_MIN_ROWS};
use sluice::sink::target::Target;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn large_upsert_runs_merge_through_a_staging_table() {
    let db = Postgres::create("pg_copy_upsert").await;
    let ep = DbEndpoint::resolve("test", &db.url(), None, None, None).expect("endpoint");
    let mut t = Target::connect(&ep).await.expect("connect");
    t.execute_ddl(
        "CREATE TABLE items (id BIGINT PRIMARY KEY, v TEXT NOT NULL, extra TEXT DEFAULT 'kept')",
    )
    .await
    .expect("table");
    t.apply(
        &["INSERT INTO items (id, v) VALUES (1, 'old'), (5000, 'untouched')".into()],
        &[],
    )
    .await
    .expect("seed");
    let schema = Arc::new(TableSchema {
        name: "items".into(),
        columns: vec![
            Column::new("id", ColumnType::Int64, false),
            Column::new("v", ColumnType::String { max_len: None }, false),
        ],
        primary_key: vec!["id".into()],
    });
    let change = |op: Op, id: i64, v: String| RowChange {
        table: "items".into(),
        schema: schema.clone(),
        op,
        row: vec![Value::Int(id), Value::String(v)],
    };
    let n = COPY_UPSERT_MIN_ROWS as i64 * 2;
    let mut changes: Vec<RowChange> = (1..=n)
        .map(|i| change(Op::Create, i, format!("a{i}")))
        .collect();
    changes.push(change(Op::Update, 2, "a2-last".into()));
    changes.push(change(Op::Delete, 3, String::new()));
    changes.extend((1..=n).map(|i| change(Op::Update, i + n / 2, format!("b{i}"))));
    let (steps, _) =
        plan_steps(t.dialect(), &changes, InsertMode::Upsert, true, true).expect("plan");
    assert_eq!(
        steps
            .iter()
            .filter(|s| matches!(s, Statement::Copy { .. }))
            .count(),
        2,
        "both upsert runs staged"
    );
    t.apply_steps(&steps, &[], &[]).await.expect("apply");
    let rows = db
        .rows("SELECT count(*), count(*) FILTER (WHERE extra = 'kept'), max(id) FROM items")
        .await;
    // ids 1..=n/2 (minus 3), n/2+1..=n+n/2, and 5000.
    assert_eq!(
        rows[0],
        vec![
            (n + n / 2).to_string(),
            (n + n / 2).to_string(),
            "5000".into()
        ]
    );
    let v = |id: i64| {
        let db = &db;
        async move {
            db.rows(&format!("SELECT v FROM items WHERE id = {id}"))
                .await
        }
    };
    assert_eq!(v(1).await, vec![vec!["a1".to_string()]]);
    assert_eq!(v(2).await, vec![vec!["a2-last".to_string()]]);
    assert!(v(3).await.is_empty(), "deleted between the runs");
    assert_eq!(v(n).await, vec![vec![format!("b{}", n / 2)]]);
    assert_eq!(v(5000).await, vec![vec!["untouched".to_string()]]);
    t.close().await;
}
