//! The `sluice` binary: CLI dispatch, logging setup, runtime, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use sluice::config::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sluice",
    version,
    about = "Change-data-capture: MySQL/MariaDB → Kafka (Connect JSON) → databases"
)]
struct Cli {
    /// Log format.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run the pipelines of a config file until SIGINT/SIGTERM.
    Run {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file and reach every server it names.
    Check {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Print the version (the same text as `--version`).
    Version,
    /// Validate a config file without contacting any server (for ExecStartPre).
    Validate {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Show, reset or import (from Debezium) a pipeline's committed position.
    Offsets {
        #[command(subcommand)]
        action: OffsetsAction,
    },
    /// Snapshot tables of a running binlog source on demand (through the daemon's REST API).
    Snapshot {
        /// The binlog source.
        pipeline: String,
        /// TOML config file (the daemon's `[http] listen` and token).
        #[arg(long, short)]
        config: PathBuf,
        /// Tables (`db.table`, regexes allowed), comma-separated.
        #[arg(long, value_delimiter = ',')]
        tables: Vec<String>,
        /// A table's SQL filter, `db.table=condition` (repeatable).
        #[arg(long, conflicts_with_all = ["pause", "resume", "stop"])]
        filter: Vec<String>,
        /// Stop the snapshot (of `--tables` only, when given).
        #[arg(long, conflicts_with_all = ["pause", "resume"])]
        stop: bool,
        /// Pause the snapshot.
        #[arg(long, conflicts_with_all = ["resume", "tables"])]
        pause: bool,
        /// Resume a paused snapshot.
        #[arg(long, conflicts_with = "tables")]
        resume: bool,
    },
}

#[derive(Subcommand)]
enum OffsetsAction {
    /// Print the committed position: source tables or sink partitions.
    Show {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Source or sink name.
        #[arg(long)]
        pipeline: String,
    },
    /// Rewrite the position (stop the pipeline first): by default, start over.
    Reset {
        /// TOML config file.
        #[arg(long, short)]
        config: PathBuf,
        /// Source or sink name.
        #[arg(long)]
        pipeline: String,
        /// Source: the position record to store instead, e.g. '{"incrementing":42}'.
        #[arg(long, conflicts_with = "topic")]
        to: Option<String>,
        /// Source: the table (`db.table`) `--to` is for.
        #[arg(long, requires = "to")]
        table: Option<String>,
        /// Sink: the topic of the partition to set.
        #[arg(long, requires_all = ["partition", "offset"])]
        topic: Option<String>,
        /// Sink: the partition to set.
        #[arg(long, requires = "topic")]
        partition: Option<i32>,
        /// Sink: the next offset to apply.
        #[arg(long, requires = "topic")]
        offset: Option<i64>,
        /// Reset even when the pipeline looks running.
        #[arg(long)]
        force: bool,
    },
    /// Take over from Debezium: store a Debezium MySQL connector's offsets as a binlog source's
    /// position.
    ///
    /// Stop the connector (and the source) first. The source then continues from Debezium's
    /// binlog position or GTID set without a snapshot, skipping what Debezium already emitted
    /// of a half-processed transaction. An offset taken during Debezium's snapshot is refused.
    Import {
        /// TOML config file (its [kafka] holds Connect's offsets topic).
        #[arg(long, short)]
        config: PathBuf,
        /// The binlog source that takes over.
        #[arg(long)]
        pipeline: String,
        /// The Debezium connector's name (Connect's `name`).
        #[arg(long)]
        connector: String,
        /// Connect distributed: the worker's `offset.storage.topic`.
        #[arg(long, default_value = "connect-offsets")]
        offsets_topic: String,
        /// Connect standalone: the worker's `offset.storage.file.filename` (instead of the topic).
        #[arg(long, conflicts_with = "offsets_topic")]
        offsets_file: Option<PathBuf>,
        /// Import even when the source looks running.
        #[arg(long)]
        force: bool,
    },
}

/// Loads the config and starts a runtime; on failure prints why and gives exit code 2.
fn load_with_runtime(
    path: &std::path::Path,
) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let cfg = load(path).map_err(|e| {
        eprintln!("{e}");
        ExitCode::from(2)
    })?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| {
        eprintln!("cannot start runtime: {e}");
        ExitCode::from(2)
    })?;
    Ok((cfg, rt))
}

/// `sluice offsets ...`: 0 done, 1 failed or refused, 2 bad config or arguments.
fn offsets(action: OffsetsAction) -> ExitCode {
    use sluice::offsets_cmd::{self, OffsetStore, OffsetsError, Reset};
    let path = match &action {
        OffsetsAction::Show { config, .. }
        | OffsetsAction::Reset { config, .. }
        | OffsetsAction::Import { config, .. } => config.clone(),
    };
    let (cfg, rt) = match load_with_runtime(&path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    // The daemon resolves `${provider:...}` references per pipeline start; this command connects once.
    let cfg = match sluice::config::providers::resolve_config(&path, cfg) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("config error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        match action {
            OffsetsAction::Show { pipeline, .. } => offsets_cmd::show(&cfg, &pipeline).await,
            OffsetsAction::Import {
                pipeline,
                connector,
                offsets_topic,
                offsets_file,
                force,
                ..
            } => {
                let store = match offsets_file {
                    Some(path) => OffsetStore::File(path),
                    None => OffsetStore::Topic(offsets_topic),
                };
                offsets_cmd::import(&cfg, &pipeline, &connector, &store, force).await
            }
            OffsetsAction::Reset {
                pipeline,
                to,
                table,
                topic,
                partition,
                offset,
                force,
                ..
            } => {
                let what = match (to, topic, partition, offset) {
                    (Some(to), _, _, _) => match serde_json::from_str(&to) {
                        Ok(value) => Reset::SourceTo { table, value },
                        Err(e) => {
                            return Err(OffsetsError::Usage(format!("--to is not JSON: {e}")))
                        }
                    },
                    (None, Some(topic), Some(partition), Some(offset)) => Reset::SinkTo {
                        topic,
                        partition,
                        offset,
                    },
                    _ => Reset::Beginning,
                };
                offsets_cmd::reset(&cfg, &pipeline, what, force).await
            }
        }
    });
    match result {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitCode::SUCCESS
        }
        Err(e @ (OffsetsError::Usage(_) | OffsetsError::UnknownPipeline(_))) => {
            eprintln!("sluice offsets: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("sluice offsets: {e}");
            ExitCode::from(1)
        }
    }
}

/// `sluice snapshot ...`: 0 taken, 1 refused or the daemon unreachable, 2 bad config or arguments.
fn snapshot(
    path: &std::path::Path,
    pipeline: &str,
    action: &sluice::snapshot_cmd::Action,
) -> ExitCode {
    use sluice::snapshot_cmd::SnapshotCmdError;
    let (cfg, rt) = match load_with_runtime(path) {
        Ok(x) => x,
        Err(code) => return code,
    };
    match rt.block_on(sluice::snapshot_cmd::run(&cfg, pipeline, action)) {
        Ok(message) => {
            println!("{message}");
            ExitCode::SUCCESS
        }
        Err(e @ SnapshotCmdError::Usage(_)) => {
            eprintln!("sluice snapshot: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("sluice snapshot: {e}");
            ExitCode::from(1)
        }
    }
}

fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let json = matches!(format, LogFormat::Json);
    sluice::log_levels::init(json, std::io::stderr().is_terminal());
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    let config = Config::load(path).map_err(|e| format!("config error: {e}"))?;
    let mut errors = config.validate();
    if let Ok(raw) = sluice::config::connect_json::RawConfig::load(path) {
        errors.extend(sluice::config::providers::check_file_references(&raw));
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        let lines: Vec<String> = errors
            .iter()
            .map(|e| format!("config error: {}: {e}", path.display()))
            .collect();
        Err(lines.join("\n"))
    }
}

/// glibc's malloc gives a thread that meets contention its own arena, up
/// to 8 per core, and memory freed in one arena is not reused by another:
/// librdkafka's, tokio's and the decode threads' arenas each kept their own
/// high-water mark. Measured (`scripts/bench.sh binlog`, 300,000 rows, two
/// runs each): peak RSS 112–117 MiB with glibc's default, 65–81 MiB with
/// one arena per core (2 here), at the same CPU per row. The limit is set
/// through `MALLOC_ARENA_MAX`, which glibc reads only at start, so the
/// binary re-executes itself once with it set (same PID, same arguments:
/// systemd, `sd_notify` and supervisors see nothing). An operator's own
/// `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` is left alone. The lint forbids
/// `unsafe`, which rules out calling `mallopt` directly.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn cap_malloc_arenas() -> Option<std::io::Error> {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("MALLOC_ARENA_MAX").is_some()
        || std::env::var_os("GLIBC_TUNABLES").is_some()
    {
        return None;
    }
    let exe = std::env::current_exe().ok()?;
    let arenas = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
    let mut args = std::env::args_os();
    let mut cmd = std::process::Command::new(exe);
    if let Some(arg0) = args.next() {
        cmd.arg0(arg0);
    }
    // `exec` returns only when it failed: run on with glibc's default.
    Some(
        cmd.args(args)
            .env("MALLOC_ARENA_MAX", arenas.to_string())
            .exec(),
    )
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn cap_malloc_arenas() -> Option<std::io::Error> {
    None
}

fn main() -> ExitCode {
    let reexec_failed = cap_malloc_arenas();
    let cli = Cli::parse();
    init_logs(cli.log_format);
    if let Some(e) = reexec_failed {
        tracing::debug!(error = %e, "could not re-execute with MALLOC_ARENA_MAX set; glibc's default arenas");
    }
    match cli.command {
        Command::Version => {
            // clap's own `--version` text, so the two can never disagree.
            print!("{}", Cli::command().render_version());
            ExitCode::SUCCESS
        }
        Command::Validate { config } => match load(&config) {
            Ok(_) => {
                println!("ok   {}: valid", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Command::Offsets { action } => offsets(action),
        Command::Snapshot {
            pipeline,
            config,
            tables,
            filter,
            stop,
            pause,
            resume,
        } => {
            use sluice::snapshot_cmd::{parse_filter, Action};
            let action = if stop {
                Action::Stop(tables)
            } else if pause {
                Action::Pause
            } else if resume {
                Action::Resume
            } else {
                match filter.iter().map(|f| parse_filter(f)).collect() {
                    Ok(filters) => Action::Execute { tables, filters },
                    Err(e) => {
                        eprintln!("sluice snapshot: {e}");
                        return ExitCode::from(2);
                    }
                }
            };
            snapshot(&config, &pipeline, &action)
        }
        Command::Check { config } => {
            let resolved = Config::load(&config)
                .and_then(|c| sluice::config::providers::resolve_config(&config, c));
            let cfg = match resolved {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("FAIL config error: {e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("FAIL cannot start runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let lines = rt.block_on(sluice::check::run(&cfg));
            let mut failed = false;
            for l in &lines {
                if l.ok {
                    println!("ok   {}", l.message);
                } else {
                    failed = true;
                    println!("FAIL {}", l.message);
                }
            }
            if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Run { config } => {
            let (cfg, rt) = match load_with_runtime(&config) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let result = rt.block_on(async {
                let cancel = CancellationToken::new();
                sluice::daemon::cancel_on_signals(cancel.clone());
                sluice::daemon::run(cfg, &config, cancel).await
            });
            rt.shutdown_timeout(std::time::Duration::from_secs(2));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluice: {e}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
