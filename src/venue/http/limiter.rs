//! Rate limiting and circuit breaking, shared by every account of a venue on this host (one
//! egress IP). Each request spends the venue-wide (per IP) budget, its bucket's budget for its
//! API key, and the key's every-request budget when the venue has one ([`EVERY_REQUEST`]);
//! the counting is exact over the venue's own rolling window (see `window`). A refusal holds
//! only the scope refused (the key, or one bucket of it); an IP ban or an error storm opens
//! the breaker for the whole host, so it can never get the IP banned (BitMEX bans for an
//! hour, Bybit for ten minutes).

use super::window::{Budget, Spend, Windows};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// A budget of `count` per rolling `period` (the whole count may be spent at once).
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

    /// `count` per `period` (BloFin's 30 per 10 s, Bybit's 600 per 5 s).
    pub const fn per(count: u32, period: Duration) -> Rate {
        Rate { count, period }
    }

    fn budget(self, refilled: bool) -> Budget {
        Budget {
            count: self.count.max(1),
            period: self.period.max(Duration::from_millis(1)),
            refilled,
        }
    }
}

/// The name of a bucket every request of a key spends besides its own bucket, counted over a
/// rolling window (KuCoin's weight pool): list it in [`LimitPolicy::buckets`].
pub const EVERY_REQUEST: &str = "*";

/// Like [`EVERY_REQUEST`], for a venue whose per-key budget is a token bucket of `count`
/// tokens refilled continuously over `period` (BitMEX's 120 per minute): a full bucket can be
/// spent at once, then requests go at the refill rate.
pub const EVERY_REQUEST_REFILLED: &str = "*refilled";

/// What a venue meters: the venue-wide (per IP) budget, and per API key the budget of each
/// bucket (and of [`EVERY_REQUEST`]). Buckets not listed spend only the IP budget.
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

impl LimitPolicy {
    fn rate(&self, bucket: &str) -> Option<Rate> {
        self.buckets
            .iter()
            .find(|(name, _)| *name == bucket)
            .map(|(_, r)| *r)
    }
}

/// Which scope a quota figure or a refusal is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every request to the venue from this host (an IP ban).
    Host,
    /// Everything the request's API key sends.
    Key,
    /// The request's own bucket of its key (Bybit: per UID and endpoint).
    Bucket,
    /// A named bucket of the request's key (BitMEX's per-second order layer).
    Named(&'static str),
}

/// A quota the venue reported with an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuotaHeader {
    pub scope: Scope,
    pub remaining: u64,
    /// Time until the scope frees up, when the venue says.
    pub reset: Option<Duration>,
    /// The budget the venue says applies (a VIP tier), when it says.
    pub limit: Option<u64>,
}

#[derive(Debug, Default)]
struct Breaker {
    errors: VecDeque<Instant>,
    open_until: Option<Instant>,
    trips: u32,
}

type SharedLimiters = Mutex<HashMap<(String, String), Arc<Limiter>>>;

fn shared_limiters() -> &'static SharedLimiters {
    static REGISTRY: OnceLock<SharedLimiters> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

#[derive(Debug, Default)]
struct State {
    windows: Windows,
    /// Scopes held until a moment: after a refusal (requests fail at once) ...
    refused: HashMap<String, Instant>,
    /// ... or because the venue said nothing is left until its reset (requests wait).
    exhausted: HashMap<String, Instant>,
}

pub struct Limiter {
    policy: LimitPolicy,
    state: Mutex<State>,
    /// Woken whenever a request finishes, so that waiters re-check the windows.
    finished: Notify,
    breaker: Mutex<Breaker>,
}

/// The slots one request took; dropping it (after the answer, a failure, or a cancelled
/// send) starts the slots' last period.
pub struct Permit<'a> {
    limiter: &'a Limiter,
    spends: Vec<Spend>,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.windows.finish(&self.spends, Instant::now());
        drop(state);
        self.limiter.finished.notify_waiters();
    }
}

fn key_scope(key: &str) -> String {
    format!("key:{key}")
}

fn bucket_scope(key: &str, bucket: &str) -> String {
    format!("key:{key}/{bucket}")
}

const IP_SCOPE: &str = "ip";

impl Limiter {
    pub fn new(policy: LimitPolicy) -> Limiter {
        Limiter {
            policy,
            state: Mutex::new(State::default()),
            finished: Notify::new(),
            breaker: Mutex::new(Breaker::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
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

    /// Remaining time the breaker is open for the whole host, if it is.
    pub fn open_for(&self) -> Option<Duration> {
        let now = Instant::now();
        let b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until.filter(|t| *t > now).map(|t| t - now)
    }

    /// Whether anything on this host is held: the breaker, or a refused or exhausted scope.
    pub fn holding(&self) -> bool {
        let now = Instant::now();
        let state = self.lock();
        self.open_for().is_some()
            || state
                .refused
                .values()
                .chain(state.exhausted.values())
                .any(|t| *t > now)
    }

    /// What a request of `key` in `bucket` spends, weighing `weight` units in the key's
    /// buckets (Bybit counts a batch per order; the IP budget counts requests).
    fn spends(&self, key: &str, bucket: &str, weight: u32) -> Vec<Spend> {
        let mut out = vec![Spend {
            scope: IP_SCOPE.into(),
            budget: self.policy.ip.budget(false),
            weight: 1,
        }];
        for every in [EVERY_REQUEST, EVERY_REQUEST_REFILLED] {
            if let Some(rate) = self.policy.rate(every) {
                out.push(Spend {
                    scope: bucket_scope(key, every),
                    budget: rate.budget(every == EVERY_REQUEST_REFILLED),
                    weight: weight.max(1),
                });
            }
        }
        if bucket != EVERY_REQUEST && bucket != EVERY_REQUEST_REFILLED {
            if let Some(rate) = self.policy.rate(bucket) {
                out.push(Spend {
                    scope: bucket_scope(key, bucket),
                    budget: rate.budget(false),
                    weight: weight.max(1),
                });
            }
        }
        out
    }

    /// How long the scopes of a request of `key` in `bucket` are held after a refusal.
    pub fn refused_for(&self, key: &str, bucket: &str) -> Option<Duration> {
        let now = Instant::now();
        let state = self.lock();
        [key_scope(key), bucket_scope(key, bucket)]
            .iter()
            .filter_map(|s| state.refused.get(s))
            .filter(|t| **t > now)
            .max()
            .map(|t| *t - now)
    }

    /// Units a request of `key` in `bucket` could spend right now without waiting (a venue
    /// with two buckets for the same thing splits its work by it).
    pub fn room(&self, key: &str, bucket: &str) -> u32 {
        let spends = self.spends(key, bucket, 1);
        self.lock().windows.room(&spends, Instant::now())
    }

    /// Waits until a request of `key` in `bucket` fits every budget it spends, and takes its
    /// slots; they are released (into the window's last period) when the permit drops.
    pub async fn acquire(&self, key: &str, bucket: &str) -> Permit<'_> {
        self.acquire_weighted(key, bucket, 1).await
    }

    /// [`Limiter::acquire`] for a request that counts `weight` units in its key's buckets.
    pub async fn acquire_weighted(&self, key: &str, bucket: &str, weight: u32) -> Permit<'_> {
        let spends = self.spends(key, bucket, weight);
        let held = [
            IP_SCOPE.to_string(),
            key_scope(key),
            bucket_scope(key, bucket),
        ];
        loop {
            // Registered before looking, so a request finishing in between still wakes us.
            let finished = self.finished.notified();
            let now = Instant::now();
            let wait = {
                let mut state = self.lock();
                let exhausted = held
                    .iter()
                    .filter_map(|s| state.exhausted.get(s))
                    .filter(|t| **t > now)
                    .max()
                    .copied();
                match exhausted {
                    Some(until) => Err(Some(until)),
                    None => state.windows.try_take(&spends, now),
                }
            };
            match wait {
                Ok(()) => {
                    return Permit {
                        limiter: self,
                        spends,
                    }
                }
                Err(Some(until)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = finished => {}
                    }
                }
                // Only an answer frees a slot; re-check now and then all the same.
                Err(None) => {
                    let _ = tokio::time::timeout(Duration::from_secs(1), finished).await;
                }
            }
        }
    }

    /// Quotas the venue reported with the answer to a request of `key` in `bucket`.
    pub fn observe(&self, key: &str, bucket: &str, quota: QuotaHeader) {
        let now = Instant::now();
        let spends = self.spends(key, bucket, 1);
        let scope = match quota.scope {
            Scope::Host => Some(IP_SCOPE.to_string()),
            Scope::Key if self.policy.rate(EVERY_REQUEST).is_some() => {
                Some(bucket_scope(key, EVERY_REQUEST))
            }
            Scope::Key if self.policy.rate(EVERY_REQUEST_REFILLED).is_some() => {
                Some(bucket_scope(key, EVERY_REQUEST_REFILLED))
            }
            Scope::Key | Scope::Bucket => Some(bucket_scope(key, bucket)),
            Scope::Named(name) => Some(bucket_scope(key, name)),
        };
        let Some(scope) = scope else { return };
        let spend = match spends.iter().find(|s| s.scope == scope) {
            Some(s) => s.clone(),
            None => match quota.scope {
                Scope::Named(name) => match self.policy.rate(name) {
                    Some(rate) => Spend {
                        scope,
                        budget: rate.budget(false),
                        weight: 1,
                    },
                    None => return,
                },
                _ => return,
            },
        };
        let mut state = self.lock();
        let unknown = state
            .windows
            .observe(&spend, quota.remaining, quota.limit, now);
        if quota.remaining == 0 {
            if let Some(reset) = quota.reset.filter(|d| !d.is_zero()) {
                let until = now + reset.min(spend.budget.period.max(Duration::from_secs(1)) * 2);
                let slot = state.exhausted.entry(spend.scope.clone()).or_insert(until);
                *slot = (*slot).max(until);
            }
        }
        if unknown > 0 {
            tracing::debug!(scope = %spend.scope.replace(key, "…"), unknown, "the venue counts requests we did not send: slowing down");
        }
    }

    /// The venue refused a request of `key` in `bucket` as over a limit: hold the refused
    /// scope until `until` (requests in it fail at once; others go on).
    pub fn refuse(&self, key: &str, bucket: &str, scope: Scope, until: Instant) {
        let name = match scope {
            Scope::Host => {
                self.open_until(until);
                return;
            }
            Scope::Key => key_scope(key),
            Scope::Bucket => bucket_scope(key, bucket),
            Scope::Named(name) => bucket_scope(key, name),
        };
        let mut state = self.lock();
        let slot = state.refused.entry(name).or_insert(until);
        *slot = (*slot).max(until);
    }

    /// An IP ban or a 429 for the whole host: stop all traffic until `until`.
    pub fn open_until(&self, until: Instant) {
        let mut b = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
        b.open_until = Some(b.open_until.map_or(until, |t| t.max(until)));
        b.trips += 1;
    }

    /// The budget in force for a key's bucket (after a VIP tier the venue announced).
    pub fn budget(&self, key: &str, bucket: &str) -> Option<Rate> {
        self.lock()
            .windows
            .budget(&bucket_scope(key, bucket))
            .map(|b| Rate::per(b.count, b.period))
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
    use futures::FutureExt;

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

    fn policy() -> LimitPolicy {
        LimitPolicy {
            ip: Rate::per_second(1000),
            buckets: vec![("order", Rate::per_second(10))],
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn two_keys_do_not_share_a_bucket_one_key_does() {
        let l = Limiter::new(policy());
        let mut held = Vec::new();
        for _ in 0..10 {
            held.push(l.acquire("key-1", "order").await);
        }
        // Key 1 is spent: its next request waits (the answers are still out) ...
        let more = l.acquire("key-1", "order").now_or_never();
        assert!(more.is_none(), "an eleventh request of one key must wait");
        // ... a second account on the same key shares it ...
        let same_key = l.acquire("key-1", "order").now_or_never();
        assert!(same_key.is_none());
        // ... and another key has its own budget.
        for _ in 0..10 {
            let other = l.acquire("key-2", "order").now_or_never();
            held.push(other.expect("another key is not held by key-1's budget"));
        }
    }

    #[tokio::test]
    async fn the_ip_budget_is_shared_by_every_key() {
        let l = Limiter::new(LimitPolicy {
            ip: Rate::per_second(3),
            ..policy()
        });
        let _a = l.acquire("key-1", "order").await;
        let _b = l.acquire("key-2", "order").await;
        let _c = l.acquire("key-3", "read").await;
        let fourth = l.acquire("key-4", "order").now_or_never();
        assert!(
            fourth.is_none(),
            "a fourth request of any key waits for the IP budget"
        );
    }

    #[test]
    fn a_refusal_holds_only_the_refused_scope() {
        let l = Limiter::new(policy());
        l.refuse(
            "key-1",
            "order",
            Scope::Bucket,
            Instant::now() + Duration::from_secs(5),
        );
        assert!(l.refused_for("key-1", "order").is_some());
        assert!(l.refused_for("key-1", "read").is_none());
        assert!(l.refused_for("key-2", "order").is_none());
        assert!(l.open_for().is_none());
        l.refuse(
            "key-3",
            "read",
            Scope::Key,
            Instant::now() + Duration::from_secs(5),
        );
        assert!(l.refused_for("key-3", "order").is_some());
        assert!(l.refused_for("key-2", "order").is_none());
    }

    #[test]
    fn a_vip_tier_is_picked_up_from_the_venue() {
        let l = Limiter::new(policy());
        l.observe(
            "key-1",
            "order",
            QuotaHeader {
                scope: Scope::Bucket,
                remaining: 19,
                reset: None,
                limit: Some(20),
            },
        );
        assert_eq!(l.budget("key-1", "order"), Some(Rate::per_second(20)));
        assert_eq!(l.budget("key-2", "order"), None);
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
