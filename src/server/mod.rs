//! The HTTP surface: `/healthz`, `/status`, `/metrics`.

mod status;

pub use status::{build_status, StatusReport};

use crate::execution::EngineHandles;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use std::net::SocketAddr;

pub fn router(handles: EngineHandles) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .with_state(handles)
}

async fn healthz() -> impl IntoResponse {
    (StatusCode::OK, "ok\n")
}

async fn status(State(handles): State<EngineHandles>) -> Json<StatusReport> {
    Json(build_status(&handles))
}

async fn metrics(State(handles): State<EngineHandles>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        handles.metrics.render(),
    )
}

/// Binds and serves until `shutdown` resolves.
pub async fn serve(
    listen: SocketAddr,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    tracing::info!(listen = %listener.local_addr()?, "http server listening");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
