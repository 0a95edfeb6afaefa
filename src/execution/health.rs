//! Per-account health: repeated trouble first restricts an account to reducing orders, then
//! halts it with exponential backoff; dead credentials are quarantined. It recovers by itself
//! on the first success.

use crate::state::cache::AccountHealth;
use crate::venue::VenueError;
use std::time::{Duration, Instant};

/// Failures in a row before only reducing orders are allowed.
const REDUCE_AFTER: u32 = 1;
/// Failures in a row before the account is halted.
const HALT_AFTER: u32 = 3;
/// Authentication failures in a row before the credentials are quarantined.
const QUARANTINE_AFTER: u32 = 3;
const BASE_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(600);
const QUARANTINE: Duration = Duration::from_secs(3600);

#[derive(Clone, Debug, Default)]
pub struct Health {
    failures: u32,
    auth_failures: u32,
    retry_at: Option<Instant>,
    pub last_error: Option<String>,
}

impl Health {
    pub fn state(&self) -> AccountHealth {
        if self.auth_failures > 0 {
            AccountHealth::Error
        } else if self.failures >= HALT_AFTER {
            AccountHealth::Halted
        } else if self.failures >= REDUCE_AFTER {
            AccountHealth::Reducing
        } else {
            AccountHealth::Ok
        }
    }

    /// Whether the account should be skipped this cycle (backing off).
    pub fn backing_off(&self, now: Instant) -> Option<Duration> {
        self.retry_at.filter(|t| *t > now).map(|t| t - now)
    }

    pub fn success(&mut self) {
        *self = Health::default();
    }

    pub fn failure(&mut self, error: &VenueError, now: Instant) {
        self.last_error = Some(error.to_string());
        if let VenueError::Auth(_) = error {
            self.auth_failures += 1;
            let wait = if self.auth_failures >= QUARANTINE_AFTER {
                QUARANTINE
            } else {
                backoff(self.auth_failures)
            };
            self.retry_at = Some(now + wait);
            return;
        }
        self.failures += 1;
        let wait = match error {
            VenueError::RateLimited { retry_after } => (*retry_after).max(BASE_BACKOFF),
            VenueError::CircuitOpen { remaining } => *remaining,
            _ if self.failures >= HALT_AFTER => backoff(self.failures - HALT_AFTER + 1),
            _ => Duration::ZERO,
        };
        if !wait.is_zero() {
            self.retry_at = Some(now + wait);
        }
    }

    pub fn quarantined(&self) -> bool {
        self.auth_failures >= QUARANTINE_AFTER
    }
}

fn backoff(attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
    (BASE_BACKOFF * factor).min(MAX_BACKOFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrades_then_recovers() {
        let now = Instant::now();
        let mut h = Health::default();
        assert_eq!(h.state(), AccountHealth::Ok);
        let e = VenueError::Unknown("timeout".into());
        h.failure(&e, now);
        assert_eq!(h.state(), AccountHealth::Reducing);
        assert!(h.backing_off(now).is_none());
        h.failure(&e, now);
        h.failure(&e, now);
        assert_eq!(h.state(), AccountHealth::Halted);
        let first = h.backing_off(now).unwrap();
        h.failure(&e, now);
        assert!(h.backing_off(now).unwrap() > first);
        h.success();
        assert_eq!(h.state(), AccountHealth::Ok);
    }

    #[test]
    fn dead_credentials_are_quarantined() {
        let now = Instant::now();
        let mut h = Health::default();
        let e = VenueError::Auth("Invalid API Key.".into());
        for _ in 0..3 {
            h.failure(&e, now);
        }
        assert_eq!(h.state(), AccountHealth::Error);
        assert!(h.quarantined());
        assert!(h.backing_off(now).unwrap() >= Duration::from_secs(3000));
    }

    #[test]
    fn backoff_is_capped() {
        assert_eq!(backoff(40), MAX_BACKOFF);
        assert_eq!(backoff(1), BASE_BACKOFF);
    }
}
