//! The config set as the daemon loads it: `config` parses and checks what it owns, and the
//! modules that own source kinds (`signals`) and venue kinds (`venue::registry`) check the rest.
//! Living above all three, this is what keeps `config` from importing either of them.

use crate::config::{
    AccountConfig, Checks, ConfigError, ConfigFile, ConfigSet, Credentials, Problem, SourceConfig,
};
use std::path::Path;

fn check_source(source: &SourceConfig, credentials: &Credentials) -> Result<(), Problem> {
    crate::signals::validate_source_config(source, credentials).map_err(|p| Problem {
        file: ConfigFile::Engine,
        path: String::new(),
        problem: p.problem,
        expected: p.expected,
    })
}

fn check_account(
    account: &AccountConfig,
    credentials: &Credentials,
) -> Result<Vec<String>, Problem> {
    crate::venue::registry::check_account(account, credentials)
}

/// Every check the daemon, `check` and hot reload apply.
pub const CHECKS: Checks = Checks {
    source: check_source,
    account: check_account,
};

impl ConfigSet {
    /// Loads and validates the whole set from `dir`, with environment overrides.
    pub fn load(dir: &Path) -> Result<ConfigSet, ConfigError> {
        Self::load_with_env(dir, std::env::vars().collect())
    }

    pub fn load_with_env(dir: &Path, env: Vec<(String, String)>) -> Result<ConfigSet, ConfigError> {
        ConfigSet::load_checked(dir, env, &CHECKS)
    }

    /// The set as it would be with `replaced` files holding the given text (config tools
    /// validate their result this way before writing).
    pub fn load_candidate(
        dir: &Path,
        env: Vec<(String, String)>,
        replaced: &[(ConfigFile, String)],
    ) -> Result<ConfigSet, ConfigError> {
        ConfigSet::load_candidate_checked(dir, env, replaced, &CHECKS)
    }
}
