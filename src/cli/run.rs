use super::{absolute, Cli};
use crate::config::{watch::spawn_reloader, ConfigSet};
use crate::execution::Engine;
use crate::signals::tradingview::WebhookSources;
use crate::signals::{SignalBook, SourceManager};
use crate::state::lock::StateLock;
use crate::state::{ExecutionCache, Journal};
use crate::telemetry::{self, LogFormat};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long SIGTERM waits for an in-flight cycle (orders being sent) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

pub async fn run(cli: &Cli) -> Result<(), String> {
    let config_dir = absolute(&cli.config_dir);
    let state_dir = absolute(&cli.state_dir);
    let config = ConfigSet::load(&config_dir).map_err(|e| format!("config error: {e}"))?;
    let format = cli.log_format.or_else(|| {
        config
            .engine
            .logging
            .format
            .as_deref()
            .and_then(LogFormat::parse)
    });
    telemetry::init(format, &config.engine.logging, &state_dir).map_err(|e| e.to_string())?;
    for w in &config.warnings {
        tracing::warn!(warning = %w, "config warning");
    }
    let started = std::time::Instant::now();
    // journal/ marks the directory as a state directory from the first start (`halt` looks
    // for it), not only from the first order.
    std::fs::create_dir_all(state_dir.join(crate::state::recognise::JOURNAL_DIR))
        .map_err(|e| format!("cannot create state directory {}: {e}", state_dir.display()))?;
    // Before any state file is read: a second daemon on this state must not get further.
    let _lock = StateLock::acquire(&state_dir).map_err(|e| e.to_string())?;
    // The journal first: it is the one piece of state that cannot be rebuilt.
    let journal = Arc::new(Journal::open(&state_dir).map_err(|e| e.to_string())?);
    let cache = Arc::new(ExecutionCache::open(&state_dir).map_err(|e| e.to_string())?);
    for account in cache.rebuilt() {
        let traded = journal
            .entries(account)
            .into_iter()
            .map(|e| (e.symbol, e.native));
        cache.remember_traded(account, traded);
    }
    tracing::info!(
        config_dir = %config_dir.display(),
        state_dir = %state_dir.display(),
        accounts = config.engine.accounts.len(),
        sources = config.engine.sources.len(),
        "trade-engine starting"
    );

    let listen: std::net::SocketAddr = config
        .engine
        .server
        .listen
        .parse()
        .map_err(|e| format!("server.listen: {e}"))?;
    // Bound before anything trades: without the HTTP surface webhooks would be lost, so a
    // taken port stops the start.
    let listener = crate::server::bind(listen)
        .map_err(|e| format!("cannot listen on {listen} (server.listen): {e}"))?;
    if !listen.ip().is_loopback() {
        tracing::warn!(
            listen = %listen,
            "server.listen is not a loopback address: the status page and /status are readable \
             by anyone who can reach this port; listen on 127.0.0.1 and expose only /webhook/ \
             through a reverse proxy"
        );
    }
    let limits = crate::server::Limits::from(&config.engine.server);
    tracing::info!(
        listen = %listener.local_addr().unwrap_or(listen),
        max_connections = limits.max_connections,
        "http server listening"
    );
    let (hup_tx, hup_rx) = mpsc::channel(4);
    // One set of counters for the whole daemon: the reloader counts into it before the engine exists.
    let metrics = Arc::new(crate::execution::Metrics::default());
    let config_rx = spawn_reloader(Arc::new(config), hup_rx, metrics.clone());

    let unrebuildable: Vec<String> = config_rx
        .borrow()
        .engine
        .sources
        .iter()
        .filter(|s| !crate::signals::rebuildable_from_local_files(&s.kind))
        .map(|s| s.name.clone())
        .collect();
    let book = Arc::new(
        SignalBook::open_or_rebuild(&state_dir, &unrebuildable).map_err(|e| e.to_string())?,
    );
    // Webhook journals are replayed into the book before the first target computation, so a
    // restart resumes with the signals it had acknowledged.
    let webhooks = Arc::new(WebhookSources::new(&state_dir, book.clone()));
    webhooks.sync(&config_rx.borrow());
    let targets_rx = crate::targets::spawn_target_book(config_rx.clone(), book.clone());

    let engine = Engine::new(
        state_dir.clone(),
        config_rx.clone(),
        targets_rx,
        cache,
        journal,
    )
    .with_metrics(metrics);
    let handles = engine.handles();
    // Sources count into the same `/metrics` as the engine.
    let mut sources = SourceManager::new(book.clone(), handles.metrics.clone());
    handles.metrics.follow_signals(book.clone());
    sources.apply(&config_rx.borrow());

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let mut engine_task = tokio::spawn(engine.run(shutdown_rx.clone()));

    let handles_for_watchdog = handles.clone();
    let app = crate::server::router(handles, webhooks.clone());
    let mut server_shutdown = shutdown_rx.clone();
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = server_shutdown.wait_for(|s| *s).await;
        };
        crate::server::serve(listener, app, limits, stop).await;
    });

    // Sources follow config reloads.
    let mut source_config = config_rx.clone();
    let sources_task = tokio::spawn(async move {
        while source_config.changed().await.is_ok() {
            let cfg = source_config.borrow_and_update().clone();
            sources.apply(&cfg);
            webhooks.sync(&cfg);
        }
        sources.stop_all();
    });

    crate::systemd::notify("READY=1");
    let watchdog = crate::systemd::watchdog_interval().map(|every| {
        let cycle = handles_for_watchdog.cycle.clone();
        let config = handles_for_watchdog.config.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every / 2);
            let mut pinging = true;
            loop {
                tick.tick().await;
                let last = cycle.read().ok().and_then(|c| c.last_started_at);
                let interval =
                    Duration::from_secs(config.borrow().engine.cycle.reconcile_interval_secs);
                let fresh = crate::systemd::cycles_fresh(
                    std::time::Instant::now(),
                    started,
                    last,
                    interval,
                );
                if fresh {
                    crate::systemd::notify("WATCHDOG=1");
                } else if pinging {
                    tracing::error!(
                        "no cycle has started for too long: no longer feeding the systemd watchdog"
                    );
                }
                pinging = fresh;
            }
        })
    });

    wait_for_stop(hup_tx).await;
    crate::systemd::notify("STOPPING=1");
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("shutting down: finishing in-flight orders");
    let _ = shutdown_tx.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut engine_task)
        .await
        .is_err()
    {
        tracing::warn!("in-flight work did not finish in time; stopping anyway");
        engine_task.abort();
    }
    sources_task.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    tracing::info!("stopped");
    Ok(())
}

/// Waits for SIGTERM or Ctrl-C; SIGHUP asks for a config reload and keeps waiting.
async fn wait_for_stop(hup: mpsc::Sender<()>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut hangup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            let _ = tokio::signal::ctrl_c().await;
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
                _ = hangup.recv() => {
                    tracing::info!("SIGHUP: reloading config");
                    let _ = hup.try_send(());
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = hup;
        let _ = tokio::signal::ctrl_c().await;
    }
}
