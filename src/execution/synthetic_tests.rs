//! Synthetic legs through whole engine cycles on the sim venue: the leg notional is added to
//! the account's direct target for the same symbol, and a depth of 0 leaves the direct
//! target alone.

use super::Engine;
use crate::config::{AssetMapping, ConfigSet, EngineConfig, SignalWeights};
use crate::state::{ExecutionCache, Journal};
use crate::targets::{Target, TargetBook};
use crate::venue::sim::SimVenue;
use crate::venue::Venue;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::sync::watch;

/// One sim account "t" (10,000 USD; BTC at 60,000, ETH at 3,000) that weights BTCUSDT directly
/// and carries both legs of XBTETH: long BTCUSDT, short ETHUSDT.
const ENGINE: &str = r#"{
  "accounts": [{"name": "t", "venue": "sim", "sim": {"volatility_bps": 0, "fee_bps": 0, "slippage_bps": 0}}],
  "synthetics": {"XBTETH": {"legs": [
    {"account": "t", "symbol": "BTCUSDT", "side": 1},
    {"account": "t", "symbol": "ETHUSDT", "side": -1}
  ]}}
}"#;

fn book(revision: u64, btc: Decimal, synthetic: Decimal) -> Arc<TargetBook> {
    let target = |depth| Target {
        depth,
        leverage: dec!(1),
        sources: BTreeMap::new(),
    };
    Arc::new(TargetBook {
        revision,
        targets: BTreeMap::from([
            ("BTCUSDT".to_string(), target(btc)),
            ("XBTETH".to_string(), target(synthetic)),
        ]),
    })
}

async fn position(venue: &SimVenue, native: &str) -> Decimal {
    venue
        .positions()
        .await
        .unwrap()
        .into_iter()
        .find(|p| p.native == native)
        .map(|p| p.qty)
        .unwrap_or_default()
}

#[tokio::test]
async fn a_leg_adds_to_the_direct_target_and_depth_zero_returns_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine: EngineConfig = serde_json::from_str(ENGINE).unwrap();
    let params = engine.accounts[0].sim.clone().unwrap();
    let cfg = ConfigSet {
        dir: dir.path().to_path_buf(),
        engine,
        weights: SignalWeights::default(),
        mapping: AssetMapping::default(),
        credentials: Default::default(),
        warnings: vec![],
    };
    let venue = Arc::new(SimVenue::open("t", params, dir.path()).unwrap());
    let (_config, config_rx) = watch::channel(Arc::new(cfg));
    let (targets, targets_rx) = watch::channel(book(1, Decimal::ZERO, Decimal::ZERO));
    let v = venue.clone();
    let mut engine = Engine::new(
        dir.path().to_path_buf(),
        config_rx,
        targets_rx,
        Arc::new(ExecutionCache::open(dir.path()).unwrap()),
        Arc::new(Journal::open(dir.path()).unwrap()),
    )
    .with_venue_factory(Box::new(move |_, _, _| Ok(v.clone() as Arc<dyn Venue>)));
    engine.prepare();
    let handles = engine.handles();

    // Direct 0.3 × 10,000 = 3,000 USD of BTC; the synthetic 0.3 × 10,000 = 3,000 USD on each
    // leg: BTC 6,000 USD = 0.1 BTC, ETH -3,000 USD = -1 ETH (9,000 USD of margin at leverage 1,
    // within the sim's 10,000). The synthetic itself is not a symbol of the account.
    let _ = targets.send(book(2, dec!(0.3), dec!(0.3)));
    engine.cycle("test").await;
    assert_eq!(position(&venue, "BTCUSDT").await, dec!(0.1));
    assert_eq!(position(&venue, "ETHUSDT").await, dec!(-1));
    assert!(handles
        .cache
        .get("t")
        .is_some_and(|a| !a.symbols.contains_key("XBTETH")));
    let status = handles.synthetics.read().unwrap().clone();
    assert_eq!(status[0].name, "XBTETH");
    assert_eq!(status[0].notional_usd, Some(dec!(3000)));
    assert_eq!(status[0].legs[0].actual_usd, Some(dec!(3000)));
    assert_eq!(status[0].legs[1].actual_usd, Some(dec!(-3000)));
    assert_eq!(status[0].imbalance_usd, Some(Decimal::ZERO));

    // Depth 0: back to the direct targets (BTC 0.05, ETH closed).
    let _ = targets.send(book(3, dec!(0.3), Decimal::ZERO));
    engine.cycle("test").await;
    assert_eq!(position(&venue, "BTCUSDT").await, dec!(0.05));
    assert_eq!(position(&venue, "ETHUSDT").await, Decimal::ZERO);
}
