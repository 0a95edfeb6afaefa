use super::*;
use crate::venue::bitmex::model::WireInstrument;
use rust_decimal_macros::dec;

fn fixture<T: serde::de::DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("fixture parses")
}

fn inst(text: &str) -> WireInstrument {
    fixture::<Vec<WireInstrument>>(text).remove(0)
}

const XBTUSD: &str = include_str!("../../../../tests/fixtures/bitmex/instrument_xbtusd.json");
const XBTUSDT: &str = include_str!("../../../../tests/fixtures/bitmex/instrument_xbtusdt.json");
const ETHUSD: &str = include_str!("../../../../tests/fixtures/bitmex/instrument_ethusd.json");

#[test]
fn inverse_xbtusd_is_one_usd_per_contract() {
    let w = inst(XBTUSD);
    let i = instrument(&w).unwrap();
    assert_eq!(i.kind, ContractKind::Inverse);
    assert_eq!(i.contract_value, dec!(1));
    assert_eq!(
        (i.lot, i.min_qty, i.tick),
        (dec!(100), dec!(100), dec!(0.1))
    );
    assert_eq!(i.max_qty, Some(dec!(10000000)));
    assert_eq!(i.max_leverage, Some(dec!(100)));
    assert_eq!(i.symbol.as_str(), "BTCUSD");
    assert_eq!(usd_rate(&w).unwrap(), UsdRate::One);
    // Sheet: $12,345 -> 12,300 XBTUSD, whatever the price.
    let mark = mark(&w).unwrap();
    assert_eq!(
        i.qty_for_notional(dec!(12345), mark, dec!(1)),
        Some(dec!(12300))
    );
    assert_eq!(
        i.qty_for_notional(dec!(12345), dec!(20000), dec!(1)),
        Some(dec!(12300))
    );
}

#[test]
fn linear_xbtusdt_uses_the_position_multiplier() {
    let w = inst(XBTUSDT);
    let i = instrument(&w).unwrap();
    assert_eq!(i.kind, ContractKind::Linear);
    assert_eq!(i.contract_value, dec!(0.000001));
    assert_eq!(
        (i.lot, i.min_qty, i.tick),
        (dec!(1000), dec!(1000), dec!(0.5))
    );
    assert_eq!(i.max_qty, Some(dec!(1000000000)));
    assert_eq!(usd_rate(&w).unwrap(), UsdRate::One);
    // Sheet: $12,345 at 50,000 -> 246,000 contracts (0.246 XBT, $12,300).
    assert_eq!(
        i.qty_for_notional(dec!(12345), dec!(50000), dec!(1)),
        Some(dec!(246000))
    );
    assert_eq!(
        i.usd_per_unit(dec!(50000), dec!(1)) * dec!(246000),
        dec!(12300)
    );
}

#[test]
fn linear_ltcusdt_sheet_example() {
    let w = WireInstrument {
        symbol: "LTCUSDT".into(),
        state: Some("Open".into()),
        quote_currency: Some("USDT".into()),
        settl_currency: Some("USDt".into()),
        tick_size: Some(dec!(0.01)),
        lot_size: Some(dec!(1000)),
        multiplier: Some(dec!(100)),
        underlying_to_position_multiplier: Some(dec!(10000)),
        ..Default::default()
    };
    let i = instrument(&w).unwrap();
    assert_eq!(
        i.qty_for_notional(dec!(12345), dec!(144.36), dec!(1)),
        Some(dec!(855000))
    );
    // Without underlyingToPositionMultiplier the multiplier gives the same contract value.
    let fallback = instrument(&WireInstrument {
        underlying_to_position_multiplier: None,
        ..w
    })
    .unwrap();
    assert_eq!(fallback.contract_value, i.contract_value);
}

#[test]
fn quanto_ethusd_is_priced_in_xbt() {
    let w = inst(ETHUSD);
    let i = instrument(&w).unwrap();
    assert_eq!(i.kind, ContractKind::Quanto);
    // 100 XBt per contract per USD of ETH price.
    assert_eq!(i.contract_value, dec!(0.000001));
    assert_eq!(i.lot, dec!(1));
    assert_eq!(i.max_leverage, Some(dec!(50)));
    assert_eq!(usd_rate(&w).unwrap(), UsdRate::Xbt);
    // Sheet: ETH 2,500, XBT 50,000: $125 per contract; $12,345 -> 98 contracts.
    assert_eq!(i.usd_per_unit(dec!(2500), dec!(50000)), dec!(125));
    assert_eq!(
        i.qty_for_notional(dec!(12345), dec!(2500), dec!(50000)),
        Some(dec!(98))
    );
    // The exposure moves with XBT: at XBT 25,000 the same target needs twice the contracts.
    assert_eq!(
        i.qty_for_notional(dec!(12345), dec!(2500), dec!(25000)),
        Some(dec!(197))
    );
}

#[test]
fn closed_or_unpriceable_instruments_are_refused() {
    let mut w = inst(XBTUSDT);
    w.state = Some("Settled".into());
    assert!(matches!(instrument(&w), Err(VenueError::Unsupported(_))));
    let mut w = inst(XBTUSDT);
    w.lot_size = None;
    assert!(matches!(instrument(&w), Err(VenueError::Decode(_))));
    let mut w = inst(XBTUSDT);
    w.quote_currency = Some("EUR".into());
    assert!(matches!(instrument(&w), Err(VenueError::Unsupported(_))));
    let mut w = inst(XBTUSDT);
    w.mark_price = None;
    w.last_price = None;
    assert!(mark(&w).is_err());
}

#[test]
fn account_value_converts_minor_units_and_xbt() {
    let rows: Vec<WireMargin> = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/margin_all.json"
    ));
    assert!(needs_xbt_price(&rows));
    let v = account_value(&rows, Some(dec!(50000)), Utc::now()).unwrap();
    // 100,010,360 XBt = 1.0001036 XBT = $50,005.18; 1,234,567,890 USDt = $1,234.56789.
    assert_eq!(v.equity_usd, dec!(51239.74789));
    // 99,994,411 XBt = $49,997.2055; 1,000,000,000 USDt = $1,000.
    assert_eq!(v.available_usd, Some(dec!(50997.2055)));
    assert!(account_value(&rows, None, Utc::now()).is_err());
    let usdt_only: Vec<WireMargin> = rows
        .into_iter()
        .filter(|r| r.currency != "XBt")
        .chain([WireMargin {
            currency: "Gwei".into(),
            margin_balance: Some(dec!(5)),
            available_margin: None,
        }])
        .collect();
    assert!(!needs_xbt_price(&usdt_only));
    let v = account_value(&usdt_only, None, Utc::now()).unwrap();
    assert_eq!(v.equity_usd, dec!(1234.56789));
}

#[test]
fn positions_are_signed_contracts() {
    let rows: Vec<WirePosition> = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/positions.json"
    ));
    let positions: Vec<Position> = rows.iter().filter_map(position).collect();
    assert_eq!(positions.len(), 2, "the flat ETHUSD row is left out");
    assert_eq!(positions[0].native, "XBTUSD");
    assert_eq!(positions[0].qty, dec!(-12300));
    assert_eq!(positions[0].entry_price, Some(dec!(50100.5)));
    assert_eq!(positions[1].qty, dec!(246000));
}

#[test]
fn open_orders_keep_remaining_and_reduce_only() {
    let rows: Vec<WireOrder> = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/orders_open.json"
    ));
    let orders: Vec<OpenOrder> = rows.iter().map(|r| open_order(r).unwrap()).collect();
    assert_eq!(orders[0].side, Side::Buy);
    assert_eq!(
        (orders[0].qty, orders[0].remaining),
        (dec!(3000), dec!(2000))
    );
    assert_eq!(orders[0].pending_delta(), dec!(2000));
    assert_eq!(
        orders[0].client_order_id.as_deref(),
        Some("te0123456789abcdef0123456789abcd")
    );
    assert!(!orders[0].reduce_only);
    assert_eq!(orders[1].client_order_id, None, "empty clOrdID is no id");
    assert!(orders[1].reduce_only);
    assert_eq!(orders[1].pending_delta(), dec!(-500));
    assert_eq!(
        order_ack(&rows[0]).unwrap().status,
        OrderStatus::PartiallyFilled
    );
}

#[test]
fn placed_orders_inspect_the_status_of_200_answers() {
    let filled: WireOrder = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/order_filled.json"
    ));
    let ack = placed(&filled).unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(24000));
    assert_eq!(ack.avg_price, Some(dec!(49995.25)));
    assert_eq!(ack.client_order_id, "bot-0002-close");

    let refused: WireOrder = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/order_reduce_only_canceled.json"
    ));
    let err = placed(&refused).unwrap_err();
    assert_eq!(err.reject_kind(), Some(RejectKind::ReduceOnly), "{err:?}");

    // A cancelled remainder after a fill is an answer, not a rejection.
    let mut partly = refused.clone();
    partly.cum_qty = Some(dec!(1000));
    let ack = placed(&partly).unwrap();
    assert_eq!(
        (ack.status, ack.filled_qty),
        (OrderStatus::Cancelled, dec!(1000))
    );

    let mut rejected = refused;
    rejected.ord_status = Some("Rejected".into());
    rejected.text = Some("Account has insufficient Available Balance".into());
    assert_eq!(
        placed(&rejected).unwrap_err().reject_kind(),
        Some(RejectKind::InsufficientFunds)
    );
}

#[test]
fn cancel_answers() {
    let rows: Vec<WireOrder> = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/cancel_already_finished.json"
    ));
    let err = cancelled(&rows, "bot-0002-close").unwrap_err();
    assert_eq!(err.reject_kind(), Some(RejectKind::OrderNotFound));
    assert_eq!(
        cancelled(&[], "x").unwrap_err().reject_kind(),
        Some(RejectKind::OrderNotFound)
    );
    let mut ok = rows[0].clone();
    ok.error = None;
    ok.ord_status = Some("Canceled".into());
    assert!(cancelled(&[ok], "bot-0002-close").is_ok());
}

#[test]
fn candles_open_one_bin_before_the_stamp() {
    let rows: Vec<WireTradeBin> = fixture(include_str!(
        "../../../../tests/fixtures/bitmex/trade_bucketed_1m.json"
    ));
    let c = candle(&rows[1], CandleInterval::M1).unwrap();
    assert_eq!(c.open_time.to_rfc3339(), "2024-11-25T10:34:00+00:00");
    assert_eq!(
        (c.open, c.high, c.low, c.close),
        (dec!(50000), dec!(50015), dec!(49980.5), dec!(50010))
    );
    assert_eq!(c.volume, dec!(600000));
    let h = candle(&rows[0], CandleInterval::H1).unwrap();
    assert_eq!(h.open_time.to_rfc3339(), "2024-11-25T09:36:00+00:00");
}

#[test]
fn error_texts_map_to_reject_kinds() {
    let err = http_error(
        400,
        include_str!("../../../../tests/fixtures/bitmex/error_insufficient_balance.json"),
    );
    assert_eq!(err.reject_kind(), Some(RejectKind::InsufficientFunds));
    assert!(err.to_string().contains("1234567 XBt required"), "{err}");
    let cases = [
        (400, "Duplicate clOrdID", RejectKind::DuplicateClientId),
        (400, "Invalid orderQty", RejectKind::InvalidQuantity),
        (400, "Invalid price", RejectKind::InvalidPrice),
        (404, "Not Found", RejectKind::OrderNotFound),
        (400, "Invalid origClOrdID", RejectKind::OrderNotFound),
        (400, "Invalid ordStatus", RejectKind::OrderNotFound),
        (400, "Something else", RejectKind::Other),
    ];
    for (status, message, kind) in cases {
        let body = format!(r#"{{"error":{{"message":"{message}","name":"HTTPError"}}}}"#);
        assert_eq!(
            http_error(status, &body).reject_kind(),
            Some(kind),
            "{message}"
        );
    }
    assert_eq!(error_message(r#"{"error":"plain"}"#).0, "plain");
    assert_eq!(error_message("<html>busy</html>").0, "<html>busy</html>");
}

#[test]
fn symbols_spell_btc_as_xbt() {
    assert_eq!(native_symbol(&Symbol::new("BTCUSDT")), "XBTUSDT");
    assert_eq!(native_symbol(&Symbol::new("ETHUSDT")), "ETHUSDT");
    assert_eq!(native_symbol(&Symbol::new("BTCUSD")), "XBTUSD");
    assert_eq!(unified_symbol("XBTUSD").as_str(), "BTCUSD");
    assert_eq!(unified_symbol("ETHUSD").as_str(), "ETHUSD");
}
