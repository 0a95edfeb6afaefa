//! The signal book: the latest signal per (source, symbol), persisted in the state directory
//! so that a restart resumes with the same signals.

use super::Signal;
use crate::state::{atomic_write_json, read_json, StateError};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::sync::watch;

/// source -> source symbol -> signal
pub type SignalSnapshot = BTreeMap<String, BTreeMap<String, Signal>>;

pub struct SignalBook {
    path: PathBuf,
    signals: Mutex<SignalSnapshot>,
    revision: watch::Sender<u64>,
    /// Held while the file is written (see `writing`).
    write: Mutex<()>,
    /// The book changed since its file was last written by `persist`.
    dirty: std::sync::atomic::AtomicBool,
    /// When each polled source last answered well; kept in memory only, so unknown after a
    /// restart until the next good poll.
    heard: Mutex<BTreeMap<String, DateTime<Utc>>>,
}

/// How fresh one source is, for `/status` and `/metrics`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceFreshness {
    /// The newest signal's time (None while the source holds no signal).
    pub newest: Option<DateTime<Utc>>,
    pub symbols: usize,
    /// The last good poll of a polled source (None for pushed sources or before the first poll).
    pub last_heard: Option<DateTime<Utc>>,
}

impl SourceFreshness {
    /// Seconds since the newest signal changed, never negative (clocks of senders may run ahead).
    pub fn age_secs(&self, now: DateTime<Utc>) -> Option<f64> {
        self.newest
            .map(|ts| (now - ts).num_milliseconds().max(0) as f64 / 1000.0)
    }
}

impl SignalBook {
    pub fn open(state_dir: &Path) -> Result<SignalBook, StateError> {
        let path = state_dir.join("signals.json");
        let signals = read_json::<SignalSnapshot>(&path)?.unwrap_or_default();
        let (revision, _) = watch::channel(0);
        Ok(SignalBook {
            path,
            signals: Mutex::new(signals),
            revision,
            write: Mutex::new(()),
            dirty: std::sync::atomic::AtomicBool::new(false),
            heard: Mutex::new(BTreeMap::new()),
        })
    }

    /// Opens the book; an unreadable `signals.json` is moved aside and the book starts empty
    /// (the sources fill it again) when every source can be rebuilt from local files. When some
    /// cannot (`unrebuildable` names them), start-up is refused with what to do.
    pub fn open_or_rebuild(
        state_dir: &Path,
        unrebuildable: &[String],
    ) -> Result<SignalBook, StateError> {
        match Self::open(state_dir) {
            Err(StateError::Corrupt { file, message }) if unrebuildable.is_empty() => {
                let aside = crate::state::corrupt::move_aside(&file)?;
                tracing::warn!(
                    file = %file.display(), moved_to = %aside.display(), error = %message,
                    "signals.json unreadable: moved aside; rebuilt from the signal files and webhook journals"
                );
                Self::open(state_dir)
            }
            Err(StateError::Corrupt { file, message }) => {
                let shown = file.display().to_string();
                Err(StateError::Corrupt {
                    message: format!(
                        "{message}. It holds the latest signals of the sources {}, which cannot be \
                         rebuilt from local files (they come back only at their next poll), so \
                         trade-engine will not start. Either restore it from a backup, or move it aside \
                         (`mv {shown} {shown}.bad`) and start again: those sources then count as depth 0 \
                         until they answer, which may close their positions",
                        unrebuildable.join(", ")
                    ),
                    file,
                })
            }
            other => other,
        }
    }

    pub fn snapshot(&self) -> SignalSnapshot {
        self.lock().clone()
    }

    /// What one source currently says (without copying the rest of the book).
    pub fn source_signals(&self, source: &str) -> Option<BTreeMap<String, Signal>> {
        self.lock().get(source).cloned()
    }

    /// Newest signal, symbol count and last good poll of one source.
    pub fn freshness(&self, source: &str) -> SourceFreshness {
        let (newest, symbols) = self
            .lock()
            .get(source)
            .map(|signals| (signals.values().map(|s| s.ts).max(), signals.len()))
            .unwrap_or((None, 0));
        let last_heard = self
            .heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(source)
            .copied();
        SourceFreshness {
            newest,
            symbols,
            last_heard,
        }
    }

    /// A polled source answered well (even when nothing changed).
    pub fn mark_heard(&self, source: &str, at: DateTime<Utc>) {
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(source.to_string(), at);
    }

    /// Ticks whenever the book changes.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.revision.subscribe()
    }

    /// Replaces everything a source says. A symbol absent from `signals` is gone from the
    /// source, which counts as depth 0 (never "keep the old depth").
    pub fn replace_source(
        &self,
        source: &str,
        signals: BTreeMap<String, Signal>,
    ) -> Result<bool, StateError> {
        self.mutate(|all| {
            let changed = all.get(source) != Some(&signals);
            all.insert(source.to_string(), signals);
            changed
        })
    }

    /// Sets one symbol of one source (webhook sources).
    pub fn apply(&self, signal: Signal) -> Result<bool, StateError> {
        self.mutate(|all| {
            let entry = all.entry(signal.source.clone()).or_default();
            let changed = entry.get(&signal.symbol) != Some(&signal);
            entry.insert(signal.symbol.clone(), signal);
            changed
        })
    }

    /// Sets several symbols (a group of webhook signals) in memory, in order: a later signal
    /// for the same symbol wins; ticks when anything changed. Only for signals already durable
    /// elsewhere (the webhook journal, which restores the book at start): the file is written
    /// by `persist`, off the path from a signal to its cycle and to its sender's answer.
    pub fn apply_journaled(&self, signals: Vec<Signal>) -> bool {
        let mut changed = false;
        {
            let mut guard = self.lock();
            for signal in signals {
                let entry = guard.entry(signal.source.clone()).or_default();
                changed |= entry.get(&signal.symbol) != Some(&signal);
                entry.insert(signal.symbol.clone(), signal);
            }
        }
        if changed {
            self.revision.send_modify(|r| *r += 1);
        }
        changed
    }

    /// Writes the book as it is now (after `apply_journaled`), unless a write is under way:
    /// that writer then writes once more, so concurrent groups share one write. A failed write
    /// is repaired by the next one, which writes everything.
    pub fn persist(&self) -> Result<(), StateError> {
        use std::sync::atomic::Ordering::SeqCst;
        self.dirty.store(true, SeqCst);
        loop {
            let _writing = match self.write.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Ok(()),
            };
            if !self.dirty.swap(false, SeqCst) {
                return Ok(());
            }
            if let Err(e) = atomic_write_json(&self.path, &self.snapshot()) {
                self.dirty.store(true, SeqCst);
                return Err(e);
            }
        }
    }

    /// Forgets a source removed from the config: all its symbols count as depth 0.
    pub fn remove_source(&self, source: &str) -> Result<bool, StateError> {
        self.mutate(|all| all.remove(source).is_some())
    }

    /// Applies `f` and persists before returning, so a caller that gets `Ok` knows the
    /// change survives a crash.
    fn mutate(&self, f: impl FnOnce(&mut SignalSnapshot) -> bool) -> Result<bool, StateError> {
        let _writing = self.writing();
        let mut guard = self.lock();
        let mut next = guard.clone();
        if !f(&mut next) {
            return Ok(false);
        }
        atomic_write_json(&self.path, &next)?;
        *guard = next;
        drop(guard);
        self.revision.send_modify(|r| *r += 1);
        Ok(true)
    }

    /// Serialises writes of the file, so that the newest snapshot is the one written last.
    /// Taken before the signals' lock.
    fn writing(&self) -> std::sync::MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SignalSnapshot> {
        self.signals.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use rust_decimal_macros::dec;

    fn sig(source: &str, symbol: &str, depth: rust_decimal::Decimal) -> Signal {
        Signal {
            source: source.into(),
            symbol: symbol.into(),
            depth,
            leverage: None,
            ts: Utc::now(),
            seq: None,
        }
    }

    #[test]
    fn replace_drops_missing_symbols_and_persists() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let mut first = BTreeMap::new();
        first.insert("BTCUSDT".to_string(), sig("m", "BTCUSDT", dec!(0.5)));
        first.insert("ETHUSDT".to_string(), sig("m", "ETHUSDT", dec!(-0.2)));
        assert!(book.replace_source("m", first).unwrap());
        let mut second = BTreeMap::new();
        second.insert("BTCUSDT".to_string(), sig("m", "BTCUSDT", dec!(0.5)));
        book.replace_source("m", second).unwrap();
        let reopened = SignalBook::open(dir.path()).unwrap().snapshot();
        assert_eq!(reopened["m"].len(), 1);
        assert_eq!(reopened["m"]["BTCUSDT"].depth, dec!(0.5));
    }

    #[test]
    fn unchanged_apply_does_not_tick() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let rx = book.subscribe();
        let s = sig("tv", "BTCUSDT", dec!(0.1));
        assert!(book.apply(s.clone()).unwrap());
        assert!(!book.apply(s).unwrap());
        assert_eq!(*rx.borrow(), 1);
    }

    #[test]
    fn a_journaled_group_ticks_once_and_persists_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let rx = book.subscribe();
        let group = vec![
            sig("tv", "BTCUSDT", dec!(0.1)),
            sig("tv", "ETHUSDT", dec!(0.2)),
            sig("tv", "BTCUSDT", dec!(0.3)),
        ];
        assert!(book.apply_journaled(group));
        assert_eq!(*rx.borrow(), 1);
        book.persist().unwrap();
        let reopened = SignalBook::open(dir.path()).unwrap().snapshot();
        assert_eq!(reopened["tv"]["BTCUSDT"].depth, dec!(0.3));
        assert_eq!(reopened["tv"]["ETHUSDT"].depth, dec!(0.2));
    }

    #[test]
    fn unreadable_signals_json_is_moved_aside_when_it_can_be_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signals.json");
        std::fs::write(&path, b"{\"manual\": {\"BTC").unwrap();
        assert!(SignalBook::open(dir.path()).is_err());
        let book = SignalBook::open_or_rebuild(dir.path(), &[]).expect("rebuilt");
        assert!(book.snapshot().is_empty());
        assert!(!path.exists());
        let aside: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .filter(|n| n.starts_with("signals.json.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
    }

    #[test]
    fn unreadable_signals_json_refuses_start_when_a_source_cannot_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("signals.json");
        std::fs::write(&path, b"[").unwrap();
        let err = match SignalBook::open_or_rebuild(dir.path(), &["miners".to_string()]) {
            Ok(_) => panic!("must refuse"),
            Err(e) => e.to_string(),
        };
        assert!(err.contains("signals.json"), "{err}");
        assert!(err.contains("miners"), "{err}");
        assert!(err.contains("restore it from a backup"), "{err}");
        assert!(path.exists(), "left in place for the operator");
    }
}
