//! A debounced file watcher: one event per burst of changes to any of a set of files.
//!
//! Parent directories are watched rather than the files, because editors and atomic writers
//! replace a file by renaming a new one over it, which a watch on the old inode would miss.

use notify::{RecursiveMode, Watcher};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

/// Keeps the OS watcher alive; dropping it stops the events.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

/// Starts watching `files`; the receiver gets one `()` per burst, `debounce` after the last
/// change of the burst.
pub fn watch_files(
    files: &[PathBuf],
    debounce: Duration,
) -> notify::Result<(FileWatch, mpsc::Receiver<()>)> {
    let names: BTreeSet<PathBuf> = files.iter().map(|f| normalise(f)).collect();
    let dirs: BTreeSet<PathBuf> = names
        .iter()
        .filter_map(|f| f.parent().map(Path::to_path_buf))
        .collect();
    let (raw_tx, mut raw_rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| names.contains(&normalise(p))) {
            let _ = raw_tx.send(());
        }
    })?;
    for dir in &dirs {
        if dir.exists() {
            watcher.watch(dir, RecursiveMode::NonRecursive)?;
        }
    }
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        while raw_rx.recv().await.is_some() {
            // Swallow the rest of the burst.
            loop {
                match tokio::time::timeout(debounce, raw_rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    Ok((FileWatch { _watcher: watcher }, rx))
}

fn normalise(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => {
            let parent = if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            };
            std::fs::canonicalize(parent)
                .unwrap_or_else(|_| parent.to_path_buf())
                .join(name)
        }
        _ => path.to_path_buf(),
    }
}
