//! Whether the validator accepts the source's API key. A revoked key silences the source for
//! good, so its refusal deserves an ERROR, but only when the state changes: the same line
//! every poll would bury everything else in the log.

use super::fetch::FetchError;
use super::PollError;

/// What one poll says about the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    /// HTTP 401 or 403.
    Refused,
    /// The validator answered with a dump (usable or not): the key got through.
    Accepted,
    /// The poll failed before the validator judged the key (network, deadline, 5xx…).
    Unknown,
}

impl KeyVerdict {
    pub fn of<T>(result: &Result<T, PollError>) -> KeyVerdict {
        match result {
            Err(PollError::Fetch(FetchError::Refused { .. })) => KeyVerdict::Refused,
            Err(PollError::Fetch(_)) => KeyVerdict::Unknown,
            // Every other outcome comes after a dump was delivered.
            Ok(_) | Err(_) => KeyVerdict::Accepted,
        }
    }
}

/// A change worth one log line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChange {
    NowRefused,
    AcceptedAgain,
}

#[derive(Debug, Default)]
pub struct KeyState {
    refused: bool,
}

impl KeyState {
    pub fn observe(&mut self, verdict: KeyVerdict) -> Option<KeyChange> {
        match (self.refused, verdict) {
            (false, KeyVerdict::Refused) => {
                self.refused = true;
                Some(KeyChange::NowRefused)
            }
            (true, KeyVerdict::Accepted) => {
                self.refused = false;
                Some(KeyChange::AcceptedAgain)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> Result<(), PollError> {
        Err(PollError::Fetch(FetchError::Refused {
            url: "http://v/miner-positions".into(),
            credentials: "sn8".into(),
            status: 401,
        }))
    }

    #[test]
    fn verdicts() {
        assert_eq!(KeyVerdict::of(&refused()), KeyVerdict::Refused);
        let timeout: Result<(), PollError> = Err(PollError::Fetch(FetchError::Timeout {
            url: "u".into(),
            secs: 10,
        }));
        assert_eq!(KeyVerdict::of(&timeout), KeyVerdict::Unknown);
        let server_error: Result<(), PollError> = Err(PollError::Fetch(FetchError::Status {
            url: "u".into(),
            status: 503,
        }));
        assert_eq!(KeyVerdict::of(&server_error), KeyVerdict::Unknown);
        let unusable: Result<(), PollError> = Err(PollError::TooFewMiners { n: 1, min: 2 });
        assert_eq!(KeyVerdict::of(&unusable), KeyVerdict::Accepted);
        assert_eq!(
            KeyVerdict::of(&Ok::<(), PollError>(())),
            KeyVerdict::Accepted
        );
    }

    #[test]
    fn one_change_per_state_not_per_poll() {
        use KeyVerdict::*;
        let mut key = KeyState::default();
        let changes: Vec<Option<KeyChange>> = [
            Accepted, Refused, Refused, Unknown, Refused, Accepted, Accepted, Unknown, Refused,
        ]
        .into_iter()
        .map(|v| key.observe(v))
        .collect();
        assert_eq!(
            changes,
            vec![
                None,
                Some(KeyChange::NowRefused),
                None,
                // A timeout says nothing about the key: still refused, no new line.
                None,
                None,
                Some(KeyChange::AcceptedAgain),
                None,
                None,
                Some(KeyChange::NowRefused),
            ]
        );
        // Refused from the very first poll is a change too.
        assert_eq!(
            KeyState::default().observe(Refused),
            Some(KeyChange::NowRefused)
        );
    }
}
