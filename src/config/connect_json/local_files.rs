//! Local files named by connectors created over the REST API.
//!
//! A connector config can name files on the daemon's machine: `password_file`,
//! `ssl_ca`/`ssl_cert`/`ssl_key` (and `ssl.ca`, ...), any `*_file` /
//! `*.location` key, the TLS and socket parameters of the URL (`sslrootcert=`,
//! `sslcert=`, `sslkey=`, `passfile=`, `socket=`, a PostgreSQL `host=/dir`),
//! and a SQLite target (`sqlite:///path`, `jdbc:sqlite:/path`). Whoever can
//! POST a connector must not be able to make the daemon read (or create)
//! arbitrary files: `"password_file": "/var/lib/sluice/connectors.json"` with
//! a URL pointing at the caller's own server would send that file as the
//! password.
//!
//! So a REST connector may name a file only under a directory the operator
//! lists in `[http] allowed_file_dirs` (empty by default: no files at all).
//! Two checks, in two places:
//! - [`AllowedFileDirs::check`] at create/update time, pure (nothing on disk is
//!   touched): the path must be absolute, free of `.`/`..` components, and lie
//!   (component-wise) under an allowed directory.
//! - [`AllowedFileDirs::check_on_disk`] when the pipeline starts, before any
//!   file is read: the path with symlinks resolved must still lie under an
//!   allowed directory (itself resolved), so a symlink cannot escape.
//!
//! Pipelines of the config file are not restricted: the operator wrote them.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value};

use super::ConnectorConfig;
use crate::config::{tls, ConfigError};

/// The directories under which REST connectors may name local files
/// (`[http] allowed_file_dirs`), lexically normalised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedFileDirs(Vec<PathBuf>, Vec<String>);

/// One local file a connector names: the key that names it and the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalFile {
    /// The config key (for a URL parameter: `connection.url` and the parameter).
    pub key: String,
    /// The path as written.
    pub path: String,
}

/// Why a directory of `allowed_file_dirs` is unusable (pure check).
pub fn check_allowed_dir(dir: &str) -> Result<PathBuf, String> {
    normalised(dir)
        .ok_or_else(|| format!("\"{dir}\" must be an absolute path without '.' or '..' components"))
}

/// `path` as components when it is absolute and has no `.`/`..` component.
fn normalised(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    if !p.is_absolute() {
        return None;
    }
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::Normal(_) => out.push(c),
            Component::CurDir | Component::ParentDir | Component::Prefix(_) => return None,
        }
    }
    // `Path::components` drops interior `.`; refuse it as written.
    if path.split('/').any(|seg| seg == "." || seg == "..") {
        return None;
    }
    Some(out)
}

impl AllowedFileDirs {
    /// From the config's list; directories that are not absolute and
    /// normalised are left out (`Config::validate` reports them).
    pub fn new(dirs: &[String]) -> AllowedFileDirs {
        AllowedFileDirs(
            dirs.iter().filter_map(|d| normalised(d)).collect(),
            Vec::new(),
        )
    }

    /// Also allows `${env:VAR}` for the variables of `[http] allowed_env_vars`
    /// (`NAME`, or `PREFIX*`).
    pub fn with_env_vars(mut self, vars: &[String]) -> AllowedFileDirs {
        self.1 = vars.to_vec();
        self
    }

    /// Whether a REST connector may read the environment variable `var`.
    pub fn env_var_allowed(&self, var: &str) -> bool {
        self.1.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => !prefix.is_empty() && var.starts_with(prefix),
            None => p == var,
        })
    }

    /// `[http] allowed_env_vars`, for messages.
    pub fn env_vars_listed(&self) -> String {
        format!("[{}]", self.1.join(", "))
    }

    fn listed(&self) -> String {
        let dirs: Vec<String> = self.0.iter().map(|d| d.display().to_string()).collect();
        format!("[{}]", dirs.join(", "))
    }

    /// Pure: whether `file` may be used by a REST connector (nothing on disk
    /// is read or resolved).
    pub fn check(&self, pipeline: &str, file: &LocalFile) -> Result<(), ConfigError> {
        let refuse = |why: String| ConfigError::Invalid {
            pipeline: pipeline.to_string(),
            key: file.key.clone(),
            reason: format!("names the local file \"{}\"; {why}", file.path),
        };
        if self.0.is_empty() {
            return Err(refuse(
                "connectors created over the REST API may not name local files unless the operator lists their directory in [http] allowed_file_dirs (empty)".into(),
            ));
        }
        let Some(path) = normalised(&file.path) else {
            return Err(refuse(format!(
                "it must be an absolute path without '.' or '..' components, under [http] allowed_file_dirs {}",
                self.listed()
            )));
        };
        if self.0.iter().any(|d| path.starts_with(d) && path != *d) {
            Ok(())
        } else {
            Err(refuse(format!(
                "it is not under [http] allowed_file_dirs {}",
                self.listed()
            )))
        }
    }

    /// At pipeline start, before reading: `file` with symlinks resolved (its
    /// directory, when the file does not exist yet) lies under an allowed
    /// directory with symlinks resolved.
    pub fn check_on_disk(&self, pipeline: &str, file: &LocalFile) -> Result<(), ConfigError> {
        self.check(pipeline, file)?;
        let path = Path::new(&file.path);
        let resolved = match std::fs::canonicalize(path) {
            Ok(p) => Some(p),
            Err(_) => path.parent().and_then(|dir| {
                let name = path.file_name()?;
                std::fs::canonicalize(dir).ok().map(|d| d.join(name))
            }),
        };
        let inside = resolved.is_some_and(|p| {
            self.0
                .iter()
                .filter_map(|d| std::fs::canonicalize(d).ok())
                .any(|d| p.starts_with(&d) && p != d)
        });
        if inside {
            Ok(())
        } else {
            Err(ConfigError::Invalid {
                pipeline: pipeline.to_string(),
                key: file.key.clone(),
                reason: format!(
                    "the local file \"{}\" does not resolve (symlinks followed) to a path under [http] allowed_file_dirs {}",
                    file.path,
                    self.listed()
                ),
            })
        }
    }
}

/// Whether a config key names a file: `*_file`, `*.file`, `*_location`,
/// `*.location`, `*_path`, `*.path`, and the `ssl_ca`/`ssl_cert`/`ssl_key` keys.
fn is_file_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let tail = k.rsplit(['.', '_']).next().unwrap_or("");
    let ssl = k.starts_with("ssl") || k.starts_with("database.ssl");
    matches!(tail, "file" | "location" | "path" | "dir")
        || (ssl && matches!(tail, "ca" | "cert" | "key" | "rootcert" | "crl"))
}

/// Whether a URL parameter names a local file or socket.
fn is_file_param(key: &str, value: &str) -> bool {
    let k = key.to_ascii_lowercase();
    matches!(
        k.as_str(),
        "sslrootcert"
            | "sslcert"
            | "sslkey"
            | "sslca"
            | "ssl_ca"
            | "ssl_cert"
            | "ssl_key"
            | "sslcrl"
            | "sslcrldir"
            | "passfile"
            | "socket"
    ) || k.ends_with("file")
        || k.ends_with("path")
        || (k == "host" && (value.starts_with('/') || value.starts_with('@')))
}

/// Every local file `config` names, typed fields first (under the key the
/// user spelled), then any other file-naming key of the raw map.
pub fn named_files(config: &ConnectorConfig, raw: &Map<String, Value>) -> Vec<LocalFile> {
    let spelled = |keys: &[&str]| {
        keys.iter()
            .find(|k| raw.contains_key(**k))
            .or(keys.first())
            .map_or_else(String::new, |k| (*k).to_string())
    };
    let (url, typed) = match config {
        ConnectorConfig::Source(c) => (
            &c.url,
            [
                ("password_file", c.password_file.as_ref()),
                ("ssl_ca", c.ssl_ca.as_ref()),
                ("ssl_cert", c.ssl_cert.as_ref()),
                ("ssl_key", c.ssl_key.as_ref()),
            ],
        ),
        ConnectorConfig::Sink(c) => (
            &c.url,
            [
                ("password_file", c.password_file.as_ref()),
                ("ssl_ca", c.ssl_ca.as_ref()),
                ("ssl_cert", c.ssl_cert.as_ref()),
                ("ssl_key", c.ssl_key.as_ref()),
            ],
        ),
    };
    let mut out = Vec::new();
    for (key, value) in typed {
        if let Some(path) = value {
            let dotted = key.replacen('_', ".", 1);
            out.push(LocalFile {
                key: spelled(&[key, &dotted]),
                path: path.clone(),
            });
        }
    }
    let url_key = spelled(&["connection.url", "url", "connection_url"]);
    out.extend(url_files(url).into_iter().map(|(what, path)| LocalFile {
        key: if what.is_empty() {
            url_key.clone()
        } else {
            format!("{url_key} ({what})")
        },
        path,
    }));
    for (k, v) in raw {
        let known = out.iter().any(|f| f.key == *k);
        if let (false, true, Some(path)) = (known, is_file_key(k), v.as_str()) {
            if !path.trim().is_empty() {
                out.push(LocalFile {
                    key: k.clone(),
                    path: path.to_string(),
                });
            }
        }
    }
    out
}

/// The files a URL names: ("", path) for a SQLite database file, (parameter,
/// path) for a URL parameter naming a file, socket or socket directory.
fn url_files(url: &str) -> Vec<(String, String)> {
    let native = url.strip_prefix("jdbc:").unwrap_or(url);
    if let Some(path) = native
        .strip_prefix("sqlite://")
        .or_else(|| native.strip_prefix("sqlite:"))
    {
        // `:memory:` opens no file.
        return if path == ":memory:" {
            vec![]
        } else {
            vec![(String::new(), path.to_string())]
        };
    }
    let mut out = Vec::new();
    let (_, tls, _) = tls::split_url_tls(native);
    for (what, file) in [
        ("sslrootcert", tls.ca),
        ("sslcert", tls.cert),
        ("sslkey", tls.key),
    ] {
        out.extend(file.map(|f| (what.to_string(), f)));
    }
    if let Some((_, query)) = native.split_once('?') {
        for p in crate::config::secret::params(query) {
            let (k, v) = (&query[p.key.clone()], &query[p.value.clone()]);
            let tls_key = matches!(
                k.to_ascii_lowercase().as_str(),
                "sslrootcert" | "sslcert" | "sslkey" | "sslca" | "ssl_ca" | "ssl_cert" | "ssl_key"
            );
            if !tls_key && is_file_param(k, v) {
                out.push((k.to_string(), crate::config::secret::percent_decode(v)));
            }
        }
    }
    // A PostgreSQL host written as a socket directory: `postgres://%2Fvar%2Frun/db`.
    if let Some((_, rest)) = native.split_once("://") {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        let host = authority.rsplit('@').next().unwrap_or("");
        if host.to_ascii_lowercase().starts_with("%2f") {
            out.push((
                "host".to_string(),
                crate::config::secret::percent_decode(host),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests;
