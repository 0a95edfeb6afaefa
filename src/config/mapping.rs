use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// `asset_mapping.json`, the Python tool's `asset_mapping_config.json`:
/// `{ "<source>": { "<source symbol>": "<unified symbol>" } }`. A top-level `"$schema"`
/// string is an editor hint and no source.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct AssetMapping(pub BTreeMap<String, BTreeMap<String, String>>);

impl<'de> Deserialize<'de> for AssetMapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = AssetMapping;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "an object { \"<source>\": { \"<source symbol>\": \"<unified symbol>\" } }",
                )
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AssetMapping, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == super::SCHEMA_KEY {
                        map.next_value::<String>()?;
                        continue;
                    }
                    let section = map.next_value::<BTreeMap<String, String>>()?;
                    out.insert(key, section);
                }
                Ok(AssetMapping(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for AssetMapping {
    fn schema_name() -> Cow<'static, str> {
        "AssetMapping".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "Per source, source symbol -> unified symbol. A source with a section maps only the symbols listed (an empty section maps nothing); a source without one passes its symbols through unchanged.",
            "type": "object",
            "properties": { "$schema": { "type": "string" } },
            "additionalProperties": {
                "type": "object",
                "additionalProperties": { "type": "string", "minLength": 1 }
            }
        })
    }
}

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
