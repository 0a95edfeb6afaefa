//! The `bittensor_sn8` source: polls a validator's `/miner-positions` dump, ranks the miners
//! and turns the open positions of the best ones into one depth per trade pair.
//!
//! A failed, empty or unusable dump keeps the last good signals, but only for
//! `max_staleness_secs`: after that the source's depths go to 0 (better miss a position than
//! follow miners nobody can see any more), and they come back with the next good dump.
//!
//! A refused API key (401/403) is counted in `/metrics` on every poll and logged at ERROR
//! once each time the key becomes refused, first poll included (and at INFO when a dump comes
//! through again).

pub mod aggregate;
pub mod config;
pub mod dump;
pub mod fetch;
pub mod key_state;
pub mod rank;

pub use config::{AuthMode, RankingParams, Sn8Config};

use crate::execution::Metrics;
use crate::signals::{Signal, SignalBook, SignalSource};
use aggregate::AssetDepth;
use async_trait::async_trait;
use chrono::Utc;
use dump::Dump;
use key_state::{KeyChange, KeyState, KeyVerdict};
use rank::Ranking;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::watch;

pub const KIND: &str = "bittensor_sn8";

#[derive(Debug, Error)]
pub enum PollError {
    #[error(transparent)]
    Fetch(#[from] fetch::FetchError),
    #[error("the dump holds no readable miner ({unreadable} unreadable)")]
    Empty { unreadable: usize },
    #[error("the dump holds {n} miners, fewer than min_miners {min}")]
    TooFewMiners { n: usize, min: usize },
    #[error("the miner count jumped from {previous} to {now} (more than max_miner_count_change {max}); this dump is skipped, the next one with a similar count is used")]
    CountJump {
        previous: usize,
        now: usize,
        max: usize,
    },
    #[error("no miner qualifies: {summary}")]
    NoneQualified { summary: String },
    #[error("ranking task failed: {0}")]
    Internal(String),
}

/// A usable dump, ranked and aggregated.
#[derive(Debug)]
pub struct Evaluation {
    pub ranking: Ranking,
    /// The miners whose positions count (top N), best first.
    pub used: Vec<String>,
    pub depths: BTreeMap<String, AssetDepth>,
    pub miners: usize,
}

/// Ranks and aggregates a dump, or says why it is not usable. `previous_count` is the miner
/// count of the previous dump fetched (used or not), so a jump is refused only once: the
/// Python tool compared with the last *accepted* count and could lock itself out for good.
pub fn evaluate(
    dump: &Dump,
    params: &RankingParams,
    previous_count: Option<usize>,
    now_ms: i64,
) -> Result<Evaluation, PollError> {
    let miners = dump.miners().count();
    if miners == 0 {
        return Err(PollError::Empty {
            unreadable: dump.unreadable().count(),
        });
    }
    if miners < params.min_miners {
        return Err(PollError::TooFewMiners {
            n: miners,
            min: params.min_miners,
        });
    }
    if let (Some(previous), Some(max)) = (previous_count, params.max_miner_count_change) {
        if previous.abs_diff(miners) > max {
            return Err(PollError::CountJump {
                previous,
                now: miners,
                max,
            });
        }
    }
    let ranking = rank::rank(dump, params, now_ms);
    if ranking.ranked.is_empty() {
        let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
        for why in ranking.excluded.values() {
            *reasons.entry(why.label()).or_default() += 1;
        }
        let summary = reasons
            .iter()
            .map(|(label, n)| format!("{n} × {label}"))
            .collect::<Vec<_>>()
            .join(", ");
        return Err(PollError::NoneQualified { summary });
    }
    let used: Vec<String> = ranking
        .ranked
        .iter()
        .take(params.top_n)
        .map(|s| s.hotkey.clone())
        .collect();
    let refs: Vec<&str> = used.iter().map(String::as_str).collect();
    let depths = aggregate::aggregate(dump, &refs, params, now_ms);
    Ok(Evaluation {
        ranking,
        used,
        depths,
        miners,
    })
}

/// How long the last good dump may keep standing in for a fresh one.
#[derive(Debug)]
pub struct Freshness {
    max_staleness: Duration,
    last_good: Instant,
    zeroed: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Still within `max_staleness`: keep the last good signals.
    Keep { age: Duration },
    /// Just went stale: set the source's depths to 0 now.
    ZeroNow { age: Duration },
    /// Already at 0.
    StillZero,
}

impl Freshness {
    /// `since` is the baseline before any good dump (the source's start).
    pub fn new(max_staleness: Duration, since: Instant) -> Self {
        Freshness {
            max_staleness,
            last_good: since,
            zeroed: false,
        }
    }

    /// Records a good dump; true if the source was stale until now.
    pub fn good(&mut self, now: Instant) -> bool {
        self.last_good = now;
        std::mem::replace(&mut self.zeroed, false)
    }

    pub fn failed(&mut self, now: Instant) -> Staleness {
        let age = now.saturating_duration_since(self.last_good);
        if self.zeroed {
            Staleness::StillZero
        } else if age > self.max_staleness {
            self.zeroed = true;
            Staleness::ZeroNow { age }
        } else {
            Staleness::Keep { age }
        }
    }
}

pub struct Sn8Source {
    name: String,
    cfg: Sn8Config,
    metrics: Arc<Metrics>,
}

impl Sn8Source {
    pub fn new(name: String, cfg: Sn8Config, metrics: Arc<Metrics>) -> Self {
        Sn8Source { name, cfg, metrics }
    }

    /// Counts a refused key and logs each change of the key's state once.
    fn track_key(
        &self,
        key: &mut KeyState,
        verdict: KeyVerdict,
        result: &Result<Evaluation, PollError>,
    ) {
        if verdict == KeyVerdict::Refused {
            self.metrics
                .sn8_auth_refusals
                .fetch_add(1, Ordering::Relaxed);
        }
        match (key.observe(verdict), result) {
            (Some(KeyChange::NowRefused), Err(e)) => tracing::error!(
                source = %self.name,
                error = %e,
                "sn8 API key refused: this source contributes nothing until the validator accepts the key again"
            ),
            (Some(KeyChange::AcceptedAgain), _) => {
                tracing::info!(source = %self.name, "sn8 API key accepted again")
            }
            _ => {}
        }
    }

    async fn poll(
        &self,
        client: &reqwest::Client,
        previous_count: &mut Option<usize>,
    ) -> Result<Evaluation, PollError> {
        let dump = fetch::fetch_dump(client, &self.cfg).await?;
        let params = self.cfg.ranking.clone();
        let previous = *previous_count;
        let now_ms = Utc::now().timestamp_millis();
        let (count, result) = tokio::task::spawn_blocking(move || {
            let count = dump.miners().count();
            (count, evaluate(&dump, &params, previous, now_ms))
        })
        .await
        .map_err(|e| PollError::Internal(e.to_string()))?;
        *previous_count = Some(count);
        result
    }

    /// Signals for the book; a depth that did not change keeps its timestamp, so a quiet
    /// dump does not look like fresh news.
    fn signals(&self, book: &SignalBook, eval: &Evaluation) -> BTreeMap<String, Signal> {
        let previous = book.source_signals(&self.name).unwrap_or_default();
        let now = Utc::now();
        eval.depths
            .iter()
            .map(|(pair, d)| {
                let ts = previous
                    .get(pair)
                    .filter(|old| old.depth == d.depth)
                    .map(|old| old.ts)
                    .unwrap_or(now);
                (
                    pair.clone(),
                    Signal {
                        source: self.name.clone(),
                        symbol: pair.clone(),
                        depth: d.depth,
                        leverage: None,
                        ts,
                        seq: None,
                    },
                )
            })
            .collect()
    }

    fn report(&self, eval: &Evaluation) {
        for (i, s) in eval
            .ranking
            .ranked
            .iter()
            .take(self.cfg.ranking.top_n)
            .enumerate()
        {
            tracing::debug!(source = %self.name, rank = i + 1, miner = %s.hotkey, score = %s.score.round_dp(6), positions = s.stats.positions, "sn8 miner ranked");
        }
        for (hotkey, why) in &eval.ranking.excluded {
            tracing::trace!(source = %self.name, miner = %hotkey, reason = %why, "sn8 miner excluded");
        }
        let nonzero = eval.depths.values().filter(|d| !d.depth.is_zero()).count();
        tracing::info!(
            source = %self.name,
            miners = eval.miners,
            eligible = eval.ranking.ranked.len(),
            used = eval.used.len(),
            pairs_with_depth = nonzero,
            "sn8 dump ranked"
        );
    }
}

#[async_trait]
impl SignalSource for Sn8Source {
    fn name(&self) -> &str {
        &self.name
    }

    async fn run(self: Box<Self>, book: Arc<SignalBook>, mut stop: watch::Receiver<bool>) {
        let client = match fetch::client(&self.cfg) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(source = %self.name, error = %e, "cannot build the HTTP client; source not running");
                return;
            }
        };
        let mut freshness = Freshness::new(self.cfg.max_staleness, Instant::now());
        let mut previous_count = None;
        let mut key = KeyState::default();
        loop {
            let result = self.poll(&client, &mut previous_count).await;
            let now = Instant::now();
            self.track_key(&mut key, KeyVerdict::of(&result), &result);
            match result {
                Ok(eval) => {
                    book.mark_heard(&self.name, Utc::now());
                    self.report(&eval);
                    let signals = self.signals(&book, &eval);
                    match book.replace_source(&self.name, signals) {
                        Ok(true) => tracing::info!(source = %self.name, "signals updated"),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::error!(source = %self.name, error = %e, "cannot persist signals")
                        }
                    }
                    if freshness.good(now) {
                        tracing::info!(source = %self.name, "sn8 dump good again; signals restored");
                    }
                }
                Err(e) => match freshness.failed(now) {
                    Staleness::Keep { age } => tracing::warn!(
                        source = %self.name,
                        error = %e,
                        last_good_secs_ago = age.as_secs(),
                        "sn8 poll failed; keeping the last good signals until max_staleness_secs"
                    ),
                    Staleness::ZeroNow { age } => {
                        if let Err(pe) = book.replace_source(&self.name, BTreeMap::new()) {
                            tracing::error!(source = %self.name, error = %pe, "cannot persist signals");
                        }
                        tracing::warn!(
                            source = %self.name,
                            error = %e,
                            last_good_secs_ago = age.as_secs(),
                            max_staleness_secs = self.cfg.max_staleness.as_secs(),
                            "sn8 signals are stale: every depth of this source is now 0"
                        );
                    }
                    Staleness::StillZero => tracing::warn!(
                        source = %self.name,
                        error = %e,
                        "sn8 poll failed; depths stay at 0"
                    ),
                },
            }
            tokio::select! {
                _ = tokio::time::sleep(self.cfg.poll) => {}
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod fetch_tests;
