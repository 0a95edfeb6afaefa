//! The HTTP surface: `/healthz`, `/status`, `/metrics`, `POST /webhook/<source>`, and the
//! read-only status page at `/` (with `/history` for its chart).

mod control;
mod health;
mod history;
mod listener;
mod metrics;
mod page;
mod rate_limit;
mod status;
pub mod webhook;

pub use listener::{bind, serve, Limits};
pub use status::{build_status, StatusReport};

use crate::execution::EngineHandles;
use crate::signals::tradingview::WebhookSources;
use axum::extract::{FromRef, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What the handlers share. The config (and so every webhook token) is read from the
/// engine's config receiver on each request, so a reload applies at once.
#[derive(Clone)]
pub struct AppState {
    pub engine: EngineHandles,
    pub webhooks: Arc<WebhookSources>,
    limiter: Arc<rate_limit::RateLimiter>,
    history: Arc<history::History>,
}

impl FromRef<AppState> for Arc<history::History> {
    fn from_ref(state: &AppState) -> Arc<history::History> {
        state.history.clone()
    }
}

impl FromRef<AppState> for EngineHandles {
    fn from_ref(state: &AppState) -> EngineHandles {
        state.engine.clone()
    }
}

pub fn router(engine: EngineHandles, webhooks: Arc<WebhookSources>) -> Router {
    let history = Arc::new(history::History::default());
    history::spawn_sampler(engine.clone(), history.clone());
    let state = AppState {
        engine,
        webhooks,
        limiter: Arc::default(),
        history,
    };
    Router::new()
        .route("/", get(page::index))
        .route("/page/app.js", get(page::script))
        .route("/page/style.css", get(page::style))
        .route("/history", get(history_json))
        .route("/healthz", get(health::healthz))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/webhook/:source", post(webhook::receive))
        .route("/control/halt", post(control::halt))
        .route("/control/resume", post(control::resume))
        .route("/control/flatten", post(control::flatten))
        .with_state(state)
}

async fn status(State(handles): State<EngineHandles>) -> Json<StatusReport> {
    Json(build_status(&handles))
}

async fn history_json(State(history): State<Arc<history::History>>) -> impl IntoResponse {
    Json(history.series())
}

async fn metrics(State(handles): State<EngineHandles>) -> impl IntoResponse {
    (
        [("content-type", metrics::CONTENT_TYPE)],
        metrics::render(&handles),
    )
}

#[cfg(test)]
mod webhook_tests;
