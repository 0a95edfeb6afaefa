//! Venues whose leverage is one setting for the whole account (OANDA's margin rate) cannot be
//! given a symbol's leverage, so the executor never sets it there. A weighted leverage above
//! what the account's rate allows (the instrument's `max_leverage`) would be exceeded
//! silently; instead the target is scaled down to the allowed leverage (reducing stays
//! allowed), and the cap is reported once in the log and kept in `/status` while it lasts.

use super::symbol::SymbolJob;
use crate::domain::Instrument;
use crate::venue::LeverageScope;
use rust_decimal::Decimal;

/// The USD target a symbol may have, and the leverage it was capped to when it was.
pub fn capped(
    notional: Decimal,
    leverage: Decimal,
    scope: LeverageScope,
    max_leverage: Option<Decimal>,
) -> (Decimal, Option<Decimal>) {
    match (scope, max_leverage) {
        (LeverageScope::PerAccount, Some(max))
            if max > Decimal::ZERO && leverage > max && leverage > Decimal::ZERO =>
        {
            (notional * max / leverage, Some(max))
        }
        _ => (notional, None),
    }
}

impl SymbolJob {
    /// The symbol's notional after the account-wide leverage cap; logs a change of cap once
    /// and mirrors it in the symbol's `/status` row.
    pub(super) fn leverage_capped_notional(&self, instrument: &Instrument) -> Decimal {
        let scope = self.venue.capabilities().leverage;
        let (notional, cap) = capped(self.notional, self.leverage, scope, instrument.max_leverage);
        let note = cap.map(|max| {
            format!(
                "leverage {} is above the {max} the account's margin rate allows on {}: the target is sized at {max}",
                self.leverage.normalize(),
                self.account.venue
            )
        });
        let mut changed = false;
        self.cache
            .update_symbol(&self.account.name, &self.symbol, |s| {
                changed = s.leverage_capped != note;
                s.leverage_capped = note.clone();
            });
        if changed {
            match (&note, cap) {
                (Some(note), Some(max)) => tracing::warn!(
                    account = %self.account.name, symbol = %self.symbol, native = %self.native,
                    leverage = %self.leverage, allowed = %max, "{note}"
                ),
                _ => tracing::info!(
                    account = %self.account.name, symbol = %self.symbol,
                    "leverage within what the account allows again"
                ),
            }
        }
        notional
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn account_wide_leverage_caps_the_target() {
        // Margin rate 0.05 allows 20; leverage 30 sizes at 20.
        let (n, cap) = capped(
            dec!(30000),
            dec!(30),
            LeverageScope::PerAccount,
            Some(dec!(20)),
        );
        assert_eq!((n, cap), (dec!(20000), Some(dec!(20))));
        let (n, cap) = capped(
            dec!(-30000),
            dec!(30),
            LeverageScope::PerAccount,
            Some(dec!(20)),
        );
        assert_eq!((n, cap), (dec!(-20000), Some(dec!(20))));
    }

    #[test]
    fn within_the_cap_or_per_symbol_is_untouched() {
        for (lev, scope, max) in [
            (dec!(20), LeverageScope::PerAccount, Some(dec!(20))),
            (dec!(2), LeverageScope::PerAccount, None),
            (dec!(30), LeverageScope::PerSymbol, Some(dec!(20))),
        ] {
            assert_eq!(capped(dec!(1000), lev, scope, max), (dec!(1000), None));
        }
    }
}
