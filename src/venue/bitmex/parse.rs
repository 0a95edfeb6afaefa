//! Wire → domain for BitMEX: contract units, minor-unit money, order states and error texts.
//!
//! Sizing: every instrument is expressed so that [`Instrument::usd_per_unit`] gives the USD
//! value of one contract:
//! - inverse (XBTUSD): `Inverse`, `contract_value` = USD per contract = |multiplier| / 10^scale;
//! - linear (XBTUSDT): `Linear`, `contract_value` = underlying per contract =
//!   1 / underlyingToPositionMultiplier, priced in the quote currency;
//! - quanto (ETHUSD): `Quanto`, `contract_value` = multiplier / 10^scale settlement units per
//!   contract per price unit, and the quote's `quote_to_usd` is the settlement currency's USD
//!   price (XBT mark for XBt).

use super::model::{
    WireExecution, WireInstrument, WireMargin, WireOrder, WirePosition, WireTradeBin,
};
use crate::domain::{
    AccountValue, Candle, ContractKind, Fill, Instrument, OpenOrder, OrderAck, OrderStatus,
    Position, Side, Symbol,
};
use crate::venue::{CandleInterval, RejectKind, VenueError};
use chrono::{DateTime, Duration as ChronoDuration, Utc};
use rust_decimal::Decimal;

/// The USD price a quantity in some currency needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsdRate {
    /// USD and the dollar stablecoins, taken at par.
    One,
    /// Bitcoin: the XBTUSD mark.
    Xbt,
}

/// The symbol whose mark prices XBT in USD.
pub const XBT_USD: &str = "XBTUSD";

/// Decimal places of a settlement currency's minor unit (`XBt` satoshi, `USDt` 1e-6).
pub fn settle_scale(currency: &str) -> Option<u32> {
    match currency {
        "XBt" => Some(8),
        "USDt" => Some(6),
        _ => None,
    }
}

/// How a currency (major or minor spelling) converts to USD.
pub fn usd_rate_of(currency: &str) -> Option<UsdRate> {
    match currency.to_ascii_uppercase().as_str() {
        "USD" | "USDT" | "USDC" => Some(UsdRate::One),
        "XBT" | "BTC" => Some(UsdRate::Xbt),
        _ => None,
    }
}

/// The unified spelling of a BitMEX symbol (XBT is BTC everywhere else).
pub fn unified_symbol(native: &str) -> Symbol {
    match native.strip_prefix("XBT") {
        Some(rest) => Symbol::new(format!("BTC{rest}")),
        None => Symbol::new(native),
    }
}

/// The default BitMEX spelling of a unified symbol.
pub fn native_symbol(symbol: &Symbol) -> String {
    match symbol.as_str().strip_prefix("BTC") {
        Some(rest) => format!("XBT{rest}"),
        None => symbol.as_str().to_string(),
    }
}

fn kind_of(w: &WireInstrument) -> ContractKind {
    if w.is_inverse == Some(true) {
        ContractKind::Inverse
    } else if w.is_quanto == Some(true) {
        ContractKind::Quanto
    } else {
        ContractKind::Linear
    }
}

fn positive(field: &str, symbol: &str, value: Option<Decimal>) -> Result<Decimal, VenueError> {
    value.filter(|v| *v > Decimal::ZERO).ok_or_else(|| {
        VenueError::Decode(format!(
            "instrument {symbol}: {field} missing or not positive"
        ))
    })
}

fn settle_unit(w: &WireInstrument) -> Result<Decimal, VenueError> {
    let currency = w.settl_currency.as_deref().unwrap_or("");
    settle_scale(currency)
        .map(|scale| Decimal::new(1, scale))
        .ok_or_else(|| {
            VenueError::Unsupported(format!(
                "{}: settlement currency {currency:?} has no known scale",
                w.symbol
            ))
        })
}

/// Instrument metadata in domain terms; see the module doc for the units.
pub fn instrument(w: &WireInstrument) -> Result<Instrument, VenueError> {
    if let Some(state) = w.state.as_deref() {
        if state != "Open" {
            return Err(VenueError::Unsupported(format!(
                "{} is not open for trading (state {state})",
                w.symbol
            )));
        }
    }
    let symbol = w.symbol.as_str();
    let tick = positive("tickSize", symbol, w.tick_size)?;
    let lot = positive("lotSize", symbol, w.lot_size)?;
    let multiplier = w
        .multiplier
        .filter(|m| !m.is_zero())
        .ok_or_else(|| VenueError::Decode(format!("instrument {symbol}: multiplier missing")))?;
    let kind = kind_of(w);
    let contract_value = match kind {
        ContractKind::Inverse => {
            // |multiplier| / price settlement units per contract, worth |multiplier| / 10^scale
            // USD when the price is quoted in USD: XBTUSD is 1 USD per contract.
            if w.quote_currency.as_deref() != Some("USD") {
                return Err(VenueError::Unsupported(format!(
                    "{symbol}: inverse contract quoted in {:?}, only USD is supported",
                    w.quote_currency
                )));
            }
            multiplier.abs() * settle_unit(w)?
        }
        ContractKind::Linear => match w.underlying_to_position_multiplier {
            Some(m) if m > Decimal::ZERO => Decimal::ONE / m,
            _ => multiplier * settle_unit(w)?,
        },
        ContractKind::Quanto | ContractKind::Fx => multiplier * settle_unit(w)?,
    };
    usd_rate(w)?;
    Ok(Instrument {
        symbol: unified_symbol(symbol),
        native: symbol.to_string(),
        kind,
        tick,
        lot,
        min_qty: lot,
        max_qty: w.max_order_qty.filter(|q| *q > Decimal::ZERO),
        contract_value: contract_value.normalize(),
        min_notional_usd: Decimal::ZERO,
        max_leverage: w
            .init_margin
            .filter(|m| *m > Decimal::ZERO)
            .map(|m| (Decimal::ONE / m).round_dp(2).normalize()),
    })
}

/// What `Quote::quote_to_usd` is for this instrument: the quote currency's USD price for
/// linear contracts, the settlement currency's for quanto, 1 for USD-quoted inverse.
pub fn usd_rate(w: &WireInstrument) -> Result<UsdRate, VenueError> {
    let currency = match kind_of(w) {
        ContractKind::Inverse => return Ok(UsdRate::One),
        ContractKind::Linear => w.quote_currency.as_deref(),
        ContractKind::Quanto | ContractKind::Fx => w.settl_currency.as_deref(),
    }
    .unwrap_or("");
    usd_rate_of(currency).ok_or_else(|| {
        VenueError::Unsupported(format!(
            "{}: no USD conversion for currency {currency:?}",
            w.symbol
        ))
    })
}

/// The mark price (last trade when the venue has no mark).
pub fn mark(w: &WireInstrument) -> Result<Decimal, VenueError> {
    w.mark_price
        .or(w.last_price)
        .filter(|p| *p > Decimal::ZERO)
        .ok_or_else(|| VenueError::Decode(format!("{} has no mark price", w.symbol)))
}

/// Whether valuing these margin rows needs the XBT price.
pub fn needs_xbt_price(rows: &[WireMargin]) -> bool {
    rows.iter().any(|r| {
        settle_scale(&r.currency).is_some()
            && usd_rate_of(&r.currency) == Some(UsdRate::Xbt)
            && !r.margin_balance.unwrap_or_default().is_zero()
    })
}

/// Equity in USD from `GET /user/margin?currency=all`: each currency's `marginBalance`
/// (wallet + unrealised PnL) from minor units to major, times its USD price. Currencies of
/// unknown scale are left out (logged), which can only undervalue the account.
pub fn account_value(
    rows: &[WireMargin],
    xbt_usd: Option<Decimal>,
    at: DateTime<Utc>,
) -> Result<AccountValue, VenueError> {
    let mut equity = Decimal::ZERO;
    let mut available = Decimal::ZERO;
    for row in rows {
        let balance = row.margin_balance.unwrap_or_default();
        let free = row.available_margin.unwrap_or_default();
        if balance.is_zero() && free.is_zero() {
            continue;
        }
        let (Some(scale), Some(rate)) = (settle_scale(&row.currency), usd_rate_of(&row.currency))
        else {
            tracing::warn!(currency = %row.currency, "bitmex: margin in an unknown currency is not counted in the account value");
            continue;
        };
        let usd = match rate {
            UsdRate::One => Decimal::ONE,
            UsdRate::Xbt => xbt_usd.filter(|p| *p > Decimal::ZERO).ok_or_else(|| {
                VenueError::Decode("the XBT price is needed to value XBt margin".into())
            })?,
        };
        let unit = Decimal::new(1, scale);
        equity += balance * unit * usd;
        available += free * unit * usd;
    }
    Ok(AccountValue {
        equity_usd: equity.normalize(),
        available_usd: Some(available.normalize()),
        at,
    })
}

/// A non-zero position (one-way mode: one signed row per symbol).
pub fn position(w: &WirePosition) -> Option<Position> {
    let qty = w.current_qty.unwrap_or_default();
    (!qty.is_zero()).then(|| Position {
        native: w.symbol.clone(),
        qty: qty.normalize(),
        entry_price: w.avg_entry_price,
    })
}

pub fn side(raw: Option<&str>) -> Result<Side, VenueError> {
    match raw {
        Some("Buy") => Ok(Side::Buy),
        Some("Sell") => Ok(Side::Sell),
        other => Err(VenueError::Decode(format!("unknown side {other:?}"))),
    }
}

pub fn status(raw: Option<&str>) -> Result<OrderStatus, VenueError> {
    Ok(match raw {
        Some(
            "New" | "PendingNew" | "PendingCancel" | "PendingReplace" | "Untriggered" | "Triggered"
            | "Stopped",
        ) => OrderStatus::New,
        Some("PartiallyFilled") => OrderStatus::PartiallyFilled,
        Some("Filled") => OrderStatus::Filled,
        Some("Canceled" | "Expired" | "DoneForDay") => OrderStatus::Cancelled,
        Some("Rejected") => OrderStatus::Rejected,
        other => return Err(VenueError::Decode(format!("unknown ordStatus {other:?}"))),
    })
}

fn reduce_only(exec_inst: Option<&str>) -> bool {
    exec_inst
        .unwrap_or("")
        .split(',')
        .any(|i| matches!(i.trim(), "ReduceOnly" | "Close"))
}

pub fn order_ack(w: &WireOrder) -> Result<OrderAck, VenueError> {
    Ok(OrderAck {
        client_order_id: w.cl_ord_id.clone().unwrap_or_default(),
        venue_order_id: w.order_id.clone(),
        status: status(w.ord_status.as_deref())?,
        filled_qty: w.cum_qty.unwrap_or_default().normalize(),
        avg_price: w.avg_px.filter(|p| *p > Decimal::ZERO),
        native: w.symbol.clone().filter(|s| !s.is_empty()),
        side: side(w.side.as_deref()).ok(),
        qty: w.order_qty,
    })
}

/// The answer to `POST /order`. BitMEX answers HTTP 200 with `ordStatus` Canceled or
/// Rejected when it refuses an order it parsed (reduce-only that would not reduce, post-only
/// that would cross): with nothing filled, that is a rejection with the venue's `text`.
pub fn placed(w: &WireOrder) -> Result<OrderAck, VenueError> {
    let ack = order_ack(w)?;
    let refused = matches!(ack.status, OrderStatus::Rejected | OrderStatus::Cancelled);
    if refused && ack.filled_qty.is_zero() {
        let text = w.text.clone().unwrap_or_default();
        return Err(VenueError::rejected(
            reject_kind(&text),
            w.ord_status.clone().unwrap_or_default(),
            text,
        ));
    }
    Ok(ack)
}

pub fn open_order(w: &WireOrder) -> Result<OpenOrder, VenueError> {
    let qty = w.order_qty.unwrap_or_default();
    let remaining = w
        .leaves_qty
        .unwrap_or_else(|| qty - w.cum_qty.unwrap_or_default());
    Ok(OpenOrder {
        native: w.symbol.clone().unwrap_or_default(),
        venue_order_id: w.order_id.clone(),
        client_order_id: w.cl_ord_id.clone().filter(|c| !c.is_empty()),
        side: side(w.side.as_deref())?,
        qty: qty.normalize(),
        remaining: remaining.normalize(),
        price: w.price,
        reduce_only: reduce_only(w.exec_inst.as_deref()),
    })
}

/// The answer to `DELETE /order` for one client id: an element carrying `error` (the order
/// is already filled or cancelled) or no element at all means there is nothing to cancel.
pub fn cancelled(rows: &[WireOrder], client_order_id: &str) -> Result<(), VenueError> {
    let row = rows
        .iter()
        .find(|r| r.cl_ord_id.as_deref() == Some(client_order_id));
    match row {
        None => Err(VenueError::rejected(
            RejectKind::OrderNotFound,
            "cancel",
            format!("no order {client_order_id} to cancel"),
        )),
        Some(r) => match r.error.as_deref().filter(|e| !e.is_empty()) {
            Some(e) => Err(VenueError::rejected(RejectKind::OrderNotFound, "cancel", e)),
            None => Ok(()),
        },
    }
}

/// A fill from an `execution` row; only `execType` Trade rows are fills.
pub fn fill(w: &WireExecution) -> Option<Fill> {
    if w.exec_type.as_deref() != Some("Trade") {
        return None;
    }
    let qty = w.last_qty.filter(|q| *q > Decimal::ZERO)?;
    Some(Fill {
        native: w.symbol.clone()?,
        client_order_id: w.cl_ord_id.clone().filter(|c| !c.is_empty()),
        side: side(w.side.as_deref()).ok()?,
        qty,
        price: w.last_px?,
        at: w.transact_time.unwrap_or_else(Utc::now),
    })
}

/// A candle from a trade bin; BitMEX stamps a bin with its close time.
pub fn candle(w: &WireTradeBin, interval: CandleInterval) -> Option<Candle> {
    Some(Candle {
        open_time: w.timestamp - ChronoDuration::seconds(interval.seconds()),
        open: w.open?,
        high: w.high?,
        low: w.low?,
        close: w.close?,
        volume: w.volume.unwrap_or_default(),
    })
}

/// `(message, name)` of a BitMEX error body `{"error":{"message":…,"name":…}}` (or a plain
/// `{"error":"…"}`); the start of the body when it is neither.
/// What a BitMEX error text says beyond its HTTP status. BitMEX errors carry text, not codes,
/// so this file is the one place that reads them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageHint {
    /// The key is disabled or lacks a permission (a 403 that is not an IP ban).
    KeyRefused,
    /// The signed request's `api-expires` is in the past: the local clock is behind.
    Expired,
    /// A setting was already what was asked.
    Unchanged,
    Other,
}

pub fn message_hint(message: &str) -> MessageHint {
    let lower = message.to_ascii_lowercase();
    if lower.contains("disabled") || lower.contains("access denied") {
        MessageHint::KeyRefused
    } else if lower.contains("expired") && lower.contains("expires") {
        MessageHint::Expired
    } else if lower.contains("unchanged") {
        MessageHint::Unchanged
    } else {
        MessageHint::Other
    }
}

/// "Rate limit exceeded, retry in 10 seconds." → 10 s.
pub fn retry_in_from_message(message: &str) -> Option<std::time::Duration> {
    let lower = message.to_ascii_lowercase();
    let rest = lower.split("retry in ").nth(1)?;
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok().map(std::time::Duration::from_secs)
}

pub fn error_message(body: &str) -> (String, String) {
    let parsed: Option<serde_json::Value> = serde_json::from_str(body).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    match error {
        Some(serde_json::Value::String(s)) => (s.clone(), String::new()),
        Some(e) if e["message"].is_string() => (
            e["message"].as_str().unwrap_or_default().to_string(),
            e["name"].as_str().unwrap_or_default().to_string(),
        ),
        _ => (crate::venue::http::snippet(body), String::new()),
    }
}

/// The normalised reason of a refusal, from the venue's message.
pub fn reject_kind(message: &str) -> RejectKind {
    let m = message.to_ascii_lowercase();
    if m.contains("duplicate clordid") {
        RejectKind::DuplicateClientId
    } else if m.contains("insufficient available balance") || m.contains("insufficient funds") {
        RejectKind::InsufficientFunds
    } else if m.contains("invalid orderqty") || m.contains("orderqty is invalid") {
        RejectKind::InvalidQuantity
    } else if m.contains("invalid price") || m.contains("price is invalid") {
        RejectKind::InvalidPrice
    } else if m.contains("reduceonly")
        || m.contains("reduce-only")
        || m.contains("reduce only")
        || m.contains("execinst of close")
    {
        RejectKind::ReduceOnly
    } else if m.contains("not found")
        || m.contains("unable to cancel order")
        || m.contains("invalid origclordid")
        || m.contains("invalid ordstatus")
    {
        RejectKind::OrderNotFound
    } else {
        RejectKind::Other
    }
}

/// A definitive 4xx answer the dialect did not already turn into an auth or rate-limit
/// error: the venue saw the request and refused it.
pub fn http_error(status: u16, body: &str) -> VenueError {
    let (message, name) = error_message(body);
    let kind = match reject_kind(&message) {
        RejectKind::Other if status == 404 => RejectKind::OrderNotFound,
        kind => kind,
    };
    let code = if name.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status} {name}")
    };
    VenueError::rejected(kind, code, message)
}

#[cfg(test)]
mod tests;
