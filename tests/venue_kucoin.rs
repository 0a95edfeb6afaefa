//! KuCoin Futures behaviour against the loopback server, beyond the shared conformance suite:
//! lots of `multiplier` coins (XBTUSDTM's 0.001 BTC and XRPUSDTM's 10 XRP), the passphrase and
//! key version, the weight pool refusing with 429000 and its reset header, an answer lost after
//! sending, the stream's one-use tokens, leverage and margin-mode rules, and batches.

mod common;

use common::exchange::{Fault, MockExchange, Target};
use common::limits::Limit;
use common::venues::kucoin::{self, KucoinServer};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use trade_engine::domain::{OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{MarginMode, RejectKind, Venue, VenueError, VenueEvent};

fn server() -> KucoinServer {
    KucoinServer::start(MockExchange::new(
        dec!(10000),
        &[
            ("XBTUSDTM", dec!(50000)),
            ("ETHUSDTM", dec!(2500)),
            ("XRPUSDTM", dec!(0.5)),
        ],
    ))
}

fn venue_with(
    s: &KucoinServer,
    secret: Option<&str>,
    params: Value,
) -> (Arc<dyn Venue>, tempfile::TempDir) {
    let account: trade_engine::config::AccountConfig = serde_json::from_value(serde_json::json!({
        "name": "ku", "venue": "kucoin", "credentials": "ku", "rest_url": s.rest_url,
        "timeout_ms": 1500, "params": params,
    }))
    .expect("account");
    let dir = tempfile::tempdir().expect("tempdir");
    let v = trade_engine::venue::build(
        &account,
        Some(&KucoinServer::credential(secret)),
        dir.path(),
    )
    .expect("kucoin venue");
    (v, dir)
}

fn venue(s: &KucoinServer) -> (Arc<dyn Venue>, tempfile::TempDir) {
    venue_with(s, None, serde_json::json!({}))
}

fn order(cid: &str, native: &str, side: Side, lots: Decimal) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.into(),
        native: native.into(),
        side,
        qty: lots,
        kind: OrderKind::Market,
        price: None,
        reduce_only: false,
        leverage: Some(dec!(3)),
        margin_mode: None,
    }
}

fn placements(s: &KucoinServer) -> usize {
    s.exchange
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path_and_query.starts_with("/api/v1/orders"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_are_lots_of_the_multiplier() {
    let s = server();
    let (v, _dir) = venue(&s);
    // XBTUSDTM: one lot is 0.001 BTC, so $10,000 at 50,000 is 200 lots (0.2 BTC), not 0.2.
    let xbt = v.instrument("XBTUSDTM").await.expect("instrument");
    assert_eq!(
        (xbt.contract_value, xbt.lot, xbt.min_qty),
        (dec!(0.001), dec!(1), dec!(1))
    );
    let q = v.quote("XBTUSDTM").await.expect("quote");
    assert_eq!(xbt.usd_per_unit(q.mark, q.quote_to_usd), dec!(50));
    assert_eq!(
        xbt.qty_for_notional(dec!(10000), q.mark, q.quote_to_usd),
        Some(dec!(200))
    );
    // XRPUSDTM: one lot is 10 XRP, so $1,000 at 0.5 is 2,000 XRP = 200 lots; $7 rounds to 1.
    let xrp = v.instrument("XRPUSDTM").await.expect("instrument");
    assert_eq!(xrp.contract_value, dec!(10));
    assert_eq!(
        xrp.qty_for_notional(dec!(1000), dec!(0.5), dec!(1)),
        Some(dec!(200))
    );
    assert_eq!(
        xrp.qty_for_notional(dec!(7), dec!(0.5), dec!(1)),
        Some(dec!(1))
    );

    let ack = v
        .place_order(&order("tekclots1", "XBTUSDTM", Side::Buy, dec!(153)))
        .await
        .expect("place");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(153));
    assert_eq!(
        s.exchange.position("XBTUSDTM"),
        dec!(153),
        "153 lots = 0.153 BTC"
    );
    let body = s.body_of("tekclots1").expect("body");
    assert_eq!(
        body["size"],
        serde_json::json!(153),
        "whole lots as a JSON number"
    );
    v.place_order(&order("tekclots2", "XRPUSDTM", Side::Sell, dec!(20)))
        .await
        .expect("place");
    let positions = v.positions().await.expect("positions");
    let xrp_pos = positions.iter().find(|p| p.native == "XRPUSDTM").unwrap();
    assert_eq!(xrp_pos.qty, dec!(-20), "20 lots short = 200 XRP");
    // A fraction of a lot never reaches the venue.
    let sent = placements(&s);
    let err = v
        .place_order(&order("tekclots3", "XBTUSDTM", Side::Buy, dec!(0.9)))
        .await
        .expect_err("below one lot");
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::InvalidQuantity),
        "{err:?}"
    );
    assert_eq!(placements(&s), sent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_version_three_and_wrong_credentials_are_typed() {
    let s = server();
    let (v, _dir) = venue_with(&s, None, serde_json::json!({"key_version": 3}));
    v.account_value()
        .await
        .expect("version 3 signs the same way");
    assert!(s.exchange.requests().iter().all(|r| r.signature_ok));
    let (bad, _dir) = venue_with(&s, Some("not-the-secret"), serde_json::json!({}));
    let err = bad.account_value().await.expect_err("wrong secret");
    let text = err.to_string();
    assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    // The passphrase is HMAC'd with the secret, so a wrong secret shows as the passphrase.
    assert!(text.contains("400004"), "{text}");
    assert!(text.contains("\"ku\""), "names the account: {text}");
    for secret in ["not-the-secret", kucoin::PASSPHRASE, kucoin::SECRET] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_client_oid_is_a_duplicate_never_a_fill() {
    let s = server();
    let (v, _dir) = venue(&s);
    let req = order("tekcdup1", "XBTUSDTM", Side::Buy, dec!(2));
    v.place_order(&req).await.expect("first");
    let err = v.place_order(&req).await.expect_err("duplicate");
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{err:?}"
    );
    assert_eq!(s.exchange.position("XBTUSDTM"), dec!(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_sending_is_unknown_and_found_by_client_oid() {
    let s = server();
    let (v, _dir) = venue(&s);
    v.instrument("XBTUSDTM").await.expect("warm");
    s.exchange.inject(Target::Place, Fault::AppliedThenReset);
    let err = v
        .place_order(&order("tekcreset1", "XBTUSDTM", Side::Buy, dec!(4)))
        .await
        .expect_err("reset");
    assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
    let found = v
        .order_by_client_id("XBTUSDTM", "tekcreset1")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!(found.qty, Some(dec!(4)));
    assert_eq!(found.side, Some(Side::Buy));
    assert_eq!(placements(&s), 1, "never re-sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_weight_pool_refuses_with_429000_and_the_client_waits_for_the_reset() {
    let s = server();
    let (v, _dir) = venue(&s);
    v.positions().await.expect("a first read");
    let windows = s.exchange.windows();
    windows.enforce(true);
    // Others of this UID spent the pool almost entirely: 1,997 of 2,000 in this window.
    windows
        .admit(&[Limit::new(kucoin::FUTURES_SCOPE, kucoin::POOL, kucoin::WINDOW).cost(1995)])
        .expect("spend");
    // The account overview weighs 5: refused, with the window's reset in milliseconds.
    match v.account_value().await {
        Err(VenueError::RateLimited { retry_after }) => {
            assert!(retry_after > Duration::from_secs(25), "{retry_after:?}")
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(windows.refusals(), vec![kucoin::FUTURES_SCOPE.to_string()]);
    let before = s.exchange.requests().len();
    let err = v.positions().await.expect_err("held until the reset");
    assert!(matches!(err, VenueError::CircuitOpen { .. }), "{err:?}");
    assert_eq!(
        s.exchange.requests().len(),
        before,
        "nothing sent before the reset"
    );
}

async fn next_matching(
    rx: &mut tokio::sync::broadcast::Receiver<VenueEvent>,
    what: &str,
    f: impl Fn(&VenueEvent) -> bool,
) -> VenueEvent {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if f(&e) => return e,
            Ok(_) => {}
            Err(_) => panic!("no {what} in time"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_uses_a_fresh_token_per_connection_and_reports_order_fill_position() {
    let s = server();
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("stream");
    next_matching(&mut rx, "connected", |e| *e == VenueEvent::Connected).await;
    v.place_order(&order("tekcstream1", "XBTUSDTM", Side::Buy, dec!(7)))
        .await
        .expect("place");
    next_matching(
        &mut rx,
        "order",
        |e| matches!(e, VenueEvent::Order { ack, .. } if ack.client_order_id == "tekcstream1"),
    )
    .await;
    let fill = next_matching(&mut rx, "fill", |e| matches!(e, VenueEvent::Fill(_))).await;
    match fill {
        VenueEvent::Fill(f) => {
            assert_eq!((f.qty, f.price, f.side), (dec!(7), dec!(50000), Side::Buy));
            assert_eq!(f.client_order_id.as_deref(), Some("tekcstream1"));
        }
        other => panic!("{other:?}"),
    }
    next_matching(&mut rx, "position", |e| {
        *e == VenueEvent::PositionChanged {
            native: "XBTUSDTM".into(),
            qty: dec!(7),
        }
    })
    .await;
    // Dropped: a new bullet (a new token) before the new connection, subscriptions replayed.
    s.exchange.lock().ws_sessions.push(vec!["__drop__".into()]);
    next_matching(&mut rx, "reconnected", |e| *e == VenueEvent::Connected).await;
    let bullets = s
        .exchange
        .requests()
        .iter()
        .filter(|r| r.path_and_query == "/api/v1/bullet-private")
        .count();
    assert!(bullets >= 2, "one token per connection: {bullets}");
    assert!(s.exchange.lock().ws_logins >= 2);
    let sessions = s.exchange.lock().ws_sessions.clone();
    let last = sessions
        .iter()
        .rev()
        .find(|x| x.first().map(String::as_str) != Some("__drop__"))
        .unwrap();
    let topics: Vec<String> = last
        .iter()
        .filter_map(|f| serde_json::from_str::<Value>(f).ok())
        .filter(|f| f["type"] == "subscribe")
        .map(|f| f["topic"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        topics,
        [
            "/contractMarket/tradeOrders",
            "/contract/positionAll",
            "/contractAccount/wallet"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_leverage_rides_on_the_order_and_waits_for_a_flat_position() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.set_isolated_position("XBTUSDTM", dec!(10), 5);
    let err = v
        .set_leverage("XBTUSDTM", dec!(10))
        .await
        .expect_err("open isolated position");
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::NeedsFlatPosition),
        "{err:?}"
    );
    // Adding keeps the position's own leverage; nothing was closed to change it.
    v.place_order(&order("tekclev1", "XBTUSDTM", Side::Buy, dec!(2)))
        .await
        .expect("add");
    let body = s.body_of("tekclev1").unwrap();
    assert_eq!(
        (body["leverage"].clone(), body["marginMode"].clone()),
        (5.into(), "ISOLATED".into())
    );
    assert_eq!(s.exchange.position("XBTUSDTM"), dec!(12));
    // Flat (closed by the signals): the new leverage applies to the next position.
    s.exchange.set_position("XBTUSDTM", Decimal::ZERO);
    v.set_leverage("XBTUSDTM", dec!(10))
        .await
        .expect("flat now");
    v.place_order(&order("tekclev2", "XBTUSDTM", Side::Buy, dec!(1)))
        .await
        .expect("open");
    assert_eq!(s.body_of("tekclev2").unwrap()["leverage"], 10);
    // Closing orders carry no leverage.
    let mut close = order("tekclev3", "XBTUSDTM", Side::Sell, dec!(1));
    close.reduce_only = true;
    v.place_order(&close).await.expect("close");
    let body = s.body_of("tekclev3").unwrap();
    assert!(body.get("leverage").is_none(), "{body}");
    assert_eq!(body["reduceOnly"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_leverage_uses_its_endpoint_and_margin_mode_is_read_not_assumed() {
    let s = server();
    let (v, _dir) = venue(&s);
    v.set_margin_mode("XBTUSDTM", MarginMode::Cross)
        .await
        .expect("flat: switch");
    v.set_leverage("XBTUSDTM", dec!(7))
        .await
        .expect("cross leverage");
    let posted: Vec<String> = s
        .exchange
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query == "/api/v2/changeCrossUserLeverage")
        .map(|r| r.body)
        .collect();
    assert_eq!(
        posted,
        vec![r#"{"symbol":"XBTUSDTM","leverage":"7"}"#.to_string()]
    );
    v.place_order(&order("tekccross1", "XBTUSDTM", Side::Buy, dec!(3)))
        .await
        .expect("place");
    let body = s.body_of("tekccross1").unwrap();
    assert_eq!(
        (body["marginMode"].clone(), body["leverage"].clone()),
        ("CROSS".into(), 7.into())
    );
    // With a position the switch back needs a flat symbol: refused, typed, nothing changed.
    let err = v
        .set_margin_mode("XBTUSDTM", MarginMode::Isolated)
        .await
        .expect_err("position open");
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::NeedsFlatPosition),
        "{err:?}"
    );
    assert_eq!(s.exchange.position("XBTUSDTM"), dec!(3));
    // Someone switches the mode in the app while flat: the refused order (330005) makes the
    // venue read the mode again, and the next order goes through.
    v.place_order(&order("tekccross1b", "XBTUSDTM", Side::Sell, dec!(3)))
        .await
        .expect("close, in the mode read again: cross");
    assert_eq!(s.body_of("tekccross1b").unwrap()["marginMode"], "CROSS");
    s.exchange.set_position("XBTUSDTM", Decimal::ZERO);
    s.set_margin_mode("XBTUSDTM", "ISOLATED");
    let err = v
        .place_order(&order("tekccross2", "XBTUSDTM", Side::Buy, dec!(1)))
        .await
        .expect_err("stale mode");
    assert_eq!(err.reject_kind(), Some(RejectKind::Other), "{err:?}");
    v.place_order(&order("tekccross3", "XBTUSDTM", Side::Buy, dec!(1)))
        .await
        .expect("mode read again");
    assert_eq!(s.body_of("tekccross3").unwrap()["marginMode"], "ISOLATED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_tell_the_truth() {
    let s = server();
    let (v, _dir) = venue(&s);
    let c = v.capabilities();
    assert!(!c.amend && c.leverage_on_order);
    assert_eq!(c.max_batch_orders, 20);
    let err = v
        .amend_order("XBTUSDTM", "x", Some(dec!(1)), None)
        .await
        .expect_err("no amend");
    assert!(matches!(err, VenueError::Unsupported(_)), "{err:?}");
}

// ---- batches: POST /api/v1/orders/multi ----

fn multi_requests(s: &KucoinServer) -> Vec<String> {
    s.exchange
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query == "/api/v1/orders/multi")
        .map(|r| r.body)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_25_goes_out_as_20_and_5() {
    let s = server();
    let (v, _dir) = venue(&s);
    let reqs: Vec<OrderRequest> = (0..25)
        .map(|i| order(&format!("tekcb{i:02}"), "ETHUSDTM", Side::Buy, dec!(1)))
        .collect();
    let results = v.place_orders(&reqs).await;
    assert_eq!(results.len(), 25);
    for (r, req) in results.iter().zip(&reqs) {
        let ack = r.as_ref().expect("placed");
        assert_eq!(ack.client_order_id, req.client_order_id);
        assert_eq!(ack.status, OrderStatus::Filled);
    }
    let sent = multi_requests(&s);
    let sizes: Vec<usize> = sent
        .iter()
        .map(|b| serde_json::from_str::<Vec<Value>>(b).unwrap().len())
        .collect();
    assert_eq!(sizes, vec![20, 5]);
    assert_eq!(s.exchange.position("ETHUSDTM"), dec!(25));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_or_refused_item_is_that_order_only() {
    let s = server();
    let (v, _dir) = venue(&s);
    v.place_order(&order("tekcbdup", "XBTUSDTM", Side::Buy, dec!(1)))
        .await
        .expect("first");
    let mut reduce = order("tekcbro", "ETHUSDTM", Side::Sell, dec!(1));
    reduce.reduce_only = true; // nothing to reduce on ETHUSDTM
    let reqs = vec![
        order("tekcbok1", "XBTUSDTM", Side::Buy, dec!(2)),
        order("tekcbdup", "XBTUSDTM", Side::Buy, dec!(1)),
        reduce,
        order("tekcbok2", "XRPUSDTM", Side::Buy, dec!(3)),
    ];
    let results = v.place_orders(&reqs).await;
    assert_eq!(results[0].as_ref().expect("ok").filled_qty, dec!(2));
    let dup = results[1].as_ref().expect_err("duplicate");
    assert_eq!(
        dup.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{dup:?}"
    );
    let ro = results[2].as_ref().expect_err("reduce-only refused");
    assert_eq!(ro.reject_kind(), Some(RejectKind::ReduceOnly), "{ro:?}");
    assert_eq!(results[3].as_ref().expect("ok").filled_qty, dec!(3));
    assert_eq!(
        s.exchange.position("XBTUSDTM"),
        dec!(3),
        "the duplicate did not trade"
    );
    assert_eq!(s.exchange.position("XRPUSDTM"), dec!(3));
    assert_eq!(multi_requests(&s).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reset_after_sending_is_unknown_per_item_and_found_by_client_oid() {
    let s = server();
    let (v, _dir) = venue(&s);
    // Warm the caches so that the batch is the next request.
    v.place_order(&order("tekcbwarm", "XBTUSDTM", Side::Buy, dec!(1)))
        .await
        .expect("warm");
    s.exchange.inject(Target::Any, Fault::AppliedThenReset);
    let reqs = vec![
        order("tekcbr1", "XBTUSDTM", Side::Buy, dec!(2)),
        order("tekcbr2", "XBTUSDTM", Side::Sell, dec!(1)),
    ];
    let results = v.place_orders(&reqs).await;
    for r in &results {
        assert!(matches!(r, Err(VenueError::Unknown(_))), "{r:?}");
    }
    for req in &reqs {
        let found = v
            .order_by_client_id("XBTUSDTM", &req.client_order_id)
            .await
            .expect("lookup")
            .expect("applied before the reset");
        assert_eq!(found.side, Some(req.side));
        assert_eq!(found.qty, Some(req.qty));
    }
    assert_eq!(multi_requests(&s).len(), 1, "never re-sent");
    assert_eq!(s.exchange.position("XBTUSDTM"), dec!(2));
}

/// The daemon end to end on the loopback, sizing two multipliers at once: XBTUSDTM (0.001 BTC a
/// lot) and XRPUSDTM (10 XRP a lot). $10,000 × 0.5 = $5,000 each: 0.1 BTC = 100 lots and 10,000
/// XRP = 1,000 lots; then a flip to −0.25 (−50 and −500 lots) and a close.
#[test]
fn the_daemon_sizes_both_multipliers_in_lots() {
    use common::*;
    let s = server();
    let engine = serde_json::json!({
        "accounts": [{"name": "ku", "venue": "kucoin", "credentials": "ku",
                      "rest_url": s.rest_url, "timeout_ms": 3000}],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 50}
    });
    let credentials = serde_json::json!({"ku": {"api_key": kucoin::KEY,
        "api_secret": kucoin::SECRET, "api_passphrase": kucoin::PASSPHRASE}});
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        ("credentials.json", &credentials.to_string()),
        (
            "signal_weights.json",
            r#"[{"symbol": "BTCUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]},
                {"symbol": "XRPUSDT", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        (
            "signals/manual.json",
            r#"{"BTCUSDT": {"depth": 0.5}, "XRPUSDT": {"depth": 0.5}}"#,
        ),
    ]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(
            cfg.path().join("credentials.json"),
            std::fs::Permissions::from_mode(0o600),
        );
    }
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let wait = Duration::from_secs(40);
    d.wait_until("both long, in lots", wait, |_| {
        s.exchange.position("XBTUSDTM") == dec!(100)
            && s.exchange.position("XRPUSDTM") == dec!(1000)
    });
    let st = d.wait_until("status in lots", wait, |st| {
        symbol(st, "ku", "XRPUSDT").is_some_and(|r| dec(&r["position_qty"]) == dec!(1000))
    });
    let row = symbol(&st, "ku", "BTCUSDT").unwrap();
    assert_eq!(row["native_symbol"], "XBTUSDTM");
    assert_eq!(dec(&row["lot"]), dec!(1));
    write(
        cfg.path(),
        "signals/manual.json",
        r#"{"BTCUSDT": {"depth": -0.25}, "XRPUSDT": {"depth": -0.25}}"#,
    );
    d.wait_until("both short", wait, |_| {
        s.exchange.position("XBTUSDTM") == dec!(-50)
            && s.exchange.position("XRPUSDTM") == dec!(-500)
    });
    write(cfg.path(), "signals/manual.json", "{}");
    d.wait_until("both flat", wait, |_| {
        s.exchange.position("XBTUSDTM").is_zero() && s.exchange.position("XRPUSDTM").is_zero()
    });
    assert!(s.exchange.requests().iter().all(|r| r.signature_ok));
    let peak = s.exchange.lock().max_abs_position.clone();
    assert_eq!(
        peak.get("XBTUSDTM"),
        Some(&dec!(100)),
        "never beyond the larger target"
    );
    assert_eq!(peak.get("XRPUSDTM"), Some(&dec!(1000)));
}
