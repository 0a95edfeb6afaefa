//! The venue registry: one descriptor per venue kind, the only list of venues in the program.
//! Config validation, `check` and the builder all ask it; each descriptor is written in its
//! venue's own folder (`KIND` in `<venue>/mod.rs`), with the typed `params` it accepts.

use super::common::CredentialField;
use super::{Venue, VenueError};
use crate::config::{AccountConfig, ConfigFile, Credential, Credentials, Problem};
use serde_json::{Map, Value};
use std::path::Path;
use std::sync::Arc;

/// Builds one account's venue client (its credentials entry and the state directory, which
/// the sim venue keeps its books in).
pub type BuildFn =
    fn(&AccountConfig, Option<&Credential>, &Path) -> Result<Arc<dyn Venue>, VenueError>;

/// Validates an account's `"params": { … }` against the venue's typed params.
pub type ParamsFn = fn(&Map<String, Value>) -> Result<(), String>;

/// Everything the program knows about a venue kind before an account uses it.
pub struct VenueKind {
    /// As written in `engine.json` (`"venue": "bybit"`).
    pub name: &'static str,
    /// For `check` and the README: what the venue is.
    pub title: &'static str,
    /// Fields the account's credentials entry must have (none for `sim`).
    pub credentials: &'static [CredentialField],
    pub params: ParamsFn,
    /// `None`: accepted in configs (written ahead of time) but not tradable in this build.
    pub build: Option<BuildFn>,
}

impl VenueKind {
    pub fn implemented(&self) -> bool {
        self.build.is_some()
    }
}

/// Every venue kind this build knows.
pub fn kinds() -> [&'static VenueKind; 7] {
    [
        &super::bitmex::KIND,
        &super::bybit::KIND,
        &super::mexc::KIND,
        &super::sim::KIND,
        &super::blofin::KIND,
        &super::kucoin::KIND,
        &super::oanda::KIND,
    ]
}

pub fn find(name: &str) -> Option<&'static VenueKind> {
    kinds().into_iter().find(|k| k.name == name)
}

fn names() -> String {
    kinds().map(|k| k.name).join(", ")
}

/// Params for venues that take none: any key is a typo or meant for another venue.
pub fn no_params(params: &Map<String, Value>) -> Result<(), String> {
    match params.keys().next() {
        None => Ok(()),
        Some(key) => Err(format!("unknown param {}", crate::input::excerpt(key))),
    }
}

/// Typed params from the account's `params` object (unknown fields refused by `T`).
pub fn typed_params<T: serde::de::DeserializeOwned>(
    params: &Map<String, Value>,
) -> Result<T, String> {
    serde_path_to_error::deserialize(Value::Object(params.clone())).map_err(|e| {
        let path = e.path().to_string();
        let message = crate::input::shorten_quoted(&e.inner().to_string());
        if path == "." {
            message
        } else {
            format!("{path}: {message}")
        }
    })
}

/// The registry's part of config validation: the venue kind exists, its params are valid,
/// and an enabled account's credentials entry has every field the venue needs.
pub fn check_account(
    account: &AccountConfig,
    credentials: &Credentials,
) -> Result<Vec<String>, Problem> {
    let engine = |path: &str, problem: String, expected: String| Problem {
        file: ConfigFile::Engine,
        path: path.to_string(),
        problem,
        expected,
    };
    let Some(kind) = find(&account.venue) else {
        return Err(engine(
            "venue",
            format!(
                "account \"{}\" names unknown venue {}",
                account.name,
                crate::input::excerpt(&account.venue)
            ),
            format!("one of {}", names()),
        ));
    };
    (kind.params)(&account.params).map_err(|problem| {
        engine(
            "params",
            format!("account \"{}\" ({}): {problem}", account.name, kind.name),
            format!("the params {} accepts (see docs/venues/)", kind.name),
        )
    })?;
    let mut warnings = Vec::new();
    if account.enabled && !kind.implemented() {
        warnings.push(format!(
            "account \"{}\": venue \"{}\" is not implemented in this build yet; the account will show as error and trade nothing",
            account.name, kind.name
        ));
    }
    if !account.enabled || kind.credentials.is_empty() {
        return Ok(warnings);
    }
    let fields = kind
        .credentials
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>();
    let Some(entry) = &account.credentials else {
        return Err(engine(
            "credentials",
            format!(
                "account \"{}\" on {} has no credentials entry",
                account.name, kind.name
            ),
            format!(
                "the name of an entry in credentials.json with {}",
                fields.join(", ")
            ),
        ));
    };
    let Some(credential) = credentials.get(entry) else {
        return Err(engine(
            "credentials",
            format!(
                "account \"{}\" names a credentials entry that credentials.json does not have ({})",
                account.name,
                crate::config::credentials::entry_list(credentials)
            ),
            "the name of an entry in credentials.json, or TRADE_ENGINE_CREDENTIALS__<ENTRY>__API_KEY (the name is not repeated here in case it is a secret pasted in the wrong place)".into(),
        ));
    };
    for field in kind.credentials {
        if super::common::required(kind.name, account, Some(credential), *field).is_err() {
            return Err(Problem {
                file: ConfigFile::Credentials,
                path: format!("{entry}.{}", field.name()),
                problem: format!(
                    "account \"{}\" ({}) needs {}; {} needs {}",
                    account.name,
                    kind.name,
                    field.name(),
                    kind.name,
                    fields.join(", ")
                ),
                expected: format!(
                    "a non-empty {} (or TRADE_ENGINE_CREDENTIALS__{}__{})",
                    field.name(),
                    entry.to_ascii_uppercase(),
                    field.name().to_ascii_uppercase()
                ),
            });
        }
    }
    Ok(warnings)
}

/// Builds the venue client of an account.
pub fn build(
    account: &AccountConfig,
    credential: Option<&Credential>,
    state_dir: &Path,
) -> Result<Arc<dyn Venue>, VenueError> {
    match find(&account.venue) {
        Some(VenueKind {
            build: Some(build), ..
        }) => build(account, credential, state_dir),
        Some(kind) => Err(VenueError::Unsupported(format!(
            "venue \"{}\" is not available in this build yet",
            kind.name
        ))),
        None => Err(VenueError::Unsupported(format!(
            "unknown venue {}",
            crate::input::excerpt(&account.venue)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(v: Value) -> AccountConfig {
        serde_json::from_value(v).unwrap()
    }

    fn creds(v: Value) -> Credentials {
        Credentials::from_json(&v).unwrap().0
    }

    #[test]
    fn names_are_unique_and_found() {
        let all = kinds();
        for k in all {
            assert_eq!(find(k.name).map(|f| f.name), Some(k.name));
            assert_eq!(all.iter().filter(|o| o.name == k.name).count(), 1);
        }
        assert!(find("binance").is_none());
    }

    #[test]
    fn unknown_venue_and_params_are_refused() {
        let none = Credentials::default();
        let p = check_account(
            &account(serde_json::json!({"name": "a", "venue": "binance"})),
            &none,
        )
        .unwrap_err();
        assert_eq!((p.file, p.path.as_str()), (ConfigFile::Engine, "venue"));
        assert!(p.expected.contains("bybit"), "{p:?}");
        let p = check_account(
            &account(serde_json::json!({"name": "a", "venue": "sim", "params": {"margin": 1}})),
            &none,
        )
        .unwrap_err();
        assert_eq!(p.path, "params");
        assert!(p.problem.contains("margin"), "{p:?}");
    }

    #[test]
    fn missing_credential_fields_are_named_with_where_to_put_them() {
        let acc = account(serde_json::json!({
            "name": "b", "venue": "bybit", "credentials": "bybit_main"
        }));
        let p = check_account(
            &acc,
            &creds(serde_json::json!({"bybit_main": {"api_key": "KEY-123"}})),
        )
        .unwrap_err();
        assert_eq!(p.file, ConfigFile::Credentials);
        assert_eq!(p.path, "bybit_main.api_secret");
        assert!(p.problem.contains("api_key, api_secret"), "{p:?}");
        assert!(
            p.expected
                .contains("TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_SECRET"),
            "{p:?}"
        );
        assert!(!format!("{p:?}").contains("KEY-123"));
        // A missing passphrase is found by `check`, not at run time.
        let blofin = account(serde_json::json!({
            "name": "f", "venue": "blofin", "credentials": "blofin_main"
        }));
        let p = check_account(
            &blofin,
            &creds(serde_json::json!({"blofin_main": {"api_key": "k", "api_secret": "s"}})),
        )
        .unwrap_err();
        assert_eq!(p.path, "blofin_main.api_passphrase");
        let ok = check_account(
            &blofin,
            &creds(serde_json::json!({"blofin_main": {
                "api_key": "k", "api_secret": "s", "api_passphrase": "p"
            }})),
        )
        .unwrap();
        assert!(ok.is_empty(), "{ok:?}");
    }

    #[test]
    fn disabled_accounts_and_sim_need_no_credentials() {
        let none = Credentials::default();
        assert!(check_account(
            &account(serde_json::json!({"name": "s", "venue": "sim"})),
            &none
        )
        .unwrap()
        .is_empty());
        assert!(check_account(
            &account(serde_json::json!({"name": "b", "venue": "bybit", "enabled": false})),
            &none
        )
        .is_ok());
    }
}
