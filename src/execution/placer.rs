//! Order placement for one account's cycle: symbols send their orders here, and on a venue
//! with a batch endpoint the orders of the symbols working at the same time go out in one
//! `place_orders` call: a batch leaves once every working symbol has sent its order or
//! finished (or it is full, or `LINGER` passed). Every order keeps its own result, under the
//! single-order rules.

use crate::domain::{OrderAck, OrderRequest};
use crate::venue::{Venue, VenueError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};

/// The longest the first order of a batch waits for the other working symbols (a fraction
/// of one venue round trip); normally the batch leaves as soon as none is still planning.
const LINGER: Duration = Duration::from_millis(50);

type Job = (OrderRequest, oneshot::Sender<Result<OrderAck, VenueError>>);

/// Symbols of the cycle still working towards an order (not waiting for one's answer).
#[derive(Default)]
struct Working {
    count: AtomicUsize,
    changed: Notify,
}

impl Working {
    fn add(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn remove(&self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
        self.changed.notify_waiters();
    }
}

/// Held by a symbol while it works; dropping it says the symbol will send nothing more.
pub struct WorkingGuard(Arc<Working>);

impl Drop for WorkingGuard {
    fn drop(&mut self) {
        self.0.remove();
    }
}

pub struct Placer {
    venue: Arc<dyn Venue>,
    batches: Option<mpsc::UnboundedSender<Job>>,
    working: Arc<Working>,
}

impl Placer {
    /// A placer for this cycle; it batches only when the venue can
    /// (`capabilities().max_batch_orders` above 1). The batching task ends with the cycle.
    pub fn new(venue: Arc<dyn Venue>) -> Placer {
        let max = venue.capabilities().max_batch_orders;
        let working = Arc::new(Working::default());
        if max <= 1 {
            return Placer {
                venue,
                batches: None,
                working,
            };
        }
        let (tx, mut rx) = mpsc::unbounded_channel::<Job>();
        let sender = venue.clone();
        let others = working.clone();
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                let deadline = tokio::time::Instant::now() + LINGER;
                loop {
                    // Registered before looking, so a symbol finishing in between wakes us.
                    let changed = others.changed.notified();
                    while batch.len() < max {
                        match rx.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    if batch.len() >= max || others.count.load(Ordering::SeqCst) == 0 {
                        break;
                    }
                    tokio::select! {
                        _ = changed => {}
                        job = rx.recv() => match job {
                            Some(job) => batch.push(job),
                            None => break,
                        },
                        _ = tokio::time::sleep_until(deadline) => break,
                    }
                }
                let (requests, replies): (Vec<OrderRequest>, Vec<_>) = batch.into_iter().unzip();
                let results = sender.place_orders(&requests).await;
                let mut results = results.into_iter();
                for (request, reply) in requests.iter().zip(replies) {
                    let result = results.next().unwrap_or_else(|| {
                        Err(VenueError::Unknown(format!(
                            "the venue gave no result for order {} of a batch",
                            request.client_order_id
                        )))
                    });
                    let _ = reply.send(result);
                }
            }
        });
        Placer {
            venue,
            batches: Some(tx),
            working,
        }
    }

    /// Marks a symbol as working towards an order until the guard drops.
    pub fn working(&self) -> WorkingGuard {
        self.working.add();
        WorkingGuard(self.working.clone())
    }

    /// Places one order, alone or in a batch with others of this cycle.
    pub async fn place(&self, request: OrderRequest) -> Result<OrderAck, VenueError> {
        let Some(batches) = &self.batches else {
            return self.venue.place_order(&request).await;
        };
        let cid = request.client_order_id.clone();
        let (reply, answer) = oneshot::channel();
        if batches.send((request, reply)).is_err() {
            return Err(VenueError::Local(format!(
                "order {cid} not sent: the cycle's order batcher has stopped"
            )));
        }
        // Queued first, then no longer working: the batcher sees the order when it sees us
        // done.
        self.working.remove();
        // A batcher gone after taking the order may have sent it: its outcome is unknown.
        let result = answer.await.unwrap_or_else(|_| {
            Err(VenueError::Unknown(format!(
                "order {cid}: the batch it was in ended without a result"
            )))
        });
        self.working.add();
        result
    }
}
