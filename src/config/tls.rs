//! TLS settings of a database endpoint: `ssl_mode` and certificate files.
//!
//! The modes are MySQL's (`--ssl-mode`), which PostgreSQL's `sslmode` maps onto
//! one to one (`disable`, `prefer`, `require`, `verify-ca`, `verify-full`):
//! - `disabled`: plain TCP.
//! - `preferred` (the default, as in the MySQL client, libpq and Debezium): TLS
//!   when the server offers it, plain otherwise; the certificate is not checked.
//! - `required`: TLS or fail; the certificate is not checked (only encryption).
//! - `verify_ca`: TLS, and the server's certificate must chain to `ssl_ca`.
//! - `verify_identity`: as `verify_ca`, and the certificate must name the host of
//!   the URL (DNS name or IP address in its subjectAltName).
//!
//! `ssl_cert` + `ssl_key` (PEM) present a client certificate in any TLS mode.
//! JDBC-style URL parameters are accepted too and removed from the URL before it
//! reaches the driver: `sslMode=REQUIRED`, `useSSL=true|false`, `requireSSL=true`,
//! `verifyServerCertificate=true` (MySQL Connector/J); `sslmode=verify-full`,
//! `sslrootcert=`, `sslcert=`, `sslkey=` (PostgreSQL). Explicit keys win over
//! URL parameters.

use serde::Deserialize;

use super::ConfigError;

/// How a connection uses TLS (MySQL's `ssl_mode` names; PostgreSQL's accepted too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Plain TCP only.
    Disabled,
    /// TLS when the server offers it, without checking its certificate.
    #[default]
    Preferred,
    /// TLS or fail, without checking the certificate.
    Required,
    /// TLS with a certificate that chains to `ssl_ca`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate names the URL's host.
    VerifyIdentity,
}

impl SslMode {
    /// Parses any spelling: `verify_ca`, `VERIFY_CA`, `verify-ca`, PostgreSQL's `verify-full`.
    pub fn parse(text: &str) -> Option<SslMode> {
        Some(
            match text.trim().to_ascii_lowercase().replace('-', "_").as_str() {
                "disabled" | "disable" | "false" => SslMode::Disabled,
                "preferred" | "prefer" | "allow" => SslMode::Preferred,
                "required" | "require" | "true" => SslMode::Required,
                "verify_ca" => SslMode::VerifyCa,
                "verify_identity" | "verify_full" => SslMode::VerifyIdentity,
                _ => return None,
            },
        )
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disabled => "disabled",
            SslMode::Preferred => "preferred",
            SslMode::Required => "required",
            SslMode::VerifyCa => "verify_ca",
            SslMode::VerifyIdentity => "verify_identity",
        }
    }

    /// Whether the server's certificate is checked against a CA.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyIdentity)
    }
}

impl<'de> Deserialize<'de> for SslMode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        SslMode::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown ssl_mode {text:?}: expected disabled, preferred, required, verify_ca or verify_identity"
            ))
        })
    }
}

impl std::fmt::Display for SslMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Resolved TLS settings of one endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode.
    pub mode: SslMode,
    /// CA certificate(s), PEM; required by `verify_ca` / `verify_identity`.
    pub ca: Option<String>,
    /// Client certificate chain, PEM.
    pub cert: Option<String>,
    /// Client private key, PEM.
    pub key: Option<String>,
}

impl TlsSettings {
    /// Checks the combination (no I/O): verify modes need a CA; cert and key go together.
    pub fn validate(&self, pipeline: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            pipeline: pipeline.to_string(),
            key: key.into(),
            reason: reason.into(),
        };
        if self.mode.verifies() && self.ca.is_none() {
            return Err(invalid(
                "ssl_ca",
                "ssl_mode verify_ca/verify_identity needs ssl_ca (the CA certificate file, PEM)",
            ));
        }
        if self.cert.is_some() != self.key.is_some() {
            return Err(invalid(
                "ssl_cert",
                "a client certificate needs both ssl_cert and ssl_key",
            ));
        }
        if self.mode == SslMode::Disabled && (self.cert.is_some() || self.ca.is_some()) {
            return Err(invalid(
                "ssl_mode",
                "ssl_mode = disabled but ssl_ca/ssl_cert is set; choose a TLS mode or remove them",
            ));
        }
        Ok(())
    }
}

/// Explicit `ssl_*` keys of a `[[source]]` / `[[sink]]`, before URL parameters are merged.
#[derive(Debug, Clone, Copy, Default)]
pub struct TlsKeys<'a> {
    /// `ssl_mode`.
    pub mode: Option<SslMode>,
    /// `ssl_ca`.
    pub ca: Option<&'a str>,
    /// `ssl_cert`.
    pub cert: Option<&'a str>,
    /// `ssl_key`.
    pub key: Option<&'a str>,
}

/// Removes the TLS parameters from `url`'s query string: (url without them, settings
/// they express). Other parameters are kept in order.
pub(crate) fn split_url_tls(url: &str) -> (String, TlsSettings, bool) {
    let mut tls = TlsSettings::default();
    let mut mode_seen = false;
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), tls, false);
    };
    let mut kept = Vec::new();
    let mut use_ssl: Option<bool> = None;
    let mut verify_cert = false;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k.to_ascii_lowercase().as_str() {
            "sslmode" | "ssl_mode" | "ssl-mode" => {
                if let Some(m) = SslMode::parse(v) {
                    tls.mode = m;
                    mode_seen = true;
                } else {
                    kept.push(pair);
                }
            }
            "usessl" | "requiressl" => use_ssl = Some(v.eq_ignore_ascii_case("true")),
            "verifyservercertificate" => verify_cert = v.eq_ignore_ascii_case("true"),
            "sslrootcert" | "ssl_ca" | "sslca" => tls.ca = Some(v.to_string()),
            "sslcert" | "ssl_cert" => tls.cert = Some(v.to_string()),
            "sslkey" | "ssl_key" => tls.key = Some(v.to_string()),
            _ => kept.push(pair),
        }
    }
    if !mode_seen {
        if let Some(on) = use_ssl {
            tls.mode = match (on, verify_cert) {
                (false, _) => SslMode::Disabled,
                (true, false) => SslMode::Required,
                (true, true) => SslMode::VerifyIdentity,
            };
            mode_seen = true;
        }
    }
    let url = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (url, tls, mode_seen)
}

/// Merges explicit keys over URL parameters.
pub(crate) fn merge(keys: TlsKeys<'_>, from_url: TlsSettings, url_mode_seen: bool) -> TlsSettings {
    TlsSettings {
        mode: keys.mode.unwrap_or(if url_mode_seen {
            from_url.mode
        } else {
            SslMode::default()
        }),
        ca: keys.ca.map(str::to_string).or(from_url.ca),
        cert: keys.cert.map(str::to_string).or(from_url.cert),
        key: keys.key.map(str::to_string).or(from_url.key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_mysql_and_postgres_spellings() {
        assert_eq!(SslMode::parse("VERIFY_CA"), Some(SslMode::VerifyCa));
        assert_eq!(SslMode::parse("verify-full"), Some(SslMode::VerifyIdentity));
        assert_eq!(SslMode::parse("disable"), Some(SslMode::Disabled));
        assert_eq!(SslMode::parse("REQUIRED"), Some(SslMode::Required));
        assert_eq!(SslMode::parse("bogus"), None);
    }

    #[test]
    fn jdbc_parameters_become_settings_and_leave_the_url() {
        let (url, tls, seen) =
            split_url_tls("mysql://h:3306/db?useSSL=true&serverTimezone=UTC&sslMode=VERIFY_CA");
        assert_eq!(url, "mysql://h:3306/db?serverTimezone=UTC");
        assert!(seen);
        assert_eq!(tls.mode, SslMode::VerifyCa);
        let (url, tls, seen) = split_url_tls("mysql://h/db?useSSL=false");
        assert_eq!(
            (url.as_str(), tls.mode, seen),
            ("mysql://h/db", SslMode::Disabled, true)
        );
        let (url, tls, _) =
            split_url_tls("postgres://h/db?sslmode=verify-full&sslrootcert=/ca.pem");
        assert_eq!(url, "postgres://h/db");
        assert_eq!(tls.mode, SslMode::VerifyIdentity);
        assert_eq!(tls.ca.as_deref(), Some("/ca.pem"));
    }

    #[test]
    fn explicit_keys_win_and_verify_needs_a_ca() {
        let (_, from_url, seen) = split_url_tls("mysql://h/db?sslMode=REQUIRED");
        let keys = TlsKeys {
            mode: Some(SslMode::VerifyCa),
            ..TlsKeys::default()
        };
        let tls = merge(keys, from_url, seen);
        assert_eq!(tls.mode, SslMode::VerifyCa);
        let err = tls
            .validate("p")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("ssl_ca"), "{err}");
        let tls = merge(TlsKeys::default(), TlsSettings::default(), false);
        assert_eq!(tls.mode, SslMode::Preferred);
        assert!(tls.validate("p").is_ok());
    }
}
