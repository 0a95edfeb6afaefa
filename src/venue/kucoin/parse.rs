//! KuCoin wire → domain: the envelope and its codes (the error table), lots and multipliers,
//! signed position quantities, order states. Pure functions, tested with JSON fixtures in
//! KuCoin's own shapes.

use super::model::{
    AccountOverview, BatchItem, ContractRow, Envelope, MarkPrice, OrderPush, OrderRow, PositionRow,
};
use crate::domain::{
    AccountValue, Candle, ContractKind, Fill, Instrument, OpenOrder, OrderAck, OrderStatus,
    Position, Quote, Side, Symbol,
};
use crate::venue::http::{snippet, RawResponse};
use crate::venue::{RejectKind, VenueError};
use chrono::{TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

pub const SUCCESS: &str = "200000";

/// Who asked what, for error messages that say which account and endpoint failed.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub account: &'a str,
    pub endpoint: &'a str,
    /// A request that changes state: a server-side error leaves its outcome unknown.
    pub mutating: bool,
}

impl Ctx<'_> {
    pub fn describe(&self, what: impl std::fmt::Display) -> String {
        format!(
            "kucoin account \"{}\", {}: {what}",
            self.account, self.endpoint
        )
    }
}

/// A code as text whether KuCoin sent `"200000"` or `200000`.
pub fn code_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Unwraps the envelope: `data` on code 200000, the mapped error otherwise (KuCoin sends
/// business errors with HTTP 200 and with 4xx alike).
pub fn envelope(resp: &RawResponse, ctx: Ctx<'_>) -> Result<serde_json::Value, VenueError> {
    let env: Envelope = serde_json::from_str(&resp.body).map_err(|e| {
        VenueError::Decode(ctx.describe(format!(
            "HTTP {}: body is not a KuCoin envelope ({e}): {}",
            resp.status,
            snippet(&resp.body)
        )))
    })?;
    let code = code_text(&env.code);
    if code == SUCCESS && resp.status < 400 {
        return Ok(env.data);
    }
    Err(code_error(&code, env.msg.as_deref().unwrap_or(""), ctx))
}

/// `data` decoded into a wire type.
pub fn data<T: DeserializeOwned>(value: serde_json::Value, ctx: Ctx<'_>) -> Result<T, VenueError> {
    serde_json::from_value(value)
        .map_err(|e| VenueError::Decode(ctx.describe(format!("unexpected data shape: {e}"))))
}

/// Maps a KuCoin code (see docs/venues/kucoin.md for the table and its sources).
pub fn code_error(code: &str, msg: &str, ctx: Ctx<'_>) -> VenueError {
    let text = ctx.describe(format!("{msg} (code {code})"));
    let reject = |kind| VenueError::rejected(kind, code.to_string(), text.clone());
    match code {
        // Our clock is more than 5 s off KuCoin's: nothing was executed; the fix is local.
        "400002" => VenueError::Local(format!(
            "{text}; the host clock is off from KuCoin's, sync it (NTP)"
        )),
        // Header missing, key unknown, passphrase or signature wrong, IP not allowed, no
        // permission: only a credential fix helps.
        "400001" | "400003" | "400004" | "400005" | "400006" | "400007" => VenueError::Auth(text),
        "429000" => VenueError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        "500000" if ctx.mutating => VenueError::Unknown(text),
        "500000" => VenueError::Transport(text),
        "300018" => reject(RejectKind::DuplicateClientId),
        "300009" => reject(RejectKind::ReduceOnly),
        "100001" | "100004" => reject(RejectKind::OrderNotFound),
        "300003" | "200004" | "330008" => reject(RejectKind::InsufficientFunds),
        "300005" => reject(RejectKind::InvalidQuantity),
        "300011" | "300012" => reject(RejectKind::InvalidPrice),
        // "exist.order.or.position": a margin-mode switch needs the symbol flat and idle.
        "50002" => reject(RejectKind::NeedsFlatPosition),
        // Account frozen: no new orders until KuCoin lifts it.
        "411100" => reject(RejectKind::TradingDisabled),
        "330012" => VenueError::rejected(
            RejectKind::Other,
            code,
            format!("{text}; the account is in hedge position mode, trade-engine trades KuCoin in one-way mode: switch it in the KuCoin app"),
        ),
        _ => reject(RejectKind::Other),
    }
}

/// An order's answer saying the order margin mode is not the symbol's (330005): the cached
/// mode is stale.
pub fn is_margin_mode_mismatch(e: &VenueError) -> bool {
    matches!(e, VenueError::Rejected { code, .. } if code == "330005")
}

pub fn side(s: &str) -> Result<Side, VenueError> {
    match s {
        "buy" => Ok(Side::Buy),
        "sell" => Ok(Side::Sell),
        other => Err(VenueError::Decode(format!("unknown side {other:?}"))),
    }
}

pub fn wire_side(side: Side) -> &'static str {
    match side {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// One contract. One lot is `multiplier` coins of the base asset (XBTUSDTM: 0.001 BTC), so
/// the instrument's unit is the lot and `contract_value` the multiplier.
pub fn instrument(row: &ContractRow) -> Result<Instrument, VenueError> {
    let field = |name: &str, v: Option<Decimal>| {
        v.filter(|d| *d > Decimal::ZERO).ok_or_else(|| {
            VenueError::Decode(format!("contract {}: missing or zero {name}", row.symbol))
        })
    };
    if row.is_inverse {
        return Err(VenueError::UnknownSymbol(format!(
            "{} is an inverse (coin-margined) contract; trade-engine trades KuCoin USDT-margined contracts only",
            row.symbol
        )));
    }
    let multiplier = field("multiplier", row.multiplier)?;
    let lot = field("lotSize", row.lot_size)?;
    Ok(Instrument {
        symbol: Symbol::new(&row.symbol),
        native: row.symbol.clone(),
        kind: ContractKind::Linear,
        tick: field("tickSize", row.tick_size)?,
        lot,
        min_qty: lot,
        max_qty: row.max_order_qty.filter(|q| *q > Decimal::ZERO),
        contract_value: multiplier,
        min_notional_usd: Decimal::ZERO,
        max_leverage: row.max_leverage,
    })
}

/// Whole lots for the wire, rounded toward zero to the lot step.
pub fn wire_lots(qty: Decimal, lot: Decimal) -> u64 {
    let lot = if lot > Decimal::ZERO {
        lot
    } else {
        Decimal::ONE
    };
    let lots = (qty / lot).trunc() * lot;
    lots.trunc().to_string().parse::<u64>().unwrap_or(0)
}

pub fn quote(native: &str, row: &MarkPrice) -> Result<Quote, VenueError> {
    let mark = row
        .value
        .filter(|m| *m > Decimal::ZERO)
        .ok_or_else(|| VenueError::Decode(format!("mark price of {native} has no value")))?;
    Ok(Quote {
        native: native.to_string(),
        mark,
        // USDT-margined contracts: USDT at par.
        quote_to_usd: Decimal::ONE,
        at: row
            .time_point
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .unwrap_or_else(Utc::now),
    })
}

pub fn account_value(row: &AccountOverview) -> Result<AccountValue, VenueError> {
    let equity = row.account_equity.ok_or_else(|| {
        VenueError::Decode(format!(
            "account-overview ({}) has no accountEquity",
            row.currency
        ))
    })?;
    Ok(AccountValue {
        equity_usd: equity,
        available_usd: row.available_balance,
        at: Utc::now(),
    })
}

/// Net positions per symbol, in lots. `currentQty` is signed; hedge-mode legs (`LONG` and
/// `SHORT` rows of one symbol) are summed, never the first row taken.
pub fn positions(rows: &[PositionRow]) -> Vec<Position> {
    let mut by_symbol: BTreeMap<&str, (Decimal, u32, Option<Decimal>)> = BTreeMap::new();
    for row in rows {
        let qty = signed_qty(row);
        let e = by_symbol
            .entry(row.symbol.as_str())
            .or_insert((Decimal::ZERO, 0, None));
        e.0 += qty;
        if !qty.is_zero() {
            e.1 += 1;
            e.2 = row.avg_entry_price.filter(|p| *p > Decimal::ZERO);
        }
    }
    by_symbol
        .into_iter()
        .filter(|(_, (q, _, _))| !q.is_zero())
        .map(|(symbol, (qty, legs, entry))| Position {
            native: symbol.to_string(),
            qty,
            entry_price: if legs == 1 { entry } else { None },
        })
        .collect()
}

/// The signed lots of one row. A `SHORT` leg sent with a positive size is a short.
pub fn signed_qty(row: &PositionRow) -> Decimal {
    let qty = row.current_qty.unwrap_or_default();
    match row.position_side.as_deref() {
        Some("SHORT") => -qty.abs(),
        Some("LONG") => qty.abs(),
        _ => qty,
    }
}

/// The leverage an open isolated position was opened with (`None` when flat or cross).
pub fn isolated_leverage(row: &PositionRow) -> Option<Decimal> {
    let isolated = row.margin_mode.as_deref() == Some("ISOLATED") || row.cross_mode == Some(false);
    if !isolated || signed_qty(row).is_zero() {
        return None;
    }
    row.real_leverage.or(row.leverage).map(|l| l.round_dp(0))
}

pub fn status(row: &OrderRow) -> OrderStatus {
    let size = row.size.unwrap_or_default();
    let filled = filled(row);
    let active = row.is_active.unwrap_or(row.status == "open");
    if active || row.status == "open" {
        if filled > Decimal::ZERO {
            OrderStatus::PartiallyFilled
        } else {
            OrderStatus::New
        }
    } else if size > Decimal::ZERO && filled >= size {
        OrderStatus::Filled
    } else {
        // Done without a full fill: cancelled (IOC remainder, reduce-only excess, by us).
        OrderStatus::Cancelled
    }
}

fn filled(row: &OrderRow) -> Decimal {
    row.filled_size.or(row.deal_size).unwrap_or_default()
}

pub fn order_ack(row: &OrderRow) -> Result<OrderAck, VenueError> {
    Ok(OrderAck {
        client_order_id: row.client_oid.clone().unwrap_or_default(),
        venue_order_id: row.id.clone(),
        status: status(row),
        filled_qty: filled(row),
        avg_price: row.avg_deal_price.filter(|p| *p > Decimal::ZERO),
        native: Some(row.symbol.clone()).filter(|s| !s.is_empty()),
        side: side(&row.side).ok(),
        qty: row.size,
    })
}

pub fn open_order(row: &OrderRow) -> Result<OpenOrder, VenueError> {
    let qty = row
        .size
        .ok_or_else(|| VenueError::Decode(format!("order {} has no size", row.id)))?;
    Ok(OpenOrder {
        native: row.symbol.clone(),
        venue_order_id: row.id.clone(),
        client_order_id: row.client_oid.clone().filter(|c| !c.is_empty()),
        side: side(&row.side)?,
        qty,
        remaining: qty - filled(row),
        price: if row.order_type == "limit" {
            row.price.filter(|p| *p > Decimal::ZERO)
        } else {
            None
        },
        reduce_only: row.reduce_only.unwrap_or(false),
    })
}

/// An order push: the order's state, and a fill when it is a `match`.
pub fn order_push(row: &OrderPush) -> Result<(OrderAck, Option<Fill>), VenueError> {
    let side = side(&row.side)?;
    let size = row.size.unwrap_or_default();
    let filled = row.filled_size.unwrap_or_default();
    let status = match (row.status.as_str(), row.change.as_str()) {
        ("done", _) | (_, "filled") | (_, "canceled") => {
            if size > Decimal::ZERO && filled >= size {
                OrderStatus::Filled
            } else {
                OrderStatus::Cancelled
            }
        }
        _ if filled > Decimal::ZERO => OrderStatus::PartiallyFilled,
        _ => OrderStatus::New,
    };
    let ack = OrderAck {
        client_order_id: row.client_oid.clone().unwrap_or_default(),
        venue_order_id: row.order_id.clone(),
        status,
        filled_qty: filled,
        avg_price: None,
        native: Some(row.symbol.clone()),
        side: Some(side),
        qty: row.size,
    };
    let fill = match (row.change.as_str(), row.match_size, row.match_price) {
        ("match", Some(qty), Some(price)) if qty > Decimal::ZERO => Some(Fill {
            native: row.symbol.clone(),
            client_order_id: row.client_oid.clone().filter(|c| !c.is_empty()),
            side,
            qty,
            price,
            at: row
                .ts
                .map(|ns| Utc.timestamp_nanos(ns))
                .unwrap_or_else(Utc::now),
        }),
        _ => None,
    };
    Ok((ack, fill))
}

/// One batch item: the order's id when accepted, its mapped refusal otherwise.
pub fn batch_item(item: &BatchItem, ctx: Ctx<'_>) -> Result<String, VenueError> {
    let code = code_text(&item.code);
    if code == SUCCESS || code == "200" {
        return Ok(item.order_id.clone().unwrap_or_default());
    }
    Err(code_error(&code, item.msg.as_deref().unwrap_or(""), ctx))
}

/// Kline rows `[time_ms, open, high, low, close, volume, …]` as JSON numbers, oldest first.
pub fn candles(rows: &[Vec<serde_json::Value>]) -> Result<Vec<Candle>, VenueError> {
    crate::venue::common::candles::from_rows(
        rows,
        "kline",
        |v| {
            v.as_i64()
                .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
        },
        |v, name| {
            v.and_then(crate::venue::common::num::from_value)
                .ok_or_else(|| VenueError::Decode(format!("kline row without {name}")))
        },
    )
}

#[cfg(test)]
mod tests;
