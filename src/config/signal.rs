//! Debezium's signal channels of a binlog source (`signal_enabled_channels`,
//! `signal_kafka_*`): which are read, the Kafka signal topic, and their checks.

use super::source::SourceConfig;
use super::ConfigError;

impl SourceConfig {
    /// True when Debezium's signal channel `channel` (`source`, `kafka`) is
    /// enabled (`signal_enabled_channels`; empty: `source` only).
    pub fn signal_channel(&self, channel: &str) -> bool {
        if self.signal_enabled_channels.is_empty() {
            return channel == "source";
        }
        self.signal_enabled_channels
            .iter()
            .any(|c| c.eq_ignore_ascii_case(channel))
    }

    /// The Kafka signal topic: `signal_kafka_topic`, else Debezium's
    /// default `<server_name>-signal`.
    pub fn signal_topic(&self) -> String {
        self.signal_kafka_topic
            .clone()
            .unwrap_or_else(|| format!("{}-signal", self.logical_name()))
    }

    /// Binlog: the channels are ones Sluice reads, and the `signal_kafka_*`
    /// keys come with the `kafka` channel.
    pub(super) fn validate_signal_channels(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            pipeline: self.name.clone(),
            key: key.into(),
            reason,
        };
        for c in &self.signal_enabled_channels {
            if !["source", "kafka"].contains(&c.to_ascii_lowercase().as_str()) {
                return Err(invalid(
                    "signal_enabled_channels",
                    format!("`{c}` is not a signal channel Sluice reads (source, kafka; the REST API replaces jmx and file)"),
                ));
            }
        }
        let kafka_keys = [
            ("signal_kafka_topic", &self.signal_kafka_topic),
            (
                "signal_kafka_bootstrap_servers",
                &self.signal_kafka_bootstrap_servers,
            ),
            ("signal_kafka_group_id", &self.signal_kafka_group_id),
        ];
        for (key, value) in kafka_keys {
            match value.as_deref().map(str::trim) {
                Some(_) if !self.signal_channel("kafka") => {
                    return Err(invalid(
                        key,
                        "is read only with the kafka signal channel: add \"kafka\" to signal_enabled_channels".into(),
                    ))
                }
                Some("") => return Err(invalid(key, "must not be empty".into())),
                _ => {}
            }
        }
        Ok(())
    }
}
