//! `Target` against the real servers of `scripts/services.sh up` (MariaDB root
//! on 127.0.0.1:3306, MySQL 9 root on 127.0.0.1:3307, PostgreSQL postgres on
//! 127.0.0.1:5432), through the crate's public API only: every behaviour is
//! tested once per server, the MySQL-family ones with [`both_flavors!`]. Each
//! test makes its own randomly named database, so tests run in parallel and
//! re-run without cleanup; rows are read back over an independent connection
//! to that database, never through the target's own session. An unreachable
//! server fails the test; nothing is skipped.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use sluice::config::DbEndpoint;
use sluice::event::Value;
use sluice::schema::{Column, ColumnType, SchemaDiff, TableSchema};
use sluice::sink::dialect::Dialect;
use sluice::sink::target::{OffsetRow, Target};
use sluice::sink::SinkError;

use crate::both_flavors;
use crate::support::*;

/// The server a test runs on.
#[derive(Debug, Clone, Copy)]
enum Server {
    /// MariaDB or MySQL.
    MySql(MySqlFlavor),
    Postgres,
}

impl From<MySqlFlavor> for Server {
    fn from(flavor: MySqlFlavor) -> Server {
        Server::MySql(flavor)
    }
}

/// The test's database, seen from outside the target: an independent
/// connection to read back what the target wrote.
enum Db {
    MySql(MySqlServer),
    Postgres(Postgres),
}

async fn connect(url: &str) -> Target {
    let ep = DbEndpoint::resolve("test", url, None, None, None).expect("endpoint");
    Target::connect(&ep)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e} (are the services up? scripts/services.sh up)"))
}

/// A new, empty database on `server`: a target connected to it, and the database itself.
async fn fresh(server: impl Into<Server>) -> (Target, Db) {
    let db = match server.into() {
        Server::MySql(flavor) => Db::MySql(MySqlServer::new(flavor, "sluice_t").await),
        Server::Postgres => Db::Postgres(Postgres::create("sluice_t").await),
    };
    let url = match &db {
        Db::MySql(m) => m.url(),
        Db::Postgres(p) => p.url(),
    };
    (connect(&url).await, db)
}

fn col(name: &str, ty: ColumnType, optional: bool) -> Column {
    Column::new(name, ty, optional)
}

fn table(columns: Vec<Column>, pk: &[&str]) -> TableSchema {
    TableSchema {
        name: "t".into(),
        columns,
        primary_key: pk.iter().map(|s| s.to_string()).collect(),
    }
}

/// Creates `name` from `schema` and checks that describing it gives back exactly the stored schema.
async fn create(t: &mut Target, name: &str, schema: &TableSchema) {
    let d = t.dialect();
    let ddl = d
        .create_table(name, schema, &schema.primary_key)
        .expect("ddl");
    t.execute_ddl(&ddl).await.expect("create table");
    let described = t
        .describe_table(name)
        .await
        .expect("describe")
        .expect("exists");
    let stored = d.stored_schema(schema, &schema.primary_key);
    assert_eq!(described.columns, without_defaults(&stored), "{d:?}");
    assert_eq!(described.primary_key, stored.primary_key);
    assert!(described.diff(&stored).is_empty());
}

/// The columns of `schema` as `describe_table` reports them (it does not read defaults).
fn without_defaults(schema: &TableSchema) -> Vec<Column> {
    let mut columns = schema.columns.clone();
    for c in &mut columns {
        c.default = None;
    }
    columns
}

/// Inserts `rows` of `schema` into `name` through `apply` (no offsets).
async fn insert(t: &mut Target, name: &str, schema: &TableSchema, rows: &[Vec<Value>]) {
    let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let types: Vec<&ColumnType> = schema.columns.iter().map(|c| &c.ty).collect();
    let sql = t
        .dialect()
        .insert(name, &cols, &types, rows)
        .expect("insert sql");
    t.apply(&[sql], &[]).await.expect("apply insert");
}

/// Every row of `name`, ordered by the first column, each value read back
/// in the canonical form of its Connect type so it compares with what was written.
async fn read(db: &Db, name: &str, cols: &[Column]) -> Vec<Vec<Value>> {
    let d = match db {
        Db::MySql(_) => Dialect::MySql,
        Db::Postgres(_) => Dialect::Postgres,
    };
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| {
            let q = d.quote_ident(&c.name).expect("ident");
            match (d, &c.ty) {
                (Dialect::MySql, ColumnType::Decimal { .. }) => format!("CAST({q} AS CHAR)"),
                (Dialect::MySql, ColumnType::Date) => format!("DATEDIFF({q}, '1970-01-01')"),
                (Dialect::MySql, ColumnType::Time | ColumnType::MicroTime) => {
                    // MySQL's TIME_TO_SEC drops the fraction, MariaDB's keeps it.
                    format!(
                        "CAST(TRUNCATE(TIME_TO_SEC({q}), 0) * 1000000 AS SIGNED) \
                         + IF({q} < 0, -1, 1) * MICROSECOND({q})"
                    )
                }
                (Dialect::MySql, ColumnType::Timestamp | ColumnType::MicroTimestamp) => {
                    format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01', {q})")
                }
                (Dialect::Postgres, ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32) => {
                    format!("{q}::int8")
                }
                (Dialect::Postgres, ColumnType::Decimal { .. }) => format!("{q}::text"),
                (Dialect::Postgres, ColumnType::Date) => format!("({q} - DATE '1970-01-01')::int8"),
                (Dialect::Postgres, ColumnType::Time | ColumnType::MicroTime)
                | (Dialect::Postgres, ColumnType::Timestamp | ColumnType::MicroTimestamp) => {
                    format!("(EXTRACT(EPOCH FROM {q}) * 1000000)::int8")
                }
                _ => q,
            }
        })
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY 1",
        exprs.join(", "),
        d.quote_ident(name).expect("ident")
    );
    match db {
        Db::MySql(m) => {
            let mut conn = m.pool.get_conn().await.expect("connect");
            // A prepared statement, so values come back typed (binary protocol).
            let rows: Vec<mysql_async::Row> = conn.exec(sql, ()).await.expect("select");
            rows.into_iter()
                .map(|r| {
                    let values = r.unwrap();
                    values
                        .into_iter()
                        .zip(cols)
                        .map(|(v, c)| from_mysql(v, &c.ty))
                        .collect()
                })
                .collect()
        }
        Db::Postgres(p) => {
            let rows = p.client.query(&sql, &[]).await.expect("select");
            rows.iter()
                .map(|r| {
                    cols.iter()
                        .enumerate()
                        .map(|(i, c)| from_postgres(r, i, &c.ty))
                        .collect()
                })
                .collect()
        }
    }
}

fn from_mysql(v: mysql_async::Value, ty: &ColumnType) -> Value {
    use mysql_async::Value as M;
    match (v, ty) {
        (M::NULL, _) => Value::Null,
        (M::Int(i), ColumnType::Boolean) => Value::Boolean(i != 0),
        (M::Int(i), ColumnType::Date) => Value::Date(i32::try_from(i).expect("days")),
        (M::Int(i), ColumnType::Time | ColumnType::MicroTime) => Value::Time(i),
        (M::Int(i), ColumnType::Timestamp | ColumnType::MicroTimestamp) => Value::Timestamp(i),
        (M::Int(i), _) => Value::Int(i),
        (M::Float(f), _) => Value::Float32(f),
        (M::Double(f), _) => Value::Float64(f),
        (M::Bytes(b), ColumnType::Bytes { .. }) => Value::Bytes(b),
        (M::Bytes(b), ColumnType::Decimal { .. }) => {
            Value::Decimal(String::from_utf8(b).expect("utf8"))
        }
        (M::Bytes(b), _) => Value::String(String::from_utf8(b).expect("utf8")),
        (other, ty) => panic!("unexpected {other:?} for {ty:?}"),
    }
}

fn from_postgres(r: &tokio_postgres::Row, i: usize, ty: &ColumnType) -> Value {
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        r: &'a tokio_postgres::Row,
        i: usize,
    ) -> Option<T> {
        r.try_get::<_, Option<T>>(i).expect("column type")
    }
    let v = match ty {
        ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64 => {
            get(r, i).map(Value::Int)
        }
        ColumnType::Boolean => get(r, i).map(Value::Boolean),
        ColumnType::Float32 => get(r, i).map(Value::Float32),
        ColumnType::Float64 => get(r, i).map(Value::Float64),
        ColumnType::String { .. } => get(r, i).map(Value::String),
        ColumnType::Bytes { .. } => get(r, i).map(Value::Bytes),
        ColumnType::Decimal { .. } => get(r, i).map(Value::Decimal),
        ColumnType::Date => get::<i64>(r, i).map(|d| Value::Date(i32::try_from(d).expect("days"))),
        ColumnType::Time | ColumnType::MicroTime => get(r, i).map(Value::Time),
        ColumnType::Timestamp | ColumnType::MicroTimestamp => get(r, i).map(Value::Timestamp),
    };
    v.unwrap_or(Value::Null)
}

/// One column per Connect type, a row of edge values and a row of NULLs.
fn every_type(server: Server) -> (TableSchema, Vec<Vec<Value>>) {
    let my = matches!(server, Server::MySql(_));
    let s = |n| ColumnType::String { max_len: n };
    let schema = table(
        vec![
            col("id", ColumnType::Int32, false),
            col("i8", ColumnType::Int8, true),
            col("i16", ColumnType::Int16, true),
            col("i64", ColumnType::Int64, true),
            col("f32", ColumnType::Float32, true),
            col("f64", ColumnType::Float64, true),
            col("flag", ColumnType::Boolean, true),
            col("text", s(None), true),
            col("short", s(Some(12)), true),
            col("bin", ColumnType::Bytes { max_len: None }, true),
            col("vbin", ColumnType::Bytes { max_len: Some(4) }, true),
            col(
                "dec",
                ColumnType::Decimal {
                    scale: 3,
                    precision: Some(20),
                },
                true,
            ),
            col(
                "bigdec",
                ColumnType::Decimal {
                    scale: 2,
                    precision: None,
                },
                true,
            ),
            col("day", ColumnType::Date, true),
            col("tm", ColumnType::Time, true),
            col("utm", ColumnType::MicroTime, true),
            col("ts", ColumnType::Timestamp, true),
            col("uts", ColumnType::MicroTimestamp, true),
        ],
        &["id"],
    );
    let nasty = if my {
        "a'b\\c\"\n\r\x1a\0\t é 😀 ''"
    } else {
        "a'b\\c\"\n\r\x1a\t é 😀 ''"
    };
    let edge = vec![
        Value::Int(1),
        Value::Int(-128),
        Value::Int(-32_768),
        Value::Int(i64::MIN),
        Value::Float32(-0.1),
        Value::Float64(0.1 + 0.2),
        Value::Boolean(true),
        Value::String(nasty.into()),
        Value::String("ünïcødé 12ch".into()),
        Value::Bytes((0..=255).collect()),
        Value::Bytes(vec![0, b'\'', b'\\', 0xff]),
        Value::Decimal("-12345678901234567.890".into()),
        Value::Decimal(format!("{}.05", "9".repeat(60))),
        Value::Date(-719_162), // 0001-01-01
        // MySQL TIME goes negative and past 24h; PostgreSQL stops at 24:00:00.
        Value::Time(if my { -360_000_001_000 } else { 86_399_999_000 }),
        // MariaDB's TIME(6) tops out at 838:59:59.999999, MySQL's at 838:59:59.000000.
        Value::Time(match server {
            Server::MySql(MySqlFlavor::MariaDb) => 3_020_399_999_999,
            Server::MySql(MySqlFlavor::MySql) => 3_020_399_000_000,
            Server::Postgres => 86_400_000_000,
        }),
        Value::Timestamp(-1_000),
        Value::Timestamp(if my {
            253_402_300_799_999_999
        } else {
            -62_135_596_800_000_001
        }),
    ];
    let mut nulls = vec![Value::Null; edge.len()];
    nulls[0] = Value::Int(2);
    (schema, vec![edge, nulls])
}

async fn every_type_round_trips(server: impl Into<Server>) {
    let server = server.into();
    let (mut t, db) = fresh(server).await;
    let (schema, rows) = every_type(server);
    create(&mut t, "every_type", &schema).await;
    insert(&mut t, "every_type", &schema, &rows).await;
    assert_eq!(read(&db, "every_type", &schema.columns).await, rows);
}

both_flavors!(every_type_round_trips);

#[tokio::test]
async fn postgres_every_type_round_trips() {
    every_type_round_trips(Server::Postgres).await;
}

async fn hostile_identifiers_name_exactly(server: impl Into<Server>) {
    let (mut t, db) = fresh(server).await;
    let bystander = table(vec![col("id", ColumnType::Int32, false)], &["id"]);
    create(&mut t, "x", &bystander).await;
    let evil = "\"; DROP TABLE x; --";
    let schema = table(
        vec![
            col("a`b", ColumnType::Int32, false),
            col(evil, ColumnType::String { max_len: None }, true),
        ],
        &["a`b"],
    );
    create(&mut t, evil, &schema).await;
    let rows = vec![vec![Value::Int(1), Value::String("v".into())]];
    insert(&mut t, evil, &schema, &rows).await;
    assert_eq!(read(&db, evil, &schema.columns).await, rows);
    assert!(t.describe_table("x").await.expect("describe").is_some());
    assert!(t.describe_table("X").await.expect("describe").is_none());
}

both_flavors!(hostile_identifiers_name_exactly);

#[tokio::test]
async fn postgres_hostile_identifiers_name_exactly() {
    hostile_identifiers_name_exactly(Server::Postgres).await;
}

/// Plans DDL from the described target to `new` and runs it.
async fn evolve(t: &mut Target, name: &str, new: &TableSchema) -> Result<(), SinkError> {
    let d = t.dialect();
    let current = t.describe_table(name).await?.expect("table exists");
    let diff = current.diff(&d.stored_schema(new, &current.primary_key));
    for ddl in d.alter_table(name, &current, &diff)? {
        t.execute_ddl(&ddl).await?;
    }
    Ok(())
}

async fn evolves_added_and_widened_columns(server: impl Into<Server>) {
    let (mut t, db) = fresh(server).await;
    let v1 = table(
        vec![
            col("id", ColumnType::Int32, false),
            col("n", ColumnType::Int32, true),
        ],
        &["id"],
    );
    create(&mut t, "t", &v1).await;
    insert(&mut t, "t", &v1, &[vec![Value::Int(1), Value::Int(5)]]).await;
    let v2 = table(
        vec![
            col("id", ColumnType::Int32, false),
            col("n", ColumnType::Int64, true),
            col("note", ColumnType::String { max_len: None }, true),
            Column {
                default: Some(Value::Int(3)),
                ..col("level", ColumnType::Int32, false)
            },
        ],
        &["id"],
    );
    evolve(&mut t, "t", &v2).await.expect("evolve");
    let described = t
        .describe_table("t")
        .await
        .expect("describe")
        .expect("exists");
    let stored = t.dialect().stored_schema(&v2, &["id".into()]);
    assert_eq!(described.columns, without_defaults(&stored));
    let row = vec![
        Value::Int(2),
        Value::Int(i64::MAX),
        Value::String("hi".into()),
        Value::Int(4),
    ];
    insert(&mut t, "t", &v2, std::slice::from_ref(&row)).await;
    let old = vec![Value::Int(1), Value::Int(5), Value::Null, Value::Int(3)];
    assert_eq!(read(&db, "t", &v2.columns).await, vec![old, row]);
    // Nothing left to do: a second pass plans no DDL.
    let current = t
        .describe_table("t")
        .await
        .expect("describe")
        .expect("exists");
    let diff = current.diff(&t.dialect().stored_schema(&v2, &current.primary_key));
    assert_eq!(diff, SchemaDiff::default());
}

both_flavors!(evolves_added_and_widened_columns);

#[tokio::test]
async fn postgres_evolves_added_and_widened_columns() {
    evolves_added_and_widened_columns(Server::Postgres).await;
}

async fn required_field_without_default_is_refused(server: impl Into<Server>) {
    let (mut t, _db) = fresh(server).await;
    let v1 = table(vec![col("id", ColumnType::Int32, false)], &["id"]);
    create(&mut t, "t", &v1).await;
    let mut v2 = v1.clone();
    v2.columns.push(col("must", ColumnType::Int32, false));
    let err = evolve(&mut t, "t", &v2)
        .await
        .expect_err("required field")
        .to_string();
    assert!(
        err.contains("add missing field must") && err.contains("not optional"),
        "{err}"
    );
    let described = t
        .describe_table("t")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(
        described.columns,
        t.dialect().stored_schema(&v1, &["id".into()]).columns
    );
}

both_flavors!(required_field_without_default_is_refused);

#[tokio::test]
async fn postgres_required_field_without_default_is_refused() {
    required_field_without_default_is_refused(Server::Postgres).await;
}

fn offsets(list: &[(&str, i32, i64)]) -> Vec<OffsetRow> {
    list.iter()
        .map(|(sink, p, o)| (sink.to_string(), "topic.a".to_string(), *p, *o))
        .collect()
}

async fn offsets_commit_with_rows_or_not_at_all(server: impl Into<Server>) {
    let (mut t, db) = fresh(server).await;
    t.ensure_offsets_table().await.expect("offsets table");
    t.ensure_offsets_table().await.expect("offsets table again");
    let schema = table(
        vec![
            col("k", ColumnType::String { max_len: Some(64) }, false),
            col("v", ColumnType::Int32, true),
        ],
        &["k"],
    );
    create(&mut t, "t", &schema).await;
    let d = t.dialect();
    let ins = |k: &str| {
        let row = [Value::String(k.into()), Value::Int(1)];
        d.insert(
            "t",
            &["k", "v"],
            &[&schema.columns[0].ty, &schema.columns[1].ty],
            &[row],
        )
        .expect("insert sql")
    };
    let first = offsets(&[("sink-a", 0, 10), ("sink-a", 1, 7), ("sink-b", 0, 99)]);
    t.apply(&[ins("secret-key-1")], &first)
        .await
        .expect("first batch");
    let expected: HashMap<(String, i32), i64> = [
        (("topic.a".to_string(), 0), 10),
        (("topic.a".to_string(), 1), 7),
    ]
    .into();
    assert_eq!(t.load_offsets("sink-a").await.expect("load"), expected);

    // A good row, then a duplicate key: nothing of the batch may stay, offsets included.
    let err = t
        .apply(
            &[ins("secret-key-2"), ins("secret-key-1")],
            &offsets(&[("sink-a", 0, 20)]),
        )
        .await
        .expect_err("duplicate key");
    assert!(!err.is_transient(), "{err}");
    assert!(!err.to_string().contains("secret-key"), "{err}");
    assert_eq!(t.load_offsets("sink-a").await.expect("load"), expected);
    let keys = vec![vec![Value::String("secret-key-1".into()), Value::Int(1)]];
    assert_eq!(read(&db, "t", &schema.columns).await, keys);

    // The retried batch moves rows and offsets together.
    t.apply(&[ins("secret-key-2")], &offsets(&[("sink-a", 0, 20)]))
        .await
        .expect("retry");
    let loaded = t.load_offsets("sink-a").await.expect("load");
    assert_eq!(loaded.get(&("topic.a".to_string(), 0)), Some(&20));
    assert_eq!(read(&db, "t", &schema.columns).await.len(), 2);
}

both_flavors!(offsets_commit_with_rows_or_not_at_all);

#[tokio::test]
async fn postgres_offsets_commit_with_rows_or_not_at_all() {
    offsets_commit_with_rows_or_not_at_all(Server::Postgres).await;
}

async fn upsert_update_delete(server: impl Into<Server>) {
    let (mut t, db) = fresh(server).await;
    let schema = table(
        vec![
            col("a", ColumnType::Int32, false),
            col("b", ColumnType::String { max_len: None }, false),
            col("v", ColumnType::String { max_len: None }, true),
        ],
        &["a", "b"],
    );
    create(&mut t, "t", &schema).await;
    let d = t.dialect();
    let cols = ["a", "b", "v"];
    let types: Vec<&ColumnType> = schema.columns.iter().map(|c| &c.ty).collect();
    let row = |a: i64, b: &str, v: &str| {
        vec![
            Value::Int(a),
            Value::String(b.into()),
            Value::String(v.into()),
        ]
    };
    let key = ["a", "b"];
    let up = d
        .upsert(
            "t",
            &cols,
            &types,
            &key,
            &[row(1, "x", "one"), row(2, "y", "two"), row(1, "x", "uno")],
        )
        .expect("upsert");
    t.apply(&[up], &[]).await.expect("upsert");
    assert_eq!(
        read(&db, "t", &schema.columns).await,
        vec![row(1, "x", "uno"), row(2, "y", "two")]
    );
    let mut stmts = d
        .update("t", &cols, &types, &key, &[row(2, "y", "dos")])
        .expect("update");
    let gone = [vec![Value::Int(1), Value::String("x".into())]];
    stmts.push(d.delete("t", &key, &types[..2], &gone).expect("delete"));
    t.apply(&stmts, &[]).await.expect("update and delete");
    assert_eq!(
        read(&db, "t", &schema.columns).await,
        vec![row(2, "y", "dos")]
    );
}

both_flavors!(upsert_update_delete);

#[tokio::test]
async fn postgres_upsert_update_delete() {
    upsert_update_delete(Server::Postgres).await;
}

async fn session_is_strict_utc_and_escape_safe(flavor: MySqlFlavor) {
    let (mut t, _db) = fresh(flavor).await;
    let (mode, tz): (String, String) = t
        .mysql_session()
        .expect("a MySQL session")
        .query_first("SELECT @@SESSION.sql_mode, @@SESSION.time_zone")
        .await
        .expect("select")
        .expect("row");
    assert!(
        mode.contains("STRICT_ALL_TABLES") && !mode.contains("NO_BACKSLASH_ESCAPES"),
        "{mode}"
    );
    assert_eq!(tz, "+00:00");
    assert!(t.max_statement_bytes() >= 1 << 20);
}

both_flavors!(session_is_strict_utc_and_escape_safe);

#[tokio::test]
async fn connection_errors_are_classified() {
    for url in [
        "mysql://root@127.0.0.1:1/x",
        "postgres://postgres@127.0.0.1:1/x",
    ] {
        let ep = DbEndpoint::resolve("test", url, None, None, None).expect("endpoint");
        let err = Target::connect(&ep).await.err().expect("refused");
        assert!(err.is_transient(), "{url}: {err}");
    }
    let bad_db = DbEndpoint::resolve(
        "test",
        &format!("{POSTGRES}/sluice_no_such_db"),
        None,
        None,
        None,
    )
    .expect("endpoint");
    let err = Target::connect(&bad_db).await.err().expect("no database");
    assert!(!err.is_transient(), "{err}");
}
