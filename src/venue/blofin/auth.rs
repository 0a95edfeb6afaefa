//! BloFin signing: REST `ACCESS-*` headers over the exact bytes sent, and the private
//! stream's `login` op. Pure functions of their inputs (clock and nonce are passed in), so
//! every published vector is reproduced byte for byte by the tests.
//!
//! `prehash = path(+?query) + METHOD + timestamp + nonce + body`, and the signature is the
//! standard base64 of the *lowercase hex text* of HMAC-SHA256(secret, prehash) — not of the
//! raw digest (88 characters, not 44). The passphrase travels in clear in its own header.

use crate::config::Secret;
use crate::venue::http::{PreparedRequest, Signer};
use crate::venue::VenueError;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The fixed path and method the stream login signs.
pub const WS_LOGIN_PATH: &str = "/users/self/verify";

pub struct BlofinSigner {
    api_key: Secret,
    api_secret: Secret,
    passphrase: Secret,
    /// Names the key in the rate limiter without carrying the key itself.
    key_id: String,
}

impl std::fmt::Debug for BlofinSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlofinSigner")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl BlofinSigner {
    pub fn new(api_key: Secret, api_secret: Secret, passphrase: Secret) -> BlofinSigner {
        let digest = hex::encode(Sha256::digest(api_key.expose().as_bytes()));
        BlofinSigner {
            key_id: format!("key-{}", &digest[..12]),
            api_key,
            api_secret,
            passphrase,
        }
    }

    /// Adds the five `ACCESS-*` headers for a request sent at `timestamp_ms` with `nonce`.
    pub fn sign_at(&self, request: &mut PreparedRequest, timestamp_ms: i64, nonce: &str) {
        let ts = timestamp_ms.to_string();
        let method = request.method.as_str().to_ascii_uppercase();
        let body = if request.method == reqwest::Method::GET {
            String::new()
        } else {
            request.body_str().to_string()
        };
        let message = prehash(&request.path_and_query(), &method, &ts, nonce, &body);
        let signature = sign(self.api_secret.expose(), &message);
        request.set_header("ACCESS-KEY", self.api_key.expose());
        request.set_header("ACCESS-SIGN", signature);
        request.set_header("ACCESS-TIMESTAMP", ts);
        request.set_header("ACCESS-NONCE", nonce);
        request.set_header("ACCESS-PASSPHRASE", self.passphrase.expose());
    }

    /// The private stream's `login` frame, signed at `timestamp_ms` with `nonce`.
    pub fn ws_login_frame(&self, timestamp_ms: i64, nonce: &str) -> String {
        let ts = timestamp_ms.to_string();
        let signature = sign(
            self.api_secret.expose(),
            &prehash(WS_LOGIN_PATH, "GET", &ts, nonce, ""),
        );
        serde_json::json!({
            "op": "login",
            "args": [{
                "apiKey": self.api_key.expose(),
                "passphrase": self.passphrase.expose(),
                "timestamp": ts,
                "nonce": nonce,
                "sign": signature,
            }],
        })
        .to_string()
    }
}

impl Signer for BlofinSigner {
    fn sign(&self, request: &mut PreparedRequest) -> Result<(), VenueError> {
        self.sign_at(request, chrono::Utc::now().timestamp_millis(), &nonce());
        Ok(())
    }

    fn key_id(&self) -> &str {
        &self.key_id
    }
}

/// The string BloFin signs: plain concatenation, no separators.
pub fn prehash(
    path_and_query: &str,
    method: &str,
    timestamp: &str,
    nonce: &str,
    body: &str,
) -> String {
    format!("{path_and_query}{method}{timestamp}{nonce}{body}")
}

/// base64(lowercase hex(HMAC-SHA256(secret, message))).
pub fn sign(secret: &str, message: &str) -> String {
    let hex = crate::venue::common::hmac::sha256_hex(secret, message);
    base64::engine::general_purpose::STANDARD.encode(hex.as_bytes())
}

/// A fresh random UUID v4 text: BloFin refuses a nonce seen in the last 60 s (152407), so
/// the timestamp alone (ccxt's choice) would collide for two requests in one millisecond.
pub fn nonce() -> String {
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests;
