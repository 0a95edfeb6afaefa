//! The private stream (`wss://contract.mexc.com/edge`): log in (apiKey, reqTime, signature),
//! after which MEXC pushes every private topic by itself (`push.personal.order`,
//! `.order.deal`, `.position`, `.asset`); ping every 15 s (the server drops a connection after
//! a minute without one). The shared loop reconnects and replays `prepare` (a fresh login).

use super::auth::MexcSigner;
use super::model::{DealRow, OrderRow, PositionRow, WsFrame};
use super::parse;
use crate::venue::common::Endpoints;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// No API testnet exists (see rest::HOSTS).
pub const HOSTS: Endpoints = Endpoints {
    live: "wss://contract.mexc.com/edge",
    testnet: "wss://contract.mexc.com/edge",
};

/// The docs ask for a ping every 10–20 s.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// Narrows the pushes to the topics used here (all symbols: no `rules`); sent after the
/// login on every connection.
pub const FILTER: &str = r#"{"method":"personal.filter","param":{"filters":[{"filter":"order"},{"filter":"order.deal"},{"filter":"position"},{"filter":"asset"}]}}"#;

pub struct PrivateStream {
    url: String,
    signer: Arc<MexcSigner>,
    /// Contracts per symbol: [long leg, short leg]; a push carries one leg, the event the net.
    legs: HashMap<String, [Decimal; 2]>,
}

impl PrivateStream {
    pub fn new(url: impl Into<String>, signer: Arc<MexcSigner>) -> PrivateStream {
        PrivateStream {
            url: url.into(),
            signer,
            legs: HashMap::new(),
        }
    }

    fn decode<T: serde::de::DeserializeOwned>(data: serde_json::Value) -> Result<T, StreamError> {
        serde_json::from_value(data).map_err(|e| StreamError::Protocol(format!("bad push: {e}")))
    }

    fn position_event(&mut self, row: &PositionRow) -> Result<VenueEvent, StreamError> {
        let qty = parse::signed_vol(row).map_err(|e| StreamError::Protocol(e.to_string()))?;
        let legs = self.legs.entry(row.symbol.clone()).or_default();
        match row.position_type {
            1 => legs[0] = qty,
            _ => legs[1] = qty,
        }
        Ok(VenueEvent::PositionChanged {
            native: row.symbol.clone(),
            qty: legs[0] + legs[1],
        })
    }
}

#[async_trait]
impl StreamHandler for PrivateStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        self.legs.clear();
        let login = self
            .signer
            .ws_login_frame(chrono::Utc::now().timestamp_millis());
        Ok(Session::websocket(
            self.url.clone(),
            vec![login, FILTER.to_string()],
        ))
    }

    fn ping(&self) -> Option<String> {
        Some(r#"{"method":"ping"}"#.to_string())
    }

    /// Connected once MEXC accepted the login: private pushes start only then.
    fn reports_connected(&self) -> bool {
        true
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let frame: WsFrame = serde_json::from_str(text)
            .map_err(|e| StreamError::Protocol(format!("not JSON ({e}): {text}")))?;
        let decode = |e: crate::venue::VenueError| StreamError::Protocol(e.to_string());
        let events = match frame.channel.as_str() {
            "rs.login" if frame.data.as_str() == Some("success") => vec![VenueEvent::Connected],
            "rs.login" | "rs.error" => {
                return Err(StreamError::Auth(match frame.data {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                }))
            }
            "push.personal.order" => {
                let row: OrderRow = Self::decode(frame.data)?;
                vec![VenueEvent::Order {
                    native: row.symbol.clone(),
                    ack: parse::order_ack(&row).map_err(decode)?,
                }]
            }
            "push.personal.order.deal" => {
                let row: DealRow = Self::decode(frame.data)?;
                vec![VenueEvent::Fill(parse::fill(&row).map_err(decode)?)]
            }
            "push.personal.position" => {
                let row: PositionRow = Self::decode(frame.data)?;
                vec![self.position_event(&row)?]
            }
            "push.personal.asset" => vec![VenueEvent::WalletChanged],
            // pong, filter acknowledgements and topics not traded on.
            _ => vec![],
        };
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
        "/tests/fixtures/mexc/ws_private.json"
    ));

    fn stream() -> PrivateStream {
        PrivateStream::new(
            "wss://contract.mexc.com/edge",
            Arc::new(MexcSigner::new(
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
    fn connect_frame_is_a_signed_login() {
        let session = futures::executor::block_on(stream().prepare()).unwrap();
        assert_eq!(session.url, "wss://contract.mexc.com/edge");
        assert_eq!(session.frames.len(), 2);
        assert_eq!(session.frames[1], FILTER);
        let login: Value = serde_json::from_str(&session.frames[0]).unwrap();
        assert_eq!(login["method"], "login");
        assert_eq!(login["param"]["apiKey"], "TEST_KEY");
        let time = login["param"]["reqTime"].as_str().unwrap();
        let sig =
            super::super::auth::hmac_hex("TEST_SECRET_0123456789", &format!("TEST_KEY{time}"));
        assert_eq!(login["param"]["signature"], sig.as_str());
        assert!(
            !format!("{session:?}").contains(&sig),
            "no signature in Debug"
        );
    }

    #[test]
    fn login_answers_and_pongs() {
        let mut s = stream();
        assert_eq!(
            s.on_text(r#"{"channel":"rs.login","data":"success","ts":1}"#)
                .unwrap(),
            vec![VenueEvent::Connected]
        );
        assert!(matches!(
            s.on_text(r#"{"channel":"rs.error","data":"signature verification failed","ts":1}"#),
            Err(StreamError::Auth(m)) if m.contains("signature")
        ));
        assert_eq!(
            s.on_text(r#"{"channel":"pong","data":1700000000000}"#)
                .unwrap(),
            vec![]
        );
        assert!(s.on_text("not json").is_err());
    }

    #[test]
    fn order_deal_and_asset_pushes() {
        let mut s = stream();
        match s.on_text(&push("order")).unwrap().as_slice() {
            [VenueEvent::Order { native, ack }] => {
                assert_eq!(native, "BTC_USDT");
                assert_eq!(ack.client_order_id, "te0123456789abcdef0123456789abcd");
                assert_eq!(ack.status, OrderStatus::Filled);
                assert_eq!(ack.filled_qty, dec!(20));
                assert_eq!(ack.side, Some(Side::Sell), "close long sells");
            }
            other => panic!("{other:?}"),
        }
        match s.on_text(&push("deal")).unwrap().as_slice() {
            [VenueEvent::Fill(f)] => {
                assert_eq!((f.side, f.qty, f.price), (Side::Buy, dec!(20), dec!(60000)));
                assert_eq!(f.at.timestamp_millis(), 1700000000123);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.on_text(&push("asset")).unwrap(),
            vec![VenueEvent::WalletChanged]
        );
    }

    #[test]
    fn position_pushes_carry_the_net_of_both_legs() {
        let mut s = stream();
        assert_eq!(
            s.on_text(&push("position_long")).unwrap(),
            vec![VenueEvent::PositionChanged {
                native: "BTC_USDT".into(),
                qty: dec!(30)
            }]
        );
        assert_eq!(
            s.on_text(&push("position_short")).unwrap(),
            vec![VenueEvent::PositionChanged {
                native: "BTC_USDT".into(),
                qty: dec!(20)
            }],
            "a hedge-mode short leg of 10 nets against the long 30"
        );
    }
}
