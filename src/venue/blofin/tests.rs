//! Configuration, credentials, params and capabilities (no network).

use super::*;

fn account(json: &str) -> AccountConfig {
    serde_json::from_str(json).unwrap()
}

fn creds(passphrase: Option<&str>) -> Credential {
    Credential {
        api_key: Some(Secret::new("KEY-123")),
        api_secret: Some(Secret::new("SECRET-456")),
        api_passphrase: passphrase.map(Secret::new),
        ..Default::default()
    }
}

#[test]
fn hosts_from_testnet_flag_and_overrides() {
    let main = BlofinConfig::from_account(
        &account(r#"{"name":"a","venue":"blofin","credentials":"b"}"#),
        Some(&creds(Some("PASS-789"))),
    )
    .unwrap();
    assert_eq!(main.rest_url.as_str(), "https://openapi.blofin.com/");
    assert_eq!(main.ws_url, "wss://openapi.blofin.com/ws/private");
    assert_eq!(main.margin_mode, MarginMode::Cross);
    let demo = BlofinConfig::from_account(
        &account(
            r#"{"name":"a","venue":"blofin","testnet":true,"params":{"margin_mode":"isolated"}}"#,
        ),
        Some(&creds(Some("p"))),
    )
    .unwrap();
    assert_eq!(
        demo.rest_url.as_str(),
        "https://demo-trading-openapi.blofin.com/"
    );
    assert_eq!(
        demo.ws_url,
        "wss://demo-trading-openapi.blofin.com/ws/private"
    );
    assert_eq!(demo.margin_mode, MarginMode::Isolated);
}

#[test]
fn a_missing_passphrase_is_named_without_secrets() {
    let e = BlofinConfig::from_account(
        &account(r#"{"name":"a","venue":"blofin","credentials":"blofin_main"}"#),
        Some(&creds(None)),
    )
    .unwrap_err();
    let text = format!("{e} {e:?}");
    assert!(text.contains("api_passphrase"), "{text}");
    for secret in ["KEY-123", "SECRET-456"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn config_debug_shows_no_secret() {
    let c = BlofinConfig::from_account(
        &account(r#"{"name":"a","venue":"blofin"}"#),
        Some(&creds(Some("PASS-789"))),
    )
    .unwrap();
    let text = format!("{c:?}");
    for secret in ["KEY-123", "SECRET-456", "PASS-789"] {
        assert!(!text.contains(secret), "{text}");
    }
}

#[test]
fn params_are_typed() {
    let ok: Map<String, Value> = serde_json::from_str(r#"{"margin_mode":"cross"}"#).unwrap();
    assert!(check_params(&ok).is_ok());
    let bad: Map<String, Value> = serde_json::from_str(r#"{"margin":"cross"}"#).unwrap();
    assert!(check_params(&bad).unwrap_err().contains("margin"));
    let bad: Map<String, Value> = serde_json::from_str(r#"{"margin_mode":"hedge"}"#).unwrap();
    assert!(check_params(&bad).is_err());
}

#[test]
fn capabilities_tell_the_truth() {
    let v = BlofinVenue::from_account(
        &account(r#"{"name":"a","venue":"blofin"}"#),
        Some(&creds(Some("p"))),
    )
    .unwrap();
    let c = v.capabilities();
    assert!(!c.amend, "no amend endpoint");
    assert_eq!(c.max_batch_orders, 1, "one instrument per batch request");
    assert!(
        !c.leverage_on_order,
        "leverage is set per instrument beforehand"
    );
    assert_eq!(v.native_symbol(&Symbol::new("ETHUSDT")), "ETH-USDT");
    assert_eq!(bar(CandleInterval::H1), "1H");
}
