//! Wire → domain on OANDA-shaped fixtures: the shared vectors' responses and
//! tests/fixtures/oanda/answers.json (errors, cancels, home currencies, lookups).

use super::*;
use crate::venue::oanda::model::{
    InstrumentsResponse, OrderResponse, OrdersResponse, PositionsResponse, SummaryResponse,
    TransactionsResponse,
};
use reqwest::header::HeaderMap;
use rust_decimal_macros::dec;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/oanda.json"
));
const ANSWERS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/oanda/answers.json"
));

fn vector(name: &str) -> Value {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    v["responses"][name]["body"].clone()
}

fn answer(name: &str) -> Value {
    let v: Value = serde_json::from_str(ANSWERS).unwrap();
    v[name].clone()
}

fn decode<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn raw(status: u16, body: &Value) -> RawResponse {
    RawResponse {
        status,
        headers: HeaderMap::new(),
        body: body.to_string(),
    }
}

const CTX: Ctx<'static> = Ctx {
    account: "fx",
    endpoint: "POST /v3/accounts/{id}/orders",
};

#[test]
fn instruments_in_fx_units_with_the_margin_rate_cap() {
    let r: InstrumentsResponse = decode(vector("instrument_details"));
    let inst = instrument(&r.instruments[0], Some(dec!(0.02))).unwrap();
    assert_eq!(inst.native, "EUR_USD");
    assert_eq!(inst.kind, ContractKind::Fx);
    assert_eq!(inst.tick, dec!(0.00001), "displayPrecision 5");
    assert_eq!(inst.lot, dec!(1), "tradeUnitsPrecision 0");
    assert_eq!(inst.min_qty, dec!(1));
    assert_eq!(inst.max_qty, Some(dec!(100000000)));
    // The larger of the instrument's 0.0333 and the account's 0.02.
    assert_eq!(inst.max_leverage, Some(dec!(30.0300)));
    let inst = instrument(&r.instruments[0], Some(dec!(0.05))).unwrap();
    assert_eq!(inst.max_leverage, Some(dec!(20)));
}

#[test]
fn quotes_carry_the_quote_currency_home_conversion() {
    let pricing: PricingResponse = decode(vector("pricing_with_home_conversions"));
    let q = quote("EUR_GBP", &pricing, "USD", Decimal::ONE).unwrap();
    assert_eq!(q.mark, dec!(0.85));
    assert_eq!(q.quote_to_usd, dec!(1.27647));
    assert_eq!(q.at.timestamp_millis(), 1714564800950);
    let jpy: PricingResponse = decode(answer("pricing_usd_jpy"));
    let q = quote("USD_JPY", &jpy, "USD", Decimal::ONE).unwrap();
    assert_eq!((q.mark, q.quote_to_usd), (dec!(155.000), dec!(0.0064516)));
    assert!(matches!(
        quote("EUR_USD", &jpy, "USD", Decimal::ONE),
        Err(VenueError::UnknownSymbol(_))
    ));
}

/// The sizing examples of the shared vectors: $10,000 → units, for a USD quote (EUR_USD), a
/// USD base (USD_JPY) and a cross (EUR_GBP), through the generic `Instrument` sizing.
#[test]
fn usd_notional_to_units_for_three_currency_cases() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let ex = &v["sizing_examples"];
    let row = |name: &str| InstrumentRow {
        name: name.into(),
        display_precision: 5,
        trade_units_precision: 0,
        minimum_trade_size: "1".into(),
        maximum_order_units: "100000000".into(),
        margin_rate: "0.0333".into(),
    };
    let units = |name: &str, mark: Decimal, factor: Decimal| {
        instrument(&row(name), None)
            .unwrap()
            .qty_for_notional(dec!(10000), mark, factor)
            .unwrap()
    };
    let expected =
        |name: &str, field: &str| -> Decimal { ex[name][field].as_str().unwrap().parse().unwrap() };
    assert_eq!(
        units("EUR_USD", dec!(1.085), Decimal::ONE),
        expected("EUR_USD", "units_tradeUnitsPrecision_0")
    );
    // USD_JPY: the mark times JPY's factor (the fixture's positionValue) is one dollar per
    // unit, within the factor's rounding.
    assert_eq!(
        units("USD_JPY", dec!(155), dec!(0.0064516)),
        expected("USD_JPY", "units")
    );
    assert_eq!(
        units("EUR_GBP", dec!(0.85), dec!(1.27647)),
        expected("EUR_GBP", "units")
    );
    // Short is the same size, negative.
    assert_eq!(
        instrument(&row("EUR_GBP"), None).unwrap().qty_for_notional(
            dec!(-10000),
            dec!(0.85),
            dec!(1.27647)
        ),
        Some(dec!(-9216))
    );
}

#[test]
fn account_value_is_nav_in_usd() {
    let s: SummaryResponse = decode(vector("account_summary"));
    let v = account_value(&s.account, Decimal::ONE).unwrap();
    assert_eq!(v.equity_usd, dec!(100012.34));
    assert_eq!(v.available_usd, Some(dec!(99679.3613)));
    // A EUR account: USD's home conversion is 0.8 EUR, so one EUR is 1.25 USD.
    let s: SummaryResponse = decode(answer("summary_eur_home"));
    let pricing: PricingResponse = decode(answer("pricing_eur_home"));
    let usd = conversion(&pricing, "USD", "EUR").unwrap();
    let v = account_value(&s.account, Decimal::ONE / usd).unwrap();
    assert_eq!(v.equity_usd, dec!(12625));
}

#[test]
fn positions_are_net_units() {
    let p: PositionsResponse = decode(vector("open_positions"));
    let list = positions(&p.positions).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].native.as_str(), list[0].qty, list[0].entry_price),
        ("EUR_USD", dec!(9216), Some(dec!(1.08507)))
    );
    let p: PositionsResponse = decode(answer("positions_short"));
    assert_eq!(positions(&p.positions).unwrap()[0].qty, dec!(-2500));
}

#[test]
fn a_201_with_a_fill_is_filled() {
    let a: OrderAnswer = decode(vector("order_201_filled"));
    let ack = order_answer(
        &a,
        "te-20240501-0001",
        "EUR_USD",
        Side::Buy,
        dec!(9216),
        false,
        CTX,
    )
    .unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(9216));
    assert_eq!(ack.avg_price, Some(dec!(1.08507)));
    assert_eq!(ack.venue_order_id, "6368");
    let a: OrderAnswer = decode(answer("order_201_partial_ioc"));
    let ack = order_answer(&a, "te-part", "EUR_USD", Side::Sell, dec!(2000), false, CTX).unwrap();
    assert_eq!(
        (ack.status, ack.filled_qty),
        (OrderStatus::PartiallyFilled, dec!(1000))
    );
}

#[test]
fn a_201_cancelled_is_a_typed_refusal_not_a_fill() {
    let a: OrderAnswer = decode(vector("order_201_cancelled_market_halted"));
    let e = order_answer(&a, "te-1", "EUR_USD", Side::Buy, dec!(1000), false, CTX).unwrap_err();
    assert_eq!(e.reject_kind(), Some(RejectKind::TradingDisabled), "{e}");
    assert!(e.to_string().contains("MARKET_HALTED"), "{e}");
    let a: OrderAnswer = decode(answer("order_201_cancelled_insufficient_margin"));
    let e = order_answer(
        &a,
        "te-margin",
        "EUR_USD",
        Side::Buy,
        dec!(5000000),
        false,
        CTX,
    )
    .unwrap_err();
    assert_eq!(e.reject_kind(), Some(RejectKind::InsufficientFunds), "{e}");
    // Reduce-only with nothing to reduce.
    let a: OrderAnswer = decode(answer("order_201_reduce_only_nothing_to_reduce"));
    let e = order_answer(&a, "te-ro", "EUR_USD", Side::Sell, dec!(1000), true, CTX).unwrap_err();
    assert_eq!(e.reject_kind(), Some(RejectKind::ReduceOnly), "{e}");
}

#[test]
fn error_answers_are_typed() {
    let kind = |status, body: Value| error(&raw(status, &body), CTX);
    let e = kind(400, vector("order_400_rejected"));
    assert_eq!(e.reject_kind(), Some(RejectKind::InvalidQuantity), "{e}");
    let e = kind(400, answer("order_400_duplicate_client_id"));
    assert_eq!(e.reject_kind(), Some(RejectKind::DuplicateClientId), "{e}");
    let e = kind(400, answer("order_400_insufficient_margin"));
    assert_eq!(e.reject_kind(), Some(RejectKind::InsufficientFunds), "{e}");
    assert!(matches!(
        kind(400, answer("order_400_instrument_unknown")),
        VenueError::UnknownSymbol(_)
    ));
    let e = kind(404, answer("cancel_404_order_doesnt_exist"));
    assert_eq!(e.reject_kind(), Some(RejectKind::OrderNotFound), "{e}");
    let e = kind(401, vector("error_401"));
    assert!(matches!(e, VenueError::Auth(_)), "{e}");
    assert!(e.to_string().contains("fx"), "names the account: {e}");
    assert!(matches!(
        kind(403, answer("error_403")),
        VenueError::Auth(_)
    ));
}

#[test]
fn rate_limit_refusal_opens_the_breaker() {
    use crate::venue::http::Dialect;
    let mut headers = HeaderMap::new();
    let body = answer("error_429").to_string();
    let e = crate::venue::oanda::rest::OandaDialect
        .classify(429, &headers, &body)
        .unwrap();
    assert!(matches!(
        e,
        VenueError::RateLimited { retry_after } if retry_after == crate::venue::oanda::rest::RATE_LIMIT_PAUSE
    ));
    headers.insert("retry-after", "30".parse().unwrap());
    let e = crate::venue::oanda::rest::OandaDialect
        .classify(429, &headers, &body)
        .unwrap();
    assert!(matches!(
        e,
        VenueError::RateLimited { retry_after } if retry_after.as_secs() == 30
    ));
    assert!(crate::venue::oanda::rest::OandaDialect
        .classify(400, &headers, &body)
        .is_none());
}

#[test]
fn orders_by_client_id_and_pending_orders() {
    let o: OrderResponse = decode(answer("order_by_client_id"));
    let fill: Transaction = decode(vector("order_201_filled")["orderFillTransaction"].clone());
    let ack = order_ack(&o.order, Some(&fill)).unwrap();
    assert_eq!(ack.client_order_id, "te-20240501-0001");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(
        (ack.native.as_deref(), ack.side, ack.qty, ack.filled_qty),
        (
            Some("EUR_USD"),
            Some(Side::Buy),
            Some(dec!(9216)),
            dec!(9216)
        )
    );
    let list: OrdersResponse = decode(answer("pending_orders"));
    let open = open_orders(&list.orders).unwrap();
    assert_eq!(open.len(), 1, "the stop loss tied to a trade is not listed");
    assert_eq!(open[0].side, Side::Sell);
    assert_eq!(open[0].qty, dec!(10000));
    assert_eq!(open[0].price, Some(dec!(1.0925)));
    assert_eq!(open[0].client_order_id.as_deref(), Some("te-20240501-0002"));
}

#[test]
fn transactions_become_events() {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let line = v["stream_lines"]["transaction_line_order_fill"]
        .as_str()
        .unwrap();
    let tx: Transaction = serde_json::from_str(line.trim()).unwrap();
    let list = events(&tx).unwrap();
    match list.as_slice() {
        [VenueEvent::Fill(f), VenueEvent::Order { ack, .. }] => {
            assert_eq!(
                (f.side, f.qty, f.price),
                (Side::Buy, dec!(9216), dec!(1.08507))
            );
            assert_eq!(f.client_order_id.as_deref(), Some("te-20240501-0001"));
            assert_eq!(ack.status, OrderStatus::Filled);
        }
        other => panic!("{other:?}"),
    }
    let since: TransactionsResponse = decode(answer("transactions_sinceid"));
    let all: Vec<VenueEvent> = since
        .transactions
        .iter()
        .flat_map(|t| events(t).unwrap())
        .collect();
    assert_eq!(all.len(), 4, "order, fill + order, wallet: {all:?}");
    assert_eq!(all[3], VenueEvent::WalletChanged);
}

#[test]
fn candles_are_mid_prices_oldest_first() {
    let c: crate::venue::oanda::model::CandlesResponse = decode(vector("candles"));
    let list = candles(&c.candles).unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(list[0].open, dec!(1.08480));
    assert!(list[0].open_time < list[2].open_time);
}

#[test]
fn wire_units_are_signed_and_on_the_lot() {
    assert_eq!(wire_units(Side::Buy, dec!(9216.59), dec!(1)), "9216");
    assert_eq!(wire_units(Side::Sell, dec!(5000), dec!(1)), "-5000");
    assert_eq!(wire_units(Side::Sell, dec!(0.25), dec!(0.1)), "-0.2");
}
