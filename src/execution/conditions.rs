//! Daemon-wide conditions that stop trading whatever the accounts do: the kill switch and a
//! state directory that cannot be written. The engine checks them at every cycle, and at once
//! when a kill switch file appears or goes; `/status` and `/healthz` read them from here.

use crate::config::ConfigSet;
use crate::fswatch::{watch_files, FileWatch};
use crate::state::KillSwitch;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Conditions {
    /// The kill switch file present at the last check.
    pub kill_switch: Option<PathBuf>,
    /// Why the state directory could not be written at the last check.
    pub state_dir_error: Option<String>,
}

impl Conditions {
    /// Logs what changed from `old`, so that halt and resume leave a trace in the log.
    pub fn log_changes(&self, old: &Conditions) {
        match (&old.kill_switch, &self.kill_switch) {
            (None, Some(file)) => tracing::warn!(
                file = %file.display(),
                "kill switch engaged: no new exposure, reducing orders continue"
            ),
            (Some(file), None) => {
                tracing::info!(file = %file.display(), "kill switch removed: trading resumes")
            }
            _ => {}
        }
        match (&old.state_dir_error, &self.state_dir_error) {
            (_, Some(e)) if old.state_dir_error.as_ref() != Some(e) => {
                tracing::error!(error = %e, "cannot write the state directory: no order can be journaled")
            }
            (Some(_), None) => tracing::info!("state directory writable again"),
            _ => {}
        }
    }
}

/// Watches the kill switch files so that `halt` and `resume` take effect within one debounce
/// rather than at the next reconcile.
pub struct KillSwitchWatch {
    switch: Option<KillSwitch>,
    _guard: Option<FileWatch>,
    changes: mpsc::Receiver<()>,
}

impl Default for KillSwitchWatch {
    fn default() -> KillSwitchWatch {
        KillSwitchWatch {
            switch: None,
            _guard: None,
            changes: mpsc::channel(1).1,
        }
    }
}

impl KillSwitchWatch {
    /// (Re)starts the watch when the configured file name changed.
    pub fn follow(&mut self, state_dir: &Path, cfg: &ConfigSet) {
        let switch = KillSwitch::new(state_dir, &cfg.engine.risk.kill_switch_file);
        if self.switch.as_ref() == Some(&switch) {
            return;
        }
        let debounce = Duration::from_millis(cfg.engine.cycle.debounce_ms.max(20));
        match watch_files(switch.files(), debounce) {
            Ok((guard, changes)) => {
                self._guard = Some(guard);
                self.changes = changes;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch the kill switch file; it is checked at every cycle");
                self._guard = None;
                self.changes = mpsc::channel(1).1;
            }
        }
        self.switch = Some(switch);
    }

    /// Resolves on a change of a kill switch file; `None` when not watching.
    pub async fn changed(&mut self) -> Option<()> {
        self.changes.recv().await
    }
}
