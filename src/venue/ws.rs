//! The shared reconnecting WebSocket client: authenticate and subscribe on every connection
//! (so subscriptions are replayed after a reconnect), heartbeat, a silence watchdog (no frame
//! for N heartbeats → reconnect), and jittered exponential backoff. Venue specifics live in a
//! [`StreamHandler`]; what comes out are domain [`VenueEvent`]s. Streams only make the daemon
//! faster: REST stays the authority and the daemon is correct without them.

use super::VenueEvent;
use futures::{SinkExt, StreamExt};
use rand::Rng;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

#[derive(Clone, Debug)]
pub struct StreamConfig {
    /// For logs: which account and venue this stream belongs to.
    pub label: String,
    pub url: String,
    pub heartbeat: Duration,
    /// Reconnect when nothing arrived for this many heartbeats.
    pub silence_heartbeats: u32,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    pub connect_timeout: Duration,
}

impl StreamConfig {
    pub fn new(label: impl Into<String>, url: impl Into<String>, heartbeat: Duration) -> Self {
        StreamConfig {
            label: label.into(),
            url: url.into(),
            heartbeat,
            silence_heartbeats: 3,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("stream authentication refused: {0}")]
    Auth(String),
    #[error("stream protocol error: {0}")]
    Protocol(String),
}

pub trait StreamHandler: Send + 'static {
    /// Frames to send right after each connect: authentication first, then subscriptions.
    /// Called on every (re)connect so that signatures are fresh and subscriptions replayed.
    fn on_connect(&mut self) -> Result<Vec<String>, StreamError>;

    /// The application-level ping text; `None` sends a WebSocket ping frame instead.
    fn ping(&self) -> Option<String>;

    /// Turns one text frame into domain events.
    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError>;

    /// True when the handler reports [`VenueEvent::Connected`] itself (e.g. once the venue
    /// acknowledged authentication and subscriptions) instead of the stream reporting it as
    /// soon as the connect frames are sent.
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

async fn run(
    config: StreamConfig,
    mut handler: impl StreamHandler,
    events: broadcast::Sender<VenueEvent>,
) {
    let mut backoff = config.backoff_min;
    loop {
        let started = Instant::now();
        let reason = match connect_once(&config, &mut handler, &events).await {
            Ok(reason) => reason,
            Err(reason) => reason,
        };
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
) -> Result<String, String> {
    let connect = tokio_tungstenite::connect_async(config.url.as_str());
    let (mut ws, _) = tokio::time::timeout(config.connect_timeout, connect)
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {e}"))?;
    for frame in handler.on_connect().map_err(|e| e.to_string())? {
        ws.send(Message::Text(frame))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
    }
    tracing::info!(stream = %config.label, "stream connected");
    if !handler.reports_connected() {
        let _ = events.send(VenueEvent::Connected);
    }
    let mut last_frame = Instant::now();
    let mut heartbeat = tokio::time::interval(config.heartbeat);
    heartbeat.tick().await;
    let silence_limit = config.heartbeat * config.silence_heartbeats.max(1);
    loop {
        tokio::select! {
            frame = ws.next() => {
                let frame = match frame {
                    None => return Ok("closed by the venue".into()),
                    Some(Err(e)) => return Ok(format!("read failed: {e}")),
                    Some(Ok(f)) => f,
                };
                last_frame = Instant::now();
                match frame {
                    Message::Text(text) => match handler.on_text(&text) {
                        Ok(list) => {
                            for event in list {
                                let _ = events.send(event);
                            }
                        }
                        Err(StreamError::Auth(e)) => return Err(format!("authentication refused: {e}")),
                        Err(e) => tracing::warn!(stream = %config.label, error = %e, "unreadable stream message"),
                    },
                    Message::Ping(payload) => {
                        ws.send(Message::Pong(payload)).await.map_err(|e| format!("send failed: {e}"))?;
                    }
                    Message::Close(frame) => return Ok(format!("closed by the venue: {frame:?}")),
                    _ => {}
                }
            }
            _ = heartbeat.tick() => {
                if last_frame.elapsed() > silence_limit {
                    let _ = ws.close(None).await;
                    return Ok(format!("silent for {} ms", last_frame.elapsed().as_millis()));
                }
                let ping = match handler.ping() {
                    Some(text) => Message::Text(text),
                    None => Message::Ping(Vec::new()),
                };
                ws.send(ping).await.map_err(|e| format!("ping failed: {e}"))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::net::TcpListener;

    struct Echo {
        connects: Arc<Mutex<u32>>,
    }

    impl StreamHandler for Echo {
        fn on_connect(&mut self) -> Result<Vec<String>, StreamError> {
            let mut n = self.connects.lock().unwrap();
            *n += 1;
            Ok(vec![format!("auth-{n}"), "subscribe".into()])
        }
        fn ping(&self) -> Option<String> {
            Some("ping".into())
        }
        fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
            Ok(match text {
                "wallet" => vec![VenueEvent::WalletChanged],
                _ => vec![],
            })
        }
    }

    /// A server that records what each connection sent before its first push; the first
    /// connection is dropped after one push, the second goes silent.
    async fn server(log: Arc<Mutex<Vec<Vec<String>>>>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let mut n = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                n += 1;
                let log = log.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    let mut got = Vec::new();
                    for _ in 0..2 {
                        if let Some(Ok(Message::Text(t))) = ws.next().await {
                            got.push(t);
                        }
                    }
                    log.lock().unwrap().push(got);
                    let _ = ws.send(Message::Text("wallet".into())).await;
                    if n == 1 {
                        let _ = ws.close(None).await;
                    } else {
                        // Silent: never answers pings; keep the socket open.
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                });
            }
        });
        url
    }

    #[tokio::test]
    async fn reconnects_resubscribes_and_watches_silence() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let url = server(log.clone()).await;
        let (tx, mut rx) = broadcast::channel(64);
        let mut cfg = StreamConfig::new("test", url, Duration::from_millis(100));
        cfg.backoff_min = Duration::from_millis(20);
        let connects = Arc::new(Mutex::new(0));
        let _task = spawn_stream(
            cfg,
            Echo {
                connects: connects.clone(),
            },
            tx,
        );
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        // Connected, wallet, Disconnected (closed), Connected, wallet, Disconnected (silent).
        while seen
            .iter()
            .filter(|e| matches!(e, VenueEvent::Disconnected { .. }))
            .count()
            < 2
        {
            let e = tokio::time::timeout_at(deadline, rx.recv())
                .await
                .expect("events in time")
                .unwrap();
            seen.push(e);
        }
        let reasons: Vec<String> = seen
            .iter()
            .filter_map(|e| match e {
                VenueEvent::Disconnected { reason } => Some(reason.clone()),
                _ => None,
            })
            .collect();
        assert!(reasons[0].contains("closed"), "{reasons:?}");
        assert!(reasons[1].contains("silent"), "{reasons:?}");
        assert!(
            seen.iter()
                .filter(|e| **e == VenueEvent::WalletChanged)
                .count()
                >= 2
        );
        let log = log.lock().unwrap().clone();
        assert_eq!(log[0], vec!["auth-1".to_string(), "subscribe".to_string()]);
        assert_eq!(
            log[1],
            vec!["auth-2".to_string(), "subscribe".to_string()],
            "auth and subscriptions replayed"
        );
    }
}
