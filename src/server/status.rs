use crate::config::SourceConfig;
use crate::execution::synthetic::SyntheticStatus;
use crate::execution::{CycleInfo, EngineHandles};
use crate::signals::sn8;
use crate::signals::SignalBook;
use crate::state::cache::{AccountHealth, CooldownStatus, LastOrder};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// The `/status` document. Decimals are strings; quantities are in venue units. Fields may be
/// added; these stay.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub accounts: Vec<AccountStatus>,
    pub cycle: CycleInfo,
    pub targets_revision: u64,
    pub sources: Vec<SourceStatus>,
    /// Whether `POST /control/...` is enabled (a control token is configured).
    pub control: bool,
    /// Synthetic symbols: per leg its target and actual USD, the imbalance between the legs
    /// and since when they are unhedged (empty without synthetics).
    pub synthetics: Vec<SyntheticStatus>,
}

/// One signal source and how fresh it is.
#[derive(Debug, Serialize)]
pub struct SourceStatus {
    pub name: String,
    pub kind: String,
    /// Time of the newest signal change (null while the source holds no signal).
    pub last_signal: Option<DateTime<Utc>>,
    /// Seconds since `last_signal`.
    pub age_secs: Option<f64>,
    pub symbols: usize,
    /// Last good poll, for polled sources (null otherwise, and after a restart until the next poll).
    pub last_poll: Option<DateTime<Utc>>,
    /// Polled sources only: no good poll for `max_staleness_secs`, so their depths count as 0.
    /// Null for sources without a notion of staleness (files, webhooks) and while unknown.
    pub stale: Option<bool>,
}

#[derive(Debug, Serialize)]
pub struct AccountStatus {
    pub name: String,
    pub venue: String,
    pub state: AccountHealth,
    /// Why `state` is not `ok` (null when it is).
    pub reason: Option<String>,
    pub account_value: Option<Decimal>,
    pub enabled: bool,
    pub dry_run: bool,
    pub last_error: Option<String>,
    pub symbols: Vec<SymbolStatus>,
}

#[derive(Debug, Serialize)]
pub struct SymbolStatus {
    pub symbol: String,
    pub native_symbol: String,
    pub target_depth: Decimal,
    pub target_qty: Decimal,
    pub position_qty: Decimal,
    pub lot: Decimal,
    pub last_order: Option<LastOrder>,
    pub last_error: Option<String>,
    /// Opening orders held after the venue refused one (insufficient margin, invalid
    /// quantity), with the venue's reason; reductions still go out.
    pub cooldown: Option<CooldownStatus>,
    /// The target is sized below the weighted leverage: the account's leverage (OANDA's
    /// margin rate) allows less.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leverage_capped: Option<String>,
}

pub fn build_status(handles: &EngineHandles) -> StatusReport {
    let config = handles.config.borrow().clone();
    let cache = handles.cache.all();
    let kill_switch = handles
        .conditions
        .read()
        .map(|c| c.kill_switch.clone())
        .unwrap_or_default();
    let accounts = config
        .engine
        .accounts
        .iter()
        .map(|a| {
            let state = cache.get(&a.name).cloned().unwrap_or_default();
            let (health, reason) = match &kill_switch {
                Some(file) => (
                    AccountHealth::Halted,
                    Some(format!(
                        "kill switch engaged ({}): no new exposure, reducing orders continue",
                        file.display()
                    )),
                ),
                None if state.health == AccountHealth::Ok => (AccountHealth::Ok, None),
                None => (state.health, state.last_error.clone()),
            };
            AccountStatus {
                name: a.name.clone(),
                venue: a.venue.clone(),
                state: health,
                reason,
                account_value: state.account_value,
                enabled: a.enabled,
                dry_run: a.dry_run,
                last_error: state.last_error.clone(),
                symbols: state
                    .symbols
                    .iter()
                    .map(|(symbol, s)| SymbolStatus {
                        symbol: symbol.clone(),
                        native_symbol: s.native_symbol.clone(),
                        target_depth: s.target_depth,
                        target_qty: s.target_qty,
                        position_qty: s.position_qty,
                        lot: s.lot,
                        last_order: s.last_order.clone(),
                        last_error: s.last_error.clone(),
                        // Published at the last cycle: one that has run out since is over.
                        cooldown: s.cooldown.clone().filter(|c| c.until > Utc::now()),
                        leverage_capped: s.leverage_capped.clone(),
                    })
                    .collect(),
            }
        })
        .collect();
    let cycle = handles.cycle.read().map(|c| c.clone()).unwrap_or_default();
    let sources = match handles.metrics.signal_book() {
        Some(book) => config
            .engine
            .sources
            .iter()
            .map(|s| source_status(book, s, Utc::now()))
            .collect(),
        None => Vec::new(),
    };
    StatusReport {
        accounts,
        cycle,
        targets_revision: handles.targets.borrow().revision,
        sources,
        control: config.engine.server.control_token.is_some(),
        synthetics: handles
            .synthetics
            .read()
            .map(|s| s.clone())
            .unwrap_or_default(),
    }
}

fn source_status(book: &SignalBook, source: &SourceConfig, now: DateTime<Utc>) -> SourceStatus {
    let fresh = book.freshness(&source.name);
    let stale = if source.kind == sn8::KIND {
        let limit = sn8::config::max_staleness_secs(source);
        // A poll stamped ahead of `now` (clock step) counts as fresh.
        fresh
            .last_heard
            .map(|heard| u64::try_from((now - heard).num_seconds()).is_ok_and(|age| age > limit))
    } else {
        None
    };
    SourceStatus {
        name: source.name.clone(),
        kind: source.kind.clone(),
        last_signal: fresh.newest,
        age_secs: fresh.age_secs(now),
        symbols: fresh.symbols,
        last_poll: fresh.last_heard,
        stale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(json: &str) -> SourceConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn a_polled_source_is_stale_only_after_max_staleness_without_a_good_poll() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let sn8 = source(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "max_staleness_secs": 600}"#,
        );
        let now = Utc::now();
        assert_eq!(
            source_status(&book, &sn8, now).stale,
            None,
            "unknown before a poll"
        );
        book.mark_heard("b", now - chrono::Duration::seconds(30));
        let fresh = source_status(&book, &sn8, now);
        assert_eq!(fresh.stale, Some(false));
        assert_eq!(fresh.last_poll, Some(now - chrono::Duration::seconds(30)));
        book.mark_heard("b", now - chrono::Duration::seconds(601));
        assert_eq!(source_status(&book, &sn8, now).stale, Some(true));

        let file = source(r#"{"name": "f", "kind": "file", "path": "x.json"}"#);
        book.mark_heard("f", now - chrono::Duration::seconds(10_000));
        assert_eq!(
            source_status(&book, &file, now).stale,
            None,
            "files report the age only"
        );
    }
}
