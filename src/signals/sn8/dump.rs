//! The `/miner-positions` dump: miners keyed by hotkey, each with its positions. Only the
//! fields the ranking reads are kept; the rest (order `price_sources` and the like, most of
//! the bytes) are skipped while decoding.

use crate::signals::lenient::serde_decimal;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;

/// hotkey → miner. A miner whose entry does not decode is kept as `Unreadable`, so one odd
/// entry does not throw away the whole dump.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct Dump(pub BTreeMap<String, MinerEntry>);

#[derive(Debug)]
pub enum MinerEntry {
    Miner(Miner),
    Unreadable(String),
}

impl<'de> Deserialize<'de> for MinerEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // One miner at a time goes through a Value, which bounds the extra memory to the
        // largest miner rather than the whole dump.
        let value = serde_json::Value::deserialize(d)?;
        Ok(match Miner::deserialize(value) {
            Ok(m) => MinerEntry::Miner(m),
            Err(e) => MinerEntry::Unreadable(e.to_string()),
        })
    }
}

impl Dump {
    pub fn miners(&self) -> impl Iterator<Item = (&str, &Miner)> {
        self.0.iter().filter_map(|(k, e)| match e {
            MinerEntry::Miner(m) => Some((k.as_str(), m)),
            MinerEntry::Unreadable(_) => None,
        })
    }

    pub fn unreadable(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().filter_map(|(k, e)| match e {
            MinerEntry::Unreadable(why) => Some((k.as_str(), why.as_str())),
            MinerEntry::Miner(_) => None,
        })
    }

    pub fn miner(&self, hotkey: &str) -> Option<&Miner> {
        match self.0.get(hotkey) {
            Some(MinerEntry::Miner(m)) => Some(m),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
pub struct Miner {
    #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
    pub all_time_returns: Option<Decimal>,
    #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
    pub thirty_day_returns: Option<Decimal>,
    #[serde(default)]
    pub positions: Vec<Position>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Position {
    pub trade_pair: TradePair,
    pub open_ms: i64,
    #[serde(default)]
    pub close_ms: Option<i64>,
    #[serde(default)]
    pub is_closed_position: bool,
    #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
    pub net_leverage: Option<Decimal>,
    #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
    pub current_return: Option<Decimal>,
    #[serde(default, deserialize_with = "serde_decimal::deserialize_option")]
    pub return_at_close: Option<Decimal>,
    #[serde(default)]
    pub orders: Vec<Order>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Order {
    pub order_type: String,
    #[serde(deserialize_with = "serde_decimal::deserialize")]
    pub leverage: Decimal,
    #[serde(deserialize_with = "serde_decimal::deserialize")]
    pub price: Decimal,
    pub processed_ms: i64,
}

impl Order {
    pub fn is_flat(&self) -> bool {
        self.order_type.eq_ignore_ascii_case("FLAT")
    }
}

/// `[id, display, fee, min_leverage, max_leverage]`, e.g. `["BTCUSD","BTC/USD",0.003,0.001,20]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TradePair {
    pub id: String,
    pub max_leverage: Option<Decimal>,
}

impl<'de> Deserialize<'de> for TradePair {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let items = Vec::<serde_json::Value>::deserialize(d)?;
        let id = items
            .first()
            .and_then(|v| v.as_str())
            .map(|s| s.trim().to_ascii_uppercase())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| D::Error::custom("trade_pair has no id"))?;
        let max_leverage = crate::signals::lenient::decimal(items.get(4), "trade_pair[4]")
            .map_err(D::Error::custom)?
            .filter(|l| *l > Decimal::ZERO);
        Ok(TradePair { id, max_leverage })
    }
}

impl Position {
    /// The position's multiplicative return: at close (with fees) once closed, else now.
    pub fn multiplicative_return(&self) -> Option<Decimal> {
        if self.is_closed_position {
            self.return_at_close.or(self.current_return)
        } else {
            self.current_return
        }
        .filter(|r| *r >= Decimal::ZERO)
    }

    /// The latest moment anything happened on this position.
    pub fn last_activity_ms(&self) -> i64 {
        let orders = self
            .orders
            .iter()
            .map(|o| o.processed_ms)
            .max()
            .unwrap_or(0);
        self.open_ms.max(self.close_ms.unwrap_or(0)).max(orders)
    }

    /// Signed leverage of an open position: the dump's `net_leverage`, else the running sum
    /// of its orders since the last FLAT.
    pub fn open_leverage(&self) -> Decimal {
        if let Some(l) = self.net_leverage {
            return l;
        }
        let mut net = Decimal::ZERO;
        for o in sorted_orders(&self.orders) {
            if o.is_flat() {
                net = Decimal::ZERO;
            } else {
                net += o.leverage;
            }
        }
        net
    }
}

/// Orders in the order they were processed.
pub fn sorted_orders(orders: &[Order]) -> Vec<&Order> {
    let mut sorted: Vec<&Order> = orders.iter().collect();
    sorted.sort_by_key(|o| o.processed_ms);
    sorted
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! Real miners' positions (tests/fixtures/bittensor, from the network's public repository)
    //! assembled into a dump.

    pub const CAL: &str = "5CALivVcJBTjYJFMsAkqhppQgq5U2PYW4HejCajHMvTMUgkC";
    pub const DXQ: &str = "5Dxqzduahnqw8q3XSUfTcEZGU7xmAsfJubhHZwvXVLN9fSjR";
    pub const GHC: &str = "5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t";

    pub fn positions(hotkey: &str) -> &'static str {
        match hotkey {
            CAL => include_str!("../../../tests/fixtures/bittensor/5CALivVcJBTjYJFMsAkqhppQgq5U2PYW4HejCajHMvTMUgkC.positions.json"),
            DXQ => include_str!("../../../tests/fixtures/bittensor/5Dxqzduahnqw8q3XSUfTcEZGU7xmAsfJubhHZwvXVLN9fSjR.positions.json"),
            GHC => include_str!("../../../tests/fixtures/bittensor/5GhCxfBcA7Ur5iiAS343xwvrYHTUfBjBi4JimiL5LhujRT9t.positions.json"),
            _ => "[]",
        }
    }

    /// A `/miner-positions` body with the given miners and their summary fields.
    pub fn dump_json(miners: &[(&str, serde_json::Value)]) -> String {
        let mut out = serde_json::Map::new();
        for (hotkey, extra) in miners {
            let positions: serde_json::Value =
                serde_json::from_str(positions(hotkey)).expect("fixture");
            let mut miner = serde_json::Map::new();
            miner.insert("positions".into(), positions);
            if let serde_json::Value::Object(fields) = extra {
                for (k, v) in fields {
                    miner.insert(k.clone(), v.clone());
                }
            }
            out.insert(hotkey.to_string(), serde_json::Value::Object(miner));
        }
        serde_json::Value::Object(out).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;
    use super::*;
    use rust_decimal_macros::dec;
    use serde_json::json;

    #[test]
    fn decodes_the_real_fixtures() {
        let dump: Dump = serde_json::from_str(&dump_json(&[
            (CAL, json!({"all_time_returns": 0.998})),
            (DXQ, json!({})),
            (GHC, json!({"thirty_day_returns": "1.01"})),
        ]))
        .unwrap();
        assert_eq!(dump.miners().count(), 3);
        let cal = dump.miner(CAL).unwrap();
        assert_eq!(cal.all_time_returns, Some(dec!(0.998)));
        let p = &cal.positions[0];
        assert_eq!(p.trade_pair.id, "BTCUSD");
        assert_eq!(p.trade_pair.max_leverage, Some(dec!(20)));
        assert!(!p.is_closed_position);
        assert_eq!(p.close_ms, None);
        assert_eq!(p.net_leverage, Some(dec!(-0.8)));
        // -0.2 - 0.2 - 0.4 from the three SHORT orders.
        let mut without_net = p.clone();
        without_net.net_leverage = None;
        assert_eq!(without_net.open_leverage(), dec!(-0.8));
        assert_eq!(p.multiplicative_return(), Some(dec!(0.9981984025603954)));
        assert_eq!(
            dump.miner(GHC).unwrap().thirty_day_returns,
            Some(dec!(1.01))
        );
        assert_eq!(dump.miner(DXQ).unwrap().positions.len(), 406);
    }

    #[test]
    fn one_bad_miner_does_not_spoil_the_dump() {
        let dump: Dump = serde_json::from_str(
            r#"{"good": {"positions": []}, "bad": {"positions": [{"trade_pair": []}]}, "error": "x"}"#,
        )
        .unwrap();
        assert_eq!(dump.miners().count(), 1);
        assert_eq!(dump.unreadable().count(), 2);
    }
}
