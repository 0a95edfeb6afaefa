//! Wire → domain on fixtures in BloFin's own shapes (tests/fixtures/blofin/): units, net
//! positions, hedge mode refused, and the error table, including refusals inside HTTP 200.

use super::*;
use crate::venue::blofin::model::{Balance, InstrumentRow, MarkPriceRow, OrderRow, PositionRow};
use reqwest::header::HeaderMap;
use rust_decimal_macros::dec;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/blofin/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn resp(status: u16, name: &str) -> RawResponse {
    RawResponse {
        status,
        headers: HeaderMap::new(),
        body: fixture(name),
    }
}

const CTX: Ctx<'static> = Ctx {
    account: "main",
    endpoint: "POST /api/v1/trade/order",
    mutating: true,
};

fn ok_data<T: serde::de::DeserializeOwned>(name: &str) -> T {
    data(envelope(&resp(200, name), CTX).unwrap(), CTX).unwrap()
}

#[test]
fn instruments_are_in_contracts_of_contract_value() {
    let rows: Vec<InstrumentRow> = ok_data("instruments.json");
    let btc = instrument(&rows[0]).unwrap();
    assert_eq!(btc.native, "BTC-USDT");
    assert_eq!(btc.symbol.as_str(), "BTCUSDT");
    assert_eq!(btc.contract_value, dec!(0.001));
    assert_eq!(
        (btc.lot, btc.min_qty, btc.tick),
        (dec!(0.1), dec!(0.1), dec!(0.1))
    );
    assert_eq!(btc.max_qty, Some(dec!(100000)));
    assert_eq!(btc.max_leverage, Some(dec!(150)));
    // $10,000 at 65,000: 10,000 / (65,000 × 0.001) = 153.84… → 153.8 contracts.
    let per_contract = btc.usd_per_unit(dec!(65000), Decimal::ONE);
    assert_eq!(per_contract, dec!(65));
    assert_eq!(btc.round_to_lot(dec!(10000) / per_contract), dec!(153.8));
    let eth = instrument(&rows[1]).unwrap();
    assert_eq!(eth.contract_value, dec!(0.1));
    assert_eq!(
        eth.round_to_lot(dec!(10000) / eth.usd_per_unit(dec!(3200), Decimal::ONE)),
        dec!(31)
    );
}

#[test]
fn unified_symbols_get_a_dash() {
    assert_eq!(native_symbol(&Symbol::new("BTCUSDT")), "BTC-USDT");
    assert_eq!(native_symbol(&Symbol::new("1000PEPEUSDT")), "1000PEPE-USDT");
}

#[test]
fn mark_price_is_dated_by_the_venue() {
    let rows: Vec<MarkPriceRow> = ok_data("mark_price.json");
    let q = quote("BTC-USDT", &rows[0]).unwrap();
    assert_eq!(q.mark, dec!(65000.1));
    assert_eq!(q.at.timestamp_millis(), 1700000000000);
}

#[test]
fn account_value_is_total_equity() {
    let b: Balance = ok_data("balance.json");
    let v = account_value(&b).unwrap();
    assert_eq!(v.equity_usd, dec!(10011.254077985990315787));
    assert_eq!(v.available_usd, Some(dec!(9996.399470869115970336)));
}

#[test]
fn net_positions_are_signed_contracts_and_flat_rows_dropped() {
    let rows: Vec<PositionRow> = ok_data("positions_net.json");
    let p = positions(&rows, "main").unwrap();
    assert_eq!(p.len(), 2, "{p:?}");
    assert_eq!((p[0].native.as_str(), p[0].qty), ("BTC-USDT", dec!(153.8)));
    assert_eq!(p[0].entry_price, Some(dec!(64980.5)));
    assert_eq!((p[1].native.as_str(), p[1].qty), ("ETH-USDT", dec!(-31)));
}

#[test]
fn hedge_mode_is_refused_with_a_clear_error() {
    let rows: Vec<PositionRow> = ok_data("positions_hedge.json");
    let e = positions(&rows, "main").unwrap_err();
    assert!(matches!(e, VenueError::Unsupported(_)), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("\"main\"") && text.contains("hedge mode"),
        "{text}"
    );
    assert!(text.contains("One-way"), "{text}");
}

#[test]
fn a_placed_order_is_its_item() {
    let data = envelope(&resp(200, "order_placed.json"), CTX).unwrap();
    let item = single_item(data, CTX).unwrap();
    assert_eq!(item.order_id, "28150801");
}

fn refusal(name: &str) -> VenueError {
    match envelope(&resp(200, name), CTX) {
        Err(e) => e,
        Ok(data) => single_item(data, CTX).unwrap_err(),
    }
}

#[test]
fn refusals_inside_http_200_are_typed_by_their_item_code() {
    let dup = refusal("order_duplicate.json");
    assert_eq!(
        dup.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{dup:?}"
    );
    assert!(dup.to_string().contains("102002") && dup.to_string().contains("\"main\""));
    let ro = refusal("order_reduce_only.json");
    assert_eq!(ro.reject_kind(), Some(RejectKind::ReduceOnly), "{ro:?}");
    // A per-item refusal under a top-level "0" is still a refusal.
    let funds = refusal("order_item_refused_under_zero.json");
    assert_eq!(
        funds.reject_kind(),
        Some(RejectKind::InsufficientFunds),
        "{funds:?}"
    );
    let mode = refusal("order_position_mode_mismatch.json");
    assert!(is_position_mode_mismatch(&mode), "{mode:?}");
    let gone = refusal("cancel_done.json");
    assert_eq!(
        gone.reject_kind(),
        Some(RejectKind::OrderNotFound),
        "{gone:?}"
    );
}

#[test]
fn top_level_codes_map_to_their_errors() {
    assert!(matches!(
        refusal("unknown_instrument.json"),
        VenueError::UnknownSymbol(_)
    ));
    assert!(matches!(
        refusal("bad_passphrase.json"),
        VenueError::Auth(_)
    ));
    assert!(matches!(
        refusal("rate_limited.json"),
        VenueError::RateLimited { retry_after } if retry_after == RATE_LIMIT_PAUSE
    ));
    let read = Ctx {
        mutating: false,
        ..CTX
    };
    assert!(matches!(
        code_error("103013", "Internal error", CTX),
        VenueError::Unknown(_)
    ));
    assert!(matches!(
        code_error("103013", "Internal error", read),
        VenueError::Transport(_)
    ));
    assert!(matches!(
        code_error("152405", "expired", CTX),
        VenueError::Local(_)
    ));
    assert_eq!(
        code_error("999999", "new", CTX).reject_kind(),
        Some(RejectKind::Other)
    );
}

#[test]
fn html_is_a_decode_error_only_if_the_dialect_let_it_through() {
    // The dialect catches CDN pages first (rest/tests.rs); the envelope never calls HTML JSON.
    let e = envelope(&resp(200, "cdn_challenge.html"), CTX).unwrap_err();
    assert!(matches!(e, VenueError::Decode(_)), "{e:?}");
}

#[test]
fn orders_read_with_states_fills_and_null_client_ids() {
    let row: OrderRow = ok_data("order_detail.json");
    let ack = order_ack(&row).unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(153.8));
    assert_eq!(ack.avg_price, Some(dec!(65000)));
    assert_eq!(ack.native.as_deref(), Some("BTC-USDT"));
    assert_eq!(ack.side, Some(Side::Sell));
    assert_eq!(ack.qty, Some(dec!(153.8)));
    let rows: Vec<OrderRow> = ok_data("orders_pending.json");
    let a = open_order(&rows[0]).unwrap();
    assert_eq!(
        (a.qty, a.remaining, a.price),
        (dec!(3), dec!(2), Some(dec!(32500)))
    );
    assert!(!a.reduce_only);
    let b = open_order(&rows[1]).unwrap();
    assert_eq!(b.client_order_id, None);
    assert!(b.reduce_only);
    assert_eq!(b.side, Side::Sell);
    assert_eq!(status("partially_canceled"), OrderStatus::Cancelled);
    assert_eq!(status("live"), OrderStatus::New);
}

#[test]
fn candles_come_oldest_first() {
    let rows: Vec<Vec<String>> = ok_data("candles.json");
    let c = candles(&rows).unwrap();
    assert_eq!(c[0].open_time.timestamp_millis(), 1700000000000);
    assert_eq!(c[1].close, dec!(65015));
}
