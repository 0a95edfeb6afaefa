//! The accept loop, with limits that keep slow or idle clients from taking the daemon's file
//! descriptors (which the order journal and the signal files need) or its attention:
//!
//! - at most `max_connections` connections are open at once (plus the one just accepted);
//! - at the cap, a new connection makes the oldest connection with no request in flight close,
//!   so idle clients cannot lock out a health check or a webhook; a request in flight is never
//!   cut short by this;
//! - a request's headers must arrive within `header_read_timeout_secs` of the connection's
//!   opening or of the previous answer (so idle keep-alive connections are closed too);
//! - a request's body and answer get `request_timeout_secs`, then 408.
//!
//! hyper's HTTP/1 connection builder (hyperium, the base of axum) provides the header timeout
//! and the graceful close; `axum::serve` exposes neither, nor a connection cap.

use crate::config::engine::ServerConfig;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{watch, Notify, Semaphore};

/// How long an evicted connection may take to finish writing an answer.
const EVICTION_GRACE: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub request_timeout: Duration,
}

impl From<&ServerConfig> for Limits {
    fn from(c: &ServerConfig) -> Limits {
        Limits {
            max_connections: c.max_connections.max(1),
            header_read_timeout: Duration::from_secs(c.header_read_timeout_secs.max(1)),
            request_timeout: Duration::from_secs(c.request_timeout_secs.max(1)),
        }
    }
}

/// One open connection, as the accept loop sees it.
#[derive(Default)]
struct Conn {
    in_flight: AtomicUsize,
    evicted: AtomicBool,
    close: Notify,
}

/// Open connections in accept order.
#[derive(Default)]
struct Registry(Mutex<BTreeMap<u64, Arc<Conn>>>);

impl Registry {
    fn add(&self, id: u64) -> Arc<Conn> {
        let conn = Arc::new(Conn::default());
        self.lock().insert(id, conn.clone());
        conn
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks the oldest connection without a request in flight to close; false if every
    /// connection is busy.
    fn evict_oldest_idle(&self) -> bool {
        let conns = self.lock();
        let oldest = conns
            .values()
            .find(|c| c.in_flight.load(Ordering::SeqCst) == 0 && !c.evicted.load(Ordering::SeqCst));
        match oldest {
            Some(c) => {
                c.evicted.store(true, Ordering::SeqCst);
                c.close.notify_one();
                true
            }
            None => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Arc<Conn>>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Counts a request in flight for as long as it lives.
struct InFlight(Arc<Conn>);

impl InFlight {
    fn new(conn: &Arc<Conn>) -> InFlight {
        conn.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(conn.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Connections the kernel queues while the accept loop waits at the cap (tokio's default of 128
/// drops a burst of clients instead).
const BACKLOG: u32 = 1024;

/// Binds `addr` (with `SO_REUSEADDR`, like tokio's own `bind`) and listens.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Serves `app` on an already bound listener until `shutdown` resolves, then lets the
/// connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = app.layer(axum::middleware::from_fn(
        move |req, next: axum::middleware::Next| {
            request_deadline(req, next, limits.request_timeout)
        },
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let registry = Arc::new(Registry::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut next_id = 0u64;
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors (EMFILE) or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if !registry.evict_oldest_idle() {
                    tracing::debug!("http connection cap reached with every request in flight");
                }
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        next_id += 1;
        let id = next_id;
        let conn_state = registry.add(id);
        let registry = registry.clone();
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let counted = conn_state.clone();
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                let in_flight = InFlight::new(&counted);
                let mut app = app.clone();
                let answer = tower_service::Service::call(&mut app, req);
                async move {
                    let response = answer.await;
                    drop(in_flight);
                    response
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            enum End {
                Done(hyper::Result<()>),
                Stop,
                Evicted,
            }
            let end = tokio::select! {
                result = conn.as_mut() => End::Done(result),
                _ = stop.wait_for(|s| *s) => End::Stop,
                () = conn_state.close.notified() => End::Evicted,
            };
            let result = match end {
                End::Done(result) => result,
                End::Stop => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
                End::Evicted => {
                    // Idle when evicted: close now, or after at most a grace for a partial
                    // header; a request that started meanwhile is always answered.
                    conn.as_mut().graceful_shutdown();
                    match tokio::time::timeout(EVICTION_GRACE, conn.as_mut()).await {
                        Ok(result) => result,
                        Err(_) if conn_state.in_flight.load(Ordering::SeqCst) > 0 => conn.await,
                        Err(_) => Ok(()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(peer = %remote, error = %e, "http connection ended");
            }
            registry.remove(id);
        });
    }
    let _ = stop_tx.send(true);
}

async fn request_deadline(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    limit: Duration,
) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => (StatusCode::REQUEST_TIMEOUT, "request timed out\n").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_picks_the_oldest_idle_connection() {
        let r = Registry::default();
        let (a, b, c) = (r.add(1), r.add(2), r.add(3));
        let busy = InFlight::new(&a);
        assert!(r.evict_oldest_idle());
        assert!(!a.evicted.load(Ordering::SeqCst), "busy: kept");
        assert!(b.evicted.load(Ordering::SeqCst));
        assert!(r.evict_oldest_idle());
        assert!(c.evicted.load(Ordering::SeqCst));
        assert!(!r.evict_oldest_idle(), "only a busy one left");
        drop(busy);
        r.remove(2);
        assert!(r.evict_oldest_idle());
        assert!(a.evicted.load(Ordering::SeqCst));
    }
}
