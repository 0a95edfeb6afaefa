//! The state id: a random value created once with the state directory and kept in it
//! (`<state_dir>/state-id`). It is mixed into every client order id, so a new state directory
//! never re-issues an id that another state directory sent to the same venue account.

use super::{atomic_write, StateError};
use rand::rngs::OsRng;
use rand::RngCore;
use std::path::{Path, PathBuf};

pub const STATE_ID_FILE: &str = "state-id";
/// Hex digits in a state id (64 random bits).
const LEN: usize = 16;

pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join(STATE_ID_FILE)
}

/// Reads the state id, creating it when the state directory has none yet. A file that exists
/// but is not a state id is an error: silently replacing it could hide a copied or damaged
/// state directory.
pub fn load_or_create(state_dir: &Path) -> Result<(String, bool), StateError> {
    let file = path(state_dir);
    match std::fs::read_to_string(&file) {
        Ok(text) => {
            let id = text.trim();
            if id.len() == LEN && id.bytes().all(|b| b.is_ascii_hexdigit()) {
                Ok((id.to_ascii_lowercase(), false))
            } else {
                Err(StateError::Corrupt {
                    file,
                    message: format!(
                        "expected {LEN} hex digits. It makes this state directory's client order ids \
                         unique; delete the file to have a new one made at the next start (safe: the \
                         order journal keeps the ids of orders already sent), or restore it from a backup"
                    ),
                })
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; LEN / 2];
            OsRng.fill_bytes(&mut bytes);
            let id = hex::encode(bytes);
            atomic_write(&file, format!("{id}\n").as_bytes())?;
            Ok((id, true))
        }
        Err(source) => Err(StateError::Io { file, source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let (id, created) = load_or_create(dir.path()).unwrap();
        assert!(created);
        assert_eq!(id.len(), LEN);
        let (again, created) = load_or_create(dir.path()).unwrap();
        assert!(!created);
        assert_eq!(again, id);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(load_or_create(other.path()).unwrap().0, id);
    }

    #[test]
    fn malformed_is_an_error_that_says_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), "not-an-id").unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("state-id"), "{err}");
        assert!(err.contains("delete the file"), "{err}");
        assert_eq!(
            std::fs::read_to_string(path(dir.path())).unwrap(),
            "not-an-id",
            "left for the operator"
        );
    }
}
