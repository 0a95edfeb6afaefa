use std::time::Duration;
use thiserror::Error;

/// Why the venue refused an order, normalised across venues.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    InsufficientFunds,
    InvalidQuantity,
    InvalidPrice,
    /// A reduce-only order that would not reduce (no position, wrong side).
    ReduceOnly,
    /// The client order id was used before: the order exists (or existed).
    DuplicateClientId,
    OrderNotFound,
    /// The venue accepts no new orders right now (maintenance, API trading suspended): the
    /// account goes close-only and opening is retried after a back-off.
    TradingDisabled,
    /// A leverage or margin-mode change the venue makes only while the symbol is flat (KuCoin
    /// isolated leverage, margin-mode switches): the old setting stays, and the executor never
    /// closes a position to change it.
    NeedsFlatPosition,
    Other,
}

#[derive(Clone, Debug, Error)]
pub enum VenueError {
    /// A definitive answer: the venue saw the request and refused it.
    #[error("rejected by the venue ({code}): {message}")]
    Rejected {
        kind: RejectKind,
        code: String,
        message: String,
    },
    /// The request was sent and no definitive answer came back (timeout, 5xx, disconnect).
    /// The order may exist: look it up by client order id before doing anything else.
    #[error("outcome unknown after sending: {0}")]
    Unknown(String),
    #[error("rate limited by the venue; retry in {} ms", .retry_after.as_millis())]
    RateLimited { retry_after: Duration },
    /// Credentials are wrong, expired or lack a permission.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Nothing reached the venue (connect error, DNS, refused): safe to retry.
    #[error("transport error: {0}")]
    Transport(String),
    #[error("unexpected answer from the venue: {0}")]
    Decode(String),
    /// Too many recent errors: requests are refused locally until the breaker closes.
    #[error("circuit breaker open for {} ms more", .remaining.as_millis())]
    CircuitOpen { remaining: Duration },
    #[error("unknown symbol {0}")]
    UnknownSymbol(String),
    #[error("not supported: {0}")]
    Unsupported(String),
    #[error("local state error: {0}")]
    Local(String),
}

impl VenueError {
    pub fn rejected(kind: RejectKind, code: impl Into<String>, message: impl Into<String>) -> Self {
        VenueError::Rejected {
            kind,
            code: code.into(),
            message: message.into(),
        }
    }

    /// A short stable name for metrics labels (`venue_errors_total{kind=...}`).
    pub fn kind_name(&self) -> &'static str {
        match self {
            VenueError::Rejected { .. } => "rejected",
            VenueError::Unknown(_) => "unknown",
            VenueError::RateLimited { .. } => "rate_limited",
            VenueError::Auth(_) => "auth",
            VenueError::Transport(_) => "transport",
            VenueError::Decode(_) => "decode",
            VenueError::CircuitOpen { .. } => "circuit_open",
            VenueError::UnknownSymbol(_) => "unknown_symbol",
            VenueError::Unsupported(_) => "unsupported",
            VenueError::Local(_) => "local",
        }
    }

    pub fn reject_kind(&self) -> Option<RejectKind> {
        match self {
            VenueError::Rejected { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// True when the venue is unreachable or unhealthy rather than refusing this request.
    pub fn is_venue_trouble(&self) -> bool {
        matches!(
            self,
            VenueError::Unknown(_)
                | VenueError::RateLimited { .. }
                | VenueError::Transport(_)
                | VenueError::CircuitOpen { .. }
                | VenueError::Decode(_)
        )
    }
}
