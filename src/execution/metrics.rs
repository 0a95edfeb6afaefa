//! What the daemon counts for `/metrics` as it goes (cycles, orders, errors, reloads, webhook
//! requests). Gauges that describe the present state (account state, positions, drift) are not
//! kept here: the server reads them from `/status`'s sources at scrape time, so they can never
//! disagree with `/status`.

use crate::signals::SignalBook;
use crate::state::cache::AccountState;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The labelled families, as named in `/metrics` (without the `trade_engine_` prefix): they
/// appear once something is counted, so tests of the shipped dashboard read them from here.
pub const LABELLED_FAMILIES: [&str; 4] = [
    "orders",
    "venue_errors",
    "config_reloads",
    "webhook_requests",
];

/// Label pairs; a `Vec` keeps the families free of one struct per label set.
pub type Labels = Vec<(&'static str, String)>;

pub struct Metrics {
    pub cycles: AtomicU64,
    pub orders_sent: AtomicU64,
    pub orders_filled: AtomicU64,
    pub orders_rejected: AtomicU64,
    pub orders_unknown: AtomicU64,
    pub symbol_errors: AtomicU64,
    /// Polls of a `bittensor_sn8` source whose API key the validator refused (401/403).
    pub sn8_auth_refusals: AtomicU64,
    /// Wall time of whole cycles, in seconds.
    pub cycle_duration: Histogram,
    /// Orders by `venue` and `outcome` (sent, filled, rejected, unknown).
    pub orders: Family<Labels, Counter>,
    /// Symbol-level venue errors by `venue` and `kind`.
    pub venue_errors: Family<Labels, Counter>,
    /// Config reloads by `outcome` (ok, refused).
    pub config_reloads: Family<Labels, Counter>,
    /// Webhook requests by `source` and HTTP `status`.
    pub webhook_requests: Family<Labels, Counter>,
    /// Consecutive cycles each (account, symbol) ended at least one lot away from its target.
    drift_cycles: Mutex<HashMap<(String, String), u64>>,
    /// The signal book, read at scrape time for each source's signal age.
    signals: OnceLock<Arc<SignalBook>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("cycles", &self.cycles)
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            cycles: AtomicU64::default(),
            orders_sent: AtomicU64::default(),
            orders_filled: AtomicU64::default(),
            orders_rejected: AtomicU64::default(),
            orders_unknown: AtomicU64::default(),
            symbol_errors: AtomicU64::default(),
            sn8_auth_refusals: AtomicU64::default(),
            // 10 ms .. ~80 s: a cycle is a few venue round trips, slow venues take seconds.
            cycle_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            orders: Family::default(),
            venue_errors: Family::default(),
            config_reloads: Family::default(),
            webhook_requests: Family::default(),
            drift_cycles: Mutex::default(),
            signals: OnceLock::new(),
        };
        // Present from the start at 0: `increase()` needs a sample before the first refusal,
        // or the first refused reload would never alert.
        for outcome in ["ok", "refused"] {
            metrics
                .config_reloads
                .get_or_create(&vec![("outcome", outcome.into())])
                .inc_by(0);
        }
        metrics
    }
}

/// How far a position is from its target, in lots (zero when the lot is unknown).
pub fn drift_lots(target: Decimal, position: Decimal, lot: Decimal) -> Decimal {
    if lot <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    ((target - position).abs() / lot).trunc()
}

impl Metrics {
    pub fn order(&self, venue: &str, outcome: &'static str) {
        self.orders
            .get_or_create(&vec![
                ("venue", venue.to_owned()),
                ("outcome", outcome.into()),
            ])
            .inc();
    }

    pub fn venue_error(&self, venue: &str, kind: &str) {
        self.venue_errors
            .get_or_create(&vec![
                ("venue", venue.to_owned()),
                ("kind", kind.to_owned()),
            ])
            .inc();
    }

    pub fn config_reload(&self, outcome: &'static str) {
        self.config_reloads
            .get_or_create(&vec![("outcome", outcome.into())])
            .inc();
    }

    pub fn webhook_request(&self, source: &str, status: u16) {
        self.webhook_requests
            .get_or_create(&vec![
                ("source", source.to_owned()),
                ("status", status.to_string()),
            ])
            .inc();
    }

    /// Called once at the end of every cycle with the published account states: counts the
    /// cycles in a row each symbol stayed at least one lot off target (one lot is the
    /// smallest drift the engine can act on, so a drift that lasts means it is not acting).
    pub fn end_cycle(&self, seconds: f64, accounts: &BTreeMap<String, AccountState>) {
        self.cycle_duration.observe(seconds);
        let mut drift = self.drift_cycles.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = HashMap::new();
        for (account, state) in accounts {
            for (symbol, s) in &state.symbols {
                let key = (account.clone(), symbol.clone());
                let off = drift_lots(s.target_qty, s.position_qty, s.lot) >= Decimal::ONE;
                let n = if off {
                    drift.get(&key).copied().unwrap_or(0) + 1
                } else {
                    0
                };
                next.insert(key, n);
            }
        }
        *drift = next;
    }

    /// Adds the counters and the histogram to a scrape's registry (the families are shared
    /// handles, so the registry reads the live values).
    pub fn register(&self, r: &mut Registry) {
        let counter = |v: &AtomicU64| {
            let c = Counter::<u64>::default();
            c.inc_by(v.load(Ordering::Relaxed));
            c
        };
        r.register("cycles", "Cycles run.", counter(&self.cycles));
        r.register(
            "orders_sent",
            "Orders sent to venues.",
            counter(&self.orders_sent),
        );
        r.register(
            "orders_filled",
            "Orders reported filled.",
            counter(&self.orders_filled),
        );
        r.register(
            "orders_rejected",
            "Orders refused by venues.",
            counter(&self.orders_rejected),
        );
        r.register(
            "orders_unknown",
            "Orders whose outcome was unknown after sending.",
            counter(&self.orders_unknown),
        );
        r.register(
            "symbol_errors",
            "Symbol-level errors.",
            counter(&self.symbol_errors),
        );
        r.register(
            "sn8_auth_refusals",
            "Polls of a bittensor_sn8 source whose API key the validator refused (HTTP 401/403).",
            counter(&self.sn8_auth_refusals),
        );
        r.register(
            "orders",
            "Orders by venue and outcome (sent, filled, rejected, unknown).",
            self.orders.clone(),
        );
        r.register(
            "venue_errors",
            "Symbol-level venue errors by venue and kind.",
            self.venue_errors.clone(),
        );
        r.register(
            "config_reloads",
            "Config reloads by outcome (ok, refused).",
            self.config_reloads.clone(),
        );
        r.register(
            "webhook_requests",
            "Webhook requests by source and HTTP status.",
            self.webhook_requests.clone(),
        );
        r.register_with_unit(
            "cycle_duration",
            "Wall time of whole cycles.",
            Unit::Seconds,
            self.cycle_duration.clone(),
        );
    }

    /// The counters alone in the exposition format (the server adds the state gauges).
    pub fn render(&self) -> String {
        let mut r = Registry::with_prefix("trade_engine");
        self.register(&mut r);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &r);
        out
    }

    /// Lets `/metrics` report signal ages (the daemon sets it once at start).
    pub fn follow_signals(&self, book: Arc<SignalBook>) {
        let _ = self.signals.set(book);
    }

    pub fn signal_book(&self) -> Option<&Arc<SignalBook>> {
        self.signals.get()
    }

    /// Consecutive off-target cycles of one (account, symbol); 0 when unknown.
    pub fn drift_cycles(&self, account: &str, symbol: &str) -> u64 {
        let drift = self.drift_cycles.lock().unwrap_or_else(|p| p.into_inner());
        drift
            .get(&(account.to_owned(), symbol.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::cache::SymbolState;
    use rust_decimal_macros::dec;

    fn accounts(position: Decimal) -> BTreeMap<String, AccountState> {
        let mut state = AccountState::default();
        state.symbols.insert(
            "BTCUSDT".into(),
            SymbolState {
                target_qty: dec!(0.010),
                position_qty: position,
                lot: dec!(0.001),
                ..Default::default()
            },
        );
        BTreeMap::from([("main".to_string(), state)])
    }

    #[test]
    fn drift_cycles_count_consecutive_off_target_cycles_and_reset_on_target() {
        let m = Metrics::default();
        m.end_cycle(0.1, &accounts(dec!(0.008)));
        m.end_cycle(0.1, &accounts(dec!(0.008)));
        assert_eq!(m.drift_cycles("main", "BTCUSDT"), 2);
        // Less than a lot away cannot be traded: on target.
        m.end_cycle(0.1, &accounts(dec!(0.0095)));
        assert_eq!(m.drift_cycles("main", "BTCUSDT"), 0);
        m.end_cycle(0.1, &accounts(dec!(0.009)));
        assert_eq!(m.drift_cycles("main", "BTCUSDT"), 1);
    }

    #[test]
    fn labelled_families_render_once_used() {
        let m = Metrics::default();
        m.order("sim", "sent");
        m.venue_error("sim", "transport");
        m.webhook_request("tv", 200);
        let text = m.render();
        for family in LABELLED_FAMILIES {
            assert!(
                text.contains(&format!("# TYPE trade_engine_{family} counter\n")),
                "{family} not in\n{text}"
            );
        }
        // Config reloads show before the first one, so the first refusal can alert.
        assert!(Metrics::default()
            .render()
            .contains("trade_engine_config_reloads_total{outcome=\"refused\"} 0\n"));
    }

    #[test]
    fn drift_in_whole_lots() {
        assert_eq!(drift_lots(dec!(1), dec!(-1.5), dec!(0.5)), dec!(5));
        assert_eq!(drift_lots(dec!(1), dec!(0.75), dec!(0.5)), dec!(0));
        assert_eq!(drift_lots(dec!(1), dec!(0), dec!(0)), dec!(0));
    }
}
