//! BitMEX REST endpoints on the shared signed client: the HTTP dialect (rate-limit headers,
//! bans, auth), the rate-limit policy, and one function per endpoint. Request bodies and
//! queries are built by small pure functions so that tests can compare them with the signing
//! vectors byte for byte.

use super::auth::BitmexSigner;
use super::model::{Body, WireInstrument, WireMargin, WireOrder, WirePosition, WireTradeBin};
use super::parse;
use crate::domain::{OrderKind, OrderRequest, Side};
use crate::venue::http::{
    encode_query, header_u64, retry_after_header, Dialect, LimitPolicy, PreparedRequest,
    QuotaHeader, Rate, RestClient, RestConfig, Scope, EVERY_REQUEST_REFILLED,
};
use crate::venue::{CandleInterval, VenueError};
use reqwest::header::HeaderMap;
use reqwest::Method;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Every REST path starts here, and the signature covers it.
pub const API_PREFIX: &str = "/api/v1";
/// Bucket of the order-management routes (10 requests/second per key).
pub const ORDER_BUCKET: &str = "order";
pub const READ_BUCKET: &str = "read";
/// An IP ban (HTTP 403 on everything) lasts an hour.
pub const BAN: Duration = Duration::from_secs(3600);
/// Rows per page of order lists (the documented maximum is unclear: 500 is safe).
pub const PAGE: u32 = 500;

/// BitMEX's documented limits, per account (API key): 120 requests per minute on every
/// route (a token bucket refilled at 2/s: a full bucket may be spent at once), and 10 per
/// second on the order routes (order placement, amendment, cancellation,
/// leverage, isolation). BitMEX documents no per-IP request limit for signed requests; the
/// host-wide budget here is only a guard against a runaway loop getting the IP banned.
pub fn policy() -> LimitPolicy {
    LimitPolicy {
        ip: Rate::per_second(50),
        buckets: vec![
            (EVERY_REQUEST_REFILLED, Rate::per_minute(120)),
            (ORDER_BUCKET, Rate::per_second(10)),
        ],
        // Repeated errors are what gets an IP banned for an hour: stop early.
        error_threshold: 8,
        error_window: Duration::from_secs(60),
        open_for: Duration::from_secs(30),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// How BitMEX speaks HTTP: `x-ratelimit-remaining` with `x-ratelimit-reset` in UNIX seconds,
/// `x-ratelimit-remaining-1s` on the order routes; 401 for bad keys, 403 for IP bans.
pub struct BitmexDialect;

impl BitmexDialect {
    fn reset_in(headers: &HeaderMap) -> Option<Duration> {
        header_u64(headers, "x-ratelimit-reset")
            .map(|at| Duration::from_secs(at.saturating_sub(unix_now())))
    }
}

impl Dialect for BitmexDialect {
    /// `x-ratelimit-*` is the account's per-minute budget; `-1s` the order routes' layer.
    fn quotas(&self, headers: &HeaderMap) -> Vec<QuotaHeader> {
        let mut out = Vec::new();
        if let Some(remaining) = header_u64(headers, "x-ratelimit-remaining") {
            out.push(QuotaHeader {
                scope: Scope::Key,
                remaining,
                reset: Self::reset_in(headers),
                limit: header_u64(headers, "x-ratelimit-limit"),
            });
        }
        if let Some(remaining) = header_u64(headers, "x-ratelimit-remaining-1s") {
            out.push(QuotaHeader {
                scope: Scope::Named(ORDER_BUCKET),
                remaining,
                // BitMEX sends no reset for this layer. A guessed one (a second from this
                // answer) held the route well past the moment the rolling window frees its
                // oldest slot, which the limiter's own log already knows.
                reset: None,
                limit: header_u64(headers, "x-ratelimit-limit-1s"),
            });
        }
        out
    }

    /// A 429 is the account's (the key's); a 403 ban is the IP's.
    fn refusal_scope(&self, status: u16, _headers: &HeaderMap, _body: &str) -> Scope {
        if status == 429 {
            Scope::Key
        } else {
            Scope::Host
        }
    }

    fn rate_headers(&self, headers: &HeaderMap) -> Option<(u64, Option<Duration>)> {
        // The per-second layer refills within a second; report it when it is the tighter one.
        if let Some(per_second) = header_u64(headers, "x-ratelimit-remaining-1s") {
            if per_second <= 1 {
                return Some((per_second, Some(Duration::from_secs(1))));
            }
        }
        let remaining = header_u64(headers, "x-ratelimit-remaining")?;
        Some((remaining, Self::reset_in(headers)))
    }

    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        let (message, _) = parse::error_message(body);
        let hint = parse::message_hint(&message);
        match status {
            429 => {
                let wait = Self::reset_in(headers)
                    .filter(|d| !d.is_zero())
                    .or_else(|| retry_after_header(headers))
                    .or_else(|| parse::retry_in_from_message(&message))
                    .unwrap_or(Duration::from_secs(10));
                Some(VenueError::RateLimited {
                    retry_after: wait.max(Duration::from_secs(1)),
                })
            }
            401 => Some(VenueError::Auth(format!(
                "bitmex refused the credentials (HTTP 401: {message}); check api_key and \
                 api_secret, and that testnet keys are used with testnet hosts"
            ))),
            403 if hint == parse::MessageHint::KeyRefused => Some(VenueError::Auth(format!(
                "bitmex refused the API key (HTTP 403: {message}); the key is disabled or \
                     lacks the order permission"
            ))),
            403 => {
                tracing::error!(
                    venue = "bitmex",
                    message = %message,
                    "HTTP 403 from bitmex: treating it as an IP ban and holding all requests for an hour"
                );
                Some(VenueError::RateLimited { retry_after: BAN })
            }
            400 if hint == parse::MessageHint::Expired => Some(VenueError::Auth(format!(
                "bitmex says the signed request expired ({message}); the local clock is \
                     behind: sync it (NTP)"
            ))),
            _ => None,
        }
    }
}

/// "Rate limit exceeded, retry in 3 seconds."
/// The REST side of one account.
pub struct Rest {
    client: RestClient,
    signer: BitmexSigner,
}

impl Rest {
    pub fn new(config: RestConfig, signer: BitmexSigner) -> Result<Rest, VenueError> {
        Ok(Rest {
            client: RestClient::new(config, std::sync::Arc::new(BitmexDialect))?,
            signer,
        })
    }

    /// Sends one signed request and decodes a 2xx body as `T`; 4xx bodies become definitive
    /// rejections.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &str,
        body: Option<String>,
        bucket: &str,
    ) -> Result<T, VenueError> {
        let full = format!("{API_PREFIX}{path}");
        let request = PreparedRequest::new(method, self.client.base(), &full, query, body)?;
        let resp = self
            .client
            .send(request, bucket, Some(&self.signer))
            .await?;
        if resp.status >= 400 {
            return Err(parse::http_error(resp.status, &resp.body));
        }
        let value = RestClient::json(&resp)?;
        serde_path_to_error::deserialize(value).map_err(|e| {
            VenueError::Decode(format!("bitmex {path}: unexpected answer at {}", e.path()))
        })
    }

    pub async fn instrument(&self, native: &str) -> Result<Option<WireInstrument>, VenueError> {
        let rows: Vec<WireInstrument> = self
            .call(
                Method::GET,
                "/instrument",
                &encode_query(&[("symbol", native)]),
                None,
                READ_BUCKET,
            )
            .await?;
        // `symbol` also matches series and indices by root; keep the exact contract.
        Ok(rows.into_iter().find(|r| r.symbol == native))
    }

    pub async fn margins(&self) -> Result<Vec<WireMargin>, VenueError> {
        let value: serde_json::Value = self
            .call(
                Method::GET,
                "/user/margin",
                &encode_query(&[("currency", "all")]),
                None,
                READ_BUCKET,
            )
            .await?;
        // `currency=all` answers an array; a single currency answers one object.
        let rows = match value {
            serde_json::Value::Array(_) => value,
            other => serde_json::Value::Array(vec![other]),
        };
        serde_json::from_value(rows)
            .map_err(|e| VenueError::Decode(format!("bitmex /user/margin: {e}")))
    }

    pub async fn positions(&self) -> Result<Vec<WirePosition>, VenueError> {
        self.call(Method::GET, "/position", "", None, READ_BUCKET)
            .await
    }

    pub async fn open_orders(&self) -> Result<Vec<WireOrder>, VenueError> {
        self.call(
            Method::GET,
            "/order",
            &open_orders_query(None, PAGE),
            None,
            READ_BUCKET,
        )
        .await
    }

    pub async fn orders_by_client_id(
        &self,
        native: &str,
        client_order_id: &str,
    ) -> Result<Vec<WireOrder>, VenueError> {
        self.call(
            Method::GET,
            "/order",
            &lookup_query(native, client_order_id),
            None,
            READ_BUCKET,
        )
        .await
    }

    pub async fn place(&self, request: &OrderRequest) -> Result<WireOrder, VenueError> {
        self.call(
            Method::POST,
            "/order",
            "",
            Some(place_body(request)),
            ORDER_BUCKET,
        )
        .await
    }

    pub async fn cancel(&self, client_order_id: &str) -> Result<Vec<WireOrder>, VenueError> {
        self.call(
            Method::DELETE,
            "/order",
            "",
            Some(cancel_body(client_order_id)),
            ORDER_BUCKET,
        )
        .await
    }

    pub async fn amend(
        &self,
        client_order_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<WireOrder, VenueError> {
        self.call(
            Method::PUT,
            "/order",
            "",
            Some(amend_body(client_order_id, qty, price)),
            ORDER_BUCKET,
        )
        .await
    }

    pub async fn leverage(
        &self,
        native: &str,
        leverage: Decimal,
    ) -> Result<WirePosition, VenueError> {
        self.call(
            Method::POST,
            "/position/leverage",
            "",
            Some(leverage_body(native, leverage)),
            ORDER_BUCKET,
        )
        .await
    }

    pub async fn isolate(&self, native: &str, isolated: bool) -> Result<WirePosition, VenueError> {
        self.call(
            Method::POST,
            "/position/isolate",
            "",
            Some(isolate_body(native, isolated)),
            ORDER_BUCKET,
        )
        .await
    }

    pub async fn trade_bins(
        &self,
        native: &str,
        interval: CandleInterval,
        count: u32,
    ) -> Result<Vec<WireTradeBin>, VenueError> {
        self.call(
            Method::GET,
            "/trade/bucketed",
            &candles_query(native, interval, count),
            None,
            READ_BUCKET,
        )
        .await
    }
}

/// `symbol` (when given), the open-order filter and a page size.
pub fn open_orders_query(native: Option<&str>, count: u32) -> String {
    let count = count.to_string();
    let mut pairs = Vec::new();
    if let Some(n) = native {
        pairs.push(("symbol", n));
    }
    pairs.push(("filter", r#"{"open":true}"#));
    pairs.push(("count", count.as_str()));
    encode_query(&pairs)
}

pub fn lookup_query(native: &str, client_order_id: &str) -> String {
    let filter = serde_json::json!({ "clOrdID": client_order_id }).to_string();
    encode_query(&[
        ("symbol", native),
        ("filter", &filter),
        ("count", "10"),
        ("reverse", "true"),
    ])
}

pub fn candles_query(native: &str, interval: CandleInterval, count: u32) -> String {
    let bin = match interval {
        CandleInterval::M1 => "1m",
        CandleInterval::M5 => "5m",
        CandleInterval::H1 => "1h",
        CandleInterval::D1 => "1d",
    };
    let count = count.clamp(1, 1000).to_string();
    encode_query(&[
        ("binSize", bin),
        ("partial", "false"),
        ("symbol", native),
        ("count", &count),
        ("reverse", "true"),
    ])
}

fn side(side: Side) -> &'static str {
    match side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

/// `POST /order`: our client order id is BitMEX's `clOrdID`; reduce-only is an `execInst`.
pub fn place_body(request: &OrderRequest) -> String {
    let mut body = Body::new()
        .str("symbol", &request.native)
        .str("side", side(request.side))
        .num("orderQty", request.qty);
    match (request.kind, request.price) {
        (OrderKind::Limit, Some(price)) => {
            body = body
                .num("price", price)
                .str("ordType", "Limit")
                .str("timeInForce", "GoodTillCancel");
        }
        _ => body = body.str("ordType", "Market"),
    }
    if request.reduce_only {
        body = body.str("execInst", "ReduceOnly");
    }
    body.str("clOrdID", &request.client_order_id).finish()
}

pub fn cancel_body(client_order_id: &str) -> String {
    Body::new().str("clOrdID", client_order_id).finish()
}

pub fn amend_body(client_order_id: &str, qty: Option<Decimal>, price: Option<Decimal>) -> String {
    let mut body = Body::new().str("origClOrdID", client_order_id);
    if let Some(q) = qty {
        body = body.num("orderQty", q);
    }
    if let Some(p) = price {
        body = body.num("price", p);
    }
    body.finish()
}

pub fn leverage_body(native: &str, leverage: Decimal) -> String {
    Body::new()
        .str("symbol", native)
        .num("leverage", leverage)
        .finish()
}

pub fn isolate_body(native: &str, isolated: bool) -> String {
    Body::new()
        .str("symbol", native)
        .boolean("enabled", isolated)
        .finish()
}

#[cfg(test)]
mod tests;
