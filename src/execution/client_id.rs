//! Deterministic client order ids: the same (account, symbol, plan, step) always gives the
//! same id, so a retry or a restart re-sends the same id and the venue refuses a duplicate.
//!
//! The id is `te` + 30 hex digits of SHA-256: 32 characters of `[a-z0-9]`, which every venue
//! accepts (BloFin allows 32, Bybit and BitMEX 36, KuCoin 40).

use sha2::{Digest, Sha256};

pub const CLIENT_ID_LEN: usize = 32;

pub fn client_order_id(account: &str, symbol: &str, plan: u64, step: u32) -> String {
    let mut hasher = Sha256::new();
    hasher.update(account.as_bytes());
    hasher.update([0]);
    hasher.update(symbol.as_bytes());
    hasher.update([0]);
    hasher.update(plan.to_be_bytes());
    hasher.update(step.to_be_bytes());
    let digest = hex::encode(hasher.finalize());
    format!("te{}", &digest[..CLIENT_ID_LEN - 2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_distinct_and_venue_safe() {
        let a = client_order_id("main", "BTCUSDT", 7, 0);
        assert_eq!(a, client_order_id("main", "BTCUSDT", 7, 0));
        assert_ne!(a, client_order_id("main", "BTCUSDT", 7, 1));
        assert_ne!(a, client_order_id("main", "BTCUSDT", 8, 0));
        assert_ne!(a, client_order_id("main2", "BTCUSDT", 7, 0));
        // Field boundaries matter: ("ab","c") and ("a","bc") differ.
        assert_ne!(
            client_order_id("ab", "c", 1, 0),
            client_order_id("a", "bc", 1, 0)
        );
        assert_eq!(a.len(), CLIENT_ID_LEN);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
