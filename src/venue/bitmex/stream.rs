//! The BitMEX realtime stream: `authKeyExpires`, then one subscription to the private
//! `execution`, `order`, `position`, `margin` tables and the public `instrument` table, text
//! `ping`/`pong` heartbeats, and the table protocol: a `partial` image per table (with its
//! `keys`), then `insert`/`update`/`delete` rows merged by those keys. Rows that arrive before
//! their table's partial are discarded, as BitMEX documents. Events are domain events; marks
//! from `instrument` feed a small cache the REST side may use while fresh.

use super::auth::{expires_in, BitmexSigner, EXPIRES_AFTER};
use super::model::{num, WireExecution, WireOrder, WirePosition};
use super::parse;
use crate::venue::stream::{Session, StreamError, StreamHandler};
use crate::venue::VenueEvent;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOPICS: [&str; 5] = ["execution", "order", "position", "margin", "instrument"];
/// Rows kept per table; filled and cancelled orders are dropped as soon as they are reported.
const MAX_ROWS: usize = 500;
/// How long a streamed mark may stand in for a REST read.
pub const MARK_FRESH: Duration = Duration::from_secs(10);

/// One streamed mark: the price, when it arrived, and the venue's own time for it (the row's
/// `timestamp`), which is what a quote is dated by.
type StreamedMark = (Decimal, Instant, Option<DateTime<Utc>>);

/// Latest streamed mark price per symbol.
#[derive(Clone, Default)]
pub struct Marks(Arc<Mutex<HashMap<String, StreamedMark>>>);

impl Marks {
    pub fn set(&self, symbol: &str, mark: Decimal, venue_time: Option<DateTime<Utc>>) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(symbol.to_string(), (mark, Instant::now(), venue_time));
    }

    /// The mark of `symbol` if it arrived less than `max_age` ago.
    pub fn fresh(&self, symbol: &str, max_age: Duration) -> Option<Decimal> {
        self.fresh_dated(symbol, max_age).map(|(m, _)| m)
    }

    /// Like [`Marks::fresh`], with the venue's time of the mark when the row carried one.
    pub fn fresh_dated(
        &self,
        symbol: &str,
        max_age: Duration,
    ) -> Option<(Decimal, Option<DateTime<Utc>>)> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(symbol)
            .filter(|(_, at, _)| at.elapsed() <= max_age)
            .map(|(m, _, t)| (*m, *t))
    }
}

struct Table {
    keys: Vec<String>,
    rows: Vec<Map<String, Value>>,
}

impl Table {
    fn position(&self, row: &Map<String, Value>) -> Option<usize> {
        self.rows
            .iter()
            .position(|r| self.keys.iter().all(|k| r.get(k) == row.get(k)))
    }
}

/// Keys of a table when its partial does not list them.
fn default_keys(table: &str) -> Vec<String> {
    let keys: &[&str] = match table {
        "order" => &["orderID"],
        "execution" => &["execID"],
        "position" => &["account", "symbol"],
        "margin" => &["account", "currency"],
        _ => &["symbol"],
    };
    keys.iter().map(|k| k.to_string()).collect()
}

pub struct BitmexStream {
    url: String,
    /// `Connected` was reported on this connection.
    announced: bool,
    signer: BitmexSigner,
    /// The URL path that is signed (`/realtime`).
    path: String,
    tables: HashMap<String, Table>,
    marks: Marks,
}

impl BitmexStream {
    pub fn new(
        url: impl Into<String>,
        signer: BitmexSigner,
        path: impl Into<String>,
        marks: Marks,
    ) -> BitmexStream {
        BitmexStream {
            url: url.into(),
            announced: false,
            signer,
            path: path.into(),
            tables: HashMap::new(),
            marks,
        }
    }

    fn on_table(&mut self, msg: &Map<String, Value>) -> Vec<VenueEvent> {
        let table = msg.get("table").and_then(Value::as_str).unwrap_or("");
        let action = msg.get("action").and_then(Value::as_str).unwrap_or("");
        let rows: Vec<Map<String, Value>> = msg
            .get("data")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.as_object().cloned()).collect())
            .unwrap_or_default();
        if action == "partial" {
            let keys = msg
                .get("keys")
                .and_then(Value::as_array)
                .map(|k| {
                    k.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect::<Vec<_>>()
                })
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| default_keys(table));
            if table == "instrument" {
                rows.iter().for_each(|r| self.note_mark(r));
            }
            self.tables.insert(table.to_string(), Table { keys, rows });
            self.trim(table);
            // Rows that come before their table's partial are discarded, so the stream is only
            // "connected" once every subscribed table has its image.
            let complete = TOPICS.iter().all(|t| self.tables.contains_key(*t));
            if complete && !std::mem::replace(&mut self.announced, true) {
                return vec![VenueEvent::Connected];
            }
            return Vec::new();
        }
        let Some(state) = self.tables.get_mut(table) else {
            // Before the partial the image is unknown: BitMEX says to discard.
            return Vec::new();
        };
        let mut changes = Vec::new();
        for row in rows {
            match action {
                "insert" => {
                    state.rows.push(row.clone());
                    changes.push((row.clone(), row));
                }
                "update" => {
                    let merged = match state.position(&row) {
                        Some(i) => {
                            let target = &mut state.rows[i];
                            for (k, v) in &row {
                                target.insert(k.clone(), v.clone());
                            }
                            target.clone()
                        }
                        None => {
                            state.rows.push(row.clone());
                            row.clone()
                        }
                    };
                    changes.push((row, merged));
                }
                "delete" => {
                    if let Some(i) = state.position(&row) {
                        state.rows.remove(i);
                    }
                }
                _ => {}
            }
        }
        let events = changes
            .iter()
            .flat_map(|(change, merged)| self.events_for(table, change, merged))
            .collect();
        self.trim(table);
        events
    }

    fn note_mark(&self, row: &Map<String, Value>) {
        let symbol = row.get("symbol").and_then(Value::as_str);
        let mark = row.get("markPrice").and_then(num::from_value);
        let venue_time = row
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        if let (Some(symbol), Some(mark)) = (symbol, mark) {
            if mark > Decimal::ZERO {
                self.marks.set(symbol, mark, venue_time);
            }
        }
    }

    fn events_for(
        &self,
        table: &str,
        change: &Map<String, Value>,
        merged: &Map<String, Value>,
    ) -> Vec<VenueEvent> {
        let value = Value::Object(merged.clone());
        match table {
            "order" => match serde_json::from_value::<WireOrder>(value) {
                Ok(order) => match parse::order_ack(&order) {
                    Ok(ack) => vec![VenueEvent::Order {
                        native: order.symbol.unwrap_or_default(),
                        ack,
                    }],
                    Err(e) => {
                        tracing::warn!(error = %e, "bitmex: unreadable order row");
                        Vec::new()
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "bitmex: unreadable order row");
                    Vec::new()
                }
            },
            "execution" => serde_json::from_value::<WireExecution>(value)
                .ok()
                .and_then(|e| parse::fill(&e))
                .map(VenueEvent::Fill)
                .into_iter()
                .collect(),
            "position" if change.contains_key("currentQty") => {
                serde_json::from_value::<WirePosition>(value)
                    .ok()
                    .map(|p| VenueEvent::PositionChanged {
                        qty: p.current_qty.unwrap_or_default(),
                        native: p.symbol,
                    })
                    .into_iter()
                    .collect()
            }
            "margin" => vec![VenueEvent::WalletChanged],
            "instrument" => {
                self.note_mark(merged);
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    /// Drops reported terminal orders and executions, and caps every table.
    fn trim(&mut self, table: &str) {
        let Some(state) = self.tables.get_mut(table) else {
            return;
        };
        match table {
            "order" => state.rows.retain(|r| {
                let status = r.get("ordStatus").and_then(Value::as_str);
                !matches!(
                    status,
                    Some("Filled" | "Canceled" | "Rejected" | "Expired" | "DoneForDay")
                )
            }),
            "execution" => state.rows.clear(),
            _ => {}
        }
        if state.rows.len() > MAX_ROWS {
            let excess = state.rows.len() - MAX_ROWS;
            state.rows.drain(..excess);
        }
    }
}

#[async_trait]
impl StreamHandler for BitmexStream {
    async fn prepare(&mut self) -> Result<Session, StreamError> {
        // A new connection starts from new partials.
        self.tables.clear();
        self.announced = false;
        let auth = self
            .signer
            .ws_auth_frame(&self.path, expires_in(EXPIRES_AFTER))
            .map_err(|e| StreamError::Auth(e.to_string()))?;
        let subscribe = serde_json::json!({ "op": "subscribe", "args": TOPICS }).to_string();
        Ok(Session::websocket(self.url.clone(), vec![auth, subscribe]))
    }

    fn ping(&self) -> Option<String> {
        Some("ping".to_string())
    }

    /// Connected once every table's partial has arrived (see `on_table`).
    fn reports_connected(&self) -> bool {
        true
    }

    fn on_text(&mut self, text: &str) -> Result<Vec<VenueEvent>, StreamError> {
        if text.trim() == "pong" {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(text).map_err(|e| {
            StreamError::Protocol(format!(
                "not JSON ({e}): {}",
                crate::venue::http::snippet(text)
            ))
        })?;
        let Some(msg) = value.as_object() else {
            return Err(StreamError::Protocol(format!("unexpected frame: {text}")));
        };
        if msg.contains_key("table") {
            return Ok(self.on_table(msg));
        }
        if let Some(error) = msg.get("error") {
            let status = msg
                .get("status")
                .and_then(Value::as_u64)
                .unwrap_or_default();
            let op = msg
                .get("request")
                .and_then(|r| r.get("op"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let text = error
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            if status == 401 || status == 403 || op == "authKeyExpires" {
                return Err(StreamError::Auth(format!("HTTP {status}: {text}")));
            }
            return Err(StreamError::Protocol(format!(
                "{op} failed ({status}): {text}"
            )));
        }
        // Welcome, subscription and auth acknowledgements carry no data.
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests;
