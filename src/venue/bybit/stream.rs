//! The private stream (`/v5/private`): authenticate, subscribe to `order`, `execution`,
//! `position` and `wallet`, ping every 20 s (Bybit cuts silent sockets), and turn pushes into
//! domain events. The shared client reconnects and replays `prepare` (fresh signature,
//! same subscriptions) after every drop.

use super::auth::{BybitSigner, WS_EXPIRES_AHEAD_MS};
use super::model::{ExecutionRow, OrderRow, PositionRow, WsFrame};
use super::parse;
use crate::venue::common::Endpoints;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const HOSTS: Endpoints = Endpoints {
    live: "wss://stream.bybit.com/v5/private",
    testnet: "wss://stream-testnet.bybit.com/v5/private",
};

/// Bybit recommends a ping every 20 s.
pub const HEARTBEAT: Duration = Duration::from_secs(20);

pub const TOPICS: [&str; 4] = ["order", "execution", "position", "wallet"];

pub struct PrivateStream {
    url: String,
    signer: Arc<BybitSigner>,
    /// Signed size per symbol and `positionIdx` (0 one-way, 1/2 hedge legs): a push carries
    /// one leg, the event carries the net.
    legs: HashMap<String, [Decimal; 3]>,
}

impl PrivateStream {
    pub fn new(url: impl Into<String>, signer: Arc<BybitSigner>) -> PrivateStream {
        PrivateStream {
            url: url.into(),
            signer,
            legs: HashMap::new(),
        }
    }

    fn rows<T: serde::de::DeserializeOwned>(
        data: serde_json::Value,
    ) -> Result<Vec<T>, StreamError> {
        serde_json::from_value(data).map_err(|e| StreamError::Protocol(format!("bad push: {e}")))
    }

    fn position_event(&mut self, row: &PositionRow) -> Result<VenueEvent, StreamError> {
        let qty = parse::signed_size(row).map_err(|e| StreamError::Protocol(e.to_string()))?;
        let legs = self.legs.entry(row.symbol.clone()).or_default();
        let idx = usize::try_from(row.position_idx).unwrap_or(0).min(2);
        // A row of one mode means the other mode's legs are gone.
        if idx == 0 {
            *legs = [Decimal::ZERO; 3];
        } else {
            legs[0] = Decimal::ZERO;
        }
        legs[idx] = qty;
        Ok(VenueEvent::PositionChanged {
            native: row.symbol.clone(),
            qty: legs.iter().copied().sum(),
        })
    }
}

#[async_trait]
impl StreamHandler for PrivateStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        // Legs are re-learnt from the pushes of the new connection.
        self.legs.clear();
        let expires = chrono::Utc::now().timestamp_millis() + WS_EXPIRES_AHEAD_MS;
        let subscribe = serde_json::json!({
            "req_id": "subscribe",
            "op": "subscribe",
            "args": TOPICS,
        });
        Ok(Session::websocket(
            self.url.clone(),
            vec![self.signer.ws_auth_frame(expires), subscribe.to_string()],
        ))
    }

    fn ping(&self) -> Option<String> {
        Some(r#"{"req_id":"ping","op":"ping"}"#.to_string())
    }

    /// Connected is reported once Bybit acknowledged the subscriptions, not when the frames
    /// left: before that no private event can arrive.
    fn reports_connected(&self) -> bool {
        true
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let frame: WsFrame = serde_json::from_str(text)
            .map_err(|e| StreamError::Protocol(format!("not JSON ({e}): {text}")))?;
        match frame.op.as_str() {
            "auth" if frame.success == Some(true) => return Ok(vec![]),
            "auth" => return Err(StreamError::Auth(frame.ret_msg)),
            "subscribe" if frame.success == Some(true) => return Ok(vec![VenueEvent::Connected]),
            "subscribe" => {
                return Err(StreamError::Protocol(format!(
                    "subscription refused: {}",
                    frame.ret_msg
                )))
            }
            "" => {}
            _ => return Ok(vec![]), // pong and other op answers
        }
        // `order.linear` and friends are the same payloads as the all-in-one topics.
        let topic = frame.topic.split('.').next().unwrap_or("");
        let decode = |e: crate::venue::VenueError| StreamError::Protocol(e.to_string());
        let mut events = Vec::new();
        match topic {
            "order" => {
                for row in Self::rows::<OrderRow>(frame.data)? {
                    events.push(VenueEvent::Order {
                        native: row.symbol.clone(),
                        ack: parse::order_ack(&row).map_err(decode)?,
                    });
                }
            }
            "execution" => {
                for row in Self::rows::<ExecutionRow>(frame.data)? {
                    if let Some(fill) = parse::fill(&row).map_err(decode)? {
                        events.push(VenueEvent::Fill(fill));
                    }
                }
            }
            "position" => {
                for row in Self::rows::<PositionRow>(frame.data)? {
                    events.push(self.position_event(&row)?);
                }
            }
            "wallet" => events.push(VenueEvent::WalletChanged),
            _ => {}
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::domain::{OrderStatus, Side};
    use rust_decimal_macros::dec;
    use serde_json::Value;

    const PUSHES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bybit/ws_private.json"
    ));

    fn stream() -> PrivateStream {
        PrivateStream::new(
            "wss://stream.bybit.com/v5/private",
            Arc::new(BybitSigner::new(
                Secret::new("TEST_KEY"),
                Secret::new("TEST_SECRET_0123456789"),
            )),
        )
    }

    fn push(name: &str) -> String {
        let all: Value = serde_json::from_str(PUSHES).unwrap();
        all[name].to_string()
    }

    #[test]
    fn connect_frames_are_auth_then_subscribe() {
        let session = futures::executor::block_on(stream().prepare()).unwrap();
        assert_eq!(session.url, "wss://stream.bybit.com/v5/private");
        let frames = session.frames;
        assert_eq!(frames.len(), 2);
        let auth: Value = serde_json::from_str(&frames[0]).unwrap();
        assert_eq!(auth["op"], "auth");
        assert_eq!(auth["args"][0], "TEST_KEY");
        let expires = auth["args"][1].as_i64().unwrap();
        assert!(expires > chrono::Utc::now().timestamp_millis());
        let sig = crate::venue::bybit::auth::hmac_hex(
            "TEST_SECRET_0123456789",
            &format!("GET/realtime{expires}"),
        );
        assert_eq!(auth["args"][2], sig.as_str());
        let sub: Value = serde_json::from_str(&frames[1]).unwrap();
        assert_eq!(sub["op"], "subscribe");
        assert_eq!(sub["args"], serde_json::json!(TOPICS));
    }

    #[test]
    fn acks_auth_failures_and_pongs() {
        let mut s = stream();
        assert_eq!(
            s.on_text(r#"{"success":true,"ret_msg":"","op":"auth","conn_id":"x"}"#)
                .unwrap(),
            vec![]
        );
        assert!(matches!(
            s.on_text(r#"{"success":false,"ret_msg":"Params Error","op":"auth","conn_id":"x"}"#),
            Err(StreamError::Auth(m)) if m == "Params Error"
        ));
        assert_eq!(
            s.on_text(r#"{"success":true,"ret_msg":"","op":"subscribe","conn_id":"x"}"#)
                .unwrap(),
            vec![VenueEvent::Connected]
        );
        assert_eq!(
            s.on_text(r#"{"req_id":"ping","op":"pong","args":["1675418560633"],"conn_id":"x"}"#)
                .unwrap(),
            vec![]
        );
        assert!(s.on_text("not json").is_err());
    }

    #[test]
    fn order_and_execution_pushes() {
        let mut s = stream();
        match s.on_text(&push("order")).unwrap().as_slice() {
            [VenueEvent::Order { native, ack }] => {
                assert_eq!(native, "BTCUSDT");
                assert_eq!(ack.client_order_id, "te0123456789abcdef0123456789abcd");
                assert_eq!(ack.status, OrderStatus::Filled);
                assert_eq!(ack.filled_qty, dec!(0.002));
            }
            other => panic!("{other:?}"),
        }
        match s.on_text(&push("execution")).unwrap().as_slice() {
            [VenueEvent::Fill(f)] => {
                assert_eq!(f.side, Side::Buy);
                assert_eq!(f.qty, dec!(0.002));
                assert_eq!(f.price, dec!(60000));
                assert_eq!(f.at.timestamp_millis(), 1672364174443);
            }
            other => panic!("funding is not a fill: {other:?}"),
        }
        assert_eq!(
            s.on_text(&push("wallet")).unwrap(),
            vec![VenueEvent::WalletChanged]
        );
    }

    #[test]
    fn position_pushes_carry_the_net_of_hedge_legs() {
        let mut s = stream();
        let events = s.on_text(&push("position_hedge")).unwrap();
        assert_eq!(
            events.last(),
            Some(&VenueEvent::PositionChanged {
                native: "BTCUSDT".into(),
                qty: dec!(0.006)
            })
        );
        // The long leg closes: the net is the short leg alone.
        let close = r#"{"topic":"position","data":[{"positionIdx":1,"symbol":"BTCUSDT","side":"","size":"0"}]}"#;
        assert_eq!(
            s.on_text(close).unwrap(),
            vec![VenueEvent::PositionChanged {
                native: "BTCUSDT".into(),
                qty: dec!(-0.004)
            }]
        );
    }
}
