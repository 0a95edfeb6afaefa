//! The `file` source: a JSON object `{ "BTCUSDT": { "depth": 0.25, "leverage": 3 } }` that
//! the user (or another program) edits; it is watched and re-read on every change.

use super::{check_depth, Signal, SignalBook, SignalSource, SourceProblem};
use crate::config::{ConfigSet, SourceConfig};
use crate::fswatch::watch_files;
use crate::input::{
    excerpt, read_bounded, shorten_quoted, BoundedReadError, MAX_SIGNAL_FILE_BYTES,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How long a missing signal file holds its last signals before the source goes flat.
pub const DEFAULT_MISSING_GRACE_SECS: u64 = 10;
const MAX_MISSING_GRACE_SECS: u64 = 86_400;

pub struct FileSourceConfig {
    pub path: PathBuf,
    /// A missing (or dangling) file keeps the last signals this long: an editor's safe-save
    /// renames the file away and writes it back a moment later.
    pub missing_grace: Duration,
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
            if key != "path" && key != "missing_grace_secs" {
                return Err(SourceProblem {
                    problem: format!("unknown field {}", excerpt(key)),
                    expected:
                        "only \"name\", \"kind\", \"path\" and \"missing_grace_secs\" for a file source"
                            .into(),
                });
            }
        }
        let grace = match source.params.get("missing_grace_secs") {
            None | Some(serde_json::Value::Null) => DEFAULT_MISSING_GRACE_SECS,
            Some(v) => v
                .as_u64()
                .filter(|n| *n <= MAX_MISSING_GRACE_SECS)
                .ok_or_else(|| SourceProblem {
                    problem: format!(
                        "missing_grace_secs is {}",
                        excerpt(&v.to_string())
                    ),
                    expected: format!(
                        "a whole number of seconds from 0 to {MAX_MISSING_GRACE_SECS} (default {DEFAULT_MISSING_GRACE_SECS})"
                    ),
                })?,
        };
        Ok(FileSourceConfig {
            path: PathBuf::from(path),
            missing_grace: Duration::from_secs(grace),
        })
    }
}

/// One symbol of a signal file.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// Target depth from -1 (fully short) to 1 (fully long).
    depth: Decimal,
    /// Between 1 and risk.max_leverage; the symbol's configured leverage when absent.
    #[serde(default)]
    leverage: Option<Decimal>,
    /// When the signal was given; the time the file changed when absent.
    #[serde(default)]
    ts: Option<DateTime<Utc>>,
}

/// The JSON Schema of a signal file: `{ "<symbol>": FileEntry }` plus the editor's `$schema`.
pub fn signal_file_schema() -> schemars::Schema {
    let mut generator = schemars::SchemaGenerator::default();
    let entry = generator.subschema_for::<FileEntry>();
    let mut schema = schemars::json_schema!({
        "title": "Signal file",
        "description": "Signals of a `kind: \"file\"` source: target depth (and optionally leverage) per symbol. `{}` means flat.",
        "type": "object",
        "properties": { "$schema": { "type": "string" } },
        "additionalProperties": entry
    });
    let defs = generator.take_definitions(true);
    if !defs.is_empty() {
        schema.insert("$defs".into(), serde_json::Value::Object(defs));
    }
    schema
}

/// The file's entries in file order, every key kept (a map would silently keep only the
/// last of two spellings of one symbol).
struct Entries(Vec<(String, FileEntry)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object { \"<symbol>\": { \"depth\": <-1..1> } }")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<String>()? {
                    if k == crate::config::SCHEMA_KEY {
                        map.next_value::<String>()?;
                        continue;
                    }
                    let v = map.next_value::<FileEntry>()?;
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

pub struct FileSource {
    name: String,
    path: PathBuf,
    max_leverage: Decimal,
    missing_grace: Duration,
}

impl FileSource {
    pub fn new(
        name: String,
        path: PathBuf,
        max_leverage: Decimal,
        missing_grace: Duration,
    ) -> Self {
        FileSource {
            name,
            path,
            max_leverage,
            missing_grace,
        }
    }
}

/// Parses a signal file. `Ok(None)`: the file is missing (or a dangling link), which the
/// caller treats with a grace period; `{}` is the explicit "no signals".
pub fn parse_file(
    source: &str,
    path: &Path,
    previous: Option<&BTreeMap<String, Signal>>,
    max_leverage: Decimal,
) -> Result<Option<BTreeMap<String, Signal>>, String> {
    let text = match read_bounded(path, MAX_SIGNAL_FILE_BYTES) {
        Ok(t) => t,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e @ BoundedReadError::TooLarge { .. }) => {
            return Err(format!("{}: {e} for a signal file", path.display()))
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let entries: Entries = serde_json::from_str(&text)
        .map_err(|e| format!("{}: {}", path.display(), shorten_quoted(&e.to_string())))?;
    let now = Utc::now();
    let mut out = BTreeMap::new();
    for (raw, entry) in entries.0 {
        let symbol = raw.trim().to_ascii_uppercase();
        let at = |what: String| format!("{}: {}: {what}", path.display(), excerpt(&symbol));
        if out.contains_key(&symbol) {
            return Err(at(format!(
                "the symbol is listed twice (as {} and another spelling; symbols are case-insensitive)",
                excerpt(&raw)
            )));
        }
        let depth = check_depth(entry.depth).map_err(at)?;
        if let Some(l) = entry.leverage {
            if l < Decimal::ONE {
                return Err(at(format!("leverage {l} is below 1")));
            }
            if l > max_leverage {
                return Err(at(format!(
                    "leverage {l} is above risk.max_leverage {max_leverage}"
                )));
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
    Ok(Some(out))
}

/// What `trade-engine check` says about each file source's signal file: one line per file,
/// or the first file that would be refused.
pub fn check_files(config: &ConfigSet) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    for source in config.engine.sources.iter().filter(|s| s.kind == "file") {
        let cfg = FileSourceConfig::from_params(source).map_err(|p| p.problem)?;
        let path = config.resolve(&cfg.path);
        match parse_file(&source.name, &path, None, config.engine.risk.max_leverage)? {
            Some(signals) => lines.push(format!(
                "  {} ({}): {} symbol{}",
                source.name,
                path.display(),
                signals.len(),
                if signals.len() == 1 { "" } else { "s" }
            )),
            None => lines.push(format!(
                "  {} ({}): warning: the file does not exist; the source holds no signal",
                source.name,
                path.display()
            )),
        }
    }
    Ok(lines)
}

/// Since when the file has been missing, and whether the source already went flat for it.
#[derive(Default)]
struct Missing {
    since: Option<Instant>,
    flat: bool,
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
        let mut missing = Missing::default();
        loop {
            let previous = book.source_signals(&self.name);
            let mut deadline = None;
            match parse_file(&self.name, &self.path, previous.as_ref(), self.max_leverage) {
                Ok(Some(signals)) => {
                    if missing.since.take().is_some() {
                        tracing::info!(source = %self.name, file = %self.path.display(), "signal file is back");
                    }
                    missing.flat = false;
                    self.store(&book, signals);
                }
                Ok(None) => {
                    let since = *missing.since.get_or_insert_with(|| {
                        tracing::warn!(source = %self.name, file = %self.path.display(), grace_secs = self.missing_grace.as_secs(), "signal file is missing; holding the last signals for the grace period");
                        Instant::now()
                    });
                    if since.elapsed() < self.missing_grace {
                        deadline = Some(since + self.missing_grace);
                    } else if !missing.flat {
                        tracing::warn!(source = %self.name, file = %self.path.display(), grace_secs = self.missing_grace.as_secs(), "signal file still missing after the grace period; every symbol of the source goes to depth 0");
                        missing.flat = true;
                        self.store(&book, BTreeMap::new());
                    }
                }
                Err(e) => {
                    tracing::error!(source = %self.name, error = %e, "signal file refused; the previous signals stay")
                }
            }
            let grace_over = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = changes.recv() => {}
                // A slow poll backs the watcher up on filesystems without notifications.
                _ = poll.tick() => {}
                _ = grace_over => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

impl FileSource {
    fn store(&self, book: &SignalBook, signals: BTreeMap<String, Signal>) {
        match book.replace_source(&self.name, signals) {
            Ok(true) => {
                tracing::info!(source = %self.name, file = %self.path.display(), "signals updated")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "cannot persist signals")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn parse(path: &Path) -> Result<Option<BTreeMap<String, Signal>>, String> {
        parse_file("manual", path, None, dec!(20))
    }

    #[test]
    fn parses_and_refuses_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"btcusdt": {"depth": 0.25, "leverage": 3}, "ETHUSDT": {"depth": -1}}"#,
        )
        .unwrap();
        let signals = parse(&path).unwrap().unwrap();
        assert_eq!(signals["BTCUSDT"].depth, dec!(0.25));
        assert_eq!(signals["BTCUSDT"].leverage, Some(dec!(3)));
        assert_eq!(signals["ETHUSDT"].depth, dec!(-1));

        std::fs::write(&path, r#"{"BTCUSDT": {"depth": 25}}"#).unwrap();
        let err = parse(&path).unwrap_err();
        assert!(err.contains("outside [-1, 1]"), "{err}");

        std::fs::write(&path, r#"{"BTCUSDT": {"dept": 0.1}}"#).unwrap();
        assert!(parse(&path).is_err());
    }

    #[test]
    fn missing_file_is_told_apart_from_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(parse(&dir.path().join("none.json")).unwrap(), None);
        #[cfg(unix)]
        {
            let link = dir.path().join("dangling.json");
            std::os::unix::fs::symlink(dir.path().join("gone.json"), &link).unwrap();
            assert_eq!(parse(&link).unwrap(), None);
        }
        let empty = dir.path().join("empty.json");
        std::fs::write(&empty, "{}").unwrap();
        assert_eq!(parse(&empty).unwrap(), Some(BTreeMap::new()));
    }

    #[test]
    fn two_spellings_of_one_symbol_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(
            &path,
            r#"{"BTCUSDT": {"depth": 0.5}, "btcusdt": {"depth": -0.5}}"#,
        )
        .unwrap();
        let err = parse(&path).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
        // The exact same key twice as well (a map would keep the last silently).
        std::fs::write(
            &path,
            r#"{"BTCUSDT": {"depth": 0.5}, "BTCUSDT": {"depth": 0}}"#,
        )
        .unwrap();
        assert!(parse(&path).unwrap_err().contains("listed twice"));
    }

    #[test]
    fn leverage_above_the_risk_cap_is_refused_not_capped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, r#"{"BTCUSDT": {"depth": 0.5, "leverage": 25}}"#).unwrap();
        let err = parse(&path).unwrap_err();
        assert!(
            err.contains("leverage 25 is above risk.max_leverage 20"),
            "{err}"
        );
        std::fs::write(&path, r#"{"BTCUSDT": {"depth": 0.5, "leverage": 20}}"#).unwrap();
        assert_eq!(
            parse(&path).unwrap().unwrap()["BTCUSDT"].leverage,
            Some(dec!(20))
        );
    }

    #[test]
    fn oversized_files_are_refused_before_reading_and_values_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let f = std::fs::File::create(&path).unwrap();
        // Sparse: 50 MB on paper, nothing on disk, and nothing read.
        f.set_len(50 * 1024 * 1024).unwrap();
        let err = parse(&path).unwrap_err();
        assert!(
            err.contains("52428800 bytes is over the limit of 1048576 bytes"),
            "{err}"
        );
        let long = "Z".repeat(5000);
        std::fs::write(&path, format!(r#"{{"{long}": {{"depth": 7}}}}"#)).unwrap();
        let err = parse(&path).unwrap_err();
        assert!(err.len() < 300, "{err}");
        std::fs::write(&path, format!(r#"{{"BTCUSDT": {{"depth": "{long}"}}}}"#)).unwrap();
        let err = parse(&path).unwrap_err();
        assert!(err.len() < 300, "{err}");
    }
}
