//! systemd integration without a library: `READY=1` once serving, `STOPPING=1` on shutdown, and
//! `WATCHDOG=1` pings only while cycles keep running, so a wedged engine is restarted.

use std::time::{Duration, Instant};

/// Slack on top of three reconcile intervals: a cycle sending several orders to a slow venue
/// may take a while.
pub const WATCHDOG_MARGIN: Duration = Duration::from_secs(60);

/// Sends one notification if the service manager asked for them (NOTIFY_SOCKET is set).
pub fn notify(state: &str) {
    #[cfg(target_os = "linux")]
    {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::{SocketAddr, UnixDatagram};
        let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
            return;
        };
        let path = path.to_string_lossy().to_string();
        let addr = match path.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes()),
            None => SocketAddr::from_pathname(&path),
        };
        let sent = addr.and_then(|addr| {
            let socket = UnixDatagram::unbound()?;
            socket.send_to_addr(state.as_bytes(), &addr)
        });
        if let Err(e) = sent {
            tracing::debug!(error = %e, "cannot notify systemd");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = state;
}

/// The watchdog interval systemd expects pings at, if enabled (WatchdogSec=).
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    let pid_ok = std::env::var("WATCHDOG_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
        .is_none_or(|p| p == std::process::id());
    (usec > 0 && pid_ok).then(|| Duration::from_micros(usec))
}

/// Whether cycles are still running, i.e. whether to feed the watchdog: the last cycle (or,
/// before the first one, the daemon's start) is at most three reconcile intervals plus
/// [`WATCHDOG_MARGIN`] old. Monotonic instants, so a wall clock step cannot trip it.
pub fn cycles_fresh(
    now: Instant,
    daemon_started: Instant,
    last_cycle_started: Option<Instant>,
    reconcile_interval: Duration,
) -> bool {
    let since = last_cycle_started.unwrap_or(daemon_started);
    now.saturating_duration_since(since) <= reconcile_interval * 3 + WATCHDOG_MARGIN
}

#[cfg(test)]
mod tests {
    use super::*;

    const INTERVAL: Duration = Duration::from_secs(30);

    #[test]
    fn fed_while_cycles_run() {
        let start = Instant::now();
        let last = start + Duration::from_secs(600);
        assert!(cycles_fresh(last, start, Some(last), INTERVAL));
        assert!(cycles_fresh(
            last + INTERVAL * 3,
            start,
            Some(last),
            INTERVAL
        ));
        assert!(cycles_fresh(
            last + INTERVAL * 3 + WATCHDOG_MARGIN,
            start,
            Some(last),
            INTERVAL
        ));
    }

    #[test]
    fn starved_when_the_last_cycle_is_too_old() {
        let start = Instant::now();
        let last = start + Duration::from_secs(10);
        let bound = INTERVAL * 3 + WATCHDOG_MARGIN;
        assert!(!cycles_fresh(
            last + bound + Duration::from_secs(1),
            start,
            Some(last),
            INTERVAL
        ));
        // Today's default (30 s) gives 150 s, not the ~22 minutes of four watchdog periods.
        assert_eq!(bound, Duration::from_secs(150));
    }

    #[test]
    fn starved_when_no_cycle_ever_runs() {
        let start = Instant::now();
        assert!(cycles_fresh(
            start + Duration::from_secs(5),
            start,
            None,
            INTERVAL
        ));
        assert!(!cycles_fresh(
            start + INTERVAL * 3 + WATCHDOG_MARGIN + Duration::from_secs(1),
            start,
            None,
            INTERVAL
        ));
    }

    #[test]
    fn the_bound_follows_the_reconcile_interval() {
        let start = Instant::now();
        let at = start + Duration::from_secs(200);
        assert!(!cycles_fresh(
            at,
            start,
            Some(start),
            Duration::from_secs(30)
        ));
        assert!(cycles_fresh(
            at,
            start,
            Some(start),
            Duration::from_secs(60)
        ));
    }
}
