//! MEXC-specific behaviour against the loopback contract-API server, beyond the shared
//! conformance suite: contracts on the wire, side codes per position mode, the documented
//! rate limit (code 510) enforced, a lost answer looked up by `externalOid`, trading switched
//! off (code 1002), the private stream, and `submit_batch` with its permission fallback.

mod common;

use common::exchange::{Fault, MockExchange, Target};
use common::limits::Limit;
use common::venues::mexc::{MexcServer, KEY, SECRET};
use common::venues::Loopback;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trade_engine::domain::{ContractKind, OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{RejectKind, Venue, VenueError, VenueEvent};

fn server() -> MexcServer {
    MexcServer::start(MockExchange::new(
        dec!(10000),
        &[
            ("BTC_USDT", dec!(60000)),
            ("BTC_USD", dec!(60000)),
            ("ETH_USDT", dec!(3000)),
        ],
    ))
}

fn venue(s: &MexcServer) -> (Arc<dyn Venue>, tempfile::TempDir) {
    s.build(1500)
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

/// Bodies of the recorded POSTs to `path`, parsed.
fn posted(s: &MexcServer, path: &str) -> Vec<Value> {
    s.exchange
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query == path)
        .map(|r| serde_json::from_str(&r.body).expect("JSON body"))
        .collect()
}

const CREATE: &str = "/api/v1/private/order/create";
const BATCH: &str = "/api/v1/private/order/submit_batch";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_are_contracts_rounded_down_to_vol_unit() {
    let s = server();
    let (v, _dir) = venue(&s);
    let inst = v.instrument("BTC_USDT").await.unwrap();
    assert_eq!(inst.kind, ContractKind::Linear);
    assert_eq!((inst.contract_value, inst.lot), (dec!(0.0001), dec!(10)));
    // 6,000 USDT at 60,000 is 0.1 BTC: 1,000 contracts of 0.0001 BTC, not 0.1.
    assert_eq!(
        inst.qty_for_notional(dec!(6000), dec!(60000), dec!(1)),
        Some(dec!(1000))
    );
    let inverse = v.instrument("BTC_USD").await.unwrap();
    assert_eq!(inverse.kind, ContractKind::Inverse);
    let ack = v
        .place_order(&order(
            "te00000000000000000000000000sz01",
            "BTC_USDT",
            Side::Buy,
            dec!(1005),
            false,
        ))
        .await
        .unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(1000));
    let body = &posted(&s, CREATE)[0];
    assert_eq!(
        body["vol"], 1000,
        "rounded toward zero to volUnit 10, a JSON number"
    );
    assert_eq!(
        (
            body["side"].as_i64(),
            body["type"].as_i64(),
            body["openType"].as_i64()
        ),
        (Some(1), Some(5), Some(2))
    );
    assert_eq!(body["externalOid"], "te00000000000000000000000000sz01");
    assert!(body.get("reduceOnly").is_none());
    assert_eq!(s.exchange.position("BTC_USDT"), dec!(1000));
    let err = v
        .place_order(&order(
            "te00000000000000000000000000sz02",
            "BTC_USDT",
            Side::Buy,
            dec!(9),
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::InvalidQuantity),
        "{err:?}"
    );
    assert!(v.instrument("DOGE_USDT").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reductions_use_close_codes_in_both_position_modes() {
    let s = server();
    let (v, _dir) = venue(&s);
    // One-way (read from the venue): close long + reduceOnly.
    s.exchange.set_position("BTC_USDT", dec!(500));
    v.place_order(&order(
        "te00000000000000000000000000rd01",
        "BTC_USDT",
        Side::Sell,
        dec!(200),
        true,
    ))
    .await
    .unwrap();
    let body = posted(&s, CREATE).pop().unwrap();
    assert_eq!(body["side"], 4);
    assert_eq!(body["reduceOnly"], true);
    // A reduction bigger than the position never opens the other side.
    v.place_order(&order(
        "te00000000000000000000000000rd02",
        "BTC_USDT",
        Side::Sell,
        dec!(900),
        true,
    ))
    .await
    .unwrap();
    assert_eq!(s.exchange.position("BTC_USDT"), Decimal::ZERO);
    let err = v
        .place_order(&order(
            "te00000000000000000000000000rd03",
            "BTC_USDT",
            Side::Sell,
            dec!(10),
            true,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.reject_kind(), Some(RejectKind::ReduceOnly), "{err:?}");

    // Hedge mode: the account's mode is read again, not assumed; close short, no flag.
    s.set_hedge(true);
    s.exchange.set_position("BTC_USDT", dec!(-300));
    tokio::time::sleep(Duration::from_millis(5100)).await; // past the reduction's mode read
    v.place_order(&order(
        "te00000000000000000000000000rd04",
        "BTC_USDT",
        Side::Buy,
        dec!(100),
        true,
    ))
    .await
    .unwrap();
    let body = posted(&s, CREATE).pop().unwrap();
    assert_eq!(body["side"], 2);
    assert!(
        body.get("reduceOnly").is_none(),
        "hedge mode refuses the flag"
    );
    assert_eq!(s.exchange.position("BTC_USDT"), dec!(-200));
    assert!(s.exchange.requests().iter().all(|r| r.signature_ok));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_external_oid_and_lost_answers() {
    let s = server();
    let (v, _dir) = venue(&s);
    let req = order(
        "te00000000000000000000000000dup1",
        "ETH_USDT",
        Side::Buy,
        dec!(3),
        false,
    );
    v.place_order(&req).await.unwrap();
    let err = v.place_order(&req).await.unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{err:?}"
    );
    assert_eq!(
        s.exchange.position("ETH_USDT"),
        dec!(3),
        "the duplicate did not trade"
    );

    // The order is applied, then the connection drops: unknown, found by externalOid.
    s.exchange.inject(Target::Place, Fault::AppliedThenReset);
    let cid = "te00000000000000000000000000rst1";
    let err = v
        .place_order(&order(cid, "ETH_USDT", Side::Buy, dec!(2), false))
        .await
        .unwrap_err();
    assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
    let found = v
        .order_by_client_id("ETH_USDT", cid)
        .await
        .unwrap()
        .expect("found");
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!((found.side, found.qty), (Some(Side::Buy), Some(dec!(2))));
    assert_eq!(s.exchange.position("ETH_USDT"), dec!(5));
    assert_eq!(
        posted(&s, CREATE)
            .iter()
            .filter(|b| b["externalOid"] == cid)
            .count(),
        1,
        "never re-sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_510_with_enforced_limits_is_typed_and_backed_off() {
    let s = server();
    let (v, _dir) = venue(&s);
    let windows = s.exchange.windows();
    windows.enforce(true);
    // Our own pacing stays under 20 per 2 s on one endpoint.
    for _ in 0..25 {
        v.account_value().await.expect("paced reads");
    }
    assert!(windows.refusals().is_empty(), "{:?}", windows.refusals());
    assert!(windows.peak(&format!("key:{KEY}/account/assets"), Duration::from_secs(2)) <= 20);
    // Another client of the same key spends this endpoint's budget (the venue counts per key
    // and endpoint): the window is filled in the server's own books, at once.
    let scope = format!("key:{KEY}/account/assets");
    // Once our own reads have left the window, so that none of them frees a unit meanwhile.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    while windows
        .admit(&[Limit::new(scope.clone(), 20, Duration::from_secs(2))])
        .is_ok()
    {}
    match v.account_value().await {
        Err(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after >= Duration::from_secs(1), "{retry_after:?}")
        }
        other => panic!(
            "expected RateLimited, got {other:?}; refusals {:?}; scopes {:?}",
            windows.refusals(),
            windows.scopes()
        ),
    }
    let before = s.exchange.requests().len();
    assert!(matches!(
        v.positions().await,
        Err(VenueError::CircuitOpen { .. })
    ));
    assert_eq!(
        s.exchange.requests().len(),
        before,
        "held while backing off"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match v.account_value().await {
            Ok(_) => break,
            Err(e) => assert!(Instant::now() < deadline, "never recovered: {e:?}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trading_disabled_refuses_opening_but_not_closing() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.exchange.set_position("BTC_USDT", dec!(100));
    s.set_trading_disabled(true);
    let err = v
        .place_order(&order(
            "te00000000000000000000000000off1",
            "BTC_USDT",
            Side::Buy,
            dec!(10),
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::TradingDisabled),
        "{err:?}"
    );
    assert!(err.to_string().contains("1002"), "{err}");
    v.place_order(&order(
        "te00000000000000000000000000off2",
        "BTC_USDT",
        Side::Sell,
        dec!(100),
        true,
    ))
    .await
    .expect("closing still goes");
    assert!(s.exchange.position("BTC_USDT").is_zero());
    assert!(v.positions().await.is_ok(), "positions are still read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_without_secrets() {
    let s = server();
    let account: trade_engine::config::AccountConfig =
        serde_json::from_value(s.account("mexc-bad", "cred", 1500)).unwrap();
    let credential = trade_engine::config::Credential {
        api_key: Some(trade_engine::config::Secret::new(KEY)),
        api_secret: Some(trade_engine::config::Secret::new("not-the-secret-xyz")),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let v = trade_engine::venue::build(&account, Some(&credential), dir.path()).unwrap();
    let err = v.account_value().await.unwrap_err();
    assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(text.contains("mexc-bad"), "{text}");
    assert!(
        !text.contains("not-the-secret-xyz") && !text.contains(SECRET) && !text.contains(KEY),
        "{text}"
    );
}

async fn next_matching(
    rx: &mut tokio::sync::broadcast::Receiver<VenueEvent>,
    what: &str,
    f: impl Fn(&VenueEvent) -> bool,
) -> VenueEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if f(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("no {what} in time"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_reports_order_fill_and_position() {
    let s = server();
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("streams");
    next_matching(&mut rx, "login", |e| *e == VenueEvent::Connected).await;
    let cid = "te00000000000000000000000000ws01";
    v.place_order(&order(cid, "BTC_USDT", Side::Buy, dec!(30), false))
        .await
        .unwrap();
    next_matching(&mut rx, "order", |e| matches!(e, VenueEvent::Order { ack, .. } if ack.client_order_id == cid && ack.status == OrderStatus::Filled)).await;
    next_matching(
        &mut rx,
        "fill",
        |e| matches!(e, VenueEvent::Fill(f) if f.qty == dec!(30) && f.side == Side::Buy),
    )
    .await;
    next_matching(&mut rx, "position", |e| {
        *e == VenueEvent::PositionChanged {
            native: "BTC_USDT".into(),
            qty: dec!(30),
        }
    })
    .await;
    let frames = s.exchange.lock().ws_sessions[0].clone();
    let login: Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(login["method"], "login");
    assert!(frames[1].contains("personal.filter"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_keep_every_item_its_own_result() {
    let s = server();
    let (v, _dir) = venue(&s);
    assert_eq!(v.capabilities().max_batch_orders, 50);
    s.extra.lock().unwrap().batch_permission = true;
    v.place_order(&order(
        "te0000000000000000000000000bat00",
        "ETH_USDT",
        Side::Buy,
        dec!(1),
        false,
    ))
    .await
    .unwrap();
    let results = v
        .place_orders(&[
            order(
                "te0000000000000000000000000bat01",
                "BTC_USDT",
                Side::Buy,
                dec!(20),
                false,
            ),
            // Reduce-only on a flat symbol: refused, and only this item.
            order(
                "te0000000000000000000000000bat02",
                "BTC_USD",
                Side::Sell,
                dec!(5),
                true,
            ),
            // The id of an existing order of another size: a duplicate, never its fill.
            order(
                "te0000000000000000000000000bat00",
                "ETH_USDT",
                Side::Buy,
                dec!(4),
                false,
            ),
            order(
                "te0000000000000000000000000bat03",
                "ETH_USDT",
                Side::Sell,
                dec!(2),
                false,
            ),
        ])
        .await;
    assert_eq!(results.len(), 4);
    assert_eq!(results[0].as_ref().unwrap().filled_qty, dec!(20));
    assert_eq!(
        results[1].as_ref().unwrap_err().reject_kind(),
        Some(RejectKind::ReduceOnly)
    );
    assert_eq!(
        results[2].as_ref().unwrap_err().reject_kind(),
        Some(RejectKind::DuplicateClientId)
    );
    assert_eq!(results[3].as_ref().unwrap().status, OrderStatus::Filled);
    assert_eq!(posted(&s, BATCH).len(), 1, "one request");
    assert_eq!(posted(&s, BATCH)[0].as_array().unwrap().len(), 4);
    assert_eq!(s.exchange.position("ETH_USDT"), dec!(-1));

    // The answer is lost after the batch was applied: every item unknown, each found by id,
    // none sent again.
    s.exchange.inject(Target::Place, Fault::AppliedThenReset);
    let lost = [
        order(
            "te0000000000000000000000000bat04",
            "BTC_USDT",
            Side::Buy,
            dec!(10),
            false,
        ),
        order(
            "te0000000000000000000000000bat05",
            "BTC_USDT",
            Side::Buy,
            dec!(10),
            false,
        ),
    ];
    tokio::time::sleep(Duration::from_millis(2600)).await; // the documented 1 per 2 s
    let results = v.place_orders(&lost).await;
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(VenueError::Unknown(_)))),
        "{results:?}"
    );
    for r in &lost {
        let found = v
            .order_by_client_id(&r.native, &r.client_order_id)
            .await
            .unwrap();
        assert_eq!(found.map(|a| a.status), Some(OrderStatus::Filled));
    }
    assert_eq!(s.exchange.position("BTC_USDT"), dec!(40));
    assert_eq!(posted(&s, BATCH).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_without_permission_fall_back_once_and_for_all() {
    let s = server();
    let (v, _dir) = venue(&s);
    let two = |a: &str, b: &str| {
        [
            order(a, "BTC_USDT", Side::Buy, dec!(10), false),
            order(b, "ETH_USDT", Side::Buy, dec!(1), false),
        ]
    };
    let results = v
        .place_orders(&two(
            "te0000000000000000000000000nop01",
            "te0000000000000000000000000nop02",
        ))
        .await;
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|a| a.status == OrderStatus::Filled)),
        "{results:?}"
    );
    assert_eq!(posted(&s, BATCH).len(), 1, "tried once");
    assert_eq!(posted(&s, CREATE).len(), 2, "then one by one");
    let results = v
        .place_orders(&two(
            "te0000000000000000000000000nop03",
            "te0000000000000000000000000nop04",
        ))
        .await;
    assert!(results.iter().all(Result::is_ok));
    assert_eq!(posted(&s, BATCH).len(), 1, "remembered: not tried again");
    assert_eq!(posted(&s, CREATE).len(), 4);
    assert_eq!(s.exchange.position("BTC_USDT"), dec!(20));
}

/// `contract/detail` allows one request per 5 s: an account's contracts come from one answer
/// listing them all, not from a request each (20 symbols took 100 s before the first cycle).
#[tokio::test(flavor = "multi_thread")]
async fn contracts_are_learnt_from_one_list() {
    let s = server();
    let (v, _dir) = venue(&s);
    for native in ["BTC_USDT", "ETH_USDT", "BTC_USD"] {
        v.instrument(native).await.expect(native);
    }
    let eth = v.instrument("ETH_USDT").await.expect("ETH_USDT");
    assert_eq!((eth.lot, eth.contract_value), (dec!(1), dec!(0.01)));
    let details = s
        .exchange
        .requests()
        .iter()
        .filter(|r| r.path_and_query.starts_with("/api/v1/contract/detail"))
        .count();
    assert_eq!(
        details, 1,
        "one contract/detail request for three contracts"
    );
    // A contract the list does not hold is unknown (asked again: it may have been listed since).
    assert!(matches!(
        v.instrument("NOPE_USDT").await,
        Err(VenueError::UnknownSymbol(_))
    ));
}

/// Marks of a cycle's symbols come from one ticker list, not one fair-price request each
/// (each counts against the endpoint's 20 per 2 s and the host's budget).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cycle_reads_every_mark_in_one_ticker_request() {
    let s = server();
    let (v, _dir) = venue(&s);
    let natives = vec!["BTC_USDT".to_string(), "ETH_USDT".to_string()];
    let quotes = v.quotes(&natives).await;
    assert_eq!(quotes.len(), 2);
    for (n, q) in natives.iter().zip(&quotes) {
        let q = q.as_ref().unwrap_or_else(|e| panic!("{n}: {e}"));
        assert_eq!(&q.native, n);
        assert!(q.mark > Decimal::ZERO);
    }
    let paths: Vec<String> = s
        .exchange
        .requests()
        .into_iter()
        .map(|r| r.path_and_query)
        .filter(|p| p.starts_with("/api/v1/contract/"))
        .collect();
    assert_eq!(paths, ["/api/v1/contract/ticker"], "{paths:?}");
}
