//! Kafka Connect's transform keys on a source or sink: `transforms` and
//! `predicates` (alias lists) and every `transforms.<alias>.<key>` /
//! `predicates.<alias>.<key>`, which are folded into one
//! `transform_settings` table before serde reads the section (their names
//! are not known in advance), then checked by building the chain.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ConfigError;
use crate::transforms::{Chain, TransformError};

/// The table the dynamic keys are folded into.
pub const TRANSFORM_SETTINGS: &str = "transform_settings";

fn is_transform_key(k: &str) -> bool {
    k.starts_with("transforms.") || k.starts_with("predicates.")
}

/// Moves a section's `transforms.*` and `predicates.*` keys into its
/// `transform_settings` table (values as strings, as Connect reads them).
pub fn fold_transforms(section: &mut Map<String, Value>) {
    super::fold_into_table(section, TRANSFORM_SETTINGS, is_transform_key, str::to_owned);
}

/// Deserializes `[[sink]]` sections, folding each one's transform keys first.
pub fn sinks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<super::SinkConfig>, D::Error> {
    use serde::Deserialize;
    let raw = Vec::<Map<String, Value>>::deserialize(d)?;
    raw.into_iter()
        .map(|mut section| {
            fold_transforms(&mut section);
            super::section_from_value(section)
        })
        .collect()
}

/// Builds the chain a pipeline's keys describe; a bad key is a config error
/// naming it.
pub fn chain(
    pipeline: &str,
    transforms: &[String],
    predicates: &[String],
    settings: &BTreeMap<String, String>,
) -> Result<Chain, ConfigError> {
    Chain::new(transforms, predicates, settings).map_err(|e| match e {
        TransformError::Config { key, reason } => ConfigError::Invalid {
            pipeline: pipeline.to_owned(),
            key,
            reason,
        },
        other => ConfigError::Invalid {
            pipeline: pipeline.to_owned(),
            key: "transforms".into(),
            reason: other.to_string(),
        },
    })
}

impl super::SourceConfig {
    /// The source's transform chain (empty when `transforms` is unset).
    pub fn transform_chain(&self) -> Result<Chain, ConfigError> {
        chain(
            &self.name,
            &self.transforms,
            &self.predicates,
            &self.transform_settings,
        )
    }
}

impl super::SinkConfig {
    /// The sink's transform chain (empty when `transforms` is unset).
    /// Schemaless topics (`schemas.enable = false`) are typed by the target
    /// table, after the topic is known, so they take no transforms.
    pub fn transform_chain(&self) -> Result<Chain, ConfigError> {
        let chain = chain(
            &self.name,
            &self.transforms,
            &self.predicates,
            &self.transform_settings,
        )?;
        if !chain.is_empty()
            && (self.key_converter_schemas_enable == Some(false)
                || self.value_converter_schemas_enable == Some(false))
        {
            return Err(ConfigError::Invalid {
                pipeline: self.name.clone(),
                key: "transforms".into(),
                reason: "transforms need records with schemas; this sink reads schemaless \
                         JSON (*.converter.schemas.enable = false)"
                    .into(),
            });
        }
        Ok(chain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_transform_keys_fold_into_one_table_as_strings() {
        let mut m: Map<String, Value> = serde_json::from_str(
            r#"{"name":"x","transforms":"a","transforms.a.type":"T","transforms.a.negate":true,"predicates.p.type":"P"}"#,
        )
        .expect("json");
        fold_transforms(&mut m);
        assert_eq!(m["transforms"], "a");
        assert_eq!(m[TRANSFORM_SETTINGS]["transforms.a.type"], "T");
        assert_eq!(m[TRANSFORM_SETTINGS]["transforms.a.negate"], "true");
        assert_eq!(m[TRANSFORM_SETTINGS]["predicates.p.type"], "P");
        assert!(!m.contains_key("transforms.a.type"));
    }

    fn connect(
        json: serde_json::Value,
    ) -> Result<crate::config::connect_json::ConnectorConfig, ConfigError> {
        let Value::Object(map) = json else {
            panic!("an object")
        };
        super::super::connect_json::from_connect("x", &map, &Default::default())
    }

    #[test]
    fn connect_configs_carry_transforms_and_refuse_bad_keys_by_name() {
        let sink = serde_json::json!({
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "connection.url": "jdbc:postgresql://127.0.0.1:5432/x?user=postgres",
            "topics": "a",
            "transforms": "unwrap",
            "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
            "transforms.unwrap.delete.tombstone.handling.mode": "rewrite"
        });
        let Ok(crate::config::connect_json::ConnectorConfig::Sink(s)) = connect(sink.clone())
        else {
            panic!("a sink with transforms is accepted")
        };
        assert_eq!(s.transforms, vec!["unwrap".to_owned()]);
        assert!(!s.transform_chain().expect("chain").is_empty());
        let mut bad = sink;
        bad["transforms.unwrap.delete.handling.mode"] = "rewrite".into();
        let e = connect(bad).expect_err("a removed Debezium key is refused");
        assert!(
            e.to_string()
                .contains("transforms.unwrap.delete.handling.mode"),
            "{e}"
        );
        let source = serde_json::json!({
            "connector.class": "io.debezium.connector.mysql.MySqlConnector",
            "database.hostname": "127.0.0.1", "database.port": "3307", "database.user": "root",
            "topic.prefix": "shop", "schema.history.internal.kafka.topic": "h",
            "transforms": "route",
            "transforms.route.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.route.regex": "shop\\.(.*)",
            "transforms.route.replacement": "$1"
        });
        let Ok(crate::config::connect_json::ConnectorConfig::Source(s)) = connect(source) else {
            panic!("a Debezium source with transforms is accepted")
        };
        assert_eq!(s.transforms, vec!["route".to_owned()]);
        assert!(s.transform_settings.contains_key("transforms.route.regex"));
    }
}
