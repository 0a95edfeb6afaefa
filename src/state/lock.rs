//! One daemon per state directory: `<state_dir>/trade-engine.lock` holds the pid of the
//! daemon and an exclusive advisory lock (`flock` on Unix, via `std::fs::File::try_lock`) for
//! the life of the process. The kernel drops the lock when the process ends, however it ends,
//! so a lock file left by a killed daemon never blocks a start.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Other commands (e.g. `halt`) recognise a state directory by this file: keep the name.
pub const LOCK_FILE: &str = "trade-engine.lock";

#[derive(Debug, Error)]
pub enum LockError {
    #[error(
        "another trade-engine (pid {pid}) is running on state directory {dir}: stop it first; \
         two daemons on one state would re-use each other's client order ids"
    )]
    Held { pid: String, dir: PathBuf },
    #[error("cannot lock {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Holds the lock until dropped (the daemon keeps it for its whole life).
#[derive(Debug)]
pub struct StateLock {
    _file: File,
}

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(LOCK_FILE)
}

impl StateLock {
    /// Takes the lock or fails at once (never waits) naming the holder's pid.
    pub fn acquire(state_dir: &Path) -> Result<StateLock, LockError> {
        let file_path = path(state_dir);
        let io = |source| LockError::Io {
            file: file_path.clone(),
            source,
        };
        // Not truncated on open: the holder's pid must stay readable for the message below.
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&file_path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let pid: String = text.trim().chars().take(20).collect();
                return Err(LockError::Held {
                    pid: if pid.is_empty() {
                        "unknown".into()
                    } else {
                        pid
                    },
                    dir: state_dir.to_path_buf(),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "{}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(StateLock { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_pid_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = StateLock::acquire(dir.path()).unwrap();
        let pid = std::process::id().to_string();
        assert_eq!(
            std::fs::read_to_string(path(dir.path())).unwrap().trim(),
            pid
        );
        // flock locks belong to the open file description, so a second open in the same
        // process conflicts just like another process would.
        let err = StateLock::acquire(dir.path()).unwrap_err();
        assert!(matches!(err, LockError::Held { .. }), "{err}");
        assert!(err.to_string().contains(&format!("pid {pid}")), "{err}");
        drop(first);
        StateLock::acquire(dir.path()).expect("free again once released");
    }

    #[test]
    fn a_leftover_lock_file_does_not_block() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "999999\n").unwrap();
        StateLock::acquire(dir.path()).expect("an unlocked file is not a running daemon");
    }
}
