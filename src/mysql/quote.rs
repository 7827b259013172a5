//! MySQL/MariaDB identifier quoting: backquotes, inner backquotes doubled.
//! Any string becomes one identifier, so a name can never end the quoted
//! span and inject SQL. Checking that a name is *storable* (length, NUL,
//! characters outside the BMP) is the caller's business (the sink's dialect
//! rejects such names before it quotes them).

/// Quotes a MySQL identifier with backticks (`` a`b `` → `` `a``b` ``).
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
        assert_eq!(quote(""), "``");
    }
}
