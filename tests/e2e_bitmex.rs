//! The daemon end to end against the loopback BitMEX: signals in, XBTUSDT contracts out,
//! including a flip, and an account with a bad secret marked in error while the good one
//! trades.

mod common;

use common::exchange::MockExchange;
use common::venues::bitmex;
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[test]
fn converges_to_targets_and_flips_in_contracts() {
    let server = bitmex::start(MockExchange::new(
        dec!(100000),
        &[("XBTUSDT", dec!(50000)), ("XBTUSD", dec!(50000))],
    ));
    let engine = serde_json::json!({
        "accounts": [
            {"name": "bm", "venue": "bitmex", "credentials": "bm",
             "rest_url": server.rest_url, "ws_url": server.ws_url, "timeout_ms": 3000},
            {"name": "bm-bad", "venue": "bitmex", "credentials": "bm-bad",
             "rest_url": server.rest_url, "ws_url": server.ws_url, "timeout_ms": 3000}
        ],
        "sources": [ { "name": "manual", "kind": "file", "path": "signals/manual.json" } ],
        "cycle": { "reconcile_interval_secs": 2, "debounce_ms": 50 }
    })
    .to_string();
    let credentials = serde_json::json!({
        "bm": {"api_key": bitmex::KEY, "api_secret": bitmex::SECRET},
        "bm-bad": {"api_key": bitmex::KEY, "api_secret": "wrong"}
    })
    .to_string();
    let weights = r#"[{ "symbol": "BTCUSDT", "leverage": 2, "sources": [ { "source": "manual", "weight": 1.0 } ] }]"#;
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("credentials.json", &credentials),
        ("signal_weights.json", weights),
        ("asset_mapping.json", "{}"),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let xbtusdt = || server.exchange().position("XBTUSDT");

    // $100,000 × 0.5 × 2 = $100,000 at 50,000 = 2 XBT = 2,000,000 contracts of 1e-6 XBT.
    d.wait_until("long XBTUSDT", WAIT, |_| xbtusdt() == dec!(2000000));
    let s = d.wait_until("status shows the symbol", WAIT, |s| {
        symbol(s, "bm", "BTCUSDT").is_some_and(|r| dec(&r["position_qty"]) == dec!(2000000))
    });
    let row = symbol(&s, "bm", "BTCUSDT").unwrap();
    assert_eq!(row["native_symbol"], "XBTUSDT");
    assert_eq!(row["lot"], "1000");
    d.wait_until("bad account in error", WAIT, |s| {
        account(s, "bm-bad").is_some_and(|a| a["state"] == "error")
    });

    // Flip: -0.25 → -$50,000 → -1,000,000 contracts, through a reduce-only close.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    d.wait_until("short XBTUSDT", WAIT, |_| xbtusdt() == dec!(-1000000));
    let peak = server
        .exchange()
        .lock()
        .max_abs_position
        .get("XBTUSDT")
        .copied()
        .unwrap_or_default();
    assert_eq!(
        peak,
        dec!(2000000),
        "never beyond the larger of the two targets"
    );
    let requests = server.exchange().requests();
    let orders: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query == "/api/v1/order" && r.signature_ok)
        .collect();
    assert!(
        orders
            .iter()
            .any(|r| r.body.contains(r#""execInst":"ReduceOnly""#)),
        "the flip closes with reduce-only: {orders:?}"
    );
    assert!(
        !requests
            .iter()
            .any(|r| !r.signature_ok && r.path_and_query == "/api/v1/order"),
        "the bad account never got an order through"
    );
    let s = d.status().expect("status");
    assert_eq!(account(&s, "bm").unwrap()["state"], "ok");
    assert_eq!(server.exchange().position("XBTUSD"), Decimal::ZERO);
    assert_eq!(d.stop().code(), Some(0));
}
