//! The venue's own rules: typed params, native symbols, configuration errors, no secret in
//! Debug output, and the private stream's frames.

use super::stream::{session_for, PrivateStream, TOPICS};
use super::*;
use crate::venue::stream::{StreamError, StreamHandler};
use rust_decimal_macros::dec;

fn account(extra: serde_json::Value) -> AccountConfig {
    let mut v = serde_json::json!({"name": "ku", "venue": "kucoin", "credentials": "ku"});
    v.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::from_value(v).unwrap()
}

fn credential() -> Credential {
    Credential {
        api_key: Some(Secret::new("KEY-123456")),
        api_secret: Some(Secret::new("SECRET-abcdef")),
        api_passphrase: Some(Secret::new("PASS-xyz")),
        ..Default::default()
    }
}

#[test]
fn params_take_key_version_two_or_three() {
    let p = |v: serde_json::Value| params(v.as_object().unwrap());
    assert!(p(serde_json::json!({})).is_ok());
    assert!(p(serde_json::json!({"key_version": 3})).is_ok());
    assert!(p(serde_json::json!({"key_version": 1}))
        .unwrap_err()
        .contains("2 or 3"));
    assert!(p(serde_json::json!({"keyversion": 2}))
        .unwrap_err()
        .contains("keyversion"));
}

#[test]
fn native_symbols() {
    let v =
        KucoinVenue::from_account(&account(serde_json::json!({})), Some(&credential())).unwrap();
    assert_eq!(v.native_symbol(&Symbol::new("BTCUSDT")), "XBTUSDTM");
    assert_eq!(v.native_symbol(&Symbol::new("ETHUSDT")), "ETHUSDTM");
    assert_eq!(v.native_symbol(&Symbol::new("XRPUSDT")), "XRPUSDTM");
}

#[test]
fn missing_passphrase_and_testnet_are_explained() {
    let mut c = credential();
    c.api_passphrase = None;
    let e = KucoinConfig::from_account(&account(serde_json::json!({})), Some(&c))
        .unwrap_err()
        .to_string();
    assert!(e.contains("api_passphrase"), "{e}");
    let e = KucoinConfig::from_account(
        &account(serde_json::json!({"testnet": true})),
        Some(&credential()),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("no testnet"), "{e}");
}

#[test]
fn no_secret_in_debug_output() {
    let c =
        KucoinConfig::from_account(&account(serde_json::json!({})), Some(&credential())).unwrap();
    let text = format!("{c:?}");
    for secret in ["KEY-123456", "SECRET-abcdef", "PASS-xyz"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn leverage_on_orders_is_whole_and_never_rounded_up() {
    assert_eq!(whole_leverage(dec!(2.9)), 2);
    assert_eq!(whole_leverage(dec!(0.5)), 1);
    assert_eq!(whole_leverage(dec!(10)), 10);
}

const WS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/kucoin/ws_private.json"
));

fn push(name: &str) -> String {
    let all: serde_json::Value = serde_json::from_str(WS).unwrap();
    all[name].to_string()
}

fn handler() -> PrivateStream {
    let v =
        KucoinVenue::from_account(&account(serde_json::json!({})), Some(&credential())).unwrap();
    PrivateStream::new(v.rest.clone())
}

#[test]
fn a_session_connects_with_the_token_and_subscribes_privately() {
    let s = session_for(
        "wss://ws-api-futures.kucoin.com/",
        "tok/en=",
        "te1",
        Some(18000),
        7,
    );
    assert_eq!(
        s.url,
        "wss://ws-api-futures.kucoin.com/?token=tok%2Fen%3D&connectId=te1"
    );
    assert_eq!(s.heartbeat, Some(Duration::from_millis(18000)));
    assert_eq!(s.frames.len(), TOPICS.len());
    let first: serde_json::Value = serde_json::from_str(&s.frames[0]).unwrap();
    assert_eq!(first["type"], "subscribe");
    assert_eq!(first["topic"], "/contractMarket/tradeOrders");
    assert_eq!(
        (first["privateChannel"].clone(), first["response"].clone()),
        (true.into(), true.into())
    );
    assert_eq!(first["id"], "7");
    assert!(
        !format!("{s:?}").contains("tok"),
        "the token stays out of Debug"
    );
}

#[test]
fn connected_after_every_ack_and_pushes_become_events() {
    let mut h = handler();
    assert!(h.on_text(&push("welcome")).unwrap().is_empty());
    assert!(h.on_text(&push("ack")).unwrap().is_empty());
    assert!(h.on_text(&push("ack")).unwrap().is_empty());
    assert_eq!(
        h.on_text(&push("ack")).unwrap(),
        vec![VenueEvent::Connected]
    );
    assert!(h.on_text(&push("pong")).unwrap().is_empty());
    let events = h.on_text(&push("order_match")).unwrap();
    match events.as_slice() {
        [VenueEvent::Order { ack, .. }, VenueEvent::Fill(f)] => {
            assert_eq!(ack.status, crate::domain::OrderStatus::PartiallyFilled);
            assert_eq!((f.qty, f.price), (dec!(100), dec!(91000.5)));
            assert_eq!(f.at.timestamp_millis(), 1731916985789);
        }
        other => panic!("{other:?}"),
    }
    match h.on_text(&push("order_filled")).unwrap().as_slice() {
        [VenueEvent::Order { ack, .. }] => {
            assert_eq!(ack.status, crate::domain::OrderStatus::Filled);
            assert_eq!(ack.filled_qty, dec!(153));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        h.on_text(&push("position_change")).unwrap(),
        vec![VenueEvent::PositionChanged {
            native: "XBTUSDTM".into(),
            qty: dec!(-153)
        }]
    );
    assert!(
        h.on_text(&push("position_settlement")).unwrap().is_empty(),
        "funding is not a position"
    );
    assert_eq!(
        h.on_text(&push("wallet")).unwrap(),
        vec![VenueEvent::WalletChanged]
    );
    assert!(matches!(
        h.on_text(&push("error_token")),
        Err(StreamError::Auth(_))
    ));
    assert!(h.on_text("not json").is_err());
}
