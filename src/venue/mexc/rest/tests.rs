use super::*;
use crate::venue::mexc::model::Body;
use rust_decimal_macros::dec;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/mexc.json"
));

fn vector_body(i: usize) -> String {
    let f: Value = serde_json::from_str(VECTORS).unwrap();
    f["vectors"][i]["body"].as_str().unwrap().to_string()
}

#[test]
fn order_bodies_are_the_vectors_bytes() {
    let limit = Body::new()
        .str("symbol", "BTC_USDT")
        .num("price", dec!(60000.0))
        .num("vol", dec!(5))
        .int("leverage", 10)
        .int("side", 1)
        .int("type", 1)
        .int("openType", 1)
        .str("externalOid", "te-0001")
        .finish();
    assert_eq!(limit, vector_body(3));
    let market = Body::new()
        .str("symbol", "BTC_USDT")
        .num("vol", dec!(12))
        .int("side", 3)
        .int("type", 5)
        .int("openType", 2)
        .finish();
    assert_eq!(market, vector_body(4));
    // Exact decimals, never through f64 or exponent notation.
    assert_eq!(
        Body::new().num("vol", dec!(0.00000001)).finish(),
        r#"{"vol":0.00000001}"#
    );
    assert_eq!(
        Body::new().str("s", "a\"b").bool("r", true).finish(),
        r#"{"s":"a\"b","r":true}"#
    );
}

#[test]
fn buckets_are_endpoint_templates() {
    assert_eq!(
        bucket("/api/v1/contract/fair_price/BTC_USDT"),
        "contract/fair_price"
    );
    assert_eq!(
        bucket("/api/v1/contract/fair_price/ETH_USDT"),
        "contract/fair_price"
    );
    assert_eq!(bucket("/api/v1/contract/detail"), "contract/detail");
    assert_eq!(
        bucket("/api/v1/private/order/external/BTC_USDT/te1"),
        "order/external"
    );
    assert_eq!(
        bucket("/api/v1/private/order/cancel_with_external"),
        "order/cancel_with_external"
    );
    assert_eq!(bucket("/api/v1/private/order/cancel"), "order/cancel");
    assert_eq!(
        bucket("/api/v1/private/order/submit_batch"),
        "order/submit_batch"
    );
    assert_eq!(
        bucket("/api/v1/private/position/change_leverage"),
        "position/change_leverage"
    );
    assert_eq!(bucket("/api/v1/contract/ping"), "public");
}

#[test]
fn limits_are_the_documented_windows() {
    let p = limit_policy();
    for (name, rate) in &p.buckets {
        // The limiter's windows are exact: the documented figures, no more and no less.
        let (secs, count) = match *name {
            "contract/detail" => (5, 1),
            "order/submit_batch" => (2, 1),
            _ => (2, 20),
        };
        assert_eq!(rate.period, Duration::from_secs(secs), "{name}");
        assert_eq!(rate.count, count, "{name}: {rate:?}");
    }
    assert!(p.buckets.iter().any(|(n, _)| *n == "order/create"));
}

#[test]
fn rate_limit_answers_open_the_breaker() {
    let d = MexcDialect;
    let h = HeaderMap::new();
    assert!(matches!(
        d.classify(200, &h, r#"{"success":false,"code":510,"message":"Excessive frequency of requests"}"#),
        Some(VenueError::RateLimited { retry_after }) if retry_after == RATE_WINDOW
    ));
    assert!(d
        .classify(200, &h, r#"{"success":true,"code":0,"data":510}"#)
        .is_none());
    let mut h429 = HeaderMap::new();
    h429.insert("retry-after", "30".parse().unwrap());
    assert!(matches!(
        d.classify(429, &h429, ""),
        Some(VenueError::RateLimited { retry_after }) if retry_after == Duration::from_secs(30)
    ));
    assert_eq!(wire_leverage(dec!(3.9)), 3);
    assert_eq!(wire_leverage(dec!(0.5)), 1);
}
