use crate::execution::{CycleInfo, EngineHandles};
use crate::state::cache::{AccountHealth, CooldownStatus, LastOrder};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::Serialize;

/// The `/status` document. Decimals are strings; quantities are in venue units. Fields may be
/// added; these stay.
#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub accounts: Vec<AccountStatus>,
    pub cycle: CycleInfo,
    pub targets_revision: u64,
    /// Whether `POST /control/...` is enabled (a control token is configured).
    pub control: bool,
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
                    })
                    .collect(),
            }
        })
        .collect();
    let cycle = handles.cycle.read().map(|c| c.clone()).unwrap_or_default();
    StatusReport {
        accounts,
        cycle,
        targets_revision: handles.targets.borrow().revision,
        control: config.engine.server.control_token.is_some(),
    }
}
