//! One webhook source's intake: order the signal, journal it (fsync), then put it in the
//! signal book, all under one lock so that arrival order is processing order.

use super::journal::{Received, Record, WebhookJournal};
use super::payload::Incoming;
use super::sequencer::{decide, Basis, Outcome, RaceParams, SymbolState};
use crate::signals::{Signal, SignalBook};
use crate::state::StateError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum IntakeError {
    #[error("cannot journal the signal (nothing changed): {0}")]
    Journal(#[source] StateError),
    #[error("the signal is journaled but the signal book could not be written (a restart applies it): {0}")]
    Book(#[source] StateError),
}

/// What the sender is told.
#[derive(Clone, Debug, PartialEq)]
pub struct Accepted {
    pub symbol: String,
    /// The symbol's depth for this source after the signal.
    pub depth: Decimal,
    pub outcome: Outcome,
    pub basis: Basis,
    pub reason: String,
}

pub struct Intake {
    source: String,
    inner: Mutex<Inner>,
}

struct Inner {
    journal: WebhookJournal,
    states: BTreeMap<String, SymbolState>,
    last_at: Option<DateTime<Utc>>,
}

impl Intake {
    /// Opens the journal and makes the book agree with it. The journal is written first, so
    /// where they differ (a crash between the two writes) the journal wins; symbols only the
    /// book knows are kept and seed the race handling.
    pub fn open(
        dir: &Path,
        source: &str,
        book: &SignalBook,
        max_bytes: u64,
    ) -> Result<Intake, StateError> {
        let (journal, mut states) = WebhookJournal::open(dir, source, max_bytes)?;
        let held = book.source_signals(source).unwrap_or_default();
        for (symbol, signal) in &held {
            states
                .entry(symbol.clone())
                .or_insert_with(|| SymbolState::seeded(signal.depth, signal.leverage, signal.ts));
        }
        for (symbol, state) in &states {
            let Some(signal) = to_signal(source, symbol, state) else {
                continue;
            };
            if held.get(symbol) != Some(&signal) {
                tracing::info!(source, symbol = %symbol, depth = %signal.depth, "signal restored from the webhook journal");
                book.apply(signal)?;
            }
        }
        let last_at = states
            .values()
            .filter_map(|s| s.last.as_ref().map(|l| l.at))
            .max();
        Ok(Intake {
            source: source.to_string(),
            inner: Mutex::new(Inner {
                journal,
                states,
                last_at,
            }),
        })
    }

    /// Orders, journals and applies one signal. Blocking (fsync): call it off the async
    /// runtime's worker threads.
    pub fn submit(
        &self,
        incoming: &Incoming,
        from: &str,
        book: &SignalBook,
        params: &RaceParams,
    ) -> Result<Accepted, IntakeError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Arrival order is lock order; keep timestamps monotonic even if the clock steps back.
        let now = Utc::now();
        let at = inner.last_at.map_or(now, |last| now.max(last));
        let state = inner
            .states
            .get(&incoming.symbol)
            .cloned()
            .unwrap_or_default();
        let (next, decision) = decide(&state, incoming, at, params);
        let depth = next.current.as_ref().map(|c| c.depth).unwrap_or_default();
        let accepted = Accepted {
            symbol: incoming.symbol.clone(),
            depth,
            outcome: decision.outcome,
            basis: decision.basis,
            reason: decision.reason,
        };
        if decision.outcome == Outcome::Duplicate {
            return Ok(accepted);
        }
        let record = Record {
            at,
            symbol: incoming.symbol.clone(),
            received: Some(Received {
                depth: incoming.depth,
                leverage: incoming.leverage,
                key: incoming.key.clone(),
                event_id: incoming.event_id.clone(),
                price: incoming.price,
                from: from.to_string(),
            }),
            outcome: Some(decision.outcome),
            basis: Some(decision.basis),
            state: next.clone(),
        };
        inner
            .journal
            .append(&record)
            .map_err(IntakeError::Journal)?;
        inner.last_at = Some(at);
        inner.states.insert(incoming.symbol.clone(), next.clone());
        if decision.outcome == Outcome::Applied {
            if let Some(signal) = to_signal(&self.source, &incoming.symbol, &next) {
                book.apply(signal).map_err(IntakeError::Book)?;
            }
        }
        let Inner {
            journal, states, ..
        } = &mut *inner;
        if let Err(e) = journal.maybe_compact(states, at) {
            // The journal still holds everything; compaction is retried on the next signal.
            tracing::error!(source = %self.source, error = %e, "cannot compact the webhook journal");
        }
        Ok(accepted)
    }

    #[cfg(test)]
    pub fn state(&self, symbol: &str) -> Option<SymbolState> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.states.get(symbol).cloned()
    }
}

fn to_signal(source: &str, symbol: &str, state: &SymbolState) -> Option<Signal> {
    state.current.as_ref().map(|held| Signal {
        source: source.to_string(),
        symbol: symbol.to_string(),
        depth: held.depth,
        leverage: held.leverage,
        ts: held.ts,
        seq: held.seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signals::tradingview::journal::{journal_path, DEFAULT_MAX_BYTES};
    use crate::signals::tradingview::payload::parse;
    use rust_decimal_macros::dec;
    use serde_json::json;

    const PARAMS: RaceParams = RaceParams {
        race_window: chrono::Duration::milliseconds(5000),
        seq_reset: chrono::Duration::seconds(300),
    };

    fn book_depth(book: &SignalBook, symbol: &str) -> Option<Decimal> {
        book.snapshot()
            .get("tv")
            .and_then(|m| m.get(symbol))
            .map(|s| s.depth)
    }

    #[test]
    fn applies_journals_and_ticks_the_book() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let ticks = book.subscribe();
        let intake =
            Intake::open(&dir.path().join("webhooks"), "tv", &book, DEFAULT_MAX_BYTES).unwrap();
        let s = parse(
            &json!({"symbol": "BTCUSDT", "direction": "short", "size": "25/100", "leverage": 3}),
        )
        .unwrap();
        let a = intake.submit(&s, "127.0.0.1", &book, &PARAMS).unwrap();
        assert_eq!((a.outcome, a.depth), (Outcome::Applied, dec!(-0.25)));
        assert_eq!(book_depth(&book, "BTCUSDT"), Some(dec!(-0.25)));
        assert_eq!(book.snapshot()["tv"]["BTCUSDT"].leverage, Some(dec!(3)));
        // The target book follows this channel; a tick is what starts a cycle.
        assert_eq!(*ticks.borrow(), 1);
        let text =
            std::fs::read_to_string(journal_path(&dir.path().join("webhooks"), "tv")).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("\"from\":\"127.0.0.1\""));
    }

    #[test]
    fn the_journal_wins_over_a_stale_book_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let jdir = dir.path().join("webhooks");
        {
            let book = SignalBook::open(dir.path()).unwrap();
            let intake = Intake::open(&jdir, "tv", &book, DEFAULT_MAX_BYTES).unwrap();
            for (symbol, depth) in [("BTCUSDT", "0.1"), ("ETHUSDT", "-0.3"), ("BTCUSDT", "0.2")] {
                let s = parse(&json!({"symbol": symbol, "depth": depth})).unwrap();
                intake.submit(&s, "x", &book, &PARAMS).unwrap();
            }
        }
        // The book file lost the last write (crash between journal and book).
        let book = SignalBook::open(dir.path()).unwrap();
        let mut stale = book.snapshot()["tv"].clone();
        stale.get_mut("BTCUSDT").unwrap().depth = dec!(0.1);
        book.replace_source("tv", stale).unwrap();
        let _intake = Intake::open(&jdir, "tv", &book, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(book_depth(&book, "BTCUSDT"), Some(dec!(0.2)));
        assert_eq!(book_depth(&book, "ETHUSDT"), Some(dec!(-0.3)));
        // And with the book file gone entirely, the journal rebuilds it.
        std::fs::remove_file(dir.path().join("signals.json")).unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let _intake = Intake::open(&jdir, "tv", &book, DEFAULT_MAX_BYTES).unwrap();
        assert_eq!(book_depth(&book, "BTCUSDT"), Some(dec!(0.2)));
        assert_eq!(book_depth(&book, "ETHUSDT"), Some(dec!(-0.3)));
    }

    #[test]
    fn book_only_symbols_seed_the_race_handling() {
        // The book says ETH is open (no journal): a long and a flat racing in keep the long.
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        book.apply(Signal {
            source: "tv".into(),
            symbol: "ETHUSDT".into(),
            depth: dec!(0.3),
            leverage: None,
            ts: Utc::now(),
            seq: None,
        })
        .unwrap();
        let intake =
            Intake::open(&dir.path().join("webhooks"), "tv", &book, DEFAULT_MAX_BYTES).unwrap();
        let long =
            parse(&json!({"symbol": "ETHUSDT", "direction": "long", "size": "1/1"})).unwrap();
        let flat =
            parse(&json!({"symbol": "ETHUSDT", "direction": "flat", "size": "Exit @ 1"})).unwrap();
        intake.submit(&long, "x", &book, &PARAMS).unwrap();
        let a = intake.submit(&flat, "x", &book, &PARAMS).unwrap();
        assert_eq!(a.basis, Basis::CloseThenOpen);
        assert_eq!(book_depth(&book, "ETHUSDT"), Some(dec!(1)));
        assert_eq!(
            intake.state("ETHUSDT").unwrap().current.unwrap().depth,
            dec!(1)
        );
    }

    #[test]
    fn duplicates_are_not_journaled() {
        let dir = tempfile::tempdir().unwrap();
        let book = SignalBook::open(dir.path()).unwrap();
        let jdir = dir.path().join("webhooks");
        let intake = Intake::open(&jdir, "tv", &book, DEFAULT_MAX_BYTES).unwrap();
        let s = parse(&json!({"symbol": "BTCUSDT", "depth": 0.1, "signal_seq": 4})).unwrap();
        intake.submit(&s, "x", &book, &PARAMS).unwrap();
        let again = intake.submit(&s, "x", &book, &PARAMS).unwrap();
        assert_eq!(again.outcome, Outcome::Duplicate);
        let text = std::fs::read_to_string(journal_path(&jdir, "tv")).unwrap();
        assert_eq!(text.lines().count(), 1);
    }
}
