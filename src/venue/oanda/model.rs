//! OANDA v20 wire types, spelled as the API spells them. Every decimal travels as a JSON
//! string and is read as text (never through f64); counts and liquidity are numbers.

use serde::{Deserialize, Serialize};

/// `GET /v3/accounts/{id}/summary`.
#[derive(Debug, Deserialize)]
pub struct SummaryResponse {
    pub account: AccountSummary,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountSummary {
    /// The home currency every amount below is in.
    pub currency: String,
    #[serde(rename = "NAV")]
    pub nav: String,
    #[serde(default)]
    pub margin_available: String,
    /// The account-wide margin rate (its leverage cap); "" when the account has none.
    #[serde(default)]
    pub margin_rate: String,
}

/// `GET /v3/accounts/{id}/instruments`.
#[derive(Debug, Deserialize)]
pub struct InstrumentsResponse {
    pub instruments: Vec<InstrumentRow>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InstrumentRow {
    pub name: String,
    pub display_precision: u32,
    pub trade_units_precision: u32,
    pub minimum_trade_size: String,
    #[serde(default)]
    pub maximum_order_units: String,
    pub margin_rate: String,
}

/// `GET /v3/accounts/{id}/pricing?…&includeHomeConversions=true`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PricingResponse {
    #[serde(default)]
    pub prices: Vec<PriceRow>,
    #[serde(default)]
    pub home_conversions: Vec<HomeConversion>,
}

/// A price, from REST pricing or a `PRICE` line of the pricing stream.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceRow {
    pub instrument: String,
    pub time: String,
    #[serde(default)]
    pub bids: Vec<Bucket>,
    #[serde(default)]
    pub asks: Vec<Bucket>,
    #[serde(default)]
    pub closeout_bid: String,
    #[serde(default)]
    pub closeout_ask: String,
}

#[derive(Debug, Deserialize)]
pub struct Bucket {
    pub price: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HomeConversion {
    pub currency: String,
    /// Converts a position value in `currency` to the home currency (the sizing factor).
    pub position_value: String,
}

/// `GET /v3/accounts/{id}/openPositions`.
#[derive(Debug, Deserialize)]
pub struct PositionsResponse {
    pub positions: Vec<PositionRow>,
}

#[derive(Debug, Deserialize)]
pub struct PositionRow {
    pub instrument: String,
    pub long: PositionSide,
    pub short: PositionSide,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PositionSide {
    /// Positive on the long side, negative on the short side.
    pub units: String,
    #[serde(default)]
    pub average_price: String,
}

#[derive(Debug, Deserialize)]
pub struct OrdersResponse {
    pub orders: Vec<OrderRow>,
}

#[derive(Debug, Deserialize)]
pub struct OrderResponse {
    pub order: OrderRow,
}

/// An order as `GET …/orders/{specifier}` and `…/pendingOrders` list it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRow {
    pub id: String,
    #[serde(default)]
    pub instrument: String,
    /// Signed: positive buys. Absent on orders tied to a trade (take profit, stop loss).
    #[serde(default)]
    pub units: String,
    #[serde(default)]
    pub price: String,
    pub state: String,
    #[serde(default)]
    pub position_fill: String,
    #[serde(default)]
    pub client_extensions: Option<ClientExtensions>,
    #[serde(default, rename = "fillingTransactionID")]
    pub filling_transaction_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ClientExtensions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// Any transaction (REST answers, `/transactions/sinceid`, the transaction stream). Only the
/// fields the daemon reads; the `type` says which are present.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub time: String,
    #[serde(default)]
    pub instrument: String,
    #[serde(default)]
    pub units: String,
    #[serde(default)]
    pub price: String,
    #[serde(default, rename = "orderID")]
    pub order_id: String,
    #[serde(default, rename = "clientOrderID")]
    pub client_order_id: String,
    #[serde(default)]
    pub client_extensions: Option<ClientExtensions>,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub reject_reason: String,
    /// Heartbeats of the transaction stream carry the account's latest transaction id.
    #[serde(default, rename = "lastTransactionID")]
    pub last_transaction_id: String,
}

/// The answer to `POST …/orders` (201, or 400/404 with a reject).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderAnswer {
    pub order_create_transaction: Option<Transaction>,
    pub order_fill_transaction: Option<Transaction>,
    pub order_cancel_transaction: Option<Transaction>,
}

/// An error body: `errorCode` (a `TransactionRejectReason` or similar) and `errorMessage`;
/// order endpoints add the reject transaction, cancels an `orderCancelRejectTransaction`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub error_message: String,
    pub order_reject_transaction: Option<Transaction>,
    pub order_cancel_reject_transaction: Option<Transaction>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionsResponse {
    #[serde(default)]
    pub transactions: Vec<Transaction>,
}

#[derive(Debug, Deserialize)]
pub struct TransactionResponse {
    pub transaction: Transaction,
}

#[derive(Debug, Deserialize)]
pub struct CandlesResponse {
    pub candles: Vec<CandleRow>,
}

#[derive(Debug, Deserialize)]
pub struct CandleRow {
    pub time: String,
    #[serde(default)]
    pub volume: i64,
    pub mid: Option<Ohlc>,
}

#[derive(Debug, Deserialize)]
pub struct Ohlc {
    pub o: String,
    pub h: String,
    pub l: String,
    pub c: String,
}

/// `{"order": {…}}` for `POST …/orders` and the replacing `PUT …/orders/{specifier}`.
#[derive(Debug, Serialize)]
pub struct OrderBody<'a> {
    pub order: OrderSpec<'a>,
}

/// Fields in the order the v20 docs list them (the vectors' byte order).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderSpec<'a> {
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub instrument: &'a str,
    pub units: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    pub time_in_force: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position_fill: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_bound: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger_condition: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_extensions: Option<ClientExtensions>,
}

/// `PATCH …/configuration`: the account-wide margin rate (its leverage).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Configuration {
    pub margin_rate: String,
}
