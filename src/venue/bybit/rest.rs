//! Bybit v5 REST endpoints on the shared signed client: request building (query strings in
//! the order they are signed, JSON bodies serialised once), rate-limit buckets, the HTTP
//! dialect (limit headers, 401/403/429, retCode 10006) and pagination.

use super::auth::BybitSigner;
use super::model::{
    AccountInfo, Category, CreateBatch, InstrumentRow, OrderRow, Page, PositionRow, TickerRow,
    WalletRow,
};
use super::parse::{self, Ctx, IP_BAN};
use crate::venue::common::Endpoints;
use crate::venue::http::{
    encode_query, header_u64, retry_after_header, snippet, Dialect, LimitPolicy, PreparedRequest,
    QuotaHeader, Rate, RestClient, RestConfig, Scope, Signer,
};
use crate::venue::VenueError;
use reqwest::header::HeaderMap;
use reqwest::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

pub const HOSTS: Endpoints = Endpoints {
    live: "https://api.bybit.com",
    testnet: "https://api-testnet.bybit.com",
};

/// Pages read at most from one list endpoint (200 positions / 50 orders a page).
const MAX_PAGES: usize = 20;

/// Bybit's documented limits (docs/v5/rate-limit, unified account, default tier), each over
/// Bybit's own rolling window, which the limiter counts exactly: 600 requests per 5 s per IP;
/// per UID and endpoint in a rolling second: order create/amend/cancel 10 (linear and inverse
/// together), batch create 10 orders (counted per order, separately from single creates),
/// linear reads 50, inverse reads 10, set-leverage 10, set-margin-mode 5. A VIP tier's higher
/// figures are read from `X-Bapi-Limit` on the answers.
pub fn limit_policy() -> LimitPolicy {
    LimitPolicy {
        ip: Rate::per(600, Duration::from_secs(5)),
        buckets: vec![
            ("order/create", Rate::per_second(10)),
            ("order/create-batch", Rate::per_second(10)),
            ("order/amend", Rate::per_second(10)),
            ("order/cancel", Rate::per_second(10)),
            ("order/realtime", Rate::per_second(50)),
            ("order/history", Rate::per_second(50)),
            ("position/list", Rate::per_second(50)),
            ("order/realtime:inverse", Rate::per_second(10)),
            ("order/history:inverse", Rate::per_second(10)),
            ("position/list:inverse", Rate::per_second(10)),
            ("account/wallet-balance", Rate::per_second(50)),
            ("account/info", Rate::per_second(50)),
            ("position/set-leverage", Rate::per_second(10)),
            ("account/set-margin-mode", Rate::per_second(5)),
        ],
        ..LimitPolicy::default()
    }
}

/// The limiter bucket of an endpoint; public market data only counts against the IP limit.
fn bucket(path: &str, category: Option<Category>) -> &'static str {
    let inverse = category == Some(Category::Inverse);
    match path {
        "/v5/order/create" => "order/create",
        "/v5/order/create-batch" => "order/create-batch",
        "/v5/order/amend" => "order/amend",
        "/v5/order/cancel" => "order/cancel",
        "/v5/order/realtime" if inverse => "order/realtime:inverse",
        "/v5/order/realtime" => "order/realtime",
        "/v5/order/history" if inverse => "order/history:inverse",
        "/v5/order/history" => "order/history",
        "/v5/position/list" if inverse => "position/list:inverse",
        "/v5/position/list" => "position/list",
        "/v5/account/wallet-balance" => "account/wallet-balance",
        "/v5/account/info" => "account/info",
        "/v5/position/set-leverage" => "position/set-leverage",
        "/v5/account/set-margin-mode" => "account/set-margin-mode",
        _ => "public",
    }
}

/// What Bybit says at the HTTP level. Business errors come inside HTTP 200 and are left to
/// `parse::envelope`, except 10006 ("too many visits"), which must open the breaker.
pub struct BybitDialect;

impl Dialect for BybitDialect {
    fn rate_headers(&self, headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        let remaining = header_u64(headers, "x-bapi-limit-status")?;
        let reset = header_u64(headers, "x-bapi-limit-reset-timestamp").map(until_epoch_ms);
        Some((remaining, reset))
    }

    /// Bybit's figures are per UID and endpoint: the request's own bucket, with the limit of
    /// the account's tier in `X-Bapi-Limit`.
    fn quotas(&self, headers: &HeaderMap) -> Vec<QuotaHeader> {
        self.rate_headers(headers)
            .map(|(remaining, reset)| QuotaHeader {
                scope: Scope::Bucket,
                remaining,
                reset,
                limit: header_u64(headers, "x-bapi-limit"),
            })
            .into_iter()
            .collect()
    }

    /// 10006 is per UID and endpoint; 403 (the IP limit) and 429 (system protection) are the
    /// whole host's.
    fn refusal_scope(&self, status: u16, _headers: &HeaderMap, _body: &str) -> Scope {
        if status == 200 {
            Scope::Bucket
        } else {
            Scope::Host
        }
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        match status {
            401 => Some(VenueError::Auth(format!(
                "HTTP 401 (missing or invalid API key headers): {}",
                snippet(body)
            ))),
            403 => {
                // Bybit's IP limit (600 per 5 s) answers 403 and asks for at least ten minutes
                // of silence from the whole IP; a region block looks the same.
                tracing::error!(
                    body = %snippet(body),
                    "bybit answered HTTP 403: IP rate-limit ban (or a restricted region); holding every request for 10 minutes"
                );
                Some(VenueError::RateLimited {
                    retry_after: IP_BAN,
                })
            }
            429 => Some(VenueError::RateLimited {
                retry_after: self
                    .reset_after(headers)
                    .or_else(|| retry_after_header(headers))
                    .unwrap_or(Duration::from_secs(5)),
            }),
            200 if body.contains("10006") && ret_code(body) == Some(10006) => {
                Some(VenueError::RateLimited {
                    retry_after: self
                        .reset_after(headers)
                        .unwrap_or(Duration::from_secs(1))
                        .max(Duration::from_millis(100)),
                })
            }
            _ => None,
        }
    }
}

impl BybitDialect {
    fn reset_after(&self, headers: &HeaderMap) -> Option<Duration> {
        header_u64(headers, "x-bapi-limit-reset-timestamp").map(until_epoch_ms)
    }
}

fn ret_code(body: &str) -> Option<i64> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("retCode")?
        .as_i64()
}

fn until_epoch_ms(at_ms: u64) -> Duration {
    let now = chrono::Utc::now().timestamp_millis().max(0) as u64;
    Duration::from_millis(at_ms.saturating_sub(now))
}

/// A quantity or price on the wire: rounded toward zero to `step` and written with exactly
/// the step's decimals, never in exponent notation (`0.246`, `12345`, `35000.5`).
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

/// Leverage as Bybit takes it (a string, at most two decimals: leverageStep is 0.01).
pub fn wire_leverage(leverage: Decimal) -> String {
    leverage
        .round_dp_with_strategy(2, RoundingStrategy::ToZero)
        .normalize()
        .to_string()
}

pub struct Rest {
    client: RestClient,
    signer: Arc<BybitSigner>,
    account: String,
}

impl Rest {
    pub fn new(
        config: RestConfig,
        signer: Arc<BybitSigner>,
        account: String,
    ) -> Result<Rest, VenueError> {
        Ok(Rest {
            client: RestClient::new(config, Arc::new(BybitDialect))?,
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

    /// One GET; `signed` for private endpoints. The query is encoded once, here, and the
    /// signer signs it as read back from the final URL.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        signed: bool,
        category: Option<Category>,
    ) -> Result<T, VenueError> {
        self.get_timed(path, query, signed, category)
            .await
            .map(|(t, _)| t)
    }

    /// A GET that also returns the envelope's `time` (the venue's clock when it answered),
    /// so that prices can be dated by the venue rather than by us.
    async fn get_timed<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        signed: bool,
        category: Option<Category>,
    ) -> Result<(T, Option<i64>), VenueError> {
        let endpoint = format!("GET {path}");
        let ctx = self.ctx(&endpoint, false);
        let q = encode_query(query);
        let req = PreparedRequest::new(Method::GET, self.client.base(), path, &q, None)?;
        let signer = signed.then(|| self.signer.as_ref() as &dyn crate::venue::http::Signer);
        let resp = self
            .client
            .send(req, bucket(path, category), signer)
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        let time = parse::envelope_time(&resp);
        Ok((parse::result(parse::envelope(&resp, ctx)?, ctx)?, time))
    }

    /// One signed POST with a JSON body serialised once; the same bytes are signed and sent.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &'static str,
        body: &B,
        category: Option<Category>,
    ) -> Result<T, VenueError> {
        let endpoint = format!("POST {path}");
        let ctx = self.ctx(&endpoint, true);
        let text = serde_json::to_string(body)
            .map_err(|e| VenueError::Local(ctx.describe(format!("cannot encode body: {e}"))))?;
        let req = PreparedRequest::new(Method::POST, self.client.base(), path, "", Some(text))?;
        let resp = self
            .client
            .send(req, bucket(path, category), Some(self.signer.as_ref()))
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::result(parse::envelope(&resp, ctx)?, ctx)
    }

    /// Units the key could spend now on `path` (orders, for the create buckets).
    pub fn room(&self, path: &'static str, category: Category) -> u32 {
        self.client
            .limiter()
            .room(self.signer.key_id(), bucket(path, Some(category)))
    }

    /// `POST /v5/order/create-batch`: counts once per order in the batch bucket. Returns the
    /// outcome of each item in the order of `link_ids`.
    pub async fn create_batch(
        &self,
        body: &CreateBatch<'_>,
        link_ids: &[&str],
        category: Category,
    ) -> Result<Vec<Option<Result<String, VenueError>>>, VenueError> {
        let path = "/v5/order/create-batch";
        let endpoint = format!("POST {path}");
        let ctx = self.ctx(&endpoint, true);
        let text = serde_json::to_string(body)
            .map_err(|e| VenueError::Local(ctx.describe(format!("cannot encode body: {e}"))))?;
        let req = PreparedRequest::new(Method::POST, self.client.base(), path, "", Some(text))?;
        let weight = u32::try_from(link_ids.len()).unwrap_or(u32::MAX);
        let resp = self
            .client
            .send_weighted(
                req,
                bucket(path, Some(category)),
                weight,
                Some(self.signer.as_ref()),
            )
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::batch_items(&resp, link_ids, ctx)
    }

    /// Follows `nextPageCursor` until the list ends (bounded by [`MAX_PAGES`]).
    async fn paged<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        category: Category,
    ) -> Result<Vec<T>, VenueError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, &str)> = query.to_vec();
            if !cursor.is_empty() {
                q.push(("cursor", &cursor));
            }
            let page: Page<T> = self.get(path, &q, true, Some(category)).await?;
            let done = page.list.is_empty() || page.next_page_cursor.is_empty();
            out.extend(page.list);
            if done {
                return Ok(out);
            }
            cursor = page.next_page_cursor;
        }
        tracing::warn!(account = %self.account, path, "stopped paging after {MAX_PAGES} pages");
        Ok(out)
    }

    /// Every instrument of a category, in pages of 1,000 (one request for most categories).
    pub async fn instruments(&self, category: Category) -> Result<Vec<InstrumentRow>, VenueError> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..MAX_PAGES {
            let mut q = vec![("category", category.as_str()), ("limit", "1000")];
            if !cursor.is_empty() {
                q.push(("cursor", &cursor));
            }
            let page: Page<InstrumentRow> = self
                .get("/v5/market/instruments-info", &q, false, Some(category))
                .await?;
            let done = page.list.is_empty() || page.next_page_cursor.is_empty();
            out.extend(page.list);
            if done {
                break;
            }
            cursor = page.next_page_cursor;
        }
        Ok(out)
    }

    /// The tickers of a category in one request (of one symbol when given), and the venue's
    /// time of the answer (ms).
    pub async fn tickers(
        &self,
        category: Category,
        symbol: Option<&str>,
    ) -> Result<(Vec<TickerRow>, Option<i64>), VenueError> {
        let mut q = vec![("category", category.as_str())];
        if let Some(s) = symbol {
            q.push(("symbol", s));
        }
        let (page, time): (Page<TickerRow>, _) = self
            .get_timed("/v5/market/tickers", &q, false, Some(category))
            .await?;
        Ok((page.list, time))
    }

    pub async fn kline(
        &self,
        category: Category,
        symbol: &str,
        interval: &str,
        limit: u32,
    ) -> Result<Vec<Vec<String>>, VenueError> {
        let limit = limit.clamp(1, 1000).to_string();
        let page: Page<Vec<String>> = self
            .get(
                "/v5/market/kline",
                &[
                    ("category", category.as_str()),
                    ("symbol", symbol),
                    ("interval", interval),
                    ("limit", &limit),
                ],
                false,
                Some(category),
            )
            .await?;
        Ok(page.list)
    }

    pub async fn wallet(&self) -> Result<Vec<WalletRow>, VenueError> {
        let page: Page<WalletRow> = self
            .get(
                "/v5/account/wallet-balance",
                &[("accountType", "UNIFIED")],
                true,
                None,
            )
            .await?;
        Ok(page.list)
    }

    pub async fn account_info(&self) -> Result<AccountInfo, VenueError> {
        self.get("/v5/account/info", &[], true, None).await
    }

    /// Positions of one category: by settle coin (only non-zero rows) or by symbol (rows even
    /// when flat, which shows the position mode).
    pub async fn positions(
        &self,
        category: Category,
        settle_coin: Option<&str>,
        symbol: Option<&str>,
    ) -> Result<Vec<PositionRow>, VenueError> {
        let mut q = vec![("category", category.as_str())];
        if let Some(s) = symbol {
            q.push(("symbol", s));
        }
        if let Some(c) = settle_coin {
            q.push(("settleCoin", c));
        }
        q.push(("limit", "200"));
        self.paged("/v5/position/list", &q, category).await
    }

    /// Open orders of one category (`openOnly=0` is "open only").
    pub async fn open_orders(
        &self,
        category: Category,
        settle_coin: Option<&str>,
    ) -> Result<Vec<OrderRow>, VenueError> {
        let mut q = vec![("category", category.as_str())];
        if let Some(c) = settle_coin {
            q.push(("settleCoin", c));
        }
        q.push(("openOnly", "0"));
        q.push(("limit", "50"));
        self.paged("/v5/order/realtime", &q, category).await
    }

    /// One order by `orderLinkId` from `order/realtime` (open and recently closed orders) or
    /// `order/history` (older ones, and everything after a Bybit restart).
    pub async fn order_by_link_id(
        &self,
        path: &'static str,
        category: Category,
        symbol: &str,
        link_id: &str,
    ) -> Result<Option<OrderRow>, VenueError> {
        let page: Page<OrderRow> = self
            .get(
                path,
                &[
                    ("category", category.as_str()),
                    ("symbol", symbol),
                    ("orderLinkId", link_id),
                ],
                true,
                Some(category),
            )
            .await?;
        Ok(page.list.into_iter().find(|o| o.order_link_id == link_id))
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
