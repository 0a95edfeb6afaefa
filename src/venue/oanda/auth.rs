//! OANDA v20 authentication: a personal access token as `Authorization: Bearer <token>` on
//! every request (REST and streams). No signing and no timestamps, so no clock dependence;
//! `Accept-Datetime-Format: RFC3339` pins the one time format the parser reads.

use crate::config::Secret;
use crate::venue::http::{PreparedRequest, Signer};
use crate::venue::VenueError;
use sha2::{Digest, Sha256};

pub const DATETIME_FORMAT: &str = "RFC3339";

pub struct BearerSigner {
    token: Secret,
    /// Names the token in the rate limiter without carrying the token itself.
    key_id: String,
}

impl std::fmt::Debug for BearerSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl BearerSigner {
    pub fn new(token: Secret) -> BearerSigner {
        let digest = hex::encode(Sha256::digest(token.expose().as_bytes()));
        BearerSigner {
            key_id: format!("token-{}", &digest[..12]),
            token,
        }
    }

    /// The headers every request carries (the stream requests too).
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("Authorization".into(), authorization(self.token.expose())),
            ("Accept-Datetime-Format".into(), DATETIME_FORMAT.into()),
        ]
    }
}

pub fn authorization(token: &str) -> String {
    format!("Bearer {token}")
}

impl Signer for BearerSigner {
    fn sign(&self, request: &mut PreparedRequest) -> Result<(), VenueError> {
        for (name, value) in self.headers() {
            request.set_header(&name, value);
        }
        Ok(())
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::Method;
    use serde_json::Value;

    const VECTORS: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vectors/oanda.json"
    ));

    #[test]
    fn bearer_header_as_the_vectors_show_it() {
        let v: Value = serde_json::from_str(VECTORS).unwrap();
        let headers = &v["common_headers"];
        assert_eq!(
            authorization("<personal-access-token>"),
            headers["Authorization"].as_str().unwrap()
        );
        assert_eq!(DATETIME_FORMAT, headers["Accept-Datetime-Format"]);
        let base = url::Url::parse("https://api-fxpractice.oanda.com").unwrap();
        let mut req = PreparedRequest::new(
            Method::GET,
            &base,
            "/v3/accounts/101-004-1234567-001/summary",
            "",
            None,
        )
        .unwrap();
        let signer = BearerSigner::new(Secret::new("tok-123"));
        signer.sign(&mut req).unwrap();
        assert!(req
            .headers
            .iter()
            .any(|(n, v)| n == "Authorization" && v == "Bearer tok-123"));
    }

    #[test]
    fn debug_never_shows_the_token() {
        let signer = BearerSigner::new(Secret::new("very-secret-token"));
        let text = format!("{signer:?}");
        assert!(!text.contains("very-secret-token"), "{text}");
        assert!(!signer.key_id().contains("very-secret-token"));
    }
}
