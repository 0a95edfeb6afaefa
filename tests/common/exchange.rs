//! A venue-agnostic mock exchange for loopback tests: balances, positions, orders by client
//! id, a request log, and scripted faults. Each venue's test server (tests/common/venues/)
//! translates its wire format to and from this core and checks signatures independently.
#![allow(dead_code)]

use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    pub fn sign(self) -> Decimal {
        match self {
            Side::Buy => Decimal::ONE,
            Side::Sell => Decimal::NEGATIVE_ONE,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum OrderState {
    New,
    PartiallyFilled,
    Filled,
    Cancelled,
}

#[derive(Clone, Debug)]
pub struct MockOrder {
    pub venue_id: String,
    pub client_id: String,
    pub native: String,
    pub side: Side,
    pub qty: Decimal,
    pub filled: Decimal,
    pub price: Option<Decimal>,
    pub avg_price: Option<Decimal>,
    pub reduce_only: bool,
    pub state: OrderState,
}

/// An order as the venue adapter decoded it from the wire.
#[derive(Clone, Copy, Debug)]
pub struct Place<'a> {
    pub native: &'a str,
    pub side: Side,
    pub qty: Decimal,
    /// Empty when the request carried none.
    pub client_id: &'a str,
    pub reduce_only: bool,
    pub limit_price: Option<Decimal>,
    /// Fraction to fill (a PartialFill fault); `None` fills what is marketable.
    pub partial: Option<Decimal>,
    /// The order is booked but reaches the position only later (an AcceptedNotInPosition
    /// fault).
    pub hold: bool,
    /// The order is booked but neither its fill nor the order itself show for a while (a
    /// LateEverywhere fault).
    pub hide: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Reject {
    Duplicate,
    ReduceOnly,
    InvalidQty,
    UnknownSymbol,
    NotFound,
    Finished,
}

/// Which requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Order placement.
    Place,
    /// Any read (GET).
    Read,
    Any,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this 5xx status (the request has no effect).
    Status(u16),
    /// Apply the request, then answer with this 5xx status.
    AppliedThenStatus(u16),
    /// Apply the request, then drop the connection without an answer.
    AppliedThenReset,
    /// Accept the order and show it by id at once, but move the position only after
    /// `HOLD_READS` further reads (as venues whose position service lags the matching engine).
    AcceptedNotInPosition,
    /// Apply the order, drop the connection, and show neither the order (for `HIDE_READS`
    /// reads) nor its fill in the position (for `HOLD_READS` reads): the window in which a
    /// daemon that re-plans from the position without resolving its journal doubles.
    LateEverywhere,
    /// Answer 429 with reset headers `reset_secs` ahead.
    RateLimit { reset_secs: u64 },
    /// Accept the order, then answer only after `delay_ms` (beyond the client's deadline).
    AcceptThenStall { delay_ms: u64 },
    /// Fill only this fraction of the next order, leaving the rest resting.
    PartialFill { fraction: Decimal },
    /// Refuse authentication.
    AuthFail,
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub body: String,
    pub signature_ok: bool,
    /// The client id of an order placement (empty when it carried none); `None` for other
    /// requests.
    pub placement: Option<String>,
    /// When it arrived (the benchmark's signal-to-wire).
    pub at: std::time::Instant,
}

/// One execution, as the exchange's trade log has it.
#[derive(Clone, Debug)]
pub struct Fill {
    pub native: String,
    pub client_id: String,
    /// Signed: positive buys.
    pub qty: Decimal,
    /// The position after it, counting fills not yet booked into the position.
    pub exposure: Decimal,
}

/// Reads after which a held order reaches the position.
pub const HOLD_READS: u32 = 6;
/// Reads after which a hidden order shows by id (after its fill reached the position, with
/// room for a whole cycle's reads in between).
pub const HIDE_READS: u32 = 40;
/// Reads after which a hidden order's fill reaches the position: long enough to outlast the
/// account's reducing-only spell after a lost answer, short of `HIDE_READS` by more than a
/// cycle's reads, and all of it well inside the daemon's 15 s grace for unseen orders.
pub const HIDE_POSITION_READS: u32 = 20;

#[derive(Debug)]
pub struct State {
    /// Equity in the venue's quote/settle currency (USD-like).
    pub equity: Decimal,
    pub marks: BTreeMap<String, Decimal>,
    pub positions: BTreeMap<String, Decimal>,
    pub orders: BTreeMap<String, MockOrder>,
    pub leverage: BTreeMap<String, Decimal>,
    pub isolated: BTreeMap<String, bool>,
    pub faults: VecDeque<(Target, Fault)>,
    pub requests: Vec<Recorded>,
    pub next_id: u64,
    /// Text frames received per WebSocket connection.
    pub ws_sessions: Vec<Vec<String>>,
    /// Stream logins the server accepted, and private subscriptions it acknowledged.
    pub ws_logins: usize,
    pub ws_subscriptions: usize,
    /// Largest |position| ever seen per symbol (overshoot checks).
    pub max_abs_position: BTreeMap<String, Decimal>,
    /// Fills booked but not yet in the position: (symbol, signed quantity, reads left).
    pub held: Vec<(String, Decimal, u32, std::time::Instant)>,
    /// Orders booked but not yet visible: (order, reads left).
    pub hidden: Vec<(MockOrder, u32, std::time::Instant)>,
    /// Lot size per symbol, when the venue server knows it (partial fills stay on the grid).
    pub lots: BTreeMap<String, Decimal>,
    /// Every executed fill in order, a doubled order under a fresh id included.
    pub fills: Vec<Fill>,
    /// The venue's documented rate limits as this server enforces them (off by default).
    pub windows: Arc<crate::common::limits::Windows>,
    /// Every answer waits this long, as a venue's round trip would (zero by default).
    pub latency: std::time::Duration,
}

#[derive(Clone)]
pub struct MockExchange(pub Arc<Mutex<State>>);

impl MockExchange {
    pub fn new(equity: Decimal, marks: &[(&str, Decimal)]) -> MockExchange {
        MockExchange(Arc::new(Mutex::new(State {
            equity,
            marks: marks.iter().map(|(s, m)| (s.to_string(), *m)).collect(),
            positions: BTreeMap::new(),
            orders: BTreeMap::new(),
            leverage: BTreeMap::new(),
            isolated: BTreeMap::new(),
            faults: VecDeque::new(),
            requests: Vec::new(),
            next_id: 1,
            ws_sessions: Vec::new(),
            ws_logins: 0,
            ws_subscriptions: 0,
            max_abs_position: BTreeMap::new(),
            held: Vec::new(),
            hidden: Vec::new(),
            lots: BTreeMap::new(),
            fills: Vec::new(),
            windows: Arc::default(),
            latency: std::time::Duration::ZERO,
        })))
    }

    /// The rate-limit windows (`enforce(true)` to refuse what the venue would refuse).
    pub fn windows(&self) -> Arc<crate::common::limits::Windows> {
        self.lock().windows.clone()
    }

    /// Makes every answer (REST, from the moment the request is read) wait `latency`.
    pub fn set_latency(&self, latency: std::time::Duration) {
        self.lock().latency = latency;
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn inject(&self, target: Target, fault: Fault) {
        self.lock().faults.push_back((target, fault));
    }

    /// Takes the first queued fault that applies to this kind of request.
    pub fn take_fault(&self, kind: Target) -> Option<Fault> {
        let mut s = self.lock();
        let idx = s
            .faults
            .iter()
            .position(|(t, _)| *t == Target::Any || *t == kind)?;
        s.faults.remove(idx).map(|(_, f)| f)
    }

    pub fn record(
        &self,
        method: &str,
        path_and_query: &str,
        body: &str,
        signature_ok: bool,
        placement: Option<String>,
    ) {
        self.lock().requests.push(Recorded {
            method: method.into(),
            path_and_query: path_and_query.into(),
            body: body.into(),
            signature_ok,
            placement,
            at: std::time::Instant::now(),
        });
    }

    /// One read has happened: held fills move closer to the position.
    pub fn release_held(&self) {
        let mut s = self.lock();
        let mut due = Vec::new();
        let now = std::time::Instant::now();
        s.held.retain_mut(|(native, qty, left, until)| {
            *left = left.saturating_sub(1);
            if *left == 0 || now >= *until {
                *left = 0;
                due.push((native.clone(), *qty));
            }
            *left > 0
        });
        for (native, qty) in due {
            *s.positions.entry(native).or_default() += qty;
        }
        let mut shown = Vec::new();
        s.hidden.retain_mut(|(order, left, until)| {
            *left = left.saturating_sub(1);
            if *left == 0 || now >= *until {
                *left = 0;
                shown.push(order.clone());
            }
            *left > 0
        });
        for order in shown {
            s.orders.insert(order.client_id.clone(), order);
        }
    }

    /// The position including fills not yet booked into it: what the account is exposed to.
    pub fn exposure(&self, native: &str) -> Decimal {
        let s = self.lock();
        let held: Decimal = s.held.iter().filter(|h| h.0 == native).map(|h| h.1).sum();
        s.positions.get(native).copied().unwrap_or_default() + held
    }

    pub fn set_position(&self, native: &str, qty: Decimal) {
        let mut s = self.lock();
        s.positions.insert(native.to_string(), qty);
    }

    pub fn position(&self, native: &str) -> Decimal {
        self.lock()
            .positions
            .get(native)
            .copied()
            .unwrap_or_default()
    }

    pub fn set_mark(&self, native: &str, mark: Decimal) {
        self.lock().marks.insert(native.to_string(), mark);
    }

    /// Places an order; market orders fill at the mark (or partly, under a PartialFill fault).
    pub fn place(&self, p: Place<'_>) -> Result<MockOrder, Reject> {
        let Place {
            native,
            side,
            qty,
            client_id,
            reduce_only,
            limit_price,
            partial,
            hold,
            hide,
        } = p;
        let mut s = self.lock();
        let Some(mark) = s.marks.get(native).copied() else {
            return Err(Reject::UnknownSymbol);
        };
        if qty <= Decimal::ZERO {
            return Err(Reject::InvalidQty);
        }
        if !client_id.is_empty() && s.orders.contains_key(client_id) {
            return Err(Reject::Duplicate);
        }
        let position = s.positions.get(native).copied().unwrap_or_default();
        let mut qty_to_fill = qty;
        if reduce_only {
            let reduces = !position.is_zero() && (position > Decimal::ZERO) == (side == Side::Sell);
            if !reduces {
                return Err(Reject::ReduceOnly);
            }
            qty_to_fill = qty_to_fill.min(position.abs());
        }
        let marketable = match (limit_price, side) {
            (None, _) => true,
            (Some(p), Side::Buy) => p >= mark,
            (Some(p), Side::Sell) => p <= mark,
        };
        let fill = if !marketable {
            Decimal::ZERO
        } else if let Some(f) = partial {
            // On the lot grid when the venue told us the lot, else in thousandths.
            let raw = qty_to_fill * f;
            let part = match s.lots.get(native) {
                Some(lot) if !lot.is_zero() => (raw / lot).trunc() * lot,
                _ => raw.round_dp_with_strategy(3, rust_decimal::RoundingStrategy::ToZero),
            };
            part.max(Decimal::ZERO).min(qty_to_fill)
        } else {
            qty_to_fill
        };
        let new_position = position + fill * side.sign();
        if (hold || hide) && !fill.is_zero() {
            let reads = if hide {
                HIDE_POSITION_READS
            } else {
                HOLD_READS
            };
            // Also bounded in time, so that a daemon that is down (no reads) meets the order
            // within its grace for unseen orders (15 s) once it is back.
            let until = std::time::Instant::now() + std::time::Duration::from_secs(3);
            s.held
                .push((native.to_string(), fill * side.sign(), reads, until));
        } else {
            s.positions.insert(native.to_string(), new_position);
        }
        let held: Decimal = s.held.iter().filter(|h| h.0 == native).map(|h| h.1).sum();
        let exposure = s.positions.get(native).copied().unwrap_or_default() + held;
        if !fill.is_zero() {
            s.fills.push(Fill {
                native: native.to_string(),
                client_id: client_id.to_string(),
                qty: fill * side.sign(),
                exposure,
            });
        }
        let peak = s.max_abs_position.entry(native.to_string()).or_default();
        *peak = (*peak).max(exposure.abs());
        let id = s.next_id;
        s.next_id += 1;
        let state = if fill == qty {
            OrderState::Filled
        } else if limit_price.is_none() && partial.is_none() {
            // Market reduce-only truncated to the position: the rest is cancelled.
            OrderState::Filled
        } else if fill.is_zero() {
            OrderState::New
        } else {
            OrderState::PartiallyFilled
        };
        let order = MockOrder {
            venue_id: format!("ord-{id}"),
            client_id: if client_id.is_empty() {
                format!("anon-{id}")
            } else {
                client_id.to_string()
            },
            native: native.to_string(),
            side,
            qty,
            filled: fill,
            price: limit_price,
            avg_price: if fill.is_zero() { None } else { Some(mark) },
            reduce_only,
            state,
        };
        if hide {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(6);
            s.hidden.push((order.clone(), HIDE_READS, until));
        } else {
            s.orders.insert(order.client_id.clone(), order.clone());
        }
        Ok(order)
    }

    pub fn cancel(&self, client_id: &str) -> Result<MockOrder, Reject> {
        let mut s = self.lock();
        let o = s.orders.get_mut(client_id).ok_or(Reject::NotFound)?;
        if matches!(o.state, OrderState::Filled | OrderState::Cancelled) {
            return Err(Reject::Finished);
        }
        o.state = OrderState::Cancelled;
        Ok(o.clone())
    }

    pub fn amend(
        &self,
        client_id: &str,
        qty: Option<Decimal>,
        price: Option<Decimal>,
    ) -> Result<MockOrder, Reject> {
        let mut s = self.lock();
        let o = s.orders.get_mut(client_id).ok_or(Reject::NotFound)?;
        if matches!(o.state, OrderState::Filled | OrderState::Cancelled) {
            return Err(Reject::Finished);
        }
        if let Some(q) = qty {
            o.qty = q;
        }
        if price.is_some() {
            o.price = price;
        }
        Ok(o.clone())
    }

    pub fn order(&self, client_id: &str) -> Option<MockOrder> {
        self.lock().orders.get(client_id).cloned()
    }

    pub fn open_orders(&self) -> Vec<MockOrder> {
        self.lock()
            .orders
            .values()
            .filter(|o| matches!(o.state, OrderState::New | OrderState::PartiallyFilled))
            .cloned()
            .collect()
    }

    /// Number of orders that reached the exchange with each client id (for duplicate checks).
    pub fn placed_count(&self) -> usize {
        self.lock().orders.len()
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }
}

/// Serves an axum router on 127.0.0.1 on a background thread with its own runtime, so that
/// both async tests and blocking tests (that run the daemon binary) can use it.
pub fn serve_in_background(app: axum::Router) -> std::net::SocketAddr {
    on_background_listener(|listener| async move {
        let _ = axum::serve(listener, app).await;
    })
}

/// Accepts TCP connections on 127.0.0.1 on a background thread and hands each to `session`
/// (the loopback WebSocket servers).
pub fn accept_in_background<F, Fut>(session: F) -> std::net::SocketAddr
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    on_background_listener(|listener| async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(session(tcp));
        }
    })
}

/// Binds 127.0.0.1:0 and runs `serve` with the listener on a thread with its own runtime, so
/// that async tests and blocking tests (running the daemon binary) can both use it.
fn on_background_listener<F, Fut>(serve: F) -> std::net::SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            serve(listener).await;
        });
    });
    addr
}
