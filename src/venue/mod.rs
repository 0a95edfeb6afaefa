//! The venue boundary: one trait every exchange implements, and the domain types it speaks.
//! Venue dialects (symbol spellings, contract units, error codes inside 200 bodies, position
//! modes) are normalised inside each venue's folder; nothing venue-specific leaks out.

pub mod bitmex;
pub mod blofin;
pub mod bybit;
pub mod common;
mod error;
pub mod http;
pub mod kucoin;
pub mod mexc;
pub mod oanda;
pub mod registry;
pub mod sim;
pub mod stream;

pub use error::{RejectKind, VenueError};
pub use registry::build;

use crate::config::AccountConfig;
use crate::domain::{
    AccountValue, Candle, Fill, Instrument, OpenOrder, OrderAck, OrderRequest, Position, Quote,
    Symbol,
};
use async_trait::async_trait;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub use crate::domain::MarginMode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CandleInterval {
    #[serde(rename = "1m")]
    M1,
    #[serde(rename = "5m")]
    M5,
    #[serde(rename = "1h")]
    H1,
    #[serde(rename = "1d")]
    D1,
}

impl CandleInterval {
    pub fn seconds(self) -> i64 {
        match self {
            CandleInterval::M1 => 60,
            CandleInterval::M5 => 300,
            CandleInterval::H1 => 3600,
            CandleInterval::D1 => 86_400,
        }
    }
}

/// Whether a venue sets leverage per symbol or for the whole account (OANDA: the margin rate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeverageScope {
    PerSymbol,
    PerAccount,
}

/// What a venue can do, so the executor never asks for what it does not have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Orders can be amended in place (BloFin cannot: cancel and place again).
    pub amend: bool,
    pub leverage: LeverageScope,
    pub margin_modes: &'static [MarginMode],
    /// Orders one batch request may hold; 1 means no batch endpoint.
    pub max_batch_orders: usize,
    /// Leverage and margin mode travel on each order (KuCoin isolated, BloFin) rather than
    /// being set per symbol beforehand.
    pub leverage_on_order: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            amend: true,
            leverage: LeverageScope::PerSymbol,
            margin_modes: &[MarginMode::Cross, MarginMode::Isolated],
            max_batch_orders: 1,
            leverage_on_order: false,
        }
    }
}

/// What a venue's private stream reports, in domain terms.
#[derive(Clone, Debug, PartialEq)]
pub enum VenueEvent {
    Order { native: String, ack: OrderAck },
    Fill(Fill),
    PositionChanged { native: String, qty: Decimal },
    WalletChanged,
    Connected,
    Disconnected { reason: String },
}

/// A log line's view of an event: plain values, enum values spelled as the API spells them.
impl std::fmt::Display for VenueEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VenueEvent::Order { native, ack } => {
                write!(
                    f,
                    "order {native} {}: {} filled {}",
                    ack.client_order_id, ack.status, ack.filled_qty
                )?;
                if let Some(price) = ack.avg_price {
                    write!(f, " at {price}")?;
                }
                Ok(())
            }
            VenueEvent::Fill(fill) => write!(
                f,
                "fill {} {} {} at {}",
                fill.native, fill.side, fill.qty, fill.price
            ),
            VenueEvent::PositionChanged { native, qty } => {
                write!(f, "position {native} now {qty}")
            }
            VenueEvent::WalletChanged => f.write_str("wallet changed"),
            VenueEvent::Connected => f.write_str("connected"),
            VenueEvent::Disconnected { reason } => write!(f, "disconnected: {reason}"),
        }
    }
}

/// One trading venue, seen through one account's credentials.
///
/// Quantities are always in the venue's own units (contracts, coins, FX units); the
/// [`Instrument`] says how they convert to USD. Symbols passed in are venue-native.
#[async_trait]
pub trait Venue: Send + Sync {
    /// The venue kind as written in `engine.json` (`bybit`, `sim`, …).
    fn kind(&self) -> &'static str;

    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// The venue's default spelling of a unified symbol (an account's `symbol_map` wins).
    fn native_symbol(&self, symbol: &Symbol) -> String;

    /// Instrument metadata; implementations cache it (it changes rarely).
    async fn instrument(&self, native: &str) -> Result<Instrument, VenueError>;

    /// Mark price, with the conversion of its quote (or settlement) currency to USD.
    async fn quote(&self, native: &str) -> Result<Quote, VenueError>;

    /// Marks of several symbols, one result each in the order asked. The default asks
    /// [`Venue::quote`] for each, at once; venues with a bulk ticker read override it.
    async fn quotes(&self, natives: &[String]) -> Vec<Result<Quote, VenueError>> {
        futures::future::join_all(natives.iter().map(|n| self.quote(n))).await
    }

    /// Equity in USD including unrealised PnL.
    async fn account_value(&self) -> Result<AccountValue, VenueError>;

    /// All non-zero net positions of the account.
    async fn positions(&self) -> Result<Vec<Position>, VenueError>;

    /// All open orders of the account.
    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError>;

    /// Places an order. A duplicate client order id must come back as
    /// `Rejected { kind: DuplicateClientId }` so the caller can look the order up.
    async fn place_order(&self, request: &OrderRequest) -> Result<OrderAck, VenueError>;

    /// Places several orders (of one account) in as few requests as the venue allows. Each
    /// item has its own result, under the same rules as [`Venue::place_order`]: an item whose
    /// outcome is unknown must come back as `Unknown` (it is looked up, never re-sent) and a
    /// refused item is that order's refusal only. The default places them one by one; venues
    /// with a batch endpoint override it (at most `capabilities().max_batch_orders` a request).
    async fn place_orders(&self, requests: &[OrderRequest]) -> Vec<Result<OrderAck, VenueError>> {
        let mut results = Vec::with_capacity(requests.len());
        for request in requests {
            results.push(self.place_order(request).await);
        }
        results
    }

    /// Looks an order up by our client order id; `None` when the venue never saw it.
    async fn order_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderAck>, VenueError>;

    async fn cancel_order(&self, native: &str, client_order_id: &str) -> Result<(), VenueError>;

    async fn amend_order(
        &self,
        native: &str,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<OrderAck, VenueError>;

    /// Cancels every open order (of one symbol, or of the account). The default cancels the
    /// orders that carry a client id one by one; venues with a cancel-all endpoint override it.
    async fn cancel_all(&self, native: Option<&str>) -> Result<usize, VenueError> {
        let mut cancelled = 0;
        for order in self.open_orders().await? {
            if native.is_some_and(|n| n != order.native) {
                continue;
            }
            if let Some(cid) = &order.client_order_id {
                match self.cancel_order(&order.native, cid).await {
                    Ok(()) => cancelled += 1,
                    Err(e) if e.reject_kind() == Some(RejectKind::OrderNotFound) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(cancelled)
    }

    /// Sets the leverage of a symbol; "not modified" answers count as success.
    async fn set_leverage(&self, native: &str, leverage: Decimal) -> Result<(), VenueError>;

    /// Sets the margin mode; "not modified" answers count as success.
    async fn set_margin_mode(&self, native: &str, mode: MarginMode) -> Result<(), VenueError>;

    async fn candles(
        &self,
        native: &str,
        interval: CandleInterval,
        limit: u32,
    ) -> Result<Vec<Candle>, VenueError>;

    /// Private events (orders, fills, positions, wallet), when the venue streams them.
    /// Streams speed reconciliation up; the daemon stays correct without them.
    fn subscribe(&self) -> Option<broadcast::Receiver<VenueEvent>> {
        None
    }
}

/// The native symbol an account trades for a unified symbol.
pub fn native_for(account: &AccountConfig, venue: &dyn Venue, symbol: &Symbol) -> String {
    account
        .symbol_map
        .iter()
        .find(|(unified, _)| unified.eq_ignore_ascii_case(symbol.as_str()))
        .map(|(_, native)| native.clone())
        .unwrap_or_else(|| venue.native_symbol(symbol))
}

#[cfg(test)]
mod event_display_tests {
    use super::*;
    use crate::domain::OrderStatus;
    use rust_decimal_macros::dec;

    #[test]
    fn events_read_as_plain_values() {
        let ack = OrderAck {
            client_order_id: "te1".into(),
            venue_order_id: "v1".into(),
            status: OrderStatus::PartiallyFilled,
            filled_qty: dec!(0.05),
            avg_price: Some(dec!(60000)),
            native: None,
            side: None,
            qty: None,
        };
        let order = VenueEvent::Order {
            native: "BTCUSDT".into(),
            ack: ack.clone(),
        };
        assert_eq!(
            order.to_string(),
            "order BTCUSDT te1: partially_filled filled 0.05 at 60000"
        );
        let unpriced = VenueEvent::Order {
            native: "BTCUSDT".into(),
            ack: OrderAck {
                avg_price: None,
                ..ack
            },
        };
        assert!(!unpriced.to_string().contains("None"), "{unpriced}");
    }
}
