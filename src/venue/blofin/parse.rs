//! BloFin wire → domain: the envelope and the per-item codes of order answers, the error
//! table, string numbers, sides, states and net-mode positions. Pure functions, tested with
//! JSON fixtures in BloFin's own shapes (tests/fixtures/blofin/).

use super::model::{
    Balance, Envelope, InstrumentRow, ItemResult, MarkPriceRow, OrderRow, PositionRow,
};
use crate::domain::{
    AccountValue, Candle, ContractKind, Instrument, OpenOrder, OrderAck, OrderStatus, Position,
    Quote, Side, Symbol,
};
use crate::venue::http::{snippet, RawResponse};
use crate::venue::{RejectKind, VenueError};
use chrono::Utc;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::time::Duration;

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
            "blofin account \"{}\", {}: {what}",
            self.account, self.endpoint
        )
    }
}

/// How long to hold the refused bucket after HTTP 429: BloFin sends no reset header; its
/// trading window is 10 s (the IP windows, a minute and five, are kept by the limiter).
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(10);

/// How long BloFin's firewall suspends an IP (HTTP 403, "normally a 5-minute ban"); a CDN
/// challenge page is held off as long.
pub const FIREWALL_PAUSE: Duration = Duration::from_secs(300);

/// Unwraps the envelope: `data` on code "0", the mapped error otherwise.
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
            "body is not a BloFin envelope ({e}): {}",
            snippet(&resp.body)
        )))
    })?;
    match env.code.as_str() {
        "0" => Ok(env.data),
        // Order-type answers: "1" all failed, "2" partly; each item carries its own code.
        "1" | "2" => match first_failed_item(&env.data) {
            Some(item) => Err(code_error(&item.code, &item.msg, ctx)),
            None => Err(code_error(&env.code, &env.msg, ctx)),
        },
        code => Err(code_error(code, &env.msg, ctx)),
    }
}

/// The first item of an order-type `data` (a list, or one object) whose own code is not "0".
pub fn first_failed_item(data: &serde_json::Value) -> Option<ItemResult> {
    items(data)
        .into_iter()
        .find(|i| !i.code.is_empty() && i.code != "0")
}

/// The items of an order-type `data`: the docs show a list for placing and an object for
/// cancelling; both are accepted.
pub fn items(data: &serde_json::Value) -> Vec<ItemResult> {
    match data {
        serde_json::Value::Array(list) => list
            .iter()
            .filter_map(|v| serde_json::from_value(v.clone()).ok())
            .collect(),
        serde_json::Value::Object(_) => serde_json::from_value(data.clone()).into_iter().collect(),
        _ => Vec::new(),
    }
}

/// The one item of a single-order answer, with its own code checked (a per-item refusal
/// under a top-level "0" is still a refusal).
pub fn single_item(data: serde_json::Value, ctx: Ctx<'_>) -> Result<ItemResult, VenueError> {
    if let Some(item) = first_failed_item(&data) {
        return Err(code_error(&item.code, &item.msg, ctx));
    }
    items(&data).into_iter().next().ok_or_else(|| {
        VenueError::Decode(ctx.describe(format!("order answer without an item: {data}")))
    })
}

/// `data` decoded into a wire type.
pub fn data<T: DeserializeOwned>(value: serde_json::Value, ctx: Ctx<'_>) -> Result<T, VenueError> {
    serde_json::from_value(value)
        .map_err(|e| VenueError::Decode(ctx.describe(format!("unexpected data shape: {e}"))))
}

/// Maps a BloFin code (top-level or per item; see docs/venues/blofin.md for the table).
pub fn code_error(code: &str, msg: &str, ctx: Ctx<'_>) -> VenueError {
    let text = ctx.describe(format!("{msg} (code {code})"));
    let reject = |kind| VenueError::rejected(kind, code, text.clone());
    match code {
        // Key absent or expired, permission, IP not whitelisted, passphrase, signature.
        "401" | "152401" | "152402" | "152404" | "152406" | "152408" | "152409" => {
            VenueError::Auth(text)
        }
        // Our clock is more than 60 s off, or not in ms: nothing was executed; fix is local.
        "152405" | "152410" => VenueError::Local(format!(
            "{text}; the host clock is off from BloFin's, sync it (NTP)"
        )),
        // A nonce seen in the last 60 s: refused before execution, safe to send again.
        "152407" => VenueError::Transport(text),
        "429" => VenueError::RateLimited {
            retry_after: RATE_LIMIT_PAUSE,
        },
        // Internal errors: a write may or may not have happened.
        "500" | "103013" if ctx.mutating => VenueError::Unknown(text),
        "500" | "103013" => VenueError::Transport(text),
        "152014" => VenueError::UnknownSymbol(text),
        "102002" | "150003" | "152030" => reject(RejectKind::DuplicateClientId),
        "102022" | "102005" => reject(RejectKind::ReduceOnly),
        "103003" | "150004" => reject(RejectKind::InsufficientFunds),
        "542" | "102014" | "102015" => reject(RejectKind::InvalidQuantity),
        "102064" | "102065" => reject(RejectKind::InvalidPrice),
        // Cancel of an order that is filled, cancelled or absent.
        "102068" | "1000" => reject(RejectKind::OrderNotFound),
        _ => reject(RejectKind::Other),
    }
}

/// "Position mode mismatch" (102089): the account's position mode is not the one we read.
pub fn is_position_mode_mismatch(e: &VenueError) -> bool {
    matches!(e, VenueError::Rejected { code, .. } if code == "102089")
}

/// A required decimal field.
pub fn num(field: &str, s: &str) -> Result<Decimal, VenueError> {
    crate::venue::common::num::required(field, s)
}

/// An optional decimal: `""` (or `null`) means absent.
pub fn opt_num(s: &str) -> Option<Decimal> {
    crate::venue::common::num::parse_text(s)
}

/// A price where `"0"` also means "none" (orders without fills).
fn opt_price(s: &str) -> Option<Decimal> {
    opt_num(s).filter(|p| *p > Decimal::ZERO)
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

pub fn status(s: &str) -> OrderStatus {
    match s {
        "partially_filled" => OrderStatus::PartiallyFilled,
        "filled" => OrderStatus::Filled,
        // A cancelled order may carry fills; the ack's filled_qty says how much.
        "canceled" | "cancelled" | "partially_canceled" => OrderStatus::Cancelled,
        "order_failed" => OrderStatus::Rejected,
        // live, effective and anything new: still working.
        _ => OrderStatus::New,
    }
}

/// The unified symbol's BloFin spelling: `BTCUSDT` → `BTC-USDT`.
pub fn native_symbol(symbol: &Symbol) -> String {
    match symbol.split() {
        (base, quote) if !quote.is_empty() => format!("{base}-{quote}"),
        _ => symbol.as_str().to_string(),
    }
}

/// Sizes are contracts: one contract is `contractValue` of the base coin, orders step by
/// `lotSize` from `minSize`.
pub fn instrument(row: &InstrumentRow) -> Result<Instrument, VenueError> {
    if row.contract_type == "inverse" {
        return Err(VenueError::Unsupported(format!(
            "{}: BloFin inverse contracts are not supported (USDT perpetuals only)",
            row.inst_id
        )));
    }
    Ok(Instrument {
        symbol: Symbol::new(row.inst_id.replace('-', "")),
        native: row.inst_id.clone(),
        kind: ContractKind::Linear,
        tick: num("tickSize", &row.tick_size)?,
        lot: num("lotSize", &row.lot_size)?,
        min_qty: num("minSize", &row.min_size)?,
        max_qty: opt_num(&row.max_market_size).filter(|q| *q > Decimal::ZERO),
        contract_value: num("contractValue", &row.contract_value)?,
        min_notional_usd: Decimal::ZERO,
        max_leverage: opt_num(&row.max_leverage),
    })
}

/// The mark price, dated by BloFin's `ts`: an old snapshot makes the quote stale.
pub fn quote(native: &str, row: &MarkPriceRow) -> Result<Quote, VenueError> {
    Ok(Quote {
        native: native.to_string(),
        mark: num("markPrice", &row.mark_price)?,
        // USDT is taken at par.
        quote_to_usd: Decimal::ONE,
        at: millis(&row.ts).unwrap_or_else(Utc::now),
    })
}

/// Futures account equity in USD: `totalEquity`, else the USDT detail's `equity`.
pub fn account_value(balance: &Balance) -> Result<AccountValue, VenueError> {
    let usdt = balance.details.iter().find(|d| d.currency == "USDT");
    let equity = opt_num(&balance.total_equity)
        .or_else(|| usdt.and_then(|d| opt_num(&d.equity)))
        .ok_or_else(|| {
            VenueError::Decode("account balance has neither totalEquity nor a USDT equity".into())
        })?;
    Ok(AccountValue {
        equity_usd: equity,
        available_usd: usdt
            .and_then(|d| opt_num(&d.available_equity).or_else(|| opt_num(&d.available))),
        at: Utc::now(),
    })
}

/// True when a row shows the account in hedge mode (`long`/`short` legs).
pub fn is_hedge_row(row: &PositionRow) -> bool {
    matches!(row.position_side.as_str(), "long" | "short")
}

/// The account is in hedge mode: we trade one-way only, and say how to fix it.
pub fn hedge_refusal(account: &str) -> VenueError {
    VenueError::Unsupported(format!(
        "blofin account \"{account}\" is in hedge mode (long_short_mode); trade-engine trades one-way (net_mode) only: switch the futures position mode to One-way in BloFin (with no open positions or orders) and restart"
    ))
}

/// Net positions in contracts. In net mode `positions` is signed; a hedge-mode row is an
/// error (the account must be switched to one-way).
pub fn positions(rows: &[PositionRow], account: &str) -> Result<Vec<Position>, VenueError> {
    if rows.iter().any(is_hedge_row) {
        return Err(hedge_refusal(account));
    }
    let mut out: Vec<Position> = Vec::new();
    for row in rows {
        let qty = opt_num(&row.positions).unwrap_or_default();
        if qty.is_zero() {
            continue;
        }
        // One row per instrument and margin mode: a cross and an isolated row add up.
        match out.iter_mut().find(|p| p.native == row.inst_id) {
            Some(p) => {
                p.qty += qty;
                p.entry_price = None;
            }
            None => out.push(Position {
                native: row.inst_id.clone(),
                qty,
                entry_price: opt_price(&row.average_price),
            }),
        }
    }
    out.retain(|p| !p.qty.is_zero());
    Ok(out)
}

pub fn order_ack(row: &OrderRow) -> Result<OrderAck, VenueError> {
    Ok(OrderAck {
        client_order_id: row.client_order_id.clone(),
        venue_order_id: row.order_id.clone(),
        status: status(&row.state),
        filled_qty: opt_num(&row.filled_size).unwrap_or_default(),
        avg_price: opt_price(&row.average_price),
        native: Some(row.inst_id.clone()).filter(|s| !s.is_empty()),
        side: side(&row.side).ok(),
        qty: opt_num(&row.size),
    })
}

pub fn open_order(row: &OrderRow) -> Result<OpenOrder, VenueError> {
    let qty = num("size", &row.size)?;
    let filled = opt_num(&row.filled_size).unwrap_or_default();
    Ok(OpenOrder {
        native: row.inst_id.clone(),
        venue_order_id: row.order_id.clone(),
        client_order_id: Some(row.client_order_id.clone()).filter(|c| !c.is_empty()),
        side: side(&row.side)?,
        qty,
        remaining: qty - filled,
        price: if row.order_type == "market" {
            None
        } else {
            opt_price(&row.price)
        },
        reduce_only: row.reduce_only == "true",
    })
}

pub use crate::venue::common::candles::millis;

/// Candle rows `[ts, open, high, low, close, volContracts, volBase, volQuote, confirm]`,
/// newest first on the wire; returned oldest first like every other venue.
pub fn candles(rows: &[Vec<String>]) -> Result<Vec<Candle>, VenueError> {
    crate::venue::common::candles::from_text_rows(rows, "candle", num)
}

#[cfg(test)]
mod tests;
