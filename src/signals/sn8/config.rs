//! The `bittensor_sn8` source's config: where and how to fetch, how often, how long a dump
//! stays good, and the ranking parameters (the Python tool's `bittensor_processor_config.json`,
//! same names where the meaning is the same).

use crate::config::{Credentials, Secret, SourceConfig};
use crate::signals::SourceProblem;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// A real validator must not be polled faster than this (the API sheet's rule).
pub const MIN_POLL_SECS: u64 = 30;

#[derive(Clone, Debug, PartialEq)]
pub enum AuthMode {
    /// `{"api_key": "<key>"}` as the body of the GET (the validator's documented form).
    Body,
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `<name>: <key>`, e.g. `header:x-taoshi-consumer-request-key` for relays.
    Header(http::HeaderName),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sn8Config {
    pub url: url::Url,
    pub credentials: String,
    pub api_key: Secret,
    pub auth: AuthMode,
    pub poll: Duration,
    pub timeout: Duration,
    pub max_staleness: Duration,
    pub max_dump_bytes: u64,
    pub ranking: RankingParams,
}

/// How miners are filtered, scored and turned into depths. Returns are multiplicative
/// throughout (1.05 = +5 %).
#[derive(Clone, Debug, PartialEq)]
pub struct RankingParams {
    /// Trade pairs that count (SN8 ids such as BTCUSD); `None`: every pair.
    pub assets: Option<BTreeSet<String>>,
    pub min_trades: usize,
    pub min_trades_per_asset: usize,
    /// A miner whose worst position drawdown (leveraged, adverse moves only) is below this
    /// is excluded, e.g. -0.5.
    pub max_drawdown_threshold: Decimal,
    pub min_profitable_rate: Decimal,
    /// The compounded return Π(r) − 1 over the counted positions must exceed this.
    pub min_total_return: Decimal,
    /// The dump's `all_time_returns` must exceed this (1.0 = break-even).
    pub min_all_time_returns: Decimal,
    /// The dump's `thirty_day_returns`, when present, must exceed this.
    pub min_thirty_day_returns: Decimal,
    pub drawdown_exponent: Decimal,
    pub sharpe_exponent: Decimal,
    pub profitable_rate_exponent: Decimal,
    pub position_count_divisor: Decimal,
    /// The miner's last activity (open, order or close) must be younger than this.
    pub max_trade_age_days: Option<Decimal>,
    pub top_n: usize,
    /// Leverage that counts as full depth (1.0); `None`: the pair's own maximum from the dump.
    pub leverage_limit: Option<Decimal>,
    /// Per-pair overrides of `leverage_limit`.
    pub leverage_limits: BTreeMap<String, Decimal>,
    /// Open positions older than this do not count.
    pub max_position_age_days: Option<Decimal>,
    /// A dump with fewer miners is treated as a failed fetch.
    pub min_miners: usize,
    /// A dump whose miner count jumps by more than this from the previous dump is refused
    /// once (a partial dump); the next one with a similar count is accepted.
    pub max_miner_count_change: Option<usize>,
}

impl Default for RankingParams {
    fn default() -> Self {
        RankingParams {
            assets: None,
            min_trades: 10,
            min_trades_per_asset: 0,
            max_drawdown_threshold: dec!(-0.5),
            min_profitable_rate: dec!(0.6),
            min_total_return: Decimal::ZERO,
            min_all_time_returns: Decimal::ONE,
            min_thirty_day_returns: Decimal::ONE,
            drawdown_exponent: dec!(6),
            sharpe_exponent: dec!(2),
            profitable_rate_exponent: dec!(5),
            position_count_divisor: dec!(5),
            max_trade_age_days: Some(dec!(14)),
            top_n: 10,
            leverage_limit: None,
            leverage_limits: BTreeMap::new(),
            max_position_age_days: None,
            min_miners: 1,
            max_miner_count_change: None,
        }
    }
}

/// The JSON shape; every field but `credentials` has a default.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    url: Option<String>,
    credentials: Option<String>,
    #[serde(default)]
    auth: Option<String>,
    #[serde(default = "default_poll")]
    poll_secs: u64,
    #[serde(default = "default_timeout")]
    timeout_secs: u64,
    #[serde(default = "default_staleness")]
    max_staleness_secs: u64,
    #[serde(default = "default_max_dump_mb")]
    max_dump_mb: u64,
    #[serde(default)]
    assets: Option<Vec<String>>,
    min_trades: Option<usize>,
    min_trades_per_asset: Option<usize>,
    max_drawdown_threshold: Option<Decimal>,
    min_profitable_rate: Option<Decimal>,
    min_total_return: Option<Decimal>,
    min_all_time_returns: Option<Decimal>,
    min_thirty_day_returns: Option<Decimal>,
    drawdown_exponent: Option<Decimal>,
    sharpe_exponent: Option<Decimal>,
    profitable_rate_exponent: Option<Decimal>,
    position_count_divisor: Option<Decimal>,
    /// `null` turns the recency gate off.
    #[serde(default, deserialize_with = "present")]
    max_trade_age_days: Option<Option<Decimal>>,
    top_n: Option<usize>,
    leverage_limit: Option<Decimal>,
    #[serde(default)]
    leverage_limits: BTreeMap<String, Decimal>,
    max_position_age_days: Option<Decimal>,
    min_miners: Option<usize>,
    max_miner_count_change: Option<usize>,
}

/// Tells `"field": null` (Some(None)) apart from a missing field (None).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Decimal>>, D::Error> {
    Option::<Decimal>::deserialize(d).map(Some)
}
fn default_poll() -> u64 {
    30
}
fn default_timeout() -> u64 {
    10
}
fn default_staleness() -> u64 {
    600
}

/// The source's `max_staleness_secs` (its default when absent), for reporting freshness
/// without the credentials the full config needs.
pub fn max_staleness_secs(source: &SourceConfig) -> u64 {
    source
        .params
        .get("max_staleness_secs")
        .and_then(|v| v.as_u64())
        .unwrap_or_else(default_staleness)
}
fn default_max_dump_mb() -> u64 {
    256
}

fn problem(problem: impl Into<String>, expected: impl Into<String>) -> SourceProblem {
    SourceProblem {
        problem: problem.into(),
        expected: expected.into(),
    }
}

impl Sn8Config {
    pub fn from_params(
        source: &SourceConfig,
        credentials: &Credentials,
    ) -> Result<Sn8Config, SourceProblem> {
        let value = serde_json::Value::Object(source.params.clone());
        let raw: Raw = serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            problem(
                if at.is_empty() || at == "." {
                    crate::input::shorten_quoted(&e.inner().to_string())
                } else {
                    format!(
                        "{at}: {}",
                        crate::input::shorten_quoted(&e.inner().to_string())
                    )
                },
                "the bittensor_sn8 fields described in README.md",
            )
        })?;
        let cred_name = raw.credentials.ok_or_else(|| {
            problem(
                "has no \"credentials\"",
                "\"credentials\": \"<entry in credentials.json holding the SN8 api_key>\"",
            )
        })?;
        let cred = credentials.get(&cred_name).ok_or_else(|| {
            problem(
                format!(
                    "\"credentials\" names an entry that credentials.json does not have ({})",
                    crate::config::credentials::entry_list(credentials)
                ),
                "an entry {\"api_key\": \"…\"}, or TRADE_ENGINE_CREDENTIALS__<ENTRY>__API_KEY (the name is not repeated here in case it is a key pasted in the wrong place)",
            )
        })?;
        let api_key = cred
            .api_key
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| {
                problem(
                    format!("credentials entry \"{cred_name}\" has no api_key"),
                    "the validator's API key as that entry's api_key",
                )
            })?;
        let url_text = raw.url.or_else(|| cred.endpoint.clone()).ok_or_else(|| {
            problem(
                "has no \"url\"",
                format!("\"url\": \"https://<validator>/miner-positions\" (or an endpoint in credentials entry \"{cred_name}\")"),
            )
        })?;
        let url = url::Url::parse(&url_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| {
                problem(
                    format!(
                        "url {} is not an http(s) URL",
                        crate::input::excerpt(&url_text)
                    ),
                    "\"url\": \"https://<validator>/miner-positions\"",
                )
            })?;
        let auth = match raw.auth.as_deref() {
            None | Some("body") => AuthMode::Body,
            Some("bearer") => AuthMode::Bearer,
            Some(other) => match other.strip_prefix("header:") {
                Some(name) => AuthMode::Header(name.parse().map_err(|_| {
                    problem(
                        format!("auth {} names an invalid header", crate::input::excerpt(other)),
                        "\"header:x-taoshi-consumer-request-key\"",
                    )
                })?),
                None => {
                    return Err(problem(
                        "auth is none of the known modes (its value is not repeated: it may be a key pasted in the wrong place)",
                        "\"body\" (default), \"bearer\" or \"header:<name>\"",
                    ))
                }
            },
        };
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        };
        let min_poll = if loopback { 1 } else { MIN_POLL_SECS };
        if raw.poll_secs < min_poll {
            return Err(problem(
                format!("poll_secs {} is too fast for a validator", raw.poll_secs),
                format!("poll_secs >= {MIN_POLL_SECS} (the dump is many MB)"),
            ));
        }
        if raw.timeout_secs == 0 {
            return Err(problem(
                "timeout_secs is 0",
                "a deadline of a few seconds, e.g. 10",
            ));
        }
        if raw.max_staleness_secs < raw.poll_secs + raw.timeout_secs {
            return Err(problem(
                format!(
                    "max_staleness_secs {} is shorter than one poll ({} s) plus its deadline ({} s): every slow poll would zero the signals",
                    raw.max_staleness_secs, raw.poll_secs, raw.timeout_secs
                ),
                format!("max_staleness_secs >= {}", raw.poll_secs + raw.timeout_secs),
            ));
        }
        if raw.max_dump_mb == 0 {
            return Err(problem(
                "max_dump_mb is 0",
                "the largest dump to accept in MiB, e.g. 256",
            ));
        }
        let d = RankingParams::default();
        let ranking = RankingParams {
            assets: raw.assets.map(|a| {
                a.iter()
                    .map(|s| s.trim().to_ascii_uppercase())
                    .collect::<BTreeSet<_>>()
            }),
            min_trades: raw.min_trades.unwrap_or(d.min_trades),
            min_trades_per_asset: raw.min_trades_per_asset.unwrap_or(d.min_trades_per_asset),
            max_drawdown_threshold: raw
                .max_drawdown_threshold
                .unwrap_or(d.max_drawdown_threshold),
            min_profitable_rate: raw.min_profitable_rate.unwrap_or(d.min_profitable_rate),
            min_total_return: raw.min_total_return.unwrap_or(d.min_total_return),
            min_all_time_returns: raw.min_all_time_returns.unwrap_or(d.min_all_time_returns),
            min_thirty_day_returns: raw
                .min_thirty_day_returns
                .unwrap_or(d.min_thirty_day_returns),
            drawdown_exponent: raw.drawdown_exponent.unwrap_or(d.drawdown_exponent),
            sharpe_exponent: raw.sharpe_exponent.unwrap_or(d.sharpe_exponent),
            profitable_rate_exponent: raw
                .profitable_rate_exponent
                .unwrap_or(d.profitable_rate_exponent),
            position_count_divisor: raw
                .position_count_divisor
                .unwrap_or(d.position_count_divisor),
            max_trade_age_days: raw.max_trade_age_days.unwrap_or(d.max_trade_age_days),
            top_n: raw.top_n.unwrap_or(d.top_n),
            leverage_limit: raw.leverage_limit,
            leverage_limits: raw
                .leverage_limits
                .into_iter()
                .map(|(k, v)| (k.trim().to_ascii_uppercase(), v))
                .collect(),
            max_position_age_days: raw.max_position_age_days,
            min_miners: raw.min_miners.unwrap_or(d.min_miners),
            max_miner_count_change: raw.max_miner_count_change,
        };
        validate_ranking(&ranking)?;
        Ok(Sn8Config {
            url,
            credentials: cred_name,
            api_key,
            auth,
            poll: Duration::from_secs(raw.poll_secs),
            timeout: Duration::from_secs(raw.timeout_secs),
            max_staleness: Duration::from_secs(raw.max_staleness_secs),
            max_dump_bytes: raw.max_dump_mb.saturating_mul(1024 * 1024),
            ranking,
        })
    }
}

fn validate_ranking(r: &RankingParams) -> Result<(), SourceProblem> {
    if r.assets
        .as_ref()
        .is_some_and(|a| a.is_empty() || a.iter().any(|s| s.is_empty()))
    {
        return Err(problem(
            "assets is empty or has an empty entry",
            "omit assets (every trade pair counts) or list SN8 pairs such as [\"BTCUSD\", \"ETHUSD\"]",
        ));
    }
    if r.min_trades_per_asset > 0 && r.assets.is_none() {
        return Err(problem(
            "min_trades_per_asset needs a list of assets",
            "\"assets\": [\"BTCUSD\", …] next to min_trades_per_asset",
        ));
    }
    if r.max_drawdown_threshold > Decimal::ZERO {
        return Err(problem(
            format!(
                "max_drawdown_threshold {} is positive",
                r.max_drawdown_threshold
            ),
            "a drawdown <= 0, e.g. -0.5 for 50 %",
        ));
    }
    if r.min_profitable_rate < Decimal::ZERO || r.min_profitable_rate > Decimal::ONE {
        return Err(problem(
            format!(
                "min_profitable_rate {} is outside 0..=1",
                r.min_profitable_rate
            ),
            "a share between 0 and 1, e.g. 0.6",
        ));
    }
    for (name, value) in [
        ("min_all_time_returns", r.min_all_time_returns),
        ("min_thirty_day_returns", r.min_thirty_day_returns),
    ] {
        if value < Decimal::ZERO {
            return Err(problem(
                format!("{name} {value} is negative"),
                "a multiplicative return, e.g. 1.0 for break-even",
            ));
        }
    }
    if r.min_total_return < Decimal::NEGATIVE_ONE {
        return Err(problem(
            format!("min_total_return {} is below -1", r.min_total_return),
            "a return such as 0.0 (break-even) or -0.1",
        ));
    }
    for (name, value) in [
        ("drawdown_exponent", r.drawdown_exponent),
        ("sharpe_exponent", r.sharpe_exponent),
        ("profitable_rate_exponent", r.profitable_rate_exponent),
    ] {
        if value < Decimal::ZERO || value > dec!(20) {
            return Err(problem(
                format!("{name} {value} is outside 0..=20"),
                "an exponent between 0 and 20",
            ));
        }
    }
    if r.position_count_divisor <= Decimal::ZERO {
        return Err(problem(
            format!(
                "position_count_divisor {} is not positive",
                r.position_count_divisor
            ),
            "a number > 0, e.g. 5",
        ));
    }
    if r.top_n == 0 {
        return Err(problem("top_n is 0: no miner would count", "top_n >= 1"));
    }
    let limits = r.leverage_limit.iter().chain(r.leverage_limits.values());
    if let Some(bad) = limits.into_iter().find(|l| **l <= Decimal::ZERO) {
        return Err(problem(
            format!("leverage limit {bad} is not positive"),
            "the leverage that counts as full depth, e.g. 0.5 for crypto",
        ));
    }
    for (name, days) in [
        ("max_trade_age_days", r.max_trade_age_days),
        ("max_position_age_days", r.max_position_age_days),
    ] {
        if days.is_some_and(|d| d <= Decimal::ZERO || d > dec!(36500)) {
            return Err(problem(
                format!("{name} is outside 0..=36500"),
                format!("a number of days, or null to turn {name} off"),
            ));
        }
    }
    if r.min_miners == 0 {
        return Err(problem("min_miners is 0", "min_miners >= 1"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str, creds: &str) -> Result<Sn8Config, SourceProblem> {
        let source: SourceConfig = serde_json::from_str(json).unwrap();
        let creds: Credentials = serde_json::from_str(creds).unwrap();
        Sn8Config::from_params(&source, &creds)
    }

    const CREDS: &str =
        r#"{"sn8": {"api_key": "k-123", "endpoint": "https://v.example/miner-positions"}}"#;

    #[test]
    fn defaults_and_endpoint_from_credentials() {
        let c = parse(
            r#"{"name": "bittensor", "kind": "bittensor_sn8", "credentials": "sn8"}"#,
            CREDS,
        )
        .unwrap();
        assert_eq!(c.url.as_str(), "https://v.example/miner-positions");
        assert_eq!(c.auth, AuthMode::Body);
        assert_eq!(c.poll, Duration::from_secs(30));
        assert_eq!(c.ranking, RankingParams::default());
        assert!(!format!("{c:?}").contains("k-123"));
        let c = parse(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "auth": "header:x-taoshi-consumer-request-key",
                "max_trade_age_days": null, "assets": ["btcusd"], "min_trades": 3, "leverage_limits": {"btcusd": 0.5}}"#,
            CREDS,
        )
        .unwrap();
        assert!(matches!(c.auth, AuthMode::Header(ref h) if h == "x-taoshi-consumer-request-key"));
        assert_eq!(c.ranking.max_trade_age_days, None);
        assert_eq!(c.ranking.min_trades, 3);
        assert!(c.ranking.assets.unwrap().contains("BTCUSD"));
        assert_eq!(c.ranking.leverage_limits["BTCUSD"], dec!(0.5));
    }

    #[test]
    fn actionable_errors() {
        let err = |json: &str| parse(json, CREDS).unwrap_err().problem;
        assert!(err(r#"{"name": "b", "kind": "bittensor_sn8"}"#).contains("no \"credentials\""));
        assert!(
            err(r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "x"}"#)
                .contains("names an entry that credentials.json does not have (it has \"sn8\")")
        );
        assert!(err(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "url": "ftp://x"}"#
        )
        .contains("not an http(s) URL"));
        assert!(err(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "poll_secs": 2}"#
        )
        .contains("too fast"));
        assert!(err(r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "max_staleness_secs": 35}"#)
            .contains("shorter than one poll"));
        assert!(err(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "min_trade": 3}"#
        )
        .contains("unknown field `min_trade`"));
        assert!(err(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "auth": "cookie"}"#
        )
        .contains("none of the known modes"));
        assert!(err(r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "min_trades_per_asset": 2}"#)
            .contains("needs a list of assets"));
        assert!(
            err(r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "top_n": 0}"#)
                .contains("top_n")
        );
        assert!(err(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "leverage_limit": 0}"#
        )
        .contains("not positive"));
        let no_key = parse(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "url": "https://x/y"}"#,
            r#"{"sn8": {"api_secret": "s"}}"#,
        )
        .unwrap_err();
        assert!(no_key.problem.contains("no api_key"));
        // A loopback test server may be polled every second.
        assert!(parse(
            r#"{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "url": "http://127.0.0.1:9/m", "poll_secs": 1, "timeout_secs": 1, "max_staleness_secs": 2}"#,
            CREDS
        )
        .is_ok());
    }

    #[test]
    fn max_staleness_must_cover_one_poll_and_its_deadline() {
        // poll_secs 30 + timeout_secs 10: 40 is the smallest max_staleness_secs accepted.
        let with = |secs: u64| {
            parse(
                &format!(
                    r#"{{"name": "b", "kind": "bittensor_sn8", "credentials": "sn8", "poll_secs": 30, "timeout_secs": 10, "max_staleness_secs": {secs}}}"#
                ),
                CREDS,
            )
        };
        assert_eq!(with(40).unwrap().max_staleness, Duration::from_secs(40));
        let refused = with(39).unwrap_err();
        assert!(
            refused.problem.contains("max_staleness_secs 39"),
            "{}",
            refused.problem
        );
        assert_eq!(refused.expected, "max_staleness_secs >= 40");
    }
}
