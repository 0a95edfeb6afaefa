//! The venues' documented rate limits as the loopback servers enforce them: a sliding-window
//! log per scope, so a loopback refuses exactly what the venue would (no rolling window may
//! hold more than the documented count), with the venue's own refusal (`Wire::limit_refusal`).
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One documented limit a request counts against: at most `count` units in any `window`,
/// counted per `scope` (e.g. `"uid:KEY/order"`, `"ip"`, `"GET /api/v1/position"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    pub scope: String,
    pub count: u32,
    pub window: Duration,
    /// Units this request spends (KuCoin's weights; 1 elsewhere).
    pub cost: u32,
    /// A token bucket of `count` refilled continuously over `window` (BitMEX's minute budget)
    /// instead of a sliding window.
    pub refilled: bool,
}

impl Limit {
    pub fn new(scope: impl Into<String>, count: u32, window: Duration) -> Limit {
        Limit {
            scope: scope.into(),
            count,
            window,
            cost: 1,
            refilled: false,
        }
    }

    /// Counted as a token bucket (see `refilled`).
    pub fn refilled(mut self) -> Limit {
        self.refilled = true;
        self
    }

    fn token(&self) -> Duration {
        self.window / self.count.max(1)
    }

    pub fn cost(mut self, cost: u32) -> Limit {
        self.cost = cost;
        self
    }
}

/// What a refused request learns: the limit it hit and when a unit frees up.
#[derive(Clone, Debug)]
pub struct Exceeded {
    pub limit: Limit,
    pub retry_after: Duration,
    /// Units left in the window after this request (for quota headers), when admitted.
    pub remaining: u32,
}

/// Quota state of one admitted request, for venues that send quota headers.
#[derive(Clone, Debug)]
pub struct Quota {
    pub limit: Limit,
    pub remaining: u32,
    /// Until the oldest unit in the window leaves it.
    pub reset_in: Duration,
}

/// Sliding-window logs of every scope a loopback has seen. Enforcing by default: every suite
/// runs against the venues' documented limits and must see no refusal (`enforce(false)` turns
/// it off for a test that needs to overrun a limit on purpose).
#[derive(Default, Debug)]
pub struct Windows {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    enforce: bool,
    logs: HashMap<String, VecDeque<(Instant, u32)>>,
    /// Token buckets: when each is full again.
    full_at: HashMap<String, Instant>,
    /// Every refusal, by scope, for assertions ("zero refusals") and the benchmark.
    refused: Vec<(String, Instant)>,
    /// Admitted units per scope and their times, for "at most N in any window" checks.
    admitted: HashMap<String, Vec<Instant>>,
    /// The limits order placements counted against, with the placements admitted under each
    /// (the benchmark's limit-aware floor).
    placed: HashMap<String, (Limit, u32)>,
    /// Order placements admitted.
    placements: u32,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner {
            enforce: true,
            logs: HashMap::new(),
            full_at: HashMap::new(),
            refused: Vec::new(),
            admitted: HashMap::new(),
            placed: HashMap::new(),
            placements: 0,
        }
    }
}

impl Windows {
    pub fn enforce(&self, on: bool) {
        self.lock().enforce = on;
    }

    pub fn enforcing(&self) -> bool {
        self.lock().enforce
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a request against every limit it counts against, or refuses it with the first
    /// limit it would exceed; a refused request spends nothing (as the venues count it).
    /// Returns the quota left under each limit when admitted.
    pub fn admit(&self, limits: &[Limit]) -> Result<Vec<Quota>, Exceeded> {
        let now = Instant::now();
        let mut inner = self.lock();
        let enforce = inner.enforce;
        for limit in limits.iter().filter(|l| l.refilled) {
            let full_at = inner
                .full_at
                .get(&limit.scope)
                .copied()
                .unwrap_or(now)
                .max(now);
            let owed = full_at - now + limit.token() * limit.cost;
            let capacity = limit.token() * limit.count;
            if enforce && owed > capacity {
                inner.refused.push((limit.scope.clone(), now));
                return Err(Exceeded {
                    limit: limit.clone(),
                    retry_after: owed - capacity,
                    remaining: 0,
                });
            }
        }
        for limit in limits.iter().filter(|l| !l.refilled) {
            let log = inner.logs.entry(limit.scope.clone()).or_default();
            while log
                .front()
                .is_some_and(|(t, _)| now.duration_since(*t) >= limit.window)
            {
                log.pop_front();
            }
            let used: u32 = log.iter().map(|(_, c)| *c).sum();
            if enforce && used + limit.cost > limit.count {
                // When enough units leave the window for this one to fit.
                let mut free = limit.count.saturating_sub(used);
                let mut retry_after = limit.window;
                for (t, c) in log.iter() {
                    free += c;
                    if free >= limit.cost {
                        retry_after = limit.window.saturating_sub(now.duration_since(*t));
                        break;
                    }
                }
                inner.refused.push((limit.scope.clone(), now));
                return Err(Exceeded {
                    limit: limit.clone(),
                    retry_after,
                    remaining: 0,
                });
            }
        }
        let mut quotas = Vec::with_capacity(limits.len());
        for limit in limits {
            if limit.refilled {
                let full_at = inner
                    .full_at
                    .get(&limit.scope)
                    .copied()
                    .unwrap_or(now)
                    .max(now)
                    + limit.token() * limit.cost;
                inner.full_at.insert(limit.scope.clone(), full_at);
                let owed = full_at - now;
                let used = owed.as_nanos().div_ceil(limit.token().as_nanos().max(1));
                quotas.push(Quota {
                    limit: limit.clone(),
                    remaining: limit
                        .count
                        .saturating_sub(u32::try_from(used).unwrap_or(u32::MAX)),
                    reset_in: owed,
                });
                inner
                    .admitted
                    .entry(limit.scope.clone())
                    .or_default()
                    .extend(std::iter::repeat_n(now, limit.cost as usize));
                continue;
            }
            let log = inner.logs.entry(limit.scope.clone()).or_default();
            log.push_back((now, limit.cost));
            let used: u32 = log.iter().map(|(_, c)| *c).sum();
            let oldest = log.front().map(|(t, _)| *t).unwrap_or(now);
            quotas.push(Quota {
                limit: limit.clone(),
                remaining: limit.count.saturating_sub(used),
                reset_in: limit.window.saturating_sub(now.duration_since(oldest)),
            });
            inner
                .admitted
                .entry(limit.scope.clone())
                .or_default()
                .extend(std::iter::repeat_n(now, limit.cost as usize));
        }
        Ok(quotas)
    }

    /// An admitted request placed orders under `limits`.
    pub fn placed(&self, limits: &[Limit]) {
        let mut inner = self.lock();
        inner.placements += 1;
        for limit in limits {
            inner
                .placed
                .entry(limit.scope.clone())
                .or_insert_with(|| (limit.clone(), 0))
                .1 += limit.cost;
        }
    }

    /// The order placements admitted, and per scope the limit they counted against and the
    /// units they spent there.
    pub fn placement_limits(&self) -> (u32, Vec<(Limit, u32)>) {
        let inner = self.lock();
        (inner.placements, inner.placed.values().cloned().collect())
    }

    /// Refusals so far, by scope.
    pub fn refusals(&self) -> Vec<String> {
        self.lock().refused.iter().map(|(s, _)| s.clone()).collect()
    }

    /// The most units admitted under `scope` in any window of `window` (checks that a client
    /// used the budget without exceeding it).
    pub fn peak(&self, scope: &str, window: Duration) -> usize {
        let inner = self.lock();
        let Some(times) = inner.admitted.get(scope) else {
            return 0;
        };
        let mut best = 0;
        let mut start = 0;
        for end in 0..times.len() {
            while times[end].duration_since(times[start]) >= window {
                start += 1;
            }
            best = best.max(end - start + 1);
        }
        best
    }

    /// Every scope seen so far.
    pub fn scopes(&self) -> Vec<String> {
        self.lock().admitted.keys().cloned().collect()
    }
}
