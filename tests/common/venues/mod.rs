//! Loopback servers speaking each venue's wire format on top of `MockExchange`, and the one
//! description of each that the end-to-end and fault suites run against. Adding a venue to
//! those suites is one `Loopback` impl and one line in `ALL`.
#![allow(dead_code)]

pub mod bitmex;
pub mod blofin;
pub mod bybit;
pub mod kucoin;
pub mod mexc;
pub mod oanda;

use crate::common::exchange::MockExchange;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{json, Value};

/// A running loopback venue as the venue-generic suites see it.
pub trait Loopback: Send + Sync {
    /// The venue kind in `engine.json`.
    fn kind(&self) -> &'static str;
    fn exchange(&self) -> &MockExchange;
    fn urls(&self) -> (String, String);
    fn key_secret(&self) -> (&'static str, &'static str);
    /// The venue's symbol for a unified one.
    fn native(&self, unified: &str) -> String;
    /// Venue quantity units per unit of the unified symbol's base (contracts per coin).
    fn units(&self, unified: &str) -> Decimal;
    /// Pushes stream events that must change nothing (a fill of an order that does not exist,
    /// an unknown order, an absurd position); returns how many.
    fn push_noise(&self, unified: &str) -> usize;
    /// Serves prices as of `lag_ms` ago; false when the venue's prices carry no time.
    fn set_price_lag(&self, lag_ms: i64) -> bool;
    /// The server itself, for venue-specific knobs (Bybit's hedge mode).
    fn as_any(&self) -> &dyn std::any::Any;
    /// Whether the venue trades the inverse BTCUSD (1 USD contracts) next to BTCUSDT.
    fn has_inverse(&self) -> bool {
        true
    }

    /// The venue as the daemon builds it (`venue::build`), on this server, with a state
    /// directory of its own.
    fn build(
        &self,
        timeout_ms: u64,
    ) -> (
        std::sync::Arc<dyn trade_engine::venue::Venue>,
        tempfile::TempDir,
    ) {
        let account: trade_engine::config::AccountConfig =
            serde_json::from_value(self.account("loopback", "cred", timeout_ms)).expect("account");
        let (key, secret) = self.key_secret();
        let credential = trade_engine::config::Credential {
            api_key: Some(trade_engine::config::Secret::new(key)),
            api_secret: Some(trade_engine::config::Secret::new(secret)),
            ..Default::default()
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let venue = trade_engine::venue::build(&account, Some(&credential), dir.path())
            .expect("loopback venue");
        (venue, dir)
    }

    /// An `engine.json` account on this server.
    fn account(&self, name: &str, credentials: &str, timeout_ms: u64) -> Value {
        let (rest, ws) = self.urls();
        json!({"name": name, "venue": self.kind(), "credentials": credentials,
               "rest_url": rest, "ws_url": ws, "timeout_ms": timeout_ms})
    }

    /// A `credentials.json` entry with the server's key (and `secret`, or its own).
    fn credential(&self, secret: Option<&str>) -> Value {
        let (key, own) = self.key_secret();
        json!({"api_key": key, "api_secret": secret.unwrap_or(own)})
    }

    /// Drops every stream connection without a close frame.
    fn drop_streams(&self) {
        self.exchange()
            .lock()
            .ws_sessions
            .push(vec!["__drop__".into()]);
    }
}

/// Every loopback venue, by kind.
pub const ALL: [&str; 6] = ["bybit", "bitmex", "oanda", "blofin", "kucoin", "mexc"];

/// Starts the loopback `kind` with `equity` USD and BTC (and the inverse BTCUSD) at
/// `btc`, ETH at 2,500.
pub fn start(kind: &str, equity: Decimal, btc: Decimal) -> Box<dyn Loopback> {
    start_with_marks(kind, equity, btc, &[])
}

/// `start`, plus instruments of the benchmark (`BENCH<n>USDT`, linear, unified names) at the
/// given marks, each listed under the venue's own spelling of it.
pub fn start_with_marks(
    kind: &str,
    equity: Decimal,
    btc: Decimal,
    bench: &[(&str, Decimal)],
) -> Box<dyn Loopback> {
    let marks = |own: [(&'static str, Decimal); 3], native: fn(&str) -> String| {
        let mut all: Vec<(String, Decimal)> =
            own.iter().map(|(s, m)| (s.to_string(), *m)).collect();
        all.extend(bench.iter().map(|(s, m)| (native(s), *m)));
        let all: Vec<(&str, Decimal)> = all.iter().map(|(s, m)| (s.as_str(), *m)).collect();
        MockExchange::new(equity, &all)
    };
    // Bybit and BitMEX spell `BENCH<n>USDT` as it is.
    let same: fn(&str) -> String = str::to_string;
    match kind {
        "bybit" => Box::new(bybit::BybitServer::start(marks(
            [("BTCUSDT", btc), ("BTCUSD", btc), ("ETHUSDT", dec!(2500))],
            same,
        ))),
        "bitmex" => Box::new(bitmex::start(marks(
            [("XBTUSDT", btc), ("XBTUSD", btc), ("ETHUSD", dec!(2500))],
            same,
        ))),
        "oanda" => Box::new(oanda::start_with_bench(equity, btc, bench)),
        "blofin" => Box::new(blofin::start_with_bench(equity, btc, bench)),
        "kucoin" => Box::new(kucoin::KucoinServer::start(marks(
            [
                ("XBTUSDTM", btc),
                ("ETHUSDTM", dec!(2500)),
                ("XRPUSDTM", dec!(0.5)),
            ],
            kucoin::native_of,
        ))),
        "mexc" => Box::new(mexc::start_with_bench(equity, btc, bench)),
        other => panic!("no loopback venue {other}"),
    }
}

impl Loopback for bybit::BybitServer {
    fn kind(&self) -> &'static str {
        "bybit"
    }
    fn exchange(&self) -> &MockExchange {
        &self.exchange
    }
    fn urls(&self) -> (String, String) {
        (self.rest_url.clone(), self.ws_url.clone())
    }
    fn key_secret(&self) -> (&'static str, &'static str) {
        (bybit::KEY, bybit::SECRET)
    }
    fn native(&self, unified: &str) -> String {
        unified.to_string()
    }
    fn units(&self, _unified: &str) -> Decimal {
        Decimal::ONE
    }
    fn push_noise(&self, unified: &str) -> usize {
        let order = |status: &str, link: &str, qty: &str| {
            json!({"topic": "order", "creationTime": 1, "data": [{
                "category": "linear", "symbol": unified, "orderId": "x", "orderLinkId": link,
                "side": "Buy", "orderType": "Market", "price": "0", "qty": qty, "leavesQty": "0",
                "cumExecQty": qty, "avgPrice": "50000", "orderStatus": status,
                "reduceOnly": false, "positionIdx": 0}]})
            .to_string()
        };
        self.push_raw(
            "order",
            order("Filled", "teffffffffffffffffffffffffffffff", "5"),
        );
        self.push_raw("order", order("New", "unknown-1", "1"));
        self.push_raw(
            "position",
            json!({"topic": "position", "data": [{"symbol": unified,
            "side": "Buy", "size": "99", "positionIdx": 0}]})
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

impl Loopback for bitmex::BitmexServer {
    fn kind(&self) -> &'static str {
        "bitmex"
    }
    fn exchange(&self) -> &MockExchange {
        &self.app.exchange
    }
    fn urls(&self) -> (String, String) {
        (self.rest_url.clone(), self.ws_url.clone())
    }
    fn key_secret(&self) -> (&'static str, &'static str) {
        (bitmex::KEY, bitmex::SECRET)
    }
    fn native(&self, unified: &str) -> String {
        match unified.strip_prefix("BTC") {
            Some(rest) => format!("XBT{rest}"),
            None => unified.to_string(),
        }
    }
    fn units(&self, unified: &str) -> Decimal {
        // XBTUSDT is contracts of 1e-6 XBT; the inverse XBTUSD is USD, like Bybit's BTCUSD.
        if unified == "BTCUSDT" {
            dec!(1000000)
        } else {
            Decimal::ONE
        }
    }
    fn push_noise(&self, unified: &str) -> usize {
        let native = self.native(unified);
        let row = |cid: &str, status: &str| {
            json!({"orderID": format!("fake-{cid}"), "clOrdID": cid, "symbol": native,
                   "side": "Buy", "orderQty": 5000, "ordStatus": status, "leavesQty": 0,
                   "cumQty": 5000, "avgPx": 50000})
        };
        self.app.push(
            "order",
            "insert",
            vec![row("teffffffffffffffffffffffffffffff", "Filled")],
        );
        self.app
            .push("order", "insert", vec![row("unknown-1", "New")]);
        self.app.push(
            "position",
            "update",
            vec![json!({"account": 1, "symbol": native,
            "currentQty": 99000000, "isOpen": true})],
        );
        3
    }
    fn set_price_lag(&self, lag_ms: i64) -> bool {
        self.app.set_price_lag(lag_ms);
        true
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}
