//! [`SinkError`]: the sink layer's one error type (database, records, its Kafka
//! consumer), and its transient/definite split, decided once in
//! [`SinkError::is_transient`].
//!
//! Errors never carry row values: generated SQL is never put in an error (it
//! holds row literals), literal errors name the column and the problem only, and
//! server messages known to quote an offending value (MySQL's "Duplicate entry
//! '…'", "Incorrect … value: '…'", PostgreSQL's `invalid input syntax …: "…"`)
//! have the quoted value replaced by `[redacted]` in `Display`. PostgreSQL's
//! DETAIL line (which shows key values) is never printed. SQLite's messages
//! name tables and columns, not values, except for the SQL token quoted by a
//! syntax error (`near "…"`, `unrecognized token: "…"`), which is redacted too.
//! The driver error stays attached as `#[source]` for classification; log
//! errors with `error = %err`, not by walking the source chain, which shows the
//! raw text. MySQL errors are classified and worded by `crate::mysql` (one
//! classification for source and sink); quoted spans are cut by `crate::redact`.

use super::dialect::SqlError;
use crate::redact::redact_after;

/// Errors of the sink: connection, queries, SQL building, records, its Kafka clients.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Connecting to MySQL/MariaDB or setting up the session failed.
    #[error("connecting to {url}: {message}")]
    MySqlConnect {
        /// The URL, password hidden.
        url: String,
        /// The server's message, values redacted.
        message: String,
        /// The driver error.
        #[source]
        source: mysql_async::Error,
    },
    /// Connecting to PostgreSQL or setting up the session failed.
    #[error("connecting to {url}: {message}")]
    PostgresConnect {
        /// The URL, password hidden.
        url: String,
        /// The server's message, values redacted.
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// Opening a SQLite database file or setting up its connection failed.
    #[error("opening SQLite database {path}: {message}")]
    SqliteOpen {
        /// The file's path.
        path: String,
        /// SQLite's message and result code.
        message: String,
        /// The driver error.
        #[source]
        source: rusqlite::Error,
    },
    /// The URL names no database (MySQL/MariaDB, PostgreSQL) or no file (SQLite).
    #[error("target {url}: the URL names no database")]
    NoDatabase {
        /// The URL, password hidden.
        url: String,
    },
    /// The TLS settings of a PostgreSQL target cannot be used (a certificate file, a key).
    #[error("target {url}: {source}")]
    PostgresTls {
        /// The URL, password hidden.
        url: String,
        /// What is wrong.
        #[source]
        source: super::target::TlsSetupError,
    },
    /// The directory of a SQLite database file does not exist.
    #[error("target {url}: directory {dir} does not exist (Sluice creates the database file, not its directory)")]
    SqliteDirMissing {
        /// The URL.
        url: String,
        /// The missing directory.
        dir: String,
    },
    /// SQLite refused write-ahead logging (which the sink's transactions need).
    #[error("target {url}: journal_mode is {mode}, WAL could not be set")]
    SqliteNoWal {
        /// The URL.
        url: String,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// A MySQL/MariaDB statement failed.
    #[error("{what}: {message}")]
    MySql {
        /// What was being done (`apply batch`, `describe table`, ...).
        what: &'static str,
        /// The server's message, values redacted.
        message: String,
        /// The driver error.
        #[source]
        source: mysql_async::Error,
    },
    /// A PostgreSQL statement failed.
    #[error("{what}: {message}")]
    Postgres {
        /// What was being done.
        what: &'static str,
        /// The server's message, values redacted.
        message: String,
        /// The driver error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A SQLite statement failed.
    #[error("{what}: {message}")]
    Sqlite {
        /// What was being done.
        what: &'static str,
        /// SQLite's message and result code, quoted tokens redacted.
        message: String,
        /// The driver error.
        #[source]
        source: rusqlite::Error,
    },
    /// SQL text could not be built: a schema, name or value the target
    /// cannot represent (the record's own fault), or a planner bug.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The sink's configuration cannot be used (its URL, `db_timezone`, a regex).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// The target did not answer in time: connecting (`liveness::CONNECT_TIMEOUT`)
    /// or a batch's transaction (`statement_timeout_ms`). Transient: the
    /// connection's state is unknown, so the pipeline reconnects and resumes
    /// from the offsets stored with the data.
    #[error("{what}: no answer from the target in {seconds} s")]
    TimedOut {
        /// What was waited for, e.g. "applying batch to table t".
        what: String,
        /// How long.
        seconds: u64,
    },
    /// A task of the sink (decode, apply, the SQLite worker) was cancelled:
    /// the runtime is shutting down.
    #[error("the {task} task was cancelled")]
    TaskLost {
        /// Which task.
        task: &'static str,
        /// The join error.
        #[source]
        source: tokio::task::JoinError,
    },
    /// A batch was started or the offsets reloaded while a batch was being applied (a bug).
    #[error("the applier is busy with another batch")]
    ApplierBusy,
    /// A plan holds a step its target cannot run (a bug: the planner knows the target).
    #[error("a {step} step was planned for a {target} target")]
    StepNotForTarget {
        /// The step (`COPY`, `LOAD DATA`).
        step: &'static str,
        /// The target's dialect.
        target: &'static str,
    },
    /// A row of `sluice_sink_offsets` does not hold a topic, a partition and an offset.
    #[error("unreadable sluice_sink_offsets row")]
    OffsetsRowUnreadable,
    /// A record could not be decoded or mapped to a row (the value is not shown).
    #[error("record {at}: {source}")]
    Record {
        /// `topic[partition]@offset`.
        at: String,
        /// Why.
        #[source]
        source: RecordFault,
    },
    /// The sink's Kafka consumer failed.
    #[error(transparent)]
    Kafka(#[from] crate::kafka::KafkaError),
    /// The Schema Registry of an `avro` converter failed the pipeline:
    /// unreachable (transient) or refusing it (definite: credentials). An
    /// unknown schema id is a record's error instead ([`RecordFault::Wire`]).
    #[error("{what}: {source}")]
    Registry {
        /// What the sink was doing.
        what: &'static str,
        /// The registry's error.
        #[source]
        source: crate::registry::RegistryError,
    },
    /// Another member of the consumer group applied records of this batch
    /// (the stored next offset is past the batch's first record): the batch
    /// was rolled back; re-read the stored offsets and resume from them.
    #[error("{topic}[{partition}]: stored next offset {stored} is past the batch's first offset {first}; another member applied it")]
    OffsetsMoved {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// The next offset the target holds.
        stored: i64,
        /// The batch's first offset in that partition.
        first: i64,
    },
    /// A record's row that the target refused (or that no statement the
    /// target accepts can hold), isolated from its batch: the record's own
    /// fault ([`Fault::Record`]).
    #[error("record {at}: {source}")]
    Refused {
        /// `topic[partition]@offset`.
        at: String,
        /// What the target (or the planner) said.
        #[source]
        source: Box<SinkError>,
    },
    /// The table a record routes to does not exist and `auto_create` is
    /// false: every record of the table would fail the same way, so the
    /// pipeline stops (as Kafka Connect's JDBC sink fails its task).
    #[error("table {table} does not exist and auto_create is false: create it, or set auto_create = true")]
    TableMissing {
        /// The target table.
        table: String,
    },
    /// The table lacks columns for a record's fields and `auto_evolve` is
    /// false: a pipeline
    /// error, as in Kafka Connect's JDBC sink, since every record of the new
    /// schema would fail the same way.
    #[error("table {table} does not accept fields {fields:?} and auto_evolve is false: alter the table, or set auto_evolve = true")]
    TableNotEvolved {
        /// The target table.
        table: String,
        /// The fields it lacks or cannot hold.
        fields: Vec<String>,
    },
    /// `CREATE TABLE` succeeded but the table cannot be described (another
    /// client dropped it, or the sink cannot see it).
    #[error("table {table} is missing right after CREATE TABLE")]
    TableVanished {
        /// The target table.
        table: String,
    },
    /// A topic routes (by `table_name_regex` / `table_name_format`) to the
    /// table where the sink stores its offsets: writing its rows there would
    /// corrupt the sink's position, so the pipeline stops (every record of the
    /// topic would route the same way; none is dead-lettered).
    #[error("topic {topic} routes to table {table}, which is reserved for the sink's offsets: change table_name_format or table_name_regex")]
    ReservedTable {
        /// The topic.
        topic: String,
        /// The table it routes to.
        table: String,
    },
    /// A `LOAD DATA LOCAL` step did not load its rows cleanly (LOCAL makes
    /// the server turn errors into warnings and skip or truncate values) or
    /// the server refuses LOCAL; the transaction was rolled back and the
    /// batch is applied again as `INSERT`s, which report the exact error.
    #[error("LOAD DATA refused: {0}")]
    LoadRefused(String),
}

/// Why a record could not become a row.
#[derive(Debug, thiserror::Error)]
pub enum RecordFault {
    /// The bytes are not a Connect JSON record Sluice can read.
    #[error(transparent)]
    Decode(#[from] crate::connect::CodecError),
    /// The decoded record does not map to a row under the sink's rules.
    #[error(transparent)]
    Map(#[from] super::decode::record::RecordError),
    /// The bytes cannot be read through the record's registry converter.
    #[error(transparent)]
    Wire(#[from] super::decode::wire::WireError),
    /// A transform failed on the record (names the transform).
    #[error(transparent)]
    Transform(#[from] crate::transforms::TransformError),
}

impl SinkError {
    /// Wraps a MySQL driver error from step `what`.
    pub fn mysql(what: &'static str, source: mysql_async::Error) -> Self {
        let message = crate::mysql::message(&source);
        SinkError::MySql {
            what,
            message,
            source,
        }
    }

    /// Wraps a MySQL driver error from connecting to `url` (password hidden).
    pub fn mysql_connect(url: String, source: mysql_async::Error) -> Self {
        let message = crate::mysql::message(&source);
        SinkError::MySqlConnect {
            url,
            message,
            source,
        }
    }

    /// Wraps a PostgreSQL driver error from connecting to `url` (password hidden).
    pub fn postgres_connect(url: String, source: tokio_postgres::Error) -> Self {
        let message = postgres_message(&source);
        SinkError::PostgresConnect {
            url,
            message,
            source,
        }
    }

    /// Wraps a PostgreSQL driver error from step `what`.
    pub fn postgres(what: &'static str, source: tokio_postgres::Error) -> Self {
        let message = postgres_message(&source);
        SinkError::Postgres {
            what,
            message,
            source,
        }
    }

    /// Wraps a SQLite error from step `what`.
    pub fn sqlite(what: &'static str, source: rusqlite::Error) -> Self {
        let message = sqlite_message(&source);
        SinkError::Sqlite {
            what,
            message,
            source,
        }
    }

    /// Wraps a SQLite error from opening the database file at `path`.
    pub fn sqlite_open(path: &str, source: rusqlite::Error) -> Self {
        let message = sqlite_message(&source);
        SinkError::SqliteOpen {
            path: path.to_string(),
            message,
            source,
        }
    }

    /// True when retrying later may succeed (connection loss, deadlock, lock wait
    /// timeout, server shutdown); false for definite errors (bad data, bad schema,
    /// privileges, authentication). See [`SinkError::fault`].
    pub fn is_transient(&self) -> bool {
        self.fault() == Fault::Transient
    }

    /// True when the error is the fault of the records being written
    /// ([`Fault::Record`]), so leaving them out lets the others through.
    pub fn blames_record(&self) -> bool {
        self.fault() == Fault::Record
    }

    /// Whose fault the error is and what the sink does with it; the one
    /// classification of sink errors (the README's table lists the codes).
    ///
    /// Record errors are an allow-list per dialect: MySQL/MariaDB
    /// [`crate::mysql::ROW_CODES`], PostgreSQL SQLSTATE classes 22 (data
    /// exception) and 23 (integrity constraint violation), SQLite
    /// `CONSTRAINT`, `MISMATCH` and `TOOBIG`, and Sluice's own: a record
    /// that cannot be decoded or mapped, a name or value the dialect cannot
    /// write, a schema the table cannot follow, a row no statement the
    /// target accepts can hold. Everything else the target says is the
    /// pipeline's: transient (retried with back-off) or definite (the
    /// pipeline stops with the message); neither ever dead-letters records.
    pub fn fault(&self) -> Fault {
        use crate::mysql::{classify, ErrorClass};
        let pipeline = |transient: bool| {
            if transient {
                Fault::Transient
            } else {
                Fault::Definite
            }
        };
        match self {
            // Unrecognised MySQL errors are definite here: see `crate::mysql`.
            SinkError::MySqlConnect { source, .. } => {
                pipeline(classify(source) == ErrorClass::Transient)
            }
            SinkError::MySql { source, .. } => match classify(source) {
                ErrorClass::Transient => Fault::Transient,
                _ if crate::mysql::blames_row(source) => Fault::Record,
                _ => Fault::Definite,
            },
            SinkError::PostgresConnect { source, .. } => pipeline(postgres_transient(source)),
            SinkError::Postgres { source, .. } if postgres_transient(source) => Fault::Transient,
            SinkError::Postgres { source, .. } => match source.as_db_error() {
                Some(db) if postgres_blames_row(db.code().code()) => Fault::Record,
                _ => Fault::Definite,
            },
            SinkError::SqliteOpen { source, .. } => pipeline(sqlite_transient(source)),
            SinkError::Sqlite { source, .. } if sqlite_transient(source) => Fault::Transient,
            SinkError::Sqlite { source, .. } => match source {
                // NOT NULL / CHECK / key violations, a value of the wrong type
                // (STRICT tables), a value over SQLITE_MAX_LENGTH.
                rusqlite::Error::SqliteFailure(f, _)
                    if matches!(
                        f.code,
                        rusqlite::ErrorCode::ConstraintViolation
                            | rusqlite::ErrorCode::TypeMismatch
                            | rusqlite::ErrorCode::TooBig
                    ) =>
                {
                    Fault::Record
                }
                _ => Fault::Definite,
            },
            SinkError::Kafka(e) => pipeline(e.is_transient()),
            SinkError::Registry { source, .. } => pipeline(source.is_transient()),
            // Re-reading the stored offsets resolves it (a restart does too).
            SinkError::OffsetsMoved { .. } => Fault::Transient,
            // Applying the batch as INSERTs resolves it (the sink does at once).
            SinkError::LoadRefused(_) => Fault::Transient,
            // Reconnecting resolves an unknown commit (offsets are stored with the data).
            SinkError::TimedOut { .. } => Fault::Transient,
            SinkError::Record { .. } | SinkError::Refused { .. } => Fault::Record,
            SinkError::Sql(e) if e.blames_record() => Fault::Record,
            SinkError::Sql(_)
            | SinkError::TaskLost { .. }
            | SinkError::NoDatabase { .. }
            | SinkError::PostgresTls { .. }
            | SinkError::SqliteDirMissing { .. }
            | SinkError::SqliteNoWal { .. }
            | SinkError::Config(_)
            | SinkError::ApplierBusy
            | SinkError::StepNotForTarget { .. }
            | SinkError::OffsetsRowUnreadable
            | SinkError::TableMissing { .. }
            | SinkError::TableNotEvolved { .. }
            | SinkError::TableVanished { .. }
            | SinkError::ReservedTable { .. } => Fault::Definite,
        }
    }
}

/// Whose fault a [`SinkError`] is, and what the sink does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The record's own (a value, a key, a constraint, its schema, its
    /// size): the record goes to the dead-letter topic under
    /// `errors_tolerance = "all"`, else the pipeline stops naming it.
    Record,
    /// The pipeline's, and retrying later may pass: back off and retry.
    Transient,
    /// The pipeline's (the target, the settings, a bug), and retrying
    /// cannot pass: the pipeline stops with the message. Never dead-letters.
    Definite,
}

fn postgres_transient(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let Some(db) = e.as_db_error() else {
        // Not a server error: I/O, connect, timeout are transient; parse/config are not.
        let text = e.to_string();
        return text.starts_with("error communicating")
            || text.starts_with("error connecting")
            || text.starts_with("timeout");
    };
    let code = db.code().code();
    code.starts_with("08") // connection exception
        || matches!(
            code,
            "40001" | "40P01" | "55P03" | "53300" | "57014" | "57P01" | "57P02" | "57P03"
        )
}

/// SQLSTATE classes 22 (data exception: a value out of range, too long,
/// invalid) and 23 (integrity constraint violation: NOT NULL, unique, foreign
/// key, CHECK, exclusion) are the row's; every other class is the target's
/// (42: a missing function, table or column, privileges; 53: resources; 25:
/// a read-only transaction; ...).
fn postgres_blames_row(sqlstate: &str) -> bool {
    matches!(sqlstate.get(..2), Some("22" | "23"))
}

/// Another connection holds the database (SQLITE_BUSY, e.g. a checkpoint or a
/// reader past `busy_timeout`) or a table (SQLITE_LOCKED): retry later. Every
/// other SQLite error is definite.
fn sqlite_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// SQLite's message with the extended result code (`text (SQLITE code N)`),
/// tokens quoted by syntax errors redacted.
fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => {
            let text = msg.clone().unwrap_or_else(|| f.to_string());
            format!(
                "{} (SQLITE code {})",
                redact_after(&text, &["near \"", "token: \""], '"'),
                f.extended_code
            )
        }
        other => other.to_string(),
    }
}

/// `SEVERITY CODE: message` without DETAIL/HINT (DETAIL shows key values).
fn postgres_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {}: {}",
            db.severity(),
            db.code().code(),
            redact_after(db.message(), &[": \""], '"')
        ),
        None => match std::error::Error::source(e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::dialect::Misuse;

    fn mysql(code: u16) -> SinkError {
        SinkError::mysql(
            "apply batch",
            mysql_async::Error::Server(mysql_async::ServerError {
                code,
                message: "m".into(),
                state: "HY000".into(),
            }),
        )
    }

    fn sqlite(code: std::ffi::c_int) -> SinkError {
        SinkError::sqlite(
            "apply batch",
            rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None),
        )
    }

    #[test]
    fn mysql_codes_are_classified_by_an_allow_list() {
        // A value out of range, too long, invalid, NULL in NOT NULL, a key or
        // constraint, invalid JSON, a statement over max_allowed_packet.
        for code in [
            1048, 1062, 1153, 1264, 1265, 1292, 1301, 1366, 1367, 1406, 1411, 1416, 1451, 1452,
            1690, 3140, 3819, 4025,
        ] {
            assert_eq!(mysql(code).fault(), Fault::Record, "{code}");
        }
        // Privileges, definer missing, read-only, unknown table/column,
        // disk full, group replication refusing a table without a primary
        // key, an unknown code: the target's.
        for code in [
            1044, 1142, 1227, 1449, 1290, 1146, 1054, 1021, 1114, 3098, 9999,
        ] {
            assert_eq!(mysql(code).fault(), Fault::Definite, "{code}");
        }
        for code in [1205, 1213, 2006, 2013] {
            assert_eq!(mysql(code).fault(), Fault::Transient, "{code}");
        }
        let io = mysql_async::Error::Io(mysql_async::IoError::Io(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "x",
        )));
        assert_eq!(
            SinkError::mysql("apply batch", io).fault(),
            Fault::Transient
        );
    }

    #[test]
    fn postgres_classes_22_and_23_blame_the_row() {
        for code in [
            "22001", "22003", "22P02", "22007", "23502", "23505", "23503", "23514",
        ] {
            assert!(postgres_blames_row(code), "{code}");
        }
        // Missing function (a trigger's), table, column; privileges; disk
        // full; read-only transaction; out of memory.
        for code in [
            "42883", "42P01", "42703", "42501", "53100", "25006", "53200", "XX000",
        ] {
            assert!(!postgres_blames_row(code), "{code}");
        }
    }

    #[test]
    fn sqlite_codes_are_classified_by_an_allow_list() {
        use rusqlite::ffi;
        for code in [
            ffi::SQLITE_CONSTRAINT_NOTNULL,
            ffi::SQLITE_MISMATCH,
            ffi::SQLITE_TOOBIG,
        ] {
            assert_eq!(sqlite(code).fault(), Fault::Record, "{code}");
        }
        for code in [ffi::SQLITE_READONLY, ffi::SQLITE_FULL, ffi::SQLITE_ERROR] {
            assert_eq!(sqlite(code).fault(), Fault::Definite, "{code}");
        }
        assert_eq!(sqlite(ffi::SQLITE_BUSY).fault(), Fault::Transient);
    }

    #[test]
    fn sluice_errors_are_classified() {
        let schema = SinkError::Sql(SqlError::Schema {
            table: "t".into(),
            reason: "incompatible".into(),
        });
        assert_eq!(schema.fault(), Fault::Record);
        let too_large = SinkError::Sql(SqlError::TooLarge {
            table: "t".into(),
            bytes: 10,
            limit: 5,
            change: 0,
        });
        assert_eq!(too_large.fault(), Fault::Record);
        let refused = SinkError::Refused {
            at: "t[0]@7".into(),
            source: Box::new(too_large),
        };
        assert_eq!(refused.fault(), Fault::Record);
        assert!(refused
            .to_string()
            .starts_with("record t[0]@7: table t: writing this row"));
        assert_eq!(
            SinkError::Sql(Misuse::NoRows.into()).fault(),
            Fault::Definite
        );
        let missing = SinkError::TableMissing { table: "t".into() };
        assert_eq!(missing.fault(), Fault::Definite);
        assert_eq!(
            missing.to_string(),
            "table t does not exist and auto_create is false: create it, or set auto_create = true"
        );
        let not_evolved = SinkError::TableNotEvolved {
            table: "t".into(),
            fields: vec!["x".into()],
        };
        assert_eq!(not_evolved.fault(), Fault::Definite);
    }

    #[test]
    fn registry_errors_are_the_pipelines_and_unreadable_records_the_records() {
        use crate::registry::RegistryError;
        let unknown = SinkError::Record {
            at: "t[0]@3".into(),
            source: RecordFault::Wire(crate::sink::decode::wire::WireError::UnknownSchema {
                part: crate::connect::MessagePart::Value,
                id: 42,
                message: "HTTP 404: not found".into(),
            }),
        };
        assert_eq!(unknown.fault(), Fault::Record);
        assert_eq!(
            unknown.to_string(),
            "record t[0]@3: value schema id 42 is not in the schema registry: HTTP 404: not found"
        );
        let down = SinkError::Registry {
            what: "reading a value schema",
            source: RegistryError::Unavailable {
                url: "http://r/schemas/ids/42".into(),
                reason: "cannot connect".into(),
            },
        };
        assert_eq!(down.fault(), Fault::Transient);
        let refused = SinkError::Registry {
            what: "reading a value schema",
            source: RegistryError::Refused {
                what: "schema id 42".into(),
                status: 401,
                message: "unauthorized".into(),
            },
        };
        assert_eq!(refused.fault(), Fault::Definite);
        assert_eq!(
            refused.to_string(),
            "reading a value schema: schema registry refused schema id 42 (401): unauthorized"
        );
    }

    #[test]
    fn schema_errors_are_definite() {
        let e = SinkError::Sql(SqlError::Schema {
            table: "t".into(),
            reason: "x".into(),
        });
        assert!(!e.is_transient());
        let e = SinkError::mysql(
            "apply batch",
            mysql_async::Error::Server(mysql_async::ServerError {
                code: 1213,
                message: "Deadlock found".into(),
                state: "40001".into(),
            }),
        );
        assert!(e.is_transient());
        assert_eq!(
            e.to_string(),
            "apply batch: ERROR 1213 (40001): Deadlock found"
        );
    }
}
