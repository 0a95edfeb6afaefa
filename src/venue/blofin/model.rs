//! BloFin wire types, spelled as BloFin spells them. Every value arrives as a JSON string
//! (numbers too, `null` now and then): fields are kept as text here (`null` → `""`) and
//! `parse.rs` turns them into `Decimal`s, so a format change is handled in one place.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

/// A string, number, bool or `null` read as text (`null` → `""`).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    })
}

/// Every REST answer: `code` "0" and `data`, or a business error inside HTTP 200.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    #[serde(deserialize_with = "text")]
    pub code: String,
    #[serde(default, deserialize_with = "text")]
    pub msg: String,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstrumentRow {
    #[serde(deserialize_with = "text")]
    pub inst_id: String,
    #[serde(deserialize_with = "text")]
    pub quote_currency: String,
    #[serde(deserialize_with = "text")]
    pub settle_currency: String,
    #[serde(deserialize_with = "text")]
    pub contract_value: String,
    #[serde(deserialize_with = "text")]
    pub lot_size: String,
    #[serde(deserialize_with = "text")]
    pub min_size: String,
    #[serde(deserialize_with = "text")]
    pub tick_size: String,
    #[serde(deserialize_with = "text")]
    pub max_leverage: String,
    #[serde(deserialize_with = "text")]
    pub max_market_size: String,
    #[serde(deserialize_with = "text")]
    pub contract_type: String,
    #[serde(deserialize_with = "text")]
    pub state: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarkPriceRow {
    #[serde(deserialize_with = "text")]
    pub inst_id: String,
    #[serde(deserialize_with = "text")]
    pub mark_price: String,
    #[serde(deserialize_with = "text")]
    pub ts: String,
}

/// `data` of `GET /api/v1/account/balance` and of the `account` stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Balance {
    #[serde(deserialize_with = "text")]
    pub total_equity: String,
    pub details: Vec<BalanceDetail>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BalanceDetail {
    #[serde(deserialize_with = "text")]
    pub currency: String,
    #[serde(deserialize_with = "text")]
    pub equity: String,
    #[serde(deserialize_with = "text")]
    pub available_equity: String,
    #[serde(deserialize_with = "text")]
    pub available: String,
}

/// A row of `GET /api/v1/account/positions` and of the `positions` stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PositionRow {
    #[serde(deserialize_with = "text")]
    pub inst_id: String,
    #[serde(deserialize_with = "text")]
    pub margin_mode: String,
    /// `net` in one-way mode (then `positions` is signed), `long`/`short` in hedge mode.
    #[serde(deserialize_with = "text")]
    pub position_side: String,
    /// Contracts.
    #[serde(deserialize_with = "text")]
    pub positions: String,
    #[serde(deserialize_with = "text")]
    pub average_price: String,
}

/// An order as `orders-pending`, `order-detail`, `orders-history` and the `orders` stream
/// show it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderRow {
    #[serde(deserialize_with = "text")]
    pub inst_id: String,
    #[serde(deserialize_with = "text")]
    pub order_id: String,
    #[serde(deserialize_with = "text")]
    pub client_order_id: String,
    #[serde(deserialize_with = "text")]
    pub side: String,
    #[serde(deserialize_with = "text")]
    pub position_side: String,
    #[serde(deserialize_with = "text")]
    pub order_type: String,
    #[serde(deserialize_with = "text")]
    pub price: String,
    #[serde(deserialize_with = "text")]
    pub size: String,
    #[serde(deserialize_with = "text")]
    pub filled_size: String,
    #[serde(deserialize_with = "text")]
    pub average_price: String,
    #[serde(deserialize_with = "text")]
    pub state: String,
    #[serde(deserialize_with = "text")]
    pub reduce_only: String,
}

/// One item of an order-type answer (place, cancel): its own `code` decides.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ItemResult {
    #[serde(deserialize_with = "text")]
    pub order_id: String,
    #[serde(deserialize_with = "text")]
    pub client_order_id: String,
    #[serde(deserialize_with = "text")]
    pub code: String,
    #[serde(deserialize_with = "text")]
    pub msg: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PositionMode {
    #[serde(deserialize_with = "text")]
    pub position_mode: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeverageRow {
    #[serde(deserialize_with = "text")]
    pub inst_id: String,
    #[serde(deserialize_with = "text")]
    pub leverage: String,
    #[serde(deserialize_with = "text")]
    pub margin_mode: String,
}

/// `POST /api/v1/trade/order`. Field order is the order on the wire (as in the vectors);
/// every value is a string, `price` only for limit orders.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder<'a> {
    pub inst_id: &'a str,
    pub margin_mode: &'a str,
    pub position_side: &'a str,
    pub side: &'a str,
    pub order_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    pub size: String,
    pub reduce_only: &'a str,
    pub client_order_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrder<'a> {
    pub inst_id: &'a str,
    pub order_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLeverage<'a> {
    pub inst_id: &'a str,
    pub leverage: String,
    pub margin_mode: &'a str,
}

/// Any private-stream frame: an event answer (`login`, `subscribe`, `error`) or a push.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WsFrame {
    #[serde(deserialize_with = "text")]
    pub event: String,
    #[serde(deserialize_with = "text")]
    pub code: String,
    #[serde(deserialize_with = "text")]
    pub msg: String,
    pub arg: WsArg,
    pub data: Value,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WsArg {
    #[serde(deserialize_with = "text")]
    pub channel: String,
}
