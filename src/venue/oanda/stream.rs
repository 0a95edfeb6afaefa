//! OANDA's two streams, HTTP NDJSON on the stream host through the shared stream layer:
//! - the pricing stream (`/pricing/stream?instruments=…`): `PRICE` lines keep the marks
//!   [`Marks`] holds, `HEARTBEAT` lines (every 5 s) prove the connection alive;
//! - the transaction stream (`/transactions/stream`): orders, fills and cancels as events.
//!   Transaction ids increase strictly per account, so a gap (after a reconnect, or between
//!   two lines) is seen and the missing transactions are read from `/transactions/sinceid`
//!   with the last id seen; a heartbeat's `lastTransactionID` shows a gap before any new line.

use super::model::{PriceRow, Transaction};
use super::parse;
use super::rest::Rest;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// OANDA sends a heartbeat every 5 s on both streams; three missed ones end the connection.
pub const HEARTBEAT: Duration = Duration::from_secs(5);

/// A streamed price is used while the stream has been heard from within this time (a quiet
/// market sends no price lines, only heartbeats: the last price is still the price).
pub const ALIVE_FOR: Duration = Duration::from_secs(15);

/// Marks from the pricing stream, valid for one connection.
#[derive(Default)]
pub struct Marks {
    inner: Mutex<MarksInner>,
}

#[derive(Default)]
struct MarksInner {
    mids: HashMap<String, (Decimal, DateTime<Utc>)>,
    /// When the last line arrived, and the venue's time in it.
    heard: Option<(Instant, DateTime<Utc>)>,
}

impl Marks {
    fn lock(&self) -> std::sync::MutexGuard<'_, MarksInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The streamed mid of `native` and the venue time it is valid at (the later of its own
    /// time and the last heartbeat's), while the stream is alive.
    pub fn get(&self, native: &str) -> Option<(Decimal, DateTime<Utc>)> {
        let inner = self.lock();
        let (heard_at, venue_time) = inner.heard?;
        if heard_at.elapsed() > ALIVE_FOR {
            return None;
        }
        let (mid, at) = inner.mids.get(native)?;
        Some((*mid, (*at).max(venue_time)))
    }

    fn reset(&self) {
        *self.lock() = MarksInner::default();
    }

    fn heard(&self, venue_time: Option<DateTime<Utc>>) {
        let mut inner = self.lock();
        let previous = inner.heard.map(|(_, t)| t);
        let t = venue_time.or(previous).unwrap_or(DateTime::<Utc>::MIN_UTC);
        inner.heard = Some((Instant::now(), t));
    }

    fn set(&self, native: &str, mid: Decimal, at: DateTime<Utc>) {
        self.lock().mids.insert(native.to_string(), (mid, at));
    }
}

#[derive(serde::Deserialize)]
struct Line {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    time: String,
}

pub struct PricingStream {
    url: String,
    headers: Vec<(String, String)>,
    marks: Arc<Marks>,
}

impl PricingStream {
    /// `base` is the stream host (or the account's `ws_url`), `account_path` the
    /// `/v3/accounts/{id}` prefix.
    pub fn new(
        base: &str,
        account_path: &str,
        instruments: &[String],
        headers: Vec<(String, String)>,
        marks: Arc<Marks>,
    ) -> PricingStream {
        let query = crate::venue::http::encode_query(&[
            ("instruments", &instruments.join(",")),
            ("snapshot", "true"),
        ]);
        PricingStream {
            url: format!(
                "{}{account_path}/pricing/stream?{query}",
                base.trim_end_matches('/')
            ),
            headers,
            marks,
        }
    }
}

#[async_trait]
impl StreamHandler for PricingStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        // Prices of a previous connection are not refreshed any more.
        self.marks.reset();
        Ok(Session::ndjson(self.url.clone(), self.headers.clone()))
    }

    fn ping(&self) -> Option<String> {
        None
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let line: Line = serde_json::from_str(text)
            .map_err(|e| StreamError::Protocol(format!("not JSON ({e})")))?;
        match line.kind.as_str() {
            "PRICE" => {
                let row: PriceRow = serde_json::from_str(text)
                    .map_err(|e| StreamError::Protocol(format!("bad price line: {e}")))?;
                let mid = parse::mid(&row).map_err(|e| StreamError::Protocol(e.to_string()))?;
                let at = parse::time(&row.time).unwrap_or_else(Utc::now);
                self.marks.set(&row.instrument, mid, at);
                self.marks.heard(Some(at));
            }
            "HEARTBEAT" => self.marks.heard(parse::time(&line.time)),
            _ => {}
        }
        Ok(vec![])
    }
}

/// The last transaction id seen, shared with the venue (which learns ids from REST too).
pub type LastId = Arc<Mutex<Option<u64>>>;

pub struct TransactionStream {
    url: String,
    headers: Vec<(String, String)>,
    last: LastId,
    rest: Arc<Rest>,
    events: broadcast::Sender<VenueEvent>,
    label: String,
}

impl TransactionStream {
    pub fn new(
        base: &str,
        account_path: &str,
        headers: Vec<(String, String)>,
        last: LastId,
        rest: Arc<Rest>,
        events: broadcast::Sender<VenueEvent>,
        label: String,
    ) -> TransactionStream {
        TransactionStream {
            url: format!(
                "{}{account_path}/transactions/stream",
                base.trim_end_matches('/')
            ),
            headers,
            last,
            rest,
            events,
            label,
        }
    }

    /// Reads the transactions after `after` up to `through` from REST and reports them, in
    /// the background (the stream goes on meanwhile; events are hints, a duplicate is
    /// harmless).
    fn backfill(&self, after: u64, through: u64) {
        let rest = self.rest.clone();
        let events = self.events.clone();
        let label = self.label.clone();
        tracing::info!(stream = %label, after, through, "transactions missed: reading them back");
        tokio::spawn(async move {
            match rest.transactions_since(after).await {
                Ok(answer) => {
                    for tx in answer.transactions {
                        let Some(id) = parse::tx_id(&tx.id) else {
                            continue;
                        };
                        if id <= after || id > through {
                            continue;
                        }
                        match parse::events(&tx) {
                            Ok(list) => {
                                for e in list {
                                    let _ = events.send(e);
                                }
                            }
                            Err(e) => {
                                tracing::warn!(stream = %label, error = %e, "unreadable transaction")
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(stream = %label, error = %e, "cannot read missed transactions; the next cycle reads positions anyway")
                }
            }
        });
    }

    fn last(&self) -> Option<u64> {
        *self.last.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_last(&self, id: u64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(last.map_or(id, |l| l.max(id)));
    }
}

#[async_trait]
impl StreamHandler for TransactionStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        Ok(Session::ndjson(self.url.clone(), self.headers.clone()))
    }

    fn ping(&self) -> Option<String> {
        None
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        let tx: Transaction = serde_json::from_str(text)
            .map_err(|e| StreamError::Protocol(format!("bad transaction line: {e}")))?;
        if tx.kind == "HEARTBEAT" {
            if let Some(latest) = parse::tx_id(&tx.last_transaction_id) {
                match self.last() {
                    Some(last) if latest > last => self.backfill(last, latest),
                    _ => {}
                }
                self.set_last(latest);
            }
            return Ok(vec![]);
        }
        let Some(id) = parse::tx_id(&tx.id) else {
            return Err(StreamError::Protocol(format!(
                "transaction without a numeric id: {}",
                tx.kind
            )));
        };
        match self.last() {
            // Seen already (read back from REST, or sent twice).
            Some(last) if id <= last => return Ok(vec![]),
            Some(last) if id > last + 1 => self.backfill(last, id - 1),
            _ => {}
        }
        self.set_last(id);
        parse::events(&tx).map_err(|e| StreamError::Protocol(e.to_string()))
    }
}

#[cfg(test)]
mod tests;
