//! The private stream. Every connection starts with `POST /api/v1/bullet-private` (a token for
//! one connection and the endpoint to use), connects to `endpoint?token=…&connectId=…`,
//! subscribes to orders, positions and the wallet, and pings at the interval the server gave.
//! KuCoin sends no snapshot on subscribe: pushes only speed reconciliation up, REST stays the
//! truth.

use super::model::{OrderPush, PositionRow, WsFrame};
use super::parse;
use super::rest::Rest;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Used until the bullet names an interval (KuCoin gives 18 s today).
pub const HEARTBEAT: Duration = Duration::from_secs(18);

/// Orders of every symbol, positions of every symbol (`/contract/position:<symbol>` pushes,
/// subscribed for all symbols at once: the daemon's symbols can change between connections),
/// and the USDT wallet.
pub const TOPICS: [&str; 3] = [
    "/contractMarket/tradeOrders",
    "/contract/positionAll",
    "/contractAccount/wallet",
];

pub struct PrivateStream {
    rest: Arc<Rest>,
    /// Subscriptions acknowledged on the current connection.
    acked: usize,
    seq: AtomicU64,
}

impl PrivateStream {
    pub fn new(rest: Arc<Rest>) -> PrivateStream {
        PrivateStream {
            rest,
            acked: 0,
            seq: AtomicU64::new(0),
        }
    }

    fn next_id(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// The connection URL and subscription frames for a bullet answer.
pub fn session_for(
    endpoint: &str,
    token: &str,
    connect_id: &str,
    ping_interval_ms: Option<u64>,
    first_id: u64,
) -> Session {
    let sep = if endpoint.contains('?') { '&' } else { '?' };
    let url = format!(
        "{endpoint}{sep}token={}&connectId={connect_id}",
        crate::venue::http::encode_component(token)
    );
    let frames = TOPICS
        .iter()
        .enumerate()
        .map(|(i, topic)| {
            serde_json::json!({
                "id": (first_id + i as u64).to_string(),
                "type": "subscribe",
                "topic": topic,
                "privateChannel": true,
                "response": true,
            })
            .to_string()
        })
        .collect();
    let mut session = Session::websocket(url, frames);
    session.heartbeat = ping_interval_ms
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis);
    session
}

#[async_trait]
impl StreamHandler for PrivateStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        self.acked = 0;
        // A fresh token for every connection: tokens are for one connection.
        let bullet = self
            .rest
            .bullet_private()
            .await
            .map_err(|e| StreamError::Prepare(format!("bullet-private: {e}")))?;
        let server = bullet
            .instance_servers
            .iter()
            .find(|s| s.protocol.is_empty() || s.protocol == "websocket")
            .ok_or_else(|| {
                StreamError::Prepare("bullet-private named no websocket server".into())
            })?;
        let connect_id = format!("te{}", chrono::Utc::now().timestamp_millis());
        let first = self.next_id();
        for _ in 1..TOPICS.len() {
            self.next_id();
        }
        Ok(session_for(
            &server.endpoint,
            &bullet.token,
            &connect_id,
            server.ping_interval,
            first,
        ))
    }

    fn ping(&self) -> Option<String> {
        Some(
            serde_json::json!({"id": format!("ping-{}", self.next_id()), "type": "ping"})
                .to_string(),
        )
    }

    /// Connected is reported once KuCoin acknowledged every subscription.
    fn reports_connected(&self) -> bool {
        true
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let frame: WsFrame = serde_json::from_str(text).map_err(|e| {
            StreamError::Protocol(format!(
                "not JSON ({e}): {}",
                crate::venue::http::snippet(text)
            ))
        })?;
        match frame.kind.as_str() {
            "welcome" | "pong" => return Ok(vec![]),
            "ack" => {
                self.acked += 1;
                return Ok(if self.acked == TOPICS.len() {
                    vec![VenueEvent::Connected]
                } else {
                    vec![]
                });
            }
            "error" => {
                let code = frame
                    .code
                    .as_ref()
                    .map(parse::code_text)
                    .unwrap_or_default();
                let what = format!("{code} {}", frame.data);
                return Err(if code.starts_with("4000") || code == "401" {
                    StreamError::Auth(what)
                } else {
                    StreamError::Protocol(what)
                });
            }
            "message" => {}
            _ => return Ok(vec![]),
        }
        let decode = |e: crate::venue::VenueError| StreamError::Protocol(e.to_string());
        let bad = |e: serde_json::Error| StreamError::Protocol(format!("bad push: {e}"));
        if frame.topic.starts_with("/contractMarket/tradeOrders") {
            let row: OrderPush = serde_json::from_value(frame.data).map_err(bad)?;
            let (ack, fill) = parse::order_push(&row).map_err(decode)?;
            let mut events = vec![VenueEvent::Order {
                native: row.symbol.clone(),
                ack,
            }];
            if let Some(fill) = fill {
                events.push(VenueEvent::Fill(fill));
            }
            return Ok(events);
        }
        if frame.topic.starts_with("/contract/position") {
            // Funding settlements carry no position.
            if frame.subject != "position.change" {
                return Ok(vec![]);
            }
            let row: PositionRow = serde_json::from_value(frame.data).map_err(bad)?;
            if row.current_qty.is_none() {
                return Ok(vec![]);
            }
            return Ok(vec![VenueEvent::PositionChanged {
                native: row.symbol.clone(),
                qty: parse::signed_qty(&row),
            }]);
        }
        if frame.topic.starts_with("/contractAccount/wallet") {
            return Ok(vec![VenueEvent::WalletChanged]);
        }
        Ok(vec![])
    }
}
