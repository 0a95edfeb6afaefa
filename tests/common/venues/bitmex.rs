//! A loopback BitMEX: REST v1 routes and the realtime WebSocket, speaking BitMEX JSON on top of
//! `MockExchange` (positions in contracts). Signatures are verified with an HMAC computed here
//! (hmac/sha2 directly, not the crate's signer), expired `api-expires` are refused, every
//! request is recorded and injected faults are honoured. Instrument rows come from the JSON
//! fixtures in tests/fixtures/bitmex/, priced at the exchange's marks.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit, Quota};
use crate::common::loopback::{self, Applied, Request, Wire};
use axum::body::Body;
use axum::http::{HeaderMap, Method, Response};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::broadcast;

mod ws;

pub const KEY: &str = "loopback-bitmex-key";
pub const SECRET: &str = "loopback-bitmex-secret";

const INSTRUMENTS: [&str; 3] = [
    include_str!("../../fixtures/bitmex/instrument_xbtusdt.json"),
    include_str!("../../fixtures/bitmex/instrument_xbtusd.json"),
    include_str!("../../fixtures/bitmex/instrument_ethusd.json"),
];

pub struct App {
    pub exchange: MockExchange,
    /// Instrument rows by symbol (fixtures; `markPrice` is replaced by the exchange's mark).
    instruments: BTreeMap<String, Value>,
    /// XBt margin (satoshis) next to the exchange's equity, which is served as USDt.
    pub xbt_sats: Mutex<Decimal>,
    /// Table frames for connected WebSocket sessions.
    frames: broadcast::Sender<String>,
    /// Instrument rows (REST and stream) are dated this many ms ago (a stale-price fault).
    pub price_lag_ms: std::sync::atomic::AtomicI64,
}

pub struct BitmexServer {
    pub app: Arc<App>,
    pub rest_url: String,
    pub ws_url: String,
}

impl BitmexServer {
    pub fn exchange(&self) -> &MockExchange {
        &self.app.exchange
    }

    pub fn set_xbt_margin(&self, sats: Decimal) {
        *self.app.xbt_sats.lock().unwrap() = sats;
    }

    pub fn credential(&self) -> trade_engine::config::Credential {
        trade_engine::config::Credential {
            api_key: Some(trade_engine::config::Secret::new(KEY)),
            api_secret: Some(trade_engine::config::Secret::new(SECRET)),
            ..Default::default()
        }
    }
}

/// Starts the REST server and the WebSocket server on loopback, each on its own thread.
pub fn start(exchange: MockExchange) -> BitmexServer {
    let mut instruments = BTreeMap::new();
    for text in INSTRUMENTS {
        let rows: Vec<Value> = serde_json::from_str(text).expect("instrument fixture");
        for row in rows {
            let symbol = row["symbol"].as_str().unwrap_or_default().to_string();
            instruments.insert(symbol, row);
        }
    }
    // The benchmark's many symbols (`BENCH<n>USDT`, any that has a mark): linear, like XBTUSDT.
    let bench: Vec<String> = exchange
        .lock()
        .marks
        .keys()
        .filter(|s| s.starts_with("BENCH") && s.ends_with("USDT"))
        .cloned()
        .collect();
    if let Some(model) = instruments.get("XBTUSDT").cloned() {
        for symbol in bench {
            let mut row = model.clone();
            let root = symbol.trim_end_matches("USDT").to_string();
            row["symbol"] = json!(symbol);
            for field in ["rootSymbol", "underlying", "positionCurrency"] {
                row[field] = json!(root);
            }
            instruments.insert(symbol, row);
        }
    }
    {
        let mut st = exchange.lock();
        for (symbol, row) in &instruments {
            if let Some(lot) = dec(&row["lotSize"]) {
                st.lots.insert(symbol.clone(), lot);
            }
        }
    }
    let (frames, _) = broadcast::channel(1024);
    let app = Arc::new(App {
        exchange,
        instruments,
        xbt_sats: Mutex::new(Decimal::ZERO),
        frames,
        price_lag_ms: std::sync::atomic::AtomicI64::new(0),
    });
    let rest = loopback::serve(app.exchange.clone(), app.clone());
    let ws = ws::serve(app.clone());
    BitmexServer {
        app,
        rest_url: format!("http://{rest}"),
        ws_url: format!("ws://{ws}/realtime"),
    }
}

// ---------------------------------------------------------------- helpers

/// The routes of BitMEX's second, per-second layer.
fn is_order_route(method: &Method, path: &str) -> bool {
    match path {
        "/api/v1/order" => matches!(*method, Method::POST | Method::PUT | Method::DELETE),
        "/api/v1/order/all" => *method == Method::DELETE,
        "/api/v1/position/leverage"
        | "/api/v1/position/isolate"
        | "/api/v1/position/transferMargin" => *method == Method::POST,
        _ => false,
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn hmac_hex(message: &str) -> String {
    loopback::hmac_sha256_hex(SECRET, message)
}

/// What the realtime API's `authKeyExpires` signs.
pub fn ws_string_to_sign(expires: &str) -> String {
    format!("GET/realtime{expires}")
}

/// What BitMEX signs (checked against the shared vectors in tests/signing_vectors.rs).
pub fn string_to_sign(method: &str, path_and_query: &str, expires: &str, body: &str) -> String {
    format!("{method}{path_and_query}{expires}{body}")
}

/// A JSON number with the decimal's digits, as BitMEX sends money.
fn n(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

fn dec(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(x) => Decimal::from_str(&x.to_string()).ok(),
        Value::String(s) => Decimal::from_str(s).ok(),
        _ => None,
    }
}

fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn reply(status: u16, body: Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

fn error(status: u16, message: &str, name: &str) -> Response<Body> {
    reply(status, json!({"error": {"message": message, "name": name}}))
}

fn side_str(side: Side) -> &'static str {
    match side {
        Side::Buy => "Buy",
        Side::Sell => "Sell",
    }
}

fn order_row(o: &MockOrder) -> Value {
    let status = match o.state {
        OrderState::New => "New",
        OrderState::PartiallyFilled => "PartiallyFilled",
        OrderState::Filled => "Filled",
        OrderState::Cancelled => "Canceled",
    };
    let leaves = match o.state {
        OrderState::New | OrderState::PartiallyFilled => o.qty - o.filled,
        _ => Decimal::ZERO,
    };
    json!({
        "orderID": o.venue_id, "clOrdID": o.client_id, "account": 1, "symbol": o.native,
        "side": side_str(o.side), "orderQty": n(o.qty),
        "price": o.price.or(o.avg_price).map(n).unwrap_or(Value::Null),
        "ordType": if o.price.is_some() { "Limit" } else { "Market" },
        "timeInForce": if o.price.is_some() { "GoodTillCancel" } else { "ImmediateOrCancel" },
        "execInst": if o.reduce_only { "ReduceOnly" } else { "" },
        "ordStatus": status, "leavesQty": n(leaves), "cumQty": n(o.filled),
        "avgPx": o.avg_price.map(n).unwrap_or(Value::Null),
        "text": "Submitted via API.", "transactTime": now_iso(), "timestamp": now_iso(),
    })
}

impl App {
    fn instrument_row(&self, symbol: &str) -> Option<Value> {
        let mark = self.exchange.lock().marks.get(symbol).copied()?;
        let mut row = self.instruments.get(symbol)?.clone();
        row["markPrice"] = n(mark);
        row["fairPrice"] = n(mark);
        let lag = self.price_lag_ms.load(std::sync::atomic::Ordering::Relaxed);
        row["timestamp"] = json!((chrono::Utc::now() - chrono::Duration::milliseconds(lag))
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        Some(row)
    }

    fn instrument_rows(&self) -> Vec<Value> {
        let symbols: Vec<String> = self.instruments.keys().cloned().collect();
        symbols
            .iter()
            .filter_map(|s| self.instrument_row(s))
            .collect()
    }

    fn position_row(&self, symbol: &str) -> Value {
        let s = self.exchange.lock();
        let qty = s.positions.get(symbol).copied().unwrap_or_default();
        let isolated = s.isolated.get(symbol).copied().unwrap_or(false);
        let leverage = s
            .leverage
            .get(symbol)
            .copied()
            .unwrap_or(Decimal::ONE_HUNDRED);
        let mark = s.marks.get(symbol).copied().unwrap_or_default();
        json!({
            "account": 1, "symbol": symbol, "currentQty": n(qty), "isOpen": !qty.is_zero(),
            "avgEntryPrice": if qty.is_zero() { Value::Null } else { n(mark) },
            "markPrice": n(mark), "crossMargin": !isolated, "leverage": n(leverage),
            "timestamp": now_iso(),
        })
    }

    fn position_rows(&self) -> Vec<Value> {
        let symbols: Vec<String> = self.exchange.lock().positions.keys().cloned().collect();
        symbols.iter().map(|s| self.position_row(s)).collect()
    }

    fn margin_rows(&self) -> Vec<Value> {
        let equity = self.exchange.lock().equity;
        let sats = *self.xbt_sats.lock().unwrap();
        let usdt = (equity * Decimal::from(1_000_000)).trunc();
        vec![
            json!({"account": 1, "currency": "XBt", "walletBalance": n(sats), "marginBalance": n(sats),
                   "availableMargin": n(sats), "timestamp": now_iso()}),
            json!({"account": 1, "currency": "USDt", "walletBalance": n(usdt), "marginBalance": n(usdt),
                   "availableMargin": n(usdt), "timestamp": now_iso()}),
        ]
    }

    pub fn push(&self, table: &str, action: &str, data: Vec<Value>) {
        let frame = json!({"table": table, "action": action, "data": data}).to_string();
        let _ = self.frames.send(frame);
    }

    /// Dates instrument rows `lag_ms` in the past, and pushes them to the streams as BitMEX
    /// would push an instrument update.
    pub fn set_price_lag(&self, lag_ms: i64) {
        self.price_lag_ms
            .store(lag_ms, std::sync::atomic::Ordering::Relaxed);
        let rows = self.instrument_rows();
        self.push("instrument", "update", rows);
    }

    /// What the realtime API would push after an order changed.
    fn push_order(&self, o: &MockOrder, action: &str) {
        self.push("order", action, vec![order_row(o)]);
        if !o.filled.is_zero() && action == "insert" {
            self.push(
                "execution",
                "insert",
                vec![json!({
                    "execID": format!("exec-{}", o.venue_id), "orderID": o.venue_id,
                    "clOrdID": o.client_id, "symbol": o.native, "side": side_str(o.side),
                    "execType": "Trade", "lastQty": n(o.filled),
                    "lastPx": o.avg_price.map(n).unwrap_or(Value::Null),
                    "ordStatus": order_row(o)["ordStatus"], "transactTime": now_iso(),
                })],
            );
            self.push("position", "update", vec![self.position_row(&o.native)]);
        }
    }
}

// ---------------------------------------------------------------- REST

/// `None` when the request is signed with our key over exactly what arrived; otherwise the
/// answer BitMEX gives.
fn signature_problem(
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    body: &str,
) -> Option<Response<Body>> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if get("api-key") != KEY {
        return Some(error(401, "Invalid API Key.", "HTTPError"));
    }
    let expires: u64 = get("api-expires").parse().unwrap_or(0);
    if expires <= unix_now() {
        return Some(error(
            400,
            &format!(
                "This request has expired - `expires` is in the past. Current time: {}",
                unix_now()
            ),
            "HTTPError",
        ));
    }
    let expected = hmac_hex(&string_to_sign(
        method.as_str(),
        path_and_query,
        &expires.to_string(),
        body,
    ));
    if get("api-signature") != expected {
        return Some(error(401, "Signature not valid.", "HTTPError"));
    }
    None
}

impl Wire for App {
    fn placement(&self, req: &Request) -> Option<String> {
        (req.method == Method::POST && req.path == "/api/v1/order").then(|| {
            let body = req.json().unwrap_or_default();
            body["clOrdID"].as_str().unwrap_or("").to_string()
        })
    }

    /// BitMEX counts per account (API key): 120 requests a minute on every route (a token
    /// bucket refilled at 2/s), and 10 in a second on the order routes.
    fn limits(&self, req: &Request) -> Vec<Limit> {
        let key = req.header("api-key").unwrap_or("anonymous");
        let mut out =
            vec![Limit::new(format!("key:{key}"), 120, Duration::from_secs(60)).refilled()];
        if is_order_route(&req.method, &req.path) {
            out.push(Limit::new(
                format!("key:{key}/order"),
                10,
                Duration::from_secs(1),
            ));
        }
        out
    }

    /// BitMEX's 429: the error frame, `Retry-After`, and the quota headers at zero.
    fn limit_refusal(&self, exceeded: &Exceeded) -> Response<Body> {
        let secs = exceeded.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        let mut resp = error(
            429,
            &format!("Rate limit exceeded, retry in {secs} seconds."),
            "RateLimitError",
        );
        let h = resp.headers_mut();
        h.insert("retry-after", secs.into());
        if exceeded.limit.window == Duration::from_secs(1) {
            h.insert("x-ratelimit-limit-1s", exceeded.limit.count.into());
            h.insert("x-ratelimit-remaining-1s", 0.into());
        } else {
            h.insert("x-ratelimit-limit", exceeded.limit.count.into());
            h.insert("x-ratelimit-remaining", 0.into());
            h.insert("x-ratelimit-reset", (unix_now() + secs).into());
        }
        resp
    }

    /// `x-ratelimit-limit`/`-remaining`/`-reset` (UNIX seconds) on every answer, and the
    /// `-1s` pair on the order routes.
    fn quota_headers(&self, quotas: &[Quota], answer: &mut Response<Body>) {
        let h = answer.headers_mut();
        for q in quotas {
            if q.limit.window == Duration::from_secs(1) {
                h.insert("x-ratelimit-limit-1s", q.limit.count.into());
                h.insert("x-ratelimit-remaining-1s", q.remaining.into());
            } else {
                let reset = unix_now() + q.reset_in.as_secs_f64().ceil() as u64;
                h.insert("x-ratelimit-limit", q.limit.count.into());
                h.insert("x-ratelimit-remaining", q.remaining.into());
                h.insert("x-ratelimit-reset", reset.into());
            }
        }
    }

    fn refuse_signature(&self, req: &Request) -> Option<Response<Body>> {
        signature_problem(&req.method, &req.path_and_query, &req.headers, &req.text())
    }

    fn fault_frame(&self, fault: &Fault) -> Response<Body> {
        match fault {
            Fault::RateLimit { reset_secs } => {
                let mut resp = error(
                    429,
                    &format!("Rate limit exceeded, retry in {reset_secs} seconds."),
                    "RateLimitError",
                );
                let h = resp.headers_mut();
                h.insert("x-ratelimit-remaining", 0.into());
                h.insert("x-ratelimit-reset", (unix_now() + reset_secs).into());
                resp
            }
            Fault::AuthFail => error(401, "Invalid API Key.", "HTTPError"),
            Fault::Status(code) => error(
                *code,
                "The system is currently overloaded. Please try again later.",
                "HTTPError",
            ),
            other => panic!("not an answer: {other:?}"),
        }
    }

    fn route(&self, req: &Request, applied: Applied) -> Response<Body> {
        let app = self;
        let query = req.params();
        let json_body: Value = req.json().unwrap_or(Value::Null);
        match (req.method.clone(), req.path.as_str()) {
            (Method::GET, "/api/v1/instrument") => {
                let symbol = query.get("symbol").cloned().unwrap_or_default();
                reply(
                    200,
                    Value::Array(app.instrument_row(&symbol).into_iter().collect()),
                )
            }
            (Method::GET, "/api/v1/user/margin") => reply(200, Value::Array(app.margin_rows())),
            (Method::GET, "/api/v1/position") => reply(200, Value::Array(app.position_rows())),
            (Method::GET, "/api/v1/order") => list_orders(app, &query),
            (Method::POST, "/api/v1/order") => place(app, &json_body, applied),
            (Method::DELETE, "/api/v1/order") => cancel(app, &json_body),
            (Method::PUT, "/api/v1/order") => amend(app, &json_body),
            (Method::POST, "/api/v1/position/leverage") => {
                let symbol = json_body["symbol"].as_str().unwrap_or_default().to_string();
                let leverage = dec(&json_body["leverage"]).unwrap_or_default();
                {
                    let mut s = app.exchange.lock();
                    // BitMEX: 0.01–100 is isolated at that leverage, 0 is cross.
                    s.isolated.insert(symbol.clone(), !leverage.is_zero());
                    s.leverage.insert(symbol.clone(), leverage);
                }
                reply(200, app.position_row(&symbol))
            }
            (Method::POST, "/api/v1/position/isolate") => {
                let symbol = json_body["symbol"].as_str().unwrap_or_default().to_string();
                let enabled = json_body["enabled"].as_bool().unwrap_or(true);
                app.exchange.lock().isolated.insert(symbol.clone(), enabled);
                reply(200, app.position_row(&symbol))
            }
            (Method::GET, "/api/v1/trade/bucketed") => trade_bins(app, &query),
            _ => error(404, "Not Found", "HTTPError"),
        }
    }
}

fn list_orders(app: &App, query: &BTreeMap<String, String>) -> Response<Body> {
    let filter: Value = query
        .get("filter")
        .and_then(|f| serde_json::from_str(f).ok())
        .unwrap_or(Value::Null);
    let symbol = query.get("symbol");
    let orders: Vec<MockOrder> = if filter["open"] == true {
        app.exchange.open_orders()
    } else if let Some(cid) = filter["clOrdID"].as_str() {
        app.exchange.order(cid).into_iter().collect()
    } else {
        app.exchange.lock().orders.values().cloned().collect()
    };
    let rows: Vec<Value> = orders
        .iter()
        .filter(|o| symbol.is_none_or(|s| *s == o.native))
        .map(order_row)
        .collect();
    reply(200, Value::Array(rows))
}

fn place(app: &App, body: &Value, applied: Applied) -> Response<Body> {
    let native = body["symbol"].as_str().unwrap_or_default();
    let side = match body["side"].as_str() {
        Some("Buy") => Side::Buy,
        Some("Sell") => Side::Sell,
        _ => return error(400, "Invalid side", "ValidationError"),
    };
    let Some(qty) = dec(&body["orderQty"]) else {
        return error(400, "Invalid orderQty", "ValidationError");
    };
    let Some(inst) = app.instruments.get(native) else {
        return error(400, "Invalid symbol", "ValidationError");
    };
    let lot = dec(&inst["lotSize"]).unwrap_or(Decimal::ONE);
    let max = dec(&inst["maxOrderQty"]).unwrap_or(Decimal::MAX);
    if qty <= Decimal::ZERO || !(qty % lot).is_zero() || qty > max {
        return error(400, "Invalid orderQty", "ValidationError");
    }
    let limit_price = match body["ordType"].as_str() {
        Some("Limit") => match dec(&body["price"]) {
            Some(p) => Some(p),
            None => return error(400, "Invalid price", "ValidationError"),
        },
        _ => None,
    };
    let reduce_only = body["execInst"]
        .as_str()
        .unwrap_or("")
        .split(',')
        .any(|i| i == "ReduceOnly" || i == "Close");
    let client_id = body["clOrdID"].as_str().unwrap_or("");
    let result = app.exchange.place(Place {
        native,
        side,
        qty,
        client_id,
        reduce_only,
        limit_price,
        partial: applied.partial,
        hold: applied.hold,
        hide: applied.hide,
    });
    match result {
        Ok(order) => {
            if !applied.hide {
                app.push_order(&order, "insert");
            }
            reply(200, order_row(&order))
        }
        Err(Reject::Duplicate) => error(400, "Duplicate clOrdID", "ValidationError"),
        Err(Reject::ReduceOnly) => {
            // BitMEX parses the order and cancels it: HTTP 200 with the reason in `text`.
            let position = app.exchange.position(native);
            reply(
                200,
                json!({
                    "orderID": "00000000-0000-0000-0000-00000000dead", "clOrdID": client_id,
                    "symbol": native, "side": side_str(side), "orderQty": n(qty),
                    "ordType": if limit_price.is_some() { "Limit" } else { "Market" },
                    "execInst": "ReduceOnly", "ordStatus": "Canceled", "leavesQty": 0, "cumQty": 0,
                    "avgPx": null,
                    "text": format!("Canceled: Order had execInst of ReduceOnly and side of {}, but current position is {position}", side_str(side)),
                    "transactTime": now_iso(), "timestamp": now_iso(),
                }),
            )
        }
        Err(Reject::InvalidQty) => error(400, "Invalid orderQty", "ValidationError"),
        Err(other) => error(400, &format!("Invalid order: {other:?}"), "ValidationError"),
    }
}

fn cancel(app: &App, body: &Value) -> Response<Body> {
    let cid = body["clOrdID"].as_str().unwrap_or_default();
    match app.exchange.cancel(cid) {
        Ok(order) => {
            app.push_order(&order, "update");
            reply(200, json!([order_row(&order)]))
        }
        Err(Reject::Finished) => {
            let mut row = app
                .exchange
                .order(cid)
                .map(|o| order_row(&o))
                .unwrap_or_default();
            let state = row["ordStatus"].as_str().unwrap_or("").to_string();
            row["error"] = json!(format!(
                "Unable to cancel order due to existing state: {state}"
            ));
            reply(200, json!([row]))
        }
        Err(_) => error(404, "Not Found", "HTTPError"),
    }
}

fn amend(app: &App, body: &Value) -> Response<Body> {
    let cid = body["origClOrdID"].as_str().unwrap_or_default();
    match app
        .exchange
        .amend(cid, dec(&body["orderQty"]), dec(&body["price"]))
    {
        Ok(order) => {
            app.push_order(&order, "update");
            reply(200, order_row(&order))
        }
        Err(Reject::Finished) => error(400, "Invalid ordStatus", "ValidationError"),
        Err(_) => error(400, "Invalid origClOrdID", "ValidationError"),
    }
}

/// Flat bins at the mark, newest first (`reverse=true`), stamped with their close time.
fn trade_bins(app: &App, query: &BTreeMap<String, String>) -> Response<Body> {
    let symbol = query.get("symbol").cloned().unwrap_or_default();
    let Some(mark) = app.exchange.lock().marks.get(&symbol).copied() else {
        return reply(200, json!([]));
    };
    let step: i64 = match query.get("binSize").map(String::as_str) {
        Some("5m") => 300,
        Some("1h") => 3600,
        Some("1d") => 86_400,
        _ => 60,
    };
    let count: i64 = query
        .get("count")
        .and_then(|c| c.parse().ok())
        .unwrap_or(100);
    let now = chrono::Utc::now().timestamp();
    let last_close = now - now.rem_euclid(step);
    let rows: Vec<Value> = (0..count)
        .filter_map(|k| chrono::DateTime::from_timestamp(last_close - k * step, 0))
        .map(|t| {
            json!({"timestamp": t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                   "symbol": symbol, "open": n(mark), "high": n(mark), "low": n(mark),
                   "close": n(mark), "trades": 0, "volume": 0})
        })
        .collect();
    reply(200, Value::Array(rows))
}
