//! The typed config set: `engine.json`, `signal_weights.json`, `asset_mapping.json` and
//! `credentials.json`, loaded and validated as one unit.

pub mod credentials;
pub mod engine;
mod error;
pub mod mapping;
pub mod schema;
mod validate;
mod validate_synthetics;
pub mod watch;
pub mod weights;

pub use credentials::{Credential, Credentials, Secret};
pub use engine::{
    AccountConfig, EngineConfig, RiskConfig, SimParams, SourceConfig, SyntheticConfig, SyntheticLeg,
};
pub use error::{from_value, parse_json, ConfigError};
pub use mapping::AssetMapping;
pub use weights::{SignalWeights, SymbolWeights};

use std::path::{Path, PathBuf};

pub const ENGINE_FILE: &str = "engine.json";
pub const ENV_PREFIX: &str = "TRADE_ENGINE";

/// What is wrong with one account or source, as found by the module that owns its kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The file to fix: `Engine` paths are relative to the account or source entry.
    pub file: ConfigFile,
    pub path: String,
    pub problem: String,
    pub expected: String,
}

/// The key an editor reads to find a file's JSON Schema; every object-shaped config file
/// accepts and ignores it.
pub const SCHEMA_KEY: &str = "$schema";

/// Checks that belong to other modules: a source kind's own settings (`signals`) and a venue
/// kind's params and credential fields (`venue::registry`). They are handed to the loader, so
/// that `config` imports neither (see `crate::catalog` for the set the daemon uses).
#[derive(Clone, Copy)]
pub struct Checks {
    pub source: fn(&SourceConfig, &Credentials) -> Result<(), Problem>,
    /// Warnings on success (e.g. a venue this build cannot trade yet).
    pub account: fn(&AccountConfig, &Credentials) -> Result<Vec<String>, Problem>,
}

/// A complete, validated configuration. It is immutable: a reload builds a new one and swaps
/// the `Arc` so that a cycle always sees one consistent set.
#[derive(Clone, Debug)]
pub struct ConfigSet {
    pub dir: PathBuf,
    pub engine: EngineConfig,
    pub weights: SignalWeights,
    pub mapping: AssetMapping,
    pub credentials: Credentials,
    /// Things that are allowed but probably not meant (logged once per load).
    pub warnings: Vec<String>,
}

impl ConfigSet {
    /// Loads and validates the whole set from `dir` with the environment overrides in `env`;
    /// `checks` validate what other modules own. The daemon's entry points are
    /// `ConfigSet::load`, `load_with_env` and `load_candidate` in `crate::catalog`.
    pub fn load_checked(
        dir: &Path,
        env: Vec<(String, String)>,
        checks: &Checks,
    ) -> Result<ConfigSet, ConfigError> {
        Self::load_candidate_checked(dir, env, &[], checks)
    }

    /// Loads and validates the set as it would be with `replaced` files holding the given
    /// text instead of what is on disk: a config tool checks its result this way before
    /// writing anything. Replaced files are taken as private (they are written 0600).
    pub fn load_candidate_checked(
        dir: &Path,
        env: Vec<(String, String)>,
        replaced: &[(ConfigFile, String)],
        checks: &Checks,
    ) -> Result<ConfigSet, ConfigError> {
        let replacement = |which: ConfigFile| {
            replaced
                .iter()
                .find(|(f, _)| *f == which)
                .map(|(_, text)| text.clone())
        };
        let engine_path = dir.join(ENGINE_FILE);
        let engine = load_engine(&engine_path, &env)?;

        let weights_path = dir.join(&engine.files.signal_weights);
        let weights_text = match replacement(ConfigFile::Weights) {
            Some(text) => text,
            None => read(&weights_path)?,
        };
        let weights: SignalWeights = parse_json(&weights_path, &weights_text)?;

        let mapping_path = dir.join(&engine.files.asset_mapping);
        let mapping: AssetMapping = match replacement(ConfigFile::Mapping) {
            Some(text) => parse_json(&mapping_path, &text)?,
            None if mapping_path.exists() => parse_json(&mapping_path, &read(&mapping_path)?)?,
            None => AssetMapping::default(),
        };

        let credentials_path = dir.join(&engine.files.credentials);
        let mut warnings = Vec::new();
        let credentials_text = match replacement(ConfigFile::Credentials) {
            Some(text) => Some(text),
            None if credentials_path.exists() => {
                if credentials::readable_by_others(&credentials_path) {
                    warnings.push(format!(
                        "{} is readable by group or others; run `chmod 600 {}`",
                        credentials_path.display(),
                        credentials_path.display()
                    ));
                }
                Some(read(&credentials_path)?)
            }
            None => None,
        };
        let mut credentials: Credentials = if let Some(text) = credentials_text {
            let value: serde_json::Value = parse_json(&credentials_path, &text)?;
            let (credentials, ignored) = Credentials::from_json(&value).map_err(|p| {
                ConfigError::invalid(&credentials_path, p.path, p.problem, p.expected)
            })?;
            warnings.extend(ignored);
            credentials
        } else {
            Credentials::default()
        };
        credentials.apply_env(env.into_iter());

        let set = ConfigSet {
            dir: dir.to_path_buf(),
            engine,
            weights,
            mapping,
            credentials,
            warnings,
        };
        validate::validate(set, checks)
    }

    /// Only `engine.json` (with environment overrides), unvalidated and without the other
    /// files: for commands that must work while the rest of the set is broken (`halt`).
    pub fn load_engine_only(dir: &Path) -> Result<EngineConfig, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        load_engine(&dir.join(ENGINE_FILE), &env)
    }

    /// Resolves a path from the config against the config directory.
    pub fn resolve(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.dir.join(path)
        }
    }

    pub fn path_of(&self, which: ConfigFile) -> PathBuf {
        match which {
            ConfigFile::Engine => self.dir.join(ENGINE_FILE),
            ConfigFile::Weights => self.dir.join(&self.engine.files.signal_weights),
            ConfigFile::Mapping => self.dir.join(&self.engine.files.asset_mapping),
            ConfigFile::Credentials => self.dir.join(&self.engine.files.credentials),
        }
    }

    pub fn account(&self, name: &str) -> Option<&AccountConfig> {
        self.engine.accounts.iter().find(|a| a.name == name)
    }

    /// Paths whose change means "reload the set".
    pub fn watched_files(&self) -> Vec<PathBuf> {
        [
            ConfigFile::Engine,
            ConfigFile::Weights,
            ConfigFile::Mapping,
            ConfigFile::Credentials,
        ]
        .into_iter()
        .map(|f| self.path_of(f))
        .collect()
    }

    /// A one-line description of what differs from `old`, for the reload log.
    pub fn diff_summary(&self, old: &ConfigSet) -> String {
        let mut parts = Vec::new();
        let names = |s: &ConfigSet| -> Vec<String> {
            s.engine.accounts.iter().map(|a| a.name.clone()).collect()
        };
        let (old_names, new_names) = (names(old), names(self));
        for n in new_names.iter().filter(|n| !old_names.contains(n)) {
            parts.push(format!("account {n} added"));
        }
        for n in old_names.iter().filter(|n| !new_names.contains(n)) {
            parts.push(format!("account {n} removed"));
        }
        for a in &self.engine.accounts {
            if let Some(o) = old.account(&a.name) {
                if o != a {
                    parts.push(format!("account {} changed", a.name));
                }
            }
        }
        if old.engine.sources != self.engine.sources {
            parts.push("sources changed".into());
        }
        if old.engine.synthetics != self.engine.synthetics {
            parts.push("synthetics changed".into());
        }
        if old.engine.risk != self.engine.risk {
            parts.push("risk changed".into());
        }
        if old.engine.cycle != self.engine.cycle {
            parts.push("cycle timing changed".into());
        }
        if old.engine.server != self.engine.server {
            parts.push("server.listen changed (takes effect on restart)".into());
        }
        for w in &self.weights.0 {
            match old.weights.get(&w.symbol) {
                None => parts.push(format!("weights for {} added", w.symbol)),
                Some(o) if o != w => parts.push(format!("weights for {} changed", w.symbol)),
                _ => {}
            }
        }
        for w in &old.weights.0 {
            if self.weights.get(&w.symbol).is_none() {
                parts.push(format!("weights for {} removed", w.symbol));
            }
        }
        if old.mapping != self.mapping {
            parts.push("asset mapping changed".into());
        }
        if old.credentials != self.credentials {
            parts.push("credentials changed".into());
        }
        if parts.is_empty() {
            "no effective change".into()
        } else {
            parts.join("; ")
        }
    }

    /// A multi-line human summary, printed by `trade-engine check`.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("config directory: {}\n", self.dir.display()));
        out.push_str(&format!("accounts: {}\n", self.engine.accounts.len()));
        for a in &self.engine.accounts {
            let mut flags = Vec::new();
            if !a.enabled {
                flags.push("disabled");
            }
            if a.close_only {
                flags.push("close-only");
            }
            if a.dry_run {
                flags.push("dry-run");
            }
            if a.testnet {
                flags.push("testnet");
            }
            out.push_str(&format!(
                "  {} on {}{}\n",
                a.name,
                a.venue,
                if flags.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", flags.join(", "))
                }
            ));
        }
        out.push_str(&format!("sources: {}\n", self.engine.sources.len()));
        for s in &self.engine.sources {
            out.push_str(&format!("  {} ({})\n", s.name, s.kind));
        }
        out.push_str(&format!("symbols: {}\n", self.weights.0.len()));
        for w in &self.weights.0 {
            let sources: Vec<String> = w
                .sources
                .iter()
                .map(|s| format!("{} {}", s.source, s.weight))
                .collect();
            out.push_str(&format!(
                "  {} leverage {} weights [{}]\n",
                w.symbol,
                w.leverage,
                sources.join(", ")
            ));
        }
        if !self.engine.synthetics.is_empty() {
            out.push_str(&format!("synthetics: {}\n", self.engine.synthetics.len()));
        }
        for (name, synthetic) in &self.engine.synthetics {
            let legs: Vec<String> = synthetic
                .legs
                .iter()
                .map(|l| {
                    let sign = if l.side < 0 { "short" } else { "long" };
                    format!("{sign} {} on {}", l.symbol, l.account)
                })
                .collect();
            out.push_str(&format!(
                "  {name}: {} (max unhedged {} s)\n",
                legs.join(", "),
                synthetic.max_unhedged_secs
            ));
        }
        for warning in &self.warnings {
            out.push_str(&format!("warning: {warning}\n"));
        }
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFile {
    Engine,
    Weights,
    Mapping,
    Credentials,
}

/// Reads a config file, refusing one above [`crate::input::MAX_CONFIG_BYTES`] before reading it.
fn read(path: &Path) -> Result<String, ConfigError> {
    use crate::input::{read_bounded, BoundedReadError, MAX_CONFIG_BYTES};
    read_bounded(path, MAX_CONFIG_BYTES).map_err(|e| match e {
        BoundedReadError::Io(source) => ConfigError::Read {
            file: path.to_path_buf(),
            source,
        },
        BoundedReadError::TooLarge { size, limit } => ConfigError::TooLarge {
            file: path.to_path_buf(),
            size,
            limit,
        },
    })
}

/// `engine.json` goes through the `config` crate so that any field can be overridden by
/// `TRADE_ENGINE__SECTION__FIELD`; the file is parsed by serde_json first so that syntax
/// errors carry a line and column.
fn load_engine(path: &Path, env: &[(String, String)]) -> Result<EngineConfig, ConfigError> {
    let text = read(path)?;
    let mut value: serde_json::Value = parse_json(path, &text)?;
    // The editor hint is no setting; the `config` crate would otherwise treat it as one.
    let removed = value
        .as_object_mut()
        .and_then(|object| object.remove(SCHEMA_KEY));
    let text = if removed.is_some() {
        value.to_string()
    } else {
        text
    };
    let env_source: std::collections::HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
        .cloned()
        .collect();
    let merged = config::Config::builder()
        .add_source(config::File::from_str(&text, config::FileFormat::Json))
        .add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .source(Some(env_source)),
        )
        .build()
        .map_err(|e| ConfigError::Environment(crate::input::shorten_quoted(&e.to_string())))?;
    let value: serde_json::Value = merged
        .try_deserialize()
        .map_err(|e| ConfigError::Environment(crate::input::shorten_quoted(&e.to_string())))?;
    let mut engine: EngineConfig = from_value(path, value)?;
    // Symbols are case-insensitive, and the `config` crate lower-cases map keys: synthetics
    // and their legs are kept in the upper case the target book uses.
    engine.synthetics = std::mem::take(&mut engine.synthetics)
        .into_iter()
        .map(|(name, mut synthetic)| {
            for leg in &mut synthetic.legs {
                leg.symbol = leg.symbol.trim().to_ascii_uppercase();
            }
            (name.trim().to_ascii_uppercase(), synthetic)
        })
        .collect();
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbol_map_keys_keep_their_case_and_env_overrides_apply() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(ENGINE_FILE),
            r#"{"accounts": [{"name": "m", "venue": "sim", "symbol_map": {"BTCUSD": "XBTUSD"}}],
                "cycle": {"reconcile_interval_secs": 30}}"#,
        )
        .unwrap();
        std::fs::write(dir.path().join("signal_weights.json"), "[]").unwrap();
        let env = vec![
            (
                "TRADE_ENGINE__CYCLE__RECONCILE_INTERVAL_SECS".to_string(),
                "7".to_string(),
            ),
            (
                "TRADE_ENGINE__RISK__MAX_LEVERAGE".to_string(),
                "5.5".to_string(),
            ),
        ];
        let set = ConfigSet::load_with_env(dir.path(), env).unwrap();
        assert_eq!(set.engine.cycle.reconcile_interval_secs, 7);
        assert_eq!(set.engine.risk.max_leverage, rust_decimal_macros::dec!(5.5));
        let map = &set.engine.accounts[0].symbol_map;
        assert_eq!(
            map.get("BTCUSD").map(String::as_str),
            Some("XBTUSD"),
            "{map:?}"
        );
    }
}
