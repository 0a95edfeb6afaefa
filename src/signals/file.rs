//! The `file` source: a JSON object `{ "BTCUSDT": { "depth": 0.25, "leverage": 3 } }` that
//! the user (or another program) edits; it is watched and re-read on every change.

use super::{check_depth, Signal, SignalBook, SignalSource, SourceProblem};
use crate::config::SourceConfig;
use crate::fswatch::watch_files;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub struct FileSourceConfig {
    pub path: PathBuf,
}

impl FileSourceConfig {
    pub fn from_params(source: &SourceConfig) -> Result<Self, SourceProblem> {
        let path = source
            .params
            .get("path")
            .and_then(|p| p.as_str())
            .filter(|p| !p.is_empty())
            .ok_or_else(|| SourceProblem {
                problem: "has no \"path\"".into(),
                expected: "\"path\": \"signals/<name>.json\" (relative to the config directory)"
                    .into(),
            })?;
        for key in source.params.keys() {
            if key != "path" {
                return Err(SourceProblem {
                    problem: format!("unknown field \"{key}\""),
                    expected: "only \"name\", \"kind\" and \"path\" for a file source".into(),
                });
            }
        }
        Ok(FileSourceConfig {
            path: PathBuf::from(path),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileEntry {
    depth: Decimal,
    #[serde(default)]
    leverage: Option<Decimal>,
    #[serde(default)]
    ts: Option<DateTime<Utc>>,
}

pub struct FileSource {
    name: String,
    path: PathBuf,
}

impl FileSource {
    pub fn new(name: String, path: PathBuf) -> Self {
        FileSource { name, path }
    }
}

/// Parses a signal file. A missing file means "no signals" (every symbol at depth 0).
pub fn parse_file(
    source: &str,
    path: &Path,
    previous: Option<&BTreeMap<String, Signal>>,
) -> Result<BTreeMap<String, Signal>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let entries: BTreeMap<String, FileEntry> =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let now = Utc::now();
    let mut out = BTreeMap::new();
    for (symbol, entry) in entries {
        let symbol = symbol.trim().to_ascii_uppercase();
        let depth =
            check_depth(entry.depth).map_err(|e| format!("{}: {symbol}: {e}", path.display()))?;
        if let Some(l) = entry.leverage {
            if l < Decimal::ONE {
                return Err(format!(
                    "{}: {symbol}: leverage {l} is below 1",
                    path.display()
                ));
            }
        }
        // Keep the old timestamp when nothing changed, so an unrelated edit of the file does
        // not look like a new signal for every symbol.
        let ts = entry.ts.unwrap_or_else(|| {
            previous
                .and_then(|p| p.get(&symbol))
                .filter(|old| old.depth == depth && old.leverage == entry.leverage)
                .map(|old| old.ts)
                .unwrap_or(now)
        });
        out.insert(
            symbol.clone(),
            Signal {
                source: source.to_string(),
                symbol,
                depth,
                leverage: entry.leverage,
                ts,
                seq: None,
            },
        );
    }
    Ok(out)
}

#[async_trait]
impl SignalSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, book: Arc<SignalBook>, mut stop: watch::Receiver<bool>) {
        let (_guard, mut changes) = match watch_files(
            std::slice::from_ref(&self.path),
            Duration::from_millis(50),
        ) {
            Ok(w) => (Some(w.0), w.1),
            Err(e) => {
                tracing::warn!(source = %self.name, error = %e, "cannot watch signal file; polling every 2 s");
                (None, tokio::sync::mpsc::channel(1).1)
            }
        };
        let mut poll = tokio::time::interval(Duration::from_secs(2));
        loop {
            let previous = book.source_signals(&self.name);
            match parse_file(&self.name, &self.path, previous.as_ref()) {
                Ok(signals) => match book.replace_source(&self.name, signals) {
                    Ok(true) => {
                        tracing::info!(source = %self.name, file = %self.path.display(), "signals updated")
                    }
                    Ok(false) => {}
                    Err(e) => {
                        tracing::error!(source = %self.name, error = %e, "cannot persist signals")
                    }
                },
                Err(e) => {
                    tracing::error!(source = %self.name, error = %e, "signal file refused; the previous signals stay")
                }
            }
            tokio::select! {
                _ = changes.recv() => {}
                // A slow poll backs the watcher up on filesystems without notifications.
                _ = poll.tick() => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn parses_and_refuses_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"btcusdt": {"depth": 0.25, "leverage": 3}, "ETHUSDT": {"depth": -1}}"#,
        )
        .unwrap();
        let signals = parse_file("manual", &path, None).unwrap();
        assert_eq!(signals["BTCUSDT"].depth, dec!(0.25));
        assert_eq!(signals["BTCUSDT"].leverage, Some(dec!(3)));
        assert_eq!(signals["ETHUSDT"].depth, dec!(-1));

        std::fs::write(&path, r#"{"BTCUSDT": {"depth": 25}}"#).unwrap();
        let err = parse_file("manual", &path, None).unwrap_err();
        assert!(err.contains("outside [-1, 1]"), "{err}");

        std::fs::write(&path, r#"{"BTCUSDT": {"dept": 0.1}}"#).unwrap();
        assert!(parse_file("manual", &path, None).is_err());
    }

    #[test]
    fn missing_file_means_no_signals() {
        let dir = tempfile::tempdir().unwrap();
        let signals = parse_file("manual", &dir.path().join("none.json"), None).unwrap();
        assert!(signals.is_empty());
    }
}
