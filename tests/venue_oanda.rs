//! OANDA-specific behaviour against the loopback v20 server, beyond the shared conformance
//! suite: FX units on the wire, the bearer token, 201 answers that are refusals (market
//! halted, insufficient margin), duplicate client ids, lookups after a lost answer, the 429
//! refusal with enforcement on, both NDJSON streams (orders and fills; a dropped transaction
//! stream whose gap is read back; a dropped pricing stream), and a weekend halt that the
//! daemon does not spin on.

mod common;

use common::exchange::{Fault, Target};
use common::venues::oanda::{self, OandaServer, ACCOUNT_ID, TOKEN};
use common::venues::Loopback;
use common::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use trade_engine::domain::{OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{RejectKind, Venue, VenueError, VenueEvent};

fn server() -> OandaServer {
    oanda::start(dec!(100000), dec!(50000))
}

fn venue(s: &OandaServer) -> (Arc<dyn Venue>, tempfile::TempDir) {
    s.build(1500)
}

fn market(cid: &str, native: &str, side: Side, qty: Decimal, reduce_only: bool) -> OrderRequest {
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

fn posted_orders(s: &OandaServer) -> Vec<serde_json::Value> {
    s.exchange()
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path_and_query.ends_with("/orders"))
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect()
}

async fn wait_for<F: FnMut(&VenueEvent) -> bool>(
    rx: &mut broadcast::Receiver<VenueEvent>,
    what: &str,
    mut f: F,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Ok(e)) if f(&e) => return,
            Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
            Ok(Err(e)) => panic!("{what}: channel closed: {e}"),
            Err(_) => panic!("{what}: not seen in time"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fx_units_signed_on_the_wire_with_the_bearer_token() {
    let s = server();
    let (v, _dir) = venue(&s);
    let inst = v.instrument("EUR_GBP").await.unwrap();
    let q = v.quote("EUR_GBP").await.unwrap();
    // 10,000 USD of EUR_GBP at 0.85 with GBP at 1.25 USD: 9411 units.
    assert_eq!(q.quote_to_usd, dec!(1.25));
    let units = inst
        .qty_for_notional(dec!(-10000), q.mark, q.quote_to_usd)
        .unwrap();
    assert_eq!(units, dec!(-9411));
    v.place_order(&market(
        "te-wire-1",
        "EUR_GBP",
        Side::Sell,
        dec!(9411.7),
        false,
    ))
    .await
    .unwrap();
    v.place_order(&market("te-wire-2", "EUR_GBP", Side::Buy, dec!(411), true))
        .await
        .unwrap();
    let bodies = posted_orders(&s);
    assert_eq!(
        bodies[0]["order"]["units"], "-9411",
        "rounded toward zero, signed"
    );
    assert_eq!(bodies[0]["order"]["positionFill"], "DEFAULT");
    assert_eq!(bodies[0]["order"]["clientExtensions"]["id"], "te-wire-1");
    assert_eq!(bodies[1]["order"]["units"], "411");
    assert_eq!(
        bodies[1]["order"]["positionFill"], "REDUCE_ONLY",
        "a reduction never opens the other side"
    );
    assert_eq!(s.exchange().position("EUR_GBP"), dec!(-9000));
    assert!(s.exchange().requests().iter().all(|r| r.signature_ok));
    let value = v.account_value().await.unwrap();
    assert_eq!(value.equity_usd, dec!(100000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_an_auth_error_that_never_shows_the_token() {
    let s = server();
    let account: trade_engine::config::AccountConfig =
        serde_json::from_value(s.account("fx", "c", 1500)).unwrap();
    let credential = trade_engine::config::Credential {
        api_key: Some(trade_engine::config::Secret::new("wrong-token-0123456789")),
        account_id: Some(ACCOUNT_ID.into()),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let v = trade_engine::venue::build(&account, Some(&credential), dir.path()).unwrap();
    let err = v.account_value().await.unwrap_err();
    assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("wrong-token"), "{text}");
        assert!(!text.contains(TOKEN), "{text}");
    }
    assert!(
        err.to_string().contains("\"fx\""),
        "names the account: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn created_then_cancelled_orders_are_typed_refusals_not_fills() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.exchange().set_position("EUR_USD", dec!(100));
    s.set_halted(true);
    let err = v
        .place_order(&market("te-halt-1", "EUR_USD", Side::Buy, dec!(10), false))
        .await
        .unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::TradingDisabled),
        "{err}"
    );
    assert!(err.to_string().contains("MARKET_HALTED"), "{err}");
    // Reductions are not refused by the loopback's halt (OANDA's own rule may differ).
    let ack = v
        .place_order(&market("te-halt-2", "EUR_USD", Side::Sell, dec!(10), true))
        .await
        .unwrap();
    assert_eq!(ack.status, OrderStatus::Filled);
    s.set_halted(false);
    s.set_no_margin(true);
    let err = v
        .place_order(&market(
            "te-margin-1",
            "EUR_USD",
            Side::Buy,
            dec!(10),
            false,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::InsufficientFunds),
        "{err}"
    );
    assert_eq!(s.exchange().position("EUR_USD"), dec!(90), "nothing filled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_and_lost_answers_are_looked_up_never_doubled() {
    let s = server();
    let (v, _dir) = venue(&s);
    let req = market("te-dup-1", "EUR_USD", Side::Buy, dec!(20), false);
    v.place_order(&req).await.unwrap();
    let err = v.place_order(&req).await.unwrap_err();
    assert_eq!(
        err.reject_kind(),
        Some(RejectKind::DuplicateClientId),
        "{err}"
    );
    // The answer is lost after the order was applied: unknown, then found by client id.
    s.exchange().inject(Target::Place, Fault::AppliedThenReset);
    let err = v
        .place_order(&market("te-lost-1", "EUR_USD", Side::Buy, dec!(30), false))
        .await
        .unwrap_err();
    assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
    let found = v
        .order_by_client_id("EUR_USD", "te-lost-1")
        .await
        .unwrap()
        .expect("found by client id");
    assert_eq!(
        (found.status, found.filled_qty, found.side, found.qty),
        (
            OrderStatus::Filled,
            dec!(30),
            Some(Side::Buy),
            Some(dec!(30))
        )
    );
    assert_eq!(s.exchange().position("EUR_USD"), dec!(50));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_enforcement_on_is_typed_and_backed_off() {
    let s = server();
    let (v, _dir) = venue(&s);
    s.exchange().windows().enforce(true);
    // Another client of the same token spends the budget (100 requests a second).
    let http = ::reqwest::Client::new();
    let url = format!("{}/v3/accounts/{ACCOUNT_ID}/summary", s.rest_url);
    let mut refused = None;
    for _ in 0..5 {
        loop {
            let resp = http.get(&url).bearer_auth(TOKEN).send().await.unwrap();
            if resp.status().as_u16() == 429 {
                break;
            }
        }
        match v.account_value().await {
            Err(e @ VenueError::RateLimited { .. }) => {
                refused = Some(e);
                break;
            }
            // The window moved on between the two: try again.
            Ok(_) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    assert!(refused.is_some(), "the venue was never refused");
    assert!(!s.exchange().windows().refusals().is_empty());
    let before = s.exchange().requests().len();
    let err = v.positions().await.unwrap_err();
    assert!(matches!(err, VenueError::CircuitOpen { .. }), "{err:?}");
    assert_eq!(
        s.exchange().requests().len(),
        before,
        "nothing sent while backing off"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transaction_stream_reports_orders_and_fills() {
    let s = server();
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("oanda streams");
    wait_for(&mut rx, "connected", |e| *e == VenueEvent::Connected).await;
    v.place_order(&market("te-stream-1", "EUR_USD", Side::Buy, dec!(7), false))
        .await
        .unwrap();
    wait_for(&mut rx, "the fill", |e| {
        matches!(e, VenueEvent::Fill(f) if f.client_order_id.as_deref() == Some("te-stream-1") && f.qty == dec!(7))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_transaction_stream_reads_the_gap_back() {
    let s = server();
    let (v, _dir) = venue(&s);
    let mut rx = v.subscribe().expect("oanda streams");
    // The stream has seen the account's latest transaction before the gap opens.
    v.place_order(&market("te-before", "EUR_USD", Side::Buy, dec!(1), false))
        .await
        .unwrap();
    wait_for(
        &mut rx,
        "the first fill",
        |e| matches!(e, VenueEvent::Fill(f) if f.client_order_id.as_deref() == Some("te-before")),
    )
    .await;
    let seen = s.last_transaction_id();
    // The stream misses what happens next, then drops.
    s.pause_transaction_stream(true);
    v.place_order(&market("te-in-gap", "EUR_USD", Side::Sell, dec!(4), false))
        .await
        .unwrap();
    s.drop_streams();
    s.pause_transaction_stream(false);
    wait_for(&mut rx, "the fill in the gap", |e| {
        matches!(e, VenueEvent::Fill(f) if f.client_order_id.as_deref() == Some("te-in-gap") && f.side == Side::Sell)
    })
    .await;
    let asked = s.exchange().requests().into_iter().any(|r| {
        r.path_and_query
            .ends_with(&format!("/transactions/sinceid?id={seen}"))
    });
    assert!(asked, "read back from the last id seen ({seen})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_pricing_stream_comes_back_and_serves_marks() {
    let s = server();
    let (v, _dir) = venue(&s);
    let _rx = v.subscribe().expect("oanda streams");
    v.instrument("EUR_USD").await.unwrap();
    let pricing_sessions = || {
        s.exchange()
            .lock()
            .ws_sessions
            .iter()
            .filter(|x| x.first().is_some_and(|l| l.contains("/pricing/stream")))
            .count()
    };
    let rest_pricing = || {
        s.exchange()
            .requests()
            .iter()
            .filter(|r| r.path_and_query.contains("/pricing?"))
            .count()
    };
    let wait = |what: &str, f: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !f() {
            assert!(std::time::Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    wait("the pricing stream connects", &|| pricing_sessions() == 1);
    s.drop_streams();
    wait("the pricing stream comes back", &|| pricing_sessions() == 2);
    // Once a price arrived on the new connection, quotes come from the stream, not REST.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let before = rest_pricing();
        let q = v.quote("EUR_USD").await.unwrap();
        assert_eq!(q.mark, dec!(50));
        if rest_pricing() == before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never served from the stream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// FX markets close at weekends: every opening order is answered MARKET_HALTED. The account
/// goes close-only and waits before trying again, instead of sending the same order every
/// cycle.
#[test]
fn a_weekend_halt_does_not_spin() {
    let s = server();
    s.set_halted(true);
    let engine = serde_json::json!({
        "accounts": [s.account("fx", "cred", 3000)],
        "sources": [{"name": "manual", "kind": "file", "path": "signals/manual.json"}],
        "cycle": {"reconcile_interval_secs": 1, "debounce_ms": 20}
    });
    let cfg = config_dir(&[
        ("engine.json", &engine.to_string()),
        (
            "credentials.json",
            &serde_json::json!({"cred": s.credential(None)}).to_string(),
        ),
        (
            "signal_weights.json",
            r#"[{"symbol": "EURUSD", "leverage": 1, "sources": [{"source": "manual", "weight": 1.0}]}]"#,
        ),
        ("signals/manual.json", r#"{"EURUSD": {"depth": 0.5}}"#),
    ]);
    let state = tempfile::tempdir().unwrap();
    let d = Daemon::start(cfg.path(), state.path());
    let wait = Duration::from_secs(40);
    d.wait_until("close-only after MARKET_HALTED", wait, |st| {
        account(st, "fx").is_some_and(|a| a["state"] == "close_only")
    });
    let placed = || {
        s.exchange()
            .requests()
            .iter()
            .filter(|r| r.placement.is_some())
            .count()
    };
    let after_refusal = placed();
    for _ in 0..3 {
        d.wait_for_fresh_cycle(wait);
    }
    assert_eq!(placed(), after_refusal, "no order sent again while halted");
    assert_eq!(after_refusal, 1, "one refusal closed the account");
    let st = d.status().unwrap();
    let reason = account(&st, "fx").unwrap()["reason"].to_string();
    assert!(reason.contains("MARKET_HALTED"), "{reason}");
    assert_eq!(d.stop().code(), Some(0));
}
