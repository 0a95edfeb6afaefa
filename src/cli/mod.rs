//! Command line: `run`, `check`, `targets`, `status`, `halt`, `resume`, `flatten`, `config`.

mod config;
mod control;
mod run;
mod status;
mod targets;

use crate::config::ConfigSet;
use crate::telemetry::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "trade-engine",
    version,
    about = "Turns weighted trading signals into positions on several venues"
)]
pub struct Cli {
    /// Directory of engine.json, signal_weights.json, asset_mapping.json, credentials.json.
    #[arg(
        long,
        global = true,
        default_value = "config",
        env = "TRADE_ENGINE_CONFIG_DIR"
    )]
    pub config_dir: PathBuf,
    /// Directory for signals, the order journal, the execution cache and sim accounts.
    #[arg(
        long,
        global = true,
        default_value = "state",
        env = "TRADE_ENGINE_STATE_DIR"
    )]
    pub state_dir: PathBuf,
    /// Log format; default: json when stdout is not a terminal, else pretty.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon (the default).
    Run,
    /// Validate the config set and print a summary; exit 1 with the error otherwise.
    Check,
    /// Print the current target per account and symbol, without trading.
    Targets {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print the running daemon's accounts and symbols (target vs position, drift, last error).
    Status {
        /// Print the raw `/status` JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// The daemon's base URL (default: from server.listen in engine.json).
        #[arg(long)]
        url: Option<String>,
    },
    /// Engage the kill switch: the running daemon takes no new exposure (reductions continue).
    Halt,
    /// Remove the kill switch.
    Resume,
    /// Engage the kill switch, cancel open orders and close every position (of one account).
    Flatten {
        /// Only this account.
        #[arg(long)]
        account: Option<String>,
    },
    /// Edit the config files (validated as a whole set, written atomically), import the
    /// Python tool's files, or refresh the JSON Schemas.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
}

/// The venues the accounts use, what each is and which credential fields it needs, so a user
/// setting up an account knows what to put in credentials.json.
fn venue_summary(set: &ConfigSet) -> String {
    let mut used: Vec<&str> = set
        .engine
        .accounts
        .iter()
        .map(|a| a.venue.as_str())
        .collect();
    used.sort_unstable();
    used.dedup();
    let mut out = String::from("venues:\n");
    for name in used {
        let Some(kind) = crate::venue::registry::find(name) else {
            continue;
        };
        let fields: Vec<&str> = kind.credentials.iter().map(|f| f.name()).collect();
        out.push_str(&format!(
            "  {name}: {}{}; credentials: {}\n",
            kind.title,
            if kind.implemented() {
                ""
            } else {
                " (not implemented in this build)"
            },
            if fields.is_empty() {
                "none".to_string()
            } else {
                fields.join(", ")
            }
        ));
    }
    out
}

pub fn main(cli: Cli) -> ExitCode {
    match cli.command.as_ref().unwrap_or(&Command::Run) {
        Command::Check => match ConfigSet::load(&cli.config_dir) {
            Ok(set) => {
                print!("{}", set.summary());
                print!("{}", venue_summary(&set));
                match crate::signals::check_files(&set) {
                    Ok(lines) => {
                        if !lines.is_empty() {
                            println!("signal files:");
                        }
                        for line in lines {
                            println!("{line}");
                        }
                        println!("config OK");
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("signal file error: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
            Err(e) => {
                eprintln!("config error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Targets { json } => runtime()
            .and_then(|rt| rt.block_on(targets::print(&cli, *json)))
            .map_or_else(
                |e| {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            ),
        Command::Status { json, url } => {
            report(runtime().and_then(|rt| rt.block_on(status::print(&cli, *json, url.as_deref()))))
        }
        Command::Halt => report(control::halt(&cli)),
        Command::Resume => report(control::resume(&cli)),
        Command::Flatten { account } => {
            report(runtime().and_then(|rt| rt.block_on(control::flatten(&cli, account.as_deref()))))
        }
        Command::Config { command } => report(config::run(&cli.config_dir, command)),
        Command::Run => runtime()
            .and_then(|rt| rt.block_on(run::run(&cli)))
            .map_or_else(
                |e| {
                    eprintln!("trade-engine: {e}");
                    ExitCode::FAILURE
                },
                |()| ExitCode::SUCCESS,
            ),
    }
}

fn report(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

/// Makes `dir` absolute so that later relative paths do not depend on the working directory.
pub(crate) fn absolute(dir: &std::path::Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}
