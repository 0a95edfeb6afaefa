//! The shared stream layer: one reconnect loop for every venue's private (and public) streams,
//! over two transports — WebSocket and long-lived HTTP GETs of newline-delimited JSON (OANDA).
//!
//! Every connection starts with the handler's async [`StreamHandler::prepare`], so a venue can
//! fetch what a connection needs over REST first (KuCoin's one-use token and endpoint), sign
//! fresh login frames, and replay its subscriptions. The loop owns what is the same everywhere:
//! connect deadline, heartbeat, a silence watchdog (nothing received for N heartbeats →
//! reconnect), and jittered exponential backoff. Streams only make the daemon faster: REST stays
//! the authority and the daemon is correct without them.

mod ndjson;
mod websocket;

#[cfg(test)]
mod tests;

use super::VenueEvent;
use async_trait::async_trait;
use rand::Rng;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// How a stream behaves across connections; what one connection needs comes from `prepare`.
#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// For logs: which account and venue this stream belongs to.
    pub label: String,
    /// Used when `prepare` does not name one (some venues give it per connection).
    pub heartbeat: Duration,
    /// Reconnect when nothing arrived for this many heartbeats.
    pub silence_heartbeats: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
}

impl StreamConfig {
    pub fn new(label: impl Into<String>, heartbeat: Duration) -> Self {
        StreamConfig {
            label: label.into(),
            heartbeat,
            silence_heartbeats: 3,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The wire a connection uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Frames in both directions; pings come from [`StreamHandler::ping`].
    WebSocket,
    /// A long-lived GET answered with one JSON object per line; the server sends its own
    /// heartbeats, so nothing is sent after the request.
    HttpNdjson,
}

/// Everything one connection needs, made fresh for every (re)connect.
#[derive(Clone)]
pub struct Session {
    pub transport: Transport,
    pub url: String,
    /// HTTP headers of the request (the NDJSON request, or the WebSocket upgrade). Values may
    /// be secrets: they are never logged.
    pub headers: Vec<(String, String)>,
    /// WebSocket frames sent right after connecting: login first, then subscriptions.
    pub frames: Vec<String>,
    /// The heartbeat the venue asked for on this connection (KuCoin's `pingInterval`).
    pub heartbeat: Option<Duration>,
}

impl Session {
    pub fn websocket(url: impl Into<String>, frames: Vec<String>) -> Session {
        Session {
            transport: Transport::WebSocket,
            url: url.into(),
            headers: Vec::new(),
            frames,
            heartbeat: None,
        }
    }

    pub fn ndjson(url: impl Into<String>, headers: Vec<(String, String)>) -> Session {
        Session {
            transport: Transport::HttpNdjson,
            url: url.into(),
            headers,
            frames: Vec::new(),
            heartbeat: None,
        }
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Header values and login frames carry tokens and signatures.
        f.debug_struct("Session")
            .field("transport", &self.transport)
            // The query may carry a token (KuCoin's `?token=`).
            .field("url", &self.url.split('?').next().unwrap_or_default())
            .field("headers", &self.headers.len())
            .field("frames", &self.frames.len())
            .field("heartbeat", &self.heartbeat)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream authentication refused: {0}")]
    Auth(String),
    #[error("stream protocol error: {0}")]
    Protocol(String),
    /// `prepare` could not get what the connection needs (e.g. the token request failed).
    #[error("stream preparation failed: {0}")]
    Prepare(String),
}

/// A venue's side of a stream.
#[async_trait]
pub trait StreamHandler: Send + 'static {
    /// Called before every connection: where to connect, with which headers and login frames.
    /// Signatures and tokens are made here so that every connection gets fresh ones, and
    /// subscriptions are replayed after a reconnect.
    async fn prepare(&mut self) -> Result<Session, StreamError>;

    /// The application-level ping text for WebSocket; `None` sends a ping frame instead.
    fn ping(&self) -> Option<String>;

    /// Turns one text frame (or one NDJSON line) into domain events.
    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError>;

    /// True when the handler reports [`VenueEvent::Connected`] itself (e.g. once the venue
    /// acknowledged login and subscriptions) instead of the loop reporting it as soon as the
    /// connection is up.
    fn reports_connected(&self) -> bool {
        false
    }
}

/// The running stream; aborted when dropped.
pub struct StreamTask(JoinHandle<()>);

impl Drop for StreamTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub fn spawn_stream(
    config: StreamConfig,
    handler: impl StreamHandler,
    events: broadcast::Sender<VenueEvent>,
) -> StreamTask {
    StreamTask(tokio::spawn(run(config, handler, events)))
}

/// What the transports share while a connection is up.
pub(crate) struct Link<'a, H> {
    pub config: &'a StreamConfig,
    pub handler: &'a mut H,
    pub events: &'a broadcast::Sender<VenueEvent>,
    pub heartbeat: Duration,
}

impl<H: StreamHandler> Link<'_, H> {
    pub fn silence_limit(&self) -> Duration {
        self.heartbeat * self.config.silence_heartbeats.max(1)
    }

    pub fn connected(&self) {
        tracing::info!(stream = %self.config.label, "stream connected");
        if !self.handler.reports_connected() {
            let _ = self.events.send(VenueEvent::Connected);
        }
    }

    /// Hands one message to the handler; an authentication refusal ends the connection.
    pub fn deliver(&mut self, text: &str) -> Result<(), String> {
        match self.handler.on_text(text) {
            Ok(list) => {
                for event in list {
                    let _ = self.events.send(event);
                }
                Ok(())
            }
            Err(StreamError::Auth(e)) => Err(format!("authentication refused: {e}")),
            Err(e) => {
                tracing::warn!(stream = %self.config.label, error = %e, "unreadable stream message");
                Ok(())
            }
        }
    }
}

async fn run(
    config: StreamConfig,
    mut handler: impl StreamHandler,
    events: broadcast::Sender<VenueEvent>,
) {
    let mut backoff = config.backoff_min;
    loop {
        let started = Instant::now();
        let reason = connect_once(&config, &mut handler, &events).await;
        let _ = events.send(VenueEvent::Disconnected {
            reason: reason.clone(),
        });
        if started.elapsed() > Duration::from_secs(60) {
            backoff = config.backoff_min;
        }
        let jitter = rand::thread_rng().gen_range(0..=backoff.as_millis() as u64 / 2);
        let wait = backoff + Duration::from_millis(jitter);
        tracing::warn!(stream = %config.label, reason = %reason, retry_in_ms = wait.as_millis() as u64, "stream disconnected");
        tokio::time::sleep(wait).await;
        backoff = (backoff * 2).min(config.backoff_max);
    }
}

/// One connection's life; returns why it ended.
async fn connect_once(
    config: &StreamConfig,
    handler: &mut impl StreamHandler,
    events: &broadcast::Sender<VenueEvent>,
) -> String {
    let session = match tokio::time::timeout(config.connect_timeout, handler.prepare()).await {
        Err(_) => return "preparing the connection timed out".into(),
        Ok(Err(e)) => return e.to_string(),
        Ok(Ok(session)) => session,
    };
    let heartbeat = session
        .heartbeat
        .filter(|h| !h.is_zero())
        .unwrap_or(config.heartbeat);
    let link = Link {
        config,
        handler,
        events,
        heartbeat,
    };
    let ended = match session.transport {
        Transport::WebSocket => websocket::connection(link, session).await,
        Transport::HttpNdjson => ndjson::connection(link, session).await,
    };
    ended.unwrap_or_else(|reason| reason)
}
