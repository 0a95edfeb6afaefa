//! HMAC-SHA256, the primitive of every venue signature here (hex for Bybit, BitMEX and MEXC;
//! base64 for KuCoin and BloFin's variants). The venue's `auth.rs` builds the string to sign.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// HMAC-SHA256 of `message` keyed by `secret`.
pub fn sha256(secret: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length, so this never fails; were it to, a zero signature is
    // refused by the venue instead of bringing the daemon down.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Lowercase hex of [`sha256`] over UTF-8 text.
pub fn sha256_hex(secret: &str, message: &str) -> String {
    hex::encode(sha256(secret.as_bytes(), message.as_bytes()))
}

/// Standard base64 of [`sha256`] over UTF-8 text.
pub fn sha256_base64(secret: &str, message: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha256(secret.as_bytes(), message.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2.
    #[test]
    fn rfc4231_case_2() {
        assert_eq!(
            sha256_hex("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            sha256_base64("Jefe", "what do ya want for nothing?"),
            "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM="
        );
    }
}
