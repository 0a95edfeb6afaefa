//! systemd integration without a library: `READY=1` once serving, `STOPPING=1` on shutdown, and
//! `WATCHDOG=1` pings only while cycles keep running, so a wedged engine is restarted.

use std::time::Duration;

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
