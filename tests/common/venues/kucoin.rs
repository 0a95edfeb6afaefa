//! A loopback KuCoin Futures server on top of `MockExchange`: REST (axum) and the private
//! WebSocket (tokio-tungstenite on its own listener). It checks every signature and the
//! passphrase header with its own HMAC and base64 (not the crate's signer), hands out one-use
//! stream tokens from `bullet-private`, counts the documented weights against the 2,000 per
//! 30 s pool with quota headers on every private answer, and keeps KuCoin's quirks: sizes in
//! whole lots, JSON numbers next to numeric strings, business errors inside HTTP 200, the
//! symbol's margin mode checked on every order, isolated leverage fixed while a position is
//! open. Positions in the core are in lots.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit, Quota};
use crate::common::loopback::{self, Applied, Request, Wire};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

pub const KEY: &str = "loopback-kucoin-key";
pub const SECRET: &str = "loopback-kucoin-secret";
pub const PASSPHRASE: &str = "loopback-kucoin-passphrase";

/// The futures pool per UID and the public pool per IP (docs-new "Rate Limit", VIP 0).
pub const POOL: u32 = 2_000;
pub const WINDOW: Duration = Duration::from_secs(30);
pub const FUTURES_SCOPE: &str = "uid:loopback-kucoin-key/futures";

/// One contract as `GET /api/v1/contracts/{symbol}` spells it.
struct Contract {
    symbol: &'static str,
    multiplier: Decimal,
    tick: Decimal,
}

/// XBTUSDTM's 0.001 BTC a lot (the classic 100× error), ETHUSDTM's 0.01 ETH and XRPUSDTM's
/// 10 XRP a lot (a multiplier above one).
const CONTRACTS: [Contract; 3] = [
    Contract {
        symbol: "XBTUSDTM",
        multiplier: dec!(0.001),
        tick: dec!(0.1),
    },
    Contract {
        symbol: "ETHUSDTM",
        multiplier: dec!(0.01),
        tick: dec!(0.01),
    },
    Contract {
        symbol: "XRPUSDTM",
        multiplier: dec!(10),
        tick: dec!(0.0001),
    },
];

/// The benchmark's many symbols (`BENCH<n>USDTM`, any that has a mark): one coin a lot.
const BENCH_CONTRACT: Contract = Contract {
    symbol: "BENCH",
    multiplier: dec!(1),
    tick: dec!(0.001),
};

fn contract(symbol: &str) -> Option<&'static Contract> {
    CONTRACTS.iter().find(|c| c.symbol == symbol).or_else(|| {
        (symbol.starts_with(BENCH_CONTRACT.symbol) && symbol.ends_with("USDTM"))
            .then_some(&BENCH_CONTRACT)
    })
}

/// KuCoin's spelling of a unified symbol: BTC is XBT, and USDT-margined perpetuals end in
/// `M` (`BTCUSDT` → `XBTUSDTM`).
pub fn native_of(unified: &str) -> String {
    let (base, quote) = match unified.strip_suffix("USDT") {
        Some(base) => (base, "USDT"),
        None => (unified.strip_suffix("USD").unwrap_or(unified), "USD"),
    };
    let base = if base == "BTC" { "XBT" } else { base };
    format!("{base}{quote}M")
}

/// Coins of the base asset in one lot of `symbol`.
pub fn multiplier(symbol: &str) -> Decimal {
    contract(symbol)
        .map(|c| c.multiplier)
        .unwrap_or(Decimal::ONE)
}

/// KuCoin-only state the venue-agnostic core does not have.
#[derive(Debug, Default)]
pub struct Extra {
    /// Margin mode per symbol (`ISOLATED` unless switched, as on a new KuCoin account).
    pub margin_mode: HashMap<String, String>,
    /// Cross leverage per symbol.
    pub cross_leverage: HashMap<String, u32>,
    /// The leverage an isolated position was opened with.
    pub position_leverage: HashMap<String, u32>,
    /// The body of every order accepted, by client id (the leverage and mode it carried).
    pub bodies: HashMap<String, Value>,
    /// Stream tokens handed out and not yet used (one connection each).
    pub tokens: HashSet<String>,
    pub issued: usize,
    /// Answers are dated this many ms ago (a stale-price fault).
    pub price_lag_ms: i64,
}

#[derive(Clone)]
struct Push {
    topic: String,
    text: String,
}

#[derive(Clone)]
struct Shared {
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
    ws_url: String,
}

pub struct KucoinServer {
    pub exchange: MockExchange,
    pub extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
    pub rest_url: String,
    pub ws_url: String,
}

impl KucoinServer {
    pub fn start(exchange: MockExchange) -> KucoinServer {
        {
            let mut st = exchange.lock();
            let symbols = CONTRACTS.iter().map(|c| c.symbol.to_string());
            // The benchmark's contracts are those its marks name.
            let symbols: Vec<String> = symbols.chain(st.marks.keys().cloned()).collect();
            for symbol in symbols.into_iter().filter(|s| contract(s).is_some()) {
                st.lots.insert(symbol, Decimal::ONE);
            }
        }
        let extra = Arc::new(Mutex::new(Extra::default()));
        let push = broadcast::channel(1024).0;
        // The stream listener first: bullet-private names its endpoint.
        let ws = serve_ws(exchange.clone(), extra.clone(), push.clone());
        let ws_url = format!("ws://{ws}/");
        let shared = Shared {
            ex: exchange.clone(),
            extra: extra.clone(),
            push: push.clone(),
            ws_url: ws_url.clone(),
        };
        let rest = loopback::serve(exchange.clone(), Arc::new(shared));
        KucoinServer {
            exchange,
            extra,
            push,
            rest_url: format!("http://{rest}"),
            ws_url,
        }
    }

    pub fn set_margin_mode(&self, symbol: &str, mode: &str) {
        self.extra
            .lock()
            .unwrap()
            .margin_mode
            .insert(symbol.into(), mode.into());
    }

    /// An open isolated position opened at `leverage`.
    pub fn set_isolated_position(&self, symbol: &str, lots: Decimal, leverage: u32) {
        self.set_margin_mode(symbol, "ISOLATED");
        self.extra
            .lock()
            .unwrap()
            .position_leverage
            .insert(symbol.into(), leverage);
        self.exchange.set_position(symbol, lots);
    }

    /// The body the order with client id `cid` was placed with.
    pub fn body_of(&self, cid: &str) -> Option<Value> {
        self.extra.lock().unwrap().bodies.get(cid).cloned()
    }

    pub fn push_raw(&self, topic: &str, text: String) {
        let _ = self.push.send(Push {
            topic: topic.into(),
            text,
        });
    }

    /// A credential entry with key, secret (or `secret`) and passphrase.
    pub fn credential(secret: Option<&str>) -> trade_engine::config::Credential {
        use trade_engine::config::{Credential, Secret};
        Credential {
            api_key: Some(Secret::new(KEY)),
            api_secret: Some(Secret::new(secret.unwrap_or(SECRET))),
            api_passphrase: Some(Secret::new(PASSPHRASE)),
            ..Default::default()
        }
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn b64_hmac(secret: &str, message: &str) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key size");
    mac.update(message.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// KuCoin's prehash, computed independently (checked against the shared vectors in
/// tests/signing_vectors.rs): timestamp + METHOD + path + `?` + decoded query + body.
pub fn prehash(ts: &str, method: &str, path: &str, query: &str, body: &str) -> String {
    let decoded: String = url::form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let endpoint = if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{decoded}")
    };
    format!("{ts}{method}{endpoint}{body}")
}

pub fn sign(secret: &str, prehash: &str) -> String {
    b64_hmac(secret, prehash)
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Which auth code a request earns (`None`: accepted).
fn auth_refusal(req: &Request) -> Option<(&'static str, &'static str)> {
    let h = &req.headers;
    let (Some(key), Some(ts), Some(sig), Some(pass), Some(version)) = (
        header(h, "kc-api-key"),
        header(h, "kc-api-timestamp"),
        header(h, "kc-api-sign"),
        header(h, "kc-api-passphrase"),
        header(h, "kc-api-key-version"),
    ) else {
        return Some(("400001", "Please check the header of your request for KC-API-KEY, KC-API-SIGN, KC-API-TIMESTAMP, KC-API-PASSPHRASE"));
    };
    let Ok(ts_ms) = ts.parse::<i64>() else {
        return Some(("400002", "Invalid KC-API-TIMESTAMP"));
    };
    if (now_ms() - ts_ms).abs() > 5000 {
        return Some(("400002", "Invalid KC-API-TIMESTAMP"));
    }
    if key != KEY {
        return Some(("400003", "KC-API-KEY not exists"));
    }
    if !matches!(version, "2" | "3") || pass != b64_hmac(SECRET, PASSPHRASE) {
        return Some(("400004", "Invalid KC-API-PASSPHRASE"));
    }
    let text = String::from_utf8_lossy(&req.body).to_string();
    let expected = sign(
        SECRET,
        &prehash(ts, req.method.as_str(), &req.path, &req.query, &text),
    );
    (expected != sig).then_some(("400005", "Invalid KC-API-SIGN"))
}

fn is_public(path: &str) -> bool {
    path.starts_with("/api/v1/contracts/")
        || path.starts_with("/api/v1/mark-price/")
        || path == "/api/v1/kline/query"
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, body.to_string()).into_response()
}

fn ok(data: Value) -> Response {
    answer(StatusCode::OK, json!({"code": "200000", "data": data}))
}

/// Business errors come inside HTTP 200.
fn error(code: &str, msg: &str) -> Response {
    answer(StatusCode::OK, json!({"code": code, "msg": msg}))
}

fn set_headers(resp: &mut Response, remaining: u32, reset_ms: u128) {
    for (k, v) in [
        ("gw-ratelimit-limit", POOL.to_string()),
        ("gw-ratelimit-remaining", remaining.to_string()),
        ("gw-ratelimit-reset", reset_ms.to_string()),
    ] {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
}

/// The documented weight of each endpoint (spec `x-api-rate-limit-weight`).
fn weight(method: &Method, path: &str) -> u32 {
    match (method.as_str(), path) {
        ("POST", "/api/v1/orders") => 2,
        ("POST", "/api/v1/orders/multi") => 20,
        ("POST", "/api/v1/bullet-private") => 10,
        ("GET", "/api/v1/orders/byClientOid") => 5,
        ("GET", "/api/v1/account-overview") => 5,
        ("DELETE", "/api/v3/orders") => 10,
        ("DELETE", _) => 1,
        ("GET", p) if p.starts_with("/api/v1/contracts/") => 3,
        ("GET", p) if p.starts_with("/api/v1/mark-price/") => 3,
        ("GET", "/api/v1/kline/query") => 3,
        _ => 2,
    }
}

impl Wire for Shared {
    fn placement(&self, req: &Request) -> Option<String> {
        if req.method != Method::POST {
            return None;
        }
        let body = req.json().unwrap_or_default();
        let cid = |v: &Value| v["clientOid"].as_str().unwrap_or("").to_string();
        match req.path.as_str() {
            "/api/v1/orders" => Some(cid(&body)),
            // A batch is one placement of each of its ids (comma-joined, as the rig reads it).
            "/api/v1/orders/multi" => Some(
                body.as_array()
                    .into_iter()
                    .flatten()
                    .map(cid)
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            _ => None,
        }
    }

    fn refuse_signature(&self, req: &Request) -> Option<Response> {
        // Public market data needs no signature, but a signature that is sent must be right.
        if is_public(&req.path) && !req.headers.contains_key("kc-api-sign") {
            return None;
        }
        auth_refusal(req)
            .map(|(code, msg)| answer(StatusCode::UNAUTHORIZED, json!({"code": code, "msg": msg})))
    }

    fn fault_frame(&self, fault: &Fault) -> Response {
        match fault {
            Fault::RateLimit { reset_secs } => {
                let mut resp = answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"code": "429000", "msg": "Too Many Requests"}),
                );
                set_headers(&mut resp, 0, u128::from(*reset_secs) * 1000);
                resp
            }
            Fault::AuthFail => answer(
                StatusCode::UNAUTHORIZED,
                json!({"code": "400003", "msg": "KC-API-KEY not exists"}),
            ),
            Fault::Status(code) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "fault",
            )
                .into_response(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    fn limits(&self, req: &Request) -> Vec<Limit> {
        let w = weight(&req.method, &req.path);
        if is_public(&req.path) {
            vec![Limit::new("ip/public", POOL, WINDOW).cost(w)]
        } else {
            vec![Limit::new(FUTURES_SCOPE, POOL, WINDOW).cost(w)]
        }
    }

    fn limit_refusal(&self, exceeded: &Exceeded) -> Response {
        let mut resp = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": "429000", "msg": "Too Many Requests"}),
        );
        set_headers(&mut resp, 0, exceeded.retry_after.as_millis().max(1));
        resp
    }

    fn quota_headers(&self, quotas: &[Quota], answer: &mut Response) {
        if let Some(q) = quotas.iter().find(|q| q.limit.scope == FUTURES_SCOPE) {
            set_headers(answer, q.remaining, q.reset_in.as_millis());
        }
    }

    fn route(&self, req: &Request, applied: Applied) -> Response {
        let q: HashMap<String, String> = req.params().into_iter().collect();
        match req.method.as_str() {
            "GET" => get(self, &req.path, &q),
            "POST" if req.path == "/api/v1/bullet-private" => bullet(self, req),
            "POST" => match req.json() {
                Some(b) => post(self, &req.path, &b, applied),
                None => error("400100", "request body is not JSON"),
            },
            "DELETE" => delete(self, &req.path, &q),
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    }
}

fn p<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn mode_of(s: &Shared, symbol: &str) -> String {
    s.extra
        .lock()
        .unwrap()
        .margin_mode
        .get(symbol)
        .cloned()
        .unwrap_or_else(|| "ISOLATED".into())
}

fn position_row(s: &Shared, symbol: &str, lots: Decimal) -> Value {
    let mode = mode_of(s, symbol);
    let extra = s.extra.lock().unwrap();
    let lev = if mode == "CROSS" {
        extra.cross_leverage.get(symbol).copied().unwrap_or(5)
    } else {
        extra.position_leverage.get(symbol).copied().unwrap_or(1)
    };
    let mark = s.ex.lock().marks.get(symbol).copied().unwrap_or_default();
    json!({
        "id": format!("pos-{symbol}"), "symbol": symbol, "crossMode": mode == "CROSS",
        "marginMode": mode, "positionSide": "BOTH", "currentQty": int(lots),
        "isOpen": !lots.is_zero(), "avgEntryPrice": if lots.is_zero() { json!(0) } else { json!(mark.to_string().parse::<f64>().unwrap_or(0.0)) },
        "markPrice": mark.to_string().parse::<f64>().unwrap_or(0.0), "leverage": lev, "realLeverage": lev,
        "settleCurrency": "USDT", "unrealisedPnl": 0,
    })
}

/// Lots as the JSON integer KuCoin sends.
fn int(lots: Decimal) -> i64 {
    use rust_decimal::prelude::ToPrimitive;
    lots.trunc().to_i64().unwrap_or(0)
}

fn order_row(o: &MockOrder) -> Value {
    let open = matches!(o.state, OrderState::New | OrderState::PartiallyFilled);
    json!({
        "id": o.venue_id, "clientOid": o.client_id, "symbol": o.native,
        "type": if o.price.is_some() { "limit" } else { "market" },
        "side": if o.side == Side::Buy { "buy" } else { "sell" },
        "price": o.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
        "size": int(o.qty),
        "filledSize": int(o.filled),
        "dealSize": int(o.filled),
        "avgDealPrice": o.avg_price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
        "status": if open { "open" } else { "done" }, "isActive": open,
        "cancelExist": o.state == OrderState::Cancelled, "reduceOnly": o.reduce_only,
        "marginMode": "ISOLATED", "settleCurrency": "USDT",
        "createdAt": now_ms(), "orderTime": now_ms() as i128 * 1_000_000,
    })
}

fn get(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    if let Some(symbol) = path.strip_prefix("/api/v1/contracts/") {
        let listed = s.ex.lock().marks.contains_key(symbol);
        return match contract(symbol).filter(|_| listed) {
            None => error("100001", "contract not exists"),
            Some(c) => ok(json!({
                "symbol": symbol, "rootSymbol": "USDT", "type": "FFWCSX", "baseCurrency": symbol.trim_end_matches("USDTM"),
                "quoteCurrency": "USDT", "settleCurrency": "USDT", "isInverse": false, "status": "Open",
                "multiplier": c.multiplier.to_string().parse::<f64>().unwrap(), "lotSize": 1,
                "tickSize": c.tick.to_string().parse::<f64>().unwrap(), "maxOrderQty": 1000000,
                "maxLeverage": 125, "expireDate": null, "nextFundingRateTime": 3600000,
            })),
        };
    }
    if let Some(rest) = path.strip_prefix("/api/v1/mark-price/") {
        let symbol = rest.trim_end_matches("/current");
        let Some(mark) = s.ex.lock().marks.get(symbol).copied() else {
            return error("100001", "contract not exists");
        };
        let lag = s.extra.lock().unwrap().price_lag_ms;
        return ok(json!({
            "symbol": symbol, "granularity": 1000, "timePoint": now_ms() - lag,
            "value": mark.to_string().parse::<f64>().unwrap(), "indexPrice": mark.to_string().parse::<f64>().unwrap(),
        }));
    }
    match path {
        "/api/v1/kline/query" => {
            let symbol = p(q, "symbol").unwrap_or("");
            let Some(mark) = s.ex.lock().marks.get(symbol).copied() else {
                return error("100001", "contract not exists");
            };
            let g: i64 = p(q, "granularity")
                .and_then(|g| g.parse().ok())
                .unwrap_or(1);
            let from: i64 = p(q, "from").and_then(|g| g.parse().ok()).unwrap_or(0);
            let to: i64 = p(q, "to")
                .and_then(|g| g.parse().ok())
                .unwrap_or_else(now_ms);
            let step = g * 60_000;
            let m = mark.to_string().parse::<f64>().unwrap();
            let mut t = from - from % step + step;
            let mut rows = Vec::new();
            while t <= to && rows.len() < 500 {
                rows.push(json!([t, m, m, m, m, 10, 10.0 * m]));
                t += step;
            }
            ok(json!(rows))
        }
        "/api/v1/account-overview" => {
            if p(q, "currency") != Some("USDT") {
                return error("400100", "currency must be USDT");
            }
            let equity = s.ex.lock().equity.to_string().parse::<f64>().unwrap();
            ok(
                json!({"accountEquity": equity, "unrealisedPNL": 0, "marginBalance": equity,
                      "positionMargin": 0, "orderMargin": 0, "frozenFunds": 0,
                      "availableBalance": equity, "currency": "USDT", "riskRatio": 0, "maxWithdrawAmount": equity}),
            )
        }
        "/api/v1/positions" => {
            let positions: BTreeMap<String, Decimal> = s.ex.lock().positions.clone();
            let rows: Vec<Value> = positions
                .iter()
                .filter(|(_, q)| !q.is_zero())
                .map(|(sym, q)| position_row(s, sym, *q))
                .collect();
            ok(json!(rows))
        }
        "/api/v1/position" => {
            let symbol = p(q, "symbol").unwrap_or("");
            let lots = s.ex.position(symbol);
            ok(position_row(s, symbol, lots))
        }
        "/api/v1/orders" => {
            if p(q, "status") != Some("active") {
                return error("400100", "status must be active or done");
            }
            let rows: Vec<Value> = s.ex.open_orders().iter().map(order_row).collect();
            let size: usize = p(q, "pageSize").and_then(|v| v.parse().ok()).unwrap_or(50);
            let page: usize = p(q, "currentPage")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            let total_page = rows.len().div_ceil(size.max(1)).max(1);
            let items: Vec<Value> = rows
                .into_iter()
                .skip((page - 1) * size)
                .take(size)
                .collect();
            ok(
                json!({"currentPage": page, "pageSize": size, "totalNum": items.len(), "totalPage": total_page, "items": items}),
            )
        }
        "/api/v1/orders/byClientOid" => {
            let cid = p(q, "clientOid").unwrap_or("");
            match s.ex.order(cid) {
                Some(o) => ok(order_row(&o)),
                None => ok(Value::Null),
            }
        }
        "/api/v2/position/getMarginMode" => {
            let symbol = p(q, "symbol").unwrap_or("");
            ok(json!({"symbol": symbol, "marginMode": mode_of(s, symbol)}))
        }
        "/api/v2/getCrossUserLeverage" => {
            let symbol = p(q, "symbol").unwrap_or("");
            let lev = s
                .extra
                .lock()
                .unwrap()
                .cross_leverage
                .get(symbol)
                .copied()
                .unwrap_or(5);
            ok(json!({"symbol": symbol, "leverage": lev.to_string()}))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn bullet(s: &Shared, req: &Request) -> Response {
    if !req.body.is_empty() {
        return error("400100", "bullet-private takes no body");
    }
    let token = {
        let mut extra = s.extra.lock().unwrap();
        extra.issued += 1;
        let token = format!("tok{}x{}", extra.issued, now_ms());
        extra.tokens.insert(token.clone());
        token
    };
    ok(json!({"token": token, "instanceServers": [{
        "endpoint": s.ws_url, "encrypt": false, "protocol": "websocket",
        "pingInterval": 1000, "pingTimeout": 1000}]}))
}

fn delete(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    if let Some(cid) = path.strip_prefix("/api/v1/orders/client-order/") {
        if p(q, "symbol").is_none() {
            return error("400100", "symbol is required");
        }
        return match s.ex.cancel(cid) {
            Ok(o) => {
                push_order(s, &o);
                ok(json!({"clientOid": cid}))
            }
            Err(_) => error("100004", "order_not_exist_or_not_allow_to_cancel"),
        };
    }
    match path {
        "/api/v3/orders" => {
            let Some(symbol) = p(q, "symbol") else {
                return error("400100", "symbol is required");
            };
            let ids: Vec<String> =
                s.ex.open_orders()
                    .into_iter()
                    .filter(|o| o.native == symbol)
                    .filter_map(|o| s.ex.cancel(&o.client_id).ok())
                    .map(|o| o.venue_id)
                    .collect();
            ok(json!({"cancelledOrderIds": ids}))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn post(s: &Shared, path: &str, b: &Value, applied: Applied) -> Response {
    match path {
        "/api/v1/orders" => match create(s, b, applied) {
            Ok(data) => ok(data),
            Err((code, msg)) => error(code, &msg),
        },
        "/api/v1/orders/multi" => {
            let Some(items) = b.as_array() else {
                return error("400100", "body must be an array");
            };
            if items.is_empty() || items.len() > 20 {
                return error("400100", "1 to 20 orders per batch");
            }
            let answers: Vec<Value> = items
                .iter()
                .map(|item| {
                    let cid = item["clientOid"].as_str().unwrap_or("");
                    let symbol = item["symbol"].as_str().unwrap_or("");
                    // Each item passes the placement faults' gate of its own.
                    match create(s, item, applied) {
                        Ok(data) => json!({"orderId": data["orderId"], "clientOid": cid, "symbol": symbol, "code": "200000", "msg": "success"}),
                        Err((code, msg)) => json!({"orderId": null, "clientOid": cid, "symbol": symbol, "code": code, "msg": msg}),
                    }
                })
                .collect();
            ok(json!(answers))
        }
        "/api/v2/changeCrossUserLeverage" => {
            let symbol = b["symbol"].as_str().unwrap_or("");
            let Some(lev) = b["leverage"].as_str().and_then(|l| l.parse::<u32>().ok()) else {
                return error("400100", "leverage must be a string integer");
            };
            if mode_of(s, symbol) != "CROSS" {
                return error("400100", "symbol is not in cross margin mode");
            }
            s.extra
                .lock()
                .unwrap()
                .cross_leverage
                .insert(symbol.into(), lev);
            s.ex.lock()
                .leverage
                .insert(symbol.into(), Decimal::from(lev));
            ok(json!(true))
        }
        "/api/v2/position/changeMarginMode" => {
            let symbol = b["symbol"].as_str().unwrap_or("");
            let mode = b["marginMode"].as_str().unwrap_or("");
            if !["CROSS", "ISOLATED"].contains(&mode) {
                return error("400100", "marginMode invalid");
            }
            let busy = !s.ex.position(symbol).is_zero()
                || s.ex.open_orders().iter().any(|o| o.native == symbol);
            if busy && mode_of(s, symbol) != mode {
                return error("50002", "exist.order.or.position");
            }
            s.extra
                .lock()
                .unwrap()
                .margin_mode
                .insert(symbol.into(), mode.into());
            s.ex.lock()
                .isolated
                .insert(symbol.into(), mode == "ISOLATED");
            ok(json!({"symbol": symbol, "marginMode": mode}))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// One order, as `POST /api/v1/orders` checks and applies it.
fn create(s: &Shared, b: &Value, applied: Applied) -> Result<Value, (&'static str, String)> {
    let symbol = b["symbol"].as_str().unwrap_or("");
    let side = match b["side"].as_str() {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        _ => return Err(("400100", "side invalid".into())),
    };
    // Whole lots as a JSON number: a string, a fraction or coins are refused.
    let Some(lots) = b["size"].as_u64().filter(|l| *l > 0) else {
        return Err(("400100", "The order size must be a positive integer".into()));
    };
    let cid = b["clientOid"].as_str().unwrap_or("");
    if cid.len() > 40 {
        return Err(("400100", "clientOid is too long".into()));
    }
    let reduce_only = b["reduceOnly"].as_bool().unwrap_or(false);
    let mode = b["marginMode"].as_str().unwrap_or("ISOLATED");
    if mode != mode_of(s, symbol) {
        return Err((
            "330005",
            "The order's margin mode does not match the selected one".into(),
        ));
    }
    let leverage = b["leverage"].as_u64();
    if !reduce_only && leverage.is_none() {
        return Err(("400100", "leverage is required".into()));
    }
    let limit_price = match b["type"].as_str() {
        Some("market") => None,
        Some("limit") => match b["price"].as_str().and_then(|p| p.parse::<Decimal>().ok()) {
            Some(p) => Some(p),
            None => return Err(("400100", "price invalid".into())),
        },
        _ => return Err(("400100", "type invalid".into())),
    };
    let before = s.ex.position(symbol);
    let placed = s.ex.place(Place {
        native: symbol,
        side,
        qty: Decimal::from(lots),
        client_id: cid,
        reduce_only,
        limit_price,
        partial: applied.partial,
        hold: applied.hold,
        hide: applied.hide,
    });
    match placed {
        Ok(o) => {
            let mut extra = s.extra.lock().unwrap();
            extra.bodies.insert(o.client_id.clone(), b.clone());
            if mode == "ISOLATED" && before.is_zero() {
                if let Some(l) = leverage {
                    extra.position_leverage.insert(symbol.into(), l as u32);
                }
            }
            drop(extra);
            if !applied.hide {
                push_order(s, &o);
            }
            Ok(json!({"orderId": o.venue_id, "clientOid": o.client_id}))
        }
        Err(Reject::Duplicate) => Err(("300018", "clientOid parameter repeated".into())),
        Err(Reject::ReduceOnly) => Err(("300009", "No open positions to close.".into())),
        Err(Reject::UnknownSymbol) => Err(("100001", "contract not exists".into())),
        Err(other) => Err(("400100", format!("order refused: {other:?}"))),
    }
}

fn message(topic: String, subject: &str, data: Value) -> Push {
    Push {
        text: json!({"type": "message", "topic": topic, "subject": subject,
                     "channelType": "private", "userId": "loopback", "data": data})
        .to_string(),
        topic,
    }
}

/// The private pushes an order change causes: a `match` (the fill), the order's state, the
/// position.
fn push_order(s: &Shared, o: &MockOrder) {
    let side = if o.side == Side::Buy { "buy" } else { "sell" };
    let done = !matches!(o.state, OrderState::New | OrderState::PartiallyFilled);
    let row = |change: &str, status: &str| {
        json!({"orderId": o.venue_id, "clientOid": o.client_id, "symbol": o.native, "side": side,
               "orderType": if o.price.is_some() { "limit" } else { "market" },
               "type": change, "status": status, "size": o.qty.to_string(),
               "filledSize": o.filled.to_string(), "remainSize": (o.qty - o.filled).to_string(),
               "canceledSize": if o.state == OrderState::Cancelled { (o.qty - o.filled).to_string() } else { "0".into() },
               "marginMode": mode_of(s, &o.native), "orderTime": now_ms(), "ts": now_ms() as i128 * 1_000_000,
               "matchPrice": o.avg_price.map(|p| p.to_string()), "matchSize": o.filled.to_string(),
               "liquidity": "taker", "tradeId": format!("t-{}", o.venue_id)})
    };
    let topic = "/contractMarket/tradeOrders".to_string();
    if !o.filled.is_zero() && o.state != OrderState::Cancelled {
        let _ = s
            .push
            .send(message(topic.clone(), "orderChange", row("match", "match")));
    }
    let (change, status) = match o.state {
        OrderState::Filled => ("filled", "done"),
        OrderState::Cancelled => ("canceled", "done"),
        _ => ("open", "open"),
    };
    let _ = s
        .push
        .send(message(topic, "orderChange", row(change, status)));
    let _ = done;
    let lots = s.ex.position(&o.native);
    let _ = s.push.send(message(
        format!("/contract/position:{}", o.native),
        "position.change",
        position_row(s, &o.native, lots),
    ));
    let _ = s.push.send(message(
        "/contractAccount/wallet".into(),
        "walletBalance.change",
        json!({"currency": "USDT", "walletBalance": "0", "availableBalance": "0"}),
    ));
}

/// Whether a pushed `topic` reaches a connection subscribed to `subscribed`.
fn matches_topic(subscribed: &HashSet<String>, topic: &str) -> bool {
    subscribed.contains(topic)
        || (topic.starts_with("/contract/position:")
            && subscribed.contains("/contract/positionAll"))
}

/// The private WebSocket on its own listener and runtime thread.
fn serve_ws(
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
) -> SocketAddr {
    crate::common::exchange::accept_in_background(move |tcp| {
        ws_session(tcp, ex.clone(), extra.clone(), push.clone())
    })
}

// The handshake callback's error type is tungstenite's own response.
#[allow(clippy::result_large_err)]
async fn ws_session(
    tcp: tokio::net::TcpStream,
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
) {
    use tokio_tungstenite::tungstenite::handshake::server::{
        Request as WsRequest, Response as WsResponse,
    };
    let query = Arc::new(Mutex::new(String::new()));
    let seen = query.clone();
    let callback = move |req: &WsRequest, resp: WsResponse| {
        *seen.lock().unwrap() = req.uri().query().unwrap_or("").to_string();
        Ok(resp)
    };
    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.lock().unwrap().as_bytes())
            .into_owned()
            .collect();
    let me = {
        let mut st = ex.lock();
        st.ws_sessions.push(Vec::new());
        st.ws_sessions.len() - 1
    };
    // A token works once; without a valid one KuCoin refuses the connection.
    let token_ok = params
        .get("token")
        .is_some_and(|t| extra.lock().unwrap().tokens.remove(t));
    if !token_ok {
        let _ = ws
            .send(Message::Text(json!({"id": params.get("connectId"), "type": "error", "code": 401, "data": "token is invalid"}).to_string()))
            .await;
        return;
    }
    ex.lock().ws_logins += 1;
    let welcome =
        json!({"id": params.get("connectId").cloned().unwrap_or_default(), "type": "welcome"});
    if ws.send(Message::Text(welcome.to_string())).await.is_err() {
        return;
    }
    let mut pushes = push.subscribe();
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
                ex.lock().ws_sessions[me].push(text.clone());
                let Ok(msg) = serde_json::from_str::<Value>(&text) else { continue };
                let id = msg["id"].clone();
                let reply = match msg["type"].as_str() {
                    Some("subscribe") => {
                        let topic = msg["topic"].as_str().unwrap_or("").to_string();
                        if msg["privateChannel"] != true {
                            json!({"id": id, "type": "error", "code": 403, "data": "private topics need privateChannel"})
                        } else {
                            ex.lock().ws_subscriptions += 1;
                            topics.insert(topic);
                            if msg["response"] != true { continue; }
                            json!({"id": id, "type": "ack"})
                        }
                    }
                    Some("ping") => json!({"id": id, "type": "pong", "timestamp": now_ms() * 1000}),
                    _ => continue,
                };
                if ws.send(Message::Text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            push = pushes.recv() => {
                let Ok(push) = push else { continue };
                if matches_topic(&topics, &push.topic) && ws.send(Message::Text(push.text)).await.is_err() {
                    return;
                }
            }
            _ = watch.tick() => {
                let drop_now = ex.lock().ws_sessions.iter().skip(me + 1).any(|x| x.len() == 1 && x[0] == "__drop__");
                if drop_now {
                    return;
                }
            }
        }
    }
}

impl crate::common::venues::Loopback for KucoinServer {
    fn kind(&self) -> &'static str {
        "kucoin"
    }
    fn exchange(&self) -> &MockExchange {
        &self.exchange
    }
    fn urls(&self) -> (String, String) {
        (self.rest_url.clone(), self.ws_url.clone())
    }
    fn key_secret(&self) -> (&'static str, &'static str) {
        (KEY, SECRET)
    }
    fn native(&self, unified: &str) -> String {
        native_of(unified)
    }
    /// Lots per coin: one lot is `multiplier` coins.
    fn units(&self, unified: &str) -> Decimal {
        Decimal::ONE / multiplier(&self.native(unified))
    }
    fn push_noise(&self, unified: &str) -> usize {
        let native = self.native(unified);
        let order = |cid: &str, status: &str, change: &str, size: &str| {
            json!({"type": "message", "topic": "/contractMarket/tradeOrders", "subject": "orderChange",
                   "channelType": "private", "data": {"orderId": format!("fake-{cid}"), "clientOid": cid,
                   "symbol": native, "side": "buy", "orderType": "market", "type": change, "status": status,
                   "size": size, "filledSize": size, "remainSize": "0", "matchPrice": "50000", "matchSize": size,
                   "ts": now_ms() as i128 * 1_000_000}})
            .to_string()
        };
        self.push_raw(
            "/contractMarket/tradeOrders",
            order("teffffffffffffffffffffffffffffff", "done", "filled", "5"),
        );
        self.push_raw(
            "/contractMarket/tradeOrders",
            order("unknown-1", "open", "open", "1"),
        );
        let topic = format!("/contract/position:{native}");
        self.push_raw(
            &topic,
            json!({"type": "message", "topic": topic, "subject": "position.change", "channelType": "private",
                   "data": {"symbol": native, "currentQty": 99000, "isOpen": true, "marginMode": "ISOLATED"}})
            .to_string(),
        );
        3
    }
    fn set_price_lag(&self, lag_ms: i64) -> bool {
        self.extra.lock().unwrap().price_lag_ms = lag_ms;
        true
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    /// Inverse (coin-margined) contracts are out of scope: USDT-margined only.
    fn has_inverse(&self) -> bool {
        false
    }
    fn build(
        &self,
        timeout_ms: u64,
    ) -> (
        std::sync::Arc<dyn trade_engine::venue::Venue>,
        tempfile::TempDir,
    ) {
        let account: trade_engine::config::AccountConfig =
            serde_json::from_value(self.account("loopback", "cred", timeout_ms)).expect("account");
        let dir = tempfile::tempdir().expect("tempdir");
        let venue =
            trade_engine::venue::build(&account, Some(&KucoinServer::credential(None)), dir.path())
                .expect("loopback venue");
        (venue, dir)
    }
    fn credential(&self, secret: Option<&str>) -> Value {
        json!({"api_key": KEY, "api_secret": secret.unwrap_or(SECRET), "api_passphrase": PASSPHRASE})
    }
}
