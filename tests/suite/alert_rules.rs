//! `dashboards/alerts.yml` is valid Prometheus rules (`promtool check rules`), its unit tests
//! in `dashboards/alerts.test.yml` pass (`promtool test rules`: each alert shown firing, with
//! its rendered annotations, and not firing), every alert carries `for:`, a severity and a
//! summary/description, every alert is unit-tested both ways, and every metric the rules
//! query is one Sluice exposes (a row of the README's metrics table).
//!
//! `promtool` comes from Debian's `prometheus` package, which `scripts/services.sh up`
//! installs; a missing `promtool` fails the test rather than skipping it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::suite::dashboard::metric_names;
use crate::suite::metrics_scrape::documented_metrics;

fn dashboards() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboards")
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dashboards())
        .output()
        .expect("promtool is installed (scripts/services.sh up installs Debian's prometheus)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}: {text}");
    text
}

/// One rule of alerts.yml, read line by line (the file is ours and plainly indented).
#[derive(Debug, Default)]
struct Rule {
    alert: String,
    expr: String,
    has_for: bool,
    severity: Option<String>,
    summary: bool,
    description: bool,
}

fn indent(l: &str) -> usize {
    l.len() - l.trim_start().len()
}

fn rules(text: &str) -> Vec<Rule> {
    let mut out: Vec<Rule> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        let t = l.trim();
        if let Some(name) = t.strip_prefix("- alert:") {
            out.push(Rule {
                alert: name.trim().to_string(),
                ..Rule::default()
            });
        } else if let Some(r) = out.last_mut().filter(|_| !t.starts_with('#')) {
            if let Some(v) = t.strip_prefix("expr:") {
                let v = v.trim();
                if v == "|" || v == ">-" || v == ">" {
                    let base = indent(l);
                    while i + 1 < lines.len()
                        && (lines[i + 1].trim().is_empty() || indent(lines[i + 1]) > base)
                    {
                        i += 1;
                        r.expr.push_str(lines[i].trim());
                        r.expr.push(' ');
                    }
                } else {
                    r.expr = v.to_string();
                }
            } else if t.starts_with("for:") {
                r.has_for = true;
            } else if let Some(v) = t.strip_prefix("severity:") {
                r.severity = Some(v.trim().to_string());
            } else if t.starts_with("summary:") {
                r.summary = true;
            } else if t.starts_with("description:") {
                r.description = true;
            }
        }
        i += 1;
    }
    out
}

#[test]
fn promtool_checks_and_unit_tests_the_alert_rules() {
    let text = std::fs::read_to_string(dashboards().join("alerts.yml")).expect("alerts.yml");
    let rules = rules(&text);
    let names: Vec<&str> = rules.iter().map(|r| r.alert.as_str()).collect();
    for want in [
        "SluiceSourceLagHigh",
        "SluiceSinkConsumerLagHigh",
        "SluicePipelineFailed",
        "SluiceDeadLettersGrowing",
        "SluiceSnapshotStalled",
    ] {
        assert!(names.contains(&want), "no alert {want} in {names:?}");
    }

    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", rules.len())),
        "{checked}"
    );
    let tested = promtool(&["test", "rules", "alerts.test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");

    let doc = documented_metrics();
    let tests = std::fs::read_to_string(dashboards().join("alerts.test.yml")).expect("tests");
    for r in &rules {
        assert!(r.has_for, "{}: no for:", r.alert);
        assert!(
            matches!(r.severity.as_deref(), Some("warning" | "critical")),
            "{}: severity {:?}",
            r.alert,
            r.severity
        );
        assert!(r.summary && r.description, "{}: annotations", r.alert);
        let metrics = metric_names(&r.expr);
        assert!(!metrics.is_empty(), "{}: no metric in {}", r.alert, r.expr);
        for m in metrics {
            assert!(
                doc.iter().any(|d| d.name == m),
                "{}: {m} is not a metric Sluice exposes (README metrics table)",
                r.alert
            );
        }
        // Unit-tested firing (with labels) and not firing.
        let blocks: Vec<&str> = tests
            .split("alertname: ")
            .skip(1)
            .filter(|b| b.starts_with(&format!("{}\n", r.alert)))
            .collect();
        assert!(
            blocks.iter().any(|b| b.contains("exp_labels")),
            "{}: no firing case in alerts.test.yml",
            r.alert
        );
        assert!(
            blocks.iter().any(|b| b.contains("exp_alerts: []")),
            "{}: no quiet case in alerts.test.yml",
            r.alert
        );
    }
}

#[test]
fn the_rule_reader_sees_block_and_inline_exprs() {
    let r = rules(
        "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          x > 1\n          unless y\n        for: 1m\n        labels:\n          severity: warning\n      - alert: B\n        expr: z == 1\n",
    );
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].expr.trim(), "x > 1 unless y");
    assert!(r[0].has_for && r[0].severity.as_deref() == Some("warning"));
    assert_eq!(r[1].expr, "z == 1");
    assert!(!r[1].has_for && r[1].severity.is_none());
}
