//! The venue conformance suite: one set of checks, run against every `Venue` implementation.
//! Real venues run against loopback servers (tests/common/venues/) that verify signatures and
//! answer with venue-shaped JSON; the sim venue runs in process.
//!
//! To add a loopback venue: add it to `venues::ALL` and `venues::start`
//! (tests/common/venues/mod.rs), then one `conformance_loopback!` line below.

mod common;

use async_trait::async_trait;
use common::exchange::{Fault, MockExchange, Target};
use common::venues::{self, Loopback};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::Arc;
use std::time::Duration;
use trade_engine::domain::{OrderKind, OrderRequest, OrderStatus, Side};
use trade_engine::venue::{MarginMode, RejectKind, Venue, VenueError, VenueEvent};

#[async_trait]
pub trait Harness: Send + Sync + Sized {
    fn start() -> Self;
    fn venue(&self) -> Arc<dyn Venue>;
    /// The native symbol the generic checks trade.
    fn symbol(&self) -> String;
    /// A valid order quantity (a few lots) in venue units.
    fn unit(&self) -> Decimal;
    /// The loopback exchange behind the venue (real venues only).
    fn exchange(&self) -> Option<&MockExchange>;
    /// Puts the account at `qty` (venue units) in `symbol()`.
    async fn set_position(&self, qty: Decimal);
}

fn market(cid: &str, native: &str, side: Side, qty: Decimal, reduce_only: bool) -> OrderRequest {
    OrderRequest {
        client_order_id: cid.to_string(),
        native: native.to_string(),
        side,
        qty,
        kind: OrderKind::Market,
        price: None,
        reduce_only,
        leverage: None,
        margin_mode: None,
    }
}

async fn position_of<H: Harness>(h: &H) -> Decimal {
    h.venue()
        .positions()
        .await
        .expect("positions")
        .into_iter()
        .find(|p| p.native == h.symbol())
        .map(|p| p.qty)
        .unwrap_or_default()
}

pub mod suite {
    use super::*;

    pub async fn instrument<H: Harness>(h: &H) {
        let v = h.venue();
        let inst = v.instrument(&h.symbol()).await.expect("instrument");
        assert_eq!(inst.native, h.symbol());
        assert!(
            inst.lot > Decimal::ZERO && inst.min_qty > Decimal::ZERO && inst.tick > Decimal::ZERO
        );
        assert!(
            inst.on_lot_grid(h.unit()),
            "the harness unit must be on the lot grid"
        );
        let quote = v.quote(&h.symbol()).await.expect("quote");
        assert!(quote.mark > Decimal::ZERO && quote.quote_to_usd > Decimal::ZERO);
        assert!(inst.usd_per_unit(quote.mark, quote.quote_to_usd) > Decimal::ZERO);
        assert!(v.instrument("NOSUCHSYMBOL").await.is_err());
    }

    pub async fn account_value<H: Harness>(h: &H) {
        let value = h.venue().account_value().await.expect("account value");
        assert!(value.equity_usd > Decimal::ZERO);
    }

    pub async fn positions_long_short_flat<H: Harness>(h: &H) {
        let u = h.unit();
        h.set_position(u * dec!(2)).await;
        assert_eq!(position_of(h).await, u * dec!(2));
        h.set_position(-u).await;
        assert_eq!(position_of(h).await, -u);
        h.set_position(Decimal::ZERO).await;
        assert_eq!(position_of(h).await, Decimal::ZERO);
    }

    pub async fn market_order_with_client_id<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        let v = h.venue();
        let ack = v
            .place_order(&market(
                "teconf0000000000000000000000001",
                &h.symbol(),
                Side::Buy,
                h.unit(),
                false,
            ))
            .await
            .expect("place");
        assert_eq!(ack.client_order_id, "teconf0000000000000000000000001");
        assert_eq!(ack.status, OrderStatus::Filled);
        assert_eq!(ack.filled_qty, h.unit());
        assert_eq!(position_of(h).await, h.unit());
        let found = v
            .order_by_client_id(&h.symbol(), "teconf0000000000000000000000001")
            .await
            .expect("lookup")
            .expect("order found by client id");
        assert_eq!(found.status, OrderStatus::Filled);
        // The executor accepts an order found by client id only when these match what it
        // journaled; a venue that leaves them out would turn every lookup into a conflict.
        assert_eq!(found.native.as_deref(), Some(h.symbol().as_str()));
        assert_eq!(found.side, Some(Side::Buy));
        assert_eq!(found.qty, Some(h.unit()));
        assert!(v
            .order_by_client_id(&h.symbol(), "teneverplaced0000000000000000000")
            .await
            .expect("lookup")
            .is_none());
    }

    pub async fn duplicate_client_id_is_reported<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        let v = h.venue();
        let req = market(
            "teconfdup00000000000000000000001",
            &h.symbol(),
            Side::Buy,
            h.unit(),
            false,
        );
        v.place_order(&req).await.expect("first");
        let err = v.place_order(&req).await.expect_err("duplicate");
        assert_eq!(
            err.reject_kind(),
            Some(RejectKind::DuplicateClientId),
            "{err:?}"
        );
        assert_eq!(
            position_of(h).await,
            h.unit(),
            "the duplicate did not trade"
        );
    }

    pub async fn reduce_only_never_crosses_zero<H: Harness>(h: &H) {
        let u = h.unit();
        h.set_position(u).await;
        let v = h.venue();
        let ack = v
            .place_order(&market(
                "teconfro000000000000000000000001",
                &h.symbol(),
                Side::Sell,
                u * dec!(3),
                true,
            ))
            .await;
        match ack {
            Ok(ack) => assert!(ack.filled_qty <= u),
            Err(e) => assert_eq!(e.reject_kind(), Some(RejectKind::ReduceOnly), "{e:?}"),
        }
        assert!(
            position_of(h).await >= Decimal::ZERO,
            "reduce-only crossed zero"
        );
        h.set_position(Decimal::ZERO).await;
        let err = v
            .place_order(&market(
                "teconfro000000000000000000000002",
                &h.symbol(),
                Side::Sell,
                u,
                true,
            ))
            .await
            .expect_err("reduce-only on a flat position");
        assert_eq!(err.reject_kind(), Some(RejectKind::ReduceOnly), "{err:?}");
    }

    pub async fn limit_amend_cancel<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        let v = h.venue();
        let inst = v.instrument(&h.symbol()).await.expect("instrument");
        let mark = v.quote(&h.symbol()).await.expect("quote").mark;
        let price = inst.round_price(mark * dec!(0.5), true);
        let cid = "teconflimit00000000000000000001";
        let ack = v
            .place_order(&OrderRequest {
                client_order_id: cid.into(),
                native: h.symbol(),
                side: Side::Buy,
                qty: h.unit(),
                kind: OrderKind::Limit,
                price: Some(price),
                reduce_only: false,
                leverage: None,
                margin_mode: None,
            })
            .await
            .expect("limit");
        assert_eq!(ack.status, OrderStatus::New);
        let open = v.open_orders().await.expect("open orders");
        let mine = open
            .iter()
            .find(|o| o.client_order_id.as_deref() == Some(cid))
            .expect("resting order listed");
        assert_eq!(mine.remaining, h.unit());
        assert_eq!(mine.side, Side::Buy);
        // Venues without an amend endpoint say so (the executor cancels and places again).
        let amended = v
            .amend_order(&h.symbol(), cid, Some(h.unit() * dec!(2)), None)
            .await;
        if v.capabilities().amend {
            amended.expect("amend");
        } else if let Err(e) = amended {
            // A venue without amend in place says so and leaves the order as it was, or
            // replaces it under the same client id (OANDA).
            assert!(matches!(e, VenueError::Unsupported(_)), "{e:?}");
        }
        v.cancel_order(&h.symbol(), cid).await.expect("cancel");
        let open = v.open_orders().await.expect("open orders");
        assert!(open
            .iter()
            .all(|o| o.client_order_id.as_deref() != Some(cid)));
        let again = v
            .cancel_order(&h.symbol(), cid)
            .await
            .expect_err("cancel of a cancelled order");
        assert_eq!(
            again.reject_kind(),
            Some(RejectKind::OrderNotFound),
            "{again:?}"
        );
    }

    pub async fn leverage_and_margin_mode<H: Harness>(h: &H) {
        let v = h.venue();
        v.set_leverage(&h.symbol(), dec!(3))
            .await
            .expect("set leverage");
        v.set_leverage(&h.symbol(), dec!(3))
            .await
            .expect("setting the same leverage is success");
        v.set_margin_mode(&h.symbol(), MarginMode::Cross)
            .await
            .expect("margin mode");
        v.set_margin_mode(&h.symbol(), MarginMode::Cross)
            .await
            .expect("same margin mode is success");
    }

    // ---- wire-level checks (loopback venues only) ----

    fn ex<H: Harness>(h: &H) -> &MockExchange {
        h.exchange().expect("wire checks need a loopback exchange")
    }

    pub async fn signatures_are_checked<H: Harness>(h: &H) {
        h.venue().account_value().await.expect("account value");
        h.venue().positions().await.expect("positions");
        let requests = ex(h).requests();
        assert!(!requests.is_empty());
        assert!(
            requests.iter().all(|r| r.signature_ok),
            "every request carried a valid signature: {requests:?}"
        );
    }

    pub async fn rate_limit_backs_off<H: Harness>(h: &H) {
        ex(h).inject(Target::Read, Fault::RateLimit { reset_secs: 30 });
        let err = h.venue().account_value().await.expect_err("rate limited");
        match err {
            VenueError::RateLimited { retry_after } => {
                assert!(retry_after >= Duration::from_secs(20), "{retry_after:?}")
            }
            other => panic!("expected RateLimited, got {other:?}"),
        }
        // The refused scope (the key, or on Bybit the key's endpoint) is held; nothing of it
        // is sent until the reset.
        let before = ex(h).requests().len();
        let err = h.venue().account_value().await.expect_err("scope held");
        assert!(matches!(err, VenueError::CircuitOpen { .. }), "{err:?}");
        assert_eq!(
            ex(h).requests().len(),
            before,
            "nothing was sent while the refused scope is held"
        );
    }

    pub async fn server_error_then_success<H: Harness>(h: &H) {
        ex(h).inject(Target::Read, Fault::Status(502));
        h.venue()
            .positions()
            .await
            .expect("a read retries after a 5xx");
    }

    pub async fn order_5xx_is_unknown<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        ex(h).inject(Target::Place, Fault::Status(503));
        let err = h
            .venue()
            .place_order(&market(
                "teconf5xx00000000000000000000001",
                &h.symbol(),
                Side::Buy,
                h.unit(),
                false,
            ))
            .await
            .expect_err("5xx");
        assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
    }

    pub async fn timeout_after_send_then_lookup<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        ex(h).inject(Target::Place, Fault::AcceptThenStall { delay_ms: 3000 });
        let cid = "teconfstall000000000000000000001";
        let err = h
            .venue()
            .place_order(&market(cid, &h.symbol(), Side::Buy, h.unit(), false))
            .await
            .expect_err("stalled");
        assert!(matches!(err, VenueError::Unknown(_)), "{err:?}");
        let found = h
            .venue()
            .order_by_client_id(&h.symbol(), cid)
            .await
            .expect("lookup")
            .expect("accepted order found");
        assert_eq!(found.status, OrderStatus::Filled);
        assert_eq!(
            ex(h).position(&h.symbol()),
            h.unit(),
            "exactly one order reached the exchange"
        );
    }

    pub async fn partial_fill_is_reported<H: Harness>(h: &H) {
        h.set_position(Decimal::ZERO).await;
        ex(h).inject(
            Target::Place,
            Fault::PartialFill {
                fraction: dec!(0.5),
            },
        );
        let ack = h
            .venue()
            .place_order(&market(
                "teconfpart0000000000000000000001",
                &h.symbol(),
                Side::Buy,
                h.unit() * dec!(2),
                false,
            ))
            .await
            .expect("partial");
        assert_eq!(ack.status, OrderStatus::PartiallyFilled);
        assert!(ack.filled_qty < h.unit() * dec!(2) && ack.filled_qty > Decimal::ZERO);
    }

    pub async fn bad_credentials_are_auth_errors<H: Harness>(h: &H) {
        ex(h).inject(Target::Any, Fault::AuthFail);
        let err = h.venue().account_value().await.expect_err("auth");
        assert!(matches!(err, VenueError::Auth(_)), "{err:?}");
    }

    pub async fn stream_auth_update_and_resubscribe<H: Harness>(h: &H) {
        let v = h.venue();
        let mut rx = v.subscribe().expect("the venue streams private events");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let e = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("connected in time")
                .expect("event");
            if e == VenueEvent::Connected {
                break;
            }
        }
        h.set_position(Decimal::ZERO).await;
        v.place_order(&market(
            "teconfstream00000000000000000001",
            &h.symbol(),
            Side::Buy,
            h.unit(),
            false,
        ))
        .await
        .expect("place");
        loop {
            let e = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("order event in time")
                .expect("event");
            if let VenueEvent::Order { ack, .. } = &e {
                if ack.client_order_id == "teconfstream00000000000000000001" {
                    break;
                }
            }
        }
        let sessions_before = ex(h).lock().ws_sessions.len();
        assert!(sessions_before >= 1);
        // The loopback server drops every stream when asked; the client must come back and
        // authenticate and subscribe again.
        ex(h).lock().ws_sessions.push(vec!["__drop__".into()]);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut reconnected = false;
        while tokio::time::Instant::now() < deadline {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(VenueEvent::Connected)) => {
                    reconnected = true;
                    break;
                }
                Ok(Ok(_)) | Ok(Err(_)) => {}
                Err(_) => break,
            }
        }
        assert!(reconnected, "stream reconnected");
        let sessions = ex(h).lock().ws_sessions.clone();
        let last = sessions
            .iter()
            .rev()
            .find(|s| s.first().map(String::as_str) != Some("__drop__"))
            .expect("a session");
        assert!(
            last.len() >= 2,
            "auth and subscriptions replayed on the new connection: {last:?}"
        );
    }
}

/// Checks every venue must pass.
#[macro_export]
macro_rules! conformance_core {
    ($name:ident, $harness:ty) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn instrument() {
                suite::instrument(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn account_value() {
                suite::account_value(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn positions_long_short_flat() {
                suite::positions_long_short_flat(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn market_order_with_client_id() {
                suite::market_order_with_client_id(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn duplicate_client_id_is_reported() {
                suite::duplicate_client_id_is_reported(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn reduce_only_never_crosses_zero() {
                suite::reduce_only_never_crosses_zero(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn limit_amend_cancel() {
                suite::limit_amend_cancel(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn leverage_and_margin_mode() {
                suite::leverage_and_margin_mode(&<$harness>::start()).await
            }
        }
    };
}

/// Wire-level checks for venues reached over HTTP/WebSocket (run against loopback servers).
#[macro_export]
macro_rules! conformance_wire {
    ($name:ident, $harness:ty) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn signatures_are_checked() {
                suite::signatures_are_checked(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn rate_limit_backs_off() {
                suite::rate_limit_backs_off(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn server_error_then_success() {
                suite::server_error_then_success(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn order_5xx_is_unknown() {
                suite::order_5xx_is_unknown(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn timeout_after_send_then_lookup() {
                suite::timeout_after_send_then_lookup(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn partial_fill_is_reported() {
                suite::partial_fill_is_reported(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn bad_credentials_are_auth_errors() {
                suite::bad_credentials_are_auth_errors(&<$harness>::start()).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn stream_auth_update_and_resubscribe() {
                suite::stream_auth_update_and_resubscribe(&<$harness>::start()).await
            }
        }
    };
}

// ---- sim ----

pub struct SimHarness {
    venue: Arc<dyn Venue>,
    _dir: tempfile::TempDir,
    seq: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl Harness for SimHarness {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let params = trade_engine::config::SimParams::default();
        let venue = trade_engine::venue::sim::SimVenue::open("conformance", params, dir.path())
            .expect("sim");
        SimHarness {
            venue: Arc::new(venue),
            _dir: dir,
            seq: Default::default(),
        }
    }
    fn venue(&self) -> Arc<dyn Venue> {
        self.venue.clone()
    }
    fn symbol(&self) -> String {
        "ETHUSDT".into()
    }
    fn unit(&self) -> Decimal {
        dec!(0.5)
    }
    fn exchange(&self) -> Option<&MockExchange> {
        None
    }
    async fn set_position(&self, qty: Decimal) {
        // The sim has no back door: trade to the position through the venue itself.
        let current = position_of(self).await;
        let delta = qty - current;
        if delta.is_zero() {
            return;
        }
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.venue
            .place_order(&market(
                &format!("setpos{n}"),
                &self.symbol(),
                Side::for_delta(delta),
                delta.abs(),
                false,
            ))
            .await
            .expect("set position");
    }
}

conformance_core!(sim, SimHarness);

// ---- loopback venues (tests/common/venues/): one line each ----

/// The loopback venue `venues::ALL[V]`, built through `venue::build` like the daemon does;
/// $100,000, BTC at 50,000; its quantity unit is two lots of BTCUSDT.
pub struct Loop<const V: usize> {
    server: Box<dyn Loopback>,
    venue: Arc<dyn Venue>,
    _dir: tempfile::TempDir,
}

#[async_trait]
impl<const V: usize> Harness for Loop<V> {
    fn start() -> Self {
        let server = venues::start(venues::ALL[V], dec!(100000), dec!(50000));
        // Below the loopback's 3 s stall, so that a stalled order times out.
        let (venue, dir) = server.build(1500);
        Loop {
            server,
            venue,
            _dir: dir,
        }
    }
    fn venue(&self) -> Arc<dyn Venue> {
        self.venue.clone()
    }
    fn symbol(&self) -> String {
        self.server.native("BTCUSDT")
    }
    fn unit(&self) -> Decimal {
        dec!(0.002) * self.server.units("BTCUSDT")
    }
    fn exchange(&self) -> Option<&MockExchange> {
        Some(self.server.exchange())
    }
    async fn set_position(&self, qty: Decimal) {
        self.server.exchange().set_position(&self.symbol(), qty);
    }
}

macro_rules! conformance_loopback {
    ($name:ident, $wire:ident, $index:literal) => {
        conformance_core!($name, Loop<$index>);
        conformance_wire!($wire, Loop<$index>);
    };
}

conformance_loopback!(bybit, bybit_wire, 0);
conformance_loopback!(bitmex, bitmex_wire, 1);
conformance_loopback!(oanda, oanda_wire, 2);
conformance_loopback!(blofin, blofin_wire, 3);
conformance_loopback!(kucoin, kucoin_wire, 4);
conformance_loopback!(mexc, mexc_wire, 5);

/// Bybit on an account in hedge mode (two legs per symbol, `positionIdx` 1/2).
pub struct BybitHedgeHarness(Loop<0>);

#[async_trait]
impl Harness for BybitHedgeHarness {
    fn start() -> Self {
        let h = Loop::<0>::start();
        h.server
            .as_any()
            .downcast_ref::<common::venues::bybit::BybitServer>()
            .expect("venues::ALL[0] is Bybit")
            .set_hedge(true);
        BybitHedgeHarness(h)
    }
    fn venue(&self) -> Arc<dyn Venue> {
        self.0.venue()
    }
    fn symbol(&self) -> String {
        self.0.symbol()
    }
    fn unit(&self) -> Decimal {
        self.0.unit()
    }
    fn exchange(&self) -> Option<&MockExchange> {
        self.0.exchange()
    }
    async fn set_position(&self, qty: Decimal) {
        self.0.set_position(qty).await
    }
}

conformance_core!(bybit_hedge, BybitHedgeHarness);
