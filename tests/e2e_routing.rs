//! Account symbol routing (issue 9): an account with a `symbols` list trades only those; an
//! account without one trades every weighted symbol its venue lists, and a weighted symbol the
//! venue does not list is skipped with one warning and shown in `/status` as not traded.

mod common;

use common::*;
use rust_decimal::Decimal;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

const ENGINE: &str = r#"{
  "accounts": [
    { "name": "only-btc", "venue": "sim", "symbols": ["btcusdt"], "sim": { "seed": 7, "volatility_bps": 0 } },
    { "name": "all", "venue": "sim", "sim": { "seed": 7, "volatility_bps": 0 } }
  ],
  "sources": [ { "name": "manual", "kind": "file", "path": "signals/manual.json" } ],
  "cycle": { "reconcile_interval_secs": 1, "debounce_ms": 50 }
}"#;

/// ADAUSDT is weighted, but the sim venue does not list it.
const WEIGHTS: &str = r#"[
  { "symbol": "BTCUSDT", "leverage": 2, "sources": [ { "source": "manual", "weight": 0.5 } ] },
  { "symbol": "ETHUSDT", "leverage": 1, "sources": [ { "source": "manual", "weight": 0.25 } ] },
  { "symbol": "ADAUSDT", "leverage": 1, "sources": [ { "source": "manual", "weight": 0.25 } ] }
]"#;

fn position(s: &serde_json::Value, account: &str, sym: &str) -> Decimal {
    symbol(s, account, sym)
        .map(|v| dec(&v["position_qty"]))
        .unwrap_or_default()
}

fn cycle_number(s: &serde_json::Value) -> u64 {
    s["cycle"]["number"].as_u64().unwrap_or_default()
}

#[test]
fn accounts_trade_their_symbols_and_skip_what_the_venue_does_not_list() {
    let cfg = config_dir(&[
        ("engine.json", ENGINE),
        ("signal_weights.json", WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.6}, "ETHUSDT": {"depth": 0.4}, "ADAUSDT": {"depth": 0.4}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    let s = d.wait_until("both accounts at their targets", WAIT, |s| {
        position(s, "only-btc", "BTCUSDT") > Decimal::ZERO
            && position(s, "all", "BTCUSDT") > Decimal::ZERO
            && position(s, "all", "ETHUSDT") > Decimal::ZERO
            && symbol(s, "all", "ADAUSDT").is_some()
    });
    // The account with a list never touches ETH (nor ADA).
    assert!(symbol(&s, "only-btc", "ETHUSDT").is_none(), "{s}");
    assert!(symbol(&s, "only-btc", "ADAUSDT").is_none(), "{s}");
    // The venue does not list ADA: shown as not traded, not as an error of the account.
    let ada = symbol(&s, "all", "ADAUSDT").unwrap();
    let note = ada["last_error"].as_str().unwrap_or_default();
    assert!(
        note.contains("not traded") && note.contains("ADAUSDT"),
        "{ada}"
    );
    assert!(dec(&ada["position_qty"]).is_zero());
    assert_eq!(account(&s, "all").unwrap()["state"], "ok", "{s}");

    // Several more cycles (reconcile every second; cycle n has finished once n + 1 started).
    let seen = cycle_number(&s);
    let s = d.wait_until("three more cycles", WAIT, |s| cycle_number(s) >= seen + 4);
    assert!(
        symbol(&s, "all", "ADAUSDT").is_some(),
        "still shown as not traded"
    );
    let log = d.log_text();
    let warnings = log
        .lines()
        .filter(|l| l.contains("the venue does not list this symbol"))
        .count();
    assert_eq!(warnings, 1, "one warning, not one per cycle:\n{log}");
    assert!(
        !log.lines()
            .any(|l| l.contains("symbol error") && l.contains("ADAUSDT")),
        "an unlisted symbol is not a symbol error"
    );

    // Dropping BTC from the list closes what the account holds there.
    write(
        cfg.path(),
        "engine.json",
        &ENGINE.replace(r#""symbols": ["btcusdt"]"#, r#""symbols": ["ETHUSDT"]"#),
    );
    let s = d.wait_until("BTC closed and ETH opened on only-btc", WAIT, |s| {
        position(s, "only-btc", "BTCUSDT").is_zero()
            && position(s, "only-btc", "ETHUSDT") > Decimal::ZERO
    });
    assert!(position(&s, "all", "BTCUSDT") > Decimal::ZERO);
    assert_eq!(d.stop().code(), Some(0));
}
