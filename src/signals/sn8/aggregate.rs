//! From ranked miners to one depth per trade pair.
//!
//! The top `top_n` miners get linear rank weights `w(r) = (N + 1 − r) / (N(N + 1)/2)`, which
//! sum to 1. Each of their **open** positions (`is_closed_position == false`; the Python tool
//! also summed closed positions that lacked a FLAT order) on a counted pair contributes
//! `w × clamp(net_leverage / limit, −1, 1)`, where `limit` is the leverage that counts as full
//! depth (configured, else the pair's maximum from the dump). Because the weights sum to 1
//! the depth stays within [−1, 1].

use super::config::RankingParams;
use super::dump::Dump;
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

/// Depths are kept to 8 decimals: finer than any venue's lot, and stable across runs.
pub const DEPTH_DP: u32 = 8;
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq)]
pub struct Contribution {
    pub hotkey: String,
    pub weight: Decimal,
    pub leverage: Decimal,
    pub limit: Decimal,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AssetDepth {
    pub depth: Decimal,
    pub contributions: Vec<Contribution>,
}

/// Linear rank weights for `n` miners, best first.
pub fn rank_weights(n: usize) -> Vec<Decimal> {
    if n == 0 {
        return Vec::new();
    }
    let total = Decimal::from(n * (n + 1) / 2);
    (1..=n).map(|r| Decimal::from(n + 1 - r) / total).collect()
}

/// Depth per trade pair from `ranked` (hotkeys, best first, already cut to top N). With a
/// configured asset list every listed pair appears, at 0 when no ranked miner holds it.
pub fn aggregate(
    dump: &Dump,
    ranked: &[&str],
    params: &RankingParams,
    now_ms: i64,
) -> BTreeMap<String, AssetDepth> {
    let mut out: BTreeMap<String, AssetDepth> = params
        .assets
        .iter()
        .flatten()
        .map(|a| (a.clone(), AssetDepth::default()))
        .collect();
    let max_age_ms = params
        .max_position_age_days
        .map(|d| (d * Decimal::from(DAY_MS)).trunc());
    for (hotkey, weight) in ranked.iter().zip(rank_weights(ranked.len())) {
        let Some(miner) = dump.miner(hotkey) else {
            continue;
        };
        for p in &miner.positions {
            let pair = &p.trade_pair.id;
            if p.is_closed_position || params.assets.as_ref().is_some_and(|a| !a.contains(pair)) {
                continue;
            }
            if max_age_ms.is_some_and(|max| Decimal::from(now_ms - p.open_ms) > max) {
                continue;
            }
            let leverage = p.open_leverage();
            let limit = params
                .leverage_limits
                .get(pair)
                .copied()
                .or(params.leverage_limit)
                .or(p.trade_pair.max_leverage);
            let Some(limit) = limit.filter(|l| *l > Decimal::ZERO) else {
                tracing::debug!(miner = %hotkey, pair = %pair, "no leverage limit for the pair; position skipped");
                continue;
            };
            if leverage.is_zero() {
                continue;
            }
            let entry = out.entry(pair.clone()).or_default();
            entry.depth += weight * (leverage / limit).clamp(Decimal::NEGATIVE_ONE, Decimal::ONE);
            entry.contributions.push(Contribution {
                hotkey: hotkey.to_string(),
                weight,
                leverage,
                limit,
            });
        }
    }
    for a in out.values_mut() {
        a.depth = a
            .depth
            .clamp(Decimal::NEGATIVE_ONE, Decimal::ONE)
            .round_dp_with_strategy(DEPTH_DP, RoundingStrategy::MidpointAwayFromZero)
            .normalize();
    }
    out
}
