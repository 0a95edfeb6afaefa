//! The HTTP NDJSON transport: one long-lived GET whose body is a stream of JSON objects, one
//! per line (OANDA's pricing and transaction streams). The server sends heartbeat lines itself;
//! silence for N heartbeats ends the connection like on WebSocket.

use super::{Link, Session, StreamHandler};
use std::time::Instant;

/// Lines longer than this are not a venue message: the connection is dropped rather than
/// buffering without bound.
const MAX_LINE: usize = 1 << 20;

pub(super) async fn connection<H: StreamHandler>(
    mut link: Link<'_, H>,
    session: Session,
) -> Result<String, String> {
    // No overall timeout (the body never ends); the connect phase has its own deadline.
    let client = reqwest::Client::builder()
        .connect_timeout(link.config.connect_timeout)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let mut request = client.get(&session.url);
    for (name, value) in &session.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let mut response = tokio::time::timeout(link.config.connect_timeout, request.send())
        .await
        .map_err(|_| "connect timed out".to_string())?
        .map_err(|e| format!("connect failed: {}", e.without_url()))?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        let text = format!(
            "HTTP {}: {}",
            status.as_u16(),
            crate::venue::http::snippet(&body)
        );
        return Err(if status.as_u16() == 401 || status.as_u16() == 403 {
            format!("authentication refused: {text}")
        } else {
            format!("stream refused: {text}")
        });
    }
    link.connected();
    let silence_limit = link.silence_limit();
    let mut last_data = Instant::now();
    let mut pending: Vec<u8> = Vec::new();
    let mut heartbeat = tokio::time::interval(link.heartbeat);
    heartbeat.tick().await;
    loop {
        tokio::select! {
            chunk = response.chunk() => {
                let chunk = match chunk {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => return Ok("closed by the venue".into()),
                    Err(e) => return Ok(format!("read failed: {}", e.without_url())),
                };
                last_data = Instant::now();
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim();
                    if !text.is_empty() {
                        link.deliver(text)?;
                    }
                }
                if pending.len() > MAX_LINE {
                    return Err(format!("a line longer than {MAX_LINE} bytes"));
                }
            }
            _ = heartbeat.tick() => {
                if last_data.elapsed() > silence_limit {
                    return Ok(format!("silent for {} ms", last_data.elapsed().as_millis()));
                }
            }
        }
    }
}
