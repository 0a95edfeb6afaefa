//! MEXC contract v1 wire types, spelled as MEXC spells them. Numbers arrive as JSON numbers
//! (read through their text by `common::num::opt`, never kept as floats); ids arrive as
//! strings or numbers depending on the endpoint's age, and are kept as strings.

use crate::venue::common::num;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Every REST answer: `{"success":true,"code":0,"data":…}` or
/// `{"success":false,"code":602,"message":"…"}`, nearly always inside HTTP 200.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Envelope {
    /// Missing on anything that is not an envelope (a proxy's page, a bare list).
    pub success: Option<bool>,
    /// A number, or the same number as a string (seen in the wild).
    pub code: Value,
    pub message: String,
    pub data: Value,
}

impl Envelope {
    pub fn code(&self) -> i64 {
        match &self.code {
            Value::Number(n) => n.as_i64().unwrap_or(-1),
            Value::String(s) => s.trim().parse().unwrap_or(-1),
            _ => 0,
        }
    }
}

/// An id sent as a string or a number.
pub fn id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    })
}

/// `GET /api/v1/contract/detail?symbol=…`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContractDetail {
    pub symbol: String,
    pub base_coin: String,
    pub settle_coin: String,
    pub quote_coin: String,
    /// Base units per contract.
    #[serde(deserialize_with = "num::opt")]
    pub contract_size: Option<Decimal>,
    /// Price tick.
    #[serde(deserialize_with = "num::opt")]
    pub price_unit: Option<Decimal>,
    /// Contract step.
    #[serde(deserialize_with = "num::opt")]
    pub vol_unit: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub min_vol: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub max_vol: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub max_leverage: Option<Decimal>,
    /// 0 enabled, 1 delivery, 2 completed, 3 offline, 4 paused.
    pub state: i64,
    /// Whether orders through the API are allowed on this contract.
    pub api_allowed: Option<bool>,
}

/// `GET /api/v1/contract/fair_price/{symbol}`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FairPrice {
    pub symbol: String,
    #[serde(deserialize_with = "num::opt")]
    pub fair_price: Option<Decimal>,
    pub timestamp: Option<i64>,
}

/// A row of `GET /api/v1/private/account/assets`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Asset {
    pub currency: String,
    #[serde(deserialize_with = "num::opt")]
    pub equity: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub available_balance: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub cash_balance: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub unrealized: Option<Decimal>,
}

/// A row of `open_positions` and of `push.personal.position`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PositionRow {
    #[serde(deserialize_with = "id")]
    pub position_id: String,
    pub symbol: String,
    /// 1 long, 2 short.
    pub position_type: i64,
    /// 1 isolated, 2 cross.
    pub open_type: i64,
    /// 1 holding, 2 system holding, 3 closed.
    pub state: i64,
    /// Contracts, unsigned.
    #[serde(deserialize_with = "num::opt")]
    pub hold_vol: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub hold_avg_price: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub leverage: Option<Decimal>,
}

/// An order of `order/get`, `order/external`, `open_orders` and `push.personal.order`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderRow {
    #[serde(deserialize_with = "id")]
    pub order_id: String,
    pub symbol: String,
    #[serde(deserialize_with = "num::opt")]
    pub price: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub vol: Option<Decimal>,
    /// 1 open long, 2 close short, 3 open short, 4 close long.
    pub side: i64,
    /// 1 limit, 2 post-only, 3 IOC, 4 FOK, 5 market, 6 market-to-limit.
    pub order_type: i64,
    #[serde(deserialize_with = "num::opt")]
    pub deal_vol: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub deal_avg_price: Option<Decimal>,
    /// 1 uninformed, 2 uncompleted, 3 completed, 4 cancelled, 5 invalid.
    pub state: i64,
    pub external_oid: String,
    pub error_code: i64,
    pub reduce_only: Option<bool>,
}

/// A fill of `push.personal.order.deal` (shaped like the REST `order_deals` rows).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DealRow {
    pub symbol: String,
    pub side: i64,
    #[serde(deserialize_with = "num::opt")]
    pub vol: Option<Decimal>,
    #[serde(deserialize_with = "num::opt")]
    pub price: Option<Decimal>,
    pub external_oid: String,
    pub timestamp: Option<i64>,
}

/// `GET /api/v1/private/position/leverage?symbol=` rows, one per side.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeverageRow {
    pub position_type: i64,
    pub open_type: i64,
    #[serde(deserialize_with = "num::opt")]
    pub leverage: Option<Decimal>,
}

/// `GET /api/v1/contract/kline/{symbol}`: parallel arrays, times in seconds.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Klines {
    pub time: Vec<i64>,
    pub open: Vec<Value>,
    pub close: Vec<Value>,
    pub high: Vec<Value>,
    pub low: Vec<Value>,
    pub vol: Vec<Value>,
}

/// One item of `submit_batch`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchItem {
    pub external_oid: String,
    #[serde(deserialize_with = "id")]
    pub order_id: String,
    pub error_code: i64,
    pub error_msg: String,
}

/// Any private-stream frame: `{"channel": …, "data": …, "ts": …}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WsFrame {
    pub channel: String,
    pub data: Value,
}

/// A JSON object written field by field, so that numbers go on the wire as the exact text of
/// their `Decimal` (serde_json here has no arbitrary precision and would go through f64) and
/// the field order is ours: the bytes built are the bytes signed and sent.
#[derive(Debug, Default)]
pub struct Body {
    text: String,
}

impl Body {
    pub fn new() -> Body {
        Body::default()
    }

    fn key(&mut self, key: &str) {
        self.text.push(if self.text.is_empty() { '{' } else { ',' });
        self.text
            .push_str(&Value::String(key.to_string()).to_string());
        self.text.push(':');
    }

    pub fn str(mut self, key: &str, value: &str) -> Body {
        self.key(key);
        self.text
            .push_str(&Value::String(value.to_string()).to_string());
        self
    }

    /// A decimal as a JSON number (plain notation, trailing zeros dropped).
    pub fn num(mut self, key: &str, value: Decimal) -> Body {
        self.key(key);
        self.text.push_str(&value.normalize().to_string());
        self
    }

    pub fn int(mut self, key: &str, value: i64) -> Body {
        self.key(key);
        self.text.push_str(&value.to_string());
        self
    }

    pub fn bool(mut self, key: &str, value: bool) -> Body {
        self.key(key);
        self.text.push_str(if value { "true" } else { "false" });
        self
    }

    /// A field whose value is already JSON (a number id).
    pub fn raw(mut self, key: &str, json: &str) -> Body {
        self.key(key);
        self.text.push_str(json);
        self
    }

    pub fn finish(self) -> String {
        if self.text.is_empty() {
            "{}".into()
        } else {
            self.text + "}"
        }
    }
}
