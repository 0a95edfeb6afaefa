//! Mapping + weights + signals -> one target per unified symbol.
//!
//! `D(u) = Σ_s weight(u, s) × depth_s(u)`, clamped to [-1, 1]. The leverage is the one in
//! signal_weights.json unless sources that currently hold a depth supply their own, in which
//! case it is their depth-and-weight-weighted blend (the Python tool's rule), always capped by
//! `risk.max_leverage`.

pub mod synthetic;

use crate::config::ConfigSet;
use crate::signals::{Signal, SignalSnapshot};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Target {
    pub depth: Decimal,
    pub leverage: Decimal,
    /// Depth per source before weighting, for operators reading `targets`.
    pub sources: BTreeMap<String, Decimal>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TargetBook {
    /// Increments whenever any target changes.
    pub revision: u64,
    pub targets: BTreeMap<String, Target>,
}

/// Signals of one source that map to each unified symbol (latest wins when several of the
/// source's symbols map to the same unified symbol).
fn mapped<'a>(
    config: &ConfigSet,
    source: &str,
    signals: &'a BTreeMap<String, Signal>,
    unmapped: &mut BTreeSet<(String, String)>,
) -> BTreeMap<String, &'a Signal> {
    let mut out: BTreeMap<String, &Signal> = BTreeMap::new();
    for (symbol, signal) in signals {
        match config.mapping.unify(source, symbol) {
            Some(unified) => {
                let keep = out.get(&unified).is_none_or(|old| old.ts <= signal.ts);
                if keep {
                    out.insert(unified, signal);
                }
            }
            None => {
                unmapped.insert((source.to_string(), symbol.clone()));
            }
        }
    }
    out
}

/// Computes every symbol's target. `unmapped` collects (source, symbol) pairs that the
/// mapping does not know, for a warning.
pub fn compute(
    config: &ConfigSet,
    signals: &SignalSnapshot,
    unmapped: &mut BTreeSet<(String, String)>,
) -> BTreeMap<String, Target> {
    let by_source: BTreeMap<String, BTreeMap<String, &Signal>> = signals
        .iter()
        .map(|(source, sigs)| {
            (
                source.to_ascii_lowercase(),
                mapped(config, source, sigs, unmapped),
            )
        })
        .collect();
    let max_leverage = config.engine.risk.max_leverage;
    let mut targets = BTreeMap::new();
    for w in &config.weights.0 {
        let symbol = w.symbol.trim().to_ascii_uppercase();
        let mut depth = Decimal::ZERO;
        let mut lev_num = Decimal::ZERO;
        let mut lev_den = Decimal::ZERO;
        let mut sources = BTreeMap::new();
        for s in &w.sources {
            let signal = by_source
                .get(&s.source.to_ascii_lowercase())
                .and_then(|m| m.get(&symbol));
            let source_depth = signal.map(|sig| sig.depth).unwrap_or_default();
            sources.insert(s.source.clone(), source_depth);
            if s.weight.is_zero() {
                continue;
            }
            depth += s.weight * source_depth;
            if let Some(l) = signal
                .and_then(|sig| sig.leverage)
                .filter(|l| *l > Decimal::ZERO)
            {
                if !source_depth.is_zero() {
                    lev_num += l * source_depth.abs() * s.weight;
                    lev_den += source_depth.abs() * s.weight;
                }
            }
        }
        let depth = depth.clamp(Decimal::NEGATIVE_ONE, Decimal::ONE).normalize();
        let leverage = if lev_den > Decimal::ZERO {
            (lev_num / lev_den).max(Decimal::ONE)
        } else {
            w.leverage
        };
        targets.insert(
            symbol,
            Target {
                depth,
                leverage: leverage.min(max_leverage).round_dp(4).normalize(),
                sources,
            },
        );
    }
    targets
}

/// Keeps a [`TargetBook`] up to date as signals and config change; its revision moves only
/// when a target actually changes.
pub fn spawn_target_book(
    mut config: tokio::sync::watch::Receiver<std::sync::Arc<ConfigSet>>,
    book: std::sync::Arc<crate::signals::SignalBook>,
) -> tokio::sync::watch::Receiver<std::sync::Arc<TargetBook>> {
    let mut warned = BTreeSet::new();
    let initial = {
        let cfg = config.borrow_and_update().clone();
        let mut unmapped = BTreeSet::new();
        let targets = compute(&cfg, &book.snapshot(), &mut unmapped);
        warn_unmapped(&mut warned, unmapped);
        TargetBook {
            revision: 1,
            targets,
        }
    };
    let (tx, rx) = tokio::sync::watch::channel(std::sync::Arc::new(initial));
    let mut signals = book.subscribe();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                r = signals.changed() => if r.is_err() { return },
                r = config.changed() => if r.is_err() { return },
            }
            let cfg = config.borrow_and_update().clone();
            signals.borrow_and_update();
            let mut unmapped = BTreeSet::new();
            let targets = compute(&cfg, &book.snapshot(), &mut unmapped);
            warn_unmapped(&mut warned, unmapped);
            let current = tx.borrow().clone();
            if current.targets != targets {
                let revision = current.revision + 1;
                for (symbol, t) in &targets {
                    if current.targets.get(symbol) != Some(t) {
                        tracing::info!(symbol = %symbol, depth = %t.depth, leverage = %t.leverage, revision, "target changed");
                    }
                }
                if tx
                    .send(std::sync::Arc::new(TargetBook { revision, targets }))
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    rx
}

fn warn_unmapped(warned: &mut BTreeSet<(String, String)>, unmapped: BTreeSet<(String, String)>) {
    for pair in unmapped {
        if warned.insert(pair.clone()) {
            tracing::warn!(source = %pair.0, symbol = %pair.1, "signal for a symbol that asset_mapping.json does not map; ignored");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{AssetMapping, EngineConfig, SignalWeights};
    use chrono::Utc;
    use rust_decimal_macros::dec;

    fn config(weights: &str, mapping: &str) -> ConfigSet {
        ConfigSet {
            dir: ".".into(),
            engine: serde_json::from_str::<EngineConfig>("{}").unwrap(),
            weights: serde_json::from_str::<SignalWeights>(weights).unwrap(),
            mapping: serde_json::from_str::<AssetMapping>(mapping).unwrap(),
            credentials: Default::default(),
            warnings: vec![],
        }
    }

    fn sig(source: &str, symbol: &str, depth: Decimal, leverage: Option<Decimal>) -> Signal {
        Signal {
            source: source.into(),
            symbol: symbol.into(),
            depth,
            leverage,
            ts: Utc::now(),
            seq: None,
        }
    }

    fn snapshot(signals: Vec<Signal>) -> SignalSnapshot {
        let mut s = SignalSnapshot::new();
        for sig in signals {
            s.entry(sig.source.clone())
                .or_default()
                .insert(sig.symbol.clone(), sig);
        }
        s
    }

    const WEIGHTS: &str = r#"[{"symbol": "BTCUSDT", "leverage": 3, "sources": [
        {"source": "tradingview", "weight": 0.1}, {"source": "bittensor", "weight": 0.15}]}]"#;
    const MAPPING: &str =
        r#"{"tradingview": {"BTCUSDT": "BTCUSDT"}, "bittensor": {"BTCUSD": "BTCUSDT"}}"#;

    #[test]
    fn weighted_sum_with_mapping() {
        let cfg = config(WEIGHTS, MAPPING);
        let signals = snapshot(vec![
            sig("tradingview", "BTCUSDT", dec!(0.5), None),
            sig("bittensor", "BTCUSD", dec!(-0.2), None),
            sig("bittensor", "DOGEUSD", dec!(0.9), None),
        ]);
        let mut unmapped = BTreeSet::new();
        let t = compute(&cfg, &signals, &mut unmapped);
        // 0.1 × 0.5 + 0.15 × -0.2 = 0.02
        assert_eq!(t["BTCUSDT"].depth, dec!(0.02));
        assert_eq!(t["BTCUSDT"].leverage, dec!(3));
        assert!(unmapped.contains(&("bittensor".to_string(), "DOGEUSD".to_string())));
    }

    #[test]
    fn missing_signal_counts_as_zero() {
        let cfg = config(WEIGHTS, MAPPING);
        let t = compute(&cfg, &SignalSnapshot::new(), &mut BTreeSet::new());
        assert_eq!(t["BTCUSDT"].depth, Decimal::ZERO);
    }

    #[test]
    fn signal_leverage_blends_and_is_capped() {
        let cfg = config(WEIGHTS, MAPPING);
        let signals = snapshot(vec![
            sig("tradingview", "BTCUSDT", dec!(1), Some(dec!(5))),
            sig("bittensor", "BTCUSD", dec!(1), None),
        ]);
        let t = compute(&cfg, &signals, &mut BTreeSet::new());
        assert_eq!(t["BTCUSDT"].depth, dec!(0.25));
        assert_eq!(t["BTCUSDT"].leverage, dec!(5));
        let signals = snapshot(vec![sig(
            "tradingview",
            "BTCUSDT",
            dec!(1),
            Some(dec!(500)),
        )]);
        let t = compute(&cfg, &signals, &mut BTreeSet::new());
        assert_eq!(t["BTCUSDT"].leverage, dec!(20));
    }

    #[test]
    fn depth_is_clamped() {
        // Two full-weight sources at the same extreme sum beyond ±1: the sum is clamped.
        let cfg = config(
            r#"[{"symbol": "ETHUSDT", "leverage": 1, "sources": [{"source": "a", "weight": 1}, {"source": "b", "weight": 1}]},
                {"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "a", "weight": 1}, {"source": "b", "weight": 1}]}]"#,
            "{}",
        );
        let signals = snapshot(vec![
            sig("a", "ETHUSDT", dec!(-1), None),
            sig("b", "ETHUSDT", dec!(-0.5), None),
            sig("a", "BTCUSDT", dec!(0.8), None),
            sig("b", "BTCUSDT", dec!(0.7), None),
        ]);
        let t = compute(&cfg, &signals, &mut BTreeSet::new());
        assert_eq!(t["ETHUSDT"].depth, dec!(-1));
        assert_eq!(t["BTCUSDT"].depth, dec!(1));
    }
}
