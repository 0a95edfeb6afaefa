//! Checks of engine.json `synthetics`: every leg on a known, enabled account with side ±1,
//! at least two legs, and no synthetic built (directly or through others) from itself.
//! Whether a leg's venue lists its symbol needs the venue's instrument list, which `check`
//! cannot read offline: the first cycle finds it and `/status` shows it on the leg.

use super::{ConfigError, ConfigFile, ConfigSet};
use crate::input::excerpt;
use std::collections::{BTreeMap, BTreeSet};

/// Returns warnings (allowed but probably not meant), or the first problem found.
pub(super) fn validate(set: &ConfigSet) -> Result<Vec<String>, ConfigError> {
    let file = set.path_of(ConfigFile::Engine);
    let synthetics = &set.engine.synthetics;
    let invalid = |path: String, problem: String, expected: &str| {
        ConfigError::invalid(&file, path, problem, expected)
    };
    let mut warnings = Vec::new();
    let mut names = BTreeSet::new();
    for (name, synthetic) in synthetics {
        let at = |field: &str| format!("synthetics.{}{field}", key(name));
        if !names.insert(name.trim().to_ascii_uppercase()) {
            return Err(invalid(
                at(""),
                format!("synthetic {} is defined twice", excerpt(name)),
                "each synthetic once (names are case-insensitive)",
            ));
        }
        if synthetic.legs.len() < 2 {
            return Err(invalid(
                at(".legs"),
                format!(
                    "synthetic {} has {} leg(s); a synthetic needs at least two",
                    excerpt(name),
                    synthetic.legs.len()
                ),
                "two or more legs, e.g. a crypto leg and an FX leg",
            ));
        }
        for (i, leg) in synthetic.legs.iter().enumerate() {
            let at_leg = |field: &str| at(&format!(".legs[{i}].{field}"));
            if leg.side != 1 && leg.side != -1 {
                return Err(invalid(
                    at_leg("side"),
                    format!("side {} is neither 1 nor -1", leg.side),
                    "1 (the leg holds the synthetic's direction) or -1 (the opposite one)",
                ));
            }
            let Some(account) = set.account(&leg.account) else {
                let known: Vec<&str> = set
                    .engine
                    .accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect();
                return Err(invalid(
                    at_leg("account"),
                    format!(
                        "no account named {} (accounts: {})",
                        excerpt(&leg.account),
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                    "the name of an account in engine.json `accounts`",
                ));
            };
            if !account.enabled {
                return Err(invalid(
                    at_leg("account"),
                    format!(
                        "account {} is disabled, so this leg could never be traded and the synthetic would stay unhedged",
                        excerpt(&leg.account)
                    ),
                    "an enabled account, or remove the synthetic",
                ));
            }
            if leg.symbol.trim().is_empty() {
                return Err(invalid(
                    at_leg("symbol"),
                    "empty symbol".into(),
                    "a unified symbol the account's venue lists, such as BTCUSD",
                ));
            }
        }
        if set.weights.get(name).is_none() {
            warnings.push(format!(
                "synthetic {} is not weighted in signal_weights.json; its target stays 0",
                excerpt(name)
            ));
        }
    }
    if let Some(cycle) = find_cycle(synthetics) {
        return Err(invalid(
            format!("synthetics.{}", key(&cycle[0])),
            format!("synthetics form a cycle: {}", cycle.join(" -> ")),
            "legs that are plain symbols of their accounts, not synthetics",
        ));
    }
    for (name, synthetic) in synthetics {
        for (i, leg) in synthetic.legs.iter().enumerate() {
            if is_synthetic(synthetics, &leg.symbol) {
                return Err(invalid(
                    format!("synthetics.{}.legs[{i}].symbol", key(name)),
                    format!(
                        "{} is itself a synthetic; legs of legs are not supported",
                        excerpt(&leg.symbol)
                    ),
                    "a plain symbol the account's venue lists",
                ));
            }
        }
    }
    Ok(warnings)
}

/// A synthetic's name as a path segment: plain tickers as they are, anything else quoted.
fn key(name: &str) -> String {
    if !name.is_empty() && name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric()) {
        name.to_string()
    } else {
        excerpt(name)
    }
}

fn is_synthetic(synthetics: &BTreeMap<String, super::SyntheticConfig>, symbol: &str) -> bool {
    synthetics
        .keys()
        .any(|k| k.trim().eq_ignore_ascii_case(symbol.trim()))
}

/// A chain of synthetics that leads back to its start (names upper-cased), if any.
fn find_cycle(synthetics: &BTreeMap<String, super::SyntheticConfig>) -> Option<Vec<String>> {
    let edges: BTreeMap<String, Vec<String>> = synthetics
        .iter()
        .map(|(name, s)| {
            (
                name.trim().to_ascii_uppercase(),
                s.legs
                    .iter()
                    .map(|l| l.symbol.trim().to_ascii_uppercase())
                    .collect(),
            )
        })
        .collect();
    fn visit(
        node: &str,
        edges: &BTreeMap<String, Vec<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if edges.contains_key(next) {
                if let Some(cycle) = visit(next, edges, path, done) {
                    return Some(cycle);
                }
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for start in edges.keys() {
        if let Some(cycle) = visit(start, &edges, &mut Vec::new(), &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::config::{Checks, ConfigError, ConfigSet};

    const NO_CHECKS: Checks = Checks {
        source: |_, _| Ok(()),
        account: |_, _| Ok(Vec::<String>::new()),
    };

    fn load(synthetics: &str) -> Result<ConfigSet, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("engine.json"),
            format!(
                r#"{{"accounts": [{{"name": "bitmex-main", "venue": "sim"}},
                                 {{"name": "oanda-main", "venue": "sim"}},
                                 {{"name": "off", "venue": "sim", "enabled": false}}],
                    "synthetics": {synthetics}}}"#
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("signal_weights.json"),
            r#"[{"symbol": "BTCEUR", "leverage": 1, "sources": []}]"#,
        )
        .unwrap();
        ConfigSet::load_checked(dir.path(), vec![], &NO_CHECKS)
    }

    fn leg(account: &str, symbol: &str, side: i64) -> String {
        format!(r#"{{"account": "{account}", "symbol": "{symbol}", "side": {side}}}"#)
    }

    fn one(name: &str, legs: &[String]) -> String {
        format!(r#"{{"{name}": {{"legs": [{}]}}}}"#, legs.join(","))
    }

    fn error(synthetics: &str) -> String {
        match load(synthetics) {
            Ok(_) => panic!("accepted: {synthetics}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn the_issue_example_is_valid_with_its_default() {
        let set = load(&one(
            "BTCEUR",
            &[
                leg("bitmex-main", "BTCUSD", 1),
                leg("oanda-main", "EURUSD", -1),
            ],
        ))
        .unwrap();
        let s = &set.engine.synthetics["BTCEUR"];
        assert_eq!(s.max_unhedged_secs, 60);
        assert_eq!(s.legs[1].side, -1);
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
        let summary = set.summary();
        assert!(
            summary.contains(
                "BTCEUR: long BTCUSD on bitmex-main, short EURUSD on oanda-main (max unhedged 60 s)"
            ),
            "{summary}"
        );
    }

    #[test]
    fn an_unknown_account_is_named() {
        let e = error(&one(
            "BTCEUR",
            &[leg("bitmex-main", "BTCUSD", 1), leg("oanda", "EURUSD", -1)],
        ));
        assert!(e.contains("synthetics.BTCEUR.legs[1].account"), "{e}");
        assert!(e.contains("no account named \"oanda\""), "{e}");
        assert!(
            e.contains("oanda-main"),
            "lists the accounts there are: {e}"
        );
    }

    #[test]
    fn a_leg_on_a_disabled_account_is_refused() {
        let e = error(&one(
            "BTCEUR",
            &[leg("bitmex-main", "BTCUSD", 1), leg("off", "EURUSD", -1)],
        ));
        assert!(
            e.contains("legs[1].account") && e.contains("disabled"),
            "{e}"
        );
    }

    #[test]
    fn a_side_other_than_plus_or_minus_one_is_refused() {
        for side in [0, 2, -3] {
            let e = error(&one(
                "BTCEUR",
                &[
                    leg("bitmex-main", "BTCUSD", 1),
                    leg("oanda-main", "EURUSD", side),
                ],
            ));
            assert!(
                e.contains("legs[1].side") && e.contains("neither 1 nor -1"),
                "{e}"
            );
        }
    }

    #[test]
    fn fewer_than_two_legs_is_refused() {
        let e = error(&one("BTCEUR", &[leg("bitmex-main", "BTCUSD", 1)]));
        assert!(
            e.contains("synthetics.BTCEUR.legs") && e.contains("at least two"),
            "{e}"
        );
        let e = error(&one("BTCEUR", &[]));
        assert!(e.contains("at least two"), "{e}");
    }

    #[test]
    fn a_cycle_of_synthetics_is_refused() {
        let e = error(&format!(
            r#"{{"AAA": {{"legs": [{}, {}]}}, "BBB": {{"legs": [{}, {}]}}}}"#,
            leg("bitmex-main", "BBB", 1),
            leg("oanda-main", "EURUSD", -1),
            leg("bitmex-main", "aaa", 1),
            leg("oanda-main", "EURUSD", -1)
        ));
        assert!(e.contains("cycle: AAA -> BBB -> AAA"), "{e}");
        let e = error(&one(
            "BTCEUR",
            &[
                leg("bitmex-main", "BTCEUR", 1),
                leg("oanda-main", "EURUSD", -1),
            ],
        ));
        assert!(e.contains("cycle: BTCEUR -> BTCEUR"), "{e}");
    }

    #[test]
    fn a_leg_that_is_another_synthetic_is_refused() {
        let e = error(&format!(
            r#"{{"AAA": {{"legs": [{}, {}]}}, "BBB": {{"legs": [{}, {}]}}}}"#,
            leg("bitmex-main", "BBB", 1),
            leg("oanda-main", "EURUSD", -1),
            leg("bitmex-main", "BTCUSD", 1),
            leg("oanda-main", "EURUSD", -1)
        ));
        assert!(
            e.contains("synthetics.AAA.legs[0].symbol") && e.contains("itself a synthetic"),
            "{e}"
        );
    }

    #[test]
    fn an_unweighted_synthetic_is_a_warning() {
        let set = load(&one(
            "ETHEUR",
            &[
                leg("bitmex-main", "ETHUSD", 1),
                leg("oanda-main", "EURUSD", -1),
            ],
        ))
        .unwrap();
        assert!(
            set.warnings
                .iter()
                .any(|w| w.contains("ETHEUR") && w.contains("not weighted")),
            "{:?}",
            set.warnings
        );
    }
}
