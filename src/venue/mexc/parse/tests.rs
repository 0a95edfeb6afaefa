//! Parsing checks against JSON fixtures shaped like MEXC's documented answers
//! (tests/fixtures/mexc/).

use super::*;
use crate::venue::mexc::model::{Asset, BatchItem};
use reqwest::header::HeaderMap;
use rust_decimal_macros::dec;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/mexc/",
            $name
        ))
    };
}

const READ: Ctx<'static> = Ctx {
    account: "acct",
    endpoint: "GET test",
    mutating: false,
};

const WRITE: Ctx<'static> = Ctx {
    account: "acct",
    endpoint: "POST order/create",
    mutating: true,
};

fn ok(body: &str) -> RawResponse {
    RawResponse {
        status: 200,
        headers: HeaderMap::new(),
        body: body.to_string(),
    }
}

fn parsed<T: DeserializeOwned>(body: &str) -> T {
    data(envelope(&ok(body), READ).unwrap(), READ).unwrap()
}

fn refusal(body: &str, ctx: Ctx<'_>) -> VenueError {
    envelope(&ok(body), ctx).unwrap_err()
}

#[test]
fn linear_contract_counts_contracts_of_contract_size() {
    let row: ContractDetail = parsed(fixture!("detail_btc_usdt.json"));
    let inst = instrument(&row).unwrap();
    assert_eq!(inst.native, "BTC_USDT");
    assert_eq!(inst.symbol.as_str(), "BTCUSDT");
    assert_eq!(inst.kind, ContractKind::Linear);
    assert_eq!(inst.contract_value, dec!(0.0001));
    assert_eq!((inst.lot, inst.min_qty), (dec!(1), dec!(1)));
    assert_eq!(inst.tick, dec!(0.1));
    assert_eq!(inst.max_qty, Some(dec!(1000000)));
    assert!(tradable(&row));
    // Sheet example: 1,000 USDT at 60,000 is 166 contracts (996 USDT), never 0.0166 BTC.
    assert_eq!(
        inst.qty_for_notional(dec!(1000), dec!(60000), dec!(1)),
        Some(dec!(166))
    );
    assert_eq!(
        inst.qty_for_notional(dec!(250), dec!(60000), dec!(1)),
        Some(dec!(41))
    );
}

#[test]
fn coin_margined_contract_is_inverse_in_usd() {
    let row: ContractDetail = parsed(fixture!("detail_btc_usd.json"));
    let inst = instrument(&row).unwrap();
    assert_eq!(inst.kind, ContractKind::Inverse);
    assert_eq!(inst.contract_value, dec!(100));
    assert_eq!(
        inst.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
        Some(dec!(123))
    );
}

#[test]
fn a_contract_closed_to_the_api_is_flagged() {
    let row: ContractDetail = parsed(fixture!("detail_api_disallowed.json"));
    assert!(!tradable(&row));
    assert_eq!(instrument(&row).unwrap().contract_value, dec!(0.01));
}

#[test]
fn account_value_is_the_usdt_equity_with_upnl() {
    let rows: Vec<Asset> = parsed(fixture!("assets.json"));
    let v = account_value(&rows).unwrap();
    assert_eq!(v.equity_usd, dec!(10012.4));
    assert_eq!(v.available_usd, Some(dec!(9830.25)));
    assert!(account_value(&[]).is_err());
}

#[test]
fn hedge_legs_are_netted_per_symbol() {
    let rows: Vec<PositionRow> = parsed(fixture!("open_positions_hedge.json"));
    let p = positions(&rows).unwrap();
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].native, "BTC_USDT");
    assert_eq!(p[0].qty, dec!(200), "long 300, short 100");
    assert_eq!(p[0].entry_price, None, "two legs have no single entry");
    assert_eq!(p[1].native, "ETH_USDT");
    assert_eq!(p[1].qty, dec!(-25));
    assert_eq!(p[1].entry_price, Some(dec!(3000.5)));
}

#[test]
fn orders_by_client_id_and_open_orders() {
    let row: OrderRow = parsed(fixture!("order_filled.json"));
    let ack = order_ack(&row).unwrap();
    assert_eq!(ack.client_order_id, "te0123456789abcdef0123456789abcd");
    assert_eq!(ack.venue_order_id, "739113577038255616");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(20));
    assert_eq!(ack.avg_price, Some(dec!(60000)));
    assert_eq!(ack.native.as_deref(), Some("BTC_USDT"));
    assert_eq!(ack.side, Some(Side::Sell), "side 4 closes a long: a sell");
    assert_eq!(ack.qty, Some(dec!(20)));

    let rows: Vec<OrderRow> = parsed(fixture!("open_orders.json"));
    let open: Vec<OpenOrder> = rows
        .iter()
        .map(open_order)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(open[0].side, Side::Buy);
    assert_eq!(open[0].remaining, dec!(40));
    assert_eq!(open[0].price, Some(dec!(30000.5)));
    assert!(!open[0].reduce_only);
    assert_eq!(
        open[0].client_order_id.as_deref(),
        Some("te00000000000000000000000000lim1")
    );
    assert_eq!(open[1].side, Side::Buy, "side 2 closes a short: a buy");
    assert!(open[1].reduce_only);
    assert_eq!(open[1].client_order_id, None);
    assert_eq!(
        status(&OrderRow {
            state: 2,
            deal_vol: Some(dec!(1)),
            ..Default::default()
        }),
        OrderStatus::PartiallyFilled
    );
    assert_eq!(
        status(&OrderRow {
            state: 1,
            ..Default::default()
        }),
        OrderStatus::New
    );
    assert_eq!(
        status(&OrderRow {
            state: 4,
            ..Default::default()
        }),
        OrderStatus::Cancelled
    );
    assert_eq!(
        status(&OrderRow {
            state: 5,
            ..Default::default()
        }),
        OrderStatus::Rejected
    );
}

#[test]
fn side_codes_never_let_a_reduction_open() {
    assert_eq!(side_code(Side::Buy, false), 1);
    assert_eq!(side_code(Side::Sell, false), 3);
    assert_eq!(
        side_code(Side::Sell, true),
        4,
        "reducing a long closes the long"
    );
    assert_eq!(
        side_code(Side::Buy, true),
        2,
        "reducing a short closes the short"
    );
    for (side, code) in [
        (Side::Buy, 1),
        (Side::Buy, 2),
        (Side::Sell, 3),
        (Side::Sell, 4),
    ] {
        assert_eq!(side_of(code).unwrap(), side);
    }
    assert!(side_of(7).is_err());
}

#[test]
fn error_table() {
    let kind = |body: &str, ctx| refusal(body, ctx).reject_kind();
    assert_eq!(
        kind(fixture!("error_trading_disabled.json"), WRITE),
        Some(RejectKind::TradingDisabled)
    );
    assert_eq!(
        kind(fixture!("error_maintenance.json"), WRITE),
        Some(RejectKind::TradingDisabled),
        "an 'under maintenance' answer, whatever its code"
    );
    assert_eq!(
        kind(fixture!("error_duplicate.json"), WRITE),
        Some(RejectKind::DuplicateClientId),
        "code given as a string"
    );
    assert_eq!(
        kind(fixture!("error_insufficient_balance.json"), WRITE),
        Some(RejectKind::InsufficientFunds)
    );
    assert_eq!(
        kind(fixture!("error_position_closed.json"), WRITE),
        Some(RejectKind::ReduceOnly)
    );
    assert_eq!(
        kind(fixture!("error_quantity.json"), WRITE),
        Some(RejectKind::InvalidQuantity)
    );
    assert!(matches!(
        refusal(fixture!("error_signature.json"), READ),
        VenueError::Auth(m) if m.contains("acct") && m.contains("602")
    ));
    assert!(matches!(
        refusal(fixture!("error_rate_limit.json"), READ),
        VenueError::RateLimited { retry_after } if retry_after == RATE_WINDOW
    ));
    assert!(matches!(
        refusal(fixture!("error_unknown_contract.json"), READ),
        VenueError::UnknownSymbol(_)
    ));
    assert!(matches!(
        refusal(fixture!("error_clock.json"), READ),
        VenueError::Local(m) if m.contains("NTP")
    ));
    let bare = r#"{"success":false,"code":1002,"message":"contract not activated"}"#;
    assert_eq!(
        kind(bare, WRITE),
        Some(RejectKind::TradingDisabled),
        "by code alone"
    );
    let text = r#"{"success":false,"code":600,"message":"externalOid already exists"}"#;
    assert_eq!(kind(text, WRITE), Some(RejectKind::DuplicateClientId));
    // A system error after a write leaves its outcome unknown; on a read it is transport.
    let sys = r#"{"success":false,"code":500,"message":"System internal error!"}"#;
    assert!(matches!(refusal(sys, WRITE), VenueError::Unknown(_)));
    assert!(matches!(refusal(sys, READ), VenueError::Transport(_)));
    let busy =
        r#"{"success":false,"code":2037,"message":"Frequent transactions, please try it later"}"#;
    assert!(matches!(
        refusal(busy, WRITE),
        VenueError::RateLimited { .. }
    ));
    let closed = r#"{"success":false,"code":511,"message":"Endpoint inaccessible"}"#;
    assert_eq!(kind(closed, WRITE), Some(RejectKind::TradingDisabled));
    assert!(matches!(refusal(closed, READ), VenueError::Transport(_)));
    // 603 on a read is no duplicate.
    assert_eq!(
        kind(fixture!("error_duplicate.json"), READ),
        Some(RejectKind::Other)
    );
}

#[test]
fn bodies_that_are_not_envelopes() {
    let html = RawResponse {
        status: 403,
        headers: HeaderMap::new(),
        body: "<html>blocked</html>".into(),
    };
    assert!(matches!(envelope(&html, READ), Err(VenueError::Decode(m)) if m.contains("HTTP 403")));
    assert!(matches!(
        envelope(&ok("[]"), READ),
        Err(VenueError::Decode(_))
    ));
}

#[test]
fn quotes_are_dated_by_mexc() {
    let row: FairPrice = parsed(fixture!("fair_price.json"));
    let q = quote("BTC_USDT", &row).unwrap();
    assert_eq!(q.mark, dec!(97849.76));
    assert_eq!(q.at.timestamp_millis(), 1700000000123);
    assert!(quote("BTC_USDT", &FairPrice::default()).is_err());
}

#[test]
fn columnar_klines() {
    let k: Klines = parsed(fixture!("kline.json"));
    let c = candles(&k).unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].open_time.timestamp(), 1700000040);
    assert_eq!(
        (c[0].open, c[0].close, c[0].volume),
        (dec!(60000.5), dec!(60010), dec!(1250))
    );
    assert_eq!(c[1].low, dec!(59980));
}

#[test]
fn batch_items_and_created_ids() {
    let items: Vec<BatchItem> = parsed(fixture!("batch_mixed.json"));
    assert_eq!(items[0].order_id, "813855213483474951");
    assert_eq!(items[1].order_id, "", "null id");
    assert_eq!(
        item_error(items[1].error_code, &items[1].error_msg, WRITE).reject_kind(),
        Some(RejectKind::InsufficientFunds)
    );
    let e = refusal(
        r#"{"success":false,"code":704,"message":"No permission to access the endpoint"}"#,
        WRITE,
    );
    assert!(is_batch_permission_refusal(&e), "{e:?}");
    assert!(!is_batch_permission_refusal(&refusal(
        fixture!("error_signature.json"),
        WRITE
    )));
}
