//! Input files that go missing while the daemon runs: a signal file (an editor's safe-save,
//! or a real deletion) and asset_mapping.json. Missing must not mean "everything at depth 0"
//! at once.

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

fn engine(grace: Option<u64>) -> String {
    let grace = grace.map_or(String::new(), |g| format!(r#", "missing_grace_secs": {g}"#));
    format!(
        r#"{{
  "accounts": [ {{ "name": "sim-a", "venue": "sim", "sim": {{ "seed": 7, "volatility_bps": 0 }} }} ],
  "sources": [ {{ "name": "manual", "kind": "file", "path": "signals/manual.json"{grace} }} ],
  "cycle": {{ "reconcile_interval_secs": 2, "debounce_ms": 50 }}
}}"#
    )
}

const SIGNALS: &str = r#"{"BTCUSDT": {"depth": 0.3}, "ETHUSDT": {"depth": -0.4}}"#;

fn position(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

fn cycle(status: &serde_json::Value) -> u64 {
    status["cycle"]["number"].as_u64().unwrap_or(0)
}

fn orders_sent(d: &Daemon) -> u64 {
    reqwest::blocking_get(&d.url("/metrics"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("trade_engine_orders_sent_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("orders_sent_total in /metrics")
}

fn count(d: &Daemon, needle: &str) -> usize {
    d.log_text().matches(needle).count()
}

/// Waits until the log holds more than `before` lines matching any of `needles`.
fn wait_for_log(d: &Daemon, needles: &[&str], before: usize, what: &str) {
    let deadline = Instant::now() + WAIT;
    while needles.iter().map(|n| count(d, n)).sum::<usize>() <= before {
        assert!(
            Instant::now() < deadline,
            "no {what} in the log:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn open_positions(d: &Daemon) -> serde_json::Value {
    d.wait_until("positions open", WAIT, |s| {
        position(s, "BTCUSDT") > dec!(0.09) && position(s, "ETHUSDT") < dec!(-0.6)
    })
}

#[test]
fn an_editors_safe_save_makes_no_order() {
    let cfg = config_dir(&[
        ("engine.json", &engine(None)),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", SIGNALS),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let opened = open_positions(&d);
    let sent = orders_sent(&d);

    // What the daemon logs when it reads the file: today's "signals updated" for the empty
    // source, or the warning that it holds the last signals.
    let noticed = ["signal file is missing", "signals updated"];
    let before = noticed.iter().map(|n| count(&d, n)).sum();
    let file = cfg.path().join("signals/manual.json");
    let saved_at = Instant::now();
    std::fs::rename(&file, cfg.path().join("signals/manual.json~")).unwrap();
    // Write back 150 ms later, but not before the daemon has seen the gap, so that a slow
    // machine cannot hide it.
    wait_for_log(&d, &noticed, before, "reaction to the missing file");
    std::thread::sleep(Duration::from_millis(150).saturating_sub(saved_at.elapsed()));
    write(cfg.path(), "signals/manual.json", SIGNALS);
    std::fs::remove_file(cfg.path().join("signals/manual.json~")).unwrap();

    // Two reconcile cycles after the file is back: anything the gap set off has happened.
    let now = cycle(&d.status().unwrap());
    let s = d.wait_until("two more cycles", WAIT, |s| cycle(s) >= now + 2);
    assert_eq!(
        orders_sent(&d),
        sent,
        "the safe-save sent orders:\n{}",
        d.log_text()
    );
    assert_eq!(position(&s, "BTCUSDT"), position(&opened, "BTCUSDT"));
    assert_eq!(position(&s, "ETHUSDT"), position(&opened, "ETHUSDT"));
    assert!(d.log_text().contains("holding the last signals"));
    assert!(d.log_text().contains("signal file is back"));
}

#[test]
fn a_file_gone_longer_than_the_grace_goes_flat() {
    let cfg = config_dir(&[
        ("engine.json", &engine(Some(1))),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", SIGNALS),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    open_positions(&d);
    std::fs::remove_file(cfg.path().join("signals/manual.json")).unwrap();
    d.wait_until("flat", WAIT, |s| {
        position(s, "BTCUSDT").is_zero() && position(s, "ETHUSDT").is_zero()
    });
    let log = d.log_text();
    let held = log
        .find("holding the last signals")
        .expect("a hold warning");
    let flat = log
        .find("still missing after the grace period")
        .expect("a flat warning");
    assert!(held < flat, "held first, then went flat");
}

#[test]
fn an_empty_object_goes_flat_at_once() {
    // A grace of an hour: going flat within the test's wait cannot be the grace running out.
    let cfg = config_dir(&[
        ("engine.json", &engine(Some(3600))),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", SIGNALS),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    open_positions(&d);
    write(cfg.path(), "signals/manual.json", "{}");
    d.wait_until("flat", WAIT, |s| {
        position(s, "BTCUSDT").is_zero() && position(s, "ETHUSDT").is_zero()
    });
    assert!(!d.log_text().contains("holding the last signals"));
}

#[test]
fn a_deleted_asset_mapping_is_refused_and_the_last_set_stays() {
    // The mapping lists BTCUSDT only, so ETHUSDT's signal counts for nothing; without the
    // mapping every symbol would pass through and ETH would open.
    let cfg = config_dir(&[
        ("engine.json", &engine(None)),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "asset_mapping.json",
            r#"{"manual": {"BTCUSDT": "BTCUSDT"}}"#,
        ),
        ("signals/manual.json", SIGNALS),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("BTC open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    let before = count(&d, "config refused") + count(&d, "config reloaded");
    std::fs::remove_file(cfg.path().join("asset_mapping.json")).unwrap();
    wait_for_log(
        &d,
        &["config refused", "config reloaded"],
        before,
        "reload outcome",
    );
    let now = cycle(&d.status().unwrap());
    let s = d.wait_until("two more cycles", WAIT, |s| cycle(s) >= now + 2);
    assert!(
        position(&s, "ETHUSDT").is_zero(),
        "ETH opened:\n{}",
        d.log_text()
    );
    assert!(d.log_text().contains("asset_mapping.json was deleted"));
}
