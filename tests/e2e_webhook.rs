//! TradingView webhooks end to end: the real daemon on the sim venue, posted to over loopback.

mod common;

use common::reqwest::blocking_post;
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const TOKEN: &str = "e2e-token-0123456789abcdef";

type Headers<'a> = Vec<(&'a str, &'a str)>;

/// A 30 s reconcile interval: anything that trades within a few seconds was started by the
/// webhook, not by the timer.
const ENGINE: &str = r#"{
  "accounts": [ { "name": "sim-a", "venue": "sim", "sim": { "seed": 7, "volatility_bps": 0 } } ],
  "sources": [ { "name": "tradingview", "kind": "tradingview", "token": "e2e-token-0123456789abcdef" } ],
  "cycle": { "reconcile_interval_secs": 30, "debounce_ms": 50 }
}"#;

const WEIGHTS: &str = r#"[
  { "symbol": "BTCUSDT", "leverage": 2, "sources": [ { "source": "tradingview", "weight": 1.0 } ] },
  { "symbol": "ETHUSDT", "leverage": 1, "sources": [ { "source": "tradingview", "weight": 0.5 } ] }
]"#;

fn config() -> tempfile::TempDir {
    config_dir(&[("engine.json", ENGINE), ("signal_weights.json", WEIGHTS)])
}

fn position(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

fn target(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["target_depth"]))
        .unwrap_or_default()
}

fn post(d: &Daemon, body: &str, headers: &[(&str, &str)]) -> (u16, String) {
    blocking_post(&d.url("/webhook/tradingview"), body, headers).expect("daemon answers")
}

fn cycle(status: &serde_json::Value) -> u64 {
    status["cycle"]["number"].as_u64().unwrap_or(0)
}

#[test]
fn a_webhook_moves_a_sim_position_within_one_cycle() {
    let cfg = config();
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let before = d.wait_until("the start-up cycle", WAIT, |s| cycle(s) >= 1);
    assert!(position(&before, "BTCUSDT").is_zero());

    let (status, body) = post(
        &d,
        r#"{"symbol": "BTCUSDT", "direction": "long", "action": "buy", "size": "25/100", "price": "60000"}"#,
        &[("X-Webhook-Token", TOKEN)],
    );
    assert_eq!(status, 200, "{body}");
    // 10,000 USD × 0.25 × leverage 2 / ~60,000 ≈ 0.083 BTC.
    // No deadline on the time it takes (benches/webhook.rs measures it); the cycle count below
    // shows it was the webhook, not the 30 s timer, that traded.
    let s = d.wait_until("the webhook's position", Duration::from_secs(60), |s| {
        position(s, "BTCUSDT") > dec!(0.08)
    });
    assert!(position(&s, "BTCUSDT") < dec!(0.09));
    // The first cycle after the webhook traded it (the timer would have waited 30 s); a fill
    // may poke one more cycle, nothing else runs.
    assert!(
        cycle(&s) <= cycle(&before) + 2,
        "cycles {} -> {}",
        cycle(&before),
        cycle(&s)
    );
    assert!(d.log_text().contains("targets changed"));
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn wrong_tokens_and_bad_payloads_change_nothing() {
    let cfg = config();
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("the start-up cycle", WAIT, |s| cycle(s) >= 1);
    let good = r#"{"symbol": "BTCUSDT", "depth": 0.5}"#;
    let wrong = "e2e-token-0123456789abcdeX";
    let in_body = format!(r#"{{"token": "{wrong}", "symbol": "BTCUSDT", "depth": 0.5}}"#);
    let oversized = format!(
        r#"{{"symbol": "BTCUSDT", "depth": 0.5, "note": "{}"}}"#,
        "x".repeat(20_000)
    );
    let cases: Vec<(&str, String, Headers, u16, &str)> = vec![
        (
            "wrong header token",
            good.into(),
            vec![("X-Webhook-Token", wrong)],
            401,
            "missing or wrong token",
        ),
        (
            "wrong body token",
            in_body,
            vec![],
            401,
            "missing or wrong token",
        ),
        (
            "no token",
            good.into(),
            vec![],
            401,
            "missing or wrong token",
        ),
        (
            "malformed JSON",
            r#"{"symbol": "BTCUSDT", "depth": }"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            400,
            "malformed JSON at line 1, column 32",
        ),
        (
            "oversized",
            oversized,
            vec![("X-Webhook-Token", TOKEN)],
            413,
            "larger than 16384 bytes",
        ),
        (
            "out of range",
            r#"{"symbol": "BTCUSDT", "depth": -1.5}"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            422,
            "depth -1.5 is outside [-1, 1]",
        ),
        (
            "contradictory",
            r#"{"symbol": "BTCUSDT", "direction": "long", "size": "-5/100"}"#.into(),
            vec![("X-Webhook-Token", TOKEN)],
            422,
            "contradictory",
        ),
    ];
    for (what, body, headers, want, message) in &cases {
        let (status, answer) = post(&d, body, headers);
        assert_eq!(status, *want, "{what}: {answer}");
        assert!(answer.contains(message), "{what}: {answer}");
    }
    // A valid marker signal after the refused ones: once the daemon has traded it, a wrongly
    // accepted signal before it would have traded too.
    let auth = [("X-Webhook-Token", TOKEN)];
    assert_eq!(
        post(&d, r#"{"symbol": "ETHUSDT", "depth": "0.2"}"#, &auth).0,
        200
    );
    let s = d.wait_until("the marker traded", Duration::from_secs(20), |s| {
        !position(s, "ETHUSDT").is_zero()
    });
    assert!(position(&s, "BTCUSDT").is_zero());
    assert!(target(&s, "BTCUSDT").is_zero());
    let signals = std::fs::read_to_string(state.path().join("signals.json")).unwrap_or_default();
    assert!(!signals.contains("\"BTCUSDT\""), "{signals}");
    // Refusals are logged, without any token.
    let log = d.log_text();
    assert!(log.contains("webhook refused: unauthorized"));
    assert!(!log.contains(TOKEN) && !log.contains(wrong));
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn a_restart_resumes_with_the_acknowledged_signals() {
    let cfg = config();
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let auth = [("X-Webhook-Token", TOKEN)];
    assert_eq!(
        post(&d, r#"{"symbol": "BTCUSDT", "direction": "long", "size": "30/100", "leverage": 3, "signal_seq": 1}"#, &auth).0,
        200
    );
    assert_eq!(
        post(&d, r#"{"symbol": "ETHUSDT", "depth": "-0.4"}"#, &auth).0,
        200
    );
    // A late delivery of an older sequence number does not override.
    let (_, late) = post(
        &d,
        r#"{"symbol": "BTCUSDT", "direction": "flat", "size": "Exit @ 1", "signal_seq": 0}"#,
        &auth,
    );
    assert!(late.contains("superseded"), "{late}");
    // BTC: weight 1 × 0.3 = 0.3 at leverage 3; ETH: 0.5 × -0.4 = -0.2.
    let s = d.wait_until("both positions", WAIT, |s| {
        position(s, "BTCUSDT") > dec!(0.1) && position(s, "ETHUSDT") < dec!(-0.5)
    });
    assert_eq!(target(&s, "BTCUSDT"), dec!(0.3));
    assert_eq!(target(&s, "ETHUSDT"), dec!(-0.2));
    let (btc, eth) = (position(&s, "BTCUSDT"), position(&s, "ETHUSDT"));
    let cid = |s: &serde_json::Value| {
        symbol(s, "sim-a", "BTCUSDT").unwrap()["last_order"]["client_order_id"].clone()
    };
    let btc_order = cid(&s);
    assert_eq!(d.stop().code(), Some(0));

    let same = |s: &serde_json::Value| {
        target(s, "BTCUSDT") == dec!(0.3) && target(s, "ETHUSDT") == dec!(-0.2)
    };
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("the same targets after a restart", WAIT, |s| {
        cycle(s) >= 1 && same(s)
    });
    assert_eq!(
        (position(&s, "BTCUSDT"), position(&s, "ETHUSDT")),
        (btc, eth)
    );
    assert_eq!(cid(&s), btc_order, "no new order after the restart");

    // Acknowledged means fsynced: kill -9 right after a 200 loses nothing.
    assert_eq!(
        post(&d, r#"{"symbol": "ETHUSDT", "depth": "-0.6"}"#, &auth).0,
        200
    );
    d.kill9();
    // And the journal alone rebuilds the book.
    std::fs::remove_file(state.path().join("signals.json")).unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("the journal's targets", WAIT, |s| {
        cycle(s) >= 1 && target(s, "BTCUSDT") == dec!(0.3) && target(s, "ETHUSDT") == dec!(-0.3)
    });
    assert!(d
        .log_text()
        .contains("signal restored from the webhook journal"));
    assert_eq!(d.stop().code(), Some(0));
}
