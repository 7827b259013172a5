//! The type matrix: one column per MySQL/MariaDB type, the rows that put each
//! at its limits, and how to read any column back as canonical text on the
//! source server, a MySQL-family target and a PostgreSQL target.

use crate::support::MySqlFlavor;

/// How a column's value is read back and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Integers, YEAR and decimals: exact text (YEAR as a number).
    Int,
    /// DECIMAL: exact text with all scale digits.
    Dec,
    /// FLOAT: compared as the same `f32`.
    F32,
    /// DOUBLE: compared as the same `f64`.
    F64,
    /// DATE: `YYYY-MM-DD`.
    Date,
    /// DATETIME(6) / TIMESTAMP(6): `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    DateTime,
    /// TIME(6): `[-]H:MM:SS.ffffff`.
    Time,
    /// YEAR: the year number.
    Year,
    /// BIT(1): 0 / 1.
    Bit1,
    /// BIT(n>1): bytes, as this many hex digits (2 per byte).
    Bits(usize),
    /// Text, ENUM, SET, JSON: exact text.
    Text,
    /// BINARY / VARBINARY / BLOB: hex.
    Bin,
    /// The 20 MB LONGBLOB: length and SHA-256.
    Big,
}

/// One column of the matrix table.
pub struct Col {
    pub name: &'static str,
    pub ddl: &'static str,
    pub kind: Kind,
}

const fn c(name: &'static str, ddl: &'static str, kind: Kind) -> Col {
    Col { name, ddl, kind }
}

/// Every column after `id INT PRIMARY KEY`; all nullable.
pub const COLUMNS: &[Col] = &[
    c("ti", "TINYINT", Kind::Int),
    c("tiu", "TINYINT UNSIGNED", Kind::Int),
    c("si", "SMALLINT", Kind::Int),
    c("siu", "SMALLINT UNSIGNED", Kind::Int),
    c("mi", "MEDIUMINT", Kind::Int),
    c("miu", "MEDIUMINT UNSIGNED", Kind::Int),
    c("i", "INT", Kind::Int),
    c("iu", "INT UNSIGNED", Kind::Int),
    c("bi", "BIGINT", Kind::Int),
    c("biu", "BIGINT UNSIGNED", Kind::Int),
    c("d65", "DECIMAL(65,30)", Kind::Dec),
    c("d10", "DECIMAL(10,2)", Kind::Dec),
    c("f", "FLOAT", Kind::F32),
    c("dbl", "DOUBLE", Kind::F64),
    c("dt", "DATE", Kind::Date),
    c("dtm", "DATETIME(6)", Kind::DateTime),
    c("ts", "TIMESTAMP(6) NULL DEFAULT NULL", Kind::DateTime),
    c("tm", "TIME(6)", Kind::Time),
    c("yr", "YEAR", Kind::Year),
    c("b1", "BIT(1)", Kind::Bit1),
    c("b64", "BIT(64)", Kind::Bits(16)),
    c("e", "ENUM('a','b','ünï')", Kind::Text),
    c("st", "SET('x','y','z')", Kind::Text),
    c("j", "JSON", Kind::Text),
    c("ch", "CHAR(10) CHARACTER SET utf8mb4", Kind::Text),
    c("vc", "VARCHAR(100) CHARACTER SET utf8mb4", Kind::Text),
    c("tx", "TEXT CHARACTER SET utf8mb4", Kind::Text),
    c("l1", "VARCHAR(20) CHARACTER SET latin1", Kind::Text),
    c("bn", "BINARY(4)", Kind::Bin),
    c("vb", "VARBINARY(10)", Kind::Bin),
    c("bl", "BLOB", Kind::Bin),
    c("lb", "LONGBLOB", Kind::Big),
    c("bool", "TINYINT(1)", Kind::Int),
    c("du", "DECIMAL(5,0) UNSIGNED", Kind::Dec),
    c("b10", "BIT(10)", Kind::Bits(4)),
    c("ttx", "TINYTEXT", Kind::Text),
    c("mtx", "MEDIUMTEXT", Kind::Text),
    c("ltx", "LONGTEXT", Kind::Text),
    c("tbl", "TINYBLOB", Kind::Bin),
    c("mbl", "MEDIUMBLOB", Kind::Bin),
    c("chl", "CHAR(5) CHARACTER SET latin1", Kind::Text),
    c("bn255", "BINARY(255)", Kind::Bin),
    c("g", "GEOMETRY", Kind::Bin),
    c("dtm0", "DATETIME", Kind::DateTime),
    c("dtm3", "DATETIME(3)", Kind::DateTime),
    c("ts0", "TIMESTAMP NULL DEFAULT NULL", Kind::DateTime),
    c("tm0", "TIME", Kind::Time),
    c("tm3", "TIME(3)", Kind::Time),
];

/// `CREATE TABLE <table> (...)` with every column.
pub fn create_table(table: &str) -> String {
    let cols: Vec<String> = COLUMNS
        .iter()
        .map(|c| format!("`{}` {}", c.name, c.ddl))
        .collect();
    format!(
        "CREATE TABLE `{table}` (id INT PRIMARY KEY, {}) DEFAULT CHARSET=utf8mb4",
        cols.join(", ")
    )
}

/// A row: its id and SQL literals for the columns it sets (the rest NULL).
pub struct Row {
    pub id: i64,
    pub values: Vec<(&'static str, String)>,
}

fn row(id: i64, values: &[(&'static str, &str)]) -> Row {
    Row {
        id,
        values: values.iter().map(|(c, v)| (*c, v.to_string())).collect(),
    }
}

const D65_MAX: &str = "99999999999999999999999999999999999.999999999999999999999999999999";

/// The rows whose TIME fits PostgreSQL's `TIME` (00:00–24:00), ids 1–5.
pub fn rows_in_day(flavor: MySqlFlavor) -> Vec<Row> {
    let neg_d65 = format!("-{D65_MAX}");
    // MySQL has no fraction at TIME's limit; MariaDB has.
    let _ = flavor;
    vec![
        row(
            1,
            &[
                ("ti", "-128"),
                ("tiu", "0"),
                ("si", "-32768"),
                ("siu", "0"),
                ("mi", "-8388608"),
                ("miu", "0"),
                ("i", "-2147483648"),
                ("iu", "0"),
                ("bi", "-9223372036854775808"),
                ("biu", "0"),
                ("d65", &neg_d65),
                ("d10", "-99999999.99"),
                ("f", "-1.5e-10"),
                ("dbl", "-2.2250738585072014e-308"),
                ("dt", "'1000-01-01'"),
                ("dtm", "'1000-01-01 00:00:00.000000'"),
                ("ts", "'1970-01-01 00:00:01.000000'"),
                ("tm", "'00:00:00.000000'"),
                ("yr", "1901"),
                ("b1", "b'0'"),
                ("b64", "b'0'"),
                ("e", "'a'"),
                ("st", "''"),
                ("j", "'[]'"),
                ("ch", "''"),
                ("vc", "''"),
                ("tx", "''"),
                ("l1", "''"),
                ("bn", "0x00000000"),
                ("vb", "X''"),
                ("bl", "X''"),
                ("lb", "0x00"),
                ("bool", "-128"),
                ("du", "0"),
                ("b10", "b'0'"),
                ("ttx", "''"),
                ("tbl", "X''"),
                ("chl", "''"),
                ("bn255", "0x00"),
                ("g", "ST_GeomFromText('POINT(1 2)')"),
                ("dtm0", "'1000-01-01 00:00:00'"),
                ("dtm3", "'1000-01-01 00:00:00.000'"),
                ("ts0", "'1970-01-01 00:00:01'"),
                ("tm0", "'00:00:00'"),
                ("tm3", "'00:00:00.000'"),
            ],
        ),
        row(
            2,
            &[
                ("ti", "127"),
                ("tiu", "255"),
                ("si", "32767"),
                ("siu", "65535"),
                ("mi", "8388607"),
                ("miu", "16777215"),
                ("i", "2147483647"),
                ("iu", "4294967295"),
                ("bi", "9223372036854775807"),
                ("biu", "18446744073709551615"),
                ("d65", D65_MAX),
                ("d10", "99999999.99"),
                ("f", "3.4028234e38"),
                ("dbl", "1.7976931348623157e308"),
                ("dt", "'9999-12-31'"),
                ("dtm", "'9999-12-31 23:59:59.999999'"),
                ("ts", "'2038-01-19 03:14:07.999999'"),
                ("tm", "'23:59:59.999999'"),
                ("yr", "2155"),
                ("b1", "b'1'"),
                ("b64", "0xFFFFFFFFFFFFFFFF"),
                ("e", "'ünï'"),
                ("st", "'x,y,z'"),
                (
                    "j",
                    r#"'{"a": [1, 2.5, null, true, false, "é😀\\"\\\\\\n"], "bb": {"c": -9223372036854775808}, "k": 18446744073709551615}'"#,
                ),
                ("ch", "'😀😀😀ab'"),
                ("vc", "'héllo wörld 😀 𝄞 中文'"),
                ("tx", "'multi\nline\ttext with \\\\ and \\' quote 😀'"),
                ("l1", "'café € ÿ'"),
                ("bn", "0x00FF0000"),
                ("vb", "0x0000FF00"),
                ("bl", "0x000102FEFF00"),
                ("lb", "0x0000"),
                ("bool", "1"),
                ("du", "99999"),
                ("b10", "b'1111111111'"),
                ("ttx", "'tiny 😀'"),
                ("mtx", "'medium ü'"),
                ("ltx", "'long 中'"),
                ("tbl", "0x00FF"),
                ("mbl", "0xFF00"),
                ("chl", "'ÿ€ '"),
                ("bn255", "0xFF"),
                ("g", "ST_GeomFromText('POLYGON((0 0, 1 0, 1 1, 0 0))')"),
                ("dtm0", "'9999-12-31 23:59:59'"),
                ("dtm3", "'9999-12-31 23:59:59.999'"),
                ("ts0", "'2038-01-19 03:14:07'"),
                ("tm0", "'23:59:59'"),
                ("tm3", "'23:59:59.999'"),
            ],
        ),
        row(
            3,
            &[
                ("ti", "0"),
                ("mi", "-1"),
                ("iu", "1"),
                ("d65", "-0.000000000000000000000000000001"),
                ("d10", "0.01"),
                ("f", "0"),
                ("dbl", "0.1"),
                ("dt", "'2024-02-29'"),
                ("dtm", "'2022-08-15 19:47:47.123456'"),
                ("dtm3", "'2022-08-15 19:47:47.123'"),
                ("tm3", "'00:00:00.001'"),
                ("ts", "'2022-08-15 19:47:47.000001'"),
                ("tm", "'12:34:56.789012'"),
                ("yr", "0"),
                ("b64", "0x0000000000000001"),
                ("e", "'b'"),
                ("st", "'y'"),
                ("j", r#"'{"k": "v", "a": 1}'"#),
                ("ch", "'a'"),
                ("vc", "'trailing  '"),
                ("l1", "'é'"),
                ("bn", "0x01000000"),
            ],
        ),
        // Zero and invalid dates, inserted with sql_mode = ''.
        row(
            4,
            &[
                ("dt", "'0000-00-00'"),
                ("dtm", "'0000-00-00 00:00:00'"),
                ("ts", "'0000-00-00 00:00:00'"),
                ("yr", "'0000'"),
            ],
        ),
        row(
            5,
            &[
                ("dt", "'2023-00-15'"),
                ("dtm", "'2023-02-00 10:00:00'"),
                // Opaque values inside MySQL's binary JSON: DECIMAL, DATETIME, DATE, TIME; doubles.
                (
                    "j",
                    "JSON_OBJECT('d', CAST(1.10 AS DECIMAL(5,2)), 't', CAST('2020-01-02 03:04:05.5' AS DATETIME(6)), 'dt', CAST('2020-01-02' AS DATE), 'tm', CAST('-01:02:03' AS TIME), 'f', JSON_ARRAY(1e-7, 3e15, 1e0, -0e0, 1.5e-20, 0.5))",
                ),
                ("tm", "'24:00:00'"),
            ],
        ),
        // NULL in every nullable column.
        row(6, &[]),
    ]
}

/// Rows PostgreSQL cannot hold, ids 7–9 and 11: TIMEs outside one day
/// (PostgreSQL's TIME is 00:00–24:00) and text with a NUL character.
pub fn rows_long_time(flavor: MySqlFlavor) -> Vec<Row> {
    let max = match flavor {
        MySqlFlavor::MariaDb => "'838:59:59.999999'",
        MySqlFlavor::MySql => "'838:59:59'",
    };
    let min = match flavor {
        MySqlFlavor::MariaDb => "'-838:59:59.999999'",
        MySqlFlavor::MySql => "'-838:59:59'",
    };
    vec![
        row(
            7,
            &[
                ("tm", max),
                ("tm0", "'838:59:59'"),
                ("tm3", "'100:00:00.5'"),
            ],
        ),
        row(
            8,
            &[
                ("tm", min),
                ("tm0", "'-838:59:59'"),
                ("tm3", "'-00:00:00.001'"),
            ],
        ),
        row(9, &[("tm", "'-00:00:00.000001'")]),
        row(11, &[("vc", "'a\\0b'"), ("tx", "'\\0'")]),
    ]
}

/// `INSERT INTO <table>` of `rows`, with ids shifted by `id_offset`.
pub fn insert_sql(table: &str, rows: &[Row], id_offset: i64) -> String {
    let tuples: Vec<String> = rows
        .iter()
        .map(|r| {
            let mut vals = vec![(r.id + id_offset).to_string()];
            for c in COLUMNS {
                let v = r
                    .values
                    .iter()
                    .find(|(n, _)| *n == c.name)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| "NULL".into());
                vals.push(v);
            }
            format!("({})", vals.join(", "))
        })
        .collect();
    format!("INSERT INTO `{table}` VALUES {}", tuples.join(", "))
}

/// The SELECT list that reads every column as canonical text, on a MySQL-family server.
/// `source` is true for the captured table (BIT(64) is a number there, bytes in the target).
pub fn mysql_select(table: &str, source: bool) -> String {
    let exprs: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let n = format!("`{}`", c.name);
            match c.kind {
                Kind::Int | Kind::Dec | Kind::Date | Kind::Time | Kind::Year | Kind::Text => {
                    format!("CAST({n} AS CHAR)")
                }
                Kind::F32 => format!("CAST({n} AS DOUBLE)"),
                Kind::F64 => format!("CAST({n} AS CHAR)"),
                Kind::DateTime => format!("DATE_FORMAT({n}, '%Y-%m-%d %H:%i:%s.%f')"),
                Kind::Bit1 => format!("CAST({n} AS UNSIGNED)"),
                Kind::Bits(w) if source => format!("LPAD(HEX({n}), {w}, '0')"),
                Kind::Bits(_) | Kind::Bin => format!("HEX({n})"),
                Kind::Big => format!("CONCAT(LENGTH({n}), ':', SHA2({n}, 256))"),
            }
        })
        .collect();
    format!("SELECT id, {} FROM `{table}` ORDER BY id", exprs.join(", "))
}

/// The same on PostgreSQL.
pub fn pg_select(table: &str) -> String {
    let exprs: Vec<String> = COLUMNS
        .iter()
        .map(|c| {
            let n = format!("\"{}\"", c.name);
            match c.kind {
                Kind::Int | Kind::Dec | Kind::F64 | Kind::Year | Kind::Text => format!("{n}::text"),
                Kind::F32 => format!("{n}::float8::text"),
                Kind::Date => format!("to_char({n}, 'YYYY-MM-DD')"),
                Kind::DateTime => format!("to_char({n}, 'YYYY-MM-DD HH24:MI:SS.US')"),
                Kind::Time => format!("to_char({n}, 'HH24:MI:SS.US')"),
                Kind::Bit1 => format!("{n}::int::text"),
                Kind::Bits(_) | Kind::Bin => format!("upper(encode({n}, 'hex'))"),
                Kind::Big => format!("length({n}) || ':' || encode(sha256({n}), 'hex')"),
            }
        })
        .collect();
    format!(
        "SELECT id::text, {} FROM \"{table}\" ORDER BY id",
        exprs.join(", ")
    )
}

/// One value as comparable text: floats parsed (`f32`/`f64` debug form),
/// YEAR as a number, everything else as read.
pub fn canonical(kind: Kind, v: &str) -> String {
    if v == "NULL" {
        return v.into();
    }
    match kind {
        Kind::F32 => v
            .parse::<f64>()
            .map(|f| format!("{:?}", f as f32))
            .unwrap_or_else(|_| format!("unparsable {v}")),
        Kind::F64 => v
            .parse::<f64>()
            .map(|f| format!("{f:?}"))
            .unwrap_or_else(|_| format!("unparsable {v}")),
        Kind::Year => v
            .parse::<i64>()
            .map(|y| y.to_string())
            .unwrap_or_else(|_| format!("unparsable {v}")),
        // TIME(0)/TIME(3) print fewer fraction digits than the TIME(6) target
        // column: the same value, compared with six.
        Kind::Time => {
            let (hms, frac) = v.split_once('.').unwrap_or((v, ""));
            format!("{hms}.{frac:0<6}")
        }
        _ => v.to_string(),
    }
}
