//! Converters (`key_converter` / `value_converter`, Connect's `key.converter` /
//! `value.converter`) and the Schema Registry they use (`[schema_registry]`,
//! or Connect's `*.converter.schema.registry.url` and basic-auth keys per
//! pipeline).
//!
//! A converter is `json` (Connect's `JsonConverter`, the default), `avro`
//! (Confluent's `AvroConverter`) or `json_schema` (Confluent's
//! `JsonSchemaConverter`). The registry converters need a registry: the
//! pipeline's own `*.converter.schema.registry.url`, else `[schema_registry]`.
//! Sources write and sinks read all three ([`Direction`] says which way a
//! pipeline goes); an unknown converter is a config error, never accepted
//! and ignored.

use serde::Deserialize;

use super::secret::Secret;
use super::ConfigError;

/// Connect's JSON converter class.
pub const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";
/// Confluent's Avro converter class.
pub const AVRO_CONVERTER: &str = "io.confluent.connect.avro.AvroConverter";
/// Confluent's JSON Schema converter class.
pub const JSON_SCHEMA_CONVERTER: &str = "io.confluent.connect.json.JsonSchemaConverter";

/// The wire format of a record's key or value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConverterKind {
    /// Connect JSON with inline schemas (`JsonConverter`).
    #[default]
    Json,
    /// Confluent wire format, Avro body, schema in the registry.
    Avro,
    /// Confluent wire format, JSON body, JSON Schema in the registry.
    JsonSchema,
}

impl ConverterKind {
    /// Parses `json` / `avro` / `json_schema` or a Connect converter class.
    pub fn parse(s: &str) -> Option<ConverterKind> {
        match s.trim() {
            "json" | JSON_CONVERTER => Some(ConverterKind::Json),
            "avro" | AVRO_CONVERTER | "io.apicurio.registry.utils.converter.AvroConverter" => {
                Some(ConverterKind::Avro)
            }
            "json_schema" | JSON_SCHEMA_CONVERTER => Some(ConverterKind::JsonSchema),
            _ => None,
        }
    }

    /// Whether records in this format carry a schema id from a registry.
    pub fn uses_registry(self) -> bool {
        !matches!(self, ConverterKind::Json)
    }

    /// Connect's (Confluent's) class of this converter.
    pub fn class(self) -> &'static str {
        match self {
            ConverterKind::Json => JSON_CONVERTER,
            ConverterKind::Avro => AVRO_CONVERTER,
            ConverterKind::JsonSchema => JSON_SCHEMA_CONVERTER,
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            ConverterKind::Json => "json",
            ConverterKind::Avro => "avro",
            ConverterKind::JsonSchema => "json_schema",
        }
    }
}

/// How the registry subject of a key or value schema is named
/// (Confluent's `*.subject.name.strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectNameStrategy {
    /// `<topic>-key` / `<topic>-value`.
    #[default]
    TopicName,
    /// The record's full name.
    RecordName,
    /// `<topic>-<record full name>`.
    TopicRecordName,
}

impl SubjectNameStrategy {
    /// Parses a strategy's simple or full class name.
    pub fn parse(s: &str) -> Option<SubjectNameStrategy> {
        let simple = s.trim().rsplit('.').next().unwrap_or("");
        match simple {
            "TopicNameStrategy" => Some(SubjectNameStrategy::TopicName),
            "RecordNameStrategy" => Some(SubjectNameStrategy::RecordName),
            "TopicRecordNameStrategy" => Some(SubjectNameStrategy::TopicRecordName),
            _ => None,
        }
    }

    /// The subject for a key (`is_key`) or value schema named `record` on `topic`.
    pub fn subject(self, topic: &str, is_key: bool, record: &str) -> String {
        match self {
            SubjectNameStrategy::TopicName => {
                format!("{topic}-{}", if is_key { "key" } else { "value" })
            }
            SubjectNameStrategy::RecordName => record.to_string(),
            SubjectNameStrategy::TopicRecordName => format!("{topic}-{record}"),
        }
    }
}

/// `[schema_registry]`: the registry the `avro` and `json_schema` converters use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaRegistryConfig {
    /// Base URL of Confluent's API (e.g. `http://127.0.0.1:8081/apis/ccompat/v7`).
    #[serde(default)]
    pub url: Option<String>,
    /// Basic-auth user.
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password.
    #[serde(default)]
    pub password: Option<Secret>,
    /// File holding the basic-auth password.
    #[serde(default)]
    pub password_file: Option<String>,
    /// CA certificate file (PEM) that an `https` registry is checked against.
    #[serde(default)]
    pub ssl_ca_location: Option<String>,
}

impl SchemaRegistryConfig {
    /// Pure checks of `[schema_registry]`.
    pub(super) fn validate(&self) -> Vec<ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            pipeline: "schema_registry".into(),
            key: key.into(),
            reason: reason.into(),
        };
        let mut errors = Vec::new();
        if let Some(url) = &self.url {
            if let Err(reason) = check_url(url) {
                errors.push(invalid("url", &reason));
            }
        }
        if self.password.is_some() && self.password_file.is_some() {
            errors.push(invalid(
                "password_file",
                "set either password or password_file, not both",
            ));
        }
        if (self.password.is_some() || self.password_file.is_some()) && self.username.is_none() {
            errors.push(invalid(
                "username",
                "required with password / password_file",
            ));
        }
        errors
    }
}

fn check_url(url: &str) -> Result<(), String> {
    let u = url.trim();
    if !(u.starts_with("http://") || u.starts_with("https://")) || u.len() <= "https://".len() {
        return Err(format!("\"{u}\" is not an http:// or https:// URL"));
    }
    if u.contains(',') {
        return Err("one registry URL only (Sluice does not fail over between several)".into());
    }
    Ok(())
}

/// Where a registry's basic-auth credentials come from.
#[derive(Debug, Clone)]
pub enum RegistryAuth {
    /// No authentication.
    None,
    /// User and password.
    Basic {
        /// User.
        username: String,
        /// Password.
        password: Secret,
    },
    /// User, password read from this file when the pipeline starts.
    BasicFile {
        /// User.
        username: String,
        /// The password file.
        path: String,
    },
}

/// The registry one converter talks to.
#[derive(Debug, Clone)]
pub struct RegistrySettings {
    /// Base URL, without a trailing `/`.
    pub url: String,
    /// Credentials.
    pub auth: RegistryAuth,
    /// CA file (PEM) for `https`.
    pub ca_location: Option<String>,
}

/// One side's converter as a pipeline resolved it.
#[derive(Debug, Clone, Default)]
pub struct Converter {
    /// The format.
    pub kind: ConverterKind,
    /// The registry (for `avro` / `json_schema`).
    pub registry: Option<RegistrySettings>,
    /// How subjects are named.
    pub subject_strategy: SubjectNameStrategy,
}

/// Which way a pipeline moves records (what its converters must support).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A source writes records.
    Write,
    /// A sink reads records.
    Read,
}

/// One side's converter keys as written in a pipeline section.
pub(super) struct ConverterKeys<'a> {
    /// `key` or `value`.
    pub what: &'static str,
    /// `*.converter`.
    pub class: Option<&'a str>,
    /// `*.converter.schema.registry.url`.
    pub url: Option<&'a str>,
    /// `*.converter.basic.auth.credentials.source`.
    pub credentials_source: Option<&'a str>,
    /// `*.converter.basic.auth.user.info`.
    pub user_info: Option<&'a Secret>,
    /// `*_subject_name_strategy`.
    pub strategy: Option<&'a str>,
}

impl ConverterKeys<'_> {
    /// Resolves the converter against `[schema_registry]` (`global`); pure.
    pub fn resolve(
        &self,
        pipeline: &str,
        // Every converter works both ways today; kept for one that may not.
        _direction: Direction,
        global: Option<&SchemaRegistryConfig>,
    ) -> Result<Converter, ConfigError> {
        let what = self.what;
        let invalid = |key: String, reason: String| ConfigError::Invalid {
            pipeline: pipeline.into(),
            key,
            reason,
        };
        let kind = match self.class {
            None => ConverterKind::Json,
            Some(c) => ConverterKind::parse(c).ok_or_else(|| {
                invalid(
                    format!("{what}.converter"),
                    format!(
                        "\"{c}\" is not a converter Sluice speaks: json ({JSON_CONVERTER}), \
                         avro ({AVRO_CONVERTER}) or json_schema ({JSON_SCHEMA_CONVERTER})"
                    ),
                )
            })?,
        };
        let strategy = match self.strategy {
            None => SubjectNameStrategy::TopicName,
            Some(s) => SubjectNameStrategy::parse(s).ok_or_else(|| {
                invalid(
                    format!("{what}_subject_name_strategy"),
                    format!(
                        "\"{s}\" is not TopicNameStrategy, RecordNameStrategy or TopicRecordNameStrategy"
                    ),
                )
            })?,
        };
        let registry_keys_given = self.url.is_some()
            || self.credentials_source.is_some()
            || self.user_info.is_some()
            || self.strategy.is_some();
        if !kind.uses_registry() {
            if registry_keys_given {
                return Err(invalid(
                    format!("{what}.converter.schema.registry.url"),
                    format!(
                        "schema registry settings need {what}_converter = \"avro\" or \"json_schema\"; \
                         the {what} converter is json"
                    ),
                ));
            }
            return Ok(Converter::default());
        }
        let url_key = format!("{what}.converter.schema.registry.url");
        let (url, global_ca) = match (self.url, global.and_then(|g| g.url.as_deref())) {
            (Some(u), _) => (u, global.and_then(|g| g.ssl_ca_location.clone())),
            (None, Some(u)) => (u, global.and_then(|g| g.ssl_ca_location.clone())),
            (None, None) => {
                return Err(invalid(
                    url_key,
                    format!(
                    "{what}_converter = \"{}\" needs a schema registry: set [schema_registry] url \
                         or {what}.converter.schema.registry.url",
                    kind.name()
                ),
                ))
            }
        };
        check_url(url).map_err(|r| invalid(url_key.clone(), r))?;
        let auth = self.auth(pipeline, global)?;
        Ok(Converter {
            kind,
            registry: Some(RegistrySettings {
                url: url.trim().trim_end_matches('/').to_string(),
                auth,
                ca_location: global_ca,
            }),
            subject_strategy: strategy,
        })
    }

    fn auth(
        &self,
        pipeline: &str,
        global: Option<&SchemaRegistryConfig>,
    ) -> Result<RegistryAuth, ConfigError> {
        let what = self.what;
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            pipeline: pipeline.into(),
            key: format!("{what}.converter.{key}"),
            reason,
        };
        match self.credentials_source.map(str::trim) {
            None | Some("URL") if self.user_info.is_none() => {}
            Some("USER_INFO") | None => {
                let info = self.user_info.ok_or_else(|| {
                    invalid(
                        "basic.auth.user.info",
                        "required with basic.auth.credentials.source = USER_INFO".into(),
                    )
                })?;
                let (user, pass) = info.expose().split_once(':').ok_or_else(|| {
                    invalid("basic.auth.user.info", "must be USER:PASSWORD".into())
                })?;
                return Ok(RegistryAuth::Basic {
                    username: user.to_string(),
                    password: Secret::new(pass),
                });
            }
            Some(other) => {
                return Err(invalid(
                    "basic.auth.credentials.source",
                    format!("\"{other}\": Sluice supports USER_INFO (or URL with no credentials)"),
                ))
            }
        }
        let Some(g) = global else {
            return Ok(RegistryAuth::None);
        };
        Ok(match (&g.username, &g.password, &g.password_file) {
            (Some(u), Some(p), _) => RegistryAuth::Basic {
                username: u.clone(),
                password: p.clone(),
            },
            (Some(u), None, Some(f)) => RegistryAuth::BasicFile {
                username: u.clone(),
                path: f.clone(),
            },
            (Some(u), None, None) => RegistryAuth::Basic {
                username: u.clone(),
                password: Secret::new(""),
            },
            (None, _, _) => RegistryAuth::None,
        })
    }
}

impl super::SourceConfig {
    /// The key and value converters, resolved against `[schema_registry]`; pure.
    pub fn converters(&self) -> Result<(Converter, Converter), ConfigError> {
        let global = self.schema_registry.as_ref();
        let key = ConverterKeys {
            what: "key",
            class: self.key_converter.as_deref(),
            url: self.key_converter_registry_url.as_deref(),
            credentials_source: self.key_converter_credentials_source.as_deref(),
            user_info: self.key_converter_user_info.as_ref(),
            strategy: self.key_subject_name_strategy.as_deref(),
        }
        .resolve(&self.name, Direction::Write, global)?;
        let value = ConverterKeys {
            what: "value",
            class: self.value_converter.as_deref(),
            url: self.value_converter_registry_url.as_deref(),
            credentials_source: self.value_converter_credentials_source.as_deref(),
            user_info: self.value_converter_user_info.as_ref(),
            strategy: self.value_subject_name_strategy.as_deref(),
        }
        .resolve(&self.name, Direction::Write, global)?;
        Ok((key, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(class: Option<&'a str>, url: Option<&'a str>) -> ConverterKeys<'a> {
        ConverterKeys {
            what: "value",
            class,
            url,
            credentials_source: None,
            user_info: None,
            strategy: None,
        }
    }

    #[test]
    fn parses_names_and_connect_classes() {
        assert_eq!(ConverterKind::parse("avro"), Some(ConverterKind::Avro));
        assert_eq!(
            ConverterKind::parse(AVRO_CONVERTER),
            Some(ConverterKind::Avro)
        );
        assert_eq!(
            ConverterKind::parse(JSON_SCHEMA_CONVERTER),
            Some(ConverterKind::JsonSchema)
        );
        assert_eq!(
            ConverterKind::parse(JSON_CONVERTER),
            Some(ConverterKind::Json)
        );
        assert_eq!(ConverterKind::parse("protobuf"), None);
        assert_eq!(
            SubjectNameStrategy::parse("io.confluent.kafka.serializers.subject.RecordNameStrategy"),
            Some(SubjectNameStrategy::RecordName)
        );
        assert_eq!(
            SubjectNameStrategy::TopicRecordName.subject("t", false, "a.B"),
            "t-a.B"
        );
        assert_eq!(
            SubjectNameStrategy::TopicName.subject("t", true, "x"),
            "t-key"
        );
    }

    #[test]
    fn avro_source_needs_a_registry_and_takes_the_global_one() {
        let err = keys(Some("avro"), None)
            .resolve("p", Direction::Write, None)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("value.converter.schema.registry.url"), "{err}");
        let global = SchemaRegistryConfig {
            url: Some("http://127.0.0.1:8081/apis/ccompat/v7/".into()),
            username: Some("u".into()),
            password: Some(Secret::new("pw")),
            ..Default::default()
        };
        let c = keys(Some(AVRO_CONVERTER), None)
            .resolve("p", Direction::Write, Some(&global))
            .expect("ok");
        let r = c.registry.expect("ok");
        assert_eq!(r.url, "http://127.0.0.1:8081/apis/ccompat/v7");
        assert!(matches!(r.auth, RegistryAuth::Basic { ref username, .. } if username == "u"));
    }

    #[test]
    fn user_info_and_refusals() {
        let info = Secret::new("alice:s3cret");
        let k = ConverterKeys {
            credentials_source: Some("USER_INFO"),
            user_info: Some(&info),
            ..keys(Some("avro"), Some("https://reg:8081"))
        };
        let c = k.resolve("p", Direction::Write, None).expect("ok");
        assert!(matches!(
            c.registry.expect("ok").auth,
            RegistryAuth::Basic { ref username, ref password } if username == "alice" && password.expose() == "s3cret"
        ));
        // Both directions speak Avro and JSON Schema.
        for (class, kind) in [
            (AVRO_CONVERTER, ConverterKind::Avro),
            (JSON_SCHEMA_CONVERTER, ConverterKind::JsonSchema),
            ("json_schema", ConverterKind::JsonSchema),
        ] {
            for direction in [Direction::Read, Direction::Write] {
                let c = keys(Some(class), Some("http://reg:8081"))
                    .resolve("p", direction, None)
                    .expect("supported");
                assert_eq!(c.kind, kind);
            }
        }
        // Registry keys on a JSON converter are a mistake, not ignored.
        let err = keys(None, Some("http://r"))
            .resolve("p", Direction::Write, None)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("need value_converter"), "{err}");
        let err = keys(Some("protobuf"), None)
            .resolve("p", Direction::Write, None)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("`value.converter`"), "{err}");
        let err = keys(Some("avro"), Some("ftp://x"))
            .resolve("p", Direction::Write, None)
            .expect_err("refused")
            .to_string();
        assert!(err.contains("not an http"), "{err}");
    }
}
