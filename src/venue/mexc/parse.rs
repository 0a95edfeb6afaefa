//! MEXC wire → domain: the envelope and its codes, side codes 1–4, order states, contract
//! units and the netting of hedge-mode legs. Pure functions, tested with JSON fixtures in
//! MEXC's shapes (tests/fixtures/mexc/). The only place that looks at an error's text.

use super::model::{ContractDetail, DealRow, Envelope, FairPrice, Klines, OrderRow, PositionRow};
use crate::domain::{
    AccountValue, Candle, ContractKind, Fill, Instrument, OpenOrder, OrderAck, OrderStatus,
    Position, Quote, Side, Symbol,
};
use crate::venue::http::{snippet, RawResponse};
use crate::venue::{RejectKind, VenueError};
use chrono::{DateTime, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

/// Who asked what, for error messages that say which account and endpoint failed.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub account: &'a str,
    pub endpoint: &'a str,
    /// A request that changes state: a server-side failure leaves its outcome unknown.
    pub mutating: bool,
}

impl Ctx<'_> {
    pub fn describe(&self, what: impl std::fmt::Display) -> String {
        format!(
            "mexc account \"{}\", {}: {what}",
            self.account, self.endpoint
        )
    }
}

/// How long a 510 ("too frequent") holds requests: the documented window is 2 s.
pub const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Side codes of `order/create`.
pub const OPEN_LONG: i64 = 1;
pub const CLOSE_SHORT: i64 = 2;
pub const OPEN_SHORT: i64 = 3;
pub const CLOSE_LONG: i64 = 4;

/// The side code of an order: a reduction always uses a close code, so that it can only
/// shrink the leg it names and never open the other side.
pub fn side_code(side: Side, reduce_only: bool) -> i64 {
    match (side, reduce_only) {
        (Side::Buy, false) => OPEN_LONG,
        (Side::Sell, false) => OPEN_SHORT,
        (Side::Buy, true) => CLOSE_SHORT,
        (Side::Sell, true) => CLOSE_LONG,
    }
}

/// The domain side of a side code (close short buys, close long sells).
pub fn side_of(code: i64) -> Result<Side, VenueError> {
    match code {
        OPEN_LONG | CLOSE_SHORT => Ok(Side::Buy),
        OPEN_SHORT | CLOSE_LONG => Ok(Side::Sell),
        other => Err(VenueError::Decode(format!("unknown side code {other}"))),
    }
}

/// Unwraps the envelope: `data` when `success`, the mapped error otherwise.
pub fn envelope(resp: &RawResponse, ctx: Ctx<'_>) -> Result<serde_json::Value, VenueError> {
    let env: Envelope = match serde_json::from_str(&resp.body) {
        Ok(env) => env,
        Err(_) if resp.status >= 400 => {
            return Err(VenueError::Decode(ctx.describe(format!(
                "HTTP {}: {}",
                resp.status,
                snippet(&resp.body)
            ))))
        }
        Err(e) => {
            return Err(VenueError::Decode(ctx.describe(format!(
                "body is not a contract API envelope ({e}): {}",
                snippet(&resp.body)
            ))))
        }
    };
    let Some(success) = env.success else {
        return Err(VenueError::Decode(ctx.describe(format!(
            "HTTP {}: body is not a contract API envelope: {}",
            resp.status,
            snippet(&resp.body)
        ))));
    };
    let code = env.code();
    if success && code == 0 {
        Ok(env.data)
    } else {
        Err(code_error(code, &env.message, ctx))
    }
}

/// `data` decoded into a wire type.
pub fn data<T: DeserializeOwned>(value: serde_json::Value, ctx: Ctx<'_>) -> Result<T, VenueError> {
    serde_json::from_value(value)
        .map_err(|e| VenueError::Decode(ctx.describe(format!("unexpected data shape: {e}"))))
}

/// Answers that mean "the venue takes no new orders" whatever code they carry.
fn says_trading_disabled(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("under maintenance") || m.contains("not allow place order")
}

/// A refusal naming the client id as already used (the code of this answer is not
/// documented; the text is the only sign).
fn says_duplicate_id(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("externaloid")
        && (m.contains("exist") || m.contains("repeat") || m.contains("duplicate"))
}

/// Maps a non-zero `code` (see docs/venues/mexc.md for the table and its sources).
pub fn code_error(code: i64, msg: &str, ctx: Ctx<'_>) -> VenueError {
    let text = ctx.describe(format!("{msg} (code {code})"));
    let reject = |kind| VenueError::rejected(kind, code.to_string(), text.clone());
    if says_trading_disabled(msg) {
        return reject(RejectKind::TradingDisabled);
    }
    if says_duplicate_id(msg) {
        return reject(RejectKind::DuplicateClientId);
    }
    match code {
        // Unauthorized, key expired, IP not whitelisted, bad signature (a wrong secret), no
        // read/write/trade permission: only a credential fix helps.
        401 | 402 | 406 | 602 | 701..=704 => VenueError::Auth(text),
        // Too frequent; "frequent transactions, try later".
        510 | 2037 => VenueError::RateLimited {
            retry_after: RATE_WINDOW,
        },
        // Request-Time outside the 10 s window: nothing happened; the fix is local (NTP).
        513 => VenueError::Local(format!(
            "{text}; the host clock is off from MEXC's, sync it (NTP)"
        )),
        // System errors ("public abnormal" included): a write may or may not have happened.
        500 | 501 | 503 | 504 | 9999 if ctx.mutating => VenueError::Unknown(text),
        500 | 501 | 503 | 504 | 9999 => VenueError::Transport(text),
        // "Endpoint inaccessible": how a switched-off order endpoint answers; on a read it is
        // the venue's trouble.
        511 if ctx.mutating => reject(RejectKind::TradingDisabled),
        511 => VenueError::Transport(text),
        // "Repeated request": the same order (same externalOid) was sent before.
        603 if ctx.mutating => reject(RejectKind::DuplicateClientId),
        1001 => VenueError::UnknownSymbol(text),
        // "Contract not allow place order" (API order placement switched off), trading
        // forbidden, opening forbidden: the account goes close-only and retries later.
        1002 | 6001 | 6002 => reject(RejectKind::TradingDisabled),
        2005 | 2018 => reject(RejectKind::InsufficientFunds),
        2008 | 2011 | 2015 | 2028 => reject(RejectKind::InvalidQuantity),
        2003 | 2004 | 2007 => reject(RejectKind::InvalidPrice),
        // Position does not exist or is closed: a close order with nothing to close.
        2009 => reject(RejectKind::ReduceOnly),
        2040 | 2041 => reject(RejectKind::OrderNotFound),
        _ => reject(RejectKind::Other),
    }
}

/// `submit_batch` refused as a whole because the key lacks the batch permission (granted by
/// MEXC support on request): nothing was placed, single orders work.
pub fn is_batch_permission_refusal(e: &VenueError) -> bool {
    match e {
        VenueError::Auth(m) => m.to_ascii_lowercase().contains("permission"),
        VenueError::Rejected {
            kind: RejectKind::Other,
            message,
            ..
        } => {
            let m = message.to_ascii_lowercase();
            m.contains("permission") || m.contains("not authorized") || m.contains("no access")
        }
        _ => false,
    }
}

/// A per-item `errorCode` of cancel and batch answers (same table as the envelope's).
pub fn item_error(code: i64, msg: &str, ctx: Ctx<'_>) -> VenueError {
    code_error(code, msg, ctx)
}

pub fn status(row: &OrderRow) -> OrderStatus {
    let filled = row.deal_vol.unwrap_or_default();
    match row.state {
        3 => OrderStatus::Filled,
        // Cancelled orders may carry fills (IOC remainder); filled_qty says how much.
        4 => OrderStatus::Cancelled,
        5 => OrderStatus::Rejected,
        _ if filled > Decimal::ZERO => OrderStatus::PartiallyFilled,
        _ => OrderStatus::New,
    }
}

pub fn order_ack(row: &OrderRow) -> Result<OrderAck, VenueError> {
    Ok(OrderAck {
        client_order_id: row.external_oid.clone(),
        venue_order_id: row.order_id.clone(),
        status: status(row),
        filled_qty: row.deal_vol.unwrap_or_default(),
        avg_price: row.deal_avg_price.filter(|p| *p > Decimal::ZERO),
        native: Some(row.symbol.clone()).filter(|s| !s.is_empty()),
        side: side_of(row.side).ok(),
        qty: row.vol,
    })
}

pub fn open_order(row: &OrderRow) -> Result<OpenOrder, VenueError> {
    let qty = row
        .vol
        .ok_or_else(|| VenueError::Decode(format!("order {} without vol", row.order_id)))?;
    let limit = matches!(row.order_type, 1..=4);
    Ok(OpenOrder {
        native: row.symbol.clone(),
        venue_order_id: row.order_id.clone(),
        client_order_id: Some(row.external_oid.clone()).filter(|c| !c.is_empty()),
        side: side_of(row.side)?,
        qty,
        remaining: qty - row.deal_vol.unwrap_or_default(),
        price: row.price.filter(|p| limit && *p > Decimal::ZERO),
        reduce_only: row.reduce_only.unwrap_or(false)
            || matches!(row.side, CLOSE_SHORT | CLOSE_LONG),
    })
}

/// A USDT- (or USDC-) margined contract: quantities are contracts of `contractSize` base
/// units on a grid of `volUnit`. A coin-margined contract (`BTC_USD`, settled in the base coin)
/// is inverse: one contract is worth `contractSize` USD whatever the price.
pub fn instrument(row: &ContractDetail) -> Result<Instrument, VenueError> {
    let need = |field: &str, v: Option<Decimal>| {
        v.filter(|d| *d > Decimal::ZERO).ok_or_else(|| {
            VenueError::Decode(format!("contract {} has no usable {field}", row.symbol))
        })
    };
    let kind = match row.settle_coin.as_str() {
        "USDT" | "USDC" => ContractKind::Linear,
        coin if coin == row.base_coin && row.quote_coin == "USD" => ContractKind::Inverse,
        other => {
            return Err(VenueError::UnknownSymbol(format!(
                "{} settles in {other:?}: only USDT/USDC-margined and coin-margined USD contracts are traded on mexc",
                row.symbol
            )))
        }
    };
    let lot = need("volUnit", row.vol_unit)?;
    Ok(Instrument {
        symbol: Symbol::new(row.symbol.replace('_', "")),
        native: row.symbol.clone(),
        kind,
        tick: need("priceUnit", row.price_unit)?,
        lot,
        min_qty: row.min_vol.filter(|v| *v > Decimal::ZERO).unwrap_or(lot),
        max_qty: row.max_vol.filter(|v| *v > Decimal::ZERO),
        contract_value: need("contractSize", row.contract_size)?,
        min_notional_usd: Decimal::ZERO,
        max_leverage: row.max_leverage,
    })
}

/// Whether the contract takes orders at all: `state` 0 and `apiAllowed` not false.
pub fn tradable(row: &ContractDetail) -> bool {
    row.state == 0 && row.api_allowed != Some(false)
}

/// The fair (mark) price, dated by MEXC's own timestamp: an old snapshot makes the quote stale,
/// which only allows reducing orders.
pub fn quote(native: &str, row: &FairPrice) -> Result<Quote, VenueError> {
    let mark = row
        .fair_price
        .filter(|p| *p > Decimal::ZERO)
        .ok_or_else(|| VenueError::Decode(format!("{native}: fair price missing")))?;
    Ok(Quote {
        native: native.to_string(),
        mark,
        // USDT and USDC are taken at par.
        quote_to_usd: Decimal::ONE,
        at: row.timestamp.and_then(millis).unwrap_or_else(Utc::now),
    })
}

/// Equity of the USDT (and USDC) futures wallets, with unrealised PnL.
pub fn account_value(rows: &[super::model::Asset]) -> Result<AccountValue, VenueError> {
    let usd: Vec<_> = rows
        .iter()
        .filter(|a| matches!(a.currency.as_str(), "USDT" | "USDC"))
        .collect();
    if usd.is_empty() {
        return Err(VenueError::Decode(
            "account/assets lists no USDT or USDC wallet".into(),
        ));
    }
    let mut equity = Decimal::ZERO;
    let mut available = Decimal::ZERO;
    for a in usd {
        equity += match a.equity {
            Some(e) => e,
            None => a.cash_balance.unwrap_or_default() + a.unrealized.unwrap_or_default(),
        };
        available += a.available_balance.unwrap_or_default();
    }
    Ok(AccountValue {
        equity_usd: equity,
        available_usd: Some(available),
        at: Utc::now(),
    })
}

/// Signed contracts of one position row: +holdVol long, −holdVol short, 0 when closed.
pub fn signed_vol(row: &PositionRow) -> Result<Decimal, VenueError> {
    if row.state == 3 {
        return Ok(Decimal::ZERO);
    }
    let vol = row.hold_vol.unwrap_or_default();
    match row.position_type {
        1 => Ok(vol),
        2 => Ok(-vol),
        other => Err(VenueError::Decode(format!(
            "{}: unknown positionType {other}",
            row.symbol
        ))),
    }
}

/// Net positions per symbol: in hedge mode a symbol can hold a long and a short leg; they
/// are summed, never one of them taken.
pub fn positions(rows: &[PositionRow]) -> Result<Vec<Position>, VenueError> {
    let mut by_symbol: BTreeMap<&str, (Decimal, u32, Option<Decimal>)> = BTreeMap::new();
    for row in rows {
        let qty = signed_vol(row)?;
        let net = by_symbol.entry(row.symbol.as_str()).or_default();
        net.0 += qty;
        if !qty.is_zero() {
            net.1 += 1;
            net.2 = row.hold_avg_price.filter(|p| *p > Decimal::ZERO);
        }
    }
    Ok(by_symbol
        .into_iter()
        .filter(|(_, (qty, _, _))| !qty.is_zero())
        .map(|(symbol, (qty, legs, entry))| Position {
            native: symbol.to_string(),
            qty,
            entry_price: if legs == 1 { entry } else { None },
        })
        .collect())
}

/// A fill from `push.personal.order.deal`.
pub fn fill(row: &DealRow) -> Result<Fill, VenueError> {
    Ok(Fill {
        native: row.symbol.clone(),
        client_order_id: Some(row.external_oid.clone()).filter(|c| !c.is_empty()),
        side: side_of(row.side)?,
        qty: row
            .vol
            .ok_or_else(|| VenueError::Decode("deal without vol".into()))?,
        price: row
            .price
            .ok_or_else(|| VenueError::Decode("deal without price".into()))?,
        at: row.timestamp.and_then(millis).unwrap_or_else(Utc::now),
    })
}

pub fn millis(ms: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(ms).single()
}

/// Columnar klines (`time[]` in seconds, oldest first) as candles.
pub fn candles(k: &Klines) -> Result<Vec<Candle>, VenueError> {
    let col = |v: &[serde_json::Value], i: usize, name: &str| {
        v.get(i)
            .and_then(crate::venue::common::num::from_value)
            .ok_or_else(|| VenueError::Decode(format!("kline {name}[{i}] missing")))
    };
    let mut out = Vec::with_capacity(k.time.len());
    for (i, t) in k.time.iter().enumerate() {
        out.push(Candle {
            open_time: Utc
                .timestamp_opt(*t, 0)
                .single()
                .ok_or_else(|| VenueError::Decode(format!("kline time {t}")))?,
            open: col(&k.open, i, "open")?,
            high: col(&k.high, i, "high")?,
            low: col(&k.low, i, "low")?,
            close: col(&k.close, i, "close")?,
            volume: col(&k.vol, i, "vol")?,
        });
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}

#[cfg(test)]
mod tests;
