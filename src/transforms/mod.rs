//! Single message transforms (SMTs), configured as Kafka Connect configures
//! them (`transforms = "unwrap,route"`, `"transforms.unwrap.type" = "…"`,
//! `predicates`, `"predicates.<alias>.type"`) and behaving as Connect's own
//! classes do on the JSON converter's records. A source applies its chain
//! to every record before it is published; a sink to every consumed record
//! before it is mapped to a row (so `RegexRouter` renames the table, as it
//! does for Connect's JDBC sink).
//!
//! Supported types (each with Connect's `$Key`/`$Value` variants where it has them):
//! * `io.debezium.transforms.ExtractNewRecordState` ([`unwrap`]);
//! * `org.apache.kafka.connect.transforms.RegexRouter`, `Filter` ([`route`]);
//! * `ReplaceField`, `InsertField`, `MaskField` ([`fields`]);
//! * `TimestampConverter` ([`timestamp`]);
//! * predicates `RecordIsTombstone` and `TopicNameMatches`, with every
//!   transform's `predicate` and `negate`.
//!
//! Every key of a transform is checked when the config is loaded: an
//! unknown type or key is a config error naming it, never ignored.

mod fields;
pub mod record;
mod route;
mod timestamp;
mod unwrap;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

pub use record::{Data, Header, Record};

/// A transform chain's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransformError {
    /// A transform or predicate key is missing, unknown or invalid.
    #[error("`{key}` {reason}")]
    Config { key: String, reason: String },
    /// A key or value could not be read as a Connect JSON message.
    #[error("the record's {what} {reason}")]
    Message { what: &'static str, reason: String },
    /// A transform cannot apply to this record.
    #[error("{reason}")]
    Record { reason: String },
}

/// The `transforms.<alias>.` (or `predicates.<alias>.`) keys of one alias,
/// taken one by one so what is left over can be refused by name.
pub(crate) struct Props<'a> {
    prefix: String,
    left: BTreeMap<&'a str, &'a str>,
}

impl<'a> Props<'a> {
    fn new(prefix: String, all: &'a BTreeMap<String, String>) -> Props<'a> {
        let left = all
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(prefix.as_str()).map(|s| (s, v.as_str())))
            .collect();
        Props { prefix, left }
    }

    /// Takes `key`'s value.
    pub(crate) fn take(&mut self, key: &str) -> Option<String> {
        self.left.remove(key).map(str::to_owned)
    }

    /// Takes a boolean (`true`/`false`, any case), `default` when unset.
    pub(crate) fn bool(&mut self, key: &str, default: bool) -> Result<bool, TransformError> {
        match self.take(key) {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.invalid(key, format!("is `{v}`, not true or false"))),
            },
        }
    }

    /// Takes a required key.
    pub(crate) fn required(&mut self, key: &str) -> Result<String, TransformError> {
        self.take(key)
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| self.invalid(key, "is required".into()))
    }

    /// An error about `key` (named in full, with its prefix).
    pub(crate) fn invalid(&self, key: &str, reason: String) -> TransformError {
        TransformError::Config {
            key: format!("{}{key}", self.prefix),
            reason,
        }
    }

    /// Fails on the first key nobody took.
    fn finish(self, what: &str) -> Result<(), TransformError> {
        match self.left.keys().next() {
            None => Ok(()),
            Some(k) => Err(self.invalid(k, format!("is not a setting of {what}"))),
        }
    }
}

/// Which side of a record a `$Key`/`$Value` transform works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Key,
    Value,
}

impl Side {
    pub(crate) fn of(r: &mut Record, side: Side) -> &mut Option<Data> {
        match side {
            Side::Key => &mut r.key,
            Side::Value => &mut r.value,
        }
    }
}

#[derive(Debug)]
enum Smt {
    Unwrap(unwrap::ExtractNewRecordState),
    Router(route::RegexRouter),
    Filter,
    ReplaceField(fields::ReplaceField),
    InsertField(fields::InsertField),
    MaskField(fields::MaskField),
    Timestamp(timestamp::TimestampConverter),
}

#[derive(Debug)]
struct Step {
    alias: String,
    smt: Smt,
    predicate: Option<(route::Predicate, bool)>,
}

/// A configured chain of transforms; empty when none are configured.
#[derive(Debug, Default)]
pub struct Chain {
    steps: Vec<Step>,
}

const CONNECT: &str = "org.apache.kafka.connect.transforms.";

/// The `$Key`/`$Value` variants of `class` (`ReplaceField$Value` …).
fn sided(class: &str, base: &str) -> Option<Side> {
    let rest = class.strip_prefix(CONNECT)?.strip_prefix(base)?;
    match rest {
        "$Key" => Some(Side::Key),
        "$Value" => Some(Side::Value),
        _ => None,
    }
}

impl Chain {
    /// Builds the chain `transforms` names from the `transforms.*` and
    /// `predicates.*` settings in `props`.
    pub fn new(
        transforms: &[String],
        predicates: &[String],
        props: &BTreeMap<String, String>,
    ) -> Result<Chain, TransformError> {
        for key in props.keys() {
            let (kind, list) = if let Some(rest) = key.strip_prefix("transforms.") {
                (rest, transforms)
            } else if let Some(rest) = key.strip_prefix("predicates.") {
                (rest, predicates)
            } else {
                return Err(TransformError::Config {
                    key: key.clone(),
                    reason: "is neither a transforms.<alias>. nor a predicates.<alias>. key".into(),
                });
            };
            if !list.iter().any(|a| kind.starts_with(&format!("{a}."))) {
                let plural = if key.starts_with("transforms.") {
                    "transforms"
                } else {
                    "predicates"
                };
                return Err(TransformError::Config {
                    key: key.clone(),
                    reason: format!("belongs to an alias that `{plural}` does not list"),
                });
            }
        }
        let mut preds = Vec::new();
        for alias in predicates {
            let mut p = Props::new(format!("predicates.{alias}."), props);
            let pred = route::Predicate::configure(&mut p)?;
            p.finish("this predicate")?;
            preds.push((alias.clone(), pred));
        }
        let mut steps = Vec::new();
        for alias in transforms {
            let mut p = Props::new(format!("transforms.{alias}."), props);
            let class = p.required("type")?;
            let class = class.trim();
            let smt = if class == "io.debezium.transforms.ExtractNewRecordState" {
                Smt::Unwrap(unwrap::ExtractNewRecordState::configure(&mut p)?)
            } else if class == format!("{CONNECT}RegexRouter") {
                Smt::Router(route::RegexRouter::configure(&mut p)?)
            } else if class == format!("{CONNECT}Filter") {
                Smt::Filter
            } else if let Some(side) = sided(class, "ReplaceField") {
                Smt::ReplaceField(fields::ReplaceField::configure(&mut p, side)?)
            } else if let Some(side) = sided(class, "InsertField") {
                Smt::InsertField(fields::InsertField::configure(&mut p, side)?)
            } else if let Some(side) = sided(class, "MaskField") {
                Smt::MaskField(fields::MaskField::configure(&mut p, side)?)
            } else if let Some(side) = sided(class, "TimestampConverter") {
                Smt::Timestamp(timestamp::TimestampConverter::configure(&mut p, side)?)
            } else {
                return Err(p.invalid(
                    "type",
                    format!(
                        "`{class}` is not a transform Sluice runs; it runs \
                         io.debezium.transforms.ExtractNewRecordState and Connect's \
                         RegexRouter, Filter, ReplaceField, InsertField, MaskField and \
                         TimestampConverter ($Key/$Value)"
                    ),
                ));
            };
            let predicate = match p.take("predicate").filter(|s| !s.trim().is_empty()) {
                None => None,
                Some(name) => {
                    let Some((_, pred)) = preds.iter().find(|(a, _)| *a == name.trim()) else {
                        return Err(p.invalid(
                            "predicate",
                            format!("names `{name}`, which `predicates` does not list"),
                        ));
                    };
                    Some((pred.clone(), false))
                }
            };
            let negate = p.bool("negate", false)?;
            let predicate = predicate.map(|(pred, _)| (pred, negate));
            p.finish(class)?;
            steps.push(Step {
                alias: alias.clone(),
                smt,
                predicate,
            });
        }
        Ok(Chain { steps })
    }

    /// Whether the chain does nothing.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Whether a transform reads or writes record keys.
    pub fn uses_keys(&self) -> bool {
        self.steps.iter().any(|s| match &s.smt {
            Smt::ReplaceField(t) => t.side == Side::Key,
            Smt::InsertField(t) => t.side == Side::Key,
            Smt::MaskField(t) => t.side == Side::Key,
            Smt::Timestamp(t) => t.side == Side::Key,
            _ => false,
        })
    }

    /// Runs the chain; `None` when a transform dropped the record. An error
    /// names the transform's alias.
    pub fn apply(&self, mut record: Record) -> Result<Option<Record>, TransformError> {
        for step in &self.steps {
            if let Some((pred, negate)) = &step.predicate {
                if pred.test(&record) == *negate {
                    continue;
                }
            }
            let out = match &step.smt {
                Smt::Unwrap(t) => t.apply(record),
                Smt::Router(t) => Ok(Some(t.apply(record))),
                Smt::Filter => Ok(None),
                Smt::ReplaceField(t) => t.apply(record),
                Smt::InsertField(t) => t.apply(record),
                Smt::MaskField(t) => t.apply(record),
                Smt::Timestamp(t) => t.apply(record),
            }
            .map_err(|e| match e {
                TransformError::Record { reason } => TransformError::Record {
                    reason: format!("transform `{}`: {reason}", step.alias),
                },
                other => other,
            })?;
            match out {
                Some(r) => record = r,
                None => return Ok(None),
            }
        }
        Ok(Some(record))
    }
}
