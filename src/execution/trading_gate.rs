//! Close-only after a venue refuses new orders ("trading disabled", "under maintenance": MEXC's
//! code 1002, for example). Such a refusal is about the venue, not about one symbol: instead of a
//! symbol error every cycle, the whole account moves to close-only — reductions still go out —
//! and opening is tried again after a back-off that grows while the venue keeps refusing.

use super::symbol::SymbolJob;
use crate::domain::{OrderAck, OrderIntent};
use crate::venue::{RejectKind, VenueError};
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The longest wait between two attempts to open (the first is `risk.close_only_retry_secs`).
const MAX_RETRY: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Debug, Default)]
pub struct TradingGate {
    closed: Option<Closed>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Closed {
    /// The venue's words (code and message), for `/status` and the log.
    pub reason: String,
    pub since: DateTime<Utc>,
    /// When an opening order may be tried again.
    pub retry_at: DateTime<Utc>,
    /// Refusals in a row.
    pub strikes: u32,
}

/// What a refusal or an acceptance changed, for one log line per change of state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    None,
    Closed,
    StillClosed,
    Reopened,
}

impl TradingGate {
    /// Whether opening orders may be sent at `now`: always when open; while closed, once the
    /// retry time has come (the next opening order is the probe).
    pub fn allows_opening(&self, now: DateTime<Utc>) -> bool {
        self.closed.as_ref().is_none_or(|c| now >= c.retry_at)
    }

    pub fn closed(&self) -> Option<&Closed> {
        self.closed.as_ref()
    }

    /// The venue refused an order because it accepts no new exposure; opening is tried again
    /// after `first_retry`, doubled for every refusal in a row.
    pub fn refused(&mut self, reason: &str, now: DateTime<Utc>, first_retry: Duration) -> Change {
        let strikes = self.closed.as_ref().map_or(0, |c| c.strikes) + 1;
        let wait = retry_wait(first_retry, strikes);
        let since = self.closed.as_ref().map_or(now, |c| c.since);
        let change = if self.closed.is_some() {
            Change::StillClosed
        } else {
            Change::Closed
        };
        self.closed = Some(Closed {
            reason: reason.to_string(),
            since,
            retry_at: now + chrono::Duration::from_std(wait).unwrap_or_default(),
            strikes,
        });
        change
    }

    /// The venue accepted an opening order: it trades again.
    pub fn accepted_opening(&mut self) -> Change {
        match self.closed.take() {
            Some(_) => Change::Reopened,
            None => Change::None,
        }
    }
}

impl SymbolJob {
    /// Feeds one order's outcome to the account's gate: a `TradingDisabled` refusal (of any
    /// order) closes opening; an accepted opening order reopens it. One log line per change.
    pub(super) fn note_trading(
        &self,
        intent: &OrderIntent,
        outcome: &Result<Option<OrderAck>, VenueError>,
    ) {
        let mut gate = self.gate.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Err(e @ VenueError::Rejected { code, message, .. })
                if e.reject_kind() == Some(RejectKind::TradingDisabled) =>
            {
                let reason = format!("{code}: {}", crate::input::excerpt(message));
                let first_retry = Duration::from_secs(self.risk.close_only_retry_secs.max(1));
                let change = gate.refused(&reason, Utc::now(), first_retry);
                let retry_at = gate.closed().map(|c| c.retry_at);
                if change == Change::Closed {
                    tracing::warn!(
                        account = %self.account.name, venue = %self.account.venue,
                        reason = %reason, retry_at = ?retry_at,
                        "venue refuses new orders: account close-only (reductions go on)"
                    );
                } else {
                    tracing::info!(
                        account = %self.account.name, reason = %reason, retry_at = ?retry_at,
                        "venue still refuses new orders"
                    );
                }
            }
            Ok(Some(_)) if !intent.reduce_only && gate.accepted_opening() == Change::Reopened => {
                tracing::info!(
                    account = %self.account.name, venue = %self.account.venue,
                    "venue accepts new orders again: account trades normally"
                );
            }
            _ => {}
        }
    }
}

fn retry_wait(first: Duration, strikes: u32) -> Duration {
    let factor = 2u32.saturating_pow(strikes.saturating_sub(1).min(16));
    first.saturating_mul(factor).min(MAX_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn a_refusal_closes_opening_until_the_retry_time() {
        let t0 = Utc::now();
        let mut gate = TradingGate::default();
        assert!(gate.allows_opening(t0));
        assert_eq!(
            gate.refused("1002: under maintenance", t0, MINUTE),
            Change::Closed
        );
        assert!(!gate.allows_opening(t0));
        assert!(!gate.allows_opening(t0 + chrono::Duration::seconds(59)));
        assert!(gate.allows_opening(t0 + chrono::Duration::seconds(60)));
        assert_eq!(gate.closed().unwrap().reason, "1002: under maintenance");
    }

    #[test]
    fn repeated_refusals_back_off_longer_and_an_acceptance_reopens() {
        let t0 = Utc::now();
        let mut gate = TradingGate::default();
        gate.refused("maintenance", t0, MINUTE);
        let probe = t0 + chrono::Duration::seconds(60);
        assert_eq!(
            gate.refused("maintenance", probe, MINUTE),
            Change::StillClosed
        );
        let closed = gate.closed().unwrap().clone();
        assert_eq!(closed.strikes, 2);
        assert_eq!(closed.since, t0);
        assert_eq!(closed.retry_at, probe + chrono::Duration::seconds(120));
        assert_eq!(gate.accepted_opening(), Change::Reopened);
        assert!(gate.allows_opening(probe));
        assert_eq!(gate.accepted_opening(), Change::None);
        assert_eq!(retry_wait(MINUTE, 40), MAX_RETRY);
    }
}
