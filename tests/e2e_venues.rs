//! Issue 3's end-to-end check: one daemon, a Bybit account and a BitMEX account pointed at
//! loopback servers, both converging to the same targets (each in its own units) and flipping;
//! plus a third account with a bad credential that is reported in error while the others trade.

mod common;

use common::exchange::MockExchange;
use common::venues::{bitmex, bybit::BybitServer};
use common::*;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

#[test]
fn bybit_and_bitmex_accounts_converge_and_flip_together() {
    let by = BybitServer::start(MockExchange::new(
        dec!(10000),
        &[("BTCUSDT", dec!(50000)), ("ETHUSDT", dec!(2500))],
    ));
    let bm = bitmex::start(MockExchange::new(
        dec!(100000),
        &[("XBTUSDT", dec!(50000)), ("XBTUSD", dec!(50000))],
    ));
    let engine = serde_json::json!({
        "accounts": [
            {"name": "by", "venue": "bybit", "credentials": "by",
             "rest_url": by.rest_url, "ws_url": by.ws_url, "timeout_ms": 3000},
            {"name": "bm", "venue": "bitmex", "credentials": "bm",
             "rest_url": bm.rest_url, "ws_url": bm.ws_url, "timeout_ms": 3000},
            {"name": "bm-bad", "venue": "bitmex", "credentials": "bm_bad",
             "rest_url": bm.rest_url, "ws_url": bm.ws_url, "timeout_ms": 3000}
        ],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 2, "debounce_ms": 50}
    })
    .to_string();
    let credentials = serde_json::json!({
        "by": {"api_key": common::venues::bybit::KEY, "api_secret": common::venues::bybit::SECRET},
        "bm": {"api_key": bitmex::KEY, "api_secret": bitmex::SECRET},
        "bm_bad": {"api_key": bitmex::KEY, "api_secret": "not-the-secret"}
    })
    .to_string();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("credentials.json", &credentials),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            cfg.path().join("credentials.json"),
            std::fs::Permissions::from_mode(0o600),
        );
    }
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    // Bybit: 10,000 × 0.5 × 2 = 10,000 USD at 50,000 = 0.2 BTC.
    // BitMEX: 100,000 × 0.5 × 2 = 100,000 USD = 2 XBT = 2,000,000 XBTUSDT contracts.
    d.wait_until("both accounts long", WAIT, |_| {
        by.exchange.position("BTCUSDT") == dec!(0.2)
            && bm.exchange().position("XBTUSDT") == dec!(2000000)
    });
    let s = d.wait_until("the bad account is in error", WAIT, |s| {
        account(s, "bm-bad").is_some_and(|a| a["state"] == "error")
    });
    let err = account(&s, "bm-bad").unwrap()["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        err.to_lowercase().contains("auth") || err.contains("Invalid") || err.contains("Signature"),
        "{err}"
    );
    assert!(d.log_text().contains("bm-bad"), "the log names the account");

    // Flip both: -0.25 → Bybit -0.1 BTC, BitMEX -1,000,000 contracts.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    d.wait_until("both flipped", WAIT, |_| {
        by.exchange.position("BTCUSDT") == dec!(-0.1)
            && bm.exchange().position("XBTUSDT") == dec!(-1000000)
    });
    let by_peak = by.exchange.lock().max_abs_position.get("BTCUSDT").copied();
    let bm_peak = bm
        .exchange()
        .lock()
        .max_abs_position
        .get("XBTUSDT")
        .copied();
    assert_eq!(by_peak, Some(dec!(0.2)), "no overshoot on Bybit");
    assert_eq!(bm_peak, Some(dec!(2000000)), "no overshoot on BitMEX");
    let s = d.status().unwrap();
    assert_eq!(
        symbol(&s, "by", "BTCUSDT").unwrap()["native_symbol"],
        "BTCUSDT"
    );
    assert_eq!(
        symbol(&s, "bm", "BTCUSDT").unwrap()["native_symbol"],
        "XBTUSDT"
    );
    assert_eq!(account(&s, "by").unwrap()["state"], "ok");
    assert_eq!(account(&s, "bm").unwrap()["state"], "ok");
    assert!(by.exchange.requests().iter().all(|r| r.signature_ok));
    assert_eq!(d.stop().code(), Some(0));
}
