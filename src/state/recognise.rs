//! Recognising a trade-engine state directory, so that a command pointed at the wrong
//! directory refuses instead of creating files there.

use std::path::Path;

/// Order journals, one file per account.
pub const JOURNAL_DIR: &str = "journal";
pub use super::lock::LOCK_FILE;
pub use super::state_id::STATE_ID_FILE;

/// Whether `dir` holds any of `journal/`, `trade-engine.lock` or `state-id`.
pub fn is_state_dir(dir: &Path) -> bool {
    dir.join(JOURNAL_DIR).is_dir()
        || dir.join(LOCK_FILE).is_file()
        || dir.join(STATE_ID_FILE).is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_marker_is_enough() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_state_dir(dir.path()));
        assert!(!is_state_dir(&dir.path().join("missing")));
        std::fs::write(dir.path().join(JOURNAL_DIR), "").unwrap();
        assert!(!is_state_dir(dir.path()), "a file named journal is not one");
        for marker in [LOCK_FILE, STATE_ID_FILE] {
            let d = tempfile::tempdir().unwrap();
            std::fs::write(d.path().join(marker), "").unwrap();
            assert!(is_state_dir(d.path()), "{marker}");
        }
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(JOURNAL_DIR)).unwrap();
        assert!(is_state_dir(d.path()));
    }
}
