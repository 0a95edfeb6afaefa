//! Wire → domain on fixtures in KuCoin's own shapes (tests/fixtures/kucoin/rest.json, from the
//! official spec's examples): lots and multipliers, signed positions, order states, batch
//! items, and every row of the error table.

use super::*;
use crate::venue::http::RawResponse;
use crate::venue::kucoin::model::OrderPage;
use reqwest::header::HeaderMap;
use rust_decimal_macros::dec;
use serde_json::Value;

const REST: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kucoin/rest.json"
));

fn fixture(name: &str) -> Value {
    let all: Value = serde_json::from_str(REST).unwrap();
    all[name].clone()
}

fn ctx(mutating: bool) -> Ctx<'static> {
    Ctx {
        account: "main",
        endpoint: "POST /api/v1/orders",
        mutating,
    }
}

fn response(status: u16, name: &str) -> RawResponse {
    RawResponse {
        status,
        headers: HeaderMap::new(),
        body: fixture(name).to_string(),
    }
}

fn data<T: serde::de::DeserializeOwned>(name: &str) -> T {
    super::data(
        envelope(&response(200, name), ctx(false)).unwrap(),
        ctx(false),
    )
    .unwrap()
}

#[test]
fn xbtusdtm_lots_are_a_thousandth_of_a_bitcoin() {
    let row: ContractRow = data("contract_xbtusdtm");
    let inst = instrument(&row).unwrap();
    assert_eq!(inst.native, "XBTUSDTM");
    assert_eq!(inst.kind, ContractKind::Linear);
    assert_eq!(inst.contract_value, dec!(0.001));
    assert_eq!(
        (inst.lot, inst.min_qty, inst.tick),
        (dec!(1), dec!(1), dec!(0.1))
    );
    assert_eq!(inst.max_qty, Some(dec!(1000000)));
    // The sheet's example: $10,000 at 65,000 is 153 lots (0.153 BTC), never 0.153 lots.
    assert_eq!(
        inst.qty_for_notional(dec!(10000), dec!(65000), dec!(1)),
        Some(dec!(153))
    );
    assert_eq!(wire_lots(dec!(153), inst.lot), 153);
    assert_eq!(wire_lots(dec!(153.9), inst.lot), 153, "toward zero");
    assert_eq!(wire_lots(dec!(0.9), inst.lot), 0);
}

#[test]
fn xrpusdtm_lots_are_ten_coins() {
    let inst = instrument(&data::<ContractRow>("contract_xrpusdtm")).unwrap();
    assert_eq!(inst.contract_value, dec!(10));
    // $1,000 at 0.5 is 2,000 XRP = 200 lots; $12 is 24 XRP = 2 lots (toward zero).
    assert_eq!(
        inst.qty_for_notional(dec!(1000), dec!(0.5), dec!(1)),
        Some(dec!(200))
    );
    assert_eq!(
        inst.qty_for_notional(dec!(12), dec!(0.5), dec!(1)),
        Some(dec!(2))
    );
}

#[test]
fn inverse_contracts_are_out_of_scope() {
    let err = instrument(&data::<ContractRow>("contract_inverse")).unwrap_err();
    assert!(matches!(err, VenueError::UnknownSymbol(_)), "{err:?}");
}

#[test]
fn mark_price_and_account_overview() {
    let q = quote("XBTUSDTM", &data::<MarkPrice>("mark_price")).unwrap();
    assert_eq!(q.mark, dec!(67687.08));
    assert_eq!(q.at.timestamp_millis(), 1729254307000);
    let v = account_value(&data::<AccountOverview>("account_overview")).unwrap();
    assert_eq!(v.equity_usd, dec!(394.439280806));
    assert_eq!(v.available_usd, Some(dec!(2.0)));
}

#[test]
fn positions_are_signed_lots_and_flat_rows_are_dropped() {
    let rows: Vec<PositionRow> = data("positions");
    let p = positions(&rows);
    assert_eq!(p.len(), 2);
    assert_eq!((p[0].native.as_str(), p[0].qty), ("ETHUSDTM", dec!(-312)));
    assert_eq!(p[0].entry_price, Some(dec!(3200.5)));
    assert_eq!((p[1].native.as_str(), p[1].qty), ("XBTUSDTM", dec!(1)));
    assert_eq!(isolated_leverage(&rows[1]), Some(dec!(5)));
    assert_eq!(isolated_leverage(&rows[0]), None, "cross");
    assert_eq!(isolated_leverage(&rows[2]), None, "flat");
}

#[test]
fn hedge_legs_are_netted() {
    let p = positions(&data::<Vec<PositionRow>>("positions_hedge"));
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].qty, dec!(3));
    assert_eq!(p[0].entry_price, None, "two legs have no single entry");
}

#[test]
fn order_states() {
    let open = order_ack(&data::<OrderRow>("order_open_limit")).unwrap();
    assert_eq!(open.status, OrderStatus::New);
    assert_eq!((open.qty, open.side), (Some(dec!(1)), Some(Side::Buy)));
    let done = order_ack(&data::<OrderRow>("order_done_market")).unwrap();
    assert_eq!(done.status, OrderStatus::Filled);
    assert_eq!(done.filled_qty, dec!(153));
    assert_eq!(done.avg_price, Some(dec!(67430.9)));
    assert_eq!(done.native.as_deref(), Some("XBTUSDTM"));
    assert_eq!(done.client_order_id, "te0123456789abcdef0123456789abcd");
    let part = order_ack(&data::<OrderRow>("order_done_partly_cancelled")).unwrap();
    assert_eq!(
        (part.status, part.filled_qty),
        (OrderStatus::Cancelled, dec!(4))
    );
    let none: Option<OrderRow> = data("order_not_found");
    assert!(none.is_none());
    let page: OrderPage = data("open_orders_page");
    let o = open_order(&page.items[0]).unwrap();
    assert_eq!(
        (o.qty, o.remaining, o.price),
        (dec!(10), dec!(7), Some(dec!(0.05)))
    );
}

#[test]
fn batch_items_keep_their_own_outcome() {
    let items: Vec<BatchItem> = data("batch_mixed");
    assert_eq!(
        batch_item(&items[0], ctx(true)).unwrap(),
        "235919387779985408"
    );
    let dup = batch_item(&items[1], ctx(true)).unwrap_err();
    assert_eq!(dup.reject_kind(), Some(RejectKind::DuplicateClientId));
    let ro = batch_item(&items[2], ctx(true)).unwrap_err();
    assert_eq!(ro.reject_kind(), Some(RejectKind::ReduceOnly));
}

#[test]
fn candles_are_numbers_oldest_first() {
    let rows: Vec<Vec<Value>> = data("kline");
    let c = candles(&rows).unwrap();
    assert_eq!(c.len(), 2);
    assert!(c[0].open_time < c[1].open_time);
    assert_eq!(c[1].close, dec!(60666.1));
}

/// Every error code in the table, as it arrives (HTTP 200 or 4xx alike).
#[test]
fn the_error_table() {
    let kind = |name: &str| {
        envelope(&response(200, name), ctx(true))
            .unwrap_err()
            .reject_kind()
    };
    assert_eq!(kind("err_duplicate"), Some(RejectKind::DuplicateClientId));
    assert_eq!(kind("err_reduce_only"), Some(RejectKind::ReduceOnly));
    assert_eq!(kind("err_balance"), Some(RejectKind::InsufficientFunds));
    assert_eq!(kind("err_not_found"), Some(RejectKind::OrderNotFound));
    assert_eq!(
        kind("err_exist_position"),
        Some(RejectKind::NeedsFlatPosition)
    );
    assert_eq!(kind("err_frozen"), Some(RejectKind::TradingDisabled));
    assert_eq!(kind("err_margin_mode"), Some(RejectKind::Other));
    let mm = envelope(&response(200, "err_margin_mode"), ctx(true)).unwrap_err();
    assert!(is_margin_mode_mismatch(&mm));
    let hedge = envelope(&response(200, "err_hedge"), ctx(true)).unwrap_err();
    assert!(hedge.to_string().contains("one-way"), "{hedge}");
    // Also inside a 4xx body: the code decides, not the status.
    assert_eq!(
        envelope(&response(400, "err_duplicate"), ctx(true))
            .unwrap_err()
            .reject_kind(),
        Some(RejectKind::DuplicateClientId)
    );
    assert!(matches!(
        envelope(&response(200, "err_timestamp"), ctx(false)).unwrap_err(),
        VenueError::Local(m) if m.contains("NTP")
    ));
    assert!(matches!(
        envelope(&response(429, "err_rate_limit"), ctx(false)).unwrap_err(),
        VenueError::RateLimited { .. }
    ));
    for name in ["err_auth_passphrase", "err_auth_sign"] {
        assert!(matches!(
            envelope(&response(401, name), ctx(false)).unwrap_err(),
            VenueError::Auth(_)
        ));
    }
    assert!(matches!(
        envelope(&response(200, "err_server"), ctx(true)).unwrap_err(),
        VenueError::Unknown(_)
    ));
    assert!(matches!(
        envelope(&response(200, "err_server"), ctx(false)).unwrap_err(),
        VenueError::Transport(_)
    ));
    let e = envelope(&response(200, "err_duplicate"), ctx(true)).unwrap_err();
    assert!(e.to_string().contains("\"main\""), "names the account: {e}");
    let html = RawResponse {
        status: 200,
        headers: HeaderMap::new(),
        body: "<html>gateway</html>".into(),
    };
    assert!(matches!(
        envelope(&html, ctx(false)),
        Err(VenueError::Decode(_))
    ));
}
