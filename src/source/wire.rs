//! The registry converters on the source side (`key_converter` /
//! `value_converter` = `avro` or `json_schema`): records leave in
//! Confluent's wire format — magic byte 0, the schema's 4-byte big-endian
//! registry id, the Avro body or the plain JSON body (JSON Schema,
//! registered with `"schemaType": "JSON"`).
//!
//! **Bodies are written by the encoder.** The emitter's encoder writes an
//! Avro or JSON Schema side straight from the row values
//! ([`crate::connect::Encoder::with_avro`],
//! [`crate::connect::Encoder::with_json_schema`]), header included with a
//! zero id, and hands the schema along with the record ([`Msg::framed`]);
//! here only the id is filled in, found by pointer for the schemas seen
//! before, so no JSON text is written and parsed back per record. The
//! records the encoder does not write (heartbeats) and those the transforms
//! rewrote are still converted from their Connect JSON.
//!
//! **Transforms first.** A source's `transforms` run here, on the Connect
//! JSON the encoder wrote (so with transforms the encoder writes no Avro
//! itself), before the conversion: a record a transform drops is not
//! published, a routed one goes to its new topic.
//!
//! **Before the transaction.** The publisher converts a batch before it
//! begins the batch's Kafka transaction, so a transaction is never opened,
//! let alone committed, before every schema id in it is known. A registry
//! outage is retried here a few times, then fails the batch as a transient
//! error: the source restarts from its last committed position, so nothing
//! is lost or written twice. A refusal (an incompatible schema change) is
//! definite and names the subject and the registry's reason.
//!
//! **Caches.** For converted records, the Avro (or JSON) schema is derived once per distinct Connect schema
//! (the encoder writes the same schema text for every row of a table until
//! its DDL changes); the id once per (subject, Avro schema), then reused. A
//! schema change is a new Connect schema, so a new Avro schema, registered
//! as the subject's next version.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::publish::Msg;
use super::SourceError;
use crate::config::{ConverterKind, SourceConfig, SubjectNameStrategy};
use crate::connect::avro::{self, AvroSchema};
use crate::connect::jsonschema::{self, JsonSchemaPlan};
use crate::connect::{CodecError, Framed, MessagePart};
use crate::registry::{ConverterClients, RegistryClient, RegistryError};
use crate::transforms::{Chain, Data, Record, TransformError};

/// Attempts at a registry request before the batch fails (transient).
const REGISTRY_ATTEMPTS: u32 = 5;
/// First pause between attempts; doubles each time.
const REGISTRY_BACKOFF: Duration = Duration::from_millis(500);

/// Converts a source's records to the wire format its converters ask for.
#[derive(Debug)]
pub struct Wire {
    key: Option<Side>,
    value: Option<Side>,
    /// The source's transforms, applied before the conversion.
    transforms: Option<Transforms>,
}

/// A transform chain and the topics it routed to (interned, so the caches
/// keyed by topic pointer keep working).
#[derive(Debug)]
struct Transforms {
    chain: Chain,
    topics: HashMap<String, Arc<str>>,
}

impl Transforms {
    /// Runs the chain over every record; drops the ones it drops.
    fn apply(&mut self, messages: &mut Vec<Msg>) -> Result<(), SourceError> {
        let mut out = Vec::with_capacity(messages.len());
        for mut m in messages.drain(..) {
            let failed = |source: TransformError| SourceError::Transform {
                topic: m.topic.to_string(),
                source,
            };
            let parse = |b: &Option<Vec<u8>>, what| match b {
                Some(bytes) => Data::parse(bytes, what),
                None => Ok(None),
            };
            let record = Record {
                topic: m.topic.to_string(),
                partition: None,
                offset: None,
                timestamp: None,
                key: parse(&m.key, "key").map_err(failed)?,
                value: parse(&m.value, "value").map_err(failed)?,
                headers: std::mem::take(&mut m.headers),
            };
            let Some(r) = self.chain.apply(record).map_err(failed)? else {
                continue;
            };
            if *m.topic != *r.topic {
                let topic = self
                    .topics
                    .entry(r.topic.clone())
                    .or_insert_with(|| Arc::from(r.topic.as_str()));
                m.topic = Arc::clone(topic);
            }
            m.key = r.key.map(|d| d.render().into_bytes());
            m.value = r.value.map(|d| d.render().into_bytes());
            m.headers = r.headers;
            out.push(m);
        }
        *messages = out;
        Ok(())
    }
}

#[derive(Debug)]
struct Side {
    part: MessagePart,
    kind: ConverterKind,
    client: Arc<RegistryClient>,
    strategy: SubjectNameStrategy,
    /// Connect schema text → its Avro schema.
    plans: HashMap<String, Arc<Plan>>,
    /// (topic, Avro schema text) → registry id.
    ids: HashMap<(Arc<str>, Arc<str>), u32>,
    /// Ids of the schemas the encoder wrote Avro or JSON Schema bodies
    /// with, by pointer: (topic, schema, id), the most recent last.
    framed: Vec<(Arc<str>, Framed, u32)>,
}

/// Schemas kept in [`Side::framed`] (past that it starts over).
const MAX_FRAMED: usize = 256;

#[derive(Debug)]
struct Plan {
    body: Body,
    text: Arc<str>,
    /// The Connect schema's (record's) full name, for the subject strategies.
    record: String,
}

#[derive(Debug)]
enum Body {
    Avro(AvroSchema),
    Json(JsonSchemaPlan),
}

#[derive(Deserialize)]
struct ConnectMessage<'a> {
    #[serde(borrow)]
    schema: &'a RawValue,
    payload: serde_json::Value,
}

impl Wire {
    /// The converters and transforms of `cfg`; `None` when both converters
    /// are JSON and there are no transforms (nothing to do).
    pub fn for_source(cfg: &SourceConfig) -> Result<Option<Wire>, SourceError> {
        let (key, value) = cfg.converters()?;
        // Key and value on one registry share one client (and its caches).
        let clients = ConverterClients::new(&key, &value).map_err(|e| SourceError::Registry {
            topic: "(all)".into(),
            source: e,
        })?;
        let side = |c: crate::config::Converter, client: Option<Arc<RegistryClient>>, part| {
            let client = client.filter(|_| c.kind.uses_registry())?;
            Some(Side {
                part,
                kind: c.kind,
                client,
                strategy: c.subject_strategy,
                plans: HashMap::new(),
                ids: HashMap::new(),
                framed: Vec::new(),
            })
        };
        let key = side(key, clients.key, MessagePart::Key);
        let value = side(value, clients.value, MessagePart::Value);
        let chain = cfg.transform_chain()?;
        let transforms = (!chain.is_empty()).then(|| Transforms {
            chain,
            topics: HashMap::new(),
        });
        Ok(
            (key.is_some() || value.is_some() || transforms.is_some()).then_some(Wire {
                key,
                value,
                transforms,
            }),
        )
    }

    /// Rewrites every record of `messages` (tombstones stay empty): a body
    /// the encoder wrote in the wire format gets its schema id; Connect JSON
    /// (heartbeats, records the transforms rewrote) is converted.
    pub async fn convert(&mut self, messages: &mut Vec<Msg>) -> Result<(), SourceError> {
        if let Some(t) = self.transforms.as_mut() {
            t.apply(messages)?;
        }
        for m in messages.iter_mut() {
            let [key_framed, value_framed] = &m.framed;
            for (side, bytes, framed) in [
                (self.key.as_mut(), m.key.as_mut(), key_framed),
                (self.value.as_mut(), m.value.as_mut(), value_framed),
            ] {
                let (Some(side), Some(bytes)) = (side, bytes) else {
                    continue;
                };
                match framed {
                    Some(schema) => side.frame(&m.topic, schema, bytes).await?,
                    None => *bytes = side.convert(&m.topic, bytes).await?,
                }
            }
        }
        Ok(())
    }
}

impl Side {
    /// Writes the registry id of `schema` into the header of `bytes` (an
    /// Avro or JSON Schema body the encoder wrote, schema id zero).
    async fn frame(
        &mut self,
        topic: &Arc<str>,
        schema: &Framed,
        bytes: &mut [u8],
    ) -> Result<(), SourceError> {
        let known = self
            .framed
            .iter()
            .rev()
            .find(|(t, s, _)| Arc::ptr_eq(t, topic) && s.same(schema))
            .map(|(_, _, id)| *id);
        let id = match known {
            Some(id) => id,
            None => {
                let plan = match schema {
                    Framed::Avro(a) => Plan {
                        text: a.text.as_str().into(),
                        record: a.full_name.clone().unwrap_or_default(),
                        body: Body::Avro((**a).clone()),
                    },
                    Framed::Json(j) => Plan {
                        text: j.text.as_str().into(),
                        record: j.name.clone().unwrap_or_default(),
                        body: Body::Json((**j).clone()),
                    },
                };
                let id = self.id(topic, &plan).await?;
                if self.framed.len() >= MAX_FRAMED {
                    self.framed.clear();
                }
                self.framed.push((Arc::clone(topic), schema.clone(), id));
                id
            }
        };
        match bytes {
            [0, a, b, c, d, ..] => {
                [*a, *b, *c, *d] = id.to_be_bytes();
                Ok(())
            }
            _ => Err(SourceError::Codec {
                table: topic.to_string(),
                source: CodecError::InvalidValue {
                    field: "(root)".into(),
                    reason: "a body without its wire-format header".into(),
                },
            }),
        }
    }

    async fn convert(&mut self, topic: &Arc<str>, json: &[u8]) -> Result<Vec<u8>, SourceError> {
        let codec = |source: CodecError| SourceError::Codec {
            table: topic.to_string(),
            source,
        };
        let msg: ConnectMessage<'_> = serde_json::from_slice(json).map_err(|source| {
            codec(CodecError::Json {
                part: self.part,
                source,
            })
        })?;
        let plan = match self.plans.get(msg.schema.get()) {
            Some(p) => Arc::clone(p),
            None => {
                let schema: serde_json::Value =
                    serde_json::from_str(msg.schema.get()).map_err(|source| {
                        codec(CodecError::Json {
                            part: self.part,
                            source,
                        })
                    })?;
                let plan = Arc::new(match self.kind {
                    ConverterKind::JsonSchema => {
                        let js = jsonschema::from_connect(&schema, self.part).map_err(codec)?;
                        Plan {
                            text: js.text.as_str().into(),
                            record: js.name.clone().unwrap_or_default(),
                            body: Body::Json(js),
                        }
                    }
                    _ => {
                        let avro = avro::from_connect(&schema, self.part).map_err(codec)?;
                        Plan {
                            text: avro.text.as_str().into(),
                            record: avro.full_name.clone().unwrap_or_default(),
                            body: Body::Avro(avro),
                        }
                    }
                });
                self.plans
                    .insert(msg.schema.get().to_string(), Arc::clone(&plan));
                plan
            }
        };
        let id = self.id(topic, &plan).await?;
        let mut out = Vec::with_capacity(json.len() / 2 + 5);
        out.push(0);
        out.extend_from_slice(&id.to_be_bytes());
        match &plan.body {
            Body::Avro(a) => avro::encode(a, &msg.payload, &mut out),
            Body::Json(j) => jsonschema::encode(j, &msg.payload, &mut out),
        }
        .map_err(codec)?;
        Ok(out)
    }

    async fn id(&mut self, topic: &Arc<str>, plan: &Plan) -> Result<u32, SourceError> {
        let cache_key = (Arc::clone(topic), Arc::clone(&plan.text));
        if let Some(id) = self.ids.get(&cache_key) {
            return Ok(*id);
        }
        let subject = self
            .strategy
            .subject(topic, self.part == MessagePart::Key, &plan.record);
        let schema_type = match plan.body {
            Body::Avro(_) => None,
            Body::Json(_) => Some(crate::registry::JSON),
        };
        let mut pause = REGISTRY_BACKOFF;
        let mut attempt = 1;
        let id = loop {
            match self
                .client
                .register(&subject, &plan.text, schema_type)
                .await
            {
                Ok(id) => break id,
                Err(e) if e.is_transient() && attempt < REGISTRY_ATTEMPTS => {
                    tracing::warn!(topic = %topic, subject = %subject, attempt, error = %e,
                        "schema registry unavailable; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                Err(e) => return Err(registry_error(topic, e)),
            }
        };
        tracing::info!(topic = %topic, subject = %subject, id, "schema registered");
        self.ids.insert(cache_key, id);
        Ok(id)
    }
}

fn registry_error(topic: &str, source: RegistryError) -> SourceError {
    SourceError::Registry {
        topic: topic.to_string(),
        source,
    }
}
