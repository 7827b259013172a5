//! The topics each pipeline has used since it was created or its topics
//! were reset: Kafka Connect's "active topics" (KIP-558), shown by
//! `GET /connectors/{name}/topics` and cleared by `PUT .../topics/reset`.
//!
//! Sources record a topic once a batch published to it is committed; sinks
//! when a record of it is consumed. The table is process-wide, like the
//! metrics, because the recording happens deep in both data paths; it lives
//! in memory (a restarted daemon lists topics again as its pipelines use
//! them). Recording a known topic takes a read lock and no allocation.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{LazyLock, RwLock};

static TOPICS: LazyLock<RwLock<BTreeMap<String, BTreeSet<String>>>> =
    LazyLock::new(|| RwLock::new(BTreeMap::new()));

/// Records that `pipeline` used `topic`.
pub fn record(pipeline: &str, topic: &str) {
    let known = TOPICS
        .read()
        .is_ok_and(|t| t.get(pipeline).is_some_and(|s| s.contains(topic)));
    if known {
        return;
    }
    if let Ok(mut t) = TOPICS.write() {
        t.entry(pipeline.to_string())
            .or_default()
            .insert(topic.to_string());
    }
}

/// The topics `pipeline` used, sorted.
pub fn topics(pipeline: &str) -> Vec<String> {
    TOPICS
        .read()
        .ok()
        .and_then(|t| t.get(pipeline).map(|s| s.iter().cloned().collect()))
        .unwrap_or_default()
}

/// Forgets the topics of `pipeline`.
pub fn reset(pipeline: &str) {
    if let Ok(mut t) = TOPICS.write() {
        t.remove(pipeline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_are_recorded_once_sorted_and_reset_per_pipeline() {
        record("at-a", "t2");
        record("at-a", "t1");
        record("at-a", "t2");
        record("at-b", "t3");
        assert_eq!(topics("at-a"), vec!["t1", "t2"]);
        reset("at-a");
        assert!(topics("at-a").is_empty());
        assert_eq!(topics("at-b"), vec!["t3"]);
    }
}
