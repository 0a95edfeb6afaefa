//! Miner ranking: which miners are good enough to follow, best first.
//!
//! The Python tool's scheme with its bugs fixed:
//! - returns are multiplicative (1.05 = +5 %): gates compare against 1.0 and the total return
//!   compounds, Π(r) − 1, instead of summing r − 1 over overlapping positions;
//! - a position's drawdown counts only adverse moves (the Python tool took |move|, so a
//!   winning trade looked like a loss), and a FLAT order ends the walk instead of being
//!   counted as a buy;
//! - a missing `thirty_day_returns` skips that gate instead of aborting the cycle (the only
//!   field the README names as optional); any other field a gate needs that is missing or
//!   unreadable (`all_time_returns`, a counted position's return) makes the miner ineligible:
//!   a gap in the data must not let a miner through;
//! - tied values share a percentile rank instead of depending on sort order;
//! - recency is the last activity of any counted position, not only of closed ones, so a
//!   miner holding one long-running open position is not "inactive".
//!
//! Score (higher is better), with `*_pct` the percentile ranks among the eligible miners
//! (best = 1, worst = 0):
//!
//! ```text
//! ((1 + mdd)²)^drawdown_exponent + sharpe_pct^sharpe_exponent + Π(r)
//!   + profitable_rate^profitable_rate_exponent
//!   + count_pct · ln(1 + n) / position_count_divisor + consistency_pct
//! ```

use super::config::RankingParams;
use super::dump::{sorted_orders, Dump, Miner, Position};
use rust_decimal::{Decimal, MathematicalOps};
use std::collections::BTreeMap;

const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug, PartialEq)]
pub struct MinerStats {
    /// Counted positions (on the configured assets, with a known return).
    pub positions: usize,
    pub profitable: usize,
    pub profitable_rate: Decimal,
    /// Π of the positions' multiplicative returns.
    pub compounded: Decimal,
    /// The worst position drawdown, ≤ 0 (−0.1 = 10 % against the miner, leveraged).
    pub max_drawdown: Decimal,
    pub sharpe: Decimal,
    pub consistency: Decimal,
    pub last_activity_ms: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Exclusion {
    /// A field a gate needs is absent (or not a usable value).
    Missing {
        field: &'static str,
    },
    AllTimeReturns(Decimal),
    ThirtyDayReturns(Decimal),
    NoPositions,
    TooFewTrades {
        n: usize,
        min: usize,
    },
    TooFewTradesOn {
        asset: String,
        n: usize,
        min: usize,
    },
    Inactive {
        last_activity_ms: i64,
    },
    Drawdown(Decimal),
    ProfitableRate(Decimal),
    TotalReturn(Decimal),
}

impl Exclusion {
    /// A short label for summaries.
    pub fn label(&self) -> &'static str {
        match self {
            Exclusion::Missing { .. } => "missing field",
            Exclusion::AllTimeReturns(_) => "all_time_returns",
            Exclusion::ThirtyDayReturns(_) => "thirty_day_returns",
            Exclusion::NoPositions => "no positions",
            Exclusion::TooFewTrades { .. } => "min_trades",
            Exclusion::TooFewTradesOn { .. } => "min_trades_per_asset",
            Exclusion::Inactive { .. } => "max_trade_age_days",
            Exclusion::Drawdown(_) => "max_drawdown_threshold",
            Exclusion::ProfitableRate(_) => "min_profitable_rate",
            Exclusion::TotalReturn(_) => "min_total_return",
        }
    }
}

impl std::fmt::Display for Exclusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exclusion::Missing { field } => write!(f, "no usable {field}, which a gate needs"),
            Exclusion::AllTimeReturns(r) => write!(f, "all_time_returns {r} not above the minimum"),
            Exclusion::ThirtyDayReturns(r) => {
                write!(f, "thirty_day_returns {r} not above the minimum")
            }
            Exclusion::NoPositions => write!(f, "no positions on the counted assets"),
            Exclusion::TooFewTrades { n, min } => write!(f, "{n} positions < min_trades {min}"),
            Exclusion::TooFewTradesOn { asset, n, min } => {
                write!(f, "{n} positions on {asset} < min_trades_per_asset {min}")
            }
            Exclusion::Inactive { last_activity_ms } => {
                write!(f, "inactive since {last_activity_ms} ms")
            }
            Exclusion::Drawdown(d) => write!(f, "drawdown {d} below the threshold"),
            Exclusion::ProfitableRate(p) => write!(f, "profitable rate {p} below the minimum"),
            Exclusion::TotalReturn(t) => write!(f, "total return {t} not above the minimum"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ScoreParts {
    pub drawdown: Decimal,
    pub sharpe: Decimal,
    pub returns: Decimal,
    pub profitable: Decimal,
    pub count: Decimal,
    pub consistency: Decimal,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub hotkey: String,
    pub stats: MinerStats,
    pub parts: ScoreParts,
    pub score: Decimal,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Ranking {
    /// Every eligible miner, best first.
    pub ranked: Vec<Scored>,
    pub excluded: BTreeMap<String, Exclusion>,
}

fn counts(params: &RankingParams, p: &Position) -> bool {
    params
        .assets
        .as_ref()
        .is_none_or(|a| a.contains(&p.trade_pair.id))
}

/// The worst leveraged move against a position, ≤ 0. At every order the order's price is
/// compared with the average entry of what is held before it; the position's own return
/// (at close, or now while open) is the last observation.
pub fn position_drawdown(p: &Position) -> Decimal {
    let mut net = Decimal::ZERO;
    let mut avg = Decimal::ZERO;
    let mut worst = Decimal::ZERO;
    for o in sorted_orders(&p.orders) {
        if o.price > Decimal::ZERO && !net.is_zero() && avg > Decimal::ZERO {
            let moved = (o.price - avg) / avg * net;
            worst = worst.min(moved);
        }
        if o.is_flat() {
            break;
        }
        if o.price <= Decimal::ZERO || o.leverage.is_zero() {
            continue;
        }
        let next = net + o.leverage;
        if net.is_zero() || (!next.is_zero() && next.is_sign_negative() != net.is_sign_negative()) {
            avg = o.price;
        } else if next.abs() > net.abs() {
            avg = (avg * net.abs() + o.price * o.leverage.abs()) / next.abs();
        }
        net = next;
        if net.is_zero() {
            avg = Decimal::ZERO;
        }
    }
    if let Some(r) = p.multiplicative_return() {
        worst = worst.min(r - Decimal::ONE);
    }
    worst
}

fn mean(values: &[Decimal]) -> Decimal {
    if values.is_empty() {
        return Decimal::ZERO;
    }
    values.iter().sum::<Decimal>() / Decimal::from(values.len())
}

/// Population standard deviation.
fn pstdev(values: &[Decimal]) -> Decimal {
    if values.is_empty() {
        return Decimal::ZERO;
    }
    let m = mean(values);
    let var =
        values.iter().map(|v| (*v - m) * (*v - m)).sum::<Decimal>() / Decimal::from(values.len());
    var.sqrt().unwrap_or_default()
}

/// mean / pstdev of the per-position returns r − 1 (0 with fewer than two, or no spread).
pub fn sharpe(returns: &[Decimal]) -> Decimal {
    if returns.len() < 2 {
        return Decimal::ZERO;
    }
    let excess: Vec<Decimal> = returns.iter().map(|r| *r - Decimal::ONE).collect();
    let sd = pstdev(&excess);
    if sd.is_zero() {
        Decimal::ZERO
    } else {
        mean(&excess) / sd
    }
}

/// How regular the miner's cadence is: 1 − pstdev/mean of the intervals between
/// consecutive position opens, within [0, 1] (0 with fewer than two positions). The Python
/// tool measured open-to-previous-close gaps, which go negative for overlapping positions.
pub fn consistency(opens_ms: &[i64]) -> Decimal {
    if opens_ms.len() < 2 {
        return Decimal::ZERO;
    }
    let mut sorted = opens_ms.to_vec();
    sorted.sort_unstable();
    let gaps: Vec<Decimal> = sorted
        .windows(2)
        .map(|w| Decimal::from(w[1] - w[0]))
        .collect();
    let m = mean(&gaps);
    if m <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    (Decimal::ONE - pstdev(&gaps) / m).clamp(Decimal::ZERO, Decimal::ONE)
}

/// Statistics of one miner, or why it does not qualify.
pub fn miner_stats(
    miner: &Miner,
    params: &RankingParams,
    now_ms: i64,
) -> Result<MinerStats, Exclusion> {
    let Some(all_time) = miner.all_time_returns else {
        return Err(Exclusion::Missing {
            field: "all_time_returns",
        });
    };
    if all_time <= params.min_all_time_returns {
        return Err(Exclusion::AllTimeReturns(all_time));
    }
    if let Some(r) = miner.thirty_day_returns {
        if r <= params.min_thirty_day_returns {
            return Err(Exclusion::ThirtyDayReturns(r));
        }
    }
    // A counted position without a usable return would silently drop out of every gate below
    // (a hidden loss makes a miner look better), so it disqualifies the miner instead.
    let counted = miner
        .positions
        .iter()
        .filter(|p| counts(params, p))
        .map(|p| {
            p.multiplicative_return()
                .map(|r| (p, r))
                .ok_or(Exclusion::Missing {
                    field: if p.is_closed_position {
                        "return_at_close"
                    } else {
                        "current_return"
                    },
                })
        })
        .collect::<Result<Vec<(&Position, Decimal)>, Exclusion>>()?;
    if counted.is_empty() {
        return Err(Exclusion::NoPositions);
    }
    let n = counted.len();
    if n < params.min_trades {
        return Err(Exclusion::TooFewTrades {
            n,
            min: params.min_trades,
        });
    }
    if params.min_trades_per_asset > 0 {
        for asset in params.assets.iter().flatten() {
            let on = counted
                .iter()
                .filter(|(p, _)| &p.trade_pair.id == asset)
                .count();
            if on < params.min_trades_per_asset {
                return Err(Exclusion::TooFewTradesOn {
                    asset: asset.clone(),
                    n: on,
                    min: params.min_trades_per_asset,
                });
            }
        }
    }
    let last_activity_ms = counted
        .iter()
        .map(|(p, _)| p.last_activity_ms())
        .max()
        .unwrap_or(0);
    if let Some(days) = params.max_trade_age_days {
        let max_age_ms = (days * Decimal::from(DAY_MS)).trunc();
        if Decimal::from(now_ms - last_activity_ms) > max_age_ms {
            return Err(Exclusion::Inactive { last_activity_ms });
        }
    }
    let max_drawdown = counted
        .iter()
        .map(|(p, _)| position_drawdown(p))
        .min()
        .unwrap_or_default();
    if max_drawdown < params.max_drawdown_threshold {
        return Err(Exclusion::Drawdown(max_drawdown));
    }
    let returns: Vec<Decimal> = counted.iter().map(|(_, r)| *r).collect();
    let profitable = returns.iter().filter(|r| **r > Decimal::ONE).count();
    let profitable_rate = Decimal::from(profitable) / Decimal::from(n);
    if profitable_rate < params.min_profitable_rate {
        return Err(Exclusion::ProfitableRate(profitable_rate));
    }
    let compounded = returns.iter().product::<Decimal>();
    if compounded - Decimal::ONE <= params.min_total_return {
        return Err(Exclusion::TotalReturn(compounded - Decimal::ONE));
    }
    let opens: Vec<i64> = counted.iter().map(|(p, _)| p.open_ms).collect();
    Ok(MinerStats {
        positions: n,
        profitable,
        profitable_rate,
        compounded,
        max_drawdown,
        sharpe: sharpe(&returns),
        consistency: consistency(&opens),
        last_activity_ms,
    })
}

/// Percentile rank of each value among `values`: the best gets 1, the worst 0, and equal
/// values share the better rank (`1 − (number of strictly better values) / (N − 1)`).
pub fn percentile_ranks(values: &[Decimal]) -> Vec<Decimal> {
    let n = values.len();
    if n <= 1 {
        return vec![Decimal::ONE; n];
    }
    let span = Decimal::from(n - 1);
    values
        .iter()
        .map(|v| {
            let better = values.iter().filter(|o| *o > v).count();
            Decimal::ONE - Decimal::from(better) / span
        })
        .collect()
}

fn pow(base: Decimal, exp: Decimal) -> Decimal {
    base.checked_powd(exp).unwrap_or_default()
}

/// Ranks every miner of the dump.
pub fn rank(dump: &Dump, params: &RankingParams, now_ms: i64) -> Ranking {
    let mut eligible = Vec::new();
    let mut excluded = BTreeMap::new();
    for (hotkey, miner) in dump.miners() {
        match miner_stats(miner, params, now_ms) {
            Ok(stats) => eligible.push((hotkey.to_string(), stats)),
            Err(why) => {
                if let Exclusion::Missing { field } = &why {
                    tracing::debug!(miner = %hotkey, field = %field, "sn8 miner lacks a field a gate needs; not eligible");
                }
                excluded.insert(hotkey.to_string(), why);
            }
        }
    }
    let pct = |f: fn(&MinerStats) -> Decimal| {
        percentile_ranks(&eligible.iter().map(|(_, s)| f(s)).collect::<Vec<_>>())
    };
    let sharpe_pct = pct(|s| s.sharpe);
    let count_pct = pct(|s| Decimal::from(s.positions));
    let consistency_pct = pct(|s| s.consistency);
    let mut ranked: Vec<Scored> = eligible
        .into_iter()
        .enumerate()
        .map(|(i, (hotkey, stats))| {
            let dd_base = (Decimal::ONE + stats.max_drawdown).max(Decimal::ZERO);
            let count_bonus =
                Decimal::from(stats.positions + 1).ln() / params.position_count_divisor;
            let parts = ScoreParts {
                drawdown: pow(dd_base * dd_base, params.drawdown_exponent),
                sharpe: pow(sharpe_pct[i], params.sharpe_exponent),
                returns: stats.compounded,
                profitable: pow(stats.profitable_rate, params.profitable_rate_exponent),
                count: count_pct[i] * count_bonus,
                consistency: consistency_pct[i],
            };
            let score = parts.drawdown
                + parts.sharpe
                + parts.returns
                + parts.profitable
                + parts.count
                + parts.consistency;
            Scored {
                hotkey,
                stats,
                parts,
                score,
            }
        })
        .collect();
    ranked.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.hotkey.cmp(&b.hotkey)));
    Ranking { ranked, excluded }
}
