//! Debezium's signal channels of a binlog source (`signal_enabled_channels`,
//! `signal_kafka_*`, `signal.consumer.*`): which are read, the Kafka signal
//! topic, its reader's properties, and their checks.
//!
//! # `signal.consumer.<prop>`
//! Debezium hands these keys to the Java consumer of the signal topic; Sluice
//! reads the topic with librdkafka, after `[kafka]`'s settings (brokers
//! aside: `signal_kafka_bootstrap_servers`). A key is accepted only when
//! Java's consumer and librdkafka name the same property ([`SHARED`]: same
//! meaning, same values; `fetch.max.wait.ms`, librdkafka's
//! `fetch.wait.max.ms`, is the one renamed), and is then set after the
//! inherited settings. Any other key is refused by name, with what to use
//! instead: Java's TLS/SASL keys (`ssl.truststore.location`,
//! `sasl.jaas.config`, …) belong in `[kafka]`, which the reader inherits;
//! the reader's own settings (group, commits, isolation, start) are Sluice's.
//! The keys are folded into the `signal_consumer` table before the section
//! is deserialized ([`fold_signal_consumer`]), so unknown keys stay refused.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::source::SourceConfig;
use super::ConfigError;

/// Prefix of Debezium's signal-consumer pass-through keys.
const PREFIX: &str = "signal.consumer.";

/// The field `signal.consumer.*` keys are folded into.
const FIELD: &str = "signal_consumer";

/// What a shared property's value must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Any non-empty text.
    Text,
    /// A whole number.
    Int,
    /// `true` or `false` (any case).
    Bool,
    /// One of these (any case; passed in this spelling).
    OneOf(&'static [&'static str]),
}

/// Consumer properties Java's client and librdkafka share: Debezium's name,
/// the librdkafka names set (every spelling of an alias, so none left from
/// `[kafka]` can win), and the value's kind.
const SHARED: &[(&str, &[&str], Kind)] = &[
    (
        "security.protocol",
        &["security.protocol"],
        Kind::OneOf(&["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]),
    ),
    (
        "sasl.mechanism",
        &["sasl.mechanism", "sasl.mechanisms"],
        Kind::OneOf(&[
            "PLAIN",
            "SCRAM-SHA-256",
            "SCRAM-SHA-512",
            "GSSAPI",
            "OAUTHBEARER",
        ]),
    ),
    (
        "sasl.kerberos.service.name",
        &["sasl.kerberos.service.name"],
        Kind::Text,
    ),
    (
        "sasl.kerberos.min.time.before.relogin",
        &["sasl.kerberos.min.time.before.relogin"],
        Kind::Int,
    ),
    ("client.id", &["client.id"], Kind::Text),
    ("client.rack", &["client.rack"], Kind::Text),
    (
        "client.dns.lookup",
        &["client.dns.lookup"],
        Kind::OneOf(&[
            "use_all_dns_ips",
            "resolve_canonical_bootstrap_servers_only",
        ]),
    ),
    ("fetch.min.bytes", &["fetch.min.bytes"], Kind::Int),
    ("fetch.max.bytes", &["fetch.max.bytes"], Kind::Int),
    ("fetch.max.wait.ms", &["fetch.wait.max.ms"], Kind::Int),
    (
        "max.partition.fetch.bytes",
        &["max.partition.fetch.bytes", "fetch.message.max.bytes"],
        Kind::Int,
    ),
    ("check.crcs", &["check.crcs"], Kind::Bool),
    ("reconnect.backoff.ms", &["reconnect.backoff.ms"], Kind::Int),
    (
        "reconnect.backoff.max.ms",
        &["reconnect.backoff.max.ms"],
        Kind::Int,
    ),
    ("retry.backoff.ms", &["retry.backoff.ms"], Kind::Int),
    ("retry.backoff.max.ms", &["retry.backoff.max.ms"], Kind::Int),
    ("metadata.max.age.ms", &["metadata.max.age.ms"], Kind::Int),
    (
        "connections.max.idle.ms",
        &["connections.max.idle.ms"],
        Kind::Int,
    ),
    (
        "socket.connection.setup.timeout.ms",
        &["socket.connection.setup.timeout.ms"],
        Kind::Int,
    ),
];

/// Moves a section's `signal.consumer.<prop>` keys into its
/// `signal_consumer` table (values as text), before it is deserialized.
pub(super) fn fold_signal_consumer(section: &mut Map<String, Value>) {
    super::fold_into_table(
        section,
        FIELD,
        |k| k.starts_with(PREFIX),
        |k| k[PREFIX.len()..].to_owned(),
    );
}

/// The librdkafka properties a `signal.consumer.<prop>` key sets, or why it
/// is refused.
fn consumer_property(prop: &str, value: &str) -> Result<Vec<(&'static str, String)>, String> {
    let Some((_, names, kind)) = SHARED.iter().find(|(p, _, _)| *p == prop) else {
        return Err(refusal(prop));
    };
    let value = value.trim();
    let value = match kind {
        Kind::Text if value.is_empty() => return Err("must not be empty".into()),
        Kind::Text => value.to_string(),
        Kind::Int => match value.parse::<i64>() {
            Ok(n) => n.to_string(),
            Err(_) => return Err(format!("must be a whole number, not \"{value}\"")),
        },
        Kind::Bool => match value.to_ascii_lowercase().as_str() {
            b @ ("true" | "false") => b.to_string(),
            _ => return Err(format!("must be true or false, not \"{value}\"")),
        },
        Kind::OneOf(choices) => match choices.iter().find(|c| c.eq_ignore_ascii_case(value)) {
            Some(c) => (*c).to_string(),
            None => {
                return Err(format!(
                    "must be one of {}, not \"{value}\"",
                    choices.join(", ")
                ))
            }
        },
    };
    Ok(names.iter().map(|n| (*n, value.clone())).collect())
}

/// Why `signal.consumer.<prop>` is refused, and what to use instead.
fn refusal(prop: &str) -> String {
    let shared = || {
        SHARED
            .iter()
            .map(|(p, _, _)| *p)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match prop {
        "" => "names no consumer property".into(),
        "bootstrap.servers" => "set the signal topic's brokers with signal.kafka.bootstrap.servers".into(),
        "group.id" => "set the signal reader's group with signal.kafka.groupId".into(),
        "enable.auto.commit" | "auto.commit.interval.ms" | "auto.offset.reset" | "isolation.level" => {
            "is the signal reader's own setting: it reads committed records only, starts after the signal offset stored with the source's position, and commits a signal's offset once its effect is stored".into()
        }
        "allow.auto.create.topics" => {
            "the signal topic is never created by its reader: create it with one partition (`sluice check` tells when it is missing)".into()
        }
        "session.timeout.ms" | "heartbeat.interval.ms" | "max.poll.interval.ms"
        | "max.poll.records" | "group.instance.id" | "partition.assignment.strategy" => {
            "has no effect here: the signal reader is assigned partition 0 and never joins its group".into()
        }
        "key.deserializer" | "value.deserializer" => {
            "is a Java class: Sluice reads the signal's key and value as text (JSON)".into()
        }
        "fetch.wait.max.ms" => "is librdkafka's name: Debezium's key is signal.consumer.fetch.max.wait.ms".into(),
        "sasl.jaas.config" => "is a Java client setting librdkafka does not read: set it in [kafka] (sasl_jaas_config, or sasl_username and sasl_password), which the signal reader inherits".into(),
        p if p.starts_with("ssl.") || p.starts_with("sasl.") => format!(
            "is not a TLS/SASL property Java's consumer and librdkafka share: the signal reader inherits [kafka]'s TLS and SASL settings (ssl_ca_location, ssl_certificate_location, ssl_key_location, ssl_endpoint_identification_algorithm, sasl_username, sasl_password, ...); per signal channel only security.protocol, sasl.mechanism and sasl.kerberos.* may differ (it takes: {})",
            shared()
        ),
        _ => format!(
            "is not a consumer property Sluice passes to the signal reader (librdkafka and Java's consumer share: {})",
            shared()
        ),
    }
}

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

    /// The librdkafka properties of the signal topic's reader from
    /// `signal.consumer.*`, set after the inherited `[kafka]` settings
    /// (keys `validate` refuses are left out).
    pub fn signal_consumer_properties(&self) -> Vec<(&'static str, String)> {
        self.signal_consumer
            .iter()
            .filter_map(|(k, v)| consumer_property(k, v).ok())
            .flatten()
            .collect()
    }

    /// Binlog: the channels are ones Sluice reads, and the `signal_kafka_*`
    /// and `signal.consumer.*` keys come with the `kafka` channel.
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
        check_consumer_properties(&self.signal_consumer, self.signal_channel("kafka"))
            .map_err(|(key, reason)| invalid(&key, reason))
    }
}

/// The `signal.consumer.*` keys: each is a shared property with a valid
/// value, and they come with the `kafka` channel; else `(key, reason)`.
fn check_consumer_properties(
    props: &BTreeMap<String, String>,
    kafka_channel: bool,
) -> Result<(), (String, String)> {
    for (prop, value) in props {
        let key = format!("{PREFIX}{prop}");
        if !kafka_channel {
            return Err((
                key,
                "is read only with the kafka signal channel: add \"kafka\" to signal_enabled_channels".into(),
            ));
        }
        consumer_property(prop, value).map_err(|reason| (key, reason))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::connect_json::{from_connect, AllowedFileDirs, ConnectorConfig};
    use crate::config::Config;
    use serde_json::json;

    const BINLOG: &str = "[[source]]\nname='s'\nkind='binlog'\nurl='mysql://h/d'\n\
                          \"signal.enabled.channels\" = \"source,kafka\"\n";

    fn load(extra: &str) -> Config {
        Config::from_toml_str(&format!("{BINLOG}{extra}")).expect("load")
    }

    fn errors(extra: &str) -> Vec<String> {
        load(extra)
            .validate()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn shared_signal_consumer_keys_fold_and_map_to_librdkafka_names() {
        let c = load(
            "\"signal.consumer.fetch.max.wait.ms\" = \"50\"\n\
             \"signal.consumer.security.protocol\" = \"sasl_ssl\"\n\
             \"signal.consumer.sasl.mechanism\" = \"SCRAM-SHA-512\"\n\
             \"signal.consumer.check.crcs\" = true\n\
             \"signal.consumer.max.partition.fetch.bytes\" = 2048\n",
        );
        assert!(c.validate().is_empty(), "{:?}", c.validate());
        let mut props = c.source[0].signal_consumer_properties();
        props.sort();
        let want: Vec<(&str, String)> = vec![
            ("check.crcs", "true".into()),
            ("fetch.message.max.bytes", "2048".into()),
            ("fetch.wait.max.ms", "50".into()),
            ("max.partition.fetch.bytes", "2048".into()),
            ("sasl.mechanism", "SCRAM-SHA-512".into()),
            ("sasl.mechanisms", "SCRAM-SHA-512".into()),
            ("security.protocol", "SASL_SSL".into()),
        ];
        assert_eq!(props, want);
    }

    #[test]
    fn other_signal_consumer_keys_are_refused_by_name_with_what_to_use() {
        let cases = [
            ("ssl.truststore.location", "/t.jks", "ssl_ca_location"),
            ("sasl.jaas.config", "x", "sasl_jaas_config"),
            ("ssl.ca.location", "/ca.pem", "[kafka]"),
            ("group.id", "g", "signal.kafka.groupId"),
            (
                "bootstrap.servers",
                "k:9092",
                "signal.kafka.bootstrap.servers",
            ),
            ("isolation.level", "read_uncommitted", "committed records"),
            (
                "fetch.wait.max.ms",
                "50",
                "signal.consumer.fetch.max.wait.ms",
            ),
            ("session.timeout.ms", "10000", "never joins"),
            ("no.such.prop", "1", "fetch.min.bytes"),
            ("fetch.min.bytes", "many", "whole number"),
            ("security.protocol", "TLS", "SASL_SSL"),
            ("check.crcs", "yes", "true or false"),
        ];
        for (prop, value, hint) in cases {
            let e = errors(&format!("\"signal.consumer.{prop}\" = \"{value}\"\n"));
            assert!(
                e.iter()
                    .any(|e| e.contains(&format!("signal.consumer.{prop}")) && e.contains(hint)),
                "{prop}: {e:?}"
            );
        }
        // Without the kafka channel.
        let e: Vec<String> = Config::from_toml_str(
            "[[source]]\nname='s'\nkind='binlog'\nurl='mysql://h/d'\n\"signal.consumer.client.id\" = \"c\"\n",
        )
        .expect("load")
        .validate()
        .iter()
        .map(ToString::to_string)
        .collect();
        assert!(
            e.iter()
                .any(|e| e.contains("signal.consumer.client.id")
                    && e.contains("kafka signal channel")),
            "{e:?}"
        );
    }

    #[test]
    fn connect_configs_take_the_same_keys_and_refusals() {
        let config = |extra: (&str, &str)| {
            let mut c = json!({
                "connector.class": "io.debezium.connector.mysql.MySqlConnector",
                "database.hostname": "h", "database.user": "u", "database.password": "p",
                "database.server.id": "5", "topic.prefix": "srv",
                "signal.enabled.channels": "source,kafka",
            });
            c[extra.0] = json!(extra.1);
            c.as_object().cloned().unwrap_or_default()
        };
        let built = from_connect(
            "dbz",
            &config(("signal.consumer.client.rack", "r1")),
            &AllowedFileDirs::default(),
        );
        let Ok(ConnectorConfig::Source(s)) = built else {
            panic!("refused: {built:?}");
        };
        assert_eq!(
            s.signal_consumer_properties(),
            vec![("client.rack", "r1".to_string())]
        );
        let e = from_connect(
            "dbz",
            &config(("signal.consumer.ssl.truststore.location", "/t.jks")),
            &AllowedFileDirs::default(),
        )
        .expect_err("refused")
        .to_string();
        assert!(
            e.contains("signal.consumer.ssl.truststore.location") && e.contains("[kafka]"),
            "{e}"
        );
    }
}
