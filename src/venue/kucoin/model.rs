//! KuCoin Futures wire types, spelled as the venue spells them. Numbers arrive as JSON numbers
//! in some places and strings in others (`multiplier: 0.001`, `price: "0.1"`): every decimal
//! goes through `common::num::opt`, never through f64.

use crate::venue::common::num::opt;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"code":"200000","data":…}` on success, `{"code":"…","msg":"…"}` otherwise.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub code: serde_json::Value,
    #[serde(default)]
    pub msg: Option<String>,
    #[serde(default)]
    pub data: serde_json::Value,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractRow {
    pub symbol: String,
    #[serde(default, deserialize_with = "opt")]
    pub multiplier: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub lot_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub tick_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub max_order_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub max_leverage: Option<Decimal>,
    #[serde(default)]
    pub is_inverse: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountOverview {
    #[serde(default, deserialize_with = "opt")]
    pub account_equity: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub available_balance: Option<Decimal>,
    #[serde(default)]
    pub currency: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionRow {
    pub symbol: String,
    /// Lots, signed: negative is short.
    #[serde(default, deserialize_with = "opt")]
    pub current_qty: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub avg_entry_price: Option<Decimal>,
    #[serde(default)]
    pub margin_mode: Option<String>,
    #[serde(default)]
    pub cross_mode: Option<bool>,
    /// `BOTH` in one-way mode; `LONG`/`SHORT` legs in hedge mode.
    #[serde(default)]
    pub position_side: Option<String>,
    /// Cross leverage.
    #[serde(default, deserialize_with = "opt")]
    pub leverage: Option<Decimal>,
    /// Isolated: the leverage the position was opened with.
    #[serde(default, deserialize_with = "opt")]
    pub real_leverage: Option<Decimal>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRow {
    pub id: String,
    #[serde(default)]
    pub client_oid: Option<String>,
    pub symbol: String,
    #[serde(default, rename = "type")]
    pub order_type: String,
    pub side: String,
    #[serde(default, deserialize_with = "opt")]
    pub price: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub filled_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub deal_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub avg_deal_price: Option<Decimal>,
    /// `open` or `done`.
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub is_active: Option<bool>,
    #[serde(default)]
    pub reduce_only: Option<bool>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPage {
    #[serde(default)]
    pub current_page: u32,
    #[serde(default)]
    pub total_page: u32,
    #[serde(default)]
    pub items: Vec<OrderRow>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkPrice {
    #[serde(default, deserialize_with = "opt")]
    pub value: Option<Decimal>,
    #[serde(default)]
    pub time_point: Option<i64>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarginModeRow {
    #[serde(default)]
    pub margin_mode: String,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bullet {
    pub token: String,
    #[serde(default)]
    pub instance_servers: Vec<InstanceServer>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceServer {
    pub endpoint: String,
    #[serde(default)]
    pub protocol: String,
    /// Milliseconds.
    #[serde(default)]
    pub ping_interval: Option<u64>,
}

/// One item of `POST /api/v1/orders/multi`'s answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    #[serde(default)]
    pub order_id: Option<String>,
    #[serde(default)]
    pub client_oid: Option<String>,
    #[serde(default)]
    pub code: serde_json::Value,
    #[serde(default)]
    pub msg: Option<String>,
}

/// The place-order body, in the field order of the shared vectors.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder<'a> {
    pub client_oid: &'a str,
    pub side: &'static str,
    pub symbol: &'a str,
    #[serde(rename = "type")]
    pub order_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// Whole lots, a JSON number.
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leverage: Option<u32>,
    pub margin_mode: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub reduce_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<&'static str>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CrossLeverage<'a> {
    pub symbol: &'a str,
    /// A string on the wire.
    pub leverage: String,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeMarginMode<'a> {
    pub symbol: &'a str,
    pub margin_mode: &'static str,
}

/// A stream frame: `welcome`, `ack`, `pong`, `error` or a `message` push.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct WsFrame {
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub data: serde_json::Value,
    #[serde(default)]
    pub code: Option<serde_json::Value>,
}

/// An order push of `/contractMarket/tradeOrders` (sizes and prices as strings).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPush {
    pub order_id: String,
    #[serde(default)]
    pub client_oid: Option<String>,
    pub symbol: String,
    pub side: String,
    /// open, match, update, filled, canceled.
    #[serde(default, rename = "type")]
    pub change: String,
    /// open, match, done.
    #[serde(default)]
    pub status: String,
    #[serde(default, deserialize_with = "opt")]
    pub size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub filled_size: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub match_price: Option<Decimal>,
    #[serde(default, deserialize_with = "opt")]
    pub match_size: Option<Decimal>,
    /// Nanoseconds.
    #[serde(default)]
    pub ts: Option<i64>,
}
