//! `[kafka]`: the brokers, the offsets topic, and how to reach a secured
//! cluster (TLS, SASL, mutual TLS, OAUTHBEARER with OIDC).
//!
//! The security keys are librdkafka's, spelled with `_` in TOML; Kafka's Java
//! names are aliases (`security.protocol`, `sasl.mechanism`,
//! `ssl.ca.location`, ...), and `sasl.jaas.config` is accepted as users paste
//! it from a Java client's config (its `username="…"` and `password="…"` are
//! taken). Java keystores (`ssl.truststore.*`, `ssl.keystore.*`) are refused
//! with the PEM key to use instead: librdkafka reads PEM files only.
//!
//! Validation is pure: `sasl_password_file` is read when a client is built
//! ([`KafkaConfig::security_properties`]). The keys here win over the same
//! librdkafka names in `[kafka.properties]`. Secrets are [`Secret`]s and
//! never print.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigError, Secret};

fn default_bootstrap() -> String {
    "127.0.0.1:9092".into()
}
fn default_offsets_topic() -> String {
    "sluice_offsets".into()
}

/// How clients talk to the brokers (librdkafka's `security.protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SecurityProtocol {
    /// Plain TCP, no authentication.
    #[serde(rename = "PLAINTEXT", alias = "plaintext")]
    Plaintext,
    /// TLS; with a client certificate, mutual TLS.
    #[serde(rename = "SSL", alias = "ssl")]
    Ssl,
    /// SASL over plain TCP.
    #[serde(rename = "SASL_PLAINTEXT", alias = "sasl_plaintext")]
    SaslPlaintext,
    /// SASL over TLS.
    #[serde(rename = "SASL_SSL", alias = "sasl_ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    /// librdkafka's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

/// The SASL mechanism (librdkafka's `sasl.mechanism`; no Kerberos).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SaslMechanism {
    /// Username and password in clear (use over TLS).
    #[serde(rename = "PLAIN", alias = "plain")]
    Plain,
    /// SCRAM with SHA-256.
    #[serde(rename = "SCRAM-SHA-256", alias = "scram-sha-256")]
    ScramSha256,
    /// SCRAM with SHA-512.
    #[serde(rename = "SCRAM-SHA-512", alias = "scram-sha-512")]
    ScramSha512,
    /// OAuth 2 bearer tokens, fetched from an OIDC token endpoint.
    #[serde(rename = "OAUTHBEARER", alias = "oauthbearer")]
    OauthBearer,
}

impl SaslMechanism {
    /// librdkafka's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::OauthBearer => "OAUTHBEARER",
        }
    }
}

/// `[kafka]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Broker list.
    #[serde(default = "default_bootstrap", alias = "bootstrap.servers")]
    pub bootstrap_servers: String,
    /// Compacted topic holding source positions.
    #[serde(default = "default_offsets_topic", alias = "offsets.storage.topic")]
    pub offsets_topic: String,
    /// `PLAINTEXT` (default), `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`.
    #[serde(default, alias = "security.protocol")]
    pub security_protocol: Option<SecurityProtocol>,
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    #[serde(default, alias = "sasl.mechanism")]
    pub sasl_mechanism: Option<SaslMechanism>,
    /// SASL username (PLAIN, SCRAM).
    #[serde(default, alias = "sasl.username")]
    pub sasl_username: Option<String>,
    /// SASL password (or `sasl_password_file`).
    #[serde(default, alias = "sasl.password")]
    pub sasl_password: Option<Secret>,
    /// File holding the SASL password (read when clients are built).
    #[serde(default)]
    pub sasl_password_file: Option<String>,
    /// A Java client's JAAS line; its `username` and `password` are used.
    #[serde(default, alias = "sasl.jaas.config")]
    pub sasl_jaas_config: Option<Secret>,
    /// OAUTHBEARER: the OIDC token endpoint (client-credentials grant).
    #[serde(default, alias = "sasl.oauthbearer.token.endpoint.url")]
    pub sasl_oauthbearer_token_endpoint_url: Option<String>,
    /// OAUTHBEARER: the OIDC client id.
    #[serde(default, alias = "sasl.oauthbearer.client.id")]
    pub sasl_oauthbearer_client_id: Option<String>,
    /// OAUTHBEARER: the OIDC client secret.
    #[serde(default, alias = "sasl.oauthbearer.client.secret")]
    pub sasl_oauthbearer_client_secret: Option<Secret>,
    /// OAUTHBEARER: the scope to ask for.
    #[serde(default, alias = "sasl.oauthbearer.scope")]
    pub sasl_oauthbearer_scope: Option<String>,
    /// PEM file of the CA(s) that sign the brokers' certificates (default: the system's).
    #[serde(default, alias = "ssl.ca.location")]
    pub ssl_ca_location: Option<String>,
    /// PEM client certificate, for mutual TLS.
    #[serde(default, alias = "ssl.certificate.location")]
    pub ssl_certificate_location: Option<String>,
    /// PEM client key, for mutual TLS.
    #[serde(default, alias = "ssl.key.location")]
    pub ssl_key_location: Option<String>,
    /// Password of an encrypted client key.
    #[serde(default, alias = "ssl.key.password")]
    pub ssl_key_password: Option<Secret>,
    /// `https` (default: the broker's certificate must name its host) or `none`.
    #[serde(default, alias = "ssl.endpoint.identification.algorithm")]
    pub ssl_endpoint_identification_algorithm: Option<String>,
    /// Refused: Java truststores are not readable by librdkafka (use `ssl_ca_location`).
    #[serde(default, alias = "ssl.truststore.location")]
    pub ssl_truststore_location: Option<String>,
    /// Refused with `ssl_truststore_location`.
    #[serde(default, alias = "ssl.truststore.password")]
    pub ssl_truststore_password: Option<Secret>,
    /// Refused: Java keystores are not readable by librdkafka (use
    /// `ssl_certificate_location` and `ssl_key_location`).
    #[serde(default, alias = "ssl.keystore.location")]
    pub ssl_keystore_location: Option<String>,
    /// Refused with `ssl_keystore_location`.
    #[serde(default, alias = "ssl.keystore.password")]
    pub ssl_keystore_password: Option<Secret>,
    /// Passed to librdkafka as is (the keys above win).
    #[serde(default)]
    pub properties: BTreeMap<String, Secret>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: default_bootstrap(),
            offsets_topic: default_offsets_topic(),
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            sasl_password_file: None,
            sasl_jaas_config: None,
            sasl_oauthbearer_token_endpoint_url: None,
            sasl_oauthbearer_client_id: None,
            sasl_oauthbearer_client_secret: None,
            sasl_oauthbearer_scope: None,
            ssl_ca_location: None,
            ssl_certificate_location: None,
            ssl_key_location: None,
            ssl_key_password: None,
            ssl_endpoint_identification_algorithm: None,
            ssl_truststore_location: None,
            ssl_truststore_password: None,
            ssl_keystore_location: None,
            ssl_keystore_password: None,
            properties: BTreeMap::new(),
        }
    }
}

/// A JAAS option's value: `key="value"` (or unquoted up to a space or `;`).
fn jaas_option(jaas: &str, key: &str) -> Option<String> {
    let mut rest = jaas;
    while let Some(i) = rest.find(key) {
        let before_ok = rest[..i]
            .chars()
            .next_back()
            .is_none_or(|c| c.is_whitespace() || c == ';');
        let after = rest[i + key.len()..].trim_start();
        if before_ok {
            if let Some(value) = after.strip_prefix('=') {
                let value = value.trim_start();
                if let Some(quoted) = value.strip_prefix('"') {
                    return quoted.find('"').map(|end| quoted[..end].to_string());
                }
                let end = value.find([' ', ';', '\t', '\n']).unwrap_or(value.len());
                return Some(value[..end].to_string());
            }
        }
        rest = &rest[i + key.len()..];
    }
    None
}

impl KafkaConfig {
    fn invalid(key: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            pipeline: "kafka".into(),
            key: key.into(),
            reason: reason.into(),
        }
    }

    /// The protocol in force: `security_protocol`, else `[kafka.properties]`'s
    /// `security.protocol`, else `PLAINTEXT`.
    fn protocol(&self) -> Option<SecurityProtocol> {
        self.security_protocol.or_else(|| {
            let p = self.properties.get("security.protocol")?;
            serde_json::from_value(serde_json::Value::String(p.expose().to_uppercase())).ok()
        })
    }

    /// The SASL username: `sasl_username`, else the JAAS line's.
    fn username(&self) -> Option<String> {
        (self.sasl_username.clone())
            .or_else(|| jaas_option(self.sasl_jaas_config.as_ref()?.expose(), "username"))
    }

    /// Pure checks of the security keys; the first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.ssl_truststore_location.is_some() || self.ssl_truststore_password.is_some() {
            return Err(Self::invalid(
                "ssl.truststore.location",
                "Java truststores (JKS/PKCS12) are not supported: librdkafka reads PEM; \
                 export the CA certificate (keytool -exportcert -rfc) and set ssl_ca_location",
            ));
        }
        if self.ssl_keystore_location.is_some() || self.ssl_keystore_password.is_some() {
            return Err(Self::invalid(
                "ssl.keystore.location",
                "Java keystores (JKS/PKCS12) are not supported: librdkafka reads PEM; \
                 export the client certificate and key as PEM and set \
                 ssl_certificate_location and ssl_key_location",
            ));
        }
        if self.ssl_certificate_location.is_some() != self.ssl_key_location.is_some() {
            return Err(Self::invalid(
                "ssl_certificate_location",
                "a client certificate needs its key: set both ssl_certificate_location and ssl_key_location",
            ));
        }
        if let Some(alg) = &self.ssl_endpoint_identification_algorithm {
            if !matches!(alg.to_ascii_lowercase().as_str(), "https" | "none" | "") {
                return Err(Self::invalid(
                    "ssl_endpoint_identification_algorithm",
                    format!("\"{alg}\": expected https or none"),
                ));
            }
        }
        if self.sasl_password.is_some() && self.sasl_password_file.is_some() {
            return Err(Self::invalid(
                "sasl_password_file",
                "set sasl_password or sasl_password_file, not both",
            ));
        }
        let protocol = self.protocol();
        let sasl_keys = self.sasl_mechanism.is_some()
            || self.sasl_username.is_some()
            || self.sasl_password.is_some()
            || self.sasl_password_file.is_some()
            || self.sasl_jaas_config.is_some();
        match protocol {
            Some(p) if p.uses_sasl() => self.validate_sasl(),
            _ if sasl_keys && self.security_protocol.is_some() => Err(Self::invalid(
                "sasl_mechanism",
                "SASL keys are set but security_protocol is not SASL_PLAINTEXT or SASL_SSL",
            )),
            _ => Ok(()),
        }
    }

    fn validate_sasl(&self) -> Result<(), ConfigError> {
        match self.sasl_mechanism {
            None if self.properties.contains_key("sasl.mechanism")
                || self.properties.contains_key("sasl.mechanisms") =>
            {
                Ok(())
            }
            None => Err(Self::invalid(
                "sasl_mechanism",
                "SASL needs a mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
            )),
            Some(SaslMechanism::OauthBearer) => {
                let missing = [
                    (
                        "sasl_oauthbearer_token_endpoint_url",
                        self.sasl_oauthbearer_token_endpoint_url.is_some(),
                    ),
                    (
                        "sasl_oauthbearer_client_id",
                        self.sasl_oauthbearer_client_id.is_some(),
                    ),
                    (
                        "sasl_oauthbearer_client_secret",
                        self.sasl_oauthbearer_client_secret.is_some(),
                    ),
                ]
                .into_iter()
                .find(|(_, set)| !set);
                match missing {
                    Some((key, _)) => Err(Self::invalid(key, "OAUTHBEARER (OIDC client credentials) needs the token endpoint URL, a client id and a client secret")),
                    None => Ok(()),
                }
            }
            Some(_) => {
                if self.username().is_none() {
                    return Err(Self::invalid(
                        "sasl_username",
                        "SASL PLAIN/SCRAM needs a username (sasl_username or sasl.jaas.config)",
                    ));
                }
                let jaas_password = (self.sasl_jaas_config.as_ref())
                    .and_then(|j| jaas_option(j.expose(), "password"));
                if self.sasl_password.is_none()
                    && self.sasl_password_file.is_none()
                    && jaas_password.is_none()
                {
                    return Err(Self::invalid(
                        "sasl_password",
                        "SASL PLAIN/SCRAM needs a password (sasl_password, sasl_password_file or sasl.jaas.config)",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The librdkafka properties of the security keys, in the order they are
    /// set (after `[kafka.properties]`, so they win). Reads
    /// `sasl_password_file`: call when building clients, not in validation.
    pub fn security_properties(&self) -> Result<Vec<(&'static str, Secret)>, ConfigError> {
        let mut out: Vec<(&'static str, Secret)> = Vec::new();
        let mut set = |k: &'static str, v: &str| out.push((k, Secret::new(v)));
        if let Some(p) = self.security_protocol {
            set("security.protocol", p.as_str());
        }
        if let Some(m) = self.sasl_mechanism {
            set("sasl.mechanism", m.as_str());
        }
        if let Some(u) = self.username() {
            set("sasl.username", &u);
        }
        if let Some(p) = self.sasl_password()? {
            set("sasl.password", p.expose());
        }
        if self.sasl_mechanism == Some(SaslMechanism::OauthBearer) {
            set("sasl.oauthbearer.method", "oidc");
        }
        let optional: [(&'static str, Option<&str>); 8] = [
            (
                "sasl.oauthbearer.token.endpoint.url",
                self.sasl_oauthbearer_token_endpoint_url.as_deref(),
            ),
            (
                "sasl.oauthbearer.client.id",
                self.sasl_oauthbearer_client_id.as_deref(),
            ),
            (
                "sasl.oauthbearer.client.secret",
                self.sasl_oauthbearer_client_secret
                    .as_ref()
                    .map(Secret::expose),
            ),
            (
                "sasl.oauthbearer.scope",
                self.sasl_oauthbearer_scope.as_deref(),
            ),
            ("ssl.ca.location", self.ssl_ca_location.as_deref()),
            (
                "ssl.certificate.location",
                self.ssl_certificate_location.as_deref(),
            ),
            ("ssl.key.location", self.ssl_key_location.as_deref()),
            (
                "ssl.key.password",
                self.ssl_key_password.as_ref().map(Secret::expose),
            ),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                set(k, v);
            }
        }
        // Hostname verification on unless turned off explicitly (here or in
        // [kafka.properties]); librdkafka's own default has varied by version.
        let alg = match &self.ssl_endpoint_identification_algorithm {
            Some(a) if a.eq_ignore_ascii_case("none") || a.is_empty() => Some("none"),
            Some(_) => Some("https"),
            None if self.protocol().is_some_and(SecurityProtocol::uses_tls)
                && !self
                    .properties
                    .contains_key("ssl.endpoint.identification.algorithm") =>
            {
                Some("https")
            }
            None => None,
        };
        if let Some(alg) = alg {
            set("ssl.endpoint.identification.algorithm", alg);
        }
        Ok(out)
    }

    /// The SASL password: `sasl_password`, the file's first line, or the JAAS line's.
    fn sasl_password(&self) -> Result<Option<Secret>, ConfigError> {
        if let Some(p) = &self.sasl_password {
            return Ok(Some(p.clone()));
        }
        if let Some(file) = &self.sasl_password_file {
            let text = super::read_secret_file(file).map_err(|source| ConfigError::SecretFile {
                section: "kafka".into(),
                key: "sasl_password_file",
                path: file.clone(),
                source,
            })?;
            return Ok(Some(Secret::new(text.trim_end_matches(['\n', '\r']))));
        }
        Ok(self
            .sasl_jaas_config
            .as_ref()
            .and_then(|j| jaas_option(j.expose(), "password"))
            .map(Secret::new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> KafkaConfig {
        let cfg = crate::config::Config::from_toml_str(&format!("[kafka]\n{toml}")).expect("parse");
        cfg.kafka
    }

    fn props(k: &KafkaConfig) -> Vec<(String, String)> {
        (k.security_properties().expect("properties").into_iter())
            .map(|(k, v)| (k.to_string(), v.expose().to_string()))
            .collect()
    }

    #[test]
    fn sasl_ssl_scram_with_a_ca() {
        let k = parse(
            "security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"SCRAM-SHA-512\"\n\
             sasl_username = \"u\"\nsasl_password = \"p\"\nssl_ca_location = \"/ca.pem\"",
        );
        k.validate().expect("valid");
        assert_eq!(
            props(&k),
            [
                ("security.protocol", "SASL_SSL"),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", "u"),
                ("sasl.password", "p"),
                ("ssl.ca.location", "/ca.pem"),
                ("ssl.endpoint.identification.algorithm", "https"),
            ]
            .map(|(a, b)| (a.to_string(), b.to_string()))
        );
        assert!(
            !format!("{k:?}").contains("\"p\""),
            "the password never prints"
        );
    }

    #[test]
    fn connect_names_and_a_pasted_jaas_line() {
        let k = parse(
            "\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanism\" = \"SCRAM-SHA-256\"\n\
             \"sasl.jaas.config\" = 'org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3 cr;et\";'",
        );
        k.validate().expect("valid");
        let p = props(&k);
        assert!(
            p.contains(&("sasl.username".into(), "alice".into())),
            "{p:?}"
        );
        assert!(
            p.contains(&("sasl.password".into(), "s3 cr;et".into())),
            "{p:?}"
        );
    }

    #[test]
    fn jks_is_refused_with_the_pem_key_to_use() {
        let k = parse("\"ssl.truststore.location\" = \"/etc/kafka/truststore.jks\"");
        let e = k.validate().expect_err("refused").to_string();
        assert!(e.contains("PEM") && e.contains("ssl_ca_location"), "{e}");
        let k = parse("\"ssl.keystore.location\" = \"/etc/kafka/keystore.jks\"");
        let e = k.validate().expect_err("refused").to_string();
        assert!(e.contains("ssl_certificate_location"), "{e}");
    }

    #[test]
    fn sasl_needs_a_mechanism_and_credentials() {
        let e = parse("security_protocol = \"SASL_SSL\"")
            .validate()
            .expect_err("no mechanism");
        assert!(e.to_string().contains("sasl_mechanism"), "{e}");
        let e = parse(
            "security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"u\"",
        )
        .validate()
        .expect_err("no password");
        assert!(e.to_string().contains("sasl_password"), "{e}");
        let e = parse("security_protocol = \"SASL_SSL\"\nsasl_mechanism = \"OAUTHBEARER\"")
            .validate()
            .expect_err("no token endpoint");
        assert!(e.to_string().contains("token_endpoint_url"), "{e}");
    }

    #[test]
    fn mtls_needs_both_halves_and_hostname_checks_can_be_turned_off() {
        let e = parse("security_protocol = \"SSL\"\nssl_certificate_location = \"/c.pem\"")
            .validate()
            .expect_err("no key");
        assert!(e.to_string().contains("ssl_key_location"), "{e}");
        let k =
            parse("security_protocol = \"SSL\"\nssl_endpoint_identification_algorithm = \"none\"");
        k.validate().expect("valid");
        assert!(props(&k).contains(&(
            "ssl.endpoint.identification.algorithm".into(),
            "none".into()
        )));
    }

    #[test]
    fn password_file_is_read_only_when_clients_are_built() {
        let k = parse(
            "security_protocol = \"SASL_PLAINTEXT\"\nsasl_mechanism = \"PLAIN\"\n\
             sasl_username = \"u\"\nsasl_password_file = \"/nonexistent/kafka.pass\"",
        );
        k.validate().expect("validation reads no file");
        let e = k.security_properties().expect_err("unreadable").to_string();
        assert!(
            e.contains("sasl_password_file") && e.contains("/nonexistent/kafka.pass"),
            "{e}"
        );
    }

    #[test]
    fn jaas_options() {
        let j = "org.apache.kafka.common.security.plain.PlainLoginModule required username=bob password=\"x y\";";
        assert_eq!(jaas_option(j, "username").as_deref(), Some("bob"));
        assert_eq!(jaas_option(j, "password").as_deref(), Some("x y"));
        assert_eq!(jaas_option("a=b;", "password"), None);
    }
}
