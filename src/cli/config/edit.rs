//! What every config tool does with its result: validate the whole set as it would be, then
//! write the changed files atomically, or write nothing.

use crate::config::{ConfigError, ConfigFile, ConfigSet, EngineConfig, ENGINE_FILE};
use rust_decimal::Decimal;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Held while a tool reads, changes and writes files of the set, so that two tools run at
/// once cannot lose one another's change. An advisory lock on the directory itself: no lock
/// file is left in the config directory.
pub struct DirLock {
    _dir: std::fs::File,
}

pub fn lock(dir: &Path) -> Result<DirLock, String> {
    let file = std::fs::File::open(dir)
        .map_err(|e| format!("{}: cannot open the config directory: {e}", dir.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DirLock { _dir: file }),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another `trade-engine config` command is changing {} right now; nothing was written, run this one again when it is done",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(format!("{}: cannot lock the config directory: {e}", dir.display()))
        }
    }
}

/// A file's new content.
pub struct Change {
    pub file: ConfigFile,
    pub text: String,
}

/// The path of one file of the set in `dir`, from `engine.json`'s `files` block. Only
/// engine.json is read, so that a tool can repair a set that is invalid today.
pub fn path_of(dir: &Path, which: ConfigFile) -> Result<PathBuf, String> {
    let engine_path = dir.join(ENGINE_FILE);
    let text = read_text(&engine_path)?.ok_or_else(|| {
        format!(
            "{}: not found; is --config-dir the config directory?",
            engine_path.display()
        )
    })?;
    let mut value: Value = crate::config::parse_json(&engine_path, &text).map_err(refused)?;
    if let Some(object) = value.as_object_mut() {
        object.remove(crate::config::SCHEMA_KEY);
    }
    let engine: EngineConfig = crate::config::from_value(&engine_path, value).map_err(refused)?;
    let name = match which {
        ConfigFile::Engine => ENGINE_FILE.to_string(),
        ConfigFile::Weights => engine.files.signal_weights,
        ConfigFile::Mapping => engine.files.asset_mapping,
        ConfigFile::Credentials => engine.files.credentials,
    };
    Ok(dir.join(name))
}

/// The file's JSON, in file order; `missing` when it does not exist.
pub fn read_value(path: &Path, missing: Value) -> Result<Value, String> {
    match read_text(path)? {
        Some(text) => crate::config::parse_json(path, &text).map_err(refused),
        None => Ok(missing),
    }
}

/// A config file's text, `None` when it does not exist; refused above the size limit of
/// every config file, like the daemon does.
fn read_text(path: &Path) -> Result<Option<String>, String> {
    use crate::input::{read_bounded, MAX_CONFIG_BYTES};
    match read_bounded(path, MAX_CONFIG_BYTES) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Pretty JSON with two-space indentation and the keys in the order they had.
pub fn to_text(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    text
}

/// A decimal as a JSON number when the number reads back as exactly the same decimal (the
/// files are meant to be edited by hand too), else as a string, which the engine reads alike.
pub fn decimal_value(d: Decimal) -> Value {
    let text = d.normalize().to_string();
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Number(n)) if Decimal::from_str(&n.to_string()).ok() == Some(d) => {
            Value::Number(n)
        }
        _ => Value::String(text),
    }
}

/// Validates the set as it would be with `changes`, then writes them. Prints the set's
/// warnings. On a refusal nothing is written and the error says so.
pub fn validate_and_write(dir: &Path, changes: &[Change]) -> Result<ConfigSet, String> {
    let replaced: Vec<(ConfigFile, String)> =
        changes.iter().map(|c| (c.file, c.text.clone())).collect();
    let set = ConfigSet::load_candidate(dir, std::env::vars().collect(), &replaced)
        .map_err(|e| format!("refused, nothing was written: the result would be invalid: {e}"))?;
    for change in changes {
        let path = set.path_of(change.file);
        let mode = matches!(change.file, ConfigFile::Credentials).then_some(0o600);
        crate::state::atomic_replace(&path, change.text.as_bytes(), mode)
            .map_err(|e| format!("cannot write: {e}"))?;
        println!("wrote {}", path.display());
    }
    for warning in &set.warnings {
        println!("warning: {warning}");
    }
    println!("config valid; a running daemon picks the change up by hot reload (its log says \"config reloaded\")");
    Ok(set)
}

fn refused(e: ConfigError) -> String {
    format!("refused, nothing was written: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn decimals_are_numbers_only_when_they_read_back_exactly() {
        assert_eq!(decimal_value(dec!(0.15)), serde_json::json!(0.15));
        assert_eq!(decimal_value(dec!(3.0)), serde_json::json!(3));
        assert_eq!(
            decimal_value(dec!(0.1234567890123456789)),
            serde_json::json!("0.1234567890123456789")
        );
    }
}
