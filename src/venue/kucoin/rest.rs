//! KuCoin Futures REST endpoints on the shared signed client: request building (queries in the
//! order they are signed, JSON bodies serialised once), the weight pools, the HTTP dialect
//! (`gw-ratelimit-*` headers, 401 auth codes, 429000) and pagination.

use super::auth::KucoinSigner;
use super::model::{
    AccountOverview, BatchItem, Bullet, ContractRow, MarginModeRow, MarkPrice, OrderPage, OrderRow,
    PositionRow,
};
use super::parse::{self, Ctx};
use crate::venue::common::Endpoints;
use crate::venue::http::{
    encode_component, encode_query, header_u64, snippet, Dialect, LimitPolicy, PreparedRequest,
    Rate, RawResponse, RestClient, RestConfig,
};
use crate::venue::VenueError;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// KuCoin has no usable futures sandbox: `testnet` is refused in `mod.rs`, so both are live.
pub const HOSTS: Endpoints = Endpoints {
    live: "https://api-futures.kucoin.com",
    testnet: "https://api-futures.kucoin.com",
};

/// Pages of open orders read at most (1,000 orders a page).
const MAX_PAGES: u32 = 10;

/// The documented quota (docs-new "Rate Limit", VIP 0): a weight pool of 2,000 per 30 s per
/// UID for futures endpoints and 2,000 per 30 s per IP for public ones, each window fixed and
/// starting at the first request. Every request spends its documented weight here (the
/// `weight` passed to [`Rest`]'s calls), so both pools are metered in weight. The shared
/// limiter counts over a rolling window, which no fixed window can exceed: the documented
/// figures are used as they are.
pub const FUTURES_POOL: u32 = 2_000;
pub const PUBLIC_POOL: u32 = 2_000;
pub const POOL_WINDOW: Duration = Duration::from_secs(30);

pub fn limit_policy() -> LimitPolicy {
    LimitPolicy {
        ip: Rate {
            count: PUBLIC_POOL,
            period: POOL_WINDOW,
        },
        buckets: vec![(
            "futures",
            Rate {
                count: FUTURES_POOL,
                period: POOL_WINDOW,
            },
        )],
        ..LimitPolicy::default()
    }
}

/// What KuCoin says at the HTTP level: quota headers on every private answer, 401 with the
/// auth codes 400001–400007, 429 with code 429000.
pub struct KucoinDialect;

/// Without quota headers a 429000 is KuCoin's own overload, not our quota: a short pause.
const OVERLOAD_BACKOFF: Duration = Duration::from_secs(2);

impl Dialect for KucoinDialect {
    fn rate_headers(&self, headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        let remaining = header_u64(headers, "gw-ratelimit-remaining")?;
        let reset = header_u64(headers, "gw-ratelimit-reset").map(Duration::from_millis);
        Some((remaining, reset))
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        let code = body_code(body);
        match status {
            401 => Some(VenueError::Auth(format!(
                "HTTP 401 {}: {}",
                auth_meaning(code.as_deref().unwrap_or("")),
                snippet(body)
            ))),
            429 => Some(VenueError::RateLimited {
                retry_after: self.reset_after(headers),
            }),
            _ if code.as_deref() == Some("429000") => Some(VenueError::RateLimited {
                retry_after: self.reset_after(headers),
            }),
            _ => None,
        }
    }
}

impl KucoinDialect {
    /// Until the pool's window resets (the header is in milliseconds).
    fn reset_after(&self, headers: &HeaderMap) -> Duration {
        header_u64(headers, "gw-ratelimit-reset")
            .map(Duration::from_millis)
            .unwrap_or(OVERLOAD_BACKOFF)
            .max(Duration::from_millis(100))
    }
}

fn body_code(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("code")
        .map(parse::code_text)
}

/// What each documented 401 code means for the user.
pub fn auth_meaning(code: &str) -> &'static str {
    match code {
        "400001" => "(400001: KC-API headers missing)",
        "400002" => "(400002: timestamp more than 5 s off KuCoin's clock, sync the host clock)",
        "400003" => "(400003: API key does not exist)",
        "400004" => "(400004: wrong passphrase, or the key version does not match the key)",
        "400005" => "(400005: signature wrong, check api_secret)",
        "400006" => "(400006: this IP is not on the key's whitelist)",
        "400007" => "(400007: the key lacks a permission, futures trading needs \"Futures\")",
        _ => "(authentication refused)",
    }
}

pub struct Rest {
    client: RestClient,
    signer: Arc<KucoinSigner>,
    account: String,
}

impl Rest {
    pub fn new(
        config: RestConfig,
        signer: Arc<KucoinSigner>,
        account: String,
    ) -> Result<Rest, VenueError> {
        Ok(Rest {
            client: RestClient::new(config, Arc::new(KucoinDialect))?,
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

    /// Sends one request spending `weight` of its pool: private requests count against the
    /// futures pool of the key, public ones only against the IP pool.
    async fn send(
        &self,
        req: PreparedRequest,
        signed: bool,
        weight: u32,
    ) -> Result<RawResponse, VenueError> {
        let bucket = if signed { "futures" } else { "public" };
        let signer = signed.then(|| self.signer.as_ref() as &dyn crate::venue::http::Signer);
        self.client
            .send_weighted(req, bucket, weight.max(1), signer)
            .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
        signed: bool,
        weight: u32,
    ) -> Result<T, VenueError> {
        let mutating = method != Method::GET;
        let endpoint = format!("{method} {path}");
        let ctx = self.ctx(&endpoint, mutating);
        let q = encode_query(query);
        let req = PreparedRequest::new(method, self.client.base(), path, &q, body)?;
        let resp = self
            .send(req, signed, weight)
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::data(parse::envelope(&resp, ctx)?, ctx)
    }

    async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        signed: bool,
        weight: u32,
    ) -> Result<T, VenueError> {
        self.call(Method::GET, path, query, None, signed, weight)
            .await
    }

    /// One signed POST with a JSON body serialised once; the same bytes are signed and sent.
    pub async fn post<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        weight: u32,
    ) -> Result<T, VenueError> {
        let text = serde_json::to_string(body).map_err(|e| {
            VenueError::Local(format!(
                "kucoin account \"{}\": cannot encode body: {e}",
                self.account
            ))
        })?;
        self.call(Method::POST, path, &[], Some(text), true, weight)
            .await
    }

    pub async fn contract(&self, symbol: &str) -> Result<Option<ContractRow>, VenueError> {
        let path = format!("/api/v1/contracts/{}", encode_component(symbol));
        self.get(&path, &[], false, 3).await
    }

    pub async fn mark_price(&self, symbol: &str) -> Result<MarkPrice, VenueError> {
        let path = format!("/api/v1/mark-price/{}/current", encode_component(symbol));
        self.get(&path, &[], false, 3).await
    }

    pub async fn kline(
        &self,
        symbol: &str,
        granularity_min: i64,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<Vec<serde_json::Value>>, VenueError> {
        let (g, from, to) = (
            granularity_min.to_string(),
            from_ms.to_string(),
            to_ms.to_string(),
        );
        self.get(
            "/api/v1/kline/query",
            &[
                ("symbol", symbol),
                ("granularity", &g),
                ("from", &from),
                ("to", &to),
            ],
            false,
            3,
        )
        .await
    }

    pub async fn account_overview(&self) -> Result<AccountOverview, VenueError> {
        self.get("/api/v1/account-overview", &[("currency", "USDT")], true, 5)
            .await
    }

    pub async fn positions(&self) -> Result<Vec<PositionRow>, VenueError> {
        let rows: Option<Vec<PositionRow>> = self
            .get("/api/v1/positions", &[("currency", "USDT")], true, 2)
            .await?;
        Ok(rows.unwrap_or_default())
    }

    pub async fn position(&self, symbol: &str) -> Result<Option<PositionRow>, VenueError> {
        self.get("/api/v1/position", &[("symbol", symbol)], true, 2)
            .await
    }

    /// Every active order, page by page (bounded by [`MAX_PAGES`]).
    pub async fn open_orders(&self) -> Result<Vec<OrderRow>, VenueError> {
        let mut out = Vec::new();
        for page_no in 1..=MAX_PAGES {
            let n = page_no.to_string();
            let page: OrderPage = self
                .get(
                    "/api/v1/orders",
                    &[
                        ("status", "active"),
                        ("currentPage", &n),
                        ("pageSize", "1000"),
                    ],
                    true,
                    2,
                )
                .await?;
            let done = page.items.is_empty() || page.current_page >= page.total_page;
            out.extend(page.items);
            if done {
                return Ok(out);
            }
        }
        tracing::warn!(account = %self.account, "stopped paging open orders after {MAX_PAGES} pages");
        Ok(out)
    }

    /// One order by our client id; `None` when KuCoin does not know it.
    pub async fn order_by_client_oid(
        &self,
        client_oid: &str,
    ) -> Result<Option<OrderRow>, VenueError> {
        match self
            .get(
                "/api/v1/orders/byClientOid",
                &[("clientOid", client_oid)],
                true,
                5,
            )
            .await
        {
            Ok(row) => Ok(row),
            Err(e) if e.reject_kind() == Some(crate::venue::RejectKind::OrderNotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn place<B: Serialize>(&self, body: &B) -> Result<serde_json::Value, VenueError> {
        self.post("/api/v1/orders", body, 2).await
    }

    pub async fn place_multi<B: Serialize>(
        &self,
        bodies: &[B],
    ) -> Result<Vec<BatchItem>, VenueError> {
        self.post("/api/v1/orders/multi", bodies, 20).await
    }

    pub async fn cancel_by_client_oid(
        &self,
        symbol: &str,
        client_oid: &str,
    ) -> Result<(), VenueError> {
        let path = format!(
            "/api/v1/orders/client-order/{}",
            encode_component(client_oid)
        );
        let _: serde_json::Value = self
            .call(Method::DELETE, &path, &[("symbol", symbol)], None, true, 1)
            .await?;
        Ok(())
    }

    /// Cancels the symbol's limit and market orders (`DELETE /api/v3/orders`, weight 10; the
    /// v1 all-symbols cancel weighs 800 and is never used).
    pub async fn cancel_all(&self, symbol: &str) -> Result<usize, VenueError> {
        let data: serde_json::Value = self
            .call(
                Method::DELETE,
                "/api/v3/orders",
                &[("symbol", symbol)],
                None,
                true,
                10,
            )
            .await?;
        Ok(data
            .get("cancelledOrderIds")
            .and_then(|v| v.as_array())
            .map(Vec::len)
            .unwrap_or(0))
    }

    pub async fn margin_mode(&self, symbol: &str) -> Result<MarginModeRow, VenueError> {
        self.get(
            "/api/v2/position/getMarginMode",
            &[("symbol", symbol)],
            true,
            2,
        )
        .await
    }

    pub async fn bullet_private(&self) -> Result<Bullet, VenueError> {
        self.call(Method::POST, "/api/v1/bullet-private", &[], None, true, 10)
            .await
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
