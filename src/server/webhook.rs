//! `POST /webhook/<source>`: the HTTP side of webhook sources.
//!
//! Checks run cheapest and least revealing first: known source (404), client address
//! (403), rate (429), header token (401), body size (413), JSON (400), body token (401),
//! payload (422). The answer is 200 only once the signal is journaled with fsync and in the
//! signal book; the book's change is what starts a cycle. No token and no body ever reaches a
//! log line.

use super::rate_limit::{RateLimiter, Verdict};
use super::AppState;
use crate::signals::tradingview::{self, body_token, Accepted, TradingViewConfig};
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

/// Larger bodies are refused with 413; a real alert is a few hundred bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
pub const TOKEN_HEADER: &str = "x-webhook-token";

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    reply(status, json!({ "error": message.into() }))
}

/// The client's address: the peer, or with `trust_proxy` the last `X-Forwarded-For` entry
/// (the one the trusted proxy appended; earlier entries are whatever the client wrote).
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap, trust_proxy: bool) -> IpAddr {
    if trust_proxy {
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .last()
            .and_then(|last| last.trim().parse::<IpAddr>().ok());
        if let Some(ip) = forwarded {
            return ip.to_canonical();
        }
    }
    peer.ip().to_canonical()
}

/// Counts every answer in `webhook_requests_total`. A name that is no configured source is
/// counted as `unknown`, so random paths cannot grow the metric without bound.
pub async fn receive(
    State(state): State<AppState>,
    Path(name): Path<String>,
    peer: ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let metrics = state.engine.metrics.clone();
    let known = state
        .engine
        .config
        .borrow()
        .engine
        .sources
        .iter()
        .any(|s| s.name == name);
    let label = if known {
        name.clone()
    } else {
        "unknown".into()
    };
    let response = answer(State(state), Path(name), peer, headers, body).await;
    metrics.webhook_request(&label, response.status().as_u16());
    response
}

async fn answer(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let config = state.engine.config.borrow().clone();
    let (intake, settings) = match state.webhooks.lookup(&config, &name) {
        Ok(found) => found,
        Err(e @ tradingview::LookupError::Unknown(_)) => {
            return error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => {
            tracing::error!(source = %name, error = %e, "webhook source unavailable");
            return error(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        }
    };
    let ip = client_ip(peer, &headers, settings.trust_proxy);
    if let Some(refusal) = admit(&state.limiter, &name, ip, &settings) {
        return refusal;
    }
    let header_token = headers.get(TOKEN_HEADER).map(HeaderValue::to_str);
    if let Some(given) = &header_token {
        if !matches!(given, Ok(t) if settings.token_matches(t)) {
            return unauthorized(&name, ip, "wrong token in the X-Webhook-Token header");
        }
    }
    let bytes = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(refusal) => {
            tracing::warn!(source = %name, client = %ip, "webhook refused: body too large or unreadable");
            return refusal;
        }
    };
    let value: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let message = format!(
                "malformed JSON at line {}, column {}: {}",
                e.line(),
                e.column(),
                strip_position(&e.to_string())
            );
            tracing::warn!(source = %name, client = %ip, error = %message, "webhook refused");
            return error(StatusCode::BAD_REQUEST, message);
        }
    };
    if header_token.is_none() {
        match body_token(&value) {
            Some(t) if settings.token_matches(t) => {}
            Some(_) => return unauthorized(&name, ip, "wrong token in the body"),
            None => {
                return unauthorized(
                    &name,
                    ip,
                    "no token (X-Webhook-Token header or \"token\" field)",
                )
            }
        }
    }
    let incoming = match tradingview::payload::parse(&value) {
        Ok(i) => i,
        Err(reason) => {
            tracing::warn!(source = %name, client = %ip, reason = %reason, "webhook refused: invalid signal");
            return error(StatusCode::UNPROCESSABLE_ENTITY, reason);
        }
    };
    if let Some(reason) = tradingview::scope::refusal(&config, &name, &incoming) {
        tracing::warn!(source = %name, client = %ip, reason = %reason, "webhook refused: the config does not use this signal");
        return error(StatusCode::UNPROCESSABLE_ENTITY, reason);
    }
    let book = state.webhooks.book().clone();
    let params = settings.race_params();
    let from = ip.to_string();
    let submitted = {
        let incoming = incoming.clone();
        let book = book.clone();
        tokio::task::spawn_blocking(move || {
            intake.submit_answer_first(&incoming, &from, &book, &params)
        })
        .await
    };
    match submitted {
        Ok(Ok((accepted, write_book))) => {
            if write_book {
                let source = name.clone();
                tokio::task::spawn_blocking(move || tradingview::persist_book(&source, &book));
            }
            log_accepted(&name, ip, &accepted);
            reply(
                StatusCode::OK,
                json!({
                    "status": "ok",
                    "source": name,
                    "symbol": accepted.symbol,
                    "depth": accepted.depth,
                    "outcome": accepted.outcome,
                    "basis": accepted.basis,
                    "reason": accepted.reason,
                    "ignored_fields": incoming.ignored,
                }),
            )
        }
        Ok(Err(e)) => {
            tracing::error!(source = %name, error = %e, "webhook signal not stored");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Err(e) => {
            tracing::error!(source = %name, error = %e, "webhook intake task failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error; the signal was not stored",
            )
        }
    }
}

/// Allow-list and rate limit; `Some` is the refusal.
fn admit(
    limiter: &RateLimiter,
    name: &str,
    ip: IpAddr,
    settings: &TradingViewConfig,
) -> Option<Response> {
    if !settings.ip_allowed(ip) {
        tracing::warn!(source = %name, client = %ip, "webhook refused: address not in allow_ips");
        return Some(error(
            StatusCode::FORBIDDEN,
            format!("address {ip} may not post to this webhook"),
        ));
    }
    match limiter.check(
        name,
        ip,
        settings.rate_limit_per_minute,
        settings.rate_limit_burst,
        Instant::now(),
    ) {
        Verdict::Allowed => None,
        Verdict::Refused { retry_after, first } => {
            if first {
                tracing::warn!(source = %name, client = %ip, per_minute = settings.rate_limit_per_minute, "webhook rate limit reached; refusing with 429");
            }
            let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "more than {} requests per minute from {ip}; retry in {secs} s",
                    settings.rate_limit_per_minute
                ),
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert("retry-after", v);
            }
            Some(response)
        }
    }
}

fn unauthorized(name: &str, ip: IpAddr, why: &str) -> Response {
    tracing::warn!(source = %name, client = %ip, reason = why, "webhook refused: unauthorized");
    error(StatusCode::UNAUTHORIZED, "missing or wrong token")
}

async fn read_body(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut stream = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("the body could not be read: {e}"),
            )
        })?;
        if out.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// serde_json appends " at line L column C" to its messages; the answer puts the position
/// first instead.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |i| &message[..i])
}

fn log_accepted(name: &str, ip: IpAddr, a: &Accepted) {
    tracing::info!(
        source = %name,
        client = %ip,
        symbol = %a.symbol,
        depth = %a.depth,
        outcome = %a.outcome,
        basis = %a.basis,
        "webhook signal stored"
    );
}
