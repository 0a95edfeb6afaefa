//! Per-symbol ordering of webhook signals.
//!
//! Signals apply in the sender's explicit order (`signal_seq`, else `event_id`) when both
//! carry a comparable key, else in arrival order. One race gets special care, as in the
//! Python tool: a flat and an entry for the same symbol arriving within `race_window` of each
//! other were sent together, and HTTP may deliver them in either order. What the sender
//! meant depends on the state before the pair:
//! - a position was open: the flat closes it and the entry is the new position
//!   (close-then-open, the entry stands);
//! - nothing was open: the entry was opened and closed again at once (open-then-close, flat
//!   stands).
//!
//! Unlike the Python tool, the state before the pair is this source's own state for the
//! symbol (not a cache of all accounts), and a pair is resolved once, when its second signal
//! arrives.

use super::payload::{Incoming, OrderKey};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Everything the sequencer remembers about one symbol; journaled after every signal.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SymbolState {
    /// What the signal book holds for the symbol.
    pub current: Option<Held>,
    /// The newest explicit key seen, to spot late and repeated deliveries.
    #[serde(default)]
    pub newest_key: Option<SeenKey>,
    /// The last signal that took part in ordering, to spot a flat/entry race.
    #[serde(default)]
    pub last: Option<Recent>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Held {
    pub depth: Decimal,
    pub leverage: Option<Decimal>,
    pub ts: DateTime<Utc>,
    pub seq: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeenKey {
    pub key: OrderKey,
    pub at: DateTime<Utc>,
    /// What that signal said, to tell a retried delivery from a different signal that
    /// happens to carry the same key (e.g. two alerts in the same `{{timenow}}` second).
    #[serde(default)]
    pub depth: Decimal,
    #[serde(default)]
    pub leverage: Option<Decimal>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recent {
    pub at: DateTime<Utc>,
    pub depth: Decimal,
    /// Whether a position was open before this signal.
    pub prior_open: bool,
    /// Already resolved as half of a race; it does not pair again.
    pub paired: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The signal is now the symbol's state.
    Applied,
    /// Recorded, but an earlier or explicitly later signal stands.
    Superseded,
    /// The same key again (a retried delivery); nothing changes.
    Duplicate,
}

crate::display_as_wire_name!(Outcome, Basis);

/// Why the outcome is what it is (the Python tool's `ordering_basis`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    Arrival,
    ExplicitSequence,
    CloseThenOpen,
    OpenThenClose,
    /// A key lower than the newest, long after it: the sender restarted its counter.
    CounterReset,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    pub basis: Basis,
    pub reason: String,
}

#[derive(Clone, Copy, Debug)]
pub struct RaceParams {
    pub race_window: chrono::Duration,
    pub seq_reset: chrono::Duration,
}

impl SymbolState {
    /// A state for a symbol the book already holds but the journal does not know (the journal
    /// was lost or this source existed before journaling).
    pub fn seeded(depth: Decimal, leverage: Option<Decimal>, ts: DateTime<Utc>) -> Self {
        SymbolState {
            current: Some(Held {
                depth,
                leverage,
                ts,
                seq: None,
            }),
            newest_key: None,
            last: None,
        }
    }

    fn open(&self) -> bool {
        self.current.as_ref().is_some_and(|c| !c.depth.is_zero())
    }
}

/// Decides what `incoming`, arriving at `at`, does to `state`.
pub fn decide(
    state: &SymbolState,
    incoming: &Incoming,
    at: DateTime<Utc>,
    params: &RaceParams,
) -> (SymbolState, Decision) {
    let mut next = state.clone();
    let mut explicit = false;
    let mut counter_reset = false;
    if let (Some(key), Some(seen)) = (&incoming.key, &state.newest_key) {
        match key.compare(&seen.key) {
            Some(std::cmp::Ordering::Equal)
                if seen.depth == incoming.depth && seen.leverage == incoming.leverage =>
            {
                return (
                    next,
                    Decision {
                        outcome: Outcome::Duplicate,
                        basis: Basis::ExplicitSequence,
                        reason: format!("{key} was already received with the same content"),
                    },
                )
            }
            // The same key with different content says nothing about order: arrival decides.
            Some(std::cmp::Ordering::Equal) => {}
            Some(std::cmp::Ordering::Less) if at - seen.at <= params.seq_reset => {
                return (
                    next,
                    Decision {
                        outcome: Outcome::Superseded,
                        basis: Basis::ExplicitSequence,
                        reason: format!("{key} is older than {} received before", seen.key),
                    },
                )
            }
            Some(std::cmp::Ordering::Less) => counter_reset = true,
            Some(std::cmp::Ordering::Greater) => explicit = true,
            None => {}
        }
    }
    if let Some(key) = &incoming.key {
        next.newest_key = Some(SeenKey {
            key: key.clone(),
            at,
            depth: incoming.depth,
            leverage: incoming.leverage,
        });
    }

    let is_flat = incoming.depth.is_zero();
    let race = state.last.as_ref().filter(|last| {
        !explicit
            && !counter_reset
            && !last.paired
            && at - last.at <= params.race_window
            && last.depth.is_zero() != is_flat
    });
    let (apply, basis, reason) = match race {
        Some(last) if last.prior_open => (
            !is_flat,
            Basis::CloseThenOpen,
            "a flat and an entry together while a position was open: the flat closes the old position, the entry stands",
        ),
        Some(_) => (
            is_flat,
            Basis::OpenThenClose,
            "a flat and an entry together while flat: the entry was opened and closed again, flat stands",
        ),
        None if explicit => (true, Basis::ExplicitSequence, "newer than every key received before"),
        None if counter_reset => (
            true,
            Basis::CounterReset,
            "lower than the newest key but long after it: the sender restarted its counter",
        ),
        None => (true, Basis::Arrival, "latest arrival"),
    };
    next.last = Some(Recent {
        at,
        depth: incoming.depth,
        prior_open: state.open(),
        paired: race.is_some(),
    });
    if apply {
        next.current = Some(Held {
            depth: incoming.depth,
            leverage: incoming.leverage,
            ts: at,
            seq: incoming.key.as_ref().and_then(OrderKey::seq),
        });
    }
    let outcome = if apply {
        Outcome::Applied
    } else {
        Outcome::Superseded
    };
    (
        next,
        Decision {
            outcome,
            basis,
            reason: reason.to_string(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal_macros::dec;

    const PARAMS: RaceParams = RaceParams {
        race_window: chrono::Duration::milliseconds(5000),
        seq_reset: chrono::Duration::seconds(300),
    };

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(1_750_000_000_000 + ms).unwrap()
    }

    fn sig(depth: Decimal, key: Option<OrderKey>) -> Incoming {
        Incoming {
            symbol: "ETHUSDT".into(),
            depth,
            leverage: None,
            key,
            event_id: None,
            price: None,
            ignored: vec![],
        }
    }

    fn run(start: SymbolState, signals: &[(i64, Incoming)]) -> (SymbolState, Vec<Decision>) {
        let mut state = start;
        let mut decisions = vec![];
        for (ms, s) in signals {
            let (next, d) = decide(&state, s, t(*ms), &PARAMS);
            state = next;
            decisions.push(d);
        }
        (state, decisions)
    }

    fn depth(s: &SymbolState) -> Decimal {
        s.current.as_ref().map(|c| c.depth).unwrap_or_default()
    }

    // Pinned case (a) of the Python tool's tests: a position is open, then `long 1/1` at .100
    // and `flat` at .200. The flat closed the old position; the long is the final state.
    #[test]
    fn pinned_a_open_then_entry_and_flat_keeps_the_entry() {
        let open = SymbolState::seeded(dec!(0.3), None, t(-60_000));
        let (s, d) = run(
            open,
            &[(100, sig(dec!(1), None)), (200, sig(dec!(0), None))],
        );
        assert_eq!(depth(&s), dec!(1));
        assert_eq!(d[1].outcome, Outcome::Superseded);
        assert_eq!(d[1].basis, Basis::CloseThenOpen);
    }

    // The same pair delivered the other way round ends in the same state.
    #[test]
    fn pinned_a_reversed_delivery_same_state() {
        let open = SymbolState::seeded(dec!(0.3), None, t(-60_000));
        let (s, d) = run(
            open,
            &[(100, sig(dec!(0), None)), (200, sig(dec!(1), None))],
        );
        assert_eq!(depth(&s), dec!(1));
        assert_eq!(d[1].basis, Basis::CloseThenOpen);
    }

    // Pinned case (b): nothing open, then `flat` at .100 and `long` at .200. The long was
    // opened and closed at once; flat is the final state.
    #[test]
    fn pinned_b_flat_then_flat_and_entry_stays_flat() {
        let flat = SymbolState::seeded(dec!(0), None, t(-60_000));
        let (s, d) = run(
            flat,
            &[(100, sig(dec!(0), None)), (200, sig(dec!(1), None))],
        );
        assert_eq!(depth(&s), dec!(0));
        assert_eq!(d[1].outcome, Outcome::Superseded);
        assert_eq!(d[1].basis, Basis::OpenThenClose);
        // Same from a symbol never seen before.
        let (s, _) = run(
            SymbolState::default(),
            &[(100, sig(dec!(0), None)), (200, sig(dec!(1), None))],
        );
        assert_eq!(depth(&s), dec!(0));
    }

    // Pinned case (c): the same instant, `signal_seq` 1 is long and 2 is flat: flat, in
    // either delivery order.
    #[test]
    fn pinned_c_explicit_sequence_wins_in_either_order() {
        let long = sig(dec!(1), Some(OrderKey::Seq(1)));
        let flat = sig(dec!(0), Some(OrderKey::Seq(2)));
        let (s, d) = run(
            SymbolState::default(),
            &[(100, long.clone()), (100, flat.clone())],
        );
        assert_eq!(depth(&s), dec!(0));
        assert_eq!(d[1].basis, Basis::ExplicitSequence);
        let (s, d) = run(SymbolState::default(), &[(100, flat), (100, long)]);
        assert_eq!(depth(&s), dec!(0));
        assert_eq!(d[1].outcome, Outcome::Superseded);
        assert_eq!(d[1].basis, Basis::ExplicitSequence);
    }

    #[test]
    fn outside_the_window_arrival_order_wins() {
        let flat = SymbolState::seeded(dec!(0), None, t(-60_000));
        let (s, d) = run(
            flat,
            &[(0, sig(dec!(0), None)), (5001, sig(dec!(0.5), None))],
        );
        assert_eq!(depth(&s), dec!(0.5));
        assert_eq!(d[1].basis, Basis::Arrival);
    }

    #[test]
    fn a_resolved_pair_does_not_pair_again() {
        // Open, entry+flat race (entry stands), then a second flat 1 s later closes.
        let open = SymbolState::seeded(dec!(0.3), None, t(-60_000));
        let (s, d) = run(
            open,
            &[
                (0, sig(dec!(0.5), None)),
                (50, sig(dec!(0), None)),
                (1050, sig(dec!(0), None)),
            ],
        );
        assert_eq!(depth(&s), dec!(0));
        assert_eq!(d[2].basis, Basis::Arrival);
    }

    #[test]
    fn duplicates_late_deliveries_and_counter_resets() {
        let a = sig(dec!(0.2), Some(OrderKey::Seq(5)));
        let (s, d) = run(
            SymbolState::default(),
            &[
                (0, a.clone()),
                (10, a.clone()),
                (20_000, sig(dec!(-0.4), Some(OrderKey::Seq(3)))),
            ],
        );
        assert_eq!(d[1].outcome, Outcome::Duplicate);
        assert_eq!(d[2].outcome, Outcome::Superseded);
        assert_eq!(depth(&s), dec!(0.2));
        // Ten minutes later a low key means the sender's counter restarted.
        let (s2, d2) = decide(
            &s,
            &sig(dec!(-0.4), Some(OrderKey::Seq(1))),
            t(600_000),
            &PARAMS,
        );
        assert_eq!(d2.outcome, Outcome::Applied);
        assert_eq!(d2.basis, Basis::CounterReset);
        assert_eq!(depth(&s2), dec!(-0.4));
        assert_eq!(s2.current.unwrap().seq, Some(1));
    }

    #[test]
    fn same_key_with_other_content_is_not_a_duplicate() {
        // Two alerts within one `{{timenow}}` second carry the same text key.
        let key = || Some(OrderKey::SeqText("2026-05-01T10:00:00Z".into()));
        let (s, d) = run(
            SymbolState::default(),
            &[(0, sig(dec!(0.2), key())), (6000, sig(dec!(0.5), key()))],
        );
        assert_eq!(d[1].outcome, Outcome::Applied);
        assert_eq!(depth(&s), dec!(0.5));
    }
}
