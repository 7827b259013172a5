//! Standby keys of a `[[source]]` section: several daemons configured with
//! the same source, exactly one of them running it (`crate::app::standby`).
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `standby` | `false` | join the standby group; run only while elected |
//! | `standby_group` | `sluice-standby-<name>` | the Kafka consumer group of the instances |
//! | `standby_topic` | `sluice_standby` | the one-partition coordination topic (created if missing) |
//! | `standby_session_timeout_ms` | 6000 | how long the coordinator waits for a silent leader |

use std::time::Duration;

use super::{ConfigError, Delivery, SourceConfig};

/// The default session timeout: the smallest a Kafka broker accepts by
/// default (`group.min.session.timeout.ms` = 6000).
pub const DEFAULT_SESSION_TIMEOUT_MS: u64 = 6000;

/// The default coordination topic.
pub const DEFAULT_TOPIC: &str = "sluice_standby";

/// Serde default of `standby_session_timeout_ms`.
pub(super) fn default_session_timeout_ms() -> u64 {
    DEFAULT_SESSION_TIMEOUT_MS
}

/// The consumer group the instances of `cfg` join.
pub fn group(cfg: &SourceConfig) -> String {
    cfg.standby_group
        .clone()
        .unwrap_or_else(|| format!("sluice-standby-{}", cfg.name))
}

/// The coordination topic of `cfg`.
pub fn topic(cfg: &SourceConfig) -> String {
    cfg.standby_topic
        .clone()
        .unwrap_or_else(|| DEFAULT_TOPIC.to_string())
}

/// The session timeout of `cfg`.
pub fn session_timeout(cfg: &SourceConfig) -> Duration {
    Duration::from_millis(cfg.standby_session_timeout_ms)
}

/// Pure checks of the standby keys.
pub(super) fn validate(cfg: &SourceConfig) -> Result<(), ConfigError> {
    let invalid = |key: &str, reason: &str| ConfigError::Invalid {
        pipeline: cfg.name.clone(),
        key: key.into(),
        reason: reason.into(),
    };
    if !cfg.standby {
        for (key, set) in [
            ("standby_group", cfg.standby_group.is_some()),
            ("standby_topic", cfg.standby_topic.is_some()),
            (
                "standby_session_timeout_ms",
                cfg.standby_session_timeout_ms != DEFAULT_SESSION_TIMEOUT_MS,
            ),
        ] {
            if set {
                return Err(invalid(key, "only applies with standby = true"));
            }
        }
        return Ok(());
    }
    if cfg.delivery != Delivery::ExactlyOnce {
        return Err(invalid(
            "standby",
            "needs delivery = \"exactly-once\": the transactional producer's fencing is what stops a former leader from writing",
        ));
    }
    for (key, value) in [
        ("standby_group", &cfg.standby_group),
        ("standby_topic", &cfg.standby_topic),
    ] {
        if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
            return Err(invalid(key, "must not be empty"));
        }
    }
    if !(1000..=1_800_000).contains(&cfg.standby_session_timeout_ms) {
        return Err(invalid(
            "standby_session_timeout_ms",
            "must be between 1000 and 1800000 (and within the broker's group.min/max.session.timeout.ms, 6000..1800000 by default)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(extra: &str) -> Result<SourceConfig, String> {
        let text = format!(
            "[[source]]\nname = \"s\"\nkind = \"binlog\"\nurl = \"mysql://root@127.0.0.1:3306/db\"\n{extra}"
        );
        let config = super::super::Config::from_toml_str(&text).map_err(|e| e.to_string())?;
        let cfg = config.source.into_iter().next().ok_or("no source")?;
        cfg.validate().map_err(|e| e.to_string())?;
        Ok(cfg)
    }

    #[test]
    fn standby_is_off_by_default_and_its_keys_need_it() {
        let cfg = source("").expect("valid");
        assert!(!cfg.standby);
        let err = source("standby_group = \"g\"").expect_err("refused");
        assert!(err.contains("standby_group"), "{err}");
        assert!(err.contains("standby = true"), "{err}");
    }

    #[test]
    fn defaults_name_the_group_after_the_source() {
        let cfg = source("standby = true").expect("valid");
        assert_eq!(group(&cfg), "sluice-standby-s");
        assert_eq!(topic(&cfg), DEFAULT_TOPIC);
        assert_eq!(session_timeout(&cfg), Duration::from_secs(6));
        let cfg = source(
            "standby = \"true\"\nstandby_group = \"g\"\nstandby_topic = \"t\"\nstandby_session_timeout_ms = 10000",
        )
        .expect("valid");
        assert_eq!((group(&cfg), topic(&cfg)), ("g".into(), "t".into()));
        assert_eq!(session_timeout(&cfg), Duration::from_secs(10));
    }

    #[test]
    fn standby_needs_exactly_once_and_a_sane_timeout() {
        let err = source("standby = true\ndelivery = \"at-least-once\"").expect_err("refused");
        assert!(err.contains("exactly-once"), "{err}");
        let err = source("standby = true\nstandby_session_timeout_ms = 10").expect_err("refused");
        assert!(err.contains("standby_session_timeout_ms"), "{err}");
        let err = source("standby = true\nstandby_topic = \" \"").expect_err("refused");
        assert!(err.contains("must not be empty"), "{err}");
    }
}
