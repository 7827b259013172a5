//! The one classification of `mysql_async` errors, shared by the source
//! (`SourceError::is_transient`) and the sink (`SinkError::is_transient`), and
//! the one way to show a server error without the row values it may quote.
//!
//! **Transient** means "reconnect and retry later may succeed": the caller
//! backs off and starts again (the supervisor restarts the pipeline).
//! **Definite** means "retrying with the same settings or data cannot pass":
//! the source stops, the sink parks the table or dead-letters the record.
//!
//! | error | class | why |
//! |---|---|---|
//! | server error in [`TRANSIENT_CODES`] (too many connections, shutdown, network read/write errors, lock wait timeout, deadlock, query interrupted, connection killed, gone away, lost connection, idle disconnect) | transient | the server or the network will recover |
//! | server error in [`DEFINITE_CODES`] (access denied, unknown database/table/column, syntax, privilege needed, binlog purged; a value or key the row cannot have) | definite | the same statement fails the same way |
//! | any other server error | unrecognised | see below |
//! | I/O error from TLS: handshake, protocol, certificate (`IoError::Tls`, or a `rustls::Error` inside an I/O error) | definite | the same TLS settings fail the same way |
//! | any other I/O error (refused, reset, timed out, closed mid-packet) | transient | the network or the server will recover |
//! | driver: connection closed, pool disconnected, packet out of order | transient | the connection broke; a new one works |
//! | driver: server has no TLS (under `required`/`verify_*`); bad URL | definite | a setting |
//! | any other driver error; `Other` (a reply Sluice cannot use, e.g. no binlog status) | unrecognised | see below |
//!
//! Among the definite codes, [`ROW_CODES`] are caused by the row written (a
//! value out of range, too long or invalid, NULL in NOT NULL, a duplicate
//! key, a foreign key or CHECK constraint, a statement over
//! `max_allowed_packet`): [`blames_row`] tells a writer that can leave one
//! row out (the sink's dead-letter topic) which errors are the row's own.
//!
//! **Unrecognised** errors are resolved once per layer, each with the default
//! that fails safe there: the source retries them (`SourceError::is_transient`:
//! a server state it does not know may pass, and the pipeline status shows the
//! error meanwhile), the sink treats them as definite (`SinkError::is_transient`:
//! retrying an unknown data error forever would stall its partition).

use crate::redact::redact_after;

/// What a caller does with a failed MySQL call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Reconnecting and retrying later may succeed.
    Transient,
    /// Retrying with the same settings and data cannot succeed.
    Definite,
    /// Not known either way: the caller's layer decides (see the module docs).
    Unrecognised,
}

/// Server error codes after which a retry may succeed.
pub const TRANSIENT_CODES: &[u16] = &[
    1040, // ER_CON_COUNT_ERROR: too many connections
    1053, // ER_SERVER_SHUTDOWN: shutdown in progress
    1158, // ER_NET_READ_ERROR
    1159, // ER_NET_READ_INTERRUPTED (timeout)
    1160, // ER_NET_ERROR_ON_WRITE
    1161, // ER_NET_WRITE_INTERRUPTED (timeout)
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK
    1317, // ER_QUERY_INTERRUPTED
    1927, // ER_CONNECTION_KILLED (MariaDB)
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    4031, // ER_CLIENT_INTERACTION_TIMEOUT: disconnected for inactivity (MySQL 8.0.24+)
];

/// Server error codes that retrying cannot fix (every one of [`ROW_CODES`] among them).
pub const DEFINITE_CODES: &[u16] = &[
    1044, // ER_DBACCESS_DENIED_ERROR
    1045, // ER_ACCESS_DENIED_ERROR
    1048, // ER_BAD_NULL_ERROR: column cannot be null
    1049, // ER_BAD_DB_ERROR: unknown database
    1054, // ER_BAD_FIELD_ERROR: unknown column
    1062, // ER_DUP_ENTRY
    1064, // ER_PARSE_ERROR
    1142, // ER_TABLEACCESS_DENIED_ERROR
    1146, // ER_NO_SUCH_TABLE
    1148, // ER_NOT_ALLOWED_COMMAND (LOAD DATA LOCAL refused)
    1153, // ER_NET_PACKET_TOO_LARGE: a statement over max_allowed_packet
    1169, // ER_DUP_UNIQUE: unique constraint
    1216, // ER_NO_REFERENCED_ROW: foreign key (insert, old servers)
    1217, // ER_ROW_IS_REFERENCED: foreign key (delete, old servers)
    1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR: privilege needed
    1236, // ER_MASTER_FATAL_ERROR_READING_BINLOG: binlog purged / unknown position
    1264, // ER_WARN_DATA_OUT_OF_RANGE
    1265, // WARN_DATA_TRUNCATED (strict mode: e.g. a value not in an ENUM)
    1292, // ER_TRUNCATED_WRONG_VALUE
    1300, // ER_INVALID_CHARACTER_STRING
    1301, // ER_WARN_ALLOWED_PACKET_OVERFLOWED: a result over max_allowed_packet
    1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
    1367, // ER_ILLEGAL_VALUE_FOR_TYPE
    1406, // ER_DATA_TOO_LONG
    1411, // ER_WRONG_VALUE_FOR_TYPE
    1416, // ER_CANT_CREATE_GEOMETRY_OBJECT
    1451, // ER_ROW_IS_REFERENCED_2: foreign key (delete)
    1452, // ER_NO_REFERENCED_ROW_2: foreign key (insert)
    1557, // ER_FOREIGN_DUPLICATE_KEY
    1586, // ER_DUP_ENTRY_WITH_KEY_NAME
    1690, // ER_DATA_OUT_OF_RANGE: a value out of its type's range
    1761, // ER_FOREIGN_DUPLICATE_KEY_WITH_CHILD_INFO
    1762, // ER_FOREIGN_DUPLICATE_KEY_WITHOUT_CHILD_INFO
    1859, // ER_DUP_UNKNOWN_IN_INDEX
    3140, // ER_INVALID_JSON_TEXT (MySQL)
    3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
    4025, // ER_CONSTRAINT_FAILED (MariaDB CHECK)
];

/// Server error codes caused by the row a statement writes: a value the
/// column cannot hold, a key or constraint the row breaks, a row too large
/// for a statement. A writer that can leave the row out (the sink's dead-letter
/// topic) may blame it; every other error is about the server, the schema or
/// the session. All are definite ([`DEFINITE_CODES`]).
pub const ROW_CODES: &[u16] = &[
    1048, 1062, 1153, 1169, 1216, 1217, 1264, 1265, 1292, 1300, 1301, 1366, 1367, 1406, 1411, 1416,
    1451, 1452, 1557, 1586, 1690, 1761, 1762, 1859, 3140, 3819, 4025,
];

/// Classifies a driver error (see the table in the module docs).
pub fn classify(e: &mysql_async::Error) -> ErrorClass {
    use mysql_async::{DriverError, Error};
    match e {
        Error::Server(s) if TRANSIENT_CODES.contains(&s.code) => ErrorClass::Transient,
        Error::Server(s) if DEFINITE_CODES.contains(&s.code) => ErrorClass::Definite,
        Error::Server(_) => ErrorClass::Unrecognised,
        Error::Io(io) if is_tls_failure(io) => ErrorClass::Definite,
        Error::Io(_) => ErrorClass::Transient,
        Error::Driver(
            DriverError::ConnectionClosed
            | DriverError::PoolDisconnected
            | DriverError::PacketOutOfOrder,
        ) => ErrorClass::Transient,
        Error::Driver(DriverError::NoClientSslFlagFromServer) | Error::Url(_) => {
            ErrorClass::Definite
        }
        Error::Driver(_) | Error::Other(_) => ErrorClass::Unrecognised,
    }
}

/// True when `e` is a server error caused by the row written ([`ROW_CODES`]).
pub fn blames_row(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if ROW_CODES.contains(&s.code))
}

/// A certificate or TLS protocol failure: retrying with the same settings cannot pass.
fn is_tls_failure(e: &mysql_async::IoError) -> bool {
    match e {
        mysql_async::IoError::Tls(_) => true,
        mysql_async::IoError::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
    }
}

/// The error as text safe to log: a server error as `ERROR code (state): text`
/// with the values quoted by "Duplicate entry '…'", "Incorrect … value: '…'"
/// and "… string: '…'" replaced by `[redacted]`; any other error as its
/// `Display` (the driver's conversion errors hold values only in `Debug`).
pub fn message(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!(
            "ERROR {} ({}): {}",
            s.code,
            s.state,
            redact_after(&s.message, &["entry '", "value: '", "string: '"], '\'')
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use mysql_async::{DriverError, Error, IoError, ServerError};

    use super::*;

    fn server(code: u16) -> Error {
        Error::Server(ServerError {
            code,
            message: "m".into(),
            state: "HY000".into(),
        })
    }

    fn io_error(kind: io::ErrorKind) -> Error {
        Error::Io(IoError::Io(io::Error::new(kind, "x")))
    }

    fn is_transient(e: &Error) -> bool {
        classify(e) == ErrorClass::Transient
    }

    #[test]
    fn listed_server_codes_are_classified_and_the_rest_unrecognised() {
        for code in TRANSIENT_CODES {
            assert_eq!(classify(&server(*code)), ErrorClass::Transient, "{code}");
        }
        for code in DEFINITE_CODES {
            assert_eq!(classify(&server(*code)), ErrorClass::Definite, "{code}");
            assert!(!TRANSIENT_CODES.contains(code), "{code} in both lists");
        }
        // session killed (MySQL), max_user_connections, read-only server.
        for code in [3169, 1203, 1290] {
            assert_eq!(classify(&server(code)), ErrorClass::Unrecognised, "{code}");
        }
    }

    #[test]
    fn row_codes_are_definite_and_only_row_codes_blame_the_row() {
        for code in ROW_CODES {
            assert!(DEFINITE_CODES.contains(code), "{code} not definite");
            assert!(blames_row(&server(*code)), "{code}");
        }
        // Access denied, unknown table/column, definer missing, read-only,
        // disk full, group replication refusing a table without a primary key.
        for code in [1142, 1146, 1054, 1449, 1290, 1021, 3098, 1213] {
            assert!(!blames_row(&server(code)), "{code}");
        }
        assert!(!blames_row(&io_error(io::ErrorKind::ConnectionReset)));
    }

    #[test]
    fn plain_io_failures_are_transient() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
            io::ErrorKind::BrokenPipe,
        ] {
            assert!(is_transient(&io_error(kind)), "{kind:?}");
        }
    }

    #[test]
    fn tls_failures_are_definite() {
        let cert = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let e = Error::Io(IoError::Io(io::Error::new(
            io::ErrorKind::InvalidData,
            cert,
        )));
        assert_eq!(classify(&e), ErrorClass::Definite);
        let handshake = rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure);
        let e = Error::Io(IoError::Io(io::Error::other(handshake)));
        assert_eq!(classify(&e), ErrorClass::Definite);
        let e = Error::Driver(DriverError::NoClientSslFlagFromServer);
        assert_eq!(
            classify(&e),
            ErrorClass::Definite,
            "a server without TLS under ssl_mode = required"
        );
    }

    #[test]
    fn broken_connections_are_transient_and_other_driver_errors_unrecognised() {
        for d in [
            DriverError::ConnectionClosed,
            DriverError::PoolDisconnected,
            DriverError::PacketOutOfOrder,
        ] {
            assert!(is_transient(&Error::Driver(d)));
        }
        for d in [
            DriverError::MixedParams,
            DriverError::NestedTransaction,
            DriverError::UnknownAuthPlugin { name: "x".into() },
        ] {
            assert_eq!(classify(&Error::Driver(d)), ErrorClass::Unrecognised);
        }
        let other = Error::Other("no binlog status".into());
        assert_eq!(classify(&other), ErrorClass::Unrecognised);
        let url = mysql_async::Opts::from_url("nope://x")
            .err()
            .map(Error::from);
        assert_eq!(classify(&url.expect("a bad URL")), ErrorClass::Definite);
    }

    #[test]
    fn messages_redact_quoted_values() {
        let e = Error::Server(ServerError {
            code: 1062,
            message: "Duplicate entry 'bob's@x' for key 'PRIMARY'".into(),
            state: "23000".into(),
        });
        assert_eq!(
            message(&e),
            "ERROR 1062 (23000): Duplicate entry '[redacted]' for key 'PRIMARY'"
        );
        let e = Error::Server(ServerError {
            code: 1366,
            message: "Incorrect integer value: 'abc' for column `db`.`t`.`n` at row 1".into(),
            state: "HY000".into(),
        });
        assert!(message(&e).contains("value: '[redacted]' for column"));
        assert_eq!(
            message(&Error::Driver(DriverError::ConnectionClosed)),
            "Driver error: `Connection to the server is closed.'"
        );
    }
}
