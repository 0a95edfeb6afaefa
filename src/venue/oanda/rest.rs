//! OANDA v20 REST: hosts, the documented limits, the HTTP dialect and the account-scoped
//! endpoints. Every trading path is `/v3/accounts/{accountID}/…`.

use super::auth::BearerSigner;
use super::model::{
    ClientExtensions, OrderBody, OrderSpec, TransactionResponse, TransactionsResponse,
};
use super::parse::{self, Ctx};
use crate::venue::common::Endpoints;
use crate::venue::http::{
    encode_component, encode_query, retry_after_header, Dialect, LimitPolicy, PreparedRequest,
    Rate, RawResponse, RestClient, RestConfig,
};
use crate::venue::VenueError;
use reqwest::header::HeaderMap;
use reqwest::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

pub const HOSTS: Endpoints = Endpoints {
    live: "https://api-fxtrade.oanda.com",
    testnet: "https://api-fxpractice.oanda.com",
};

/// The streaming hosts (HTTP NDJSON, not WebSocket).
pub const STREAM_HOSTS: Endpoints = Endpoints {
    live: "https://stream-fxtrade.oanda.com",
    testnet: "https://stream-fxpractice.oanda.com",
};

/// OANDA's documented limits (Development Guide, Best Practices): 120 requests per second
/// per token on REST ("about 100 requests/s per persistent connection" recommended), 2 new
/// connections per second, HTTP 429 on excess; no per-endpoint limits and no quota headers.
/// The shared limiter counts over a rolling second (each slot until a second after its
/// answer), so the recommended per-connection figure is used as it is.
/// New connections are not metered here: the REST client keeps one pool alive, and the two
/// streams reconnect with backoff of at least half a second each.
pub fn limit_policy() -> LimitPolicy {
    LimitPolicy {
        ip: Rate::per_second(100),
        buckets: vec![("orders", Rate::per_second(100))],
        ..LimitPolicy::default()
    }
}

fn bucket(method: &Method, path: &str) -> &'static str {
    if method != Method::GET && path.contains("/orders") {
        "orders"
    } else {
        "reads"
    }
}

/// What OANDA says at the HTTP level: 429 opens the breaker (OANDA sends no quota headers;
/// a `Retry-After` is honoured when present, else a fixed pause). Everything else, 401
/// included, is read by `parse::error` with the account and endpoint in the message.
pub struct OandaDialect;

/// The pause after a 429 without `Retry-After` (the docs ask for exponential back-off; the
/// breaker doubles its own openings on repeat).
pub const RATE_LIMIT_PAUSE: Duration = Duration::from_secs(5);

impl Dialect for OandaDialect {
    fn rate_headers(&self, _headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        None
    }

    fn classify(&self, status: u16, headers: &HeaderMap, _body: &str) -> Option<VenueError> {
        (status == 429).then(|| VenueError::RateLimited {
            retry_after: retry_after_header(headers).unwrap_or(RATE_LIMIT_PAUSE),
        })
    }
}

/// A quantity or price on the wire: rounded toward zero to `step`, with exactly the step's
/// decimals, never in exponent notation (`9216`, `1.09250`).
pub fn wire_number(value: Decimal, step: Decimal) -> String {
    let step = step.normalize();
    let stepped = if step > Decimal::ZERO {
        (value / step).trunc() * step
    } else {
        value
    };
    let scale = step.scale();
    let mut v = stepped.round_dp_with_strategy(scale, RoundingStrategy::ToZero);
    v.rescale(scale);
    v.to_string()
}

/// The account's margin rate for a leverage: rounded up to four decimals, so that the
/// leverage it allows is never above the one asked for.
pub fn margin_rate_for(leverage: Decimal) -> Option<String> {
    if leverage <= Decimal::ZERO {
        return None;
    }
    let rate = (Decimal::ONE / leverage).round_dp_with_strategy(4, RoundingStrategy::AwayFromZero);
    Some(rate.normalize().to_string())
}

/// A market order: IOC so that a partial fill is reported rather than the whole order
/// killed, `REDUCE_ONLY` for reductions (never opens the other side), `DEFAULT` otherwise.
pub fn market_order<'a>(
    native: &'a str,
    units: String,
    reduce_only: bool,
    client_order_id: &str,
) -> OrderBody<'a> {
    OrderBody {
        order: OrderSpec {
            kind: "MARKET",
            instrument: native,
            units,
            price: None,
            time_in_force: "IOC",
            position_fill: Some(if reduce_only {
                "REDUCE_ONLY"
            } else {
                "DEFAULT"
            }),
            price_bound: None,
            trigger_condition: None,
            client_extensions: Some(ClientExtensions {
                id: Some(client_order_id.to_string()),
                ..Default::default()
            }),
        },
    }
}

/// A resting limit order (GTC).
pub fn limit_order<'a>(
    native: &'a str,
    units: String,
    price: String,
    reduce_only: bool,
    client_order_id: Option<&str>,
) -> OrderBody<'a> {
    OrderBody {
        order: OrderSpec {
            kind: "LIMIT",
            instrument: native,
            units,
            price: Some(price),
            time_in_force: "GTC",
            position_fill: Some(if reduce_only {
                "REDUCE_ONLY"
            } else {
                "DEFAULT"
            }),
            price_bound: None,
            trigger_condition: None,
            client_extensions: client_order_id.map(|id| ClientExtensions {
                id: Some(id.to_string()),
                ..Default::default()
            }),
        },
    }
}

pub struct Rest {
    client: RestClient,
    signer: Arc<BearerSigner>,
    account: String,
    /// `/v3/accounts/{accountID}`.
    prefix: String,
}

impl Rest {
    pub fn new(
        config: RestConfig,
        signer: Arc<BearerSigner>,
        account: String,
        account_id: &str,
    ) -> Result<Rest, VenueError> {
        Ok(Rest {
            client: RestClient::new(config, Arc::new(OandaDialect))?,
            signer,
            account,
            prefix: account_path(account_id),
        })
    }

    /// `path` under the account (`/summary` → `/v3/accounts/{id}/summary`).
    pub fn path(&self, path: &str) -> String {
        format!("{}{path}", self.prefix)
    }

    /// One request; the raw answer for any status below 500 (the caller reads it).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<RawResponse, VenueError> {
        let endpoint = format!("{method} {}", strip_account(path));
        let q = encode_query(query);
        let req = PreparedRequest::new(method.clone(), self.client.base(), path, &q, body)?;
        self.client
            .send(req, bucket(&method, path), Some(self.signer.as_ref()))
            .await
            .map_err(|e| with_ctx(e, &self.account, &endpoint))
    }

    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, VenueError> {
        let resp = self.send(Method::GET, path, query, None).await?;
        let endpoint = format!("GET {}", strip_account(path));
        parse::body(&resp, self.ctx(&endpoint))
    }

    pub fn ctx<'a>(&'a self, endpoint: &'a str) -> Ctx<'a> {
        Ctx {
            account: &self.account,
            endpoint,
        }
    }

    /// `/transactions/sinceid?id=N`: every transaction after `N`.
    pub async fn transactions_since(&self, id: u64) -> Result<TransactionsResponse, VenueError> {
        let id = id.to_string();
        self.get(&self.path("/transactions/sinceid"), &[("id", &id)])
            .await
    }

    pub async fn transaction(&self, id: &str) -> Result<TransactionResponse, VenueError> {
        self.get(
            &self.path(&format!("/transactions/{}", encode_component(id))),
            &[],
        )
        .await
    }
}

pub fn account_path(account_id: &str) -> String {
    format!("/v3/accounts/{}", encode_component(account_id))
}

/// An order addressed by its client id (`@<clientExtensions.id>`).
pub fn by_client_id(client_order_id: &str) -> String {
    format!("/orders/@{}", encode_component(client_order_id))
}

/// The endpoint without the account id, for messages (the id is not a secret, but it makes
/// every line longer than it needs to be).
fn strip_account(path: &str) -> String {
    match path.strip_prefix("/v3/accounts/") {
        Some(rest) => match rest.split_once('/') {
            Some((_, tail)) => format!("/v3/accounts/{{id}}/{tail}"),
            None => "/v3/accounts/{id}".into(),
        },
        None => path.to_string(),
    }
}

fn with_ctx(e: VenueError, account: &str, endpoint: &str) -> VenueError {
    let describe = |s: String| format!("oanda account \"{account}\", {endpoint}: {s}");
    match e {
        VenueError::Unknown(s) => VenueError::Unknown(describe(s)),
        VenueError::Transport(s) => VenueError::Transport(describe(s)),
        VenueError::Auth(s) => VenueError::Auth(describe(s)),
        VenueError::Decode(s) => VenueError::Decode(describe(s)),
        VenueError::Local(s) => VenueError::Local(describe(s)),
        other => other,
    }
}

#[cfg(test)]
mod tests;
