//! Where a binlog source starts: its stored position, a snapshot, or the
//! oldest binlog, and the binlog stream request that resumes there.
//!
//! A stored position is usable only while the server still has it: on MySQL
//! with GTIDs, while `@@gtid_purged` is inside the stored GTID set; without
//! GTIDs, while its binlog file is listed; on MariaDB with GTIDs the server
//! itself answers error 1236 on the first read when it is gone. A missing
//! resume point is a definite [`SourceError::BinlogMissingResumePoint`],
//! except under `snapshot_mode = "when_needed"`, which snapshots again.
//!
//! The request resumes by GTID where the server has GTIDs (MariaDB
//! `@slave_connect_state`, a MySQL GTID set), else by file and position.

use mysql_async::prelude::Queryable;
use mysql_async::{BinlogStreamRequest, Conn, Sid};

use super::gtid::{GtidParseError, MariaGtidList, MysqlGtidSet};
use super::offset::{self, BinlogOffset};
use super::server::{self, Flavor, ServerInfo};
use super::stream::GtidState;
use crate::config::{KafkaConfig, SnapshotMode, SourceConfig};
use crate::kafka::offsets;
use crate::source::SourceError;

/// Why a stored position cannot be resumed from.
#[derive(Debug, thiserror::Error)]
pub enum MissingResumePoint {
    /// The server refused to send the binlog from there (error 1236).
    #[error("the server cannot send the binlog from the stored position ({}): it was purged or is unknown", .0.message)]
    Refused(mysql_async::ServerError),
    /// MySQL purged transactions the stored GTID set lacks.
    #[error("@@gtid_purged ({purged}) has moved past the stored GTID set ({stored})")]
    GtidsPurged {
        /// The stored GTID set.
        stored: MysqlGtidSet,
        /// The server's `@@gtid_purged`.
        purged: MysqlGtidSet,
    },
    /// The stored binlog file was purged.
    #[error("binlog file {file} is no longer on the server (oldest: {})", .oldest.as_deref().unwrap_or("none"))]
    FileGone {
        /// The stored file.
        file: String,
        /// The oldest file the server has.
        oldest: Option<String>,
    },
    /// Following a failover (`url` lists several servers): the server does
    /// not hold the stored GTID position in its binlog.
    #[error("{0}")]
    NotOnServer(Box<PositionNotOnServer>),
}

/// A server whose binlog does not hold the stored GTID position.
#[derive(Debug, thiserror::Error)]
#[error("server {server} does not hold the stored GTID position \"{stored}\" in its binlog: it has {binlog_var} \"{binlog}\" and {purged_var} \"{purged}\"")]
pub struct PositionNotOnServer {
    /// The server (`host:port`).
    pub server: String,
    /// The stored GTID state.
    pub stored: String,
    /// What the server's binlog holds up to.
    pub binlog: String,
    /// The name of that value (`@@gtid_binlog_pos`, `@@gtid_executed`).
    pub binlog_var: &'static str,
    /// Where the server's binlog starts.
    pub purged: String,
    /// The name of that value (the oldest binlog's GTID state, `@@gtid_purged`).
    pub purged_var: &'static str,
}

impl MissingResumePoint {
    /// The error message's lead-in (a refusal explains itself).
    pub fn lead(&self) -> &'static str {
        match self {
            MissingResumePoint::Refused(_) => "",
            _ => "cannot resume: ",
        }
    }
}

/// Maps a binlog stream error: 1236 means the position or GTID is gone.
pub fn classify_stream_error(e: mysql_async::Error) -> SourceError {
    match e {
        mysql_async::Error::Server(s) if s.code == 1236 => {
            SourceError::BinlogMissingResumePoint(MissingResumePoint::Refused(s))
        }
        e => SourceError::Mysql(e),
    }
}

/// How a source starts.
pub enum Start {
    /// From its stored position.
    Resume(Box<BinlogOffset>),
    /// With a snapshot (`with_data: false`: position only, `schema_only`).
    Snapshot {
        /// Read the tables' rows.
        with_data: bool,
    },
    /// From the oldest binlog the server has (`snapshot_mode = "never"`).
    Oldest,
}

/// The source's stored position, if any (read after `init_transactions`, so final).
pub async fn stored_offset(
    kafka: &KafkaConfig,
    cfg: &SourceConfig,
) -> Result<Option<BinlogOffset>, SourceError> {
    let part = offset::partition_id(cfg.logical_name());
    let Some(json) = offsets::read_offsets(kafka, &kafka.offsets_topic, &cfg.name)
        .await?
        .remove(&part)
    else {
        return Ok(None);
    };
    serde_json::from_value::<BinlogOffset>(json.clone())
        .map(Some)
        .map_err(|e| SourceError::Offset {
            partition: part,
            offset: json.to_string(),
            source: e.into(),
        })
}

/// Decides where to start from the stored position and `snapshot_mode`;
/// `following`: the server being read when `url` lists several, and how
/// long to wait for it to reach the stored GTID position (its binlog must
/// hold it, [`super::failover::not_on_server`]).
pub async fn decide_start(
    conn: &mut Conn,
    info: &ServerInfo,
    cfg: &SourceConfig,
    stored: Option<BinlogOffset>,
    following: Option<(&str, std::time::Duration)>,
) -> Result<Start, SourceError> {
    // A chunked snapshot in progress resumes like a completed one.
    let Some(o) = stored.filter(|o| o.snapshot_completed || o.snapshot.is_some()) else {
        return Ok(match cfg.snapshot_mode {
            SnapshotMode::Initial | SnapshotMode::WhenNeeded => Start::Snapshot { with_data: true },
            SnapshotMode::SchemaOnly => Start::Snapshot { with_data: false },
            SnapshotMode::Never => Start::Oldest,
        });
    };
    let missing = match following {
        Some((server, patience)) => {
            super::failover::not_on_server(conn, info, server, &o, patience).await?
        }
        None => missing_resume_point(conn, info, cfg, &o).await?,
    };
    match (missing, cfg.snapshot_mode) {
        (None, _) => Ok(Start::Resume(Box::new(o))),
        (Some(why), SnapshotMode::WhenNeeded) => {
            tracing::warn!(pipeline = %cfg.name, reason = %why, "stored position not on the server; snapshotting again (when_needed)");
            Ok(Start::Snapshot { with_data: true })
        }
        (Some(why), _) => Err(SourceError::BinlogMissingResumePoint(why)),
    }
}

/// Why the server no longer has `o`, if it does not.
async fn missing_resume_point(
    conn: &mut Conn,
    info: &ServerInfo,
    cfg: &SourceConfig,
    o: &BinlogOffset,
) -> Result<Option<MissingResumePoint>, SourceError> {
    Ok(match (info.flavor, info.gtid_mode && !o.gtids.is_empty()) {
        (Flavor::MySql, true) => {
            let stored: MysqlGtidSet = o
                .gtids
                .parse()
                .map_err(|e: GtidParseError| offset_error(cfg, &o.gtids, e))?;
            let purged: MysqlGtidSet = server::gtid_purged(conn).await?.parse().unwrap_or_default();
            (!stored.contains_set(&purged))
                .then_some(MissingResumePoint::GtidsPurged { stored, purged })
        }
        // MariaDB by GTID: the server answers 1236 on the first read if it is gone.
        (Flavor::MariaDb, true) => None,
        _ => {
            let files = server::binlog_files(conn).await?;
            (!files.contains(&o.file)).then(|| MissingResumePoint::FileGone {
                file: o.file.clone(),
                oldest: files.first().cloned(),
            })
        }
    })
}

/// The start of the oldest binlog file (MariaDB: with the GTID state there).
pub async fn oldest_offset(
    conn: &mut Conn,
    info: &ServerInfo,
) -> Result<BinlogOffset, SourceError> {
    let files = server::binlog_files(conn).await?;
    let file = files.first().cloned().ok_or(SourceError::NoBinlog {
        what: "binlog files",
    })?;
    // MariaDB: the GTID state at the start of that file, for every domain.
    let gtids = match info.flavor {
        Flavor::MariaDb => conn
            .exec_first::<Option<String>, _, _>("SELECT BINLOG_GTID_POS(?, 4)", (&file,))
            .await?
            .flatten()
            .unwrap_or_default(),
        Flavor::MySql => String::new(),
    };
    Ok(BinlogOffset {
        file,
        pos: 4,
        gtids,
        snapshot_completed: true,
        server_id: info.server_id,
        ..BinlogOffset::default()
    })
}

/// The GTID state to track from `from` (parsed from its stored text).
pub fn gtid_state(info: &ServerInfo, from: &BinlogOffset) -> GtidState {
    match info.flavor {
        Flavor::MariaDb => {
            GtidState::Maria(from.gtids.parse::<MariaGtidList>().unwrap_or_default())
        }
        // A MySQL GTID set is only tracked from a complete one (the snapshot's
        // Executed_Gtid_Set): one grown from an empty set would leave out
        // everything before the start, and resuming by it would resend that.
        Flavor::MySql if info.gtid_mode && !from.gtids.is_empty() => {
            GtidState::MySql(from.gtids.parse::<MysqlGtidSet>().unwrap_or_default())
        }
        Flavor::MySql => GtidState::None,
    }
}

/// The stream request resuming at `from`: by GTID when there is a state to
/// resume by (MariaDB: sets `@slave_connect_state` on `conn`), else by file
/// and position. The second value is true when resuming by GTID.
pub async fn stream_request<'a>(
    conn: &mut Conn,
    cfg: &SourceConfig,
    from: &'a BinlogOffset,
    gtids: &GtidState,
) -> Result<(BinlogStreamRequest<'a>, bool), SourceError> {
    let request = BinlogStreamRequest::new(cfg.replica_server_id());
    if from.gtids.is_empty() {
        let by_file = request
            .with_filename(from.file.as_bytes())
            .with_pos(from.pos);
        return Ok((by_file, false));
    }
    let request = match gtids {
        GtidState::None => {
            let by_file = request
                .with_filename(from.file.as_bytes())
                .with_pos(from.pos);
            return Ok((by_file, false));
        }
        GtidState::Maria(l) => {
            conn.exec_drop("SET @slave_connect_state = ?", (l.to_string(),))
                .await?;
            request
        }
        GtidState::MySql(set) => request.with_gtid().with_gtid_set(sids(cfg, set)?),
    };
    Ok((request.with_filename(b"").with_pos(4), true))
}

/// A MySQL GTID set as the driver's `Sid`s.
fn sids(cfg: &SourceConfig, set: &MysqlGtidSet) -> Result<Vec<Sid<'static>>, SourceError> {
    set.iter()
        .map(|(src, ivs)| {
            let ranges: Vec<String> = ivs.iter().map(|(a, b)| format!("{a}-{b}")).collect();
            let text = format!("{src}:{}", ranges.join(":"));
            text.parse()
                .map_err(|e: std::io::Error| offset_error(cfg, &text, e))
        })
        .collect()
}

fn offset_error(
    cfg: &SourceConfig,
    text: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> SourceError {
    SourceError::Offset {
        partition: offset::partition_id(cfg.logical_name()),
        offset: text.to_string(),
        source: e.into(),
    }
}
