//! Sizing: a USD notional to a quantity in the venue's own units (contracts, coins, FX units),
//! through the instrument's contract kind and the quote currency's USD rate. Pure, so every
//! contract type's arithmetic is tested here on its own; the executor only calls it.

use crate::domain::{Instrument, Quote};
use rust_decimal::Decimal;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizing {
    /// USD value of one venue unit at the quote's price (0 when the price is unusable).
    pub usd_per_unit: Decimal,
    /// The target before rounding; the planner's dead-band measures against it.
    pub raw_target: Decimal,
    /// The target rounded toward zero to the lot: what can actually be held.
    pub target_qty: Decimal,
}

/// Sizes a signed USD notional for `instrument` at `quote`. A zero or negative price gives a
/// zero target (nothing is opened on a price that cannot be right).
pub fn size(notional_usd: Decimal, instrument: &Instrument, quote: &Quote) -> Sizing {
    let usd_per_unit = instrument.usd_per_unit(quote.mark, quote.quote_to_usd);
    let raw_target = if usd_per_unit > Decimal::ZERO {
        notional_usd / usd_per_unit
    } else {
        Decimal::ZERO
    };
    Sizing {
        usd_per_unit,
        raw_target,
        target_qty: instrument.round_to_lot(raw_target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ContractKind, Symbol};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    fn instrument(kind: ContractKind, contract_value: Decimal, lot: Decimal) -> Instrument {
        Instrument {
            symbol: Symbol::new("X"),
            native: "X".into(),
            kind,
            tick: dec!(0.01),
            lot,
            min_qty: lot,
            max_qty: None,
            contract_value,
            min_notional_usd: Decimal::ZERO,
            max_leverage: None,
        }
    }

    fn quote(mark: Decimal, quote_to_usd: Decimal) -> Quote {
        Quote {
            native: "X".into(),
            mark,
            quote_to_usd,
            at: chrono::Utc::now(),
        }
    }

    #[test]
    fn linear_coins_round_toward_zero() {
        // BTCUSDT: 12,345 USD at 50,000 = 0.2469 BTC → 0.246 with a 0.001 lot.
        let s = size(
            dec!(12345),
            &instrument(ContractKind::Linear, dec!(1), dec!(0.001)),
            &quote(dec!(50000), dec!(1)),
        );
        assert_eq!(s.usd_per_unit, dec!(50000));
        assert_eq!(s.raw_target, dec!(0.2469));
        assert_eq!(s.target_qty, dec!(0.246));
        let short = size(
            dec!(-12345),
            &instrument(ContractKind::Linear, dec!(1), dec!(0.001)),
            &quote(dec!(50000), dec!(1)),
        );
        assert_eq!(short.target_qty, dec!(-0.246), "toward zero, not down");
    }

    #[test]
    fn contracts_of_a_fraction_of_a_coin() {
        // A lot of 0.001 BTC per contract (KuCoin XBTUSDTM's multiplier): 0.2469 BTC is 246
        // contracts, not 0.246 — the classic 100× error if the multiplier were ignored.
        let s = size(
            dec!(12345),
            &instrument(ContractKind::Linear, dec!(0.001), dec!(1)),
            &quote(dec!(50000), dec!(1)),
        );
        assert_eq!(s.usd_per_unit, dec!(50));
        assert_eq!(s.target_qty, dec!(246));
    }

    #[test]
    fn inverse_contracts_are_worth_their_face_value() {
        // XBTUSD: 1 contract = 1 USD whatever the price.
        let s = size(
            dec!(12345.6),
            &instrument(ContractKind::Inverse, dec!(1), dec!(100)),
            &quote(dec!(50000), dec!(1)),
        );
        assert_eq!(s.target_qty, dec!(12300));
    }

    #[test]
    fn fx_units_go_through_the_quote_currencys_usd_rate() {
        // EUR_GBP at 0.85 with GBP at 1.25 USD: one EUR is 1.0625 USD.
        let s = size(
            dec!(10000),
            &instrument(ContractKind::Fx, dec!(1), dec!(1)),
            &quote(dec!(0.85), dec!(1.25)),
        );
        assert_eq!(s.usd_per_unit, dec!(1.0625));
        assert_eq!(s.target_qty, dec!(9411));
    }

    #[test]
    fn an_unusable_price_sizes_nothing() {
        for mark in [dec!(0), dec!(-1)] {
            let s = size(
                dec!(1000),
                &instrument(ContractKind::Linear, dec!(1), dec!(0.001)),
                &quote(mark, dec!(1)),
            );
            assert_eq!(s.target_qty, Decimal::ZERO);
        }
    }

    proptest! {
        #[test]
        fn never_more_than_asked_and_within_one_lot(
            notional in -1_000_000i64..1_000_000,
            mark_cents in 1i64..10_000_000,
            lot_exp in 0u32..6,
        ) {
            let lot = Decimal::new(1, lot_exp);
            let inst = instrument(ContractKind::Linear, dec!(1), lot);
            let s = size(Decimal::from(notional), &inst, &quote(Decimal::new(mark_cents, 2), dec!(1)));
            prop_assert!(s.target_qty.abs() <= s.raw_target.abs());
            prop_assert!((s.raw_target - s.target_qty).abs() < lot);
            prop_assert!(inst.on_lot_grid(s.target_qty));
            prop_assert!(s.target_qty.is_zero() || (s.target_qty > Decimal::ZERO) == (notional > 0));
        }
    }
}
