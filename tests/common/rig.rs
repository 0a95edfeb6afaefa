//! The fault rig: the real daemon against any loopback venue, trading BTCUSDT from a file
//! source, and the checks every fault scenario ends with, made from the exchange's own trade
//! log (not from what the daemon says):
//! - each target change is a *transition*; within one, the traded volume is at most the
//!   distance from the exposure before it to its target, plus one lot (a doubled order shows
//!   up here whatever its client id), and the exposure never goes beyond
//!   max(|exposure before|, |target|) + one lot;
//! - no client id is sent twice;
//! - every request is correctly signed and every state file is whole.
//!
//! Equity 10,000 USD, BTC at 50,000, leverage 1: depth d targets 0.2 × d BTC.
#![allow(dead_code)]

use crate::common::venues::{self, Loopback};
use crate::common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Long enough for a doubled circuit-breaker hold (30 s, then 60 s after a second error storm)
/// inside one scenario; a passing run never waits for it.
pub const WAIT: Duration = Duration::from_secs(90);
/// One lot in BTC (Bybit's step; 1,000 XBTUSDT contracts on BitMEX).
const LOT_BTC: Decimal = dec!(0.001);
pub const SYMBOL: &str = "BTCUSDT";

/// One target change (or a position changed outside the daemon).
struct Transition {
    target: Decimal,
    before: Decimal,
    /// Index of its first fill in the exchange's trade log.
    first_fill: usize,
    what: String,
}

pub struct Rig {
    pub venue: Box<dyn Loopback>,
    pub cfg: tempfile::TempDir,
    pub state: tempfile::TempDir,
    pub daemon: Option<Daemon>,
    pub faults: usize,
    pub kills: usize,
    pub native: String,
    /// Venue units per BTC.
    units: Decimal,
    transitions: Vec<Transition>,
}

impl Rig {
    pub fn new(kind: &str) -> Rig {
        let venue = venues::start(kind, dec!(10000), dec!(50000));
        let engine = serde_json::json!({
            "accounts": [venue.account("acct", "cred", 800)],
            "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
            "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 20},
            "risk": {"max_price_age_secs": 30}
        });
        let cfg = config_dir(&[
            ("engine.json", &engine.to_string()),
            (
                "credentials.json",
                &serde_json::json!({"cred": venue.credential(None)}).to_string(),
            ),
            (
                "signal_weights.json",
                r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]},
                    {"symbol": "BTCUSD", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
            ),
            ("signals/manual.json", "{}"),
        ]);
        Rig {
            native: venue.native(SYMBOL),
            units: venue.units(SYMBOL),
            venue,
            cfg,
            state: tempfile::tempdir().expect("state"),
            daemon: None,
            faults: 0,
            kills: 0,
            transitions: vec![Transition {
                target: Decimal::ZERO,
                before: Decimal::ZERO,
                first_fill: 0,
                what: "start".into(),
            }],
        }
    }

    pub fn ex(&self) -> &exchange::MockExchange {
        self.venue.exchange()
    }

    pub fn lot(&self) -> Decimal {
        LOT_BTC * self.units
    }

    pub fn start(&mut self) {
        self.daemon = Some(Daemon::start(self.cfg.path(), self.state.path()));
    }

    /// Starts the daemon without waiting for it to come up.
    pub fn spawn(&mut self) {
        self.daemon = Some(Daemon::spawn(self.cfg.path(), self.state.path(), &[]));
    }

    pub fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("daemon running")
    }

    pub fn kill9(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.kill9();
            self.kills += 1;
        }
    }

    pub fn inject(&mut self, target: exchange::Target, fault: exchange::Fault) {
        self.ex().inject(target, fault);
        self.faults += 1;
    }

    fn begin(&mut self, target: Decimal, what: String) {
        let first_fill = self.ex().lock().fills.len();
        let before = self.ex().exposure(&self.native);
        self.transitions.push(Transition {
            target,
            before,
            first_fill,
            what,
        });
    }

    /// Sets the BTC depth; returns the venue quantity it means.
    pub fn set_depth(&mut self, depth: Decimal) -> Decimal {
        let btc =
            (dec!(0.2) * depth).round_dp_with_strategy(3, rust_decimal::RoundingStrategy::ToZero);
        let qty = btc * self.units;
        self.begin(qty, format!("depth {depth}"));
        write(
            self.cfg.path(),
            "signals/manual.json",
            &format!(r#"{{"BTCUSDT": {{"depth": {depth}}}}}"#),
        );
        qty
    }

    /// A trade outside the daemon (manual, liquidation) sets the position.
    pub fn drift_to(&mut self, qty: Decimal) {
        self.ex().set_position(&self.native, qty);
        let target = self
            .transitions
            .last()
            .map(|t| t.target)
            .unwrap_or_default();
        self.begin(target, format!("drift to {qty}"));
        self.faults += 1;
    }

    pub fn position(&self) -> Decimal {
        self.ex().position(&self.native)
    }

    pub fn converge(&self, qty: Decimal, what: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.position() == qty && self.ex().exposure(&self.native) == qty {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{} {what}: position {} never reached {qty}\n{}",
            self.venue.kind(),
            self.position(),
            self.daemon
                .as_ref()
                .map(|d| d.log_text())
                .unwrap_or_default()
        );
    }

    /// Converged, then a whole cycle later still there: nothing more is traded.
    pub fn settle(&self, qty: Decimal, what: &str) {
        self.converge(qty, what);
        self.daemon().wait_for_fresh_cycle(WAIT);
        self.daemon().wait_for_fresh_cycle(WAIT);
        assert_eq!(
            self.position(),
            qty,
            "{what}: traded again after converging"
        );
    }

    /// Placements per client id, as the exchange received them.
    pub fn placements(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for r in self.ex().requests() {
            // A batch is one placement of each of its ids.
            if let Some(batch) = r.placement.filter(|_| r.signature_ok) {
                for id in batch.split(',') {
                    *ids.entry(id.to_string()).or_default() += 1;
                }
            }
        }
        ids
    }

    /// The transitions whose fills break a bound, with why.
    fn violations(&self) -> Vec<String> {
        let fills = self.ex().lock().fills.clone();
        let lot = self.lot();
        let mut out = Vec::new();
        for (i, t) in self.transitions.iter().enumerate() {
            let end = self
                .transitions
                .get(i + 1)
                .map_or(fills.len(), |n| n.first_fill);
            let mine: Vec<_> = fills[t.first_fill..end]
                .iter()
                .filter(|f| f.native == self.native)
                .collect();
            let volume: Decimal = mine.iter().map(|f| f.qty.abs()).sum();
            let needed = (t.target - t.before).abs();
            if volume > needed + lot {
                out.push(format!(
                    "{}: traded {volume} in {} orders where {needed} was needed (an order doubled)",
                    t.what,
                    mine.len()
                ));
            }
            let bound = t.before.abs().max(t.target.abs()) + lot;
            if let Some(f) = mine.iter().find(|f| f.exposure.abs() > bound) {
                out.push(format!(
                    "{}: position {} beyond max(|{}|, |{}|) + one lot (order {})",
                    t.what, f.exposure, t.before, t.target, f.client_id
                ));
            }
        }
        out
    }

    /// State files are whole JSON (never torn), whatever moment the daemon died at.
    pub fn check_state_files(&self) {
        for sub in ["journal", "cache"] {
            let Ok(entries) = std::fs::read_dir(self.state.path().join(sub)) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().to_string();
                if name.ends_with(".json") && !name.starts_with('.') {
                    let text = std::fs::read_to_string(e.path()).expect("read state");
                    serde_json::from_str::<serde_json::Value>(&text)
                        .unwrap_or_else(|err| panic!("torn state file {name}: {err}\n{text}"));
                }
            }
        }
        let signals = self.state.path().join("signals.json");
        if signals.exists() {
            let text = std::fs::read_to_string(&signals).expect("read signals");
            serde_json::from_str::<serde_json::Value>(&text).expect("signals.json is whole");
        }
    }

    /// The checks every scenario ends with; also usable between rounds.
    pub fn check(&self, name: &str) {
        let violations = self.violations();
        let resent: Vec<_> = self
            .placements()
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        let executed = self
            .ex()
            .lock()
            .fills
            .iter()
            .filter(|f| f.native == self.native)
            .count();
        println!(
            "fault-summary: {} {name}: faults injected {}, kills {}, transitions {}, orders executed {executed}, ids re-sent {}, bounds broken {}",
            self.venue.kind(),
            self.faults,
            self.kills,
            self.transitions.len() - 1,
            resent.len(),
            violations.len(),
        );
        let log = || {
            self.daemon
                .as_ref()
                .map(|d| d.log_text())
                .unwrap_or_default()
        };
        if std::env::var_os("RIG_LOG").is_some() {
            println!("{}", log());
        }
        assert!(
            violations.is_empty(),
            "{} {name}: {violations:#?}\n{}",
            self.venue.kind(),
            log()
        );
        assert!(
            resent.is_empty(),
            "{} {name}: client ids sent more than once: {resent:?}",
            self.venue.kind()
        );
        let badly: Vec<String> = self
            .ex()
            .requests()
            .iter()
            .filter(|r| !r.signature_ok)
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect();
        assert!(badly.is_empty(), "a request was badly signed: {badly:?}");
        self.check_state_files();
    }
}

/// One `#[test]` per loopback venue for each scenario `fn name(kind: &str)`:
/// `bybit::name`, `bitmex::name`. A new venue is one more line here.
#[allow(unused_macros)]
macro_rules! on_every_venue {
    ($($name:ident),* $(,)?) => {
        mod bybit { $(#[test] fn $name() { super::$name("bybit") })* }
        mod bitmex { $(#[test] fn $name() { super::$name("bitmex") })* }
        mod oanda { $(#[test] fn $name() { super::$name("oanda") })* }
        mod blofin { $(#[test] fn $name() { super::$name("blofin") })* }
        mod kucoin { $(#[test] fn $name() { super::$name("kucoin") })* }
        mod mexc { $(#[test] fn $name() { super::$name("mexc") })* }
    };
    (ignored($why:literal): $($name:ident),* $(,)?) => {
        mod bybit_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("bybit") })* }
        mod bitmex_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("bitmex") })* }
        mod oanda_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("oanda") })* }
        mod blofin_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("blofin") })* }
        mod kucoin_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("kucoin") })* }
        mod mexc_ignored { $(#[test] #[ignore = $why] fn $name() { super::$name("mexc") })* }
    };
}
#[allow(unused_imports)]
pub(crate) use on_every_venue;
