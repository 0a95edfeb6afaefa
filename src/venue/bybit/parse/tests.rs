//! Parsing checks against JSON fixtures shaped like Bybit's documented answers
//! (tests/fixtures/bybit/).

use super::*;
use crate::venue::bybit::model::{Page, WalletRow};
use reqwest::header::HeaderMap;
use rust_decimal_macros::dec;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/bybit/",
            $name
        ))
    };
}

const CTX: Ctx<'static> = Ctx {
    account: "acct",
    endpoint: "GET /v5/test",
    mutating: false,
};

fn ok(body: &str) -> RawResponse {
    RawResponse {
        status: 200,
        headers: HeaderMap::new(),
        body: body.to_string(),
    }
}

fn page<T: DeserializeOwned>(body: &str) -> Page<T> {
    result(envelope(&ok(body), CTX).unwrap(), CTX).unwrap()
}

#[test]
fn linear_instrument() {
    let p: Page<InstrumentRow> = page(fixture!("instruments_linear.json"));
    let inst = instrument(&p.list[0], Category::Linear).unwrap();
    assert_eq!(inst.native, "BTCUSDT");
    assert_eq!(inst.kind, ContractKind::Linear);
    assert_eq!(inst.tick, dec!(0.10));
    assert_eq!(inst.lot, dec!(0.001));
    assert_eq!(inst.min_qty, dec!(0.001));
    assert_eq!(
        inst.max_qty,
        Some(dec!(119)),
        "market orders use maxMktOrderQty"
    );
    assert_eq!(inst.min_notional_usd, dec!(5));
    assert_eq!(inst.contract_value, dec!(1));
    assert_eq!(inst.max_leverage, Some(dec!(100)));
    // Sheet example: $12,345 at 50,000 -> 0.246 BTC.
    assert_eq!(
        inst.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
        Some(dec!(0.246))
    );
}

#[test]
fn inverse_instrument_counts_usd_contracts() {
    let p: Page<InstrumentRow> = page(fixture!("instruments_inverse.json"));
    let inst = instrument(&p.list[0], Category::Inverse).unwrap();
    assert_eq!(inst.kind, ContractKind::Inverse);
    assert_eq!(inst.lot, dec!(1));
    assert_eq!(
        inst.min_notional_usd,
        Decimal::ZERO,
        "empty minNotionalValue"
    );
    assert_eq!(inst.max_qty, Some(dec!(200000)));
    // Sheet example: $12,345 inverse -> 12345 contracts, whatever the price.
    assert_eq!(
        inst.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
        Some(dec!(12345))
    );
}

#[test]
fn mark_price_from_tickers() {
    let p: Page<TickerRow> = page(fixture!("tickers_linear.json"));
    let q = quote("BTCUSDT", &p.list[0], Some(1_700_000_000_000)).unwrap();
    assert_eq!(q.mark, dec!(60011.40));
    assert_eq!(q.quote_to_usd, dec!(1));
    // Dated by the venue's clock, so an old snapshot is recognisably stale.
    assert_eq!(q.at.timestamp_millis(), 1_700_000_000_000);
    let undated = quote("BTCUSDT", &p.list[0], None).unwrap();
    assert!((chrono::Utc::now() - undated.at).num_seconds() < 60);
}

#[test]
fn unified_equity_and_isolated_fallback() {
    let p: Page<WalletRow> = page(fixture!("wallet_unified.json"));
    let v = account_value(&p.list).unwrap();
    assert_eq!(v.equity_usd, dec!(18070.32797922));
    assert_eq!(v.available_usd, Some(dec!(17887.72614237)));

    let p: Page<WalletRow> = page(fixture!("wallet_isolated.json"));
    let v = account_value(&p.list).unwrap();
    assert_eq!(v.equity_usd, dec!(1250.39), "sum of the coins' usdValue");
    assert_eq!(v.available_usd, None);

    assert!(account_value(&[]).is_err());
}

#[test]
fn one_way_positions_are_signed_and_flat_rows_dropped() {
    let p: Page<PositionRow> = page(fixture!("positions_oneway.json"));
    let pos = positions(&p.list).unwrap();
    assert_eq!(pos.len(), 2);
    assert_eq!(pos[0].native, "BTCUSDT");
    assert_eq!(pos[0].qty, dec!(-0.25));
    assert_eq!(pos[0].entry_price, Some(dec!(60100.5)));
    assert_eq!(pos[1].native, "ETHUSDT");
    assert_eq!(pos[1].qty, dec!(1.5));
    assert!(hedge_symbols(&p.list).iter().all(|(_, hedge)| !hedge));
}

#[test]
fn hedge_legs_are_netted_not_list_first() {
    let p: Page<PositionRow> = page(fixture!("positions_hedge.json"));
    let pos = positions(&p.list).unwrap();
    // BTCUSDT: the empty long leg is listed first; the short leg is the position.
    let btc = pos.iter().find(|p| p.native == "BTCUSDT").unwrap();
    assert_eq!(btc.qty, dec!(-0.3));
    assert_eq!(btc.entry_price, Some(dec!(61000)));
    // ETHUSDT: both legs open, 2 long - 0.5 short.
    let eth = pos.iter().find(|p| p.native == "ETHUSDT").unwrap();
    assert_eq!(eth.qty, dec!(1.5));
    assert_eq!(eth.entry_price, None);
    // XRPUSDT: equal legs net to flat.
    assert!(pos.iter().all(|p| p.native != "XRPUSDT"));
    assert!(hedge_symbols(&p.list).iter().all(|(_, hedge)| *hedge));
}

#[test]
fn orders_acks_and_open_orders() {
    let p: Page<OrderRow> = page(fixture!("order_realtime.json"));
    let partial = order_ack(&p.list[0]).unwrap();
    assert_eq!(partial.client_order_id, "test-000005");
    assert_eq!(partial.status, OrderStatus::PartiallyFilled);
    assert_eq!(partial.filled_qty, dec!(0.04));
    assert_eq!(partial.avg_price, Some(dec!(1599.50)));
    let open = open_order(&p.list[0]).unwrap();
    assert_eq!(open.remaining, dec!(0.06));
    assert_eq!(open.price, Some(dec!(1600)));
    assert_eq!(open.side, Side::Buy);

    let filled = order_ack(&p.list[1]).unwrap();
    assert_eq!(filled.status, OrderStatus::Filled);
    assert_eq!(filled.filled_qty, dec!(0.01));
    let market = open_order(&p.list[1]).unwrap();
    assert_eq!(market.price, None, "a market order has no limit price");
    assert!(market.reduce_only);

    let anon = open_order(&p.list[2]).unwrap();
    assert_eq!(anon.client_order_id, None);
    assert_eq!(order_ack(&p.list[2]).unwrap().avg_price, None);
    assert!(p.next_page_cursor.starts_with("page_args%3D"));
}

#[test]
fn statuses() {
    assert_eq!(status("New"), OrderStatus::New);
    assert_eq!(status("Untriggered"), OrderStatus::New);
    assert_eq!(status("PartiallyFilled"), OrderStatus::PartiallyFilled);
    assert_eq!(status("Filled"), OrderStatus::Filled);
    assert_eq!(status("Cancelled"), OrderStatus::Cancelled);
    assert_eq!(status("Deactivated"), OrderStatus::Cancelled);
    assert_eq!(status("Rejected"), OrderStatus::Rejected);
}

#[test]
fn candles_oldest_first() {
    #[derive(serde::Deserialize)]
    struct K {
        list: Vec<Vec<String>>,
    }
    let k: K = result(envelope(&ok(fixture!("kline.json")), CTX).unwrap(), CTX).unwrap();
    let c = candles(&k.list).unwrap();
    assert_eq!(c.len(), 3);
    assert!(c[0].open_time < c[2].open_time);
    assert_eq!(c[2].close, dec!(17055.5));
    assert_eq!(c[0].open, dec!(17086.5));
    assert_eq!(c[2].volume, dec!(268611));
}

#[test]
fn numbers_accept_scientific_and_empty() {
    assert_eq!(opt_num("1e-05"), Some(dec!(0.00001)));
    assert_eq!(opt_num(""), None);
    assert_eq!(opt_num("0.010"), Some(dec!(0.01)));
    assert!(num("qty", "abc").is_err());
}

fn err(code: i64) -> VenueError {
    let body = format!(r#"{{"retCode":{code},"retMsg":"msg {code}","result":{{}},"time":1}}"#);
    envelope(&ok(&body), CTX).unwrap_err()
}

#[test]
fn ret_codes_map_to_venue_errors() {
    for code in [10003, 10004, 10005, 33004] {
        assert!(matches!(err(code), VenueError::Auth(_)), "{code}");
    }
    assert!(matches!(err(10006), VenueError::RateLimited { .. }));
    assert_eq!(
        err(110072).reject_kind(),
        Some(RejectKind::DuplicateClientId)
    );
    assert_eq!(err(110017).reject_kind(), Some(RejectKind::ReduceOnly));
    assert_eq!(err(110001).reject_kind(), Some(RejectKind::OrderNotFound));
    for code in [110004, 110007, 110012, 110044, 110045, 110006] {
        assert_eq!(
            err(code).reject_kind(),
            Some(RejectKind::InsufficientFunds),
            "{code}"
        );
    }
    assert_eq!(err(110094).reject_kind(), Some(RejectKind::InvalidQuantity));
    assert_eq!(err(110003).reject_kind(), Some(RejectKind::InvalidPrice));
    for code in [10027, 110065] {
        assert_eq!(
            err(code).reject_kind(),
            Some(RejectKind::TradingDisabled),
            "{code}"
        );
    }
    assert_eq!(err(10001).reject_kind(), Some(RejectKind::Other));
    assert!(matches!(err(10016), VenueError::Transport(_)));
    let write = Ctx {
        mutating: true,
        ..CTX
    };
    let body = r#"{"retCode":10016,"retMsg":"Server error","result":{}}"#;
    assert!(matches!(
        envelope(&ok(body), write),
        Err(VenueError::Unknown(_))
    ));
}

#[test]
fn errors_name_account_endpoint_and_code() {
    let text = err(110007).to_string();
    assert!(text.contains("acct"), "{text}");
    assert!(text.contains("/v5/test"), "{text}");
    assert!(text.contains("110007"), "{text}");
    assert!(text.contains("msg 110007"), "{text}");
}

#[test]
fn non_envelope_bodies_are_decode_errors() {
    assert!(matches!(
        envelope(&ok("<html>oops</html>"), CTX),
        Err(VenueError::Decode(_))
    ));
    let not_found = RawResponse {
        status: 404,
        headers: HeaderMap::new(),
        body: "not found".into(),
    };
    assert!(matches!(
        envelope(&not_found, CTX),
        Err(VenueError::Decode(_))
    ));
}

#[test]
fn categories_from_symbols() {
    assert_eq!(Category::for_symbol("BTCUSDT"), Category::Linear);
    assert_eq!(Category::for_symbol("1000PEPEUSDT"), Category::Linear);
    assert_eq!(Category::for_symbol("BTCPERP"), Category::Linear);
    assert_eq!(Category::for_symbol("BTCUSD"), Category::Inverse);
    assert_eq!(Category::for_symbol("ETHUSD"), Category::Inverse);
    assert_eq!(Category::for_symbol("BTCUSDH25"), Category::Inverse);
    assert_eq!(Category::for_symbol("BTCUSDC"), Category::Linear);
}
