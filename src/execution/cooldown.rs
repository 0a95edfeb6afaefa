//! Cooldowns for opening orders after a refusal that a plain retry cannot fix: insufficient
//! margin or an invalid quantity. Without one, every cycle (the timer, and every cycle another
//! symbol's change starts) sends the same refused order again and spends the order budget the
//! healthy symbols need.
//!
//! Per symbol of an account, kept in memory (a restart retries once):
//! - an opening order refused with `InsufficientFunds` or `InvalidQuantity` holds the symbol's
//!   opening orders for 30 s, doubling with each refusal in a row up to 30 min;
//! - reductions are never held: the symbol is planned in reduce-only mode meanwhile;
//! - the hold ends early when the symbol's own target (depth or leverage) changes and, after a
//!   margin refusal, when margin is freed: a reduce-only order of the account filled after the
//!   refusal, or the free margin the venue reports rose by at least what the refused order
//!   needed (its value over the leverage);
//! - an opening order of the symbol that fills forgets its refusals, and so does a quiet
//!   period as long as the last wait.
//!
//! [`Cooldowns`] is the pure state machine (the clock is an argument); the glue to the
//! executor follows it.

use super::symbol::SymbolJob;
use crate::domain::{AccountValue, OrderAck, OrderIntent, Side};
use crate::state::cache::CooldownStatus;
use crate::state::ExecutionCache;
use crate::venue::{RejectKind, VenueError};
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

/// The wait after the first refusal; each refusal in a row doubles it.
pub const FIRST_WAIT_SECS: i64 = 30;
/// The longest wait.
pub const MAX_WAIT_SECS: i64 = 30 * 60;

/// How long opening orders are held after `strikes` refusals in a row.
pub fn wait(strikes: u32) -> Duration {
    let factor = 1i64 << strikes.saturating_sub(1).min(20);
    Duration::seconds(FIRST_WAIT_SECS.saturating_mul(factor).min(MAX_WAIT_SECS))
}

/// The refusals that start a cooldown: sending the same order again would be refused again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    InsufficientMargin,
    InvalidQuantity,
}

impl Refusal {
    pub fn of(error: &VenueError) -> Option<Refusal> {
        match error.reject_kind()? {
            RejectKind::InsufficientFunds => Some(Refusal::InsufficientMargin),
            RejectKind::InvalidQuantity => Some(Refusal::InvalidQuantity),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Refusal::InsufficientMargin => "insufficient_margin",
            Refusal::InvalidQuantity => "invalid_quantity",
        }
    }
}

/// An opening order the venue refused, as the executor planned it.
#[derive(Clone, Debug)]
pub struct Refused<'a> {
    pub symbol: &'a str,
    /// The symbol's target when the order was planned.
    pub depth: Decimal,
    pub leverage: Decimal,
    pub side: Side,
    pub qty: Decimal,
    /// Initial margin the order needed in USD (its value over the leverage).
    pub margin: Decimal,
    pub error: &'a VenueError,
}

/// Why a cooldown ended before its time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleared {
    TargetChanged,
    ReductionFilled,
    MarginFreed,
    /// The account no longer handles the symbol.
    Gone,
}

impl Cleared {
    pub fn describe(self) -> &'static str {
        match self {
            Cleared::TargetChanged => "the symbol's target changed",
            Cleared::ReductionFilled => "a reduction filled on the account",
            Cleared::MarginFreed => "the venue reports more free margin",
            Cleared::Gone => "the symbol is no longer traded",
        }
    }
}

#[derive(Clone, Debug)]
struct Entry {
    refusal: Refusal,
    status: CooldownStatus,
    target: (Decimal, Decimal),
    margin: Decimal,
    /// `Cooldowns::reductions` when the refusal came: later reduce-only fills free margin.
    reductions: u64,
    /// Free margin in the first snapshot after the refusal. A reduction made in the cycle of
    /// the refusal (the closing half of a flip) is already in it, so it cannot end the
    /// cooldown by itself.
    available: Option<Decimal>,
}

/// The cooldowns of one account.
#[derive(Debug, Default)]
pub struct Cooldowns {
    symbols: HashMap<String, Entry>,
    /// Reduce-only orders of the account that filled (partly or fully) so far.
    reductions: u64,
}

impl Cooldowns {
    /// Starts (or lengthens) the cooldown of a refused opening order; `None` when the refusal
    /// is not one a cooldown is for.
    pub fn refused(&mut self, r: &Refused<'_>, now: DateTime<Utc>) -> Option<CooldownStatus> {
        let refusal = Refusal::of(r.error)?;
        let strikes = self
            .symbols
            .get(r.symbol)
            .map_or(0, |e| e.status.strikes)
            .saturating_add(1);
        let status = CooldownStatus {
            kind: refusal.name().to_string(),
            reason: r.error.to_string(),
            side: r.side.to_string(),
            qty: r.qty,
            strikes,
            since: now,
            until: now + wait(strikes),
        };
        self.symbols.insert(
            r.symbol.to_string(),
            Entry {
                refusal,
                status: status.clone(),
                target: (r.depth, r.leverage),
                margin: r.margin,
                reductions: self.reductions,
                available: None,
            },
        );
        Some(status)
    }

    /// At the start of an account's cycle, with its snapshot: ends the cooldowns that may
    /// succeed now and forgets old refusals. `targets` are this cycle's (symbol, depth,
    /// leverage). Returns the cooldowns ended early, and why.
    pub fn observe<'a>(
        &mut self,
        now: DateTime<Utc>,
        available: Option<Decimal>,
        targets: impl IntoIterator<Item = (&'a str, Decimal, Decimal)>,
    ) -> Vec<(String, Cleared)> {
        let targets: HashMap<&str, (Decimal, Decimal)> = targets
            .into_iter()
            .map(|(symbol, depth, leverage)| (symbol, (depth, leverage)))
            .collect();
        let reductions = self.reductions;
        let mut cleared = Vec::new();
        self.symbols.retain(|symbol, e| {
            let margin = e.refusal == Refusal::InsufficientMargin;
            let why = match targets.get(symbol.as_str()) {
                None => Some(Cleared::Gone),
                Some(target) if *target != e.target => Some(Cleared::TargetChanged),
                _ if margin && reductions > e.reductions => Some(Cleared::ReductionFilled),
                _ if margin => match (e.available, available) {
                    (Some(before), Some(free)) if free > before && free - before >= e.margin => {
                        Some(Cleared::MarginFreed)
                    }
                    (None, Some(free)) => {
                        e.available = Some(free);
                        None
                    }
                    _ => None,
                },
                _ => None,
            };
            if let Some(why) = why {
                // A cooldown that had already run out ends unremarked.
                if now < e.status.until {
                    cleared.push((symbol.clone(), why));
                }
                return false;
            }
            // Quiet for as long as the last wait: the next refusal starts from the beginning.
            now < e.status.until + (e.status.until - e.status.since)
        });
        cleared
    }

    /// The cooldown holding the symbol's opening orders now, if any.
    pub fn holds(&self, symbol: &str, now: DateTime<Utc>) -> Option<&CooldownStatus> {
        self.symbols
            .get(symbol)
            .map(|e| &e.status)
            .filter(|s| now < s.until)
    }

    /// A reduce-only order of the account filled: margin was freed.
    pub fn reduction_filled(&mut self) {
        self.reductions += 1;
    }

    /// An opening order of the symbol filled: its refusals are over.
    pub fn opened(&mut self, symbol: &str) {
        self.symbols.remove(symbol);
    }

    /// Moves every cooldown `by` into the past (tests stand in for the clock with it).
    #[cfg(test)]
    pub fn age(&mut self, by: Duration) {
        for e in self.symbols.values_mut() {
            e.status.since -= by;
            e.status.until -= by;
        }
    }
}

fn lock(cooldowns: &Mutex<Cooldowns>) -> MutexGuard<'_, Cooldowns> {
    cooldowns.lock().unwrap_or_else(|p| p.into_inner())
}

/// Account level, once the cycle's snapshot and targets are known.
pub fn observe_cycle<'a>(
    cooldowns: &Mutex<Cooldowns>,
    value: &AccountValue,
    targets: impl IntoIterator<Item = (&'a str, Decimal, Decimal)>,
) {
    let cleared = lock(cooldowns).observe(Utc::now(), value.available_usd, targets);
    for (symbol, why) in cleared {
        tracing::info!(symbol = %symbol, why = why.describe(), "cooldown ended early: opening orders of the symbol go out again");
    }
}

/// Mirrors the account's cooldowns into the execution cache, for `/status`.
pub fn publish(cooldowns: &Mutex<Cooldowns>, cache: &ExecutionCache, account: &str) {
    let now = Utc::now();
    let cooldowns = lock(cooldowns);
    cache.update_account(account, |a| {
        for (symbol, s) in a.symbols.iter_mut() {
            s.cooldown = cooldowns.holds(symbol, now).cloned();
        }
    });
}

/// The executor's side, per symbol.
impl SymbolJob {
    /// Whether a cooldown holds this symbol's opening orders now.
    pub(super) fn opening_held(&self) -> bool {
        let cooldowns = lock(&self.cooldowns);
        let Some(c) = cooldowns.holds(&self.symbol, Utc::now()) else {
            return false;
        };
        tracing::debug!(
            native = %self.native, kind = %c.kind, strikes = c.strikes, until = %c.until,
            reason = %c.reason, "opening orders held after a refusal; reductions still go out"
        );
        true
    }

    /// After a send: a refused opening order starts a cooldown, a filled reduction frees
    /// margin for the account, a filled opening order ends the symbol's refusals.
    pub(super) fn note_outcome(
        &self,
        intent: &OrderIntent,
        outcome: &Result<Option<OrderAck>, VenueError>,
        usd_per_unit: Decimal,
    ) {
        let mut cooldowns = lock(&self.cooldowns);
        match outcome {
            Ok(Some(ack)) if ack.filled_qty > Decimal::ZERO => {
                if intent.reduce_only {
                    cooldowns.reduction_filled();
                } else {
                    cooldowns.opened(&self.symbol);
                }
            }
            Err(error) if !intent.reduce_only => {
                let leverage = if self.leverage > Decimal::ZERO {
                    self.leverage
                } else {
                    Decimal::ONE
                };
                let refused = Refused {
                    symbol: &self.symbol,
                    depth: self.depth,
                    leverage: self.leverage,
                    side: intent.side,
                    qty: intent.qty,
                    margin: intent.qty * usd_per_unit / leverage,
                    error,
                };
                if let Some(c) = cooldowns.refused(&refused, Utc::now()) {
                    tracing::warn!(
                        cycle = self.cycle, account = %self.account.name, native = %self.native,
                        kind = %c.kind, strikes = c.strikes, until = %c.until, wait_secs = (c.until - c.since).num_seconds(),
                        "opening orders of the symbol held after the venue's refusal; reductions still go out"
                    );
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn margin_error() -> VenueError {
        VenueError::rejected(
            RejectKind::InsufficientFunds,
            "110007",
            "ab not enough for new order",
        )
    }

    fn refused<'a>(error: &'a VenueError, depth: Decimal) -> Refused<'a> {
        Refused {
            symbol: "BTCUSDT",
            depth,
            leverage: dec!(2),
            side: Side::Buy,
            qty: dec!(0.1),
            margin: dec!(3000),
            error,
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn btc(depth: Decimal) -> [(&'static str, Decimal, Decimal); 2] {
        [("BTCUSDT", depth, dec!(2)), ("ETHUSDT", dec!(0.1), dec!(1))]
    }

    #[test]
    fn waits_double_up_to_the_cap() {
        let secs: Vec<i64> = (1..=8).map(|n| wait(n).num_seconds()).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1800, 1800]);
        assert_eq!(wait(u32::MAX).num_seconds(), MAX_WAIT_SECS);
    }

    #[test]
    fn only_margin_and_quantity_refusals_start_one() {
        let mut c = Cooldowns::default();
        for kind in [
            RejectKind::ReduceOnly,
            RejectKind::InvalidPrice,
            RejectKind::Other,
        ] {
            let e = VenueError::rejected(kind, "x", "no");
            assert!(c.refused(&refused(&e, dec!(0.5)), t(0)).is_none());
        }
        let e = VenueError::Unknown("timeout".into());
        assert!(c.refused(&refused(&e, dec!(0.5)), t(0)).is_none());
        assert!(c.holds("BTCUSDT", t(0)).is_none());
        let e = VenueError::rejected(RejectKind::InvalidQuantity, "110094", "too small");
        let s = c.refused(&refused(&e, dec!(0.5)), t(0)).unwrap();
        assert_eq!(s.kind, "invalid_quantity");
        assert!(s.reason.contains("too small"));
    }

    #[test]
    fn repeats_grow_and_expiry_lets_one_retry_out() {
        let e = margin_error();
        let mut c = Cooldowns::default();
        let s = c.refused(&refused(&e, dec!(0.5)), t(0)).unwrap();
        assert_eq!((s.strikes, s.until), (1, t(30)));
        assert_eq!(s.kind, "insufficient_margin");
        assert!(s.reason.contains("110007"));
        c.observe(t(10), None, btc(dec!(0.5)));
        assert!(c.holds("BTCUSDT", t(10)).is_some());
        assert!(c.holds("ETHUSDT", t(10)).is_none());
        c.observe(t(31), None, btc(dec!(0.5)));
        assert!(c.holds("BTCUSDT", t(31)).is_none(), "run out: one retry");
        let s = c.refused(&refused(&e, dec!(0.5)), t(31)).unwrap();
        assert_eq!((s.strikes, s.until), (2, t(91)));
        // A quiet period as long as the last wait forgets the strikes.
        c.observe(t(151), None, btc(dec!(0.5)));
        let s = c.refused(&refused(&e, dec!(0.5)), t(151)).unwrap();
        assert_eq!(s.strikes, 1);
    }

    #[test]
    fn own_target_change_ends_it_other_symbols_do_not() {
        let e = margin_error();
        let mut c = Cooldowns::default();
        c.refused(&refused(&e, dec!(0.5)), t(0));
        let eth_moved = [
            ("BTCUSDT", dec!(0.5), dec!(2)),
            ("ETHUSDT", dec!(-0.3), dec!(1)),
        ];
        assert!(c.observe(t(1), None, eth_moved).is_empty());
        assert!(c.holds("BTCUSDT", t(1)).is_some());
        let relevered = [("BTCUSDT", dec!(0.5), dec!(3))];
        assert_eq!(
            c.observe(t(2), None, relevered),
            vec![("BTCUSDT".to_string(), Cleared::TargetChanged)]
        );
        assert!(c.holds("BTCUSDT", t(2)).is_none());
        // Strikes start again after a target change.
        assert_eq!(c.refused(&refused(&e, dec!(0.5)), t(3)).unwrap().strikes, 1);
        assert_eq!(
            c.observe(t(4), None, btc(dec!(0.6))),
            vec![("BTCUSDT".to_string(), Cleared::TargetChanged)]
        );
    }

    #[test]
    fn a_later_reduction_frees_margin_an_earlier_one_does_not() {
        let e = margin_error();
        let mut c = Cooldowns::default();
        // The closing half of a flip filled, then its opening half was refused.
        c.reduction_filled();
        c.refused(&refused(&e, dec!(0.5)), t(0));
        assert!(c.observe(t(1), None, btc(dec!(0.5))).is_empty());
        c.reduction_filled();
        assert_eq!(
            c.observe(t(2), None, btc(dec!(0.5))),
            vec![("BTCUSDT".to_string(), Cleared::ReductionFilled)]
        );
    }

    #[test]
    fn free_margin_counts_from_the_first_snapshot_after_the_refusal() {
        let e = margin_error();
        let mut c = Cooldowns::default();
        c.refused(&refused(&e, dec!(0.5)), t(0));
        assert!(c.observe(t(1), Some(dec!(100)), btc(dec!(0.5))).is_empty());
        // Price noise: less than the 3,000 USD the order needed.
        assert!(c.observe(t(2), Some(dec!(2000)), btc(dec!(0.5))).is_empty());
        assert_eq!(
            c.observe(t(3), Some(dec!(3100)), btc(dec!(0.5))),
            vec![("BTCUSDT".to_string(), Cleared::MarginFreed)]
        );
    }

    #[test]
    fn margin_does_not_end_a_quantity_refusal() {
        let e = VenueError::rejected(RejectKind::InvalidQuantity, "x", "qty");
        let mut c = Cooldowns::default();
        c.refused(&refused(&e, dec!(0.5)), t(0));
        c.reduction_filled();
        c.observe(t(1), Some(dec!(0)), btc(dec!(0.5)));
        assert!(c
            .observe(t(2), Some(dec!(1000000)), btc(dec!(0.5)))
            .is_empty());
        assert!(c.holds("BTCUSDT", t(2)).is_some());
    }

    #[test]
    fn a_filled_opening_order_or_a_dropped_symbol_ends_it() {
        let e = margin_error();
        let mut c = Cooldowns::default();
        c.refused(&refused(&e, dec!(0.5)), t(0));
        c.opened("BTCUSDT");
        assert!(c.holds("BTCUSDT", t(1)).is_none());
        c.refused(&refused(&e, dec!(0.5)), t(0));
        assert_eq!(
            c.observe(t(1), None, [("ETHUSDT", dec!(0.1), dec!(1))]),
            vec![("BTCUSDT".to_string(), Cleared::Gone)]
        );
    }
}
