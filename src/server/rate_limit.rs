//! Per-client token buckets for the webhook endpoint. Integer milli-tokens keep the
//! arithmetic exact; parameters come with each call so a config reload applies at once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TOKEN: u128 = 1000;
/// Beyond this many tracked clients, buckets that have refilled completely are forgotten.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// `first` is true for the first refusal after allowed requests (worth one log line).
    Refused {
        retry_after: Duration,
        first: bool,
    },
}

struct Bucket {
    milli_tokens: u128,
    at: Instant,
    refusing: bool,
}

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<(String, IpAddr), Bucket>>,
}

impl RateLimiter {
    /// Takes one token from `client`'s bucket of `source`: `burst` tokens at most, refilled at
    /// `per_minute`.
    pub fn check(
        &self,
        source: &str,
        client: IpAddr,
        per_minute: u32,
        burst: u32,
        now: Instant,
    ) -> Verdict {
        let per_minute = u128::from(per_minute.max(1));
        let capacity = u128::from(burst.max(1)) * TOKEN;
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED {
            let full_after = Duration::from_micros((capacity * 60_000 / per_minute) as u64);
            buckets.retain(|_, b| now.saturating_duration_since(b.at) < full_after);
        }
        let bucket = buckets
            .entry((source.to_string(), client))
            .or_insert(Bucket {
                milli_tokens: capacity,
                at: now,
                refusing: false,
            });
        let elapsed_us = now.saturating_duration_since(bucket.at).as_micros();
        // per_minute tokens per 60e6 µs = per_minute × 1000 milli-tokens per 60e6 µs.
        let refill = elapsed_us * per_minute / 60_000;
        bucket.milli_tokens = (bucket.milli_tokens + refill).min(capacity);
        bucket.at = now;
        if bucket.milli_tokens >= TOKEN {
            bucket.milli_tokens -= TOKEN;
            bucket.refusing = false;
            return Verdict::Allowed;
        }
        let missing = TOKEN - bucket.milli_tokens;
        let wait_us = (missing * 60_000).div_ceil(per_minute);
        let first = !std::mem::replace(&mut bucket.refusing, true);
        Verdict::Refused {
            retry_after: Duration::from_micros(wait_us as u64),
            first,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_per_client_and_source() {
        let limiter = RateLimiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.check("tv", a, 60, 3, t0), Verdict::Allowed);
        }
        let Verdict::Refused { retry_after, first } = limiter.check("tv", a, 60, 3, t0) else {
            panic!("fourth request in the same instant must be refused");
        };
        // 60 per minute = one token per second.
        assert_eq!(retry_after, Duration::from_secs(1));
        assert!(first);
        assert!(matches!(
            limiter.check("tv", a, 60, 3, t0),
            Verdict::Refused { first: false, .. }
        ));
        // Other clients and other sources have their own buckets.
        assert_eq!(limiter.check("tv", b, 60, 3, t0), Verdict::Allowed);
        assert_eq!(limiter.check("tv2", a, 60, 3, t0), Verdict::Allowed);
        // Half a second later half a token is back: still refused, half a second to wait.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(
            limiter.check("tv", a, 60, 3, t1),
            Verdict::Refused {
                retry_after: Duration::from_millis(500),
                first: false
            }
        );
        let t2 = t0 + Duration::from_millis(1000);
        assert_eq!(limiter.check("tv", a, 60, 3, t2), Verdict::Allowed);
    }
}
