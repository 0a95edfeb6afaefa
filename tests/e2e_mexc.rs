//! The daemon binary end to end on MEXC: while the loopback refuses opening orders the way
//! MEXC did when it switched API order placement off (code 1002 "Contract not allow place
//! order!"), the account goes close-only — one warning in the log, the venue's reason in
//! `/status`, positions still read and reductions still sent — and it opens again once the
//! venue takes orders, after the configured back-off.

mod common;

use common::venues::mexc::{self, MexcServer};
use common::venues::Loopback;
use common::*;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

fn creates_for(s: &MexcServer, native: &str) -> usize {
    s.exchange
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "/api/v1/private/order/create")
        .filter(|r| {
            serde_json::from_str::<serde_json::Value>(&r.body).is_ok_and(|b| b["symbol"] == native)
        })
        .count()
}

#[test]
fn trading_disabled_moves_the_account_to_close_only_and_back() {
    let server = mexc::start(dec!(10000), dec!(60000));
    // Short 1 ETH: 100 contracts of 0.01 ETH.
    server.exchange.set_position("ETH_USDT", dec!(-100));
    server.set_trading_disabled(true);
    let engine = serde_json::json!({
        "accounts": [server.account("mexc-main", "mexc_main", 3000)],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50},
        "risk": {"close_only_retry_secs": 1},
    })
    .to_string();
    let credentials = serde_json::json!({"mexc_main": server.credential(None)}).to_string();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("credentials.json", &credentials),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": 0}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    let s = d.wait_until("close-only with the ETH short closed", WAIT, |s| {
        account(s, "mexc-main").is_some_and(|a| a["state"] == "close_only")
            && server.exchange.position("ETH_USDT").is_zero()
    });
    let reason = account(&s, "mexc-main").unwrap()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("1002") && reason.contains("refuses new orders"),
        "{reason}"
    );
    assert!(server.exchange.position("BTC_USDT").is_zero());
    assert!(
        creates_for(&server, "BTC_USDT") >= 1,
        "the opening order was tried"
    );
    // The reduction went out with a close code: close short (2), reduce-only in one-way mode.
    let closes: Vec<serde_json::Value> = server
        .exchange
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "/api/v1/private/order/create")
        .filter_map(|r| serde_json::from_str(&r.body).ok())
        .filter(|b: &serde_json::Value| b["symbol"] == "ETH_USDT")
        .collect();
    assert!(
        closes
            .iter()
            .all(|b| b["side"] == 2 && b["reduceOnly"] == true),
        "{closes:?}"
    );
    let log = d.log_text();
    assert_eq!(
        log.matches("venue refuses new orders: account close-only")
            .count(),
        1,
        "one clear log line"
    );

    // The venue takes orders again: the next attempt after the back-off opens BTC.
    server.set_trading_disabled(false);
    // 10,000 × 0.5 × 2 = 10,000 USDT at 60,000 = 0.1666 BTC: 1,660 contracts (step 10).
    d.wait_until("BTC opened once the venue accepts again", WAIT, |_| {
        server.exchange.position("BTC_USDT") == dec!(1660)
    });
    let s = d.wait_until("account back to ok", WAIT, |s| {
        account(s, "mexc-main").is_some_and(|a| a["state"] == "ok")
    });
    assert!(account(&s, "mexc-main").unwrap()["reason"].is_null());
    assert!(server.exchange.requests().iter().all(|r| r.signature_ok));
    assert_eq!(d.stop().code(), Some(0));
}
