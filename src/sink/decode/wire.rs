//! The registry converters on the sink side (`key_converter` /
//! `value_converter` = `avro` or `json_schema`): a record in Confluent's
//! wire format (magic byte 0, the writer schema's 4-byte big-endian registry
//! id, the Avro or plain JSON body) becomes the Connect JSON message
//! `AvroData` / `JsonSchemaData` would give
//! ([`crate::connect::avro::AvroReader`],
//! [`crate::connect::jsonschema::JsonSchemaReader`]), which the JSON decode path then
//! reads. So `auto_create` / `auto_evolve`, keys, deletes, tombstones and the
//! Debezium envelope behave exactly as for JSON: only the bytes differ.
//! (The Avro reader writes the payload text as it reads the body, without a
//! JSON tree in between; decoding Avro straight into rows is not built.)
//!
//! **Schemas by id, before decoding.** Decoding runs on the blocking pool
//! and does no I/O, so the task first resolves, asynchronously, every schema
//! id of the batch it has not seen ([`WireDecoders::resolve`]): each distinct
//! id is fetched once (the registry client caches it for the sink's life and
//! joins concurrent lookups of one id, across the sink's tasks too) and
//! turned into a reader, shared with the decode workers.
//!
//! **Errors.** The registry unreachable (or answering 5xx) is retried a few
//! times, then the pipeline's transient error (it restarts from the offsets
//! stored with the data; nothing is skipped). A refusal other than "not
//! found" (credentials) is the pipeline's definite error. Everything else is
//! the record's own ([`WireError`], dead-lettered or a stop by
//! `errors_tolerance`): an id the registry does not know (asked again with
//! the next batch), a schema that is not of the converter's type (an Avro
//! schema under `json_schema`, a JSON Schema under `avro`) or not one
//! Connect can read (kept: an
//! id's schema never changes), a body that does not match its schema, or
//! bytes not in the wire format at all.
//!
//! Only the sides the sink reads are converted: the key under `pk_mode =
//! record_key` only, as the JSON path reads it.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use super::SinkMessage;
use crate::config::{ConverterKind, PkMode, SinkConfig};
use crate::connect::avro::AvroReader;
use crate::connect::jsonschema::JsonSchemaReader;
use crate::connect::{CodecError, MessagePart};
use crate::registry::{ConverterClients, RegistryClient, RegistryError};
use crate::sink::SinkError;

/// Attempts at a registry lookup before the batch fails (transient).
const REGISTRY_ATTEMPTS: u32 = 3;
/// First pause between attempts; doubles each time.
const REGISTRY_BACKOFF: Duration = Duration::from_millis(500);
/// Magic byte and schema id.
const HEADER_LEN: usize = 5;

/// Why a record's bytes could not be read through its registry converter.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The bytes do not start with the wire format's header.
    #[error(
        "{part} is not in the schema registry wire format (the {part} converter is {converter}): {reason}"
    )]
    NotWireFormat {
        /// Key or value.
        part: MessagePart,
        /// The converter's config name.
        converter: &'static str,
        /// What was found.
        reason: String,
    },
    /// The registry does not know the schema id.
    #[error("{part} schema id {id} is not in the schema registry: {message}")]
    UnknownSchema {
        /// Key or value.
        part: MessagePart,
        /// The id in the record.
        id: u32,
        /// The registry's answer.
        message: Arc<str>,
    },
    /// The registered schema is not of the converter's type.
    #[error("{part} schema id {id} is a {found} schema, but the {part} converter is {converter}")]
    WrongSchemaType {
        /// Key or value.
        part: MessagePart,
        /// The id in the record.
        id: u32,
        /// The registry's schema type.
        found: Arc<str>,
        /// The converter's config name.
        converter: &'static str,
    },
    /// The registered schema does not map to Connect.
    #[error("{part} schema id {id} cannot be read: {source}")]
    UnreadableSchema {
        /// Key or value.
        part: MessagePart,
        /// The id in the record.
        id: u32,
        /// What is wrong with the schema.
        #[source]
        source: Arc<CodecError>,
    },
    /// The body does not match its writer schema.
    #[error("{part} does not match its schema (id {id}): {source}")]
    Body {
        /// Key or value.
        part: MessagePart,
        /// The id in the record.
        id: u32,
        /// Where the body breaks.
        #[source]
        source: CodecError,
    },
}

/// The registry clients of a sink's converters, shared by its tasks so each
/// schema is fetched once.
pub(crate) fn registries(cfg: &SinkConfig) -> Result<ConverterClients, SinkError> {
    let (key, value) = cfg.converters()?;
    ConverterClients::new(&key, &value).map_err(|source| SinkError::Registry {
        what: "setting up the converters",
        source,
    })
}

/// What a task knows of one schema id.
#[derive(Debug, Clone)]
enum Known {
    Reader(Arc<Reader>),
    /// Kept for the sink's life: a schema of another type than the converter's.
    WrongType(Arc<str>),
    /// Kept for the sink's life: the schema of an id never changes.
    Unreadable(Arc<CodecError>),
    /// Kept for one batch: the id may be registered later.
    Unknown(Arc<str>),
}

/// A schema's reader.
#[derive(Debug)]
enum Reader {
    Avro(AvroReader),
    Json(JsonSchemaReader),
}

impl Reader {
    fn to_connect_json(&self, body: &[u8]) -> Result<Vec<u8>, CodecError> {
        match self {
            Reader::Avro(r) => r.to_connect_json(body),
            Reader::Json(r) => r.to_connect_json(body),
        }
    }
}

/// One side's readers by schema id.
#[derive(Debug, Clone)]
struct Side {
    part: MessagePart,
    kind: ConverterKind,
    client: Arc<RegistryClient>,
    /// Shared with the decode workers (copied on write).
    known: Arc<HashMap<u32, Known>>,
}

/// A task's wire-format readers for the sides it reads; cheap to clone
/// (the workers get a copy per batch).
#[derive(Debug, Clone, Default)]
pub(crate) struct WireDecoders {
    key: Option<Side>,
    value: Option<Side>,
}

impl WireDecoders {
    /// The readers of a task of a sink with `registries` and `pk_mode`.
    pub(crate) fn new(registries: &ConverterClients, pk_mode: PkMode) -> WireDecoders {
        let side = |client: &Option<Arc<RegistryClient>>, part, kind| {
            client.as_ref().map(|c| Side {
                part,
                kind,
                client: Arc::clone(c),
                known: Arc::default(),
            })
        };
        WireDecoders {
            key: side(&registries.key, MessagePart::Key, registries.key_kind)
                .filter(|_| pk_mode == PkMode::RecordKey),
            value: side(&registries.value, MessagePart::Value, registries.value_kind),
        }
    }

    /// Fetches the schema of every id in `batch` not seen yet. Fails only
    /// for the pipeline's reasons (see the module doc); a record's own
    /// problem is found when it is decoded.
    pub(crate) async fn resolve(&mut self, batch: &[SinkMessage]) -> Result<(), SinkError> {
        if let Some(side) = self.key.as_mut() {
            side.resolve(batch.iter().filter_map(SinkMessage::key))
                .await?;
        }
        if let Some(side) = self.value.as_mut() {
            side.resolve(batch.iter().filter_map(SinkMessage::payload))
                .await?;
        }
        Ok(())
    }

    /// The Connect JSON of a key (unchanged when keys are JSON).
    pub(crate) fn key<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, WireError> {
        convert(self.key.as_ref(), bytes)
    }

    /// The Connect JSON of a value (unchanged when values are JSON).
    pub(crate) fn value<'a>(&self, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, WireError> {
        convert(self.value.as_ref(), bytes)
    }
}

fn convert<'a>(side: Option<&Side>, bytes: &'a [u8]) -> Result<Cow<'a, [u8]>, WireError> {
    let Some(side) = side else {
        return Ok(Cow::Borrowed(bytes));
    };
    let part = side.part;
    let (id, body) = split(part, side.kind, bytes)?;
    match side.known.get(&id) {
        Some(Known::Reader(r)) => r
            .to_connect_json(body)
            .map(Cow::Owned)
            .map_err(|source| WireError::Body { part, id, source }),
        Some(Known::WrongType(found)) => Err(WireError::WrongSchemaType {
            part,
            id,
            found: Arc::clone(found),
            converter: side.kind.name(),
        }),
        Some(Known::Unreadable(e)) => Err(WireError::UnreadableSchema {
            part,
            id,
            source: Arc::clone(e),
        }),
        Some(Known::Unknown(message)) => Err(WireError::UnknownSchema {
            part,
            id,
            message: Arc::clone(message),
        }),
        // `resolve` saw every id of the batch; not reached.
        None => Err(WireError::UnknownSchema {
            part,
            id,
            message: "not looked up".into(),
        }),
    }
}

/// The schema id and the body of a wire-format record.
fn split(part: MessagePart, kind: ConverterKind, bytes: &[u8]) -> Result<(u32, &[u8]), WireError> {
    let not = |reason: String| WireError::NotWireFormat {
        part,
        converter: kind.name(),
        reason,
    };
    match bytes {
        [0, a, b, c, d, body @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), body)),
        [b'{', ..] => Err(not(
            "it starts with '{' and looks like JSON: set this converter to json".into(),
        )),
        [0, ..] | [] => Err(not(format!(
            "{} bytes, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ))),
        [magic, ..] => Err(not(format!("magic byte {magic}, expected 0"))),
    }
}

impl Side {
    async fn resolve<'a>(
        &mut self,
        records: impl Iterator<Item = &'a [u8]>,
    ) -> Result<(), SinkError> {
        // A batch's unknown ids are asked again: they may exist by now.
        if self.known.values().any(|k| matches!(k, Known::Unknown(_))) {
            Arc::make_mut(&mut self.known).retain(|_, k| !matches!(k, Known::Unknown(_)));
        }
        let ids: BTreeSet<u32> = records
            .filter_map(|b| split(self.part, self.kind, b).ok())
            .map(|(id, _)| id)
            .filter(|id| !self.known.contains_key(id))
            .collect();
        if ids.is_empty() {
            return Ok(());
        }
        let lookups = ids.iter().map(|id| self.lookup(*id));
        let found = futures::future::try_join_all(lookups).await?;
        let known = Arc::make_mut(&mut self.known);
        for (id, k) in ids.into_iter().zip(found) {
            known.insert(id, k);
        }
        Ok(())
    }

    /// One id's schema, retried while the registry is unavailable.
    async fn lookup(&self, id: u32) -> Result<Known, SinkError> {
        let mut pause = REGISTRY_BACKOFF;
        let mut attempt = 1;
        loop {
            match self.client.registered(id).await {
                Ok(reg) => {
                    let wanted = match self.kind {
                        ConverterKind::JsonSchema => crate::registry::JSON,
                        _ => crate::registry::AVRO,
                    };
                    if !reg.schema_type.eq_ignore_ascii_case(wanted) {
                        return Ok(Known::WrongType(reg.schema_type));
                    }
                    let reader = match self.kind {
                        ConverterKind::JsonSchema => {
                            JsonSchemaReader::new(&reg.text, self.part).map(Reader::Json)
                        }
                        _ => AvroReader::new(&reg.text, self.part).map(Reader::Avro),
                    };
                    return Ok(match reader {
                        Ok(r) => {
                            tracing::info!(part = %self.part, id, "schema read from the registry");
                            Known::Reader(Arc::new(r))
                        }
                        Err(e) => Known::Unreadable(Arc::new(e)),
                    });
                }
                Err(e) if e.is_not_found() => return Ok(Known::Unknown(not_found(&e))),
                Err(e) if e.is_transient() && attempt < REGISTRY_ATTEMPTS => {
                    tracing::warn!(part = %self.part, id, attempt, error = %e,
                        "schema registry unavailable; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(source) => {
                    return Err(SinkError::Registry {
                        what: match self.part {
                            MessagePart::Key => "reading a key schema",
                            MessagePart::Value => "reading a value schema",
                        },
                        source,
                    })
                }
            }
        }
    }
}

/// The registry's words for a 404.
fn not_found(e: &RegistryError) -> Arc<str> {
    match e {
        RegistryError::Refused {
            status, message, ..
        } => format!("HTTP {status}: {message}").into(),
        other => other.to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connect::avro::{encode, from_connect};
    use serde_json::json;

    fn side(known: HashMap<u32, Known>) -> Side {
        let settings = crate::config::RegistrySettings {
            url: "http://127.0.0.1:1".into(),
            auth: crate::config::RegistryAuth::None,
            ca_location: None,
        };
        Side {
            part: MessagePart::Value,
            kind: ConverterKind::Avro,
            client: Arc::new(RegistryClient::new(&settings).expect("client")),
            known: Arc::new(known),
        }
    }

    fn framed(id: u32, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0];
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn the_header_is_checked_and_named() {
        assert_eq!(
            split(MessagePart::Value, ConverterKind::Avro, &[0, 0, 0, 1, 2, 9]).expect("ok"),
            (258, &[9u8][..])
        );
        let err = |b: &[u8]| {
            split(MessagePart::Value, ConverterKind::Avro, b)
                .expect_err("refused")
                .to_string()
        };
        assert!(err(b"{\"schema\":1}").contains("looks like JSON"));
        assert!(err(&[0, 0, 1]).contains("3 bytes"));
        assert!(err(&[]).contains("0 bytes"));
        assert!(err(&[7, 0, 0, 0, 1]).contains("magic byte 7"));
    }

    #[test]
    fn a_body_becomes_the_connect_message_and_bad_ones_name_the_id() {
        let connect = json!({"type":"struct","name":"t","optional":false,"fields":[
            {"field":"id","type":"int32","optional":false},
            {"field":"name","type":"string","optional":true}]});
        let avro = from_connect(&connect, MessagePart::Value).expect("schema");
        let mut body = Vec::new();
        encode(&avro, &json!({"id": 5, "name": "ann"}), &mut body).expect("encode");
        let reader = AvroReader::new(&avro.text, MessagePart::Value).expect("reader");
        let mut known = HashMap::new();
        known.insert(3, Known::Reader(Arc::new(Reader::Avro(reader))));
        known.insert(4, Known::Unknown("HTTP 404: Schema 4 not found".into()));
        let wire = WireDecoders {
            key: None,
            value: Some(side(known)),
        };
        let json: serde_json::Value =
            serde_json::from_slice(&wire.value(&framed(3, &body)).expect("decoded")).expect("json");
        assert_eq!(json["payload"], json!({"id": 5, "name": "ann"}));
        assert_eq!(json["schema"]["fields"][1]["optional"], true);
        // JSON keys pass through untouched.
        assert!(matches!(wire.key(b"{}"), Ok(Cow::Borrowed(b"{}"))));
        let err = wire
            .value(&framed(4, &body))
            .expect_err("unknown")
            .to_string();
        assert!(err.contains("schema id 4") && err.contains("404"), "{err}");
        let err = wire
            .value(&framed(3, &body[..body.len() - 1]))
            .expect_err("truncated")
            .to_string();
        assert!(err.contains("id 3") && err.contains("truncated"), "{err}");
    }

    #[test]
    fn json_schema_bodies_and_schemas_of_the_wrong_type() {
        let connect = json!({"type":"struct","name":"t","optional":false,"fields":[
            {"field":"id","type":"int32","optional":false},
            {"field":"name","type":"string","optional":true}]});
        let plan =
            crate::connect::jsonschema::from_connect(&connect, MessagePart::Value).expect("schema");
        let reader = JsonSchemaReader::new(&plan.text, MessagePart::Value).expect("reader");
        let mut known = HashMap::new();
        known.insert(3, Known::Reader(Arc::new(Reader::Json(reader))));
        known.insert(4, Known::WrongType("AVRO".into()));
        let mut value = side(known);
        value.kind = ConverterKind::JsonSchema;
        let wire = WireDecoders {
            key: None,
            value: Some(value),
        };
        let json: serde_json::Value = serde_json::from_slice(
            &wire
                .value(&framed(3, br#"{"id":5,"name":"ann"}"#))
                .expect("decoded"),
        )
        .expect("json");
        assert_eq!(json["payload"], json!({"id": 5, "name": "ann"}));
        assert_eq!(json["schema"]["fields"][0]["type"], "int32");
        let err = |b: &[u8]| wire.value(b).expect_err("refused").to_string();
        let e = err(&framed(4, b"{}"));
        assert!(
            e.contains("AVRO schema") && e.contains("json_schema"),
            "{e}"
        );
        let e = err(&framed(3, br#"{"id":"x"}"#));
        assert!(
            e.contains("id 3") && e.contains("expected an integer"),
            "{e}"
        );
        let e = err(br#"{"id":5}"#);
        assert!(
            e.contains("converter is json_schema") && e.contains("looks like JSON"),
            "{e}"
        );
    }
}
