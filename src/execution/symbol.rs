//! Level three: one symbol. Resolve anything unknown from before, plan, then send the planned
//! orders one after the other, each journaled under its deterministic id before it is sent.

use super::cooldown::Cooldowns;
use super::placer::Placer;
use super::planner::{plan, Allowed, PlanInput};
use super::sizing::{self, Sizing};
use super::synthetic::{LegObservation, LegReport};
use super::trading_gate::TradingGate;
use super::Metrics;
use crate::config::{AccountConfig, RiskConfig};
use crate::domain::{
    OpenOrder, OrderAck, OrderIntent, OrderKind, OrderRequest, OrderStatus, Quote, Side,
};
use crate::state::cache::LastOrder;
use crate::state::{ExecutionCache, Journal, JournalEntry, JournalStatus};
use crate::venue::{LeverageScope, RejectKind, Venue, VenueError};
use chrono::Utc;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// How long an order whose send timed out may still appear at the venue. Until then a
/// lookup that finds nothing is not trusted, and nothing new is sent for the symbol.
const UNKNOWN_GRACE_SECS: i64 = 15;

pub enum SymbolOutcome {
    Done,
    Skipped,
    /// Something changed under this cycle's snapshot (e.g. a stale order of ours was cancelled):
    /// plan again from a fresh snapshot soon.
    Again,
    /// A symbol-level problem (rejection, bad instrument): logged, other symbols go on.
    SymbolError,
    /// The venue itself is in trouble; feeds the account's health.
    VenueTrouble(VenueError),
    /// The venue does not list the symbol: the account skips it (one warning, not an error
    /// every cycle) and shows it in `/status` as not traded.
    NotListed,
}

/// Client ids this daemon generates (see `client_id`); `flatten` uses `tf`.
fn is_ours(client_order_id: &str) -> bool {
    client_order_id.len() == super::client_id::CLIENT_ID_LEN
        && (client_order_id.starts_with("te") || client_order_id.starts_with("tf"))
}

pub struct SymbolJob {
    pub account: AccountConfig,
    pub venue: Arc<dyn Venue>,
    pub symbol: String,
    pub native: String,
    pub depth: Decimal,
    pub leverage: Decimal,
    pub notional: Decimal,
    pub position: Decimal,
    pub open_orders: Vec<OpenOrder>,
    pub allowed: Allowed,
    /// The symbol's mark, read with the account's snapshot (`None`: read it here).
    pub quote: Option<Result<Quote, VenueError>>,
    pub risk: RiskConfig,
    pub journal: Arc<Journal>,
    pub cache: Arc<ExecutionCache>,
    pub metrics: Arc<Metrics>,
    pub leverage_set: Arc<std::sync::Mutex<HashMap<String, Decimal>>>,
    /// Leverage the venue takes only once the symbol is flat (`NeedsFlatPosition`), per native
    /// symbol: asked again when the position is zero, never by closing it.
    pub leverage_waiting: Arc<std::sync::Mutex<HashMap<String, Decimal>>>,
    /// The account's cooldowns after refused opening orders (see `cooldown`).
    pub cooldowns: Arc<std::sync::Mutex<Cooldowns>>,
    pub gate: Arc<std::sync::Mutex<TradingGate>>,
    /// Sends this cycle's orders of the account, in batches where the venue has them.
    pub placer: Arc<Placer>,
    pub cycle: u64,
    /// Set when the symbol carries a synthetic's leg: what the account holds is reported.
    pub leg: Option<LegReport>,
}

/// Why an order the venue holds under one of our client ids is not the one we journaled;
/// empty when it is ours. Quantities are compared in venue units, as journaled and sent.
fn differences(native: &str, side: Side, qty: Decimal, found: &OrderAck) -> Vec<String> {
    let mut out = Vec::new();
    match &found.native {
        Some(n) if n.eq_ignore_ascii_case(native) => {}
        Some(n) => out.push(format!("symbol {n} at the venue, {native} journaled")),
        None => out.push("the venue did not say the symbol".into()),
    }
    match found.side {
        Some(s) if s == side => {}
        Some(s) => out.push(format!("side {s} at the venue, {side} journaled")),
        None => out.push("the venue did not say the side".into()),
    }
    match found.qty {
        Some(q) if q == qty => {}
        Some(q) => out.push(format!("quantity {q} at the venue, {qty} journaled")),
        None => out.push("the venue did not say the quantity".into()),
    }
    out
}

impl SymbolJob {
    pub async fn run(self) -> SymbolOutcome {
        if let Some(outcome) = self.halted_by_conflict() {
            return outcome;
        }
        let result = self.run_inner().await;
        if let Some(outcome) = self.halted_by_conflict() {
            return outcome;
        }
        match result {
            Ok(outcome) => {
                if matches!(outcome, SymbolOutcome::Done) {
                    self.cache
                        .update_symbol(&self.account.name, &self.symbol, |s| s.last_error = None);
                }
                outcome
            }
            Err(VenueError::UnknownSymbol(what)) if self.position.is_zero() => {
                let note = format!("not traded: {} does not list {what}", self.account.venue);
                self.cache
                    .update_symbol(&self.account.name, &self.symbol, |s| {
                        s.native_symbol = self.native.clone();
                        s.target_depth = self.depth;
                        s.last_error = Some(note.clone());
                    });
                SymbolOutcome::NotListed
            }
            Err(e) => {
                self.metrics.symbol_errors.fetch_add(1, Ordering::Relaxed);
                self.metrics.venue_error(&self.account.venue, e.kind_name());
                let message = e.to_string();
                self.cache
                    .update_symbol(&self.account.name, &self.symbol, |s| {
                        s.native_symbol = self.native.clone();
                        s.last_error = Some(message.clone());
                    });
                if e.is_venue_trouble() || matches!(e, VenueError::Auth(_)) {
                    tracing::warn!(native = %self.native, error = %e, "symbol held: venue trouble");
                    SymbolOutcome::VenueTrouble(e)
                } else {
                    tracing::error!(native = %self.native, error = %e, "symbol error");
                    SymbolOutcome::SymbolError
                }
            }
        }
    }

    /// A symbol with a journal entry in conflict sends nothing (reductions included) until the
    /// operator clears the entry: the state that produced the conflict cannot be trusted.
    fn halted_by_conflict(&self) -> Option<SymbolOutcome> {
        let conflict = self
            .journal
            .conflicts(&self.account.name, &self.symbol)
            .into_iter()
            .next()?;
        let message = format!(
            "client order id conflict: account {}, symbol {}, client id {}: the venue holds a different order under this id ({}); it is not counted as a fill, and the symbol sends no orders until that journal entry is cleared (see README, \"Client id conflicts\")",
            self.account.name,
            self.symbol,
            conflict.client_order_id,
            conflict.error.as_deref().unwrap_or("details not recorded"),
        );
        tracing::error!(
            account = %self.account.name, symbol = %self.symbol, native = %self.native,
            client_order_id = %conflict.client_order_id, error = %message,
            "symbol halted: client order id conflict"
        );
        self.metrics.symbol_errors.fetch_add(1, Ordering::Relaxed);
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                s.native_symbol = self.native.clone();
                s.target_depth = self.depth;
                s.position_qty = self.position;
                s.last_error = Some(message);
            });
        Some(SymbolOutcome::SymbolError)
    }

    /// Checks that an order found by client id is the one journaled under it; a different one
    /// is recorded as a conflict (never as a fill). Returns the order only when it is ours.
    fn verify(
        &self,
        cid: &str,
        native: &str,
        side: Side,
        qty: Decimal,
        found: OrderAck,
    ) -> Option<OrderAck> {
        let diffs = differences(native, side, qty, &found);
        if diffs.is_empty() {
            return Some(found);
        }
        let what = diffs.join("; ");
        tracing::error!(
            account = %self.account.name, symbol = %self.symbol, native = %native,
            client_order_id = %cid, venue_order_id = %found.venue_order_id, differences = %what,
            "the venue holds a different order under our client id: conflict, not a fill"
        );
        self.update_journal(cid, |j| {
            j.status = JournalStatus::Conflict;
            j.venue_order_id = Some(found.venue_order_id.clone());
            j.error = Some(what);
        });
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                if let Some(last) = s.last_order.as_mut().filter(|l| l.client_order_id == cid) {
                    last.status = "conflict".into();
                }
            });
        None
    }

    async fn run_inner(&self) -> Result<SymbolOutcome, VenueError> {
        if !self.resolve_unknown().await? {
            return Ok(SymbolOutcome::Again);
        }
        if self.cancel_own_leftovers().await? {
            return Ok(SymbolOutcome::Again);
        }
        if self.fill_not_yet_in_position() {
            return Ok(SymbolOutcome::Again);
        }
        let instrument = self.venue.instrument(&self.native).await?;
        let quote = match &self.quote {
            Some(read) => read.clone()?,
            None => self.venue.quote(&self.native).await?,
        };
        let mut allowed = self.allowed;
        let price_age = (Utc::now() - quote.at).num_seconds();
        if price_age > self.risk.max_price_age_secs as i64 || quote.mark <= Decimal::ZERO {
            tracing::warn!(native = %self.native, price_age_secs = price_age, "stale price: only reducing orders");
            if allowed == Allowed::Any {
                allowed = Allowed::ReduceOnly;
            }
        }
        if allowed == Allowed::Any && self.opening_held() {
            allowed = Allowed::ReduceOnly;
        }
        // The planner gets the unrounded target (its dead-band needs it); status shows the
        // quantity actually aimed for.
        let Sizing {
            usd_per_unit,
            raw_target,
            target_qty,
        } = sizing::size(
            self.leverage_capped_notional(&instrument),
            &instrument,
            &quote,
        );
        let min_notional = self
            .account
            .min_order_notional_usd
            .max(instrument.min_notional_usd);
        let plan = plan(&PlanInput {
            position: self.position,
            open_orders: &self.open_orders,
            target: raw_target,
            instrument: &instrument,
            usd_per_unit,
            min_notional_usd: min_notional,
            allowed,
        });
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                s.native_symbol = self.native.clone();
                s.target_depth = self.depth;
                s.target_qty = target_qty;
                s.position_qty = self.position;
                s.lot = instrument.lot;
            });
        let tolerance_usd = (instrument.lot * usd_per_unit).max(min_notional);
        self.observe_leg(self.position, usd_per_unit, tolerance_usd);
        for note in &plan.skipped {
            tracing::info!(native = %self.native, target_qty = %target_qty, position_qty = %self.position, note = %note, "not traded");
        }
        // Account-wide leverage (a margin rate) is not the symbol's to set.
        let per_symbol = self.venue.capabilities().leverage == LeverageScope::PerSymbol;
        if plan.intents.is_empty() {
            // A quiet cycle sets the weights' leverage ahead of the signal that opens: on a
            // cold start that is one request per symbol in the venue's slowest bucket, which
            // would otherwise stand between the signal and its orders.
            if allowed == Allowed::Any && !self.account.dry_run && per_symbol {
                self.ensure_leverage().await;
            }
            return Ok(SymbolOutcome::Done);
        }
        if plan.intents.iter().any(|i| !i.reduce_only) && !self.account.dry_run && per_symbol {
            self.ensure_leverage().await;
        }
        let plan_no = self
            .journal
            .next_plan(&self.account.name, &self.symbol)
            .map_err(|e| VenueError::Local(e.to_string()))?;
        let mut position = self.position;
        for (step, intent) in plan.intents.iter().enumerate() {
            let cid = self.journal.client_order_id(
                &self.account.name,
                &self.symbol,
                plan_no,
                step as u32,
            );
            let outcome = self
                .execute(intent, plan_no, step as u32, &cid, position)
                .await;
            self.note_outcome(intent, &outcome, usd_per_unit);
            self.note_trading(intent, &outcome);
            match outcome? {
                Some(ack) if ack.status == OrderStatus::Filled => {
                    position += ack.filled_qty * intent.side.sign();
                }
                Some(ack) => {
                    position += ack.filled_qty * intent.side.sign();
                    // Partly filled or resting: the next cycle re-plans from the venue's truth.
                    tracing::info!(native = %self.native, client_order_id = %cid, status = %ack.status, "order not filled completely; the next cycle continues");
                    break;
                }
                None => break,
            }
        }
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                s.position_qty = position
            });
        self.observe_leg(position, usd_per_unit, tolerance_usd);
        Ok(SymbolOutcome::Done)
    }

    fn observe_leg(&self, position: Decimal, usd_per_unit: Decimal, tolerance_usd: Decimal) {
        if let Some(leg) = &self.leg {
            leg.observe(
                &self.account.name,
                &self.symbol,
                LegObservation {
                    position_usd: position * usd_per_unit,
                    direct_usd: leg.direct_usd,
                    tolerance_usd,
                },
            );
        }
    }

    /// Sends one intent. `Ok(None)` means "stop this symbol for this cycle".
    async fn execute(
        &self,
        intent: &OrderIntent,
        plan_no: u64,
        step: u32,
        cid: &str,
        position_before: Decimal,
    ) -> Result<Option<OrderAck>, VenueError> {
        let now = Utc::now();
        let dry = self.account.dry_run;
        let entry = JournalEntry {
            client_order_id: cid.to_string(),
            account: self.account.name.clone(),
            symbol: self.symbol.clone(),
            native: self.native.clone(),
            plan: plan_no,
            step,
            side: intent.side,
            qty: intent.qty,
            reduce_only: intent.reduce_only,
            purpose: intent.purpose.clone(),
            status: if dry {
                JournalStatus::DryRun
            } else {
                JournalStatus::Sending
            },
            venue_order_id: None,
            filled_qty: Decimal::ZERO,
            error: None,
            position_before: Some(position_before),
            created_at: now,
            updated_at: now,
        };
        self.journal
            .record(entry)
            .map_err(|e| VenueError::Local(e.to_string()))?;
        self.set_last_order(cid, intent, if dry { "dry_run" } else { "sending" });
        if dry {
            tracing::info!(
                cycle = self.cycle,
                account = %self.account.name, venue = %self.account.venue, symbol = %self.symbol, native = %self.native,
                client_order_id = %cid, side = %intent.side, qty = %intent.qty,
                reduce_only = intent.reduce_only, purpose = %intent.purpose,
                "dry run: order planned, not sent"
            );
            return Ok(None);
        }
        let on_order = self.venue.capabilities().leverage_on_order;
        let request = OrderRequest {
            client_order_id: cid.to_string(),
            native: self.native.clone(),
            side: intent.side,
            qty: intent.qty,
            kind: OrderKind::Market,
            price: None,
            reduce_only: intent.reduce_only,
            leverage: on_order.then_some(self.leverage),
            margin_mode: None,
        };
        tracing::info!(
            cycle = self.cycle,
                account = %self.account.name, venue = %self.account.venue, symbol = %self.symbol, native = %self.native,
            client_order_id = %cid, side = %intent.side, qty = %intent.qty,
            reduce_only = intent.reduce_only, purpose = %intent.purpose, "sending order"
        );
        self.metrics.orders_sent.fetch_add(1, Ordering::Relaxed);
        self.metrics.order(&self.account.venue, "sent");
        let result = self.placer.place(request).await;
        let outcome = match result {
            Ok(ack) => Ok(ack),
            Err(VenueError::Rejected {
                kind: RejectKind::DuplicateClientId,
                ..
            }) => {
                // We sent this id before (a retry after a crash): the venue has it.
                match self.venue.order_by_client_id(&self.native, cid).await? {
                    Some(found) => {
                        match self.verify(cid, &self.native, intent.side, intent.qty, found) {
                            Some(ack) => Ok(ack),
                            None => return Ok(None),
                        }
                    }
                    None => Err(VenueError::Unknown(
                        "venue reports a duplicate id but cannot find the order".into(),
                    )),
                }
            }
            Err(e @ VenueError::Unknown(_)) => {
                self.metrics.orders_unknown.fetch_add(1, Ordering::Relaxed);
                self.metrics.order(&self.account.venue, "unknown");
                tracing::warn!(client_order_id = %cid, error = %e, "order outcome unknown; looking it up");
                match self.venue.order_by_client_id(&self.native, cid).await {
                    Ok(Some(found)) => {
                        match self.verify(cid, &self.native, intent.side, intent.qty, found) {
                            Some(ack) => Ok(ack),
                            None => return Ok(None),
                        }
                    }
                    _ => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match outcome {
            Ok(ack) => {
                self.record_ack(cid, &ack);
                self.set_last_order(cid, intent, &ack.status.to_string());
                if ack.status == OrderStatus::Filled {
                    self.metrics.orders_filled.fetch_add(1, Ordering::Relaxed);
                    self.metrics.order(&self.account.venue, "filled");
                }
                tracing::info!(
                    cycle = self.cycle,
                account = %self.account.name, venue = %self.account.venue, symbol = %self.symbol, native = %self.native,
                    client_order_id = %cid, status = %ack.status, filled_qty = %ack.filled_qty,
                    avg_price = ack.avg_price.map(tracing::field::display), "order answered"
                );
                if ack.status == OrderStatus::Rejected
                    || ack.status == OrderStatus::Cancelled && ack.filled_qty.is_zero()
                {
                    return Ok(None);
                }
                Ok(Some(ack))
            }
            Err(e @ VenueError::Unknown(_)) => {
                self.update_journal(cid, |j| {
                    j.status = JournalStatus::Unknown;
                    j.error = Some(e.to_string());
                });
                self.set_last_order(cid, intent, "unknown");
                Err(e)
            }
            Err(e @ VenueError::Rejected { .. }) => {
                self.metrics.orders_rejected.fetch_add(1, Ordering::Relaxed);
                self.metrics.order(&self.account.venue, "rejected");
                self.update_journal(cid, |j| {
                    j.status = JournalStatus::Rejected;
                    j.error = Some(e.to_string());
                });
                self.set_last_order(cid, intent, "rejected");
                tracing::error!(
                    cycle = self.cycle,
                account = %self.account.name, venue = %self.account.venue, symbol = %self.symbol, native = %self.native,
                    client_order_id = %cid, error = %e, "order rejected"
                );
                Err(e)
            }
            Err(e) => {
                // Nothing reached the venue (rate limit, breaker, connect error, auth): the
                // id is retired; a later plan gets a new one.
                self.update_journal(cid, |j| {
                    j.status = JournalStatus::Cancelled;
                    j.error = Some(format!("not sent: {e}"));
                });
                self.set_last_order(cid, intent, "not_sent");
                Err(e)
            }
        }
    }

    /// Our orders are market orders: one still open at the next cycle is a remainder (a partial
    /// fill the venue did not cancel). Cancel it, and plan from a fresh snapshot, because fills
    /// may land between this cycle's snapshot and the cancel.
    async fn cancel_own_leftovers(&self) -> Result<bool, VenueError> {
        let mut cancelled = false;
        for order in &self.open_orders {
            let Some(cid) = order.client_order_id.as_deref() else {
                continue;
            };
            if !is_ours(cid) {
                continue;
            }
            match self.venue.cancel_order(&self.native, cid).await {
                Ok(()) => {
                    tracing::info!(native = %self.native, client_order_id = %cid, remaining = %order.remaining, "cancelled the unfilled rest of an earlier order");
                    self.update_journal(cid, |j| j.status = JournalStatus::Cancelled);
                }
                Err(e) if e.reject_kind() == Some(RejectKind::OrderNotFound) => {}
                Err(e) => return Err(e),
            }
            cancelled = true;
        }
        Ok(cancelled)
    }

    /// Resolves journal entries of this symbol whose outcome is unknown. Returns false when
    /// one is still unresolved (nothing new may be sent).
    async fn resolve_unknown(&self) -> Result<bool, VenueError> {
        if cfg!(feature = "plant-replan-without-journal") {
            return Ok(true);
        }
        let pending = self.journal.unresolved(&self.account.name, &self.symbol);
        for entry in pending {
            match self
                .venue
                .order_by_client_id(&entry.native, &entry.client_order_id)
                .await?
            {
                Some(found) => {
                    let Some(ack) = self.verify(
                        &entry.client_order_id,
                        &entry.native,
                        entry.side,
                        entry.qty,
                        found,
                    ) else {
                        return Ok(false);
                    };
                    tracing::info!(client_order_id = %entry.client_order_id, status = %ack.status, "resolved an order of unknown outcome");
                    self.record_ack(&entry.client_order_id, &ack);
                }
                None => {
                    let age = (Utc::now() - entry.updated_at).num_seconds();
                    if age < UNKNOWN_GRACE_SECS {
                        tracing::info!(client_order_id = %entry.client_order_id, age_secs = age, "order of unknown outcome not visible yet; holding the symbol");
                        return Ok(false);
                    }
                    tracing::info!(client_order_id = %entry.client_order_id, "order of unknown outcome never reached the venue");
                    self.update_journal(&entry.client_order_id, |j| {
                        j.status = JournalStatus::Cancelled;
                        j.error = Some("never reached the venue".into());
                    });
                }
            }
        }
        Ok(true)
    }

    /// A venue may show an order filled (by its id, or in its answer) before its position
    /// moves. Planning from such a position would order the same quantity again, so while the
    /// latest plan with a fill is recent and the position sits between where that plan started
    /// and where its fills lead (not yet, or only partly, counted), the symbol waits for a fresh
    /// snapshot. A position outside that range was moved by something else (a manual trade, a
    /// liquidation) and is traded from; after `UNKNOWN_GRACE_SECS` the position is trusted again.
    fn fill_not_yet_in_position(&self) -> bool {
        let since = Utc::now() - chrono::Duration::seconds(UNKNOWN_GRACE_SECS);
        let plan = self
            .journal
            .latest_filled_plan(&self.account.name, &self.symbol, since);
        let Some(start) = plan.iter().find_map(|e| e.position_before) else {
            return false;
        };
        let expected = start
            + plan
                .iter()
                .map(|e| e.filled_qty * e.side.sign())
                .sum::<Decimal>();
        let (low, high) = (start.min(expected), start.max(expected));
        let pending = self.position != expected && low <= self.position && self.position <= high;
        if pending {
            tracing::info!(
                native = %self.native, plan = plan[0].plan,
                position_qty = %self.position, expected_qty = %expected,
                "the venue's position does not show our latest fills yet; holding the symbol"
            );
        }
        pending
    }

    async fn ensure_leverage(&self) {
        let leverage = self.leverage.round_dp(2).normalize();
        let already = self
            .leverage_set
            .lock()
            .map(|m| m.get(&self.native) == Some(&leverage))
            .unwrap_or(false);
        if already {
            return;
        }
        let waiting = self
            .leverage_waiting
            .lock()
            .map(|m| m.get(&self.native) == Some(&leverage))
            .unwrap_or(false);
        // The venue keeps the old leverage while a position is open: it stays until the
        // signals themselves close the position (better an old leverage than a forced close).
        if waiting && !self.position.is_zero() {
            return;
        }
        match self.venue.set_leverage(&self.native, leverage).await {
            Ok(()) => {
                if let Ok(mut m) = self.leverage_set.lock() {
                    m.insert(self.native.clone(), leverage);
                }
                if let Ok(mut m) = self.leverage_waiting.lock() {
                    m.remove(&self.native);
                }
            }
            Err(e) if e.reject_kind() == Some(RejectKind::NeedsFlatPosition) => {
                if !waiting {
                    tracing::warn!(
                        native = %self.native, leverage = %leverage, position_qty = %self.position, error = %e,
                        "the venue changes this leverage only while the position is flat; keeping the current leverage until the position is closed by the signals (it is never closed for this)"
                    );
                }
                if let Ok(mut m) = self.leverage_waiting.lock() {
                    m.insert(self.native.clone(), leverage);
                }
            }
            // Sizing is by notional, so a failed leverage change does not change exposure.
            Err(e) => {
                tracing::warn!(native = %self.native, leverage = %leverage, error = %e, "cannot set leverage")
            }
        }
    }

    fn record_ack(&self, cid: &str, ack: &OrderAck) {
        let status = match ack.status {
            OrderStatus::Filled => JournalStatus::Filled,
            OrderStatus::Cancelled => JournalStatus::Cancelled,
            OrderStatus::Rejected => JournalStatus::Rejected,
            OrderStatus::New | OrderStatus::PartiallyFilled => JournalStatus::Open,
        };
        self.update_journal(cid, |j| {
            j.status = status;
            j.venue_order_id = Some(ack.venue_order_id.clone());
            j.filled_qty = ack.filled_qty;
        });
    }

    fn update_journal(&self, cid: &str, f: impl FnOnce(&mut JournalEntry)) {
        if let Err(e) = self.journal.update(&self.account.name, cid, f) {
            tracing::error!(client_order_id = %cid, error = %e, "cannot write the order journal");
        }
    }

    fn set_last_order(&self, cid: &str, intent: &OrderIntent, status: &str) {
        let last = LastOrder {
            client_order_id: cid.to_string(),
            side: intent.side.to_string(),
            qty: intent.qty,
            status: status.to_string(),
        };
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                s.last_order = Some(last)
            });
    }
}
