//! An order's outcome from the private stream: a venue whose order answer says only
//! "accepted" learns the fill from the stream's order push when the stream is up, and asks
//! over REST (a request in the venue's budget) only when no push came in time.

use crate::domain::{OrderAck, OrderStatus};
use crate::venue::VenueEvent;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// Whether a venue's private stream is connected, from its own events.
#[derive(Clone, Default)]
pub struct StreamUp(Arc<AtomicBool>);

impl StreamUp {
    /// Follows the stream's `Connected` and `Disconnected` events (needs a runtime).
    pub fn follow(&self, events: &broadcast::Sender<VenueEvent>) {
        let mut watch = events.subscribe();
        let up = self.0.clone();
        tokio::spawn(async move {
            loop {
                match watch.recv().await {
                    Ok(VenueEvent::Connected) => up.store(true, Ordering::Relaxed),
                    Ok(VenueEvent::Disconnected { .. }) => up.store(false, Ordering::Relaxed),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => {
                        up.store(false, Ordering::Relaxed);
                        return;
                    }
                }
            }
        });
    }

    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// A receiver of the stream's pushes when it is connected; taken before the order is
    /// sent, so that no push about it is missed.
    pub fn pushes(
        &self,
        events: &broadcast::Sender<VenueEvent>,
    ) -> Option<broadcast::Receiver<VenueEvent>> {
        self.is_up().then(|| events.subscribe())
    }
}

/// The final state (filled, cancelled, rejected) of the order with `client_order_id` as the
/// stream pushes it within `within`; `None` when the stream is down, drops, or is silent.
pub async fn final_state(
    client_order_id: &str,
    pushed: Option<broadcast::Receiver<VenueEvent>>,
    within: Duration,
) -> Option<OrderAck> {
    final_states(&[client_order_id], pushed, within)
        .await
        .remove(client_order_id)
}

/// [`final_state`] of several orders (a batch): those pushed in time, by client id.
pub async fn final_states(
    client_order_ids: &[&str],
    pushed: Option<broadcast::Receiver<VenueEvent>>,
    within: Duration,
) -> HashMap<String, OrderAck> {
    let mut out = HashMap::new();
    let Some(mut rx) = pushed else {
        return out;
    };
    let deadline = tokio::time::Instant::now() + within;
    while out.len() < client_order_ids.len() {
        let Ok(event) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        match event {
            Ok(VenueEvent::Order { ack, .. })
                if client_order_ids.contains(&ack.client_order_id.as_str())
                    && matches!(
                        ack.status,
                        OrderStatus::Filled | OrderStatus::Cancelled | OrderStatus::Rejected
                    ) =>
            {
                out.insert(ack.client_order_id.clone(), ack);
            }
            Ok(VenueEvent::Disconnected { .. }) | Err(broadcast::error::RecvError::Closed) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn ack(cid: &str, status: OrderStatus) -> VenueEvent {
        VenueEvent::Order {
            native: "BTCUSDT".into(),
            ack: OrderAck {
                client_order_id: cid.into(),
                venue_order_id: "v1".into(),
                status,
                filled_qty: Decimal::ONE,
                avg_price: None,
                native: None,
                side: None,
                qty: None,
            },
        }
    }

    #[tokio::test]
    async fn only_the_final_push_of_that_order_confirms_it() {
        let (tx, _) = broadcast::channel(16);
        let up = StreamUp::default();
        assert!(up.pushes(&tx).is_none(), "no stream, no confirmation");
        up.0.store(true, Ordering::Relaxed);
        let rx = up.pushes(&tx);
        tx.send(ack("other", OrderStatus::Filled)).unwrap();
        tx.send(ack("mine", OrderStatus::PartiallyFilled)).unwrap();
        tx.send(ack("mine", OrderStatus::Filled)).unwrap();
        let got = final_state("mine", rx, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(got.client_order_id, "mine");
        assert_eq!(got.status, OrderStatus::Filled);
    }

    #[tokio::test]
    async fn a_disconnect_hands_over_to_rest() {
        let (tx, _) = broadcast::channel(16);
        let rx = Some(tx.subscribe());
        tx.send(VenueEvent::Disconnected {
            reason: "gone".into(),
        })
        .unwrap();
        tx.send(ack("mine", OrderStatus::Filled)).unwrap();
        assert!(final_state("mine", rx, Duration::from_secs(5))
            .await
            .is_none());
    }
}
