//! Reading a file with a size cap checked before any byte is read into memory.

use std::io::Read;
use std::path::Path;
use thiserror::Error;

/// Config files are a few KiB; 500 weighted symbols are under 100 KiB.
pub const MAX_CONFIG_BYTES: u64 = 1024 * 1024;
/// A signal file of 10,000 symbols is about 400 KiB.
pub const MAX_SIGNAL_FILE_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Error)]
pub enum BoundedReadError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{size} bytes is over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
}

impl BoundedReadError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, BoundedReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound)
    }
}

/// Reads `path` as UTF-8 text if it is at most `limit` bytes. The size is checked on the
/// open file (so a swapped file cannot slip past), and the read itself stops one byte past
/// the limit in case the file grows meanwhile.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, BoundedReadError> {
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    if size > limit {
        return Err(BoundedReadError::TooLarge { size, limit });
    }
    let mut text = String::with_capacity(size as usize);
    file.take(limit.saturating_add(1))
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(BoundedReadError::TooLarge {
            size: text.len() as u64,
            limit,
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_above_the_limit_and_reads_below() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.json");
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let err = read_bounded(&path, 100).unwrap_err();
        assert_eq!(err.to_string(), "101 bytes is over the limit of 100 bytes");
        assert_eq!(read_bounded(&path, 101).unwrap().len(), 101);
        assert_eq!(read_bounded(&path, u64::MAX).unwrap().len(), 101);
        assert!(read_bounded(&dir.path().join("none"), 100)
            .unwrap_err()
            .is_not_found());
    }
}
