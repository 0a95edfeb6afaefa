//! OANDA wire → domain: error bodies and reject/cancel reasons (the typed table), instruments
//! in FX units, prices with the quote currency's home conversion, net positions, orders and
//! transactions. Pure functions, tested with JSON fixtures in OANDA's own shapes.

use super::model::{
    AccountSummary, CandleRow, ErrorBody, InstrumentRow, OrderAnswer, OrderRow, PositionRow,
    PriceRow, PricingResponse, Transaction,
};
use crate::domain::{
    AccountValue, Candle, ContractKind, Fill, Instrument, OpenOrder, OrderAck, OrderStatus,
    Position, Quote, Side, Symbol,
};
use crate::venue::http::{snippet, RawResponse};
use crate::venue::{RejectKind, VenueError, VenueEvent};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;

/// Who asked what, for error messages that say which account and endpoint failed.
#[derive(Clone, Copy, Debug)]
pub struct Ctx<'a> {
    pub account: &'a str,
    pub endpoint: &'a str,
}

impl Ctx<'_> {
    pub fn describe(&self, what: impl std::fmt::Display) -> String {
        format!(
            "oanda account \"{}\", {}: {what}",
            self.account, self.endpoint
        )
    }
}

/// A 2xx body decoded into `T`; any other status mapped through the error table.
pub fn body<T: DeserializeOwned>(resp: &RawResponse, ctx: Ctx<'_>) -> Result<T, VenueError> {
    if resp.status >= 300 {
        return Err(error(resp, ctx));
    }
    serde_json::from_str(&resp.body).map_err(|e| {
        VenueError::Decode(
            ctx.describe(format!("unexpected answer ({e}): {}", snippet(&resp.body))),
        )
    })
}

/// The error of a non-2xx answer: the reject reason (or `errorCode`) through [`reason_error`],
/// 401/403 as credential problems, and a plain 404 as an unknown account or resource.
pub fn error(resp: &RawResponse, ctx: Ctx<'_>) -> VenueError {
    let parsed: ErrorBody = serde_json::from_str(&resp.body).unwrap_or_default();
    let reason = parsed
        .order_reject_transaction
        .as_ref()
        .map(|t| t.reject_reason.as_str())
        .filter(|r| !r.is_empty())
        .or_else(|| {
            parsed
                .order_cancel_reject_transaction
                .as_ref()
                .map(|t| t.reject_reason.as_str())
                .filter(|r| !r.is_empty())
        })
        .unwrap_or(parsed.error_code.as_str())
        .to_string();
    let message = if parsed.error_message.is_empty() {
        snippet(&resp.body)
    } else {
        parsed.error_message.clone()
    };
    let text = ctx.describe(format!("HTTP {}: {message} ({reason})", resp.status));
    match resp.status {
        401 => VenueError::Auth(format!(
            "{text}; the token is wrong, expired or for the other environment (practice/live)"
        )),
        403 => VenueError::Auth(format!("{text}; the token may not act on this account_id")),
        _ if !reason.is_empty() => reason_error(&reason, text),
        404 => VenueError::rejected(RejectKind::OrderNotFound, "404", text),
        _ => VenueError::rejected(RejectKind::Other, resp.status.to_string(), text),
    }
}

/// The typed table of OANDA's reject reasons (`TransactionRejectReason`, `errorCode`) and
/// order cancel reasons (`OrderCancelReason`): see docs/venues/oanda.md for the sources.
pub fn reason_kind(reason: &str) -> RejectKind {
    match reason {
        "CLIENT_ORDER_ID_ALREADY_EXISTS" | "CLIENT_TRADE_ID_ALREADY_EXISTS" => {
            RejectKind::DuplicateClientId
        }
        "INSUFFICIENT_MARGIN"
        | "MARGIN_RATE_WOULD_TRIGGER_CLOSEOUT"
        | "MARGIN_RATE_WOULD_TRIGGER_MARGIN_CALL"
        | "ACCOUNT_POSITION_VALUE_LIMIT_EXCEEDED"
        | "POSITION_SIZE_EXCEEDED"
        | "INSUFFICIENT_FUNDS" => RejectKind::InsufficientFunds,
        // "MIMIMUM" is the spelling of the v20 spec.
        "UNITS_PRECISION_EXCEEDED"
        | "UNITS_MIMIMUM_NOT_MET"
        | "UNITS_MINIMUM_NOT_MET"
        | "UNITS_LIMIT_EXCEEDED"
        | "UNITS_INVALID"
        | "UNITS_MISSING" => RejectKind::InvalidQuantity,
        "PRICE_PRECISION_EXCEEDED"
        | "PRICE_INVALID"
        | "PRICE_MISSING"
        | "PRICE_BOUND_INVALID"
        | "PRICE_BOUND_PRECISION_EXCEEDED"
        | "BOUNDS_VIOLATION" => RejectKind::InvalidPrice,
        // Weekends and halts, locked accounts: no new orders for now. The account goes
        // close-only and retries opening after a back-off instead of spinning.
        "MARKET_HALTED"
        | "INSTRUMENT_NOT_TRADEABLE"
        | "INSTRUMENT_BID_HALTED"
        | "INSTRUMENT_ASK_HALTED"
        | "INSTRUMENT_BID_REDUCE_ONLY"
        | "INSTRUMENT_ASK_REDUCE_ONLY"
        | "ACCOUNT_NOT_ACTIVE"
        | "ACCOUNT_LOCKED"
        | "ACCOUNT_ORDER_CREATION_LOCKED"
        | "ACCOUNT_NEW_POSITIONS_LOCKED"
        | "ACCOUNT_ORDER_FILL_LOCKED" => RejectKind::TradingDisabled,
        "ORDER_DOESNT_EXIST" | "ORDER_IDENTIFIER_INCONSISTENCY" | "NO_SUCH_ORDER" => {
            RejectKind::OrderNotFound
        }
        _ => RejectKind::Other,
    }
}

fn reason_error(reason: &str, text: String) -> VenueError {
    match reason {
        "INSTRUMENT_UNKNOWN" | "INVALID_INSTRUMENT" => VenueError::UnknownSymbol(text),
        _ => VenueError::rejected(reason_kind(reason), reason, text),
    }
}

/// What a `201 Created` order answer means. A fill transaction is the only proof of a fill;
/// a cancel without one is a refusal with its reason (`MARKET_HALTED`, `INSUFFICIENT_MARGIN`
/// …), and a reduce-only order cancelled for a reason the table does not know had nothing
/// to reduce.
pub fn order_answer(
    answer: &OrderAnswer,
    client_order_id: &str,
    native: &str,
    side: Side,
    qty: Decimal,
    reduce_only: bool,
    ctx: Ctx<'_>,
) -> Result<OrderAck, VenueError> {
    let venue_id = answer
        .order_create_transaction
        .as_ref()
        .map(|t| t.id.clone())
        .unwrap_or_default();
    let filled = match &answer.order_fill_transaction {
        Some(fill) => num("orderFillTransaction.units", &fill.units)?.abs(),
        None => Decimal::ZERO,
    };
    let avg_price = answer
        .order_fill_transaction
        .as_ref()
        .and_then(|f| opt_num(&f.price));
    if filled.is_zero() {
        if let Some(cancel) = &answer.order_cancel_transaction {
            let reason = cancel.reason.as_str();
            let mut kind = reason_kind(reason);
            if reduce_only && kind == RejectKind::Other {
                kind = RejectKind::ReduceOnly;
            }
            return Err(VenueError::rejected(
                kind,
                reason,
                ctx.describe(format!(
                    "order {client_order_id} accepted and cancelled at once: {reason}"
                )),
            ));
        }
    }
    let status = if filled >= qty {
        OrderStatus::Filled
    } else if filled.is_zero() {
        OrderStatus::New
    } else {
        OrderStatus::PartiallyFilled
    };
    Ok(OrderAck {
        client_order_id: client_order_id.to_string(),
        venue_order_id: venue_id,
        status,
        filled_qty: filled,
        avg_price,
        native: Some(native.to_string()),
        side: Some(side),
        qty: Some(qty),
    })
}

pub fn num(field: &str, s: &str) -> Result<Decimal, VenueError> {
    crate::venue::common::num::required(field, s)
}

pub fn opt_num(s: &str) -> Option<Decimal> {
    crate::venue::common::num::parse_text(s)
}

/// `10^-places`: a price tick from `displayPrecision`, a lot from `tradeUnitsPrecision`.
pub fn step(places: u32) -> Decimal {
    Decimal::new(1, places.min(28))
}

/// The USD value of an FX unit is the price times the quote currency's home conversion: an
/// FX instrument. `account_margin_rate` caps the leverage with the instrument's own rate
/// (OANDA uses the larger of the two rates).
pub fn instrument(
    row: &InstrumentRow,
    account_margin_rate: Option<Decimal>,
) -> Result<Instrument, VenueError> {
    let instrument_rate = num("marginRate", &row.margin_rate)?;
    let rate = account_margin_rate
        .filter(|r| *r > Decimal::ZERO)
        .map_or(instrument_rate, |a| a.max(instrument_rate));
    let max_leverage = (rate > Decimal::ZERO).then(|| (Decimal::ONE / rate).round_dp(4));
    Ok(Instrument {
        symbol: Symbol::new(row.name.replace('_', "")),
        native: row.name.clone(),
        kind: ContractKind::Fx,
        tick: step(row.display_precision),
        lot: step(row.trade_units_precision),
        min_qty: num("minimumTradeSize", &row.minimum_trade_size)?,
        // "0" means no limit.
        max_qty: opt_num(&row.maximum_order_units).filter(|q| *q > Decimal::ZERO),
        contract_value: Decimal::ONE,
        min_notional_usd: Decimal::ZERO,
        max_leverage,
    })
}

/// The quote currency of an instrument name (`EUR_GBP` → `GBP`).
pub fn quote_currency(native: &str) -> Option<&str> {
    native
        .split_once('_')
        .map(|(_, q)| q)
        .filter(|q| !q.is_empty())
}

/// The home conversion factor of `currency` (its `positionValue`), 1 for the home currency
/// itself when the venue leaves it out.
pub fn conversion(pricing: &PricingResponse, currency: &str, home: &str) -> Option<Decimal> {
    pricing
        .home_conversions
        .iter()
        .find(|c| c.currency == currency)
        .and_then(|c| opt_num(&c.position_value))
        .or_else(|| (currency == home).then_some(Decimal::ONE))
}

/// The mid of the best bid and ask (closeout prices when the book is empty).
pub fn mid(row: &PriceRow) -> Result<Decimal, VenueError> {
    let bid = row
        .bids
        .first()
        .map(|b| b.price.as_str())
        .unwrap_or(&row.closeout_bid);
    let ask = row
        .asks
        .first()
        .map(|a| a.price.as_str())
        .unwrap_or(&row.closeout_ask);
    Ok((num("bids[0].price", bid)? + num("asks[0].price", ask)?) / Decimal::TWO)
}

pub fn time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A quote from REST pricing: the mid, dated by the venue, and the quote currency's factor
/// to USD (the account's home currency converted by `home_to_usd`).
pub fn quote(
    native: &str,
    pricing: &PricingResponse,
    home: &str,
    home_to_usd: Decimal,
) -> Result<Quote, VenueError> {
    let row = pricing
        .prices
        .iter()
        .find(|p| p.instrument == native)
        .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} (no price at oanda)")))?;
    let currency = quote_currency(native)
        .ok_or_else(|| VenueError::UnknownSymbol(format!("{native} is not an instrument name")))?;
    let factor = conversion(pricing, currency, home).ok_or_else(|| {
        VenueError::Decode(format!(
            "pricing has no home conversion for {currency} (includeHomeConversions)"
        ))
    })?;
    Ok(Quote {
        native: native.to_string(),
        mark: mid(row)?,
        quote_to_usd: factor * home_to_usd,
        at: time(&row.time).unwrap_or_else(Utc::now),
    })
}

/// NAV (balance plus unrealised P/L) in USD; `home_to_usd` converts the home currency.
pub fn account_value(
    summary: &AccountSummary,
    home_to_usd: Decimal,
) -> Result<AccountValue, VenueError> {
    Ok(AccountValue {
        equity_usd: num("NAV", &summary.nav)? * home_to_usd,
        available_usd: opt_num(&summary.margin_available).map(|m| m * home_to_usd),
        at: Utc::now(),
    })
}

/// Net positions: the long side's units plus the short side's (negative) units.
pub fn positions(rows: &[PositionRow]) -> Result<Vec<Position>, VenueError> {
    let mut out = Vec::new();
    for row in rows {
        let long = opt_num(&row.long.units).unwrap_or_default();
        let short = opt_num(&row.short.units).unwrap_or_default();
        let qty = long + short;
        if qty.is_zero() {
            continue;
        }
        let entry = match (long.is_zero(), short.is_zero()) {
            (false, true) => opt_num(&row.long.average_price),
            (true, false) => opt_num(&row.short.average_price),
            _ => None,
        };
        out.push(Position {
            native: row.instrument.clone(),
            qty,
            entry_price: entry,
        });
    }
    Ok(out)
}

pub fn client_id(ext: &Option<super::model::ClientExtensions>) -> Option<String> {
    ext.as_ref()
        .and_then(|e| e.id.clone())
        .filter(|id| !id.is_empty())
}

/// Side and size of signed units.
pub fn side_qty(units: &str) -> Result<(Side, Decimal), VenueError> {
    let u = num("units", units)?;
    Ok((Side::for_delta(u), u.abs()))
}

/// An order looked up by client id; `filled` comes from its fill transaction (the order
/// itself does not carry filled units).
pub fn order_ack(row: &OrderRow, filled: Option<&Transaction>) -> Result<OrderAck, VenueError> {
    let (side, qty) = side_qty(&row.units)?;
    let filled_qty = filled
        .and_then(|t| opt_num(&t.units))
        .map(|u| u.abs())
        .unwrap_or_default();
    let status = match row.state.as_str() {
        "FILLED" if filled_qty < qty && !filled_qty.is_zero() => OrderStatus::PartiallyFilled,
        "FILLED" => OrderStatus::Filled,
        "CANCELLED" => OrderStatus::Cancelled,
        // PENDING, TRIGGERED
        _ if filled_qty.is_zero() => OrderStatus::New,
        _ => OrderStatus::PartiallyFilled,
    };
    Ok(OrderAck {
        client_order_id: client_id(&row.client_extensions).unwrap_or_default(),
        venue_order_id: row.id.clone(),
        status,
        // A FILLED order whose fill we could not read was filled in full.
        filled_qty: if row.state == "FILLED" && filled.is_none() {
            qty
        } else {
            filled_qty
        },
        avg_price: filled.and_then(|t| opt_num(&t.price)),
        native: Some(row.instrument.clone()).filter(|s| !s.is_empty()),
        side: Some(side),
        qty: Some(qty),
    })
}

/// Pending orders with units of their own (orders tied to a trade, such as stop losses, have
/// none and are not listed).
pub fn open_orders(rows: &[OrderRow]) -> Result<Vec<OpenOrder>, VenueError> {
    let mut out = Vec::new();
    for row in rows {
        if row.units.is_empty() || row.instrument.is_empty() {
            continue;
        }
        let (side, qty) = side_qty(&row.units)?;
        out.push(OpenOrder {
            native: row.instrument.clone(),
            venue_order_id: row.id.clone(),
            client_order_id: client_id(&row.client_extensions),
            side,
            qty,
            remaining: qty,
            price: opt_num(&row.price),
            reduce_only: row.position_fill == "REDUCE_ONLY",
        })
    }
    Ok(out)
}

/// The transaction id as a number (ids increase strictly per account).
pub fn tx_id(s: &str) -> Option<u64> {
    s.trim().parse().ok()
}

/// Domain events of one transaction: order creations and cancels as orders, fills as fills
/// (and the order's fill). Other types (financing, transfers) change nothing we track.
pub fn events(tx: &Transaction) -> Result<Vec<VenueEvent>, VenueError> {
    let mut out = Vec::new();
    match tx.kind.as_str() {
        "MARKET_ORDER" | "LIMIT_ORDER" | "STOP_ORDER" | "MARKET_IF_TOUCHED_ORDER" => {
            let Some(cid) = client_id(&tx.client_extensions) else {
                return Ok(out);
            };
            let (side, qty) = side_qty(&tx.units)?;
            out.push(VenueEvent::Order {
                native: tx.instrument.clone(),
                ack: OrderAck {
                    client_order_id: cid,
                    venue_order_id: tx.id.clone(),
                    status: OrderStatus::New,
                    filled_qty: Decimal::ZERO,
                    avg_price: None,
                    native: Some(tx.instrument.clone()),
                    side: Some(side),
                    qty: Some(qty),
                },
            });
        }
        "ORDER_FILL" => {
            let (side, qty) = side_qty(&tx.units)?;
            let price = num("price", &tx.price)?;
            let cid = Some(tx.client_order_id.clone()).filter(|c| !c.is_empty());
            out.push(VenueEvent::Fill(Fill {
                native: tx.instrument.clone(),
                client_order_id: cid.clone(),
                side,
                qty,
                price,
                at: time(&tx.time).unwrap_or_else(Utc::now),
            }));
            if let Some(cid) = cid {
                out.push(VenueEvent::Order {
                    native: tx.instrument.clone(),
                    ack: OrderAck {
                        client_order_id: cid,
                        venue_order_id: tx.order_id.clone(),
                        status: OrderStatus::Filled,
                        filled_qty: qty,
                        avg_price: Some(price),
                        native: Some(tx.instrument.clone()),
                        side: Some(side),
                        qty: None,
                    },
                });
            }
        }
        "ORDER_CANCEL" => {
            if let Some(cid) = Some(tx.client_order_id.clone()).filter(|c| !c.is_empty()) {
                out.push(VenueEvent::Order {
                    native: tx.instrument.clone(),
                    ack: OrderAck {
                        client_order_id: cid,
                        venue_order_id: tx.order_id.clone(),
                        status: OrderStatus::Cancelled,
                        filled_qty: Decimal::ZERO,
                        avg_price: None,
                        native: None,
                        side: None,
                        qty: None,
                    },
                });
            }
        }
        "DAILY_FINANCING" | "TRANSFER_FUNDS" | "DIVIDEND_ADJUSTMENT" => {
            out.push(VenueEvent::WalletChanged)
        }
        _ => {}
    }
    Ok(out)
}

/// Mid candles, oldest first (as OANDA sends them).
pub fn candles(rows: &[CandleRow]) -> Result<Vec<Candle>, VenueError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Some(mid) = &row.mid else {
            return Err(VenueError::Decode("candle without mid prices".into()));
        };
        out.push(Candle {
            open_time: time(&row.time)
                .ok_or_else(|| VenueError::Decode(format!("candle time {:?}", row.time)))?,
            open: num("o", &mid.o)?,
            high: num("h", &mid.h)?,
            low: num("l", &mid.l)?,
            close: num("c", &mid.c)?,
            volume: Decimal::from(row.volume),
        });
    }
    out.sort_by_key(|c| c.open_time);
    Ok(out)
}

/// Units on the wire: signed, rounded toward zero to the lot, never in exponent notation.
pub fn wire_units(side: Side, qty: Decimal, lot: Decimal) -> String {
    let v = super::rest::wire_number(qty, lot);
    match side {
        Side::Buy => v,
        Side::Sell => format!("-{v}"),
    }
}

#[cfg(test)]
mod tests;
