//! The request vectors of tests/fixtures/vectors/oanda.json, reproduced byte for byte: paths,
//! queries and bodies (OANDA has no signatures; the bearer header is checked in auth.rs).

use super::*;
use crate::venue::oanda::model::Configuration;
use rust_decimal_macros::dec;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/oanda.json"
));
const ACCOUNT: &str = "101-004-1234567-001";

fn request(name: &str) -> Value {
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    v["requests"][name].clone()
}

fn body_text(name: &str) -> String {
    serde_json::to_string(&request(name)["body"]).unwrap()
}

fn path(name: &str) -> String {
    request(name)["path"].as_str().unwrap().to_string()
}

fn ext(id: &str, tag: Option<&str>, comment: Option<&str>) -> Option<ClientExtensions> {
    Some(ClientExtensions {
        id: Some(id.into()),
        tag: tag.map(Into::into),
        comment: comment.map(Into::into),
    })
}

#[test]
fn market_orders() {
    assert_eq!(
        path("market_order"),
        format!("{}/orders", account_path(ACCOUNT))
    );
    let mut body = market_order("EUR_USD", "9216".into(), false, "te-20240501-0001");
    // The daemon sends IOC (partial fills are reported, not killed); the vector shows FOK
    // and a tag and comment, which are the same shape.
    body.order.time_in_force = "FOK";
    body.order.client_extensions = ext(
        "te-20240501-0001",
        Some("rebalance"),
        Some("target 10000 USD"),
    );
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        body_text("market_order")
    );
    let mut body = market_order("EUR_GBP", "-5000".into(), true, "x");
    body.order.client_extensions = None;
    body.order.price_bound = Some("0.84950".into());
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        body_text("market_order_short_reduce_only"),
        "reductions are REDUCE_ONLY"
    );
}

#[test]
fn limit_replace_and_cancel() {
    let mut body = limit_order(
        "EUR_USD",
        "-10000".into(),
        wire_number(dec!(1.0925), dec!(0.00001)),
        false,
        Some("te-20240501-0002"),
    );
    body.order.trigger_condition = Some("DEFAULT");
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        body_text("limit_order")
    );
    assert_eq!(
        path("replace_limit_order"),
        format!(
            "{}{}",
            account_path(ACCOUNT),
            by_client_id("te-20240501-0002")
        )
    );
    let mut body = limit_order("EUR_USD", "-10000".into(), "1.09300".into(), false, None);
    body.order.position_fill = None;
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        body_text("replace_limit_order")
    );
    assert_eq!(
        path("cancel_order"),
        format!("{}/orders/6372/cancel", account_path(ACCOUNT))
    );
    assert!(request("cancel_order")["body"].is_null());
}

#[test]
fn leverage_is_the_account_margin_rate() {
    assert_eq!(
        path("set_leverage"),
        format!("{}/configuration", account_path(ACCOUNT))
    );
    let body = Configuration {
        margin_rate: margin_rate_for(dec!(20)).unwrap(),
    };
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        body_text("set_leverage")
    );
    // Rounded up: never more leverage than asked for.
    assert_eq!(margin_rate_for(dec!(3)).unwrap(), "0.3334");
    assert_eq!(margin_rate_for(Decimal::ZERO), None);
}

#[test]
fn pricing_candles_and_stream_urls() {
    let q = encode_query(&[
        ("instruments", "EUR_USD,EUR_GBP"),
        ("includeHomeConversions", "true"),
    ]);
    assert_eq!(
        path("pricing_with_home_conversions"),
        format!("{}/pricing?{q}", account_path(ACCOUNT))
    );
    let q = encode_query(&[("granularity", "M5"), ("count", "3"), ("price", "M")]);
    assert_eq!(
        path("candles"),
        format!("/v3/instruments/EUR_USD/candles?{q}")
    );
    let v: Value = serde_json::from_str(VECTORS).unwrap();
    let stream = crate::venue::oanda::stream::PricingStream::new(
        STREAM_HOSTS.testnet,
        &account_path(ACCOUNT),
        &["EUR_USD".into(), "USD_JPY".into()],
        vec![],
        Default::default(),
    );
    let session = futures::executor::block_on(crate::venue::stream::StreamHandler::prepare(&mut {
        stream
    }))
    .unwrap();
    assert_eq!(session.url, v["requests"]["pricing_stream"]["url"]);
    assert_eq!(v["hosts"]["practice_stream"], STREAM_HOSTS.testnet);
    assert_eq!(v["hosts"]["live_stream"], STREAM_HOSTS.live);
    assert_eq!(v["hosts"]["practice_rest"], HOSTS.testnet);
    assert_eq!(v["hosts"]["live_rest"], HOSTS.live);
}

#[test]
fn numbers_on_the_wire() {
    assert_eq!(wire_number(dec!(9216.59), dec!(1)), "9216");
    assert_eq!(wire_number(dec!(1.092509), dec!(0.00001)), "1.09250");
    assert_eq!(wire_number(dec!(155.0), dec!(0.001)), "155.000");
}

#[test]
fn messages_leave_the_account_id_out_of_endpoints() {
    assert_eq!(
        strip_account("/v3/accounts/101-004-1234567-001/orders/@x/cancel"),
        "/v3/accounts/{id}/orders/@x/cancel"
    );
    assert_eq!(
        strip_account("/v3/instruments/EUR_USD/candles"),
        "/v3/instruments/EUR_USD/candles"
    );
}
