use super::*;
use crate::config::Secret;
use crate::domain::{OrderStatus, Side};
use crate::venue::bitmex::auth::hmac_hex;
use rust_decimal_macros::dec;

fn handler() -> (BitmexStream, Marks) {
    let marks = Marks::default();
    let signer = BitmexSigner::new(Secret::new("KEY"), Secret::new("SECRET"));
    (
        BitmexStream::new(
            "wss://ws.bitmex.com/realtime",
            signer,
            "/realtime",
            marks.clone(),
        ),
        marks,
    )
}

fn frame(v: serde_json::Value) -> String {
    v.to_string()
}

fn partial(table: &str, keys: &[&str], data: serde_json::Value) -> String {
    frame(serde_json::json!({"table": table, "action": "partial", "keys": keys, "data": data}))
}

fn rows(table: &str, action: &str, data: serde_json::Value) -> String {
    frame(serde_json::json!({"table": table, "action": action, "data": data}))
}

#[test]
fn connect_authenticates_then_subscribes() {
    let (mut h, _) = handler();
    let frames = connect(&mut h);
    assert_eq!(frames.len(), 2);
    let auth: Value = serde_json::from_str(&frames[0]).unwrap();
    assert_eq!(auth["op"], "authKeyExpires");
    assert_eq!(auth["args"][0], "KEY");
    let expires = auth["args"][1].as_u64().expect("expires is a JSON number");
    assert!(expires > expires_in(Duration::ZERO));
    let expected = hmac_hex("SECRET", &format!("GET/realtime{expires}")).unwrap();
    assert_eq!(auth["args"][2], expected.as_str());
    let sub: Value = serde_json::from_str(&frames[1]).unwrap();
    assert_eq!(sub["op"], "subscribe");
    assert_eq!(
        sub["args"],
        serde_json::json!(["execution", "order", "position", "margin", "instrument"])
    );
    assert_eq!(h.ping().as_deref(), Some("ping"));
    assert!(h.on_text("pong").unwrap().is_empty());
}

#[test]
fn rows_before_the_partial_are_discarded() {
    let (mut h, _) = handler();
    connect(&mut h);
    let early = rows(
        "order",
        "insert",
        serde_json::json!([{"orderID": "o1", "clOrdID": "c1", "symbol": "XBTUSDT", "ordStatus": "New"}]),
    );
    assert!(h.on_text(&early).unwrap().is_empty());
}

#[test]
fn order_updates_are_merged_by_key() {
    let (mut h, _) = handler();
    connect(&mut h);
    assert!(h
        .on_text(&partial("order", &["orderID"], serde_json::json!([])))
        .unwrap()
        .is_empty());
    let inserted = h
        .on_text(&rows(
            "order",
            "insert",
            serde_json::json!([{"orderID": "o1", "clOrdID": "c1", "symbol": "XBTUSDT", "side": "Buy",
                "orderQty": 2000, "ordStatus": "New", "leavesQty": 2000, "cumQty": 0}]),
        ))
        .unwrap();
    match &inserted[..] {
        [VenueEvent::Order { native, ack }] => {
            assert_eq!(native, "XBTUSDT");
            assert_eq!(
                (ack.client_order_id.as_str(), ack.status),
                ("c1", OrderStatus::New)
            );
        }
        other => panic!("{other:?}"),
    }
    // Updates carry the key and the changed fields only.
    let updated = h
        .on_text(&rows(
            "order",
            "update",
            serde_json::json!([{"orderID": "o1", "ordStatus": "Filled", "cumQty": 2000, "leavesQty": 0, "avgPx": 50000.5}]),
        ))
        .unwrap();
    match &updated[..] {
        [VenueEvent::Order { native, ack }] => {
            assert_eq!(native, "XBTUSDT");
            assert_eq!(ack.client_order_id, "c1");
            assert_eq!(ack.status, OrderStatus::Filled);
            assert_eq!(ack.filled_qty, dec!(2000));
            assert_eq!(ack.avg_price, Some(dec!(50000.5)));
        }
        other => panic!("{other:?}"),
    }
    // The filled order left the image: a delete for it is harmless.
    assert!(h
        .on_text(&rows(
            "order",
            "delete",
            serde_json::json!([{"orderID": "o1"}])
        ))
        .unwrap()
        .is_empty());
}

#[test]
fn trades_become_fills_and_positions_changes() {
    let (mut h, _) = handler();
    connect(&mut h);
    h.on_text(&partial("execution", &["execID"], serde_json::json!([])))
        .unwrap();
    h.on_text(&partial(
        "position",
        &["account", "symbol"],
        serde_json::json!([{"account": 1, "symbol": "XBTUSD", "currentQty": 0, "markPrice": 50000}]),
    ))
    .unwrap();
    h.on_text(&partial(
        "margin",
        &["account", "currency"],
        serde_json::json!([]),
    ))
    .unwrap();
    let fills = h
        .on_text(&rows(
            "execution",
            "insert",
            serde_json::json!([
                {"execID": "e0", "orderID": "o1", "clOrdID": "c1", "symbol": "XBTUSD", "side": "Sell",
                 "execType": "New", "lastQty": null, "lastPx": null},
                {"execID": "e1", "orderID": "o1", "clOrdID": "c1", "symbol": "XBTUSD", "side": "Sell",
                 "execType": "Trade", "lastQty": 300, "lastPx": 50010.5, "transactTime": "2024-11-25T10:35:00.789Z"}
            ]),
        ))
        .unwrap();
    match &fills[..] {
        [VenueEvent::Fill(f)] => {
            assert_eq!((f.native.as_str(), f.side), ("XBTUSD", Side::Sell));
            assert_eq!((f.qty, f.price), (dec!(300), dec!(50010.5)));
            assert_eq!(f.client_order_id.as_deref(), Some("c1"));
        }
        other => panic!("{other:?}"),
    }
    let moved = h
        .on_text(&rows(
            "position",
            "update",
            serde_json::json!([{"account": 1, "symbol": "XBTUSD", "currentQty": -300}]),
        ))
        .unwrap();
    assert_eq!(
        moved,
        vec![VenueEvent::PositionChanged {
            native: "XBTUSD".into(),
            qty: dec!(-300)
        }]
    );
    // A mark-only position update is not a position change.
    assert!(h
        .on_text(&rows(
            "position",
            "update",
            serde_json::json!([{"account": 1, "symbol": "XBTUSD", "markPrice": 50100}]),
        ))
        .unwrap()
        .is_empty());
    assert_eq!(
        h.on_text(&rows(
            "margin",
            "update",
            serde_json::json!([{"account": 1, "currency": "XBt", "marginBalance": 1}]),
        ))
        .unwrap(),
        vec![VenueEvent::WalletChanged]
    );
}

#[test]
fn instrument_marks_feed_the_cache() {
    let (mut h, marks) = handler();
    connect(&mut h);
    h.on_text(&partial(
        "instrument",
        &["symbol"],
        serde_json::json!([{"symbol": "XBTUSD", "markPrice": 50000}, {"symbol": "ETHUSD", "markPrice": 2500}]),
    ))
    .unwrap();
    assert_eq!(marks.fresh("XBTUSD", MARK_FRESH), Some(dec!(50000)));
    h.on_text(&rows(
        "instrument",
        "update",
        serde_json::json!([{"symbol": "XBTUSD", "markPrice": 51234.56}]),
    ))
    .unwrap();
    assert_eq!(marks.fresh("XBTUSD", MARK_FRESH), Some(dec!(51234.56)));
    assert_eq!(marks.fresh("XBTUSD", Duration::ZERO), None);
    assert_eq!(marks.fresh("SOLUSD", MARK_FRESH), None);
}

#[test]
fn reconnect_forgets_the_image_until_new_partials() {
    let (mut h, _) = handler();
    connect(&mut h);
    h.on_text(&partial(
        "margin",
        &["account", "currency"],
        serde_json::json!([]),
    ))
    .unwrap();
    let update = rows(
        "margin",
        "update",
        serde_json::json!([{"account": 1, "currency": "XBt", "marginBalance": 1}]),
    );
    assert_eq!(h.on_text(&update).unwrap().len(), 1);
    connect(&mut h);
    assert!(h.on_text(&update).unwrap().is_empty());
}

#[test]
fn errors_and_acks() {
    let (mut h, _) = handler();
    let denied = r#"{"status":401,"error":"Signature not valid.","meta":{},"request":{"op":"authKeyExpires","args":["KEY",1,"x"]}}"#;
    assert!(matches!(h.on_text(denied), Err(StreamError::Auth(_))));
    let bad_topic = r#"{"status":400,"error":"Unknown table: nope","meta":{},"request":{"op":"subscribe","args":["nope"]}}"#;
    assert!(matches!(
        h.on_text(bad_topic),
        Err(StreamError::Protocol(_))
    ));
    let ok =
        r#"{"success":true,"subscribe":"order","request":{"op":"subscribe","args":["order"]}}"#;
    assert!(h.on_text(ok).unwrap().is_empty());
    let welcome = r#"{"info":"Welcome to the BitMEX Realtime API.","version":"2.0","timestamp":"2024-11-25T10:35:00.789Z","limit":{"remaining":59}}"#;
    assert!(h.on_text(welcome).unwrap().is_empty());
    assert!(matches!(
        h.on_text("garbage"),
        Err(StreamError::Protocol(_))
    ));
}

/// The frames of one connection (what the stream layer sends after connecting).
fn connect(h: &mut BitmexStream) -> Vec<String> {
    futures::executor::block_on(h.prepare()).unwrap().frames
}

#[test]
fn connected_only_once_every_table_has_its_partial() {
    let (mut h, _) = handler();
    connect(&mut h);
    assert!(h.reports_connected());
    let mut seen = Vec::new();
    for table in TOPICS {
        assert!(!seen.contains(&VenueEvent::Connected), "before {table}");
        let keys = default_keys(table);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        seen.extend(
            h.on_text(&partial(table, &keys, serde_json::json!([])))
                .unwrap(),
        );
    }
    assert_eq!(seen, vec![VenueEvent::Connected]);
    // A second partial (BitMEX may resend one) does not announce again; a new connection does.
    let again = h
        .on_text(&partial("order", &["orderID"], serde_json::json!([])))
        .unwrap();
    assert!(again.is_empty());
    connect(&mut h);
    let mut seen = Vec::new();
    for table in TOPICS {
        seen.extend(
            h.on_text(&partial(table, &["symbol"], serde_json::json!([])))
                .unwrap(),
        );
    }
    assert_eq!(seen, vec![VenueEvent::Connected]);
}
