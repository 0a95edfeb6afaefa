//! The kill switch: a file in the state directory whose presence stops all new exposure
//! (reducing orders continue).
//!
//! Two names are honoured: `risk.kill_switch_file` and always the default `KILL`, so that
//! `trade-engine halt` engages the brake even when it cannot read engine.json and so does not
//! know the configured name.

use crate::config::engine::{plain_file_name, DEFAULT_KILL_SWITCH};
use std::path::{Path, PathBuf};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillSwitch {
    /// The configured file first, then the default when it differs.
    files: Vec<PathBuf>,
}

impl KillSwitch {
    /// A configured name that is not a plain file name (only possible when the config is not
    /// validated) falls back to the default.
    pub fn new(state_dir: &Path, configured: &str) -> KillSwitch {
        let mut files = Vec::new();
        if plain_file_name(configured) {
            files.push(state_dir.join(configured));
        }
        let default = state_dir.join(DEFAULT_KILL_SWITCH);
        if !files.contains(&default) {
            files.push(default);
        }
        KillSwitch { files }
    }

    /// The file `halt` writes.
    pub fn primary(&self) -> &Path {
        &self.files[0]
    }

    pub fn files(&self) -> &[PathBuf] {
        &self.files
    }

    /// The first kill switch file present, if any.
    pub fn engaged(&self) -> Option<&Path> {
        self.files
            .iter()
            .find(|f| f.symlink_metadata().is_ok())
            .map(PathBuf::as_path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_name_is_always_honoured() {
        let dir = tempfile::tempdir().unwrap();
        let ks = KillSwitch::new(dir.path(), "STOP");
        assert_eq!(ks.primary(), dir.path().join("STOP"));
        assert!(ks.engaged().is_none());
        std::fs::write(dir.path().join("KILL"), "").unwrap();
        assert_eq!(ks.engaged(), Some(dir.path().join("KILL").as_path()));
        assert_eq!(KillSwitch::new(dir.path(), "KILL").files().len(), 1);
        assert_eq!(
            KillSwitch::new(dir.path(), "../x").primary(),
            dir.path().join("KILL")
        );
    }
}
