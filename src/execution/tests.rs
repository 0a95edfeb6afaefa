//! Executor behaviour under venue trouble, driven through whole cycles against a scripted
//! wrapper of the sim venue.

use super::Engine;
use crate::config::{AssetMapping, ConfigSet, EngineConfig, SignalWeights};
use crate::domain::*;
use crate::state::cache::AccountHealth;
use crate::state::{ExecutionCache, Journal, JournalStatus};
use crate::targets::{Target, TargetBook};
use crate::venue::sim::SimVenue;
use crate::venue::{CandleInterval, MarginMode, RejectKind, Venue, VenueError};
use async_trait::async_trait;
use chrono::Utc;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

#[derive(Clone, Debug)]
enum Script {
    /// The venue takes the order but the answer is lost.
    PlacedButUnknown,
    /// The request is lost before the venue sees it, and the client cannot tell.
    LostUnknown,
    /// The venue already holds this id (our own earlier send) and answers "duplicate".
    PlacedThenDuplicate,
    Reject(RejectKind),
}

struct Scripted {
    inner: SimVenue,
    script: Mutex<VecDeque<Script>>,
    placed: Mutex<Vec<OrderRequest>>,
    stale: Mutex<bool>,
    stale_value: Mutex<bool>,
    fail_reads: Mutex<Option<VenueError>>,
    /// An order the venue holds under a client id, answered by lookups instead of the sim's.
    foreign: Mutex<Option<OrderAck>>,
    /// Leverage is account-wide (OANDA) and allows at most this much.
    account_wide_max: Mutex<Option<Decimal>>,
    /// Like KuCoin isolated: leverage changes refused while the symbol has a position.
    leverage_needs_flat: Mutex<bool>,
    leverage_calls: Mutex<Vec<Decimal>>,
}

#[async_trait]
impl Venue for Scripted {
    fn kind(&self) -> &'static str {
        "sim"
    }
    fn capabilities(&self) -> crate::venue::Capabilities {
        let mut c = self.inner.capabilities();
        if self.account_wide_max.lock().unwrap().is_some() {
            c.leverage = crate::venue::LeverageScope::PerAccount;
        }
        c
    }
    fn native_symbol(&self, s: &Symbol) -> String {
        self.inner.native_symbol(s)
    }
    async fn instrument(&self, n: &str) -> Result<Instrument, VenueError> {
        let mut inst = self.inner.instrument(n).await?;
        if let Some(max) = *self.account_wide_max.lock().unwrap() {
            inst.max_leverage = Some(max);
        }
        Ok(inst)
    }
    async fn quote(&self, n: &str) -> Result<Quote, VenueError> {
        let mut q = self.inner.quote(n).await?;
        if *self.stale.lock().unwrap() {
            q.at = Utc::now() - chrono::Duration::seconds(3600);
        }
        Ok(q)
    }
    async fn account_value(&self) -> Result<AccountValue, VenueError> {
        if let Some(e) = self.fail_reads.lock().unwrap().clone() {
            return Err(e);
        }
        let mut value = self.inner.account_value().await?;
        if *self.stale_value.lock().unwrap() {
            value.at = Utc::now() - chrono::Duration::seconds(3600);
        }
        Ok(value)
    }
    async fn positions(&self) -> Result<Vec<Position>, VenueError> {
        self.inner.positions().await
    }
    async fn open_orders(&self) -> Result<Vec<OpenOrder>, VenueError> {
        self.inner.open_orders().await
    }
    async fn place_order(&self, r: &OrderRequest) -> Result<OrderAck, VenueError> {
        self.placed.lock().unwrap().push(r.clone());
        let step = self.script.lock().unwrap().pop_front();
        match step {
            Some(Script::PlacedButUnknown) => {
                self.inner.place_order(r).await?;
                Err(VenueError::Unknown("timed out".into()))
            }
            Some(Script::LostUnknown) => Err(VenueError::Unknown("timed out".into())),
            Some(Script::PlacedThenDuplicate) => {
                self.inner.place_order(r).await?;
                Err(VenueError::rejected(
                    RejectKind::DuplicateClientId,
                    "x",
                    "scripted duplicate",
                ))
            }
            Some(Script::Reject(kind)) => {
                Err(VenueError::rejected(kind, "x", "scripted rejection"))
            }
            None => self.inner.place_order(r).await,
        }
    }
    async fn order_by_client_id(&self, n: &str, c: &str) -> Result<Option<OrderAck>, VenueError> {
        let foreign = self.foreign.lock().unwrap().clone();
        if let Some(found) = foreign.filter(|f| f.client_order_id == c) {
            return Ok(Some(found));
        }
        self.inner.order_by_client_id(n, c).await
    }
    async fn cancel_order(&self, n: &str, c: &str) -> Result<(), VenueError> {
        self.inner.cancel_order(n, c).await
    }
    async fn amend_order(
        &self,
        n: &str,
        c: &str,
        q: Option<Decimal>,
        p: Option<Decimal>,
    ) -> Result<OrderAck, VenueError> {
        self.inner.amend_order(n, c, q, p).await
    }
    async fn set_leverage(&self, n: &str, l: Decimal) -> Result<(), VenueError> {
        self.leverage_calls.lock().unwrap().push(l);
        if *self.leverage_needs_flat.lock().unwrap() {
            let open = self.inner.positions().await?.iter().any(|p| p.native == n);
            if open {
                return Err(VenueError::rejected(
                    RejectKind::NeedsFlatPosition,
                    "isolated-open",
                    "leverage is fixed while the position is open",
                ));
            }
        }
        self.inner.set_leverage(n, l).await
    }
    async fn set_margin_mode(&self, n: &str, m: MarginMode) -> Result<(), VenueError> {
        self.inner.set_margin_mode(n, m).await
    }
    async fn candles(&self, n: &str, i: CandleInterval, l: u32) -> Result<Vec<Candle>, VenueError> {
        self.inner.candles(n, i, l).await
    }
}

struct World {
    dir: tempfile::TempDir,
    venue: Arc<Scripted>,
    targets: watch::Sender<Arc<TargetBook>>,
    engine: Engine,
    journal: Arc<Journal>,
    cache: Arc<ExecutionCache>,
}

fn config(dir: &std::path::Path) -> ConfigSet {
    let engine: EngineConfig = serde_json::from_str(
        r#"{"accounts": [{"name": "t", "venue": "sim", "sim": {"volatility_bps": 0, "fee_bps": 0, "slippage_bps": 0}}]}"#,
    )
    .unwrap();
    ConfigSet {
        dir: dir.to_path_buf(),
        engine,
        weights: SignalWeights::default(),
        mapping: AssetMapping::default(),
        credentials: Default::default(),
        warnings: vec![],
    }
}

fn book(revision: u64, depth: Decimal) -> Arc<TargetBook> {
    book_at(revision, depth, dec!(1))
}

fn book_at(revision: u64, depth: Decimal, leverage: Decimal) -> Arc<TargetBook> {
    let mut targets = BTreeMap::new();
    targets.insert(
        "BTCUSDT".to_string(),
        Target {
            depth,
            leverage,
            sources: BTreeMap::new(),
        },
    );
    Arc::new(TargetBook { revision, targets })
}

/// A world on a fresh (or given) state directory. BTC starts at 60,000 with 10,000 USD, so a
/// depth of 0.6 is 0.1 BTC.
fn world(dir: Option<tempfile::TempDir>) -> World {
    let dir = dir.unwrap_or_else(|| tempfile::tempdir().unwrap());
    let cfg = config(dir.path());
    let params = cfg.engine.accounts[0].sim.clone().unwrap();
    let venue = Arc::new(Scripted {
        inner: SimVenue::open("t", params, dir.path()).unwrap(),
        script: Default::default(),
        placed: Default::default(),
        stale: Mutex::new(false),
        stale_value: Mutex::new(false),
        fail_reads: Mutex::new(None),
        foreign: Mutex::new(None),
        account_wide_max: Mutex::new(None),
        leverage_needs_flat: Mutex::new(false),
        leverage_calls: Mutex::new(Vec::new()),
    });
    let (_, config_rx) = watch::channel(Arc::new(cfg));
    let (targets, targets_rx) = watch::channel(book(1, Decimal::ZERO));
    let journal = Arc::new(Journal::open(dir.path()).unwrap());
    let cache = Arc::new(ExecutionCache::open(dir.path()).unwrap());
    let v = venue.clone();
    let mut engine = Engine::new(
        dir.path().to_path_buf(),
        config_rx,
        targets_rx,
        cache.clone(),
        journal.clone(),
    )
    .with_venue_factory(Box::new(move |_, _, _| Ok(v.clone() as Arc<dyn Venue>)));
    engine.prepare();
    World {
        dir,
        venue,
        targets,
        engine,
        journal,
        cache,
    }
}

impl World {
    async fn cycle_at(&mut self, depth: Decimal) {
        let revision = self.targets.borrow().revision + 1;
        let _ = self.targets.send(book(revision, depth));
        self.engine.cycle("test").await;
    }
    async fn position(&self) -> Decimal {
        self.venue
            .inner
            .positions()
            .await
            .unwrap()
            .into_iter()
            .find(|p| p.native == "BTCUSDT")
            .map(|p| p.qty)
            .unwrap_or_default()
    }
    fn placed(&self) -> Vec<OrderRequest> {
        self.venue.placed.lock().unwrap().clone()
    }
    fn health(&self) -> AccountHealth {
        self.cache.get("t").map(|a| a.health).unwrap_or_default()
    }
}

#[tokio::test]
async fn account_wide_leverage_is_never_set_per_symbol_and_caps_the_target() {
    let mut w = world(None);
    // The account's margin rate allows 0.5 where the weights ask for 1: sized at 0.5.
    *w.venue.account_wide_max.lock().unwrap() = Some(dec!(0.5));
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.position().await, dec!(0.05));
    assert_eq!(
        w.venue.leverage_calls.lock().unwrap().len(),
        0,
        "account-wide leverage is never set per symbol"
    );
    let note = w.cache.get("t").unwrap().symbols["BTCUSDT"]
        .leverage_capped
        .clone()
        .expect("the cap shows in /status");
    assert!(note.contains("leverage 1 is above the 0.5"), "{note}");
    w.cycle_at(dec!(1.2)).await;
    assert_eq!(
        w.position().await,
        dec!(0.1),
        "never beyond the allowed 0.5"
    );
    // A lower cap: reducing to it is allowed.
    *w.venue.account_wide_max.lock().unwrap() = Some(dec!(0.25));
    w.cycle_at(dec!(1.2)).await;
    assert_eq!(w.position().await, dec!(0.05));
    assert_eq!(w.venue.leverage_calls.lock().unwrap().len(), 0);
}

#[tokio::test]
async fn unknown_outcome_is_looked_up_not_resent() {
    let mut w = world(None);
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::PlacedButUnknown);
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.position().await, dec!(0.1));
    assert_eq!(w.placed().len(), 1);
    let entries = w.journal.entries("t");
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0].status,
        JournalStatus::Filled,
        "resolved by the lookup"
    );
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.placed().len(), 1, "nothing more to do");
}

#[tokio::test]
async fn a_lost_order_holds_the_symbol_until_its_grace_has_passed() {
    let mut w = world(None);
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::LostUnknown);
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.position().await, Decimal::ZERO);
    assert_eq!(w.journal.entries("t")[0].status, JournalStatus::Unknown);
    assert_eq!(
        w.health(),
        AccountHealth::Reducing,
        "an unknown outcome is venue trouble"
    );
    // Within the grace the order might still land: nothing new is sent.
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.placed().len(), 1);
    // Once the grace has passed and the venue still has no such order, a new plan goes out.
    let mut entry = w.journal.entries("t")[0].clone();
    entry.updated_at = Utc::now() - chrono::Duration::seconds(120);
    w.journal.record(entry.clone()).unwrap();
    w.cycle_at(dec!(0.6)).await;
    let placed = w.placed();
    assert_eq!(placed.len(), 2);
    assert_ne!(placed[0].client_order_id, placed[1].client_order_id);
    assert_eq!(w.position().await, dec!(0.1));
    let first = w
        .journal
        .entries("t")
        .into_iter()
        .find(|e| e.client_order_id == entry.client_order_id)
        .unwrap();
    assert_eq!(first.status, JournalStatus::Cancelled);
    assert_eq!(w.health(), AccountHealth::Ok);
}

#[tokio::test]
async fn a_restart_resolves_a_crashed_send_before_trading() {
    let dir = {
        let mut w = world(None);
        w.cycle_at(dec!(0.6)).await;
        assert_eq!(w.position().await, dec!(0.1));
        // Simulate a crash right after the venue accepted an order: journal says "sending".
        let mut entry = w.journal.entries("t")[0].clone();
        entry.status = JournalStatus::Sending;
        w.journal.record(entry).unwrap();
        w.dir
    };
    let mut w = world(Some(dir));
    w.cycle_at(dec!(0.6)).await;
    assert!(
        w.placed().is_empty(),
        "the position is already at target: no order"
    );
    assert_eq!(
        w.journal.entries("t")[0].status,
        JournalStatus::Filled,
        "resolved by client id"
    );
}

#[tokio::test]
async fn stale_prices_only_allow_reducing() {
    let mut w = world(None);
    w.cycle_at(dec!(0.6)).await;
    *w.venue.stale.lock().unwrap() = true;
    w.cycle_at(dec!(1)).await;
    assert_eq!(
        w.position().await,
        dec!(0.1),
        "no increase on a stale price"
    );
    w.cycle_at(dec!(0.3)).await;
    assert_eq!(
        w.position().await,
        dec!(0.05),
        "reductions still go through"
    );
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(w.position().await, Decimal::ZERO, "a flip only closes");
}

/// Guarantee 6 for the account value: sizing from an old equity figure could open far more than
/// the account holds now, so only reductions go out until a fresh value arrives.
#[tokio::test]
async fn a_stale_account_value_only_allows_reducing() {
    let mut w = world(None);
    w.cycle_at(dec!(0.6)).await;
    *w.venue.stale_value.lock().unwrap() = true;
    w.cycle_at(dec!(1)).await;
    assert_eq!(
        w.position().await,
        dec!(0.1),
        "no increase on a stale value"
    );
    w.cycle_at(dec!(0.3)).await;
    assert_eq!(
        w.position().await,
        dec!(0.05),
        "reductions still go through"
    );
    *w.venue.stale_value.lock().unwrap() = false;
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.position().await, dec!(0.1), "a fresh value opens again");
}

#[tokio::test]
async fn a_refused_close_stops_the_flip() {
    let mut w = world(None);
    w.cycle_at(dec!(0.6)).await;
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::Reject(RejectKind::ReduceOnly));
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(
        w.placed().len(),
        2,
        "the opening half of the flip is not sent"
    );
    assert_eq!(w.position().await, dec!(0.1));
    let status = w.cache.get("t").unwrap();
    assert!(status.symbols["BTCUSDT"]
        .last_error
        .as_deref()
        .unwrap_or("")
        .contains("scripted rejection"));
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(
        w.position().await,
        dec!(-0.1),
        "the next cycle completes the flip"
    );
}

#[tokio::test]
async fn repeated_read_failures_halt_and_back_off() {
    let mut w = world(None);
    *w.venue.fail_reads.lock().unwrap() = Some(VenueError::Transport("connection reset".into()));
    for _ in 0..3 {
        w.cycle_at(dec!(0.6)).await;
    }
    assert_eq!(w.health(), AccountHealth::Halted);
    assert!(w.placed().is_empty());
    // While backing off, cycles skip the account entirely.
    *w.venue.fail_reads.lock().unwrap() = None;
    w.cycle_at(dec!(0.6)).await;
    assert!(w.placed().is_empty());
    assert_eq!(w.health(), AccountHealth::Halted);
}

/// The executor's DuplicateClientId branch: the venue answers "duplicate" for an id it holds
/// as our order; the order is looked up, verified and counted as placed, not as a refusal.
#[tokio::test]
async fn duplicate_id_counts_as_placed() {
    let mut w = world(None);
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::PlacedThenDuplicate);
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.placed().len(), 1);
    let entry = w.journal.entries("t")[0].clone();
    assert_eq!(
        entry.status,
        JournalStatus::Filled,
        "the order the venue holds under our id is ours and filled: {entry:?}"
    );
    assert_eq!(w.position().await, dec!(0.1));
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.placed().len(), 1, "nothing sent again");
}

/// A `sending` entry found at the venue is resolved by lookup before anything is placed.
#[tokio::test]
async fn a_sending_entry_is_resolved_by_lookup_first() {
    let mut w = world(None);
    w.cycle_at(dec!(0.6)).await;
    let cid = w.placed()[0].client_order_id.clone();
    // The venue already knows the id: the executor treats the order as placed, not failed.
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::Reject(RejectKind::DuplicateClientId));
    let mut entry = w.journal.entries("t")[0].clone();
    entry.status = JournalStatus::Sending;
    entry.updated_at = Utc::now() - chrono::Duration::seconds(120);
    w.journal.record(entry).unwrap();
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(
        w.placed().len(),
        1,
        "resolution came from the lookup: {cid}"
    );
}

#[tokio::test]
async fn a_leftover_order_of_ours_is_cancelled_before_planning() {
    let mut w = world(None);
    let cid = w.journal.client_order_id("t", "BTCUSDT", 999, 0);
    w.venue
        .inner
        .place_order(&OrderRequest {
            client_order_id: cid.clone(),
            native: "BTCUSDT".into(),
            side: Side::Buy,
            qty: dec!(0.05),
            kind: OrderKind::Limit,
            price: Some(dec!(1000)),
            reduce_only: false,
            leverage: None,
            margin_mode: None,
        })
        .await
        .unwrap();
    // A manual order (not ours) stays and counts as pending.
    w.venue
        .inner
        .place_order(&OrderRequest {
            client_order_id: "manual-1".into(),
            native: "BTCUSDT".into(),
            side: Side::Buy,
            qty: dec!(0.02),
            kind: OrderKind::Limit,
            price: Some(dec!(1000)),
            reduce_only: false,
            leverage: None,
            margin_mode: None,
        })
        .await
        .unwrap();
    let again = {
        let revision = w.targets.borrow().revision + 1;
        let _ = w.targets.send(book(revision, dec!(0.6)));
        w.engine.cycle("test").await
    };
    assert!(again, "a follow-up cycle is requested");
    assert!(w.placed().is_empty(), "nothing planned on the old snapshot");
    let open = w.venue.inner.open_orders().await.unwrap();
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].client_order_id.as_deref(), Some("manual-1"));
    w.cycle_at(dec!(0.6)).await;
    // 0.1 target minus the manual 0.02 still pending.
    assert_eq!(w.position().await, dec!(0.08));
}

fn book_of(revision: u64, depths: &[(&str, Decimal)]) -> Arc<TargetBook> {
    let targets = depths
        .iter()
        .map(|(symbol, depth)| {
            let target = Target {
                depth: *depth,
                leverage: dec!(1),
                sources: BTreeMap::new(),
            };
            (symbol.to_string(), target)
        })
        .collect();
    Arc::new(TargetBook { revision, targets })
}

impl World {
    /// A cycle started by a change of the targets to `depths`.
    async fn set(&mut self, depths: &[(&str, Decimal)]) {
        let revision = self.targets.borrow().revision + 1;
        let _ = self.targets.send(book_of(revision, depths));
        self.engine.cycle("targets changed").await;
    }
    /// Orders sent for `native`.
    fn placed_for(&self, native: &str) -> Vec<OrderRequest> {
        self.placed()
            .into_iter()
            .filter(|o| o.native == native)
            .collect()
    }
    /// The `/status` entry of a symbol, as JSON.
    fn status_of(&self, symbol: &str) -> serde_json::Value {
        let status = serde_json::to_value(crate::server::build_status(&self.engine.handles()))
            .expect("status serialises");
        status["accounts"][0]["symbols"]
            .as_array()
            .and_then(|symbols| symbols.iter().find(|s| s["symbol"] == symbol).cloned())
            .unwrap_or_default()
    }
    fn age_cooldowns(&self, secs: i64) {
        self.engine
            .cooldowns("t")
            .expect("account runtime")
            .lock()
            .unwrap()
            .age(chrono::Duration::seconds(secs));
    }
}

#[tokio::test]
async fn a_margin_refusal_holds_opening_orders_across_cycles_but_not_reductions() {
    let mut w = world(None);
    let btc = |d: Decimal| ("BTCUSDT", d);
    w.set(&[btc(dec!(0.3))]).await;
    assert_eq!(w.position().await, dec!(0.05));
    // The venue refuses the increase once; sent again, it would fill.
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::Reject(RejectKind::InsufficientFunds));
    w.set(&[btc(dec!(0.6))]).await;
    assert_eq!(w.placed_for("BTCUSDT").len(), 2);

    let cooldown = w.status_of("BTCUSDT")["cooldown"].clone();
    assert_eq!(cooldown["kind"], "insufficient_margin", "{cooldown}");
    assert!(
        cooldown["reason"]
            .as_str()
            .is_some_and(|r| r.contains("scripted rejection")),
        "{cooldown}"
    );
    assert_eq!(cooldown["strikes"], 1);
    assert_eq!(
        (cooldown["side"].as_str(), cooldown["qty"].as_str()),
        (Some("buy"), Some("0.05"))
    );

    // A timer cycle, and cycles started by another symbol's target changes (each opening
    // more ETH, so no reduction frees margin): BTC's refused order is not sent again.
    w.engine.cycle("reconcile").await;
    for eth in [dec!(0.02), dec!(0.04), dec!(0.06), dec!(0.08)] {
        w.set(&[btc(dec!(0.6)), ("ETHUSDT", eth)]).await;
    }
    assert_eq!(w.placed_for("ETHUSDT").len(), 4, "ETH trades meanwhile");
    assert_eq!(
        w.placed_for("BTCUSDT").len(),
        2,
        "the refused order is not re-sent: {:#?}",
        w.placed_for("BTCUSDT")
    );
    assert_eq!(w.position().await, dec!(0.05));
    assert_eq!(w.status_of("BTCUSDT")["cooldown"]["strikes"], 1);

    // A reduction of the same symbol still goes out: a manual buy puts BTC above its target.
    w.venue
        .inner
        .place_order(&OrderRequest {
            client_order_id: "manual-buy".into(),
            native: "BTCUSDT".into(),
            side: Side::Buy,
            qty: dec!(0.08),
            kind: OrderKind::Market,
            price: None,
            reduce_only: false,
            leverage: None,
            margin_mode: None,
        })
        .await
        .unwrap();
    w.engine.cycle("reconcile").await;
    let last = w.placed_for("BTCUSDT").pop().unwrap();
    assert!(
        last.reduce_only && last.side == Side::Sell && last.qty == dec!(0.03),
        "{last:?}"
    );
    assert_eq!(w.position().await, dec!(0.1));
}

#[tokio::test]
async fn the_cooldown_grows_on_repeats_and_ends_when_the_own_target_changes() {
    let mut w = world(None);
    let btc = |d: Decimal| [("BTCUSDT", d)];
    w.set(&btc(dec!(0.3))).await;
    let refuse = |w: &World| {
        w.venue
            .script
            .lock()
            .unwrap()
            .push_back(Script::Reject(RejectKind::InsufficientFunds))
    };
    refuse(&w);
    w.set(&btc(dec!(0.6))).await;
    let first = w.status_of("BTCUSDT")["cooldown"].clone();
    assert_eq!(first["strikes"], 1, "{first}");

    // Once the wait has run out, one retry goes out; refused again, the wait doubles.
    w.age_cooldowns(31);
    refuse(&w);
    w.engine.cycle("reconcile").await;
    assert_eq!(w.placed_for("BTCUSDT").len(), 3, "one retry after the wait");
    let second = w.status_of("BTCUSDT")["cooldown"].clone();
    assert_eq!(second["strikes"], 2, "{second}");
    let span = |c: &serde_json::Value| {
        let at = |k: &str| {
            c[k].as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .expect("a time")
        };
        (at("until") - at("since")).num_seconds()
    };
    assert_eq!((span(&first), span(&second)), (30, 60));
    w.engine.cycle("reconcile").await;
    assert_eq!(w.placed_for("BTCUSDT").len(), 3, "held again");

    // The symbol's own target changes: the cooldown ends and the new order goes out.
    w.set(&btc(dec!(0.9))).await;
    assert_eq!(w.placed_for("BTCUSDT").len(), 4);
    assert_eq!(w.position().await, dec!(0.15));
    assert!(w.status_of("BTCUSDT")["cooldown"].is_null());
}

#[tokio::test]
async fn the_sim_refuses_beyond_its_margin_and_the_order_is_sent_once() {
    let mut w = world(None);
    // 0.2 BTC at 60,000 needs 12,000 USD of margin at leverage 1; the account has 10,000.
    w.set(&[("BTCUSDT", dec!(1.2))]).await;
    w.engine.cycle("reconcile").await;
    w.engine.cycle("reconcile").await;
    assert_eq!(w.placed_for("BTCUSDT").len(), 1);
    assert_eq!(w.position().await, Decimal::ZERO);
    let cooldown = w.status_of("BTCUSDT")["cooldown"].clone();
    assert_eq!(cooldown["kind"], "insufficient_margin", "{cooldown}");
    assert!(
        cooldown["reason"]
            .as_str()
            .is_some_and(|r| r.contains("insufficient margin")),
        "{cooldown}"
    );
    assert_eq!(
        w.journal.entries("t")[0].status,
        JournalStatus::Rejected,
        "journaled as refused"
    );
    w.set(&[("BTCUSDT", dec!(0.9))]).await;
    assert_eq!(w.position().await, dec!(0.15));
}

/// The issue's scenario: the venue already holds an old filled `buy 0.05` under the id our next
/// plan uses (a journal restored from a backup, a copied state directory).
fn old_buy_under(cid: &str) -> OrderAck {
    OrderAck {
        client_order_id: cid.to_string(),
        venue_order_id: "old-1".into(),
        status: OrderStatus::Filled,
        filled_qty: dec!(0.05),
        avg_price: Some(dec!(60000)),
        native: Some("BTCUSDT".into()),
        side: Some(Side::Buy),
        qty: Some(dec!(0.05)),
    }
}

fn assert_conflict(w: &World, cid: &str) {
    let entry = w
        .journal
        .entries("t")
        .into_iter()
        .find(|e| e.client_order_id == cid)
        .unwrap();
    assert_eq!(entry.status, JournalStatus::Conflict, "never a fill");
    assert_eq!(entry.filled_qty, Decimal::ZERO);
    let symbol = w.cache.get("t").unwrap().symbols["BTCUSDT"].clone();
    assert_eq!(symbol.position_qty, Decimal::ZERO, "no phantom position");
    let error = symbol.last_error.unwrap_or_default();
    for part in [
        "conflict",
        "account t",
        "symbol BTCUSDT",
        cid,
        "side buy at the venue, sell journaled",
        "quantity 0.05 at the venue, 0.1 journaled",
    ] {
        assert!(error.contains(part), "{part:?} missing in {error}");
    }
}

#[tokio::test]
async fn a_duplicate_id_held_by_another_order_is_a_conflict_not_a_fill() {
    let mut w = world(None);
    let cid = w.journal.client_order_id("t", "BTCUSDT", 1, 0);
    *w.venue.foreign.lock().unwrap() = Some(old_buy_under(&cid));
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::Reject(RejectKind::DuplicateClientId));
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(w.placed().len(), 1);
    assert_eq!(w.placed()[0].client_order_id, cid);
    assert_eq!(w.position().await, Decimal::ZERO);
    assert_conflict(&w, &cid);
    // The symbol is halted: nothing more is sent, cycle after cycle.
    w.cycle_at(dec!(-0.6)).await;
    w.cycle_at(dec!(0)).await;
    assert_eq!(w.placed().len(), 1, "a symbol in conflict sends nothing");
    assert_conflict(&w, &cid);
    // The operator clears the entry (here: marks it cancelled): trading resumes.
    w.journal
        .update("t", &cid, |e| e.status = JournalStatus::Cancelled)
        .unwrap();
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(w.position().await, dec!(-0.1));
}

#[tokio::test]
async fn an_unknown_outcome_resolved_to_another_order_is_a_conflict() {
    let mut w = world(None);
    let cid = w.journal.client_order_id("t", "BTCUSDT", 1, 0);
    *w.venue.foreign.lock().unwrap() = Some(old_buy_under(&cid));
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::LostUnknown);
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(w.position().await, Decimal::ZERO);
    assert_conflict(&w, &cid);
    w.cycle_at(dec!(-0.6)).await;
    assert_eq!(w.placed().len(), 1, "a symbol in conflict sends nothing");
}

#[tokio::test]
async fn restart_resolution_checks_the_order_is_ours() {
    let mut w = world(None);
    w.venue
        .script
        .lock()
        .unwrap()
        .push_back(Script::LostUnknown);
    w.cycle_at(dec!(-0.6)).await;
    let cid = w.journal.entries("t")[0].client_order_id.clone();
    assert_eq!(w.journal.entries("t")[0].status, JournalStatus::Unknown);
    // Resolving it later finds a different order under that id.
    *w.venue.foreign.lock().unwrap() = Some(old_buy_under(&cid));
    w.cycle_at(dec!(-0.6)).await;
    assert_conflict(&w, &cid);
    assert_eq!(w.placed().len(), 1);
}

use crate::test_logs::Logs;

#[tokio::test]
async fn an_answered_order_logs_plain_values() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut w = world(None);
    w.cycle_at(dec!(0.6)).await;
    let line = logs.line("order answered");
    let fields = &line["fields"];
    let price = fields["avg_price"].as_str().unwrap_or_default();
    assert!(
        !price.is_empty() && rust_decimal::Decimal::from_str_exact(price).is_ok(),
        "avg_price is a plain number: {line}"
    );
    assert_eq!(fields["status"], "filled", "{line}");
}

#[tokio::test]
async fn account_health_is_logged_as_the_api_spells_it() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut w = world(None);
    *w.venue.fail_reads.lock().unwrap() = Some(VenueError::Transport("connection reset".into()));
    w.cycle_at(dec!(0.6)).await;
    let line = logs.line("venue trouble");
    let api = serde_json::to_value(w.health()).unwrap();
    assert_eq!(line["fields"]["state"], api, "{line}");
    assert_eq!(api, "reducing");
}

/// A venue that changes leverage only while flat (KuCoin isolated): the executor keeps the old
/// leverage, says so once, never closes the position for it, and sets it once the signals have
/// made the symbol flat.
#[tokio::test]
async fn leverage_that_needs_a_flat_position_waits_and_never_closes_it() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let mut w = world(None);
    w.cycle_at(dec!(0.3)).await;
    assert_eq!(w.position().await, dec!(0.05));
    *w.venue.leverage_needs_flat.lock().unwrap() = true;
    let at = |w: &mut World, depth, leverage| {
        let revision = w.targets.borrow().revision + 1;
        let _ = w.targets.send(book_at(revision, depth, leverage));
    };
    // Leverage 2 doubles the notional: the position grows, under the old leverage (which
    // still has the margin for it).
    at(&mut w, dec!(0.3), dec!(2));
    w.engine.cycle("test").await;
    assert_eq!(w.position().await, dec!(0.1));
    at(&mut w, dec!(0.45), dec!(2));
    w.engine.cycle("test").await;
    assert_eq!(w.position().await, dec!(0.15));
    let message = "the venue changes this leverage only while the position is flat; keeping the current leverage until the position is closed by the signals (it is never closed for this)";
    assert_eq!(logs.count(message), 1, "said once");
    assert!(
        w.placed()
            .iter()
            .all(|o| o.side == Side::Buy && !o.reduce_only),
        "nothing was closed to change the leverage: {:?}",
        w.placed()
    );
    assert_eq!(
        w.venue.leverage_calls.lock().unwrap().as_slice(),
        &[dec!(1), dec!(2)],
        "not asked again while the position is open"
    );
    // The signals close the position; the next opening sets the new leverage.
    at(&mut w, Decimal::ZERO, dec!(2));
    w.engine.cycle("test").await;
    assert_eq!(w.position().await, Decimal::ZERO);
    at(&mut w, dec!(0.3), dec!(2));
    w.engine.cycle("test").await;
    assert_eq!(
        w.venue.leverage_calls.lock().unwrap().as_slice(),
        &[dec!(1), dec!(2), dec!(2)]
    );
    assert_eq!(w.position().await, dec!(0.1));
    assert_eq!(logs.count(message), 1);
}

/// A quiet cycle (nothing to trade) sets the weights' leverage, so the signal that opens the
/// position sends its order without a leverage request in front of it; a dry-run account or
/// an engaged kill switch sets nothing.
#[tokio::test]
async fn a_quiet_cycle_sets_the_leverage_before_the_opening_signal() {
    let mut w = world(None);
    w.cycle_at(Decimal::ZERO).await;
    assert!(w.placed().is_empty());
    assert_eq!(
        w.venue.leverage_calls.lock().unwrap().as_slice(),
        &[dec!(1)],
        "set while flat, ahead of any signal"
    );
    w.cycle_at(dec!(0.6)).await;
    assert_eq!(w.position().await, dec!(0.1));
    assert_eq!(
        w.venue.leverage_calls.lock().unwrap().len(),
        1,
        "the opening order finds it set"
    );

    let mut kill = world(None);
    std::fs::write(kill.dir.path().join("KILL"), "").unwrap();
    kill.cycle_at(Decimal::ZERO).await;
    assert!(kill.venue.leverage_calls.lock().unwrap().is_empty());
}
