//! The `tradingview` source's config: who may post, how fast, and how races are resolved.

use super::allow::IpBlock;
use crate::config::{Credentials, Secret, SourceConfig};
use crate::signals::SourceProblem;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use subtle::ConstantTimeEq;

/// Shorter tokens can be guessed within the rate limit's patience.
pub const MIN_TOKEN_LEN: usize = 16;

const FIELDS: [&str; 8] = [
    "token",
    "credentials",
    "allow_ips",
    "trust_proxy",
    "rate_limit_per_minute",
    "rate_limit_burst",
    "race_window_ms",
    "seq_reset_secs",
];

#[derive(Clone, Debug, PartialEq)]
pub struct TradingViewConfig {
    pub token: Secret,
    /// Empty: any address may post (the token still has to match).
    pub allow_ips: Vec<IpBlock>,
    /// Take the client address from the last `X-Forwarded-For` entry (set by a reverse proxy
    /// in front of the daemon). Off by default: anyone can write that header.
    pub trust_proxy: bool,
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// A flat and an entry for one symbol closer than this are a race to resolve.
    pub race_window_ms: u64,
    /// A `signal_seq` lower than the newest seen is a late delivery while the newest is
    /// younger than this; later it means the sender restarted its counter.
    pub seq_reset_secs: u64,
}

impl TradingViewConfig {
    pub fn from_params(
        source: &SourceConfig,
        credentials: &Credentials,
    ) -> Result<Self, SourceProblem> {
        let p = &source.params;
        for key in p.keys() {
            if !FIELDS.contains(&key.as_str()) {
                return Err(problem(
                    format!("unknown field \"{key}\""),
                    format!("only name, kind and {}", FIELDS.join(", ")),
                ));
            }
        }
        if source.name.is_empty()
            || !source
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(problem(
                format!(
                    "name {} cannot be a URL path segment",
                    crate::input::excerpt(&source.name)
                ),
                "letters, digits, '_' or '-' (the webhook URL is /webhook/<name>)",
            ));
        }
        let token = token(source, credentials)?;
        let allow_ips = match p.get("allow_ips") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .ok_or_else(|| "an entry is not a string".to_string())
                        .and_then(IpBlock::parse)
                        .map_err(|e| {
                            problem(
                                format!("allow_ips: {e}"),
                                "addresses or CIDR blocks such as \"52.89.214.238\" or \"10.0.0.0/8\"",
                            )
                        })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(problem(
                    "allow_ips is not a list",
                    "\"allow_ips\": [\"52.89.214.238\", \"10.0.0.0/8\"]",
                ))
            }
        };
        let trust_proxy = match p.get("trust_proxy") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(problem("trust_proxy is not a boolean", "true or false")),
        };
        Ok(TradingViewConfig {
            token,
            allow_ips,
            trust_proxy,
            rate_limit_per_minute: number(
                p.get("rate_limit_per_minute"),
                "rate_limit_per_minute",
                60,
                1,
            )?,
            rate_limit_burst: number(p.get("rate_limit_burst"), "rate_limit_burst", 20, 1)?,
            race_window_ms: number(p.get("race_window_ms"), "race_window_ms", 5000, 0)?,
            seq_reset_secs: number(p.get("seq_reset_secs"), "seq_reset_secs", 300, 1)?,
        })
    }

    /// Compares in constant time. Both sides are hashed first so that the comparison does not
    /// even reveal the token's length.
    pub fn token_matches(&self, given: &str) -> bool {
        let want = Sha256::digest(self.token.expose().as_bytes());
        let got = Sha256::digest(given.as_bytes());
        want.as_slice().ct_eq(got.as_slice()).into()
    }

    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        self.allow_ips.is_empty() || self.allow_ips.iter().any(|b| b.contains(ip))
    }
}

fn token(source: &SourceConfig, credentials: &Credentials) -> Result<Secret, SourceProblem> {
    let inline = source.params.get("token");
    let entry = source.params.get("credentials");
    let token = match (inline, entry) {
        (Some(_), Some(_)) => {
            return Err(problem(
                "has both \"token\" and \"credentials\"",
                "one of them: \"token\": \"<secret>\" or \"credentials\": \"<entry>\" whose api_key is the token",
            ))
        }
        (Some(Value::String(t)), None) => Secret::new(t.clone()),
        (Some(_), None) => return Err(problem("token is not a string", "\"token\": \"<secret of at least 16 characters>\"")),
        (None, Some(Value::String(name))) => {
            let cred = credentials.get(name).ok_or_else(|| {
                problem(
                    format!(
                        "\"credentials\" names an entry that credentials.json does not have ({})",
                        crate::config::credentials::entry_list(credentials)
                    ),
                    "the name of an entry with an api_key (the name is not repeated here in case it is the token itself)",
                )
            })?;
            cred.api_key.clone().ok_or_else(|| {
                problem(
                    format!("credentials entry \"{name}\" has no api_key"),
                    "the webhook token as that entry's api_key",
                )
            })?
        }
        (None, Some(_)) => return Err(problem("credentials is not a string", "the name of an entry in credentials.json")),
        (None, None) => {
            return Err(problem(
                "has no token: anyone could move positions",
                "\"token\": \"<secret of at least 16 characters>\" (or \"credentials\": \"<entry>\")",
            ))
        }
    };
    let len = token.expose().chars().count();
    if len < MIN_TOKEN_LEN {
        return Err(problem(
            format!("token is {len} characters long, too short to resist guessing"),
            format!("a random token of at least {MIN_TOKEN_LEN} characters, e.g. from `openssl rand -hex 24`"),
        ));
    }
    if token.expose().trim() != token.expose() {
        return Err(problem(
            "token starts or ends with whitespace",
            "a token without surrounding spaces",
        ));
    }
    Ok(token)
}

fn number<T: TryFrom<u64> + Copy>(
    value: Option<&Value>,
    field: &str,
    default: T,
    min: u64,
) -> Result<T, SourceProblem> {
    match value {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= min)
            .and_then(|n| T::try_from(n).ok())
            .ok_or_else(|| {
                problem(
                    format!("{field} is {}", crate::input::excerpt(&v.to_string())),
                    format!("a whole number >= {min}"),
                )
            }),
    }
}

fn problem(problem: impl Into<String>, expected: impl Into<String>) -> SourceProblem {
    SourceProblem {
        problem: problem.into(),
        expected: expected.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(json: &str) -> SourceConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn defaults_and_token_checks() {
        let creds = Credentials::default();
        let cfg = TradingViewConfig::from_params(
            &source(
                r#"{"name": "tradingview", "kind": "tradingview", "token": "0123456789abcdef"}"#,
            ),
            &creds,
        )
        .unwrap();
        assert!(cfg.token_matches("0123456789abcdef"));
        assert!(!cfg.token_matches("0123456789abcdeF"));
        assert!(!cfg.token_matches(""));
        assert_eq!(cfg.rate_limit_per_minute, 60);
        assert!(cfg.ip_allowed("1.2.3.4".parse().unwrap()));
        assert!(!format!("{cfg:?}").contains("0123456789abcdef"));

        let err = TradingViewConfig::from_params(
            &source(r#"{"name": "tv", "kind": "tradingview"}"#),
            &creds,
        )
        .unwrap_err();
        assert!(err.problem.contains("no token"), "{}", err.problem);
        let err = TradingViewConfig::from_params(
            &source(r#"{"name": "tv", "kind": "tradingview", "token": "tok3n"}"#),
            &creds,
        )
        .unwrap_err();
        assert!(err.problem.contains("5 characters"), "{}", err.problem);
        assert!(!err.problem.contains("tok3n"));
        let err = TradingViewConfig::from_params(
            &source(r#"{"name": "tv", "kind": "tradingview", "credentials": "nope"}"#),
            &creds,
        )
        .unwrap_err();
        assert!(
            err.problem
                .contains("names an entry that credentials.json does not have"),
            "{}",
            err.problem
        );
        assert!(!err.problem.contains("nope"), "{}", err.problem);
        let err = TradingViewConfig::from_params(
            &source(r#"{"name": "tv", "kind": "tradingview", "token": "0123456789abcdef", "allow_ips": ["1.2.3.x"]}"#),
            &creds,
        )
        .unwrap_err();
        assert!(err.problem.contains("allow_ips"), "{}", err.problem);
        let err = TradingViewConfig::from_params(
            &source(r#"{"name": "a/b", "kind": "tradingview", "token": "0123456789abcdef"}"#),
            &creds,
        )
        .unwrap_err();
        assert!(err.problem.contains("URL path"), "{}", err.problem);
        let err = TradingViewConfig::from_params(
            &source(
                r#"{"name": "tv", "kind": "tradingview", "token": "0123456789abcdef", "tokne": 1}"#,
            ),
            &creds,
        )
        .unwrap_err();
        assert!(err.problem.contains("unknown field \"tokne\""));
    }

    #[test]
    fn token_from_credentials_and_allow_list() {
        let creds: Credentials =
            serde_json::from_str(r#"{"tv": {"api_key": "fedcba9876543210fedc"}}"#).unwrap();
        let cfg = TradingViewConfig::from_params(
            &source(
                r#"{"name": "tv", "kind": "tradingview", "credentials": "tv",
                    "allow_ips": ["52.89.214.238", "10.0.0.0/8"], "rate_limit_per_minute": 5}"#,
            ),
            &creds,
        )
        .unwrap();
        assert!(cfg.token_matches("fedcba9876543210fedc"));
        assert!(cfg.ip_allowed("10.3.4.5".parse().unwrap()));
        assert!(!cfg.ip_allowed("11.3.4.5".parse().unwrap()));
        assert_eq!(cfg.rate_limit_per_minute, 5);
    }
}
