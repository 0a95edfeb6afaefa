use rust_decimal::Decimal;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `signal_weights.json`, in exactly the shape of the Python tool's `signal_weight_config.json`:
/// a list of `{ symbol, leverage, sources: [{ source, weight }] }`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct SignalWeights(pub Vec<SymbolWeights>);

/// Unknown fields are errors: a typo such as `"source"` for `"sources"` would otherwise leave
/// the symbol without sources, which closes its position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SymbolWeights {
    pub symbol: String,
    pub leverage: Decimal,
    #[serde(default)]
    pub sources: Vec<SourceWeight>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceWeight {
    pub source: String,
    pub weight: Decimal,
}

impl SignalWeights {
    pub fn get(&self, symbol: &str) -> Option<&SymbolWeights> {
        self.0
            .iter()
            .find(|w| w.symbol.eq_ignore_ascii_case(symbol))
    }
}

impl SymbolWeights {
    pub fn weight_sum(&self) -> Decimal {
        self.sources.iter().map(|s| s.weight).sum()
    }
}
