//! Topic → target table: `table_name_regex` / `table_name_replacement`
//! rename the topic as Kafka Connect's `RegexRouter` does (the whole topic
//! must match; `$1` or `${1}` name groups; a topic that does not match keeps
//! its name), then `${topic}` in `table_name_format` is replaced by the result.
//! Names are cached per topic, so the regex runs once per topic.
//!
//! The offsets table (`sluice_sink_offsets`, any case) is reserved: a topic
//! that routes to it is refused with [`SinkError::ReservedTable`], a pipeline
//! error (a literal `table_name_format` naming it is refused by the config's
//! `validate`, before the pipeline starts).

use std::collections::HashMap;

use crate::config::{is_reserved_table, ConfigError, SinkConfig};
use crate::sink::SinkError;

/// Most topics whose table names are cached (a `topics_regex` may match many).
const CACHE_LIMIT: usize = 4096;

/// The topic-to-table rule of one sink.
#[derive(Debug, Clone)]
pub struct TableNamer {
    rename: Option<(regex::Regex, String)>,
    format: String,
    cache: HashMap<String, String>,
}

impl TableNamer {
    /// Builds the rule from the sink's config (the regex was checked by `validate`).
    pub fn new(cfg: &SinkConfig) -> Result<TableNamer, SinkError> {
        let rename = match cfg.table_rename_regex() {
            None => None,
            Some(Ok(re)) => Some((re, cfg.table_name_replacement.clone().unwrap_or_default())),
            Some(Err(e)) => {
                return Err(SinkError::Config(ConfigError::Invalid {
                    pipeline: cfg.name.clone(),
                    key: "table_name_regex".into(),
                    reason: format!("not a valid regex: {e}"),
                }))
            }
        };
        Ok(TableNamer {
            rename,
            format: cfg.table_name_format.clone(),
            cache: HashMap::new(),
        })
    }

    /// The target table for `topic`.
    pub fn table_for(&mut self, topic: &str) -> Result<String, SinkError> {
        self.table_ref(topic).map(str::to_string)
    }

    /// [`TableNamer::table_for`] without a copy; the offsets table is refused.
    pub fn table_ref(&mut self, topic: &str) -> Result<&str, SinkError> {
        if !self.cache.contains_key(topic) {
            let table = self.compute(topic);
            if is_reserved_table(&table) {
                return Err(SinkError::ReservedTable {
                    topic: topic.to_string(),
                    table,
                });
            }
            if self.cache.len() >= CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(topic.to_string(), table);
        }
        Ok(self.cache.get(topic).map_or("", String::as_str))
    }

    fn compute(&self, topic: &str) -> String {
        let renamed = match &self.rename {
            Some((re, replacement)) => match re.captures(topic) {
                Some(caps) => {
                    let mut out = String::new();
                    caps.expand(replacement, &mut out);
                    out
                }
                None => topic.to_string(),
            },
            None => topic.to_string(),
        };
        self.format.replace("${topic}", &renamed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn namer(extra: &str) -> TableNamer {
        let text = format!("[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\n{extra}\n");
        let c = Config::from_toml_str(&text).expect("load");
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        TableNamer::new(&c.sink[0]).expect("namer")
    }

    fn table(n: &mut TableNamer, topic: &str) -> String {
        n.table_for(topic).expect("not reserved")
    }

    #[test]
    fn default_is_the_topic() {
        assert_eq!(table(&mut namer(""), "my_topic_users"), "my_topic_users");
    }

    #[test]
    fn regex_renames_whole_topic_matches_then_format_applies() {
        let mut n = namer(
            "table_name_regex = 'dbserver1\\.([^.]+)\\.(.+)'\ntable_name_replacement = '${1}_$2'\ntable_name_format = 'kafka_${topic}'",
        );
        assert_eq!(
            table(&mut n, "dbserver1.inventory.customers"),
            "kafka_inventory_customers"
        );
        // Not a whole-topic match: the topic stays as it is.
        assert_eq!(table(&mut n, "x.dbserver1.a.b"), "kafka_x.dbserver1.a.b");
        // Cached answers are the same.
        assert_eq!(
            table(&mut n, "dbserver1.inventory.customers"),
            "kafka_inventory_customers"
        );
    }

    #[test]
    fn connect_names_are_accepted() {
        let mut n =
            namer("\"table.name.regex\" = 'orders_(.*)'\n\"table.name.replacement\" = 'o_$1'");
        assert_eq!(table(&mut n, "orders_eu"), "o_eu");
    }

    #[test]
    fn a_topic_routing_to_the_offsets_table_is_a_pipeline_error() {
        let mut n = namer("table_name_regex = 'x_(.*)'\ntable_name_replacement = 'sluice_$1'");
        for topic in ["x_sink_offsets", "x_SINK_OFFSETS"] {
            let err = n.table_for(topic).expect_err("reserved");
            assert!(matches!(err, SinkError::ReservedTable { .. }), "{err:?}");
            assert_eq!(err.fault(), crate::sink::Fault::Definite);
            assert!(err.to_string().contains("reserved"), "{err}");
        }
        // Other topics still route, and the refusal is not cached as a name.
        assert_eq!(table(&mut n, "x_orders"), "sluice_orders");
        assert!(n.table_for("x_sink_offsets").is_err());
        // A topic named like the table, without renaming, is refused too.
        assert!(namer("").table_for("sluice_sink_offsets").is_err());
    }

    #[test]
    fn a_literal_format_naming_the_offsets_table_is_refused_by_validate() {
        for format in ["sluice_sink_offsets", "Sluice_Sink_Offsets"] {
            let text = format!(
                "[[sink]]\nname='k'\nurl='mysql://h/d'\ntopics=['t']\ntable_name_format='{format}'\n"
            );
            let c = crate::config::Config::from_toml_str(&text).expect("load");
            let errs = c.validate();
            assert!(
                errs.iter()
                    .any(|e| e.to_string().contains("table_name_format")),
                "{errs:?}"
            );
        }
    }
}
