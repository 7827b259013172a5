//! PostgreSQL inserts in binary COPY format (used once the target table's
//! column types are known): against the real server every value lands as the
//! text format writes it, and a column retyped behind the sink's back is never
//! read as another type of the same width: the check after the COPY refuses
//! the batch, and the sink applies it again in text format.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sluice::config::{DbEndpoint, InsertMode};
use sluice::event::{Op, Value};
use sluice::schema::{Column, ColumnType, TableSchema};
use sluice::sink::decode::RowChange;
use sluice::sink::plan::{plan_steps_with, Statement};
use sluice::sink::target::Target;

use crate::suite::sink_targets::sink_config;
use crate::support::*;

/// Columns of every binary kind (and their Connect types).
const DDL: &str = "(id BIGINT PRIMARY KEY, i2 SMALLINT, i4 INTEGER, b BOOLEAN, f4 REAL, \
                   f8 DOUBLE PRECISION, s TEXT, vc VARCHAR(20), raw BYTEA, d DATE, ts TIMESTAMP(6))";

fn schema(table: &str) -> Arc<TableSchema> {
    let col = |n: &str, ty: ColumnType| Column::new(n, ty, n != "id");
    Arc::new(TableSchema {
        name: table.into(),
        columns: vec![
            col("id", ColumnType::Int64),
            col("i2", ColumnType::Int16),
            col("i4", ColumnType::Int32),
            col("b", ColumnType::Boolean),
            col("f4", ColumnType::Float32),
            col("f8", ColumnType::Float64),
            col("s", ColumnType::String { max_len: None }),
            col("vc", ColumnType::String { max_len: Some(20) }),
            col("raw", ColumnType::Bytes { max_len: None }),
            col("d", ColumnType::Date),
            col("ts", ColumnType::MicroTimestamp),
        ],
        primary_key: vec!["id".into()],
    })
}

/// Rows covering the edges of each kind, and one all NULL.
fn rows() -> Vec<Vec<Value>> {
    let day = 86_400_000_000_i64;
    vec![
        vec![
            Value::Int(1),
            Value::Int(i64::from(i16::MIN)),
            Value::Int(i64::from(i32::MAX)),
            Value::Boolean(true),
            Value::Float32(-0.1),
            Value::Float64(1.5e300),
            Value::String("tab\t nl\n bs\\ quote' é 😀".into()),
            Value::String("short".into()),
            Value::Bytes(vec![0, 1, 0xff, b'\\', b'\n']),
            Value::Date(-1),
            Value::Timestamp(-1),
        ],
        vec![
            Value::Int(i64::MIN),
            Value::Int(i64::from(i16::MAX)),
            Value::Int(i64::from(i32::MIN)),
            Value::Boolean(false),
            Value::Float32(f32::INFINITY),
            Value::Float64(f64::NAN),
            Value::String(String::new()),
            Value::String(String::new()),
            Value::Bytes(Vec::new()),
            Value::Date(10_957),
            Value::Timestamp(10_957 * day + 123_456),
        ],
        vec![
            Value::Int(3),
            Value::Int(0),
            Value::Int(0),
            Value::Boolean(true),
            Value::Float32(0.0),
            Value::Float64(-0.0),
            Value::String("9999".into()),
            Value::String("x".repeat(20)),
            Value::Bytes(vec![7; 300]),
            Value::Date(2_932_896),
            Value::Timestamp(-719_162 * day),
        ],
        std::iter::once(Value::Int(4))
            .chain(std::iter::repeat_n(Value::Null, 10))
            .collect(),
    ]
}

fn changes(table: &str) -> Vec<RowChange> {
    let schema = schema(table);
    rows()
        .into_iter()
        .map(|row| RowChange {
            table: table.into(),
            schema: schema.clone(),
            op: Op::Create,
            row,
        })
        .collect()
}

/// A PostgreSQL target on `db` after running `ddl`.
async fn target(db: &Postgres, ddl: &str) -> Target {
    let ep = DbEndpoint::resolve("test", &db.url(), None, None, None).expect("endpoint");
    let mut t = Target::connect(&ep).await.expect("connect");
    t.execute_ddl(ddl).await.expect("ddl");
    t
}

/// The plan of [`changes`] into `table` with what `t` knows of its tables.
fn plan(t: &Target, table: &str) -> Vec<Statement> {
    let formats = t.copy_formats().expect("PostgreSQL knows copy formats");
    let changes = changes(table);
    let (steps, _) = plan_steps_with(
        t.dialect(),
        &changes,
        InsertMode::Insert,
        true,
        true,
        Some(&formats),
        t.max_statement_bytes(),
    )
    .expect("plan");
    steps
}

fn copy_formats(steps: &[Statement]) -> Vec<bool> {
    steps
        .iter()
        .filter_map(|s| match s {
            Statement::Copy { binary, .. } => Some(binary.is_some()),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn binary_copy_writes_every_value_as_text_copy_does() {
    let db = Postgres::create("pg_binary").await;
    let mut t = target(
        &db,
        &format!("CREATE TABLE bin {DDL}; CREATE TABLE txt {DDL}"),
    )
    .await;
    // Before a table is described its COPY goes as text.
    let text = plan(&t, "txt");
    assert_eq!(copy_formats(&text), [false]);
    t.describe_table("bin").await.expect("describe");
    let binary = plan(&t, "bin");
    assert_eq!(
        copy_formats(&binary),
        [true],
        "a described table goes binary"
    );
    t.apply_steps(&binary, &[], &[]).await.expect("binary copy");
    t.apply_steps(&text, &[], &[]).await.expect("text copy");
    let select = |table: &str| {
        format!(
            "SELECT id, i2, i4, b, f4, f8, s, vc, encode(raw, 'hex'), d, ts FROM {table} ORDER BY id"
        )
    };
    let got = db.rows(&select("bin")).await;
    assert_eq!(
        got,
        db.rows(&select("txt")).await,
        "binary and text rows differ"
    );
    assert_eq!(got.len(), 4);
    let first = got.iter().find(|r| r[0] == "1").expect("row 1");
    assert_eq!(first[6], "tab\t nl\n bs\\ quote' é 😀");
    assert_eq!(first[9], "1969-12-31");
    assert_eq!(first[10], "1969-12-31 23:59:59.999999");
    let last = got.iter().find(|r| r[0] == "3").expect("row 3");
    assert_eq!(last[9], "9999-12-31");
    assert_eq!(last[10], "0001-01-01 00:00:00");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn domain_columns_and_unsupported_types_go_as_text() {
    let db = Postgres::create("pg_binary_domain").await;
    let ddl = format!(
        "CREATE DOMAIN big_id AS BIGINT; CREATE TABLE dom {}; CREATE TABLE num {}",
        DDL.replace("id BIGINT", "id big_id"),
        DDL.replace("f8 DOUBLE PRECISION", "f8 NUMERIC")
    );
    let mut t = target(&db, &ddl).await;
    for table in ["dom", "num"] {
        t.describe_table(table).await.expect("describe");
        let steps = plan(&t, table);
        assert_eq!(copy_formats(&steps), [false], "{table} goes as text");
        t.apply_steps(&steps, &[], &[]).await.expect("text copy");
    }
    assert_eq!(db.count("dom").await, Some(4));
    assert_eq!(db.count("num").await, Some(4));
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_binary_copy_into_a_retyped_column_is_refused() {
    let db = Postgres::create("pg_binary_retype").await;
    let mut t = target(&db, &format!("CREATE TABLE r {DDL}")).await;
    t.describe_table("r").await.expect("describe");
    let steps = plan(&t, "r");
    assert_eq!(copy_formats(&steps), [true]);
    // Same width, other type: int8 bytes would read as float8 without the check.
    t.execute_ddl("ALTER TABLE r ALTER COLUMN id TYPE DOUBLE PRECISION")
        .await
        .expect("alter");
    let err = t
        .apply_steps(&steps, &[], &[])
        .await
        .expect_err("the check refuses the stale binary COPY");
    assert!(
        err.to_string().contains("column types"),
        "error names the cause: {err}"
    );
    assert_eq!(db.count("r").await, Some(0), "nothing of the batch remains");
    t.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_sink_reapplies_in_text_when_a_column_was_retyped() {
    let db = Postgres::create("pg_binary_sink").await;
    let tag = unique("pgbin");
    let topic = format!("pgbin_{tag}");
    db.client
        .batch_execute(&format!(
            "CREATE TABLE \"{topic}\" (id BIGINT PRIMARY KEY, v BIGINT)"
        ))
        .await
        .expect("table");
    let msg = |id: i64, v: i64| {
        json!({"schema": {"type": "struct", "fields": [
                {"type": "int64", "optional": false, "field": "id"},
                {"type": "int64", "optional": true, "field": "v"}], "optional": false, "name": "r"},
            "payload": {"id": id, "v": v}})
        .to_string()
    };
    let m1 = msg(1, 5);
    kcat_produce(&topic, &[(None, &m1)]);
    let extra = "pk_mode = \"record_value\"\npk_fields = [\"id\"]";
    let mut d = Daemon::start(&sink_config(&tag, &db.url(), &topic, extra));
    wait_for("the first row", Duration::from_secs(60), || async {
        (db.count(&topic).await == Some(1)).then_some(())
    })
    .await;
    // The sink read the table with v BIGINT; now v holds doubles.
    db.client
        .batch_execute(&format!(
            "ALTER TABLE \"{topic}\" ALTER COLUMN v TYPE DOUBLE PRECISION"
        ))
        .await
        .expect("alter");
    let (m2, m3) = (msg(2, 7), msg(3, -1));
    kcat_produce(&topic, &[(None, &m2), (None, &m3)]);
    wait_for("all rows", Duration::from_secs(60), || async {
        (db.count(&topic).await == Some(3)).then_some(())
    })
    .await;
    let rows = db
        .rows(&format!("SELECT id, v FROM \"{topic}\" ORDER BY id"))
        .await;
    assert_eq!(rows, [["1", "5"], ["2", "7"], ["3", "-1"]]);
    assert_eq!(d.stop(), 0);
}
