//! The order journal: every order is written here, with its deterministic client order id,
//! before it is sent. After a crash the entries whose outcome is unknown are resolved by
//! asking the venue for that id before anything new is sent for the symbol.

use super::{atomic_write, read_json, state_id, StateError};
use crate::domain::Side;
use crate::execution::client_id::ClientIds;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Terminal entries kept per account (older ones are dropped; live ones are always kept).
const KEEP_TERMINAL: usize = 200;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalStatus {
    /// Written, about to be sent: if we crash now, the venue may or may not have it.
    Sending,
    /// Sent and the answer was lost (timeout, 5xx, disconnect): must be looked up.
    Unknown,
    /// Accepted and resting or partly filled.
    Open,
    Filled,
    Cancelled,
    Rejected,
    /// Planned on a dry-run account; never sent.
    DryRun,
    /// The venue holds a different order under this client id (a restored or copied state, a
    /// second daemon): never a fill. The symbol sends nothing while an entry of it is in
    /// conflict; the operator clears it by removing the entry (see the README).
    Conflict,
}

impl JournalStatus {
    pub fn is_unresolved(self) -> bool {
        matches!(self, JournalStatus::Sending | JournalStatus::Unknown)
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JournalStatus::Filled
                | JournalStatus::Cancelled
                | JournalStatus::Rejected
                | JournalStatus::DryRun
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JournalStatus::Sending => "sending",
            JournalStatus::Unknown => "unknown",
            JournalStatus::Open => "open",
            JournalStatus::Filled => "filled",
            JournalStatus::Cancelled => "cancelled",
            JournalStatus::Rejected => "rejected",
            JournalStatus::DryRun => "dry_run",
            JournalStatus::Conflict => "conflict",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub client_order_id: String,
    pub account: String,
    pub symbol: String,
    pub native: String,
    /// The plan this order belongs to (per account and symbol, strictly increasing).
    pub plan: u64,
    pub step: u32,
    pub side: Side,
    pub qty: Decimal,
    pub reduce_only: bool,
    pub purpose: String,
    pub status: JournalStatus,
    #[serde(default)]
    pub venue_order_id: Option<String>,
    #[serde(default)]
    pub filled_qty: Decimal,
    #[serde(default)]
    pub error: Option<String>,
    /// The venue position (venue units) the order was planned from: with `filled_qty` it says
    /// where the position must be once the venue has counted the fill.
    #[serde(default)]
    pub position_before: Option<Decimal>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct AccountJournal {
    /// Next plan number per symbol.
    next_plan: BTreeMap<String, u64>,
    entries: Vec<JournalEntry>,
}

/// The journals of all accounts, one file per account.
///
/// Only a new entry must be on disk before its order is sent; those writes are shared by
/// the symbols recording at the same time (group commit: one file write covers every entry
/// recorded before it started). Everything else (plan numbers, answers) rides along with the
/// next write, or the flush at the end of the account's cycle: a plan number no recorded
/// order used may be reused after a crash (no id of it was sent), and an answer lost in a
/// crash leaves its entry `sending`, which is looked up at the venue before anything new is
/// sent for the symbol.
pub struct Journal {
    dir: PathBuf,
    accounts: Mutex<BTreeMap<String, Arc<Slot>>>,
    ids: ClientIds,
    /// Test hook run by a writer before it takes what it writes (to queue others behind it).
    #[cfg(test)]
    before_write: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
    /// File writes made (tests count them).
    #[cfg(test)]
    writes: std::sync::atomic::AtomicUsize,
}

/// One account's journal and the bookkeeping of its writes.
#[derive(Default)]
struct Slot {
    data: Mutex<Versioned>,
    /// Held while the file is written; the version on disk.
    written: Mutex<u64>,
}

#[derive(Default)]
struct Versioned {
    journal: AccountJournal,
    /// Bumped by every change.
    version: u64,
}

impl Journal {
    pub fn open(state_dir: &Path) -> Result<Journal, StateError> {
        let dir = state_dir.join("journal");
        let mut accounts = BTreeMap::new();
        if let Ok(read) = std::fs::read_dir(&dir) {
            for entry in read.flatten() {
                let path = entry.path();
                let Some(name) = path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_string)
                else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                if let Some(j) = read_json::<AccountJournal>(&path).map_err(not_rebuilt)? {
                    accounts.insert(name, j);
                }
            }
        }
        let (state_id, created) = state_id::load_or_create(state_dir)?;
        if created && accounts.values().any(|j| !j.entries.is_empty()) {
            // Safe: each entry keeps the id it was sent with, and new ids cannot repeat old ones.
            tracing::warn!(
                file = %state_id::path(state_dir).display(),
                "the state id was missing although the order journal has entries; made a new one"
            );
        }
        let accounts = accounts
            .into_iter()
            .map(|(name, journal)| {
                let slot = Slot {
                    data: Mutex::new(Versioned {
                        journal,
                        version: 0,
                    }),
                    written: Mutex::new(0),
                };
                (name, Arc::new(slot))
            })
            .collect();
        Ok(Journal {
            dir,
            accounts: Mutex::new(accounts),
            ids: ClientIds::new(&state_id),
            #[cfg(test)]
            before_write: Mutex::new(None),
            #[cfg(test)]
            writes: Default::default(),
        })
    }

    /// The client order id of step `step` of plan `plan` (unique across restarts and state
    /// directories; see `client_id`).
    pub fn client_order_id(&self, account: &str, symbol: &str, plan: u64, step: u32) -> String {
        self.ids.id(account, symbol, plan, step)
    }

    fn path(&self, account: &str) -> PathBuf {
        self.dir.join(format!("{account}.json"))
    }

    fn slot(&self, account: &str) -> Arc<Slot> {
        let mut guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        guard.entry(account.to_string()).or_default().clone()
    }

    fn existing(&self, account: &str) -> Option<Arc<Slot>> {
        let guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        guard.get(account).cloned()
    }

    /// Changes an account's journal in memory; returns the result and the version it made.
    fn change<R>(&self, slot: &Slot, f: impl FnOnce(&mut AccountJournal) -> R) -> (R, u64) {
        let mut data = slot.data.lock().unwrap_or_else(|p| p.into_inner());
        let result = f(&mut data.journal);
        trim(&mut data.journal);
        data.version += 1;
        (result, data.version)
    }

    /// Returns once the file holds `version` or a later one. A writer under way is waited
    /// for; whoever writes next writes everything changed so far, for all who wait.
    fn write_through(&self, account: &str, slot: &Slot, version: u64) -> Result<(), StateError> {
        let mut written = slot.written.lock().unwrap_or_else(|p| p.into_inner());
        if *written >= version {
            return Ok(());
        }
        #[cfg(test)]
        {
            let hook = self.before_write.lock().unwrap().clone();
            if let Some(hook) = hook {
                hook();
            }
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        let (bytes, newest) = {
            let data = slot.data.lock().unwrap_or_else(|p| p.into_inner());
            let bytes =
                serde_json::to_vec_pretty(&data.journal).map_err(|e| StateError::Corrupt {
                    file: self.path(account),
                    message: e.to_string(),
                })?;
            (bytes, data.version)
        };
        atomic_write(&self.path(account), &bytes)?;
        *written = newest;
        Ok(())
    }

    /// Allocates the next plan number for a symbol. It is written with the plan's first
    /// entry: a number whose plan recorded nothing sent nothing, so a restart may reuse it.
    pub fn next_plan(&self, account: &str, symbol: &str) -> Result<u64, StateError> {
        let slot = self.slot(account);
        let (plan, _) = self.change(&slot, |j| {
            let n = j.next_plan.entry(symbol.to_string()).or_insert(1);
            let plan = *n;
            *n += 1;
            plan
        });
        Ok(plan)
    }

    /// Writes a new entry; on `Ok` it is on disk (the order may be sent).
    pub fn record(&self, entry: JournalEntry) -> Result<(), StateError> {
        let account = entry.account.clone();
        let slot = self.slot(&account);
        let ((), version) = self.change(&slot, |j| {
            if let Some(existing) = j
                .entries
                .iter_mut()
                .find(|e| e.client_order_id == entry.client_order_id)
            {
                *existing = entry;
            } else {
                j.entries.push(entry);
            }
        });
        self.write_through(&account, &slot, version)
    }

    /// Updates the entry with this client order id, if it exists. Written with the next
    /// entry or the account's next `flush`.
    pub fn update(
        &self,
        account: &str,
        client_order_id: &str,
        f: impl FnOnce(&mut JournalEntry),
    ) -> Result<(), StateError> {
        let slot = self.slot(account);
        self.change(&slot, |j| {
            if let Some(e) = j
                .entries
                .iter_mut()
                .find(|e| e.client_order_id == client_order_id)
            {
                f(e);
                e.updated_at = Utc::now();
            }
        });
        Ok(())
    }

    /// Writes what changed since the account's last write (at the end of its cycle).
    pub fn flush(&self, account: &str) -> Result<(), StateError> {
        let Some(slot) = self.existing(account) else {
            return Ok(());
        };
        let version = slot.data.lock().unwrap_or_else(|p| p.into_inner()).version;
        self.write_through(account, &slot, version)
    }

    fn read<R>(&self, account: &str, f: impl FnOnce(&AccountJournal) -> R) -> Option<R> {
        let slot = self.existing(account)?;
        let data = slot.data.lock().unwrap_or_else(|p| p.into_inner());
        Some(f(&data.journal))
    }

    /// Entries of a symbol whose outcome is not known yet.
    pub fn unresolved(&self, account: &str, symbol: &str) -> Vec<JournalEntry> {
        self.read(account, |j| {
            j.entries
                .iter()
                .filter(|e| e.symbol == symbol && e.status.is_unresolved())
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// Entries of a symbol in conflict (the symbol is halted while there is one).
    pub fn conflicts(&self, account: &str, symbol: &str) -> Vec<JournalEntry> {
        self.read(account, |j| {
            j.entries
                .iter()
                .filter(|e| e.symbol == symbol && e.status == JournalStatus::Conflict)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
    }

    /// The entries of the plan of `symbol` that holds the most recent fill, if that fill was
    /// recorded after `since` (oldest step first).
    pub fn latest_filled_plan(
        &self,
        account: &str,
        symbol: &str,
        since: DateTime<Utc>,
    ) -> Vec<JournalEntry> {
        self.read(account, |journal| {
            let of_symbol = || journal.entries.iter().filter(|e| e.symbol == symbol);
            let Some(latest) = of_symbol()
                .filter(|e| !e.filled_qty.is_zero() && e.updated_at > since)
                .max_by_key(|e| e.updated_at)
            else {
                return Vec::new();
            };
            let mut plan: Vec<JournalEntry> = of_symbol()
                .filter(|e| e.plan == latest.plan)
                .cloned()
                .collect();
            plan.sort_by_key(|e| e.step);
            plan
        })
        .unwrap_or_default()
    }

    /// All entries of an account, oldest first.
    pub fn entries(&self, account: &str) -> Vec<JournalEntry> {
        self.read(account, |j| j.entries.clone())
            .unwrap_or_default()
    }
}

/// A clean stop writes what the last cycles changed (answers, plan numbers).
impl Drop for Journal {
    fn drop(&mut self) {
        let names: Vec<String> = self
            .accounts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for name in names {
            if let Err(e) = self.flush(&name) {
                tracing::error!(account = %name, error = %e, "cannot write the order journal at exit");
            }
        }
    }
}

/// The journal cannot be rebuilt from anything else: say so, and what the operator can do.
fn not_rebuilt(e: StateError) -> StateError {
    match e {
        StateError::Corrupt { file, message } => {
            let shown = file.display().to_string();
            StateError::Corrupt {
                message: format!(
                    "{message}. This is the order journal: the record of the orders sent to this \
                     account's venue, needed to resolve orders whose outcome is unknown; it cannot be \
                     rebuilt, so trade-engine will not start. Either restore it from a backup, or check \
                     at the venue that this account has no open order of ours (and none in flight), \
                     then move the file aside (`mv {shown} {shown}.bad`) and start again: a new journal \
                     is started, and new client ids cannot repeat old ones"
                ),
                file,
            }
        }
        other => other,
    }
}

fn trim(journal: &mut AccountJournal) {
    let terminal = journal
        .entries
        .iter()
        .filter(|e| e.status.is_terminal())
        .count();
    if terminal <= KEEP_TERMINAL {
        return;
    }
    let mut drop = terminal - KEEP_TERMINAL;
    journal.entries.retain(|e| {
        if drop > 0 && e.status.is_terminal() {
            drop -= 1;
            false
        } else {
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn entry(cid: &str, status: JournalStatus) -> JournalEntry {
        JournalEntry {
            client_order_id: cid.into(),
            account: "a".into(),
            symbol: "BTCUSDT".into(),
            native: "BTCUSDT".into(),
            plan: 1,
            step: 0,
            side: Side::Buy,
            qty: dec!(1),
            reduce_only: false,
            purpose: "open".into(),
            status,
            venue_order_id: None,
            filled_qty: Decimal::ZERO,
            error: None,
            position_before: None,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn survives_reopen_and_keeps_unresolved() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            assert_eq!(j.next_plan("a", "BTCUSDT").unwrap(), 1);
            assert_eq!(j.next_plan("a", "BTCUSDT").unwrap(), 2);
            j.record(entry("c1", JournalStatus::Sending)).unwrap();
            j.record(entry("c2", JournalStatus::Sending)).unwrap();
            j.update("a", "c2", |e| e.status = JournalStatus::Filled)
                .unwrap();
        }
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.next_plan("a", "BTCUSDT").unwrap(), 3);
        let open: Vec<_> = j
            .unresolved("a", "BTCUSDT")
            .into_iter()
            .map(|e| e.client_order_id)
            .collect();
        assert_eq!(open, vec!["c1".to_string()]);
    }

    fn on_disk(dir: &Path) -> Vec<(String, JournalStatus)> {
        let text = std::fs::read_to_string(dir.join("journal").join("a.json")).unwrap_or_default();
        let j: AccountJournal = serde_json::from_str(&text).unwrap_or_default();
        j.entries
            .into_iter()
            .map(|e| (e.client_order_id, e.status))
            .collect()
    }

    #[test]
    fn a_recorded_entry_is_on_disk_before_record_returns() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(entry("c1", JournalStatus::Sending)).unwrap();
        assert_eq!(on_disk(dir.path()), [("c1".into(), JournalStatus::Sending)]);
    }

    /// Symbols recording at once share one write, and none returns before its entry is on
    /// disk.
    #[test]
    fn concurrent_records_share_a_write_and_each_waits_for_it() {
        let dir = tempfile::tempdir().unwrap();
        let j = Arc::new(Journal::open(dir.path()).unwrap());
        j.record(entry("first", JournalStatus::Filled)).unwrap();
        let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
        let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
        let go_rx = Mutex::new(go_rx);
        let once = std::sync::atomic::AtomicBool::new(false);
        *j.before_write.lock().unwrap() = Some(Arc::new(move || {
            if !once.swap(true, std::sync::atomic::Ordering::SeqCst) {
                held_tx.send(()).unwrap();
                go_rx.lock().unwrap().recv().unwrap();
            }
        }));
        let writes_before = j.writes.load(std::sync::atomic::Ordering::SeqCst);
        let record = |cid: &'static str| {
            let j = j.clone();
            let dir = dir.path().to_path_buf();
            std::thread::spawn(move || {
                j.record(entry(cid, JournalStatus::Sending)).unwrap();
                // Whatever the interleaving: the entry is on disk once record returns.
                assert!(
                    on_disk(&dir).iter().any(|(c, _)| c == cid),
                    "{cid} acknowledged before it was written"
                );
            })
        };
        let a = record("a");
        held_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("recording an entry writes the journal");
        // The first writer is held; these two change the journal and wait behind it.
        let b = record("b");
        let c = record("c");
        while j.existing("a").unwrap().data.lock().unwrap().version < 4 {
            std::thread::yield_now();
        }
        go_tx.send(()).unwrap();
        for t in [a, b, c] {
            t.join().unwrap();
        }
        assert_eq!(
            j.writes.load(std::sync::atomic::Ordering::SeqCst) - writes_before,
            1,
            "three entries recorded together, one file write"
        );
        assert_eq!(on_disk(dir.path()).len(), 4);
    }

    /// Answers ride with the next write: a crash before it leaves the entry `sending`, which
    /// is looked up at the venue (never taken as a fill, never re-sent blindly).
    #[test]
    fn an_answer_is_written_with_the_next_flush_and_a_crash_before_it_leaves_the_entry_unresolved()
    {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        assert_eq!(j.next_plan("a", "BTCUSDT").unwrap(), 1);
        j.record(entry("c1", JournalStatus::Sending)).unwrap();
        j.update("a", "c1", |e| e.status = JournalStatus::Filled)
            .unwrap();
        assert_eq!(on_disk(dir.path()), [("c1".into(), JournalStatus::Sending)]);
        let after_crash = Journal::open(dir.path()).unwrap();
        assert_eq!(after_crash.unresolved("a", "BTCUSDT").len(), 1);
        // The plan number went to disk with its entry.
        assert_eq!(after_crash.next_plan("a", "BTCUSDT").unwrap(), 2);
        std::mem::forget(after_crash);
        j.flush("a").unwrap();
        assert_eq!(on_disk(dir.path()), [("c1".into(), JournalStatus::Filled)]);
    }

    #[test]
    fn bounded_but_never_drops_live_entries() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(entry("live", JournalStatus::Unknown)).unwrap();
        for i in 0..(KEEP_TERMINAL + 50) {
            j.record(entry(&format!("t{i}"), JournalStatus::Filled))
                .unwrap();
        }
        let all = j.entries("a");
        assert_eq!(all.len(), KEEP_TERMINAL + 1);
        assert!(all.iter().any(|e| e.client_order_id == "live"));
    }

    #[test]
    fn an_unreadable_journal_refuses_to_open_and_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            j.record(entry("c1", JournalStatus::Filled)).unwrap();
        }
        let file = dir.path().join("journal").join("a.json");
        std::fs::write(&file, b"{\"next_plan\": {").unwrap();
        let err = match Journal::open(dir.path()) {
            Ok(_) => panic!("a corrupt journal must stop start-up"),
            Err(e) => e.to_string(),
        };
        for part in [
            file.display().to_string().as_str(),
            "order journal",
            "cannot be rebuilt",
            "restore it from a backup",
            "move the file aside",
        ] {
            assert!(err.contains(part), "{part:?} missing in {err}");
        }
        assert!(file.exists(), "never moved aside automatically");
    }

    #[test]
    fn a_missing_state_id_with_a_journal_gets_a_new_one_and_old_ids_stay_resolvable() {
        let dir = tempfile::tempdir().unwrap();
        {
            let j = Journal::open(dir.path()).unwrap();
            j.record(entry("te-old", JournalStatus::Unknown)).unwrap();
        }
        let first = std::fs::read_to_string(state_id::path(dir.path())).unwrap();
        std::fs::remove_file(state_id::path(dir.path())).unwrap();
        let j = Journal::open(dir.path()).unwrap();
        let second = std::fs::read_to_string(state_id::path(dir.path())).unwrap();
        assert_ne!(first, second);
        // The journal keeps the id it sent, so the order is still looked up by it.
        assert_eq!(j.unresolved("a", "BTCUSDT")[0].client_order_id, "te-old");
    }

    #[test]
    fn conflicts_are_never_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(dir.path()).unwrap();
        j.record(entry("clash", JournalStatus::Conflict)).unwrap();
        for i in 0..(KEEP_TERMINAL + 5) {
            j.record(entry(&format!("t{i}"), JournalStatus::Filled))
                .unwrap();
        }
        assert_eq!(j.conflicts("a", "BTCUSDT").len(), 1);
        assert!(j.conflicts("a", "ETHUSDT").is_empty());
    }
}
