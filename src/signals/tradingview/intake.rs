//! One webhook source's intake: order the signal, journal it (fsync), then put it in the
//! signal book. Arrival order is processing order.
//!
//! Group commit: signals arriving while a write is under way are decided (in arrival order)
//! and queued; the next write takes the whole queue in one journal append with one fsync and
//! one signal-book update. Every sender is answered only once the group holding its signal is
//! in the journal on disk, so concurrency raises throughput without weakening "200 means
//! stored". The book's file is written once per group after the answers: the journal is what
//! makes a signal durable (it rebuilds the book at start). When a group's journal write fails,
//! its signals and every signal decided after them (on top of their state) are refused, and
//! the intake falls back to what is on disk.

use super::journal::{Received, Record, WebhookJournal};
use super::payload::Incoming;
use super::sequencer::{decide, Basis, Outcome, RaceParams, SymbolState};
use crate::signals::{Signal, SignalBook};
use crate::state::StateError;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use thiserror::Error;

#[derive(Clone, Debug, Error)]
pub enum IntakeError {
    #[error("cannot journal the signal (nothing changed): {0}")]
    Journal(#[source] Arc<StateError>),
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

/// Test hook run by the writer before each group's journal write, with the group's size: it
/// can hold the write (to queue a group behind it) or fail it.
#[cfg(test)]
type WriteHook = Arc<dyn Fn(usize) -> std::io::Result<()> + Send + Sync>;

pub struct Intake {
    source: String,
    inner: Mutex<Inner>,
    /// Signalled whenever a group is settled.
    settled: Condvar,
    /// Held only by the one writer of the moment (`Inner::writing`).
    writer: Mutex<Writer>,
    #[cfg(test)]
    hook: Mutex<Option<WriteHook>>,
}

struct Inner {
    /// Every decided signal's state, durable or queued: what the next signal is decided on.
    states: BTreeMap<String, SymbolState>,
    last_at: Option<DateTime<Utc>>,
    /// Decided, not yet taken by a writer.
    queue: Vec<Queued>,
    next_ticket: u64,
    /// Every ticket below this one has its answer.
    settled_below: u64,
    /// Answers of refused tickets, until their sender collects them.
    refused: BTreeMap<u64, IntakeError>,
    writing: bool,
}

struct Queued {
    ticket: u64,
    /// `None` for a duplicate: nothing to write, but its answer waits for what it duplicates.
    record: Option<Record>,
    /// What the book gets when the signal applies.
    signal: Option<Signal>,
}

struct Writer {
    journal: WebhookJournal,
    /// The states on disk: what compaction writes and what a failed group falls back to.
    durable: BTreeMap<String, SymbolState>,
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
                states: states.clone(),
                last_at,
                queue: Vec::new(),
                next_ticket: 0,
                settled_below: 0,
                refused: BTreeMap::new(),
                writing: false,
            }),
            settled: Condvar::new(),
            writer: Mutex::new(Writer {
                journal,
                durable: states,
            }),
            #[cfg(test)]
            hook: Mutex::new(None),
        })
    }

    /// Orders, journals and applies one signal; returns once it is durable (or refused).
    /// Blocking (fsync, or waiting for another sender's group write): call it off the async
    /// runtime's worker threads.
    pub fn submit(
        &self,
        incoming: &Incoming,
        from: &str,
        book: &SignalBook,
        params: &RaceParams,
    ) -> Result<Accepted, IntakeError> {
        let (accepted, write_book) = self.submit_answer_first(incoming, from, book, params)?;
        if write_book {
            persist_book(&self.source, book);
        }
        Ok(accepted)
    }

    /// [`Intake::submit`] without the book's file write: when it returns `true`, the caller
    /// answers the sender first and then calls [`persist_book`] (the group is durable in the
    /// journal, which rebuilds the book at start, so the answer need not wait for the book).
    pub fn submit_answer_first(
        &self,
        incoming: &Incoming,
        from: &str,
        book: &SignalBook,
        params: &RaceParams,
    ) -> Result<(Accepted, bool), IntakeError> {
        let mut write_book = false;
        let mut inner = self.lock();
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
        let ticket = inner.next_ticket;
        inner.next_ticket += 1;
        let mut queued = Queued {
            ticket,
            record: None,
            signal: None,
        };
        if decision.outcome != Outcome::Duplicate {
            queued.record = Some(Record {
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
            });
            if decision.outcome == Outcome::Applied {
                queued.signal = to_signal(&self.source, &incoming.symbol, &next);
            }
            inner.last_at = Some(at);
            inner.states.insert(incoming.symbol.clone(), next);
        }
        inner.queue.push(queued);
        loop {
            if inner.settled_below > ticket {
                return match inner.refused.remove(&ticket) {
                    Some(e) => Err(e),
                    None => Ok((accepted, write_book)),
                };
            }
            if inner.writing {
                inner = self.settled.wait(inner).unwrap_or_else(|p| p.into_inner());
                continue;
            }
            // Nobody is writing and this signal is still queued: write the queue as one group.
            inner.writing = true;
            let group = std::mem::take(&mut inner.queue);
            drop(inner);
            let mut writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
            let written = self.commit(&mut writer, &group, book);
            inner = self.lock();
            inner.writing = false;
            let mut settled_below = group.last().map_or(ticket, |q| q.ticket) + 1;
            let book_changed = match written {
                Ok(changed) => changed,
                Err(e) => {
                    // Nothing of the group is stored, and the signals queued meanwhile were
                    // decided on top of it: refuse them all and go back to what is on disk.
                    let later = std::mem::take(&mut inner.queue);
                    for q in group.iter().chain(&later) {
                        inner.refused.insert(q.ticket, e.clone());
                    }
                    settled_below = inner.next_ticket;
                    inner.states = writer.durable.clone();
                    false
                }
            };
            inner.settled_below = settled_below;
            drop(inner);
            drop(writer);
            self.settled.notify_all();
            // The group is durable in the journal (a restart rebuilds the book from it), so
            // the book's file is written after the answers, overlapping the next group.
            write_book |= book_changed;
            inner = self.lock();
        }
    }

    /// Writes one group: journal (one append, one fsync), then the book in memory (its file is
    /// written by the caller), then compaction when due. Returns whether the book changed.
    fn commit(
        &self,
        writer: &mut Writer,
        group: &[Queued],
        book: &SignalBook,
    ) -> Result<bool, IntakeError> {
        let records: Vec<&Record> = group.iter().filter_map(|q| q.record.as_ref()).collect();
        let Some(newest) = records.last().map(|r| r.at) else {
            // Only duplicates: what they duplicate was settled before them.
            return Ok(false);
        };
        #[cfg(test)]
        {
            let hook = self.hook.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if let Some(hook) = hook {
                hook(group.len()).map_err(|source| {
                    IntakeError::Journal(Arc::new(StateError::Io {
                        file: writer.journal.path().to_path_buf(),
                        source,
                    }))
                })?;
            }
        }
        writer
            .journal
            .append_all(&records)
            .map_err(|e| IntakeError::Journal(Arc::new(e)))?;
        for record in &records {
            writer
                .durable
                .insert(record.symbol.clone(), record.state.clone());
        }
        let signals: Vec<Signal> = group.iter().filter_map(|q| q.signal.clone()).collect();
        let changed = !signals.is_empty() && book.apply_journaled(signals);
        let Writer { journal, durable } = writer;
        if let Err(e) = journal.maybe_compact(durable, newest) {
            // The journal still holds everything; compaction is retried on the next group.
            tracing::error!(source = %self.source, error = %e, "cannot compact the webhook journal");
        }
        Ok(changed)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg(test)]
    pub fn state(&self, symbol: &str) -> Option<SymbolState> {
        self.lock().states.get(symbol).cloned()
    }

    #[cfg(test)]
    fn set_hook(&self, hook: WriteHook) {
        *self.hook.lock().unwrap() = Some(hook);
    }

    /// Signals decided and waiting for the write under way.
    #[cfg(test)]
    fn queued(&self) -> usize {
        self.lock().queue.len()
    }

    /// How many signals (in arrival order) may have their answer.
    #[cfg(test)]
    fn answerable(&self) -> u64 {
        self.lock().settled_below
    }
}

/// Writes the signal book's file after a group (see [`Intake::submit_answer_first`]).
pub fn persist_book(source: &str, book: &SignalBook) {
    if let Err(e) = book.persist() {
        tracing::error!(source = %source, error = %e, "cannot write the signal book; the webhook journal holds the signals");
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

    /// A write hook that holds every group's write at a gate until the test opens it; the
    /// write then fails when `fail_later` and it is not the first. Records each group's size.
    struct Gate {
        entered: std::sync::mpsc::Receiver<()>,
        open: std::sync::mpsc::Sender<()>,
        sizes: Arc<Mutex<Vec<usize>>>,
    }

    fn gate(intake: &Intake, fail_later: bool) -> Gate {
        let (entered_tx, entered) = std::sync::mpsc::channel();
        let (open, open_rx) = std::sync::mpsc::channel::<()>();
        let open_rx = Mutex::new(open_rx);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        intake.set_hook(Arc::new(move |size| {
            let first = {
                let mut seen = seen.lock().unwrap();
                seen.push(size);
                seen.len() == 1
            };
            entered_tx.send(()).unwrap();
            open_rx.lock().unwrap().recv().unwrap();
            if fail_later && !first {
                return Err(std::io::Error::other("disk full"));
            }
            Ok(())
        }));
        Gate {
            entered,
            open,
            sizes,
        }
    }

    /// Sends `first` and holds its write at the gate, then sends `rest` concurrently and waits
    /// until they are all queued behind it; then lets the first write through and holds the
    /// second (the group of `rest`). Checks at each step that no signal whose group is not
    /// yet written is answered. Returns each signal's answer (first, then rest in order).
    fn group_behind_a_held_write(
        intake: &Arc<Intake>,
        book: &Arc<SignalBook>,
        gate: &Gate,
        first: Incoming,
        rest: Vec<Incoming>,
    ) -> (
        Result<Accepted, IntakeError>,
        Vec<Result<Accepted, IntakeError>>,
    ) {
        let (done_tx, done) = std::sync::mpsc::channel();
        let spawn = |i: usize, s: Incoming| {
            let (intake, book, done_tx) = (intake.clone(), book.clone(), done_tx.clone());
            std::thread::spawn(move || {
                let answer = intake.submit(&s, "x", &book, &PARAMS);
                done_tx.send((i, answer)).unwrap();
            })
        };
        let mut threads = vec![spawn(0, first)];
        gate.entered.recv().unwrap();
        let n = rest.len();
        for (i, s) in rest.into_iter().enumerate() {
            threads.push(spawn(i + 1, s));
        }
        while intake.queued() < n {
            std::thread::yield_now();
        }
        assert_eq!(intake.answerable(), 0, "answers released before any write");
        assert!(
            done.try_recv().is_err(),
            "answered before its group was written"
        );
        gate.open.send(()).unwrap();
        // The second group is at its write: only the first signal may be answered.
        gate.entered.recv().unwrap();
        assert_eq!(
            intake.answerable(),
            1,
            "answers of a group released before its write"
        );
        gate.open.send(()).unwrap();
        for t in threads {
            t.join().unwrap();
        }
        drop(done_tx);
        let mut answers: Vec<_> = done.iter().collect();
        answers.sort_by_key(|(i, _)| *i);
        let mut answers = answers.into_iter().map(|(_, a)| a);
        let first = answers.next().unwrap();
        (first, answers.collect())
    }

    fn open_shared(dir: &Path) -> (Arc<Intake>, Arc<SignalBook>) {
        let book = Arc::new(SignalBook::open(dir).unwrap());
        let intake =
            Arc::new(Intake::open(&dir.join("webhooks"), "tv", &book, DEFAULT_MAX_BYTES).unwrap());
        (intake, book)
    }

    fn depth_signal(symbol: &str, depth: &str) -> Incoming {
        parse(&json!({"symbol": symbol, "depth": depth})).unwrap()
    }

    #[test]
    fn concurrent_signals_share_one_write_and_all_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, book) = open_shared(dir.path());
        let gate = gate(&intake, false);
        let rest: Vec<Incoming> = (1..8)
            .map(|i| depth_signal(&format!("S{i}USDT"), &format!("0.0{i}")))
            .collect();
        let (first, rest) =
            group_behind_a_held_write(&intake, &book, &gate, depth_signal("S0USDT", "0.05"), rest);
        assert!(first.is_ok());
        assert!(rest.iter().all(Result::is_ok));
        // One write for the held signal, one for the seven queued behind it.
        assert_eq!(*gate.sizes.lock().unwrap(), vec![1, 7]);
        drop((intake, book));
        let (_intake, book) = open_shared(dir.path());
        assert_eq!(book_depth(&book, "S0USDT"), Some(dec!(0.05)));
        for i in 1..8 {
            let expected: Decimal = format!("0.0{i}").parse().unwrap();
            assert_eq!(book_depth(&book, &format!("S{i}USDT")), Some(expected));
        }
    }

    #[test]
    fn a_group_whose_write_fails_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, book) = open_shared(dir.path());
        let gate = gate(&intake, true);
        let mut rest: Vec<Incoming> = (1..7)
            .map(|i| depth_signal(&format!("S{i}USDT"), "0.2"))
            .collect();
        // A duplicate of a signal in the failing group must not be answered "duplicate".
        let keyed = parse(&json!({"symbol": "KUSDT", "depth": 0.3, "signal_seq": 9})).unwrap();
        rest.insert(0, keyed.clone());
        rest.push(keyed);
        let (first, rest) =
            group_behind_a_held_write(&intake, &book, &gate, depth_signal("S0USDT", "0.1"), rest);
        assert!(first.is_ok());
        for answer in &rest {
            assert!(
                matches!(answer, Err(IntakeError::Journal(_))),
                "a signal of a group that was never written got {answer:?}"
            );
        }
        // Nothing of the failed group is in the book or the intake's state; the next signal
        // is decided on what is on disk.
        assert_eq!(book_depth(&book, "S1USDT"), None);
        assert_eq!(intake.state("KUSDT"), None);
        drop((intake, book));
        let (intake, book) = open_shared(dir.path());
        assert_eq!(book_depth(&book, "S0USDT"), Some(dec!(0.1)));
        assert_eq!(book_depth(&book, "S1USDT"), None);
        assert_eq!(book_depth(&book, "KUSDT"), None);
        let again = parse(&json!({"symbol": "KUSDT", "depth": 0.3, "signal_seq": 9})).unwrap();
        let a = intake.submit(&again, "x", &book, &PARAMS).unwrap();
        assert_eq!(a.outcome, Outcome::Applied);
    }

    #[test]
    fn arrival_order_holds_within_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let (intake, book) = open_shared(dir.path());
        let gate = gate(&intake, false);
        let rest: Vec<Incoming> = (1..8)
            .map(|i| depth_signal("BTCUSDT", &format!("0.{i}")))
            .collect();
        let (_, rest) =
            group_behind_a_held_write(&intake, &book, &gate, depth_signal("ETHUSDT", "0.5"), rest);
        assert!(rest.iter().all(Result::is_ok));
        // The last line of the journal is the signal decided last; the book, the intake and a
        // restart all agree with it.
        let text =
            std::fs::read_to_string(journal_path(&dir.path().join("webhooks"), "tv")).unwrap();
        let last: Record = text
            .lines()
            .filter_map(|l| serde_json::from_str::<Record>(l).ok())
            .rfind(|r| r.symbol == "BTCUSDT")
            .unwrap();
        let last_depth = last.received.unwrap().depth;
        assert_eq!(book_depth(&book, "BTCUSDT"), Some(last_depth));
        assert_eq!(
            intake.state("BTCUSDT").unwrap().current.unwrap().depth,
            last_depth
        );
        drop((intake, book));
        let (_intake, book) = open_shared(dir.path());
        assert_eq!(book_depth(&book, "BTCUSDT"), Some(last_depth));
    }
}
