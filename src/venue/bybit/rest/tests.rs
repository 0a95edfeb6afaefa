use super::*;
use crate::venue::bybit::model::{
    AmendOrder, CancelOrder, CreateOrder, SetLeverage, SetMarginMode,
};
use reqwest::header::HeaderValue;
use rust_decimal_macros::dec;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/bybit.json"
));

fn vector_body(name: &str) -> String {
    let file: serde_json::Value = serde_json::from_str(VECTORS).unwrap();
    file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap()["body"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn quantities_and_prices_use_the_step_decimals() {
    assert_eq!(wire_number(dec!(0.246), dec!(0.001)), "0.246");
    assert_eq!(wire_number(dec!(0.2469), dec!(0.001)), "0.246");
    assert_eq!(wire_number(dec!(1), dec!(0.001)), "1.000");
    assert_eq!(wire_number(dec!(4.938), dec!(0.01)), "4.93");
    assert_eq!(wire_number(dec!(12345), dec!(1)), "12345");
    assert_eq!(wire_number(dec!(12345.9), dec!(1)), "12345");
    assert_eq!(wire_number(dec!(35000.5), dec!(0.10)), "35000.5");
    assert_eq!(wire_number(dec!(0.00002), dec!(0.00001)), "0.00002");
    assert_eq!(wire_number(dec!(130), dec!(10)), "130");
    assert_eq!(wire_number(dec!(0.37), dec!(0.05)), "0.35");
    assert!(!wire_number(dec!(0.0000001), dec!(0.0000001)).contains('E'));
    assert_eq!(wire_leverage(dec!(5)), "5");
    assert_eq!(wire_leverage(dec!(2.50)), "2.5");
    assert_eq!(wire_leverage(dec!(3.333)), "3.33");
}

#[test]
fn request_bodies_match_the_vectors_bytes() {
    let limit = CreateOrder {
        category: "linear",
        symbol: "BTCUSDT",
        side: "Buy",
        order_type: "Limit",
        qty: wire_number(dec!(0.001), dec!(0.001)),
        price: Some(wire_number(dec!(35000.5), dec!(0.1))),
        time_in_force: Some("PostOnly"),
        reduce_only: false,
        order_link_id: "bot-0001-abc",
        position_idx: Some(0),
    };
    assert_eq!(
        serde_json::to_string(&limit).unwrap(),
        vector_body("post_order_create_limit_postonly")
    );
    let close = CreateOrder {
        category: "linear",
        symbol: "BTCUSDT",
        side: "Sell",
        order_type: "Market",
        qty: wire_number(dec!(0.024), dec!(0.001)),
        price: None,
        time_in_force: None,
        reduce_only: true,
        order_link_id: "bot-0002-close",
        position_idx: None,
    };
    assert_eq!(
        serde_json::to_string(&close).unwrap(),
        vector_body("post_order_create_market_reduceonly")
    );
    let cancel = CancelOrder {
        category: "linear",
        symbol: "BTCUSDT",
        order_link_id: "bot-0001-abc",
    };
    assert_eq!(
        serde_json::to_string(&cancel).unwrap(),
        vector_body("post_order_cancel_by_linkid")
    );
    let amend = AmendOrder {
        category: "linear",
        symbol: "BTCUSDT",
        order_link_id: "bot-0001-abc",
        qty: None,
        price: Some(wire_number(dec!(35010), dec!(1))),
    };
    assert_eq!(
        serde_json::to_string(&amend).unwrap(),
        vector_body("post_order_amend")
    );
    let lev = SetLeverage {
        category: "linear",
        symbol: "BTCUSDT",
        buy_leverage: wire_leverage(dec!(5)),
        sell_leverage: wire_leverage(dec!(5)),
    };
    assert_eq!(
        serde_json::to_string(&lev).unwrap(),
        vector_body("post_set_leverage")
    );
    let mode = SetMarginMode {
        set_margin_mode: "REGULAR_MARGIN",
    };
    assert_eq!(
        serde_json::to_string(&mode).unwrap(),
        vector_body("post_set_margin_mode_regular")
    );
}

#[test]
fn queries_are_encoded_in_signing_order() {
    assert_eq!(
        encode_query(&[
            ("category", "linear"),
            ("symbol", "BTCUSDT"),
            ("openOnly", "0"),
            ("limit", "50")
        ]),
        "category=linear&symbol=BTCUSDT&openOnly=0&limit=50"
    );
}

#[test]
fn endpoints_have_their_documented_buckets() {
    let policy = limit_policy();
    let rate = |b: &str| {
        policy
            .buckets
            .iter()
            .find(|(n, _)| *n == b)
            .map(|(_, r)| *r)
    };
    for path in ["/v5/order/create", "/v5/order/cancel", "/v5/order/amend"] {
        assert_eq!(
            rate(bucket(path, Some(Category::Linear))),
            Some(Rate::per_second(10))
        );
    }
    assert_eq!(
        rate(bucket("/v5/order/create-batch", Some(Category::Inverse))),
        Some(Rate::per_second(10))
    );
    assert_ne!(
        bucket("/v5/order/create-batch", None),
        bucket("/v5/order/create", None),
        "batches have a bucket of their own"
    );
    assert_eq!(
        rate(bucket("/v5/position/list", Some(Category::Linear))),
        Some(Rate::per_second(50))
    );
    assert_eq!(
        rate(bucket("/v5/position/list", Some(Category::Inverse))),
        Some(Rate::per_second(10))
    );
    assert_eq!(policy.ip, Rate::per(600, Duration::from_secs(5)));
    assert_eq!(
        bucket("/v5/market/tickers", Some(Category::Linear)),
        "public"
    );
    assert_eq!(
        rate("public"),
        None,
        "public data only spends the IP budget"
    );
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

#[test]
fn dialect_reads_limit_headers() {
    let reset = chrono::Utc::now().timestamp_millis() + 2_000;
    let h = headers(&[
        ("x-bapi-limit-status", "3".into()),
        ("x-bapi-limit-reset-timestamp", reset.to_string()),
    ]);
    let (remaining, wait) = BybitDialect.rate_headers(&h).unwrap();
    assert_eq!(remaining, 3);
    let wait = wait.unwrap();
    assert!(wait > Duration::from_millis(1500) && wait <= Duration::from_millis(2000));
    assert!(BybitDialect.rate_headers(&HeaderMap::new()).is_none());
}

#[test]
fn dialect_classifies_bans_limits_and_auth() {
    let none = HeaderMap::new();
    assert!(matches!(
        BybitDialect.classify(401, &none, ""),
        Some(VenueError::Auth(_))
    ));
    match BybitDialect.classify(403, &none, "access too frequent") {
        Some(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(600))
        }
        other => panic!("{other:?}"),
    }
    let reset = chrono::Utc::now().timestamp_millis() + 30_000;
    let h = headers(&[
        ("x-bapi-limit-status", "0".into()),
        ("x-bapi-limit-reset-timestamp", reset.to_string()),
    ]);
    let body = r#"{"retCode":10006,"retMsg":"Too many visits!","result":{},"time":1}"#;
    match BybitDialect.classify(200, &h, body) {
        Some(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after > Duration::from_secs(25), "{retry_after:?}")
        }
        other => panic!("{other:?}"),
    }
    // A 10006 somewhere in an ordinary answer is not a rate limit.
    let ok = r#"{"retCode":0,"retMsg":"OK","result":{"orderId":"10006"}}"#;
    assert!(BybitDialect.classify(200, &h, ok).is_none());
    assert!(matches!(
        BybitDialect.classify(429, &h, ""),
        Some(VenueError::RateLimited { .. })
    ));
}
