//! `sluice offsets show|reset|import`: read and rewrite a pipeline's committed
//! position, or take a Debezium MySQL connector's over.
//!
//! **Sources** keep their position in the compacted offsets topic
//! (`[kafka] offsets_topic`, one record per source table, see
//! [`crate::kafka::offsets`]). `show` reads it `read_committed`, as the source
//! does at start. `reset` writes, in one Kafka transaction under the source's
//! own `transactional.id` (`sluice-source-<name>`), a tombstone for every table
//! (the next start re-reads each table from the beginning: a poll source
//! re-publishes every row) or, with `--to`, the given position for one table.
//! Using the source's transactional id means a still-running instance of the
//! source anywhere is fenced: its open transaction is aborted and it stops
//! with "producer fenced" instead of interleaving with the reset.
//!
//! **Sinks** keep their position in `sluice_sink_offsets` of the target
//! database, which is authoritative. Deleting those rows would not rewind a
//! sink (it would resume at the consumer group's committed offsets), so
//! `reset` *sets* them: to the earliest offset still in Kafka for every
//! partition of the sink's topics, or with `--topic/--partition/--offset` one
//! partition to a given next offset; the group offsets are then committed to
//! the same values (best effort, for lag tools).
//!
//! **Import** turns a Debezium MySQL connector's stored offset (Connect's
//! offsets topic or a standalone offsets file, [`crate::app::takeover`]) into
//! a binlog source's position and writes it as `reset --to` does: the source
//! continues from Debezium's binlog position or GTID set, skipping what
//! Debezium emitted of a half-processed transaction, without a snapshot.
//!
//! **Running pipelines.** `reset` and `import` refuse (unless forced) when it can see the
//! pipeline running: the daemon of this config answers on `[http] listen` with
//! the pipeline RUNNING, or (sinks) the consumer group has active members, or
//! (standby sources) the standby group has (an instance may lead elsewhere).

use std::time::Duration;

use rdkafka::consumer::Consumer;
use serde_json::Value as Json;

use crate::app::offsets as stored;
pub use crate::app::offsets::OffsetsError;
use crate::app::takeover;
pub use crate::app::takeover::OffsetStore;
use crate::config::{Config, Envelope, KafkaConfig, SinkConfig, SourceConfig, SourceKind};
use crate::kafka::{client, KafkaError};
use crate::sink::target::OffsetRow;
use crate::source::binlog::offset as binlog_offset;

const TIMEOUT: Duration = Duration::from_secs(10);

/// What `reset` writes.
#[derive(Debug, Clone, PartialEq)]
pub enum Reset {
    /// Start over: sources forget every table, sinks go to the earliest offsets.
    Beginning,
    /// A source table's position (`table` may be omitted when the source has
    /// exactly one stored table).
    SourceTo {
        /// `db.table`.
        table: Option<String>,
        /// The position record, e.g. `{"incrementing":42}` for a poll source.
        value: Json,
    },
    /// A sink partition's next offset.
    SinkTo {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
        /// Next offset to apply.
        offset: i64,
    },
}

enum Pipeline<'a> {
    Source(&'a SourceConfig),
    Sink(&'a SinkConfig),
}

fn find<'a>(config: &'a Config, name: &str) -> Result<Pipeline<'a>, OffsetsError> {
    if let Some(s) = config.source.iter().find(|s| s.name == name) {
        return Ok(Pipeline::Source(s));
    }
    if let Some(s) = config.sink.iter().find(|s| s.name == name) {
        return Ok(Pipeline::Sink(s));
    }
    Err(OffsetsError::UnknownPipeline(name.to_string()))
}

/// The committed position of `pipeline`, one line per table (sources) or
/// partition (sinks).
pub async fn show(config: &Config, pipeline: &str) -> Result<Vec<String>, OffsetsError> {
    match find(config, pipeline)? {
        Pipeline::Source(s) => {
            let sorted = stored::read_source(&config.kafka, s).await?;
            if sorted.is_empty() {
                return Ok(vec![format!(
                    "source \"{}\": no committed position (the next start reads from the beginning)",
                    s.name
                )]);
            }
            Ok(sorted
                .into_iter()
                .map(|(table, v)| format!("{table}\t{v}"))
                .collect())
        }
        Pipeline::Sink(s) => {
            let sorted = stored::read_sink(s).await?;
            if sorted.is_empty() {
                return Ok(vec![format!(
                    "sink \"{}\": no stored offsets (the next start follows the consumer group)",
                    s.name
                )]);
            }
            Ok(sorted
                .into_iter()
                .map(|((t, p), o)| format!("{t}\t{p}\t{o}"))
                .collect())
        }
    }
}

/// Rewrites the position of `pipeline`; returns what was written, one line each.
pub async fn reset(
    config: &Config,
    pipeline: &str,
    what: Reset,
    force: bool,
) -> Result<Vec<String>, OffsetsError> {
    let p = find(config, pipeline)?;
    if !force {
        refuse_if_running(config, &p).await?;
    }
    match p {
        Pipeline::Source(s) => reset_source(&config.kafka, s, what).await,
        Pipeline::Sink(s) => reset_sink(&config.kafka, s, what).await,
    }
}

/// Takes over `connector`'s stored offsets as binlog source `pipeline`'s
/// position; returns what was written and warnings, one line each.
pub async fn import(
    config: &Config,
    pipeline: &str,
    connector: &str,
    store: &OffsetStore,
    force: bool,
) -> Result<Vec<String>, OffsetsError> {
    let p = find(config, pipeline)?;
    let s = match p {
        Pipeline::Source(s) if s.kind == Some(SourceKind::Binlog) => s,
        _ => {
            return Err(OffsetsError::Usage(format!(
                "\"{pipeline}\" is not a binlog source: only a binlog source takes over a Debezium MySQL connector's offsets"
            )))
        }
    };
    if !force {
        refuse_if_running(config, &p).await?;
    }
    let found = takeover::read(&config.kafka, store, connector).await?;
    let [dbz] = found.as_slice() else {
        let servers: Vec<&str> = found.iter().map(|o| o.server.as_str()).collect();
        return Err(OffsetsError::Usage(format!(
            "connector \"{connector}\" has offsets for {} logical servers ({}): a Debezium MySQL connector has one",
            servers.len(),
            servers.join(", ")
        )));
    };
    let position = takeover::to_binlog_offset(connector, &dbz.value)?;
    let json = serde_json::to_value(&position)
        .map_err(|e| OffsetsError::Usage(format!("cannot encode the position: {e}")))?;
    let partition = binlog_offset::partition_id(s.logical_name());
    stored::write_source(&config.kafka, s, &[(partition.clone(), Some(json.clone()))]).await?;
    let mut out = vec![
        format!("{partition}\t{json}"),
        format!(
            "source \"{}\" resumes at {}:{}{} (Debezium connector \"{connector}\", {store}), without a snapshot",
            s.name,
            position.file,
            position.pos,
            if position.gtids.is_empty() {
                String::new()
            } else {
                format!(" / GTID set {}", position.gtids)
            }
        ),
    ];
    if dbz.server != s.logical_name() {
        out.push(format!(
            "warning: Debezium's topic.prefix is \"{}\" but the source's server_name is \"{}\": its topics are {}.<db>.<table>, not Debezium's (set server_name = \"{}\" to continue Debezium's topics)",
            dbz.server,
            s.logical_name(),
            s.logical_name(),
            dbz.server
        ));
    }
    if s.envelope != Envelope::Debezium {
        out.push(
            "warning: the source's envelope is not \"debezium\": its messages will not have the shape of Debezium's (set envelope = \"debezium\")".to_string(),
        );
    }
    Ok(out)
}

async fn refuse_if_running(config: &Config, p: &Pipeline<'_>) -> Result<(), OffsetsError> {
    let name = match p {
        Pipeline::Source(s) => &s.name,
        Pipeline::Sink(s) => &s.name,
    };
    let running = |evidence: String| OffsetsError::Running {
        pipeline: name.clone(),
        evidence,
    };
    if let Some(state) = daemon_state(&config.http.listen, name).await {
        if state == "RUNNING" || state == "UNASSIGNED" {
            return Err(running(format!(
                "the daemon on {} reports it {state}",
                config.http.listen
            )));
        }
    }
    // A standby source may lead on another host: its group says whether any
    // instance runs (the local daemon may be standing by).
    if let Pipeline::Source(s) = p {
        if s.standby {
            let group = crate::config::standby::group(s);
            let members = group_members(&config.kafka, &group).await?;
            if members > 0 {
                return Err(running(format!(
                    "standby group {group} has {members} active instance(s)"
                )));
            }
        }
    }
    if let Pipeline::Sink(s) = p {
        let members = group_members(&config.kafka, &s.group_id()).await?;
        if members > 0 {
            return Err(running(format!(
                "consumer group {} has {members} active member(s)",
                s.group_id()
            )));
        }
    }
    Ok(())
}

/// The Connect state the local daemon reports for `name`, if one answers.
async fn daemon_state(listen: &str, name: &str) -> Option<String> {
    let path = format!("/connectors/{}/status", crate::http::client::segment(name));
    let (_, body) =
        crate::http::client::call(Duration::from_secs(3), listen, None, "GET", &path, None)
            .await
            .ok()?;
    let v: Json = serde_json::from_str(&body).ok()?;
    v.get("connector")?
        .get("state")?
        .as_str()
        .map(str::to_string)
}

/// Active members of consumer group `group`.
async fn group_members(kafka: &KafkaConfig, group: &str) -> Result<usize, OffsetsError> {
    let kafka = kafka.clone();
    let group = group.to_string();
    let result = tokio::task::spawn_blocking(move || {
        let consumer = client::metadata_client(&kafka)?;
        let list = consumer
            .fetch_group_list(Some(&group), TIMEOUT)
            .map_err(|e| KafkaError::client("describing consumer group", e))?;
        Ok::<_, KafkaError>(list.groups().iter().map(|g| g.members().len()).sum())
    })
    .await
    .map_err(|_| KafkaError::Timeout("describing consumer group"))?;
    Ok(result?)
}

async fn reset_source(
    kafka: &KafkaConfig,
    s: &SourceConfig,
    what: Reset,
) -> Result<Vec<String>, OffsetsError> {
    let stored = stored::read_source(kafka, s).await?;
    let records: Vec<(String, Option<Json>)> = match what {
        Reset::Beginning => stored.into_keys().map(|t| (t, None)).collect(),
        Reset::SourceTo { table, value } => {
            stored::check_source_value(s, &value)
                .map_err(|e| OffsetsError::Usage(format!("--to: {e}")))?;
            let table = match table {
                Some(t) => t,
                None if stored.len() == 1 => stored.into_keys().next().unwrap_or_default(),
                None => {
                    return Err(OffsetsError::Usage(format!(
                        "--table DB.TABLE is needed: source \"{}\" has {} stored tables",
                        s.name,
                        stored.len()
                    )))
                }
            };
            vec![(table, Some(value))]
        }
        Reset::SinkTo { .. } => {
            return Err(OffsetsError::Usage(format!(
                "\"{}\" is a source: --topic/--partition/--offset apply to sinks; use --to",
                s.name
            )))
        }
    };
    if records.is_empty() {
        return Ok(vec![format!(
            "source \"{}\": no committed position; nothing to reset",
            s.name
        )]);
    }
    stored::write_source(kafka, s, &records).await?;
    let out = records
        .into_iter()
        .map(|(table, value)| match value {
            None => format!("{table}\treset (read from the beginning at the next start)"),
            Some(v) => format!("{table}\t{v}"),
        })
        .collect();
    Ok(out)
}

async fn reset_sink(
    kafka: &KafkaConfig,
    s: &SinkConfig,
    what: Reset,
) -> Result<Vec<String>, OffsetsError> {
    let rows: Vec<OffsetRow> = match what {
        Reset::Beginning => stored::sink_earliest(kafka, s)
            .await?
            .into_iter()
            .map(|(t, p, o)| (s.name.clone(), t, p, o))
            .collect(),
        Reset::SinkTo {
            topic,
            partition,
            offset,
        } => {
            if offset < 0 || partition < 0 {
                return Err(OffsetsError::Usage(
                    "--partition and --offset must not be negative".into(),
                ));
            }
            vec![(s.name.clone(), topic, partition, offset)]
        }
        Reset::SourceTo { .. } => {
            return Err(OffsetsError::Usage(format!(
                "\"{}\" is a sink: --to applies to sources; use --topic/--partition/--offset",
                s.name
            )))
        }
    };
    if rows.is_empty() {
        return Ok(vec![format!(
            "sink \"{}\": its topics have no partitions yet; nothing to reset",
            s.name
        )]);
    }
    let warning = stored::write_sink(kafka, s, &rows).await?;
    let mut out: Vec<String> = rows
        .iter()
        .map(|(_, t, p, o)| format!("{t}\t{p}\t{o}"))
        .collect();
    if let Some(w) = warning {
        out.push(format!("warning: {w}"));
    }
    Ok(out)
}
