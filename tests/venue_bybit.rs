//! Bybit-specific behaviour against the loopback v5 server, beyond the shared conformance
//! suite: IP bans, the 10006 reset header, exact wire bodies, inverse contracts, cursors,
//! position-mode changes, the order-history fallback, stream events and margin mode.

mod common;

use common::exchange::{Fault, MockExchange, Place, Side as MockSide, Target};
use common::venues::bybit::BybitServer;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::time::Duration;
use trade_engine::domain::{ContractKind, OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{CandleInterval, MarginMode, RejectKind, VenueError, VenueEvent};

fn server() -> BybitServer {
    BybitServer::start(MockExchange::new(
        dec!(10000),
        &[
            ("BTCUSDT", dec!(60000)),
            ("ETHUSDT", dec!(3000)),
            ("BTCUSD", dec!(60000)),
        ],
    ))
}

fn order(cid: &str, native: &str, side: Side, qty: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.into(),
        native: native.into(),
        side,
        qty,
        kind: OrderKind::Market,
        price: None,
        reduce_only: false,
        leverage: None,
        margin_mode: None,
    }
}

/// Bodies of the recorded POSTs to `path`, parsed.
fn posted(s: &BybitServer, path: &str) -> Vec<String> {
    s.exchange
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query == path)
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_ban_403_holds_every_request_for_ten_minutes() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    s.exchange.inject(Target::Read, Fault::Status(403));
    match v.account_value().await {
        Err(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(600), "{retry_after:?}")
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    let before = s.exchange.requests().len();
    let err = v
        .place_order(&order("teban1", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect_err("held");
    match err {
        VenueError::CircuitOpen { remaining } => assert!(remaining > Duration::from_secs(590)),
        other => panic!("expected CircuitOpen, got {other:?}"),
    }
    assert_eq!(
        s.exchange.requests().len(),
        before,
        "nothing sent during the ban"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retcode_10006_waits_until_the_reset_header() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    s.exchange
        .inject(Target::Read, Fault::RateLimit { reset_secs: 7 });
    match v.positions().await {
        Err(VenueError::RateLimited { retry_after }) => assert!(
            retry_after > Duration::from_secs(5) && retry_after <= Duration::from_secs(7),
            "{retry_after:?}"
        ),
        other => panic!("expected RateLimited, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_bodies_on_the_wire() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    v.place_order(&order("tewire1", "BTCUSDT", Side::Buy, dec!(0.25)))
        .await
        .expect("market");
    v.place_order(&OrderRequest {
        reduce_only: true,
        ..order("tewire2", "BTCUSDT", Side::Sell, dec!(0.1))
    })
    .await
    .expect("reduce-only");
    v.place_order(&OrderRequest {
        kind: OrderKind::Limit,
        price: Some(dec!(30000.15)),
        ..order("tewire3", "ETHUSDT", Side::Buy, dec!(1.5))
    })
    .await
    .expect("limit");
    v.set_leverage("BTCUSDT", dec!(2.5))
        .await
        .expect("leverage");
    assert_eq!(
        posted(&s, "/v5/order/create"),
        vec![
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Buy","orderType":"Market","qty":"0.250","orderLinkId":"tewire1"}"#,
            r#"{"category":"linear","symbol":"BTCUSDT","side":"Sell","orderType":"Market","qty":"0.100","reduceOnly":true,"orderLinkId":"tewire2"}"#,
            r#"{"category":"linear","symbol":"ETHUSDT","side":"Buy","orderType":"Limit","qty":"1.50","price":"30000.15","timeInForce":"GTC","orderLinkId":"tewire3"}"#,
        ]
    );
    assert_eq!(
        posted(&s, "/v5/position/set-leverage"),
        vec![
            r#"{"category":"linear","symbol":"BTCUSDT","buyLeverage":"2.5","sellLeverage":"2.5"}"#
        ]
    );
    assert_eq!(s.exchange.position("BTCUSDT"), dec!(0.15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inverse_contracts_are_usd_contracts() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    let inst = v.instrument("BTCUSD").await.expect("instrument");
    assert_eq!(inst.kind, ContractKind::Inverse);
    assert_eq!(inst.lot, dec!(1));
    let q = v.quote("BTCUSD").await.expect("quote");
    assert_eq!(inst.usd_per_unit(q.mark, q.quote_to_usd), dec!(1));
    let ack = v
        .place_order(&order("teinv1", "BTCUSD", Side::Sell, dec!(1000)))
        .await
        .expect("inverse order");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(
        posted(&s, "/v5/order/create"),
        vec![
            r#"{"category":"inverse","symbol":"BTCUSD","side":"Sell","orderType":"Market","qty":"1000","orderLinkId":"teinv1"}"#
        ]
    );
    let positions = v.positions().await.expect("positions");
    let btcusd = positions
        .iter()
        .find(|p| p.native == "BTCUSD")
        .expect("inverse position listed");
    assert_eq!(btcusd.qty, dec!(-1000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_orders_follow_cursors() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    for i in 0..120 {
        s.exchange
            .place(Place {
                native: "ETHUSDT",
                side: MockSide::Buy,
                qty: dec!(0.01),
                client_id: &format!("tepage{i}"),
                reduce_only: false,
                limit_price: Some(dec!(1000)),
                partial: None,
                hold: false,
                hide: false,
            })
            .expect("resting order");
    }
    let open = v.open_orders().await.expect("open orders");
    assert_eq!(open.len(), 120);
    assert!(open
        .iter()
        .all(|o| o.price == Some(dec!(1000)) && o.remaining == dec!(0.01)));
    let requests = s.exchange.requests();
    let pages: Vec<_> = requests
        .iter()
        .filter(|r| {
            r.path_and_query
                .starts_with("/v5/order/realtime?category=linear&settleCoin=USDT")
        })
        .collect();
    assert_eq!(pages.len(), 3, "50 + 50 + 20");
    assert!(pages[1].path_and_query.contains("cursor=offset%253D50"));
    assert!(requests.iter().all(|r| r.signature_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn position_mode_is_relearnt_when_the_venue_disagrees() {
    let s = server();
    s.set_hedge(true);
    let (v, _dir) = s.venue(2000);
    v.place_order(&order("temode1", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect("hedge order");
    assert!(posted(&s, "/v5/order/create")[0].contains(r#""positionIdx":1"#));
    s.set_hedge(false);
    let err = v
        .place_order(&order("temode2", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect_err("stale mode");
    assert_eq!(err.reject_kind(), Some(RejectKind::Other), "{err:?}");
    assert!(err.to_string().contains("position idx"), "{err}");
    v.place_order(&order("temode3", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect("one-way order after relearning");
    assert!(!posted(&s, "/v5/order/create")[2].contains("positionIdx"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_falls_back_to_order_history() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    v.place_order(&order("tehist1", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect("order");
    s.extra.lock().unwrap().realtime_forgets_closed = true;
    let ack = v
        .order_by_client_id("BTCUSDT", "tehist1")
        .await
        .expect("lookup")
        .expect("found in history");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert!(s
        .exchange
        .requests()
        .iter()
        .any(|r| r.path_and_query.starts_with("/v5/order/history?")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_naming_the_account() {
    let s = server();
    let (v, _dir) = s.venue_with_secret(2000, "not-the-secret");
    let err = v.account_value().await.expect_err("bad signature");
    assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("bybit account \"loopback\"") && text.contains("10004"),
        "{text}"
    );
    assert!(s.exchange.requests().iter().all(|r| !r.signature_ok));
}

async fn next(
    rx: &mut tokio::sync::broadcast::Receiver<VenueEvent>,
    deadline: tokio::time::Instant,
) -> VenueEvent {
    tokio::time::timeout_at(deadline, rx.recv())
        .await
        .expect("event in time")
        .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reports_fills_and_net_positions() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    let mut rx = v.subscribe().expect("stream");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while next(&mut rx, deadline).await != VenueEvent::Connected {}
    s.exchange.set_position("BTCUSDT", dec!(0.5));
    v.place_order(&order("testream1", "BTCUSDT", Side::Sell, dec!(0.2)))
        .await
        .expect("order");
    let (mut fill, mut position) = (None, None);
    while fill.is_none() || position.is_none() {
        match next(&mut rx, deadline).await {
            VenueEvent::Fill(f) => fill = Some(f),
            VenueEvent::PositionChanged { native, qty } if native == "BTCUSDT" => {
                position = Some(qty)
            }
            _ => {}
        }
    }
    let fill = fill.unwrap();
    assert_eq!(fill.client_order_id.as_deref(), Some("testream1"));
    assert_eq!(
        (fill.side, fill.qty, fill.price),
        (Side::Sell, dec!(0.2), dec!(60000))
    );
    assert_eq!(position, Some(dec!(0.3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn margin_mode_is_account_wide_and_portfolio_margin_counts_as_cross() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    s.extra.lock().unwrap().margin_mode = "PORTFOLIO_MARGIN".into();
    v.set_margin_mode("BTCUSDT", MarginMode::Cross)
        .await
        .expect("cross");
    assert!(
        posted(&s, "/v5/account/set-margin-mode").is_empty(),
        "PM is not downgraded"
    );
    v.set_margin_mode("ETHUSDT", MarginMode::Isolated)
        .await
        .expect("isolated");
    assert_eq!(
        posted(&s, "/v5/account/set-margin-mode"),
        vec![r#"{"setMarginMode":"ISOLATED_MARGIN"}"#]
    );
    assert_eq!(s.extra.lock().unwrap().margin_mode, "ISOLATED_MARGIN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn candles_come_oldest_first() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    let candles = v
        .candles("ETHUSDT", CandleInterval::M5, 12)
        .await
        .expect("candles");
    assert_eq!(candles.len(), 12);
    for pair in candles.windows(2) {
        assert_eq!((pair[1].open_time - pair[0].open_time).num_seconds(), 300);
    }
    assert_eq!(candles[11].close, dec!(3000));
    let kline = s
        .exchange
        .requests()
        .into_iter()
        .find(|r| r.path_and_query.starts_with("/v5/market/kline"))
        .expect("kline request");
    assert_eq!(
        kline.path_and_query,
        "/v5/market/kline?category=linear&symbol=ETHUSDT&interval=5&limit=12"
    );
}

/// Requests to `order/create-batch`, and the single creates.
fn creates(s: &BybitServer) -> (usize, usize) {
    let requests = s.exchange.requests();
    let count = |path: &str| {
        requests
            .iter()
            .filter(|r| r.method == "POST" && r.path_and_query == path)
            .count()
    };
    (count("/v5/order/create-batch"), count("/v5/order/create"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_of_several_symbols_go_in_one_batch_linear_and_inverse_apart() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    assert_eq!(v.capabilities().max_batch_orders, 20);
    let results = v
        .place_orders(&[
            order("tebatch-a", "BTCUSDT", Side::Buy, dec!(0.01)),
            order("tebatch-b", "ETHUSDT", Side::Sell, dec!(0.5)),
            order("tebatch-c", "BTCUSD", Side::Buy, dec!(100)),
        ])
        .await;
    for (r, cid) in results.iter().zip(["tebatch-a", "tebatch-b", "tebatch-c"]) {
        let ack = r.as_ref().expect("accepted");
        assert_eq!(ack.client_order_id, cid);
        assert_eq!(ack.status, OrderStatus::Filled);
    }
    assert_eq!(s.exchange.position("ETHUSDT"), dec!(-0.5));
    assert_eq!(s.exchange.position("BTCUSD"), dec!(100));
    // One batch per category; the items carry no category of their own.
    assert_eq!(creates(&s), (2, 0));
    let batches = posted(&s, "/v5/order/create-batch");
    let linear: serde_json::Value = serde_json::from_str(&batches[0]).unwrap();
    assert_eq!(linear["category"], "linear");
    assert_eq!(linear["request"].as_array().unwrap().len(), 2);
    assert!(linear["request"][0].get("category").is_none(), "{linear}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_item_is_that_orders_duplicate_and_the_others_go_through() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    v.place_order(&order("tedup-1", "BTCUSDT", Side::Buy, dec!(0.01)))
        .await
        .expect("first");
    let results = v
        .place_orders(&[
            order("tedup-1", "BTCUSDT", Side::Buy, dec!(0.01)),
            order("tedup-2", "ETHUSDT", Side::Buy, dec!(0.1)),
        ])
        .await;
    assert!(
        matches!(
            &results[0],
            Err(e) if e.reject_kind() == Some(RejectKind::DuplicateClientId)
        ),
        "{:?}",
        results[0]
    );
    assert_eq!(
        results[1].as_ref().expect("other item").status,
        OrderStatus::Filled
    );
    assert_eq!(s.exchange.position("BTCUSDT"), dec!(0.01), "never twice");
    assert_eq!(s.exchange.position("ETHUSDT"), dec!(0.1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_item_is_a_refusal_of_that_symbol_only() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    s.extra
        .lock()
        .unwrap()
        .no_margin_for
        .insert("ETHUSDT".into());
    let results = v
        .place_orders(&[
            order("terefuse-1", "ETHUSDT", Side::Buy, dec!(0.1)),
            order("terefuse-2", "BTCUSDT", Side::Buy, dec!(0.01)),
        ])
        .await;
    assert!(
        matches!(
            &results[0],
            Err(e) if e.reject_kind() == Some(RejectKind::InsufficientFunds)
        ),
        "{:?}",
        results[0]
    );
    assert_eq!(
        results[1].as_ref().expect("BTC item").status,
        OrderStatus::Filled
    );
    assert_eq!(s.exchange.position("ETHUSDT"), Decimal::ZERO);
    assert_eq!(s.exchange.position("BTCUSDT"), dec!(0.01));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reset_after_sending_leaves_every_item_unknown_and_nothing_is_sent_again() {
    let s = server();
    let (v, _dir) = s.venue(2000);
    s.exchange.inject(Target::Place, Fault::AppliedThenReset);
    let results = v
        .place_orders(&[
            order("tereset-1", "BTCUSDT", Side::Buy, dec!(0.01)),
            order("tereset-2", "ETHUSDT", Side::Buy, dec!(0.1)),
        ])
        .await;
    for r in &results {
        assert!(matches!(r, Err(VenueError::Unknown(_))), "{r:?}");
    }
    assert_eq!(creates(&s), (1, 0), "the batch was sent once, never again");
    // Each is found by its client id, as the executor looks unknown orders up.
    for (cid, native) in [("tereset-1", "BTCUSDT"), ("tereset-2", "ETHUSDT")] {
        let found = v
            .order_by_client_id(native, cid)
            .await
            .expect("lookup")
            .expect("the venue has it");
        assert_eq!(found.status, OrderStatus::Filled);
    }
    assert_eq!(creates(&s), (1, 0));
    assert_eq!(s.exchange.position("BTCUSDT"), dec!(0.01));
}

/// Batches and single orders are metered in separate buckets of 10 a second: 20 orders at
/// once go out as a batch of 10 beside 10 single orders, within both limits, all filled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_spreads_over_the_batch_and_the_single_order_buckets() {
    let natives: Vec<String> = (1..=20).map(|i| format!("BENCH{i}USDT")).collect();
    let marks: Vec<(&str, Decimal)> = natives.iter().map(|n| (n.as_str(), dec!(100))).collect();
    let s = BybitServer::start(MockExchange::new(dec!(100000), &marks));
    let (v, _dir) = s.venue(5000);
    let orders: Vec<OrderRequest> = natives
        .iter()
        .enumerate()
        .map(|(i, n)| order(&format!("teburst{i:025}"), n, Side::Buy, dec!(1)))
        .collect();
    let results = v.place_orders(&orders).await;
    for (o, r) in orders.iter().zip(&results) {
        let ack = r
            .as_ref()
            .unwrap_or_else(|e| panic!("{}: {e}", o.client_order_id));
        assert_eq!(ack.status, OrderStatus::Filled, "{}", o.client_order_id);
    }
    let batched: usize = posted(&s, "/v5/order/create-batch")
        .iter()
        .map(|b| {
            let v: serde_json::Value = serde_json::from_str(b).unwrap();
            v["request"].as_array().map_or(0, Vec::len)
        })
        .sum();
    let single = posted(&s, "/v5/order/create").len();
    assert_eq!((batched, single), (10, 10), "both buckets used");
    assert!(s.exchange.windows().refusals().is_empty());
    for n in &natives {
        assert_eq!(s.exchange.position(n), dec!(1), "{n}");
    }
}
