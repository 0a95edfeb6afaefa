//! A loopback MEXC Futures server (contract API v1) on top of `MockExchange`: REST (axum, via
//! the kit's `serve`) and the private WebSocket. It checks every signature with its own HMAC
//! (hmac/sha2 directly, not the crate's signer) over the raw query (GET) or raw body (POST),
//! refuses requests more than 10 s off, answers in MEXC's envelope (errors inside HTTP 200),
//! counts quantities in contracts (`contractSize`, `volUnit`), checks side codes 1–4 against the
//! account's position mode, enforces the documented limits (20 per 2 s per endpoint and key,
//! `detail` 1 per 5 s, `submit_batch` 1 per 2 s) with code 510, and can refuse opening orders
//! with code 1002 as MEXC did while API trading was switched off.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit};
use crate::common::loopback::{self, Applied, Request, Wire};
use crate::common::venues::Loopback;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

pub const KEY: &str = "loopback-mexc-key";
pub const SECRET: &str = "loopback-mexc-secret";

/// One contract as `contract/detail` describes it.
pub struct Contract {
    pub symbol: &'static str,
    pub contract_size: Decimal,
    pub vol_unit: Decimal,
    pub min_vol: Decimal,
    pub price_unit: Decimal,
}

/// BTC_USDT steps by 10 contracts of 0.0001 BTC (one lot is 0.001 BTC, as on the other
/// loopbacks; the real contract steps by 1), so that `volUnit` and `contractSize` both matter.
pub const CONTRACTS: [Contract; 3] = [
    Contract {
        symbol: "BTC_USDT",
        contract_size: dec!(0.0001),
        vol_unit: dec!(10),
        min_vol: dec!(10),
        price_unit: dec!(0.1),
    },
    // Coin-margined (settled in BTC): one contract is `contractSize` USD (100 on MEXC; 1 here,
    // as the inverse contracts of the other loopbacks).
    Contract {
        symbol: "BTC_USD",
        contract_size: dec!(1),
        vol_unit: dec!(1),
        min_vol: dec!(1),
        price_unit: dec!(0.5),
    },
    Contract {
        symbol: "ETH_USDT",
        contract_size: dec!(0.01),
        vol_unit: dec!(1),
        min_vol: dec!(1),
        price_unit: dec!(0.01),
    },
];

/// The benchmark's many symbols (`BENCH<n>_USDT`, any that has a mark): linear, one coin a
/// contract in whole contracts.
const BENCH_CONTRACT: Contract = Contract {
    symbol: "BENCH",
    contract_size: dec!(1),
    vol_unit: dec!(1),
    min_vol: dec!(1),
    price_unit: dec!(0.001),
};

pub fn contract(symbol: &str) -> Option<&'static Contract> {
    CONTRACTS.iter().find(|c| c.symbol == symbol).or_else(|| {
        (symbol.starts_with(BENCH_CONTRACT.symbol) && symbol.ends_with("_USDT"))
            .then_some(&BENCH_CONTRACT)
    })
}

/// MEXC's spelling of a unified symbol: `BTCUSDT` → `BTC_USDT`, `BTCUSD` → `BTC_USD`.
pub fn native_of(unified: &str) -> String {
    for quote in ["USDT", "USD"] {
        if let Some(base) = unified.strip_suffix(quote) {
            return format!("{base}_{quote}");
        }
    }
    unified.to_string()
}

/// MEXC-only state the venue-agnostic core does not have.
#[derive(Debug, Default)]
pub struct Extra {
    /// Position mode: hedge (1) or one-way (2, the default here).
    pub hedge: bool,
    /// Opening orders are refused with 1002 "Contract not allow place order!".
    pub trading_disabled: bool,
    /// The key may use `submit_batch`.
    pub batch_permission: bool,
    /// Side code each order was placed with, by client id.
    pub side_codes: HashMap<String, i64>,
    /// Leverage and openType per (symbol, positionType).
    pub leverage: BTreeMap<(String, i64), (i64, i64)>,
    /// Fair prices are answered as of this many ms ago.
    pub price_lag_ms: i64,
    /// Bodies of every `order/create` and `submit_batch` received, for wire checks.
    pub bodies: Vec<String>,
}

#[derive(Clone)]
struct Push {
    filter: &'static str,
    text: String,
}

#[derive(Clone)]
pub struct Shared {
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
}

/// The loopback `venues::start` runs: `equity` USDT, BTC (linear and coin-margined) at `btc`,
/// ETH at 2,500.
pub fn start(equity: Decimal, btc: Decimal) -> MexcServer {
    start_with_bench(equity, btc, &[])
}

/// `start`, plus the benchmark's `BENCH<n>USDT` (unified names) at the given marks.
pub fn start_with_bench(equity: Decimal, btc: Decimal, bench: &[(&str, Decimal)]) -> MexcServer {
    let mut marks = vec![
        ("BTC_USDT".to_string(), btc),
        ("BTC_USD".into(), btc),
        ("ETH_USDT".into(), dec!(2500)),
    ];
    marks.extend(bench.iter().map(|(s, m)| (native_of(s), *m)));
    let marks: Vec<(&str, Decimal)> = marks.iter().map(|(s, m)| (s.as_str(), *m)).collect();
    MexcServer::start(MockExchange::new(equity, &marks))
}

pub struct MexcServer {
    pub exchange: MockExchange,
    pub extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<Push>,
    pub rest_url: String,
    pub ws_url: String,
}

impl MexcServer {
    pub fn start(exchange: MockExchange) -> MexcServer {
        {
            let mut st = exchange.lock();
            let symbols = CONTRACTS.iter().map(|c| c.symbol.to_string());
            // The benchmark's contracts are those its marks name.
            let symbols: Vec<String> = symbols.chain(st.marks.keys().cloned()).collect();
            for symbol in symbols {
                if let Some(c) = contract(&symbol) {
                    st.lots.insert(symbol, c.vol_unit);
                }
            }
        }
        let extra = Arc::new(Mutex::new(Extra::default()));
        let shared = Shared {
            ex: exchange.clone(),
            extra: extra.clone(),
            push: broadcast::channel(1024).0,
        };
        let push = shared.push.clone();
        let rest = loopback::serve(exchange.clone(), Arc::new(shared.clone()));
        let ws = crate::common::exchange::accept_in_background(move |tcp| {
            ws_session(tcp, shared.clone())
        });
        MexcServer {
            exchange,
            extra,
            push,
            rest_url: format!("http://{rest}"),
            ws_url: format!("ws://{ws}/edge"),
        }
    }

    /// Pushes a raw frame to every logged-in stream whose filter takes `filter`.
    pub fn push_raw(&self, filter: &'static str, text: String) {
        let _ = self.push.send(Push { filter, text });
    }

    pub fn set_hedge(&self, hedge: bool) {
        self.extra.lock().unwrap().hedge = hedge;
    }

    pub fn set_trading_disabled(&self, off: bool) {
        self.extra.lock().unwrap().trading_disabled = off;
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What MEXC signs: key, request time in ms, then the query (GET) or body (POST).
pub fn string_to_sign(key: &str, time_ms: &str, params: &str) -> String {
    format!("{key}{time_ms}{params}")
}

/// A decimal as a JSON number, as MEXC writes numbers.
fn n(d: Decimal) -> Value {
    serde_json::from_str(&d.normalize().to_string()).unwrap_or(Value::Null)
}

/// A JSON number (or numeric string) of a request body as an exact decimal.
fn num(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(x) => x.to_string().parse().ok(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn envelope(data: Value) -> Response {
    (
        StatusCode::OK,
        json!({"success": true, "code": 0, "data": data}).to_string(),
    )
        .into_response()
}

pub fn error(code: i64, message: &str) -> Response {
    (
        StatusCode::OK,
        json!({"success": false, "code": code, "message": message}).to_string(),
    )
        .into_response()
}

fn signature_ok(req: &Request) -> bool {
    let (Some(key), Some(time), Some(sign)) = (
        req.header("apikey"),
        req.header("request-time"),
        req.header("signature"),
    ) else {
        return false;
    };
    let Ok(t) = time.parse::<i64>() else {
        return false;
    };
    if key != KEY || (now_ms() - t).abs() > 10_000 {
        return false;
    }
    let params = if req.method == Method::GET {
        // MEXC signs the parameters sorted by key: rebuilt here from what arrived, so a query
        // sent in another order than it was signed fails, as at MEXC.
        let mut pairs: Vec<&str> = req.query.split('&').filter(|p| !p.is_empty()).collect();
        pairs.sort_by_key(|p| p.split('=').next().unwrap_or(""));
        pairs.join("&")
    } else {
        req.text()
    };
    loopback::hmac_sha256_hex(SECRET, &string_to_sign(key, time, &params)) == sign
}

/// The endpoint template a path counts against (path parameters dropped).
fn template(path: &str) -> String {
    let rest = path
        .trim_start_matches("/api/v1/private/")
        .trim_start_matches("/api/v1/");
    for prefix in ["contract/fair_price", "contract/kline", "order/external"] {
        if rest.starts_with(prefix) {
            return prefix.to_string();
        }
    }
    rest.to_string()
}

impl Wire for Shared {
    fn placement(&self, req: &Request) -> Option<String> {
        let cid = |v: &Value| v["externalOid"].as_str().unwrap_or("").to_string();
        match req.path.as_str() {
            "/api/v1/private/order/create" => Some(cid(&req.json().unwrap_or_default())),
            // A batch is one placement of each of its ids (comma-joined, as the rig reads it).
            "/api/v1/private/order/submit_batch" => Some(
                req.json()
                    .unwrap_or_default()
                    .as_array()
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
        let public = req.path.starts_with("/api/v1/contract/") && req.header("signature").is_none();
        (!(public || signature_ok(req))).then(|| error(602, "Signature verification failed!"))
    }

    fn fault_frame(&self, fault: &Fault) -> Response {
        match fault {
            // The edge's limit: HTTP 429 with the wait.
            Fault::RateLimit { reset_secs } => {
                let mut resp = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
                resp.headers_mut()
                    .insert("retry-after", reset_secs.to_string().parse().unwrap());
                resp
            }
            Fault::AuthFail => error(401, "Not logged in or login has expired"),
            Fault::Status(code) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "fault",
            )
                .into_response(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    fn limits(&self, req: &Request) -> Vec<Limit> {
        let t = template(&req.path);
        let scope = format!("key:{}/{t}", req.header("apikey").unwrap_or("public"));
        let limit = match t.as_str() {
            "contract/detail" => Limit::new(scope, 1, Duration::from_secs(5)),
            "order/submit_batch" => Limit::new(scope, 1, Duration::from_secs(2)),
            _ => Limit::new(scope, 20, Duration::from_secs(2)),
        };
        vec![limit]
    }

    fn limit_refusal(&self, _exceeded: &Exceeded) -> Response {
        error(510, "Excessive frequency of requests")
    }

    fn route(&self, req: &Request, applied: Applied) -> Response {
        let q: HashMap<String, String> = req.params().into_iter().collect();
        if req.method == Method::GET {
            return get(self, &req.path, &q);
        }
        let Some(body) = req.json() else {
            return error(601, "Parameter format error");
        };
        post(self, &req.path, &body, applied)
    }
}

fn p<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn get(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    if path == "/api/v1/contract/ticker" {
        // Every contract's ticker (or one, with `symbol`), fair price and timestamp included.
        let lag = s.extra.lock().unwrap().price_lag_ms;
        let marks = s.ex.lock().marks.clone();
        let row = |symbol: &str, mark: Decimal| {
            json!({"symbol": symbol, "lastPrice": n(mark), "fairPrice": n(mark),
                   "indexPrice": n(mark), "timestamp": now_ms() - lag})
        };
        return match p(q, "symbol") {
            Some(symbol) => match marks.get(symbol) {
                Some(mark) => envelope(row(symbol, *mark)),
                None => error(1001, "contract does not exist"),
            },
            None => envelope(Value::Array(
                marks
                    .iter()
                    .map(|(symbol, mark)| row(symbol, *mark))
                    .collect(),
            )),
        };
    }
    if let Some(symbol) = path.strip_prefix("/api/v1/contract/fair_price/") {
        let Some(mark) = s.ex.lock().marks.get(symbol).copied() else {
            return error(1001, "contract does not exist");
        };
        let lag = s.extra.lock().unwrap().price_lag_ms;
        return envelope(
            json!({"symbol": symbol, "fairPrice": n(mark), "timestamp": now_ms() - lag}),
        );
    }
    if let Some(symbol) = path.strip_prefix("/api/v1/contract/kline/") {
        let Some(mark) = s.ex.lock().marks.get(symbol).copied() else {
            return error(1001, "contract does not exist");
        };
        let start: i64 = p(q, "start").and_then(|v| v.parse().ok()).unwrap_or(0);
        let end: i64 = p(q, "end").and_then(|v| v.parse().ok()).unwrap_or(0);
        let step = match p(q, "interval") {
            Some("Min5") => 300,
            Some("Min60") => 3600,
            Some("Day1") => 86_400,
            _ => 60,
        };
        let times: Vec<i64> = (0..)
            .map(|k| start - start % step + k * step)
            .take_while(|t| *t <= end)
            .take(2000)
            .collect();
        let col = |_: &i64| n(mark);
        return envelope(json!({
            "time": times, "open": times.iter().map(col).collect::<Vec<_>>(),
            "close": times.iter().map(col).collect::<Vec<_>>(), "high": times.iter().map(col).collect::<Vec<_>>(),
            "low": times.iter().map(col).collect::<Vec<_>>(), "vol": times.iter().map(|_| json!(10)).collect::<Vec<_>>(),
        }));
    }
    if let Some(rest) = path.strip_prefix("/api/v1/private/order/external/") {
        let Some((symbol, oid)) = rest.split_once('/') else {
            return error(600, "Parameter error");
        };
        let order = s.ex.order(oid).filter(|o| o.native == symbol);
        return match order {
            Some(o) => envelope(order_row(s, &o)),
            None => error(2040, "order does not exist"),
        };
    }
    match path {
        "/api/v1/contract/detail" => {
            let marks = s.ex.lock().marks.clone();
            // In the contracts' order, then the benchmark's.
            let symbols = CONTRACTS.iter().map(|c| c.symbol.to_string()).chain(
                marks
                    .keys()
                    .filter(|k| !CONTRACTS.iter().any(|c| c.symbol == k.as_str()))
                    .cloned(),
            );
            let rows: Vec<Value> = symbols
                .filter(|symbol| p(q, "symbol").is_none_or(|x| x == symbol))
                .filter(|symbol| marks.contains_key(symbol))
                .filter_map(|symbol| contract(&symbol).map(|c| (symbol, c)))
                .map(|(symbol, c)| {
                    let (base, quote) = symbol.split_once('_').unwrap_or((&symbol, ""));
                    let settle = if quote == "USD" { base } else { quote };
                    json!({"symbol": symbol, "displayNameEn": symbol, "baseCoin": base, "quoteCoin": quote,
                           "settleCoin": settle, "contractSize": n(c.contract_size), "minLeverage": 1, "maxLeverage": 200,
                           "priceScale": 1, "volScale": 0, "amountScale": 4, "priceUnit": n(c.price_unit),
                           "volUnit": n(c.vol_unit), "minVol": n(c.min_vol), "maxVol": 1000000,
                           "takerFeeRate": 0.0002, "makerFeeRate": 0, "positionOpenType": 3, "state": 0,
                           "isNew": false, "isHot": true, "isHidden": false, "apiAllowed": true})
                })
                .collect();
            match p(q, "symbol") {
                Some(_) if rows.is_empty() => error(1001, "contract does not exist"),
                Some(_) => envelope(rows[0].clone()),
                None => envelope(Value::Array(rows)),
            }
        }
        "/api/v1/private/account/assets" => {
            let equity = s.ex.lock().equity;
            envelope(
                json!([{"currency": "USDT", "positionMargin": 0, "availableBalance": n(equity),
                             "cashBalance": n(equity), "frozenBalance": 0, "equity": n(equity),
                             "unrealized": 0, "bonus": 0}]),
            )
        }
        "/api/v1/private/position/open_positions" => {
            let positions = s.ex.lock().positions.clone();
            let rows: Vec<Value> = positions
                .iter()
                .filter(|(sym, qty)| {
                    !qty.is_zero() && p(q, "symbol").is_none_or(|x| x == sym.as_str())
                })
                .map(|(sym, qty)| position_row(s, sym, *qty))
                .collect();
            envelope(Value::Array(rows))
        }
        "/api/v1/private/position/position_mode" => {
            envelope(json!(if s.extra.lock().unwrap().hedge { 1 } else { 2 }))
        }
        "/api/v1/private/position/leverage" => {
            let Some(symbol) = p(q, "symbol") else {
                return error(600, "symbol is required");
            };
            let lev = s.extra.lock().unwrap().leverage.clone();
            let rows: Vec<Value> = [1i64, 2]
                .iter()
                .map(|t| {
                    let (l, o) = lev.get(&(symbol.to_string(), *t)).copied().unwrap_or((20, 2));
                    json!({"positionType": t, "level": 1, "imr": 0.01, "mmr": 0.004, "leverage": l, "openType": o})
                })
                .collect();
            envelope(Value::Array(rows))
        }
        "/api/v1/private/order/list/open_orders" => {
            let page: usize = p(q, "page_num").and_then(|v| v.parse().ok()).unwrap_or(1);
            let size: usize = p(q, "page_size")
                .and_then(|v| v.parse().ok())
                .unwrap_or(20)
                .min(100);
            let rows: Vec<Value> =
                s.ex.open_orders()
                    .iter()
                    .filter(|o| p(q, "symbol").is_none_or(|x| x == o.native))
                    .skip((page.max(1) - 1) * size)
                    .take(size)
                    .map(|o| order_row(s, o))
                    .collect();
            envelope(Value::Array(rows))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn position_id(symbol: &str, position_type: i64) -> i64 {
    let k: i64 = symbol.bytes().map(i64::from).sum();
    900_000 + k * 10 + position_type
}

fn position_row(s: &Shared, symbol: &str, qty: Decimal) -> Value {
    let t = if qty > Decimal::ZERO { 1 } else { 2 };
    let (lev, open) = s
        .extra
        .lock()
        .unwrap()
        .leverage
        .get(&(symbol.to_string(), t))
        .copied()
        .unwrap_or((20, 2));
    let mark = s.ex.lock().marks.get(symbol).copied().unwrap_or_default();
    json!({"positionId": position_id(symbol, t), "symbol": symbol, "positionType": t, "openType": open,
           "state": if qty.is_zero() { 3 } else { 1 }, "holdVol": n(qty.abs()), "frozenVol": 0, "closeVol": 0,
           "holdAvgPrice": n(mark), "openAvgPrice": n(mark), "liquidatePrice": 0, "oim": 0, "im": 0,
           "holdFee": 0, "realised": 0, "leverage": lev, "adlLevel": 1, "autoAddIm": false,
           "createTime": now_ms(), "updateTime": now_ms()})
}

fn order_row(s: &Shared, o: &MockOrder) -> Value {
    let code = s
        .extra
        .lock()
        .unwrap()
        .side_codes
        .get(&o.client_id)
        .copied()
        .unwrap_or(match (o.side, o.reduce_only) {
            (Side::Buy, false) => 1,
            (Side::Buy, true) => 2,
            (Side::Sell, false) => 3,
            (Side::Sell, true) => 4,
        });
    let state = match o.state {
        OrderState::New | OrderState::PartiallyFilled => 2,
        OrderState::Filled => 3,
        OrderState::Cancelled => 4,
    };
    json!({"orderId": o.venue_id.trim_start_matches("ord-").to_string() + "0000", "symbol": o.native,
           "positionId": 0, "price": n(o.price.unwrap_or_default()), "vol": n(o.qty), "leverage": 20, "side": code,
           "category": 1, "orderType": if o.price.is_some() { 1 } else { 5 },
           "dealAvgPrice": n(o.avg_price.unwrap_or_default()), "dealVol": n(o.filled), "orderMargin": 0,
           "takerFee": 0, "makerFee": 0, "profit": 0, "feeCurrency": "USDT", "openType": 2, "state": state,
           "externalOid": o.client_id, "errorCode": 0, "usedMargin": 0, "createTime": now_ms(),
           "updateTime": now_ms(), "version": 1})
}

/// `order/create` and each `submit_batch` item: `Ok(order)` or MEXC's `(code, message)`.
fn create(
    s: &Shared,
    b: &Value,
    applied: Applied,
    batch: bool,
) -> Result<MockOrder, (i64, String)> {
    let e = |code: i64, m: &str| Err((code, m.to_string()));
    let symbol = b["symbol"].as_str().unwrap_or("");
    let Some(c) = contract(symbol) else {
        return e(1001, "contract does not exist");
    };
    let Some(vol) = num(&b["vol"]) else {
        return e(600, "vol is required");
    };
    if !(vol % c.vol_unit).is_zero() || vol < c.min_vol {
        return e(2011, "order quantity error");
    }
    let side = b["side"].as_i64().unwrap_or(0);
    let oid = b["externalOid"].as_str().unwrap_or("");
    if oid.len() > 32 {
        return e(2030, "externalOid is too long");
    }
    let open_type = b["openType"].as_i64().unwrap_or(0);
    if !(open_type == 1 || open_type == 2) {
        return e(600, "openType is required");
    }
    if open_type == 1 && b.get("leverage").is_none() {
        return e(2006, "leverage is required for isolated orders");
    }
    let limit_price = match b["type"].as_i64() {
        Some(5) => None,
        Some(1) => match num(&b["price"]) {
            Some(p) if (p % c.price_unit).is_zero() => Some(p),
            _ => return e(2015, "price precision error"),
        },
        _ => return e(2029, "order type error"),
    };
    let reduce_flag = b.get("reduceOnly").and_then(Value::as_bool);
    let (hedge, disabled) = {
        let x = s.extra.lock().unwrap();
        (x.hedge, x.trading_disabled)
    };
    let (order_side, closing) = match side {
        1 => (Side::Buy, false),
        2 => (Side::Buy, true),
        3 => (Side::Sell, false),
        4 => (Side::Sell, true),
        _ => return e(600, "side error"),
    };
    if hedge && reduce_flag.is_some() {
        return e(600, "reduceOnly is not supported in hedge mode");
    }
    // One-way mode nets: a close code without reduceOnly could open the other side.
    if !hedge && closing && reduce_flag != Some(true) {
        return e(
            600,
            "close orders need reduceOnly in one-way mode (loopback rule)",
        );
    }
    if !hedge && !closing && reduce_flag == Some(true) {
        return e(600, "reduceOnly on an opening side code");
    }
    if disabled && !closing {
        return e(1002, "Contract not allow place order!");
    }
    if batch {
        // A reused externalOid answers with the order that has it.
        if let Some(existing) = s.ex.order(oid) {
            return Ok(existing);
        }
    }
    match s.ex.place(Place {
        native: symbol,
        side: order_side,
        qty: vol,
        client_id: oid,
        reduce_only: closing,
        limit_price,
        partial: applied.partial,
        hold: applied.hold,
        hide: applied.hide,
    }) {
        Ok(o) => {
            s.extra
                .lock()
                .unwrap()
                .side_codes
                .insert(o.client_id.clone(), side);
            if !applied.hide {
                push_order(s, &o);
            }
            Ok(o)
        }
        Err(Reject::Duplicate) => e(603, "Repeated requests!"),
        Err(Reject::ReduceOnly) => e(2009, "position does not exist or has been closed"),
        Err(Reject::UnknownSymbol) => e(1001, "contract does not exist"),
        Err(other) => e(600, &format!("order refused: {other:?}")),
    }
}

fn post(s: &Shared, path: &str, b: &Value, applied: Applied) -> Response {
    match path {
        "/api/v1/private/order/create" => {
            s.extra.lock().unwrap().bodies.push(b.to_string());
            match create(s, b, applied, false) {
                Ok(o) => envelope(json!({"orderId": order_row(s, &o)["orderId"], "ts": now_ms()})),
                Err((code, m)) => error(code, &m),
            }
        }
        "/api/v1/private/order/submit_batch" => {
            s.extra.lock().unwrap().bodies.push(b.to_string());
            if !s.extra.lock().unwrap().batch_permission {
                return error(704, "No permission to access the endpoint (submit_batch)");
            }
            let Some(items) = b.as_array().filter(|a| !a.is_empty() && a.len() <= 50) else {
                return error(600, "between 1 and 50 orders");
            };
            let out: Vec<Value> = items
                .iter()
                .map(|item| {
                    let oid = item["externalOid"].as_str().unwrap_or("");
                    match create(s, item, applied, true) {
                        Ok(o) => json!({"externalOid": oid, "orderId": order_row(s, &o)["orderId"], "errorCode": 0, "errorMsg": "success"}),
                        Err((code, m)) => json!({"externalOid": oid, "orderId": null, "errorCode": code, "errorMsg": m}),
                    }
                })
                .collect();
            envelope(Value::Array(out))
        }
        "/api/v1/private/order/cancel_with_external" => {
            let oid = b["externalOid"].as_str().unwrap_or("");
            if s.ex
                .order(oid)
                .is_none_or(|o| Some(o.native.as_str()) != b["symbol"].as_str())
            {
                return error(2040, "order does not exist");
            }
            match s.ex.cancel(oid) {
                Ok(o) => {
                    push_order(s, &o);
                    envelope(Value::Null)
                }
                Err(_) => error(2041, "order state cannot be cancelled"),
            }
        }
        "/api/v1/private/order/change_limit_order" => {
            let id = match &b["orderId"] {
                Value::Number(x) => x.to_string(),
                Value::String(x) => x.clone(),
                _ => String::new(),
            };
            let found =
                s.ex.lock()
                    .orders
                    .values()
                    .find(|o| o.venue_id.trim_start_matches("ord-").to_string() + "0000" == id)
                    .map(|o| o.client_id.clone());
            let Some(cid) = found else {
                return error(2040, "order does not exist");
            };
            match s.ex.amend(&cid, num(&b["vol"]), num(&b["price"])) {
                Ok(o) => {
                    push_order(s, &o);
                    envelope(Value::Null)
                }
                Err(_) => error(2041, "order state cannot be changed"),
            }
        }
        "/api/v1/private/position/change_leverage" => {
            let Some(lev) = b["leverage"].as_i64().filter(|l| *l >= 1) else {
                return error(2006, "leverage error");
            };
            let mut x = s.extra.lock().unwrap();
            if let Some(pid) = b["positionId"].as_i64() {
                let positions = s.ex.lock().positions.clone();
                let Some((sym, t)) = positions.iter().find_map(|(sym, q)| {
                    let t = if *q > Decimal::ZERO { 1 } else { 2 };
                    (!q.is_zero() && position_id(sym, t) == pid).then(|| (sym.clone(), t))
                }) else {
                    return error(2009, "position does not exist");
                };
                let open = x.leverage.get(&(sym.clone(), t)).map(|v| v.1).unwrap_or(2);
                x.leverage.insert((sym.clone(), t), (lev, open));
                s.ex.lock().leverage.insert(sym, Decimal::from(lev));
            } else {
                let (Some(sym), Some(t), Some(open)) = (
                    b["symbol"].as_str(),
                    b["positionType"].as_i64(),
                    b["openType"].as_i64(),
                ) else {
                    return error(
                        600,
                        "symbol, positionType and openType are required without positionId",
                    );
                };
                x.leverage.insert((sym.to_string(), t), (lev, open));
                s.ex.lock()
                    .leverage
                    .insert(sym.to_string(), Decimal::from(lev));
                s.ex.lock().isolated.insert(sym.to_string(), open == 1);
            }
            envelope(Value::Null)
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// The private pushes an order change causes: the order, its fill, the position.
fn push_order(s: &Shared, o: &MockOrder) {
    let msg = |filter: &'static str, channel: &str, data: Value| Push {
        filter,
        text: json!({"channel": channel, "data": data, "ts": now_ms()}).to_string(),
    };
    let row = order_row(s, o);
    let _ = s
        .push
        .send(msg("order", "push.personal.order", row.clone()));
    if !o.filled.is_zero() {
        let deal = json!({"id": format!("deal-{}", o.venue_id), "symbol": o.native, "side": row["side"],
            "vol": n(o.filled), "price": n(o.avg_price.unwrap_or_default()), "fee": 0, "feeCurrency": "USDT",
            "profit": 0, "isTaker": true, "category": 1, "orderId": row["orderId"],
            "externalOid": o.client_id, "timestamp": now_ms()});
        let _ = s
            .push
            .send(msg("order.deal", "push.personal.order.deal", deal));
    }
    let net = s.ex.position(&o.native);
    let _ = s.push.send(msg(
        "position",
        "push.personal.position",
        position_row(s, &o.native, net),
    ));
    let _ = s.push.send(msg("asset", "push.personal.asset", json!({"currency": "USDT", "availableBalance": 0, "frozenBalance": 0, "positionMargin": 0, "bonus": 0})));
}

fn login_ok(param: &Value) -> bool {
    let (Some(key), Some(time), Some(sig)) = (
        param["apiKey"].as_str(),
        param["reqTime"].as_str(),
        param["signature"].as_str(),
    ) else {
        return false;
    };
    let fresh = time
        .parse::<i64>()
        .is_ok_and(|t| (now_ms() - t).abs() <= 10_000);
    key == KEY && fresh && loopback::hmac_sha256_hex(SECRET, &string_to_sign(key, time, "")) == sig
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
    let mut pushes = s.push.subscribe();
    let mut authed = false;
    // After login every private topic is pushed until a filter narrows them.
    let mut filters: Option<HashSet<String>> = None;
    let mut watch = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            frame = ws.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                s.ex.lock().ws_sessions[me].push(text.clone());
                let Ok(msg) = serde_json::from_str::<Value>(&text) else { continue };
                let reply = match msg["method"].as_str() {
                    Some("login") => {
                        authed = login_ok(&msg["param"]);
                        if authed {
                            let mut st = s.ex.lock();
                            st.ws_logins += 1;
                            st.ws_subscriptions += 1;
                            json!({"channel": "rs.login", "data": "success", "ts": now_ms()})
                        } else {
                            json!({"channel": "rs.error", "data": "signature verification failed", "ts": now_ms()})
                        }
                    }
                    Some("personal.filter") if authed => {
                        filters = Some(msg["param"]["filters"].as_array().into_iter().flatten()
                            .filter_map(|f| f["filter"].as_str().map(str::to_string)).collect());
                        json!({"channel": "rs.personal.filter", "data": "success", "ts": now_ms()})
                    }
                    Some("ping") => json!({"channel": "pong", "data": now_ms()}),
                    _ => continue,
                };
                if ws.send(Message::Text(reply.to_string())).await.is_err() {
                    return;
                }
            }
            push = pushes.recv() => {
                let Ok(push) = push else { continue };
                let wanted = filters.as_ref().is_none_or(|f| f.contains(push.filter));
                if authed && wanted && ws.send(Message::Text(push.text)).await.is_err() {
                    return;
                }
            }
            _ = watch.tick() => {
                let drop_now = s.ex.lock().ws_sessions.iter().skip(me + 1).any(|x| x.len() == 1 && x[0] == "__drop__");
                if drop_now {
                    return;
                }
            }
        }
    }
}

impl Loopback for MexcServer {
    fn kind(&self) -> &'static str {
        "mexc"
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
    fn units(&self, unified: &str) -> Decimal {
        // Linear: contracts per coin (1 / contractSize); inverse: USD contracts, like the
        // other loopbacks' BTCUSD.
        match contract(&self.native(unified)) {
            Some(c) if !c.symbol.ends_with("_USD") => Decimal::ONE / c.contract_size,
            _ => Decimal::ONE,
        }
    }
    fn push_noise(&self, unified: &str) -> usize {
        let native = self.native(unified);
        let order = |oid: &str, state: i64| {
            json!({"channel": "push.personal.order", "ts": now_ms(), "data": {
                "orderId": "77", "symbol": native, "price": 0, "vol": 50, "side": 1, "orderType": 5,
                "dealVol": 50, "dealAvgPrice": 50000, "state": state, "externalOid": oid, "errorCode": 0}})
            .to_string()
        };
        self.push_raw("order", order("teffffffffffffffffffffffffffffff", 3));
        self.push_raw("order", order("unknown-1", 2));
        self.push_raw(
            "position",
            json!({"channel": "push.personal.position", "ts": now_ms(), "data": {
                "positionId": 1, "symbol": native, "positionType": 1, "openType": 2, "state": 1,
                "holdVol": 990000, "holdAvgPrice": 50000, "leverage": 20}})
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
}
