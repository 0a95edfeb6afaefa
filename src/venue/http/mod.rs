//! The shared signed REST client every venue uses: one per account, on a connection-reusing
//! reqwest client, with a deadline per request, the shared rate limiter and breaker, and the
//! outcome rules: a definitive answer is returned for the venue to parse; a timeout, 5xx or
//! disconnect after a mutating request was sent is an *unknown outcome*, never retried
//! blindly; reads retry with jittered backoff.

mod limiter;
pub mod metrics;
mod request;
mod window;

pub use limiter::{
    LimitPolicy, Limiter, Permit, QuotaHeader, Rate, Scope, EVERY_REQUEST, EVERY_REQUEST_REFILLED,
};
pub use request::{encode_component, encode_query, PreparedRequest};

use crate::venue::VenueError;
use rand::Rng;
use reqwest::header::HeaderMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use url::Url;

/// Signs a prepared request in place (adds headers); called once per attempt so that
/// timestamps are fresh.
pub trait Signer: Send + Sync {
    fn sign(&self, request: &mut PreparedRequest) -> Result<(), VenueError>;
    /// Which API key the request spends rate limit of (never the secret).
    fn key_id(&self) -> &str;
}

/// What differs between venues at the HTTP level.
pub trait Dialect: Send + Sync {
    /// `(remaining, time until reset)` from rate-limit headers, when the venue sends them.
    fn rate_headers(&self, headers: &HeaderMap) -> Option<(u64, Option<Duration>)>;

    /// Every quota figure of an answer, each with the scope it counts. The default reads
    /// `rate_headers` as the key's quota (its every-request bucket when the policy has one,
    /// else the request's bucket).
    fn quotas(&self, headers: &HeaderMap) -> Vec<QuotaHeader> {
        self.rate_headers(headers)
            .map(|(remaining, reset)| QuotaHeader {
                scope: Scope::Key,
                remaining,
                reset,
                limit: None,
            })
            .into_iter()
            .collect()
    }

    /// The scope a rate-limit refusal (`classify` gave `RateLimited`) holds: by default an
    /// HTTP 403 is an IP ban (the whole host), anything else the refused key.
    fn refusal_scope(&self, status: u16, headers: &HeaderMap, body: &str) -> Scope {
        let _ = (headers, body);
        if status == 403 {
            Scope::Host
        } else {
            Scope::Key
        }
    }

    /// An error decided from the status line alone (429, IP bans, auth), before the venue
    /// parses the body. `None` hands the response to the venue.
    fn classify(&self, status: u16, headers: &HeaderMap, body: &str) -> Option<VenueError> {
        let _ = body;
        if status == 429 {
            let wait = self
                .rate_headers(headers)
                .and_then(|(_, reset)| reset)
                .or_else(|| retry_after_header(headers))
                .unwrap_or(Duration::from_secs(5));
            return Some(VenueError::RateLimited { retry_after: wait });
        }
        None
    }
}

#[derive(Clone, Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Clone, Debug)]
pub struct RestConfig {
    pub venue: &'static str,
    pub base: Url,
    pub timeout: Duration,
    pub policy: LimitPolicy,
    /// Extra attempts for reads after a transport error or 5xx.
    pub read_retries: u32,
}

pub struct RestClient {
    http: reqwest::Client,
    config: RestConfig,
    limiter: Arc<Limiter>,
    dialect: Arc<dyn Dialect>,
}

impl RestClient {
    pub fn new(config: RestConfig, dialect: Arc<dyn Dialect>) -> Result<RestClient, VenueError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(50))
            .gzip(true)
            .user_agent(concat!("trade-engine/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| VenueError::Local(format!("cannot build HTTP client: {e}")))?;
        let host = format!(
            "{}:{}",
            config.base.host_str().unwrap_or(""),
            config.base.port_or_known_default().unwrap_or(0)
        );
        let limiter = Limiter::shared(config.venue, &host, config.policy.clone());
        Ok(RestClient {
            http,
            config,
            limiter,
            dialect,
        })
    }

    pub fn base(&self) -> &Url {
        &self.config.base
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Sends `request` through the limiter and breaker. Returns the response for any status the
    /// dialect does not classify itself; the venue parses it.
    pub async fn send(
        &self,
        request: PreparedRequest,
        bucket: &str,
        signer: Option<&dyn Signer>,
    ) -> Result<RawResponse, VenueError> {
        self.send_weighted(request, bucket, 1, signer).await
    }

    /// [`RestClient::send`] for a request that counts `weight` units in its key's buckets
    /// (a Bybit batch counts once per order).
    pub async fn send_weighted(
        &self,
        request: PreparedRequest,
        bucket: &str,
        weight: u32,
        signer: Option<&dyn Signer>,
    ) -> Result<RawResponse, VenueError> {
        let key = signer.map(|s| s.key_id()).unwrap_or("public");
        let mutating = request.is_mutating();
        let attempts = if mutating {
            1
        } else {
            1 + self.config.read_retries
        };
        let mut last_error = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                let base = 200u64 * 2u64.pow(attempt.min(5));
                let jitter = rand::thread_rng().gen_range(0..=base);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            if let Some(remaining) = self
                .limiter
                .open_for()
                .or_else(|| self.limiter.refused_for(key, bucket))
            {
                metrics::venue_metrics().circuit_refused(self.config.venue);
                return Err(VenueError::CircuitOpen { remaining });
            }
            let queued = Instant::now();
            // Held until the answer is in: the slot's window starts when the venue may last
            // have counted the request.
            let permit = self.limiter.acquire_weighted(key, bucket, weight).await;
            metrics::venue_metrics().waited(self.config.venue, queued.elapsed());
            let mut req = request.clone();
            if let Some(s) = signer {
                s.sign(&mut req)?;
            }
            let endpoint = req.url.path().to_owned();
            let sent = Instant::now();
            let answer = self.attempt(req).await;
            drop(permit);
            match answer {
                Ok(resp) => {
                    metrics::venue_metrics().request(self.config.venue, &endpoint, sent.elapsed());
                    return self.finish(resp, key, bucket);
                }
                Err(AttemptError::NotSent(e)) => {
                    self.limiter.record_error();
                    last_error = Some(VenueError::Transport(e));
                }
                Err(AttemptError::NoAnswer(e)) => {
                    self.limiter.record_error();
                    if mutating {
                        return Err(VenueError::Unknown(e));
                    }
                    last_error = Some(VenueError::Transport(e));
                }
                Err(AttemptError::ServerError(status, body)) => {
                    self.limiter.record_error();
                    let message = format!("HTTP {status}: {}", snippet(&body));
                    if mutating {
                        return Err(VenueError::Unknown(message));
                    }
                    last_error = Some(VenueError::Transport(message));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| VenueError::Transport("no attempt made".into())))
    }

    fn finish(
        &self,
        resp: RawResponse,
        key: &str,
        bucket: &str,
    ) -> Result<RawResponse, VenueError> {
        for quota in self.dialect.quotas(&resp.headers) {
            self.limiter.observe(key, bucket, quota);
        }
        if let Some(err) = self
            .dialect
            .classify(resp.status, &resp.headers, &resp.body)
        {
            match &err {
                VenueError::RateLimited { retry_after } => {
                    metrics::venue_metrics().rate_limited(self.config.venue);
                    let scope = self
                        .dialect
                        .refusal_scope(resp.status, &resp.headers, &resp.body);
                    self.limiter
                        .refuse(key, bucket, scope, Instant::now() + *retry_after);
                    tracing::warn!(
                        venue = self.config.venue,
                        retry_after_ms = retry_after.as_millis() as u64,
                        scope = ?scope,
                        bucket,
                        "rate limited: holding the refused scope"
                    );
                }
                VenueError::Auth(_) => {}
                _ => self.limiter.record_error(),
            }
            return Err(err);
        }
        if resp.status < 400 {
            self.limiter.record_success();
        }
        Ok(resp)
    }

    async fn attempt(&self, req: PreparedRequest) -> Result<RawResponse, AttemptError> {
        let mut builder = self.http.request(req.method.clone(), req.url.clone());
        for (name, value) in &req.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(body) = req.body {
            builder = builder.body(body);
        }
        let resp = builder.send().await.map_err(|e| {
            if e.is_connect() {
                AttemptError::NotSent(e.to_string())
            } else {
                AttemptError::NoAnswer(describe(&e))
            }
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp
            .text()
            .await
            .map_err(|e| AttemptError::NoAnswer(describe(&e)))?;
        if status >= 500 {
            return Err(AttemptError::ServerError(status, body));
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    /// A helper for venue code: the response body parsed as JSON, or a decode error that
    /// quotes the start of the body.
    pub fn json(resp: &RawResponse) -> Result<serde_json::Value, VenueError> {
        serde_json::from_str(&resp.body).map_err(|e| {
            VenueError::Decode(format!(
                "HTTP {} body is not JSON ({e}): {}",
                resp.status,
                snippet(&resp.body)
            ))
        })
    }
}

enum AttemptError {
    /// The connection could not be made: nothing reached the venue.
    NotSent(String),
    /// Sent, and no (complete) answer came back.
    NoAnswer(String),
    ServerError(u16, String),
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        format!("deadline exceeded: {e}")
    } else {
        e.to_string()
    }
}

pub fn snippet(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.len() > 300 {
        let mut end = 300;
        while !trimmed.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &trimmed[..end])
    } else {
        trimmed.to_string()
    }
}

/// `Retry-After` in seconds, when present.
pub fn retry_after_header(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// A header parsed as an integer.
pub fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests;
