//! A Schema Registry client over Confluent's REST API (also served by
//! Apicurio under `/apis/ccompat/v7`): register a subject's schema version
//! (→ its global id) and fetch a schema by id.
//!
//! Both answers are cached for the client's life: by (subject, schema text)
//! and by id, so a steady stream of rows asks the registry nothing. A schema
//! change is a new text, registered once (the registry answers the existing
//! id when the text is already a version of the subject). Lookups by id are
//! single-flight: callers that ask for the same uncached id at once (a sink's
//! tasks starting on the same topic) wait for one request; only an answer is
//! cached, never a failure, so the next caller asks again.
//!
//! HTTP/1.1 over hyper, one short connection per request (registrations are
//! rare), TLS with rustls (ring provider): `ssl_ca_location`'s CAs when set,
//! else the public web PKI roots. Basic auth when configured.
//!
//! Errors are classified once, in [`RegistryError::is_transient`]: a
//! connection failure, a timeout or a 5xx is transient (the caller retries;
//! nothing was committed); a refusal — 409 incompatible schema, 422 invalid
//! schema, 401/403, 404 — is definite and carries the registry's message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;

use crate::config::{Converter, ConverterKind, RegistryAuth, RegistrySettings};

/// How long one registry request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest registry answer read.
const MAX_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Why a registry request failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached or answered 5xx. Transient.
    #[error("schema registry {url}: {reason}")]
    Unavailable {
        /// The request URL.
        url: String,
        /// What happened.
        reason: String,
    },
    /// The registry refused the request (incompatible or invalid schema,
    /// credentials, unknown id). Definite.
    #[error("schema registry refused {what} ({status}): {message}")]
    Refused {
        /// What was asked (`subject "t-value"`, `schema id 7`).
        what: String,
        /// HTTP status.
        status: u16,
        /// The registry's message.
        message: String,
    },
    /// The client could not be set up (URL, CA file, credentials file). Definite.
    #[error("schema registry: {0}")]
    Setup(String),
}

impl RegistryError {
    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }

    /// Whether the registry answered that what was asked does not exist
    /// (HTTP 404: an unknown schema id or subject).
    pub fn is_not_found(&self) -> bool {
        matches!(self, RegistryError::Refused { status: 404, .. })
    }
}

/// The registry clients of a pipeline's key and value converters (`None`:
/// that side is JSON).
#[derive(Debug, Clone, Default)]
pub struct ConverterClients {
    /// The key converter's.
    pub key: Option<Arc<RegistryClient>>,
    /// The value converter's.
    pub value: Option<Arc<RegistryClient>>,
    /// The key converter's format.
    pub key_kind: ConverterKind,
    /// The value converter's format.
    pub value_kind: ConverterKind,
}

impl ConverterClients {
    /// Clients for the converters that use a registry; both sides on one
    /// registry share one client, and so its caches. Reads password and CA
    /// files.
    pub fn new(key: &Converter, value: &Converter) -> Result<ConverterClients, RegistryError> {
        let key_client = (key.registry.as_ref())
            .map(RegistryClient::new)
            .transpose()?
            .map(Arc::new);
        let value_client = match (&key_client, &key.registry, &value.registry) {
            (_, _, None) => None,
            (Some(k), Some(ks), Some(vs)) if ks.url == vs.url => Some(Arc::clone(k)),
            (_, _, Some(vs)) => Some(Arc::new(RegistryClient::new(vs)?)),
        };
        Ok(ConverterClients {
            key: key_client,
            value: value_client,
            key_kind: key.kind,
            value_kind: value.kind,
        })
    }
}

/// The registry's type name of Avro schemas (the default when none is given).
pub const AVRO: &str = "AVRO";
/// The registry's type name of JSON Schemas.
pub const JSON: &str = "JSON";

/// A schema as the registry holds it.
#[derive(Debug, Clone)]
pub struct Registered {
    /// The schema text.
    pub text: Arc<str>,
    /// `AVRO`, `JSON` or `PROTOBUF`.
    pub schema_type: Arc<str>,
}

/// A registry client with its caches; cheap to share behind an `Arc`.
pub struct RegistryClient {
    scheme_https: bool,
    host: String,
    port: u16,
    /// Path prefix, without a trailing `/`.
    base_path: String,
    authorization: Option<String>,
    tls: Option<tokio_rustls::TlsConnector>,
    ids: Mutex<HashMap<(String, Arc<str>), u32>>,
    /// By id; a cell being filled is a request in flight.
    schemas: Mutex<HashMap<u32, Arc<tokio::sync::OnceCell<Registered>>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("url", &self.url(""))
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `settings`; reads the password and CA files now.
    pub fn new(settings: &RegistrySettings) -> Result<RegistryClient, RegistryError> {
        let uri: Uri = settings
            .url
            .parse()
            .map_err(|e| RegistryError::Setup(format!("url \"{}\": {e}", settings.url)))?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(RegistryError::Setup(format!(
                    "url \"{}\" is not http:// or https://",
                    settings.url
                )))
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| RegistryError::Setup(format!("url \"{}\" has no host", settings.url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let base_path = uri.path().trim_end_matches('/').to_string();
        let basic = |user: &str, pass: &str| {
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
            Some(format!("Basic {token}"))
        };
        let authorization = match &settings.auth {
            RegistryAuth::None => None,
            RegistryAuth::Basic { username, password } => basic(username, password.expose()),
            RegistryAuth::BasicFile { username, path } => {
                let pass = crate::config::read_secret_file(path).map_err(|e| {
                    RegistryError::Setup(format!("password_file {path}: cannot read it: {e}"))
                })?;
                basic(username, &pass)
            }
        };
        let tls = if https {
            Some(tls_connector(settings.ca_location.as_deref())?)
        } else {
            None
        };
        Ok(RegistryClient {
            scheme_https: https,
            host,
            port,
            base_path,
            authorization,
            tls,
            ids: Mutex::new(HashMap::new()),
            schemas: Mutex::new(HashMap::new()),
        })
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}://{}:{}{}{path}",
            if self.scheme_https { "https" } else { "http" },
            self.host,
            self.port,
            self.base_path
        )
    }

    /// The id of `schema` (Avro unless `schema_type` says otherwise) as a
    /// version of `subject`, registering it when the registry does not
    /// have it yet. Cached.
    pub async fn register(
        &self,
        subject: &str,
        schema: &Arc<str>,
        schema_type: Option<&str>,
    ) -> Result<u32, RegistryError> {
        let cache_key = (subject.to_string(), Arc::clone(schema));
        if let Some(id) = lock(&self.ids).get(&cache_key) {
            return Ok(*id);
        }
        let mut body = serde_json::json!({ "schema": &**schema });
        if let Some(t) = schema_type {
            body["schemaType"] = serde_json::Value::String(t.into());
        }
        let path = format!("/subjects/{}/versions", encode_segment(subject));
        let what = format!("subject \"{subject}\"");
        let answer = self
            .request(Method::POST, &path, Some(body.to_string()), &what)
            .await?;
        let id = answer
            .get("id")
            .and_then(serde_json::Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| RegistryError::Refused {
                what: what.clone(),
                status: 200,
                message: format!("the answer has no schema id: {answer}"),
            })?;
        lock(&self.ids).insert(cache_key, id);
        // Already set (the same text) when the id was fetched before.
        let _ = self.schema_cell(id).set(Registered {
            text: Arc::clone(schema),
            schema_type: schema_type.unwrap_or(AVRO).into(),
        });
        Ok(id)
    }

    fn schema_cell(&self, id: u32) -> Arc<tokio::sync::OnceCell<Registered>> {
        Arc::clone(lock(&self.schemas).entry(id).or_default())
    }

    /// The schema text registered under `id`. Cached; concurrent callers
    /// for the same id share one request.
    pub async fn schema(&self, id: u32) -> Result<Arc<str>, RegistryError> {
        self.registered(id).await.map(|r| r.text)
    }

    /// The schema registered under `id` with its type (`AVRO`, `JSON`, …).
    /// Cached like [`RegistryClient::schema`].
    pub async fn registered(&self, id: u32) -> Result<Registered, RegistryError> {
        let cell = self.schema_cell(id);
        cell.get_or_try_init(|| self.fetch_schema(id))
            .await
            .cloned()
    }

    async fn fetch_schema(&self, id: u32) -> Result<Registered, RegistryError> {
        let what = format!("schema id {id}");
        let answer = self
            .request(Method::GET, &format!("/schemas/ids/{id}"), None, &what)
            .await?;
        let text: Arc<str> = answer
            .get("schema")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| RegistryError::Refused {
                what,
                status: 200,
                message: format!("the answer has no schema: {answer}"),
            })?
            .into();
        // Confluent's API leaves `schemaType` out for Avro.
        let schema_type = answer
            .get("schemaType")
            .and_then(serde_json::Value::as_str)
            .unwrap_or(AVRO)
            .into();
        Ok(Registered { text, schema_type })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        what: &str,
    ) -> Result<serde_json::Value, RegistryError> {
        let url = self.url(path);
        let unavailable = |reason: String| RegistryError::Unavailable {
            url: url.clone(),
            reason,
        };
        let exchange = self.exchange(method, path, body);
        let (status, bytes) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| unavailable(format!("no answer in {}s", REQUEST_TIMEOUT.as_secs())))?
            .map_err(unavailable)?;
        let json: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return json.ok_or_else(|| unavailable("the answer is not JSON".into()));
        }
        let message = json
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(500).collect());
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Err(unavailable(format!("HTTP {status}: {message}")));
        }
        Err(RegistryError::Refused {
            what: what.to_string(),
            status: status.as_u16(),
            message,
        })
    }

    /// One request on a fresh connection: (status, body).
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        tcp.set_nodelay(true).ok();
        let authority = format!("{}:{}", self.host, self.port);
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_path))
            .header(hyper::header::HOST, authority)
            .header(
                hyper::header::ACCEPT,
                "application/vnd.schemaregistry.v1+json, application/json",
            );
        if body.is_some() {
            req = req.header(
                hyper::header::CONTENT_TYPE,
                "application/vnd.schemaregistry.v1+json",
            );
        }
        if let Some(a) = &self.authorization {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| format!("bad request: {e}"))?;
        match &self.tls {
            Some(tls) => {
                let name = ServerName::try_from(self.host.clone())
                    .map_err(|e| format!("host {}: {e}", self.host))?;
                let stream = tls
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS handshake failed: {e}"))?;
                send(TokioIo::new(stream), req).await
            }
            None => send(TokioIo::new(tcp), req).await,
        }
    }
}

async fn send<T>(io: T, req: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(conn);
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("request failed: {e}"))?;
        let status = resp.status();
        let body = http_body_util::Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Percent-encodes a path segment (subjects may hold any character).
fn encode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn tls_connector(ca: Option<&str>) -> Result<tokio_rustls::TlsConnector, RegistryError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let fail =
                |reason: String| RegistryError::Setup(format!("ssl_ca_location {path}: {reason}"));
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| fail(e.to_string()))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(e.to_string()))?;
            if certs.is_empty() {
                return Err(fail("no PEM certificate in it".into()));
            }
            for c in certs {
                roots.add(c).map_err(|e| fail(e.to_string()))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Setup(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_are_percent_encoded() {
        assert_eq!(encode_segment("srv.db.t-value"), "srv.db.t-value");
        assert_eq!(encode_segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn client_setup_names_what_is_wrong() {
        let settings = |url: &str, ca: Option<&str>| RegistrySettings {
            url: url.into(),
            auth: RegistryAuth::None,
            ca_location: ca.map(str::to_string),
        };
        let c = RegistryClient::new(&settings("http://127.0.0.1:8081/apis/ccompat/v7/", None))
            .expect("client");
        assert_eq!(c.url("/x"), "http://127.0.0.1:8081/apis/ccompat/v7/x");
        let err = RegistryClient::new(&settings("https://reg", Some("/nonexistent/ca.pem")))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(!RegistryError::Setup("x".into()).is_transient());
        assert!(RegistryError::Refused {
            what: "schema id 9".into(),
            status: 404,
            message: "not found".into()
        }
        .is_not_found());
        assert!(RegistryError::Unavailable {
            url: "u".into(),
            reason: "r".into()
        }
        .is_transient());
    }

    /// A registry stand-in on a local socket: answers every request with
    /// `answer` after `delay`, counting the connections it accepted.
    async fn stand_in(
        status: &'static str,
        answer: &'static str,
        delay: Duration,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!(
            "http://{}/apis/ccompat/v7",
            listener.local_addr().expect("addr")
        );
        let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = Arc::clone(&count);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = s.read(&mut buf).await;
                    tokio::time::sleep(delay).await;
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        (url, count)
    }

    fn client_for(url: &str) -> RegistryClient {
        RegistryClient::new(&RegistrySettings {
            url: url.into(),
            auth: RegistryAuth::None,
            ca_location: None,
        })
        .expect("client")
    }

    #[tokio::test]
    async fn concurrent_lookups_of_one_id_share_one_request() {
        let (url, count) = stand_in(
            "200 OK",
            r#"{"schema":"\"int\""}"#,
            Duration::from_millis(200),
        )
        .await;
        let client = client_for(&url);
        let lookups = (0..8).map(|_| client.schema(7));
        for r in futures::future::join_all(lookups).await {
            assert_eq!(&*r.expect("schema"), "\"int\"");
        }
        assert_eq!(client.schema(7).await.expect("cached").as_ref(), "\"int\"");
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn an_unknown_id_is_not_cached_and_names_the_id() {
        let (url, count) = stand_in(
            "404 Not Found",
            r#"{"error_code":40403,"message":"Schema 99 not found"}"#,
            Duration::ZERO,
        )
        .await;
        let client = client_for(&url);
        for _ in 0..2 {
            let err = client.schema(99).await.expect_err("unknown");
            assert!(err.is_not_found() && !err.is_transient(), "{err}");
            assert!(err.to_string().contains("schema id 99"), "{err}");
        }
        assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
