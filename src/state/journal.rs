//! The order journal: every order is written here, with its deterministic client order id,
//! before it is sent. After a crash the entries whose outcome is unknown are resolved by
//! asking the venue for that id before anything new is sent for the symbol.

use super::{atomic_write_json, read_json, state_id, StateError};
use crate::domain::Side;
use crate::execution::client_id::ClientIds;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
pub struct Journal {
    dir: PathBuf,
    accounts: Mutex<BTreeMap<String, AccountJournal>>,
    ids: ClientIds,
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
        Ok(Journal {
            dir,
            accounts: Mutex::new(accounts),
            ids: ClientIds::new(&state_id),
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

    fn with_account<R>(
        &self,
        account: &str,
        f: impl FnOnce(&mut AccountJournal) -> R,
    ) -> Result<R, StateError> {
        let mut guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let journal = guard.entry(account.to_string()).or_default();
        let result = f(journal);
        trim(journal);
        atomic_write_json(&self.path(account), journal)?;
        Ok(result)
    }

    /// Allocates the next plan number for a symbol, durably, so that a restart never reuses it.
    pub fn next_plan(&self, account: &str, symbol: &str) -> Result<u64, StateError> {
        self.with_account(account, |j| {
            let n = j.next_plan.entry(symbol.to_string()).or_insert(1);
            let plan = *n;
            *n += 1;
            plan
        })
    }

    /// Writes a new entry (before the order is sent).
    pub fn record(&self, entry: JournalEntry) -> Result<(), StateError> {
        self.with_account(&entry.account.clone(), |j| {
            if let Some(existing) = j
                .entries
                .iter_mut()
                .find(|e| e.client_order_id == entry.client_order_id)
            {
                *existing = entry;
            } else {
                j.entries.push(entry);
            }
        })
    }

    /// Updates the entry with this client order id, if it exists.
    pub fn update(
        &self,
        account: &str,
        client_order_id: &str,
        f: impl FnOnce(&mut JournalEntry),
    ) -> Result<(), StateError> {
        self.with_account(account, |j| {
            if let Some(e) = j
                .entries
                .iter_mut()
                .find(|e| e.client_order_id == client_order_id)
            {
                f(e);
                e.updated_at = Utc::now();
            }
        })
    }

    /// Entries of a symbol whose outcome is not known yet.
    pub fn unresolved(&self, account: &str, symbol: &str) -> Vec<JournalEntry> {
        let guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .get(account)
            .map(|j| {
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
        let guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .get(account)
            .map(|j| {
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
        let guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        let Some(journal) = guard.get(account) else {
            return Vec::new();
        };
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
    }

    /// All entries of an account, oldest first.
    pub fn entries(&self, account: &str) -> Vec<JournalEntry> {
        let guard = self.accounts.lock().unwrap_or_else(|p| p.into_inner());
        guard
            .get(account)
            .map(|j| j.entries.clone())
            .unwrap_or_default()
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
