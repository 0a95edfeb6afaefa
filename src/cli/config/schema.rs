//! `config schema [--write]`: the JSON Schemas of the config files.

use crate::config::schema;
use std::path::Path;

/// Writes every schema into `dir`, or (without `write`) says which differ from the types.
pub fn run(dir: &Path, write: bool) -> Result<(), String> {
    let mut stale = Vec::new();
    for (name, text) in schema::all() {
        let path = dir.join(name);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == text {
            println!("{} is current", path.display());
            continue;
        }
        if write {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            crate::state::atomic_replace(&path, text.as_bytes(), None)
                .map_err(|e| format!("cannot write: {e}"))?;
            println!("wrote {}", path.display());
        } else {
            stale.push(path.display().to_string());
        }
    }
    if stale.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "out of date: {}; run `trade-engine config schema --write` (in the repository: `{}`)",
            stale.join(", "),
            schema::REGENERATE
        ))
    }
}
