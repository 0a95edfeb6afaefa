//! Ranking and aggregation on the real miners of tests/fixtures/bittensor:
//! - CAL (5CALivVc…): 1 position, open BTCUSD short, net leverage −0.8;
//! - GHC (5GhCxfBc…): 63 positions; open GBPUSD −0.27, CADCHF −0.06, EURCHF −3.375;
//! - DXQ (5Dxqzdua…): 406 positions; open EURUSD +0.001.
//!
//! Every FX pair in these dumps has max leverage 500, BTCUSD and ETHUSD 20.

use super::aggregate::{aggregate, rank_weights};
use super::config::RankingParams;
use super::dump::fixtures::{dump_json, CAL, DXQ, GHC};
use super::dump::Dump;
use super::rank::{consistency, percentile_ranks, position_drawdown, rank, Exclusion};
use super::{evaluate, Freshness, PollError, Staleness};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::json;
use std::time::{Duration, Instant};

/// 2024-05-23 21:33:20 UTC: GHC's last order (1716411607401) is ~1 day old, DXQ's last close
/// (1716254875979) ~2.8 days, CAL's last order (1716385078278) ~1.3 days.
const NOW_MS: i64 = 1_716_500_000_000;

/// `all_time_returns` as the sheet says to build it: Π of each miner's position returns.
fn three_miners() -> Dump {
    serde_json::from_str(&dump_json(&[
        (CAL, json!({"all_time_returns": 0.998198})),
        (GHC, json!({"all_time_returns": 1.063256})),
        (DXQ, json!({"all_time_returns": 1.156432})),
    ]))
    .unwrap()
}

/// Every gate open, so that only the scores decide.
fn relaxed() -> RankingParams {
    RankingParams {
        min_trades: 1,
        min_profitable_rate: Decimal::ZERO,
        min_total_return: Decimal::NEGATIVE_ONE,
        min_all_time_returns: Decimal::ZERO,
        min_thirty_day_returns: Decimal::ZERO,
        max_drawdown_threshold: dec!(-1),
        max_trade_age_days: None,
        ..RankingParams::default()
    }
}

fn approx(actual: Decimal, expected: Decimal, tolerance: Decimal) {
    assert!(
        (actual - expected).abs() <= tolerance,
        "{actual} is not within {tolerance} of {expected}"
    );
}

#[test]
fn drawdown_counts_only_adverse_moves() {
    let dump = three_miners();
    // CAL's BTC short: -0.2 @ 71239, -0.2 @ 70209, -0.4 @ 69680. Each add is *below* the
    // average entry (71239, then 70724): favourable for a short, so no drawdown from the
    // orders. The only adverse observation is the position's own return now,
    // 0.9981984025603954 − 1. (The Python tool's |move| made the favourable 69680 vs 70202
    // add look like −0.8 × 522/70202 ≈ −0.00595.)
    let cal = &dump.miner(CAL).unwrap().positions[0];
    assert_eq!(position_drawdown(cal), dec!(-0.0018015974396046));
    // DXQ position 14, AUDCAD, a winner (+0.32 %): LONG 3 @ 0.89488, LONG 3 @ 0.89399, FLAT @
    // 0.89498. The second order's price is 0.00089 under the entry with 3× on:
    // 3 × (0.89399 − 0.89488) / 0.89488 = −0.00267 / 0.89488 = −0.0029836402646164…
    // The FLAT at 0.89498 is above the 0.894435 average: favourable, and it ends the walk
    // (the Python tool added its "leverage 1.0" as a buy).
    let audcad = &dump.miner(DXQ).unwrap().positions[14];
    assert_eq!(audcad.trade_pair.id, "AUDCAD");
    assert_eq!(
        position_drawdown(audcad).round_dp(16),
        dec!(-0.0029836402646165)
    );
}

#[test]
fn single_miner_score_by_hand() {
    // CAL alone with every gate open. n = 1, none profitable (0.998 < 1), so pp = 0; sharpe
    // and consistency need two positions: 0. With one miner every percentile rank is 1.
    // mdd = r − 1 with r = 0.9981984025603954 (see above), so (1 + mdd)² ^ 6 = r^12.
    //   r^12           = 0.978593769185599…   (ln r = −0.0018032222…, × 12, exp)
    //   sharpe_pct^2   = 1
    //   Π r            = 0.9981984025603954
    //   pp^5           = 0
    //   1 × ln(2) / 5  = 0.138629436111989…
    //   consistency    = 1
    //   total          = 4.115421607857984…
    let dump: Dump =
        serde_json::from_str(&dump_json(&[(CAL, json!({"all_time_returns": 0.998198}))])).unwrap();
    let ranking = rank(&dump, &relaxed(), NOW_MS);
    assert_eq!(ranking.ranked.len(), 1);
    let s = &ranking.ranked[0];
    assert_eq!(s.stats.positions, 1);
    assert_eq!(s.stats.profitable_rate, Decimal::ZERO);
    assert_eq!(s.stats.compounded, dec!(0.9981984025603954));
    assert_eq!(s.stats.sharpe, Decimal::ZERO);
    assert_eq!(s.stats.consistency, Decimal::ZERO);
    approx(
        s.parts.drawdown,
        dec!(0.9785937691855997),
        dec!(0.000000000001),
    );
    approx(
        s.parts.count,
        dec!(0.1386294361119891),
        dec!(0.000000000001),
    );
    approx(s.score, dec!(4.115421607857984), dec!(0.000000000001));
    // Its one open position at full weight: −0.8 of BTCUSD's maximum 20 = −0.04.
    let depths = aggregate(&dump, &[CAL], &relaxed(), NOW_MS);
    assert_eq!(depths["BTCUSD"].depth, dec!(-0.04));
    // With 0.5 as full depth (the network's crypto limit), −0.8 / 0.5 = −1.6, clamped to −1.
    let capped = RankingParams {
        leverage_limits: [("BTCUSD".to_string(), dec!(0.5))].into(),
        ..relaxed()
    };
    assert_eq!(
        aggregate(&dump, &[CAL], &capped, NOW_MS)["BTCUSD"].depth,
        dec!(-1)
    );
}

#[test]
fn default_ranking_on_the_three_miners() {
    let dump = three_miners();
    let ranking = rank(&dump, &RankingParams::default(), NOW_MS);
    // CAL: all_time_returns 0.998198 is a loss (multiplicative, not above 1.0). The Python
    // tool's "<= 0" test let every such miner through.
    assert_eq!(
        ranking.excluded.get(CAL),
        Some(&Exclusion::AllTimeReturns(dec!(0.998198)))
    );
    let order: Vec<&str> = ranking.ranked.iter().map(|s| s.hotkey.as_str()).collect();
    assert_eq!(order, vec![GHC, DXQ]);
    let (ghc, dxq) = (&ranking.ranked[0], &ranking.ranked[1]);
    // Counts straight from the fixtures: GHC 57 of 63 positions above 1.0, DXQ 293 of 406.
    assert_eq!((ghc.stats.positions, ghc.stats.profitable), (63, 57));
    assert_eq!((dxq.stats.positions, dxq.stats.profitable), (406, 293));
    assert_eq!(ghc.stats.profitable_rate, dec!(57) / dec!(63));
    // Score components (two miners: percentile ranks are 1 for the better, 0 for the worse):
    //                      GHC                         DXQ
    //   mdd               −0.0097852                 −0.0290740
    //   (1+mdd)^12         0.888695                   0.701833
    //   sharpe            0.44967 → pct 1 → 1         0.15826 → pct 0 → 0
    //   Π r                1.063256                   1.156432
    //   pp^5              (57/63)^5 = 0.606278       (293/406)^5 = 0.195753
    //   count             63 < 406 → pct 0 → 0       pct 1 × ln(407)/5 = 1.201763
    //   consistency       both 0 (irregular) → tie, both pct 1
    //   total              4.558228                   4.255781
    approx(ghc.stats.max_drawdown, dec!(-0.0097852), dec!(0.0000001));
    approx(dxq.stats.max_drawdown, dec!(-0.0290740), dec!(0.0000001));
    approx(ghc.parts.profitable, dec!(0.606278), dec!(0.000001));
    approx(dxq.parts.count, dec!(1.201763), dec!(0.000001));
    assert_eq!(ghc.parts.sharpe, Decimal::ONE);
    assert_eq!(dxq.parts.sharpe, Decimal::ZERO);
    assert_eq!(
        (ghc.parts.consistency, dxq.parts.consistency),
        (dec!(1), dec!(1))
    );
    approx(ghc.score, dec!(4.558228), dec!(0.000001));
    approx(dxq.score, dec!(4.255781), dec!(0.000001));

    // Rank weights for two: 2/3 and 1/3. Only open positions count, as a share of the
    // pair's maximum leverage (500 for these FX pairs), rounded to 8 decimals:
    //   GBPUSD  2/3 × −0.27 / 500  = −0.00036
    //   CADCHF  2/3 × −0.06 / 500  = −0.00008
    //   EURCHF  2/3 × −3.375 / 500 = −0.0045
    //   EURUSD  1/3 × 0.001 / 500  = 0.000000666… → 0.00000067
    let used: Vec<&str> = order.clone();
    let depths = aggregate(&dump, &used, &RankingParams::default(), NOW_MS);
    let got: Vec<(&str, Decimal)> = depths.iter().map(|(k, v)| (k.as_str(), v.depth)).collect();
    assert_eq!(
        got,
        vec![
            ("CADCHF", dec!(-0.00008)),
            ("EURCHF", dec!(-0.0045)),
            ("EURUSD", dec!(0.00000067)),
            ("GBPUSD", dec!(-0.00036)),
        ]
    );
    // top_n = 1 keeps GHC alone at weight 1: EURCHF −3.375 / 500 = −0.00675, no EURUSD.
    let params = RankingParams {
        top_n: 1,
        ..RankingParams::default()
    };
    let eval = evaluate(&dump, &params, None, NOW_MS).unwrap();
    assert_eq!(eval.used, vec![GHC.to_string()]);
    assert_eq!(eval.depths["EURCHF"].depth, dec!(-0.00675));
    assert!(!eval.depths.contains_key("EURUSD"));
}

#[test]
fn only_open_positions_count() {
    // BTCUSD only, every gate open. All three miners traded BTC, but only CAL holds an open
    // BTC position. DXQ's history has closed BTCUSD positions without a FLAT order whose
    // orders do not sum to zero (e.g. −0.0375 and −0.04): the Python tool added those as
    // live exposure.
    // Ranking on BTCUSD (three miners: percentile ranks 1, 0.5, 0):
    //          (1+mdd)^12  sharpe_pct²  Π r       pp^5     count               consistency  total
    //   GHC    0.932830    1            1.030715  1        0.5×ln(14)/5=0.2639 1            5.2275
    //   DXQ    0.808166    0.25         1.027315  0.321787 1×ln(70)/5=0.8497   0.5 (tie 0)  3.7570
    //   CAL    0.978594    0            0.998198  0        0                   0.5 (tie 0)  2.4768
    // CAL ranks 3rd of 3: weight 1/6. With BTCUSD's full depth at 0.5 leverage:
    //   depth = 1/6 × clamp(−0.8 / 0.5) = 1/6 × −1 = −0.1666666… → −0.16666667
    let dump = three_miners();
    let params = RankingParams {
        assets: Some(["BTCUSD".to_string()].into()),
        leverage_limits: [("BTCUSD".to_string(), dec!(0.5))].into(),
        ..relaxed()
    };
    let eval = evaluate(&dump, &params, None, NOW_MS).unwrap();
    assert_eq!(
        eval.used,
        vec![GHC.to_string(), DXQ.to_string(), CAL.to_string()]
    );
    approx(eval.ranking.ranked[0].score, dec!(5.2275), dec!(0.0001));
    approx(eval.ranking.ranked[1].score, dec!(3.7570), dec!(0.0001));
    approx(eval.ranking.ranked[2].score, dec!(2.4768), dec!(0.0001));
    assert_eq!(eval.depths.len(), 1);
    let btc = &eval.depths["BTCUSD"];
    assert_eq!(btc.depth, dec!(-0.16666667));
    assert_eq!(btc.contributions.len(), 1);
    assert_eq!(btc.contributions[0].hotkey, CAL);
    // Same without `net_leverage` in the dump, where leverage comes from the orders: the
    // closed positions' leftover order sums still do not count.
    let mut value: serde_json::Value = serde_json::from_str(&dump_json(&[
        (CAL, json!({"all_time_returns": 0.998198})),
        (GHC, json!({"all_time_returns": 1.063256})),
        (DXQ, json!({"all_time_returns": 1.156432})),
    ]))
    .unwrap();
    for miner in value.as_object_mut().unwrap().values_mut() {
        for p in miner["positions"].as_array_mut().unwrap() {
            p.as_object_mut().unwrap().remove("net_leverage");
        }
    }
    let bare: Dump = serde_json::from_value(value).unwrap();
    let eval = evaluate(&bare, &params, None, NOW_MS).unwrap();
    assert_eq!(eval.depths["BTCUSD"].depth, dec!(-0.16666667));
    assert_eq!(eval.depths["BTCUSD"].contributions.len(), 1);
    // A listed pair nobody holds still appears, at 0 ("no signal means flat").
    let params = RankingParams {
        assets: Some(["BTCUSD".to_string(), "ETHUSD".to_string()].into()),
        ..params
    };
    let eval = evaluate(&dump, &params, None, NOW_MS).unwrap();
    assert_eq!(eval.depths["ETHUSD"].depth, Decimal::ZERO);
}

#[test]
fn each_gate_names_its_reason() {
    let dump = three_miners();
    let excluded = |params: RankingParams, now: i64| rank(&dump, &params, now).excluded;
    // 30 days later nobody traded for 14 days.
    let later = excluded(RankingParams::default(), NOW_MS + 30 * 86_400_000);
    assert!(matches!(
        later.get(DXQ),
        Some(Exclusion::Inactive {
            last_activity_ms: 1_716_254_875_979
        })
    ));
    assert!(matches!(later.get(GHC), Some(Exclusion::Inactive { .. })));
    // min_trades_per_asset 2 on BTC and ETH: DXQ has 69 BTC but 1 ETH position; CAL 1 BTC.
    let per_asset = excluded(
        RankingParams {
            assets: Some(["BTCUSD".to_string(), "ETHUSD".to_string()].into()),
            min_trades_per_asset: 2,
            ..relaxed()
        },
        NOW_MS,
    );
    assert_eq!(
        per_asset.get(DXQ),
        Some(&Exclusion::TooFewTradesOn {
            asset: "ETHUSD".into(),
            n: 1,
            min: 2
        })
    );
    assert_eq!(
        per_asset.get(CAL),
        Some(&Exclusion::TooFewTradesOn {
            asset: "BTCUSD".into(),
            n: 1,
            min: 2
        })
    );
    assert!(!per_asset.contains_key(GHC));
    // Drawdown −2 %: DXQ's worst is −2.9 %, GHC's −0.98 %.
    let dd = excluded(
        RankingParams {
            max_drawdown_threshold: dec!(-0.02),
            ..RankingParams::default()
        },
        NOW_MS,
    );
    assert!(matches!(dd.get(DXQ), Some(Exclusion::Drawdown(_))));
    assert!(!dd.contains_key(GHC));
    // 80 % profitable: DXQ 293/406 = 72 % fails, GHC 57/63 = 90 % passes.
    let pp = excluded(
        RankingParams {
            min_profitable_rate: dec!(0.8),
            ..RankingParams::default()
        },
        NOW_MS,
    );
    assert_eq!(
        pp.get(DXQ),
        Some(&Exclusion::ProfitableRate(dec!(293) / dec!(406)))
    );
    // Compounded +10 %: GHC's +6.3 % fails, DXQ's +15.6 % passes.
    let total = excluded(
        RankingParams {
            min_total_return: dec!(0.1),
            ..RankingParams::default()
        },
        NOW_MS,
    );
    assert!(
        matches!(total.get(GHC), Some(Exclusion::TotalReturn(t)) if (*t - dec!(0.063256)).abs() < dec!(0.000001))
    );
    assert!(!total.contains_key(DXQ));
    // min_trades 10 with CAL's gate on returns opened: its 1 position is too few.
    let few = excluded(
        RankingParams {
            min_all_time_returns: Decimal::ZERO,
            ..RankingParams::default()
        },
        NOW_MS,
    );
    assert_eq!(
        few.get(CAL),
        Some(&Exclusion::TooFewTrades { n: 1, min: 10 })
    );
}

#[test]
fn thirty_day_returns_gate_is_skipped_when_absent() {
    // The Python tool died on a missing thirty_day_returns; here the gate is skipped.
    let dump: Dump = serde_json::from_str(&dump_json(&[
        (GHC, json!({"all_time_returns": 1.063256})),
        (
            DXQ,
            json!({"all_time_returns": 1.156432, "thirty_day_returns": 0.99}),
        ),
    ]))
    .unwrap();
    let r = rank(&dump, &RankingParams::default(), NOW_MS);
    assert_eq!(
        r.excluded.get(DXQ),
        Some(&Exclusion::ThirtyDayReturns(dec!(0.99)))
    );
    assert_eq!(r.ranked.len(), 1);
    assert_eq!(r.ranked[0].hotkey, GHC);
}

#[test]
fn percentiles_weights_and_consistency() {
    // Ties share the better rank: [3, 1, 3, 2] → 3s beat nobody (1), 2 is beaten by two
    // (1 − 2/3), 1 by three (0).
    assert_eq!(
        percentile_ranks(&[dec!(3), dec!(1), dec!(3), dec!(2)]),
        vec![dec!(1), dec!(0), dec!(1), Decimal::ONE - dec!(2) / dec!(3)]
    );
    // N = 3: 3/6, 2/6, 1/6.
    assert_eq!(
        rank_weights(3),
        vec![dec!(3) / dec!(6), dec!(2) / dec!(6), dec!(1) / dec!(6)]
    );
    assert_eq!(
        rank_weights(3).iter().sum::<Decimal>().round_dp(20),
        Decimal::ONE
    );
    // Opens at 0, 10, 20, 30: equal gaps → 1. Gaps 10 and 30: mean 20, pstdev 10 → 0.5.
    assert_eq!(consistency(&[30, 0, 20, 10]), Decimal::ONE);
    assert_eq!(consistency(&[0, 10, 40]), dec!(0.5));
    assert_eq!(consistency(&[5]), Decimal::ZERO);
    // Gaps 0, 0, 30: mean 10, pstdev √200 ≈ 14.1 → 1 − 1.41 < 0, clamped to 0.
    assert_eq!(consistency(&[0, 0, 0, 30]), Decimal::ZERO);
}

#[test]
fn unusable_dumps_and_the_miner_count_gate() {
    let empty: Dump = serde_json::from_str("{}").unwrap();
    assert!(matches!(
        evaluate(&empty, &RankingParams::default(), None, NOW_MS),
        Err(PollError::Empty { unreadable: 0 })
    ));
    let refused: Dump = serde_json::from_str(r#"{"error": "Unauthorized access"}"#).unwrap();
    assert!(matches!(
        evaluate(&refused, &RankingParams::default(), None, NOW_MS),
        Err(PollError::Empty { unreadable: 1 })
    ));
    let dump = three_miners();
    let gated = RankingParams {
        max_miner_count_change: Some(5),
        ..RankingParams::default()
    };
    // 3 miners after a dump of 10: a jump of 7 is refused once…
    assert!(matches!(
        evaluate(&dump, &gated, Some(10), NOW_MS),
        Err(PollError::CountJump {
            previous: 10,
            now: 3,
            max: 5
        })
    ));
    // …and the next dump, compared with that one, is used: no permanent lock-out.
    assert!(evaluate(&dump, &gated, Some(3), NOW_MS).is_ok());
    let strict = RankingParams {
        min_profitable_rate: Decimal::ONE,
        ..RankingParams::default()
    };
    let Err(PollError::NoneQualified { summary }) = evaluate(&dump, &strict, None, NOW_MS) else {
        panic!("nobody is 100 % profitable over all pairs");
    };
    assert!(summary.contains("2 × min_profitable_rate"), "{summary}");
    assert!(summary.contains("1 × all_time_returns"), "{summary}");
    let many = RankingParams {
        min_miners: 4,
        ..RankingParams::default()
    };
    assert!(matches!(
        evaluate(&dump, &many, None, NOW_MS),
        Err(PollError::TooFewMiners { n: 3, min: 4 })
    ));
}

#[test]
fn freshness_keeps_then_zeroes_then_recovers() {
    let t0 = Instant::now();
    let mut f = Freshness::new(Duration::from_secs(600), t0);
    assert_eq!(
        f.failed(t0 + Duration::from_secs(300)),
        Staleness::Keep {
            age: Duration::from_secs(300)
        }
    );
    assert!(!f.good(t0 + Duration::from_secs(310)));
    assert!(matches!(
        f.failed(t0 + Duration::from_secs(900)),
        Staleness::Keep { .. }
    ));
    assert_eq!(
        f.failed(t0 + Duration::from_secs(911)),
        Staleness::ZeroNow {
            age: Duration::from_secs(601)
        }
    );
    assert_eq!(
        f.failed(t0 + Duration::from_secs(950)),
        Staleness::StillZero
    );
    assert!(f.good(t0 + Duration::from_secs(960)));
    assert!(matches!(
        f.failed(t0 + Duration::from_secs(970)),
        Staleness::Keep { .. }
    ));
}

#[test]
fn a_miner_lacking_a_gated_field_is_not_eligible() {
    // No all_time_returns on DXQ: the all-time gate cannot be checked, so DXQ is out (it used
    // to pass the gate unchecked). thirty_day_returns is absent on both, and optional.
    let dump: Dump = serde_json::from_str(&dump_json(&[
        (GHC, json!({"all_time_returns": 1.063256})),
        (DXQ, json!({})),
    ]))
    .unwrap();
    let r = rank(&dump, &relaxed(), NOW_MS);
    assert_eq!(
        r.excluded.get(DXQ),
        Some(&Exclusion::Missing {
            field: "all_time_returns"
        })
    );
    assert_eq!(r.ranked.len(), 1);
    assert_eq!(r.ranked[0].hotkey, GHC);

    // A counted position without its return disqualifies the miner instead of dropping out
    // of the gates (a hidden loss would make the miner look better).
    let mut value: serde_json::Value =
        serde_json::from_str(&dump_json(&[(GHC, json!({"all_time_returns": 1.063256}))])).unwrap();
    let positions = value[GHC]["positions"].as_array_mut().unwrap();
    let btc = positions
        .iter_mut()
        .find(|p| p["trade_pair"][0] == "BTCUSD" && p["is_closed_position"] == true)
        .expect("GHC has closed BTCUSD positions");
    let p = btc.as_object_mut().unwrap();
    p.remove("return_at_close");
    p.remove("current_return");
    let dump: Dump = serde_json::from_value(value).unwrap();
    assert_eq!(
        rank(&dump, &relaxed(), NOW_MS).excluded.get(GHC),
        Some(&Exclusion::Missing {
            field: "return_at_close"
        })
    );
    // The same position on a pair that does not count is not needed by any gate.
    let fx_only = RankingParams {
        assets: Some(["GBPUSD".to_string()].into()),
        ..relaxed()
    };
    let r = rank(&dump, &fx_only, NOW_MS);
    assert!(r.excluded.is_empty(), "{:?}", r.excluded);
    assert_eq!(r.ranked.len(), 1);
}

const DAY: i64 = 86_400_000;

/// A closed BTCUSD position from day `open` to day `close` after 2023-11-14, returning `r`.
/// With `dip`, its orders go LONG 1 @ 100, LONG 1 @ 95 (5 % against the miner: drawdown
/// −0.05), FLAT @ 110; without, it has no orders and its drawdown is min(0, r − 1) = 0.
fn closed(open: i64, close: i64, r: &str, dip: bool) -> serde_json::Value {
    let t0 = 1_700_000_000_000;
    let orders = if dip {
        json!([
            {"order_type": "LONG", "leverage": 1, "price": 100, "processed_ms": t0 + open * DAY},
            {"order_type": "LONG", "leverage": 1, "price": 95, "processed_ms": t0 + open * DAY + 1},
            {"order_type": "FLAT", "leverage": 0, "price": 110, "processed_ms": t0 + close * DAY}
        ])
    } else {
        json!([])
    };
    json!({
        "trade_pair": ["BTCUSD", "BTC/USD", 0.003, 0.001, 20],
        "open_ms": t0 + open * DAY, "close_ms": t0 + close * DAY, "is_closed_position": true,
        "net_leverage": 0, "return_at_close": r, "current_return": r, "orders": orders
    })
}

/// Five miners with the same three returns (1.01, 1.01, 1.04: same Π r, profitable rate,
/// sharpe and count) that differ only in when they open positions and in one drawdown:
///
/// | miner | positions (open→close, days) | gaps between opens | consistency | drawdown |
/// | ----- | ---------------------------- | ------------------ | ----------- | -------- |
/// | A     | 0→1, 10→19, 20→21           | 10, 10             | 1           | 0        |
/// | B     | 0→1, 10→11, 20→21           | 10, 10             | 1           | 0        |
/// | C     | 0→1, 10→11, 40→41           | 10, 30             | 0.5         | −0.05    |
/// | D     | 0→1, 10→11, 40→41           | 10, 30             | 0.5         | 0        |
/// | E     | 0→1, 0→1, 20→21             | 0, 20              | 0           | 0        |
fn five_miners() -> Dump {
    let miner = |spans: [(i64, i64); 3], dip: bool| {
        let returns = ["1.01", "1.01", "1.04"];
        let positions: Vec<serde_json::Value> = spans
            .iter()
            .zip(returns)
            .enumerate()
            .map(|(i, ((open, close), r))| closed(*open, *close, r, dip && i == 0))
            .collect();
        json!({"all_time_returns": 1.060904, "positions": positions})
    };
    serde_json::from_value(json!({
        "A": miner([(0, 1), (10, 19), (20, 21)], false),
        "B": miner([(0, 1), (10, 11), (20, 21)], false),
        "C": miner([(0, 1), (10, 11), (40, 41)], true),
        "D": miner([(0, 1), (10, 11), (40, 41)], false),
        "E": miner([(0, 1), (0, 1), (20, 21)], false),
    }))
    .unwrap()
}

#[test]
fn ties_take_the_better_rank_and_consistency_reads_the_gaps_between_opens() {
    // Consistency = clamp(1 − pstdev(gaps) / mean(gaps), 0, 1) over the gaps between
    // consecutive position opens. With two gaps g1, g2 that is 1 − |g1 − g2| / (g1 + g2):
    //   A, B: 10, 10 → 1      C, D: 10, 30 → 1 − 20/40 = 0.5      E: 0, 20 → 1 − 20/20 = 0
    // A's middle position stays open 9 days: measured from the previous *close* (the Python
    // tool) its gaps would be 9 and 1 (→ 0.2), and A would fall below C and D.
    //
    // Ties take the better rank, 1 − #(strictly better) / (N − 1), N = 5:
    //   consistency 1, 1, 0.5, 0.5, 0 → pct 1, 1, 1 − 2/4 = 0.5, 0.5, 0
    // (mean rank would give 0.875, 0.875, 0.375, 0.375, 0). Sharpe (√2 for everyone) and the
    // count (3 each) tie five ways: pct 1 for all.
    //
    // Common part K: sharpe 1² + Π r 1.01 × 1.01 × 1.04 = 1.060904 + profitable 1⁵
    //   + count 1 × ln 4 / 5 = 0.2772588722 → K = 3.3381628722
    // Drawdown part ((1 + mdd)²)^6: 1 without a dip; C: 0.95¹² = 0.5403600876.
    //   A, B: K + 1 + 1          = 5.3381628722
    //   D:    K + 1 + 0.5        = 4.8381628722
    //   C:    K + 0.5403600876 + 0.5 = 4.3785229598
    //   E:    K + 1 + 0          = 4.3381628722
    // C stays ahead of E by 0.04. With mean ranks C would get 0.54036 + 0.375 < 1 + 0 and
    // fall behind E; A and B tie exactly and are ordered by hotkey.
    let dump = five_miners();
    let ranking = rank(&dump, &relaxed(), NOW_MS);
    assert!(ranking.excluded.is_empty(), "{:?}", ranking.excluded);
    let consistency: Vec<(&str, Decimal)> = ranking
        .ranked
        .iter()
        .map(|s| (s.hotkey.as_str(), s.stats.consistency))
        .collect();
    assert_eq!(
        consistency,
        vec![
            ("A", dec!(1)),
            ("B", dec!(1)),
            ("D", dec!(0.5)),
            ("C", dec!(0.5)),
            ("E", dec!(0))
        ]
    );
    let pct: Vec<Decimal> = ranking.ranked.iter().map(|s| s.parts.consistency).collect();
    assert_eq!(pct, vec![dec!(1), dec!(1), dec!(0.5), dec!(0.5), dec!(0)]);
    for s in &ranking.ranked {
        assert_eq!(s.parts.sharpe, Decimal::ONE, "{}", s.hotkey);
        approx(s.parts.count, dec!(0.2772588722), dec!(0.0000000001));
        assert_eq!(s.stats.compounded, dec!(1.060904));
    }
    let scores: Vec<(&str, Decimal)> = ranking
        .ranked
        .iter()
        .map(|s| (s.hotkey.as_str(), s.score))
        .collect();
    let expected = [
        ("A", dec!(5.3381628722)),
        ("B", dec!(5.3381628722)),
        ("D", dec!(4.8381628722)),
        ("C", dec!(4.3785229598)),
        ("E", dec!(4.3381628722)),
    ];
    assert_eq!(
        scores.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
        expected.iter().map(|(h, _)| *h).collect::<Vec<_>>()
    );
    for ((_, got), (hotkey, want)) in scores.iter().zip(expected) {
        assert!(
            (*got - want).abs() <= dec!(0.0000000001),
            "{hotkey}: {got} vs {want}"
        );
    }
}

#[test]
fn each_position_is_normalised_by_its_own_trade_pair_maximum() {
    // Two miners hold BTCUSD, their positions' trade_pair arrays carrying different maxima
    // (20 in CAL's real position, 0.5 in the other, as if written after the network changed
    // the limit). With no configured limit each position is divided by its own maximum:
    //   CAL   weight 1/3 × −0.8 / 20  = −0.01333333…
    //   OTHER weight 2/3 × 0.25 / 0.5 = 0.33333333…
    //   depth = 0.32 exactly
    // (one limit per pair would give 1/3 × −0.8/20 + 2/3 × 0.25/20 = −0.005 with 20, or
    // 1/3 × −1 + 2/3 × 0.5 = 0 with 0.5).
    let other = json!({
        "trade_pair": ["BTCUSD", "BTC/USD", 0.003, 0.001, 0.5],
        "open_ms": NOW_MS - DAY, "close_ms": null, "is_closed_position": false,
        "net_leverage": 0.25, "current_return": 1.01, "orders": []
    });
    let mut value: serde_json::Value =
        serde_json::from_str(&dump_json(&[(CAL, json!({"all_time_returns": 0.998198}))])).unwrap();
    value["OTHER"] = json!({"all_time_returns": 1.01, "positions": [other]});
    let dump: Dump = serde_json::from_value(value).unwrap();
    let depths = aggregate(&dump, &["OTHER", CAL], &relaxed(), NOW_MS);
    let btc = &depths["BTCUSD"];
    assert_eq!(btc.depth, dec!(0.32));
    let limits: Vec<(&str, Decimal)> = btc
        .contributions
        .iter()
        .map(|c| (c.hotkey.as_str(), c.limit))
        .collect();
    assert_eq!(limits, vec![("OTHER", dec!(0.5)), (CAL, dec!(20))]);
    // A configured limit replaces both: 1/3 × −0.8/0.5 → −1/3, 2/3 × 0.25/0.5 = 1/3 → 0.
    let configured = RankingParams {
        leverage_limit: Some(dec!(0.5)),
        ..relaxed()
    };
    assert_eq!(
        aggregate(&dump, &["OTHER", CAL], &configured, NOW_MS)["BTCUSD"].depth,
        Decimal::ZERO
    );
}

#[test]
fn depths_round_half_away_from_zero_to_8_decimals() {
    // One miner at weight 1; leverage ±0.0000025 of a maximum of 20 = ±0.000000125, exactly
    // half-way between two 8-decimal steps: away from zero gives ±0.00000013 (banker's
    // rounding would give ±0.00000012).
    for (leverage, want) in [
        ("0.0000025", dec!(0.00000013)),
        ("-0.0000025", dec!(-0.00000013)),
    ] {
        let dump: Dump = serde_json::from_value(json!({
            "M": {"all_time_returns": 1.01, "positions": [{
                "trade_pair": ["BTCUSD", "BTC/USD", 0.003, 0.001, 20],
                "open_ms": NOW_MS - DAY, "is_closed_position": false,
                "net_leverage": leverage, "current_return": 1.01, "orders": []
            }]}
        }))
        .unwrap();
        assert_eq!(
            aggregate(&dump, &["M"], &relaxed(), NOW_MS)["BTCUSD"].depth,
            want
        );
    }
}
