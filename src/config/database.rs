//! Database endpoints: URL forms (native and JDBC) and credentials.

use super::secret::{params, percent_decode, redact_url, Secret};
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

/// A pipeline's endpoint keys as written in its config (the same for sources and sinks).
pub struct EndpointKeys<'a> {
    /// Pipeline name (for error messages).
    pub pipeline: &'a str,
    /// `url` (native or JDBC).
    pub url: &'a str,
    /// `user`.
    pub user: Option<&'a str>,
    /// `password`.
    pub password: Option<&'a Secret>,
    /// `password_file`.
    pub password_file: Option<&'a str>,
    /// `ssl_mode`, `ssl_ca`, `ssl_cert`, `ssl_key`.
    pub tls: super::TlsKeys<'a>,
}

impl EndpointKeys<'_> {
    /// The endpoint, `password_file` read: when a pipeline starts or `sluice check` runs.
    pub fn resolve(self) -> Result<DbEndpoint, ConfigError> {
        let ep = DbEndpoint::resolve(
            self.pipeline,
            self.url,
            self.user,
            self.password,
            self.password_file,
        )?;
        ep.with_tls(self.pipeline, self.tls)
    }

    /// Checks the keys without reading any file (for validation).
    pub fn check(self) -> Result<(), ConfigError> {
        let ep = DbEndpoint::parse(self.pipeline, self.url, self.user, self.password)?;
        ep.with_tls(self.pipeline, self.tls).map(drop)
    }
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

    /// The servers a MySQL URL lists (`mysql://u@db1:3306,db2:3306/db`, the
    /// multi-host form of Connector/J), as `host:port` (port 3306 when not
    /// written); one entry for a single-host URL, none for other kinds.
    pub fn hosts(&self) -> Vec<String> {
        if self.kind != DbKind::MySql {
            return Vec::new();
        }
        let Some((_, list, _)) = split_hosts(&self.url) else {
            return Vec::new();
        };
        list.split(',')
            .map(|h| with_default_port(h.trim()))
            .collect()
    }

    /// One endpoint per server of [`DbEndpoint::hosts`], in the URL's order,
    /// each with the same credentials, database, parameters and TLS.
    pub fn servers(&self) -> Vec<DbEndpoint> {
        let hosts = self.hosts();
        if hosts.len() <= 1 {
            return vec![self.clone()];
        }
        let Some((head, _, tail)) = split_hosts(&self.url) else {
            return vec![self.clone()];
        };
        hosts
            .iter()
            .map(|h| DbEndpoint {
                url: format!("{head}{h}{tail}"),
                ..self.clone()
            })
            .collect()
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
            let text = read_secret_file(file).map_err(|e| ConfigError::PasswordFile {
                pipeline: pipeline.to_string(),
                path: file.to_string(),
                source: e,
            })?;
            ep.password = Some(Secret::new(text));
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
        // Take credentials out of the URL so they never travel in display strings.
        let (url, url_user, url_password) = if kind == DbKind::Sqlite {
            (native, None, None)
        } else {
            split_credentials(&native)
        };
        let password = password.cloned().or(url_password);
        let tls = tls::merge(TlsKeys::default(), url_tls.clone(), url_mode_seen);
        Ok(DbEndpoint {
            kind,
            url,
            user: user.map(str::to_string).or(url_user),
            password,
            tls,
            url_tls: (url_tls, url_mode_seen),
        })
    }
}

/// A URL cut around its host list: (`scheme://user@`, `h1:p1,h2:p2`, `/db?...`).
fn split_hosts(url: &str) -> Option<(&str, &str, &str)> {
    let start = url.find("://")? + 3;
    let rest = &url[start..];
    let end = start + rest.find(['/', '?']).unwrap_or(rest.len());
    let hosts_from = url[start..end]
        .rfind('@')
        .map_or(start, |at| start + at + 1);
    Some((&url[..hosts_from], &url[hosts_from..end], &url[end..]))
}

/// `host` or `host:port` (`[v6]` or `[v6]:port`) with MySQL's port when none is written.
fn with_default_port(host: &str) -> String {
    let has_port = match host.rsplit_once(']') {
        Some((_, after)) => after.starts_with(':'),
        None => host.contains(':'),
    };
    if has_port {
        host.to_string()
    } else {
        format!("{host}:3306")
    }
}

/// The number of servers `url` lists (Connector/J's `h1:p1,h2:p2` form); a
/// pure check for validation: only a binlog source may list several.
pub fn url_host_count(url: &str) -> usize {
    split_hosts(url).map_or(1, |(_, list, _)| list.split(',').count())
}

/// Takes the credentials out of a native URL so that neither the driver's URL
/// nor any display of it holds a secret: the userinfo password (`user:pass@`),
/// and the `password`/`pwd`/`passwd` and `user` query parameters (JDBC and
/// libpq put them there; mysql_async refuses them in its URL). Returns (url,
/// user, password); the first password found wins.
fn split_credentials(url: &str) -> (String, Option<String>, Option<Secret>) {
    let (url, mut password) = split_userinfo(url);
    let Some((base, query)) = url.split_once('?') else {
        return (url, None, password);
    };
    let mut user = None;
    let mut cut = Vec::new();
    for p in params(query) {
        let key = percent_decode(&query[p.key.clone()]).to_ascii_lowercase();
        let value = || param_value(&query[p.value.clone()]);
        match key.as_str() {
            "password" | "pwd" | "passwd" => {
                password = password.or_else(|| Some(Secret::new(value())));
            }
            "user" => user = user.or_else(|| Some(value())),
            _ => continue,
        }
        cut.push(p.key.start.saturating_sub(1)..p.value.end);
    }
    let mut query = query.to_string();
    for range in cut.into_iter().rev() {
        query.replace_range(range, "");
    }
    let query = query.trim_start_matches(['&', ';', '?']);
    let url = if query.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{query}")
    };
    (url, user, password)
}

/// A parameter's value: unquoted (`'...'`) and percent-decoded.
fn param_value(raw: &str) -> String {
    let unquoted = raw
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .map(|r| r.replace("''", "'").replace("\\'", "'"));
    match unquoted {
        Some(text) => text,
        None => percent_decode(raw),
    }
}

fn split_userinfo(url: &str) -> (String, Option<Secret>) {
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

/// The largest password file read (a secret is a line, not a data file).
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// Reads a file holding a secret: a regular file of at most 64 KiB, so a
/// device (`/dev/zero`), a FIFO or a large file is an error, not a hang or
/// an allocation the size of the disk. The trailing line break is removed.
pub fn read_secret_file(path: &str) -> std::io::Result<String> {
    let text = read_bounded(
        std::path::Path::new(path),
        MAX_SECRET_FILE_BYTES,
        "larger than 64 KiB: not a secret file",
    )?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Reads a regular file of at most `max` bytes; a larger one is an error
/// saying `too_large`.
pub(crate) fn read_bounded(
    path: &std::path::Path,
    max: u64,
    too_large: &str,
) -> std::io::Result<String> {
    use std::io::Read;
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    if !std::fs::metadata(path)?.is_file() {
        return Err(invalid("not a regular file"));
    }
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max {
        return Err(invalid(too_large));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_may_list_several_servers() {
        let e = DbEndpoint::resolve(
            "p",
            "jdbc:mysql://cdc:pw@db1:3307,db2,[::1]:3309/orders?useSSL=false",
            None,
            None,
            None,
        )
        .expect("valid");
        assert_eq!(e.hosts(), ["db1:3307", "db2:3306", "[::1]:3309"]);
        let urls: Vec<String> = e.servers().into_iter().map(|s| s.url).collect();
        assert_eq!(
            urls,
            [
                "mysql://cdc@db1:3307/orders",
                "mysql://cdc@db2:3306/orders",
                "mysql://cdc@[::1]:3309/orders"
            ]
        );
        assert_eq!(
            e.password.as_ref().map(|p| p.expose().to_string()),
            Some("pw".into())
        );
        assert_eq!(url_host_count("mysql://u@a:1,b:2/db"), 2);
        assert_eq!(url_host_count("mysql://u@a:1/db"), 1);
        let one =
            DbEndpoint::parse("p", "mysql://root@127.0.0.1:3306/db", None, None).expect("valid");
        assert_eq!(one.hosts(), ["127.0.0.1:3306"]);
        assert_eq!(one.servers()[0].url, one.url);
    }

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
    fn query_string_credentials_are_taken_out_of_the_url() {
        let e = DbEndpoint::parse(
            "p",
            "jdbc:postgresql://db/app?user=u&password=s3cret&sslmode=disable&application_name=x",
            None,
            None,
        )
        .expect("parse");
        assert_eq!(e.url, "postgres://db/app?application_name=x");
        assert_eq!(e.user.as_deref(), Some("u"));
        assert_eq!(e.password.as_ref().map(Secret::expose), Some("s3cret"));
        let cases = [
            ("mysql://h/db?PWD=x&ssl=true", "mysql://h/db?ssl=true", "x"),
            ("mysql://h/db?password=s%26cr%3Dt", "mysql://h/db", "s&cr=t"),
            (
                "mysql://h/db?a=1&password=a&b&c=2",
                "mysql://h/db?a=1&c=2",
                "a&b",
            ),
            ("mysql://h/db?passwd='it''s'", "mysql://h/db", "it's"),
            ("mysql://u:p%40ss@h/db?password=q", "mysql://u@h/db", "p@ss"),
        ];
        for (url, want_url, want_pw) in cases {
            let e = DbEndpoint::parse("p", url, None, None).expect("parse");
            assert_eq!(e.url, want_url, "{url}");
            assert_eq!(
                e.password.as_ref().map(Secret::expose),
                Some(want_pw),
                "{url}"
            );
            assert!(!e.display_url().contains(want_pw), "{url}");
        }
        // An explicit password and user win over the URL's, which still leave it.
        let explicit = Secret::new("k");
        let e = DbEndpoint::parse(
            "p",
            "mysql://h/db?user=a&password=b",
            Some("me"),
            Some(&explicit),
        )
        .expect("parse");
        assert_eq!(e.url, "mysql://h/db");
        assert_eq!(e.user.as_deref(), Some("me"));
        assert_eq!(e.password.as_ref().map(Secret::expose), Some("k"));
        // SQLite paths are file names, left alone.
        let e = DbEndpoint::parse("p", "sqlite:///x?password=y", None, None).expect("parse");
        assert_eq!(e.url, "sqlite:///x?password=y");
    }

    #[test]
    fn secret_files_are_bounded_regular_files() {
        let err = read_secret_file("/dev/zero").err().map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("not a regular file"));
        let dir = std::env::temp_dir().join(format!("sluice-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let big = dir.join("big");
        std::fs::write(&big, vec![b'x'; 70_000]).expect("write");
        let err = read_secret_file(&big.display().to_string())
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("64 KiB"));
        let ok = dir.join("ok");
        std::fs::write(&ok, "pw\r\n").expect("write");
        assert_eq!(
            read_secret_file(&ok.display().to_string()).ok().as_deref(),
            Some("pw")
        );
        let _ = std::fs::remove_dir_all(&dir);
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
