//! The simulated account: balance, positions and orders, with market orders filled at the
//! mark price plus slippage and a taker fee.

use crate::domain::{OrderAck, OrderKind, OrderRequest, OrderStatus, Side};
use crate::venue::{RejectKind, VenueError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SimPosition {
    pub qty: Decimal,
    pub entry: Decimal,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimOrder {
    pub request: OrderRequest,
    pub ack: OrderAck,
    /// The book's sequence number when the order was placed (older files: 0).
    #[serde(default)]
    pub seq: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Book {
    pub balance_usd: Decimal,
    pub positions: BTreeMap<String, SimPosition>,
    pub orders: BTreeMap<String, SimOrder>,
    pub leverage: BTreeMap<String, Decimal>,
    /// Order ids issued so far.
    pub sequence: u64,
}

/// Orders the book remembers: the most recent ones, plus every open one. A lookup of an older
/// id answers "not found", like a venue whose order history has a retention limit; a duplicate
/// of such an id is no longer detected either (real venues behave alike past their window).
pub const MAX_ORDER_HISTORY: usize = 1000;

pub struct Costs {
    pub slippage_bps: Decimal,
    pub fee_bps: Decimal,
}

impl Book {
    /// Executes `request` against `mark`; `contract_value` converts qty × price to USD.
    pub fn execute(
        &mut self,
        request: &OrderRequest,
        mark: Decimal,
        contract_value: Decimal,
        costs: &Costs,
    ) -> Result<OrderAck, VenueError> {
        if self.orders.contains_key(&request.client_order_id) {
            return Err(VenueError::rejected(
                RejectKind::DuplicateClientId,
                "duplicate_client_order_id",
                format!(
                    "client order id {} was used before",
                    request.client_order_id
                ),
            ));
        }
        if request.qty <= Decimal::ZERO {
            return Err(VenueError::rejected(
                RejectKind::InvalidQuantity,
                "invalid_qty",
                "quantity must be positive",
            ));
        }
        let position = self
            .positions
            .get(&request.native)
            .cloned()
            .unwrap_or_default();
        let mut qty = request.qty;
        if request.reduce_only {
            let reducing = !position.qty.is_zero()
                && (position.qty.is_sign_positive() == (request.side == Side::Sell));
            if !reducing {
                return Err(VenueError::rejected(
                    RejectKind::ReduceOnly,
                    "reduce_only_rejected",
                    "reduce-only order would not reduce the position",
                ));
            }
            qty = qty.min(position.qty.abs());
        }
        let slip = mark * costs.slippage_bps / Decimal::from(10_000);
        let price = match request.side {
            Side::Buy => mark + slip,
            Side::Sell => mark - slip,
        };
        if request.kind == OrderKind::Limit {
            let limit = request.price.unwrap_or(price);
            let marketable = match request.side {
                Side::Buy => limit >= price,
                Side::Sell => limit <= price,
            };
            if !marketable {
                self.sequence += 1;
                let ack = OrderAck {
                    client_order_id: request.client_order_id.clone(),
                    venue_order_id: format!("sim-{}", self.sequence),
                    status: OrderStatus::New,
                    filled_qty: Decimal::ZERO,
                    avg_price: None,
                    native: Some(request.native.clone()),
                    side: Some(request.side),
                    qty: Some(request.qty),
                };
                self.remember(request, &ack);
                return Ok(ack);
            }
        }
        let notional = qty * price * contract_value;
        let fee = notional * costs.fee_bps / Decimal::from(10_000);
        let delta = qty * request.side.sign();
        let new_qty = position.qty + delta;
        let mut realised = Decimal::ZERO;
        let entry = if position.qty.is_zero()
            || position.qty.is_sign_positive() == delta.is_sign_positive()
        {
            // Opening or adding: weighted average entry.
            let total = position.qty.abs() + qty;
            (position.entry * position.qty.abs() + price * qty) / total
        } else {
            let closed = qty.min(position.qty.abs());
            realised = (price - position.entry)
                * closed
                * if position.qty.is_sign_negative() {
                    Decimal::NEGATIVE_ONE
                } else {
                    Decimal::ONE
                }
                * contract_value;
            if new_qty.is_zero() {
                Decimal::ZERO
            } else if new_qty.is_sign_positive() == position.qty.is_sign_positive() {
                position.entry
            } else {
                price
            }
        };
        self.balance_usd += realised - fee;
        if new_qty.is_zero() {
            self.positions.remove(&request.native);
        } else {
            self.positions.insert(
                request.native.clone(),
                SimPosition {
                    qty: new_qty,
                    entry: entry.round_dp(8),
                },
            );
        }
        self.sequence += 1;
        let ack = OrderAck {
            client_order_id: request.client_order_id.clone(),
            venue_order_id: format!("sim-{}", self.sequence),
            status: OrderStatus::Filled,
            filled_qty: qty,
            avg_price: Some(price.round_dp(8)),
            native: Some(request.native.clone()),
            side: Some(request.side),
            qty: Some(request.qty),
        };
        self.remember(request, &ack);
        Ok(ack)
    }

    fn remember(&mut self, request: &OrderRequest, ack: &OrderAck) {
        self.orders.insert(
            request.client_order_id.clone(),
            SimOrder {
                request: request.clone(),
                ack: ack.clone(),
                seq: self.sequence,
            },
        );
        self.prune(MAX_ORDER_HISTORY);
    }

    /// Drops the oldest finished orders beyond `keep`; open orders are never dropped.
    fn prune(&mut self, keep: usize) {
        if self.orders.len() <= keep {
            return;
        }
        let mut finished: Vec<(u64, String)> = self
            .orders
            .iter()
            .filter(|(_, o)| o.ack.status.is_terminal())
            .map(|(cid, o)| (o.seq, cid.clone()))
            .collect();
        finished.sort();
        let excess = self.orders.len() - keep;
        for (_, cid) in finished.into_iter().take(excess) {
            self.orders.remove(&cid);
        }
    }

    /// Initial margin of the open positions: their value at entry over the symbol's leverage
    /// (1 until one is set).
    pub fn margin_in_use(&self, contract_value: Decimal) -> Decimal {
        self.positions
            .iter()
            .map(|(native, p)| p.qty.abs() * p.entry * contract_value / self.leverage_of(native))
            .sum()
    }

    fn leverage_of(&self, native: &str) -> Decimal {
        self.leverage
            .get(native)
            .copied()
            .filter(|l| *l > Decimal::ZERO)
            .unwrap_or(Decimal::ONE)
    }

    /// Refuses, like a venue, an order that would raise the initial margin in use above the
    /// account's equity. Orders that lower it (reductions) always pass.
    pub fn check_margin(
        &self,
        request: &OrderRequest,
        mark: Decimal,
        contract_value: Decimal,
        equity: Decimal,
    ) -> Result<(), VenueError> {
        if request.reduce_only {
            return Ok(());
        }
        let position = self
            .positions
            .get(&request.native)
            .cloned()
            .unwrap_or_default();
        let after = position.qty + request.qty * request.side.sign();
        let leverage = self.leverage_of(&request.native);
        let before = self.margin_in_use(contract_value);
        let needed = before - position.qty.abs() * position.entry * contract_value / leverage
            + after.abs() * mark * contract_value / leverage;
        if needed <= before || needed <= equity {
            return Ok(());
        }
        Err(VenueError::rejected(
            RejectKind::InsufficientFunds,
            "insufficient_margin",
            format!(
                "insufficient margin: the order needs {} USD of initial margin in all, the equity is {} USD",
                needed.round_dp(2),
                equity.round_dp(2)
            ),
        ))
    }

    pub fn unrealised(&self, native: &str, mark: Decimal, contract_value: Decimal) -> Decimal {
        self.positions
            .get(native)
            .map(|p| (mark - p.entry) * p.qty * contract_value)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn req(cid: &str, side: Side, qty: Decimal, reduce_only: bool) -> OrderRequest {
        OrderRequest {
            client_order_id: cid.into(),
            native: "BTCUSDT".into(),
            side,
            qty,
            kind: OrderKind::Market,
            price: None,
            reduce_only,
            leverage: None,
            margin_mode: None,
        }
    }

    fn free() -> Costs {
        Costs {
            slippage_bps: Decimal::ZERO,
            fee_bps: Decimal::ZERO,
        }
    }

    #[test]
    fn open_flip_and_close_keep_pnl_right() {
        let mut b = Book {
            balance_usd: dec!(1000),
            ..Default::default()
        };
        b.execute(
            &req("1", Side::Buy, dec!(2), false),
            dec!(100),
            dec!(1),
            &free(),
        )
        .unwrap();
        b.execute(
            &req("2", Side::Sell, dec!(2), true),
            dec!(110),
            dec!(1),
            &free(),
        )
        .unwrap();
        assert_eq!(b.balance_usd, dec!(1020));
        assert!(b.positions.is_empty());
        b.execute(
            &req("3", Side::Sell, dec!(1), false),
            dec!(110),
            dec!(1),
            &free(),
        )
        .unwrap();
        assert_eq!(b.positions["BTCUSDT"].qty, dec!(-1));
    }

    #[test]
    fn duplicate_and_reduce_only_are_refused() {
        let mut b = Book::default();
        b.execute(
            &req("1", Side::Buy, dec!(1), false),
            dec!(100),
            dec!(1),
            &free(),
        )
        .unwrap();
        let dup = b.execute(
            &req("1", Side::Buy, dec!(1), false),
            dec!(100),
            dec!(1),
            &free(),
        );
        assert_eq!(
            dup.unwrap_err().reject_kind(),
            Some(RejectKind::DuplicateClientId)
        );
        let wrong = b.execute(
            &req("2", Side::Buy, dec!(1), true),
            dec!(100),
            dec!(1),
            &free(),
        );
        assert_eq!(
            wrong.unwrap_err().reject_kind(),
            Some(RejectKind::ReduceOnly)
        );
        // Reduce-only larger than the position is truncated, never crosses zero.
        let ack = b
            .execute(
                &req("3", Side::Sell, dec!(5), true),
                dec!(100),
                dec!(1),
                &free(),
            )
            .unwrap();
        assert_eq!(ack.filled_qty, dec!(1));
        assert!(b.positions.is_empty());
    }

    #[test]
    fn orders_beyond_the_margin_are_refused_reductions_pass() {
        let mut b = Book {
            balance_usd: dec!(1000),
            ..Default::default()
        };
        b.leverage.insert("BTCUSDT".into(), dec!(2));
        // 15 at 100 with leverage 2: 750 of 1,000 in use.
        let buy = req("1", Side::Buy, dec!(15), false);
        b.check_margin(&buy, dec!(100), dec!(1), dec!(1000))
            .unwrap();
        b.execute(&buy, dec!(100), dec!(1), &free()).unwrap();
        assert_eq!(b.margin_in_use(dec!(1)), dec!(750));
        // 6 more would need 1,050.
        let more = req("2", Side::Buy, dec!(6), false);
        let err = b
            .check_margin(&more, dec!(100), dec!(1), dec!(1000))
            .unwrap_err();
        assert_eq!(err.reject_kind(), Some(RejectKind::InsufficientFunds));
        assert!(err.to_string().contains("1050"), "{err}");
        b.check_margin(
            &req("3", Side::Buy, dec!(5), false),
            dec!(100),
            dec!(1),
            dec!(1000),
        )
        .unwrap();
        // Selling without reduce-only lowers the margin: never refused, even over the equity.
        b.check_margin(
            &req("4", Side::Sell, dec!(10), false),
            dec!(100),
            dec!(1),
            dec!(1),
        )
        .unwrap();
        b.check_margin(
            &req("5", Side::Sell, dec!(15), true),
            dec!(100),
            dec!(1),
            dec!(1),
        )
        .unwrap();
    }

    #[test]
    fn order_history_is_bounded_but_keeps_open_orders() {
        let mut b = Book {
            balance_usd: dec!(1000),
            ..Default::default()
        };
        // A resting limit order first: the oldest of all, and still open.
        let mut resting = req("resting", Side::Buy, dec!(1), false);
        resting.kind = OrderKind::Limit;
        resting.price = Some(dec!(1));
        b.execute(&resting, dec!(100), dec!(1), &free()).unwrap();
        for i in 0..MAX_ORDER_HISTORY + 10 {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            b.execute(
                &req(&format!("m{i}"), side, dec!(1), false),
                dec!(100),
                dec!(1),
                &free(),
            )
            .unwrap();
        }
        assert_eq!(b.orders.len(), MAX_ORDER_HISTORY);
        assert!(b.orders.contains_key("resting"), "open orders are kept");
        assert!(!b.orders.contains_key("m0"), "the oldest finished ones go");
        assert!(!b.orders.contains_key("m10"));
        assert!(b.orders.contains_key("m11"));
        let last = format!("m{}", MAX_ORDER_HISTORY + 9);
        assert!(b.orders.contains_key(&last), "the most recent ones stay");
    }

    #[test]
    fn fees_and_slippage_cost_money() {
        let mut b = Book {
            balance_usd: dec!(1000),
            ..Default::default()
        };
        let costs = Costs {
            slippage_bps: dec!(10),
            fee_bps: dec!(5),
        };
        let ack = b
            .execute(
                &req("1", Side::Buy, dec!(1), false),
                dec!(100),
                dec!(1),
                &costs,
            )
            .unwrap();
        assert_eq!(ack.avg_price, Some(dec!(100.1)));
        assert_eq!(b.balance_usd, dec!(1000) - dec!(0.05005));
    }
}
