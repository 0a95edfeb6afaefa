//! A loopback BloFin on top of `MockExchange` (positions in contracts): REST (axum) and the
//! private WebSocket. It checks every signature with its own HMAC (hmac/sha2 directly, not
//! the crate's signer: base64 of the hex text), the passphrase, the 60 s timestamp window and
//! nonce reuse; keeps BloFin's quirks (every value a string, refusals inside HTTP 200 with
//! per-item codes, net vs hedge position mode, no amend); enforces the documented limits
//! (IP 500/min and 1,500/5 min, trading 30/10 s per user) with BloFin's 429; can answer as
//! the CDN in front of BloFin does (an HTML challenge page or a 403 firewall block); and
//! pushes `orders`, `positions` (snapshot on subscribe) and `account` to logged-in streams.
#![allow(dead_code)]

use crate::common::exchange::{Fault, MockExchange, MockOrder, OrderState, Place, Reject, Side};
use crate::common::limits::{Exceeded, Limit};
use crate::common::loopback::{self, Applied, Request, Wire};
use crate::common::venues::Loopback;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures::{SinkExt, StreamExt};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

pub const KEY: &str = "loopback-blofin-key";
pub const SECRET: &str = "loopback-blofin-secret";
pub const PASSPHRASE: &str = "loopback-blofin-passphrase";

/// One instrument as `/api/v1/market/instruments` spells it.
struct Inst {
    id: &'static str,
    contract_value: &'static str,
    lot: &'static str,
    min: &'static str,
    tick: &'static str,
}

/// BTC-USDT steps by whole contracts here (0.001 BTC, the lot the venue-generic suites
/// assume); BloFin's own 0.1-contract lot is SOL-USDT's here, and BTC's in the parse fixtures.
const INSTRUMENTS: [Inst; 3] = [
    Inst {
        id: "BTC-USDT",
        contract_value: "0.001",
        lot: "1",
        min: "1",
        tick: "0.1",
    },
    Inst {
        id: "SOL-USDT",
        contract_value: "1",
        lot: "0.1",
        min: "0.1",
        tick: "0.001",
    },
    Inst {
        id: "ETH-USDT",
        contract_value: "0.1",
        lot: "1",
        min: "1",
        tick: "0.01",
    },
];

/// The benchmark's many symbols (`BENCH<n>-USDT`, any that has a mark): linear, one coin a
/// contract in whole contracts.
const BENCH_INSTRUMENT: Inst = Inst {
    id: "BENCH",
    contract_value: "1",
    lot: "1",
    min: "1",
    tick: "0.001",
};

fn instrument(id: &str) -> Option<&'static Inst> {
    INSTRUMENTS.iter().find(|i| i.id == id).or_else(|| {
        (id.starts_with(BENCH_INSTRUMENT.id) && id.ends_with("-USDT")).then_some(&BENCH_INSTRUMENT)
    })
}

/// BloFin's spelling of a unified symbol: `BTCUSDT` → `BTC-USDT`.
pub fn native_of(unified: &str) -> String {
    match unified.strip_suffix("USDT") {
        Some(base) => format!("{base}-USDT"),
        None => unified.to_string(),
    }
}

/// What the CDN in front of BloFin answers instead of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cdn {
    /// 403 with `cf-mitigated: challenge` and a "Just a moment..." page.
    Challenge,
    /// 403 from the firewall rule (rate abuse), an HTML page.
    Firewall,
}

/// BloFin-only state the venue-agnostic core does not have.
#[derive(Debug, Default)]
pub struct Extra {
    /// Hedge mode (`long_short_mode`): long/short legs, `positionSide` required on orders.
    pub hedge: bool,
    /// The next requests are answered by the CDN, not the API.
    pub cdn: VecDeque<Cdn>,
    /// Mark prices are dated this many ms ago (a stale-price fault).
    pub price_lag_ms: i64,
    /// Leverage per (instId, marginMode).
    pub leverage: HashMap<(String, String), String>,
    /// Margin mode each order was placed in.
    pub order_modes: HashMap<String, String>,
    /// Nonces seen (BloFin refuses a nonce reused within 60 s).
    pub nonces: HashSet<String>,
}

#[derive(Clone)]
struct Shared {
    ex: MockExchange,
    extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<(&'static str, String)>,
}

pub struct BlofinServer {
    pub exchange: MockExchange,
    pub extra: Arc<Mutex<Extra>>,
    push: broadcast::Sender<(&'static str, String)>,
    pub rest_url: String,
    pub ws_url: String,
}

impl BlofinServer {
    pub fn start(exchange: MockExchange) -> BlofinServer {
        {
            let mut st = exchange.lock();
            let ids = INSTRUMENTS.iter().map(|i| i.id.to_string());
            // The benchmark's instruments are those its marks name.
            let ids: Vec<String> = ids.chain(st.marks.keys().cloned()).collect();
            for id in ids {
                if let Some(lot) = instrument(&id).and_then(|i| i.lot.parse().ok()) {
                    st.lots.insert(id, lot);
                }
            }
        }
        let shared = Shared {
            ex: exchange.clone(),
            extra: Arc::new(Mutex::new(Extra::default())),
            push: broadcast::channel(1024).0,
        };
        let rest = loopback::serve(exchange.clone(), Arc::new(shared.clone()));
        let ws = crate::common::exchange::accept_in_background({
            let shared = shared.clone();
            move |tcp| ws_session(tcp, shared.clone())
        });
        BlofinServer {
            exchange,
            extra: shared.extra.clone(),
            push: shared.push.clone(),
            rest_url: format!("http://{rest}"),
            ws_url: format!("ws://{ws}/ws/private"),
        }
    }

    pub fn set_hedge(&self, hedge: bool) {
        self.extra.lock().unwrap().hedge = hedge;
    }

    /// The next `n` requests are answered by the CDN with `kind`.
    pub fn cdn_block(&self, kind: Cdn, n: usize) {
        self.extra
            .lock()
            .unwrap()
            .cdn
            .extend(std::iter::repeat_n(kind, n));
    }

    /// Pushes a raw frame to every stream subscribed to `channel`.
    pub fn push_raw(&self, channel: &'static str, text: String) {
        let _ = self.push.send((channel, text));
    }

    /// The venue as the daemon builds it, with this server's key, passphrase and `secret`.
    pub fn venue_with_secret(
        &self,
        timeout_ms: u64,
        secret: &str,
    ) -> (Arc<dyn trade_engine::venue::Venue>, tempfile::TempDir) {
        let account: trade_engine::config::AccountConfig =
            serde_json::from_value(self.account("loopback", "cred", timeout_ms)).expect("account");
        let dir = tempfile::tempdir().expect("tempdir");
        let venue = trade_engine::venue::build(&account, Some(&credential(secret)), dir.path())
            .expect("blofin venue");
        (venue, dir)
    }
}

fn credential(secret: &str) -> trade_engine::config::Credential {
    use trade_engine::config::{Credential, Secret};
    Credential {
        api_key: Some(Secret::new(KEY)),
        api_secret: Some(Secret::new(secret)),
        api_passphrase: Some(Secret::new(PASSPHRASE)),
        ..Default::default()
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What BloFin signs: path (+ `?query` as sent) + METHOD + timestamp + nonce + body.
pub fn prehash(path_and_query: &str, method: &str, ts: &str, nonce: &str, body: &str) -> String {
    format!("{path_and_query}{method}{ts}{nonce}{body}")
}

/// base64 of the lowercase hex text of HMAC-SHA256 (checked against the shared vectors in
/// tests/signing_vectors.rs).
pub fn sign(secret: &str, prehash: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(loopback::hmac_sha256_hex(secret, prehash).as_bytes())
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

fn ok(data: Value) -> Response {
    json_answer(
        StatusCode::OK,
        json!({"code": "0", "msg": "success", "data": data}),
    )
}

fn error(code: &str, msg: &str) -> Response {
    json_answer(
        StatusCode::OK,
        json!({"code": code, "msg": msg, "data": null}),
    )
}

/// An order-type refusal: top-level "1" (all failed) and the reason in the item.
fn item_error(cid: &str, code: &str, msg: &str) -> Response {
    json_answer(
        StatusCode::OK,
        json!({"code": "1", "msg": "All operations failed",
               "data": [{"orderId": null, "clientOrderId": cid, "code": code, "msg": msg}]}),
    )
}

fn too_many() -> Response {
    json_answer(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"code": "429", "msg": "Too Many Requests"}),
    )
}

fn cdn_page(kind: Cdn) -> Response {
    let body = match kind {
        Cdn::Challenge => include_str!("../../fixtures/blofin/cdn_challenge.html"),
        Cdn::Firewall => include_str!("../../fixtures/blofin/firewall_403.html"),
    };
    let mut resp = (StatusCode::FORBIDDEN, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", "text/html; charset=UTF-8".parse().unwrap());
    if kind == Cdn::Challenge {
        h.insert("cf-mitigated", "challenge".parse().unwrap());
    }
    resp
}

impl Shared {
    /// The REST rule, computed independently; `None` when the signature is right.
    fn signature_refusal(&self, req: &Request) -> Option<Response> {
        let h = &req.headers;
        let (Some(key), Some(sig), Some(ts), Some(nonce), Some(pass)) = (
            header(h, "access-key"),
            header(h, "access-sign"),
            header(h, "access-timestamp"),
            header(h, "access-nonce"),
            header(h, "access-passphrase"),
        ) else {
            return Some(error("152401", "Access key does not exist"));
        };
        if key != KEY {
            return Some(error("152401", "Access key does not exist"));
        }
        let Ok(ts_ms) = ts.parse::<i64>() else {
            return Some(error(
                "152410",
                "The value of ACCESS-TIMESTAMP needs to be a millisecond timestamp",
            ));
        };
        if (now_ms() - ts_ms).abs() > 60_000 {
            return Some(error(
                "152405",
                "Timestamp in header or signature has expired, need to be within 60s",
            ));
        }
        if pass != PASSPHRASE {
            return Some(error("152408", "Passphrase error"));
        }
        let body = if req.method == Method::GET {
            String::new()
        } else {
            req.text()
        };
        let expected = sign(
            SECRET,
            &prehash(&req.path_and_query, req.method.as_str(), ts, nonce, &body),
        );
        if expected != sig {
            return Some(error("152409", "Signature verification failed"));
        }
        if !self.extra.lock().unwrap().nonces.insert(nonce.to_string()) {
            return Some(error(
                "152407",
                "Repeated nonce, Reusing within 60 seconds is not allowed.",
            ));
        }
        None
    }
}

impl Wire for Shared {
    fn placement(&self, req: &Request) -> Option<String> {
        (req.path == "/api/v1/trade/order").then(|| {
            let body = req.json().unwrap_or_default();
            field(&body, "clientOrderId").unwrap_or("").to_string()
        })
    }

    fn refuse_signature(&self, req: &Request) -> Option<Response> {
        // Market data needs no signature; one that is sent must still be right.
        if req.path.starts_with("/api/v1/market/") && !req.headers.contains_key("access-sign") {
            return None;
        }
        self.signature_refusal(req)
    }

    fn fault_frame(&self, fault: &Fault) -> Response {
        match fault {
            // BloFin documents no reset header; the injected fault carries its reset in a
            // `Retry-After` (which the client honours when present) so scenarios can set it.
            Fault::RateLimit { reset_secs } => {
                let mut resp = too_many();
                resp.headers_mut()
                    .insert("retry-after", reset_secs.to_string().parse().unwrap());
                resp
            }
            Fault::AuthFail => error("152409", "Signature verification failed"),
            Fault::Status(code) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::BAD_GATEWAY),
                "fault",
            )
                .into_response(),
            other => panic!("not an answer: {other:?}"),
        }
    }

    /// IP: 500 a minute and 1,500 in 5 minutes; trading endpoints: 30 per 10 s per user.
    fn limits(&self, req: &Request) -> Vec<Limit> {
        let mut limits = vec![
            Limit::new("ip/1m", 500, Duration::from_secs(60)),
            Limit::new("ip/5m", 1500, Duration::from_secs(300)),
        ];
        if req.path.starts_with("/api/v1/trade/") {
            let uid = header(&req.headers, "access-key").unwrap_or("anonymous");
            limits.push(Limit::new(
                format!("uid:{uid}/trade"),
                30,
                Duration::from_secs(10),
            ));
        }
        limits
    }

    /// BloFin's refusal: HTTP 429, code "429", no reset header.
    fn limit_refusal(&self, _exceeded: &Exceeded) -> Response {
        too_many()
    }

    fn route(&self, req: &Request, applied: Applied) -> Response {
        if let Some(kind) = self.extra.lock().unwrap().cdn.pop_front() {
            return cdn_page(kind);
        }
        let q: HashMap<String, String> = req.params().into_iter().collect();
        if req.method == Method::GET {
            get(self, &req.path, &q)
        } else {
            match req.json() {
                Some(b) => post(self, &req.path, &b, applied),
                None => error("152004", "JSON syntax error"),
            }
        }
    }
}

fn p<'a>(q: &'a HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str).filter(|v| !v.is_empty())
}

fn field<'a>(b: &'a Value, k: &str) -> Option<&'a str> {
    b.get(k).and_then(Value::as_str)
}

fn instrument_row(id: &str, i: &Inst) -> Value {
    json!({"instId": id, "baseCurrency": id.split('-').next().unwrap_or(""), "quoteCurrency": "USDT",
           "contractValue": i.contract_value, "listTime": "1678419600000", "expireTime": "4070851200000",
           "maxLeverage": "100", "minSize": i.min, "lotSize": i.lot, "tickSize": i.tick, "instType": "SWAP",
           "contractType": "linear", "maxLimitSize": "100000", "maxMarketSize": "50000", "state": "live",
           "settleCurrency": "USDT"})
}

fn position_rows(s: &Shared, only: Option<&str>) -> Vec<Value> {
    let hedge = s.extra.lock().unwrap().hedge;
    let positions: BTreeMap<String, Decimal> = s.ex.lock().positions.clone();
    let marks = s.ex.lock().marks.clone();
    let mut rows = Vec::new();
    for (inst, net) in positions {
        if net.is_zero() || only.is_some_and(|o| o != inst) {
            continue;
        }
        let mark = marks.get(&inst).copied().unwrap_or_default().to_string();
        let row = |side: &str, qty: Decimal| {
            json!({"positionId": format!("pos-{inst}-{side}"), "instId": inst, "instType": "SWAP",
                   "marginMode": "cross", "positionSide": side, "adl": "1", "positions": qty.to_string(),
                   "availablePositions": qty.to_string(), "averagePrice": mark, "margin": "",
                   "markPrice": mark, "marginRatio": "", "liquidationPrice": "", "unrealizedPnl": "0",
                   "unrealizedPnlRatio": "0", "maintenanceMargin": "", "createTime": now_ms().to_string(),
                   "updateTime": now_ms().to_string(), "leverage": "3", "initialMargin": ""})
        };
        if !hedge {
            rows.push(row("net", net));
        } else if net > Decimal::ZERO {
            rows.push(row("long", net));
        } else {
            rows.push(row("short", -net));
        }
    }
    rows
}

fn order_row(s: &Shared, o: &MockOrder) -> Value {
    let state = match o.state {
        OrderState::New => "live",
        OrderState::PartiallyFilled => "partially_filled",
        OrderState::Filled => "filled",
        OrderState::Cancelled if o.filled.is_zero() => "canceled",
        OrderState::Cancelled => "partially_canceled",
    };
    let mode = s
        .extra
        .lock()
        .unwrap()
        .order_modes
        .get(&o.client_id)
        .cloned()
        .unwrap_or_else(|| "cross".into());
    json!({"orderId": o.venue_id, "clientOrderId": o.client_id, "instId": o.native,
           "marginMode": mode, "positionSide": "net",
           "side": if o.side == Side::Buy { "buy" } else { "sell" },
           "orderType": if o.price.is_some() { "limit" } else { "market" },
           "price": o.price.map(|p| p.to_string()).unwrap_or_else(|| "0".into()),
           "size": o.qty.to_string(), "reduceOnly": o.reduce_only.to_string(), "leverage": "3",
           "state": state, "filledSize": o.filled.to_string(),
           "averagePrice": o.avg_price.map(|p| p.to_string()).unwrap_or_default(),
           "fee": "0", "pnl": "0", "createTime": now_ms().to_string(), "updateTime": now_ms().to_string(),
           "orderCategory": "normal", "brokerId": ""})
}

fn get(s: &Shared, path: &str, q: &HashMap<String, String>) -> Response {
    match path {
        "/api/v1/market/instruments" => {
            let marks = s.ex.lock().marks.clone();
            match p(q, "instId") {
                Some(id) => match instrument(id).filter(|_| marks.contains_key(id)) {
                    Some(i) => ok(json!([instrument_row(id, i)])),
                    None => error("152014", "Instrument ID does not exist"),
                },
                None => ok(marks
                    .keys()
                    .filter_map(|id| instrument(id).map(|i| instrument_row(id, i)))
                    .collect()),
            }
        }
        "/api/v1/market/mark-price" => {
            let id = p(q, "instId").unwrap_or("");
            let Some(mark) = s.ex.lock().marks.get(id).copied() else {
                return error("152014", "Instrument ID does not exist");
            };
            let lag = s.extra.lock().unwrap().price_lag_ms;
            ok(
                json!([{"instId": id, "indexPrice": mark.to_string(), "markPrice": mark.to_string(),
                       "ts": (now_ms() - lag).to_string()}]),
            )
        }
        "/api/v1/market/candles" => {
            let id = p(q, "instId").unwrap_or("");
            let Some(mark) = s.ex.lock().marks.get(id).copied() else {
                return error("152014", "Instrument ID does not exist");
            };
            let step_ms: i64 = match p(q, "bar") {
                Some("5m") => 300_000,
                Some("1H") => 3_600_000,
                Some("1D") => 86_400_000,
                _ => 60_000,
            };
            let limit: i64 = p(q, "limit").and_then(|l| l.parse().ok()).unwrap_or(500);
            let last = now_ms() - now_ms() % step_ms;
            let m = mark.to_string();
            let rows: Vec<Value> = (0..limit)
                .map(|k| {
                    json!([
                        (last - k * step_ms).to_string(),
                        m,
                        m,
                        m,
                        m,
                        "10",
                        "0.01",
                        "500",
                        if k == 0 { "0" } else { "1" }
                    ])
                })
                .collect();
            ok(json!(rows))
        }
        "/api/v1/account/balance" => {
            let e = s.ex.lock().equity.to_string();
            ok(
                json!({"ts": now_ms().to_string(), "totalEquity": e, "isolatedEquity": "0",
                      "details": [{"currency": "USDT", "equity": e, "balance": e, "available": e,
                                   "availableEquity": e, "frozen": "0", "orderFrozen": "0",
                                   "equityUsd": e, "isolatedEquity": "0", "bonus": "0"}]}),
            )
        }
        "/api/v1/account/positions" => ok(json!(position_rows(s, p(q, "instId")))),
        "/api/v1/account/position-mode" => {
            let hedge = s.extra.lock().unwrap().hedge;
            ok(json!({"positionMode": if hedge { "long_short_mode" } else { "net_mode" }}))
        }
        "/api/v1/account/batch-leverage-info" => {
            let mode = p(q, "marginMode").unwrap_or("cross").to_string();
            let extra = s.extra.lock().unwrap();
            let rows: Vec<Value> = p(q, "instId")
                .unwrap_or("")
                .split(',')
                .filter(|i| instrument(i).is_some())
                .map(|i| {
                    let lev = extra
                        .leverage
                        .get(&(i.to_string(), mode.clone()))
                        .cloned()
                        .unwrap_or_else(|| "1".into());
                    json!({"instId": i, "leverage": lev, "marginMode": mode, "positionSide": "net"})
                })
                .collect();
            ok(json!(rows))
        }
        "/api/v1/trade/orders-pending" => {
            let open = s.ex.open_orders();
            let mut rows: Vec<Value> = open
                .iter()
                .filter(|o| p(q, "instId").is_none_or(|i| i == o.native))
                .map(|o| order_row(s, o))
                .collect();
            // Newest first; `after` pages to older orders.
            rows.reverse();
            let limit: usize = p(q, "limit")
                .and_then(|l| l.parse().ok())
                .unwrap_or(20)
                .min(100);
            if let Some(after) = p(q, "after") {
                if let Some(pos) = rows.iter().position(|r| r["orderId"] == after) {
                    rows.drain(..=pos);
                }
            }
            rows.truncate(limit);
            ok(json!(rows))
        }
        "/api/v1/trade/order-detail" => {
            let (Some(id), Some(cid)) = (p(q, "instId"), p(q, "clientOrderId")) else {
                return error(
                    "152003",
                    "Either parameter orderId or clientOrderId is required.",
                );
            };
            match s.ex.order(cid).filter(|o| o.native == id) {
                Some(o) => ok(order_row(s, &o)),
                None => ok(Value::Null),
            }
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// A size as BloFin checks it: a string, a multiple of the lot, at least the minimum.
fn wire_size(inst: &Inst, s: Option<&str>) -> Option<Decimal> {
    let q: Decimal = s?.parse().ok()?;
    let lot: Decimal = inst.lot.parse().ok()?;
    let min: Decimal = inst.min.parse().ok()?;
    ((q % lot).is_zero() && q >= min).then_some(q)
}

fn post(s: &Shared, path: &str, b: &Value, applied: Applied) -> Response {
    match path {
        "/api/v1/trade/order" => create(s, b, applied),
        "/api/v1/trade/cancel-order" => {
            let id = field(b, "orderId").unwrap_or("");
            let found =
                s.ex.lock()
                    .orders
                    .values()
                    .find(|o| o.venue_id == id)
                    .cloned();
            let refused = || {
                json_answer(
                    StatusCode::OK,
                    json!({"code": "1", "msg": "All operations failed",
                    "data": {"orderId": id, "clientOrderId": null, "code": "102068",
                             "msg": "Cancel failed as the order has been filled, triggered, canceled or does not exist."}}),
                )
            };
            let Some(order) = found.filter(|o| Some(o.native.as_str()) == field(b, "instId"))
            else {
                return refused();
            };
            match s.ex.cancel(&order.client_id) {
                Ok(o) => {
                    push_order(s, &o);
                    ok(
                        json!({"orderId": o.venue_id, "clientOrderId": o.client_id, "code": "0", "msg": null}),
                    )
                }
                Err(_) => refused(),
            }
        }
        "/api/v1/account/set-leverage" => {
            let (Some(id), Some(lev), Some(mode)) = (
                field(b, "instId"),
                field(b, "leverage"),
                field(b, "marginMode"),
            ) else {
                return error(
                    "152001",
                    "Parameter instId, leverage or marginMode cannot be empty.",
                );
            };
            if instrument(id).is_none() {
                return error("152014", "Instrument ID does not exist");
            }
            if lev.parse::<u32>().is_err() || !["cross", "isolated"].contains(&mode) {
                return error("152002", "Parameter leverage error.");
            }
            s.extra
                .lock()
                .unwrap()
                .leverage
                .insert((id.to_string(), mode.to_string()), lev.to_string());
            s.ex.lock()
                .leverage
                .insert(id.to_string(), lev.parse().unwrap());
            ok(json!({"instId": id, "leverage": lev, "marginMode": mode, "positionSide": "net"}))
        }
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

fn create(s: &Shared, b: &Value, applied: Applied) -> Response {
    let cid = field(b, "clientOrderId").unwrap_or("");
    let id = field(b, "instId").unwrap_or("");
    let Some(inst) = instrument(id).filter(|_| s.ex.lock().marks.contains_key(id)) else {
        return item_error(cid, "152014", "Instrument ID does not exist");
    };
    if cid.len() > 32 || !cid.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return item_error(cid, "152009", "clientOrderId must be a combination of numbers, letters, or underscores, and the maximum length of characters is 32.");
    }
    let mode = field(b, "marginMode").unwrap_or("");
    if !["cross", "isolated"].contains(&mode) {
        return item_error(cid, "152002", "Parameter marginMode error.");
    }
    let side = match field(b, "side") {
        Some("buy") => Side::Buy,
        Some("sell") => Side::Sell,
        _ => return item_error(cid, "152002", "Parameter side error."),
    };
    let hedge = s.extra.lock().unwrap().hedge;
    match (hedge, field(b, "positionSide")) {
        (false, Some("net") | None) | (true, Some("long" | "short")) => {}
        _ => return item_error(cid, "102089", "Position mode mismatch"),
    }
    let Some(qty) = wire_size(inst, field(b, "size")) else {
        return item_error(cid, "152002", "Parameter size error.");
    };
    let reduce_only = match b.get("reduceOnly") {
        None => false,
        Some(Value::String(v)) if v == "true" => true,
        Some(Value::String(v)) if v == "false" => false,
        _ => return item_error(cid, "152002", "Parameter reduceOnly error."),
    };
    let limit_price = match field(b, "orderType") {
        Some("market") => None,
        Some("limit") => match field(b, "price").and_then(|p| p.parse::<Decimal>().ok()) {
            Some(p) => Some(p),
            None => return item_error(cid, "152001", "Parameter price cannot be empty."),
        },
        _ => return item_error(cid, "152002", "Parameter orderType error."),
    };
    match s.ex.place(Place {
        native: id,
        side,
        qty,
        client_id: cid,
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
                .order_modes
                .insert(o.client_id.clone(), mode.to_string());
            if !applied.hide {
                push_order(s, &o);
            }
            json_answer(StatusCode::OK, json!({"code": "0", "msg": "",
                "data": [{"orderId": o.venue_id, "clientOrderId": o.client_id, "msg": "", "code": "0"}]}))
        }
        Err(Reject::Duplicate) => item_error(cid, "102002", "Duplicate customized order ID"),
        Err(Reject::ReduceOnly) => item_error(cid, "102022", "Failed to place order. You don't have any positions of this contract. Turn off Reduce-only to continue."),
        Err(Reject::UnknownSymbol) => item_error(cid, "152014", "Instrument ID does not exist"),
        Err(other) => item_error(cid, "152002", &format!("order refused: {other:?}")),
    }
}

/// The private pushes an order change causes: the order, the position, the account.
fn push_order(s: &Shared, o: &MockOrder) {
    let msg = |channel: &str, data: Value| {
        json!({"action": "update", "arg": {"channel": channel}, "data": data}).to_string()
    };
    let _ = s
        .push
        .send(("orders", msg("orders", json!([order_row(s, o)]))));
    let mut rows = position_rows(s, Some(&o.native));
    if rows.is_empty() {
        // Flat: BloFin pushes the closed position with zero contracts.
        rows.push(
            json!({"instId": o.native, "instType": "SWAP", "marginMode": "cross",
                         "positionSide": "net", "positions": "0", "averagePrice": ""}),
        );
    }
    let _ = s.push.send(("positions", msg("positions", json!(rows))));
    let e = s.ex.lock().equity.to_string();
    let _ = s.push.send((
        "account",
        msg("account", json!({"totalEquity": e, "details": []})),
    ));
}

fn ws_login_ok(args: &Value) -> bool {
    let a = &args[0];
    let (Some(key), Some(pass), Some(ts), Some(nonce), Some(sig)) = (
        a["apiKey"].as_str(),
        a["passphrase"].as_str(),
        a["timestamp"].as_str(),
        a["nonce"].as_str(),
        a["sign"].as_str(),
    ) else {
        return false;
    };
    let fresh = ts
        .parse::<i64>()
        .is_ok_and(|t| (now_ms() - t).abs() <= 60_000);
    key == KEY
        && pass == PASSPHRASE
        && fresh
        && sign(SECRET, &prehash("/users/self/verify", "GET", ts, nonce, "")) == sig
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
    let mut channels: HashSet<String> = HashSet::new();
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
                if text == "ping" {
                    if ws.send(Message::Text("pong".into())).await.is_err() {
                        return;
                    }
                    continue;
                }
                let Ok(msg) = serde_json::from_str::<Value>(&text) else { continue };
                let mut replies = Vec::new();
                match msg["op"].as_str() {
                    Some("login") => {
                        authed = ws_login_ok(&msg["args"]);
                        s.ex.lock().ws_logins += usize::from(authed);
                        replies.push(if authed {
                            json!({"event": "login", "code": "0", "msg": ""})
                        } else {
                            json!({"event": "error", "code": "60009", "msg": "Login failed."})
                        });
                    }
                    Some("subscribe") if authed => {
                        s.ex.lock().ws_subscriptions += 1;
                        for arg in msg["args"].as_array().into_iter().flatten() {
                            let channel = arg["channel"].as_str().unwrap_or("").to_string();
                            replies.push(json!({"event": "subscribe", "arg": {"channel": channel}}));
                            if channel == "positions" {
                                // A snapshot of every open position follows the ack.
                                replies.push(json!({"action": "snapshot", "arg": {"channel": "positions"}, "data": position_rows(&s, None)}));
                            }
                            channels.insert(channel);
                        }
                    }
                    Some("subscribe") => replies.push(json!({"event": "error", "code": "60011", "msg": "Please log in"})),
                    _ => continue,
                }
                for reply in replies {
                    if ws.send(Message::Text(reply.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            push = pushes.recv() => {
                let Ok((channel, text)) = push else { continue };
                if authed && channels.contains(channel) && ws.send(Message::Text(text)).await.is_err() {
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

impl Loopback for BlofinServer {
    fn has_inverse(&self) -> bool {
        false
    }
    fn kind(&self) -> &'static str {
        "blofin"
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
    /// Contracts per coin: one BTC-USDT contract is 0.001 BTC, one ETH-USDT contract 0.1 ETH.
    fn units(&self, unified: &str) -> Decimal {
        instrument(&self.native(unified))
            .and_then(|i| i.contract_value.parse::<Decimal>().ok())
            .map(|cv| Decimal::ONE / cv)
            .unwrap_or(Decimal::ONE)
    }
    fn push_noise(&self, unified: &str) -> usize {
        let native = self.native(unified);
        let order = |cid: &str, state: &str| {
            json!({"action": "update", "arg": {"channel": "orders"}, "data": [{
                "orderId": format!("fake-{cid}"), "clientOrderId": cid, "instId": native,
                "side": "buy", "positionSide": "net", "orderType": "market", "price": "0",
                "size": "5000", "filledSize": if state == "filled" { "5000" } else { "0" },
                "averagePrice": "50000", "state": state, "reduceOnly": "false"}]})
            .to_string()
        };
        self.push_raw(
            "orders",
            order("teffffffffffffffffffffffffffffff", "filled"),
        );
        self.push_raw("orders", order("unknown-1", "live"));
        self.push_raw(
            "positions",
            json!({"action": "update", "arg": {"channel": "positions"}, "data": [{
                "instId": native, "positionSide": "net", "marginMode": "cross",
                "positions": "99000", "averagePrice": "50000"}]})
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
    fn build(&self, timeout_ms: u64) -> (Arc<dyn trade_engine::venue::Venue>, tempfile::TempDir) {
        self.venue_with_secret(timeout_ms, SECRET)
    }
    /// BloFin needs the passphrase too.
    fn credential(&self, secret: Option<&str>) -> Value {
        json!({"api_key": KEY, "api_secret": secret.unwrap_or(SECRET), "api_passphrase": PASSPHRASE})
    }
}

/// The loopback's marks: BTC at `btc`, ETH at 2,500.
pub fn start(equity: Decimal, btc: Decimal) -> BlofinServer {
    start_with_bench(equity, btc, &[])
}

/// `start`, plus the benchmark's `BENCH<n>USDT` (unified names) at the given marks.
pub fn start_with_bench(equity: Decimal, btc: Decimal, bench: &[(&str, Decimal)]) -> BlofinServer {
    let mut marks = vec![
        ("BTC-USDT".to_string(), btc),
        ("ETH-USDT".into(), dec!(2500)),
    ];
    marks.extend(bench.iter().map(|(s, m)| (native_of(s), *m)));
    let marks: Vec<(&str, Decimal)> = marks.iter().map(|(s, m)| (s.as_str(), *m)).collect();
    BlofinServer::start(MockExchange::new(equity, &marks))
}
