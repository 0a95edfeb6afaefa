//! A loopback Bybit v5 server on top of `MockExchange`: REST (axum) and the private
//! WebSocket (tokio-tungstenite on its own listener). It checks every signature with its own
//! HMAC computation (not the crate's signer), records requests, honours injected faults, keeps
//! Bybit's quirks (business errors inside HTTP 200, strings for numbers, position modes,
//! cursors) and pushes `order`/`execution`/`position` messages to subscribed streams.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit, Quota};
use crate::common::loopback::{self, Applied, Request, Wire};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

pub const KEY: &str = "loopback-bybit-key";
pub const SECRET: &str = "loopback-bybit-secret";

/// One instrument of the loopback venue, spelled as instruments-info spells it.
struct Inst {
    symbol: &'static str,
    category: &'static str,
    settle: &'static str,
    tick: &'static str,
    step: &'static str,
    min_qty: &'static str,
    max_mkt_qty: &'static str,
    min_notional: &'static str,
}

const fn inst(
    symbol: &'static str,
    category: &'static str,
    settle: &'static str,
    [tick, step, min_qty, max_mkt_qty, min_notional]: [&'static str; 5],
) -> Inst {
    Inst {
        symbol,
        category,
        settle,
        tick,
        step,
        min_qty,
        max_mkt_qty,
        min_notional,
    }
}

const INSTRUMENTS: &[Inst] = &[
    inst(
        "BTCUSDT",
        "linear",
        "USDT",
        ["0.10", "0.001", "0.001", "119.000", "5"],
    ),
    inst(
        "ETHUSDT",
        "linear",
        "USDT",
        ["0.01", "0.01", "0.01", "1000.00", "5"],
    ),
    inst(
        "SOLUSDT",
        "linear",
        "USDT",
        ["0.001", "0.1", "0.1", "10000.0", "5"],
    ),
    inst("BTCUSD", "inverse", "BTC", ["0.50", "1", "1", "200000", ""]),
    // Listed only where a test gives them a mark (many-symbol tests).
    inst(
        "XRPUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "DOGEUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "ADAUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "LINKUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "AVAXUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "DOTUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "LTCUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "BNBUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "ATOMUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "NEARUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "APTUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "ARBUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "OPUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "SUIUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "TRXUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
    inst(
        "UNIUSDT",
        "linear",
        "USDT",
        ["0.0001", "0.1", "0.1", "1000000.0", "5"],
    ),
];

/// The benchmark's many symbols (`BENCH<n>USDT`, any that has a mark): linear, like SOL.
const BENCH_INSTRUMENT: Inst = inst(
    "BENCH",
    "linear",
    "USDT",
    ["0.001", "0.1", "0.1", "100000.0", "5"],
);

fn instrument(symbol: &str) -> Option<&'static Inst> {
    INSTRUMENTS.iter().find(|i| i.symbol == symbol).or_else(|| {
        (symbol.starts_with(BENCH_INSTRUMENT.symbol) && symbol.ends_with("USDT"))
            .then_some(&BENCH_INSTRUMENT)
    })
}

/// The quantity step of `symbol`.
fn step_of(symbol: &str) -> Option<Decimal> {
    instrument(symbol).and_then(|i| i.step.parse().ok())
}

/// Bybit-only state the venue-agnostic core does not have.
#[derive(Debug, Default)]
pub struct Extra {
    /// Hedge mode (two legs per symbol, `positionIdx` 1/2 required on orders).
    pub hedge: bool,
    pub margin_mode: String,
    /// `positionIdx` each order was placed with.
    pub position_idx: HashMap<String, i64>,
    /// Like Bybit after a restart: `order/realtime` no longer lists closed orders, only
    /// `order/history` does.
    pub realtime_forgets_closed: bool,
    /// Tickers are answered as of this many ms ago (a stale-price fault).
    pub price_lag_ms: i64,
    /// Symbols whose orders that are not reduce-only are refused with 110007 (margin used up),
    /// for as long as they are listed.
    pub no_margin_for: HashSet<String>,
    /// Orders that are not reduce-only are refused with 10027 ("Transactions are banned"),
    /// as Bybit answers while it takes no new orders from an account.
    pub trading_disabled: bool,
}

#[derive(Clone)]
struct Push {
    topic: &'static str,
    text: String,
}

#[derive(Clone)]
struct Shared {
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
}

pub struct BybitServer {
    pub exchange: MockExchange,
    pub extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
    pub rest_url: String,
    pub ws_url: String,
}

impl BybitServer {
    pub fn start(exchange: MockExchange) -> BybitServer {
        for i in INSTRUMENTS {
            if let Some(step) = step_of(i.symbol) {
                exchange.lock().lots.insert(i.symbol.into(), step);
            }
        }
        let extra = Arc::new(Mutex::new(Extra {
            margin_mode: "REGULAR_MARGIN".into(),
            ..Default::default()
        }));
        let shared = Shared {
            ex: exchange.clone(),
            extra: extra.clone(),
            push: broadcast::channel(1024).0,
        };
        let push = shared.push.clone();
        let rest = loopback::serve(exchange.clone(), Arc::new(shared.clone()));
        let ws = serve_ws(shared);
        BybitServer {
            exchange,
            extra,
            push,
            rest_url: format!("http://{rest}"),
            ws_url: format!("ws://{ws}/v5/private"),
        }
    }

    /// Pushes a raw frame to every stream subscribed to `topic` (stale, duplicated or
    /// out-of-order events in fault tests).
    pub fn push_raw(&self, topic: &'static str, text: String) {
        let _ = self.push.send(Push { topic, text });
    }

    pub fn set_hedge(&self, hedge: bool) {
        self.extra.lock().unwrap().hedge = hedge;
    }

    /// An account of `engine.json` pointed at this server.
    pub fn account(&self, name: &str, timeout_ms: u64) -> trade_engine::config::AccountConfig {
        serde_json::from_value(json!({
            "name": name, "venue": "bybit", "credentials": "bybit",
            "rest_url": self.rest_url, "ws_url": self.ws_url, "timeout_ms": timeout_ms,
        }))
        .expect("account")
    }

    /// The venue as the daemon builds it (`venue::build`), with this server's key and
    /// `secret`; the directory is the state dir it was given.
    pub fn venue_with_secret(
        &self,
        timeout_ms: u64,
        secret: &str,
    ) -> (Arc<dyn trade_engine::venue::Venue>, tempfile::TempDir) {
        use trade_engine::config::{Credential, Secret};
        let credential = Credential {
            api_key: Some(Secret::new(KEY)),
            api_secret: Some(Secret::new(secret)),
            ..Default::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let venue = trade_engine::venue::build(
            &self.account("loopback", timeout_ms),
            Some(&credential),
            dir.path(),
        )
        .expect("bybit venue");
        (venue, dir)
    }

    pub fn venue(
        &self,
        timeout_ms: u64,
    ) -> (Arc<dyn trade_engine::venue::Venue>, tempfile::TempDir) {
        self.venue_with_secret(timeout_ms, SECRET)
    }
}

/// The leverage a symbol has until it is set (Bybit's default for new symbols).
const DEFAULT_LEVERAGE: Decimal = Decimal::TEN;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn hmac_hex(message: &str) -> String {
    loopback::hmac_sha256_hex(SECRET, message)
}

/// What the private stream's `auth` signs.
pub fn ws_string_to_sign(expires: &str) -> String {
    format!("GET/realtime{expires}")
}

/// What Bybit v5 signs (checked against the shared vectors in tests/signing_vectors.rs).
pub fn string_to_sign(ts: &str, key: &str, recv_window: &str, payload: &str) -> String {
    format!("{ts}{key}{recv_window}{payload}")
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The v5 rule, computed independently: HMAC(secret, ts + key + recv_window + payload), the
/// payload being the raw query for GET and the raw body for POST; the timestamp must be
/// inside the receive window.
fn signature_ok(h: &HeaderMap, method: &Method, query: &str, body: &[u8]) -> bool {
    let (Some(key), Some(ts), Some(recv), Some(sign)) = (
        header(h, "x-bapi-api-key"),
        header(h, "x-bapi-timestamp"),
        header(h, "x-bapi-recv-window"),
        header(h, "x-bapi-sign"),
    ) else {
        return false;
    };
    let (Ok(ts_ms), Ok(window)) = (ts.parse::<i64>(), recv.parse::<i64>()) else {
        return false;
    };
    let now = now_ms();
    if key != KEY || ts_ms > now + 1000 || now - ts_ms > window {
        return false;
    }
    let payload = if *method == Method::GET {
        query.to_string()
    } else {
        String::from_utf8_lossy(body).to_string()
    };
    hmac_hex(&string_to_sign(ts, key, recv, &payload)) == sign
}

fn limit_headers(remaining: u64, reset_ms: i64) -> [(&'static str, String); 2] {
    [
        ("X-Bapi-Limit-Status", remaining.to_string()),
        ("X-Bapi-Limit-Reset-Timestamp", reset_ms.to_string()),
    ]
}

/// Bybit's documented per-UID, per-endpoint limits over a rolling second (default tier), by
/// path and category; `None` for public market data (IP limit only).
fn uid_limit(path: &str, category: &str) -> Option<u32> {
    let inverse = category == "inverse";
    Some(match path {
        "/v5/order/create" | "/v5/order/amend" | "/v5/order/cancel" => 10,
        "/v5/order/create-batch" => 10,
        "/v5/order/realtime" | "/v5/order/history" | "/v5/position/list" if inverse => 10,
        "/v5/order/realtime" | "/v5/order/history" | "/v5/position/list" => 50,
        "/v5/account/wallet-balance" | "/v5/account/info" => 50,
        "/v5/position/set-leverage" => 10,
        "/v5/account/set-margin-mode" => 5,
        _ => return None,
    })
}

/// The category a request names (query for GET, body for POST).
fn request_category(req: &Request) -> String {
    if req.method == Method::GET {
        req.params().get("category").cloned().unwrap_or_default()
    } else {
        req.json()
            .and_then(|b| {
                b.get("category")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .unwrap_or_default()
    }
}

fn answer(code: i64, msg: &str, result: Value) -> Response {
    answer_at(code, msg, result, now_ms())
}

/// An envelope whose `time` (the venue's clock) is `time_ms`.
fn answer_at(code: i64, msg: &str, result: Value, time_ms: i64) -> Response {
    let body = json!({"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {}, "time": time_ms});
    (StatusCode::OK, body.to_string()).into_response()
}

fn error(code: i64, msg: &str) -> Response {
    answer(code, msg, json!({}))
}

fn ok(result: Value) -> Response {
    answer(0, "OK", result)
}

impl Wire for Shared {
    /// A batch is one placement of all its client ids, joined with commas.
    fn placement(&self, req: &Request) -> Option<String> {
        let body = req.json().unwrap_or_default();
        match req.path.as_str() {
            "/v5/order/create" => Some(field(&body, "orderLinkId").unwrap_or("").to_string()),
            "/v5/order/create-batch" => Some(
                body["request"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|item| field(item, "orderLinkId").unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    }

    /// 600 requests per 5 s per IP, and per UID and endpoint in a rolling second; a batch
    /// counts once per order in its own bucket.
    fn limits(&self, req: &Request) -> Vec<Limit> {
        let mut out = vec![Limit::new("ip", 600, Duration::from_secs(5))];
        let Some(key) = req.header("x-bapi-api-key") else {
            return out;
        };
        let category = request_category(req);
        if let Some(count) = uid_limit(&req.path, &category) {
            let inverse = if category == "inverse" && !req.path.starts_with("/v5/order/c") {
                ":inverse"
            } else {
                ""
            };
            let cost = if req.path == "/v5/order/create-batch" {
                req.json()
                    .and_then(|b| b.get("request").and_then(Value::as_array).map(Vec::len))
                    .unwrap_or(1)
                    .max(1) as u32
            } else {
                1
            };
            out.push(
                Limit::new(
                    format!("uid:{key}{}{inverse}", req.path),
                    count,
                    Duration::from_secs(1),
                )
                .cost(cost),
            );
        }
        out
    }

    /// Over a UID limit: HTTP 200 with retCode 10006 and the reset time; over the IP limit:
    /// HTTP 403 "access too frequent".
    fn limit_refusal(&self, exceeded: &Exceeded) -> Response {
        if exceeded.limit.scope == "ip" {
            return (StatusCode::FORBIDDEN, "access too frequent").into_response();
        }
        let mut resp = error(10006, "Too many visits!");
        let reset = now_ms() + exceeded.retry_after.as_millis() as i64;
        let h = resp.headers_mut();
        h.insert("X-Bapi-Limit", exceeded.limit.count.into());
        for (k, v) in limit_headers(0, reset) {
            h.insert(k, v.parse().unwrap());
        }
        resp
    }

    /// `X-Bapi-Limit` (the tier's limit of the endpoint), `-Status` (remaining) and
    /// `-Reset-Timestamp` (ms; now unless exhausted) for the UID limit of a private endpoint.
    fn quota_headers(&self, quotas: &[Quota], answer: &mut Response) {
        let Some(q) = quotas.iter().find(|q| q.limit.scope.starts_with("uid:")) else {
            return;
        };
        let reset = if q.remaining == 0 {
            now_ms() + q.reset_in.as_millis() as i64
        } else {
            now_ms()
        };
        let h = answer.headers_mut();
        h.insert("X-Bapi-Limit", q.limit.count.into());
        for (k, v) in limit_headers(u64::from(q.remaining), reset) {
            h.insert(k, v.parse().unwrap());
        }
    }

    fn refuse_signature(&self, req: &Request) -> Option<Response> {
        // Public market data needs no signature, but a signature that is sent must be right.
        let public =
            req.path.starts_with("/v5/market/") && !req.headers.contains_key("x-bapi-sign");
        let ok = public || signature_ok(&req.headers, &req.method, &req.query, &req.body);
        (!ok).then(|| error(10004, "error sign! origin_string[...]"))
    }

    fn fault_frame(&self, fault: &Fault) -> Response {
        match fault {
            Fault::RateLimit { reset_secs } => {
                let mut resp = error(10006, "Too many visits!");
                for (k, v) in limit_headers(0, now_ms() + *reset_secs as i64 * 1000) {
                    resp.headers_mut().insert(k, v.parse().unwrap());
                }
                resp
            }
            Fault::AuthFail => error(10003, "API key is invalid."),
            Fault::Status(code) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "fault",
            )
                .into_response(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    fn route(&self, req: &Request, applied: Applied) -> Response {
        if req.method == Method::GET && !req.body.is_empty() {
            return (StatusCode::FORBIDDEN, "GET with a body").into_response();
        }
        let q: HashMap<String, String> = req.params().into_iter().collect();
        if req.method == Method::GET {
            get(self, &req.path, &q)
        } else {
            match req.json() {
                Some(b) => post(self, &req.path, &b, applied),
                None => error(10001, "request body is not JSON"),
            }
        }
    }
}

fn p<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn category_of(symbol: &str) -> &'static str {
    instrument(symbol).map(|i| i.category).unwrap_or("linear")
}

fn settle_of(symbol: &str) -> &'static str {
    instrument(symbol).map(|i| i.settle).unwrap_or("USDT")
}

/// `q` with the decimals of `symbol`'s quantity step, as Bybit writes quantities.
fn fmt_qty(symbol: &str, q: Decimal) -> String {
    let step = step_of(symbol).unwrap_or(Decimal::ONE);
    let mut v = q;
    v.rescale(step.normalize().scale());
    v.to_string()
}

/// A page of `rows` from the offset in `cursor`, with Bybit-style URL-encoded cursors.
fn paginate(rows: Vec<Value>, q: &HashMap<String, String>, max: usize) -> (Vec<Value>, String) {
    let limit = p(q, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(20)
        .clamp(1, max);
    let offset = p(q, "cursor")
        .and_then(|c| c.strip_prefix("offset%3D"))
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (offset + limit).min(rows.len());
    let page = rows.get(offset..end).unwrap_or(&[]).to_vec();
    let next = if end < rows.len() {
        format!("offset%3D{end}")
    } else {
        String::new()
    };
    (page, next)
}

fn get(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    let category = p(q, "category").unwrap_or("");
    match path {
        "/v5/market/instruments-info" => {
            let marks = s.ex.lock().marks.clone();
            // One symbol, or every listed symbol of the category (one page: the loopback
            // lists few), benchmark instruments included.
            let wanted = p(q, "symbol");
            let list: Vec<Value> = marks
                .keys()
                .filter(|sym| wanted.is_none_or(|x| x == sym.as_str()))
                .filter_map(|sym| instrument(sym).map(|i| (sym.clone(), i)))
                .filter(|(_, i)| i.category == category)
                .map(|(symbol, i)| {
                    json!({
                        "symbol": symbol, "contractType": if i.category == "linear" { "LinearPerpetual" } else { "InversePerpetual" },
                        "status": "Trading", "settleCoin": i.settle, "priceScale": "2",
                        "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
                        "priceFilter": {"minPrice": "0.10", "maxPrice": "1999999.80", "tickSize": i.tick},
                        "lotSizeFilter": {"maxOrderQty": i.max_mkt_qty, "minOrderQty": i.min_qty, "qtyStep": i.step,
                            "postOnlyMaxOrderQty": i.max_mkt_qty, "maxMktOrderQty": i.max_mkt_qty, "minNotionalValue": i.min_notional},
                    })
                })
                .collect();
            ok(json!({"category": category, "list": list, "nextPageCursor": ""}))
        }
        "/v5/market/tickers" => {
            // One symbol, or every symbol of the category.
            let symbol = p(q, "symbol");
            let marks = s.ex.lock().marks.clone();
            let list: Vec<Value> = marks
                .iter()
                .filter(|(sym, _)| symbol.is_none_or(|x| x == sym.as_str()))
                .filter(|(sym, _)| category_of(sym) == category)
                .map(|(sym, m)| json!({"symbol": sym, "markPrice": m.to_string(), "lastPrice": m.to_string()}))
                .collect();
            let lag = s.extra.lock().unwrap().price_lag_ms;
            answer_at(
                0,
                "OK",
                json!({"category": category, "list": list}),
                now_ms() - lag,
            )
        }
        "/v5/market/kline" => {
            let symbol = p(q, "symbol").unwrap_or("");
            let Some(mark) = s.ex.lock().marks.get(symbol).copied() else {
                return error(10001, "Not supported symbols");
            };
            let step_ms: i64 = match p(q, "interval") {
                Some("D") => 86_400_000,
                Some(m) => m.parse::<i64>().unwrap_or(1) * 60_000,
                None => 60_000,
            };
            let limit: i64 = p(q, "limit").and_then(|l| l.parse().ok()).unwrap_or(200);
            let last = now_ms() - now_ms() % step_ms;
            // Newest first, the newest still forming.
            let list: Vec<Value> = (0..limit)
                .map(|k| {
                    let m = mark.to_string();
                    json!([(last - k * step_ms).to_string(), m, m, m, m, "10", "1"])
                })
                .collect();
            ok(json!({"category": category, "symbol": symbol, "list": list}))
        }
        "/v5/account/wallet-balance" => {
            if p(q, "accountType") != Some("UNIFIED") {
                return error(10001, "accountType only support UNIFIED");
            }
            let equity = s.ex.lock().equity;
            ok(json!({"list": [{
                "accountType": "UNIFIED", "totalEquity": equity.to_string(),
                "totalWalletBalance": equity.to_string(), "totalAvailableBalance": equity.to_string(),
                "totalPerpUPL": "0", "coin": [{"coin": "USDT", "equity": equity.to_string(), "usdValue": equity.to_string()}],
            }]}))
        }
        "/v5/account/info" => {
            let mode = s.extra.lock().unwrap().margin_mode.clone();
            ok(json!({"marginMode": mode, "unifiedMarginStatus": 5, "isMasterTrader": false}))
        }
        "/v5/position/list" => position_list(s, q),
        "/v5/order/realtime" | "/v5/order/history" => order_list(s, path, q),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// Rows of one symbol: one-way has one row (`positionIdx` 0), hedge a long and a short leg.
fn position_rows(
    symbol: &str,
    net: Decimal,
    hedge: bool,
    all: bool,
    leverage: Decimal,
) -> Vec<Value> {
    let row = |idx: i64, qty: Decimal| {
        let side = if qty > Decimal::ZERO {
            "Buy"
        } else if qty < Decimal::ZERO {
            "Sell"
        } else {
            ""
        };
        json!({"positionIdx": idx, "symbol": symbol, "side": side, "size": fmt_qty(symbol, qty.abs()),
               "avgPrice": if qty.is_zero() { "0" } else { "60000" }, "positionStatus": "Normal", "leverage": leverage.to_string()})
    };
    let legs = if hedge {
        vec![(1, net.max(Decimal::ZERO)), (2, net.min(Decimal::ZERO))]
    } else {
        vec![(0, net)]
    };
    legs.into_iter()
        .filter(|(_, q)| all || !q.is_zero())
        .map(|(i, q)| row(i, q))
        .collect()
}

fn position_list(s: &Shared, q: &HashMap<String, String>) -> Response {
    let category = p(q, "category").unwrap_or("");
    let (symbol, settle) = (p(q, "symbol"), p(q, "settleCoin"));
    if category == "linear" && symbol.is_none() && settle.is_none() {
        return error(
            10001,
            "Missing some parameters that must be filled in, symbol or settleCoin",
        );
    }
    let hedge = s.extra.lock().unwrap().hedge;
    let (mut positions, leverage): (BTreeMap<String, Decimal>, BTreeMap<String, Decimal>) = {
        let st = s.ex.lock();
        (st.positions.clone(), st.leverage.clone())
    };
    if let Some(sym) = symbol {
        positions.entry(sym.to_string()).or_default();
    }
    let rows: Vec<Value> = positions
        .iter()
        .filter(|(sym, _)| category_of(sym) == category)
        .filter(|(sym, _)| symbol.is_none_or(|x| x == sym.as_str()))
        .filter(|(sym, _)| settle.is_none_or(|c| c == settle_of(sym)))
        // By symbol every row is listed; by settle coin only non-zero ones.
        .flat_map(|(sym, net)| {
            let lev = leverage.get(sym).copied().unwrap_or(DEFAULT_LEVERAGE);
            position_rows(
                sym,
                *net,
                hedge && category == "linear",
                symbol.is_some(),
                lev,
            )
        })
        .collect();
    let (list, next) = paginate(rows, q, 200);
    ok(json!({"category": category, "list": list, "nextPageCursor": next}))
}

fn order_row(o: &MockOrder, idx: i64) -> Value {
    let status = match o.state {
        OrderState::New => "New",
        OrderState::PartiallyFilled => "PartiallyFilled",
        OrderState::Filled => "Filled",
        OrderState::Cancelled => "Cancelled",
    };
    let open = matches!(o.state, OrderState::New | OrderState::PartiallyFilled);
    json!({
        "orderId": o.venue_id, "orderLinkId": o.client_id, "symbol": o.native,
        "side": if o.side == Side::Buy { "Buy" } else { "Sell" },
        "orderType": if o.price.is_some() { "Limit" } else { "Market" },
        "price": o.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
        "qty": fmt_qty(&o.native, o.qty),
        "leavesQty": fmt_qty(&o.native, if open { o.qty - o.filled } else { Decimal::ZERO }),
        "cumExecQty": fmt_qty(&o.native, o.filled),
        "avgPrice": o.avg_price.map(|p| p.to_string()).unwrap_or_default(),
        "orderStatus": status, "timeInForce": if o.price.is_some() { "GTC" } else { "IOC" },
        "reduceOnly": o.reduce_only, "positionIdx": idx, "rejectReason": "EC_NoError",
        "createdTime": now_ms().to_string(), "updatedTime": now_ms().to_string(),
    })
}

fn order_list(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    let category = p(q, "category").unwrap_or("");
    let (symbol, settle, link) = (p(q, "symbol"), p(q, "settleCoin"), p(q, "orderLinkId"));
    if category == "linear" && symbol.is_none() && settle.is_none() && link.is_none() {
        return error(
            10001,
            "Missing some parameters that must be filled in, symbol or settleCoin",
        );
    }
    let (idx, forgets) = {
        let extra = s.extra.lock().unwrap();
        (extra.position_idx.clone(), extra.realtime_forgets_closed)
    };
    let orders: Vec<MockOrder> = s.ex.lock().orders.values().cloned().collect();
    let rows: Vec<Value> = orders
        .iter()
        .filter(|o| category_of(&o.native) == category)
        .filter(|o| symbol.is_none_or(|x| x == o.native))
        .filter(|o| settle.is_none_or(|c| c == settle_of(&o.native)))
        .filter(|o| match link {
            Some(l) if forgets && path == "/v5/order/realtime" => {
                o.client_id == l && matches!(o.state, OrderState::New | OrderState::PartiallyFilled)
            }
            // By id, realtime and history both find closed orders too.
            Some(l) => o.client_id == l,
            None if path == "/v5/order/realtime" => {
                matches!(o.state, OrderState::New | OrderState::PartiallyFilled)
            }
            None => true,
        })
        .map(|o| order_row(o, idx.get(&o.client_id).copied().unwrap_or(0)))
        .collect();
    let (list, next) = paginate(rows, q, 50);
    ok(json!({"category": category, "list": list, "nextPageCursor": next}))
}

fn field<'a>(b: &'a Value, k: &str) -> Option<&'a str> {
    b.get(k).and_then(Value::as_str)
}

/// A quantity as Bybit checks it: a string on the step grid with no more decimals than the
/// step has.
fn wire_qty(symbol: &str, s: Option<&str>) -> Option<Decimal> {
    let s = s?;
    let step = step_of(symbol)?;
    let q: Decimal = s.parse().ok()?;
    let decimals = s.split_once('.').map(|(_, d)| d.len()).unwrap_or(0) as u32;
    (decimals <= step.normalize().scale() && (q % step).is_zero()).then_some(q)
}

fn post(s: &Shared, path: &str, b: &Value, applied: Applied) -> Response {
    let symbol = field(b, "symbol").unwrap_or("");
    if path == "/v5/order/create-batch" {
        return create_batch(s, b, applied);
    }
    if path != "/v5/account/set-margin-mode" && field(b, "category") != Some(category_of(symbol)) {
        return error(10001, "params error: category does not match the symbol");
    }
    match path {
        "/v5/order/create" => create(s, b, symbol, applied),
        "/v5/order/cancel" => match s.ex.cancel(field(b, "orderLinkId").unwrap_or("")) {
            Ok(o) => {
                push_order(s, &o);
                ok(json!({"orderId": o.venue_id, "orderLinkId": o.client_id}))
            }
            Err(_) => error(110001, "order not exists or too late to cancel"),
        },
        "/v5/order/amend" => {
            let qty = match b.get("qty") {
                None => None,
                Some(v) => match wire_qty(symbol, v.as_str()) {
                    Some(q) => Some(q),
                    None => return error(10001, "Qty invalid"),
                },
            };
            let price = field(b, "price").and_then(|p| p.parse::<Decimal>().ok());
            match s
                .ex
                .amend(field(b, "orderLinkId").unwrap_or(""), qty, price)
            {
                Ok(o) => {
                    push_order(s, &o);
                    ok(json!({"orderId": o.venue_id, "orderLinkId": o.client_id}))
                }
                Err(_) => error(110001, "order not exists or too late to replace"),
            }
        }
        "/v5/position/set-leverage" => {
            let (buy, sell) = (field(b, "buyLeverage"), field(b, "sellLeverage"));
            let Some(lev) = buy
                .filter(|_| buy == sell)
                .and_then(|l| l.parse::<Decimal>().ok())
            else {
                return error(
                    10001,
                    "buyLeverage must equal sellLeverage in one-way and cross",
                );
            };
            let mut st = s.ex.lock();
            if st.leverage.get(symbol) == Some(&lev) {
                return error(110043, "leverage not modified");
            }
            st.leverage.insert(symbol.to_string(), lev);
            ok(json!({}))
        }
        "/v5/account/set-margin-mode" => {
            let mode = field(b, "setMarginMode").unwrap_or("");
            if !["ISOLATED_MARGIN", "REGULAR_MARGIN", "PORTFOLIO_MARGIN"].contains(&mode) {
                return error(10001, "setMarginMode invalid");
            }
            let mut extra = s.extra.lock().unwrap();
            if extra.margin_mode == mode {
                return error(110026, "Cross/isolated margin mode is not modified");
            }
            extra.margin_mode = mode.to_string();
            s.ex.lock()
                .isolated
                .insert("__account__".into(), mode == "ISOLATED_MARGIN");
            ok(json!({"reasons": []}))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn create(s: &Shared, b: &Value, symbol: &str, applied: Applied) -> Response {
    match create_one(s, b, symbol, applied) {
        Ok(result) => ok(result),
        Err((code, msg)) => error(code, &msg),
    }
}

/// `POST /v5/order/create-batch`: up to 20 orders of the body's category, each placed as a
/// single create would be; per item an ack in `result.list` and a code in `retExtInfo.list`.
fn create_batch(s: &Shared, b: &Value, applied: Applied) -> Response {
    let category = field(b, "category").unwrap_or("");
    if !["linear", "inverse"].contains(&category) {
        return error(
            10001,
            "params error: category only support linear or inverse",
        );
    }
    let Some(items) = b["request"].as_array().filter(|r| !r.is_empty()) else {
        return error(10001, "params error: request is empty");
    };
    if items.len() > 20 {
        return error(10001, "params error: batch exceeds 20 orders");
    }
    let mut acks = Vec::new();
    let mut codes = Vec::new();
    for item in items {
        let symbol = field(item, "symbol").unwrap_or("");
        let outcome = if category_of(symbol) != category {
            Err((
                10001,
                "params error: category does not match the symbol".to_string(),
            ))
        } else {
            create_one(s, item, symbol, applied)
        };
        match outcome {
            Ok(result) => {
                acks.push(json!({"category": category, "symbol": symbol,
                    "orderId": result["orderId"], "orderLinkId": result["orderLinkId"],
                    "createAt": now_ms().to_string()}));
                codes.push(json!({"code": 0, "msg": "OK"}));
            }
            Err((code, msg)) => {
                acks.push(json!({"category": "", "symbol": "", "orderId": "", "orderLinkId": "", "createAt": ""}));
                codes.push(json!({"code": code, "msg": msg}));
            }
        }
    }
    let body = json!({"retCode": 0, "retMsg": "OK", "result": {"list": acks},
                      "retExtInfo": {"list": codes}, "time": now_ms()});
    (StatusCode::OK, body.to_string()).into_response()
}

/// One order as `order/create` (or a batch item) places it: its result, or (retCode, msg).
fn create_one(
    s: &Shared,
    b: &Value,
    symbol: &str,
    applied: Applied,
) -> Result<Value, (i64, String)> {
    let error = |code: i64, msg: &str| Err((code, msg.to_string()));
    let ok = Ok;
    let side = match field(b, "side") {
        Some("Buy") => Side::Buy,
        Some("Sell") => Side::Sell,
        _ => return error(10001, "side invalid"),
    };
    let Some(qty) = wire_qty(symbol, field(b, "qty")) else {
        return error(10001, "Qty invalid");
    };
    let reduce_only = b
        .get("reduceOnly")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let link = field(b, "orderLinkId").unwrap_or("");
    if link.len() > 36 {
        return error(10001, "orderLinkId is too long");
    }
    let limit_price = match field(b, "orderType") {
        Some("Market") => None,
        Some("Limit") => match field(b, "price").and_then(|p| p.parse::<Decimal>().ok()) {
            Some(p) => Some(p),
            None => return error(10001, "price invalid"),
        },
        _ => return error(10001, "orderType invalid"),
    };
    if !reduce_only && s.extra.lock().unwrap().no_margin_for.contains(symbol) {
        return error(110007, "ab not enough for new order");
    }
    if !reduce_only && s.extra.lock().unwrap().trading_disabled {
        return error(10027, "Transactions are banned");
    }
    let idx = b.get("positionIdx").and_then(Value::as_i64).unwrap_or(0);
    let hedge = s.extra.lock().unwrap().hedge && category_of(symbol) == "linear";
    let expected = match (hedge, side, reduce_only) {
        (false, _, _) => 0,
        (true, Side::Buy, false) | (true, Side::Sell, true) => 1,
        (true, Side::Sell, false) | (true, Side::Buy, true) => 2,
    };
    if idx != expected {
        return error(10001, "position idx not match position mode");
    }
    match s.ex.place(Place {
        native: symbol,
        side,
        qty,
        client_id: link,
        reduce_only,
        limit_price,
        partial: applied.partial,
        hold: applied.hold,
        hide: applied.hide,
    }) {
        Ok(o) => {
            s.extra
                .lock()
                .unwrap()
                .position_idx
                .insert(o.client_id.clone(), idx);
            if !applied.hide {
                push_order(s, &o);
            }
            ok(json!({"orderId": o.venue_id, "orderLinkId": o.client_id}))
        }
        Err(Reject::Duplicate) => error(110072, "OrderLinkedID is duplicate"),
        Err(Reject::ReduceOnly) => error(110017, "Reduce-only rule not satisfied"),
        Err(Reject::UnknownSymbol) => error(10001, "params error: symbol invalid"),
        Err(other) => error(10001, &format!("order refused: {other:?}")),
    }
}

/// The private pushes an order change causes: the order, its fill, the position.
fn push_order(s: &Shared, o: &MockOrder) {
    let idx = s
        .extra
        .lock()
        .unwrap()
        .position_idx
        .get(&o.client_id)
        .copied()
        .unwrap_or(0);
    let msg = |topic: &'static str, data: Vec<Value>| {
        Push {
        topic,
        text: json!({"id": format!("{topic}-{}", now_ms()), "topic": topic, "creationTime": now_ms(), "data": data})
            .to_string(),
    }
    };
    let _ = s.push.send(msg("order", vec![order_row(o, idx)]));
    if !o.filled.is_zero() {
        let exec = json!({
            "category": category_of(&o.native), "symbol": o.native, "orderId": o.venue_id,
            "orderLinkId": o.client_id, "side": if o.side == Side::Buy { "Buy" } else { "Sell" },
            "execPrice": o.avg_price.unwrap_or_default().to_string(), "execQty": fmt_qty(&o.native, o.filled),
            "execType": "Trade", "execTime": now_ms().to_string(), "execId": format!("exec-{}", o.venue_id),
        });
        let _ = s.push.send(msg("execution", vec![exec]));
    }
    let net = s.ex.position(&o.native);
    let hedge = s.extra.lock().unwrap().hedge && category_of(&o.native) == "linear";
    let lev =
        s.ex.lock()
            .leverage
            .get(&o.native)
            .copied()
            .unwrap_or(DEFAULT_LEVERAGE);
    let _ = s.push.send(msg(
        "position",
        position_rows(&o.native, net, hedge, true, lev),
    ));
}

/// The private WebSocket on its own listener and runtime thread.
fn serve_ws(shared: Shared) -> SocketAddr {
    crate::common::exchange::accept_in_background(move |tcp| ws_session(tcp, shared.clone()))
}

fn auth_ok(args: &Value) -> bool {
    let expires = match &args[1] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    };
    let Some(expires) = expires else {
        return false;
    };
    args[0] == KEY
        && expires > now_ms()
        && args[2].as_str() == Some(hmac_hex(&ws_string_to_sign(&expires.to_string())).as_str())
}

async fn ws_session(tcp: tokio::net::TcpStream, s: Shared) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let me = {
        let mut st = s.ex.lock();
        st.ws_sessions.push(Vec::new());
        st.ws_sessions.len() - 1
    };
    let conn_id = format!("conn-{me}");
    let mut pushes = s.push.subscribe();
    let mut authed = false;
    let mut topics: HashSet<String> = HashSet::new();
    let mut watch = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                // Recorded before any answer, so that an ack implies the frame is in the log.
                s.ex.lock().ws_sessions[me].push(text.clone());
                let Ok(msg) = serde_json::from_str::<Value>(&text) else { continue };
                let req_id = msg["req_id"].clone();
                let reply = match msg["op"].as_str() {
                    Some("auth") => {
                        authed = auth_ok(&msg["args"]);
                        s.ex.lock().ws_logins += usize::from(authed);
                        json!({"success": authed, "ret_msg": if authed { "" } else { "Invalid sign" }, "op": "auth", "conn_id": conn_id, "req_id": req_id})
                    }
                    Some("subscribe") if authed => {
                        s.ex.lock().ws_subscriptions += 1;
                        for t in msg["args"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                            topics.insert(t.to_string());
                        }
                        json!({"success": true, "ret_msg": "", "op": "subscribe", "conn_id": conn_id, "req_id": req_id})
                    }
                    Some("subscribe") => json!({"success": false, "ret_msg": "Request not authorized", "op": "subscribe", "conn_id": conn_id, "req_id": req_id}),
                    Some("ping") => json!({"req_id": req_id, "op": "pong", "args": [now_ms().to_string()], "conn_id": conn_id}),
                    _ => continue,
                };
                if ws.send(Message::Text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            push = pushes.recv() => {
                let Ok(push) = push else { continue };
                if authed && topics.contains(push.topic) && ws.send(Message::Text(push.text)).await.is_err() {
                    return;
                }
            }
            _ = watch.tick() => {
                // A later `["__drop__"]` entry drops this connection without a close frame.
                let drop_now = s.ex.lock().ws_sessions.iter().skip(me + 1).any(|x| x.len() == 1 && x[0] == "__drop__");
                if drop_now {
                    return;
                }
            }
        }
    }
}
