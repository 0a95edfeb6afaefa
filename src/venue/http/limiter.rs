//! Rate limiting and circuit breaking, shared by every account of a venue on this host (one
//! egress IP): a venue-wide bucket, per-key/per-endpoint buckets under it, and a breaker that
//! stops all traffic when the venue says "slow down" or errors pile up, so an error storm can
//! never get the IP banned (BitMEX bans for an hour, Bybit for ten minutes).

use governor::{DefaultDirectRateLimiter, Quota};
use std::collections::{HashMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A rate expressed as `count` per `period`, with a burst of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub period: Duration,
}

impl Rate {
    pub const fn per_second(count: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(1),
        }
    }

    pub const fn per_minute(count: u32) -> Rate {
        Rate {
            count,
            period: Duration::from_secs(60),
        }
    }

    fn quota(self) -> Quota {
        let count = NonZeroU32::new(self.count.max(1)).unwrap_or(NonZeroU32::MIN);
        let per_cell = self.period / count.get();
        Quota::with_period(per_cell.max(Duration::from_micros(1)))
            .unwrap_or_else(|| Quota::per_second(count))
            .allow_burst(count)
    }
}

/// What a venue meters: the venue-wide (per IP) rate and the rate of each bucket.
#[derive(Clone, Debug)]
pub struct LimitPolicy {
    pub ip: Rate,
    pub buckets: Vec<(&'static str, Rate)>,
    /// Errors within `error_window` that open the breaker.
    pub error_threshold: usize,
    pub error_window: Duration,
    /// How long the breaker stays open after too many errors (doubles on repeat, capped).
    pub open_for: Duration,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        LimitPolicy {
            ip: Rate::per_second(20),
            buckets: Vec::new(),
            error_threshold: 10,
            error_window: Duration::from_secs(60),
            open_for: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Default)]
struct Breaker {
    errors: VecDeque<Instant>,
    open_until: Option<Instant>,
    trips: u32,
    /// The venue's own "remaining" header said we are at the limit until then.
    slow_until: Option<Instant>,
}

type SharedLimiters = Mutex<HashMap<(String, String), Arc<Limiter>>>;

fn shared_limiters() -> &'static SharedLimiters {
    static REGISTRY: OnceLock<SharedLimiters> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

pub struct Limiter {
    policy: LimitPolicy,
    ip: DefaultDirectRateLimiter,
    buckets: Mutex<HashMap<String, Arc<DefaultDirectRateLimiter>>>,
    breaker: Mutex<Breaker>,
}

impl Limiter {
    pub fn new(policy: LimitPolicy) -> Limiter {
        Limiter {
            ip: DefaultDirectRateLimiter::direct(policy.ip.quota()),
            policy,
            buckets: Mutex::new(HashMap::new()),
            breaker: Mutex::new(Breaker::default()),
        }
    }

    /// The limiter shared by all accounts of `venue` that talk to `host` from this process.
    pub fn shared(venue: &str, host: &str, policy: LimitPolicy) -> Arc<Limiter> {
        let mut guard = shared_limiters().lock().unwrap_or_else(|p| p.into_inner());
        guard
            .entry((venue.to_owned(), host.to_owned()))
            .or_insert_with(|| Arc::new(Limiter::new(policy)))
            .clone()
    }

    /// Every shared limiter as (venue, host, limiter), for `/metrics`.
    pub fn all() -> Vec<(String, String, Arc<Limiter>)> {
        let guard = shared_limiters().lock().unwrap_or_else(|p| p.into_inner());
        guard
            .iter()
            .map(|((v, h), l)| (v.clone(), h.clone(), l.clone()))
            .collect()
    }

    /// Remaining time the breaker is open, if it is.
    pub fn open_for(&self) -> Option<Duration> {
        let now = Instant::now();
        let b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// Waits for a token of the venue-wide bucket and of `bucket` (keyed per API key).
    pub async fn acquire(&self, key: &str, bucket: &str) {
        let slow = {
            let b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
            b.slow_until
        };
        if let Some(until) = slow {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
        self.ip.until_ready().await;
        let rate = self
            .policy
            .buckets
            .iter()
            .find(|(name, _)| *name == bucket)
            .map(|(_, r)| *r);
        if let Some(rate) = rate {
            let limiter = {
                let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(format!("{key}/{bucket}"))
                    .or_insert_with(|| Arc::new(DefaultDirectRateLimiter::direct(rate.quota())))
                    .clone()
            };
            limiter.until_ready().await;
        }
    }

    /// The venue said this many requests remain until `reset`: when none remain, hold all
    /// traffic until the reset instead of running into the limit.
    pub fn observe_remaining(&self, remaining: u64, reset: Option<Instant>) {
        if remaining > 1 {
            return;
        }
        let until = reset.unwrap_or_else(|| Instant::now() + Duration::from_secs(1));
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.slow_until = Some(b.slow_until.map_or(until, |t| t.max(until)));
    }

    /// A 429 / ban answer: stop all traffic until `until`.
    pub fn open_until(&self, until: Instant) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until = Some(b.open_until.map_or(until, |t| t.max(until)));
        b.trips += 1;
    }

    /// A failed request (5xx, timeout, refused connection): too many of them open the breaker.
    pub fn record_error(&self) {
        let now = Instant::now();
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.errors.push_back(now);
        while b
            .errors
            .front()
            .is_some_and(|t| now.duration_since(*t) > self.policy.error_window)
        {
            b.errors.pop_front();
        }
        if b.errors.len() >= self.policy.error_threshold {
            let factor = 2u32.saturating_pow(b.trips.min(5));
            let open = (self.policy.open_for * factor).min(Duration::from_secs(900));
            b.open_until = Some(now + open);
            b.trips += 1;
            b.errors.clear();
            tracing::warn!(
                open_secs = open.as_secs(),
                "circuit breaker opened after repeated venue errors"
            );
        }
    }

    pub fn record_success(&self) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        if b.open_until.is_none_or(|t| t <= Instant::now()) {
            b.trips = 0;
            b.open_until = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_threshold_and_doubles() {
        let l = Limiter::new(LimitPolicy {
            error_threshold: 3,
            open_for: Duration::from_secs(10),
            ..Default::default()
        });
        l.record_error();
        l.record_error();
        assert!(l.open_for().is_none());
        l.record_error();
        let first = l.open_for().unwrap();
        assert!(first > Duration::from_secs(8));
        for _ in 0..3 {
            l.record_error();
        }
        assert!(l.open_for().unwrap() > first);
    }

    #[test]
    fn explicit_open_until() {
        let l = Limiter::new(LimitPolicy::default());
        l.open_until(Instant::now() + Duration::from_secs(5));
        assert!(l.open_for().unwrap() > Duration::from_secs(4));
    }

    #[tokio::test]
    async fn buckets_pace_requests() {
        let l = Limiter::new(LimitPolicy {
            ip: Rate::per_second(1000),
            buckets: vec![("order", Rate::per_second(10))],
            ..Default::default()
        });
        let start = Instant::now();
        for _ in 0..12 {
            l.acquire("k", "order").await;
        }
        // 10 burst, then two more at 100 ms each.
        assert!(start.elapsed() >= Duration::from_millis(150));
    }

    #[test]
    fn shared_is_per_venue_and_host() {
        let a = Limiter::shared("x", "h1", LimitPolicy::default());
        let b = Limiter::shared("x", "h1", LimitPolicy::default());
        let c = Limiter::shared("x", "h2", LimitPolicy::default());
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
    }
}
