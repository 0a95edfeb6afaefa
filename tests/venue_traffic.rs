//! What the daemon costs a venue: several accounts on one API key trading many symbols at
//! once against the loopback Bybit, which enforces Bybit's documented limits (per UID and
//! endpoint over a rolling second, 600 per 5 s per IP). Every target must be reached with
//! zero rate-limit refusals, and in few requests per order placed (counted from the
//! loopback's own request log).

mod common;

use common::exchange::MockExchange;
use common::venues::bybit::BybitServer;
use common::venues::Loopback;
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

const SYMBOLS: [&str; 18] = [
    "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT", "AVAXUSDT", "DOTUSDT",
    "LTCUSDT", "BNBUSDT", "ATOMUSDT", "NEARUSDT", "APTUSDT", "ARBUSDT", "OPUSDT", "SUIUSDT",
    "TRXUSDT", "UNIUSDT",
];
const ACCOUNTS: usize = 3;

/// The endpoint of a recorded request (`GET /v5/position/list`).
fn endpoint(method: &str, path_and_query: &str) -> String {
    let path = path_and_query.split('?').next().unwrap_or_default();
    format!("{method} {path}")
}

#[test]
fn accounts_on_one_key_reach_every_target_without_a_refusal_in_few_requests() {
    // SOL's lot is 0.1 like the others; ETH's 0.01. Marks of 10 (ETH 2,500) keep the
    // quantities on every lot.
    let marks: Vec<(&str, Decimal)> = SYMBOLS
        .iter()
        .map(|s| {
            (
                *s,
                if *s == "ETHUSDT" {
                    dec!(2500)
                } else {
                    dec!(10)
                },
            )
        })
        .collect();
    let server = BybitServer::start(MockExchange::new(dec!(30000), &marks));
    assert!(server.exchange().windows().enforcing());
    let per_account = SYMBOLS.len() / ACCOUNTS;
    let accounts: Vec<serde_json::Value> = (0..ACCOUNTS)
        .map(|i| {
            let mut a = Loopback::account(&server, &format!("acct{i}"), "ok", 5000);
            a["symbols"] = SYMBOLS[i * per_account..(i + 1) * per_account].into();
            a
        })
        .collect();
    let engine = serde_json::json!({
        "accounts": accounts,
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50}
    });
    let weights: Vec<serde_json::Value> = SYMBOLS
        .iter()
        .map(|s| serde_json::json!({"symbol": s, "leverage": 2, "sources": [{"source": "manual", "weight": 1.0}]}))
        .collect();
    let signals: serde_json::Map<String, serde_json::Value> = SYMBOLS
        .iter()
        .map(|s| (s.to_string(), serde_json::json!({"depth": 0.05})))
        .collect();
    let credentials = serde_json::json!({"ok": server.credential(None)});
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        ("credentials.json", &credentials.to_string()),
        (
            "signal_weights.json",
            &serde_json::to_string(&weights).unwrap(),
        ),
        (
            "signals/manual.json",
            &serde_json::Value::Object(signals).to_string(),
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    // 30,000 USD × 0.05 × 2 = 3,000 USD: 300 at 10, 1.2 ETH at 2,500.
    let target = |s: &str| if s == "ETHUSDT" { dec!(1.2) } else { dec!(300) };
    let at_targets = || {
        SYMBOLS
            .iter()
            .all(|s| server.exchange().position(s) == target(s))
    };
    d.wait_until("every account at every target", WAIT, |_| at_targets());
    let requests = server.exchange().requests();

    let refusals = server.exchange().windows().refusals();
    assert!(refusals.is_empty(), "rate-limit refusals: {refusals:?}");

    // A batch is one placement of each of its ids.
    let orders: usize = requests
        .iter()
        .filter_map(|r| r.placement.as_deref())
        .map(|ids| ids.split(',').count())
        .sum();
    assert!(
        orders >= SYMBOLS.len(),
        "{orders} orders for {} symbols",
        SYMBOLS.len()
    );
    let mut by_endpoint: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        *by_endpoint
            .entry(endpoint(&r.method, &r.path_and_query))
            .or_default() += 1;
    }
    let per_order = requests.len() as f64 / orders as f64;
    println!(
        "{} requests for {orders} orders ({per_order:.2} per order): {by_endpoint:#?}",
        requests.len()
    );
    // Per order: its create, its symbol's position mode and leverage (read once, set when
    // different); per account and cycle: one wallet, positions and open orders per settle
    // group, one tickers and (once an hour) one instruments read per category. Reconcile
    // cycles while the test looks add a few account reads.
    let lookups = requests
        .iter()
        .filter(|r| r.path_and_query.contains("orderLinkId="))
        .count();
    let tickers = by_endpoint
        .get("GET /v5/market/tickers")
        .copied()
        .unwrap_or(0);
    let instruments = by_endpoint
        .get("GET /v5/market/instruments-info")
        .copied()
        .unwrap_or(0);
    assert!(
        instruments <= ACCOUNTS,
        "instruments are read in bulk, once per account: {by_endpoint:#?}"
    );
    assert!(
        tickers < orders,
        "marks come from one bulk read per cycle, not one per symbol: {by_endpoint:#?}"
    );
    assert!(
        lookups < orders,
        "fills are confirmed from the order stream before any lookup: {by_endpoint:#?}"
    );
    // How many cycles ran before every target was reached depends on the machine's speed, so
    // the bound is per order plus per account and cycle (each cycle reads the wallet once):
    // at most 3 per order (its share of a batch, its symbol's first position read, its
    // leverage) and 8 reads per account and cycle (wallet, tickers, open orders and positions
    // of each settle group).
    let account_cycles = by_endpoint
        .get("GET /v5/account/wallet-balance")
        .copied()
        .unwrap_or(0);
    assert!(
        requests.len() <= 3 * orders + 8 * account_cycles,
        "{per_order:.2} requests per order placed, {account_cycles} account cycles: {by_endpoint:#?}"
    );
    d.stop();
}

/// The executor sends the orders of several symbols of a cycle as one batch; when the
/// batch's answer is lost after the venue applied it, every order is looked up by its client
/// id and none is sent again: each target is reached exactly once.
#[test]
fn a_lost_batch_answer_is_looked_up_per_order_and_nothing_is_sent_twice() {
    let symbols = ["ETHUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT"];
    let marks: Vec<(&str, Decimal)> = symbols
        .iter()
        .map(|s| {
            (
                *s,
                if *s == "ETHUSDT" {
                    dec!(2500)
                } else {
                    dec!(10)
                },
            )
        })
        .collect();
    let server = BybitServer::start(MockExchange::new(dec!(10000), &marks));
    server.exchange().inject(
        common::exchange::Target::Place,
        common::exchange::Fault::AppliedThenReset,
    );
    let engine = serde_json::json!({
        "accounts": [Loopback::account(&server, "acct", "ok", 3000)],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50}
    });
    let weights: Vec<serde_json::Value> = symbols
        .iter()
        .map(|s| serde_json::json!({"symbol": s, "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}))
        .collect();
    let signals: serde_json::Map<String, serde_json::Value> = symbols
        .iter()
        .map(|s| (s.to_string(), serde_json::json!({"depth": 0.1})))
        .collect();
    let credentials = serde_json::json!({"ok": server.credential(None)});
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        ("credentials.json", &credentials.to_string()),
        (
            "signal_weights.json",
            &serde_json::to_string(&weights).unwrap(),
        ),
        (
            "signals/manual.json",
            &serde_json::Value::Object(signals).to_string(),
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // 10,000 × 0.1 × 1 = 1,000 USD: 100 at 10, 0.4 ETH.
    let target = |s: &str| if s == "ETHUSDT" { dec!(0.4) } else { dec!(100) };
    d.wait_until("every target reached", WAIT, |_| {
        symbols
            .iter()
            .all(|s| server.exchange().position(s) == target(s))
    });
    // A few more cycles: nothing moves and nothing is placed twice.
    d.wait_for_fresh_cycle(WAIT);
    d.wait_for_fresh_cycle(WAIT);
    let requests = server.exchange().requests();
    let batches: Vec<&str> = requests
        .iter()
        .filter(|r| r.path_and_query == "/v5/order/create-batch")
        .filter_map(|r| r.placement.as_deref())
        .collect();
    assert!(
        batches.first().is_some_and(|b| b.split(',').count() > 1),
        "the first orders went out as one batch: {batches:?}"
    );
    let mut placed: BTreeMap<String, usize> = BTreeMap::new();
    for r in &requests {
        for id in r.placement.iter().flat_map(|p| p.split(',')) {
            *placed.entry(id.to_string()).or_default() += 1;
        }
    }
    assert!(
        placed.values().all(|n| *n == 1),
        "an order was sent twice: {placed:?}"
    );
    for s in symbols {
        assert_eq!(server.exchange().position(s), target(s), "{s}");
        assert_eq!(
            server.exchange().lock().max_abs_position.get(s).copied(),
            Some(target(s)),
            "{s} overshot"
        );
    }
    assert!(
        d.log_text()
            .contains("order outcome unknown; looking it up"),
        "the lost orders were looked up"
    );
    d.stop();
}
