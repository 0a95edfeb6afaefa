//! The exact counting behind the limiter: per scope, a sliding-window log of the requests
//! that finished and a count of those still in flight. A request's slot leaves the window one
//! period after its *answer* arrived (or its attempt ended), never after it was sent: the
//! venue counted it at some moment between the two, so every window the venue can look at
//! holds at most the limit, whatever the latency. Pure and clock-free (every call takes
//! `now`), so tests drive it on a virtual clock.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// One scope's limit: at most `count` units in any `period` or, when `refilled`, a token
/// bucket of `count` tokens refilled continuously over `period` (BitMEX's minute budget).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub count: u32,
    pub period: Duration,
    pub refilled: bool,
}

#[derive(Debug)]
struct Log {
    budget: Budget,
    /// Finished requests: when their slot was last possibly counted by the venue, and units.
    done: VecDeque<(Instant, u32)>,
    in_flight: u32,
    /// Token buckets: when the bucket is full again counting only finished requests, whose
    /// tokens refill from their answer (the latest moment the venue can have taken them).
    full_at: Option<Instant>,
}

impl Log {
    fn new(budget: Budget) -> Log {
        Log {
            budget,
            done: VecDeque::new(),
            in_flight: 0,
            full_at: None,
        }
    }

    fn token(&self) -> Duration {
        self.budget.period / self.budget.count.max(1)
    }

    /// A token bucket: `Ok` when `weight` tokens are there now, else when they will be.
    fn bucket_fits(&self, weight: u32, now: Instant) -> Result<(), Option<Instant>> {
        let weight = weight.min(self.budget.count.max(1));
        let full_at = self.full_at.filter(|t| *t > now).unwrap_or(now);
        // Tokens missing from a full bucket after this request, as time to refill them.
        let owed = (full_at - now) + self.token() * (self.in_flight + weight);
        let capacity = self.token() * self.budget.count.max(1);
        if owed <= capacity {
            return Ok(());
        }
        if self.in_flight + weight > self.budget.count.max(1) {
            // Tokens in flight come back only after their answers.
            return Err(None);
        }
        Err(Some(now + (owed - capacity)))
    }

    fn prune(&mut self, now: Instant) {
        while self
            .done
            .front()
            .is_some_and(|(t, _)| now.saturating_duration_since(*t) >= self.budget.period)
        {
            self.done.pop_front();
        }
    }

    fn used(&self) -> u32 {
        self.done.iter().map(|(_, c)| *c).sum::<u32>() + self.in_flight
    }

    /// When `weight` more units fit: `Ok(())` now, `Err(Some(t))` once finished slots leave
    /// the window at `t`, `Err(None)` only once something in flight finishes.
    fn fits(&self, weight: u32) -> Result<(), Option<Instant>> {
        // A request heavier than the whole budget waits for an empty window, then goes alone.
        let weight = weight.min(self.budget.count.max(1));
        let used = self.used();
        if used + weight <= self.budget.count.max(1) {
            return Ok(());
        }
        let mut excess = used + weight - self.budget.count.max(1);
        for (t, c) in &self.done {
            excess = excess.saturating_sub(*c);
            if excess == 0 {
                return Err(Some(*t + self.budget.period));
            }
        }
        Err(None)
    }
}

/// What a scope is spent with: its name, its budget, and the units this request spends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spend {
    pub scope: String,
    pub budget: Budget,
    pub weight: u32,
}

/// Every scope's log.
#[derive(Debug, Default)]
pub struct Windows {
    logs: HashMap<String, Log>,
    /// Budgets the venue announced for a scope (a VIP tier), over the policy's.
    announced: HashMap<String, u32>,
}

impl Windows {
    fn log(&mut self, spend: &Spend) -> &mut Log {
        let announced = self.announced.get(&spend.scope).copied();
        let log = self
            .logs
            .entry(spend.scope.clone())
            .or_insert_with(|| Log::new(spend.budget));
        log.budget.period = spend.budget.period;
        log.budget.count = announced.unwrap_or(spend.budget.count);
        log
    }

    /// Takes a slot in every scope of `spends` when all of them have room; otherwise takes
    /// nothing and says when to look again (`None`: when a request in flight finishes).
    pub fn try_take(&mut self, spends: &[Spend], now: Instant) -> Result<(), Option<Instant>> {
        let mut wait: Option<Option<Instant>> = None;
        for spend in spends {
            let log = self.log(spend);
            log.prune(now);
            let fits = if log.budget.refilled {
                log.bucket_fits(spend.weight, now)
            } else {
                log.fits(spend.weight)
            };
            if let Err(at) = fits {
                wait = Some(match (wait, at) {
                    (None, at) => at,
                    (Some(Some(a)), Some(b)) => Some(a.max(b)),
                    // Something in flight must finish first; look again then.
                    _ => None,
                });
            }
        }
        if let Some(at) = wait {
            return Err(at);
        }
        for spend in spends {
            let weight = spend.weight.min(spend.budget.count.max(1));
            self.log(spend).in_flight += weight;
        }
        Ok(())
    }

    /// Units a request could take in every scope of `spends` right now (0: it would wait).
    pub fn room(&mut self, spends: &[Spend], now: Instant) -> u32 {
        let mut room = u32::MAX;
        for spend in spends {
            let log = self.log(spend);
            log.prune(now);
            let count = log.budget.count.max(1);
            let free = if log.budget.refilled {
                let full_at = log.full_at.filter(|t| *t > now).unwrap_or(now);
                let owed = (full_at - now).as_nanos() / log.token().as_nanos().max(1);
                let owed = u32::try_from(owed).unwrap_or(u32::MAX);
                count.saturating_sub(owed.saturating_add(log.in_flight))
            } else {
                count.saturating_sub(log.used())
            };
            room = room.min(free);
        }
        room
    }

    /// The request that took these slots is over (answered, failed or abandoned) at `now`:
    /// its slots stay in the window for one more period from now.
    pub fn finish(&mut self, spends: &[Spend], now: Instant) {
        for spend in spends {
            let weight = spend.weight.min(spend.budget.count.max(1));
            let log = self.log(spend);
            log.in_flight = log.in_flight.saturating_sub(weight);
            if log.budget.refilled {
                let from = log.full_at.filter(|t| *t > now).unwrap_or(now);
                log.full_at = Some(from + log.token() * weight);
            } else {
                log.done.push_back((now, weight));
            }
        }
    }

    /// The venue says `remaining` units are left in `scope` (and, when it says so, that the
    /// scope's budget is `limit`): count what it knows and we do not (another client on the
    /// same key) as spent now, so that we slow down before it refuses.
    pub fn observe(
        &mut self,
        spend: &Spend,
        remaining: u64,
        limit: Option<u64>,
        now: Instant,
    ) -> u32 {
        if let Some(limit) = limit.filter(|l| *l > 0) {
            let limit = u32::try_from(limit).unwrap_or(u32::MAX);
            if limit != spend.budget.count {
                self.announced.insert(spend.scope.clone(), limit);
            } else {
                self.announced.remove(&spend.scope);
            }
        }
        let log = self.log(spend);
        log.prune(now);
        let theirs = u32::try_from(remaining).unwrap_or(u32::MAX);
        if log.budget.refilled {
            let full_at = log.full_at.filter(|t| *t > now).unwrap_or(now);
            let owed = (full_at - now).as_nanos() / log.token().as_nanos().max(1);
            let used = u32::try_from(owed).unwrap_or(u32::MAX) + log.in_flight;
            let ours = log.budget.count.saturating_sub(used);
            let unknown = ours.saturating_sub(theirs);
            if unknown > 0 {
                log.full_at = Some(full_at + log.token() * unknown);
            }
            return unknown;
        }
        let ours = log.budget.count.saturating_sub(log.used());
        let unknown = ours.saturating_sub(theirs);
        if unknown > 0 {
            log.done.push_back((now, unknown));
        }
        unknown
    }

    /// The budget in force for `scope` (after any announcement), when it has been used.
    pub fn budget(&self, scope: &str) -> Option<Budget> {
        self.logs.get(scope).map(|l| l.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn spend(scope: &str, count: u32, ms: u64, weight: u32) -> Spend {
        Spend {
            scope: scope.into(),
            budget: Budget {
                count,
                period: Duration::from_millis(ms),
                refilled: false,
            },
            weight,
        }
    }

    /// The most units inside any half-open window `[t, t + period)` of `events`.
    fn busiest(events: &mut [(u64, u32)], period: u64) -> u32 {
        events.sort();
        let mut best = 0;
        for (i, (start, _)) in events.iter().enumerate() {
            let inside: u32 = events[i..]
                .iter()
                .take_while(|(t, _)| *t < start + period)
                .map(|(_, w)| *w)
                .sum();
            best = best.max(inside);
        }
        best
    }

    /// When the venue counted each admitted request (ms) and its units.
    type Seen = Vec<(u64, u32)>;

    /// A simulated client on a virtual clock (ms): requests become ready at `ready`, wait for
    /// the windows, are counted by the venue at a moment between send and answer, and answer
    /// after `latency`.
    fn simulate(
        requests: &[(u64, u64, u64, u32, bool)],
        count: u32,
        period: u64,
        ip_count: u32,
        refilled: bool,
    ) -> (Seen, Seen) {
        let base = Instant::now();
        let at = |ms: u64| base + Duration::from_millis(ms);
        let mut w = Windows::default();
        // (ready ms, latency ms, where in the flight the venue counts it 0..=100 %, weight,
        // key A or B)
        let mut pending: Vec<(u64, u64, u64, u32, bool)> = requests.to_vec();
        pending.sort_by_key(|r| r.0);
        let mut in_flight: Vec<(u64, Vec<Spend>)> = Vec::new();
        let mut key_a = Vec::new();
        let mut ip = Vec::new();
        let mut now = 0u64;
        let mut guard = 0;
        while !pending.is_empty() || !in_flight.is_empty() {
            guard += 1;
            assert!(guard < 1_000_000, "simulation does not progress");
            in_flight.sort_by_key(|f| f.0);
            while in_flight.first().is_some_and(|f| f.0 <= now) {
                let (_, spends) = in_flight.remove(0);
                w.finish(&spends, at(now));
            }
            let mut next_wake: Option<u64> = in_flight.first().map(|f| f.0);
            let mut i = 0;
            while i < pending.len() {
                let (ready, latency, counted_at, weight, a) = pending[i];
                if ready > now {
                    next_wake = Some(next_wake.map_or(ready, |n| n.min(ready)));
                    i += 1;
                    continue;
                }
                let key = if a { "A/order" } else { "B/order" };
                let mut keyed = spend(key, count, period, weight);
                keyed.budget.refilled = refilled;
                let spends = vec![spend("ip", ip_count, period, 1), keyed];
                match w.try_take(&spends, at(now)) {
                    Ok(()) => {
                        let seen = now + latency * counted_at / 100;
                        if a {
                            key_a.push((seen, weight.min(count)));
                        }
                        ip.push((seen, 1));
                        in_flight.push((now + latency, spends));
                        pending.remove(i);
                    }
                    Err(Some(t)) => {
                        let ms = t.duration_since(base).as_millis() as u64;
                        next_wake = Some(next_wake.map_or(ms, |n| n.min(ms)));
                        i += 1;
                    }
                    Err(None) => i += 1,
                }
            }
            match next_wake {
                Some(t) if t > now => now = t,
                Some(_) => now += 1,
                None => break,
            }
        }
        (key_a, ip)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Whatever arrives when, however long answers take and wherever in its flight the
        /// venue counts a request, no rolling window of the venue's holds more than the limit.
        #[test]
        fn no_rolling_window_exceeds_the_limit(
            requests in proptest::collection::vec(
                (0u64..3000, 0u64..400, 0u64..=100, 1u32..4, any::<bool>()), 1..120),
            count in 1u32..12,
            ip_count in 5u32..30,
        ) {
            let period = 1000;
            let (mut key_a, mut ip) = simulate(&requests, count, period, ip_count, false);
            prop_assert!(busiest(&mut key_a, period) <= count);
            prop_assert!(busiest(&mut ip, period) <= ip_count);
        }

        /// The same for a token bucket (BitMEX): the venue's bucket, refilled continuously
        /// and counting each request when it arrives, never runs dry.
        #[test]
        fn a_token_bucket_at_the_venue_never_runs_dry(
            requests in proptest::collection::vec(
                (0u64..3000, 0u64..400, 0u64..=100, 1u32..4, any::<bool>()), 1..120),
            count in 1u32..12,
        ) {
            let period = 1000;
            let (mut key_a, _) = simulate(&requests, count, period, 1000, true);
            key_a.sort();
            // Levels in thousandths of a token: one token per `period / count` ms.
            let (full, per_ms) = (u64::from(count) * 1000 * period, u64::from(count) * 1000);
            let mut level = full;
            let mut last = key_a.first().map(|e| e.0).unwrap_or(0);
            for (t, w) in key_a {
                level = (level + (t - last) * per_ms).min(full);
                last = t;
                let need = u64::from(w) * 1000 * period;
                prop_assert!(level >= need, "bucket dry at {t} ms");
                level -= need;
            }
        }
    }

    #[test]
    fn a_full_burst_goes_at_once_then_waits_one_period_after_the_answers() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        let s = [spend("k/order", 10, 1000, 1)];
        for _ in 0..10 {
            assert_eq!(w.try_take(&s, t0), Ok(()));
        }
        // The eleventh waits for an answer, not for a refill.
        assert_eq!(w.try_take(&s, t0), Err(None));
        let answered = t0 + Duration::from_millis(50);
        for _ in 0..10 {
            w.finish(&s, answered);
        }
        assert_eq!(
            w.try_take(&s, answered),
            Err(Some(answered + Duration::from_secs(1)))
        );
        assert_eq!(w.try_take(&s, answered + Duration::from_secs(1)), Ok(()));
    }

    #[test]
    fn the_venue_announcing_a_higher_tier_raises_the_budget() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        let s = spend("k/order", 10, 1000, 1);
        for _ in 0..10 {
            w.try_take(std::slice::from_ref(&s), t0).unwrap();
        }
        assert!(w.try_take(std::slice::from_ref(&s), t0).is_err());
        assert_eq!(w.observe(&s, 10, Some(20), t0), 0);
        assert_eq!(w.try_take(std::slice::from_ref(&s), t0), Ok(()));
        assert_eq!(w.budget("k/order").map(|b| b.count), Some(20));
    }

    #[test]
    fn usage_the_venue_knows_and_we_do_not_is_counted() {
        let t0 = Instant::now();
        let mut w = Windows::default();
        let s = spend("k/order", 10, 1000, 1);
        // Another client spent 7 of this key's 10.
        assert_eq!(w.observe(&s, 3, None, t0), 7);
        for _ in 0..3 {
            w.try_take(std::slice::from_ref(&s), t0).unwrap();
        }
        assert!(w.try_take(std::slice::from_ref(&s), t0).is_err());
    }
}
