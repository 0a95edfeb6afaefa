//! Signals: what each source says, per symbol, about the depth to hold.

mod book;
mod file;
mod manager;

pub use book::{SignalBook, SignalSnapshot};
pub use file::FileSource;
pub use manager::SourceManager;

use crate::config::{Credentials, SourceConfig};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tokio::sync::watch;

/// One source's latest word on one of its symbols.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    pub source: String,
    /// The symbol as the source spells it (mapped to a unified symbol by asset_mapping.json).
    pub symbol: String,
    /// Signed fraction of account value: -0.3 is 30 % short.
    pub depth: Decimal,
    #[serde(default)]
    pub leverage: Option<Decimal>,
    pub ts: DateTime<Utc>,
    #[serde(default)]
    pub seq: Option<u64>,
}

/// A running signal source. It writes into the signal book until `stop` turns true.
#[async_trait]
pub trait SignalSource: Send {
    fn name(&self) -> &str;
    async fn run(self: Box<Self>, book: Arc<SignalBook>, stop: watch::Receiver<bool>);
}

/// What is wrong with a source's config, for the config validator.
#[derive(Debug)]
pub struct SourceProblem {
    pub problem: String,
    pub expected: String,
}

/// Source kinds this build knows.
pub const SOURCE_KINDS: [&str; 1] = ["file"];

/// Validates a source's kind-specific fields (called by config validation).
pub fn validate_source_config(
    source: &SourceConfig,
    _credentials: &Credentials,
) -> Result<(), SourceProblem> {
    match source.kind.as_str() {
        "file" => file::FileSourceConfig::from_params(source).map(|_| ()),
        other => Err(SourceProblem {
            problem: format!("unknown kind \"{other}\""),
            expected: format!("kind one of {}", SOURCE_KINDS.join(", ")),
        }),
    }
}

/// Builds the runnable source for a validated config.
pub fn build_source(
    source: &SourceConfig,
    config_dir: &std::path::Path,
) -> Result<Box<dyn SignalSource>, SourceProblem> {
    match source.kind.as_str() {
        "file" => {
            let cfg = file::FileSourceConfig::from_params(source)?;
            let path = if cfg.path.is_absolute() {
                cfg.path
            } else {
                config_dir.join(cfg.path)
            };
            Ok(Box::new(FileSource::new(source.name.clone(), path)))
        }
        other => Err(SourceProblem {
            problem: format!("unknown kind \"{other}\""),
            expected: format!("kind one of {}", SOURCE_KINDS.join(", ")),
        }),
    }
}

/// A depth must lie in [-1, 1]; anything else is refused rather than clamped, so that a
/// typo such as 25 for 0.25 never trades.
pub fn check_depth(depth: Decimal) -> Result<Decimal, String> {
    if depth < Decimal::NEGATIVE_ONE || depth > Decimal::ONE {
        Err(format!("depth {depth} is outside [-1, 1]"))
    } else {
        Ok(depth)
    }
}
