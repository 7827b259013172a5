//! The SQLite target against real database files, mirroring
//! `tests/suite/sink_target_db.rs` (MariaDB, MySQL and PostgreSQL, which need
//! the live servers and so run as integration tests). Each test opens its own file under
//! `std::env::temp_dir()/sluice-sqlite-tests`, so tests run in parallel and
//! re-run without cleanup. Values are read back with their SQLite storage class
//! (`typeof`), which checks the affinity each declared type was chosen for.

use std::collections::HashMap;

use rusqlite::types::ValueRef;

use super::*;
use crate::event::Value;
use crate::schema::{ColumnType, TableSchema};
use crate::sink::dialect::Dialect;
use crate::sink::target::{OffsetRow, Target};

const D: Dialect = Dialect::Sqlite;

/// A path for a new database file (not created yet).
pub(super) fn fresh_path() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join("sluice-sqlite-tests");
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(format!("t_{:016x}.db", rand::random::<u64>()))
}

pub(super) async fn open(url: &str) -> Result<Target, SinkError> {
    let ep = DbEndpoint::resolve("test", url, None, None, None).expect("endpoint");
    Target::connect(&ep).await
}

/// A target on a new, empty database file.
pub(super) async fn fresh() -> Target {
    let url = format!("sqlite://{}", fresh_path().display());
    open(&url).await.unwrap_or_else(|e| panic!("{url}: {e}"))
}

pub(super) fn sqlite(t: &Target) -> &SqliteTarget {
    match t {
        Target::Sqlite(s) => s,
        _ => panic!("not a SQLite target"),
    }
}

pub(super) fn col(name: &str, ty: ColumnType, optional: bool) -> Column {
    Column::new(name, ty, optional)
}

pub(super) fn table(columns: Vec<Column>, pk: &[&str]) -> TableSchema {
    TableSchema {
        name: "t".into(),
        columns,
        primary_key: pk.iter().map(|s| s.to_string()).collect(),
    }
}

fn without_defaults(schema: &TableSchema) -> Vec<Column> {
    let mut columns = schema.columns.clone();
    for c in &mut columns {
        c.default = None;
    }
    columns
}

/// Creates `name` from `schema` and checks that describing it gives back exactly the stored schema.
pub(super) async fn create(t: &mut Target, name: &str, schema: &TableSchema) {
    let ddl = D
        .create_table(name, schema, &schema.primary_key)
        .expect("ddl");
    t.execute_ddl(&ddl).await.expect("create table");
    let described = t
        .describe_table(name)
        .await
        .expect("describe")
        .expect("exists");
    let stored = D.stored_schema(schema, &schema.primary_key);
    assert_eq!(described.columns, without_defaults(&stored));
    assert_eq!(described.primary_key, stored.primary_key);
    assert!(described.diff(&stored).is_empty());
}

pub(super) async fn insert(t: &mut Target, name: &str, schema: &TableSchema, rows: &[Vec<Value>]) {
    let cols: Vec<&str> = schema.columns.iter().map(|c| c.name.as_str()).collect();
    let types: Vec<&ColumnType> = schema.columns.iter().map(|c| &c.ty).collect();
    let sql = D.insert(name, &cols, &types, rows).expect("insert sql");
    t.apply(&[sql], &[]).await.expect("apply insert");
}

/// Every row of `name` ordered by the first column, each value converted back
/// to its Connect type from the text/number SQLite holds, after checking its
/// storage class.
pub(super) fn read(t: &Target, name: &str, cols: &[Column]) -> Vec<Vec<Value>> {
    let exprs: Vec<String> = cols
        .iter()
        .map(|c| D.quote_ident(&c.name).expect("ident"))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY 1",
        exprs.join(", "),
        D.quote_ident(name).expect("ident")
    );
    let conn = sqlite(t).conn.lock().expect("lock");
    let mut stmt = conn.prepare(&sql).expect("select");
    let mut rows = stmt.query([]).expect("query");
    let mut out = Vec::new();
    while let Some(r) = rows.next().expect("row") {
        let values = cols
            .iter()
            .enumerate()
            .map(|(i, c)| from_sqlite(r.get_ref(i).expect("value"), &c.ty))
            .collect();
        out.push(values);
    }
    out
}

fn from_sqlite(v: ValueRef<'_>, ty: &ColumnType) -> Value {
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf8");
    match (v, ty) {
        (ValueRef::Null, _) => Value::Null,
        (ValueRef::Integer(i), ColumnType::Boolean) => Value::Boolean(i != 0),
        (
            ValueRef::Integer(i),
            ColumnType::Int8 | ColumnType::Int16 | ColumnType::Int32 | ColumnType::Int64,
        ) => Value::Int(i),
        (ValueRef::Real(f), ColumnType::Float32) => {
            let narrow = f as f32;
            assert_eq!(f64::from(narrow), f, "a float32 is stored exactly");
            Value::Float32(narrow)
        }
        (ValueRef::Real(f), ColumnType::Float64) => Value::Float64(f),
        (ValueRef::Text(b), ColumnType::String { .. }) => Value::String(text(b)),
        (ValueRef::Blob(b), ColumnType::Bytes { .. }) => Value::Bytes(b.to_vec()),
        (ValueRef::Text(b), ColumnType::Decimal { .. }) => Value::Decimal(text(b)),
        (ValueRef::Text(b), ColumnType::Date) => Value::Date(parse_date(&text(b))),
        (ValueRef::Text(b), ColumnType::Time | ColumnType::MicroTime) => {
            Value::Time(parse_time(&text(b)))
        }
        (ValueRef::Text(b), ColumnType::Timestamp | ColumnType::MicroTimestamp) => {
            let s = text(b);
            let (day, time) = s.split_once(' ').expect("date and time");
            Value::Timestamp(
                i64::from(parse_date(day)) * literal_micros_per_day() + parse_time(time),
            )
        }
        (other, ty) => panic!("storage class {:?} for {ty:?}", other.data_type()),
    }
}

fn literal_micros_per_day() -> i64 {
    86_400_000_000
}

/// Days since 1970-01-01 of `YYYY-MM-DD` (Howard Hinnant's `days_from_civil`).
fn parse_date(s: &str) -> i32 {
    let mut it = s.split('-').map(|p| p.parse::<i64>().expect("date part"));
    let (y, m, d) = (
        it.next().expect("y"),
        it.next().expect("m"),
        it.next().expect("d"),
    );
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 719_468).expect("days")
}

/// Microseconds of `[-]H…H:MM:SS[.f…]`.
fn parse_time(s: &str) -> i64 {
    let (sign, s) = match s.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, s),
    };
    let (hms, frac) = s.split_once('.').unwrap_or((s, ""));
    let parts: Vec<i64> = hms.split(':').map(|p| p.parse().expect("hms")).collect();
    let micros: i64 = format!("{frac:0<6}").parse().expect("fraction");
    sign * ((parts[0] * 3600 + parts[1] * 60 + parts[2]) * 1_000_000 + micros)
}

/// One column per Connect type; rows of edge values and a row of NULLs.
fn every_type() -> (TableSchema, Vec<Vec<Value>>) {
    let s = |n| ColumnType::String { max_len: n };
    let dec = |scale, precision| ColumnType::Decimal { scale, precision };
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
            col("dec", dec(3, Some(20)), true),
            col("bigdec", dec(2, None), true),
            col("day", ColumnType::Date, true),
            col("tm", ColumnType::Time, true),
            col("utm", ColumnType::MicroTime, true),
            col("ts", ColumnType::Timestamp, true),
            col("uts", ColumnType::MicroTimestamp, true),
        ],
        &["id"],
    );
    let edge = vec![
        Value::Int(1),
        Value::Int(-128),
        Value::Int(-32_768),
        Value::Int(i64::MIN),
        Value::Float32(-0.1),
        Value::Float64(0.1 + 0.2),
        Value::Boolean(true),
        Value::String("a'b\\c\"\n\r\x1a\t é 😀 '' \"x\"".into()),
        Value::String("123".into()), // looks numeric, stays text
        Value::Bytes((0..=255).collect()),
        Value::Bytes(vec![]),
        Value::Decimal("-12345678901234567.890".into()),
        Value::Decimal(format!("{}.05", "9".repeat(60))),
        Value::Date(-719_528), // 0000-01-01
        Value::Time(-360_000_001_000),
        Value::Time(86_399_999_999),
        Value::Timestamp(-1_000),
        Value::Timestamp(253_402_300_799_999_999), // 9999-12-31 23:59:59.999999
    ];
    let more = vec![
        Value::Int(2),
        Value::Int(127),
        Value::Int(32_767),
        Value::Int(i64::MAX),
        Value::Float32(f32::MAX),
        Value::Float64(5e-324),
        Value::Boolean(false),
        Value::String(String::new()),
        Value::String("1e5".into()),
        Value::Bytes(vec![0]),
        Value::Bytes(b"\0'\\".to_vec()),
        Value::Decimal("12.300".into()), // trailing zeros kept
        Value::Decimal("0.00".into()),
        Value::Date(2_932_896), // 9999-12-31
        Value::Time(0),
        Value::Time(3_020_399_999_999),
        Value::Timestamp(1_660_592_867_000_000),
        Value::Timestamp(-62_167_219_200_000_000), // 0000-01-01 00:00:00
    ];
    let infinite = {
        let mut r = more.clone();
        r[0] = Value::Int(3);
        r[4] = Value::Float32(f32::NEG_INFINITY);
        r[5] = Value::Float64(f64::INFINITY);
        r
    };
    let extreme = {
        let mut r = more.clone();
        r[0] = Value::Int(4);
        r[4] = Value::Float32(f32::MIN_POSITIVE);
        r[5] = Value::Float64(f64::MAX);
        r
    };
    let mut nulls = vec![Value::Null; edge.len()];
    nulls[0] = Value::Int(5);
    (schema, vec![edge, more, infinite, extreme, nulls])
}

#[tokio::test]
async fn sqlite_every_type_round_trips() {
    let mut t = fresh().await;
    let (schema, rows) = every_type();
    create(&mut t, "every_type", &schema).await;
    insert(&mut t, "every_type", &schema, &rows).await;
    assert_eq!(read(&t, "every_type", &schema.columns), rows);
    // The storage classes the declared types were chosen for, and ISO text
    // that SQLite's own date functions read back unchanged.
    let conn = sqlite(&t).conn.lock().expect("lock");
    let (classes, same): (String, bool) = conn
        .query_row(
            "SELECT typeof(i8) || typeof(f32) || typeof(flag) || typeof(short) || typeof(vbin) \
             || typeof(dec) || typeof(day) || typeof(utm) || typeof(ts), \
             date(day) = day AND strftime('%Y-%m-%d %H:%M:%f', ts) = ts \
             AND time(tm, 'subsec') = tm FROM every_type WHERE id = 2",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("typeof");
    assert_eq!(classes, "integerrealintegertextblobtexttexttexttext");
    assert!(same, "SQLite's date functions read the text as written");
}

#[tokio::test]
async fn sqlite_hostile_identifiers_name_exactly() {
    let mut t = fresh().await;
    let bystander = table(vec![col("id", ColumnType::Int32, false)], &["id"]);
    create(&mut t, "x", &bystander).await;
    let evil = "\"; DROP TABLE x; --";
    let schema = table(
        vec![
            col("a`b", ColumnType::Int32, false),
            col(evil, ColumnType::String { max_len: None }, true),
            col("it's", ColumnType::String { max_len: None }, true),
        ],
        &["a`b"],
    );
    create(&mut t, evil, &schema).await;
    let rows = vec![vec![
        Value::Int(1),
        Value::String("v".into()),
        Value::String("w".into()),
    ]];
    insert(&mut t, evil, &schema, &rows).await;
    assert_eq!(read(&t, evil, &schema.columns), rows);
    let described = t.describe_table(evil).await.expect("describe");
    let names: Vec<String> = described
        .expect("exists")
        .columns
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["a`b", evil, "it's"]);
    assert!(t.describe_table("x").await.expect("describe").is_some());
    // SQLite resolves names case-insensitively: "X" is the same table.
    assert!(t.describe_table("X").await.expect("describe").is_some());
    assert!(t.describe_table("y").await.expect("describe").is_none());
}

/// Plans DDL from the described target to `new` and runs it; returns the statements.
async fn evolve(t: &mut Target, name: &str, new: &TableSchema) -> Result<Vec<String>, SinkError> {
    let current = t.describe_table(name).await?.expect("table exists");
    let diff = current.diff(&D.stored_schema(new, &current.primary_key));
    let ddl = D.alter_table(name, &current, &diff)?;
    for sql in &ddl {
        t.execute_ddl(sql).await?;
    }
    Ok(ddl)
}

#[tokio::test]
async fn sqlite_evolves_added_columns_and_widens_without_ddl() {
    let mut t = fresh().await;
    let v1 = table(
        vec![
            col("id", ColumnType::Int32, false),
            col("n", ColumnType::Int8, true),
            col("s", ColumnType::String { max_len: Some(4) }, true),
            col(
                "d",
                ColumnType::Decimal {
                    scale: 2,
                    precision: Some(4),
                },
                true,
            ),
        ],
        &["id"],
    );
    create(&mut t, "t", &v1).await;
    insert(
        &mut t,
        "t",
        &v1,
        &[vec![
            Value::Int(1),
            Value::Int(5),
            Value::String("abcd".into()),
            Value::Decimal("12.34".into()),
        ]],
    )
    .await;
    // Wider types only: no DDL and no error.
    let mut wider = v1.clone();
    wider.columns[1].ty = ColumnType::Int64;
    wider.columns[2].ty = ColumnType::String { max_len: Some(400) };
    wider.columns[3].ty = ColumnType::Decimal {
        scale: 2,
        precision: Some(30),
    };
    assert_eq!(
        evolve(&mut t, "t", &wider).await.expect("widen"),
        Vec::<String>::new()
    );
    // Plus two new columns: one ALTER TABLE each.
    let mut v2 = wider.clone();
    v2.columns
        .push(col("note", ColumnType::String { max_len: None }, true));
    v2.columns.push(Column {
        default: Some(Value::Int(3)),
        ..col("level", ColumnType::Int32, false)
    });
    assert_eq!(evolve(&mut t, "t", &v2).await.expect("evolve").len(), 2);
    let described = t
        .describe_table("t")
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(
        described.columns,
        without_defaults(&D.stored_schema(&v2, &["id".into()]))
    );
    let row = vec![
        Value::Int(2),
        Value::Int(i64::MAX),
        Value::String("longer than four".into()),
        Value::Decimal("1234567890123456789012345678.90".into()),
        Value::String("hi".into()),
        Value::Int(4),
    ];
    insert(&mut t, "t", &v2, std::slice::from_ref(&row)).await;
    let old = vec![
        Value::Int(1),
        Value::Int(5),
        Value::String("abcd".into()),
        Value::Decimal("12.34".into()),
        Value::Null,
        Value::Int(3),
    ];
    assert_eq!(read(&t, "t", &v2.columns), vec![old, row]);
    assert_eq!(
        evolve(&mut t, "t", &v2).await.expect("again"),
        Vec::<String>::new()
    );
    // A different kind or a different decimal scale is still an error naming the column.
    for (i, ty) in [
        (1, ColumnType::String { max_len: None }),
        (
            3,
            ColumnType::Decimal {
                scale: 3,
                precision: None,
            },
        ),
    ] {
        let mut bad = v2.clone();
        bad.columns[i].ty = ty;
        let err = evolve(&mut t, "t", &bad)
            .await
            .expect_err("incompatible")
            .to_string();
        assert!(
            err.contains(&format!("column {}", bad.columns[i].name)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn sqlite_required_field_without_default_is_refused() {
    let mut t = fresh().await;
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
        D.stored_schema(&v1, &["id".into()]).columns
    );
}

#[tokio::test]
async fn sqlite_relaxed_field_keeps_not_null_and_a_null_fails_naming_it() {
    let mut t = fresh().await;
    let v1 = table(
        vec![
            col("id", ColumnType::Int32, false),
            col("v", ColumnType::Int32, false),
        ],
        &["id"],
    );
    create(&mut t, "t", &v1).await;
    let mut v2 = v1.clone();
    v2.columns[1].optional = true;
    v2.columns.push(col("extra", ColumnType::Int32, true));
    assert_eq!(evolve(&mut t, "t", &v2).await.expect("evolve").len(), 1);
    let sql = D
        .insert(
            "t",
            &["id", "v", "extra"],
            &[&ColumnType::Int32, &ColumnType::Int32, &ColumnType::Int32],
            &[[Value::Int(1), Value::Null, Value::Null]],
        )
        .expect("sql");
    let err = t
        .apply(&[sql], &[])
        .await
        .expect_err("NOT NULL")
        .to_string();
    assert!(err.contains("NOT NULL") && err.contains("t.v"), "{err}");
}

pub(super) fn offsets(list: &[(&str, i32, i64)]) -> Vec<OffsetRow> {
    list.iter()
        .map(|(sink, p, o)| (sink.to_string(), "topic.a".to_string(), *p, *o))
        .collect()
}

#[tokio::test]
async fn sqlite_offsets_commit_with_rows_or_not_at_all() {
    let mut t = fresh().await;
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
    let ins = |k: &str| {
        let row = [Value::String(k.into()), Value::Int(1)];
        D.insert(
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
    assert!(
        err.to_string().contains("UNIQUE constraint failed"),
        "{err}"
    );
    assert_eq!(t.load_offsets("sink-a").await.expect("load"), expected);
    let keys = vec![vec![Value::String("secret-key-1".into()), Value::Int(1)]];
    assert_eq!(read(&t, "t", &schema.columns), keys);

    // The retried batch moves rows and offsets together, and they survive a reopen.
    t.apply(&[ins("secret-key-2")], &offsets(&[("sink-a", 0, 20)]))
        .await
        .expect("retry");
    let path = {
        let conn = sqlite(&t).conn.lock().expect("lock");
        conn.path().expect("file").to_string()
    };
    t.close().await;
    let mut t = open(&format!("sqlite://{path}")).await.expect("reopen");
    let loaded = t.load_offsets("sink-a").await.expect("load");
    assert_eq!(loaded.get(&("topic.a".to_string(), 0)), Some(&20));
    assert_eq!(read(&t, "t", &schema.columns).len(), 2);
}

#[tokio::test]
async fn sqlite_upsert_update_delete() {
    let mut t = fresh().await;
    let schema = table(
        vec![
            col("a", ColumnType::Int32, false),
            col("b", ColumnType::String { max_len: None }, false),
            col("v", ColumnType::String { max_len: None }, true),
        ],
        &["a", "b"],
    );
    create(&mut t, "t", &schema).await;
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
    let up = D
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
        read(&t, "t", &schema.columns),
        vec![row(1, "x", "uno"), row(2, "y", "two")]
    );
    let again = D
        .upsert(
            "t",
            &cols,
            &types,
            &key,
            &[row(2, "y", "deux"), row(3, "z", "three")],
        )
        .expect("upsert");
    let mut stmts = vec![again];
    stmts.extend(
        D.update("t", &cols, &types, &key, &[row(3, "z", "tres")])
            .expect("update"),
    );
    let gone = [vec![Value::Int(1), Value::String("x".into())]];
    stmts.push(D.delete("t", &key, &types[..2], &gone).expect("delete"));
    t.apply(&stmts, &[])
        .await
        .expect("upsert, update and delete");
    assert_eq!(
        read(&t, "t", &schema.columns),
        vec![row(2, "y", "deux"), row(3, "z", "tres")]
    );
    // Only key columns: DO NOTHING.
    let keys_only = table(schema.columns[..2].to_vec(), &["a", "b"]);
    create(&mut t, "k", &keys_only).await;
    let sql = D
        .upsert("k", &key, &types[..2], &key, &[&row(1, "x", "")[..2]])
        .expect("upsert");
    t.apply(&[sql.clone(), sql], &[]).await.expect("twice");
    assert_eq!(read(&t, "k", &keys_only.columns).len(), 1);
}

#[tokio::test]
async fn sqlite_large_batches_fit_one_statement() {
    let mut t = fresh().await;
    let schema = table(
        vec![
            col("id", ColumnType::Int64, false),
            col("v", ColumnType::String { max_len: None }, true),
        ],
        &["id"],
    );
    create(&mut t, "t", &schema).await;
    let types = [&ColumnType::Int64, &ColumnType::String { max_len: None }];
    let rows: Vec<[Value; 2]> = (0..5000)
        .map(|i| [Value::Int(i), Value::String(format!("row {i}"))])
        .collect();
    let up = D
        .upsert("t", &["id", "v"], &types, &["id"], &rows)
        .expect("sql");
    t.apply(&[up], &[]).await.expect("5000-row upsert");
    let keys: Vec<[Value; 1]> = (0..4000).map(|i| [Value::Int(i)]).collect();
    let del = D.delete("t", &["id"], &types[..1], &keys).expect("sql");
    t.apply(&[del], &[]).await.expect("4000-key delete");
    assert_eq!(read(&t, "t", &schema.columns).len(), 1000);
}

#[tokio::test]
async fn sqlite_quoted_unknown_names_are_errors_not_strings() {
    let mut t = fresh().await;
    let schema = table(vec![col("id", ColumnType::Int32, false)], &["id"]);
    create(&mut t, "t", &schema).await;
    // With the double-quoted-string misfeature on, "nope" would be the text 'nope' and match nothing.
    let err = t
        .apply(
            &["DELETE FROM \"t\" WHERE \"nope\" = 'nope'".to_string()],
            &[],
        )
        .await
        .expect_err("unknown column")
        .to_string();
    assert!(err.contains("no such column"), "{err}");
}
