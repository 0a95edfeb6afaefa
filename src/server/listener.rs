//! The accept loop, with limits that keep slow or idle clients from taking the daemon's file
//! descriptors (which the order journal and the signal files need):
//!
//! - at most `max_connections` connections are served at once; the others wait in the
//!   kernel's listen backlog, which costs the process no descriptor;
//! - a request's headers must arrive within `header_read_timeout_secs` of the connection's
//!   opening or of the previous answer (so idle keep-alive connections are closed too);
//! - a request's body and answer get `request_timeout_secs`, then 408.
//!
//! hyper's HTTP/1 connection builder (from hyperium, like axum itself) provides the header
//! timeout; the cap is a semaphore around `accept`. `axum::serve` offers neither.

use crate::config::engine::ServerConfig;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

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

/// Serves `app` on an already bound listener until `shutdown` resolves, then lets the
/// connections finish their current request.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let app = app.layer(axum::middleware::from_fn(
        move |req, next: axum::middleware::Next| request_deadline(req, next, limits.request_timeout),
    ));
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
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
        let app = app.clone();
        let mut stop = stop_rx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(remote));
                let mut app = app.clone();
                tower_service::Service::call(&mut app, req)
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!(peer = %remote, error = %e, "http connection closed");
                    }
                    return;
                }
                _ = stop.wait_for(|s| *s) => conn.as_mut().graceful_shutdown(),
            }
            let _ = conn.await;
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
