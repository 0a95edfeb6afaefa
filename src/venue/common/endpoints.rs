//! Where a venue is reached: its live or testnet hosts, or the account's `rest_url` / `ws_url`
//! override (loopback servers in tests, a proxy in production).

use crate::config::AccountConfig;
use crate::venue::VenueError;
use url::Url;

/// A venue's published hosts for one kind of endpoint.
#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub live: &'static str,
    pub testnet: &'static str,
}

impl Endpoints {
    fn pick(&self, account: &AccountConfig) -> &'static str {
        if account.testnet {
            self.testnet
        } else {
            self.live
        }
    }
}

fn parse(
    account: &AccountConfig,
    field: &str,
    raw: &str,
    schemes: &[&str],
) -> Result<Url, VenueError> {
    let url = Url::parse(raw).map_err(|e| {
        VenueError::Local(format!(
            "account \"{}\": bad {field} {raw:?}: {e}",
            account.name
        ))
    })?;
    if !schemes.contains(&url.scheme()) {
        return Err(VenueError::Local(format!(
            "account \"{}\": {field} {raw:?} must start with {}",
            account.name,
            schemes.join(":// or ") + "://"
        )));
    }
    Ok(url)
}

/// The REST base URL: `rest_url` when set, else the testnet or live host.
pub fn rest_url(account: &AccountConfig, hosts: &Endpoints) -> Result<Url, VenueError> {
    let raw = account.rest_url.as_deref().unwrap_or(hosts.pick(account));
    parse(account, "rest_url", raw, &["http", "https"])
}

/// The stream URL: `ws_url` when set, else the testnet or live host. HTTP streams (OANDA)
/// are accepted too.
pub fn stream_url(account: &AccountConfig, hosts: &Endpoints) -> Result<Url, VenueError> {
    let raw = account.ws_url.as_deref().unwrap_or(hosts.pick(account));
    parse(account, "ws_url", raw, &["ws", "wss", "http", "https"])
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: Endpoints = Endpoints {
        live: "https://api.example.com",
        testnet: "https://testnet.example.com",
    };

    fn account(v: serde_json::Value) -> AccountConfig {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn override_then_testnet_then_live() {
        let live = account(serde_json::json!({"name": "a", "venue": "bybit"}));
        assert_eq!(
            rest_url(&live, &HOSTS).unwrap().as_str(),
            "https://api.example.com/"
        );
        let test = account(serde_json::json!({"name": "a", "venue": "bybit", "testnet": true}));
        assert_eq!(
            rest_url(&test, &HOSTS).unwrap().host_str(),
            Some("testnet.example.com")
        );
        let local = account(serde_json::json!({
            "name": "a", "venue": "bybit", "testnet": true, "rest_url": "http://127.0.0.1:9/"
        }));
        assert_eq!(rest_url(&local, &HOSTS).unwrap().port(), Some(9));
    }

    #[test]
    fn bad_urls_name_the_account_and_field() {
        let bad = account(serde_json::json!({
            "name": "acct", "venue": "bybit", "rest_url": "ftp://x", "ws_url": "not a url"
        }));
        let e = rest_url(&bad, &HOSTS).unwrap_err().to_string();
        assert!(e.contains("\"acct\"") && e.contains("rest_url"), "{e}");
        let e = stream_url(&bad, &HOSTS).unwrap_err().to_string();
        assert!(e.contains("ws_url"), "{e}");
    }
}
