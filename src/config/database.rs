//! Database endpoints: URL forms (native and JDBC) and credentials.

use super::secret::{redact_url, Secret};
use super::tls::{self, TlsKeys, TlsSettings};
use super::ConfigError;

/// Which server family a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// MySQL or MariaDB.
    MySql,
    /// PostgreSQL.
    Postgres,
    /// SQLite file.
    Sqlite,
}

/// A resolved database endpoint.
#[derive(Debug, Clone)]
pub struct DbEndpoint {
    /// Server family.
    pub kind: DbKind,
    /// Native URL (`mysql://`, `postgres://`, `sqlite://`), password removed.
    pub url: String,
    /// User name, when given outside the URL.
    pub user: Option<String>,
    /// Password from `password`, `password_file`, or the URL.
    pub password: Option<Secret>,
    /// TLS settings (`ssl_*` keys over the URL's TLS parameters).
    pub tls: TlsSettings,
    /// The TLS settings the URL's parameters expressed, and whether it named a mode.
    url_tls: (TlsSettings, bool),
}

impl DbEndpoint {
    /// The URL with the password hidden, for logs and errors; names the TLS mode
    /// when certificates are checked, so a TLS failure reads as one.
    pub fn display_url(&self) -> String {
        let url = redact_url(&self.url);
        let plain = matches!(
            self.tls.mode,
            tls::SslMode::Preferred | tls::SslMode::Disabled
        );
        if self.kind == DbKind::Sqlite || plain {
            url
        } else {
            format!("{url} (TLS ssl_mode={})", self.tls.mode)
        }
    }

    /// Applies the explicit `ssl_mode`/`ssl_ca`/`ssl_cert`/`ssl_key` keys over the
    /// URL's TLS parameters and validates the result (no I/O).
    pub fn with_tls(
        mut self,
        pipeline: &str,
        keys: TlsKeys<'_>,
    ) -> Result<DbEndpoint, ConfigError> {
        self.tls = tls::merge(keys, self.url_tls.0.clone(), self.url_tls.1);
        if self.kind != DbKind::Sqlite {
            self.tls.validate(pipeline)?;
        }
        Ok(self)
    }

    /// The database named in the URL path, if any.
    pub fn database(&self) -> Option<String> {
        let rest = self.url.split_once("://")?.1;
        let path = rest.split_once('/')?.1;
        let db = path.split(['?', ';']).next()?;
        (!db.is_empty()).then(|| db.to_string())
    }

    /// Resolves `url` (native or JDBC), `user`, `password` and `password_file`
    /// (read here: the only I/O of endpoint resolution; [`DbEndpoint::parse`]
    /// is the pure part that validation uses).
    pub fn resolve(
        pipeline: &str,
        url: &str,
        user: Option<&str>,
        password: Option<&Secret>,
        password_file: Option<&str>,
    ) -> Result<DbEndpoint, ConfigError> {
        let mut ep = Self::parse(pipeline, url, user, password)?;
        if let Some(file) = password_file {
            let text = std::fs::read_to_string(file).map_err(|e| ConfigError::PasswordFile {
                pipeline: pipeline.to_string(),
                path: file.to_string(),
                source: e,
            })?;
            ep.password = Some(Secret::new(text.trim_end_matches(['\n', '\r'])));
        }
        Ok(ep)
    }

    /// Parses `url` (native or JDBC), `user` and `password` without reading
    /// anything: what validation checks.
    pub fn parse(
        pipeline: &str,
        url: &str,
        user: Option<&str>,
        password: Option<&Secret>,
    ) -> Result<DbEndpoint, ConfigError> {
        let bad = |reason: String| ConfigError::Invalid {
            pipeline: pipeline.to_string(),
            key: "url".into(),
            reason,
        };
        let native = url.strip_prefix("jdbc:").unwrap_or(url);
        let (kind, native) = if let Some(r) = native.strip_prefix("mysql://") {
            (DbKind::MySql, format!("mysql://{r}"))
        } else if let Some(r) = native.strip_prefix("mariadb://") {
            (DbKind::MySql, format!("mysql://{r}"))
        } else if let Some(r) = native
            .strip_prefix("postgresql://")
            .or_else(|| native.strip_prefix("postgres://"))
        {
            (DbKind::Postgres, format!("postgres://{r}"))
        } else if let Some(r) = native.strip_prefix("sqlite://") {
            (DbKind::Sqlite, format!("sqlite://{r}"))
        } else if let Some(r) = native.strip_prefix("sqlite:") {
            (DbKind::Sqlite, format!("sqlite://{r}"))
        } else {
            return Err(bad(format!(
                "unsupported URL {}: expected mysql://, mariadb://, postgres://, sqlite:// or their jdbc: forms",
                redact_url(url)
            )));
        };
        // TLS parameters (JDBC `sslMode=`/`useSSL=`, libpq `sslmode=`) become settings.
        let (native, url_tls, url_mode_seen) = tls::split_url_tls(&native);
        // Split a password out of the URL so it never travels in display strings.
        let (url, url_password) = split_password(&native);
        let password = password.cloned().or(url_password);
        let tls = tls::merge(TlsKeys::default(), url_tls.clone(), url_mode_seen);
        Ok(DbEndpoint {
            kind,
            url,
            user: user.map(str::to_string),
            password,
            tls,
            url_tls: (url_tls, url_mode_seen),
        })
    }
}

fn split_password(url: &str) -> (String, Option<Secret>) {
    let Some((scheme, rest)) = url.split_once("://") else {
        return (url.to_string(), None);
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if let Some(at) = authority.rfind('@') {
        if let Some(colon) = authority[..at].find(':') {
            let pw = percent_decode(&authority[colon + 1..at]);
            let url = format!("{scheme}://{}{}", &authority[..colon], &rest[at..]);
            return (url, Some(Secret::new(pw)));
        }
    }
    (url.to_string(), None)
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_map_to_native() {
        let e = DbEndpoint::resolve(
            "p",
            "jdbc:mysql://127.0.0.1:3306/mydb",
            Some("root"),
            None,
            None,
        )
        .expect("resolve");
        assert_eq!(e.kind, DbKind::MySql);
        assert_eq!(e.url, "mysql://127.0.0.1:3306/mydb");
        assert_eq!(e.database().as_deref(), Some("mydb"));
        let e = DbEndpoint::resolve("p", "jdbc:postgresql://h/x", None, None, None).expect("pg");
        assert_eq!(e.kind, DbKind::Postgres);
        assert_eq!(e.url, "postgres://h/x");
    }

    #[test]
    fn password_is_split_out_of_url() {
        let e = DbEndpoint::resolve("p", "mysql://u:s%40cret@h:3306/d", None, None, None)
            .expect("resolve");
        assert_eq!(e.url, "mysql://u@h:3306/d");
        assert_eq!(e.password.as_ref().map(Secret::expose), Some("s@cret"));
        assert!(!format!("{e:?}").contains("cret"));
    }

    #[test]
    fn unknown_scheme_is_an_error_naming_url() {
        let err = DbEndpoint::resolve("p", "oracle://h/x", None, None, None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("url") && err.contains("unsupported"), "{err}");
    }

    #[test]
    fn missing_password_file_names_path() {
        let err = DbEndpoint::resolve("p", "mysql://h/x", None, None, Some("/nonexistent/pw"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/pw"), "{err}");
    }
}
