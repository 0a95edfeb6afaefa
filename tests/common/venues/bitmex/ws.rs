//! The loopback realtime API: checks `authKeyExpires`, acknowledges subscriptions with
//! partials, forwards table rows pushed by the REST side, answers `ping`, records each
//! session's text frames in `State.ws_sessions`, and drops every connection when a session
//! entry `["__drop__"]` is pushed.

use super::{hmac_hex, now_iso, order_row, unix_now, ws_string_to_sign, App, KEY};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

pub fn serve(app: Arc<App>) -> std::net::SocketAddr {
    crate::common::exchange::accept_in_background(move |tcp| session(app.clone(), tcp))
}

fn drops(app: &App) -> usize {
    app.exchange
        .lock()
        .ws_sessions
        .iter()
        .filter(|s| s.len() == 1 && s[0] == "__drop__")
        .count()
}

/// Checks `authKeyExpires` args: our key, a future expiry, HMAC of `GET/realtime` + expiry.
fn ws_auth_ok(args: &Value) -> Result<(), &'static str> {
    if args[0].as_str() != Some(KEY) {
        return Err("Invalid API Key.");
    }
    let Some(expires) = args[1].as_u64() else {
        return Err("expires must be a number");
    };
    if expires <= unix_now() {
        return Err("Invalid expires: expires is in the past.");
    }
    if args[2].as_str() != Some(hmac_hex(&ws_string_to_sign(&expires.to_string())).as_str()) {
        return Err("Signature not valid.");
    }
    Ok(())
}

async fn session(app: Arc<App>, tcp: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let drops_at_start = drops(&app);
    let mut frames = app.frames.subscribe();
    let welcome = json!({"info": "Welcome to the BitMEX Realtime API.", "version": "loopback",
                         "timestamp": now_iso(), "limit": {"remaining": 59}});
    if ws.send(Message::Text(welcome.to_string())).await.is_err() {
        return;
    }
    let mut authed = false;
    let mut topics: HashSet<String> = HashSet::new();
    // Frames are recorded once the client has sent auth and its subscription, so that a
    // recorded session always shows what a (re)connect sends first.
    let mut pending: Vec<String> = Vec::new();
    let mut recorded: Option<usize> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        tokio::select! {
            incoming = ws.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Ping(p))) => { let _ = ws.send(Message::Pong(p)).await; continue; }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                    Some(Ok(_)) => continue,
                };
                match recorded {
                    Some(i) => { if let Some(s) = app.exchange.lock().ws_sessions.get_mut(i) { s.push(text.clone()); } }
                    None => {
                        pending.push(text.clone());
                        if pending.len() >= 2 {
                            let mut s = app.exchange.lock();
                            s.ws_sessions.push(std::mem::take(&mut pending));
                            recorded = Some(s.ws_sessions.len() - 1);
                        }
                    }
                }
                if text == "ping" {
                    let _ = ws.send(Message::Text("pong".into())).await;
                    continue;
                }
                let msg: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                let answers = match msg["op"].as_str() {
                    Some("authKeyExpires") if authed => vec![json!({"status": 400, "error": "Already authenticated", "meta": {}, "request": msg})],
                    Some("authKeyExpires") => match ws_auth_ok(&msg["args"]) {
                        Ok(()) => { authed = true; app.exchange.lock().ws_logins += 1; vec![json!({"success": true, "request": msg})] }
                        Err(e) => vec![json!({"status": 401, "error": e, "meta": {}, "request": msg})],
                    },
                    Some("subscribe") => {
                        let wanted: Vec<String> = match &msg["args"] {
                            Value::Array(a) => a.iter().filter_map(|t| t.as_str().map(str::to_string)).collect(),
                            Value::String(s) => vec![s.clone()],
                            _ => Vec::new(),
                        };
                        let mut out = Vec::new();
                        for topic in wanted {
                            if topic != "instrument" && !authed {
                                out.push(json!({"status": 401, "error": format!("User requested an account-locked subscription \"{topic}\" but has not authenticated."), "meta": {}, "request": msg}));
                                continue;
                            }
                            out.push(json!({"success": true, "subscribe": topic, "request": msg}));
                            if topic == "position" { app.exchange.lock().ws_subscriptions += 1; }
                            let (keys, data): (Vec<&str>, Vec<Value>) = match topic.as_str() {
                                "order" => (vec!["orderID"], app.exchange.open_orders().iter().map(order_row).collect()),
                                "execution" => (vec!["execID"], Vec::new()),
                                "position" => (vec!["account", "symbol"], app.position_rows()),
                                "margin" => (vec!["account", "currency"], app.margin_rows()),
                                "instrument" => (vec!["symbol"], app.instrument_rows()),
                                _ => { out.pop(); out.push(json!({"status": 400, "error": format!("Unknown table: {topic}"), "meta": {}, "request": msg})); continue; }
                            };
                            out.push(json!({"table": topic, "action": "partial", "keys": keys, "data": data}));
                            topics.insert(topic);
                        }
                        out
                    }
                    _ => vec![json!({"status": 400, "error": "Unknown or unsupported command.", "meta": {}, "request": msg})],
                };
                for answer in answers {
                    if ws.send(Message::Text(answer.to_string())).await.is_err() {
                        return;
                    }
                }
            }
            frame = frames.recv() => {
                let Ok(frame) = frame else { continue };
                let table = serde_json::from_str::<Value>(&frame).ok()
                    .and_then(|v| v["table"].as_str().map(str::to_string))
                    .unwrap_or_default();
                if topics.contains(&table) && ws.send(Message::Text(frame)).await.is_err() {
                    return;
                }
            }
            _ = tick.tick() => {
                if drops(&app) > drops_at_start {
                    let _ = ws.close(None).await;
                    return;
                }
            }
        }
    }
}
