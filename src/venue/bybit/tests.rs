//! Configuration, symbols and the hedge-mode index (no network).

use super::*;

#[test]
fn hedge_legs_by_side_and_intent() {
    assert_eq!(hedge_index(Side::Buy, false), 1);
    assert_eq!(hedge_index(Side::Sell, true), 1, "closing a long");
    assert_eq!(hedge_index(Side::Sell, false), 2);
    assert_eq!(hedge_index(Side::Buy, true), 2, "closing a short");
}

fn account(json: &str) -> AccountConfig {
    serde_json::from_str(json).unwrap()
}

fn creds() -> Credential {
    Credential {
        api_key: Some(Secret::new("k")),
        api_secret: Some(Secret::new("s")),
        ..Default::default()
    }
}

#[test]
fn hosts_from_testnet_flag_and_overrides() {
    let main =
        BybitConfig::from_account(&account(r#"{"name":"a","venue":"bybit"}"#), Some(&creds()))
            .unwrap();
    assert_eq!(main.rest_url.as_str(), "https://api.bybit.com/");
    assert_eq!(main.ws_url, "wss://stream.bybit.com/v5/private");
    let test = BybitConfig::from_account(
        &account(r#"{"name":"a","venue":"bybit","testnet":true,"timeout_ms":1234}"#),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(test.rest_url.as_str(), "https://api-testnet.bybit.com/");
    assert_eq!(test.ws_url, "wss://stream-testnet.bybit.com/v5/private");
    assert_eq!(test.timeout, Duration::from_millis(1234));
    let local = BybitConfig::from_account(
        &account(r#"{"name":"a","venue":"bybit","testnet":true,"rest_url":"http://127.0.0.1:9","ws_url":"ws://127.0.0.1:8/v5/private"}"#),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(local.rest_url.as_str(), "http://127.0.0.1:9/");
    assert_eq!(local.ws_url, "ws://127.0.0.1:8/v5/private");
}

#[test]
fn missing_credentials_name_the_account() {
    let err = BybitConfig::from_account(
        &account(r#"{"name":"main-acct","venue":"bybit","credentials":"bybit_main"}"#),
        None,
    )
    .unwrap_err();
    assert!(matches!(err, VenueError::Auth(_)));
    assert!(err.to_string().contains("main-acct"), "{err}");
    let no_secret = Credential {
        api_key: Some(Secret::new("k")),
        ..Default::default()
    };
    let err = BybitConfig::from_account(
        &account(r#"{"name":"main-acct","venue":"bybit"}"#),
        Some(&no_secret),
    )
    .unwrap_err();
    assert!(err.to_string().contains("api_secret"), "{err}");
}

#[test]
fn native_symbols_are_the_unified_spelling() {
    let v = BybitVenue::from_account(&account(r#"{"name":"a","venue":"bybit"}"#), Some(&creds()))
        .unwrap();
    assert_eq!(v.native_symbol(&Symbol::new("btcusdt")), "BTCUSDT");
    assert_eq!(v.native_symbol(&Symbol::new("BTCUSD")), "BTCUSD");
    assert_eq!(v.kind(), "bybit");
}

#[test]
fn single_orders_take_what_the_batch_bucket_cannot() {
    use super::single_share;
    assert_eq!(
        single_share(1, 0, 10),
        0,
        "one order is a single order anyway"
    );
    assert_eq!(single_share(8, 10, 10), 0, "the batch takes them all");
    assert_eq!(single_share(20, 10, 10), 10);
    assert_eq!(
        single_share(20, 10, 4),
        4,
        "the rest waits for the batch bucket"
    );
    assert_eq!(single_share(20, 0, 10), 10);
}
