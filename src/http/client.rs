//! The CLI's way to the local daemon: one HTTP/1.1 request to its REST API
//! on `[http] listen` (a wildcard address means this host), the body read
//! to its end. Used by `sluice offsets` (is the pipeline running?) and
//! `sluice snapshot` (signals).

use std::net::{Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Why the daemon could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `[http] listen` is empty or not an address.
    #[error("[http] listen = \"{0}\" is not an address the daemon can be reached on")]
    Listen(String),
    /// Connecting, writing or reading failed.
    #[error("the daemon on {addr} does not answer: {source}")]
    Io {
        /// Where.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// No answer within the time limit.
    #[error("the daemon on {0} did not answer in time")]
    Timeout(SocketAddr),
    /// Not an HTTP response.
    #[error("the daemon on {0} answered something that is not HTTP")]
    Garbled(SocketAddr),
}

/// A path segment with everything but unreserved characters %-encoded.
pub fn segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Sends `method path` (with a JSON `body` and the bearer `token`, when
/// given) to the daemon listening on `listen`; its status and body, within `timeout`.
pub async fn call(
    timeout: Duration,
    listen: &str,
    token: Option<&str>,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), ClientError> {
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| ClientError::Listen(listen.to_string()))?;
    let addr = match addr.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => ([127, 0, 0, 1], addr.port()).into(),
        ip if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    };
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    let io = |source| ClientError::Io { addr, source };
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.map_err(io)?;
        s.write_all(req.as_bytes()).await.map_err(io)?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.map_err(io)?;
        Ok::<_, ClientError>(buf)
    };
    let buf = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| ClientError::Timeout(addr))??;
    let text = String::from_utf8_lossy(&buf);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or(ClientError::Garbled(addr))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(ClientError::Garbled(addr))?;
    Ok((status, body.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_percent_encoded() {
        assert_eq!(segment("my-src_1.a"), "my-src_1.a");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }

    #[tokio::test]
    async fn a_bad_listen_address_is_named() {
        let e = call(Duration::from_secs(1), "", None, "GET", "/", None)
            .await
            .expect_err("empty");
        assert!(e.to_string().contains("[http] listen"), "{e}");
    }
}
