//! The HTTP dialect (429, CDN challenge pages and firewall blocks) and wire numbers.

use super::*;
use reqwest::header::HeaderValue;
use rust_decimal_macros::dec;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/blofin/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn limits_are_the_documented_ones() {
    let p = limit_policy();
    assert_eq!((p.ip.count, p.ip.period), (500, Duration::from_secs(60)));
    let trade = p
        .buckets
        .iter()
        .find(|(n, _)| *n == TRADE_BUCKET)
        .unwrap()
        .1;
    assert_eq!((trade.count, trade.period), (30, Duration::from_secs(10)));
    assert_eq!(bucket("/api/v1/trade/order"), TRADE_BUCKET);
    assert_eq!(bucket("/api/v1/trade/order-detail"), TRADE_BUCKET);
    assert_eq!(bucket("/api/v1/account/positions"), "ip");
}

#[test]
fn http_429_holds_at_least_a_minute() {
    let d = BlofinDialect::default();
    let e = d
        .classify(429, &HeaderMap::new(), &fixture("rate_limited.json"))
        .unwrap();
    assert!(
        matches!(e, VenueError::RateLimited { retry_after } if retry_after == RATE_LIMIT_PAUSE)
    );
}

#[test]
fn a_cdn_challenge_page_is_venue_unavailable_and_holds_five_minutes() {
    let d = BlofinDialect::default();
    let limiter = Arc::new(Limiter::new(limit_policy()));
    d.limiter.set(limiter.clone()).ok();
    let mut headers = HeaderMap::new();
    headers.insert("cf-mitigated", HeaderValue::from_static("challenge"));
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    let e = d
        .classify(403, &headers, &fixture("cdn_challenge.html"))
        .expect("classified");
    assert!(
        matches!(&e, VenueError::Transport(m) if m.contains("venue unavailable")),
        "{e:?}"
    );
    assert!(e.is_venue_trouble());
    let held = limiter.open_for().expect("every request held");
    assert!(
        held > Duration::from_secs(290) && held <= FIREWALL_PAUSE,
        "{held:?}"
    );
    // The same page with status 200 is no JSON to parse either.
    assert!(d
        .classify(200, &HeaderMap::new(), &fixture("cdn_challenge.html"))
        .is_some());
}

#[test]
fn a_firewall_403_is_venue_unavailable_not_a_parse_error() {
    let d = BlofinDialect::default();
    let e = d
        .classify(403, &HeaderMap::new(), &fixture("firewall_403.html"))
        .expect("classified");
    assert!(
        matches!(&e, VenueError::Transport(m) if m.contains("firewall")),
        "{e:?}"
    );
    assert!(d
        .classify(200, &HeaderMap::new(), &fixture("order_placed.json"))
        .is_none());
}

#[test]
fn wire_numbers_are_on_the_lot_and_plain() {
    assert_eq!(wire_number(dec!(153.84615), dec!(0.1)), "153.8");
    assert_eq!(wire_number(dec!(31.25), dec!(1)), "31");
    assert_eq!(wire_number(dec!(0.00000001), dec!(0.1)), "0.0");
    assert_eq!(wire_leverage(dec!(10.7)), "10");
    assert_eq!(wire_leverage(dec!(0.5)), "1");
}
