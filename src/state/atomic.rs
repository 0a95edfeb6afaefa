use std::io::Write;
use std::path::{Path, PathBuf};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("state file {file}: {source}")]
    Io {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {file} is not valid: {message}")]
    Corrupt { file: PathBuf, message: String },
}

/// Writes `bytes` to `path` so that readers see either the old or the new content.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let io = |source| StateError::Io {
        file: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    {
        let mut file = std::fs::File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename is durable only once the directory entry is on disk.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Replaces a file a person owns and edits (a config file), atomically like [`atomic_write`].
/// The new file has `mode` when given, else the old file's mode (0644 for a new file), from
/// the moment it is created, so a secret is never readable by others even briefly; and it
/// keeps the old file's owner, so a file edited as root stays readable by the daemon's user.
/// When the owner cannot be kept nothing is replaced.
#[cfg(unix)]
pub fn atomic_replace(path: &Path, bytes: &[u8], mode: Option<u32>) -> Result<(), StateError> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
    let io = |source| StateError::Io {
        file: path.to_path_buf(),
        source,
    };
    let old = std::fs::metadata(path).ok();
    let mode = mode.unwrap_or_else(|| old.as_ref().map_or(0o644, |m| m.mode() & 0o7777));
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "config".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        // The umask may have taken bits away; set exactly what was asked.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if let Some(old) = &old {
            let theirs = (old.uid(), old.gid());
            let ours = file.metadata().map(|m| (m.uid(), m.gid()))?;
            if theirs != ours {
                std::os::unix::fs::fchown(&file, Some(theirs.0), Some(theirs.1))?;
            }
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

pub fn atomic_write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), StateError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| StateError::Corrupt {
        file: path.to_path_buf(),
        message: e.to_string(),
    })?;
    atomic_write(path, &bytes)
}

/// Reads a JSON state file; `Ok(None)` when it does not exist yet.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, StateError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| StateError::Corrupt {
                file: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(StateError::Io {
            file: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        atomic_write_json(&path, &vec![1, 2, 3]).unwrap();
        atomic_write_json(&path, &vec![4]).unwrap();
        let back: Option<Vec<i32>> = read_json(&path).unwrap();
        assert_eq!(back, Some(vec![4]));
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
    }

    #[test]
    fn missing_is_none_and_garbage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.json");
        assert!(read_json::<Vec<i32>>(&path).unwrap().is_none());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            read_json::<Vec<i32>>(&path),
            Err(StateError::Corrupt { .. })
        ));
    }
}
