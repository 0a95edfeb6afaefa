//! Starts, stops and restarts sources as the config changes.

use super::{build_source, runs_a_task, source_credentials, SignalBook};
use crate::config::{ConfigSet, Credential, SourceConfig};
use crate::execution::Metrics;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct Running {
    config: SourceConfig,
    /// The credentials entry the source read when it started (a rotated key restarts it).
    credential: Option<Credential>,
    /// File sources refuse signals above it, so a change restarts them.
    max_leverage: rust_decimal::Decimal,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub struct SourceManager {
    book: Arc<SignalBook>,
    /// The daemon's `/metrics` counters, which sources add to.
    metrics: Arc<Metrics>,
    running: BTreeMap<String, Running>,
}

impl SourceManager {
    pub fn new(book: Arc<SignalBook>, metrics: Arc<Metrics>) -> Self {
        SourceManager {
            book,
            metrics,
            running: BTreeMap::new(),
        }
    }

    /// Brings the running sources in line with `config`. Sources that a webhook feeds (no task
    /// of their own) are handled by the server and only need their book entries kept.
    pub fn apply(&mut self, config: &ConfigSet) {
        let wanted: BTreeMap<String, &SourceConfig> = config
            .engine
            .sources
            .iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        let names: Vec<String> = self.running.keys().cloned().collect();
        for name in names {
            let running = &self.running[&name];
            let keep = wanted.get(&name).is_some_and(|s| {
                **s == running.config
                    && source_credentials(s, config) == running.credential.as_ref()
                    && (s.kind != "file" || config.engine.risk.max_leverage == running.max_leverage)
            });
            if !keep {
                if let Some(r) = self.running.remove(&name) {
                    let _ = r.stop.send(true);
                    r.task.abort();
                    tracing::info!(source = %name, "source stopped");
                }
            }
        }
        // A source gone from the config no longer holds anything: its symbols go to depth 0.
        for known in self.book.snapshot().keys() {
            if !wanted.contains_key(known) {
                match self.book.remove_source(known) {
                    Ok(_) => {
                        tracing::info!(source = %known, "source removed from config; its signals now count as depth 0")
                    }
                    Err(e) => {
                        tracing::error!(source = %known, error = %e, "cannot persist signal removal")
                    }
                }
            }
        }
        for (name, cfg) in wanted {
            if self.running.contains_key(&name) || !runs_a_task(&cfg.kind) {
                continue;
            }
            match build_source(cfg, config, &self.metrics) {
                Ok(source) => {
                    let (stop, stop_rx) = watch::channel(false);
                    let book = self.book.clone();
                    let task = tokio::spawn(source.run(book, stop_rx));
                    tracing::info!(source = %name, kind = %cfg.kind, "source started");
                    self.running.insert(
                        name,
                        Running {
                            config: cfg.clone(),
                            credential: source_credentials(cfg, config).cloned(),
                            max_leverage: config.engine.risk.max_leverage,
                            stop,
                            task,
                        },
                    );
                }
                Err(e) => {
                    tracing::error!(source = %name, error = %e.problem, "cannot start source")
                }
            }
        }
    }

    pub fn stop_all(&mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            let _ = r.stop.send(true);
            r.task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn config(dir: &Path, key: &str, top_n: u32) -> ConfigSet {
        std::fs::write(
            dir.join("engine.json"),
            format!(
                r#"{{"sources": [{{"name": "bittensor", "kind": "bittensor_sn8", "credentials": "sn8",
                    "url": "http://127.0.0.1:9/miner-positions", "poll_secs": 1, "timeout_secs": 1,
                    "max_staleness_secs": 2, "top_n": {top_n}}},
                   {{"name": "tv", "kind": "tradingview", "token": "0123456789abcdef"}}]}}"#
            ),
        )
        .unwrap();
        std::fs::write(dir.join("signal_weights.json"), "[]").unwrap();
        std::fs::write(
            dir.join("credentials.json"),
            format!(r#"{{"sn8": {{"api_key": "{key}"}}}}"#),
        )
        .unwrap();
        ConfigSet::load_with_env(dir, vec![]).unwrap()
    }

    fn key_of(m: &SourceManager) -> Option<String> {
        m.running["bittensor"]
            .credential
            .as_ref()
            .and_then(|c| c.api_key.as_ref())
            .map(|k| k.expose().to_string())
    }

    #[tokio::test]
    async fn restarts_on_parameter_or_credential_change_only() {
        let cfg_dir = tempfile::tempdir().unwrap();
        let state = tempfile::tempdir().unwrap();
        let book = Arc::new(SignalBook::open(state.path()).unwrap());
        let mut m = SourceManager::new(book, Arc::default());
        m.apply(&config(cfg_dir.path(), "key-1", 10));
        // The webhook source runs inside the server, not as a task.
        assert_eq!(m.running.keys().collect::<Vec<_>>(), vec!["bittensor"]);
        let first = m.running["bittensor"].task.id();
        m.apply(&config(cfg_dir.path(), "key-1", 10));
        assert_eq!(
            m.running["bittensor"].task.id(),
            first,
            "no change, no restart"
        );
        m.apply(&config(cfg_dir.path(), "key-2", 10));
        let second = m.running["bittensor"].task.id();
        assert_ne!(second, first, "a rotated key restarts the source");
        assert_eq!(key_of(&m).as_deref(), Some("key-2"));
        m.apply(&config(cfg_dir.path(), "key-2", 3));
        assert_ne!(
            m.running["bittensor"].task.id(),
            second,
            "new ranking parameters restart it"
        );
        m.stop_all();
    }
}
