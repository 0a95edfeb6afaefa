//! A small map whose entries expire: instrument metadata changes rarely (a tick or lot change
//! is announced days ahead), so one read an hour per symbol is enough.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct TtlCache<V> {
    ttl: Duration,
    entries: Mutex<HashMap<String, (V, Instant)>>,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(ttl: Duration) -> TtlCache<V> {
        TtlCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for `key` if it is younger than the expiry.
    pub fn get(&self, key: &str) -> Option<V> {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: impl Into<String>, value: V) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key.into(), (value, Instant::now()));
    }

    /// Forgets `key` (e.g. after the venue refused a quantity the cached lot allowed).
    pub fn remove(&self, key: &str) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let cache = TtlCache::new(Duration::from_secs(3600));
        cache.insert("BTCUSDT", 1);
        assert_eq!(cache.get("BTCUSDT"), Some(1));
        assert_eq!(cache.get("ETHUSDT"), None);
        cache.remove("BTCUSDT");
        assert_eq!(cache.get("BTCUSDT"), None);
        let expired = TtlCache::new(Duration::ZERO);
        expired.insert("BTCUSDT", 1);
        assert_eq!(expired.get("BTCUSDT"), None);
    }
}
