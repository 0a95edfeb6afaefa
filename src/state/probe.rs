//! Whether the state directory can be written: without it no order can be journaled, so the
//! daemon cannot trade and `/healthz` says so.

use std::io::Write;
use std::path::Path;

/// Creates, syncs and removes a small file in `dir` (never creating `dir` itself).
pub fn probe_writable(dir: &Path) -> Result<(), String> {
    let path = dir.join(format!(".write-probe.{}", std::process::id()));
    let result = std::fs::File::create(&path)
        .and_then(|mut f| f.write_all(b"probe").and_then(|()| f.sync_all()));
    let _ = std::fs::remove_file(&path);
    result.map_err(|e| format!("state directory {} is not writable: {e}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_non_directory_state_dir_is_not_writable() {
        let dir = tempfile::tempdir().unwrap();
        assert!(probe_writable(dir.path()).is_ok());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "no leftover"
        );
        let err = probe_writable(&dir.path().join("gone")).unwrap_err();
        assert!(err.contains("not writable"), "{err}");
        let file = dir.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert!(probe_writable(&file).is_err());
    }
}
