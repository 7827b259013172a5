//! The systemd units in `systemd/` pass `systemd-analyze verify` and carry the
//! directives operators rely on.
//!
//! `verify` insists that every `Exec*=` binary exists, and installing into
//! /usr/bin from a test would change the machine; so each unit is copied to a
//! scratch directory with `/usr/bin/sluice` rewritten to the binary this test
//! run built. Everything else in the unit is verified exactly as shipped.
//! `verify` exits 0 even for a directive it cannot parse (it only prints
//! "ignoring"), so any line it prints about our units fails the test.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::*;

fn unit_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("systemd")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Copies `name` into `dir` with the binary path pointing at the built sluice.
fn staged(dir: &Path, name: &str) -> PathBuf {
    let text = unit_text(name).replace("/usr/bin/sluice", sluice_bin());
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write unit");
    path
}

fn verify(unit: &Path) {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("systemd-analyze is installed (scripts/services.sh up installs systemd)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Complaints about other units of the host (a container's missing
    // dependencies) are not ours; every line about a sluice unit is.
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("sluice")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify {}: {:?}\n{text}",
        unit.display(),
        out.status
    );
}

/// `key=value` lines of a unit (a key may repeat).
fn directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn assert_hardened(name: &str) {
    let d = directives(&unit_text(name));
    let has = |k: &str, v: &str| d.iter().any(|(dk, dv)| dk == k && dv == v);
    for (k, v) in [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", "30"),
        ("Restart", "on-failure"),
        ("RestartPreventExitStatus", "2"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("User", "sluice"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("SystemCallFilter", "@system-service"),
        ("CapabilityBoundingSet", ""),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectKernelLogs", "yes"),
        ("RestrictNamespaces", "yes"),
        ("ConfigurationDirectory", "sluice"),
    ] {
        assert!(has(k, v), "{name}: missing {k}={v}");
    }
    let stop: u64 = d
        .iter()
        .find(|(k, _)| k == "TimeoutStopSec")
        .and_then(|(_, v)| v.parse().ok())
        .expect("TimeoutStopSec in seconds");
    assert!(
        stop >= sluice::app::DRAIN_DEADLINE.as_secs() + 5,
        "{name}: TimeoutStopSec={stop} leaves no room for the {}s drain",
        sluice::app::DRAIN_DEADLINE.as_secs()
    );
    assert!(
        d.iter()
            .any(|(k, v)| k == "StateDirectory" && v.starts_with("sluice")),
        "{name}: StateDirectory"
    );
    let pre = d
        .iter()
        .find(|(k, _)| k == "ExecStartPre")
        .map(|(_, v)| v.clone())
        .expect("ExecStartPre");
    assert!(
        pre.starts_with("/usr/bin/sluice validate --config /etc/sluice/"),
        "{pre}"
    );
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let dir = scratch("units");
    verify(&staged(&dir, "sluice.service"));
    staged(&dir, "sluice@.service");
    // A template is verified through an instance of it.
    verify(&dir.join("sluice@orders.service"));
}

#[test]
fn verify_would_catch_a_broken_unit() {
    let dir = scratch("units_bad");
    let path = staged(&dir, "sluice.service");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replace("Type=notify", "Type=notifyy")).expect("write");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("sluice.service"), "{text}");
}

#[test]
fn units_are_hardened_and_drain_in_time() {
    assert_hardened("sluice.service");
    assert_hardened("sluice@.service");
    let template = unit_text("sluice@.service");
    assert!(
        template.contains("--config /etc/sluice/%i.toml"),
        "{template}"
    );
}

#[test]
fn exec_start_pre_validates_without_servers() {
    // Unreachable servers: `validate` must still pass (it does no I/O)...
    let cfg = write_config(
        "[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n[[sink]]\nname = \"s\"\nurl = \"mysql://root@127.0.0.1:1/db\"\ntopics = [\"t\"]\n",
    );
    let (code, out) = sluice(&["validate", "--config", cfg.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    // ...and fail with exit 2 (no restart) on a config error.
    let bad = write_config(
        "[[sink]]\nname = \"s\"\nurl = \"mysql://h/db\"\ntopics = [\"t\"]\nbogus = 1\n",
    );
    let (code, out) = sluice(&["validate", "--config", bad.to_str().expect("utf-8")]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("bogus"), "{out}");
}
