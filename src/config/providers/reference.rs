//! The syntax of references: `${provider:[path:]key}` inside a string,
//! split as Connect's `ConfigTransformer` splits it; `$${` escapes.

use super::ProviderError;

/// One `${provider:[path:]key}` reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Provider name as written.
    pub provider: String,
    /// Path (empty when the reference has none).
    pub path: String,
    /// Key or variable.
    pub key: String,
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            write!(f, "${{{}:{}}}", self.provider, self.key)
        } else {
            write!(f, "${{{}:{}:{}}}", self.provider, self.path, self.key)
        }
    }
}

/// A piece of a parsed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text kept as written (escapes undone).
    Literal(String),
    /// A reference to resolve.
    Ref(Reference),
}

/// Splits `value` into literal text and references.
pub fn parse(value: &str) -> Result<Vec<Piece>, ProviderError> {
    let mut out = Vec::new();
    let mut literal = String::new();
    let mut rest = value;
    while let Some(i) = rest.find('$') {
        literal.push_str(&rest[..i]);
        let at = &rest[i..];
        if let Some(after) = at.strip_prefix("$${") {
            literal.push_str("${");
            rest = after;
            continue;
        }
        if !at.starts_with("${") {
            literal.push('$');
            rest = &at[1..];
            continue;
        }
        let body = &at[2..];
        let Some(close) = body.find('}') else {
            // No closing brace: no reference (as in Connect).
            literal.push_str(at);
            rest = "";
            break;
        };
        let inner = &body[..close];
        if inner.contains("${") {
            return Err(ProviderError::Nested {
                text: at.to_string(),
            });
        }
        match inner.split_once(':') {
            None => literal.push_str(&at[..close + 3]),
            Some((provider, tail)) => {
                let (path, key) = tail.split_once(':').unwrap_or(("", tail));
                if !literal.is_empty() {
                    out.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                out.push(Piece::Ref(Reference {
                    provider: provider.to_string(),
                    path: path.to_string(),
                    key: key.to_string(),
                }));
            }
        }
        rest = &body[close + 1..];
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        out.push(Piece::Literal(literal));
    }
    Ok(out)
}

/// Whether `value` holds at least one reference (or a malformed one).
pub fn has_references(value: &str) -> bool {
    parse(value).map_or(true, |p| p.iter().any(|p| matches!(p, Piece::Ref(_))))
}

/// Whether `value` is made of references only (nothing secret written in
/// it): the REST API shows such a value as written, like Connect.
pub fn only_references(value: &str) -> bool {
    parse(value).is_ok_and(|pieces| {
        !pieces.is_empty()
            && pieces.iter().all(|p| match p {
                Piece::Ref(_) => true,
                Piece::Literal(t) => t.trim().is_empty(),
            })
    })
}

/// Whether a REST config key declares a provider (`config.providers`,
/// `config.providers.<name>.class`, `config.providers.<name>.param.*`).
pub fn is_declaration_key(key: &str) -> bool {
    key == "config.providers" || key.starts_with("config.providers.")
}
