//! On-demand snapshots of a running binlog source: Debezium's
//! `execute-snapshot`, `stop-snapshot`, `pause-snapshot` and
//! `resume-snapshot` signals, whichever channel brings them (the REST API
//! through [`send`], rows of the signal table the stream reads, or records
//! of the Kafka signal topic, [`super::signal_topic`]). The stream takes a
//! signal between source transactions and commits the position record
//! carrying its effect at once; [`send`] is answered only after that commit,
//! so an acknowledged signal survives a crash.
//!
//! A running binlog source [`register`]s a bounded command channel under its
//! pipeline name; the stream takes commands between events and hands them to
//! its chunker ([`super::chunks`]), which queues the tables as an ad-hoc
//! snapshot read through the same watermarked chunks as the initial one, its
//! progress (queue and filters included) stored in the position record. A
//! pipeline that is not a running binlog source has no channel: [`send`]
//! answers [`ControlError::NotRunning`].
//!
//! The request bodies are Debezium's signal `data` (see [`Signal::parse`]):
//! `data-collections` are anchored, case-insensitive regexes over
//! `db.table`, each of which must match a captured table;
//! `additional-conditions` carry one SQL `filter` per data collection, ANDed
//! into that table's chunk `SELECT` (it is SQL run as the source's user, as in
//! Debezium: whoever may write to the REST API or the signal table may read
//! what that user reads).

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use serde_json::Value as Json;
use tokio::sync::{mpsc, oneshot};

/// Commands a source's channel holds before senders wait.
const QUEUE: usize = 8;

/// Longest a sender waits for the source to take and answer a command.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// One snapshot signal, in Debezium's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// `execute-snapshot`: read these tables (regexes), with per-collection filters.
    Execute {
        /// `data-collections`.
        collections: Vec<String>,
        /// `additional-conditions`: (data collection, SQL filter).
        conditions: Vec<(String, String)>,
    },
    /// `stop-snapshot`: stop these collections (`None`: the whole snapshot).
    Stop(Option<Vec<String>>),
    /// `pause-snapshot`.
    Pause,
    /// `resume-snapshot`.
    Resume,
}

/// Why a signal was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// A field of the request is wrong (HTTP 400).
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `data-collections`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No running binlog source of that name takes commands (HTTP 409).
    #[error("pipeline \"{0}\" is not a running binlog source")]
    NotRunning(String),
    /// The source stopped before the signal's position was stored: it may
    /// not have been taken (HTTP 503; send it again once the source runs).
    #[error("pipeline \"{0}\" stopped before the signal was stored; send it again once it runs")]
    NotStored(String),
    /// The source did not answer within [`ANSWER_WAIT`] (HTTP 504): it takes
    /// signals between source transactions, and a long one was being read,
    /// or its commit was slow. The signal may still be acted on.
    #[error("pipeline \"{0}\" did not confirm the signal within {ANSWER_WAIT:?}; it may still be acted on (see its status and log)")]
    Unconfirmed(String),
}

impl ControlError {
    /// A bad `field`.
    pub fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Self {
        ControlError::Invalid {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

impl Signal {
    /// A signal from its Debezium `type` (`execute-snapshot`, ...) and `data`
    /// JSON (`None` or `null`: no data). Only `incremental` snapshots exist
    /// here; `type` may be omitted.
    pub fn parse(kind: &str, data: Option<&Json>) -> Result<Signal, ControlError> {
        let data = data.filter(|d| !d.is_null());
        if let Some(d) = data {
            if !d.is_object() {
                return Err(ControlError::invalid("data", "must be a JSON object"));
            }
            match d.get("type") {
                None | Some(Json::Null) => {}
                Some(Json::String(t)) if t.eq_ignore_ascii_case("incremental") => {}
                Some(other) => {
                    return Err(ControlError::invalid(
                        "type",
                        format!("{other} is not supported; only \"incremental\" snapshots"),
                    ))
                }
            }
        }
        let collections = match data.and_then(|d| d.get("data-collections")) {
            None | Some(Json::Null) => None,
            Some(Json::Array(items)) => Some(
                items
                    .iter()
                    .map(|i| match i.as_str().map(str::trim) {
                        Some(s) if !s.is_empty() => {
                            crate::config::debezium::Patterns::parse(&[s])
                                .map_err(|r| ControlError::invalid("data-collections", r))?;
                            Ok(s.to_string())
                        }
                        _ => Err(ControlError::invalid(
                            "data-collections",
                            format!("{i} is not a table name (\"db.table\")"),
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(other) => {
                return Err(ControlError::invalid(
                    "data-collections",
                    format!("must be an array of \"db.table\" names, not {other}"),
                ))
            }
        };
        match kind {
            "execute-snapshot" => {
                let collections = collections.filter(|c| !c.is_empty()).ok_or_else(|| {
                    ControlError::invalid("data-collections", "must name at least one table")
                })?;
                let conditions = conditions(data)?;
                Ok(Signal::Execute {
                    collections,
                    conditions,
                })
            }
            "stop-snapshot" => Ok(Signal::Stop(collections.filter(|c| !c.is_empty()))),
            "pause-snapshot" => Ok(Signal::Pause),
            "resume-snapshot" => Ok(Signal::Resume),
            other => Err(ControlError::invalid(
                "type",
                format!("unknown signal \"{other}\""),
            )),
        }
    }
}

/// `additional-conditions`: `[{"data-collection": "db.t", "filter": "id > 1"}]`.
fn conditions(data: Option<&Json>) -> Result<Vec<(String, String)>, ControlError> {
    let field = "additional-conditions";
    let items = match data.and_then(|d| d.get(field)) {
        None | Some(Json::Null) => return Ok(Vec::new()),
        Some(Json::Array(items)) => items,
        Some(_) => return Err(ControlError::invalid(field, "must be an array")),
    };
    items
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let get = |k: &str| {
                c.get(k)
                    .and_then(Json::as_str)
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .ok_or_else(|| {
                        ControlError::invalid(
                            format!("{field}[{i}].{k}"),
                            "must be a non-empty string",
                        )
                    })
            };
            Ok((get("data-collection")?, get("filter")?))
        })
        .collect()
}

/// A command with the channel its answer goes back on.
pub struct Command {
    /// The signal.
    pub signal: Signal,
    /// Where the source answers: a summary, or why it refused.
    pub answer: oneshot::Sender<Result<String, ControlError>>,
}

static CHANNELS: LazyLock<Mutex<HashMap<String, mpsc::Sender<Command>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// A source's registration: while it lives, [`send`] reaches the source.
pub struct Registration {
    pipeline: String,
    tx: mpsc::Sender<Command>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut m) = CHANNELS.lock() {
            // A newer run of the same pipeline may have registered since.
            if m.get(&self.pipeline)
                .is_some_and(|t| t.same_channel(&self.tx))
            {
                m.remove(&self.pipeline);
            }
        }
    }
}

/// Opens `pipeline`'s command channel (replacing an older run's).
pub fn register(pipeline: &str) -> (Registration, mpsc::Receiver<Command>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    if let Ok(mut m) = CHANNELS.lock() {
        m.insert(pipeline.to_string(), tx.clone());
    }
    (
        Registration {
            pipeline: pipeline.to_string(),
            tx,
        },
        rx,
    )
}

/// Hands `signal` to the running binlog source `pipeline` and waits for its answer.
pub async fn send(pipeline: &str, signal: Signal) -> Result<String, ControlError> {
    let not_running = || ControlError::NotRunning(pipeline.to_string());
    let tx = CHANNELS
        .lock()
        .ok()
        .and_then(|m| m.get(pipeline).cloned())
        .ok_or_else(not_running)?;
    let (answer, reply) = oneshot::channel();
    let exchange = async {
        tx.send(Command { signal, answer })
            .await
            .map_err(|_| not_running())?;
        reply.await.map_err(|_| not_running())?
    };
    tokio::time::timeout(ANSWER_WAIT, exchange)
        .await
        .map_err(|_| ControlError::Unconfirmed(pipeline.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn debezium_execute_snapshot_data_parses() {
        let data = json!({"data-collections": ["shop.orders", "shop\\.items_.*"], "type": "INCREMENTAL",
            "additional-conditions": [{"data-collection": "shop.orders", "filter": "id > 100"}]});
        assert_eq!(
            Signal::parse("execute-snapshot", Some(&data)),
            Ok(Signal::Execute {
                collections: vec!["shop.orders".into(), "shop\\.items_.*".into()],
                conditions: vec![("shop.orders".into(), "id > 100".into())],
            })
        );
        assert_eq!(
            Signal::parse("stop-snapshot", Some(&json!({"type": "incremental"}))),
            Ok(Signal::Stop(None))
        );
        assert_eq!(
            Signal::parse("stop-snapshot", Some(&json!({"data-collections": ["a.b"]}))),
            Ok(Signal::Stop(Some(vec!["a.b".into()])))
        );
        assert_eq!(Signal::parse("pause-snapshot", None), Ok(Signal::Pause));
        assert_eq!(
            Signal::parse("resume-snapshot", Some(&Json::Null)),
            Ok(Signal::Resume)
        );
    }

    #[test]
    fn bad_requests_name_their_field() {
        let field = |kind: &str, data: Json| match Signal::parse(kind, Some(&data)) {
            Err(ControlError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field("execute-snapshot", json!({})), "data-collections");
        assert_eq!(
            field("execute-snapshot", json!({"data-collections": "a.b"})),
            "data-collections"
        );
        assert_eq!(
            field("execute-snapshot", json!({"data-collections": ["a.("]})),
            "data-collections"
        );
        assert_eq!(
            field(
                "execute-snapshot",
                json!({"data-collections": ["a.b"], "type": "blocking"})
            ),
            "type"
        );
        assert_eq!(
            field(
                "execute-snapshot",
                json!({"data-collections": ["a.b"], "additional-conditions": [{"data-collection": "a.b"}]})
            ),
            "additional-conditions[0].filter"
        );
        assert_eq!(field("log", json!({})), "type");
    }

    #[tokio::test]
    async fn a_source_answers_while_registered_only() {
        assert_eq!(
            send("ctl-none", Signal::Pause).await,
            Err(ControlError::NotRunning("ctl-none".into()))
        );
        let (reg, mut rx) = register("ctl-one");
        let source = tokio::spawn(async move {
            let cmd = rx.recv().await.expect("command");
            assert_eq!(cmd.signal, Signal::Resume);
            let _ = cmd.answer.send(Ok("resumed".into()));
        });
        assert_eq!(send("ctl-one", Signal::Resume).await, Ok("resumed".into()));
        source.await.expect("source");
        drop(reg);
        assert!(send("ctl-one", Signal::Pause).await.is_err());
    }
}
