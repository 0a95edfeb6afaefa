//! `trade-engine config …`: scriptable edits of the config set. Each tool validates the
//! whole resulting set (as `check` and hot reload do) and writes atomically, or writes nothing.

mod credentials;
mod edit;
mod mapping;
mod migrate;
mod schema;
mod weights;

use clap::Subcommand;
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Edit signal_weights.json.
    Weights {
        #[command(subcommand)]
        command: WeightsCommand,
    },
    /// Edit asset_mapping.json.
    Mapping {
        #[command(subcommand)]
        command: MappingCommand,
    },
    /// Edit credentials.json (written with mode 0600).
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// Import the Python tool's signal_weight_config.json, asset_mapping_config.json and
    /// credentials.json, and report what could not be carried over.
    Migrate {
        /// The Python tool's directory.
        python_dir: PathBuf,
        /// Replace signal weights and mappings that already have content.
        #[arg(long)]
        force: bool,
        /// Report and validate only; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check (or with --write, rewrite) the JSON Schemas in <config-dir>/schema.
    Schema {
        #[arg(long)]
        write: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WeightsCommand {
    /// Add a symbol or change its leverage and source weights.
    Set {
        symbol: String,
        /// Required for a new symbol.
        #[arg(long)]
        leverage: Option<Decimal>,
        /// NAME=WEIGHT, repeatable; a weight of 0 removes the source, sources not named keep theirs.
        #[arg(long = "source", value_name = "NAME=WEIGHT", value_parser = weights::parse_source)]
        sources: Vec<(String, Decimal)>,
    },
    /// Remove a symbol (its target becomes 0).
    Remove { symbol: String },
}

#[derive(Debug, Subcommand)]
pub enum MappingCommand {
    /// Map a source's symbol to a unified symbol.
    Set {
        source: String,
        source_symbol: String,
        unified_symbol: String,
    },
    /// Remove a source symbol from a section (an emptied section stays and maps nothing).
    Remove {
        source: String,
        source_symbol: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum CredentialsCommand {
    /// Set an entry's secrets: prompted without echo on a terminal, else read one per line
    /// from stdin (api_key, api_secret, then api_passphrase with --passphrase).
    Set {
        entry: String,
        /// Also read api_passphrase.
        #[arg(long)]
        passphrase: bool,
        /// Read only api_key (a token, e.g. OANDA or SN8).
        #[arg(long, conflicts_with = "passphrase")]
        key_only: bool,
        #[arg(long)]
        account_id: Option<String>,
        #[arg(long)]
        endpoint: Option<String>,
    },
}

pub fn run(config_dir: &Path, command: &ConfigCommand) -> Result<(), String> {
    let dir = super::absolute(config_dir);
    let _lock = match command {
        ConfigCommand::Schema { .. } => None,
        _ => Some(edit::lock(&dir)?),
    };
    match command {
        ConfigCommand::Weights { command } => match command {
            WeightsCommand::Set {
                symbol,
                leverage,
                sources,
            } => weights::set(&dir, symbol, *leverage, sources),
            WeightsCommand::Remove { symbol } => weights::remove(&dir, symbol),
        },
        ConfigCommand::Mapping { command } => match command {
            MappingCommand::Set {
                source,
                source_symbol,
                unified_symbol,
            } => mapping::set(&dir, source, source_symbol, unified_symbol),
            MappingCommand::Remove {
                source,
                source_symbol,
            } => mapping::remove(&dir, source, source_symbol),
        },
        ConfigCommand::Credentials { command } => match command {
            CredentialsCommand::Set {
                entry,
                passphrase,
                key_only,
                account_id,
                endpoint,
            } => credentials::set(
                &dir,
                entry,
                &credentials::Fields {
                    passphrase: *passphrase,
                    key_only: *key_only,
                    account_id: account_id.clone(),
                    endpoint: endpoint.clone(),
                },
            ),
        },
        ConfigCommand::Migrate {
            python_dir,
            force,
            dry_run,
        } => migrate::migrate(&dir, python_dir, *force, *dry_run),
        ConfigCommand::Schema { write } => schema::run(&dir.join("schema"), *write),
    }
}
