//! MySQL connections for sources: pool options, session setup, error classes.

use mysql_async::{Opts, OptsBuilder, Pool};

use crate::config::DbEndpoint;

/// Session setup every source connection runs: UTC for TIMESTAMP values,
/// utf8mb4 so text in any column charset arrives as UTF-8.
const SESSION_INIT: [&str; 2] = ["SET time_zone = '+00:00'", "SET NAMES utf8mb4"];

/// Builds a pool for `endpoint` (a `mysql://` URL plus credentials).
pub fn pool(endpoint: &DbEndpoint) -> Result<Pool, mysql_async::Error> {
    let opts = Opts::from_url(&endpoint.url)?;
    let mut b = OptsBuilder::from_opts(opts).init(SESSION_INIT.to_vec());
    if let Some(u) = &endpoint.user {
        b = b.user(Some(u.clone()));
    }
    if let Some(p) = &endpoint.password {
        b = b.pass(Some(p.expose().to_string()));
    }
    Ok(Pool::new(b))
}

/// Server error codes that retrying cannot fix.
const DEFINITE_CODES: &[u16] = &[
    1044, // access denied to database
    1045, // access denied for user
    1049, // unknown database
    1054, // unknown column
    1064, // syntax error
    1142, // command denied
    1146, // table doesn't exist
    1227, // privilege needed
    1236, // binlog purged / unknown position
];

/// True when the error is a lost connection or a server state that may pass.
pub fn is_transient(e: &mysql_async::Error) -> bool {
    match e {
        mysql_async::Error::Server(s) => !DEFINITE_CODES.contains(&s.code),
        mysql_async::Error::Url(_) => false,
        mysql_async::Error::Io(_)
        | mysql_async::Error::Driver(_)
        | mysql_async::Error::Other(_) => true,
    }
}

/// Quotes a MySQL identifier with backticks.
pub fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_backticks() {
        assert_eq!(quote("a`b"), "`a``b`");
        assert_eq!(quote("\"; DROP TABLE x; --"), "`\"; DROP TABLE x; --`");
    }
}
