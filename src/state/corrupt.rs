//! Corrupt state that can be rebuilt is moved aside, not deleted (it may help find out what
//! happened) and not fatal (under `Restart=always` a refusal to start is a restart loop).

use super::StateError;
use std::path::{Path, PathBuf};

/// Renames `path` to `<name>.corrupt-<UTC timestamp>` next to it and returns the new path.
pub fn move_aside(path: &Path) -> Result<PathBuf, StateError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "state".into());
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    let aside = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    std::fs::rename(path, &aside).map_err(|source| StateError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    if let Some(dir) = path.parent().and_then(|d| std::fs::File::open(d).ok()) {
        let _ = dir.sync_all();
    }
    Ok(aside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_next_to_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        std::fs::write(&path, b"{broken").unwrap();
        let aside = move_aside(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&aside).unwrap(), b"{broken");
        let name = aside.file_name().unwrap().to_string_lossy().to_string();
        assert!(name.starts_with("x.json.corrupt-"), "{name}");
    }
}
