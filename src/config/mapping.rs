use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `asset_mapping.json`, the Python tool's `asset_mapping_config.json`:
/// `{ "<source>": { "<source symbol>": "<unified symbol>" } }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AssetMapping(pub BTreeMap<String, BTreeMap<String, String>>);

impl AssetMapping {
    /// The unified symbol for a source's symbol, if the source maps it. A source without any
    /// mapping section passes its symbols through unchanged (the Python tool's behaviour for
    /// TradingView); a source with a section maps only what the section lists.
    pub fn unify(&self, source: &str, symbol: &str) -> Option<String> {
        match self.section(source) {
            None => Some(symbol.trim().to_ascii_uppercase()),
            Some(section) => section
                .iter()
                .find(|(from, _)| from.eq_ignore_ascii_case(symbol.trim()))
                .map(|(_, to)| to.trim().to_ascii_uppercase()),
        }
    }

    fn section(&self, source: &str) -> Option<&BTreeMap<String, String>> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(source))
            .map(|(_, section)| section)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_listed_symbols_and_passes_through_unlisted_sources() {
        let mapping: AssetMapping = serde_json::from_str(
            r#"{"bittensor": {"BTCUSD": "BTCUSDT"}, "tradingview": {"ETHUSDT": "ETHUSDT"}}"#,
        )
        .unwrap();
        assert_eq!(
            mapping.unify("bittensor", "btcusd").as_deref(),
            Some("BTCUSDT")
        );
        assert_eq!(mapping.unify("bittensor", "DOGEUSD"), None);
        assert_eq!(
            mapping.unify("manual", "solusdt").as_deref(),
            Some("SOLUSDT")
        );
    }
}
