//! MySQL/MariaDB connections: options (credentials, TLS), session setup, the
//! binlog status statement, error classes.
//!
//! **TLS** follows the endpoint's `ssl_mode` (see `config::tls`): `preferred`
//! tries TLS and, only when the server does not offer it at all, connects in
//! plain text (a certificate or handshake failure is not a reason to fall back);
//! `required` does not check the certificate; `verify_ca` checks it against
//! `ssl_ca`; `verify_identity` also checks that it names the URL's host. A
//! client certificate (`ssl_cert` + `ssl_key`) is presented in every TLS mode.
//!
//! **Auth.** `caching_sha2_password` (MySQL 8+'s default) works with and without
//! TLS: over plain TCP the driver fetches the server's RSA public key to send the
//! password on a cache miss.

use std::path::PathBuf;

use mysql_async::prelude::Queryable;
use mysql_async::{ClientIdentity, Conn, Opts, OptsBuilder, Pool, SslOpts};

use crate::config::{DbEndpoint, SslMode};

/// Session setup every source connection runs: UTC for TIMESTAMP values,
/// utf8mb4 so text in any column charset arrives as UTF-8.
const SESSION_INIT: [&str; 2] = ["SET time_zone = '+00:00'", "SET NAMES utf8mb4"];

/// Connection options for `endpoint`: its URL, credentials and TLS settings (for
/// `preferred`: TLS; [`pool`] and [`connect`] fall back to plain text). The
/// connection goes where the URL points, never to a local socket instead.
pub fn opts(endpoint: &DbEndpoint) -> Result<OptsBuilder, mysql_async::Error> {
    let opts = Opts::from_url(&endpoint.url)?;
    let mut b = OptsBuilder::from_opts(opts);
    if let Some(u) = &endpoint.user {
        b = b.user(Some(u.clone()));
    }
    if let Some(p) = &endpoint.password {
        b = b.pass(Some(p.expose().to_string()));
    }
    if !endpoint.url.contains("prefer_socket") {
        b = b.prefer_socket(false);
    }
    Ok(b.ssl_opts(ssl_opts(endpoint)))
}

/// mysql_async's TLS options for the endpoint's `ssl_mode`.
fn ssl_opts(endpoint: &DbEndpoint) -> Option<SslOpts> {
    let tls = &endpoint.tls;
    if tls.mode == SslMode::Disabled {
        return None;
    }
    let mut ssl = SslOpts::default();
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        ssl = ssl.with_client_identity(Some(ClientIdentity::new(
            PathBuf::from(cert).into(),
            PathBuf::from(key).into(),
        )));
    }
    ssl = match (tls.mode, &tls.ca) {
        (SslMode::VerifyCa | SslMode::VerifyIdentity, Some(ca)) => ssl
            .with_root_certs(vec![PathBuf::from(ca).into()])
            .with_disable_built_in_roots(true)
            .with_danger_skip_domain_validation(tls.mode == SslMode::VerifyCa),
        // validate() refuses a verify mode without a CA; check against nothing then.
        (SslMode::VerifyCa | SslMode::VerifyIdentity, None) => {
            ssl.with_disable_built_in_roots(true)
        }
        _ => ssl
            .with_danger_accept_invalid_certs(true)
            .with_danger_skip_domain_validation(true),
    };
    Some(ssl)
}

/// True when the server offers no TLS at all (what `preferred` falls back on).
fn server_has_no_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}

/// Opens one connection to `endpoint`, applying `preferred`'s fallback.
pub async fn connect(endpoint: &DbEndpoint) -> Result<Conn, mysql_async::Error> {
    connect_with(endpoint, |b| b).await
}

/// Like [`connect`], with the options adjusted by `tune` (e.g. a LOCAL INFILE handler).
pub async fn connect_with(
    endpoint: &DbEndpoint,
    tune: impl FnOnce(OptsBuilder) -> OptsBuilder,
) -> Result<Conn, mysql_async::Error> {
    let b = tune(opts(endpoint)?);
    match Conn::new(b.clone()).await {
        Err(e) if endpoint.tls.mode == SslMode::Preferred && server_has_no_tls(&e) => {
            tracing::info!(url = %endpoint.display_url(), "server offers no TLS; ssl_mode = preferred connects in plain text");
            Conn::new(b.ssl_opts(None)).await
        }
        other => other,
    }
}

/// Builds a source pool for `endpoint` (credentials, TLS, UTC + utf8mb4 sessions)
/// without connecting. It cannot fall back, so `preferred` connects in plain text
/// here; [`pool_settled`] tries TLS first and is the one to use.
pub fn pool(endpoint: &DbEndpoint) -> Result<Pool, mysql_async::Error> {
    let b = opts(endpoint)?.init(SESSION_INIT.to_vec());
    if endpoint.tls.mode == SslMode::Preferred {
        return Ok(Pool::new(b.ssl_opts(None)));
    }
    Ok(Pool::new(b))
}

/// Builds a source pool for `endpoint` (credentials, TLS, UTC + utf8mb4 sessions),
/// connecting once to settle `preferred` (TLS, or plain when the server has none)
/// and to fail early.
pub async fn pool_settled(endpoint: &DbEndpoint) -> Result<Pool, mysql_async::Error> {
    let mut b = opts(endpoint)?.init(SESSION_INIT.to_vec());
    let probe = Pool::new(b.clone());
    match probe.get_conn().await {
        Ok(conn) => {
            drop(conn);
            return Ok(probe);
        }
        Err(e) if endpoint.tls.mode == SslMode::Preferred && server_has_no_tls(&e) => {
            tracing::info!(url = %endpoint.display_url(), "server offers no TLS; ssl_mode = preferred connects in plain text");
            b = b.ssl_opts(None);
        }
        Err(e) => {
            probe.disconnect().await.ok();
            return Err(e);
        }
    }
    probe.disconnect().await.ok();
    Ok(Pool::new(b))
}

/// The server's current binlog coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinlogStatus {
    /// Current binlog file name.
    pub file: String,
    /// Position in that file.
    pub position: u64,
    /// MySQL's `Executed_Gtid_Set` (None on MariaDB, which reports `@@gtid_binlog_pos`).
    pub executed_gtid_set: Option<String>,
}

/// `SHOW BINARY LOG STATUS` (MySQL 8.2+; `SHOW MASTER STATUS` is gone in 8.4),
/// falling back to `SHOW MASTER STATUS` where the new statement is a syntax error
/// (MariaDB, MySQL before 8.2). `None` when binary logging is off.
pub async fn binlog_status(conn: &mut Conn) -> Result<Option<BinlogStatus>, mysql_async::Error> {
    let rows: Vec<mysql_async::Row> = match conn.query("SHOW BINARY LOG STATUS").await {
        Ok(rows) => rows,
        Err(mysql_async::Error::Server(e)) if e.code == 1064 => {
            conn.query("SHOW MASTER STATUS").await?
        }
        Err(e) => return Err(e),
    };
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let file: Option<String> = row.get_opt(0).and_then(Result::ok);
    let position: Option<u64> = row.get_opt(1).and_then(Result::ok);
    let gtid: Option<String> = (row.len() > 4)
        .then(|| {
            row.get_opt::<Option<String>, _>(4)
                .and_then(Result::ok)
                .flatten()
        })
        .flatten();
    match (file, position) {
        (Some(file), Some(position)) => Ok(Some(BinlogStatus {
            file,
            position,
            executed_gtid_set: gtid.map(|g| g.replace('\n', "")),
        })),
        _ => Err(mysql_async::Error::Other(
            "binlog status: unexpected row shape (no File/Position)".into(),
        )),
    }
}

/// Server error codes that retrying cannot fix.
const DEFINITE_CODES: &[u16] = &[
    1044, // access denied to database
    1045, // access denied for user
    1049, // unknown database
    1054, // unknown column
    1064, // syntax error
    1142, // command denied
    1146, // table doesn't exist
    1227, // privilege needed
    1236, // binlog purged / unknown position
];

/// True when the error is a lost connection or a server state that may pass.
pub fn is_transient(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => !DEFINITE_CODES.contains(&s.code),
        mysql_async::Error::Url(_) => false,
        mysql_async::Error::Io(io) => !is_tls_failure(io),
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer) => false,
        mysql_async::Error::Driver(_) | mysql_async::Error::Other(_) => true,
    }
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

/// Quotes a MySQL identifier with backticks.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tls_endpoint(mode: SslMode, ca: Option<&str>) -> DbEndpoint {
        DbEndpoint::resolve("p", "mysql://root@127.0.0.1:3306/db", None, None, None)
            .and_then(|e| {
                e.with_tls(
                    "p",
                    crate::config::TlsKeys {
                        mode: Some(mode),
                        ca,
                        cert: None,
                        key: None,
                    },
                )
            })
            .expect("endpoint")
    }

    #[test]
    fn ssl_modes_map_to_driver_options() {
        assert!(ssl_opts(&tls_endpoint(SslMode::Disabled, None)).is_none());
        for mode in [SslMode::Preferred, SslMode::Required] {
            let o = ssl_opts(&tls_endpoint(mode, None)).expect("tls");
            assert!(
                o.accept_invalid_certs() && o.skip_domain_validation(),
                "{mode}"
            );
        }
        let o = ssl_opts(&tls_endpoint(SslMode::VerifyCa, Some("/ca.pem"))).expect("tls");
        assert!(!o.accept_invalid_certs() && o.skip_domain_validation());
        assert!(o.disable_built_in_roots() && o.root_certs().len() == 1);
        let o = ssl_opts(&tls_endpoint(SslMode::VerifyIdentity, Some("/ca.pem"))).expect("tls");
        assert!(!o.accept_invalid_certs() && !o.skip_domain_validation());
        assert!(o.disable_built_in_roots() && o.root_certs().len() == 1);
    }

    /// A fake server that offers no TLS: sends a protocol-10 handshake without
    /// CLIENT_SSL and answers whatever comes back with ERROR 1045 "plain login seen".
    async fn no_tls_server() -> (u16, tokio::task::JoinHandle<usize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let mut logins = 0;
            // Two connections at most: the TLS attempt and the plain fallback.
            for _ in 0..2 {
                let Ok(Ok((mut sock, _))) =
                    tokio::time::timeout(Duration::from_secs(5), listener.accept()).await
                else {
                    break;
                };
                let caps: u32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x80000;
                let mut p = vec![10u8];
                p.extend_from_slice(b"5.7.99-fake\0");
                p.extend_from_slice(&7u32.to_le_bytes());
                p.extend_from_slice(b"abcdefgh\0");
                p.extend_from_slice(&(caps as u16).to_le_bytes());
                p.push(0x21);
                p.extend_from_slice(&2u16.to_le_bytes());
                p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
                p.push(21);
                p.extend_from_slice(&[0; 10]);
                p.extend_from_slice(b"ijklmnopqrst\0mysql_native_password\0");
                let mut packet = (p.len() as u32).to_le_bytes()[..3].to_vec();
                packet.push(0);
                packet.extend_from_slice(&p);
                if sock.write_all(&packet).await.is_err() {
                    continue;
                }
                let mut head = [0u8; 4];
                if sock.read_exact(&mut head).await.is_err() {
                    continue; // the TLS attempt hung up: no CLIENT_SSL
                }
                let len = u32::from_le_bytes([head[0], head[1], head[2], 0]) as usize;
                let mut body = vec![0u8; len];
                if sock.read_exact(&mut body).await.is_err() {
                    continue;
                }
                logins += 1;
                let mut err = vec![0xff];
                err.extend_from_slice(&1045u16.to_le_bytes());
                err.extend_from_slice(b"#28000plain login seen");
                let mut packet = (err.len() as u32).to_le_bytes()[..3].to_vec();
                packet.push(head[3] + 1);
                packet.extend_from_slice(&err);
                let _ = sock.write_all(&packet).await;
            }
            logins
        });
        (port, task)
    }

    fn fake_endpoint(port: u16, mode: SslMode) -> DbEndpoint {
        let url = format!("mysql://u@127.0.0.1:{port}/db");
        DbEndpoint::resolve("p", &url, None, None, None)
            .and_then(|e| {
                e.with_tls(
                    "p",
                    crate::config::TlsKeys {
                        mode: Some(mode),
                        ..Default::default()
                    },
                )
            })
            .expect("endpoint")
    }

    #[tokio::test]
    async fn preferred_falls_back_to_plain_only_when_the_server_has_no_tls() {
        let (port, server) = no_tls_server().await;
        let err = connect(&fake_endpoint(port, SslMode::Preferred))
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("plain login seen"), "{err}");
        assert_eq!(
            server.await.expect("server"),
            1,
            "one plain login after the TLS attempt"
        );

        let (port, server) = no_tls_server().await;
        let pool = pool_settled(&fake_endpoint(port, SslMode::Preferred))
            .await
            .expect("a plain pool after the TLS probe");
        let err = pool.get_conn().await.err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("plain login seen"));
        assert_eq!(server.await.expect("server"), 1);

        let (port, server) = no_tls_server().await;
        match connect(&fake_endpoint(port, SslMode::Required)).await {
            Ok(_) => panic!("required accepted a server without TLS"),
            Err(err) => assert!(server_has_no_tls(&err) && !is_transient(&err), "{err}"),
        }
        assert_eq!(server.await.expect("server"), 0, "no plain login");
    }

    #[test]
    fn quotes_backticks() {
        assert_eq!(quote("a`b"), "`a``b`");
        assert_eq!(quote("\"; DROP TABLE x; --"), "`\"; DROP TABLE x; --`");
    }
}
