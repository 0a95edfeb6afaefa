//! Starts, stops and restarts sources as the config changes.

use super::{build_source, runs_a_task, source_credentials, SignalBook};
use crate::config::{ConfigSet, Credential, SourceConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

struct Running {
    config: SourceConfig,
    /// The credentials entry the source read when it started (a rotated key restarts it).
    credential: Option<Credential>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

pub struct SourceManager {
    book: Arc<SignalBook>,
    running: BTreeMap<String, Running>,
}

impl SourceManager {
    pub fn new(book: Arc<SignalBook>) -> Self {
        SourceManager {
            book,
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
            match build_source(cfg, config) {
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
