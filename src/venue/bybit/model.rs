//! Bybit v5 wire types, spelled as Bybit spells them. Numbers arrive as strings and stay
//! strings here; `parse.rs` turns them into `Decimal`s, so that a format change (`""` for
//! "none", `"0"` for "no price") is handled in one place.

use serde::{Deserialize, Serialize};

/// Every REST answer: HTTP 200 with `retCode` 0, or a business error inside the 200.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    pub ret_code: i64,
    #[serde(default)]
    pub ret_msg: String,
    #[serde(default)]
    pub result: serde_json::Value,
}

/// `result` of the list endpoints.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    #[serde(default = "Vec::new")]
    pub list: Vec<T>,
    #[serde(default)]
    pub next_page_cursor: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct InstrumentRow {
    pub symbol: String,
    pub contract_type: String,
    pub status: String,
    pub settle_coin: String,
    pub price_filter: PriceFilter,
    pub lot_size_filter: LotSizeFilter,
    pub leverage_filter: LeverageFilter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PriceFilter {
    pub tick_size: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LotSizeFilter {
    pub qty_step: String,
    pub min_order_qty: String,
    pub max_order_qty: String,
    pub max_mkt_order_qty: String,
    pub min_notional_value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LeverageFilter {
    pub max_leverage: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TickerRow {
    pub symbol: String,
    pub mark_price: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WalletRow {
    pub account_type: String,
    pub total_equity: String,
    pub total_available_balance: String,
    pub coin: Vec<WalletCoin>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WalletCoin {
    pub coin: String,
    pub usd_value: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountInfo {
    pub margin_mode: String,
}

/// A row of `position/list` and of the `position` stream (which says `entryPrice` where
/// REST says `avgPrice`).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PositionRow {
    pub symbol: String,
    /// `Buy` long, `Sell` short, `""` flat.
    pub side: String,
    /// Unsigned.
    pub size: String,
    /// 0 one-way, 1 hedge long leg, 2 hedge short leg.
    pub position_idx: i64,
    pub avg_price: String,
    pub entry_price: String,
    /// The symbol's leverage setting (listed even when flat, when asked by symbol).
    pub leverage: String,
}

/// A row of `order/realtime`, `order/history` and of the `order` stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct OrderRow {
    pub symbol: String,
    pub order_id: String,
    pub order_link_id: String,
    pub side: String,
    pub order_type: String,
    pub price: String,
    pub qty: String,
    pub leaves_qty: String,
    pub cum_exec_qty: String,
    pub avg_price: String,
    pub order_status: String,
    pub reduce_only: bool,
    pub position_idx: i64,
}

/// A row of the `execution` stream.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExecutionRow {
    pub symbol: String,
    pub order_link_id: String,
    pub side: String,
    pub exec_price: String,
    pub exec_qty: String,
    pub exec_type: String,
    pub exec_time: String,
}

/// `POST /v5/order/create`. Field order is the order on the wire; optional fields are left
/// out rather than sent empty, so that a one-way market order is the minimal body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrder<'a> {
    /// Empty in the items of a batch (the batch names the category once).
    #[serde(skip_serializing_if = "str::is_empty")]
    pub category: &'a str,
    pub symbol: &'a str,
    pub side: &'a str,
    pub order_type: &'a str,
    pub qty: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_in_force: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    pub reduce_only: bool,
    pub order_link_id: &'a str,
    /// Only sent in hedge mode (one-way is the venue default, 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_idx: Option<u8>,
}

/// `POST /v5/order/create-batch`: up to 20 orders of one category.
#[derive(Debug, Serialize)]
pub struct CreateBatch<'a> {
    pub category: &'a str,
    pub request: Vec<CreateOrder<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelOrder<'a> {
    pub category: &'a str,
    pub symbol: &'a str,
    pub order_link_id: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AmendOrder<'a> {
    pub category: &'a str,
    pub symbol: &'a str,
    pub order_link_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetLeverage<'a> {
    pub category: &'a str,
    pub symbol: &'a str,
    pub buy_leverage: String,
    pub sell_leverage: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SetMarginMode<'a> {
    pub set_margin_mode: &'a str,
}

/// `result` of set-margin-mode: an empty `reasons` list means it worked.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarginModeResult {
    pub reasons: Vec<MarginModeReason>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarginModeReason {
    pub reason_code: String,
    pub reason_msg: String,
}

/// Any private-stream frame: an op answer (`auth`, `subscribe`, `pong`) or a topic push.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WsFrame {
    pub op: String,
    pub success: Option<bool>,
    pub ret_msg: String,
    pub topic: String,
    pub data: serde_json::Value,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Bybit's product line; every call names one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// USDT/USDC-settled contracts, quantity in the base coin.
    Linear,
    /// Coin-settled contracts, quantity in USD contracts.
    Inverse,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Linear => "linear",
            Category::Inverse => "inverse",
        }
    }

    /// Inverse perpetuals end in `USD` (BTCUSD); inverse futures add a month code and year
    /// (BTCUSDH25). Everything else (BTCUSDT, BTCPERP, BTC-26DEC25) is linear.
    pub fn for_symbol(native: &str) -> Category {
        let s = native.to_ascii_uppercase();
        if s.ends_with("USD") && s.len() > 3 {
            return Category::Inverse;
        }
        let b = s.as_bytes();
        if b.len() > 6 {
            let (head, tail) = s.split_at(s.len() - 3);
            let month = tail.as_bytes()[0];
            let year = &tail[1..];
            if head.ends_with("USD")
                && b"FGHJKMNQUVXZ".contains(&month)
                && year.bytes().all(|c| c.is_ascii_digit())
            {
                return Category::Inverse;
            }
        }
        Category::Linear
    }
}
