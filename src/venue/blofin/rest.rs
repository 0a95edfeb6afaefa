//! BloFin REST endpoints on the shared signed client: request building (queries encoded
//! once, in the order they are signed; JSON bodies serialised once), the documented rate
//! limits, and the HTTP dialect: 429, and the CDN in front of the API (an HTML challenge page
//! or a 403 firewall block), which is reported as the venue being unavailable and holds every
//! request for the documented suspension instead of being misread as a parse error.

use super::auth::BlofinSigner;
use super::model::{Balance, InstrumentRow, MarkPriceRow, OrderRow, PositionRow};
use super::parse::{self, Ctx, FIREWALL_PAUSE, RATE_LIMIT_PAUSE};
use crate::venue::common::Endpoints;
use crate::venue::http::{
    encode_query, retry_after_header, snippet, Dialect, LimitPolicy, Limiter, PreparedRequest,
    Rate, RestClient, RestConfig, Scope,
};
use crate::venue::VenueError;
use reqwest::header::HeaderMap;
use reqwest::Method;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub const HOSTS: Endpoints = Endpoints {
    live: "https://openapi.blofin.com",
    testnet: "https://demo-trading-openapi.blofin.com",
};

/// BloFin's documented REST limits (docs "Rate Limit"): per IP 500 requests a minute (over it:
/// a 5-minute suspension) and 1,500 per 5 minutes (a 1-hour one, not expressible below);
/// trading endpoints 30 requests per 10 s per user id; 429 on excess. No quota headers.
pub const IP_PER_MINUTE: u32 = 500;
pub const TRADE_PER_10_SECONDS: u32 = 30;

/// The limiter bucket trading endpoints (everything under `/api/v1/trade/`) count against.
pub const TRADE_BUCKET: &str = "trade";

/// The documented limits as today's `LimitPolicy` can hold them: the venue-wide rate is the
/// per-minute IP limit and the trading bucket is 30 per 10 s. The second IP window (1,500 per
/// 5 minutes) has no slot in `LimitPolicy` yet (one IP rate); the daemon's steady load (a few
/// reads per symbol and cycle) is far below it.
pub fn limit_policy() -> LimitPolicy {
    LimitPolicy {
        ip: Rate {
            count: IP_PER_MINUTE,
            period: Duration::from_secs(60),
        },
        buckets: vec![(
            TRADE_BUCKET,
            Rate {
                count: TRADE_PER_10_SECONDS,
                period: Duration::from_secs(10),
            },
        )],
        ..LimitPolicy::default()
    }
}

/// The limiter bucket of a path; market data and account reads count against the IP only.
pub fn bucket(path: &str) -> &'static str {
    if path.starts_with("/api/v1/trade/") {
        TRADE_BUCKET
    } else {
        "ip"
    }
}

/// What BloFin says at the HTTP level. Business errors come inside HTTP 200 and are left to
/// `parse::envelope`.
#[derive(Default)]
pub struct BlofinDialect {
    /// The account's limiter, to hold every request while the CDN blocks us.
    limiter: OnceLock<Arc<Limiter>>,
}

/// An answer from the CDN rather than from BloFin's API: a 403 firewall block, a challenge
/// page (`cf-mitigated: challenge`), or any HTML body.
pub fn is_cdn_block(status: u16, headers: &HeaderMap, body: &str) -> bool {
    let html_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("text/html"));
    let challenge = headers
        .get("cf-mitigated")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("challenge"));
    let start = body.trim_start();
    let html_body = start.starts_with('<')
        || start
            .get(..200.min(start.len()))
            .is_some_and(|s| s.to_ascii_lowercase().contains("<html"));
    status == 403 || challenge || html_type || html_body
}

impl Dialect for BlofinDialect {
    /// A 429 holds the refused request's bucket (the key's trading bucket, or its reads), not
    /// every request of the venue.
    fn refusal_scope(&self, status: u16, _headers: &HeaderMap, _body: &str) -> Scope {
        if status == 403 {
            Scope::Host
        } else {
            Scope::Bucket
        }
    }

    fn rate_headers(&self, _headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        None
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        if status == 429 {
            // Held for the trading window (10 s), the one a client meets first; the limiter
            // keeps this process under the IP windows, so a refusal of those can only follow a
            // restart and is not repeated for long.
            return Some(VenueError::RateLimited {
                // No reset header is documented; a `Retry-After`, if BloFin sends one, wins.
                retry_after: retry_after_header(headers).unwrap_or(RATE_LIMIT_PAUSE),
            });
        }
        if status == 401 {
            return Some(VenueError::Auth(format!(
                "HTTP 401 (missing or invalid ACCESS-* headers): {}",
                snippet(body)
            )));
        }
        if is_cdn_block(status, headers, body) {
            if let Some(limiter) = self.limiter.get() {
                limiter.open_until(Instant::now() + FIREWALL_PAUSE);
            }
            let what = if status == 403 {
                "a firewall block (HTTP 403)"
            } else {
                "a CDN challenge page"
            };
            tracing::error!(
                status,
                "blofin is unavailable: its CDN answered with {what} instead of the API; holding every request for 5 minutes"
            );
            // The CDN answers before the API: the request did not reach BloFin.
            return Some(VenueError::Transport(format!(
                "venue unavailable: BloFin's CDN answered with {what}, not the API; requests are held for {} s",
                FIREWALL_PAUSE.as_secs()
            )));
        }
        None
    }
}

/// A quantity or price on the wire: rounded toward zero to `step` and written with exactly
/// the step's decimals, never in exponent notation (`153.8`, `1`, `35000.5`).
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

/// Leverage as BloFin takes it: a string of a whole number (its leverage steps are integers).
pub fn wire_leverage(leverage: Decimal) -> String {
    leverage
        .round_dp_with_strategy(0, RoundingStrategy::ToZero)
        .max(Decimal::ONE)
        .normalize()
        .to_string()
}

pub struct Rest {
    client: RestClient,
    signer: Arc<BlofinSigner>,
    account: String,
}

impl Rest {
    pub fn new(
        config: RestConfig,
        signer: Arc<BlofinSigner>,
        account: String,
    ) -> Result<Rest, VenueError> {
        let dialect = Arc::new(BlofinDialect::default());
        let client = RestClient::new(config, dialect.clone())?;
        let _ = dialect.limiter.set(client.limiter().clone());
        Ok(Rest {
            client,
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
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &'static str,
        query: &[(&str, &str)],
        signed: bool,
    ) -> Result<T, VenueError> {
        let endpoint = format!("GET {path}");
        let ctx = self.ctx(&endpoint, false);
        let q = encode_query(query);
        let req = PreparedRequest::new(Method::GET, self.client.base(), path, &q, None)?;
        let signer = signed.then(|| self.signer.as_ref() as &dyn crate::venue::http::Signer);
        let resp = self
            .client
            .send(req, bucket(path), signer)
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::data(parse::envelope(&resp, ctx)?, ctx)
    }

    /// One signed POST with a JSON body serialised once; the same bytes are signed and sent.
    /// Returns `data` unchecked per item (order-type callers check their items).
    pub async fn post<B: Serialize>(
        &self,
        path: &'static str,
        body: &B,
    ) -> Result<serde_json::Value, VenueError> {
        let endpoint = format!("POST {path}");
        let ctx = self.ctx(&endpoint, true);
        let text = serde_json::to_string(body)
            .map_err(|e| VenueError::Local(ctx.describe(format!("cannot encode body: {e}"))))?;
        let req = PreparedRequest::new(Method::POST, self.client.base(), path, "", Some(text))?;
        let resp = self
            .client
            .send(req, bucket(path), Some(self.signer.as_ref()))
            .await
            .map_err(|e| with_ctx(e, ctx))?;
        parse::envelope(&resp, ctx)
    }

    /// A POST of one order-type operation: its single item, with the item's code checked.
    pub async fn post_item<B: Serialize>(
        &self,
        path: &'static str,
        body: &B,
    ) -> Result<super::model::ItemResult, VenueError> {
        let endpoint = format!("POST {path}");
        let data = self.post(path, body).await?;
        parse::single_item(data, self.ctx(&endpoint, true))
    }

    pub async fn instruments(&self, inst_id: &str) -> Result<Vec<InstrumentRow>, VenueError> {
        self.get("/api/v1/market/instruments", &[("instId", inst_id)], false)
            .await
    }

    pub async fn mark_price(&self, inst_id: &str) -> Result<Vec<MarkPriceRow>, VenueError> {
        self.get("/api/v1/market/mark-price", &[("instId", inst_id)], false)
            .await
    }

    pub async fn candles(
        &self,
        inst_id: &str,
        bar: &str,
        limit: u32,
    ) -> Result<Vec<Vec<String>>, VenueError> {
        let limit = limit.clamp(1, 1440).to_string();
        let rows: Vec<Vec<serde_json::Value>> = self
            .get(
                "/api/v1/market/candles",
                &[("instId", inst_id), ("bar", bar), ("limit", &limit)],
                false,
            )
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                r.into_iter()
                    .map(|v| match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect())
    }

    pub async fn balance(&self) -> Result<Balance, VenueError> {
        self.get(
            "/api/v1/account/balance",
            &[("productType", "USDT-FUTURES")],
            true,
        )
        .await
    }

    pub async fn positions(&self, inst_id: Option<&str>) -> Result<Vec<PositionRow>, VenueError> {
        let q: Vec<(&str, &str)> = inst_id.map(|i| ("instId", i)).into_iter().collect();
        self.get("/api/v1/account/positions", &q, true).await
    }

    pub async fn position_mode(&self) -> Result<super::model::PositionMode, VenueError> {
        self.get("/api/v1/account/position-mode", &[], true).await
    }

    pub async fn leverage(
        &self,
        inst_id: &str,
        margin_mode: &str,
    ) -> Result<Vec<super::model::LeverageRow>, VenueError> {
        self.get(
            "/api/v1/account/batch-leverage-info",
            &[("instId", inst_id), ("marginMode", margin_mode)],
            true,
        )
        .await
    }

    /// Every open order, 100 a page, following `after` (older than the last order id).
    pub async fn open_orders(&self) -> Result<Vec<OrderRow>, VenueError> {
        const MAX_PAGES: usize = 20;
        let mut out: Vec<OrderRow> = Vec::new();
        let mut after = String::new();
        for _ in 0..MAX_PAGES {
            let mut q = vec![("limit", "100")];
            if !after.is_empty() {
                q.push(("after", &after));
            }
            let page: Vec<OrderRow> = self.get("/api/v1/trade/orders-pending", &q, true).await?;
            let done = page.len() < 100;
            let last = page.last().map(|o| o.order_id.clone()).unwrap_or_default();
            out.extend(page);
            if done || last.is_empty() {
                return Ok(out);
            }
            after = last;
        }
        tracing::warn!(account = %self.account, "stopped paging open orders after {MAX_PAGES} pages");
        Ok(out)
    }

    /// One order by our client id; `None` when BloFin answers without an order.
    pub async fn order_detail(
        &self,
        inst_id: &str,
        client_order_id: &str,
    ) -> Result<Option<OrderRow>, VenueError> {
        let data: serde_json::Value = self
            .get(
                "/api/v1/trade/order-detail",
                &[("instId", inst_id), ("clientOrderId", client_order_id)],
                true,
            )
            .await?;
        // The docs show one object; a list is accepted too.
        let row = match data {
            serde_json::Value::Array(list) => list.into_iter().next(),
            serde_json::Value::Null => None,
            other => Some(other),
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let row: OrderRow = serde_json::from_value(row).map_err(|e| {
            VenueError::Decode(format!("blofin order-detail: unexpected data shape: {e}"))
        })?;
        Ok(Some(row).filter(|r| r.client_order_id == client_order_id))
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
