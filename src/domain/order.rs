use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The side that moves a position by a signed delta.
    pub fn for_delta(delta: Decimal) -> Side {
        if delta.is_sign_negative() {
            Side::Sell
        } else {
            Side::Buy
        }
    }

    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Buy => "buy",
            Side::Sell => "sell",
        })
    }
}

/// A net position in venue units: positive long, negative short.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub native: String,
    pub qty: Decimal,
    pub entry_price: Option<Decimal>,
}

/// An order resting at the venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenOrder {
    pub native: String,
    pub venue_order_id: String,
    pub client_order_id: Option<String>,
    pub side: Side,
    pub qty: Decimal,
    /// Quantity not yet filled.
    pub remaining: Decimal,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
}

impl OpenOrder {
    /// Signed quantity this order would still add to the position.
    pub fn pending_delta(&self) -> Decimal {
        self.remaining * self.side.sign()
    }
}

/// Equity in USD (unrealised PnL included), the base of all sizing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountValue {
    pub equity_usd: Decimal,
    pub available_usd: Option<Decimal>,
    pub at: DateTime<Utc>,
}

/// A mark price with what converts its quote (or settlement) currency into USD.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub native: String,
    pub mark: Decimal,
    pub quote_to_usd: Decimal,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Market,
    Limit,
}

/// One planned step for one symbol, before it has an id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderIntent {
    pub side: Side,
    /// Unsigned quantity in venue units, on the lot grid.
    pub qty: Decimal,
    pub reduce_only: bool,
    /// Why the planner made this step (close, open, increase, reduce).
    pub purpose: String,
}

/// What is sent to a venue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    pub client_order_id: String,
    pub native: String,
    pub side: Side,
    pub qty: Decimal,
    pub kind: OrderKind,
    pub price: Option<Decimal>,
    pub reduce_only: bool,
    /// Set when the venue takes leverage on each order (`Capabilities::leverage_on_order`:
    /// KuCoin isolated, BloFin) instead of per symbol beforehand.
    pub leverage: Option<Decimal>,
    /// The margin mode the order is placed in, for venues that put it on each order.
    pub margin_mode: Option<MarginMode>,
}

/// Cross or isolated margin, as every venue spells it after normalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MarginMode {
    Cross,
    Isolated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Accepted, not yet (fully) filled.
    New,
    PartiallyFilled,
    Filled,
    Cancelled,
    Rejected,
}

impl OrderStatus {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected
        )
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OrderStatus::New => "new",
            OrderStatus::PartiallyFilled => "partially_filled",
            OrderStatus::Filled => "filled",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Rejected => "rejected",
        })
    }
}

/// The venue's view of one of our orders.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderAck {
    pub client_order_id: String,
    pub venue_order_id: String,
    pub status: OrderStatus,
    pub filled_qty: Decimal,
    pub avg_price: Option<Decimal>,
    /// What the venue says the order is: its symbol, side and quantity in venue units. Every
    /// venue sets them on a lookup by client id, where they prove the order is the one we
    /// journaled; `None` where an answer does not carry them.
    #[serde(default)]
    pub native: Option<String>,
    #[serde(default)]
    pub side: Option<Side>,
    #[serde(default)]
    pub qty: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fill {
    pub native: String,
    pub client_order_id: Option<String>,
    pub side: Side,
    pub qty: Decimal,
    pub price: Decimal,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time: DateTime<Utc>,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
}
