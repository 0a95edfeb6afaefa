//! Keeping a synthetic's legs hedged across accounts. Each leg's symbol job reports what its
//! account holds; after every cycle the tracker compares the legs (in synthetic units, see
//! `targets::synthetic`), shows the imbalance in `/status`, logs once when the legs part and
//! once when they meet again, and after `max_unhedged_secs` holds the leading legs at the
//! hedged amount (reduce-only) until the lagging legs reach their target.

use crate::config::ConfigSet;
use crate::state::ExecutionCache;
use crate::targets::synthetic::{self, Held, LegTarget};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// What a leg's account held at the end of its symbol job.
#[derive(Clone, Debug, PartialEq)]
pub struct LegObservation {
    /// The whole position in USD (direct target and legs together).
    pub position_usd: Decimal,
    /// The account's own target for the symbol, without legs: the rest is the legs'.
    pub direct_usd: Decimal,
    /// What the lot and the minimum order leave untraded, in USD.
    pub tolerance_usd: Decimal,
}

/// Observations per (account, symbol), written by symbol jobs, read after the cycle.
pub type Board = Arc<Mutex<BTreeMap<(String, String), LegObservation>>>;

/// Handed to the symbol job of a symbol that carries a leg.
pub struct LegReport {
    pub board: Board,
    pub direct_usd: Decimal,
}

impl LegReport {
    pub fn observe(&self, account: &str, symbol: &str, observation: LegObservation) {
        self.board
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert((account.to_string(), symbol.to_string()), observation);
    }
}

/// A synthetic in `/status`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SyntheticStatus {
    pub name: String,
    /// The synthetic's USD notional this cycle (null when the first leg's account value was
    /// missing: the legs were held).
    pub notional_usd: Option<Decimal>,
    pub legs: Vec<LegStatus>,
    /// Largest minus smallest leg exposure in USD (side applied); null until every leg has
    /// been seen.
    pub imbalance_usd: Option<Decimal>,
    /// Since when the legs differ by more than a lot; null while hedged.
    pub unhedged_since: Option<DateTime<Utc>>,
    /// The leading legs are held at the hedged amount until the others catch up.
    pub holding_at_hedged: bool,
    pub max_unhedged_secs: u64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LegStatus {
    pub account: String,
    pub symbol: String,
    pub side: Decimal,
    /// The leg's USD notional this cycle (side applied).
    pub target_usd: Option<Decimal>,
    /// What the account holds for the leg in USD: its position beyond its direct target.
    pub actual_usd: Option<Decimal>,
    /// The leg's last error (refused order, symbol not listed by the venue, …).
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, Default)]
struct Track {
    unhedged_since: Option<DateTime<Utc>>,
    leaders: Vec<bool>,
    held: Option<Held>,
}

/// Per-synthetic state across cycles (in memory: after a restart an imbalance is timed anew).
#[derive(Debug, Default)]
pub struct Tracker {
    tracks: BTreeMap<String, Track>,
}

impl Tracker {
    /// The synthetics whose leading legs are held at the hedged amount.
    pub fn held(&self) -> BTreeMap<String, Held> {
        self.tracks
            .iter()
            .filter_map(|(name, t)| t.held.clone().map(|h| (name.clone(), h)))
            .collect()
    }

    /// Compares the legs after a cycle; `legs` and `notionals` are what the cycle aimed at.
    pub fn after_cycle(
        &mut self,
        config: &ConfigSet,
        notionals: &BTreeMap<String, Option<Decimal>>,
        legs: &[LegTarget],
        observations: &BTreeMap<(String, String), LegObservation>,
        cache: &ExecutionCache,
        now: DateTime<Utc>,
    ) -> Vec<SyntheticStatus> {
        self.tracks
            .retain(|name, _| config.engine.synthetics.contains_key(name));
        let mut out = Vec::new();
        for (name, synthetic) in &config.engine.synthetics {
            let track = self.tracks.entry(name.clone()).or_default();
            let notional = notionals.get(name).copied().flatten();
            let mut statuses = Vec::new();
            let mut exposures = Vec::new();
            let mut tolerances = Vec::new();
            for (i, leg) in synthetic.legs.iter().enumerate() {
                let side = Decimal::from(leg.side);
                let seen = observations.get(&(leg.account.clone(), leg.symbol.clone()));
                let actual = seen.map(|o| o.position_usd - o.direct_usd);
                if let (Some(a), Some(o)) = (actual, seen) {
                    exposures.push(a * side);
                    tolerances.push(o.tolerance_usd);
                }
                statuses.push(LegStatus {
                    account: leg.account.clone(),
                    symbol: leg.symbol.clone(),
                    side,
                    target_usd: legs
                        .iter()
                        .find(|l| l.synthetic == *name && l.leg == i)
                        .and_then(|l| l.notional)
                        .map(|n| n.round_dp(2).normalize()),
                    actual_usd: actual.map(|a| a.round_dp(2).normalize()),
                    last_error: cache
                        .get(&leg.account)
                        .and_then(|a| a.symbols.get(&leg.symbol).cloned())
                        .and_then(|s| s.last_error),
                });
            }
            let complete = exposures.len() == synthetic.legs.len();
            if complete {
                step(
                    name,
                    track,
                    synthetic.max_unhedged_secs,
                    notional,
                    &exposures,
                    &tolerances,
                    now,
                );
            }
            out.push(SyntheticStatus {
                name: name.clone(),
                notional_usd: notional.map(|n| n.round_dp(2).normalize()),
                legs: statuses,
                imbalance_usd: complete
                    .then(|| synthetic::imbalance(&exposures).round_dp(2).normalize()),
                unhedged_since: track.unhedged_since,
                holding_at_hedged: track.held.is_some(),
                max_unhedged_secs: synthetic.max_unhedged_secs,
            });
        }
        out
    }
}

/// One synthetic's state after a cycle, from its legs' exposures (synthetic units).
fn step(
    name: &str,
    track: &mut Track,
    max_unhedged_secs: u64,
    notional: Option<Decimal>,
    exposures: &[Decimal],
    tolerances: &[Decimal],
    now: DateTime<Utc>,
) {
    let hedged = synthetic::hedged_amount(exposures);
    let leaders = synthetic::leaders(exposures, tolerances);
    let imbalance = synthetic::imbalance(exposures).round_dp(2);
    // Held legs wait until the others reached the synthetic's target; then all go on.
    // When every leg was leading (the legs pointed different ways), none lags: they are
    // released once they meet again.
    if let (Some(held), Some(n)) = (&track.held, notional) {
        let caught_up = if held.leaders.contains(&false) {
            exposures
                .iter()
                .zip(tolerances)
                .zip(&held.leaders)
                .all(|((e, tol), was_leading)| *was_leading || (*e - n).abs() <= *tol)
        } else {
            !leaders.contains(&true)
        };
        if caught_up {
            tracing::info!(synthetic = %name, "synthetic: the lagging legs reached their target; the held legs follow");
            track.held = None;
        }
    }
    if let Some(held) = &mut track.held {
        held.hedged = hedged;
    }
    if !leaders.contains(&true) {
        if track.unhedged_since.take().is_some() {
            tracing::info!(synthetic = %name, "synthetic hedged again");
        }
        track.leaders.clear();
        return;
    }
    if track.unhedged_since.is_none() || track.leaders != leaders {
        tracing::warn!(
            synthetic = %name, imbalance_usd = %imbalance, exposures_usd = ?exposures,
            max_unhedged_secs,
            "synthetic unhedged: its legs differ; the lagging legs retry every cycle"
        );
        track.unhedged_since = Some(now);
        track.leaders = leaders.clone();
    }
    let since = track.unhedged_since.unwrap_or(now);
    let overdue = (now - since).num_milliseconds() >= (max_unhedged_secs as i64) * 1000;
    let already = track.held.as_ref().is_some_and(|h| h.leaders == leaders);
    if overdue && !already {
        tracing::warn!(
            synthetic = %name, imbalance_usd = %imbalance, hedged = %hedged, max_unhedged_secs,
            "synthetic unhedged for too long: reducing the leading legs back to the hedged amount"
        );
        track.held = Some(Held { leaders, hedged });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    const TOL: [Decimal; 2] = [dec!(50), dec!(100)];

    #[test]
    fn a_lasting_imbalance_holds_the_leading_leg_until_the_other_catches_up() {
        let mut t = Track::default();
        let n = Some(dec!(8000));
        step("S", &mut t, 2, n, &[dec!(5000), dec!(5000)], &TOL, at(0));
        assert!(t.unhedged_since.is_none() && t.held.is_none());
        // The first leg filled to 8,000, the second was refused.
        step("S", &mut t, 2, n, &[dec!(8000), dec!(5000)], &TOL, at(1));
        assert_eq!(t.unhedged_since, Some(at(1)));
        assert!(t.held.is_none(), "not yet overdue");
        step("S", &mut t, 2, n, &[dec!(8000), dec!(5000)], &TOL, at(3));
        assert_eq!(
            t.held,
            Some(Held {
                leaders: vec![true, false],
                hedged: dec!(5000)
            })
        );
        // Reduced back: hedged again, but still held while the second leg lags its target.
        step("S", &mut t, 2, n, &[dec!(5000), dec!(5000)], &TOL, at(4));
        assert!(t.unhedged_since.is_none());
        assert!(t.held.is_some());
        // The second leg gets through: the first one is released (and leads the imbalance
        // the other way for one cycle, timed anew).
        step("S", &mut t, 2, n, &[dec!(5000), dec!(8000)], &TOL, at(9));
        assert!(t.held.is_none());
        assert_eq!(t.unhedged_since, Some(at(9)));
        step("S", &mut t, 2, n, &[dec!(8000), dec!(8000)], &TOL, at(10));
        assert!(t.unhedged_since.is_none() && t.held.is_none());
    }

    #[test]
    fn a_different_leader_restarts_the_clock() {
        let mut t = Track::default();
        let n = Some(dec!(8000));
        step("S", &mut t, 5, n, &[dec!(8000), dec!(5000)], &TOL, at(0));
        step("S", &mut t, 5, n, &[dec!(5000), dec!(8000)], &TOL, at(4));
        assert_eq!(t.unhedged_since, Some(at(4)));
        step("S", &mut t, 5, n, &[dec!(5000), dec!(8000)], &TOL, at(6));
        assert!(t.held.is_none(), "4 s since the second leg led, not 6");
    }

    #[test]
    fn legs_that_point_different_ways_are_released_only_once_they_meet() {
        let mut t = Track::default();
        let n = Some(dec!(-5000));
        // A flip: the first leg went short, the second was refused and is still long.
        step("S", &mut t, 1, n, &[dec!(-5000), dec!(5000)], &TOL, at(0));
        step("S", &mut t, 1, n, &[dec!(-5000), dec!(5000)], &TOL, at(2));
        assert_eq!(
            t.held,
            Some(Held {
                leaders: vec![true, true],
                hedged: Decimal::ZERO
            })
        );
        step("S", &mut t, 1, n, &[dec!(0), dec!(5000)], &TOL, at(3));
        assert!(t.held.is_some(), "still apart");
        step("S", &mut t, 1, n, &[dec!(0), dec!(0)], &TOL, at(4));
        assert!(t.held.is_none());
    }

    #[test]
    fn within_a_lot_is_hedged() {
        let mut t = Track::default();
        step(
            "S",
            &mut t,
            0,
            Some(dec!(5000)),
            &[dec!(5040), dec!(4950)],
            &TOL,
            at(0),
        );
        assert!(t.unhedged_since.is_none() && t.held.is_none());
    }
}
