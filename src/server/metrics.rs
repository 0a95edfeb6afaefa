//! `/metrics`: the daemon's counters plus gauges read at scrape time from the same sources as
//! `/status` (so the two never disagree), in the OpenMetrics text format Prometheus scrapes.

use super::status::build_status;
use crate::execution::metrics::{drift_lots, Labels};
use crate::execution::EngineHandles;
use crate::state::cache::AccountHealth;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use std::sync::atomic::AtomicU64;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type FloatGauge = Gauge<f64, AtomicU64>;

const STATES: [AccountHealth; 5] = [
    AccountHealth::Ok,
    AccountHealth::Reducing,
    AccountHealth::Halted,
    AccountHealth::Error,
    AccountHealth::CloseOnly,
];

/// Exposition only: the float is what the format carries; nothing computes with it.
fn float(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn gauge_family() -> Family<Labels, FloatGauge> {
    Family::default()
}

pub fn render(handles: &EngineHandles) -> String {
    let status = build_status(handles);
    let config = handles.config.borrow().clone();
    let mut r = Registry::with_prefix("trade_engine");
    handles.metrics.register(&mut r);
    crate::venue::http::metrics::venue_metrics().register(&mut r);

    r.register(
        "build",
        "The running build.",
        Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
    );
    let kill = FloatGauge::default();
    let engaged = handles
        .conditions
        .read()
        .map(|c| c.kill_switch.is_some())
        .unwrap_or(false);
    kill.set(if engaged { 1.0 } else { 0.0 });
    r.register(
        "kill_switch_engaged",
        "1 while a kill switch file is present (no new exposure, reductions continue).",
        kill,
    );

    let last_cycle = FloatGauge::default();
    if let Some(t) = status.cycle.last_started {
        last_cycle.set(t.timestamp_millis() as f64 / 1000.0);
    }
    r.register_with_unit(
        "last_cycle_timestamp",
        "Start of the last cycle, Unix time (0 before the first).",
        Unit::Seconds,
        last_cycle,
    );
    let interval = FloatGauge::default();
    interval.set(config.engine.cycle.reconcile_interval_secs.max(1) as f64);
    r.register_with_unit(
        "reconcile_interval",
        "The configured longest time between cycles (cycle.reconcile_interval_secs).",
        Unit::Seconds,
        interval,
    );

    let state = gauge_family();
    let value = gauge_family();
    let position = gauge_family();
    let target = gauge_family();
    let drift = gauge_family();
    let drift_cycles = gauge_family();
    for a in &status.accounts {
        for s in STATES {
            state
                .get_or_create(&vec![
                    ("account", a.name.clone()),
                    ("venue", a.venue.clone()),
                    ("state", s.to_string()),
                ])
                .set(if a.state == s { 1.0 } else { 0.0 });
        }
        if let Some(v) = a.account_value {
            value
                .get_or_create(&vec![
                    ("account", a.name.clone()),
                    ("venue", a.venue.clone()),
                ])
                .set(float(v));
        }
        for s in &a.symbols {
            let labels = vec![("account", a.name.clone()), ("symbol", s.symbol.clone())];
            position.get_or_create(&labels).set(float(s.position_qty));
            target.get_or_create(&labels).set(float(s.target_qty));
            drift.get_or_create(&labels).set(float(drift_lots(
                s.target_qty,
                s.position_qty,
                s.lot,
            )));
            drift_cycles
                .get_or_create(&labels)
                .set(handles.metrics.drift_cycles(&a.name, &s.symbol) as f64);
        }
    }
    r.register(
        "account_state",
        "1 for the state each account is in (ok, reducing, halted, error, close_only), 0 for the others.",
        state,
    );
    r.register(
        "account_value",
        "Account value as the venue reports it, in the account's settlement currency.",
        value,
    );
    r.register(
        "position",
        "Position per account and symbol, in venue units (negative is short).",
        position,
    );
    r.register(
        "target",
        "Target position per account and symbol, in venue units.",
        target,
    );
    r.register(
        "drift_lots",
        "Whole lots between target and position.",
        drift,
    );
    r.register(
        "drift_cycles",
        "Consecutive cycles that ended at least one lot away from target.",
        drift_cycles,
    );

    let age = gauge_family();
    if let Some(book) = handles.metrics.signal_book() {
        let now = chrono::Utc::now();
        for source in &config.engine.sources {
            if let Some(secs) = book.freshness(&source.name).age_secs(now) {
                age.get_or_create(&vec![
                    ("source", source.name.clone()),
                    ("kind", source.kind.clone()),
                ])
                .set(secs);
            }
        }
    }
    r.register_with_unit(
        "signal_age",
        "Time since a source's newest signal changed (absent while a source holds none).",
        Unit::Seconds,
        age,
    );

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}
