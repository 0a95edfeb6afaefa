//! BitMEX-specific checks over the loopback server: inverse and quanto sizing with live marks,
//! XBt margin valued in USD, the exact query bytes on the wire, bans, bad secrets, candles and
//! private stream events. The generic checks live in tests/conformance.rs.

mod common;

use common::exchange::MockExchange;
use common::venues::bitmex::{self, BitmexServer};
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use trade_engine::config::{AccountConfig, Credential, Secret};
use trade_engine::domain::{ContractKind, OrderKind, OrderRequest, Side};
use trade_engine::venue::{CandleInterval, Venue, VenueError, VenueEvent};

fn server() -> BitmexServer {
    bitmex::start(MockExchange::new(
        dec!(100000),
        &[
            ("XBTUSDT", dec!(50000)),
            ("XBTUSD", dec!(50000)),
            ("ETHUSD", dec!(2500)),
        ],
    ))
}

fn venue_with(server: &BitmexServer, credential: &Credential) -> Arc<dyn Venue> {
    let account: AccountConfig = serde_json::from_value(serde_json::json!({
        "name": "bm-test",
        "venue": "bitmex",
        "credentials": "bm",
        "rest_url": format!("{}/api/v1", server.rest_url),
        "ws_url": server.ws_url,
        "timeout_ms": 2000,
    }))
    .unwrap();
    trade_engine::venue::build(&account, Some(credential), &std::env::temp_dir()).unwrap()
}

fn venue(server: &BitmexServer) -> Arc<dyn Venue> {
    venue_with(server, &server.credential())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inverse_xbtusd_sizes_in_usd_contracts() {
    let s = server();
    let v = venue(&s);
    let inst = v.instrument("XBTUSD").await.unwrap();
    assert_eq!(inst.kind, ContractKind::Inverse);
    assert_eq!((inst.contract_value, inst.lot), (dec!(1), dec!(100)));
    let q = v.quote("XBTUSD").await.unwrap();
    assert_eq!((q.mark, q.quote_to_usd), (dec!(50000), dec!(1)));
    assert_eq!(
        inst.qty_for_notional(dec!(12345), q.mark, q.quote_to_usd),
        Some(dec!(12300))
    );
    // One contract stays one dollar when the price moves.
    s.exchange().set_mark("XBTUSD", dec!(20000));
    let q = v.quote("XBTUSD").await.unwrap();
    assert_eq!(q.mark, dec!(20000));
    assert_eq!(
        inst.qty_for_notional(dec!(-12345), q.mark, q.quote_to_usd),
        Some(dec!(-12300))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quanto_ethusd_converts_through_the_xbt_mark() {
    let s = server();
    let v = venue(&s);
    let inst = v.instrument("ETHUSD").await.unwrap();
    assert_eq!(inst.kind, ContractKind::Quanto);
    assert_eq!(inst.contract_value, dec!(0.000001));
    let q = v.quote("ETHUSD").await.unwrap();
    assert_eq!((q.mark, q.quote_to_usd), (dec!(2500), dec!(50000)));
    assert_eq!(
        inst.qty_for_notional(dec!(12345), q.mark, q.quote_to_usd),
        Some(dec!(98))
    );
    // XBT halves: each contract is worth half as many dollars.
    s.exchange().set_mark("XBTUSD", dec!(25000));
    let q = v.quote("ETHUSD").await.unwrap();
    assert_eq!(q.quote_to_usd, dec!(25000));
    assert_eq!(
        inst.qty_for_notional(dec!(12345), q.mark, q.quote_to_usd),
        Some(dec!(197))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linear_xbtusdt_sheet_example_over_the_wire() {
    let s = server();
    let v = venue(&s);
    let inst = v.instrument("XBTUSDT").await.unwrap();
    let q = v.quote("XBTUSDT").await.unwrap();
    assert_eq!(q.quote_to_usd, dec!(1));
    assert_eq!(
        inst.qty_for_notional(dec!(12345), q.mark, q.quote_to_usd),
        Some(dec!(246000))
    );
    assert_eq!(inst.max_qty, Some(dec!(1000000000)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_value_adds_xbt_margin_at_the_mark() {
    let s = server();
    let v = venue(&s);
    assert_eq!(v.account_value().await.unwrap().equity_usd, dec!(100000));
    s.set_xbt_margin(dec!(150000000)); // 1.5 XBT in satoshis
    assert_eq!(v.account_value().await.unwrap().equity_usd, dec!(175000));
    s.exchange().set_mark("XBTUSD", dec!(60000));
    assert_eq!(v.account_value().await.unwrap().equity_usd, dec!(190000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_go_out_exactly_as_signed() {
    let s = server();
    let v = venue(&s);
    v.open_orders().await.unwrap();
    v.order_by_client_id("XBTUSDT", "te-lookup").await.unwrap();
    let log = s.exchange().requests();
    let paths: Vec<&str> = log.iter().map(|r| r.path_and_query.as_str()).collect();
    assert!(
        paths.contains(&"/api/v1/order?filter=%7B%22open%22%3Atrue%7D&count=500"),
        "{paths:?}"
    );
    assert!(
        paths.contains(
            &"/api/v1/order?symbol=XBTUSDT&filter=%7B%22clOrdID%22%3A%22te-lookup%22%7D&count=10&reverse=true"
        ),
        "{paths:?}"
    );
    assert!(log.iter().all(|r| r.signature_ok), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_naming_the_cause() {
    let s = server();
    let wrong = Credential {
        api_key: Some(Secret::new(bitmex::KEY)),
        api_secret: Some(Secret::new("not-the-secret")),
        ..Default::default()
    };
    let err = venue_with(&s, &wrong).positions().await.unwrap_err();
    match err {
        VenueError::Auth(m) => assert!(m.contains("Signature not valid."), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(s.exchange().requests().iter().all(|r| !r.signature_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_is_treated_as_an_hour_long_ip_ban() {
    let s = server();
    let v = venue(&s);
    s.exchange().inject(
        common::exchange::Target::Read,
        common::exchange::Fault::Status(403),
    );
    match v.positions().await {
        Err(VenueError::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Duration::from_secs(3600))
        }
        other => panic!("{other:?}"),
    }
    let sent = s.exchange().requests().len();
    match v.account_value().await {
        Err(VenueError::CircuitOpen { remaining }) => {
            assert!(remaining > Duration::from_secs(3500), "{remaining:?}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.exchange().requests().len(),
        sent,
        "nothing sent while banned"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_are_oldest_first_and_open_one_bin_before_the_stamp() {
    let s = server();
    let v = venue(&s);
    let candles = v.candles("XBTUSDT", CandleInterval::M5, 3).await.unwrap();
    assert_eq!(candles.len(), 3);
    assert!(candles
        .windows(2)
        .all(|w| w[1].open_time - w[0].open_time == chrono::Duration::seconds(300)));
    let last_close = {
        let now = chrono::Utc::now().timestamp();
        now - now.rem_euclid(300)
    };
    // The newest bin closes at the last 5-minute boundary, so it opened 5 minutes earlier
    // (allowing for a boundary passing during the test).
    let opened = candles[2].open_time.timestamp();
    assert!(
        opened == last_close - 300 || opened == last_close - 600,
        "{opened} vs {last_close}"
    );
    assert_eq!(candles[0].close, dec!(50000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_reports_fills_and_position_changes() {
    let s = server();
    let v = venue(&s);
    let mut rx = v.subscribe().expect("bitmex streams");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::timeout_at(deadline, rx.recv())
        .await
        .unwrap()
        .unwrap()
        != VenueEvent::Connected
    {}
    // `Connected` follows the sending of the subscription, not its acknowledgement, and rows
    // before a table's partial are discarded by design: retry if the first order was missed.
    let mut fill = None;
    let mut position = None;
    for attempt in 0..3 {
        fill = None;
        position = None;
        v.place_order(&OrderRequest {
            client_order_id: format!("te-stream-{attempt}"),
            native: "XBTUSD".into(),
            side: Side::Sell,
            qty: dec!(300),
            kind: OrderKind::Market,
            price: None,
            reduce_only: false,
            leverage: None,
            margin_mode: None,
        })
        .await
        .unwrap();
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(event)) = tokio::time::timeout_at(until, rx.recv()).await {
            match event {
                VenueEvent::Fill(f) => fill = Some(f),
                VenueEvent::PositionChanged { native, qty } => position = Some((native, qty)),
                _ => {}
            }
            if fill.is_some() && position.is_some() {
                break;
            }
        }
        if fill.is_some() && position.is_some() {
            break;
        }
    }
    let fill = fill.expect("a fill event");
    assert_eq!(
        (fill.native.as_str(), fill.side, fill.qty),
        ("XBTUSD", Side::Sell, dec!(300))
    );
    assert_eq!(fill.price, dec!(50000));
    let (native, qty) = position.expect("a position event");
    assert_eq!(native, "XBTUSD");
    assert_eq!(qty, s.exchange().position("XBTUSD"));
    assert!(qty < dec!(0));
}
