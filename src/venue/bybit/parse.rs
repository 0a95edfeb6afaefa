//! Bybit wire → domain: the envelope and its `retCode`s, string numbers, sides, statuses,
//! and the position netting of hedge mode. Pure functions, tested with JSON fixtures.

use super::model::{
    Category, Envelope, ExecutionRow, InstrumentRow, OrderRow, PositionRow, TickerRow, WalletRow,
};
use crate::domain::{
    AccountValue, Candle, ContractKind, Fill, Instrument, OpenOrder, OrderAck, OrderStatus,
    Position, Quote, Side, Symbol,
};
use crate::venue::http::{snippet, RawResponse};
use crate::venue::{RejectKind, VenueError};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

/// Who asked what, for error messages that say which account and endpoint failed.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub account: &'a str,
    pub endpoint: &'a str,
    /// A request that changes state: a server-side timeout leaves its outcome unknown.
    pub mutating: bool,
}

impl Ctx<'_> {
    pub fn describe(&self, what: impl std::fmt::Display) -> String {
        format!(
            "bybit account \"{}\", {}: {what}",
            self.account, self.endpoint
        )
    }
}

/// How long Bybit asks an IP to stay away after HTTP 403 "access too frequent".
pub const IP_BAN: Duration = Duration::from_secs(600);

/// Unwraps the envelope: `result` on `retCode` 0, the mapped error otherwise.
pub fn envelope(resp: &RawResponse, ctx: Ctx<'_>) -> Result<serde_json::Value, VenueError> {
    if resp.status >= 400 {
        return Err(VenueError::Decode(ctx.describe(format!(
            "HTTP {}: {}",
            resp.status,
            snippet(&resp.body)
        ))));
    }
    let env: Envelope = serde_json::from_str(&resp.body).map_err(|e| {
        VenueError::Decode(ctx.describe(format!(
            "body is not a v5 envelope ({e}): {}",
            snippet(&resp.body)
        )))
    })?;
    if env.ret_code == 0 {
        Ok(env.result)
    } else {
        Err(ret_code_error(env.ret_code, &env.ret_msg, ctx))
    }
}

/// The per-item outcome of a `create-batch` answer, in the order of `link_ids` (the order
/// sent): the venue's order id of an accepted item, the mapped error of a refused one, and
/// `None` for an item the answer does not account for (its outcome is unknown).
pub fn batch_items(
    resp: &RawResponse,
    link_ids: &[&str],
    ctx: Ctx<'_>,
) -> Result<Vec<Option<Result<String, VenueError>>>, VenueError> {
    envelope(resp, ctx)?;
    let body: serde_json::Value = serde_json::from_str(&resp.body)
        .map_err(|e| VenueError::Decode(ctx.describe(format!("batch answer is not JSON ({e})"))))?;
    let empty = Vec::new();
    let acks = body["result"]["list"].as_array().unwrap_or(&empty);
    let codes = body["retExtInfo"]["list"].as_array().unwrap_or(&empty);
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    Ok(link_ids
        .iter()
        .enumerate()
        .map(|(i, link)| {
            let (ack, code) = (acks.get(i)?, codes.get(i)?);
            let code_no = code["code"].as_i64()?;
            if code_no != 0 {
                return Some(Err(ret_code_error(code_no, &text(&code["msg"]), ctx)));
            }
            // An answer item about another order is not this order's answer.
            let answered = text(&ack["orderLinkId"]);
            let order_id = text(&ack["orderId"]);
            (answered == *link && !order_id.is_empty()).then_some(Ok(order_id))
        })
        .collect())
}

/// `result` decoded into a wire type.
pub fn result<T: DeserializeOwned>(
    value: serde_json::Value,
    ctx: Ctx<'_>,
) -> Result<T, VenueError> {
    serde_json::from_value(value)
        .map_err(|e| VenueError::Decode(ctx.describe(format!("unexpected result shape: {e}"))))
}

/// Maps a non-zero `retCode` (see docs/venues/bybit.md for the table and its sources).
pub fn ret_code_error(code: i64, msg: &str, ctx: Ctx<'_>) -> VenueError {
    let text = ctx.describe(format!("{msg} (retCode {code})"));
    let reject = |kind| VenueError::rejected(kind, code.to_string(), text.clone());
    match code {
        // Key invalid / wrong environment, bad signature, permission, user auth, IP not bound,
        // user banned, key expired: only a credential fix helps.
        10003 | 10004 | 10005 | 10007 | 10008 | 10010 | 33004 => VenueError::Auth(text),
        10006 => VenueError::RateLimited {
            retry_after: Duration::from_secs(1),
        },
        10009 => VenueError::RateLimited {
            retry_after: IP_BAN,
        },
        // Our clock is outside recv_window: nothing was executed; the fix is local (NTP).
        10002 => VenueError::Local(format!(
            "{text}; the host clock is off from Bybit's, sync it (NTP)"
        )),
        // Server timeout / internal error: a write may or may not have happened.
        10000 | 10016 if ctx.mutating => VenueError::Unknown(text),
        10000 | 10016 => VenueError::Transport(text),
        110072 | 110030 => reject(RejectKind::DuplicateClientId),
        110017 => reject(RejectKind::ReduceOnly),
        110001 | 110008 | 110010 => reject(RejectKind::OrderNotFound),
        110004 | 110006 | 110007 | 110012 | 110014 | 110044 | 110045 | 110051 | 110052 | 110053 => {
            reject(RejectKind::InsufficientFunds)
        }
        110003 | 30208 | 30209 => reject(RejectKind::InvalidPrice),
        // "Transactions are banned", "No trading is allowed at the current time": the venue
        // takes no new orders from this account; the executor goes close-only and retries.
        10027 | 110065 => reject(RejectKind::TradingDisabled),
        110094 | 110016 | 110022 | 110064 => reject(RejectKind::InvalidQuantity),
        _ => reject(RejectKind::Other),
    }
}

/// "position idx not match position mode" (retCode 10001, a parameter error told apart only
/// by its text): the account's position mode is not the one we learnt.
pub fn is_position_mode_mismatch(e: &VenueError) -> bool {
    e.reject_kind() == Some(RejectKind::Other)
        && e.to_string().to_ascii_lowercase().contains("position idx")
}

/// A required decimal field (plain decimals; scientific notation accepted, see common::num).
pub fn num(field: &str, s: &str) -> Result<Decimal, VenueError> {
    crate::venue::common::num::required(field, s)
}

/// An optional decimal: `""` means absent.
pub fn opt_num(s: &str) -> Option<Decimal> {
    crate::venue::common::num::parse_text(s)
}

/// A price field where `"0"` also means "none" (market orders, orders without fills).
fn opt_price(s: &str) -> Option<Decimal> {
    opt_num(s).filter(|p| *p > Decimal::ZERO)
}

pub fn side(s: &str) -> Result<Side, VenueError> {
    match s {
        "Buy" => Ok(Side::Buy),
        "Sell" => Ok(Side::Sell),
        other => Err(VenueError::Decode(format!("unknown side {other:?}"))),
    }
}

pub fn wire_side(side: Side) -> &'static str {
    match side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

pub fn status(s: &str) -> OrderStatus {
    match s {
        "PartiallyFilled" => OrderStatus::PartiallyFilled,
        "Filled" => OrderStatus::Filled,
        // Cancelled orders may carry fills (an IOC market order cut by its price band); the
        // ack's filled_qty says how much.
        "Cancelled" | "PartiallyFilledCanceled" | "Deactivated" => OrderStatus::Cancelled,
        "Rejected" => OrderStatus::Rejected,
        // New, Untriggered, Triggered, Created and anything new: still working.
        _ => OrderStatus::New,
    }
}

pub fn instrument(row: &InstrumentRow, category: Category) -> Result<Instrument, VenueError> {
    let lot = &row.lot_size_filter;
    let kind = match category {
        Category::Linear => ContractKind::Linear,
        Category::Inverse => ContractKind::Inverse,
    };
    let max_qty = opt_num(&lot.max_mkt_order_qty)
        .or_else(|| opt_num(&lot.max_order_qty))
        .filter(|q| *q > Decimal::ZERO);
    Ok(Instrument {
        symbol: Symbol::new(&row.symbol),
        native: row.symbol.clone(),
        kind,
        tick: num("priceFilter.tickSize", &row.price_filter.tick_size)?,
        lot: num("lotSizeFilter.qtyStep", &lot.qty_step)?,
        min_qty: num("lotSizeFilter.minOrderQty", &lot.min_order_qty)?,
        max_qty,
        // Linear: qty is in the base coin; inverse: one contract is one USD.
        contract_value: Decimal::ONE,
        // Linear notional is in the settle coin (USDT/USDC), taken as USD.
        min_notional_usd: opt_num(&lot.min_notional_value).unwrap_or_default(),
        max_leverage: opt_num(&row.leverage_filter.max_leverage),
    })
}

/// `venue_time_ms` is the envelope's `time`: a venue serving an old snapshot makes the quote
/// stale, which only allows reducing orders.
pub fn quote(
    native: &str,
    row: &TickerRow,
    venue_time_ms: Option<i64>,
) -> Result<Quote, VenueError> {
    Ok(Quote {
        native: native.to_string(),
        mark: num("markPrice", &row.mark_price)?,
        // USDT and USDC are taken at par; inverse sizing does not use the price.
        quote_to_usd: Decimal::ONE,
        at: venue_time_ms
            .and_then(chrono::DateTime::from_timestamp_millis)
            .unwrap_or_else(Utc::now),
    })
}

/// The envelope's `time` field, when the body has one.
pub fn envelope_time(resp: &RawResponse) -> Option<i64> {
    #[derive(serde::Deserialize)]
    struct Time {
        time: Option<i64>,
    }
    serde_json::from_str::<Time>(&resp.body)
        .ok()
        .and_then(|t| t.time)
}

/// Unified account equity in USD. `totalEquity` covers every collateral coin with uPnL; when
/// it is empty (isolated margin leaves account-wide totals blank) the coins' USD values are
/// summed instead.
pub fn account_value(rows: &[WalletRow]) -> Result<AccountValue, VenueError> {
    let row = rows
        .iter()
        .find(|r| r.account_type == "UNIFIED")
        .or_else(|| rows.first())
        .ok_or_else(|| VenueError::Decode("wallet-balance returned no account".into()))?;
    let equity = match opt_num(&row.total_equity) {
        Some(e) => e,
        None => {
            let values: Vec<Decimal> = row
                .coin
                .iter()
                .filter_map(|c| opt_num(&c.usd_value))
                .collect();
            if values.is_empty() {
                return Err(VenueError::Decode(
                    "wallet-balance has neither totalEquity nor coin usdValue".into(),
                ));
            }
            values.into_iter().sum()
        }
    };
    Ok(AccountValue {
        equity_usd: equity,
        available_usd: opt_num(&row.total_available_balance),
        at: Utc::now(),
    })
}

/// Signed size of one position row: `size` is unsigned and `side` says the direction.
pub fn signed_size(row: &PositionRow) -> Result<Decimal, VenueError> {
    let size = opt_num(&row.size).unwrap_or_default();
    Ok(match row.side.as_str() {
        "Buy" => size,
        "Sell" => -size,
        "" | "None" => Decimal::ZERO,
        other => {
            return Err(VenueError::Decode(format!(
                "unknown position side {other:?}"
            )))
        }
    })
}

/// Net positions per symbol. In hedge mode a symbol has a long leg (`positionIdx` 1) and a
/// short leg (2), and the empty leg is listed too, often first: the legs are summed, never
/// `list[0]` taken.
pub fn positions(rows: &[PositionRow]) -> Result<Vec<Position>, VenueError> {
    struct Net {
        qty: Decimal,
        legs: u32,
        entry: Option<Decimal>,
    }
    let mut by_symbol: BTreeMap<&str, Net> = BTreeMap::new();
    for row in rows {
        let qty = signed_size(row)?;
        let net = by_symbol.entry(row.symbol.as_str()).or_insert(Net {
            qty: Decimal::ZERO,
            legs: 0,
            entry: None,
        });
        net.qty += qty;
        if !qty.is_zero() {
            net.legs += 1;
            net.entry = opt_price(&row.avg_price).or_else(|| opt_price(&row.entry_price));
        }
    }
    Ok(by_symbol
        .into_iter()
        .filter(|(_, n)| !n.qty.is_zero())
        .map(|(symbol, n)| Position {
            native: symbol.to_string(),
            qty: n.qty,
            // With both hedge legs open no single entry price describes the net.
            entry_price: if n.legs == 1 { n.entry } else { None },
        })
        .collect())
}

/// Symbols the rows show in hedge mode (a row with `positionIdx` 1 or 2).
pub fn hedge_symbols(rows: &[PositionRow]) -> Vec<(String, bool)> {
    let mut out: BTreeMap<String, bool> = BTreeMap::new();
    for row in rows {
        let hedge = matches!(row.position_idx, 1 | 2);
        let e = out.entry(row.symbol.clone()).or_insert(false);
        *e |= hedge;
    }
    out.into_iter().collect()
}

pub fn order_ack(row: &OrderRow) -> Result<OrderAck, VenueError> {
    Ok(OrderAck {
        client_order_id: row.order_link_id.clone(),
        venue_order_id: row.order_id.clone(),
        status: status(&row.order_status),
        filled_qty: opt_num(&row.cum_exec_qty).unwrap_or_default(),
        avg_price: opt_price(&row.avg_price),
        native: Some(row.symbol.clone()).filter(|s| !s.is_empty()),
        side: side(&row.side).ok(),
        qty: opt_num(&row.qty),
    })
}

pub fn open_order(row: &OrderRow) -> Result<OpenOrder, VenueError> {
    let qty = num("qty", &row.qty)?;
    let filled = opt_num(&row.cum_exec_qty).unwrap_or_default();
    Ok(OpenOrder {
        native: row.symbol.clone(),
        venue_order_id: row.order_id.clone(),
        client_order_id: Some(row.order_link_id.clone()).filter(|c| !c.is_empty()),
        side: side(&row.side)?,
        qty,
        remaining: opt_num(&row.leaves_qty).unwrap_or(qty - filled),
        price: if row.order_type == "Limit" {
            opt_price(&row.price)
        } else {
            None
        },
        reduce_only: row.reduce_only,
    })
}

/// A fill from the `execution` stream; funding, settlement and ADL rows are not fills.
pub fn fill(row: &ExecutionRow) -> Result<Option<Fill>, VenueError> {
    if row.exec_type != "Trade" {
        return Ok(None);
    }
    Ok(Some(Fill {
        native: row.symbol.clone(),
        client_order_id: Some(row.order_link_id.clone()).filter(|c| !c.is_empty()),
        side: side(&row.side)?,
        qty: num("execQty", &row.exec_qty)?,
        price: num("execPrice", &row.exec_price)?,
        at: millis(&row.exec_time).unwrap_or_else(Utc::now),
    }))
}

pub use crate::venue::common::candles::millis;

/// Kline rows `[startTime, open, high, low, close, volume, turnover]`, newest first on the
/// wire; returned oldest first like every other venue.
pub fn candles(rows: &[Vec<String>]) -> Result<Vec<Candle>, VenueError> {
    crate::venue::common::candles::from_text_rows(rows, "kline", num)
}

#[cfg(test)]
mod tests;
