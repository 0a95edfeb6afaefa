use super::*;
use crate::venue::native_for;

fn account(extra: serde_json::Value) -> AccountConfig {
    let mut base = serde_json::json!({"name": "bm-main", "venue": "bitmex", "credentials": "bm"});
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    serde_json::from_value(base).unwrap()
}

fn credential() -> Credential {
    Credential {
        api_key: Some(Secret::new("KEY")),
        api_secret: Some(Secret::new("SECRET")),
        ..Default::default()
    }
}

#[test]
fn hosts_follow_testnet_and_overrides() {
    let live = account(serde_json::json!({}));
    assert_eq!(
        rest_base(&live).unwrap().as_str(),
        "https://www.bitmex.com/"
    );
    assert_eq!(ws_endpoint(&live).unwrap().0, WS_HOSTS.live);
    let test = account(serde_json::json!({"testnet": true}));
    assert_eq!(
        rest_base(&test).unwrap().as_str(),
        "https://testnet.bitmex.com/"
    );
    assert_eq!(
        ws_endpoint(&test).unwrap(),
        (WS_HOSTS.testnet.to_string(), "/realtime".to_string())
    );
    let local = account(serde_json::json!({
        "rest_url": "http://127.0.0.1:9000/api/v1/",
        "ws_url": "ws://127.0.0.1:9001"
    }));
    assert_eq!(
        rest_base(&local).unwrap().as_str(),
        "http://127.0.0.1:9000/"
    );
    assert_eq!(ws_endpoint(&local).unwrap().1, "/realtime");
    let bad = account(serde_json::json!({"ws_url": "http://x"}));
    assert!(ws_endpoint(&bad).is_err());
}

#[test]
fn missing_credentials_name_the_account() {
    let err = BitmexVenue::new(&account(serde_json::json!({})), None)
        .err()
        .expect("refused");
    assert!(
        matches!(&err, VenueError::Auth(m) if m.contains("bm-main") && m.contains("bitmex")),
        "{err:?}"
    );
    let mut half = credential();
    half.api_secret = Some(Secret::new(""));
    assert!(BitmexVenue::new(&account(serde_json::json!({})), Some(&half)).is_err());
}

#[test]
fn built_through_the_factory_with_default_symbols() {
    let dir = std::env::temp_dir();
    let acc = account(serde_json::json!({"symbol_map": {"ETHUSD": "ETHUSD"}, "timeout_ms": 1500}));
    let venue = crate::venue::build(&acc, Some(&credential()), &dir).expect("bitmex builds");
    assert_eq!(venue.kind(), "bitmex");
    assert_eq!(
        native_for(&acc, venue.as_ref(), &Symbol::new("BTCUSDT")),
        "XBTUSDT"
    );
    assert_eq!(
        native_for(&acc, venue.as_ref(), &Symbol::new("BTCUSD")),
        "XBTUSD"
    );
    assert_eq!(
        native_for(&acc, venue.as_ref(), &Symbol::new("ETHUSDT")),
        "ETHUSDT"
    );
    let mapped = account(serde_json::json!({"symbol_map": {"BTCUSDT": "XBTUSD"}}));
    assert_eq!(
        native_for(&mapped, venue.as_ref(), &Symbol::new("btcusdt")),
        "XBTUSD"
    );
}

#[test]
fn unchanged_settings_are_success() {
    let unchanged = Err(VenueError::rejected(
        crate::venue::RejectKind::Other,
        "HTTP 400",
        "Leverage unchanged",
    ));
    assert!(not_modified_is_ok(unchanged).is_ok());
    let other = Err(VenueError::rejected(
        crate::venue::RejectKind::Other,
        "HTTP 400",
        "Invalid leverage",
    ));
    assert!(not_modified_is_ok(other).is_err());
}
