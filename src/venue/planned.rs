//! Venue kinds that configs may name before this build can trade them. Each moves into its own
//! folder (with a `KIND` of its own) when it is implemented; until then its credential fields are
//! known, so `check` finds a missing passphrase or account id up front.

use super::common::CredentialField::{ApiKey, ApiSecret};
use super::registry::{no_params, VenueKind};

pub const MEXC: VenueKind = VenueKind {
    name: "mexc",
    title: "MEXC Futures",
    credentials: &[ApiKey, ApiSecret],
    params: no_params,
    build: None,
};
