//! TLS for PostgreSQL targets: a rustls connector (ring provider) for the
//! endpoint's `ssl_mode`.
//!
//! `preferred` maps to libpq's `prefer` (TLS when the server offers it),
//! `required` to `require`; both encrypt without checking the certificate, as
//! libpq does. `verify_ca` checks the chain against `ssl_ca` but not the host
//! name; `verify_identity` (libpq `verify-full`) checks both.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::config::{SslMode, TlsSettings};

/// Why a TLS connector could not be built (a file or certificate problem).
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// A PEM file could not be read or holds no usable item.
    #[error("TLS: cannot read {key} file {path}: {reason}")]
    File {
        /// Config key naming the file.
        key: &'static str,
        /// The path.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    /// The CA set could not build a verifier.
    #[error("TLS: ssl_ca: {0}")]
    Verifier(#[from] rustls::client::VerifierBuilderError),
}

/// The tokio-postgres SSL mode for `mode`.
pub fn pg_ssl_mode(mode: SslMode) -> tokio_postgres::config::SslMode {
    match mode {
        SslMode::Disabled => tokio_postgres::config::SslMode::Disable,
        SslMode::Preferred => tokio_postgres::config::SslMode::Prefer,
        _ => tokio_postgres::config::SslMode::Require,
    }
}

/// A connector for `tls` (its mode must not be `Disabled`).
pub fn connector(tls: &TlsSettings) -> Result<MakeRustlsConnect, TlsSetupError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match tls.mode {
        SslMode::VerifyCa | SslMode::VerifyIdentity => {
            let mut roots = RootCertStore::empty();
            if let Some(ca) = &tls.ca {
                for cert in read_certs("ssl_ca", ca)? {
                    roots.add(cert)?;
                }
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()?;
            if tls.mode == SslMode::VerifyCa {
                Arc::new(IgnoreName(webpki))
            } else {
                webpki
            }
        }
        _ => Arc::new(AcceptAny(provider.clone())),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&tls.cert, &tls.key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs("ssl_cert", cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsSetupError::File {
                key: "ssl_key",
                path: key.clone(),
                reason: e.to_string(),
            })?;
            builder.with_client_auth_cert(chain, key)?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(MakeRustlsConnect::new(config))
}

fn read_certs(
    key: &'static str,
    path: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
    let fail = |reason: String| TlsSetupError::File {
        key,
        path: path.to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| fail(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    if certs.is_empty() {
        return Err(fail("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// `verify_ca`: the chain must verify; a certificate for another host name is accepted.
#[derive(Debug)]
struct IgnoreName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `preferred` / `required`: encryption only, any certificate (libpq's `require`).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(mode: SslMode, ca: Option<&str>) -> TlsSettings {
        TlsSettings {
            mode,
            ca: ca.map(str::to_string),
            cert: None,
            key: None,
        }
    }

    #[test]
    fn a_missing_ca_file_is_named() {
        let err = connector(&settings(SslMode::VerifyCa, Some("/nonexistent/ca.pem")))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("TLS") && err.contains("ssl_ca") && err.contains("/nonexistent/ca.pem"),
            "{err}"
        );
    }

    /// A fake PostgreSQL that answers SSLRequest with `N` (no TLS) and any
    /// startup message with FATAL 28000 "plain login seen"; returns the logins seen.
    async fn no_tls_server() -> (u16, tokio::task::JoinHandle<usize>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let deadline = std::time::Duration::from_secs(5);
            let Ok(Ok((mut sock, _))) = tokio::time::timeout(deadline, listener.accept()).await
            else {
                return 0;
            };
            let mut logins = 0;
            loop {
                let mut len = [0u8; 4];
                if sock.read_exact(&mut len).await.is_err() {
                    return logins;
                }
                let mut body = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                if sock.read_exact(&mut body).await.is_err() {
                    return logins;
                }
                if body.starts_with(&80_877_103u32.to_be_bytes()) {
                    let _ = sock.write_all(b"N").await; // SSLRequest: no TLS here
                    continue;
                }
                logins += 1;
                let fields = b"SFATAL\0C28000\0Mplain login seen\0\0";
                let mut msg = vec![b'E'];
                msg.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                msg.extend_from_slice(fields);
                let _ = sock.write_all(&msg).await;
                return logins;
            }
        });
        (port, task)
    }

    async fn connect_fake(port: u16, mode: SslMode) -> Result<(), tokio_postgres::Error> {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user("u")
            .dbname("d")
            .ssl_mode(pg_ssl_mode(mode));
        let tls = connector(&settings(mode, None)).expect("connector");
        config.connect(tls).await.map(|_| ())
    }

    #[tokio::test]
    async fn preferred_falls_back_to_plain_only_when_the_server_has_no_tls() {
        let (port, server) = no_tls_server().await;
        let err = connect_fake(port, SslMode::Preferred).await.err();
        let db = err
            .as_ref()
            .and_then(|e| e.as_db_error())
            .map(|d| d.message());
        assert_eq!(db, Some("plain login seen"), "{err:?}");
        assert_eq!(server.await.expect("server"), 1);

        let (port, server) = no_tls_server().await;
        let err = connect_fake(port, SslMode::Required)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("TLS"), "{err}");
        assert_eq!(server.await.expect("server"), 0, "no plain login");
    }

    #[test]
    fn modes_map_to_libpq_modes() {
        use tokio_postgres::config::SslMode as Pg;
        assert_eq!(pg_ssl_mode(SslMode::Disabled), Pg::Disable);
        assert_eq!(pg_ssl_mode(SslMode::Preferred), Pg::Prefer);
        for m in [
            SslMode::Required,
            SslMode::VerifyCa,
            SslMode::VerifyIdentity,
        ] {
            assert_eq!(pg_ssl_mode(m), Pg::Require);
        }
        assert!(connector(&settings(SslMode::Required, None)).is_ok());
    }
}
