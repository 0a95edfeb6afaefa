use super::Symbol;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How one unit of a venue's quantity relates to money. This is the only place where the
/// difference between contract types is expressed; everything downstream uses
/// [`Instrument::usd_per_unit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractKind {
    /// Value = qty × contract_value × price (in quote currency), e.g. BTCUSDT perps.
    Linear,
    /// Value = qty × contract_value in USD, independent of price, e.g. BitMEX XBTUSD.
    Inverse,
    /// Value = qty × contract_value × price in the settlement currency, e.g. BitMEX ETHUSD
    /// settled in XBT; the quote's `quote_to_usd` carries the settlement currency's USD price.
    Quanto,
    /// FX units: value = qty × price in quote currency, e.g. OANDA EUR_USD.
    Fx,
}

/// What the planner needs to know about a tradable market, in the venue's own units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instrument {
    pub symbol: Symbol,
    pub native: String,
    pub kind: ContractKind,
    /// Price increment.
    pub tick: Decimal,
    /// Quantity increment in venue units (contracts, coins or FX units).
    pub lot: Decimal,
    /// Smallest quantity the venue accepts in one order.
    pub min_qty: Decimal,
    /// Largest quantity of one market order; larger orders are split.
    pub max_qty: Option<Decimal>,
    /// Units of value per quantity unit; see [`ContractKind`].
    pub contract_value: Decimal,
    /// Smallest order value the venue accepts, in USD (0 when the venue has none).
    pub min_notional_usd: Decimal,
    pub max_leverage: Option<Decimal>,
}

impl Instrument {
    /// USD value of one quantity unit at `price`, with `quote_to_usd` converting the quote
    /// (or, for quanto, settlement) currency to USD.
    pub fn usd_per_unit(&self, price: Decimal, quote_to_usd: Decimal) -> Decimal {
        match self.kind {
            ContractKind::Inverse => self.contract_value,
            ContractKind::Linear | ContractKind::Quanto | ContractKind::Fx => {
                self.contract_value * price * quote_to_usd
            }
        }
    }

    /// Rounds a signed quantity toward zero to the lot step.
    pub fn round_to_lot(&self, qty: Decimal) -> Decimal {
        if self.lot <= Decimal::ZERO {
            return qty;
        }
        let lots = (qty / self.lot).trunc();
        (lots * self.lot).normalize()
    }

    /// Whether `qty` is an exact multiple of the lot step.
    pub fn on_lot_grid(&self, qty: Decimal) -> bool {
        self.lot <= Decimal::ZERO || (qty % self.lot).is_zero()
    }

    /// Signed venue quantity for a signed USD notional, rounded toward zero to the lot.
    pub fn qty_for_notional(
        &self,
        notional_usd: Decimal,
        price: Decimal,
        quote_to_usd: Decimal,
    ) -> Option<Decimal> {
        let per_unit = self.usd_per_unit(price, quote_to_usd);
        if per_unit <= Decimal::ZERO {
            return None;
        }
        Some(self.round_to_lot(notional_usd / per_unit))
    }

    /// Rounds a price to the tick, toward the side that is less aggressive for `side_buy`.
    pub fn round_price(&self, price: Decimal, side_buy: bool) -> Decimal {
        if self.tick <= Decimal::ZERO {
            return price;
        }
        let ticks = price / self.tick;
        let ticks = if side_buy {
            ticks.floor()
        } else {
            ticks.ceil()
        };
        (ticks * self.tick).normalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn linear() -> Instrument {
        Instrument {
            symbol: Symbol::new("BTCUSDT"),
            native: "BTCUSDT".into(),
            kind: ContractKind::Linear,
            tick: dec!(0.1),
            lot: dec!(0.001),
            min_qty: dec!(0.001),
            max_qty: None,
            contract_value: dec!(1),
            min_notional_usd: dec!(5),
            max_leverage: None,
        }
    }

    #[test]
    fn linear_sizing_rounds_toward_zero() {
        // Sheet example: $12,345 at 50,000 -> 0.246 BTC.
        let qty = linear().qty_for_notional(dec!(12345), dec!(50000), dec!(1));
        assert_eq!(qty, Some(dec!(0.246)));
        let qty = linear().qty_for_notional(dec!(-12345), dec!(50000), dec!(1));
        assert_eq!(qty, Some(dec!(-0.246)));
    }

    #[test]
    fn inverse_sizing_ignores_price() {
        let mut xbtusd = linear();
        xbtusd.kind = ContractKind::Inverse;
        xbtusd.lot = dec!(100);
        xbtusd.contract_value = dec!(1);
        assert_eq!(
            xbtusd.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
            Some(dec!(12300))
        );
    }

    #[test]
    fn quanto_uses_settlement_price() {
        // BitMEX ETHUSD: 100 XBt per contract per USD of ETH price, XBT at 50,000.
        let mut ethusd = linear();
        ethusd.kind = ContractKind::Quanto;
        ethusd.lot = dec!(1);
        ethusd.contract_value = dec!(0.000001);
        assert_eq!(
            ethusd.qty_for_notional(dec!(12345), dec!(2500), dec!(50000)),
            Some(dec!(98))
        );
    }

    #[test]
    fn kucoin_style_multiplier() {
        // XBTUSDTM: 1 lot = 0.001 BTC; $12,345 at 50,000 -> 246 lots.
        let mut k = linear();
        k.lot = dec!(1);
        k.contract_value = dec!(0.001);
        assert_eq!(
            k.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
            Some(dec!(246))
        );
    }

    #[test]
    fn fx_units_through_the_quote_currency_rate() {
        // FX units of the base currency, lot 1: $10,000 at the quote currency's USD rate.
        let mut fx = linear();
        fx.kind = ContractKind::Fx;
        fx.lot = dec!(1);
        // EUR_USD: quote USD.
        assert_eq!(
            fx.qty_for_notional(dec!(10000), dec!(1.085), dec!(1)),
            Some(dec!(9216))
        );
        // USD_JPY: 155 JPY × 1/155 USD per JPY; one unit is a dollar.
        assert_eq!(
            fx.qty_for_notional(dec!(10000), dec!(155), dec!(0.0064516)),
            Some(dec!(10000))
        );
        // EUR_GBP: 0.85 GBP × 1.27647 USD per GBP, short.
        assert_eq!(
            fx.qty_for_notional(dec!(-10000), dec!(0.85), dec!(1.27647)),
            Some(dec!(-9216))
        );
    }

    #[test]
    fn zero_price_gives_none() {
        assert_eq!(linear().qty_for_notional(dec!(100), dec!(0), dec!(1)), None);
    }

    #[test]
    fn price_rounding_is_passive() {
        assert_eq!(linear().round_price(dec!(100.17), true), dec!(100.1));
        assert_eq!(linear().round_price(dec!(100.11), false), dec!(100.2));
    }
}
