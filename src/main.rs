//! The `sluice` binary: CLI dispatch, logging setup, runtime, exit codes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use sluice::config::Config;
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "sluice",
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
    /// Print the version.
    Version,
}

fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLUICE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = matches!(format, LogFormat::Json);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .init();
    } else {
        builder.with_ansi(std::io::stderr().is_terminal()).init();
    }
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    let config = Config::load(path).map_err(|e| format!("config error: {e}"))?;
    let errors = config.validate();
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match cli.command {
        Command::Version => {
            println!("sluice {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Check { config } => {
            let cfg = match Config::load(&config) {
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
            let cfg = match load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{e}");
                    return ExitCode::from(2);
                }
            };
            let rt = match tokio::runtime::Runtime::new() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("cannot start runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let result = rt.block_on(async {
                let cancel = CancellationToken::new();
                sluice::app::cancel_on_signals(cancel.clone());
                sluice::app::run(cfg, &config, cancel).await
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
