//! Debezium's schema-change topic (`include.schema.changes = true`): each
//! DDL statement the binlog carries for a captured table (or a captured
//! database) becomes one record on the topic named after the source's
//! logical server name (Debezium's `topic.prefix`), keyed by
//! `io.debezium.connector.mysql.SchemaChangeKey` (`databaseName`), valued by
//! `io.debezium.connector.mysql.SchemaChangeValue`: the `source` block, the
//! processing time, `databaseName`, `schemaName` (null on MySQL), the `ddl`
//! text as executed, and `tableChanges` — per table the statement touches,
//! `CREATE` / `ALTER` with the table's definition (`io.debezium.connector.schema.Table`:
//! its columns as Debezium's MySQL DDL parser describes them) or `DROP`.
//!
//! Debezium parses the DDL to keep its own model of each table; Sluice reads
//! the definition from `information_schema` when it processes the statement.
//! While Sluice streams near the head of the binlog they are the same; when
//! it catches up over several DDL statements on one table, a `CREATE` /
//! `ALTER` record carries the table's definition of the moment it was read
//! (the `ddl` text is always the statement's own).
//!
//! Statements that change no table or database (`TRUNCATE`, views,
//! routines, users, grants) have no record: Debezium's DDL parser makes no
//! schema change of them.
//!
//! The record goes into the same Kafka transaction as the binlog position
//! after the statement: exactly once, like the data records.

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use serde_json::{json, Value as Json};

use crate::connect::SourceInfo;
use crate::source::SourceError;

/// The key's Connect schema, as Debezium's MySQL connector 3.6 writes it.
const KEY_SCHEMA: &str = r#"{"type":"struct","fields":[{"type":"string","optional":false,"field":"databaseName"}],"optional":false,"name":"io.debezium.connector.mysql.SchemaChangeKey","version":1}"#;

/// The value's Connect schema, as Debezium's MySQL connector 3.6 writes it.
const VALUE_SCHEMA: &str = r#"{"type":"struct","fields":[{"type":"struct","fields":[{"type":"string","optional":false,"field":"version"},{"type":"string","optional":false,"field":"connector"},{"type":"string","optional":false,"field":"name"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},"default":"false","field":"snapshot"},{"type":"string","optional":false,"field":"db"},{"type":"string","optional":true,"field":"sequence"},{"type":"int64","optional":true,"field":"ts_us"},{"type":"int64","optional":true,"field":"ts_ns"},{"type":"string","optional":true,"field":"table"},{"type":"int64","optional":false,"field":"server_id"},{"type":"string","optional":true,"field":"gtid"},{"type":"string","optional":false,"field":"file"},{"type":"int64","optional":false,"field":"pos"},{"type":"int32","optional":false,"field":"row"},{"type":"int64","optional":true,"field":"thread"},{"type":"string","optional":true,"field":"query"}],"optional":false,"name":"io.debezium.connector.mysql.Source","version":1,"field":"source"},{"type":"int64","optional":false,"field":"ts_ms"},{"type":"string","optional":true,"field":"databaseName"},{"type":"string","optional":true,"field":"schemaName"},{"type":"string","optional":true,"field":"ddl"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"type"},{"type":"string","optional":false,"field":"id"},{"type":"struct","fields":[{"type":"string","optional":true,"field":"defaultCharsetName"},{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"primaryKeyColumnNames"},{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":false,"field":"name"},{"type":"int32","optional":false,"field":"jdbcType"},{"type":"int32","optional":true,"field":"nativeType"},{"type":"string","optional":false,"field":"typeName"},{"type":"string","optional":true,"field":"typeExpression"},{"type":"string","optional":true,"field":"charsetName"},{"type":"int32","optional":true,"field":"length"},{"type":"int32","optional":true,"field":"scale"},{"type":"int32","optional":false,"field":"position"},{"type":"boolean","optional":true,"field":"optional"},{"type":"boolean","optional":true,"field":"autoIncremented"},{"type":"boolean","optional":true,"field":"generated"},{"type":"string","optional":true,"field":"comment"},{"type":"string","optional":true,"field":"defaultValueExpression"},{"type":"array","items":{"type":"string","optional":false},"optional":true,"field":"enumValues"}],"optional":false,"name":"io.debezium.connector.schema.Column","version":1},"optional":false,"field":"columns"},{"type":"string","optional":true,"field":"comment"}],"optional":true,"name":"io.debezium.connector.schema.Table","version":1,"field":"table"}],"optional":false,"name":"io.debezium.connector.schema.Change","version":1},"optional":false,"field":"tableChanges"}],"optional":false,"name":"io.debezium.connector.mysql.SchemaChangeValue","version":1}"#;

pub use ddl::{database_statement, touched_tables, ChangeKind};

/// One column as `information_schema.COLUMNS` describes it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InfoColumn {
    /// `COLUMN_NAME`.
    pub name: String,
    /// `ORDINAL_POSITION`.
    pub position: u32,
    /// `COLUMN_DEFAULT`.
    pub default: Option<String>,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// `DATA_TYPE` (`int`, `varchar`...).
    pub data_type: String,
    /// `CHARACTER_MAXIMUM_LENGTH`.
    pub char_len: Option<u64>,
    /// `NUMERIC_PRECISION`.
    pub precision: Option<u64>,
    /// `NUMERIC_SCALE`.
    pub scale: Option<u64>,
    /// `DATETIME_PRECISION`.
    pub fsp: Option<u64>,
    /// `CHARACTER_SET_NAME`.
    pub charset: Option<String>,
    /// `COLUMN_TYPE` (`int unsigned`, `enum('a','b')`...).
    pub column_type: String,
    /// `EXTRA` (`auto_increment`, `VIRTUAL GENERATED`...).
    pub extra: String,
}

/// `java.sql.Types` of a MySQL type as Debezium's MySQL DDL parser gives it.
fn jdbc_type(data_type: &str) -> i32 {
    match data_type {
        "tinyint" | "smallint" => 5,
        "mediumint" | "int" | "integer" | "year" => 4,
        "bigint" => -5,
        "decimal" | "numeric" => 3,
        "float" => 6,
        "double" | "real" => 8,
        "bit" => -7,
        "bool" | "boolean" => 16,
        "date" => 91,
        "time" => 92,
        "datetime" => 93,
        "timestamp" => 2014,
        "char" | "enum" | "set" => 1,
        "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" => 12,
        "binary" => -2,
        "varbinary" => -3,
        "tinyblob" | "blob" | "mediumblob" | "longblob" => 2004,
        _ => 1111,
    }
}

/// The `(n[,m])` after a type name in `COLUMN_TYPE`, if any.
fn type_args(column_type: &str) -> Option<(i64, Option<i64>)> {
    let open = column_type.find('(')?;
    let close = column_type[open..].find(')')? + open;
    let inner = &column_type[open + 1..close];
    let mut parts = inner.split(',').map(|p| p.trim().parse::<i64>().ok());
    let n = parts.next().flatten()?;
    Some((n, parts.next().flatten()))
}

/// MariaDB's `COLUMN_DEFAULT` as MySQL's: `NULL` is no default, and a
/// string literal is quoted there (`'x'`, `''` for a quote) but not in MySQL.
fn mariadb_default(d: &str) -> Option<String> {
    if d == "NULL" {
        return None;
    }
    match d.strip_prefix('\'').and_then(|d| d.strip_suffix('\'')) {
        Some(inner) => Some(inner.replace("''", "'")),
        None => Some(d.to_string()),
    }
}

/// One column of `tableChanges[].table.columns`, as Debezium describes it.
pub fn column_json(c: &InfoColumn) -> Json {
    let dt = c.data_type.to_ascii_lowercase();
    let unsigned = c.column_type.to_ascii_lowercase().contains("unsigned");
    let mut type_name = dt.to_uppercase();
    if unsigned {
        type_name.push_str(" UNSIGNED");
    }
    let to_i32 = |n: u64| i32::try_from(n).ok();
    let values = crate::source::mysql_types::enum_values(&c.column_type);
    let (length, scale) = match dt.as_str() {
        "decimal" | "numeric" => (c.precision.and_then(to_i32), c.scale.and_then(to_i32)),
        "datetime" | "timestamp" | "time" => (c.fsp.filter(|f| *f > 0).and_then(to_i32), None),
        "bit" => (c.precision.and_then(to_i32), None),
        "char" | "varchar" | "binary" | "varbinary" => (c.char_len.and_then(to_i32), None),
        "enum" => (Some(1), None),
        "set" => {
            let total: usize = values.iter().map(|(_, t)| t.chars().count()).sum();
            (
                i32::try_from(total + values.len().saturating_sub(1)).ok(),
                None,
            )
        }
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "float"
        | "double" | "real" => match type_args(&c.column_type) {
            Some((n, s)) => (i32::try_from(n).ok(), s.and_then(|s| i32::try_from(s).ok())),
            None => (None, None),
        },
        _ => (None, None),
    };
    let charset = match dt.as_str() {
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            c.charset.clone()
        }
        _ => None,
    };
    let extra = c.extra.to_ascii_lowercase();
    let auto = extra.contains("auto_increment");
    let enum_values = matches!(dt.as_str(), "enum" | "set").then(|| {
        values
            .iter()
            .map(|(raw, _)| raw.clone())
            .collect::<Vec<_>>()
    });
    json!({
        "name": c.name,
        "jdbcType": jdbc_type(&dt),
        "nativeType": null,
        "typeName": type_name,
        "typeExpression": type_name,
        "charsetName": charset,
        "length": length,
        "scale": scale,
        "position": c.position,
        "optional": c.nullable,
        "autoIncremented": auto,
        "generated": auto || extra.contains("generated"),
        // Debezium leaves comments out unless `include.schema.comments`.
        "comment": null,
        "defaultValueExpression": c.default,
        "enumValues": enum_values,
    })
}

/// A table's definition now (`None` when it does not exist), as
/// `tableChanges[].table`.
pub async fn table_json(
    conn: &mut Conn,
    db: &str,
    table: &str,
) -> Result<Option<Json>, SourceError> {
    let rows: Vec<mysql_async::Row> = conn
        .exec(
            "SELECT COLUMN_NAME, ORDINAL_POSITION, COLUMN_DEFAULT, IS_NULLABLE, DATA_TYPE, \
             CHARACTER_MAXIMUM_LENGTH, NUMERIC_PRECISION, NUMERIC_SCALE, DATETIME_PRECISION, \
             CHARACTER_SET_NAME, COLUMN_TYPE, EXTRA \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    let mariadb: Option<bool> = conn
        .query_first("SELECT @@version LIKE '%MariaDB%'")
        .await?;
    let mariadb = mariadb.unwrap_or(false);
    let columns: Vec<Json> = rows
        .into_iter()
        .map(|r| {
            let text = |i: usize| r.get::<Option<String>, _>(i).flatten();
            let num = |i: usize| r.get::<Option<u64>, _>(i).flatten();
            column_json(&InfoColumn {
                name: text(0).unwrap_or_default(),
                position: num(1).and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                default: text(2).and_then(|d| {
                    if mariadb {
                        mariadb_default(&d)
                    } else {
                        Some(d)
                    }
                }),
                nullable: text(3).is_some_and(|n| n.eq_ignore_ascii_case("YES")),
                data_type: text(4).unwrap_or_default(),
                char_len: num(5),
                precision: num(6),
                scale: num(7),
                fsp: num(8),
                charset: text(9),
                column_type: text(10).unwrap_or_default(),
                extra: text(11).unwrap_or_default(),
            })
        })
        .collect();
    let pk: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' ORDER BY ORDINAL_POSITION",
            (db, table),
        )
        .await?;
    let charset: Option<Option<String>> = conn
        .exec_first(
            "SELECT c.CHARACTER_SET_NAME FROM information_schema.TABLES t \
             LEFT JOIN information_schema.COLLATIONS c ON c.COLLATION_NAME = t.TABLE_COLLATION \
             WHERE t.TABLE_SCHEMA = ? AND t.TABLE_NAME = ?",
            (db, table),
        )
        .await?;
    let charset = charset.flatten();
    Ok(Some(json!({
        "defaultCharsetName": charset,
        "primaryKeyColumnNames": pk,
        "columns": columns,
        "comment": null,
    })))
}

/// One statement's schema-change record.
#[derive(Debug, Clone)]
pub struct SchemaChange {
    /// The database the statement ran in (`""` for none).
    pub database: String,
    /// The statement, as executed.
    pub ddl: String,
    /// Per table touched: kind, database, table, definition (`CREATE` / `ALTER`).
    pub tables: Vec<(ChangeKind, String, String, Option<Json>)>,
    /// Where it was read: the `source` block (`snapshot` `Some("true")`
    /// for a snapshot's records, else `"false"`; `query` unused).
    pub source: SourceInfo<'static>,
    /// When the statement was written, ms (`source.ts_ms`).
    pub ts_ms: i64,
}

impl SchemaChange {
    /// Key and value, Connect JSON with schemas. `connector` / `server` fill
    /// `source.connector` / `source.name`.
    pub fn encode(&self, connector: &str, server: &str) -> (Vec<u8>, Vec<u8>) {
        let key = format!(
            r#"{{"schema":{KEY_SCHEMA},"payload":{}}}"#,
            json!({ "databaseName": self.database })
        );
        let s = &self.source;
        let table = match self.tables.as_slice() {
            [] => None,
            t => Some(
                t.iter()
                    .map(|(_, _, name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        };
        let now = chrono::Utc::now();
        let changes: Vec<Json> = self
            .tables
            .iter()
            .map(|(kind, db, t, def)| {
                json!({
                    "type": kind.name(),
                    "id": format!("\"{db}\".\"{t}\""),
                    "table": if *kind == ChangeKind::Drop { &Json::Null } else { def.as_ref().unwrap_or(&Json::Null) },
                })
            })
            .collect();
        let payload = json!({
            "source": {
                "version": env!("CARGO_PKG_VERSION"),
                "connector": connector,
                "name": server,
                "ts_ms": self.ts_ms,
                "snapshot": s.snapshot.as_deref().unwrap_or("false"),
                "db": self.database,
                "sequence": null,
                "ts_us": self.ts_ms.checked_mul(1_000),
                "ts_ns": self.ts_ms.checked_mul(1_000_000),
                "table": table,
                "server_id": s.server_id,
                "gtid": s.gtid,
                "file": s.file,
                "pos": s.pos,
                "row": s.row,
                "thread": s.thread,
                "query": null,
            },
            "ts_ms": now.timestamp_millis(),
            "databaseName": self.database,
            "schemaName": null,
            "ddl": self.ddl,
            "tableChanges": changes,
        });
        let value = format!(r#"{{"schema":{VALUE_SCHEMA},"payload":{payload}}}"#);
        (key.into_bytes(), value.into_bytes())
    }
}

/// The definitions of the tables a statement creates or alters, read now
/// (`None` for a table dropped or gone since).
pub async fn read_definitions(
    conn: &mut Conn,
    tables: &[(ChangeKind, String, String)],
) -> Result<Vec<(ChangeKind, String, String, Option<Json>)>, SourceError> {
    let mut cache: HashMap<(String, String), Option<Json>> = HashMap::new();
    let mut out = Vec::with_capacity(tables.len());
    for (kind, db, t) in tables {
        let def = if *kind == ChangeKind::Drop {
            None
        } else {
            let k = (db.clone(), t.clone());
            if !cache.contains_key(&k) {
                let def = table_json(conn, db, t).await?;
                cache.insert(k.clone(), def);
            }
            cache.get(&k).cloned().flatten()
        };
        out.push((*kind, db.clone(), t.clone(), def));
    }
    Ok(out)
}

/// The records Debezium's MySQL connector writes when it snapshots the
/// schema of `tables` (sorted by database): the server's character set,
/// a `DROP TABLE IF EXISTS` per table, then per database `DROP DATABASE IF
/// EXISTS`, `CREATE DATABASE` with its character set and collation, `USE`,
/// and each table's `SHOW CREATE TABLE` with its definition. All carry the
/// snapshot's position `at` (`file`, `pos`) and `snapshot = "true"`.
pub async fn snapshot_records(
    conn: &mut Conn,
    tables: &[crate::event::TableId],
    file: &str,
    pos: u64,
) -> Result<Vec<SchemaChange>, SourceError> {
    let source = SourceInfo {
        snapshot: Some("true".into()),
        file: file.to_string().into(),
        pos: i64::try_from(pos).unwrap_or(i64::MAX),
        ..SourceInfo::default()
    };
    let ts_ms = chrono::Utc::now().timestamp_millis();
    let record = |database: &str, ddl: String, tables| SchemaChange {
        database: database.to_string(),
        ddl,
        tables,
        source: source.clone(),
        ts_ms,
    };
    let q = |name: &str| format!("`{}`", name.replace('`', "``"));
    let (charset, collation): (String, String) = conn
        .query_first("SELECT @@character_set_server, @@collation_server")
        .await?
        .unwrap_or_default();
    let mut out = vec![record(
        "",
        format!("SET character_set_server={charset}, collation_server={collation}"),
        Vec::new(),
    )];
    for t in tables {
        out.push(record(
            &t.database,
            format!("DROP TABLE IF EXISTS {}.{}", q(&t.database), q(&t.table)),
            vec![(ChangeKind::Drop, t.database.clone(), t.table.clone(), None)],
        ));
    }
    let mut databases: Vec<&str> = tables.iter().map(|t| t.database.as_str()).collect();
    databases.dedup();
    for db in databases {
        let (charset, collation): (String, String) = conn
            .exec_first(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (db,),
            )
            .await?
            .unwrap_or_default();
        out.push(record(
            db,
            format!("DROP DATABASE IF EXISTS {}", q(db)),
            Vec::new(),
        ));
        out.push(record(
            db,
            format!(
                "CREATE DATABASE {} CHARSET {charset} COLLATE {collation}",
                q(db)
            ),
            Vec::new(),
        ));
        out.push(record(db, format!("USE {}", q(db)), Vec::new()));
        for t in tables.iter().filter(|t| t.database == db) {
            let create: Option<(String, String)> = conn
                .query_first(format!("SHOW CREATE TABLE {}.{}", q(db), q(&t.table)))
                .await?;
            let Some((_, ddl)) = create else { continue };
            let def = table_json(conn, db, &t.table).await?;
            out.push(record(
                db,
                ddl,
                vec![(ChangeKind::Create, db.to_string(), t.table.clone(), def)],
            ));
        }
    }
    Ok(out)
}

mod ddl;

#[cfg(test)]
mod tests;
