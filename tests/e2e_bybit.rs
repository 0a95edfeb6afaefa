//! The daemon binary end to end on Bybit: two accounts pointed (`rest_url`, `ws_url`) at
//! loopback v5 servers. The good one converges to its targets and flips; the one with a bad
//! secret is reported in error, naming account and venue, and backs off, while the good one
//! keeps trading.

mod common;

use common::exchange::MockExchange;
use common::venues::bybit::{BybitServer, KEY, SECRET};
use common::*;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn server() -> BybitServer {
    BybitServer::start(MockExchange::new(
        dec!(10000),
        &[("BTCUSDT", dec!(60000)), ("ETHUSDT", dec!(3000))],
    ))
}

fn engine(good: &BybitServer, bad: &BybitServer) -> String {
    serde_json::json!({
        "accounts": [
            {"name": "bybit-good", "venue": "bybit", "credentials": "bybit_good",
             "rest_url": good.rest_url, "ws_url": good.ws_url, "timeout_ms": 3000},
            {"name": "bybit-bad", "venue": "bybit", "credentials": "bybit_bad",
             "rest_url": bad.rest_url, "ws_url": bad.ws_url, "timeout_ms": 3000},
        ],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 2, "debounce_ms": 50},
    })
    .to_string()
}

fn credentials() -> String {
    serde_json::json!({
        "bybit_good": {"api_key": KEY, "api_secret": SECRET},
        "bybit_bad": {"api_key": KEY, "api_secret": "not-the-secret"},
    })
    .to_string()
}

fn wallet_reads(s: &BybitServer) -> usize {
    s.exchange
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/v5/account/wallet-balance"))
        .count()
}

#[test]
fn converges_flips_and_isolates_a_bad_credential() {
    let good = server();
    let bad = server();
    let cfg = config_dir(&[
        ("engine.json", &engine(&good, &bad)),
        ("credentials.json", &credentials()),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.4}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    // 10,000 USD: BTC 0.5 × 2 = 10,000 USD at 60,000 -> 0.166; ETH 0.5 × -0.4 = -2,000 USD
    // at 3,000 -> -0.66 (qtyStep 0.01).
    d.wait_until("positions open at the venue", WAIT, |_| {
        good.exchange.position("BTCUSDT") == dec!(0.166)
            && good.exchange.position("ETHUSDT") == dec!(-0.66)
    });
    let s = d.wait_until("status shows them", WAIT, |s| {
        symbol(s, "bybit-good", "BTCUSDT").is_some_and(|b| dec(&b["position_qty"]) == dec!(0.166))
    });
    let btc = symbol(&s, "bybit-good", "BTCUSDT").unwrap();
    assert_eq!(btc["native_symbol"], "BTCUSDT");
    assert_eq!(btc["lot"], "0.001");
    assert_eq!(account(&s, "bybit-good").unwrap()["state"], "ok");

    // The bad credential: one clear error naming account and venue, the account in error.
    let s = d.wait_until("bad account in error", WAIT, |s| {
        account(s, "bybit-bad").is_some_and(|a| a["state"] == "error")
    });
    let error = account(&s, "bybit-bad").unwrap()["last_error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        error.contains("bybit account \"bybit-bad\"") && error.contains("10004"),
        "{error}"
    );
    // Every request of the bad account is refused for its signature, so no order can exist
    // there; what must hold is that the daemon never even tried to place one.
    let attempts: Vec<_> = bad
        .exchange
        .requests()
        .into_iter()
        .filter(|r| r.placement.is_some())
        .collect();
    assert!(
        attempts.is_empty(),
        "no order attempted on the refused account: {attempts:?}"
    );

    // The good account keeps trading: flip BTC short (-5,000 USD -> -0.083) and close ETH.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    d.wait_until("flipped and closed at the venue", WAIT, |_| {
        good.exchange.position("BTCUSDT") == dec!(-0.083)
            && good.exchange.position("ETHUSDT").is_zero()
    });
    let peak = good
        .exchange
        .lock()
        .max_abs_position
        .get("BTCUSDT")
        .copied();
    assert_eq!(peak, Some(dec!(0.166)), "no overshoot through the flip");
    let requests = good.exchange.requests();
    assert!(
        requests.iter().all(|r| r.signature_ok),
        "every request signed correctly"
    );
    let creates: Vec<_> = requests.iter().flat_map(order_bodies).collect();
    assert!(
        creates
            .iter()
            .any(|b| b
                .contains(r#""side":"Sell","orderType":"Market","qty":"0.166","reduceOnly":true"#)),
        "the flip closes with reduce-only first: {creates:#?}"
    );
    assert!(
        creates
            .iter()
            .any(|b| b
                .contains(r#""side":"Buy","orderType":"Market","qty":"0.66","reduceOnly":true"#)),
        "ETH closed reduce-only: {creates:#?}"
    );

    // ...and backing off rather than retrying every cycle.
    let reads_then = wallet_reads(&bad);
    // Four cycles (every 2 s) while the bad account waits 5 s, then 10 s, between attempts.
    for _ in 0..4 {
        d.wait_for_fresh_cycle(WAIT);
    }
    let retried = wallet_reads(&bad) - reads_then;
    assert!(
        retried <= 2,
        "{retried} retries in four cycles: the bad account is not backing off"
    );
    assert!(d.log_text().contains("credentials refused by the venue"));
    assert_eq!(d.stop().code(), Some(0));
}

/// Order creations the server saw for `native` (from its own request log).
/// The order bodies of a request: a single create's, or each item of a batch.
fn order_bodies(r: &common::exchange::Recorded) -> Vec<String> {
    match r.path_and_query.as_str() {
        "/v5/order/create" => vec![r.body.clone()],
        "/v5/order/create-batch" => serde_json::from_str::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|b| b["request"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|item| item.to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn creates_for(s: &BybitServer, native: &str) -> usize {
    s.exchange
        .requests()
        .iter()
        .flat_map(order_bodies)
        .filter(|body| {
            serde_json::from_str::<serde_json::Value>(body).is_ok_and(|b| b["symbol"] == native)
        })
        .count()
}

fn cycle_number(s: &serde_json::Value) -> u64 {
    s["cycle"]["number"].as_u64().unwrap_or_default()
}

/// Issue 8, item 14: an opening order Bybit refuses with 110007 (margin used up) is sent
/// once, not again at every reconcile nor at every cycle another symbol's change starts; the
/// symbol's own target change sends it again.
#[test]
fn a_margin_refusal_is_sent_once_not_every_cycle() {
    let server = server();
    server
        .extra
        .lock()
        .unwrap()
        .no_margin_for
        .insert("BTCUSDT".into());
    let engine = serde_json::json!({
        "accounts": [{"name": "bybit-good", "venue": "bybit", "credentials": "bybit_good",
             "rest_url": server.rest_url, "ws_url": server.ws_url, "timeout_ms": 3000}],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50},
    })
    .to_string();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("credentials.json", &credentials()),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    let s = d.wait_until("BTC held after the refusal", WAIT, |s| {
        symbol(s, "bybit-good", "BTCUSDT").is_some_and(|b| !b["cooldown"].is_null())
    });
    let cooldown = symbol(&s, "bybit-good", "BTCUSDT").unwrap()["cooldown"].clone();
    assert_eq!(cooldown["kind"], "insufficient_margin", "{cooldown}");
    let reason = cooldown["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("110007") && reason.contains("ab not enough for new order"),
        "{reason}"
    );
    let refused_in = cycle_number(&s);

    // Four ETH target changes, each opening more ETH (no reduction frees margin); each one is
    // seen through at the venue, so a cycle ran after it.
    for (depth, qty) in [
        ("-0.2", dec!(-0.33)),
        ("-0.4", dec!(-0.66)),
        ("-0.6", dec!(-1)),
        ("-0.8", dec!(-1.33)),
    ] {
        write(
            cfg.path(),
            "signals/manual.json",
            &format!(r#"{{"BTCUSDT": {{"depth": 0.5}}, "ETHUSDT": {{"depth": {depth}}}}}"#),
        );
        d.wait_until("ETH follows its target", WAIT, |_| {
            server.exchange.position("ETHUSDT") == qty
        });
    }
    // ...and reconciles (every second): cycle n has finished once n + 1 has started.
    d.wait_until("three more cycles", WAIT, |s| {
        cycle_number(s) >= refused_in + 4 + 3
    });
    assert_eq!(
        creates_for(&server, "BTCUSDT"),
        1,
        "the refused BTC order went out again\n{}",
        d.log_text()
    );
    assert!(server.exchange.position("BTCUSDT").is_zero());

    // Margin is back and BTC's own target changes: its order goes out again, and fills.
    server.extra.lock().unwrap().no_margin_for.clear();
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.4}, "ETHUSDT": {"depth": -0.8}}"#,
    );
    // 10,000 USD × 0.4 × leverage 2 / 60,000 = 0.133.
    d.wait_until("BTC opened after its target changed", WAIT, |_| {
        server.exchange.position("BTCUSDT") == dec!(0.133)
    });
    assert_eq!(creates_for(&server, "BTCUSDT"), 2);
    let s = d.wait_until("cooldown gone from status", WAIT, |s| {
        symbol(s, "bybit-good", "BTCUSDT").is_some_and(|b| b["cooldown"].is_null())
    });
    assert_eq!(account(&s, "bybit-good").unwrap()["state"], "ok");
    assert_eq!(d.stop().code(), Some(0));
}

/// Issue 9: a venue that takes no new orders (Bybit 10027 "Transactions are banned") moves
/// the account to close-only — shown in `/status` with the venue's reason, reductions still go
/// out — and back to normal once the venue accepts orders again.
#[test]
fn trading_disabled_moves_the_account_to_close_only_and_back() {
    let server = server();
    server.exchange.set_position("ETHUSDT", dec!(-1));
    server.extra.lock().unwrap().trading_disabled = true;
    let engine = serde_json::json!({
        "accounts": [{"name": "bybit-good", "venue": "bybit", "credentials": "bybit_good",
             "rest_url": server.rest_url, "ws_url": server.ws_url, "timeout_ms": 3000}],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50},
        "risk": {"close_only_retry_secs": 1},
    })
    .to_string();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("credentials.json", &credentials()),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": 0}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    let s = d.wait_until("close-only with the ETH short closed", WAIT, |s| {
        account(s, "bybit-good").is_some_and(|a| a["state"] == "close_only")
            && server.exchange.position("ETHUSDT").is_zero()
    });
    let reason = account(&s, "bybit-good").unwrap()["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("10027") && reason.contains("refuses new orders"),
        "{reason}"
    );
    assert!(server.exchange.position("BTCUSDT").is_zero());
    assert!(
        creates_for(&server, "BTCUSDT") >= 1,
        "the opening order was tried"
    );

    // The venue takes orders again: the next attempt after the back-off opens BTC.
    server.extra.lock().unwrap().trading_disabled = false;
    d.wait_until("BTC opened once the venue accepts again", WAIT, |_| {
        server.exchange.position("BTCUSDT") > dec!(0)
    });
    let s = d.wait_until("account back to ok", WAIT, |s| {
        account(s, "bybit-good").is_some_and(|a| a["state"] == "ok")
    });
    assert!(account(&s, "bybit-good").unwrap()["reason"].is_null());
    assert_eq!(d.stop().code(), Some(0));
}

/// Guarantee 5's quarantine: a key the venue refuses three times in a row is left alone for an
/// hour (no request at all, so a dead key cannot get the IP banned), and fixing
/// credentials.json lifts it at once: the account trades without a restart.
#[test]
fn refused_credentials_are_quarantined_until_fixed() {
    let bad = server();
    let engine = serde_json::json!({
        "accounts": [
            {"name": "bybit-bad", "venue": "bybit", "credentials": "bybit_bad",
             "rest_url": bad.rest_url, "ws_url": bad.ws_url, "timeout_ms": 3000},
        ],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50},
    })
    .to_string();
    let cfg = config_dir(&[
        ("engine.json", &engine),
        (
            "credentials.json",
            &serde_json::json!({"bybit_bad": {"api_key": KEY, "api_secret": "not-the-secret"}})
                .to_string(),
        ),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // Refused at start, after 5 s and after 10 s more: then quarantined.
    d.wait_until("quarantined", Duration::from_secs(60), |_| {
        d.log_text().contains("credentials quarantined")
    });
    let reads_then = wallet_reads(&bad);
    for _ in 0..3 {
        d.wait_for_fresh_cycle(WAIT);
    }
    assert_eq!(
        wallet_reads(&bad),
        reads_then,
        "a quarantined key sent requests"
    );
    let s = d.status().unwrap();
    assert_eq!(account(&s, "bybit-bad").unwrap()["state"], "error");
    assert!(bad
        .exchange
        .requests()
        .iter()
        .all(|r| r.placement.is_none()));

    write(
        cfg.path(),
        "credentials.json",
        &serde_json::json!({"bybit_bad": {"api_key": KEY, "api_secret": SECRET}}).to_string(),
    );
    d.wait_until("trading after the fix", WAIT, |_| {
        bad.exchange.position("BTCUSDT") == dec!(0.166)
    });
    assert_eq!(d.stop().code(), Some(0));
}
