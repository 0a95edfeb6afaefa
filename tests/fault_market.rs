//! Market-side faults against every loopback venue: stream drops and fake, duplicated or
//! out-of-order stream events; stale prices; a position changed outside the daemon and a
//! symbol removed from the config. Every scenario ends with `Rig::check`
//! (tests/common/rig.rs).

mod common;

use common::rig::{on_every_venue, Rig, WAIT};
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Instant;

on_every_venue!(
    stream_drops_and_noisy_events_change_nothing,
    stale_prices_only_allow_reducing,
    drift_is_corrected_and_removed_symbols_closed,
);

/// Streams are only hints: dropped connections and duplicated, stale or out-of-order events
/// change nothing; REST stays the authority. The stream must really be there: logged in,
/// subscribed, and back after the drop.
fn stream_drops_and_noisy_events_change_nothing(kind: &str) {
    let mut rig = Rig::new(kind);
    rig.start();
    let q = rig.set_depth(dec!(0.3));
    rig.converge(q, "initial");
    let ex = rig.ex().clone();
    let logged_in = || {
        let s = ex.lock();
        (s.ws_logins, s.ws_subscriptions)
    };
    let deadline = Instant::now() + WAIT;
    while logged_in().0 < 1 || logged_in().1 < 1 {
        assert!(
            Instant::now() < deadline,
            "the stream never logged in and subscribed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    for _ in 0..5 {
        rig.faults += rig.venue.push_noise(common::rig::SYMBOL);
    }
    rig.venue.drop_streams();
    rig.faults += 1;
    let deadline = Instant::now() + WAIT;
    while logged_in().0 < 2 || logged_in().1 < 2 {
        assert!(
            Instant::now() < deadline,
            "the stream never came back after the drop: (logins, subscriptions) {:?}",
            logged_in()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    rig.daemon().wait_for_fresh_cycle(WAIT);
    assert_eq!(rig.position(), q, "fake stream events moved nothing");
    let q = rig.set_depth(dec!(0.6));
    rig.settle(q, "after a stream drop");
    rig.check("stream noise");
}

/// Guarantee 6: a stale mark price only allows reducing orders.
fn stale_prices_only_allow_reducing(kind: &str) {
    let mut rig = Rig::new(kind);
    rig.start();
    let q = rig.set_depth(dec!(0.5));
    rig.converge(q, "initial");
    assert!(
        rig.venue.set_price_lag(120_000),
        "{kind}: the loopback cannot serve stale prices"
    );
    rig.faults += 1;
    rig.set_depth(dec!(1));
    rig.daemon().wait_for_fresh_cycle(WAIT);
    rig.daemon().wait_for_fresh_cycle(WAIT);
    assert_eq!(rig.position(), q, "no increase on a stale price");
    let q2 = rig.set_depth(dec!(0.2));
    rig.converge(q2, "a reduction on a stale price");
    rig.venue.set_price_lag(0);
    let q3 = rig.set_depth(dec!(0.7));
    rig.settle(q3, "fresh prices again");
    rig.check("stale prices");
}

/// Guarantee 4: a position changed outside the daemon is brought back; a symbol removed from
/// the config is closed with a log line saying why.
fn drift_is_corrected_and_removed_symbols_closed(kind: &str) {
    let mut rig = Rig::new(kind);
    rig.start();
    let q = rig.set_depth(dec!(0.5));
    if !rig.venue.has_inverse() {
        // No BTCUSD to open and remove: the drift half only.
        rig.converge(q, "initial");
        rig.drift_to(q / dec!(2));
        rig.settle(q, "drift corrected");
        rig.check("drift");
        return;
    }
    write(
        rig.cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": 0.5}, "BTCUSD": {"depth": -0.5}}"#,
    );
    rig.converge(q, "initial");
    // The inverse BTCUSD: 10,000 × 0.5 = 5,000 USD = 5,000 contracts of 1 USD, short.
    let inverse = rig.venue.native("BTCUSD");
    let ex = rig.ex().clone();
    let inv = || ex.position(&inverse);
    if !ex.lock().marks.contains_key(&inverse) {
        // A venue without inverse contracts (BloFin): the drift half only.
        rig.drift_to(q / dec!(2));
        rig.settle(q, "drift corrected");
        rig.check("drift");
        return;
    }
    let deadline = Instant::now() + WAIT;
    while inv() != dec!(-5000) {
        assert!(Instant::now() < deadline, "BTCUSD never opened: {}", inv());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A manual trade (or a liquidation) halves the BTC position.
    rig.drift_to(q / dec!(2));
    rig.settle(q, "drift corrected");
    write(
        rig.cfg.path(),
        "signal_weights.json",
        r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
    );
    let deadline = Instant::now() + WAIT;
    while !inv().is_zero() {
        assert!(
            Instant::now() < deadline,
            "removed symbol never closed: {}",
            inv()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(rig
        .daemon()
        .log_text()
        .contains("symbol no longer in signal_weights.json"));
    let inverse_volume: Decimal = rig
        .ex()
        .lock()
        .fills
        .iter()
        .filter(|f| f.native == inverse)
        .map(|f| f.qty.abs())
        .sum();
    assert_eq!(
        inverse_volume,
        dec!(10000),
        "BTCUSD opened once and closed once"
    );
    rig.check("drift and removal");
}
