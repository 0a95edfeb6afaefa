//! BloFin-specific behaviour against the loopback server, beyond the shared conformance
//! suite: sizes in contracts on the wire, duplicates, an unknown outcome looked up by client
//! id, the documented rate limits enforced and backed off, the CDN in front of the API, hedge
//! mode refused, leverage per instrument and margin mode, the private stream, and no secret in
//! any error.

mod common;

use common::exchange::{Fault, MockExchange, Target};
use common::limits::Limit;
use common::venues::blofin::{BlofinServer, Cdn, KEY, PASSPHRASE, SECRET};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::time::Duration;
use trade_engine::domain::{OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{RejectKind, Venue, VenueError, VenueEvent};

fn server() -> BlofinServer {
    BlofinServer::start(MockExchange::new(
        dec!(10000),
        &[("BTC-USDT", dec!(60000)), ("SOL-USDT", dec!(150))],
    ))
}

fn venue(s: &BlofinServer) -> (std::sync::Arc<dyn Venue>, tempfile::TempDir) {
    s.venue_with_secret(2000, SECRET)
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
fn posted(s: &BlofinServer, path: &str) -> Vec<Value> {
    s.exchange
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query == path)
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_go_out_in_contracts_on_the_lot_with_net_side_and_string_flags() {
    let s = server();
    let (v, _dir) = venue(&s);
    let inst = v.instrument("SOL-USDT").await.expect("instrument");
    assert_eq!((inst.contract_value, inst.lot), (dec!(1), dec!(0.1)));
    let ack = v
        .place_order(&order(
            "teblofinwire0000000000000000001",
            "SOL-USDT",
            Side::Buy,
            dec!(12.37),
        ))
        .await
        .expect("order");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(12.3), "rounded toward zero to the lot");
    let mut reduce = order(
        "teblofinwire0000000000000000002",
        "SOL-USDT",
        Side::Sell,
        dec!(2),
    );
    reduce.reduce_only = true;
    v.place_order(&reduce).await.expect("reduce-only");
    let bodies = posted(&s, "/api/v1/trade/order");
    assert_eq!(
        bodies[0],
        serde_json::json!({"instId": "SOL-USDT", "marginMode": "cross", "positionSide": "net",
            "side": "buy", "orderType": "market", "size": "12.3", "reduceOnly": "false",
            "clientOrderId": "teblofinwire0000000000000000001"})
    );
    assert_eq!(bodies[1]["reduceOnly"], "true");
    assert_eq!(bodies[1]["size"], "2.0");
    assert_eq!(s.exchange.position("SOL-USDT"), dec!(10.3));
    assert!(s.exchange.requests().iter().all(|r| r.signature_ok));
    let e = v
        .place_order(&order(
            "teblofinwire0000000000000000003",
            "SOL-USDT",
            Side::Buy,
            dec!(0.05),
        ))
        .await
        .expect_err("below one lot");
    assert_eq!(e.reject_kind(), Some(RejectKind::InvalidQuantity), "{e:?}");
    assert_eq!(posted(&s, "/api/v1/trade/order").len(), 2, "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_client_id_is_a_duplicate_never_a_fill() {
    let s = server();
    let (v, _dir) = venue(&s);
    let req = order(
        "teblofindup00000000000000000001",
        "BTC-USDT",
        Side::Buy,
        dec!(5),
    );
    v.place_order(&req).await.expect("first");
    let e = v.place_order(&req).await.expect_err("duplicate");
    assert_eq!(
        e.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{e:?}"
    );
    assert!(e.to_string().contains("102002"), "{e}");
    assert_eq!(s.exchange.position("BTC-USDT"), dec!(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_after_sending_is_unknown_and_the_order_is_found_by_client_id() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.exchange.inject(Target::Place, Fault::AppliedThenReset);
    let cid = "teblofinreset000000000000000001";
    let e = v
        .place_order(&order(cid, "BTC-USDT", Side::Sell, dec!(3)))
        .await
        .expect_err("reset");
    assert!(matches!(e, VenueError::Unknown(_)), "{e:?}");
    let found = v
        .order_by_client_id("BTC-USDT", cid)
        .await
        .expect("lookup")
        .expect("the order exists");
    assert_eq!(found.status, OrderStatus::Filled);
    assert_eq!((found.side, found.qty), (Some(Side::Sell), Some(dec!(3))));
    assert_eq!(posted(&s, "/api/v1/trade/order").len(), 1, "never re-sent");
    assert!(v
        .order_by_client_id("BTC-USDT", "teblofinnever000000000000000001")
        .await
        .expect("lookup")
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trading_limit_is_kept_and_a_429_holds_only_the_trading_bucket() {
    let s = server();
    let (v, _dir) = venue(&s);
    // Lookups are trading endpoints (30 per 10 s per user): 35 of them are paced, not refused.
    for _ in 0..35 {
        v.order_by_client_id("BTC-USDT", "teblofinrate0000000000000000001")
            .await
            .expect("paced under the limit");
    }
    assert_eq!(s.exchange.windows().refusals(), Vec::<String>::new());
    // Another process on the same key (or this one before a restart) used the window up.
    let trade = format!("uid:{KEY}/trade");
    let windows = s.exchange.windows();
    windows.enforce(false);
    let _ = windows.admit(&[Limit::new(trade.clone(), 30, Duration::from_secs(10)).cost(30)]);
    windows.enforce(true);
    let e = v
        .order_by_client_id("BTC-USDT", "teblofinrate0000000000000000001")
        .await
        .expect_err("BloFin's limit was reached");
    match e {
        VenueError::RateLimited { retry_after } => {
            assert_eq!(
                retry_after,
                Duration::from_secs(10),
                "no reset header: the trading window"
            )
        }
        other => panic!("expected RateLimited, got {other:?}"),
    }
    assert_eq!(s.exchange.windows().refusals(), vec![trade]);
    let sent = s.exchange.requests().len();
    let e = v
        .order_by_client_id("BTC-USDT", "teblofinrate0000000000000000001")
        .await
        .expect_err("held");
    assert!(matches!(e, VenueError::CircuitOpen { .. }), "{e:?}");
    assert_eq!(s.exchange.requests().len(), sent, "nothing sent while held");
    // Reads outside the trading bucket still go: only the refused scope is held.
    v.account_value().await.expect("the account is still read");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cdn_challenge_is_venue_unavailable_and_holds_every_request() {
    for kind in [Cdn::Challenge, Cdn::Firewall] {
        let s = server();
        let (v, _dir) = venue(&s);
        s.cdn_block(kind, 1);
        let e = v.account_value().await.expect_err("blocked");
        assert!(
            matches!(&e, VenueError::Transport(m) if m.contains("venue unavailable")),
            "{kind:?}: {e:?}"
        );
        assert!(e.is_venue_trouble());
        let sent = s.exchange.requests().len();
        match v.positions().await.expect_err("held") {
            VenueError::CircuitOpen { remaining } => {
                assert!(remaining > Duration::from_secs(240), "{remaining:?}")
            }
            other => panic!("{kind:?}: expected CircuitOpen, got {other:?}"),
        }
        assert_eq!(s.exchange.requests().len(), sent, "nothing sent while held");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hedge_mode_is_refused_with_a_clear_error() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.set_hedge(true);
    s.exchange.set_position("BTC-USDT", dec!(4));
    let e = v.positions().await.expect_err("hedge");
    assert!(
        matches!(&e, VenueError::Unsupported(m) if m.contains("hedge mode")),
        "{e:?}"
    );
    let e = v
        .place_order(&order(
            "teblofinhedge000000000000000001",
            "BTC-USDT",
            Side::Buy,
            dec!(1),
        ))
        .await
        .expect_err("hedge");
    assert!(e.to_string().contains("One-way"), "{e}");
    assert!(posted(&s, "/api/v1/trade/order").is_empty(), "nothing sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leverage_is_set_per_instrument_and_margin_mode_once() {
    let s = server();
    let (v, _dir) = venue(&s);
    v.set_leverage("BTC-USDT", dec!(5)).await.expect("set");
    v.set_leverage("BTC-USDT", dec!(5)).await.expect("same");
    let sets = posted(&s, "/api/v1/account/set-leverage");
    assert_eq!(
        sets,
        vec![serde_json::json!({"instId": "BTC-USDT", "leverage": "5", "marginMode": "cross"})]
    );
    v.set_margin_mode("BTC-USDT", trade_engine::venue::MarginMode::Isolated)
        .await
        .expect("mode");
    v.set_leverage("BTC-USDT", dec!(5)).await.expect("isolated");
    assert_eq!(posted(&s, "/api/v1/account/set-leverage").len(), 2);
    v.place_order(&order(
        "teblofiniso00000000000000000001",
        "BTC-USDT",
        Side::Buy,
        dec!(1),
    ))
    .await
    .expect("order");
    assert_eq!(
        posted(&s, "/api/v1/trade/order")[0]["marginMode"],
        "isolated"
    );
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
async fn the_stream_delivers_orders_fills_and_positions() {
    let s = server();
    s.exchange.set_position("BTC-USDT", dec!(7));
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("stream");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    // The positions snapshot comes with the subscription.
    let mut snapshot = None;
    loop {
        match next(&mut rx, deadline).await {
            VenueEvent::PositionChanged { native, qty } if native == "BTC-USDT" => {
                snapshot = Some(qty)
            }
            VenueEvent::Connected => break,
            _ => {}
        }
    }
    let cid = "teblofinstream00000000000000001";
    v.place_order(&order(cid, "BTC-USDT", Side::Sell, dec!(2)))
        .await
        .expect("order");
    let (mut filled, mut fill, mut position) = (false, None, None);
    while !filled || fill.is_none() || position != Some(dec!(5)) {
        match next(&mut rx, deadline).await {
            VenueEvent::Order { ack, .. } if ack.client_order_id == cid => {
                filled |= ack.status == OrderStatus::Filled
            }
            VenueEvent::Fill(f) => fill = Some(f),
            VenueEvent::PositionChanged { native, qty } if native == "BTC-USDT" => {
                if snapshot.is_none() {
                    snapshot = Some(qty);
                }
                position = Some(qty)
            }
            _ => {}
        }
    }
    assert_eq!(snapshot, Some(dec!(7)), "snapshot on subscribe");
    let fill = fill.unwrap();
    assert_eq!(fill.client_order_id.as_deref(), Some(cid));
    assert_eq!(
        (fill.side, fill.qty, fill.price),
        (Side::Sell, dec!(2), dec!(60000))
    );
    let logins = s.exchange.lock().ws_sessions[0].clone();
    let login: Value = serde_json::from_str(&logins[0]).unwrap();
    assert_eq!(login["args"][0]["passphrase"], PASSPHRASE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_an_auth_error_without_any_secret_in_it() {
    let s = server();
    let (v, _dir) = s.venue_with_secret(2000, "not-the-secret");
    let e = v.account_value().await.expect_err("refused");
    assert!(matches!(e, VenueError::Auth(_)), "{e:?}");
    let text = format!("{e} {e:?}");
    assert!(text.contains("\"loopback\""), "names the account: {text}");
    for secret in ["not-the-secret", PASSPHRASE, KEY] {
        assert!(!text.contains(secret), "{text}");
    }
    assert!(s.exchange.requests().iter().all(|r| !r.signature_ok));
}

/// With the private stream up, an order's fill comes from its push: no `order-detail`
/// lookup spends BloFin's trading budget (30 per 10 s, shared with the orders themselves).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_pushed_on_the_stream_spares_the_lookup() {
    let s = server();
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("stream");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !matches!(next(&mut rx, deadline).await, VenueEvent::Connected) {}
    let lookups = || {
        s.exchange
            .requests()
            .iter()
            .filter(|r| r.path_and_query.starts_with("/api/v1/trade/order-detail"))
            .count()
    };
    // The first order lets the venue see the stream connected; the second must not look up.
    v.place_order(&order(
        "teblofinpush0000000000000000001",
        "BTC-USDT",
        Side::Buy,
        dec!(1),
    ))
    .await
    .expect("order");
    let before = lookups();
    let ack = v
        .place_order(&order(
            "teblofinpush0000000000000000002",
            "BTC-USDT",
            Side::Buy,
            dec!(1),
        ))
        .await
        .expect("order");
    assert_eq!(ack.status, OrderStatus::Filled);
    assert_eq!(ack.filled_qty, dec!(1));
    assert_eq!(lookups(), before, "the push said the fill: no lookup");
}
