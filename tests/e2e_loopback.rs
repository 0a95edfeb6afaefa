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

on_every_venue!(accounts_trade_refuse_dry_run_and_close_only);

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
