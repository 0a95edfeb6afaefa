//! Venue kinds that configs may name before this build can trade them. Each moves into its own
//! folder (with a `KIND` of its own) when it is implemented; until then its credential fields are
//! known, so `check` finds a missing passphrase or account id up front.

use super::common::CredentialField::{AccountId, ApiKey, ApiPassphrase, ApiSecret};
use super::registry::{no_params, VenueKind};

pub const BLOFIN: VenueKind = VenueKind {
    name: "blofin",
    title: "BloFin USDT perpetuals",
    credentials: &[ApiKey, ApiSecret, ApiPassphrase],
    params: no_params,
    build: None,
};

pub const KUCOIN: VenueKind = VenueKind {
    name: "kucoin",
    title: "KuCoin Futures",
    credentials: &[ApiKey, ApiSecret, ApiPassphrase],
    params: no_params,
    build: None,
};

pub const OANDA: VenueKind = VenueKind {
    name: "oanda",
    title: "OANDA v20 (FX)",
    credentials: &[ApiKey, AccountId],
    params: no_params,
    build: None,
};
