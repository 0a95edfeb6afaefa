//! Whether the config set lets a webhook signal count: its leverage within
//! `risk.max_leverage` (refused, never silently capped, as in signal_weights.json), and its
//! symbol one that asset_mapping.json and signal_weights.json use for this source. A signal
//! that would change nothing is refused rather than stored forever.

use super::payload::Incoming;
use crate::config::ConfigSet;

/// The reason to refuse `incoming` for webhook source `source`, if any (answered with 422).
pub fn refusal(config: &ConfigSet, source: &str, incoming: &Incoming) -> Option<String> {
    let max = config.engine.risk.max_leverage;
    if let Some(l) = incoming.leverage.filter(|l| *l > max) {
        return Some(format!(
            "\"leverage\" {l} is above risk.max_leverage {max} in engine.json"
        ));
    }
    let Some(unified) = config.mapping.unify(source, &incoming.symbol) else {
        return Some(format!(
            "symbol {} is not in the \"{source}\" section of asset_mapping.json; the signal would change nothing and is not stored",
            incoming.symbol
        ));
    };
    let weighted = config.weights.get(&unified).is_some_and(|w| {
        w.sources
            .iter()
            .any(|s| s.source.eq_ignore_ascii_case(source))
    });
    if !weighted {
        return Some(format!(
            "no entry of signal_weights.json gives source \"{source}\" a weight for {unified}; the signal would change nothing and is not stored"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::tradingview::payload::parse;
    use serde_json::json;

    fn config(mapping: &str) -> ConfigSet {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("engine.json"),
            r#"{"sources": [{"name": "tv", "kind": "tradingview", "token": "0123456789abcdef"}],
                "risk": {"max_leverage": 10}}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join("signal_weights.json"),
            r#"[{"symbol": "BTCUSDT", "leverage": 2, "sources": [{"source": "tv", "weight": 1}]},
                {"symbol": "ETHUSDT", "leverage": 2, "sources": [{"source": "other", "weight": 1}]}]"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("asset_mapping.json"), mapping).unwrap();
        ConfigSet::load_with_env(dir.path(), vec![]).unwrap()
    }

    fn refused(config: &ConfigSet, body: serde_json::Value) -> Option<String> {
        refusal(config, "tv", &parse(&body).unwrap())
    }

    #[test]
    fn leverage_above_the_cap_and_unused_symbols_are_refused() {
        let c = config("{}");
        assert_eq!(
            refused(
                &c,
                json!({"symbol": "BTCUSDT", "depth": 0.5, "leverage": 10})
            ),
            None
        );
        let r = refused(
            &c,
            json!({"symbol": "BTCUSDT", "depth": 0.5, "leverage": 11}),
        )
        .unwrap();
        assert!(
            r.contains("leverage\" 11 is above risk.max_leverage 10"),
            "{r}"
        );
        let r = refused(&c, json!({"symbol": "DOGEUSDT", "depth": 0.5})).unwrap();
        assert!(
            r.contains("gives source \"tv\" a weight for DOGEUSDT"),
            "{r}"
        );
        // Weighted, but for another source only.
        let r = refused(&c, json!({"symbol": "ETHUSDT", "depth": 0.5})).unwrap();
        assert!(r.contains("for ETHUSDT"), "{r}");
        let c = config(r#"{"tv": {"XBT": "BTCUSDT"}}"#);
        assert_eq!(refused(&c, json!({"symbol": "xbt", "depth": 0.5})), None);
        let r = refused(&c, json!({"symbol": "BTCUSDT", "depth": 0.5})).unwrap();
        assert!(
            r.contains("not in the \"tv\" section of asset_mapping.json"),
            "{r}"
        );
    }
}
