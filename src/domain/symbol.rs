use serde::{Deserialize, Serialize};
use std::fmt;

/// A unified symbol, `BASEQUOTE` in upper case (BTCUSDT, EURUSD). Venues convert it to their
/// own spelling at their boundary.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Symbol(String);

impl Symbol {
    pub fn new(raw: impl AsRef<str>) -> Self {
        Symbol(raw.as_ref().trim().to_ascii_uppercase())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Splits into (base, quote) using the common quote currencies, longest first so that
    /// `BTCUSDT` is BTC/USDT and not BTCUSD/T.
    pub fn split(&self) -> (&str, &str) {
        const QUOTES: [&str; 12] = [
            "USDT", "USDC", "BUSD", "USD", "EUR", "GBP", "JPY", "CHF", "AUD", "CAD", "NZD", "BTC",
        ];
        for quote in QUOTES {
            if self.0.len() > quote.len() && self.0.ends_with(quote) {
                return (&self.0[..self.0.len() - quote.len()], quote);
            }
        }
        (&self.0, "")
    }
}

impl fmt::Display for Symbol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Symbol {
    fn from(raw: &str) -> Self {
        Symbol::new(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_longest_quote_first() {
        assert_eq!(Symbol::new("btcusdt").split(), ("BTC", "USDT"));
        assert_eq!(Symbol::new("XBTUSD").split(), ("XBT", "USD"));
        assert_eq!(Symbol::new("EURUSD").split(), ("EUR", "USD"));
        assert_eq!(Symbol::new("1000PEPEUSDT").split(), ("1000PEPE", "USDT"));
        assert_eq!(Symbol::new("USD").split(), ("USD", ""));
    }
}
