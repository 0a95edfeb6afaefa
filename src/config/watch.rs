//! Hot reload: a changed file (or SIGHUP) reloads the whole set; a valid set is swapped in
//! atomically, an invalid one is refused and the last good set stays in force.

use super::{ConfigError, ConfigFile, ConfigSet};
use crate::execution::Metrics;
use crate::fswatch::watch_files;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// Spawns the reload loop. `force` carries SIGHUP (or any other explicit request).
pub fn spawn_reloader(
    initial: Arc<ConfigSet>,
    mut force: mpsc::Receiver<()>,
    metrics: Arc<Metrics>,
) -> watch::Receiver<Arc<ConfigSet>> {
    let (tx, rx) = watch::channel(initial.clone());
    tokio::spawn(async move {
        let debounce = Duration::from_millis(initial.engine.cycle.debounce_ms.max(20));
        let mut mapping_present = initial.path_of(ConfigFile::Mapping).exists();
        let (mut _guard, mut changes) = match watch_files(&initial.watched_files(), debounce) {
            Ok((g, c)) => (Some(g), c),
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch config files; reload with SIGHUP only");
                (None, mpsc::channel(1).1)
            }
        };
        loop {
            let reason = tokio::select! {
                Some(()) = changes.recv() => "file change",
                Some(()) = force.recv() => "reload request",
                else => return,
            };
            let current = tx.borrow().clone();
            let dir = current.dir.clone();
            let had_mapping = mapping_present;
            let loaded = tokio::task::spawn_blocking(move || {
                let set = ConfigSet::load(&dir)?;
                refuse_deleted_mapping(had_mapping, &set)?;
                Ok::<_, ConfigError>(set)
            })
            .await;
            match loaded {
                Ok(Ok(new)) => {
                    metrics.config_reload("ok");
                    mapping_present = new.path_of(ConfigFile::Mapping).exists();
                    let summary = new.diff_summary(&current);
                    for w in &new.warnings {
                        tracing::warn!(warning = %w, "config warning");
                    }
                    let files_changed = new.watched_files() != current.watched_files();
                    if summary == "no effective change" {
                        tracing::debug!(reason, "config reloaded, nothing changed");
                        continue;
                    }
                    tracing::info!(reason, changes = %summary, "config reloaded");
                    let new = Arc::new(new);
                    if files_changed {
                        if let Ok((g, c)) = watch_files(&new.watched_files(), debounce) {
                            _guard = Some(g);
                            changes = c;
                        }
                    }
                    if tx.send(new).is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => {
                    metrics.config_reload("refused");
                    tracing::error!(reason, error = %e, "config refused; the last good config stays in force");
                }
                Err(e) => tracing::error!(error = %e, "config reload task failed"),
            }
        }
    });
    rx
}

/// A mapping file that was there at the last good load and is gone now was deleted (or is
/// mid-way through an editor's save): refused like any invalid set, because no mapping means
/// every source passes its symbols through unmapped. `{}` is how to map nothing.
fn refuse_deleted_mapping(had_mapping: bool, set: &ConfigSet) -> Result<(), ConfigError> {
    let file = set.path_of(ConfigFile::Mapping);
    if had_mapping && !file.exists() {
        return Err(ConfigError::MappingDeleted { file });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deleted_mapping_is_refused_but_a_never_present_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("engine.json"), "{}").unwrap();
        std::fs::write(dir.path().join("signal_weights.json"), "[]").unwrap();
        let set = ConfigSet::load_with_env(dir.path(), vec![]).unwrap();
        assert!(refuse_deleted_mapping(false, &set).is_ok());
        let err = refuse_deleted_mapping(true, &set).unwrap_err().to_string();
        assert!(err.contains("asset_mapping.json was deleted"), "{err}");
        std::fs::write(dir.path().join("asset_mapping.json"), "{}").unwrap();
        assert!(refuse_deleted_mapping(true, &set).is_ok());
    }
}
