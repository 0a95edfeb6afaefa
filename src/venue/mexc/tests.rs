//! Configuration, symbols and client ids (no network).

use super::*;

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
fn hosts_and_overrides() {
    let main = MexcConfig::from_account(&account(r#"{"name":"a","venue":"mexc"}"#), Some(&creds()))
        .unwrap();
    assert_eq!(main.rest_url.as_str(), "https://api.mexc.com/");
    assert_eq!(main.ws_url, "wss://contract.mexc.com/edge");
    let local = MexcConfig::from_account(
        &account(r#"{"name":"a","venue":"mexc","rest_url":"https://contract.mexc.com","ws_url":"ws://127.0.0.1:8/edge","timeout_ms":1234}"#),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(local.rest_url.host_str(), Some("contract.mexc.com"));
    assert_eq!(local.ws_url, "ws://127.0.0.1:8/edge");
    assert_eq!(local.timeout, Duration::from_millis(1234));
}

#[test]
fn missing_credentials_name_the_account_and_field() {
    let no_secret = Credential {
        api_key: Some(Secret::new("KEY-123")),
        ..Default::default()
    };
    let err = MexcConfig::from_account(
        &account(r#"{"name":"main-acct","venue":"mexc","credentials":"mexc_main"}"#),
        Some(&no_secret),
    )
    .unwrap_err();
    assert!(matches!(err, VenueError::Auth(_)));
    let text = err.to_string();
    assert!(
        text.contains("main-acct") && text.contains("api_secret"),
        "{text}"
    );
    assert!(!text.contains("KEY-123"));
    assert_eq!(
        KIND.credentials,
        &[CredentialField::ApiKey, CredentialField::ApiSecret]
    );
}

#[test]
fn native_symbols_put_the_underscore_before_the_quote() {
    assert_eq!(native_symbol("BTCUSDT"), "BTC_USDT");
    assert_eq!(native_symbol("ethusdc"), "ETH_USDC");
    assert_eq!(native_symbol("BTCUSD"), "BTC_USD");
    assert_eq!(native_symbol("BTC_USDT"), "BTC_USDT");
    let v = MexcVenue::from_account(&account(r#"{"name":"a","venue":"mexc"}"#), Some(&creds()))
        .unwrap();
    assert_eq!(v.native_symbol(&Symbol::new("SOLUSDT")), "SOL_USDT");
    assert_eq!(v.kind(), "mexc");
    assert_eq!(v.capabilities().max_batch_orders, 50);
    assert!(!v.capabilities().leverage_on_order);
}

#[test]
fn client_ids_fit_external_oid() {
    let daemon = "te0123456789abcdef0123456789abcd";
    assert_eq!(daemon.len(), 32);
    assert_eq!(wire_oid(daemon), daemon, "the daemon's ids go as they are");
    let long = "teconfdup000000000000000000000001";
    let a = wire_oid(long);
    assert_eq!(a.len(), 32);
    assert_eq!(a, wire_oid(long), "stable");
    assert_ne!(a, wire_oid("teconfdup000000000000000000000002"));
}

#[test]
fn created_ids_in_both_shapes() {
    let current: Value = serde_json::json!({"orderId": "813855213483474944", "ts": 1});
    assert_eq!(created_id(&current), "813855213483474944");
    assert_eq!(
        created_id(&serde_json::json!("102057569836905984")),
        "102057569836905984"
    );
    assert_eq!(
        created_id(&serde_json::json!(102057569836905984u64)),
        "102057569836905984"
    );
}

#[test]
fn no_secret_in_debug_output() {
    let credential = Credential {
        api_key: Some(Secret::new("KEY-visible-nowhere")),
        api_secret: Some(Secret::new("SECRET-visible-nowhere")),
        ..Default::default()
    };
    let config = MexcConfig::from_account(
        &account(r#"{"name":"a","venue":"mexc"}"#),
        Some(&credential),
    )
    .unwrap();
    let text = format!("{config:?}");
    assert!(!text.contains("KEY-visible-nowhere"), "{text}");
    assert!(!text.contains("SECRET-visible-nowhere"), "{text}");
}
