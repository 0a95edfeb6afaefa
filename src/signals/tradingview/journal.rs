//! The webhook journal: one JSON line per received signal, appended and fsynced before the
//! sender gets its 200, so an acknowledged signal survives a crash.
//!
//! Each line carries the symbol's whole sequencer state after the signal, so replay is "the
//! last line per symbol wins" and compaction is "keep the last line per symbol". The file is
//! bounded: past `max_bytes` it is compacted into a fresh file and the old one kept as
//! `<name>.jsonl.1` (one generation, for audit). Replaying `.1` and then the current file is
//! correct at every step of a compaction, because a compacted file starts with every
//! symbol's state.

use super::payload::OrderKey;
use super::sequencer::{Basis, Outcome, SymbolState};
use crate::state::StateError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// Default bound of one journal file.
pub const DEFAULT_MAX_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    pub symbol: String,
    /// What was received; absent on compacted lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received: Option<Received>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<Basis>,
    pub state: SymbolState,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Received {
    pub depth: Decimal,
    pub leverage: Option<Decimal>,
    pub key: Option<OrderKey>,
    pub event_id: Option<String>,
    pub price: Option<Decimal>,
    pub from: String,
}

pub struct WebhookJournal {
    path: PathBuf,
    file: File,
    len: u64,
    max_bytes: u64,
    compacted_len: u64,
}

/// `<dir>/<source>.jsonl`
pub fn journal_path(dir: &Path, source: &str) -> PathBuf {
    dir.join(format!("{source}.jsonl"))
}

fn previous_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> StateError + '_ {
    move |source| StateError::Io {
        file: path.to_path_buf(),
        source,
    }
}

impl WebhookJournal {
    /// Opens the journal of `source` and replays it into the latest state per symbol.
    pub fn open(
        dir: &Path,
        source: &str,
        max_bytes: u64,
    ) -> Result<(WebhookJournal, BTreeMap<String, SymbolState>), StateError> {
        let path = journal_path(dir, source);
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        // A compaction that died before its rename left only a temporary file behind.
        let _ = std::fs::remove_file(path.with_extension("jsonl.compact.tmp"));
        let created = !path.exists();
        let mut states = BTreeMap::new();
        replay(&previous_path(&path), &mut states)?;
        let good_len = replay(&path, &mut states)?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io(&path))?;
        if created {
            // The first acknowledged signal must not vanish with an unsynced directory entry.
            sync_dir(dir);
            if let Some(parent) = dir.parent() {
                sync_dir(parent);
            }
        }
        let len = file.metadata().map_err(io(&path))?.len();
        if len > good_len {
            // A crash tore the last line; it was never acknowledged. Cut it off so that the
            // next record starts on a line of its own.
            tracing::warn!(file = %path.display(), bytes = len - good_len, "webhook journal ends in a torn line; truncating it");
            file.set_len(good_len).map_err(io(&path))?;
            file.sync_all().map_err(io(&path))?;
        }
        Ok((
            WebhookJournal {
                path,
                file,
                len: good_len,
                max_bytes,
                compacted_len: 0,
            },
            states,
        ))
    }

    /// Appends one record and waits until it is on disk.
    pub fn append(&mut self, record: &Record) -> Result<(), StateError> {
        self.append_all(&[record])
    }

    /// Appends records in one write and one fsync (a group commit): when this returns `Ok`
    /// every one of them is on disk, in order.
    pub fn append_all(&mut self, records: &[&Record]) -> Result<(), StateError> {
        let mut text = Vec::with_capacity(256 * records.len());
        for record in records {
            serde_json::to_writer(&mut text, record).map_err(|e| StateError::Corrupt {
                file: self.path.clone(),
                message: e.to_string(),
            })?;
            text.push(b'\n');
        }
        let written = self
            .file
            .write_all(&text)
            .and_then(|()| self.file.sync_data());
        if let Err(e) = written {
            // Part of the group may have reached the file; cut it off so that the next record
            // does not land after a torn line (replay would skip both).
            if self.file.set_len(self.len).is_err() {
                tracing::error!(file = %self.path.display(), "cannot cut a failed write off the webhook journal");
            }
            return Err(io(&self.path)(e));
        }
        self.len += text.len() as u64;
        Ok(())
    }

    /// Compacts when the file has outgrown its bound (and would shrink meaningfully).
    pub fn maybe_compact(
        &mut self,
        states: &BTreeMap<String, SymbolState>,
        now: DateTime<Utc>,
    ) -> Result<bool, StateError> {
        if self.len <= self.max_bytes || self.len <= 2 * self.compacted_len {
            return Ok(false);
        }
        let mut text = Vec::new();
        for (symbol, state) in states {
            let record = Record {
                at: now,
                symbol: symbol.clone(),
                received: None,
                outcome: None,
                basis: None,
                state: state.clone(),
            };
            serde_json::to_writer(&mut text, &record).map_err(|e| StateError::Corrupt {
                file: self.path.clone(),
                message: e.to_string(),
            })?;
            text.push(b'\n');
        }
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let tmp = self.path.with_extension("jsonl.compact.tmp");
        {
            let mut f = File::create(&tmp).map_err(io(&tmp))?;
            f.write_all(&text).map_err(io(&tmp))?;
            f.sync_all().map_err(io(&tmp))?;
        }
        std::fs::rename(&self.path, previous_path(&self.path)).map_err(io(&self.path))?;
        std::fs::rename(&tmp, &self.path).map_err(io(&self.path))?;
        sync_dir(dir);
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io(&self.path))?;
        self.len = text.len() as u64;
        self.compacted_len = self.len;
        tracing::info!(file = %self.path.display(), symbols = states.len(), "webhook journal compacted");
        Ok(true)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Deletes a source's journal (the source left the config; its signals are gone too).
    pub fn remove(dir: &Path, source: &str) -> Result<(), StateError> {
        let path = journal_path(dir, source);
        for p in [previous_path(&path), path] {
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(&p)(e)),
            }
        }
        Ok(())
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replays `path` into `states`; returns the length of its well-formed prefix.
fn replay(path: &Path, states: &mut BTreeMap<String, SymbolState>) -> Result<u64, StateError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    let mut reader = BufReader::new(file);
    let mut good = 0u64;
    let mut line = Vec::new();
    let mut number = 0usize;
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(io(path))?;
        if n == 0 {
            break;
        }
        number += 1;
        if line.last() != Some(&b'\n') {
            // Torn tail: ignored, and the caller truncates it.
            break;
        }
        match serde_json::from_slice::<Record>(&line) {
            Ok(record) => {
                states.insert(record.symbol.clone(), record.state);
            }
            Err(e) => {
                tracing::warn!(file = %path.display(), line = number, error = %e, "unreadable webhook journal line skipped")
            }
        }
        good += n as u64;
    }
    Ok(good)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::tradingview::sequencer::Held;
    use rust_decimal_macros::dec;

    fn record(symbol: &str, depth: Decimal) -> Record {
        Record {
            at: Utc::now(),
            symbol: symbol.into(),
            received: Some(Received {
                depth,
                leverage: None,
                key: None,
                event_id: None,
                price: None,
                from: "127.0.0.1".into(),
            }),
            outcome: Some(Outcome::Applied),
            basis: Some(Basis::Arrival),
            state: SymbolState {
                current: Some(Held {
                    depth,
                    leverage: None,
                    ts: Utc::now(),
                    seq: None,
                }),
                ..Default::default()
            },
        }
    }

    fn depth_of(states: &BTreeMap<String, SymbolState>, symbol: &str) -> Decimal {
        states[symbol].current.as_ref().unwrap().depth
    }

    #[test]
    fn replays_latest_per_symbol_and_cuts_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, states) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        assert!(states.is_empty());
        j.append(&record("BTCUSDT", dec!(0.1))).unwrap();
        j.append(&record("ETHUSDT", dec!(-0.2))).unwrap();
        j.append(&record("BTCUSDT", dec!(0.3))).unwrap();
        drop(j);
        // A crash in the middle of a write.
        let path = journal_path(dir.path(), "tv");
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(br#"{"at":"2026-01-01T00:00:00Z","symbol":"BTCU"#)
            .unwrap();
        drop(f);
        let (mut j, states) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(depth_of(&states, "BTCUSDT"), dec!(0.3));
        assert_eq!(depth_of(&states, "ETHUSDT"), dec!(-0.2));
        j.append(&record("ETHUSDT", dec!(0.5))).unwrap();
        drop(j);
        let (_, states) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(depth_of(&states, "ETHUSDT"), dec!(0.5));
        assert_eq!(depth_of(&states, "BTCUSDT"), dec!(0.3));
    }

    #[test]
    fn stays_bounded_and_replays_the_same_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, mut states) = WebhookJournal::open(dir.path(), "tv", 2_000).unwrap();
        let mut compactions = 0;
        for i in 0..200 {
            let symbol = ["BTCUSDT", "ETHUSDT", "SOLUSDT"][i % 3];
            let r = record(symbol, Decimal::new(i as i64, 3));
            j.append(&r).unwrap();
            states.insert(symbol.into(), r.state);
            if j.maybe_compact(&states, Utc::now()).unwrap() {
                compactions += 1;
            }
            let len = std::fs::metadata(j.path()).unwrap().len();
            assert!(len < 2_000 + 1_000, "journal grew to {len} bytes");
        }
        assert!(compactions > 5, "{compactions} compactions");
        assert!(previous_path(j.path()).exists());
        drop(j);
        let (_, replayed) = WebhookJournal::open(dir.path(), "tv", 2_000).unwrap();
        assert_eq!(replayed, states);
        // Signals 197, 198 and 199 were the last of each symbol.
        assert_eq!(depth_of(&replayed, "SOLUSDT"), dec!(0.197));
        assert_eq!(depth_of(&replayed, "BTCUSDT"), dec!(0.198));
        assert_eq!(depth_of(&replayed, "ETHUSDT"), dec!(0.199));
    }

    #[test]
    fn crash_between_the_compaction_renames_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (mut j, _) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        j.append(&record("BTCUSDT", dec!(0.4))).unwrap();
        drop(j);
        // The current file was renamed to .1 and the compacted one not yet put in place.
        let path = journal_path(dir.path(), "tv");
        std::fs::rename(&path, previous_path(&path)).unwrap();
        let (_, states) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(depth_of(&states, "BTCUSDT"), dec!(0.4));
        WebhookJournal::remove(dir.path(), "tv").unwrap();
        let (_, states) = WebhookJournal::open(dir.path(), "tv", DEFAULT_MAX_BYTES).unwrap();
        assert!(states.is_empty());
    }
}
