//! The planner: (position, open orders, target, instrument, limits) -> ordered order intents.
//!
//! Pure: no I/O, no clock. Its promises, checked by the property tests below:
//! - no intent takes |position| above max(|current|, |target|);
//! - a reduce-only intent never crosses zero;
//! - after the intents are applied, the position is within one lot of the target
//!   (when nothing is skipped for minimum size and nothing is pending);
//! - a zero target closes fully with reduce-only and is never bumped up to a minimum lot.

use crate::domain::{Instrument, OpenOrder, OrderIntent, Side};
use rust_decimal::Decimal;

/// What kinds of orders the current state of the account and data allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    Any,
    /// Stale price, stale account value, degraded venue, kill switch, close-only account.
    ReduceOnly,
    /// Halted: nothing at all.
    Nothing,
}

#[derive(Clone, Debug)]
pub struct PlanInput<'a> {
    /// Signed net position in venue units.
    pub position: Decimal,
    /// Open orders of this symbol; their remaining quantity counts as already on its way.
    pub open_orders: &'a [OpenOrder],
    /// Signed target in venue units (rounded toward zero to the lot here).
    pub target: Decimal,
    pub instrument: &'a Instrument,
    /// USD value of one venue unit at the current price (for minimum-notional checks).
    pub usd_per_unit: Decimal,
    /// The larger of the account's and the venue's minimum order value in USD.
    pub min_notional_usd: Decimal,
    pub allowed: Allowed,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub intents: Vec<OrderIntent>,
    /// Why something the target asks for is not traded (below minimum, only reducing…).
    pub skipped: Vec<String>,
}

pub fn plan(input: &PlanInput) -> Plan {
    let mut out = Plan::default();
    if input.allowed == Allowed::Nothing {
        out.skipped.push("account halted: no orders".into());
        return out;
    }
    let inst = input.instrument;
    let position = input.position;
    let pending: Decimal = input.open_orders.iter().map(OpenOrder::pending_delta).sum();
    let current = position + pending;
    // The dead-band is measured against the unrounded target, so that an account value that
    // drifts by a few cents does not make the rounded target hop across a lot boundary and
    // trade one lot back and forth.
    if (input.target - current).abs() < inst.lot.max(Decimal::ZERO) || input.target == current {
        return out;
    }
    let target = inst.round_to_lot(input.target);
    if target == current {
        return out;
    }

    let flip = !current.is_zero()
        && !target.is_zero()
        && current.is_sign_positive() != target.is_sign_positive();
    let shrinking_same_side = !current.is_zero()
        && (target.is_zero() || current.is_sign_positive() == target.is_sign_positive())
        && target.abs() < current.abs();

    if flip || shrinking_same_side {
        let wanted = if flip {
            current.abs()
        } else {
            current.abs() - target.abs()
        };
        reduce(&mut out, input, wanted, target.is_zero() || flip);
        if flip {
            let reduced: Decimal = out.intents.iter().map(|i| i.qty * i.side.sign()).sum();
            let qty = grow_qty(target, current + reduced, position + reduced);
            open(&mut out, input, qty, Side::for_delta(target), "open");
        }
    } else {
        let qty = grow_qty(target, current, position);
        let purpose = if current.is_zero() {
            "open"
        } else {
            "increase"
        };
        open(&mut out, input, qty, Side::for_delta(target), purpose);
    }
    out
}

/// How much to add toward `target`: never past it counting pending orders, and never past it
/// counting only the real position (pending orders on the other side may never fill).
fn grow_qty(target: Decimal, current: Decimal, position: Decimal) -> Decimal {
    let toward = |from: Decimal| {
        if from.is_zero() || from.is_sign_positive() == target.is_sign_positive() {
            target.abs() - from.abs()
        } else {
            // Still on the other side: only a reduction may move it.
            target.abs()
        }
    };
    toward(current).min(toward(position)).max(Decimal::ZERO)
}

/// A reduce-only step of up to `wanted`, never more than the real position.
fn reduce(out: &mut Plan, input: &PlanInput, wanted: Decimal, closing: bool) {
    let inst = input.instrument;
    let position = input.position;
    if position.is_zero() {
        out.skipped
            .push("nothing to reduce: the open orders already cover it".into());
        return;
    }
    let cap = position.abs();
    let mut qty = wanted.min(cap);
    // A full close sends the exact position when it is on the grid; otherwise round down.
    if !(closing && qty == cap && inst.on_lot_grid(qty)) {
        qty = inst.round_to_lot(qty);
    }
    if qty.is_zero() || qty < inst.min_qty {
        out.skipped.push(format!(
            "reduction of {qty} is below the minimum quantity {}",
            inst.min_qty
        ));
        return;
    }
    let full_close = qty == cap;
    if !full_close && qty * input.usd_per_unit < input.min_notional_usd {
        out.skipped.push(format!(
            "reduction of {qty} is below the minimum order value {} USD",
            input.min_notional_usd
        ));
        return;
    }
    let side = Side::for_delta(-position);
    push_chunks(
        out,
        inst,
        qty,
        side,
        true,
        if full_close { "close" } else { "reduce" },
    );
}

fn open(out: &mut Plan, input: &PlanInput, wanted: Decimal, side: Side, purpose: &str) {
    let inst = input.instrument;
    if input.allowed != Allowed::Any {
        out.skipped.push(format!(
            "{purpose} of {wanted} not allowed: only reducing orders now"
        ));
        return;
    }
    let qty = inst.round_to_lot(wanted);
    if qty <= Decimal::ZERO {
        return;
    }
    if qty < inst.min_qty {
        out.skipped.push(format!(
            "{purpose} of {qty} is below the minimum quantity {}",
            inst.min_qty
        ));
        return;
    }
    if qty * input.usd_per_unit < input.min_notional_usd {
        out.skipped.push(format!(
            "{purpose} of {qty} is below the minimum order value {} USD",
            input.min_notional_usd
        ));
        return;
    }
    push_chunks(out, inst, qty, side, false, purpose);
}

/// Splits a quantity into orders no larger than the venue's maximum.
fn push_chunks(
    out: &mut Plan,
    inst: &Instrument,
    qty: Decimal,
    side: Side,
    reduce_only: bool,
    purpose: &str,
) {
    let max = inst
        .max_qty
        .map(|m| inst.round_to_lot(m))
        .filter(|m| *m > Decimal::ZERO);
    let mut left = qty;
    while left > Decimal::ZERO {
        let chunk = match max {
            Some(m) if left > m => m,
            _ => left,
        };
        out.intents.push(OrderIntent {
            side,
            qty: chunk.normalize(),
            reduce_only,
            purpose: purpose.to_string(),
        });
        left -= chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContractKind, Symbol};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn inst(lot: Decimal, min_qty: Decimal, max_qty: Option<Decimal>) -> Instrument {
        Instrument {
            symbol: Symbol::new("BTCUSDT"),
            native: "BTCUSDT".into(),
            kind: ContractKind::Linear,
            tick: dec!(0.1),
            lot,
            min_qty,
            max_qty,
            contract_value: Decimal::ONE,
            min_notional_usd: Decimal::ZERO,
            max_leverage: None,
        }
    }

    fn run(position: Decimal, target: Decimal, i: &Instrument, allowed: Allowed) -> Plan {
        plan(&PlanInput {
            position,
            open_orders: &[],
            target,
            instrument: i,
            usd_per_unit: dec!(100),
            min_notional_usd: Decimal::ZERO,
            allowed,
        })
    }

    fn apply(position: Decimal, intents: &[OrderIntent]) -> Decimal {
        intents
            .iter()
            .fold(position, |p, i| p + i.qty * i.side.sign())
    }

    #[test]
    fn open_from_flat() {
        let i = inst(dec!(0.001), dec!(0.001), None);
        let p = run(dec!(0), dec!(0.2469), &i, Allowed::Any);
        assert_eq!(p.intents.len(), 1);
        assert_eq!(p.intents[0].qty, dec!(0.246));
        assert_eq!(p.intents[0].side, Side::Buy);
        assert!(!p.intents[0].reduce_only);
    }

    #[test]
    fn increase_same_side() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        let p = run(dec!(-1), dec!(-1.5), &i, Allowed::Any);
        assert_eq!(
            p.intents,
            vec![OrderIntent {
                side: Side::Sell,
                qty: dec!(0.5),
                reduce_only: false,
                purpose: "increase".into()
            }]
        );
    }

    #[test]
    fn reduce_same_side_is_reduce_only() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        let p = run(dec!(2), dec!(0.5), &i, Allowed::Any);
        assert_eq!(p.intents.len(), 1);
        assert_eq!(p.intents[0].qty, dec!(1.5));
        assert_eq!(p.intents[0].side, Side::Sell);
        assert!(p.intents[0].reduce_only);
    }

    #[test]
    fn flip_closes_then_opens() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        let p = run(dec!(1), dec!(-0.7), &i, Allowed::Any);
        assert_eq!(p.intents.len(), 2);
        assert_eq!(
            (
                p.intents[0].qty,
                p.intents[0].side,
                p.intents[0].reduce_only
            ),
            (dec!(1), Side::Sell, true)
        );
        assert_eq!(
            (
                p.intents[1].qty,
                p.intents[1].side,
                p.intents[1].reduce_only
            ),
            (dec!(0.7), Side::Sell, false)
        );
    }

    #[test]
    fn zero_target_closes_exactly_even_below_minimum_notional() {
        let i = inst(dec!(0.001), dec!(0.001), None);
        let p = plan(&PlanInput {
            position: dec!(0.003),
            open_orders: &[],
            target: Decimal::ZERO,
            instrument: &i,
            usd_per_unit: dec!(100),
            min_notional_usd: dec!(5),
            allowed: Allowed::Any,
        });
        assert_eq!(p.intents.len(), 1);
        assert_eq!(p.intents[0].qty, dec!(0.003));
        assert!(p.intents[0].reduce_only);
    }

    #[test]
    fn zero_target_is_never_bumped_to_minimum_lot() {
        // A position below the minimum quantity cannot be closed; it is left, not enlarged.
        let i = inst(dec!(0.001), dec!(0.01), None);
        let p = run(dec!(0.005), Decimal::ZERO, &i, Allowed::Any);
        assert!(p.intents.is_empty());
        assert_eq!(p.skipped.len(), 1);
    }

    #[test]
    fn position_exactly_at_minimum_is_closed() {
        let i = inst(dec!(0.001), dec!(0.001), None);
        let p = run(dec!(0.001), Decimal::ZERO, &i, Allowed::Any);
        assert_eq!(p.intents.len(), 1);
    }

    #[test]
    fn below_minimum_quantity_or_notional_is_skipped() {
        let i = inst(dec!(0.001), dec!(0.005), None);
        let p = run(dec!(0), dec!(0.004), &i, Allowed::Any);
        assert!(p.intents.is_empty());
        let i = inst(dec!(0.001), dec!(0.001), None);
        let p = plan(&PlanInput {
            position: dec!(0),
            open_orders: &[],
            target: dec!(0.004),
            instrument: &i,
            usd_per_unit: dec!(100),
            min_notional_usd: dec!(5),
            allowed: Allowed::Any,
        });
        assert!(p.intents.is_empty());
        assert!(p.skipped[0].contains("minimum order value"));
    }

    #[test]
    fn reduce_only_mode_drops_opening_half_of_flip() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        let p = run(dec!(1), dec!(-1), &i, Allowed::ReduceOnly);
        assert_eq!(p.intents.len(), 1);
        assert!(p.intents[0].reduce_only);
        let p = run(dec!(1), dec!(2), &i, Allowed::ReduceOnly);
        assert!(p.intents.is_empty());
        let p = run(dec!(1), dec!(0), &i, Allowed::Nothing);
        assert!(p.intents.is_empty());
    }

    #[test]
    fn large_orders_are_chunked_on_the_grid() {
        let i = inst(dec!(0.1), dec!(0.1), Some(dec!(60)));
        let p = run(dec!(0), dec!(150.05), &i, Allowed::Any);
        let qtys: Vec<Decimal> = p.intents.iter().map(|x| x.qty).collect();
        assert_eq!(qtys, vec![dec!(60), dec!(60), dec!(30)]);
    }

    #[test]
    fn open_orders_count_as_pending() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        let pending = [OpenOrder {
            native: "BTCUSDT".into(),
            venue_order_id: "1".into(),
            client_order_id: None,
            side: Side::Buy,
            qty: dec!(0.5),
            remaining: dec!(0.4),
            price: Some(dec!(1)),
            reduce_only: false,
        }];
        let p = plan(&PlanInput {
            position: dec!(0.1),
            open_orders: &pending,
            target: dec!(1),
            instrument: &i,
            usd_per_unit: dec!(1),
            min_notional_usd: Decimal::ZERO,
            allowed: Allowed::Any,
        });
        assert_eq!(p.intents[0].qty, dec!(0.5));
    }

    #[test]
    fn within_one_lot_does_nothing() {
        let i = inst(dec!(0.01), dec!(0.01), None);
        assert!(run(dec!(1), dec!(1.009), &i, Allowed::Any)
            .intents
            .is_empty());
    }

    fn lots() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            Just(dec!(0.001)),
            Just(dec!(0.01)),
            Just(dec!(1)),
            Just(dec!(100))
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn never_exceeds_bound_and_reduce_only_never_crosses(
            lot in lots(),
            pos_lots in -5000i64..5000,
            target_raw in -6_000_000i64..6_000_000,
            max_chunk in prop::option::of(1i64..400),
            min_lots in 1i64..4,
            reduce_mode in any::<bool>(),
        ) {
            let i = inst(lot, lot * Decimal::from(min_lots), max_chunk.map(|c| lot * Decimal::from(c)));
            let position = lot * Decimal::from(pos_lots);
            let target = lot * Decimal::new(target_raw, 3);
            let allowed = if reduce_mode { Allowed::ReduceOnly } else { Allowed::Any };
            let p = run(position, target, &i, allowed);
            let bound = position.abs().max(target.abs());
            let mut pos = position;
            for intent in &p.intents {
                let before = pos;
                pos += intent.qty * intent.side.sign();
                prop_assert!(intent.qty > Decimal::ZERO);
                prop_assert!(pos.abs() <= bound, "{} > {}", pos, bound);
                prop_assert!(i.on_lot_grid(intent.qty));
                if intent.reduce_only {
                    prop_assert!(before.is_zero() || pos.is_zero() || before.is_sign_positive() == pos.is_sign_positive());
                    prop_assert!(pos.abs() < before.abs());
                }
                if reduce_mode {
                    prop_assert!(intent.reduce_only);
                }
            }
        }

        #[test]
        fn converges_within_one_lot(
            lot in lots(),
            pos_lots in -5000i64..5000,
            target_raw in -6_000_000i64..6_000_000,
            max_chunk in prop::option::of(1i64..400),
        ) {
            let i = inst(lot, lot, max_chunk.map(|c| lot * Decimal::from(c)));
            let position = lot * Decimal::from(pos_lots);
            let target = lot * Decimal::new(target_raw, 3);
            let p = run(position, target, &i, Allowed::Any);
            let after = apply(position, &p.intents);
            prop_assert!((after - target).abs() < lot, "after {} target {}", after, target);
            if target.is_zero() {
                prop_assert!(after.is_zero());
                prop_assert!(p.intents.iter().all(|x| x.reduce_only));
            }
        }

        #[test]
        fn bound_holds_with_open_orders(
            pos_lots in -500i64..500,
            target_lots in -500i64..500,
            pending_lots in -300i64..300,
        ) {
            let lot = dec!(0.01);
            let i = inst(lot, lot, None);
            let position = lot * Decimal::from(pos_lots);
            let target = lot * Decimal::from(target_lots);
            let pending = [OpenOrder {
                native: "BTCUSDT".into(),
                venue_order_id: "x".into(),
                client_order_id: None,
                side: Side::for_delta(Decimal::from(pending_lots)),
                qty: lot * Decimal::from(pending_lots.abs()),
                remaining: lot * Decimal::from(pending_lots.abs()),
                price: None,
                reduce_only: false,
            }];
            let p = plan(&PlanInput {
                position,
                open_orders: if pending_lots == 0 { &[] } else { &pending },
                target,
                instrument: &i,
                usd_per_unit: Decimal::ONE,
                min_notional_usd: Decimal::ZERO,
                allowed: Allowed::Any,
            });
            let bound = position.abs().max(target.abs());
            let mut pos = position;
            for intent in &p.intents {
                let before = pos;
                pos += intent.qty * intent.side.sign();
                prop_assert!(pos.abs() <= bound);
                if intent.reduce_only {
                    prop_assert!(pos.abs() < before.abs());
                    prop_assert!(pos.is_zero() || before.is_sign_positive() == pos.is_sign_positive());
                }
            }
        }
    }
}
