//! The engine loop: when to run a cycle, and the first level of parallelism (accounts).

use super::account::{AccountRuntime, AccountWork};
use super::conditions::{Conditions, KillSwitchWatch};
pub use super::metrics::Metrics;
use super::synthetic::{SyntheticStatus, Tracker};
use crate::config::{AccountConfig, ConfigSet, Credential};
use crate::state::{ExecutionCache, Journal, KillSwitch};
use crate::targets::synthetic::{self as legs, FirstLeg, LegTarget};
use crate::targets::TargetBook;
use crate::venue::{self, Venue, VenueError};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinSet;
use tracing::Instrument;

#[derive(Clone, Debug, Default, Serialize)]
pub struct CycleInfo {
    pub number: u64,
    pub last_started: Option<DateTime<Utc>>,
    pub last_duration_ms: Option<u64>,
    /// The same moment on the monotonic clock, for the systemd watchdog.
    #[serde(skip)]
    pub last_started_at: Option<Instant>,
    /// The number of the last cycle that finished: tests (and operators) wait for a cycle
    /// that finished after an event, not for a fixed time.
    pub last_completed: u64,
}

/// What other parts of the daemon (server, CLI) read from the engine.
#[derive(Clone)]
pub struct EngineHandles {
    pub cache: Arc<ExecutionCache>,
    pub journal: Arc<Journal>,
    pub cycle: Arc<RwLock<CycleInfo>>,
    /// Kill switch and state directory, as of the last cycle.
    pub conditions: Arc<RwLock<Conditions>>,
    pub metrics: Arc<Metrics>,
    pub config: watch::Receiver<Arc<ConfigSet>>,
    pub targets: watch::Receiver<Arc<TargetBook>>,
    /// Asks for a cycle as soon as possible (debounced).
    pub poke: mpsc::Sender<()>,
    /// Where the kill switch lives, for control over HTTP.
    pub state_dir: PathBuf,
    /// Synthetic symbols and how hedged their legs are, as of the last cycle.
    pub synthetics: Arc<RwLock<Vec<SyntheticStatus>>>,
}

pub struct Engine {
    state_dir: PathBuf,
    handles: EngineHandles,
    poke_rx: mpsc::Receiver<()>,
    accounts: BTreeMap<String, Arc<Mutex<AccountRuntime>>>,
    factory: Option<VenueFactory>,
    synthetics: Tracker,
    /// The last write probe of the state directory and its result.
    probed: std::sync::Mutex<Option<(Instant, Option<String>)>>,
}

/// A healthy state directory is probed again after this long. The probe (create, fsync,
/// remove) would otherwise sit between every signal and its orders; a failing directory is
/// probed every cycle, and an order's journal entry fails on its own when the disk does.
const PROBE_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Builds an account's venue client; the default is [`venue::build`]. Tests (and wrappers
/// such as paper trading) supply their own.
pub type VenueFactory = Box<
    dyn Fn(
            &AccountConfig,
            Option<&Credential>,
            &std::path::Path,
        ) -> Result<Arc<dyn Venue>, VenueError>
        + Send
        + Sync,
>;

impl Engine {
    pub fn new(
        state_dir: PathBuf,
        config: watch::Receiver<Arc<ConfigSet>>,
        targets: watch::Receiver<Arc<TargetBook>>,
        cache: Arc<ExecutionCache>,
        journal: Arc<Journal>,
    ) -> Engine {
        let (poke, poke_rx) = mpsc::channel(64);
        Engine {
            state_dir: state_dir.clone(),
            handles: EngineHandles {
                cache,
                journal,
                cycle: Arc::new(RwLock::new(CycleInfo::default())),
                conditions: Arc::default(),
                metrics: Arc::new(Metrics::default()),
                config,
                targets,
                poke,
                state_dir,
                synthetics: Arc::default(),
            },
            poke_rx,
            accounts: BTreeMap::new(),
            factory: None,
            synthetics: Tracker::default(),
            probed: std::sync::Mutex::new(None),
        }
    }

    pub fn with_venue_factory(mut self, factory: VenueFactory) -> Engine {
        self.factory = Some(factory);
        self
    }

    /// Counts into `metrics` instead of a fresh set (the daemon shares one set with the
    /// config reloader, which starts before the engine).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Engine {
        self.handles.metrics = metrics;
        self
    }

    pub fn handles(&self) -> EngineHandles {
        self.handles.clone()
    }

    /// The cooldowns of an account, between cycles (tests move their clock).
    #[cfg(test)]
    pub(super) fn cooldowns(
        &self,
        account: &str,
    ) -> Option<Arc<std::sync::Mutex<super::cooldown::Cooldowns>>> {
        let runtime = self.accounts.get(account)?.try_lock().ok()?;
        Some(runtime.cooldowns.clone())
    }

    /// Brings the account runtimes in line with the current config (done by `run` on start
    /// and on every reload; tests that drive `cycle` directly call it first).
    pub fn prepare(&mut self) {
        let cfg = self.handles.config.borrow().clone();
        self.sync_accounts(&cfg);
    }

    /// Runs cycles until `shutdown` turns true; an in-flight cycle is finished first.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let mut config_rx = self.handles.config.clone();
        let mut targets_rx = self.handles.targets.clone();
        let initial = config_rx.borrow_and_update().clone();
        self.sync_accounts(&initial);
        let mut kill_watch = KillSwitchWatch::default();
        kill_watch.follow(&self.state_dir, &initial);
        targets_rx.borrow_and_update();
        // A short grace lets sources load before the first cycle, so a restart does not trade on
        // a half-loaded signal book.
        let mut next_reconcile = Instant::now() + Duration::from_millis(500);
        loop {
            let cfg = config_rx.borrow().clone();
            let interval = Duration::from_secs(cfg.engine.cycle.reconcile_interval_secs.max(1));
            let debounce = Duration::from_millis(cfg.engine.cycle.debounce_ms);
            let reason = tokio::select! {
                _ = tokio::time::sleep_until(next_reconcile.into()) => "reconcile",
                r = targets_rx.changed() => { if r.is_err() { return } "targets changed" },
                r = config_rx.changed() => {
                    if r.is_err() { return }
                    let cfg = config_rx.borrow_and_update().clone();
                    self.sync_accounts(&cfg);
                    kill_watch.follow(&self.state_dir, &cfg);
                    "config changed"
                },
                Some(()) = kill_watch.changed() => "kill switch changed",
                Some(()) = self.poke_rx.recv() => "venue event",
                _ = shutdown.changed() => return,
            };
            if *shutdown.borrow() {
                return;
            }
            // The kill switch watch is debounced already: the brake acts within one debounce.
            if !matches!(reason, "reconcile" | "kill switch changed") && !debounce.is_zero() {
                // Let a burst of changes settle into one cycle.
                tokio::time::sleep(debounce).await;
            }
            while self.poke_rx.try_recv().is_ok() {}
            targets_rx.borrow_and_update();
            let again = self.cycle(reason).await;
            next_reconcile = Instant::now()
                + if again {
                    // Follow up soon, but not in a busy loop.
                    interval.min(Duration::from_secs(2))
                } else {
                    interval
                };
        }
    }

    /// Creates, replaces or drops account runtimes to match the config.
    fn sync_accounts(&mut self, cfg: &ConfigSet) {
        self.accounts
            .retain(|name, _| cfg.engine.accounts.iter().any(|a| &a.name == name));
        for account in &cfg.engine.accounts {
            let credential = account
                .credentials
                .as_deref()
                .and_then(|c| cfg.credentials.get(c))
                .cloned();
            if let Some(existing) = self.accounts.get(&account.name) {
                if let Ok(rt) = existing.try_lock() {
                    if rt.config == *account && rt.credential == credential {
                        continue;
                    }
                }
            }
            let venue = match &self.factory {
                Some(f) => f(account, credential.as_ref(), &self.state_dir),
                None => venue::build(account, credential.as_ref(), &self.state_dir),
            };
            if let Err(e) = &venue {
                tracing::error!(account = %account.name, venue = %account.venue, error = %e, "cannot set up the account's venue");
            }
            if let Ok(v) = &venue {
                if let Some(mut events) = v.subscribe() {
                    let poke = self.handles.poke.clone();
                    let name = account.name.clone();
                    tokio::spawn(async move {
                        while let Ok(event) = events.recv().await {
                            tracing::debug!(account = %name, event = %event, "venue event");
                            if matches!(
                                event,
                                venue::VenueEvent::Fill(_)
                                    | venue::VenueEvent::PositionChanged { .. }
                            ) {
                                let _ = poke.try_send(());
                            }
                        }
                    });
                }
            }
            self.accounts.insert(
                account.name.clone(),
                Arc::new(Mutex::new(AccountRuntime::new(
                    account.clone(),
                    credential,
                    venue,
                ))),
            );
        }
    }

    /// Checks the kill switch and the state directory, publishes them for `/status` and
    /// `/healthz`, and logs changes; returns whether the kill switch is engaged.
    fn check_conditions(&self, cfg: &ConfigSet) -> bool {
        let now = Conditions {
            kill_switch: KillSwitch::new(&self.state_dir, &cfg.engine.risk.kill_switch_file)
                .engaged()
                .map(std::path::Path::to_path_buf),
            state_dir_error: self.probe_state_dir(),
        };
        let mut shared = self
            .handles
            .conditions
            .write()
            .unwrap_or_else(|p| p.into_inner());
        now.log_changes(&shared);
        let engaged = now.kill_switch.is_some();
        *shared = now;
        engaged
    }

    fn probe_state_dir(&self) -> Option<String> {
        let mut probed = self.probed.lock().unwrap_or_else(|p| p.into_inner());
        match &*probed {
            Some((at, None)) if at.elapsed() < PROBE_EVERY => None,
            _ => {
                let result = crate::state::probe::probe_writable(&self.state_dir).err();
                *probed = Some((Instant::now(), result.clone()));
                result
            }
        }
    }

    /// The legs of every synthetic this cycle. Each is sized by its first leg's account value,
    /// read here once so that every leg gets the same notional; a value that cannot be read
    /// (or is too old) leaves the legs held (see `targets::synthetic`).
    async fn expand_synthetics(
        &self,
        cfg: &ConfigSet,
        targets: &TargetBook,
    ) -> (BTreeMap<String, Option<Decimal>>, Vec<LegTarget>) {
        let synthetics = &cfg.engine.synthetics;
        if synthetics.is_empty() {
            return Default::default();
        }
        let mut first_legs = BTreeMap::new();
        for synthetic in synthetics.values() {
            let Some(first) = synthetic.legs.first() else {
                continue;
            };
            if first_legs.contains_key(&first.account) {
                continue;
            }
            let account = cfg.account(&first.account);
            let venue = match self.accounts.get(&first.account) {
                Some(runtime) => runtime.lock().await.venue(),
                None => None,
            };
            let value = match venue {
                Some(venue) => match venue.account_value().await {
                    Ok(v)
                        if (Utc::now() - v.at).num_seconds()
                            <= cfg.engine.risk.max_account_value_age_secs as i64 =>
                    {
                        Some(v.equity_usd)
                    }
                    Ok(_) => None,
                    Err(e) => {
                        tracing::warn!(account = %first.account, error = %e, "cannot read the account value that sizes synthetics: their legs are held this cycle");
                        None
                    }
                },
                None => None,
            };
            first_legs.insert(
                first.account.clone(),
                FirstLeg {
                    value_usd: value,
                    leverage_override: account.and_then(|a| a.leverage_override),
                },
            );
        }
        legs::expand(
            synthetics,
            &targets.targets,
            &first_legs,
            cfg.engine.risk.max_leverage,
            cfg.engine.risk.max_symbol_notional_usd,
            &self.synthetics.held(),
        )
    }

    /// One cycle: every account in parallel.
    /// Returns true when a follow-up cycle should come soon (something is being resolved).
    pub async fn cycle(&mut self, reason: &str) -> bool {
        let started = Instant::now();
        let number = {
            let mut info = self
                .handles
                .cycle
                .write()
                .unwrap_or_else(|p| p.into_inner());
            info.number += 1;
            info.last_started = Some(Utc::now());
            info.last_started_at = Some(started);
            info.number
        };
        self.handles.metrics.cycles.fetch_add(1, Ordering::Relaxed);
        let span = tracing::info_span!("cycle", cycle = number);
        let cfg = self.handles.config.borrow().clone();
        let targets = self.handles.targets.borrow().clone();
        let kill_switch = self.check_conditions(&cfg);
        let (notionals, leg_targets) = self.expand_synthetics(&cfg, &targets).await;
        let leg_targets = Arc::new(leg_targets);
        let board = super::synthetic::Board::default();
        let again = async {
            tracing::debug!(
                reason,
                targets_revision = targets.revision,
                kill_switch,
                "cycle start"
            );
            let mut set = JoinSet::new();
            for (name, runtime) in &self.accounts {
                let work = AccountWork {
                    config: cfg.clone(),
                    targets: targets.clone(),
                    cache: self.handles.cache.clone(),
                    journal: self.handles.journal.clone(),
                    metrics: self.handles.metrics.clone(),
                    kill_switch,
                    cycle: number,
                    legs: leg_targets.clone(),
                    board: board.clone(),
                };
                let runtime = runtime.clone();
                let name = name.clone();
                set.spawn(
                    async move {
                        let mut rt = runtime.lock().await;
                        rt.run_cycle(&work).await
                    }
                    .instrument(tracing::info_span!("account", account = %name)),
                );
            }
            let mut again = false;
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok(a) => again |= a,
                    // A panic in one account never stops the others.
                    Err(e) => tracing::error!(error = %e, "account task failed"),
                }
            }
            again
        }
        .instrument(span.clone())
        .await;
        if !cfg.engine.synthetics.is_empty() || !self.synthetics.held().is_empty() {
            let observations = board.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let status = span.in_scope(|| {
                self.synthetics.after_cycle(
                    &cfg,
                    &notionals,
                    &leg_targets,
                    &observations,
                    &self.handles.cache,
                    Utc::now(),
                )
            });
            *self
                .handles
                .synthetics
                .write()
                .unwrap_or_else(|p| p.into_inner()) = status;
        }
        let mut info = self
            .handles
            .cycle
            .write()
            .unwrap_or_else(|p| p.into_inner());
        let elapsed = started.elapsed();
        info.last_duration_ms = Some(elapsed.as_millis() as u64);
        info.last_completed = info.last_completed.max(number);
        drop(info);
        self.handles
            .metrics
            .end_cycle(elapsed.as_secs_f64(), &self.handles.cache.all());
        again
    }
}
