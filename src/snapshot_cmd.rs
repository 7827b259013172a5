//! `sluice snapshot`: sends a snapshot signal to a running binlog source
//! through the local daemon's REST API (`[http] listen` of the config, with
//! its bearer token when one is set); see [`crate::http::snapshot`].

use std::time::Duration;

use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::http::client::{self, ClientError};

/// Longest the daemon may take to answer (the source checks the tables and
/// filters on its server first).
const ANSWER_WAIT: Duration = Duration::from_secs(40);

/// What to ask the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `execute-snapshot` of `tables`, with `(table, filter)` conditions.
    Execute {
        /// `data-collections`.
        tables: Vec<String>,
        /// `additional-conditions`.
        filters: Vec<(String, String)>,
    },
    /// `stop-snapshot` of `tables` (empty: the whole snapshot).
    Stop(Vec<String>),
    /// `pause-snapshot`.
    Pause,
    /// `resume-snapshot`.
    Resume,
}

/// Why the command failed.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotCmdError {
    /// Bad arguments or config (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The daemon could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The daemon refused (its status and message).
    #[error("the daemon refused ({0}): {1}")]
    Refused(u16, String),
}

/// `--filter 'db.t=SQL'` into its table and condition.
pub fn parse_filter(text: &str) -> Result<(String, String), SnapshotCmdError> {
    match text.split_once('=') {
        Some((t, f)) if !t.trim().is_empty() && !f.trim().is_empty() => {
            Ok((t.trim().to_string(), f.trim().to_string()))
        }
        _ => Err(SnapshotCmdError::Usage(format!(
            "--filter '{text}': expected 'db.table=SQL condition'"
        ))),
    }
}

/// The request (method, path suffix, body) for `action`.
fn request(action: &Action) -> (&'static str, &'static str, Option<Json>) {
    match action {
        Action::Execute { tables, filters } => {
            let mut collections = tables.clone();
            for (t, _) in filters {
                if !collections.contains(t) {
                    collections.push(t.clone());
                }
            }
            let conditions: Vec<Json> = filters
                .iter()
                .map(|(t, f)| json!({"data-collection": t, "filter": f}))
                .collect();
            let mut body = json!({"data-collections": collections, "type": "incremental"});
            if !conditions.is_empty() {
                body["additional-conditions"] = Json::Array(conditions);
            }
            ("POST", "snapshot", Some(body))
        }
        Action::Stop(tables) if tables.is_empty() => ("POST", "snapshot/stop", None),
        Action::Stop(tables) => (
            "POST",
            "snapshot/stop",
            Some(json!({"data-collections": tables, "type": "incremental"})),
        ),
        Action::Pause => ("PUT", "snapshot/pause", None),
        Action::Resume => ("PUT", "snapshot/resume", None),
    }
}

/// Sends `action` for `pipeline` to the daemon of `config`; the daemon's message.
pub async fn run(
    config: &Config,
    pipeline: &str,
    action: &Action,
) -> Result<String, SnapshotCmdError> {
    if matches!(action, Action::Execute { tables, filters } if tables.is_empty() && filters.is_empty())
    {
        return Err(SnapshotCmdError::Usage(
            "name the tables: --tables db.t1,db.t2 (or --stop, --pause, --resume)".into(),
        ));
    }
    let token = crate::daemon::auth_token(config)
        .map_err(|e| SnapshotCmdError::Usage(format!("config error: {e}")))?;
    let (method, suffix, body) = request(action);
    let path = format!("/connectors/{}/{suffix}", client::segment(pipeline));
    let body = body.map(|b| b.to_string());
    let (status, reply) = client::call(
        ANSWER_WAIT,
        &config.http.listen,
        token.as_deref(),
        method,
        &path,
        body.as_deref(),
    )
    .await?;
    let message = serde_json::from_str::<Json>(&reply)
        .ok()
        .and_then(|v| v.get("message").and_then(Json::as_str).map(str::to_string))
        .unwrap_or(reply);
    if (200..300).contains(&status) {
        Ok(message)
    } else {
        Err(SnapshotCmdError::Refused(status, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_filter("db.t1=status = 'x' AND id > 100").expect("filter"),
            ("db.t1".into(), "status = 'x' AND id > 100".into())
        );
        assert!(parse_filter("db.t1").is_err());
        assert!(parse_filter("=id > 1").is_err());
    }

    #[test]
    fn the_body_is_debeziums_signal_data() {
        let (method, path, body) = request(&Action::Execute {
            tables: vec!["db.t1".into()],
            filters: vec![("db.t2".into(), "id > 1".into())],
        });
        assert_eq!((method, path), ("POST", "snapshot"));
        assert_eq!(
            body.expect("body"),
            json!({"data-collections": ["db.t1", "db.t2"], "type": "incremental",
                "additional-conditions": [{"data-collection": "db.t2", "filter": "id > 1"}]})
        );
        assert_eq!(
            request(&Action::Stop(vec![])),
            ("POST", "snapshot/stop", None)
        );
    }
}
