//! Connecting to MySQL/MariaDB: options from an endpoint (URL, credentials,
//! TLS), single connections, pools with Sluice's session setup, and the binlog
//! status statement.
//!
//! **Where a connection goes.** Always where the URL points: `prefer_socket`
//! is turned off (unless the URL sets it), so a `127.0.0.1` URL never silently
//! becomes a local socket with other credentials.
//!
//! **TLS** follows `ssl_mode` (see `tls.rs`). `preferred` first tries TLS and
//! connects in plain text only when the server offers none: [`connect`] and
//! [`connect_with`] retry once without TLS, [`pool_settled`] probes once and
//! builds the pool that worked.
//!
//! **Auth.** `caching_sha2_password` (MySQL 8+'s default) works with and without
//! TLS: over plain TCP the driver fetches the server's RSA public key to send the
//! password on a cache miss.
//!
//! **Dead peers.** Every connection has TCP keepalive
//! ([`crate::liveness::TCP_KEEPALIVE`]), and opening one (TCP, TLS, auth,
//! session setup) is bounded by [`crate::liveness::CONNECT_TIMEOUT`]: a
//! black-holed server is an I/O error (`TimedOut`, transient), never a hang.
//! Reads have no driver timeout; their callers bound them (the binlog
//! stream by its heartbeats, the sink by `statement_timeout_ms`).
//!
//! **Sessions.** Pool connections run [`SESSION_INIT`] (UTC, utf8mb4). Single
//! connections run nothing: the sink sets its own `sql_mode` first.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Pool};

use super::tls::{server_has_no_tls, ssl_opts};
use crate::config::{DbEndpoint, SslMode};

/// Session setup every Sluice connection runs: UTC for TIMESTAMP values,
/// utf8mb4 so text in any column charset arrives as UTF-8. Pools run it on
/// every new connection; the sink runs it after its own `sql_mode`.
pub const SESSION_INIT: [&str; 2] = ["SET time_zone = '+00:00'", "SET NAMES utf8mb4"];

/// Connection options for `endpoint`: its URL, credentials and TLS settings (for
/// `preferred`: TLS; [`connect`] and [`pool_settled`] fall back to plain text). The
/// connection goes where the URL points, never to a local socket instead.
fn opts(endpoint: &DbEndpoint) -> Result<OptsBuilder, mysql_async::Error> {
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
    Ok(b.ssl_opts(ssl_opts(endpoint))
        .tcp_keepalive(Some(crate::liveness::TCP_KEEPALIVE)))
}

/// `fut` (connecting, or a setup step) bounded by [`crate::liveness::CONNECT_TIMEOUT`].
pub async fn bounded<T, E: From<mysql_async::Error>>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let limit = crate::liveness::CONNECT_TIMEOUT;
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(E::from(mysql_async::Error::from(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("{what}: no answer from the server in {} s", limit.as_secs()),
        )))),
    }
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
    match bounded("connecting", Conn::new(b.clone())).await {
        Err(e) if endpoint.tls.mode == SslMode::Preferred && server_has_no_tls(&e) => {
            tracing::info!(url = %endpoint.display_url(), "server offers no TLS; ssl_mode = preferred connects in plain text");
            bounded("connecting", Conn::new(b.ssl_opts(None))).await
        }
        other => other,
    }
}

/// Builds a pool for `endpoint` (credentials, TLS, [`SESSION_INIT`] sessions),
/// connecting once to settle `preferred` (TLS, or plain when the server has none)
/// and to fail early.
pub async fn pool_settled(endpoint: &DbEndpoint) -> Result<Pool, mysql_async::Error> {
    let mut b = opts(endpoint)?.init(SESSION_INIT.to_vec());
    let probe = Pool::new(b.clone());
    match bounded("connecting", probe.get_conn()).await {
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

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
            Err(err) => assert!(
                server_has_no_tls(&err)
                    && crate::mysql::classify(&err) == crate::mysql::ErrorClass::Definite,
                "{err}"
            ),
        }
        assert_eq!(server.await.expect("server"), 0, "no plain login");
    }
}
