//! The Debian package: `scripts/package.sh --dev` builds it with cargo-deb from the debug
//! binary this test run built (stripped, fast compression: seconds, where a release build with
//! LTO takes minutes, so CI stays well under its time budget), then it is installed on this
//! machine with `dpkg -i`, checked as installed (files, conffile, the `sluice` user, config
//! readable by that user, `systemd-analyze verify` on the installed units, the installed
//! `sluice --version`), removed with `dpkg -r` (config kept) and purged (`dpkg -P`).
//!
//! The test changes the machine (it owns the `sluice` package name and /usr/bin/sluice while it
//! runs, and leaves the `sluice` system user behind, as Debian packages do); it refuses to run
//! where a `sluice` binary not installed by the package exists. It never writes /var/lib/sluice.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use crate::support::*;

const PACKAGE: &str = "sluice";

fn run(cmd: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn must(cmd: &str, args: &[&str]) -> String {
    let (ok, text) = run(cmd, args);
    assert!(ok, "{cmd} {args:?} failed:\n{text}");
    text
}

/// dpkg's status of the package ("install ok installed", "deinstall ok config-files"), or
/// None when dpkg does not know it.
fn status() -> Option<String> {
    let (ok, text) = run("dpkg-query", &["-W", "-f=${Status}", PACKAGE]);
    ok.then(|| text.trim().to_string())
        .filter(|s| !s.is_empty() && s != "unknown ok not-installed")
}

/// Purges the package if the test stops half-way, so the next run starts clean.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        if status().is_some() {
            let _ = run("dpkg", &["--purge", PACKAGE]);
        }
    }
}

/// `systemd-analyze verify` passes and prints nothing about our unit (it exits 0 even for a
/// directive it ignores).
fn verify(unit: &str) {
    let (ok, text) = run("systemd-analyze", &["verify", "--man=no", unit]);
    let ours: Vec<&str> = text.lines().filter(|l| l.contains("sluice")).collect();
    assert!(
        ok && ours.is_empty(),
        "systemd-analyze verify {unit}:\n{text}"
    );
}

#[test]
fn the_deb_installs_verifies_and_removes() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = Path::new("/usr/bin/sluice");
    if bin.exists() {
        assert!(
            status().is_some(),
            "/usr/bin/sluice exists and is not from the sluice package: not overwriting it"
        );
    }
    let state_dir_before = Path::new("/var/lib/sluice").exists();
    let _purge = Purge;

    // Build.
    let out = scratch("deb");
    let built = Command::new("bash")
        .arg(repo.join("scripts/package.sh"))
        .arg("--dev")
        .arg(&out)
        .env("SLUICE_BIN", sluice_bin())
        .output()
        .expect("run scripts/package.sh");
    let stdout = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success(),
        "scripts/package.sh --dev: {stdout}{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let deb = stdout
        .lines()
        .last()
        .expect("the .deb path")
        .trim()
        .to_string();
    assert!(
        deb.ends_with(".deb") && Path::new(&deb).is_file(),
        "not a .deb: {deb}"
    );
    let fields = must("dpkg-deb", &["-f", &deb, "Package", "Version", "Depends"]);
    assert!(fields.contains("Package: sluice"), "{fields}");
    assert!(
        fields.contains(&format!("Version: {}-1", env!("CARGO_PKG_VERSION"))),
        "{fields}"
    );
    assert!(fields.contains("systemd"), "{fields}");

    // Install.
    must("dpkg", &["-i", &deb]);
    assert_eq!(status().as_deref(), Some("install ok installed"));
    for f in [
        "/usr/bin/sluice",
        "/usr/lib/systemd/system/sluice.service",
        "/usr/lib/systemd/system/sluice@.service",
        "/usr/lib/sysusers.d/sluice.conf",
        "/etc/sluice/sluice.toml",
        "/usr/share/sluice/grafana-dashboard.json",
        "/usr/share/sluice/alerts.yml",
        "/usr/share/doc/sluice/README.md",
        "/usr/share/doc/sluice/examples/example.toml",
    ] {
        assert!(Path::new(f).is_file(), "{f} not installed");
    }
    for (installed, source) in [
        (
            "/usr/share/sluice/grafana-dashboard.json",
            "dashboards/sluice.json",
        ),
        ("/usr/share/sluice/alerts.yml", "dashboards/alerts.yml"),
        (
            "/usr/lib/systemd/system/sluice.service",
            "systemd/sluice.service",
        ),
        (
            "/usr/lib/sysusers.d/sluice.conf",
            "systemd/sluice.sysusers.conf",
        ),
    ] {
        assert_eq!(
            std::fs::read(installed).expect("installed file"),
            std::fs::read(repo.join(source)).expect("repo file"),
            "{installed} differs from {source}"
        );
    }
    let conffiles = must("dpkg-query", &["-W", "-f=${Conffiles}", PACKAGE]);
    assert!(conffiles.contains("/etc/sluice/sluice.toml"), "{conffiles}");
    let mode = std::fs::metadata(bin).expect("binary").permissions().mode();
    assert_eq!(mode & 0o777, 0o755);

    // The maintainer script made the user, and the config is root:sluice 0640.
    let passwd = must("getent", &["passwd", "sluice"]);
    assert!(passwd.contains(":/var/lib/sluice:"), "{passwd}");
    let group = must("getent", &["group", "sluice"]);
    let gid: u32 = group
        .split(':')
        .nth(2)
        .and_then(|g| g.trim().parse().ok())
        .expect("gid");
    let cfg = std::fs::metadata("/etc/sluice/sluice.toml").expect("config");
    assert_eq!((cfg.uid(), cfg.gid(), cfg.mode() & 0o777), (0, gid, 0o640));
    // The service user can read the shipped config, and it is valid (what ExecStartPre runs).
    let validated = must(
        "runuser",
        &[
            "-u",
            "sluice",
            "--",
            "/usr/bin/sluice",
            "validate",
            "--config",
            "/etc/sluice/sluice.toml",
        ],
    );
    assert!(validated.contains("valid"), "{validated}");

    // The installed units, with the installed binary.
    verify("/usr/lib/systemd/system/sluice.service");
    verify("/usr/lib/systemd/system/sluice@pkgtest.service");

    // The installed binary's version, both spellings.
    let version = must("/usr/bin/sluice", &["--version"]);
    assert_eq!(version, format!("sluice {}\n", env!("CARGO_PKG_VERSION")));
    assert_eq!(must("/usr/bin/sluice", &["version"]), version);

    // Remove: the program goes, the conffile stays.
    must("dpkg", &["-r", PACKAGE]);
    assert_eq!(status().as_deref(), Some("deinstall ok config-files"));
    assert!(!bin.exists(), "/usr/bin/sluice left after dpkg -r");
    assert!(!Path::new("/usr/lib/systemd/system/sluice.service").exists());
    assert!(!Path::new("/usr/share/sluice/alerts.yml").exists());
    assert!(
        Path::new("/etc/sluice/sluice.toml").exists(),
        "dpkg -r removed the conffile"
    );

    // Purge: the config goes too.
    must("dpkg", &["--purge", PACKAGE]);
    assert_eq!(status(), None);
    assert!(!Path::new("/etc/sluice/sluice.toml").exists());
    assert_eq!(
        Path::new("/var/lib/sluice").exists(),
        state_dir_before,
        "installing or removing the package touched /var/lib/sluice"
    );
}
