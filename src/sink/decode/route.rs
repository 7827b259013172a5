//! Topic → target table: `table_name_regex` / `table_name_replacement`
//! rename the topic as Kafka Connect's `RegexRouter` does (the whole topic
//! must match; `$1` or `${1}` name groups; a topic that does not match keeps
//! its name), then `${topic}` in `table_name_format` is replaced by the result.
//! Names are cached per topic, so the regex runs once per topic.

use std::collections::HashMap;

use crate::config::{ConfigError, SinkConfig};
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
    pub fn table_for(&mut self, topic: &str) -> String {
        self.table_ref(topic).to_string()
    }

    /// [`TableNamer::table_for`] without a copy.
    pub fn table_ref(&mut self, topic: &str) -> &str {
        if !self.cache.contains_key(topic) {
            let table = self.compute(topic);
            if self.cache.len() >= CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(topic.to_string(), table);
        }
        self.cache.get(topic).map_or("", String::as_str)
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

    #[test]
    fn default_is_the_topic() {
        assert_eq!(namer("").table_for("my_topic_users"), "my_topic_users");
    }

    #[test]
    fn regex_renames_whole_topic_matches_then_format_applies() {
        let mut n = namer(
            "table_name_regex = 'dbserver1\\.([^.]+)\\.(.+)'\ntable_name_replacement = '${1}_$2'\ntable_name_format = 'kafka_${topic}'",
        );
        assert_eq!(
            n.table_for("dbserver1.inventory.customers"),
            "kafka_inventory_customers"
        );
        // Not a whole-topic match: the topic stays as it is.
        assert_eq!(n.table_for("x.dbserver1.a.b"), "kafka_x.dbserver1.a.b");
        // Cached answers are the same.
        assert_eq!(
            n.table_for("dbserver1.inventory.customers"),
            "kafka_inventory_customers"
        );
    }

    #[test]
    fn connect_names_are_accepted() {
        let mut n =
            namer("\"table.name.regex\" = 'orders_(.*)'\n\"table.name.replacement\" = 'o_$1'");
        assert_eq!(n.table_for("orders_eu"), "o_eu");
    }
}
