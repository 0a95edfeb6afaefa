//! One daemon with an account on every loopback venue (`venues::ALL`: each venue joins by
//! being listed there): all converge to the same target in their own units, flip, and close.

mod common;

use common::venues::{self, Loopback};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn every_venue_converges_flips_and_closes_in_one_daemon() {
    let servers: Vec<Box<dyn Loopback>> = venues::ALL
        .iter()
        .map(|kind| venues::start(kind, dec!(10000), dec!(50000)))
        .collect();
    let accounts: Vec<serde_json::Value> = servers
        .iter()
        .map(|s| s.account(s.kind(), s.kind(), 3000))
        .collect();
    let credentials: serde_json::Map<String, serde_json::Value> = servers
        .iter()
        .map(|s| (s.kind().to_string(), s.credential(None)))
        .collect();
    let engine = serde_json::json!({
        "accounts": accounts,
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50}
    });
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        (
            "credentials.json",
            &serde_json::Value::Object(credentials).to_string(),
        ),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // 10,000 USD × 0.5 × 2 at 50,000 = 0.2 BTC; then -0.1 BTC; then flat.
    for (depth, btc) in [
        ("0.5", dec!(0.2)),
        ("-0.25", dec!(-0.1)),
        ("0", Decimal::ZERO),
    ] {
        write(
            cfg.path(),
            "signals/manual.json",
            &format!(r#"{{"BTCUSDT": {{"depth": {depth}}}}}"#),
        );
        d.wait_until(&format!("every venue at {btc} BTC"), WAIT, |_| {
            servers.iter().all(|s| {
                let native = s.native("BTCUSDT");
                s.exchange().position(&native) == btc * s.units("BTCUSDT")
            })
        });
    }
    for s in &servers {
        let peak = s
            .exchange()
            .lock()
            .fills
            .iter()
            .map(|f| f.exposure.abs())
            .max()
            .unwrap_or_default();
        assert_eq!(
            peak,
            dec!(0.2) * s.units("BTCUSDT"),
            "{}: never beyond the larger target",
            s.kind()
        );
        assert!(s.exchange().requests().iter().all(|r| r.signature_ok));
    }
    assert_eq!(d.stop().code(), Some(0));
}
