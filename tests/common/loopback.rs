//! The generic loopback venue server: every request is recorded, then a queued fault is
//! applied, then the signature is verified, then the venue's route answers. A venue supplies
//! only what differs: its signature check, its routes and its error frames (`Wire`).
//! The faults that act after the order is applied (stall, 5xx, connection reset, order
//! visible before the position) are handled here, once, for every venue.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, Target};
use crate::common::limits::{Exceeded, Limit, Quota};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Router;
use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Lowercase hex HMAC-SHA256, computed here with hmac/sha2 (not the crate's signer), so that
/// a loopback checks the daemon's signatures independently.
pub fn hmac_sha256_hex(secret: &str, message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// One HTTP request as it arrived.
pub struct Request {
    pub method: Method,
    pub path: String,
    /// The raw query (signed as sent).
    pub query: String,
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Request {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).to_string()
    }

    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    pub fn params(&self) -> BTreeMap<String, String> {
        url::form_urlencoded::parse(self.query.as_bytes())
            .into_owned()
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a routed request asks of the fault layer after the venue has answered.
#[derive(Default, Clone, Copy)]
pub struct Applied {
    /// Fill only this fraction of a placed order.
    pub partial: Option<Decimal>,
    /// Keep a placed order's fill out of the position for a few reads.
    pub hold: bool,
    /// Keep a placed order out of sight (by id and in the position) for a while.
    pub hide: bool,
}

/// The venue-specific part of a loopback server.
pub trait Wire: Send + Sync + 'static {
    /// `Some(client id)` when the request places an order (empty id when it carries none).
    fn placement(&self, req: &Request) -> Option<String>;
    /// The venue's answer to a request it would refuse as badly signed; `None` when the
    /// signature is right.
    fn refuse_signature(&self, req: &Request) -> Option<Response>;
    /// The venue's answer for a fault that replaces the request's effect (5xx, 429, auth).
    fn fault_frame(&self, fault: &Fault) -> Response;
    /// The venue's answer to a verified request.
    fn route(&self, req: &Request, applied: Applied) -> Response;
    /// The documented limits `req` counts against, with the scope the venue counts them in
    /// (per key, per endpoint, per IP). Enforced only when `MockExchange::windows()` is on.
    fn limits(&self, _req: &Request) -> Vec<Limit> {
        Vec::new()
    }
    /// The venue's own answer to a request over a limit (status, body, headers as documented).
    fn limit_refusal(&self, exceeded: &Exceeded) -> Response {
        self.fault_frame(&Fault::RateLimit {
            reset_secs: exceeded.retry_after.as_secs().max(1),
        })
    }
    /// Adds the venue's quota headers (remaining, reset) to an answer, for venues that send them.
    fn quota_headers(&self, _quotas: &[Quota], _answer: &mut Response) {}
}

/// Serves `wire` on a loopback port; returns the address.
pub fn serve<W: Wire>(exchange: MockExchange, wire: Arc<W>) -> std::net::SocketAddr {
    let state = (exchange, wire);
    let router = Router::new()
        .fallback(handle::<W>)
        .with_state(Arc::new(state));
    crate::common::exchange::serve_in_background(router)
}

/// Answers after the exchange's `latency` (the venue's round trip; the request takes effect
/// at once, as it would at the venue half-way through).
async fn handle<W: Wire>(
    state: axum::extract::State<Arc<(MockExchange, Arc<W>)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let arrived = tokio::time::Instant::now();
    let latency = state.0 .0.lock().latency;
    let answer = answer(state, method, uri, headers, body).await;
    tokio::time::sleep_until(arrived + latency).await;
    answer
}

async fn answer<W: Wire>(
    axum::extract::State(s): axum::extract::State<Arc<(MockExchange, Arc<W>)>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (ex, wire) = (&s.0, &s.1);
    let req = Request {
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        path_and_query: uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| uri.path().to_string()),
        method,
        headers,
        body,
    };
    let refusal = wire.refuse_signature(&req);
    let placement = wire.placement(&req);
    ex.record(
        req.method.as_str(),
        &req.path_and_query,
        &req.text(),
        refusal.is_none(),
        placement.clone(),
    );
    let limits = wire.limits(&req);
    let quotas = match ex.windows().admit(&limits) {
        Ok(quotas) => quotas,
        Err(exceeded) => return wire.limit_refusal(&exceeded),
    };
    if placement.is_some() {
        ex.windows().placed(&limits);
    }
    if req.method == Method::GET {
        // Reading the position is when a held order reaches it (accepted, then booked).
        ex.release_held();
    }
    let kind = if placement.is_some() {
        Target::Place
    } else if req.method == Method::GET {
        Target::Read
    } else {
        Target::Any
    };
    let fault = ex.take_fault(kind);
    let mut applied = Applied::default();
    match &fault {
        Some(f @ (Fault::Status(_) | Fault::RateLimit { .. } | Fault::AuthFail)) => {
            return wire.fault_frame(f)
        }
        Some(Fault::PartialFill { fraction }) => applied.partial = Some(*fraction),
        Some(Fault::AcceptedNotInPosition) => applied.hold = true,
        Some(Fault::LateEverywhere) => applied.hide = true,
        _ => {}
    }
    if let Some(answer) = refusal {
        return answer;
    }
    let mut answer = wire.route(&req, applied);
    wire.quota_headers(&quotas, &mut answer);
    match fault {
        Some(Fault::AcceptThenStall { delay_ms }) => {
            // The order is in the book; the answer comes too late for the client.
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            answer
        }
        Some(Fault::AppliedThenStatus(code)) => wire.fault_frame(&Fault::Status(code)),
        // Dropping the connection without an answer, as a reset does; `resume_unwind` ends
        // the connection's task without the panic hook's noise.
        Some(Fault::AppliedThenReset | Fault::LateEverywhere) => {
            std::panic::resume_unwind(Box::new("connection reset"))
        }
        _ => answer,
    }
}
