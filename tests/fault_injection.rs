//! Issue 5's proof: the real daemon against a loopback Bybit that injects faults, by script
//! and at random with a seed. After every scenario the guarantees are checked from the
//! exchange's side: no order executed twice, no position beyond max(|before|, |target|) + one
//! lot, state files whole, convergence to the target.
//!
//! Each test prints a `fault-summary:` line; `cargo test --test fault_injection -- --nocapture`
//! shows the counts.

mod common;

use common::exchange::{Fault, MockExchange, Target};
use common::venues::bybit::{BybitServer, KEY, SECRET};
use common::*;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(40);
const LOT: Decimal = dec!(0.001);
const SYMBOL: &str = "BTCUSDT";

/// A daemon with one Bybit account on a loopback server, trading BTCUSDT from a file source.
/// Equity 10,000 USD, BTC at 50,000, leverage 1: depth d targets 0.2 × d BTC.
struct Rig {
    server: BybitServer,
    cfg: tempfile::TempDir,
    state: tempfile::TempDir,
    daemon: Option<Daemon>,
    /// Largest |target| or |position before| so far: the overshoot bound.
    bound: Decimal,
    faults: usize,
    kills: usize,
    /// Targets in the order they were set (for the minimal traded volume).
    path: Vec<Decimal>,
}

fn engine(server: &BybitServer) -> String {
    serde_json::json!({
        "accounts": [{"name": "acct", "venue": "bybit", "credentials": "by",
            "rest_url": server.rest_url, "ws_url": server.ws_url, "timeout_ms": 800}],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 20},
        "risk": {"max_price_age_secs": 30}
    })
    .to_string()
}

impl Rig {
    fn new() -> Rig {
        let server = BybitServer::start(MockExchange::new(
            dec!(10000),
            &[(SYMBOL, dec!(50000)), ("ETHUSDT", dec!(2500))],
        ));
        let cfg = config_dir(&[
            ("engine.json", &engine(&server)),
            (
                "credentials.json",
                &serde_json::json!({"by": {"api_key": KEY, "api_secret": SECRET}}).to_string(),
            ),
            (
                "signal_weights.json",
                r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]},
                    {"symbol": "ETHUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
            ),
            ("signals/manual.json", "{}"),
        ]);
        Rig {
            server,
            cfg,
            state: tempfile::tempdir().expect("state"),
            daemon: None,
            bound: Decimal::ZERO,
            faults: 0,
            kills: 0,
            path: vec![Decimal::ZERO],
        }
    }

    fn start(&mut self) {
        self.daemon = Some(Daemon::start(self.cfg.path(), self.state.path()));
    }

    fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("daemon running")
    }

    fn kill9(&mut self) {
        if let Some(d) = self.daemon.take() {
            d.kill9();
            self.kills += 1;
        }
    }

    fn inject(&mut self, target: Target, fault: Fault) {
        self.server.exchange.inject(target, fault);
        self.faults += 1;
    }

    /// Sets the BTC depth; returns the BTC quantity it means.
    fn set_depth(&mut self, depth: Decimal) -> Decimal {
        let qty =
            (dec!(0.2) * depth).round_dp_with_strategy(3, rust_decimal::RoundingStrategy::ToZero);
        self.bound = self.bound.max(qty.abs()).max(self.position().abs());
        self.path.push(qty);
        write(
            self.cfg.path(),
            "signals/manual.json",
            &format!(r#"{{"BTCUSDT": {{"depth": {depth}}}}}"#),
        );
        qty
    }

    fn position(&self) -> Decimal {
        self.server.exchange.position(SYMBOL)
    }

    fn converge(&self, qty: Decimal, what: &str) {
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if self.position() == qty {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "{what}: position {} never reached {qty}\n{}",
            self.position(),
            self.daemon
                .as_ref()
                .map(|d| d.log_text())
                .unwrap_or_default()
        );
    }

    /// Client ids of order creations the exchange saw, with how often each was sent.
    fn create_ids(&self) -> BTreeMap<String, usize> {
        let mut ids = BTreeMap::new();
        for r in self.server.exchange.requests() {
            if r.path_and_query == "/v5/order/create" {
                let body: serde_json::Value = serde_json::from_str(&r.body).unwrap_or_default();
                if let Some(id) = body["orderLinkId"].as_str() {
                    *ids.entry(id.to_string()).or_default() += 1;
                }
            }
        }
        ids
    }

    /// Orders executed for the same client id more than once (the exchange refuses a reused
    /// id, so this must be 0; counted from the exchange's own order book).
    fn executed_duplicates(&self) -> usize {
        let orders = self.server.exchange.lock().orders.clone();
        let mut per_id: BTreeMap<String, usize> = BTreeMap::new();
        for o in orders.values() {
            *per_id.entry(o.client_id.clone()).or_default() += 1;
        }
        per_id.values().filter(|n| **n > 1).count()
    }

    /// BTC volume traded beyond the shortest path through the targets (a doubled order shows
    /// up here even under a fresh id).
    fn excess_volume(&self) -> Decimal {
        let traded: Decimal = self
            .server
            .exchange
            .lock()
            .orders
            .values()
            .filter(|o| o.native == SYMBOL)
            .map(|o| o.filled)
            .sum();
        let minimal: Decimal = self.path.windows(2).map(|w| (w[1] - w[0]).abs()).sum();
        traded - minimal
    }

    fn overshoot(&self) -> Decimal {
        let peak = self
            .server
            .exchange
            .lock()
            .max_abs_position
            .get(SYMBOL)
            .copied()
            .unwrap_or_default();
        (peak - self.bound - LOT).max(Decimal::ZERO)
    }

    /// State files are whole JSON (never torn), whatever moment the daemon died at.
    fn check_state_files(&self) {
        for sub in ["journal", "cache"] {
            let dir = self.state.path().join(sub);
            let Ok(entries) = std::fs::read_dir(&dir) else {
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

    fn finish(&self, name: &str, check_volume: bool) {
        let dups = self.executed_duplicates();
        let overshoot = self.overshoot();
        let resent = self.create_ids().values().filter(|n| **n > 1).count();
        let excess = self.excess_volume();
        println!(
            "fault-summary: {name}: faults injected {}, kills {}, duplicates {dups}, overshoots {}, ids re-sent and refused {resent}, excess volume {excess}",
            self.faults,
            self.kills,
            if overshoot.is_zero() { 0 } else { 1 },
        );
        assert_eq!(dups, 0, "an order executed twice");
        assert!(
            overshoot.is_zero(),
            "position went {overshoot} beyond max(|before|, |target|) + one lot"
        );
        assert!(
            self.server
                .exchange
                .requests()
                .iter()
                .all(|r| r.signature_ok),
            "a request was badly signed"
        );
        if check_volume {
            assert!(
                excess <= LOT,
                "traded {excess} more than the targets required: an order was doubled"
            );
        }
        self.check_state_files();
    }
}

fn state_of(d: &Daemon) -> String {
    d.status()
        .and_then(|s| account(&s, "acct").map(|a| a["state"].as_str().unwrap_or("").to_string()))
        .unwrap_or_default()
}

/// Guarantee 1: an order whose answer is lost (accepted, then the connection stalls past the
/// deadline) is looked up by its client id, never sent again.
#[test]
fn stalled_orders_are_looked_up_not_doubled() {
    let mut rig = Rig::new();
    rig.start();
    rig.inject(Target::Place, Fault::AcceptThenStall { delay_ms: 2500 });
    let q = rig.set_depth(dec!(0.5));
    rig.converge(q, "after a stalled order");
    rig.inject(Target::Place, Fault::AcceptThenStall { delay_ms: 2500 });
    rig.inject(Target::Place, Fault::AcceptThenStall { delay_ms: 2500 });
    let q = rig.set_depth(dec!(-0.3));
    rig.converge(q, "a flip through two stalls");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.position(), q, "nothing more traded after convergence");
    assert!(rig.daemon().log_text().contains("order outcome unknown"));
    rig.finish("stalled orders", true);
}

/// Guarantees 1 and 3: killed while an order's answer is outstanding, the restarted daemon
/// resolves it by client id before sending anything new for the symbol.
#[test]
fn killed_mid_order_resolves_before_sending() {
    let mut rig = Rig::new();
    rig.start();
    rig.inject(Target::Place, Fault::AcceptThenStall { delay_ms: 5000 });
    let q = rig.set_depth(dec!(0.5));
    // Wait until the order has reached the exchange, then kill while it is stalled.
    let deadline = Instant::now() + WAIT;
    while rig.position() != q {
        assert!(Instant::now() < deadline, "order never arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    rig.kill9();
    rig.check_state_files();
    rig.start();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.position(), q);
    assert_eq!(
        rig.create_ids().len(),
        1,
        "the restarted daemon sent nothing new"
    );
    rig.finish("killed mid-order", true);
}

/// Guarantee 5: 5xx answers, rate limits and resets degrade the account, which recovers by
/// itself; orders that got a 5xx are looked up, not doubled.
#[test]
fn server_errors_and_rate_limits_degrade_then_recover() {
    let mut rig = Rig::new();
    rig.start();
    let q = rig.set_depth(dec!(0.4));
    rig.converge(q, "initial");
    // Reads are retried, so a burst is needed to fail a cycle; ten errors within a minute also
    // open the breaker, which holds every request for 30 s before the account recovers.
    for _ in 0..12 {
        rig.inject(Target::Read, Fault::Status(502));
    }
    let d = rig.daemon();
    let deadline = Instant::now() + WAIT;
    let mut seen = std::collections::BTreeSet::new();
    while Instant::now() < deadline && !(seen.contains("halted") || seen.contains("reducing")) {
        seen.insert(state_of(d));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        seen.contains("reducing") || seen.contains("halted"),
        "degraded: {seen:?}"
    );
    d.wait_until("recovered", WAIT, |s| {
        account(s, "acct").is_some_and(|a| a["state"] == "ok")
    });
    rig.inject(Target::Place, Fault::Status(503));
    rig.inject(Target::Read, Fault::RateLimit { reset_secs: 2 });
    let q = rig.set_depth(dec!(-0.2));
    rig.converge(q, "after 5xx on an order and a rate limit");
    rig.finish("errors and rate limits", true);
}

/// Guarantee 2 under partial fills: the rest of a partly filled order is cancelled and the
/// next cycle plans from the venue's position; never beyond the bound.
#[test]
fn partial_fills_converge_without_overshoot() {
    let mut rig = Rig::new();
    rig.start();
    for _ in 0..3 {
        rig.inject(
            Target::Place,
            Fault::PartialFill {
                fraction: dec!(0.5),
            },
        );
    }
    let q = rig.set_depth(dec!(0.8));
    rig.converge(q, "through partial fills");
    for _ in 0..2 {
        rig.inject(
            Target::Place,
            Fault::PartialFill {
                fraction: dec!(0.3),
            },
        );
    }
    let q = rig.set_depth(dec!(-0.5));
    rig.converge(q, "a flip through partial fills");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.position(), q);
    assert!(
        rig.server.exchange.open_orders().is_empty(),
        "no remainder left resting"
    );
    rig.finish("partial fills", true);
}

/// Streams are only hints: dropped connections and duplicated, stale or out-of-order events
/// change nothing; REST stays the authority.
#[test]
fn stream_drops_and_noisy_events_change_nothing() {
    let mut rig = Rig::new();
    rig.start();
    let q = rig.set_depth(dec!(0.3));
    rig.converge(q, "initial");
    let fake = |status: &str, link: &str, qty: &str| {
        serde_json::json!({"topic": "order", "creationTime": 1, "data": [{
            "category": "linear", "symbol": SYMBOL, "orderId": "x", "orderLinkId": link, "side": "Buy",
            "orderType": "Market", "price": "0", "qty": qty, "leavesQty": "0", "cumExecQty": qty,
            "avgPrice": "50000", "orderStatus": status, "reduceOnly": false, "positionIdx": 0}]})
        .to_string()
    };
    for i in 0..5 {
        rig.server.push_raw(
            "order",
            fake("Filled", "teffffffffffffffffffffffffffffff", "5"),
        );
        rig.server
            .push_raw("order", fake("New", &format!("unknown-{i}"), "1"));
        rig.server.push_raw("position", serde_json::json!({"topic": "position", "data": [{"symbol": SYMBOL, "side": "Buy", "size": "99", "positionIdx": 0}]}).to_string());
        rig.faults += 3;
    }
    rig.server
        .exchange
        .lock()
        .ws_sessions
        .push(vec!["__drop__".into()]);
    rig.faults += 1;
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.position(), q, "fake stream events moved nothing");
    let q = rig.set_depth(dec!(0.6));
    rig.converge(q, "after a stream drop");
    rig.finish("stream noise", true);
}

/// Guarantee 6: a stale mark price only allows reducing orders.
#[test]
fn stale_prices_only_allow_reducing() {
    let mut rig = Rig::new();
    rig.start();
    let q = rig.set_depth(dec!(0.5));
    rig.converge(q, "initial");
    rig.server.extra.lock().unwrap().price_lag_ms = 120_000;
    rig.faults += 1;
    rig.set_depth(dec!(1));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rig.position(), q, "no increase on a stale price");
    let q2 = rig.set_depth(dec!(0.2));
    rig.converge(q2, "a reduction on a stale price");
    rig.server.extra.lock().unwrap().price_lag_ms = 0;
    let q3 = rig.set_depth(dec!(0.7));
    rig.converge(q3, "fresh prices again");
    // The path included an unreachable target (1.0); count the volume on what was reachable.
    rig.path.retain(|t| *t != dec!(0.2) * dec!(1));
    rig.finish("stale prices", true);
}

/// Guarantee 4: a position changed outside the daemon is brought back; a symbol removed from
/// the config is closed with a log line saying why.
#[test]
fn drift_is_corrected_and_removed_symbols_closed() {
    let mut rig = Rig::new();
    rig.start();
    let q = rig.set_depth(dec!(0.5));
    write(
        rig.cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.5}}"#,
    );
    rig.converge(q, "initial");
    let eth = || rig.server.exchange.position("ETHUSDT");
    let deadline = Instant::now() + WAIT;
    while eth() != dec!(-2) {
        assert!(Instant::now() < deadline, "ETH never opened: {}", eth());
        std::thread::sleep(Duration::from_millis(50));
    }
    // A manual trade (or a liquidation) halves the BTC position.
    rig.server.exchange.set_position(SYMBOL, dec!(0.05));
    rig.faults += 1;
    rig.converge(q, "drift corrected");
    write(
        rig.cfg.path(),
        "signal_weights.json",
        r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
    );
    let deadline = Instant::now() + WAIT;
    while !eth().is_zero() {
        assert!(
            Instant::now() < deadline,
            "removed symbol never closed: {}",
            eth()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(rig
        .daemon()
        .log_text()
        .contains("symbol no longer in signal_weights.json"));
    rig.bound = rig.bound.max(dec!(0.1));
    rig.finish("drift and removal", false);
}

/// Guarantees 1–3 under at least 20 SIGKILLs at random moments, with random faults and
/// target changes (seeded: set FAULT_SEED to replay a run).
#[test]
fn random_kills_never_double_or_overshoot() {
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261122);
    kill_loop(seed, 22);
}

/// The same loop for as long as you like: `SOAK_ROUNDS=500 cargo test --release --test
/// fault_injection soak -- --ignored --nocapture`.
#[test]
#[ignore = "long soak; run on demand"]
fn soak_random_kills() {
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let rounds: usize = std::env::var("SOAK_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    kill_loop(seed, rounds);
}

fn kill_loop(seed: u64, rounds: usize) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rig = Rig::new();
    let depths = [
        dec!(0.5),
        dec!(-0.4),
        dec!(0.9),
        dec!(0),
        dec!(-0.75),
        dec!(0.25),
    ];
    for round in 0..rounds {
        if round % 2 == 0 {
            let depth = depths[rng.gen_range(0..depths.len())];
            rig.set_depth(depth);
        }
        match rng.gen_range(0..5) {
            0 => rig.inject(
                Target::Place,
                Fault::AcceptThenStall {
                    delay_ms: rng.gen_range(900..2500),
                },
            ),
            1 => rig.inject(Target::Place, Fault::Status(503)),
            2 => rig.inject(
                Target::Place,
                Fault::PartialFill {
                    fraction: dec!(0.5),
                },
            ),
            3 => rig.inject(Target::Read, Fault::Status(502)),
            _ => {}
        }
        rig.start();
        std::thread::sleep(Duration::from_millis(rng.gen_range(300..1800)));
        rig.kill9();
        rig.check_state_files();
        assert!(
            rig.overshoot().is_zero(),
            "overshoot after kill {round} (seed {seed}): peak beyond {}",
            rig.bound
        );
    }
    // Drain leftover faults, then one clean run must converge to the last target.
    rig.server.exchange.lock().faults.clear();
    let last = *rig.path.last().unwrap_or(&Decimal::ZERO);
    rig.start();
    rig.converge(last, "after the kill loop");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rig.position(), last, "stable after convergence");
    assert!(rig.kills >= rounds.min(20));
    rig.finish(&format!("random kills (seed {seed})"), false);
}

/// Guarantee 9: SIGTERM while an order is in flight lets it finish, writes state, exits 0.
#[test]
fn sigterm_lets_the_inflight_order_finish() {
    let mut rig = Rig::new();
    rig.start();
    // Answered after 600 ms: inside the 800 ms deadline, so the order completes normally.
    rig.inject(Target::Place, Fault::AcceptThenStall { delay_ms: 600 });
    let q = rig.set_depth(dec!(0.5));
    let deadline = Instant::now() + WAIT;
    while rig.position() != q {
        assert!(Instant::now() < deadline, "order never arrived");
        std::thread::sleep(Duration::from_millis(10));
    }
    let d = rig.daemon.take().expect("running");
    let state_dir = d.state_dir.clone();
    let status = d.stop();
    assert_eq!(status.code(), Some(0));
    let journal: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(state_dir.join("journal/acct.json")).expect("journal"),
    )
    .expect("whole");
    let entries = journal["entries"].as_array().expect("entries");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["status"], "filled",
        "the in-flight order's answer was recorded before exit"
    );
    rig.finish("sigterm in flight", true);
}
