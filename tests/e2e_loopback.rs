//! The daemon end to end against every loopback venue, written once: one daemon, four
//! accounts each on its own server of the venue:
//! - `good` converges to its target in the venue's units and flips, never beyond the larger
//!   of the two targets;
//! - `bad` has a wrong secret: reported in error, and the daemon never tries to place an
//!   order there (its venue's own request log);
//! - `dry` (`dry_run`) plans and shows orders but its venue sees zero order requests;
//! - `closing` (`close_only`) starts long: it never grows, and it reduces to zero (never
//!   beyond) when the target turns short.
//!
//!
//! A second scenario checks the brakes on a real venue wire: `risk.max_symbol_notional_usd`
//! caps the target, `trade-engine halt` stops new exposure while reductions go on (and
//! `resume` lifts it), and an account with `enabled: false` closes what it holds.
//!
//! A new venue joins by adding itself to `on_every_venue!` (tests/common/rig.rs) and
//! `venues::start`.

mod common;

use common::rig::on_every_venue;
use common::venues::{self, Loopback};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(40);

on_every_venue!(
    accounts_trade_refuse_dry_run_and_close_only,
    risk_caps_kill_switch_and_disabled_accounts,
);

fn server(kind: &str) -> Box<dyn Loopback> {
    venues::start(kind, dec!(10000), dec!(50000))
}

fn accounts_trade_refuse_dry_run_and_close_only(kind: &str) {
    let (good, bad, dry, closing) = (server(kind), server(kind), server(kind), server(kind));
    let native = good.native("BTCUSDT");
    let units = good.units("BTCUSDT");
    let btc = |q: Decimal| q * units;
    closing.exchange().set_position(&native, btc(dec!(0.1)));
    let mut dry_account = dry.account("dry", "ok", 3000);
    dry_account["dry_run"] = true.into();
    let mut closing_account = closing.account("closing", "ok", 3000);
    closing_account["close_only"] = true.into();
    let engine = serde_json::json!({
        "accounts": [good.account("good", "ok", 3000), bad.account("bad", "wrong", 3000),
                     dry_account, closing_account],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50}
    });
    // The four servers share the key and secret of the venue's loopback.
    let credentials = serde_json::json!({
        "ok": good.credential(None), "wrong": good.credential(Some("not-the-secret")),
    });
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        ("credentials.json", &credentials.to_string()),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    // 10,000 USD × 0.5 × 2 = 10,000 USD at 50,000 = 0.2 BTC, in the venue's units.
    d.wait_until("good long", WAIT, |_| {
        good.exchange().position(&native) == btc(dec!(0.2))
    });
    let s = d.wait_until("status shows it, the bad account in error", WAIT, |s| {
        symbol(s, "good", "BTCUSDT").is_some_and(|r| dec(&r["position_qty"]) == btc(dec!(0.2)))
            && account(s, "bad").is_some_and(|a| a["state"] == "error")
    });
    assert_eq!(
        closing.exchange().position(&native),
        btc(dec!(0.1)),
        "close-only does not follow a larger target"
    );
    let row = symbol(&s, "good", "BTCUSDT").unwrap();
    assert_eq!(row["native_symbol"], native.as_str());
    assert_eq!(dec(&row["lot"]), btc(dec!(0.001)));

    // Flip: -0.25 → -0.1 BTC; the closing account may only reduce, to zero.
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}}"#,
    );
    d.wait_until("good short, closing flat", WAIT, |_| {
        good.exchange().position(&native) == btc(dec!(-0.1))
            && closing.exchange().position(&native).is_zero()
    });
    d.wait_for_fresh_cycle(WAIT);
    d.wait_for_fresh_cycle(WAIT);

    let peak = |l: &dyn Loopback| {
        l.exchange()
            .lock()
            .fills
            .iter()
            .map(|f| f.exposure.abs())
            .max()
            .unwrap_or_default()
    };
    assert_eq!(
        peak(good.as_ref()),
        btc(dec!(0.2)),
        "never beyond the larger target"
    );
    assert!(good.exchange().requests().iter().all(|r| r.signature_ok));
    let placements = |l: &dyn Loopback| {
        l.exchange()
            .requests()
            .into_iter()
            .filter(|r| r.placement.is_some())
            .count()
    };
    assert_eq!(
        placements(bad.as_ref()),
        0,
        "no order attempted with a refused key"
    );
    assert_eq!(placements(dry.as_ref()), 0, "a dry run sends no order");
    let s = d.status().unwrap();
    assert!(
        symbol(&s, "dry", "BTCUSDT").is_some_and(|r| !r["last_order"].is_null()),
        "the dry run shows what it would have sent: {s}"
    );
    assert!(
        peak(closing.as_ref()) <= btc(dec!(0.1)),
        "close-only never grows"
    );
    assert_eq!(closing.exchange().position(&native), Decimal::ZERO);
    assert_eq!(account(&s, "good").unwrap()["state"], "ok");
    assert_eq!(d.stop().code(), Some(0));
}

fn control(cfg: &std::path::Path, state: &std::path::Path, command: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_trade-engine"))
        .arg(command)
        .arg("--config-dir")
        .arg(cfg)
        .arg("--state-dir")
        .arg(state)
        .output()
        .expect("run trade-engine");
    assert!(
        out.status.success(),
        "{command}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn risk_caps_kill_switch_and_disabled_accounts(kind: &str) {
    let (capped, off) = (server(kind), server(kind));
    let native = capped.native("BTCUSDT");
    let btc = |q: Decimal| q * capped.units("BTCUSDT");
    off.exchange().set_position(&native, btc(dec!(0.1)));
    let mut off_account = off.account("off", "ok", 3000);
    off_account["enabled"] = false.into();
    let engine = serde_json::json!({
        "accounts": [capped.account("capped", "ok", 3000), off_account],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50},
        "risk": {"max_symbol_notional_usd": 4000}
    });
    let credentials = serde_json::json!({"ok": capped.credential(None)});
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        ("credentials.json", &credentials.to_string()),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        ("signals/manual.json", r#"{"BTCUSDT": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());

    // Uncapped: 10,000 × 0.5 × 2 = 10,000 USD (0.2 BTC); the cap holds it at 4,000 (0.08 BTC).
    d.wait_until("capped long, disabled account flat", WAIT, |_| {
        capped.exchange().position(&native) == btc(dec!(0.08))
            && off.exchange().position(&native).is_zero()
    });
    d.wait_for_fresh_cycle(WAIT);
    assert_eq!(capped.exchange().position(&native), btc(dec!(0.08)));
    assert!(
        off.exchange().position(&native).is_zero(),
        "a disabled account never reopens"
    );

    // The brake: no new exposure while engaged, whatever the signals say...
    control(cfg.path(), state.path(), "halt");
    d.wait_until("halted", WAIT, |s| {
        account(s, "capped").is_some_and(|a| a["state"] == "halted")
    });
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.5}}"#,
    );
    // ...but reductions go on: short -0.08 is reached only through zero, and zero is as far
    // as a halted account may go.
    d.wait_until("reduced to zero under the brake", WAIT, |_| {
        capped.exchange().position(&native).is_zero()
    });
    d.wait_for_fresh_cycle(WAIT);
    d.wait_for_fresh_cycle(WAIT);
    assert!(
        capped.exchange().position(&native).is_zero(),
        "no new exposure while halted"
    );

    control(cfg.path(), state.path(), "resume");
    d.wait_until("short after resume", WAIT, |_| {
        capped.exchange().position(&native) == btc(dec!(-0.08))
    });
    assert!(off.exchange().position(&native).is_zero());
    assert_eq!(d.stop().code(), Some(0));
}
