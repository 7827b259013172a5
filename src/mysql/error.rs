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
//! | any other server error (syntax, unknown table/column, access denied, binlog purged, bad value, duplicate key, …) | definite | the same statement fails the same way |
//! | I/O error from TLS: handshake, protocol, certificate (`IoError::Tls`, or a `rustls::Error` inside an I/O error) | definite | the same TLS settings fail the same way |
//! | any other I/O error (refused, reset, timed out, closed mid-packet) | transient | the network or the server will recover |
//! | driver: connection closed, pool disconnected, packet out of order | transient | the connection broke; a new one works |
//! | driver: server has no TLS (under `required`/`verify_*`), unknown auth plugin, value conversion, parameters, … | definite | a setting or a caller bug |
//! | bad URL; `Other` (a reply Sluice cannot use, e.g. no binlog status) | definite | nothing changes on retry |
//!
//! Unlisted server codes are definite on purpose: a sink that retried an
//! unknown data error forever would stall its partition instead of parking
//! the table, and a definite error is reported at once with its message.

use crate::redact::redact_after;

/// What a caller does with a failed MySQL call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Reconnecting and retrying later may succeed.
    Transient,
    /// Retrying with the same settings and data cannot succeed.
    Definite,
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

/// Classifies a driver error (see the table in the module docs).
pub fn classify(e: &mysql_async::Error) -> ErrorClass {
    use mysql_async::{DriverError, Error};
    let transient = match e {
        Error::Server(s) => TRANSIENT_CODES.contains(&s.code),
        Error::Io(io) => !is_tls_failure(io),
        Error::Driver(d) => matches!(
            d,
            DriverError::ConnectionClosed
                | DriverError::PoolDisconnected
                | DriverError::PacketOutOfOrder
        ),
        Error::Url(_) | Error::Other(_) => false,
    };
    if transient {
        ErrorClass::Transient
    } else {
        ErrorClass::Definite
    }
}

/// True when [`classify`] says [`ErrorClass::Transient`].
pub fn is_transient(e: &mysql_async::Error) -> bool {
    classify(e) == ErrorClass::Transient
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

    #[test]
    fn listed_server_codes_are_transient_and_the_rest_definite() {
        for code in TRANSIENT_CODES {
            assert_eq!(classify(&server(*code)), ErrorClass::Transient, "{code}");
        }
        // access denied (db, user), unknown database/column, syntax, command
        // denied, no such table, privilege needed, binlog purged, duplicate
        // key, bad value, data too long, LOAD DATA LOCAL refused.
        for code in [
            1044, 1045, 1049, 1054, 1064, 1142, 1146, 1227, 1236, 1062, 1366, 1406, 1148,
        ] {
            assert_eq!(classify(&server(code)), ErrorClass::Definite, "{code}");
        }
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
        assert!(!is_transient(&e));
        let e = Error::Driver(DriverError::NoClientSslFlagFromServer);
        assert!(
            !is_transient(&e),
            "a server without TLS under ssl_mode = required"
        );
    }

    #[test]
    fn broken_connections_are_transient_and_driver_misuse_definite() {
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
            DriverError::StmtParamsMismatch {
                required: 1,
                supplied: 2,
            },
        ] {
            assert!(!is_transient(&Error::Driver(d)));
        }
        assert!(!is_transient(&Error::Other("no binlog status".into())));
        let url = mysql_async::Opts::from_url("nope://x")
            .err()
            .map(Error::from);
        assert!(!is_transient(&url.expect("a bad URL")));
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
