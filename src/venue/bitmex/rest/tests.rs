use super::*;
use crate::config::Secret;
use reqwest::header::HeaderValue;
use rust_decimal_macros::dec;
use serde_json::Value;
use url::Url;

const VECTORS: &str = include_str!("../../../../tests/fixtures/vectors/bitmex.json");

fn case(name: &str) -> Value {
    let file: Value = serde_json::from_str(VECTORS).unwrap();
    file["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("vector {name}"))
}

fn order(cid: &str, native: &str, side: Side, qty: Decimal, reduce_only: bool) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.into(),
        native: native.into(),
        side,
        qty,
        kind: OrderKind::Market,
        price: None,
        reduce_only,
        leverage: None,
        margin_mode: None,
    }
}

/// Builds the request the adapter would send and signs it at the vector's expiry.
fn signed(case: &Value, method: Method, path: &str, query: &str, body: Option<String>) -> String {
    let signer = BitmexSigner::new(
        Secret::new(case["api_key"].as_str().unwrap()),
        Secret::new(case["api_secret"].as_str().unwrap()),
    );
    let base = Url::parse("https://www.bitmex.com").unwrap();
    let mut req =
        PreparedRequest::new(method, &base, &format!("{API_PREFIX}{path}"), query, body).unwrap();
    assert_eq!(req.path_and_query(), case["path"].as_str().unwrap());
    assert_eq!(req.body_str(), case["body"].as_str().unwrap());
    signer
        .sign_at(&mut req, case["expires"].as_u64().unwrap())
        .unwrap();
    req.headers
        .iter()
        .find(|(n, _)| n == "api-signature")
        .map(|(_, v)| v.clone())
        .unwrap()
}

#[test]
fn adapter_requests_match_the_vectors_byte_for_byte() {
    let c = case("post_order_market_reduceonly_xbtusdt");
    let body = place_body(&order(
        "bot-0002-close",
        "XBTUSDT",
        Side::Sell,
        dec!(24000),
        true,
    ));
    assert_eq!(body, c["body"].as_str().unwrap());
    assert_eq!(
        signed(&c, Method::POST, "/order", "", Some(body)),
        c["expected_signature"].as_str().unwrap()
    );

    let c = case("delete_order_by_clordid");
    let body = cancel_body("bot-0001-abc");
    assert_eq!(
        signed(&c, Method::DELETE, "/order", "", Some(body)),
        c["expected_signature"].as_str().unwrap()
    );

    let c = case("post_position_leverage");
    let body = leverage_body("XBTUSD", dec!(5));
    assert_eq!(
        signed(&c, Method::POST, "/position/leverage", "", Some(body)),
        c["expected_signature"].as_str().unwrap()
    );

    let c = case("get_open_orders_json_filter");
    let query = open_orders_query(Some("XBTUSD"), 100);
    assert_eq!(
        signed(&c, Method::GET, "/order", &query, None),
        c["expected_signature"].as_str().unwrap()
    );

    let c = case("get_user_margin_all");
    let query = encode_query(&[("currency", "all")]);
    assert_eq!(
        signed(&c, Method::GET, "/user/margin", &query, None),
        c["expected_signature"].as_str().unwrap()
    );
}

#[test]
fn limit_orders_carry_price_and_time_in_force() {
    // The vector's post-only order minus the post-only instruction, which we never send.
    let c = case("post_order_limit_postonly_xbtusd");
    let expected = c["body"]
        .as_str()
        .unwrap()
        .replace(r#""execInst":"ParticipateDoNotInitiate","#, "");
    let mut req = order("bot-0001-abc", "XBTUSD", Side::Buy, dec!(100), false);
    req.kind = OrderKind::Limit;
    req.price = Some(dec!(35000.50));
    assert_eq!(place_body(&req), expected);
}

#[test]
fn other_bodies_and_queries() {
    assert_eq!(
        amend_body("c1", Some(dec!(2000)), None),
        r#"{"origClOrdID":"c1","orderQty":2000}"#
    );
    assert_eq!(
        amend_body("c1", None, Some(dec!(35010))),
        r#"{"origClOrdID":"c1","price":35010}"#
    );
    assert_eq!(
        isolate_body("XBTUSDT", false),
        r#"{"symbol":"XBTUSDT","enabled":false}"#
    );
    assert_eq!(
        lookup_query("XBTUSDT", "te01"),
        "symbol=XBTUSDT&filter=%7B%22clOrdID%22%3A%22te01%22%7D&count=10&reverse=true"
    );
    assert_eq!(
        candles_query("XBTUSD", CandleInterval::H1, 5000),
        "binSize=1h&partial=false&symbol=XBTUSD&count=1000&reverse=true"
    );
    assert_eq!(
        open_orders_query(None, PAGE),
        "filter=%7B%22open%22%3Atrue%7D&count=500"
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
fn dialect_reads_rate_limit_headers() {
    let d = BitmexDialect;
    let reset = unix_now() + 30;
    let h = headers(&[
        ("x-ratelimit-remaining", "57".into()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-remaining-1s", "8".into()),
    ]);
    let (remaining, wait) = d.rate_headers(&h).unwrap();
    assert_eq!(remaining, 57);
    let wait = wait.unwrap();
    assert!(wait <= Duration::from_secs(30) && wait >= Duration::from_secs(28));
    // The per-second layer wins when it is exhausted.
    let h = headers(&[
        ("x-ratelimit-remaining", "57".into()),
        ("x-ratelimit-remaining-1s", "0".into()),
    ]);
    assert_eq!(d.rate_headers(&h), Some((0, Some(Duration::from_secs(1)))));
    assert_eq!(d.rate_headers(&HeaderMap::new()), None);
}

#[test]
fn dialect_classifies_limits_bans_and_auth() {
    let d = BitmexDialect;
    let body = |m: &str| format!(r#"{{"error":{{"message":"{m}","name":"HTTPError"}}}}"#);
    let h = headers(&[("x-ratelimit-reset", (unix_now() + 40).to_string())]);
    match d.classify(429, &h, &body("Rate limit exceeded, retry in 40 seconds.")) {
        Some(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(38), "{retry_after:?}")
        }
        other => panic!("{other:?}"),
    }
    match d.classify(
        429,
        &HeaderMap::new(),
        &body("Rate limit exceeded, retry in 7 seconds."),
    ) {
        Some(VenueError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(7))
        }
        other => panic!("{other:?}"),
    }
    for m in ["Invalid API Key.", "Signature not valid."] {
        let e = d.classify(401, &HeaderMap::new(), &body(m));
        assert!(
            matches!(&e, Some(VenueError::Auth(s)) if s.contains(m)),
            "{e:?}"
        );
    }
    for m in ["This key is disabled.", "Access Denied"] {
        let e = d.classify(403, &HeaderMap::new(), &body(m));
        assert!(matches!(e, Some(VenueError::Auth(_))), "{e:?}");
    }
    // Anything else on 403 is an IP ban: hold everything for an hour.
    let e = d.classify(403, &HeaderMap::new(), "<html>Forbidden</html>");
    assert!(
        matches!(e, Some(VenueError::RateLimited { retry_after }) if retry_after == BAN),
        "{e:?}"
    );
    let e = d.classify(
        400,
        &HeaderMap::new(),
        &body("This request has expired - `expires` is in the past. Current time: 1516534870"),
    );
    assert!(
        matches!(&e, Some(VenueError::Auth(s)) if s.contains("clock")),
        "{e:?}"
    );
    // Ordinary refusals are left to the venue's parser.
    assert!(d
        .classify(400, &HeaderMap::new(), &body("Duplicate clOrdID"))
        .is_none());
    assert!(d.classify(200, &HeaderMap::new(), "[]").is_none());
}
