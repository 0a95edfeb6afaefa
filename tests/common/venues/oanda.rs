//! A loopback OANDA v20 server on top of `MockExchange`: REST (the kit's `serve`/`Wire`) and
//! the two NDJSON streams on a second listener, as OANDA has a separate stream host. It checks
//! the bearer token itself, keeps a transaction log with strictly increasing ids (orders,
//! fills, cancels) served by `/transactions/sinceid` and pushed on the transaction stream,
//! answers orders as OANDA does (201 with a fill, or 201 with a cancel and its reason), and
//! enforces the documented limits (100 requests/s, 2 new stream connections/s, 429).
//!
//! The venue-generic suites trade BTCUSDT (and the inverse BTCUSD); the account this server
//! hands out maps them with `symbol_map` to FX instruments: BTCUSDT → EUR_USD marked at
//! BTC/1000 (so one unit is 0.001 "BTC", the suites' lot), BTCUSD → USD_JPY at 100 (one unit
//! is one dollar, like an inverse contract). EUR_GBP and GBP_USD are listed for cross tests.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit};
use crate::common::loopback::{self, Applied, Request, Wire};
use crate::common::venues::Loopback;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};

pub const TOKEN: &str = "loopback-oanda-token";
pub const ACCOUNT_ID: &str = "101-004-1234567-001";
/// Venue units (EUR of EUR_USD) per BTC of the suites.
pub const UNITS_PER_BTC: Decimal = dec!(1000);
/// A `ws_sessions` entry that drops the pricing streams only.
const DROP_PRICING: &str = "__drop_pricing__";

/// `(name, displayPrecision, tradeUnitsPrecision, marginRate)`.
const INSTRUMENTS: [(&str, u32, u32, &str); 4] = [
    ("EUR_USD", 5, 0, "0.0333"),
    ("USD_JPY", 3, 0, "0.04"),
    ("EUR_GBP", 5, 0, "0.05"),
    ("GBP_USD", 5, 0, "0.05"),
];

/// The benchmark's many symbols: `BENCH<n>USDT` is the CFD `BENCH<n>_USD` (quoted in the
/// account's home currency, whole units, one coin a unit), listed when it has a mark and mapped
/// by the account's `symbol_map` as the suites' BTC symbols are.
const BENCH_INSTRUMENT: (&str, u32, u32, &str) = ("BENCH", 3, 0, "0.05");

/// `(displayPrecision, tradeUnitsPrecision, marginRate)` and OANDA's type of an instrument.
fn instrument(name: &str) -> Option<((u32, u32, &'static str), &'static str)> {
    if let Some(i) = INSTRUMENTS.iter().find(|i| i.0 == name) {
        return Some(((i.1, i.2, i.3), "CURRENCY"));
    }
    let (_, display, units, rate) = BENCH_INSTRUMENT;
    (name.starts_with(BENCH_INSTRUMENT.0) && name.ends_with("_USD"))
        .then_some(((display, units, rate), "CFD"))
}

/// The benchmark's instrument for its unified `BENCH<n>USDT`.
pub fn bench_native(unified: &str) -> Option<String> {
    unified
        .strip_suffix("USDT")
        .filter(|base| base.starts_with(BENCH_INSTRUMENT.0))
        .map(|base| format!("{base}_USD"))
}

/// OANDA-only state the venue-agnostic core does not have.
#[derive(Debug, Default)]
pub struct Extra {
    pub price_lag_ms: i64,
    /// Market closed: orders that do not only reduce are cancelled with MARKET_HALTED.
    pub halted: bool,
    /// Orders that do not only reduce are cancelled with INSUFFICIENT_MARGIN.
    pub no_margin: bool,
    pub margin_rate: String,
    /// Every transaction, in id order.
    pub transactions: Vec<Value>,
    pub next_tx: u64,
    /// Client id → (order transaction id, fill transaction id).
    pub order_txs: HashMap<String, (String, Option<String>)>,
    /// Transaction ids not pushed on the stream (missed while it was down).
    pub stream_paused: bool,
}

#[derive(Clone)]
pub struct Shared {
    pub ex: MockExchange,
    pub extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<String>,
}

pub struct OandaServer {
    pub shared: Shared,
    pub rest_url: String,
    pub stream_url: String,
}

/// Starts the loopback with `equity` USD and EUR_USD at `btc` / 1000.
pub fn start(equity: Decimal, btc: Decimal) -> OandaServer {
    start_with_bench(equity, btc, &[])
}

/// `start`, plus the benchmark's `BENCH<n>USDT` (unified names) at the given marks.
pub fn start_with_bench(equity: Decimal, btc: Decimal, bench: &[(&str, Decimal)]) -> OandaServer {
    let mut marks = vec![
        ("EUR_USD".to_string(), btc / UNITS_PER_BTC),
        ("USD_JPY".into(), dec!(100)),
        ("EUR_GBP".into(), dec!(0.85)),
        ("GBP_USD".into(), dec!(1.25)),
    ];
    marks.extend(
        bench
            .iter()
            .filter_map(|(s, m)| bench_native(s).map(|n| (n, *m))),
    );
    let marks: Vec<(&str, Decimal)> = marks.iter().map(|(s, m)| (s.as_str(), *m)).collect();
    let ex = MockExchange::new(equity, &marks);
    {
        let mut st = ex.lock();
        let names: Vec<String> = st.marks.keys().cloned().collect();
        for name in names {
            if let Some(((_, units, _), _)) = instrument(&name) {
                st.lots.insert(name, Decimal::new(1, units));
            }
        }
    }
    let shared = Shared {
        ex: ex.clone(),
        extra: Arc::new(Mutex::new(Extra {
            margin_rate: "0.02".into(),
            next_tx: 100,
            ..Default::default()
        })),
        push: broadcast::channel(1024).0,
    };
    let rest = loopback::serve(ex, Arc::new(shared.clone()));
    let stream = serve_streams(shared.clone());
    OandaServer {
        shared,
        rest_url: format!("http://{rest}"),
        stream_url: format!("http://{stream}"),
    }
}

impl OandaServer {
    pub fn extra(&self) -> std::sync::MutexGuard<'_, Extra> {
        self.shared.extra.lock().unwrap()
    }

    /// Orders that do not only reduce are cancelled with MARKET_HALTED (a weekend).
    pub fn set_halted(&self, halted: bool) {
        self.extra().halted = halted;
    }

    /// Orders that do not only reduce are cancelled with INSUFFICIENT_MARGIN.
    pub fn set_no_margin(&self, no_margin: bool) {
        self.extra().no_margin = no_margin;
    }

    /// While paused, transactions are logged but not pushed (a stream that missed them).
    pub fn pause_transaction_stream(&self, paused: bool) {
        self.extra().stream_paused = paused;
    }

    /// The last transaction id of the account.
    pub fn last_transaction_id(&self) -> u64 {
        self.extra().next_tx - 1
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn venue_time(s: &Shared) -> String {
    rfc3339(now_ms() - s.extra.lock().unwrap().price_lag_ms)
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Response {
    json_answer(StatusCode::OK, body)
}

fn unauthorized() -> Response {
    json_answer(
        StatusCode::UNAUTHORIZED,
        json!({"errorMessage": "Insufficient authorization to perform request."}),
    )
}

fn reject(status: StatusCode, reason: &str, message: &str) -> Response {
    json_answer(
        status,
        json!({"errorCode": reason, "errorMessage": message,
               "orderRejectTransaction": {"type": "MARKET_ORDER_REJECT", "rejectReason": reason}}),
    )
}

pub fn authorized(headers: &HeaderMap) -> bool {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == format!("Bearer {TOKEN}"))
}

/// The account-scoped rest of a path (`/v3/accounts/{id}/summary` → `/summary`); `None` for
/// another account.
fn scoped(path: &str) -> Option<&str> {
    path.strip_prefix("/v3/accounts/")?.strip_prefix(ACCOUNT_ID)
}

fn units_text(native: &str, q: Decimal) -> String {
    let places = instrument(native).map_or(0, |((_, units, _), _)| units);
    let mut v = q.round_dp(places);
    v.rescale(places);
    v.to_string()
}

fn signed(o: &MockOrder, q: Decimal) -> String {
    units_text(&o.native, q * o.side.sign())
}

impl Shared {
    /// Logs a transaction under the next id and pushes it on the transaction stream.
    fn transact(&self, mut tx: Value) -> String {
        let mut extra = self.extra.lock().unwrap();
        let id = extra.next_tx;
        extra.next_tx += 1;
        tx["id"] = json!(id.to_string());
        tx["accountID"] = json!(ACCOUNT_ID);
        tx["time"] = json!(rfc3339(now_ms()));
        extra.transactions.push(tx.clone());
        let paused = extra.stream_paused;
        drop(extra);
        if !paused {
            let _ = self.push.send(tx.to_string());
        }
        id.to_string()
    }

    /// The order's creation (and fill) transactions, made once.
    fn order_txs(&self, o: &MockOrder) -> (String, Option<String>) {
        if let Some(ids) = self.extra.lock().unwrap().order_txs.get(&o.client_id) {
            return ids.clone();
        }
        let kind = if o.price.is_some() {
            "LIMIT_ORDER"
        } else {
            "MARKET_ORDER"
        };
        let mut create = json!({"type": kind, "instrument": o.native, "units": signed(o, o.qty),
            "timeInForce": if o.price.is_some() { "GTC" } else { "IOC" },
            "positionFill": if o.reduce_only { "REDUCE_ONLY" } else { "DEFAULT" },
            "reason": "CLIENT_ORDER", "clientExtensions": {"id": o.client_id}});
        if let Some(p) = o.price {
            create["price"] = json!(p.to_string());
        }
        let order_id = self.transact(create);
        let fill_id = (!o.filled.is_zero()).then(|| {
            self.transact(json!({"type": "ORDER_FILL", "orderID": order_id,
                "clientOrderID": o.client_id, "instrument": o.native,
                "units": signed(o, o.filled),
                "price": o.avg_price.unwrap_or_default().to_string(), "reason": "MARKET_ORDER"}))
        });
        let ids = (order_id, fill_id);
        self.extra
            .lock()
            .unwrap()
            .order_txs
            .insert(o.client_id.clone(), ids.clone());
        ids
    }

    fn tx(&self, id: &str) -> Option<Value> {
        self.extra
            .lock()
            .unwrap()
            .transactions
            .iter()
            .find(|t| t["id"] == id)
            .cloned()
    }

    fn order_json(&self, o: &MockOrder) -> Value {
        let (id, fill) = self.order_txs(o);
        let state = match (&o.state, o.price) {
            (OrderState::New | OrderState::PartiallyFilled, Some(_)) => "PENDING",
            (OrderState::Cancelled, _) if o.filled.is_zero() => "CANCELLED",
            _ => "FILLED",
        };
        let mut v = json!({"id": id, "type": if o.price.is_some() { "LIMIT" } else { "MARKET" },
            "instrument": o.native, "units": signed(o, o.qty), "state": state,
            "positionFill": if o.reduce_only { "REDUCE_ONLY" } else { "DEFAULT" },
            "timeInForce": if o.price.is_some() { "GTC" } else { "IOC" },
            "clientExtensions": {"id": o.client_id}});
        if let Some(p) = o.price {
            v["price"] = json!(p.to_string());
        }
        if let Some(f) = fill {
            v["fillingTransactionID"] = json!(f);
        }
        v
    }

    fn price_json(&self, native: &str, mark: Decimal) -> Value {
        let spread = dec!(0.00005) * mark;
        let places = instrument(native).map_or(5, |((display, _, _), _)| display);
        let px = |p: Decimal| p.round_dp(places + 2).normalize().to_string();
        json!({"type": "PRICE", "instrument": native, "time": venue_time(self),
            "tradeable": !self.extra.lock().unwrap().halted, "status": "tradeable",
            "bids": [{"price": px(mark - spread), "liquidity": 10000000}],
            "asks": [{"price": px(mark + spread), "liquidity": 10000000}],
            "closeoutBid": px(mark - spread), "closeoutAsk": px(mark + spread)})
    }

    /// `positionValue` of a currency in USD (the account's home).
    fn conversion(&self, currency: &str) -> Option<Decimal> {
        if currency == "USD" {
            return Some(Decimal::ONE);
        }
        let marks = self.ex.lock().marks.clone();
        marks.get(&format!("{currency}_USD")).copied().or_else(|| {
            marks
                .get(&format!("USD_{currency}"))
                .map(|m| Decimal::ONE / m)
        })
    }
}

fn field<'a>(b: &'a Value, k: &str) -> Option<&'a str> {
    b.get(k).and_then(Value::as_str)
}

impl Wire for Shared {
    fn placement(&self, req: &Request) -> Option<String> {
        (req.method == Method::POST && scoped(&req.path) == Some("/orders")).then(|| {
            let body = req.json().unwrap_or_default();
            body["order"]["clientExtensions"]["id"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
    }

    fn refuse_signature(&self, req: &Request) -> Option<Response> {
        (!authorized(&req.headers)).then(unauthorized)
    }

    fn fault_frame(&self, fault: &Fault) -> Response {
        match fault {
            Fault::RateLimit { reset_secs } => {
                let mut resp = json_answer(
                    StatusCode::TOO_MANY_REQUESTS,
                    json!({"errorMessage": "Rate limit violation of the number of requests."}),
                );
                resp.headers_mut()
                    .insert("retry-after", reset_secs.to_string().parse().unwrap());
                resp
            }
            Fault::AuthFail => unauthorized(),
            Fault::Status(code) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "fault",
            )
                .into_response(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    /// About 100 requests per second per connection (our client keeps one): counted per
    /// token. New stream connections are limited on the stream listener.
    fn limits(&self, req: &Request) -> Vec<Limit> {
        let token = req
            .header("authorization")
            .unwrap_or("none")
            .trim_start_matches("Bearer ")
            .to_string();
        vec![Limit::new(
            format!("token:{token}"),
            100,
            Duration::from_secs(1),
        )]
    }

    /// OANDA answers 429 with an error message and no quota headers.
    fn limit_refusal(&self, _exceeded: &Exceeded) -> Response {
        json_answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errorMessage": "Rate limit violation of the number of requests."}),
        )
    }

    fn route(&self, req: &Request, applied: Applied) -> Response {
        let q: HashMap<String, String> = req.params().into_iter().collect();
        if let Some(inst) = req
            .path
            .strip_prefix("/v3/instruments/")
            .and_then(|p| p.strip_suffix("/candles"))
        {
            return candles(self, inst, &q);
        }
        let Some(path) = scoped(&req.path) else {
            return json_answer(
                StatusCode::FORBIDDEN,
                json!({"errorMessage": "The provided request was forbidden."}),
            );
        };
        let path = path.to_string();
        match (req.method.clone(), path.as_str()) {
            (Method::GET, "/summary") => summary(self),
            (Method::GET, "/instruments") => instruments(self, &q),
            (Method::GET, "/pricing") => pricing(self, &q),
            (Method::GET, "/openPositions") => open_positions(self),
            (Method::GET, "/pendingOrders") => {
                let orders: Vec<Value> = self
                    .ex
                    .open_orders()
                    .iter()
                    .map(|o| self.order_json(o))
                    .collect();
                ok(
                    json!({"orders": orders, "lastTransactionID": self.extra.lock().unwrap().next_tx - 1}),
                )
            }
            (Method::POST, "/orders") => match req.json() {
                Some(b) => place(self, &b["order"], applied),
                None => reject(StatusCode::BAD_REQUEST, "INVALID_REQUEST", "not JSON"),
            },
            (Method::PATCH, "/configuration") => {
                let body = req.json().unwrap_or_default();
                match field(&body, "marginRate") {
                    Some(r) => {
                        self.extra.lock().unwrap().margin_rate = r.to_string();
                        let id =
                            self.transact(json!({"type": "CLIENT_CONFIGURE", "marginRate": r}));
                        ok(
                            json!({"clientConfigureTransaction": {"id": id, "marginRate": r}, "lastTransactionID": id}),
                        )
                    }
                    None => reject(StatusCode::BAD_REQUEST, "MARGIN_RATE_INVALID", "marginRate"),
                }
            }
            (Method::GET, "/transactions/sinceid") => {
                let after: u64 = q.get("id").and_then(|i| i.parse().ok()).unwrap_or(0);
                let extra = self.extra.lock().unwrap();
                let list: Vec<Value> = extra
                    .transactions
                    .iter()
                    .filter(|t| {
                        t["id"]
                            .as_str()
                            .and_then(|i| i.parse::<u64>().ok())
                            .is_some_and(|i| i > after)
                    })
                    .cloned()
                    .collect();
                ok(
                    json!({"transactions": list, "lastTransactionID": (extra.next_tx - 1).to_string()}),
                )
            }
            (Method::GET, p) if p.starts_with("/transactions/") => {
                match self.tx(&p["/transactions/".len()..]) {
                    Some(t) => ok(json!({"transaction": t})),
                    None => json_answer(
                        StatusCode::NOT_FOUND,
                        json!({"errorMessage": "The transaction specified does not exist"}),
                    ),
                }
            }
            (method, p) if p.starts_with("/orders/@") => {
                let rest = &p["/orders/@".len()..];
                let (cid, cancel) = match rest.strip_suffix("/cancel") {
                    Some(c) => (c.to_string(), true),
                    None => (rest.to_string(), false),
                };
                let cid = url::form_urlencoded::parse(format!("c={cid}").as_bytes())
                    .next()
                    .map(|(_, v)| v.to_string())
                    .unwrap_or(cid);
                match (method, cancel) {
                    (Method::GET, false) => match self.ex.order(&cid) {
                        Some(o) => ok(json!({"order": self.order_json(&o)})),
                        None => order_doesnt_exist(),
                    },
                    (Method::PUT, true) => match self.ex.cancel(&cid) {
                        Ok(o) => {
                            let (order_id, _) = self.order_txs(&o);
                            let id = self
                                .transact(json!({"type": "ORDER_CANCEL", "orderID": order_id,
                                "clientOrderID": cid, "reason": "CLIENT_REQUEST"}));
                            ok(
                                json!({"orderCancelTransaction": self.tx(&id), "lastTransactionID": id}),
                            )
                        }
                        Err(_) => order_doesnt_exist(),
                    },
                    (Method::PUT, false) => replace(self, &cid, &req.json().unwrap_or_default()),
                    _ => (StatusCode::METHOD_NOT_ALLOWED, "").into_response(),
                }
            }
            _ => (StatusCode::NOT_FOUND, "not found").into_response(),
        }
    }
}

fn order_doesnt_exist() -> Response {
    json_answer(
        StatusCode::NOT_FOUND,
        json!({"errorCode": "ORDER_DOESNT_EXIST", "errorMessage": "The Order specified does not exist",
               "orderCancelRejectTransaction": {"type": "ORDER_CANCEL_REJECT", "rejectReason": "ORDER_DOESNT_EXIST"}}),
    )
}

fn summary(s: &Shared) -> Response {
    let equity = s.ex.lock().equity;
    let extra = s.extra.lock().unwrap();
    ok(
        json!({"account": {"id": ACCOUNT_ID, "currency": "USD", "balance": equity.to_string(),
        "NAV": equity.to_string(), "unrealizedPL": "0.0000", "marginRate": extra.margin_rate,
        "marginAvailable": equity.to_string(), "hedgingEnabled": false,
        "lastTransactionID": (extra.next_tx - 1).to_string()},
        "lastTransactionID": (extra.next_tx - 1).to_string()}),
    )
}

fn instruments(s: &Shared, q: &HashMap<String, String>) -> Response {
    let wanted: Vec<&str> = q
        .get("instruments")
        .map(|l| l.split(',').collect())
        .unwrap_or_default();
    let marks = s.ex.lock().marks.clone();
    let mut rows = Vec::new();
    for name in &wanted {
        // The benchmark's instruments are listed where they have a mark.
        let listed =
            instrument(name).filter(|(_, kind)| *kind == "CURRENCY" || marks.contains_key(*name));
        let Some(((display, units, rate), kind)) = listed else {
            return reject(
                StatusCode::BAD_REQUEST,
                "INVALID_INSTRUMENT",
                "Invalid value specified for 'instruments'",
            );
        };
        rows.push(
            json!({"name": name, "type": kind, "displayName": name.replace('_', "/"),
            "pipLocation": if name.ends_with("JPY") { -2 } else { -4 }, "displayPrecision": display,
            "tradeUnitsPrecision": units, "minimumTradeSize": "1", "maximumOrderUnits": "100000000",
            "maximumPositionSize": "0", "marginRate": rate}),
        );
    }
    ok(json!({"instruments": rows}))
}

fn pricing(s: &Shared, q: &HashMap<String, String>) -> Response {
    let marks = s.ex.lock().marks.clone();
    let mut prices = Vec::new();
    let mut currencies = vec!["USD".to_string()];
    for name in q
        .get("instruments")
        .map(|l| l.split(','))
        .into_iter()
        .flatten()
    {
        let Some(mark) = marks.get(name) else {
            return reject(StatusCode::BAD_REQUEST, "INVALID_INSTRUMENT", name);
        };
        prices.push(s.price_json(name, *mark));
        for c in name.split('_') {
            if !currencies.iter().any(|x| x == c) {
                currencies.push(c.to_string());
            }
        }
    }
    let mut conversions = Vec::new();
    if q.get("includeHomeConversions").map(String::as_str) == Some("true") {
        for c in currencies {
            if let Some(f) = s.conversion(&c) {
                conversions.push(json!({"currency": c, "accountGain": f.to_string(),
                    "accountLoss": f.to_string(), "positionValue": f.to_string()}));
            }
        }
    }
    ok(json!({"time": venue_time(s), "prices": prices, "homeConversions": conversions}))
}

fn open_positions(s: &Shared) -> Response {
    let positions = s.ex.lock().positions.clone();
    let rows: Vec<Value> = positions
        .iter()
        .filter(|(_, q)| !q.is_zero())
        .map(|(name, q)| {
            let (long, short) = if *q > Decimal::ZERO {
                (units_text(name, *q), "0".to_string())
            } else {
                ("0".to_string(), units_text(name, *q))
            };
            json!({"instrument": name, "long": {"units": long}, "short": {"units": short},
                   "unrealizedPL": "0.0000"})
        })
        .collect();
    ok(json!({"positions": rows}))
}

fn candles(s: &Shared, inst: &str, q: &HashMap<String, String>) -> Response {
    let Some(mark) = s.ex.lock().marks.get(inst).copied() else {
        return reject(StatusCode::BAD_REQUEST, "INVALID_INSTRUMENT", inst);
    };
    let count: i64 = q.get("count").and_then(|c| c.parse().ok()).unwrap_or(3);
    let step = 60_000;
    let start = now_ms() / step * step - (count - 1) * step;
    let rows: Vec<Value> = (0..count)
        .map(|i| {
            let p = mark.to_string();
            json!({"complete": i + 1 < count, "volume": 10, "time": rfc3339(start + i * step),
                   "mid": {"o": p, "h": p, "l": p, "c": p}})
        })
        .collect();
    ok(json!({"instrument": inst, "granularity": "M1", "candles": rows}))
}

fn place(s: &Shared, b: &Value, applied: Applied) -> Response {
    let Some(native) = field(b, "instrument") else {
        return reject(StatusCode::BAD_REQUEST, "INSTRUMENT_MISSING", "instrument");
    };
    let Some(units) = field(b, "units").and_then(|u| u.parse::<Decimal>().ok()) else {
        return reject(StatusCode::BAD_REQUEST, "UNITS_INVALID", "units");
    };
    let precision = instrument(native).map(|((_, units, _), _)| units);
    let Some(precision) = precision else {
        return reject(
            StatusCode::BAD_REQUEST,
            "INSTRUMENT_UNKNOWN",
            "Invalid value specified for 'instrument'",
        );
    };
    if units.normalize().scale() > precision {
        return reject(
            StatusCode::BAD_REQUEST,
            "UNITS_PRECISION_EXCEEDED",
            "Precision of units exceeds the maximum allowed for the instrument",
        );
    }
    if units.abs() < Decimal::ONE {
        return reject(
            StatusCode::BAD_REQUEST,
            "UNITS_MIMIMUM_NOT_MET",
            "The units specified is less than the minimum",
        );
    }
    let cid = b["clientExtensions"]["id"].as_str().unwrap_or("");
    let reduce_only = field(b, "positionFill") == Some("REDUCE_ONLY");
    let market = field(b, "type") == Some("MARKET");
    let limit_price = if market {
        None
    } else {
        match field(b, "price").and_then(|p| p.parse::<Decimal>().ok()) {
            Some(p) => Some(p),
            None => return reject(StatusCode::BAD_REQUEST, "PRICE_MISSING", "price"),
        }
    };
    let side = if units > Decimal::ZERO {
        Side::Buy
    } else {
        Side::Sell
    };
    // Accepted, then cancelled at once: the 201 that is not a fill.
    let cancelled = |reason: &str| {
        let create = s.transact(json!({"type": "MARKET_ORDER", "instrument": native,
            "units": units.to_string(), "timeInForce": "IOC",
            "positionFill": field(b, "positionFill"), "clientExtensions": {"id": cid}}));
        let cancel = s.transact(json!({"type": "ORDER_CANCEL", "orderID": create,
            "clientOrderID": cid, "reason": reason}));
        json_answer(
            StatusCode::CREATED,
            json!({"orderCreateTransaction": s.tx(&create), "orderCancelTransaction": s.tx(&cancel),
                   "relatedTransactionIDs": [create, cancel], "lastTransactionID": cancel}),
        )
    };
    {
        let extra = s.extra.lock().unwrap();
        if !reduce_only && extra.halted {
            drop(extra);
            return cancelled("MARKET_HALTED");
        }
        if !reduce_only && extra.no_margin {
            drop(extra);
            return cancelled("INSUFFICIENT_MARGIN");
        }
    }
    match s.ex.place(Place {
        native,
        side,
        qty: units.abs(),
        client_id: cid,
        reduce_only,
        limit_price,
        partial: applied.partial,
        hold: applied.hold,
        hide: applied.hide,
    }) {
        Ok(o) => {
            if applied.hide {
                // Booked but not visible yet: its transactions appear when it does.
                return json_answer(StatusCode::CREATED, json!({}));
            }
            let (create, fill) = s.order_txs(&o);
            let mut answer = json!({"orderCreateTransaction": s.tx(&create),
                "lastTransactionID": fill.clone().unwrap_or(create.clone())});
            if let Some(f) = &fill {
                answer["orderFillTransaction"] = s.tx(f).unwrap_or_default();
            }
            if market && o.filled < o.qty {
                // IOC: what did not fill is cancelled.
                let _ = s.ex.cancel(&o.client_id);
                let id = s.transact(json!({"type": "ORDER_CANCEL", "orderID": create,
                    "clientOrderID": cid, "reason": "INSUFFICIENT_LIQUIDITY"}));
                answer["orderCancelTransaction"] = s.tx(&id).unwrap_or_default();
                answer["lastTransactionID"] = json!(id);
            }
            json_answer(StatusCode::CREATED, answer)
        }
        Err(Reject::Duplicate) => reject(
            StatusCode::BAD_REQUEST,
            "CLIENT_ORDER_ID_ALREADY_EXISTS",
            "The client Order ID specified is already in use",
        ),
        // OANDA's exact cancel reason for a REDUCE_ONLY order with nothing to reduce is not
        // documented; the client types any untyped cancel of a reduce-only order as such.
        Err(Reject::ReduceOnly) => cancelled("POSITION_CLOSEOUT_FAILED"),
        Err(Reject::UnknownSymbol) => reject(
            StatusCode::BAD_REQUEST,
            "INSTRUMENT_UNKNOWN",
            "Invalid value specified for 'instrument'",
        ),
        Err(other) => reject(
            StatusCode::BAD_REQUEST,
            "UNITS_INVALID",
            &format!("order refused: {other:?}"),
        ),
    }
}

fn replace(s: &Shared, cid: &str, b: &Value) -> Response {
    let spec = &b["order"];
    let qty = field(spec, "units")
        .and_then(|u| u.parse::<Decimal>().ok())
        .map(|u| u.abs());
    let price = field(spec, "price").and_then(|p| p.parse::<Decimal>().ok());
    let Some(before) = s.ex.order(cid) else {
        return order_doesnt_exist();
    };
    match s.ex.amend(cid, qty, price) {
        Ok(o) => {
            let (old, _) = s.order_txs(&before);
            let cancel = s.transact(json!({"type": "ORDER_CANCEL", "orderID": old,
                "clientOrderID": cid, "reason": "CLIENT_REQUEST_REPLACED"}));
            s.extra.lock().unwrap().order_txs.remove(cid);
            let (create, _) = s.order_txs(&o);
            json_answer(
                StatusCode::CREATED,
                json!({"orderCancelTransaction": s.tx(&cancel), "orderCreateTransaction": s.tx(&create),
                       "lastTransactionID": create}),
            )
        }
        Err(_) => order_doesnt_exist(),
    }
}

// ---- the stream host ----

fn serve_streams(shared: Shared) -> std::net::SocketAddr {
    let router = axum::Router::new()
        .fallback(stream_request)
        .with_state(shared);
    crate::common::exchange::serve_in_background(router)
}

async fn stream_request(
    axum::extract::State(s): axum::extract::State<Shared>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    // 2 new connections per second (Best Practices), refused with 429 when enforced.
    let limit = Limit::new("new-connections", 2, Duration::from_secs(1));
    if s.ex.windows().admit(&[limit]).is_err() {
        return json_answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"errorMessage": "Rate limit violation of newly established connections."}),
        );
    }
    if !authorized(&headers) {
        return unauthorized();
    }
    let path = uri.path().to_string();
    let pricing = match scoped(&path) {
        Some("/pricing/stream") => true,
        Some("/transactions/stream") => false,
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    let instruments: Vec<String> =
        url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == "instruments")
            .map(|(_, v)| v.split(',').map(str::to_string).collect())
            .unwrap_or_default();
    let me = {
        let mut st = s.ex.lock();
        st.ws_sessions
            .push(vec![format!("GET {path}"), "authorized".into()]);
        if !pricing {
            st.ws_logins += 1;
            st.ws_subscriptions += 1;
        }
        st.ws_sessions.len() - 1
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(256);
    tokio::spawn(stream_lines(s, me, pricing, instruments, tx));
    let body = Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    (
        StatusCode::OK,
        [(axum::http::header::CONTENT_TYPE, "application/octet-stream")],
        body,
    )
        .into_response()
}

/// One stream connection: a snapshot (pricing) or a heartbeat (transactions) at once, then
/// prices every 250 ms, pushed transactions as they happen, heartbeats every second, until a
/// `["__drop__"]` entry in `ws_sessions` ends it.
async fn stream_lines(
    s: Shared,
    me: usize,
    pricing: bool,
    instruments: Vec<String>,
    out: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let send = |text: String| {
        let out = out.clone();
        async move { out.send(Ok(Bytes::from(format!("{text}\n")))).await.is_ok() }
    };
    let mut pushes = s.push.subscribe();
    let heartbeat = |s: &Shared| {
        if pricing {
            json!({"type": "HEARTBEAT", "time": venue_time(s)}).to_string()
        } else {
            let last = s.extra.lock().unwrap().next_tx - 1;
            json!({"type": "HEARTBEAT", "lastTransactionID": last.to_string(), "time": rfc3339(now_ms())})
                .to_string()
        }
    };
    let prices = |s: &Shared| {
        let marks = s.ex.lock().marks.clone();
        instruments
            .iter()
            .filter_map(|i| marks.get(i).map(|m| s.price_json(i, *m).to_string()))
            .collect::<Vec<_>>()
    };
    if pricing {
        for line in prices(&s) {
            if !send(line).await {
                return;
            }
        }
    } else if !send(heartbeat(&s)).await {
        return;
    }
    let mut beat = tokio::time::interval(Duration::from_secs(1));
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut watch = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            _ = beat.tick() => {
                if !send(heartbeat(&s)).await { return; }
            }
            _ = tick.tick(), if pricing => {
                for line in prices(&s) {
                    if !send(line).await { return; }
                }
            }
            push = pushes.recv(), if !pricing => {
                match push {
                    Ok(line) => if !send(line).await { return; },
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                }
            }
            _ = watch.tick() => {
                let drop_now = s.ex.lock().ws_sessions.iter().skip(me + 1)
                    .any(|x| x.len() == 1 && (x[0] == "__drop__" || (pricing && x[0] == DROP_PRICING)));
                if drop_now {
                    // Ends the body mid-stream, as a dropped connection does.
                    let _ = out.send(Err(std::io::Error::other("dropped"))).await;
                    return;
                }
            }
        }
    }
}

impl Loopback for OandaServer {
    fn kind(&self) -> &'static str {
        "oanda"
    }
    fn exchange(&self) -> &MockExchange {
        &self.shared.ex
    }
    fn urls(&self) -> (String, String) {
        (self.rest_url.clone(), self.stream_url.clone())
    }
    fn key_secret(&self) -> (&'static str, &'static str) {
        (TOKEN, TOKEN)
    }
    fn native(&self, unified: &str) -> String {
        match unified {
            "BTCUSDT" => "EUR_USD".into(),
            "BTCUSD" => "USD_JPY".into(),
            other if other.len() == 6 => format!("{}_{}", &other[..3], &other[3..]),
            other => bench_native(other).unwrap_or_else(|| other.to_string()),
        }
    }
    fn units(&self, unified: &str) -> Decimal {
        // USD_JPY units are dollars, like the inverse contract they stand for.
        if unified == "BTCUSDT" {
            UNITS_PER_BTC
        } else {
            Decimal::ONE
        }
    }
    fn push_noise(&self, unified: &str) -> usize {
        let native = self.native(unified);
        let next = || {
            let mut extra = self.extra();
            let id = extra.next_tx;
            extra.next_tx += 1;
            id.to_string()
        };
        // A fill of an order that does not exist, an unknown order, and a stale duplicate.
        let fill = json!({"id": next(), "type": "ORDER_FILL", "orderID": "1", "clientOrderID": "teffffffffffffffffffffffffffffff",
            "instrument": native, "units": "5000", "price": "50", "time": rfc3339(now_ms())});
        let order = json!({"id": next(), "type": "MARKET_ORDER", "instrument": native, "units": "1",
            "clientExtensions": {"id": "unknown-1"}, "time": rfc3339(now_ms())});
        let stale = json!({"id": "1", "type": "ORDER_FILL", "orderID": "1", "clientOrderID": "unknown-2",
            "instrument": native, "units": "-99000", "price": "50", "time": rfc3339(now_ms())});
        for line in [fill, order, stale] {
            let _ = self.shared.push.send(line.to_string());
        }
        3
    }
    /// Prices streamed before the change were fresh when they came: the pricing stream is
    /// dropped and this returns once the client is connected again (its marks are reset on
    /// every connection), so that every price it holds afterwards is served with the lag.
    fn set_price_lag(&self, lag_ms: i64) -> bool {
        self.extra().price_lag_ms = lag_ms;
        let is_pricing = |s: &Vec<String>| s.first().is_some_and(|l| l.contains("/pricing/stream"));
        let marker = {
            let mut st = self.shared.ex.lock();
            if !st.ws_sessions.iter().any(is_pricing) {
                return true;
            }
            st.ws_sessions.push(vec![DROP_PRICING.into()]);
            st.ws_sessions.len() - 1
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if self.shared.ex.lock().ws_sessions[marker + 1..]
                .iter()
                .any(is_pricing)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
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
        let credential = trade_engine::config::Credential {
            api_key: Some(trade_engine::config::Secret::new(TOKEN)),
            account_id: Some(ACCOUNT_ID.into()),
            ..Default::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let venue = trade_engine::venue::build(&account, Some(&credential), dir.path())
            .expect("loopback venue");
        (venue, dir)
    }
    /// The suites' BTC symbols mapped to FX instruments (see the module comment), and the
    /// benchmark's to the CFDs that have a mark here.
    fn account(&self, name: &str, credentials: &str, timeout_ms: u64) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("BTCUSDT".into(), json!("EUR_USD"));
        map.insert("BTCUSD".into(), json!("USD_JPY"));
        let marks = self.shared.ex.lock().marks.clone();
        for native in marks.keys() {
            if let Some(base) = native
                .strip_suffix("_USD")
                .filter(|b| b.starts_with(BENCH_INSTRUMENT.0))
            {
                map.insert(format!("{base}USDT"), json!(native));
            }
        }
        json!({"name": name, "venue": "oanda", "credentials": credentials,
               "rest_url": self.rest_url, "ws_url": self.stream_url, "timeout_ms": timeout_ms,
               "symbol_map": map})
    }
    /// OANDA has no secret: a wrong "secret" is a wrong token.
    fn credential(&self, secret: Option<&str>) -> Value {
        json!({"api_key": secret.unwrap_or(TOKEN), "account_id": ACCOUNT_ID})
    }
}
