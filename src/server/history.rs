//! Target vs position per account and symbol over the last hours, for the status page's chart.
//! Kept in memory only (a restart starts a new chart) and bounded both in age and in points,
//! so a long-running daemon or a short cycle interval cannot grow it without limit.

use super::status::StatusReport;
use crate::execution::EngineHandles;
use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

/// How far back the chart reaches.
pub const KEEP_HOURS: i64 = 6;
/// Points per series at most: a 10 s cycle over 6 hours, thinned beyond.
pub const MAX_POINTS: usize = 2160;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Point {
    pub t: DateTime<Utc>,
    pub target_qty: Decimal,
    pub position_qty: Decimal,
}

#[derive(Debug, Serialize)]
pub struct Series {
    pub account: String,
    pub symbol: String,
    pub points: Vec<Point>,
}

#[derive(Debug, Default)]
pub struct History {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    last_cycle: Option<u64>,
    series: BTreeMap<(String, String), VecDeque<Point>>,
}

impl History {
    /// Adds one point per account and symbol when `report` is from a cycle not recorded yet.
    pub fn record(&self, now: DateTime<Utc>, report: &StatusReport) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if inner.last_cycle == Some(report.cycle.number) {
            return;
        }
        inner.last_cycle = Some(report.cycle.number);
        let oldest = now - Duration::hours(KEEP_HOURS);
        for account in &report.accounts {
            for s in &account.symbols {
                let points = inner
                    .series
                    .entry((account.name.clone(), s.symbol.clone()))
                    .or_default();
                points.push_back(Point {
                    t: now,
                    target_qty: s.target_qty,
                    position_qty: s.position_qty,
                });
                while points.len() > MAX_POINTS {
                    points.pop_front();
                }
            }
        }
        // Series of symbols or accounts no longer reported age out like any other.
        for points in inner.series.values_mut() {
            while points.front().is_some_and(|p| p.t < oldest) {
                points.pop_front();
            }
        }
        inner.series.retain(|_, points| !points.is_empty());
    }

    pub fn series(&self) -> Vec<Series> {
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        inner
            .series
            .iter()
            .map(|((account, symbol), points)| Series {
                account: account.clone(),
                symbol: symbol.clone(),
                points: points.iter().cloned().collect(),
            })
            .collect()
    }
}

/// Records a point after every finished cycle, for as long as the runtime lives.
pub fn spawn_sampler(handles: EngineHandles, history: std::sync::Arc<History>) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut recorded = None;
        loop {
            tick.tick().await;
            // Only a cycle that has finished, and once: the status is not built for nothing.
            let finished = handles
                .cycle
                .read()
                .ok()
                .filter(|c| c.last_duration_ms.is_some())
                .map(|c| c.number);
            if finished.is_some() && finished != recorded {
                recorded = finished;
                history.record(Utc::now(), &super::build_status(&handles));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::CycleInfo;
    use crate::server::status::{AccountStatus, SymbolStatus};
    use crate::state::cache::AccountHealth;
    use rust_decimal_macros::dec;

    fn report(cycle: u64, symbols: &[(&str, Decimal, Decimal)]) -> StatusReport {
        StatusReport {
            accounts: vec![AccountStatus {
                name: "a".into(),
                venue: "sim".into(),
                state: AccountHealth::Ok,
                reason: None,
                account_value: None,
                enabled: true,
                dry_run: false,
                last_error: None,
                symbols: symbols
                    .iter()
                    .map(|(s, target, position)| SymbolStatus {
                        symbol: s.to_string(),
                        native_symbol: s.to_string(),
                        target_depth: Decimal::ZERO,
                        target_qty: *target,
                        position_qty: *position,
                        lot: dec!(0.001),
                        last_order: None,
                        last_error: None,
                        cooldown: None,
                        leverage_capped: None,
                    })
                    .collect(),
            }],
            cycle: CycleInfo {
                number: cycle,
                ..CycleInfo::default()
            },
            targets_revision: 0,
            sources: Vec::new(),
            control: false,
            synthetics: Vec::new(),
        }
    }

    #[test]
    fn one_point_per_cycle() {
        let h = History::default();
        let now = Utc::now();
        h.record(now, &report(1, &[("BTC", dec!(1), dec!(0))]));
        h.record(now, &report(1, &[("BTC", dec!(1), dec!(0))]));
        h.record(now, &report(2, &[("BTC", dec!(1), dec!(1))]));
        let s = h.series();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points.len(), 2);
        assert_eq!(s[0].points[1].position_qty, dec!(1));
    }

    #[test]
    fn bounded_in_points() {
        let h = History::default();
        let now = Utc::now();
        for cycle in 0..(MAX_POINTS as u64 + 50) {
            h.record(
                now,
                &report(cycle, &[("BTC", dec!(1), Decimal::from(cycle))]),
            );
        }
        let points = &h.series()[0].points;
        assert_eq!(points.len(), MAX_POINTS);
        // The newest are kept.
        assert_eq!(
            points.last().unwrap().position_qty,
            Decimal::from(MAX_POINTS as u64 + 49)
        );
    }

    #[test]
    fn old_points_and_dropped_symbols_age_out() {
        let h = History::default();
        let start = Utc::now();
        h.record(
            start,
            &report(1, &[("BTC", dec!(1), dec!(0)), ("ETH", dec!(1), dec!(0))]),
        );
        let later = start + Duration::hours(KEEP_HOURS) + Duration::minutes(1);
        h.record(later, &report(2, &[("BTC", dec!(1), dec!(1))]));
        let s = h.series();
        assert_eq!(
            s.len(),
            1,
            "ETH is no longer reported and its points are old"
        );
        assert_eq!(s[0].points.len(), 1);
        assert_eq!(s[0].points[0].t, later);
    }
}
