//! `[[source]]` sections: validation, and the values derived from a section
//! (endpoint, kind, zone, topic names, replica server id).

use super::source::{check_converters, SnapshotLocking, SourceConfig, SourceKind};
use super::ConfigError;

impl SourceConfig {
    endpoint_methods!();

    /// The source kind, from `kind` or `connector.class`.
    pub fn resolved_kind(&self) -> Result<SourceKind, ConfigError> {
        let from_class = match self.connector_class.as_deref() {
            None => None,
            Some(c) if c.ends_with("JdbcSourceConnector") => Some(SourceKind::Poll),
            Some(c) if c.ends_with("MySqlConnector") || c.ends_with("MariaDbConnector") => {
                Some(SourceKind::Binlog)
            }
            Some(c) => {
                return Err(ConfigError::Invalid {
                    pipeline: self.name.clone(),
                    key: "connector.class".into(),
                    reason: format!(
                    "{c} is not a source Sluice implements (JdbcSourceConnector, MySqlConnector)"
                ),
                })
            }
        };
        match (self.kind, from_class) {
            (Some(k), Some(c)) if k != c => Err(ConfigError::Invalid {
                pipeline: self.name.clone(),
                key: "kind".into(),
                reason: "kind contradicts connector.class".into(),
            }),
            (Some(k), _) | (None, Some(k)) => Ok(k),
            (None, None) => Err(ConfigError::Invalid {
                pipeline: self.name.clone(),
                key: "kind".into(),
                reason: "missing: set kind = \"binlog\" or \"poll\"".into(),
            }),
        }
    }

    /// Pure validation; no I/O.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            pipeline: self.name.clone(),
            key: key.into(),
            reason: reason.into(),
        };
        if self.name.trim().is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let kind = self.resolved_kind()?;
        if self.tasks_max.is_some_and(|n| n != 1) {
            return Err(invalid(
                "tasks.max",
                "Sluice runs exactly one task per source; set 1 or remove it",
            ));
        }
        check_converters(
            &self.name,
            [
                ("key", &self.key_converter_schemas_enable),
                ("value", &self.value_converter_schemas_enable),
            ],
        )?;
        self.converters()?;
        self.transform_chain()?;
        if kind == SourceKind::Poll {
            let mode = self.mode.ok_or_else(|| {
                invalid(
                    "mode",
                    "missing: bulk, incrementing, timestamp or timestamp+incrementing",
                )
            })?;
            if mode.uses_incrementing()
                && self.incrementing_column.as_deref().unwrap_or("").is_empty()
            {
                return Err(invalid(
                    "incrementing_column",
                    "required by this mode (incrementing.column.name)",
                ));
            }
            if mode.uses_timestamp() && self.timestamp_columns.is_empty() {
                return Err(invalid(
                    "timestamp_columns",
                    "required by this mode (timestamp.column.name)",
                ));
            }
            if let Some(query) = &self.query {
                if query.trim().is_empty() {
                    return Err(invalid("query", "must not be empty"));
                }
                if !self.tables.is_empty() || !self.table_exclude.is_empty() {
                    return Err(invalid(
                        "query",
                        "reads one custom query: remove tables / table.whitelist and table_exclude / table.blacklist",
                    ));
                }
                if self.topic_prefix.as_deref().unwrap_or("").is_empty() {
                    return Err(invalid(
                        "topic_prefix",
                        "required with query: the query's rows go to the topic named topic.prefix",
                    ));
                }
            }
            if self.timestamp_initial.is_some_and(|t| t < -1) {
                return Err(invalid(
                    "timestamp_initial",
                    "must be ms since the epoch, or -1 for the current time",
                ));
            }
            if self.poll_interval_ms == 0 {
                return Err(invalid("poll_interval_ms", "must be at least 1"));
            }
            if self.batch_max_rows == 0 {
                return Err(invalid("batch_max_rows", "must be at least 1"));
            }
            if self.snapshot_locking != SnapshotLocking::None
                || self.signal_data_collection.is_some()
                || !self.signal_enabled_channels.is_empty()
                || self.signal_kafka_topic.is_some()
                || self.signal_kafka_bootstrap_servers.is_some()
                || self.signal_kafka_group_id.is_some()
                || !self.signal_consumer.is_empty()
            {
                return Err(invalid(
                    "snapshot_locking",
                    "snapshot_locking and the signal_* keys are binlog-source settings; a poll source takes no snapshot",
                ));
            }
        }
        if self.max_batch_bytes == 0 {
            return Err(invalid("max_batch_bytes", "must be at least 1"));
        }
        if kind == SourceKind::Binlog {
            if self
                .server_id
                .is_some_and(|id| id == 0 || id > u64::from(u32::MAX))
            {
                return Err(invalid(
                    "server_id",
                    "must be between 1 and 4294967295 and unique among the server's replicas",
                ));
            }
            for (key, v) in [
                ("snapshot_fetch_rows", self.snapshot_fetch_rows),
                ("max_batch_rows", self.max_batch_rows),
                ("max_transaction_rows", self.max_transaction_rows),
            ] {
                if v == 0 {
                    return Err(invalid(key, "must be at least 1"));
                }
            }
            if self.signal_data_collection.as_deref().is_some_and(|t| {
                t.split_once('.')
                    .is_none_or(|(d, t)| d.is_empty() || t.is_empty())
            }) {
                return Err(invalid(
                    "signal_data_collection",
                    "must name the signal table as database.table",
                ));
            }
            self.validate_signal_channels()?;
            if self.mode.is_some() {
                return Err(invalid(
                    "mode",
                    "is a poll-source setting; a binlog source captures every change",
                ));
            }
            if self.query.is_some() {
                return Err(invalid(
                    "query",
                    "is a poll-source setting; a binlog source captures whole tables",
                ));
            }
        }
        self.check_debezium_keys(kind)?;
        super::failover::validate(self, kind)?;
        self.zone()?;
        super::standby::validate(self)
    }

    /// The zone of `db_timezone` (UTC when unset); an unknown zone is an
    /// error naming it.
    pub fn zone(&self) -> Result<super::DbZone, ConfigError> {
        match &self.db_timezone {
            None => Ok(super::DbZone::Utc),
            Some(tz) => super::DbZone::parse(tz).map_err(|reason| ConfigError::Invalid {
                pipeline: self.name.clone(),
                key: "db_timezone".into(),
                reason,
            }),
        }
    }

    /// Topic for `table`: `topic_prefix` + table; without a prefix, the
    /// table name (poll, as the JDBC source) or `<name>.<db>.<table>` (binlog).
    /// With `query`, the topic is `topic_prefix` alone.
    pub fn topic_for(&self, database: &str, table: &str) -> String {
        if self.query.is_some() {
            return self.topic_prefix.clone().unwrap_or_default();
        }
        match (&self.topic_prefix, self.resolved_kind().ok()) {
            (Some(p), _) => format!("{p}{table}"),
            (None, Some(SourceKind::Binlog)) => {
                format!("{}.{database}.{table}", self.logical_name())
            }
            (None, _) => table.to_string(),
        }
    }

    /// Whether Debezium's schema-change topic is written
    /// (`include.schema.changes`; see the field).
    pub fn schema_changes(&self) -> bool {
        self.include_schema_changes
            .unwrap_or(self.envelope == crate::connect::Envelope::Debezium)
            && self.resolved_kind().ok() == Some(SourceKind::Binlog)
    }

    /// Debezium's logical server name: `server_name`, else the pipeline name.
    pub fn logical_name(&self) -> &str {
        self.server_name.as_deref().unwrap_or(&self.name)
    }

    /// The replica server id: `server_id`, else one derived from the name
    /// (stable, in 5400..=1_005_399, clear of small hand-picked ids).
    pub fn replica_server_id(&self) -> u32 {
        match self.server_id.and_then(|id| u32::try_from(id).ok()) {
            Some(id) => id,
            None => {
                // FNV-1a: stable across builds, unlike DefaultHasher.
                let mut h: u32 = 0x811c_9dc5;
                for b in self.name.bytes() {
                    h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
                }
                5400 + h % 1_000_000
            }
        }
    }

    /// The heartbeat topic.
    pub fn heartbeat_topic_name(&self) -> String {
        self.heartbeat_topic
            .clone()
            .unwrap_or_else(|| format!("__sluice-heartbeat.{}", self.logical_name()))
    }
}
