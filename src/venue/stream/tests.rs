use super::*;
use futures::{SinkExt, StreamExt};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Collects events until `n` disconnects were seen; returns them.
async fn events_until_disconnects(
    rx: &mut broadcast::Receiver<VenueEvent>,
    n: usize,
) -> Vec<VenueEvent> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while seen
        .iter()
        .filter(|e| matches!(e, VenueEvent::Disconnected { .. }))
        .count()
        < n
    {
        let e = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("events in time")
            .unwrap();
        seen.push(e);
    }
    seen
}

fn reasons(seen: &[VenueEvent]) -> Vec<String> {
    seen.iter()
        .filter_map(|e| match e {
            VenueEvent::Disconnected { reason } => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn quick(label: &str) -> StreamConfig {
    let mut cfg = StreamConfig::new(label, Duration::from_millis(100));
    cfg.backoff_min = Duration::from_millis(20);
    cfg
}

/// A WebSocket handler whose first `prepare` fails (as a token request can), then signs a new
/// login frame for every connection.
struct Ws {
    url: String,
    prepares: Arc<Mutex<u32>>,
}

#[async_trait]
impl StreamHandler for Ws {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        let n = {
            let mut n = self.prepares.lock().unwrap();
            *n += 1;
            *n
        };
        if n == 1 {
            return Err(StreamError::Prepare("token endpoint answered 503".into()));
        }
        Ok(Session::websocket(
            self.url.clone(),
            vec![format!("auth-{n}"), "subscribe".into()],
        ))
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

/// Records what each connection sent before its first push; the first connection is closed
/// after one push, the second goes silent.
async fn ws_server(log: Arc<Mutex<Vec<Vec<String>>>>) -> String {
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
async fn websocket_prepares_every_connection_reconnects_and_watches_silence() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let url = ws_server(log.clone()).await;
    let (tx, mut rx) = broadcast::channel(64);
    let prepares = Arc::new(Mutex::new(0));
    let _task = spawn_stream(
        quick("ws-test"),
        Ws {
            url,
            prepares: prepares.clone(),
        },
        tx,
    );
    // Prepare failed, then: Connected, wallet, Disconnected (closed), Connected, wallet,
    // Disconnected (silent).
    let seen = events_until_disconnects(&mut rx, 3).await;
    let reasons = reasons(&seen);
    assert!(reasons[0].contains("preparation failed"), "{reasons:?}");
    assert!(reasons[1].contains("closed"), "{reasons:?}");
    assert!(reasons[2].contains("silent"), "{reasons:?}");
    let wallets = seen
        .iter()
        .filter(|e| **e == VenueEvent::WalletChanged)
        .count();
    assert_eq!(wallets, 2, "{seen:?}");
    let log = log.lock().unwrap().clone();
    assert_eq!(log[0], vec!["auth-2".to_string(), "subscribe".to_string()]);
    assert_eq!(
        log[1],
        vec!["auth-3".to_string(), "subscribe".to_string()],
        "a fresh login and the subscriptions on every connection"
    );
}

/// An NDJSON handler that asks for a new bearer token per connection and takes the heartbeat
/// interval from the session.
struct Lines {
    url: String,
    prepares: u32,
}

#[async_trait]
impl StreamHandler for Lines {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        self.prepares += 1;
        let mut session = Session::ndjson(
            self.url.clone(),
            vec![(
                "Authorization".into(),
                format!("Bearer token-{}", self.prepares),
            )],
        );
        session.heartbeat = Some(Duration::from_millis(100));
        Ok(session)
    }
    fn ping(&self) -> Option<String> {
        None
    }
    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| StreamError::Protocol(e.to_string()))?;
        Ok(match value["type"].as_str() {
            Some("wallet") => vec![VenueEvent::WalletChanged],
            Some("revoked") => return Err(StreamError::Auth("token revoked".into())),
            _ => vec![],
        })
    }
}

/// Connection 1: a message split across writes, a heartbeat, a broken line, then close.
/// Connection 2: one message, then a line that revokes the session.
/// Connection 3: one message, then silence.
async fn ndjson_server(auth: Arc<Mutex<Vec<String>>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v3/stream", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut n = 0;
        while let Ok((mut tcp, _)) = listener.accept().await {
            n += 1;
            let auth = auth.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tcp.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => head.extend_from_slice(&buf[..k]),
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let token = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .or_else(|| head.lines().find_map(|l| l.strip_prefix("Authorization: ")))
                    .unwrap_or("")
                    .to_string();
                auth.lock().unwrap().push(token);
                let _ = tcp
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
                    .await;
                let parts: Vec<&[u8]> = match n {
                    1 => vec![
                        b"{\"type\":\"wal",
                        b"let\"}\n{\"type\":\"HEARTBEAT\"}\n",
                        b"not json\n",
                    ],
                    2 => vec![b"{\"type\":\"wallet\"}\n{\"type\":\"revoked\"}\n"],
                    _ => vec![b"{\"type\":\"wallet\"}\n"],
                };
                for part in parts {
                    let _ = tcp.write_all(part).await;
                    let _ = tcp.flush().await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                if n >= 3 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
            });
        }
    });
    url
}

#[tokio::test]
async fn ndjson_reassembles_lines_refreshes_tokens_and_watches_silence() {
    let auth = Arc::new(Mutex::new(Vec::new()));
    let url = ndjson_server(auth.clone()).await;
    let (tx, mut rx) = broadcast::channel(64);
    let mut cfg = quick("ndjson-test");
    // The session's heartbeat (100 ms) must win over this one.
    cfg.heartbeat = Duration::from_secs(60);
    let _task = spawn_stream(cfg, Lines { url, prepares: 0 }, tx);
    let seen = events_until_disconnects(&mut rx, 3).await;
    let reasons = reasons(&seen);
    assert!(reasons[0].contains("closed"), "{reasons:?}");
    assert!(reasons[1].contains("authentication refused"), "{reasons:?}");
    assert!(reasons[2].contains("silent"), "{reasons:?}");
    assert_eq!(
        seen.iter()
            .filter(|e| **e == VenueEvent::WalletChanged)
            .count(),
        3,
        "the split message is read once per connection: {seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|e| **e == VenueEvent::Connected).count(),
        3
    );
    let auth = auth.lock().unwrap().clone();
    assert_eq!(
        auth[..3],
        [
            "Bearer token-1".to_string(),
            "Bearer token-2".to_string(),
            "Bearer token-3".to_string()
        ]
    );
}

#[tokio::test]
async fn ndjson_refusal_is_reported_with_its_status() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/stream", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = tcp.read(&mut buf).await;
            let body = r#"{"errorMessage":"Insufficient authorization to perform request."}"#;
            let _ = tcp
                .write_all(
                    format!(
                        "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                )
                .await;
        }
    });
    let (tx, mut rx) = broadcast::channel(64);
    let _task = spawn_stream(quick("refused"), Lines { url, prepares: 0 }, tx);
    let seen = events_until_disconnects(&mut rx, 1).await;
    let reasons = reasons(&seen);
    assert!(
        reasons[0].contains("authentication refused") && reasons[0].contains("HTTP 401"),
        "{reasons:?}"
    );
    assert!(!seen.contains(&VenueEvent::Connected));
}
