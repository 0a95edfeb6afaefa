//! The `tradingview` source: signals pushed to `POST /webhook/<name>` (the HTTP side is in
//! `server::webhook`). This module owns what happens to a signal once it is authenticated:
//! parsing, ordering, journaling and the signal book.

mod allow;
mod config;
mod intake;
pub mod journal;
pub mod payload;
pub mod scope;
pub mod sequencer;

pub use allow::IpBlock;
pub use config::{TradingViewConfig, MIN_TOKEN_LEN};
pub use intake::{persist_book, Accepted, Intake, IntakeError};
pub use payload::{body_token, Incoming, OrderKey};
pub use sequencer::{Basis, Outcome, RaceParams};

use crate::config::ConfigSet;
use crate::signals::SignalBook;
use crate::state::StateError;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

pub const KIND: &str = "tradingview";

impl TradingViewConfig {
    pub fn race_params(&self) -> RaceParams {
        RaceParams {
            race_window: chrono::Duration::milliseconds(self.race_window_ms as i64),
            seq_reset: chrono::Duration::seconds(self.seq_reset_secs as i64),
        }
    }
}

/// Why a webhook name has no intake.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("no webhook source named \"{0}\" in engine.json")]
    Unknown(String),
    #[error("webhook source \"{name}\" is misconfigured: {problem}")]
    Misconfigured { name: String, problem: String },
    #[error("webhook source \"{name}\" cannot open its journal: {source}")]
    Journal {
        name: String,
        #[source]
        source: StateError,
    },
}

/// The intakes of every configured webhook source, following config reloads.
pub struct WebhookSources {
    dir: PathBuf,
    book: Arc<SignalBook>,
    max_journal_bytes: u64,
    intakes: Mutex<BTreeMap<String, Arc<Intake>>>,
}

impl WebhookSources {
    pub fn new(state_dir: &Path, book: Arc<SignalBook>) -> Self {
        Self::with_journal_bound(state_dir, book, journal::DEFAULT_MAX_BYTES)
    }

    pub fn with_journal_bound(state_dir: &Path, book: Arc<SignalBook>, max_bytes: u64) -> Self {
        WebhookSources {
            dir: state_dir.join("webhooks"),
            book,
            max_journal_bytes: max_bytes,
            intakes: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn book(&self) -> &Arc<SignalBook> {
        &self.book
    }

    /// Opens the intake of every webhook source in `config` (replaying its journal into the
    /// book), and drops the others together with their journals: a source that leaves the
    /// config takes its signals with it, and must not resurrect them if it comes back.
    pub fn sync(&self, config: &ConfigSet) {
        let wanted: Vec<&str> = config
            .engine
            .sources
            .iter()
            .filter(|s| s.kind == KIND)
            .map(|s| s.name.as_str())
            .collect();
        self.lock()
            .retain(|name, _| wanted.contains(&name.as_str()));
        for name in &wanted {
            if let Err(e) = self.intake(name) {
                tracing::error!(source = %name, error = %e, "webhook source unavailable");
            }
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().to_string();
            let Some(name) = file
                .strip_suffix(".jsonl")
                .or_else(|| file.strip_suffix(".jsonl.1"))
            else {
                continue;
            };
            if !wanted.contains(&name) {
                match journal::WebhookJournal::remove(&self.dir, name) {
                    Ok(()) => {
                        tracing::info!(source = %name, "webhook source left the config; its journal is deleted")
                    }
                    Err(e) => {
                        tracing::error!(source = %name, error = %e, "cannot delete the journal of a removed webhook source")
                    }
                }
            }
        }
    }

    /// The intake and the current settings of webhook source `name` under `config`.
    pub fn lookup(
        &self,
        config: &ConfigSet,
        name: &str,
    ) -> Result<(Arc<Intake>, TradingViewConfig), LookupError> {
        let source = config
            .engine
            .sources
            .iter()
            .find(|s| s.name == name && s.kind == KIND)
            .ok_or_else(|| LookupError::Unknown(name.to_string()))?;
        let settings =
            TradingViewConfig::from_params(source, &config.credentials).map_err(|p| {
                LookupError::Misconfigured {
                    name: name.to_string(),
                    problem: p.problem,
                }
            })?;
        let intake = self.intake(name).map_err(|source| LookupError::Journal {
            name: name.to_string(),
            source,
        })?;
        Ok((intake, settings))
    }

    fn intake(&self, name: &str) -> Result<Arc<Intake>, StateError> {
        let mut intakes = self.lock();
        if let Some(i) = intakes.get(name) {
            return Ok(i.clone());
        }
        let intake = Arc::new(Intake::open(
            &self.dir,
            name,
            &self.book,
            self.max_journal_bytes,
        )?);
        intakes.insert(name.to_string(), intake.clone());
        Ok(intake)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Intake>>> {
        self.intakes.lock().unwrap_or_else(|p| p.into_inner())
    }
}
