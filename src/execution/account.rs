//! Level two: one account's cycle. One snapshot of account value, positions and open orders;
//! then every symbol in parallel under the account's semaphore.

use super::cooldown::{self, Cooldowns};
use super::health::Health;
use super::placer::Placer;
use super::symbol::{SymbolJob, SymbolOutcome};
use super::synthetic::{Board, LegObservation, LegReport};
use super::trading_gate::TradingGate;
use super::Metrics;
use crate::config::{AccountConfig, ConfigSet, Credential};
use crate::domain::{AccountValue, OpenOrder, Position, Quote, Symbol};
use crate::execution::planner::Allowed;
use crate::state::cache::AccountHealth;
use crate::state::{ExecutionCache, Journal};
use crate::targets::synthetic::{combine, LegTarget};
use crate::targets::TargetBook;
use crate::venue::{self, Venue, VenueError};
use chrono::Utc;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tracing::Instrument;

/// What a cycle hands every account.
pub struct AccountWork {
    pub config: Arc<ConfigSet>,
    pub targets: Arc<TargetBook>,
    pub cache: Arc<ExecutionCache>,
    pub journal: Arc<Journal>,
    pub metrics: Arc<Metrics>,
    pub kill_switch: bool,
    pub cycle: u64,
    /// Every synthetic's legs this cycle; this account trades the ones naming it.
    pub legs: Arc<Vec<LegTarget>>,
    /// Where leg symbols report what the account holds.
    pub board: Board,
}

pub struct AccountRuntime {
    pub config: AccountConfig,
    pub credential: Option<Credential>,
    venue: Result<Arc<dyn Venue>, VenueError>,
    health: Health,
    /// Leverage last set per native symbol, so it is set only when it changes.
    leverage_set: Arc<std::sync::Mutex<HashMap<String, Decimal>>>,
    /// Leverage waiting for a flat position (see `SymbolJob::leverage_waiting`).
    leverage_waiting: Arc<std::sync::Mutex<HashMap<String, Decimal>>>,
    /// Opening orders held after refusals; kept across cycles, whatever started them.
    pub(super) cooldowns: Arc<std::sync::Mutex<Cooldowns>>,
    /// Close-only while the venue refuses new orders; shared with the symbol jobs, which see
    /// the refusals and the acceptances.
    gate: Arc<std::sync::Mutex<TradingGate>>,
    /// Weighted symbols the venue does not list, and when that was found: skipped (one
    /// warning) and looked for again after `UNLISTED_RECHECK`.
    unlisted: HashMap<String, Instant>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Trade,
    /// The account has a `symbols` list without it.
    NotInList,
    /// The venue does not list it (found recently); `/status` keeps saying so.
    NotListedByVenue,
}

/// A venue lists new markets now and then; an unlisted symbol is looked for again this often.
const UNLISTED_RECHECK: std::time::Duration = std::time::Duration::from_secs(3600);

/// One symbol's share of the account's work this cycle.
struct SymbolTarget {
    symbol: String,
    depth: Decimal,
    leverage: Decimal,
    notional: Decimal,
    /// Why the target is what it is when it is not the signal's (removed, disabled…).
    note: Option<&'static str>,
    /// A synthetic's leg is held at the hedged amount here: only reductions.
    reduce_only: bool,
    /// For a symbol carrying a synthetic's leg: the account's own target without the legs.
    leg_direct: Option<Decimal>,
}

impl AccountRuntime {
    pub fn new(
        config: AccountConfig,
        credential: Option<Credential>,
        venue: Result<Arc<dyn Venue>, VenueError>,
    ) -> Self {
        AccountRuntime {
            config,
            credential,
            venue,
            health: Health::default(),
            leverage_set: Default::default(),
            leverage_waiting: Default::default(),
            cooldowns: Default::default(),
            gate: Default::default(),
            unlisted: HashMap::new(),
        }
    }

    /// The account's venue client, when it could be built.
    pub fn venue(&self) -> Option<Arc<dyn Venue>> {
        self.venue.as_ref().ok().cloned()
    }

    /// Whether this account trades `symbol`: it is in the account's `symbols` list (when it
    /// has one) and the venue was not found not to list it recently.
    fn route(&self, symbol: &str, now: Instant) -> Route {
        let in_list = self
            .config
            .symbols
            .as_ref()
            .is_none_or(|list| list.iter().any(|s| s.eq_ignore_ascii_case(symbol)));
        let unlisted = self
            .unlisted
            .get(symbol)
            .is_some_and(|found| now.duration_since(*found) < UNLISTED_RECHECK);
        match (in_list, unlisted) {
            (false, _) => Route::NotInList,
            (true, true) => Route::NotListedByVenue,
            (true, false) => Route::Trade,
        }
    }

    /// Runs the account's share of a cycle; returns true when a symbol asks for another
    /// cycle soon.
    pub async fn run_cycle(&mut self, work: &AccountWork) -> bool {
        let name = self.config.name.clone();
        let venue_kind = self.config.venue.clone();
        let venue = match &self.venue {
            Ok(v) => v.clone(),
            Err(e) => {
                work.cache.update_account(&name, |a| {
                    a.venue = venue_kind.clone();
                    a.health = AccountHealth::Error;
                    a.last_error = Some(e.to_string());
                });
                return false;
            }
        };
        let now = Instant::now();
        if let Some(wait) = self.health.backing_off(now) {
            tracing::debug!(wait_ms = wait.as_millis() as u64, "account backing off");
            return false;
        }

        // Account value, positions, open orders and the marks of every symbol the account
        // may trade, all at once: one round trip before the orders.
        let natives = self.quoted_natives(work, venue.as_ref(), now);
        let (snapshot, quotes) = tokio::join!(
            async {
                tokio::try_join!(
                    venue.account_value(),
                    venue.positions(),
                    venue.open_orders()
                )
            },
            venue.quotes(&natives)
        );
        let mut quotes: HashMap<String, Result<Quote, VenueError>> =
            natives.into_iter().zip(quotes).collect();
        let (value, positions, open_orders) = match snapshot {
            Ok(s) => s,
            Err(e) => {
                self.fail(work, &e);
                return false;
            }
        };

        let symbols = self.symbol_targets(work, &value, &positions, venue.as_ref());
        cooldown::observe_cycle(
            &self.cooldowns,
            &value,
            symbols
                .iter()
                .map(|t| (t.symbol.as_str(), t.depth, t.leverage)),
        );
        let base_allowed = self.allowed(work, &value);
        let semaphore = Arc::new(Semaphore::new(self.config.max_concurrent_symbols.max(1)));
        let positions: Arc<BTreeMap<String, Position>> = Arc::new(
            positions
                .into_iter()
                .map(|p| (p.native.clone(), p))
                .collect(),
        );
        let open_orders: Arc<Vec<OpenOrder>> = Arc::new(open_orders);
        let placer = Arc::new(Placer::new(venue.clone()));
        let mut set = JoinSet::new();
        let mut symbol_of_task = HashMap::new();
        for target in symbols {
            let native =
                venue::native_for(&self.config, venue.as_ref(), &Symbol::new(&target.symbol));
            if let Some(note) = target.note {
                tracing::info!(symbol = %target.symbol, native = %native, reason = note, "closing symbol");
            }
            let job = SymbolJob {
                account: self.config.clone(),
                venue: venue.clone(),
                symbol: target.symbol.clone(),
                native: native.clone(),
                depth: target.depth,
                leverage: target.leverage,
                notional: target.notional,
                position: positions.get(&native).map(|p| p.qty).unwrap_or_default(),
                open_orders: open_orders
                    .iter()
                    .filter(|o| o.native == native)
                    .cloned()
                    .collect(),
                allowed: if target.reduce_only && base_allowed == Allowed::Any {
                    Allowed::ReduceOnly
                } else {
                    base_allowed
                },
                quote: quotes.remove(&native),
                risk: work.config.engine.risk.clone(),
                journal: work.journal.clone(),
                cache: work.cache.clone(),
                metrics: work.metrics.clone(),
                leverage_set: self.leverage_set.clone(),
                leverage_waiting: self.leverage_waiting.clone(),
                cooldowns: self.cooldowns.clone(),
                gate: self.gate.clone(),
                placer: placer.clone(),
                cycle: work.cycle,
                leg: target.leg_direct.map(|direct_usd| LegReport {
                    board: work.board.clone(),
                    direct_usd,
                }),
            };
            let semaphore = semaphore.clone();
            let span = tracing::info_span!("symbol", symbol = %target.symbol, venue = %venue_kind);
            let task = set.spawn(
                async move {
                    let Ok(_permit) = semaphore.acquire_owned().await else {
                        return SymbolOutcome::Skipped;
                    };
                    let _working = job.placer.working();
                    job.run().await
                }
                .instrument(span),
            );
            symbol_of_task.insert(task.id(), (target.symbol.clone(), native.clone()));
        }
        let mut venue_trouble: Option<VenueError> = None;
        let mut auth_trouble: Option<VenueError> = None;
        let mut again = false;
        while let Some(joined) = set.join_next_with_id().await {
            match joined.map(|(id, outcome)| (symbol_of_task.get(&id), outcome)) {
                Ok((Some((symbol, native)), SymbolOutcome::NotListed)) => {
                    tracing::warn!(
                        symbol = %symbol, native = %native, venue = %venue_kind,
                        recheck_secs = UNLISTED_RECHECK.as_secs(),
                        "the venue does not list this symbol: not traded on this account"
                    );
                    self.unlisted.insert(symbol.clone(), Instant::now());
                }
                Ok((_, SymbolOutcome::Again)) => again = true,
                Ok((_, SymbolOutcome::VenueTrouble(e))) => {
                    if matches!(e, VenueError::Auth(_)) {
                        auth_trouble = Some(e);
                    } else {
                        venue_trouble = Some(e);
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "symbol task failed"),
            }
        }
        match auth_trouble.or(venue_trouble) {
            Some(e) => self.fail(work, &e),
            None => self.health.success(),
        }
        cooldown::publish(&self.cooldowns, &work.cache, &name);
        let mut health = self.health.state();
        let mut last_error = self.health.last_error.clone();
        if health == AccountHealth::Ok {
            if let Some(closed) = self.gate.lock().unwrap_or_else(|p| p.into_inner()).closed() {
                health = AccountHealth::CloseOnly;
                last_error = Some(format!(
                    "the venue refuses new orders ({}); only reductions until opening is tried again at {}",
                    closed.reason,
                    closed.retry_at.format("%H:%M:%S UTC")
                ));
            }
        }
        work.cache.update_account(&name, |a| {
            a.venue = venue_kind.clone();
            a.health = health;
            a.account_value = Some(value.equity_usd);
            a.last_error = last_error;
        });
        if let Err(e) = work.cache.persist(&name) {
            tracing::error!(error = %e, "cannot write the execution cache");
        }
        // The answers of this cycle (entries were on disk before their orders went out).
        if let Err(e) = work.journal.flush(&name) {
            tracing::error!(error = %e, "cannot write the order journal");
        }
        again
    }

    fn fail(&mut self, work: &AccountWork, error: &VenueError) {
        let was_quarantined = self.health.quarantined();
        self.health.failure(error, Instant::now());
        let state = self.health.state();
        match error {
            VenueError::Auth(_) => tracing::error!(
                venue = %self.config.venue,
                error = %error,
                quarantined = self.health.quarantined(),
                "credentials refused by the venue: check the API key, secret and permissions of this account"
            ),
            _ => {
                tracing::warn!(venue = %self.config.venue, error = %error, state = %state, "venue trouble")
            }
        }
        if self.health.quarantined() && !was_quarantined {
            tracing::error!(venue = %self.config.venue, "credentials quarantined for an hour after repeated refusals; fix them and reload (SIGHUP) to retry now");
        }
        let venue_kind = self.config.venue.clone();
        let last_error = Some(error.to_string());
        work.cache.update_account(&self.config.name, |a| {
            a.venue = venue_kind;
            a.health = state;
            a.last_error = last_error;
        });
    }

    /// The native symbols whose marks a cycle may need: every weighted symbol the account
    /// trades and every symbol it traded before (those may have to be closed).
    fn quoted_natives(&self, work: &AccountWork, venue: &dyn Venue, now: Instant) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let known = work.cache.known_symbols(&self.config.name);
        let weighted = work
            .targets
            .targets
            .keys()
            .filter(|s| self.route(s, now) == Route::Trade);
        for symbol in weighted.chain(known.iter()) {
            let native = venue::native_for(&self.config, venue, &Symbol::new(symbol));
            if !out.contains(&native) {
                out.push(native);
            }
        }
        out
    }

    /// What the account may do this cycle, before per-symbol checks.
    fn allowed(&self, work: &AccountWork, value: &AccountValue) -> Allowed {
        let risk = &work.config.engine.risk;
        let value_age = (Utc::now() - value.at).num_seconds();
        match self.health.state() {
            AccountHealth::Halted => return Allowed::Nothing,
            AccountHealth::Reducing | AccountHealth::Error | AccountHealth::CloseOnly => {
                return Allowed::ReduceOnly
            }
            AccountHealth::Ok => {}
        }
        let gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        if !gate.allows_opening(Utc::now()) {
            return Allowed::ReduceOnly;
        }
        drop(gate);
        if work.kill_switch || self.config.close_only || !self.config.enabled {
            return Allowed::ReduceOnly;
        }
        if value_age > risk.max_account_value_age_secs as i64 || value.equity_usd <= Decimal::ZERO {
            return Allowed::ReduceOnly;
        }
        Allowed::Any
    }

    /// The symbols this account handles this cycle, with their USD targets: its own weighted
    /// symbols plus the legs of synthetics it carries. Symbols the account traded before but
    /// that left the config are closed.
    fn symbol_targets(
        &self,
        work: &AccountWork,
        value: &AccountValue,
        positions: &[Position],
        venue: &dyn Venue,
    ) -> Vec<SymbolTarget> {
        let risk = &work.config.engine.risk;
        let synthetics = &work.config.engine.synthetics;
        let mut out = Vec::new();
        let now = Instant::now();
        for (symbol, target) in &work.targets.targets {
            // A synthetic is traded through its legs, never as a symbol of its own.
            if synthetics.contains_key(symbol) || self.route(symbol, now) != Route::Trade {
                continue;
            }
            let leverage = self
                .config
                .leverage_override
                .unwrap_or(target.leverage)
                .min(risk.max_leverage);
            let (depth, note) = if self.config.enabled {
                (target.depth, None)
            } else {
                (Decimal::ZERO, Some("account disabled"))
            };
            let mut notional = value.equity_usd.max(Decimal::ZERO) * depth * leverage;
            if let Some(cap) = risk.max_symbol_notional_usd {
                notional = notional.clamp(-cap, cap);
            }
            out.push(SymbolTarget {
                symbol: symbol.clone(),
                depth,
                leverage,
                notional,
                note,
                reduce_only: false,
                leg_direct: None,
            });
        }
        // Legs on this account: added to the symbol's own target (a leg's symbol need not be
        // in the account's `symbols` list: the synthetic names the account).
        let mine: Vec<&LegTarget> = work
            .legs
            .iter()
            .filter(|l| l.account == self.config.name)
            .collect();
        let mut held = Vec::new();
        let mut leg_symbols: Vec<&str> = mine.iter().map(|l| l.symbol.as_str()).collect();
        leg_symbols.sort_unstable();
        leg_symbols.dedup();
        for symbol in leg_symbols {
            if self.route(symbol, now) == Route::NotListedByVenue {
                // Nothing can be held where the venue lists nothing: the other legs see this
                // one at zero and are reduced back after `max_unhedged_secs`.
                work.board.lock().unwrap_or_else(|p| p.into_inner()).insert(
                    (self.config.name.clone(), symbol.to_string()),
                    LegObservation {
                        position_usd: Decimal::ZERO,
                        direct_usd: Decimal::ZERO,
                        tolerance_usd: Decimal::ZERO,
                    },
                );
                // Kept in the cache: `/status` keeps saying why the leg is not traded.
                held.push(symbol.to_string());
                continue;
            }
            let legs = mine.iter().copied().filter(|l| l.symbol == symbol);
            let at = out.iter().position(|t| t.symbol == symbol);
            let combined = combine(at.map(|i| out[i].notional), legs);
            if combined.held || !self.config.enabled {
                // Unknown size (or an account disabled since the config was checked): send
                // nothing for the symbol this cycle, and do not close it either.
                if let Some(i) = at {
                    out.remove(i);
                }
                held.push(symbol.to_string());
                continue;
            }
            let direct = at.map(|i| out[i].notional).unwrap_or_default();
            // Margin for the legs too: the symbol is set to the highest leverage asked of it.
            let leg_leverage = mine
                .iter()
                .filter(|l| l.symbol == symbol)
                .map(|l| l.leverage)
                .fold(Decimal::ONE, Decimal::max);
            let leg_leverage = self
                .config
                .leverage_override
                .unwrap_or(leg_leverage)
                .min(risk.max_leverage);
            let entry = match at {
                Some(i) => &mut out[i],
                None => {
                    out.push(SymbolTarget {
                        symbol: symbol.to_string(),
                        depth: Decimal::ZERO,
                        leverage: leg_leverage,
                        notional: Decimal::ZERO,
                        note: None,
                        reduce_only: false,
                        leg_direct: None,
                    });
                    out.last_mut().expect("just pushed")
                }
            };
            entry.leverage = entry.leverage.max(leg_leverage);
            entry.notional = combined.notional;
            entry.reduce_only = combined.reduce_only;
            entry.leg_direct = Some(direct);
        }
        if let Some(cap) = risk.max_account_notional_usd {
            let total: Decimal = out.iter().map(|t| t.notional.abs()).sum();
            if total > cap && total > Decimal::ZERO {
                let scale = cap / total;
                for t in &mut out {
                    t.notional *= scale;
                    t.leg_direct = t.leg_direct.map(|d| d * scale);
                }
            }
        }
        // Symbols we traded before that are no longer configured: close them.
        for known in work.cache.known_symbols(&self.config.name) {
            if held.contains(&known) || out.iter().any(|t| t.symbol == known) {
                continue;
            }
            let route = self.route(&known, now);
            let weighted = work.targets.targets.contains_key(&known);
            if weighted && route != Route::NotInList {
                continue;
            }
            let native = venue::native_for(&self.config, venue, &Symbol::new(&known));
            let held = positions
                .iter()
                .any(|p| p.native == native && !p.qty.is_zero());
            if held {
                out.push(SymbolTarget {
                    symbol: known,
                    depth: Decimal::ZERO,
                    leverage: Decimal::ONE,
                    notional: Decimal::ZERO,
                    reduce_only: false,
                    leg_direct: None,
                    note: Some(if weighted {
                        "symbol not in the account's symbols list"
                    } else {
                        "symbol no longer in signal_weights.json"
                    }),
                });
            } else {
                work.cache.forget_symbol(&self.config.name, &known);
            }
        }
        out
    }
}
