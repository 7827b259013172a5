//! The request guard in front of every route: what a browser page, a client
//! without the token, or a body of the wrong type cannot do.
//!
//! In order, for every request:
//! 1. **Cross-origin browser requests** are refused with 403 for every method
//!    but GET and HEAD: a request whose `Origin` is not this server's own
//!    origin (same host and port as the `Host` it was sent to; `Origin: null`
//!    included), or whose `Sec-Fetch-Site` says `cross-site` or `same-site`.
//!    No CORS header is ever sent, so a browser's preflight (OPTIONS) finds no
//!    `Access-Control-Allow-*` and the browser does not send the request.
//! 2. **The bearer token**, when one is configured: every method but GET,
//!    HEAD and OPTIONS needs `Authorization: Bearer <token>` (the scheme in
//!    any case, the token exactly, compared in constant time), else 401.
//! 3. **JSON bodies**: POST, PUT and PATCH with a body need `Content-Type:
//!    application/json` (parameters such as `; charset=utf-8` are fine),
//!    else 415. Without a body (`PUT .../pause`, `POST .../restart`) the
//!    header may be left out, as Kafka Connect allows; if given, it must be
//!    JSON. This keeps a web page from sending a "simple" (preflight-free)
//!    `text/plain` or form POST.
//!
//! Errors have Connect's shape: `{"error_code": <status>, "message": "..."}`.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use super::connectors::error;
use super::ApiState;

/// Runs the three checks of the module doc, then the route.
pub async fn guard(State(state): State<ApiState>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let headers = request.headers();
    let safe = matches!(method, Method::GET | Method::HEAD);
    if !safe {
        if let Some(why) = cross_origin(headers, request.uri()) {
            return error(
                StatusCode::FORBIDDEN,
                format!("cross-origin requests are refused: {why}"),
            );
        }
    }
    if let (Some(token), false) = (&state.token, safe || method == Method::OPTIONS) {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_token);
        if !given.is_some_and(|g| same(g.as_bytes(), token.as_bytes())) {
            return error(
                StatusCode::UNAUTHORIZED,
                "this request needs the header Authorization: Bearer <token>",
            );
        }
    }
    if matches!(method, Method::POST | Method::PUT | Method::PATCH) {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap_or(""));
        let refused = match content_type {
            Some(ct) => !is_json(ct),
            None => has_body(headers),
        };
        if refused {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "{method} with a body needs the header Content-Type: application/json (got {})",
                    content_type.map_or_else(|| "none".to_string(), |c| format!("\"{c}\""))
                ),
            );
        }
    }
    next.run(request).await
}

/// Constant-time comparison, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` value (scheme in any case).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(char::is_whitespace)?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `application/json`, with any parameters (`; charset=utf-8`), in any case.
fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Whether the request carries a body (a non-zero length, or chunked).
fn has_body(headers: &HeaderMap) -> bool {
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    headers.contains_key(header::TRANSFER_ENCODING) || length.is_some_and(|l| l != "0")
}

/// Why the request comes from another origin, if it does.
fn cross_origin(headers: &HeaderMap, uri: &axum::http::Uri) -> Option<String> {
    let fetch_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    if let Some(site @ ("cross-site" | "same-site")) = fetch_site {
        return Some(format!("Sec-Fetch-Site: {site}"));
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = origin.to_str().unwrap_or("");
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()));
    if host.is_some_and(|h| same_origin(origin, h)) {
        None
    } else {
        Some(format!(
            "Origin {origin} is not this server ({})",
            host.unwrap_or("no Host header")
        ))
    }
}

/// Whether `origin` (`scheme://host[:port]`) is the server reached as `host`
/// (`host[:port]`): same host (any case) and port (defaulted by the scheme).
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.trim().split_once("://") else {
        return false; // `null` and anything that is no serialised origin
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return false,
    };
    match (split_host_port(authority), split_host_port(host.trim())) {
        (Some((oh, op)), Some((hh, hp))) => {
            oh.eq_ignore_ascii_case(hh) && op.unwrap_or(default_port) == hp.unwrap_or(default_port)
        }
        _ => false,
    }
}

/// `host[:port]` or `[v6][:port]` → (host, port); None when the port is not a number.
fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        (v6, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || authority.contains(['/', '@']) {
        return None;
    }
    match port {
        None => Some((host, None)),
        Some(p) => p.parse().ok().map(|p| (host, Some(p))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_in_any_case_token_exact() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Bearerabc"), None);
        assert!(same(b"abc", b"abc") && !same(b"abc", b"abd") && !same(b"abc", b"ab"));
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
        ] {
            assert!(is_json(ok), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/jsonp",
            "",
        ] {
            assert!(!is_json(bad), "{bad}");
        }
    }

    #[test]
    fn origins() {
        assert!(same_origin("http://127.0.0.1:8083", "127.0.0.1:8083"));
        assert!(same_origin("http://LOCALHOST:8083", "localhost:8083"));
        assert!(same_origin("http://example.com", "example.com:80"));
        assert!(same_origin("https://example.com", "example.com"));
        assert!(same_origin("http://[::1]:8083", "[::1]:8083"));
        assert!(!same_origin("http://evil.example", "127.0.0.1:8083"));
        assert!(!same_origin("http://localhost:3000", "localhost:8083"));
        assert!(!same_origin(
            "http://127.0.0.1:8083.evil.example",
            "127.0.0.1:8083"
        ));
        assert!(!same_origin("null", "127.0.0.1:8083"));
        assert!(!same_origin("file://", "127.0.0.1:8083"));
        assert!(!same_origin("http://u@127.0.0.1:8083", "127.0.0.1:8083"));
    }

    #[test]
    fn fetch_metadata_and_origin_headers() {
        let uri: axum::http::Uri = "/connectors".parse().expect("uri");
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("value"));
            }
            cross_origin(&h, &uri)
        };
        assert!(with(&[("host", "127.0.0.1:8083")]).is_none());
        assert!(with(&[
            ("host", "127.0.0.1:8083"),
            ("origin", "http://127.0.0.1:8083")
        ])
        .is_none());
        assert!(with(&[
            ("host", "127.0.0.1:8083"),
            ("origin", "http://evil.example")
        ])
        .is_some());
        assert!(with(&[("host", "127.0.0.1:8083"), ("sec-fetch-site", "cross-site")]).is_some());
        assert!(with(&[
            ("host", "127.0.0.1:8083"),
            ("sec-fetch-site", "same-origin")
        ])
        .is_none());
        assert!(with(&[("origin", "http://127.0.0.1:8083")]).is_some());
    }
}
