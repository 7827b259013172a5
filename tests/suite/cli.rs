//! The CLI contract: `version`, and malformed configs failing `check` and `run`
//! with a message naming the key and the file.

use crate::support::*;

#[test]
fn version_prints_the_crate_version() {
    let (code, out) = sluice(&["version"]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("sluice {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn version_flag_and_version_command_print_the_same_text() {
    let (code, cmd) = sluice(&["version"]);
    assert_eq!(code, 0, "{cmd}");
    for flag in ["--version", "-V"] {
        let (code, out) = sluice(&[flag]);
        assert_eq!(code, 0, "sluice {flag}: {out}");
        assert_eq!(out, cmd, "`sluice {flag}` and `sluice version` differ");
    }
    assert_eq!(cmd, format!("sluice {}\n", env!("CARGO_PKG_VERSION")));
}

fn both_fail(config: &str, must_mention: &[&str]) {
    let path = write_config(config);
    let p = path.to_str().expect("utf8 path");
    for cmd in ["check", "run"] {
        let (code, out) = sluice(&[cmd, "--config", p]);
        assert_ne!(code, 0, "`sluice {cmd}` must fail; output:\n{out}");
        for m in must_mention {
            assert!(
                out.contains(m),
                "`sluice {cmd}` output must mention {m:?}:\n{out}"
            );
        }
    }
}

#[test]
fn unknown_key_fails_naming_key_and_file() {
    both_fail(
        "[[sink]]\nname = \"k\"\nurl = \"mysql://root@127.0.0.1:3306/x\"\ntopics = [\"t\"]\nauto_creat = true\n",
        &["auto_creat", "sluice.toml"],
    );
}

#[test]
fn wrong_type_fails_naming_key() {
    both_fail(
        "[[sink]]\nname = \"k\"\nurl = \"mysql://root@127.0.0.1:3306/x\"\ntopics = [\"t\"]\nbatch_size = \"many\"\n",
        &["batch_size", "sluice.toml"],
    );
}

#[test]
fn missing_required_key_fails_naming_key() {
    both_fail("[[sink]]\nname = \"k\"\ntopics = [\"t\"]\n", &["url"]);
}

#[test]
fn invalid_value_fails_naming_pipeline_and_key() {
    both_fail(
        "[[source]]\nname = \"s\"\nkind = \"poll\"\nurl = \"mysql://root@127.0.0.1:3306/x\"\nmode = \"incrementing\"\n",
        &["\"s\"", "incrementing_column"],
    );
}

#[test]
fn toml_syntax_error_fails() {
    both_fail("[[sink]\nname = \n", &["sluice.toml"]);
}

#[test]
fn missing_file_fails() {
    for cmd in ["check", "run"] {
        let (code, out) = sluice(&[cmd, "--config", "/nonexistent/sluice.toml"]);
        assert_ne!(code, 0);
        assert!(out.contains("/nonexistent/sluice.toml"), "{out}");
    }
}

#[test]
fn password_is_never_printed() {
    both_fail(
        "[[sink]]\nname = \"k\"\nurl = \"mysql://root:s3cr3t-pw@127.0.0.1:3306/x\"\ntopics = [\"t\"]\nbatch_size = 0\n",
        &["batch_size"],
    );
    let path = write_config("[[sink]]\nname = \"k\"\nurl = \"mysql://root:s3cr3t-pw@127.0.0.1:1/x\"\ntopics = [\"t\"]\n");
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("utf8")]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("s3cr3t-pw"), "password leaked:\n{out}");
}

#[test]
fn check_passes_on_reachable_servers_and_fails_on_unreachable_ones() {
    let good = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[[sink]]\nname = \"k\"\nurl = \"{MARIADB}/mysql\"\ntopics = [\"t\"]\n[[sink]]\nname = \"p\"\nurl = \"{POSTGRES}/postgres\"\ntopics = [\"t\"]\n"
    );
    let path = write_config(&good);
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok")).count(),
        4,
        "kafka, state_dir and two sinks: {out}"
    );

    let bad = "[kafka]\nbootstrap_servers = \"127.0.0.1:1\"\n[http]\nauth_token_file = \"/nonexistent/token\"\n[[sink]]\nname = \"k\"\nurl = \"mysql://root@127.0.0.1:1/x\"\ntopics = [\"t\"]\n";
    let path = write_config(bad);
    let (code, out) = sluice(&["check", "--config", path.to_str().expect("utf8")]);
    assert_eq!(code, 1, "{out}");
    let fails: Vec<&str> = out.lines().filter(|l| l.starts_with("FAIL")).collect();
    assert_eq!(fails.len(), 3, "one line per problem:\n{out}");
    assert!(fails.iter().any(|l| l.contains("auth_token_file")), "{out}");
    assert!(fails.iter().any(|l| l.contains("kafka")), "{out}");
    assert!(fails.iter().any(|l| l.contains("sink \"k\"")), "{out}");
}

#[test]
fn shipped_configs_validate() {
    let root = env!("CARGO_MANIFEST_DIR");
    for f in ["config/example.toml", "config/quickstart.toml"] {
        let path = format!("{root}/{f}");
        let (code, out) = sluice(&["validate", "--config", &path]);
        assert_eq!(code, 0, "{f}: {out}");
    }
}

/// The daemon caps glibc's malloc arenas (one per core) by re-executing
/// itself with `MALLOC_ARENA_MAX` set: same PID (what systemd and
/// `sd_notify` track), same arguments; an operator's own value is kept.
#[test]
fn the_daemon_runs_with_capped_malloc_arenas_under_its_own_pid() {
    let environ = |pid: u32| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let text = String::from_utf8_lossy(&env).replace('\0', "\n");
            if text.contains("MALLOC_ARENA_MAX=") || std::time::Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let config = format!(
        "[kafka]\nbootstrap_servers = \"{KAFKA}\"\n[http]\nlisten = \"127.0.0.1:{}\"\n",
        free_port()
    );
    let mut daemon = Daemon::start(&config);
    let pid = daemon.pid().expect("running");
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let env = environ(pid);
    assert!(
        env.lines()
            .any(|l| l == format!("MALLOC_ARENA_MAX={cores}")),
        "the daemon's environment: {env}"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    assert!(String::from_utf8_lossy(&cmdline).contains("run"));
    daemon.stop();
    // An operator's own setting wins.
    let path = write_config(&config);
    let mut child = std::process::Command::new(sluice_bin())
        .args(["run", "--config", path.to_str().expect("utf8")])
        .env("MALLOC_ARENA_MAX", "7")
        .env("STATE_DIRECTORY", scratch("state"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let env = environ(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(env.lines().any(|l| l == "MALLOC_ARENA_MAX=7"), "{env}");
}
