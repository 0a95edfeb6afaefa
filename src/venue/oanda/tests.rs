//! Configuration, hosts, symbols and capabilities (no network).

use super::*;

fn account(json: &str) -> AccountConfig {
    serde_json::from_str(json).unwrap()
}

fn creds() -> Credential {
    Credential {
        api_key: Some(Secret::new("tok-0123456789")),
        account_id: Some("101-004-1234567-001".into()),
        ..Default::default()
    }
}

#[test]
fn practice_and_live_hosts_and_overrides() {
    let live =
        OandaConfig::from_account(&account(r#"{"name":"a","venue":"oanda"}"#), Some(&creds()))
            .unwrap();
    assert_eq!(live.rest_url.as_str(), "https://api-fxtrade.oanda.com/");
    assert_eq!(live.stream_url, "https://stream-fxtrade.oanda.com/");
    let practice = OandaConfig::from_account(
        &account(r#"{"name":"a","venue":"oanda","testnet":true,"timeout_ms":1234}"#),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(
        practice.rest_url.as_str(),
        "https://api-fxpractice.oanda.com/"
    );
    assert_eq!(practice.stream_url, "https://stream-fxpractice.oanda.com/");
    assert_eq!(practice.timeout, Duration::from_millis(1234));
    assert_eq!(practice.account_id, "101-004-1234567-001");
    let local = OandaConfig::from_account(
        &account(r#"{"name":"a","venue":"oanda","rest_url":"http://127.0.0.1:9","ws_url":"http://127.0.0.1:8"}"#),
        Some(&creds()),
    )
    .unwrap();
    assert_eq!(local.rest_url.as_str(), "http://127.0.0.1:9/");
    assert_eq!(local.stream_url, "http://127.0.0.1:8/");
}

#[test]
fn a_missing_account_id_is_named() {
    let no_id = Credential {
        api_key: Some(Secret::new("tok")),
        ..Default::default()
    };
    let err = OandaConfig::from_account(
        &account(r#"{"name":"fx-main","venue":"oanda","credentials":"oanda"}"#),
        Some(&no_id),
    )
    .unwrap_err();
    assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("account_id") && text.contains("fx-main"),
        "{text}"
    );
    assert!(!text.contains("tok"), "{text}");
}

#[test]
fn check_names_the_account_id_field() {
    use crate::config::Credentials;
    let acc = account(r#"{"name":"fx","venue":"oanda","credentials":"oanda_main"}"#);
    let creds =
        Credentials::from_json(&serde_json::json!({"oanda_main": {"api_key": "TOKEN-SECRET"}}))
            .unwrap()
            .0;
    let p = crate::venue::registry::check_account(&acc, &creds).unwrap_err();
    assert_eq!(p.path, "oanda_main.account_id");
    assert!(p.problem.contains("api_key, account_id"), "{p:?}");
    assert!(!format!("{p:?}").contains("TOKEN-SECRET"));
    let creds = Credentials::from_json(&serde_json::json!({"oanda_main": {
        "api_key": "t", "account_id": "101-004-1234567-001"}}))
    .unwrap()
    .0;
    assert!(crate::venue::registry::check_account(&acc, &creds)
        .unwrap()
        .is_empty());
}

#[test]
fn unified_symbols_are_currency_pairs() {
    assert_eq!(native_of("EURUSD"), "EUR_USD");
    assert_eq!(native_of("usdjpy"), "USD_JPY");
    assert_eq!(native_of("EUR_GBP"), "EUR_GBP");
    assert_eq!(
        native_of("BTCUSDT"),
        "BTCUSDT",
        "not a pair: left to symbol_map"
    );
    let v = OandaVenue::from_account(&account(r#"{"name":"a","venue":"oanda"}"#), Some(&creds()))
        .unwrap();
    assert_eq!(v.native_symbol(&Symbol::new("EURGBP")), "EUR_GBP");
    assert_eq!(v.kind(), "oanda");
}

#[test]
fn capabilities_say_leverage_is_account_wide() {
    let v = OandaVenue::from_account(&account(r#"{"name":"a","venue":"oanda"}"#), Some(&creds()))
        .unwrap();
    let c = v.capabilities();
    assert_eq!(c.leverage, LeverageScope::PerAccount);
    assert_eq!(c.margin_modes, &[MarginMode::Cross]);
    assert!(!c.amend && !c.leverage_on_order);
    assert_eq!(c.max_batch_orders, 1);
}

#[test]
fn no_token_in_debug_output() {
    let config =
        OandaConfig::from_account(&account(r#"{"name":"a","venue":"oanda"}"#), Some(&creds()))
            .unwrap();
    let text = format!("{config:?}");
    assert!(!text.contains("tok-0123456789"), "{text}");
}
