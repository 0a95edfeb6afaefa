//! The daemon following a loopback SN8 validator that serves the real fixture miners, dropping
//! the source's depths when the validator goes stale, and reporting a refused API key.

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn position(status: &serde_json::Value) -> Decimal {
    symbol(status, "sim-a", "BTCUSDT")
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

fn target(status: &serde_json::Value) -> Decimal {
    symbol(status, "sim-a", "BTCUSDT")
        .map(|s| dec(&s["target_depth"]))
        .unwrap_or_default()
}

/// The daemon's config: one sim account following the loopback validator with `api_key`.
fn sn8_config(validator: &validator::Validator, api_key: &str) -> tempfile::TempDir {
    let engine = format!(
        r#"{{
  "accounts": [ {{ "name": "sim-a", "venue": "sim", "sim": {{ "seed": 7, "volatility_bps": 0 }} }} ],
  "sources": [ {{ "name": "bittensor", "kind": "bittensor_sn8", "url": "{}", "credentials": "sn8",
                 "poll_secs": 1, "timeout_secs": 1, "max_staleness_secs": 3,
                 "assets": ["BTCUSD"], "leverage_limits": {{"BTCUSD": 0.5}},
                 "min_trades": 1, "min_profitable_rate": 0, "min_total_return": -1,
                 "min_all_time_returns": 0, "min_thirty_day_returns": 0,
                 "max_drawdown_threshold": -1, "max_trade_age_days": null }} ],
  "cycle": {{ "reconcile_interval_secs": 2, "debounce_ms": 50 }}
}}"#,
        validator.url()
    );
    let credentials = format!(r#"{{"sn8": {{"api_key": "{api_key}"}}}}"#);
    let cfg = config_dir(&[
        ("engine.json", &engine),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "bittensor", "weight": 1.0}]}]"#,
        ),
        (
            "asset_mapping.json",
            r#"{"bittensor": {"BTCUSD": "BTCUSDT"}}"#,
        ),
        ("credentials.json", &credentials),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = cfg.path().join("credentials.json");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    cfg
}

#[test]
fn follows_the_ranked_miners_and_goes_flat_when_stale() {
    let validator = validator::start();
    // Every gate open, BTCUSD only, 0.5 leverage = full depth. Of the three miners only CAL
    // holds an open BTC position (−0.8 → −1 after the cap) and it ranks 3rd of 3 (see
    // src/signals/sn8/tests.rs, only_open_positions_count): depth 1/6 × −1 = −0.16666667.
    let cfg = sn8_config(&validator, validator::API_KEY);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // 10,000 USD × −0.16666667 / ~60,000 ≈ −0.0278 BTC.
    let s = d.wait_until("a short from the ranked miners", WAIT, |s| {
        position(s) < dec!(-0.02)
    });
    assert_eq!(target(&s), dec!(-0.16666667));
    assert!(position(&s) > dec!(-0.03));

    validator.serve_status(503);
    d.wait_until("the stale source to go flat", WAIT, |s| {
        target(s).is_zero() && position(s).is_zero()
    });
    let log = d.log_text();
    assert!(log.contains("sn8 signals are stale"), "{log}");
    assert!(!log.contains(validator::API_KEY));

    validator.serve_status(200);
    d.wait_until("the position back", WAIT, |s| position(s) < dec!(-0.02));
    assert_eq!(d.stop().code(), Some(0));
}

fn refusals(d: &Daemon) -> u64 {
    let metrics = reqwest::blocking_get(&d.url("/metrics")).unwrap_or_default();
    metrics
        .lines()
        .find_map(|l| l.strip_prefix("trade_engine_sn8_auth_refusals_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_refused_key_is_counted_in_metrics_and_logged_at_error_once() {
    let validator = validator::start();
    let wrong_key = "sn8-e2e-revoked-key";
    let cfg = sn8_config(&validator, wrong_key);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // Every poll (1 s) is refused and counted; the ERROR is logged on the change only.
    let deadline = std::time::Instant::now() + WAIT;
    while refusals(&d) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "refusals never reached 3 in /metrics\nlog:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.log_text();
    let errors = log
        .lines()
        .filter(|l| l.contains(r#""level":"ERROR""#) && l.contains("sn8 API key refused"))
        .count();
    assert_eq!(errors, 1, "{log}");
    assert!(log.contains("(HTTP 401)"), "{log}");
    assert!(!log.contains(wrong_key));
    assert_eq!(d.stop().code(), Some(0));
}
