//! BitMEX request signing: `api-signature = hex(HMAC-SHA256(secret, VERB + PATH + EXPIRES +
//! BODY))`, where PATH is `/api/v1/...` with the query exactly as it goes on the wire and
//! EXPIRES is the `api-expires` header (UNIX seconds). The secret is used as UTF-8 bytes, not
//! base64-decoded. The WebSocket signs `GET/realtime` + expires the same way.

use crate::config::Secret;
use crate::venue::http::{PreparedRequest, Signer};
use crate::venue::VenueError;
use sha2::{Digest, Sha256};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a signed request stays valid. BitMEX has no recv-window: the expiry is the
/// window. Short, so that a request held up on the way cannot land much later, yet with room
/// for a few seconds of clock skew.
pub const EXPIRES_AFTER: Duration = Duration::from_secs(10);

/// The exact bytes that are signed.
pub fn string_to_sign(verb: &str, path_and_query: &str, expires: u64, body: &str) -> String {
    format!("{verb}{path_and_query}{expires}{body}")
}

/// Lowercase hex HMAC-SHA256 of `message` keyed with the secret's UTF-8 bytes.
pub fn hmac_hex(secret: &str, message: &str) -> Result<String, VenueError> {
    Ok(crate::venue::common::hmac::sha256_hex(secret, message))
}

/// UNIX seconds `after` from now.
pub fn expires_in(after: Duration) -> u64 {
    SystemTime::now()
        .checked_add(after)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// Signs REST requests of one API key.
pub struct BitmexSigner {
    key: Secret,
    secret: Secret,
    /// A stable, non-secret handle for the key (rate-limit buckets are per key).
    key_id: String,
}

impl BitmexSigner {
    pub fn new(key: Secret, secret: Secret) -> BitmexSigner {
        let digest = hex::encode(Sha256::digest(key.expose().as_bytes()));
        BitmexSigner {
            key,
            secret,
            key_id: format!("key-{}", &digest[..12]),
        }
    }

    /// Adds `api-expires`, `api-key` and `api-signature` for the given expiry, signing the
    /// path, query and body read back from the prepared request.
    pub fn sign_at(&self, request: &mut PreparedRequest, expires: u64) -> Result<(), VenueError> {
        let message = string_to_sign(
            request.method.as_str(),
            &request.path_and_query(),
            expires,
            request.body_str(),
        );
        let signature = hmac_hex(self.secret.expose(), &message)?;
        request.set_header("api-expires", expires.to_string());
        request.set_header("api-key", self.key.expose());
        request.set_header("api-signature", signature);
        Ok(())
    }

    /// The `authKeyExpires` frame that authenticates a WebSocket whose URL path is `path`
    /// (`/realtime`).
    pub fn ws_auth_frame(&self, path: &str, expires: u64) -> Result<String, VenueError> {
        let signature = hmac_hex(
            self.secret.expose(),
            &string_to_sign("GET", path, expires, ""),
        )?;
        Ok(serde_json::json!({
            "op": "authKeyExpires",
            "args": [self.key.expose(), expires, signature],
        })
        .to_string())
    }
}

impl Signer for BitmexSigner {
    fn sign(&self, request: &mut PreparedRequest) -> Result<(), VenueError> {
        self.sign_at(request, expires_in(EXPIRES_AFTER))
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
    use url::Url;

    const VECTORS: &str = include_str!("../../../tests/fixtures/vectors/bitmex.json");

    fn cases() -> Vec<Value> {
        let file: Value = serde_json::from_str(VECTORS).expect("vector file is JSON");
        file["cases"].as_array().expect("cases").clone()
    }

    fn text<'a>(case: &'a Value, field: &str) -> &'a str {
        case[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} in {}", case["name"]))
    }

    #[test]
    fn every_rest_vector_is_reproduced_byte_for_byte() {
        let base = Url::parse("https://www.bitmex.com").unwrap();
        let mut checked = 0;
        for case in cases()
            .iter()
            .filter(|c| c["expected_ws_message"].is_null())
        {
            let name = text(case, "name");
            let signer = BitmexSigner::new(
                Secret::new(text(case, "api_key")),
                Secret::new(text(case, "api_secret")),
            );
            let (path, query) = text(case, "path")
                .split_once('?')
                .unwrap_or((text(case, "path"), ""));
            let body = text(case, "body");
            let method = Method::from_bytes(text(case, "method").as_bytes()).unwrap();
            let mut req = PreparedRequest::new(
                method,
                &base,
                path,
                query,
                (!body.is_empty()).then(|| body.to_string()),
            )
            .unwrap();
            // What goes on the wire is what the vector signs.
            assert_eq!(req.path_and_query(), text(case, "path"), "{name}");
            assert_eq!(req.body_str(), body, "{name}");
            let expires = case["expires"].as_u64().unwrap();
            assert_eq!(
                string_to_sign(req.method.as_str(), &req.path_and_query(), expires, body),
                text(case, "string_to_sign"),
                "{name}"
            );
            signer.sign_at(&mut req, expires).unwrap();
            for (header, value) in case["expected_headers"].as_object().unwrap() {
                let got = req
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(header))
                    .map(|(_, v)| v.as_str());
                assert_eq!(got, value.as_str(), "{name}: header {header}");
            }
            let sig = req
                .headers
                .iter()
                .find(|(n, _)| n == "api-signature")
                .map(|(_, v)| v.clone());
            assert_eq!(
                sig.as_deref(),
                Some(text(case, "expected_signature")),
                "{name}"
            );
            checked += 1;
        }
        assert_eq!(
            checked, 13,
            "all REST vectors, including the official three"
        );
    }

    #[test]
    fn official_examples_are_among_the_vectors() {
        let names: Vec<String> = cases()
            .iter()
            .map(|c| text(c, "name").to_string())
            .collect();
        for official in [
            "official_doc_simple_get",
            "official_doc_get_complex_query",
            "official_doc_post",
        ] {
            assert!(names.iter().any(|n| n == official), "{official}");
        }
    }

    #[test]
    fn ws_auth_vector_is_reproduced() {
        let case = cases()
            .into_iter()
            .find(|c| !c["expected_ws_message"].is_null())
            .expect("ws case");
        let signer = BitmexSigner::new(
            Secret::new(text(&case, "api_key")),
            Secret::new(text(&case, "api_secret")),
        );
        let expires = case["expires"].as_u64().unwrap();
        assert_eq!(
            string_to_sign("GET", text(&case, "path"), expires, ""),
            text(&case, "string_to_sign")
        );
        let frame = signer.ws_auth_frame(text(&case, "path"), expires).unwrap();
        let parsed: Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(parsed, case["expected_ws_message"]);
        assert_eq!(
            frame,
            serde_json::to_string(&case["expected_ws_message"]).unwrap()
        );
        assert_eq!(
            parsed["args"][2].as_str(),
            Some(text(&case, "expected_signature"))
        );
    }

    #[test]
    fn signer_uses_a_fresh_expiry_and_hides_the_key() {
        let signer = BitmexSigner::new(Secret::new("KEY123"), Secret::new("s"));
        assert!(!signer.key_id().contains("KEY123"));
        let base = Url::parse("http://127.0.0.1:1").unwrap();
        let mut req =
            PreparedRequest::new(Method::GET, &base, "/api/v1/position", "", None).unwrap();
        let before = expires_in(Duration::ZERO);
        signer.sign(&mut req).unwrap();
        let expires: u64 = req
            .headers
            .iter()
            .find(|(n, _)| n == "api-expires")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap();
        assert!(expires >= before + EXPIRES_AFTER.as_secs());
        assert!(expires <= before + EXPIRES_AFTER.as_secs() + 2);
    }
}
