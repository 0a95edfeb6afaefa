//! Synthetic symbols expanded into legs, and the arithmetic of keeping the legs hedged. Pure:
//! the executor supplies account values and what the legs hold.
//!
//! A synthetic's USD notional is `N = D × V × L`: its target depth, the first leg's account
//! value and the synthetic's leverage (that account's `leverage_override` when set), capped by
//! `risk.max_symbol_notional_usd`. Leg `i` gets `N × side_i`, added to whatever its account
//! holds for the same symbol directly. Exposures are compared in *synthetic units*: a leg's USD
//! exposure (beyond its direct target) times its side, so hedged legs hold equal amounts.

use super::Target;
use crate::config::SyntheticConfig;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One leg's share of a cycle.
#[derive(Clone, Debug, PartialEq)]
pub struct LegTarget {
    pub synthetic: String,
    /// Index of the leg in the synthetic's `legs`.
    pub leg: usize,
    pub account: String,
    pub symbol: String,
    pub side: Decimal,
    /// The synthetic's leverage: what the leg's symbol is set to on venues that set it.
    pub leverage: Decimal,
    /// USD, side applied; `None` when it cannot be known this cycle (the first leg's account
    /// value is missing): the leg's symbol is then held, neither opened nor closed.
    pub notional: Option<Decimal>,
    /// The leg is held at the hedged amount after staying unhedged too long: only reductions.
    pub reduce_only: bool,
}

/// What sizes a synthetic: its first leg's account.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FirstLeg {
    /// The account value in USD, `None` when it could not be read.
    pub value_usd: Option<Decimal>,
    pub leverage_override: Option<Decimal>,
}

/// A synthetic whose leading legs are held at the hedged amount (see [`leaders`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// Per leg: whether it is held (it led the others when the hedge was restored).
    pub leaders: Vec<bool>,
    /// The hedged amount, in synthetic units, as last seen.
    pub hedged: Decimal,
}

/// The synthetic's USD notional, or `None` when it needs an account value that is missing.
/// A zero depth needs none: the legs go back to their direct targets whatever the value.
pub fn synthetic_notional(
    depth: Decimal,
    leverage: Decimal,
    value_usd: Option<Decimal>,
    cap: Option<Decimal>,
) -> Option<Decimal> {
    if depth.is_zero() {
        return Some(Decimal::ZERO);
    }
    let n = value_usd?.max(Decimal::ZERO) * depth * leverage;
    Some(match cap {
        Some(cap) => n.clamp(-cap, cap),
        None => n,
    })
}

/// Every leg of every synthetic for this cycle. `first_legs` is keyed by account name;
/// `held` by synthetic.
pub fn expand(
    synthetics: &BTreeMap<String, SyntheticConfig>,
    targets: &BTreeMap<String, Target>,
    first_legs: &BTreeMap<String, FirstLeg>,
    max_leverage: Decimal,
    max_symbol_notional_usd: Option<Decimal>,
    held: &BTreeMap<String, Held>,
) -> (BTreeMap<String, Option<Decimal>>, Vec<LegTarget>) {
    let mut notionals = BTreeMap::new();
    let mut legs = Vec::new();
    for (name, synthetic) in synthetics {
        let Some(first) = synthetic.legs.first() else {
            continue;
        };
        let sizing = first_legs.get(&first.account).copied().unwrap_or_default();
        let (depth, leverage) = targets
            .get(name)
            .map(|t| (t.depth, t.leverage))
            .unwrap_or((Decimal::ZERO, Decimal::ONE));
        let leverage = sizing
            .leverage_override
            .unwrap_or(leverage)
            .min(max_leverage);
        let n = synthetic_notional(depth, leverage, sizing.value_usd, max_symbol_notional_usd);
        notionals.insert(name.clone(), n);
        let held = held.get(name);
        for (i, leg) in synthetic.legs.iter().enumerate() {
            let side = Decimal::from(leg.side);
            let holds = held.is_some_and(|h| h.leaders.get(i).copied().unwrap_or(false));
            let units = match (n, held) {
                (Some(n), Some(h)) if holds => Some(no_further_than(n, h.hedged)),
                (n, _) => n,
            };
            legs.push(LegTarget {
                synthetic: name.clone(),
                leg: i,
                account: leg.account.clone(),
                symbol: leg.symbol.clone(),
                side,
                leverage,
                notional: units.map(|u| u * side),
                reduce_only: holds,
            });
        }
    }
    (notionals, legs)
}

/// What an account trades for one symbol: its direct target plus its legs there.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Combined {
    pub notional: Decimal,
    /// A leg there is held at the hedged amount: the symbol may only be reduced.
    pub reduce_only: bool,
    /// A leg's notional is unknown this cycle: the symbol sends nothing.
    pub held: bool,
}

/// `direct` is the account's own target for the symbol (`None`: it has none); `legs` are the
/// legs on this account and symbol.
pub fn combine<'a>(
    direct: Option<Decimal>,
    legs: impl IntoIterator<Item = &'a LegTarget>,
) -> Combined {
    let mut out = Combined {
        notional: direct.unwrap_or_default(),
        reduce_only: false,
        held: false,
    };
    for leg in legs {
        match leg.notional {
            Some(n) => out.notional += n,
            None => out.held = true,
        }
        out.reduce_only |= leg.reduce_only;
    }
    out
}

/// The amount every leg holds, in synthetic units: the common part of their exposures (0 when
/// they point different ways).
pub fn hedged_amount(exposures: &[Decimal]) -> Decimal {
    let Some(first) = exposures.first() else {
        return Decimal::ZERO;
    };
    if exposures.iter().all(|e| *e > Decimal::ZERO) {
        exposures.iter().copied().fold(*first, Decimal::min)
    } else if exposures.iter().all(|e| *e < Decimal::ZERO) {
        exposures.iter().copied().fold(*first, Decimal::max)
    } else {
        Decimal::ZERO
    }
}

/// The legs holding more than the hedged amount by more than the legs' tolerances together
/// (what each leg's lot and minimum order leave untraded, so that legs each within a lot of
/// their target count as hedged): the ones to reduce when the imbalance lasts.
pub fn leaders(exposures: &[Decimal], tolerances: &[Decimal]) -> Vec<bool> {
    let hedged = hedged_amount(exposures);
    let slack: Decimal = tolerances.iter().copied().sum();
    exposures
        .iter()
        .map(|e| (*e - hedged).abs() > slack)
        .collect()
}

/// The largest and smallest exposure apart, in USD.
pub fn imbalance(exposures: &[Decimal]) -> Decimal {
    let max = exposures.iter().copied().max().unwrap_or_default();
    let min = exposures.iter().copied().min().unwrap_or_default();
    max - min
}

/// `target` limited to lie between 0 and `hedged`: a held leg follows its target down but
/// never beyond what every leg holds.
pub fn no_further_than(target: Decimal, hedged: Decimal) -> Decimal {
    if hedged.is_zero() || (target > Decimal::ZERO) != (hedged > Decimal::ZERO) {
        return Decimal::ZERO;
    }
    if target.abs() < hedged.abs() {
        target
    } else {
        hedged
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyntheticLeg;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn btceur() -> BTreeMap<String, SyntheticConfig> {
        let leg = |account: &str, symbol: &str, side| SyntheticLeg {
            account: account.into(),
            symbol: symbol.into(),
            side,
        };
        BTreeMap::from([(
            "BTCEUR".to_string(),
            SyntheticConfig {
                legs: vec![
                    leg("bitmex-main", "BTCUSD", 1),
                    leg("oanda-main", "EURUSD", -1),
                ],
                max_unhedged_secs: 60,
            },
        )])
    }

    fn target(depth: Decimal, leverage: Decimal) -> Target {
        Target {
            depth,
            leverage,
            sources: BTreeMap::new(),
        }
    }

    fn first(value: Option<Decimal>) -> BTreeMap<String, FirstLeg> {
        BTreeMap::from([(
            "bitmex-main".to_string(),
            FirstLeg {
                value_usd: value,
                leverage_override: None,
            },
        )])
    }

    fn legs_of(depth: Decimal, value: Option<Decimal>) -> Vec<LegTarget> {
        let targets = BTreeMap::from([("BTCEUR".to_string(), target(depth, dec!(2)))]);
        expand(
            &btceur(),
            &targets,
            &first(value),
            dec!(20),
            None,
            &BTreeMap::new(),
        )
        .1
    }

    #[test]
    fn depth_times_first_legs_value_times_leverage_with_each_legs_side() {
        // 0.5 × 10,000 × 2 = 10,000 USD: long BTCUSD, short EURUSD.
        let legs = legs_of(dec!(0.5), Some(dec!(10000)));
        assert_eq!(legs.len(), 2);
        assert_eq!(
            (legs[0].account.as_str(), legs[0].symbol.as_str()),
            ("bitmex-main", "BTCUSD")
        );
        assert_eq!(legs[0].notional, Some(dec!(10000)));
        assert_eq!(
            (legs[1].account.as_str(), legs[1].symbol.as_str()),
            ("oanda-main", "EURUSD")
        );
        assert_eq!(legs[1].notional, Some(dec!(-10000)));
        assert!(legs.iter().all(|l| !l.reduce_only));
    }

    #[test]
    fn the_first_legs_leverage_override_and_the_caps_apply() {
        let targets = BTreeMap::from([("BTCEUR".to_string(), target(dec!(1), dec!(5)))]);
        let mut first_legs = first(Some(dec!(1000)));
        first_legs.get_mut("bitmex-main").unwrap().leverage_override = Some(dec!(3));
        let (n, _) = expand(
            &btceur(),
            &targets,
            &first_legs,
            dec!(20),
            None,
            &BTreeMap::new(),
        );
        assert_eq!(n["BTCEUR"], Some(dec!(3000)));
        let (n, _) = expand(
            &btceur(),
            &targets,
            &first_legs,
            dec!(2),
            Some(dec!(1500)),
            &BTreeMap::new(),
        );
        assert_eq!(n["BTCEUR"], Some(dec!(1500)), "max leverage, then the cap");
    }

    #[test]
    fn a_missing_account_value_holds_the_legs_unless_the_depth_is_zero() {
        let legs = legs_of(dec!(0.5), None);
        assert!(legs.iter().all(|l| l.notional.is_none()));
        let held = combine(Some(dec!(700)), &legs[..1]);
        assert!(held.held, "the symbol sends nothing this cycle");
        let legs = legs_of(Decimal::ZERO, None);
        assert!(legs.iter().all(|l| l.notional == Some(Decimal::ZERO)));
    }

    #[test]
    fn a_leg_adds_to_what_the_account_holds_directly() {
        // bitmex-main also weights BTCUSD directly at 3,000 USD.
        let legs = legs_of(dec!(0.5), Some(dec!(10000)));
        let c = combine(
            Some(dec!(3000)),
            legs.iter().filter(|l| l.symbol == "BTCUSD"),
        );
        assert_eq!(c.notional, dec!(13000));
        assert!(!c.reduce_only && !c.held);
        // A direct short and the synthetic's long partly cancel.
        let c = combine(
            Some(dec!(-4000)),
            legs.iter().filter(|l| l.symbol == "BTCUSD"),
        );
        assert_eq!(c.notional, dec!(6000));
        // Not weighted directly: the leg alone.
        let c = combine(None, legs.iter().filter(|l| l.symbol == "EURUSD"));
        assert_eq!(c.notional, dec!(-10000));
    }

    #[test]
    fn depth_zero_puts_legs_back_to_their_direct_targets() {
        let legs = legs_of(Decimal::ZERO, Some(dec!(10000)));
        for direct in [None, Some(dec!(3000)), Some(dec!(-250))] {
            for symbol in ["BTCUSD", "EURUSD"] {
                let c = combine(direct, legs.iter().filter(|l| l.symbol == symbol));
                assert_eq!(c.notional, direct.unwrap_or_default());
            }
        }
    }

    #[test]
    fn an_unweighted_synthetic_has_depth_zero() {
        let (n, legs) = expand(
            &btceur(),
            &BTreeMap::new(),
            &first(Some(dec!(10000))),
            dec!(20),
            None,
            &BTreeMap::new(),
        );
        assert_eq!(n["BTCEUR"], Some(Decimal::ZERO));
        assert!(legs.iter().all(|l| l.notional == Some(Decimal::ZERO)));
    }

    #[test]
    fn the_hedged_amount_is_what_every_leg_holds() {
        assert_eq!(hedged_amount(&[dec!(8000), dec!(5000)]), dec!(5000));
        assert_eq!(hedged_amount(&[dec!(-8000), dec!(-5000)]), dec!(-5000));
        assert_eq!(hedged_amount(&[dec!(8000), dec!(0)]), Decimal::ZERO);
        assert_eq!(hedged_amount(&[dec!(8000), dec!(-100)]), Decimal::ZERO);
        assert_eq!(hedged_amount(&[]), Decimal::ZERO);
        assert_eq!(
            leaders(&[dec!(8000), dec!(5000)], &[dec!(50), dec!(100)]),
            vec![true, false]
        );
        // Each within its lot: hedged.
        assert_eq!(
            leaders(&[dec!(5040), dec!(4900)], &[dec!(50), dec!(100)]),
            vec![false, false]
        );
        assert_eq!(
            leaders(&[dec!(5051), dec!(4900)], &[dec!(50), dec!(100)]),
            vec![true, false]
        );
        assert_eq!(
            leaders(&[dec!(-100), dec!(200)], &[dec!(50), dec!(100)]),
            vec![false, true],
            "opposite ways: nothing is hedged"
        );
        assert_eq!(imbalance(&[dec!(8000), dec!(5000)]), dec!(3000));
    }

    #[test]
    fn a_held_leg_follows_its_target_down_but_never_past_the_hedged_amount() {
        let targets = BTreeMap::from([("BTCEUR".to_string(), target(dec!(0.8), dec!(1)))]);
        let held = BTreeMap::from([(
            "BTCEUR".to_string(),
            Held {
                leaders: vec![true, false],
                hedged: dec!(5000),
            },
        )]);
        let (_, legs) = expand(
            &btceur(),
            &targets,
            &first(Some(dec!(10000))),
            dec!(20),
            None,
            &held,
        );
        assert_eq!(legs[0].notional, Some(dec!(5000)));
        assert!(legs[0].reduce_only);
        assert_eq!(
            legs[1].notional,
            Some(dec!(-8000)),
            "the lagging leg retries"
        );
        assert!(!legs[1].reduce_only);
        assert_eq!(no_further_than(dec!(3000), dec!(5000)), dec!(3000));
        assert_eq!(no_further_than(dec!(-3000), dec!(5000)), Decimal::ZERO);
        assert_eq!(no_further_than(dec!(-9000), dec!(-5000)), dec!(-5000));
    }

    fn usd() -> impl Strategy<Value = Decimal> {
        (-1_000_000i64..1_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    proptest! {
        #[test]
        fn legs_are_equal_and_opposite_by_side_and_add_to_the_direct_target(
            depth in -100i64..=100,
            value in 0i64..10_000_000,
            direct_btc in proptest::option::of(usd()),
            direct_eur in proptest::option::of(usd()),
        ) {
            let depth = Decimal::new(depth, 2);
            let legs = legs_of(depth, Some(Decimal::from(value)));
            let n = depth * Decimal::from(value) * dec!(2);
            prop_assert_eq!(legs[0].notional, Some(n));
            prop_assert_eq!(legs[1].notional, Some(-n));
            let btc = combine(direct_btc, legs.iter().filter(|l| l.symbol == "BTCUSD"));
            let eur = combine(direct_eur, legs.iter().filter(|l| l.symbol == "EURUSD"));
            prop_assert_eq!(btc.notional - direct_btc.unwrap_or_default(), n);
            prop_assert_eq!(eur.notional - direct_eur.unwrap_or_default(), -n);
        }

        #[test]
        fn the_hedged_amount_never_exceeds_any_leg(
            exposures in proptest::collection::vec(usd(), 1..5),
        ) {
            let h = hedged_amount(&exposures);
            for e in &exposures {
                prop_assert!(h.abs() <= e.abs());
                prop_assert!(h.is_zero() || (h > Decimal::ZERO) == (*e > Decimal::ZERO));
            }
        }

        #[test]
        fn holding_a_leg_only_ever_reduces_it(target in usd(), hedged in usd()) {
            let t = no_further_than(target, hedged);
            prop_assert!(t.abs() <= hedged.abs());
            prop_assert!(t.abs() <= target.abs());
            prop_assert!(t.is_zero() || (t > Decimal::ZERO) == (hedged > Decimal::ZERO));
        }
    }
}
