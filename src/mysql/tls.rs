//! TLS for MySQL/MariaDB connections, from the endpoint's `ssl_mode` (see
//! `config::tls`):
//!
//! | `ssl_mode` | TLS | server certificate | host name | no TLS on the server |
//! |---|---|---|---|---|
//! | `disabled` | no | – | – | plain text |
//! | `preferred` | yes | not checked | not checked | plain text (the only fallback) |
//! | `required` | yes | not checked | not checked | fails |
//! | `verify_ca` | yes | checked against `ssl_ca` | not checked | fails |
//! | `verify_identity` | yes | checked against `ssl_ca` | must name the URL's host | fails |
//!
//! `preferred` falls back only when the server does not offer TLS at all
//! ([`server_has_no_tls`]); a certificate or handshake failure is not a reason
//! to fall back. A client certificate (`ssl_cert` + `ssl_key`) is presented in
//! every TLS mode. The verify modes trust `ssl_ca` only, never the built-in roots.

use std::path::PathBuf;

use mysql_async::{ClientIdentity, SslOpts};

use crate::config::{DbEndpoint, SslMode};

/// mysql_async's TLS options for the endpoint's `ssl_mode` (`None`: plain text).
pub(super) fn ssl_opts(endpoint: &DbEndpoint) -> Option<SslOpts> {
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
pub(super) fn server_has_no_tls(e: &mysql_async::Error) -> bool {
    matches!(
        e,
        mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer)
    )
}

#[cfg(test)]
mod tests {
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
}
