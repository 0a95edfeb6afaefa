//! The execution cache: what the daemon last saw and did per account and symbol. It feeds
//! `/status`, remembers which symbols an account has traded (so that a symbol removed from
//! the config is still closed), and survives restarts.

use super::{atomic_write_json, read_json, StateError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LastOrder {
    pub client_order_id: String,
    pub side: String,
    pub qty: Decimal,
    pub status: String,
}

/// Opening orders of a symbol held after the venue refused one (see `execution::cooldown`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CooldownStatus {
    /// `insufficient_margin` or `invalid_quantity`.
    pub kind: String,
    /// The venue's refusal as the executor logged it (code and message).
    pub reason: String,
    /// The refused order.
    pub side: String,
    pub qty: Decimal,
    /// Refusals in a row; each one doubles the wait.
    pub strikes: u32,
    pub since: DateTime<Utc>,
    /// Opening orders are sent again from then on, or earlier when the symbol's target changes
    /// or a reduction frees margin.
    pub until: DateTime<Utc>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolState {
    pub native_symbol: String,
    pub target_depth: Decimal,
    pub target_qty: Decimal,
    pub position_qty: Decimal,
    pub lot: Decimal,
    pub last_order: Option<LastOrder>,
    pub last_error: Option<String>,
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the target is sized below the weighted leverage (an account-wide leverage cap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leverage_capped: Option<String>,
    /// Lives in the executor's memory (a restart retries once); mirrored here for `/status`,
    /// never written to disk, so a reloaded cache cannot show a cooldown nobody holds.
    #[serde(skip)]
    pub cooldown: Option<CooldownStatus>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountHealth {
    #[default]
    Ok,
    /// Only orders that reduce exposure are sent.
    Reducing,
    /// No orders are sent until the venue answers again.
    Halted,
    /// The account cannot work (e.g. bad credentials) and is retried with backoff.
    Error,
    /// The venue refuses new orders (maintenance, API trading suspended): only reductions,
    /// opening is tried again after a back-off.
    #[serde(rename = "close_only")]
    CloseOnly,
}

crate::display_as_wire_name!(AccountHealth);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    pub venue: String,
    pub health: AccountHealth,
    pub account_value: Option<Decimal>,
    pub last_error: Option<String>,
    pub symbols: BTreeMap<String, SymbolState>,
}

pub struct ExecutionCache {
    dir: PathBuf,
    accounts: RwLock<BTreeMap<String, AccountState>>,
    rebuilt: Vec<String>,
}

impl ExecutionCache {
    pub fn open(state_dir: &Path) -> Result<ExecutionCache, StateError> {
        let dir = state_dir.join("cache");
        let mut accounts = BTreeMap::new();
        let mut rebuilt = Vec::new();
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
                match read_json::<AccountState>(&path) {
                    Ok(Some(state)) => {
                        accounts.insert(name, state);
                    }
                    Ok(None) => {}
                    // The cache only mirrors what the venue and the journal know: rebuild it.
                    Err(StateError::Corrupt { message, .. }) => {
                        let aside = super::corrupt::move_aside(&path)?;
                        tracing::warn!(
                            file = %path.display(), moved_to = %aside.display(), error = %message,
                            "execution cache unreadable: moved aside, rebuilt from the venue at the next cycle"
                        );
                        rebuilt.push(name);
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(ExecutionCache {
            dir,
            accounts: RwLock::new(accounts),
            rebuilt,
        })
    }

    /// Accounts whose cache file was unreadable at start and moved aside.
    pub fn rebuilt(&self) -> &[String] {
        &self.rebuilt
    }

    /// Remembers the symbols an account traded per its order journal, so that a symbol that
    /// left the config while its cache was lost is still closed.
    pub fn remember_traded(
        &self,
        account: &str,
        traded: impl IntoIterator<Item = (String, String)>,
    ) {
        self.update_account(account, |a| {
            for (symbol, native) in traded {
                a.symbols.entry(symbol).or_insert_with(|| SymbolState {
                    native_symbol: native,
                    ..Default::default()
                });
            }
        });
    }

    pub fn get(&self, account: &str) -> Option<AccountState> {
        self.read().get(account).cloned()
    }

    pub fn all(&self) -> BTreeMap<String, AccountState> {
        self.read().clone()
    }

    /// Symbols this account has held or traded, per the cache.
    pub fn known_symbols(&self, account: &str) -> Vec<String> {
        self.read()
            .get(account)
            .map(|a| a.symbols.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn update_account(&self, account: &str, f: impl FnOnce(&mut AccountState)) {
        let mut guard = self.accounts.write().unwrap_or_else(|p| p.into_inner());
        f(guard.entry(account.to_string()).or_default());
    }

    pub fn update_symbol(&self, account: &str, symbol: &str, f: impl FnOnce(&mut SymbolState)) {
        self.update_account(account, |a| {
            let s = a.symbols.entry(symbol.to_string()).or_default();
            f(s);
            s.updated_at = Some(Utc::now());
        });
    }

    /// Drops a symbol the account neither holds nor targets any more.
    pub fn forget_symbol(&self, account: &str, symbol: &str) {
        self.update_account(account, |a| {
            a.symbols.remove(symbol);
        });
    }

    pub fn persist(&self, account: &str) -> Result<(), StateError> {
        let Some(state) = self.get(account) else {
            return Ok(());
        };
        atomic_write_json(&self.dir.join(format!("{account}.json")), &state)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, AccountState>> {
        self.accounts.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_account_file_is_moved_aside_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = ExecutionCache::open(dir.path()).unwrap();
            cache.update_symbol("good", "BTCUSDT", |s| s.position_qty = Decimal::ONE);
            cache.persist("good").unwrap();
        }
        let cache_dir = dir.path().join("cache");
        std::fs::write(cache_dir.join("bad.json"), b"{\"venue\": tru").unwrap();
        let cache = ExecutionCache::open(dir.path()).expect("a corrupt cache never stops start-up");
        assert_eq!(cache.rebuilt(), ["bad".to_string()]);
        assert!(cache.get("bad").is_none());
        assert_eq!(cache.known_symbols("good"), vec!["BTCUSDT".to_string()]);
        let names: Vec<String> = std::fs::read_dir(&cache_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        assert!(!names.contains(&"bad.json".to_string()), "{names:?}");
        assert!(
            names.iter().any(|n| n.starts_with("bad.json.corrupt-")),
            "{names:?}"
        );
        // The traded symbols come back from the journal, so a removed symbol is still closed.
        cache.remember_traded("bad", [("ETHUSDT".to_string(), "ETHUSDT".to_string())]);
        assert_eq!(cache.known_symbols("bad"), vec!["ETHUSDT".to_string()]);
    }
}
