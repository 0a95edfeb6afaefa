//! The private stream (`/ws/private`): log in (key, passphrase, timestamp, nonce, sign),
//! subscribe to `orders`, `positions` (a snapshot, then pushes) and `account`, send the text
//! `ping` every 25 s (BloFin drops a socket silent for 30 s), and turn pushes into domain
//! events. BloFin has no fills channel: fills are derived from the growth of an order's
//! `filledSize`. The shared loop reconnects and replays `prepare` (fresh login, same
//! subscriptions) after every drop.

use super::auth::{self, BlofinSigner};
use super::model::{OrderRow, PositionRow, WsFrame};
use super::parse;
use crate::domain::Fill;
use crate::venue::common::Endpoints;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use chrono::Utc;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub const HOSTS: Endpoints = Endpoints {
    live: "wss://openapi.blofin.com/ws/private",
    testnet: "wss://demo-trading-openapi.blofin.com/ws/private",
};

/// Below BloFin's 30 s idle cut-off (ccxt uses 25 s too).
pub const HEARTBEAT: Duration = Duration::from_secs(25);

pub const CHANNELS: [&str; 3] = ["orders", "positions", "account"];

pub struct PrivateStream {
    url: String,
    signer: Arc<BlofinSigner>,
    /// Subscriptions acknowledged on this connection.
    acked: usize,
    /// Filled size and average price per order id, to turn order updates into fills.
    filled: HashMap<String, (Decimal, Decimal)>,
}

impl PrivateStream {
    pub fn new(url: impl Into<String>, signer: Arc<BlofinSigner>) -> PrivateStream {
        PrivateStream {
            url: url.into(),
            signer,
            acked: 0,
            filled: HashMap::new(),
        }
    }

    fn rows<T: serde::de::DeserializeOwned>(
        data: serde_json::Value,
    ) -> Result<Vec<T>, StreamError> {
        let list = match data {
            serde_json::Value::Array(_) => data,
            other => serde_json::Value::Array(vec![other]),
        };
        serde_json::from_value(list).map_err(|e| StreamError::Protocol(format!("bad push: {e}")))
    }

    /// The fill an order update adds: the growth of `filledSize`, priced so that the average
    /// of all fills is the order's new `averagePrice`.
    fn fill_of(&mut self, row: &OrderRow) -> Option<Fill> {
        let filled = parse::opt_num(&row.filled_size)?;
        let avg = parse::opt_num(&row.average_price).unwrap_or_default();
        let (before, before_avg) = self
            .filled
            .insert(row.order_id.clone(), (filled, avg))
            .unwrap_or_default();
        let qty = filled - before;
        if qty <= Decimal::ZERO || avg <= Decimal::ZERO {
            return None;
        }
        let price = ((avg * filled - before_avg * before) / qty).round_dp(12);
        Some(Fill {
            native: row.inst_id.clone(),
            client_order_id: Some(row.client_order_id.clone()).filter(|c| !c.is_empty()),
            side: parse::side(&row.side).ok()?,
            qty,
            price: if price > Decimal::ZERO { price } else { avg },
            at: Utc::now(),
        })
    }
}

#[async_trait]
impl StreamHandler for PrivateStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        self.acked = 0;
        let login = self
            .signer
            .ws_login_frame(Utc::now().timestamp_millis(), &auth::nonce());
        let args: Vec<serde_json::Value> = CHANNELS
            .iter()
            .map(|c| serde_json::json!({ "channel": c }))
            .collect();
        let subscribe = serde_json::json!({"op": "subscribe", "args": args});
        Ok(Session::websocket(
            self.url.clone(),
            vec![login, subscribe.to_string()],
        ))
    }

    fn ping(&self) -> Option<String> {
        Some("ping".to_string())
    }

    /// Connected is reported once BloFin acknowledged every subscription.
    fn reports_connected(&self) -> bool {
        true
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        if text.trim() == "pong" {
            return Ok(vec![]);
        }
        let frame: WsFrame = serde_json::from_str(text)
            .map_err(|e| StreamError::Protocol(format!("not JSON ({e}): {text}")))?;
        match frame.event.as_str() {
            "login" if frame.code.is_empty() || frame.code == "0" => return Ok(vec![]),
            "login" => {
                return Err(StreamError::Auth(format!(
                    "{} (code {})",
                    frame.msg, frame.code
                )))
            }
            // A refused login or subscription: the connection is useless; reconnecting (with
            // backoff) logs in and subscribes again.
            "error" => {
                return Err(StreamError::Auth(format!(
                    "{} (code {})",
                    frame.msg, frame.code
                )))
            }
            "subscribe" => {
                self.acked += 1;
                return Ok(if self.acked == CHANNELS.len() {
                    vec![VenueEvent::Connected]
                } else {
                    vec![]
                });
            }
            "" => {}
            _ => return Ok(vec![]),
        }
        let decode = |e: crate::venue::VenueError| StreamError::Protocol(e.to_string());
        let mut events = Vec::new();
        match frame.arg.channel.as_str() {
            "orders" => {
                for row in Self::rows::<OrderRow>(frame.data)? {
                    let fill = self.fill_of(&row);
                    events.push(VenueEvent::Order {
                        native: row.inst_id.clone(),
                        ack: parse::order_ack(&row).map_err(decode)?,
                    });
                    if let Some(fill) = fill {
                        events.push(VenueEvent::Fill(fill));
                    }
                }
            }
            "positions" => {
                for row in Self::rows::<PositionRow>(frame.data)? {
                    // Hedge legs are not a net position; REST refuses the account anyway.
                    if parse::is_hedge_row(&row) {
                        continue;
                    }
                    events.push(VenueEvent::PositionChanged {
                        native: row.inst_id.clone(),
                        qty: parse::opt_num(&row.positions).unwrap_or_default(),
                    });
                }
            }
            "account" => events.push(VenueEvent::WalletChanged),
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
        "/tests/fixtures/blofin/ws_private.json"
    ));

    fn stream() -> PrivateStream {
        PrivateStream::new(
            "wss://openapi.blofin.com/ws/private",
            Arc::new(BlofinSigner::new(
                Secret::new("TEST_KEY"),
                Secret::new("TEST_SECRET_0123456789"),
                Secret::new("TEST_PASSPHRASE"),
            )),
        )
    }

    fn push(name: &str) -> String {
        let all: Value = serde_json::from_str(PUSHES).unwrap();
        all[name].to_string()
    }

    #[test]
    fn connect_frames_are_login_then_subscribe() {
        let session = futures::executor::block_on(stream().prepare()).unwrap();
        assert_eq!(session.url, "wss://openapi.blofin.com/ws/private");
        let login: Value = serde_json::from_str(&session.frames[0]).unwrap();
        assert_eq!(login["op"], "login");
        let arg = &login["args"][0];
        assert_eq!(arg["apiKey"], "TEST_KEY");
        assert_eq!(arg["passphrase"], "TEST_PASSPHRASE");
        let expected = auth::sign(
            "TEST_SECRET_0123456789",
            &format!(
                "/users/self/verifyGET{}{}",
                arg["timestamp"].as_str().unwrap(),
                arg["nonce"].as_str().unwrap()
            ),
        );
        assert_eq!(arg["sign"], expected.as_str());
        let sub: Value = serde_json::from_str(&session.frames[1]).unwrap();
        assert_eq!(sub["op"], "subscribe");
        assert_eq!(
            sub["args"],
            serde_json::json!([{"channel": "orders"}, {"channel": "positions"}, {"channel": "account"}])
        );
    }

    #[test]
    fn acks_refusals_and_pongs() {
        let mut s = stream();
        assert_eq!(s.on_text("pong").unwrap(), vec![]);
        assert_eq!(
            s.on_text(r#"{"event":"login","code":"0","msg":""}"#)
                .unwrap(),
            vec![]
        );
        for (i, c) in CHANNELS.iter().enumerate() {
            let ack = format!(r#"{{"event":"subscribe","arg":{{"channel":"{c}"}}}}"#);
            let events = s.on_text(&ack).unwrap();
            assert_eq!(events.is_empty(), i + 1 < CHANNELS.len(), "{events:?}");
        }
        assert!(matches!(
            s.on_text(r#"{"event":"error","code":"60009","msg":"Login failed."}"#),
            Err(StreamError::Auth(m)) if m.contains("60009")
        ));
        assert!(s.on_text("not json").is_err());
    }

    #[test]
    fn order_pushes_give_orders_and_fills() {
        let mut s = stream();
        let events = s.on_text(&push("orders_partial")).unwrap();
        match events.as_slice() {
            [VenueEvent::Order { native, ack }, VenueEvent::Fill(f)] => {
                assert_eq!(native, "BTC-USDT");
                assert_eq!(ack.client_order_id, "te0123456789abcdef0123456789abcd");
                assert_eq!(ack.status, OrderStatus::PartiallyFilled);
                assert_eq!(f.qty, dec!(1));
                assert_eq!(f.price, dec!(60000));
                assert_eq!(f.side, Side::Buy);
            }
            other => panic!("{other:?}"),
        }
        let events = s.on_text(&push("orders_filled")).unwrap();
        match events.as_slice() {
            [VenueEvent::Order { ack, .. }, VenueEvent::Fill(f)] => {
                assert_eq!(ack.status, OrderStatus::Filled);
                assert_eq!(f.qty, dec!(1), "only the new part is a fill");
                assert_eq!(f.price, dec!(60100));
            }
            other => panic!("{other:?}"),
        }
        // The same state again (a repeated push) is no new fill.
        let again = s.on_text(&push("orders_filled")).unwrap();
        assert_eq!(again.len(), 1, "{again:?}");
    }

    #[test]
    fn position_snapshot_and_account_pushes() {
        let mut s = stream();
        assert_eq!(
            s.on_text(&push("positions")).unwrap(),
            vec![VenueEvent::PositionChanged {
                native: "BNB-USDT".into(),
                qty: dec!(-100)
            }]
        );
        assert_eq!(
            s.on_text(&push("account")).unwrap(),
            vec![VenueEvent::WalletChanged]
        );
    }
}
