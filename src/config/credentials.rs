use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// A secret string. It prints as `***` in every `Debug` and `Display`, and serialises as
/// `***`, so no log line or status page can reveal it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The only way to read the value; call it where the secret is used, nowhere else.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// One entry of `credentials.json`. Unknown fields (such as the Python tool's
/// `leverage_override`) are ignored so that its file can be copied as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Credential {
    #[serde(default)]
    pub api_key: Option<Secret>,
    #[serde(default)]
    pub api_secret: Option<Secret>,
    #[serde(default)]
    pub api_passphrase: Option<Secret>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// Some sources (SN8) keep their endpoint with the key, as the Python tool did.
    #[serde(default)]
    pub endpoint: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Credentials(pub BTreeMap<String, Credential>);

const FIELDS: [&str; 5] = [
    "API_KEY",
    "API_SECRET",
    "API_PASSPHRASE",
    "ACCOUNT_ID",
    "ENDPOINT",
];

impl Credentials {
    pub fn get(&self, name: &str) -> Option<&Credential> {
        self.0.get(name)
    }

    /// Fills fields from `TRADE_ENGINE_CREDENTIALS__<NAME>__<FIELD>` variables, which win over
    /// the file; an entry may exist only in the environment.
    pub fn apply_env(&mut self, vars: impl Iterator<Item = (String, String)>) {
        const PREFIX: &str = "TRADE_ENGINE_CREDENTIALS__";
        for (key, value) in vars {
            let Some(rest) = key.strip_prefix(PREFIX) else {
                continue;
            };
            let Some((name, field)) = rest.rsplit_once("__") else {
                continue;
            };
            if !FIELDS.contains(&field) || name.is_empty() {
                continue;
            }
            let entry_name = self
                .0
                .keys()
                .find(|k| k.eq_ignore_ascii_case(name))
                .cloned()
                .unwrap_or_else(|| name.to_ascii_lowercase());
            let entry = self.0.entry(entry_name).or_default();
            match field {
                "API_KEY" => entry.api_key = Some(Secret::new(value)),
                "API_SECRET" => entry.api_secret = Some(Secret::new(value)),
                "API_PASSPHRASE" => entry.api_passphrase = Some(Secret::new(value)),
                "ACCOUNT_ID" => entry.account_id = Some(value),
                _ => entry.endpoint = Some(value),
            }
        }
    }
}

/// True when the file can be read by its group or by others (Unix only).
pub fn readable_by_others(path: &std::path::Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o044 != 0)
            .unwrap_or(false)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let c = Credential {
            api_key: Some(Secret::new("KEY123")),
            api_secret: Some(Secret::new("hunter2")),
            ..Default::default()
        };
        let shown = format!(
            "{c:?} {} {}",
            c.api_secret.clone().unwrap(),
            serde_json::to_string(&c).unwrap()
        );
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("KEY123"));
        assert!(shown.contains("***"));
    }

    #[test]
    fn environment_fills_and_overrides() {
        let mut creds: Credentials =
            serde_json::from_str(r#"{"bybit_main": {"api_key": "file-key", "api_secret": "s"}}"#)
                .unwrap();
        creds.apply_env(
            vec![
                (
                    "TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_KEY".to_string(),
                    "env-key".to_string(),
                ),
                (
                    "TRADE_ENGINE_CREDENTIALS__OANDA__ACCOUNT_ID".to_string(),
                    "101-1".to_string(),
                ),
                ("UNRELATED".to_string(), "x".to_string()),
            ]
            .into_iter(),
        );
        assert_eq!(
            creds
                .get("bybit_main")
                .unwrap()
                .api_key
                .as_ref()
                .unwrap()
                .expose(),
            "env-key"
        );
        assert_eq!(
            creds.get("oanda").unwrap().account_id.as_deref(),
            Some("101-1")
        );
    }

    #[test]
    fn python_tool_file_parses() {
        let text = r#"{"bittensor_sn8": {"api_key": "k", "endpoint": "https://x/miner-positions"},
            "bybit": {"api_key": "a", "api_secret": "b", "leverage_override": 0, "min_order_notional_usd": 5.0},
            "ccxt": {"ccxt_list": []}}"#;
        let creds: Credentials = serde_json::from_str(text).unwrap();
        assert_eq!(creds.0.len(), 3);
    }
}
