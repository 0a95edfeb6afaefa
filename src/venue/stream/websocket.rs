//! The WebSocket transport: connect (with the session's headers on the upgrade), send the login
//! and subscription frames, answer pings, send the handler's heartbeat, watch for silence.

use super::{Link, Session, StreamHandler};
use futures::{SinkExt, StreamExt};
use std::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::Message;

/// One connection; `Ok(reason)` when it ended normally, `Err(reason)` when it failed.
pub(super) async fn connection<H: StreamHandler>(
    mut link: Link<'_, H>,
    session: Session,
) -> Result<String, String> {
    let mut request = session
        .url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad stream URL: {e}"))?;
    for (name, value) in &session.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("bad header name {name}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| format!("bad value for {name}"))?;
        request.headers_mut().insert(name, value);
    }
    let connect = tokio_tungstenite::connect_async(request);
    let (mut ws, _) = tokio::time::timeout(link.config.connect_timeout, connect)
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {e}"))?;
    for frame in session.frames {
        ws.send(Message::Text(frame))
            .await
            .map_err(|e| format!("send failed: {e}"))?;
    }
    link.connected();
    let mut last_frame = Instant::now();
    let mut heartbeat = tokio::time::interval(link.heartbeat);
    heartbeat.tick().await;
    let silence_limit = link.silence_limit();
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
                    Message::Text(text) => link.deliver(&text)?,
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
                let ping = match link.handler.ping() {
                    Some(text) => Message::Text(text),
                    None => Message::Ping(Vec::new()),
                };
                ws.send(ping).await.map_err(|e| format!("ping failed: {e}"))?;
            }
        }
    }
}
