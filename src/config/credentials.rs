use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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

/// One entry of `credentials.json`. Reading one is strict (see [`Credentials::from_json`]):
/// an unknown field is an error, except the Python tool's fields listed in [`PYTHON_FIELDS`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Credential {
    pub api_key: Option<Secret>,
    pub api_secret: Option<Secret>,
    pub api_passphrase: Option<Secret>,
    pub account_id: Option<String>,
    /// Some sources (SN8) keep their endpoint with the key, as the Python tool did.
    pub endpoint: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Credentials(pub BTreeMap<String, Credential>);

/// Fields an entry may have.
pub const ENTRY_FIELDS: [&str; 5] = [
    "api_key",
    "api_secret",
    "api_passphrase",
    "account_id",
    "endpoint",
];

/// Fields of the Python tool's credentials.json, accepted (so that its file can be copied)
/// and ignored: per-exchange settings belong to the account in engine.json here, and ccxt
/// accounts (`"ccxt": {"ccxt_list": […]}` or its older single-object form) are not supported.
pub const PYTHON_FIELDS: [&str; 7] = [
    "leverage_override",
    "min_order_notional_usd",
    "copy_trading",
    "ccxt_list",
    "exchange_name",
    "account_name",
    "enabled",
];

/// What is wrong with credentials.json, phrased without any value from the file (every
/// value in it may be a secret).
#[derive(Debug, PartialEq)]
pub struct CredentialsProblem {
    /// JSON path: `entry` or `entry.field`.
    pub path: String,
    pub problem: String,
    pub expected: String,
}

impl std::fmt::Display for CredentialsProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {}: {}; expected {}",
            self.path, self.problem, self.expected
        )
    }
}

impl Credentials {
    /// Reads credentials.json's parsed JSON strictly. Returns the entries and warnings
    /// (ignored Python-tool fields). No error quotes a value.
    pub fn from_json(value: &Value) -> Result<(Credentials, Vec<String>), CredentialsProblem> {
        let Value::Object(entries) = value else {
            return Err(CredentialsProblem {
                path: "the top level".into(),
                problem: format!("the file holds {}, not an object", kind(value)),
                expected: "{ \"<entry>\": { \"api_key\": \"…\", \"api_secret\": \"…\" } }".into(),
            });
        };
        let mut out = BTreeMap::new();
        let mut ignored = BTreeSet::new();
        for (name, entry) in entries {
            if name == super::SCHEMA_KEY && entry.is_string() {
                continue;
            }
            let shown = shown_name(name);
            let at = if shown.starts_with('"') {
                name.as_str()
            } else {
                "<entry>"
            };
            let Value::Object(fields) = entry else {
                return Err(CredentialsProblem {
                    path: at.to_string(),
                    problem: format!("entry {shown} is {}, not an object", kind(entry)),
                    expected: "an object such as { \"api_key\": \"…\", \"api_secret\": \"…\" }"
                        .into(),
                });
            };
            let mut c = Credential::default();
            for (field, v) in fields {
                if PYTHON_FIELDS.contains(&field.as_str()) {
                    ignored.insert(field.clone());
                    continue;
                }
                if !ENTRY_FIELDS.contains(&field.as_str()) {
                    return Err(unknown_field(at, &shown, field));
                }
                let text = match v {
                    Value::Null => continue,
                    Value::String(t) => t.clone(),
                    other => {
                        return Err(CredentialsProblem {
                            path: format!("{at}.{field}"),
                            problem: format!(
                                "entry {shown}: {field} is {}, not a string",
                                kind(other)
                            ),
                            expected: format!("\"{field}\": \"…\" (a string)"),
                        })
                    }
                };
                match field.as_str() {
                    "api_key" => c.api_key = Some(Secret::new(text)),
                    "api_secret" => c.api_secret = Some(Secret::new(text)),
                    "api_passphrase" => c.api_passphrase = Some(Secret::new(text)),
                    "account_id" => c.account_id = Some(text),
                    _ => c.endpoint = Some(text),
                }
            }
            out.insert(name.clone(), c);
        }
        let warnings = if ignored.is_empty() {
            Vec::new()
        } else {
            vec![format!(
                "credentials.json: the Python tool's fields {} are ignored (set leverage_override and min_order_notional_usd on the account in engine.json; ccxt accounts are not supported)",
                ignored.into_iter().collect::<Vec<_>>().join(", ")
            )]
        };
        Ok((Credentials(out), warnings))
    }
}

impl<'de> Deserialize<'de> for Credentials {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        Credentials::from_json(&value)
            .map(|(c, _)| c)
            .map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Credentials {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Credentials".into()
    }

    /// Built from the same field lists the reader checks, so the two cannot disagree.
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let mut fields = serde_json::Map::new();
        for field in ENTRY_FIELDS {
            fields.insert(
                field.into(),
                serde_json::json!({ "type": ["string", "null"] }),
            );
        }
        for field in PYTHON_FIELDS {
            fields.insert(
                field.into(),
                serde_json::json!({ "description": "The Python tool's field: accepted and ignored" }),
            );
        }
        schemars::json_schema!({
            "description": "Secrets per entry name; accounts and sources name an entry. Keep the file mode 0600.",
            "type": "object",
            "properties": { "$schema": { "type": "string" } },
            "additionalProperties": {
                "type": "object",
                "properties": fields,
                "additionalProperties": false
            }
        })
    }
}

fn unknown_field(at: &str, entry: &str, field: &str) -> CredentialsProblem {
    let known = || ENTRY_FIELDS.iter().chain(PYTHON_FIELDS.iter());
    let expected = format!(
        "only {} (and the Python tool's {}, which are ignored)",
        ENTRY_FIELDS.join(", "),
        PYTHON_FIELDS.join(", ")
    );
    if !looks_like_a_field_name(field) {
        return CredentialsProblem {
            path: at.to_string(),
            problem: format!(
                "entry {entry} has an unknown field whose name is not shown: it does not look like a field name (a secret used as a name?)"
            ),
            expected,
        };
    }
    let close = known()
        .map(|k| {
            (
                strsim::damerau_levenshtein(k, &field.to_ascii_lowercase()),
                *k,
            )
        })
        .filter(|(d, _)| *d <= 3)
        .min();
    let hint = close.map_or(String::new(), |(_, k)| format!("; did you mean \"{k}\"?"));
    CredentialsProblem {
        path: format!("{at}.{field}"),
        problem: format!("entry {entry} has an unknown field \"{field}\"{hint}"),
        expected,
    }
}

/// The entry names of `credentials`, for an error that cannot repeat a name it did not find.
pub fn entry_list(credentials: &Credentials) -> String {
    if credentials.0.is_empty() {
        return "it has no entry".into();
    }
    let names: Vec<String> = credentials.0.keys().map(|n| shown_name(n)).collect();
    format!("it has {}", names.join(", "))
}

/// Field names are short words; anything else may be a pasted secret and is not echoed.
pub(crate) fn looks_like_a_field_name(field: &str) -> bool {
    (1..=32).contains(&field.len()) && field.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
}

/// An entry name as an error shows it: quoted when it looks like a name, else described.
pub(crate) fn shown_name(name: &str) -> String {
    let digits = name.chars().filter(char::is_ascii_digit).count();
    if (1..=32).contains(&name.len())
        && digits < 6
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        format!("\"{name}\"")
    } else {
        format!("<a {}-character name not shown>", name.chars().count())
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

const ENV_FIELDS: [&str; 5] = [
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
            if !ENV_FIELDS.contains(&field) || name.is_empty() {
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
        let (_, warnings) = Credentials::from_json(&serde_json::from_str(text).unwrap()).unwrap();
        assert!(
            warnings[0].contains("ccxt_list, leverage_override, min_order_notional_usd"),
            "{warnings:?}"
        );
    }

    fn problem(text: &str) -> CredentialsProblem {
        Credentials::from_json(&serde_json::from_str(text).unwrap()).unwrap_err()
    }

    #[test]
    fn unknown_fields_are_refused_with_a_suggestion() {
        let p = problem(r#"{"bybit_main": {"api_key": "k", "api_secrt": "s"}}"#);
        assert_eq!(p.path, "bybit_main.api_secrt");
        assert!(
            p.problem
                .contains(r#"unknown field "api_secrt"; did you mean "api_secret"?"#),
            "{p}"
        );
        let p = problem(r#"{"bybit_main": {"apikey": "k"}}"#);
        assert!(p.problem.contains(r#"did you mean "api_key"?"#), "{p}");
        let p = problem(r#"{"bybit_main": {"passwd": "k"}}"#);
        assert!(!p.problem.contains("did you mean"), "{p}");
    }

    #[test]
    fn no_value_is_ever_quoted() {
        const SECRET: &str = "S3cr3tV4lu3-0123456789abcdef";
        for text in [
            format!(r#"{{"bybit_main": "{SECRET}"}}"#),
            format!(r#"{{"bybit_main": ["{SECRET}"]}}"#),
            format!(r#"{{"bybit_main": {{"api_key": ["{SECRET}"]}}}}"#),
            format!(r#"{{"bybit_main": {{"api_key": "k", "token": "{SECRET}"}}}}"#),
            format!(r#"{{"bybit_main": {{"{SECRET}": "x"}}}}"#),
            format!(r#"{{"{SECRET}": "x"}}"#),
            format!(r#"["{SECRET}"]"#),
            r#"{"bybit_main": {"api_secret": 12345678901234567890}}"#.to_string(),
        ] {
            let p = problem(&text);
            let shown = format!("{p} {p:?}");
            assert!(!shown.contains(SECRET), "{shown}");
            assert!(!shown.contains("0123456"), "{shown}");
        }
        let p = problem(&format!(r#"{{"bybit_main": "{SECRET}"}}"#));
        assert_eq!(p.path, "bybit_main");
        assert!(p.problem.contains("is a string, not an object"), "{p}");
    }
}
