//! MEXC contract v1 endpoints, hosts, documented rate limits and HTTP dialect. Every GET query
//! is built here, sorted by key, once: the signer signs it as read back from the final URL, so
//! the signed bytes are the sent bytes. POST bodies are built once (`model::Body`) and sent as
//! signed.

use super::auth::MexcSigner;
use super::model::{Asset, ContractDetail, FairPrice, Klines, LeverageRow, OrderRow, PositionRow};
use super::parse::{self, Ctx, RATE_WINDOW};
use crate::venue::common::Endpoints;
use crate::venue::http::{
    encode_query, retry_after_header, snippet, Dialect, LimitPolicy, PreparedRequest, Rate,
    RestClient, RestConfig,
};
use crate::venue::VenueError;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The 2026 SDKs and ccxt use `api.mexc.com`; `contract.mexc.com` (same paths) is the older
/// host, reachable through `rest_url`. MEXC has no API testnet: `testnet` selects the live
/// host too (see docs/venues/mexc.md).
pub const HOSTS: Endpoints = Endpoints {
    live: "https://api.mexc.com",
    testnet: "https://api.mexc.com",
};

/// Pages read at most from the open-orders list (100 orders a page).
const MAX_PAGES: usize = 10;

/// MEXC's documented limits (contract API v1, "Access restrictions"): 20 requests per 2 s per
/// endpoint for most public and private endpoints, `contract/detail` 1 per 5 s, `submit_batch`
/// 1 per 2 s. The shared limiter counts over a rolling window, each slot until one window after
/// its answer, so no window the venue counts can exceed these figures.
pub fn limit_policy() -> LimitPolicy {
    // The limiter counts over a rolling window (each slot until one window after its
    // answer), so the documented figures are used as they are.
    let per_2s = Rate {
        count: 20,
        period: Duration::from_secs(2),
    };
    let mut buckets: Vec<(&'static str, Rate)> = ENDPOINTS.iter().map(|e| (*e, per_2s)).collect();
    buckets.push((
        "contract/detail",
        Rate {
            count: 1,
            period: Duration::from_secs(5),
        },
    ));
    buckets.push((
        "order/submit_batch",
        Rate {
            count: 1,
            period: Duration::from_secs(2),
        },
    ));
    LimitPolicy {
        // The per-IP figure is not documented; the per-endpoint buckets are what binds.
        ip: Rate::per_second(40),
        buckets,
        ..LimitPolicy::default()
    }
}

/// Endpoints metered at 20 per 2 s, named by their path template.
const ENDPOINTS: [&str; 15] = [
    "contract/fair_price",
    "contract/ticker",
    "contract/kline",
    "account/assets",
    "position/open_positions",
    "position/position_mode",
    "position/leverage",
    "position/change_leverage",
    "order/list/open_orders",
    "order/external",
    "order/create",
    "order/cancel",
    "order/cancel_with_external",
    "order/change_limit_order",
    "order/cancel_all",
];

/// The limiter bucket of a path: its template (path parameters dropped), so that every symbol
/// of `fair_price/{symbol}` counts against the one endpoint.
pub fn bucket(path: &str) -> &'static str {
    let rest = path
        .trim_start_matches("/api/v1/private/")
        .trim_start_matches("/api/v1/");
    let rest = rest.strip_prefix("contract/").map_or(rest, |r| r);
    for name in ENDPOINTS
        .iter()
        .chain(["contract/detail", "order/submit_batch"].iter())
    {
        let short = name.strip_prefix("contract/").unwrap_or(name);
        if rest == short || rest.starts_with(&format!("{short}/")) {
            return name;
        }
    }
    "public"
}

/// What MEXC says at the HTTP level. Business errors come inside HTTP 200 and are left to
/// `parse::envelope`, except 510 ("too frequent"), which must open the breaker.
pub struct MexcDialect;

impl Dialect for MexcDialect {
    fn rate_headers(&self, _headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        None // MEXC sends no quota headers.
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        match status {
            401 => Some(VenueError::Auth(format!("HTTP 401: {}", snippet(body)))),
            // The edge's own limit (ccxt maps it to rate-limited too) and the WAF.
            429 | 403 => Some(VenueError::RateLimited {
                retry_after: retry_after_header(headers).unwrap_or(Duration::from_secs(10)),
            }),
            200 if body.contains("510") && envelope_code(body) == Some(510) => {
                Some(VenueError::RateLimited {
                    retry_after: RATE_WINDOW,
                })
            }
            _ => None,
        }
    }
}

fn envelope_code(body: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(body).ok()?;
    match v.get("code")? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Leverage as MEXC takes it: a whole number, at least 1.
pub fn wire_leverage(leverage: rust_decimal::Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    leverage.trunc().to_i64().unwrap_or(1).max(1)
}

/// A list answer: a bare array, or a page object holding `resultList` (the 2021 format).
fn rows<T: DeserializeOwned>(value: Value, ctx: Ctx<'_>) -> Result<Vec<T>, VenueError> {
    let list = match value {
        Value::Null => Value::Array(vec![]),
        Value::Object(mut o) => o
            .remove("resultList")
            .unwrap_or(Value::Array(vec![Value::Object(o)])),
        other => other,
    };
    parse::data(list, ctx)
}

pub struct Rest {
    client: RestClient,
    signer: Arc<MexcSigner>,
    account: String,
}

impl Rest {
    pub fn new(
        config: RestConfig,
        signer: Arc<MexcSigner>,
        account: String,
    ) -> Result<Rest, VenueError> {
        Ok(Rest {
            client: RestClient::new(config, Arc::new(MexcDialect))?,
            signer,
            account,
        })
    }

    fn ctx<'a>(&'a self, endpoint: &'a str, mutating: bool) -> Ctx<'a> {
        Ctx {
            account: &self.account,
            endpoint,
            mutating,
        }
    }

    /// One GET; `signed` for private endpoints. The query is sorted by key and encoded once.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        signed: bool,
    ) -> Result<Value, VenueError> {
        let endpoint = format!("GET {}", bucket(path));
        let ctx = self.ctx(&endpoint, false);
        let mut sorted = query.to_vec();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        let q = encode_query(&sorted);
        let req = PreparedRequest::new(Method::GET, self.client.base(), path, &q, None)?;
        let signer = signed.then(|| self.signer.as_ref() as &dyn crate::venue::http::Signer);
        let resp = self
            .client
            .send(req, bucket(path), signer)
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::envelope(&resp, ctx)
    }

    /// One signed POST of `body`, the exact bytes signed and sent.
    pub async fn post(&self, path: &str, body: String) -> Result<Value, VenueError> {
        let endpoint = format!("POST {}", bucket(path));
        let ctx = self.ctx(&endpoint, true);
        let req = PreparedRequest::new(Method::POST, self.client.base(), path, "", Some(body))?;
        let resp = self
            .client
            .send(req, bucket(path), Some(self.signer.as_ref()))
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::envelope(&resp, ctx)
    }

    pub fn describe(&self, endpoint: &str, what: impl std::fmt::Display) -> String {
        self.ctx(endpoint, true).describe(what)
    }

    pub fn ctx_for<'a>(&'a self, endpoint: &'a str) -> Ctx<'a> {
        self.ctx(endpoint, true)
    }

    /// Every contract MEXC lists, in one request, as raw rows (`contract_detail` reads one).
    /// The endpoint allows one request per 5 s, so asking per symbol took 5 s a symbol.
    pub async fn details(&self) -> Result<Vec<Value>, VenueError> {
        let data = self.get("/api/v1/contract/detail", &[], false).await?;
        rows(data, self.ctx("GET contract/detail", false))
    }

    /// One row of `details`.
    pub fn contract_detail(&self, row: Value) -> Result<ContractDetail, VenueError> {
        parse::data(row, self.ctx("GET contract/detail", false))
    }

    /// Every contract's ticker in one request (`GET /api/v1/contract/ticker` without a
    /// symbol); the rows carry the fair price and its timestamp, as `fair_price` does.
    pub async fn tickers(&self) -> Result<Vec<FairPrice>, VenueError> {
        let ctx = self.ctx("GET contract/ticker", false);
        let data = self.get("/api/v1/contract/ticker", &[], false).await?;
        rows(data, ctx)?
            .into_iter()
            .map(|row| parse::data(row, ctx))
            .collect()
    }

    pub async fn fair_price(&self, symbol: &str) -> Result<FairPrice, VenueError> {
        let path = format!("/api/v1/contract/fair_price/{symbol}");
        let data = self.get(&path, &[], false).await?;
        parse::data(data, self.ctx("GET contract/fair_price", false))
    }

    pub async fn kline(
        &self,
        symbol: &str,
        interval: &str,
        start_s: i64,
        end_s: i64,
    ) -> Result<Klines, VenueError> {
        let path = format!("/api/v1/contract/kline/{symbol}");
        let (start, end) = (start_s.to_string(), end_s.to_string());
        let data = self
            .get(
                &path,
                &[("interval", interval), ("start", &start), ("end", &end)],
                false,
            )
            .await?;
        parse::data(data, self.ctx("GET contract/kline", false))
    }

    pub async fn assets(&self) -> Result<Vec<Asset>, VenueError> {
        let data = self
            .get("/api/v1/private/account/assets", &[], true)
            .await?;
        rows(data, self.ctx("GET account/assets", false))
    }

    pub async fn open_positions(
        &self,
        symbol: Option<&str>,
    ) -> Result<Vec<PositionRow>, VenueError> {
        let q: Vec<(&str, &str)> = symbol.map(|s| ("symbol", s)).into_iter().collect();
        let data = self
            .get("/api/v1/private/position/open_positions", &q, true)
            .await?;
        rows(data, self.ctx("GET position/open_positions", false))
    }

    /// The account's position mode: 1 hedge, 2 one-way.
    pub async fn position_mode(&self) -> Result<i64, VenueError> {
        let data = self
            .get("/api/v1/private/position/position_mode", &[], true)
            .await?;
        data.as_i64()
            .or_else(|| data.as_str().and_then(|s| s.parse().ok()))
            .ok_or_else(|| {
                VenueError::Decode(self.describe(
                    "GET position/position_mode",
                    format!("not a position mode: {data}"),
                ))
            })
    }

    pub async fn leverage(&self, symbol: &str) -> Result<Vec<LeverageRow>, VenueError> {
        let data = self
            .get(
                "/api/v1/private/position/leverage",
                &[("symbol", symbol)],
                true,
            )
            .await?;
        rows(data, self.ctx("GET position/leverage", false))
    }

    /// Every open order of the account, page by page.
    pub async fn open_orders(&self) -> Result<Vec<OrderRow>, VenueError> {
        let mut out = Vec::new();
        for page in 1..=MAX_PAGES {
            let n = page.to_string();
            let data = self
                .get(
                    "/api/v1/private/order/list/open_orders",
                    &[("page_num", &n), ("page_size", "100")],
                    true,
                )
                .await?;
            let list: Vec<OrderRow> = rows(data, self.ctx("GET order/list/open_orders", false))?;
            let done = list.len() < 100;
            out.extend(list);
            if done {
                return Ok(out);
            }
        }
        tracing::warn!(account = %self.account, "stopped paging open orders after {MAX_PAGES} pages");
        Ok(out)
    }

    /// One order by our client id; `None` when MEXC does not know it.
    pub async fn order_by_external(
        &self,
        symbol: &str,
        external_oid: &str,
    ) -> Result<Option<OrderRow>, VenueError> {
        let path = format!("/api/v1/private/order/external/{symbol}/{external_oid}");
        match self.get(&path, &[], true).await {
            Ok(Value::Null) => Ok(None),
            Ok(data) => {
                let row: OrderRow = parse::data(data, self.ctx("GET order/external", false))?;
                Ok(Some(row).filter(|r| r.external_oid == external_oid))
            }
            Err(e) if e.reject_kind() == Some(crate::venue::RejectKind::OrderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Adds the account and endpoint to errors the shared client produced.
fn with_ctx(e: VenueError, ctx: Ctx<'_>) -> VenueError {
    match e {
        VenueError::Unknown(s) => VenueError::Unknown(ctx.describe(s)),
        VenueError::Transport(s) => VenueError::Transport(ctx.describe(s)),
        VenueError::Auth(s) => VenueError::Auth(ctx.describe(s)),
        VenueError::Decode(s) => VenueError::Decode(ctx.describe(s)),
        VenueError::Local(s) => VenueError::Local(ctx.describe(s)),
        other => other,
    }
}

#[cfg(test)]
mod tests;
