//! `dashboards/sluice.json` only queries metrics Sluice exposes: every PromQL
//! expression in it is tokenized, its metric names (histogram `_bucket`,
//! `_sum`, `_count` mapped to their family) must be rows of the README's
//! metrics table (which `metrics_scrape` checks against a running daemon),
//! every poll/sink/process metric of that table is on some panel, every query
//! is filtered by the `instance` template variable and every query of a
//! per-pipeline metric by the `pipeline` variable.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::suite::metrics_scrape::{documented_metrics, DocMetric};

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "atan2",
    "inf",
    "nan",
];

/// Aggregation operators, which may be followed by `by (...)` before their `(`.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Metric names used by a PromQL expression: identifiers that are not
/// functions or aggregations (followed by `(`), keywords, label names (inside
/// `{}` or a `by (...)` list), strings or range/offset durations.
pub fn metric_names(expr: &str) -> Vec<String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let mut i = 0;
    let mut after_grouping = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' | '[' => {
                let close = if c == '{' { '}' } else { ']' };
                while i < chars.len() && chars[i] != close {
                    if chars[i] == '"' {
                        i += 1;
                        while i < chars.len() && chars[i] != '"' {
                            i += if chars[i] == '\\' { 2 } else { 1 };
                        }
                    }
                    i += 1;
                }
                i += 1;
            }
            '(' if after_grouping => {
                while i < chars.len() && chars[i] != ')' {
                    i += 1;
                }
                i += 1;
                after_grouping = false;
            }
            c if c.is_ascii_alphabetic() || c == '_' || c == ':' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == ':')
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace());
                let lower = word.to_ascii_lowercase();
                if [
                    "by",
                    "without",
                    "on",
                    "ignoring",
                    "group_left",
                    "group_right",
                ]
                .contains(&lower.as_str())
                {
                    after_grouping = true;
                } else if next != Some(&'(')
                    && !KEYWORDS.contains(&lower.as_str())
                    && !AGGREGATIONS.contains(&lower.as_str())
                {
                    names.push(word);
                }
            }
            c if c.is_ascii_digit() => {
                // Numbers and durations (5m, 1h30m, 0.99, 1e3).
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            '$' => {
                // A Grafana variable outside a selector.
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// The documented metric a sample name belongs to, if any.
fn family<'a>(name: &str, doc: &'a [DocMetric]) -> Option<&'a DocMetric> {
    doc.iter().find(|m| m.name == name).or_else(|| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .find_map(|base| doc.iter().find(|m| m.name == base && m.kind == "histogram"))
    })
}

/// Every `expr` (panel targets) and variable query string in the dashboard.
fn expressions(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("expr", Value::String(s)) | ("definition", Value::String(s)) => {
                        out.push(s.clone())
                    }
                    ("query", Value::String(s)) if s.contains('(') => out.push(s.clone()),
                    _ => expressions(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| expressions(v, out)),
        _ => {}
    }
}

fn dashboard() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards/sluice.json");
    let text = std::fs::read_to_string(&path).expect("dashboards/sluice.json");
    serde_json::from_str(&text).expect("dashboard is JSON")
}

/// `label_values(metric, label)` names its metric inside a call.
fn label_values_metric(expr: &str) -> Option<String> {
    let inner = expr.trim().strip_prefix("label_values(")?;
    let (metric, _) = inner.split_once(',')?;
    Some(metric.trim().split('{').next()?.to_string())
}

#[test]
fn every_dashboard_expression_uses_only_exposed_metrics() {
    let doc = documented_metrics();
    let mut exprs = Vec::new();
    expressions(&dashboard(), &mut exprs);
    assert!(exprs.len() >= 15, "expressions found: {exprs:?}");
    let mut used = BTreeSet::new();
    for e in &exprs {
        // Grafana's label_values(metric, label) is not PromQL.
        let names = match label_values_metric(e) {
            Some(m) => vec![m],
            None => metric_names(e),
        };
        assert!(!names.is_empty(), "no metric in {e}");
        let mut per_pipeline = false;
        for n in names {
            let m = family(&n, &doc)
                .unwrap_or_else(|| panic!("{n} (in {e}) is not a metric Sluice exposes"));
            used.insert(m.name.clone());
            per_pipeline |= m.labels.contains("pipeline");
        }
        if !e.starts_with("label_values(") {
            assert!(
                e.contains("instance=~\"$instance\""),
                "not filtered by $instance: {e}"
            );
            if per_pipeline {
                assert!(
                    e.contains("pipeline=~\"$pipeline\""),
                    "not filtered by $pipeline: {e}"
                );
            }
        }
    }
    let shown: Vec<&DocMetric> = doc
        .iter()
        .filter(|m| m.emitted_by.iter().any(|e| e != "binlog"))
        .collect();
    for m in shown {
        assert!(
            used.contains(&m.name),
            "{} is on no dashboard panel",
            m.name
        );
    }
}

#[test]
fn the_dashboard_has_instance_and_pipeline_variables_and_the_required_panels() {
    let d = dashboard();
    let vars = d["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no ${name} variable"))
    };
    let (instance, pipeline) = (var("instance"), var("pipeline"));
    assert!(instance["multi"] == true && pipeline["multi"] == true);
    assert_eq!(
        instance["definition"],
        "label_values(sluice_pipeline_up, instance)"
    );
    // "All" instances means the Sluice instances listed, never `.*` (which would put every
    // process Prometheus scrapes on the process panels).
    assert!(instance.get("allValue").is_none(), "{instance}");
    // The pipelines offered are those of the chosen instances.
    assert!(
        pipeline["definition"]
            .as_str()
            .is_some_and(|q| q.contains("instance=~\"$instance\"")),
        "{pipeline}"
    );
    let titles: Vec<String> = d["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str().map(str::to_lowercase))
        .collect();
    for want in [
        "source lag",
        "rows read per table",
        "rows applied per table",
        "produce latency",
        "apply latency",
        "consumer lag",
        "dead letters",
        "errors",
        "restarts",
        "pipeline state",
        "process memory",
        "process cpu",
        "open file descriptors",
    ] {
        assert!(
            titles.iter().any(|t| t.contains(want)),
            "no panel for {want}: {titles:?}"
        );
    }
}

#[test]
fn the_tokenizer_finds_metric_names_only() {
    let e = r#"histogram_quantile(0.99, sum by (pipeline, le) (rate(a_bucket{pipeline=~"$pipeline", x="y z"}[$__rate_interval]))) / on (pipeline) group_left b offset 5m > bool 0"#;
    assert_eq!(metric_names(e), ["a_bucket", "b"]);
    assert_eq!(
        metric_names("sum(rate(sluice_nope_total[5m]))"),
        ["sluice_nope_total"]
    );
    let doc = documented_metrics();
    assert!(family("sluice_nope_total", &doc).is_none());
    assert!(family("sluice_sink_batch_duration_seconds_bucket", &doc).is_some());
    // `_count` of a counter is not a histogram series.
    assert!(family("sluice_pipeline_restarts_total_count", &doc).is_none());
}
