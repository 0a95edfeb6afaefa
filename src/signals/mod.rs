//! Signals: what each source says, per symbol, about the depth to hold.

mod book;
mod file;
pub mod lenient;
mod manager;
pub mod sn8;
pub mod tradingview;

pub use book::{SignalBook, SignalSnapshot};
pub use file::{check_files, signal_file_schema, FileSource};
pub use manager::SourceManager;

use crate::config::{ConfigSet, Credential, Credentials, SourceConfig};
use crate::execution::Metrics;
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
pub const SOURCE_KINDS: [&str; 3] = ["file", tradingview::KIND, sn8::KIND];

/// Validates a source's kind-specific fields (called by config validation).
pub fn validate_source_config(
    source: &SourceConfig,
    credentials: &Credentials,
) -> Result<(), SourceProblem> {
    match source.kind.as_str() {
        "file" => file::FileSourceConfig::from_params(source).map(|_| ()),
        tradingview::KIND => {
            tradingview::TradingViewConfig::from_params(source, credentials).map(|_| ())
        }
        sn8::KIND => sn8::Sn8Config::from_params(source, credentials).map(|_| ()),
        other => Err(unknown_kind(other)),
    }
}

/// Builds the runnable source for a validated config. Webhook sources have no task of their
/// own (the server feeds them) and are refused here. `metrics` are the daemon's `/metrics`
/// counters.
pub fn build_source(
    source: &SourceConfig,
    config: &ConfigSet,
    metrics: &Arc<Metrics>,
) -> Result<Box<dyn SignalSource>, SourceProblem> {
    match source.kind.as_str() {
        "file" => {
            let cfg = file::FileSourceConfig::from_params(source)?;
            Ok(Box::new(FileSource::new(
                source.name.clone(),
                config.resolve(cfg.path),
                config.engine.risk.max_leverage,
                cfg.missing_grace,
            )))
        }
        sn8::KIND => {
            let cfg = sn8::Sn8Config::from_params(source, &config.credentials)?;
            Ok(Box::new(sn8::Sn8Source::new(
                source.name.clone(),
                cfg,
                metrics.clone(),
            )))
        }
        tradingview::KIND => Err(SourceProblem {
            problem: "a webhook source runs inside the HTTP server, not as a task".into(),
            expected: format!("POST /webhook/{}", source.name),
        }),
        other => Err(unknown_kind(other)),
    }
}

/// Whether the latest signals of a source of this kind can be rebuilt from local files (its
/// signal file, its webhook journal) when `signals.json` is lost. An sn8 source's last ranking
/// lives only in `signals.json` until its next poll.
pub fn rebuildable_from_local_files(kind: &str) -> bool {
    kind == "file" || kind == tradingview::KIND
}

/// Whether a source of this kind runs a task of its own.
pub fn runs_a_task(kind: &str) -> bool {
    kind != tradingview::KIND
}

/// The credentials entry a source reads, if any: a change of that entry restarts the source.
pub fn source_credentials<'a>(
    source: &SourceConfig,
    config: &'a ConfigSet,
) -> Option<&'a Credential> {
    source
        .params
        .get("credentials")
        .and_then(|c| c.as_str())
        .and_then(|name| config.credentials.get(name))
}

fn unknown_kind(kind: &str) -> SourceProblem {
    SourceProblem {
        problem: format!("unknown kind \"{kind}\""),
        expected: format!("kind one of {}", SOURCE_KINDS.join(", ")),
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
