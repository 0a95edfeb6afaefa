//! Reading the fields a venue needs from an account's credentials entry, with an error that
//! tells the user which account, which entry and which field, and where to put it.

use crate::config::{AccountConfig, Credential, Secret};
use crate::venue::VenueError;

/// A field of a `credentials.json` entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CredentialField {
    ApiKey,
    ApiSecret,
    ApiPassphrase,
    AccountId,
}

impl CredentialField {
    /// The field's name in `credentials.json`.
    pub fn name(self) -> &'static str {
        match self {
            CredentialField::ApiKey => "api_key",
            CredentialField::ApiSecret => "api_secret",
            CredentialField::ApiPassphrase => "api_passphrase",
            CredentialField::AccountId => "account_id",
        }
    }

    fn value(self, credential: &Credential) -> Option<Secret> {
        match self {
            CredentialField::ApiKey => credential.api_key.clone(),
            CredentialField::ApiSecret => credential.api_secret.clone(),
            CredentialField::ApiPassphrase => credential.api_passphrase.clone(),
            CredentialField::AccountId => credential.account_id.clone().map(Secret::new),
        }
    }
}

/// The value of `field`, present and non-empty, or an error naming the account, the entry and
/// the environment variable that can supply it. Never shows a value.
pub fn required(
    venue: &str,
    account: &AccountConfig,
    credential: Option<&Credential>,
    field: CredentialField,
) -> Result<Secret, VenueError> {
    let entry = account.credentials.as_deref();
    let value = credential
        .and_then(|c| field.value(c))
        .filter(|v| !v.expose().trim().is_empty());
    value.ok_or_else(|| {
        let whereto = match entry {
            Some(entry) => format!(
                "add \"{}\" to entry \"{entry}\" of credentials.json (or set TRADE_ENGINE_CREDENTIALS__{}__{})",
                field.name(),
                entry.to_ascii_uppercase(),
                field.name().to_ascii_uppercase()
            ),
            None => "name a credentials.json entry in the account's \"credentials\" field".into(),
        };
        VenueError::Auth(format!(
            "account \"{}\" ({venue}) needs {}: {whereto}",
            account.name,
            field.name()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(entry: Option<&str>) -> AccountConfig {
        let mut a: AccountConfig = serde_json::from_value(serde_json::json!({
            "name": "main", "venue": "bybit"
        }))
        .unwrap();
        a.credentials = entry.map(str::to_string);
        a
    }

    #[test]
    fn present_fields_are_returned_and_missing_ones_named() {
        let credential = Credential {
            api_key: Some(Secret::new("KEY-VALUE")),
            api_secret: Some(Secret::new("  ")),
            ..Credential::default()
        };
        let a = account(Some("bybit_main"));
        let key = required("bybit", &a, Some(&credential), CredentialField::ApiKey).unwrap();
        assert_eq!(key.expose(), "KEY-VALUE");
        let err = required("bybit", &a, Some(&credential), CredentialField::ApiSecret)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"main\""), "{err}");
        assert!(err.contains("api_secret"), "{err}");
        assert!(
            err.contains("TRADE_ENGINE_CREDENTIALS__BYBIT_MAIN__API_SECRET"),
            "{err}"
        );
        assert!(!err.contains("KEY-VALUE"));
        let err = required("bybit", &account(None), None, CredentialField::ApiKey)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"credentials\""), "{err}");
    }
}
