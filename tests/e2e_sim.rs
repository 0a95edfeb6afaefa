//! The daemon end to end on the sim venue: signals in, positions out, restarts, reloads.

mod common;

use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn position(status: &serde_json::Value, sym: &str) -> Decimal {
    symbol(status, "sim-a", sym)
        .map(|s| dec(&s["position_qty"]))
        .unwrap_or_default()
}

#[test]
fn trades_to_target_flips_and_closes() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("asset_mapping.json", "{}"),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": -0.4}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // Account 10,000 USD; BTC 0.5 × 2 = 10,000 USD at ~60,000 -> ~0.166; ETH 0.5×-0.4 = -2,000 USD at ~3,000.
    let s = d.wait_until("positions open", WAIT, |s| {
        position(s, "BTCUSDT") > dec!(0.15) && position(s, "ETHUSDT") < dec!(-0.6)
    });
    let btc = symbol(&s, "sim-a", "BTCUSDT").unwrap();
    assert_eq!(btc["native_symbol"], "BTCUSDT");
    assert_eq!(btc["lot"], "0.001");
    assert_eq!(btc["last_order"]["status"], "filled");
    assert_eq!(
        btc["last_order"]["client_order_id"].as_str().unwrap().len(),
        32
    );
    assert_eq!(account(&s, "sim-a").unwrap()["state"], "ok");

    // Flip BTC short and close ETH.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    let s = d.wait_until("flip and close", WAIT, |s| {
        position(s, "BTCUSDT") < dec!(-0.07) && position(s, "ETHUSDT").is_zero()
    });
    let btc = position(&s, "BTCUSDT");
    assert!(btc > dec!(-0.09), "flip overshoot: {btc}");
    assert!(s["cycle"]["number"].as_u64().unwrap() >= 2);
    assert_eq!(d.stop().code(), Some(0));
}

#[test]
fn restart_resumes_same_targets_without_new_orders() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    let before = position(&s, "BTCUSDT");
    let cid = symbol(&s, "sim-a", "BTCUSDT").unwrap()["last_order"]["client_order_id"].clone();
    assert_eq!(d.stop().code(), Some(0));

    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("a reconcile cycle after restart", WAIT, |s| {
        // A cycle of this process finished: /status no longer shows only the cached state.
        s["cycle"]["last_completed"].as_u64().unwrap_or(0) >= 1
            && symbol(s, "sim-a", "BTCUSDT").is_some()
    });
    assert_eq!(
        position(&s, "BTCUSDT"),
        before,
        "the sim position survives the restart"
    );
    assert_eq!(
        symbol(&s, "sim-a", "BTCUSDT").unwrap()["last_order"]["client_order_id"],
        cid,
        "no new order after restart"
    );
}

#[test]
fn bad_config_edit_is_refused_and_good_one_applies() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.2}, "ETHUSDT": {"depth": 0.2}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "ETHUSDT") > Decimal::ZERO);

    // Weights summing above 1 are refused; the old set stays in force.
    write(
        cfg.path(),
        "signal_weights.json",
        r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 0.7}, {"source": "x", "weight": 0.5}]}]"#,
    );
    let deadline = std::time::Instant::now() + WAIT;
    while !d.log_text().contains("config refused") {
        assert!(
            std::time::Instant::now() < deadline,
            "no refusal logged:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.log_text().contains("sum to 1.2 > 1"));
    let s = d.status().unwrap();
    assert!(
        position(&s, "ETHUSDT") > Decimal::ZERO,
        "ETH kept under the last good config"
    );

    // A valid edit removing ETHUSDT applies, and the removed symbol is closed.
    write(
        cfg.path(),
        "signal_weights.json",
        r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 1}]}]"#,
    );
    d.wait_until("removed symbol closed", WAIT, |s| {
        position(s, "ETHUSDT").is_zero() || symbol(s, "sim-a", "ETHUSDT").is_none()
    });
    assert!(d.log_text().contains("config reloaded"));
    assert!(d
        .log_text()
        .contains("symbol no longer in signal_weights.json"));
}

#[test]
fn dry_run_plans_without_sending() {
    let engine = SIM_ENGINE.replace(r#""venue": "sim","#, r#""venue": "sim", "dry_run": true,"#);
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("dry-run order planned", WAIT, |s| {
        symbol(s, "sim-a", "BTCUSDT").is_some_and(|b| b["last_order"]["status"] == "dry_run")
    });
    assert!(position(&s, "BTCUSDT").is_zero());
    assert!(d.log_text().contains("dry run: order planned, not sent"));
}

#[test]
fn kill_switch_blocks_new_exposure_but_allows_reduction() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > dec!(0.09));
    let open = position(&s, "BTCUSDT");
    std::fs::write(state.path().join("KILL"), "").unwrap();
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.6}, "ETHUSDT": {"depth": 0.5}}"#,
    );
    // Two cycles that started after the change have finished: anything it set off has run.
    d.wait_for_fresh_cycle(WAIT);
    d.wait_for_fresh_cycle(WAIT);
    let s = d.status().unwrap();
    assert_eq!(
        position(&s, "BTCUSDT"),
        open,
        "no increase under the kill switch"
    );
    assert!(position(&s, "ETHUSDT").is_zero());
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.1}}"#,
    );
    d.wait_until("reduction allowed", WAIT, |s| {
        position(s, "BTCUSDT") < open && position(s, "BTCUSDT") > Decimal::ZERO
    });
}

fn cli(cfg: &std::path::Path, state: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .args(args)
        .arg("--config-dir")
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .output()
        .expect("run cli");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn halt_flatten_and_resume() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.3}, "ETHUSDT": {"depth": -0.5}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| {
        position(s, "BTCUSDT") > Decimal::ZERO && position(s, "ETHUSDT") < Decimal::ZERO
    });

    let (ok, text) = cli(cfg.path(), state.path(), &["flatten", "--account", "sim-a"]);
    assert!(ok, "{text}");
    assert!(
        state.path().join("KILL").exists(),
        "flatten engages the kill switch"
    );
    // The daemon sees flat positions and, under the kill switch, does not reopen them.
    d.wait_until("flat", WAIT, |s| {
        position(s, "BTCUSDT").is_zero() && position(s, "ETHUSDT").is_zero()
    });
    // Two cycles that started after the change have finished: anything it set off has run.
    d.wait_for_fresh_cycle(WAIT);
    d.wait_for_fresh_cycle(WAIT);
    let s = d.status().unwrap();
    assert!(
        position(&s, "BTCUSDT").is_zero() && position(&s, "ETHUSDT").is_zero(),
        "stays flat while halted"
    );

    let (ok, text) = cli(cfg.path(), state.path(), &["resume"]);
    assert!(ok, "{text}");
    d.wait_until("reopened after resume", WAIT, |s| {
        position(s, "BTCUSDT") > Decimal::ZERO
    });

    let (ok, _) = cli(cfg.path(), state.path(), &["halt"]);
    assert!(ok);
    assert!(state.path().join("KILL").exists());
    let (ok, text) = cli(cfg.path(), state.path(), &["flatten", "--account", "nope"]);
    assert!(!ok);
    assert!(text.contains("no account named \"nope\""), "{text}");
}

#[test]
fn sighup_reloads_config() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.2}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let s = d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    let before = position(&s, "BTCUSDT");
    // The watcher may see this write too; the SIGHUP must be handled either way.
    std::fs::write(
        cfg.path().join("signal_weights.json"),
        r#"[{"symbol": "BTCUSDT", "leverage": 4, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
    )
    .unwrap();
    d.signal(1);
    let s = d.wait_until("leverage doubled", WAIT, |s| {
        position(s, "BTCUSDT") > before * dec!(1.9)
    });
    assert!(position(&s, "BTCUSDT") < before * dec!(2.1));
    assert!(d.log_text().contains("config reloaded"));
    assert!(
        d.log_text().contains("SIGHUP: reloading config"),
        "the signal was handled"
    );
}

#[test]
fn targets_command_prints_without_trading() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    // Run once so the signal book exists, then stop.
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    let journal_before = std::fs::read_to_string(state.path().join("journal/sim-a.json")).unwrap();
    assert_eq!(d.stop().code(), Some(0));

    let (ok, text) = cli(cfg.path(), state.path(), &["targets", "--json"]);
    assert!(ok, "{text}");
    let rows: serde_json::Value = serde_json::from_str(&text).expect("json");
    let btc = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["symbol"] == "BTCUSDT")
        .unwrap();
    assert_eq!(btc["account"], "sim-a");
    assert_eq!(btc["target_depth"], "0.5");
    assert_eq!(btc["leverage"], "2");
    let qty = dec(&btc["target_qty"]);
    assert!(qty > dec!(0.15) && qty < dec!(0.17), "{qty}");
    let (ok, table) = cli(cfg.path(), state.path(), &["targets"]);
    assert!(ok);
    assert!(table.contains("ACCOUNT") && table.contains("BTCUSDT"));
    let journal_after = std::fs::read_to_string(state.path().join("journal/sim-a.json")).unwrap();
    assert_eq!(journal_before, journal_after, "targets sends no order");
}

#[test]
fn logs_are_json_lines_with_order_context() {
    let cfg = config_dir(&[
        ("engine.json", SIM_ENGINE),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.3}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    d.wait_until("open", WAIT, |s| position(s, "BTCUSDT") > Decimal::ZERO);
    let log = d.log_text();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    let orders: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["message"] == "sending order")
        .collect();
    assert!(!orders.is_empty(), "{log}");
    for o in orders {
        assert_eq!(o["account"], "sim-a");
        assert_eq!(o["venue"], "sim");
        assert_eq!(o["symbol"], "BTCUSDT");
        assert!(o["cycle"].as_u64().is_some(), "{o}");
        assert_eq!(o["client_order_id"].as_str().unwrap().len(), 32);
        let spans = o["spans"].as_array().expect("span list");
        assert!(
            spans
                .iter()
                .any(|s| s["name"] == "cycle" && s["cycle"].as_u64().is_some()),
            "{o}"
        );
    }
}

#[test]
fn risk_caps_limit_notional_per_symbol_and_account() {
    let engine = SIM_ENGINE.replace(
        r#""cycle": {"#,
        r#""risk": { "max_symbol_notional_usd": 1200, "max_account_notional_usd": 1500 }, "cycle": {"#,
    );
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "ETHUSDT": {"depth": 0.6}}"#,
        ),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // Uncapped: BTC 10,000 USD, ETH 3,000 USD. Per symbol: 1,200 and 1,200. Per account: the
    // 2,400 total is scaled to 1,500, i.e. 750 each: BTC 0.0125 -> 0.012, ETH 0.25.
    let s = d.wait_until("capped positions", WAIT, |s| {
        position(s, "BTCUSDT") > Decimal::ZERO && position(s, "ETHUSDT") > Decimal::ZERO
    });
    let btc = position(&s, "BTCUSDT");
    let eth = position(&s, "ETHUSDT");
    assert_eq!(btc, dec!(0.012), "{btc}");
    assert_eq!(eth, dec!(0.25), "{eth}");
}

/// Issue 8, item 14, on the sim: an order beyond the account's margin is refused by the sim,
/// shown in `/status` with the reason, and not sent again at the following cycles.
#[test]
fn an_order_beyond_the_margin_is_refused_once_and_shown() {
    let engine = SIM_ENGINE.replace(
        r#""reconcile_interval_secs": 2"#,
        r#""reconcile_interval_secs": 1"#,
    );
    let cfg = config_dir(&[
        ("engine.json", &engine),
        ("signal_weights.json", SIM_WEIGHTS),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.7}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    // 10,000 USD × 0.7 × leverage 2 = 14,000 USD of BTC: 7,000 USD of margin.
    d.wait_until("BTC open", WAIT, |s| position(s, "BTCUSDT") == dec!(0.233));
    // ETH 0.5 × 0.8 = 4,000 USD at leverage 1 would take the margin to 11,000 USD.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.7}, "ETHUSDT": {"depth": 0.8}}"#,
    );
    let s = d.wait_until("ETH held after the refusal", WAIT, |s| {
        symbol(s, "sim-a", "ETHUSDT").is_some_and(|e| !e["cooldown"].is_null())
    });
    let eth = symbol(&s, "sim-a", "ETHUSDT").unwrap().clone();
    assert_eq!(eth["cooldown"]["kind"], "insufficient_margin", "{eth}");
    assert!(
        eth["cooldown"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("insufficient margin")),
        "{eth}"
    );
    assert_eq!(eth["last_order"]["status"], "rejected");
    let refused = eth["last_order"]["client_order_id"].clone();
    let n = s["cycle"]["number"].as_u64().unwrap_or_default();
    let s = d.wait_until("two more cycles finished", WAIT, |s| {
        s["cycle"]["number"].as_u64().unwrap_or_default() >= n + 3
    });
    let eth = symbol(&s, "sim-a", "ETHUSDT").unwrap();
    assert_eq!(
        eth["last_order"]["client_order_id"], refused,
        "no new ETH order was sent: {eth}"
    );
    assert!(!eth["cooldown"].is_null());

    // A target that fits (2,500 USD) is a change of ETH's own target: it goes out.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.7}, "ETHUSDT": {"depth": 0.5}}"#,
    );
    let s = d.wait_until("ETH open", WAIT, |s| position(s, "ETHUSDT") == dec!(0.83));
    assert!(symbol(&s, "sim-a", "ETHUSDT").unwrap()["cooldown"].is_null());
    assert_eq!(d.stop().code(), Some(0));
}
