//! Everything the daemon keeps on disk in the state directory. Every file is written whole
//! and atomically (temp file, fsync, rename, fsync of the directory), so a crash at any
//! moment leaves either the old or the new version, never a torn one.

mod atomic;
pub mod cache;
pub mod corrupt;
pub mod journal;
pub mod kill_switch;
pub mod lock;
pub mod probe;
pub mod recognise;
pub mod state_id;

#[cfg(unix)]
pub use atomic::atomic_replace;
pub use atomic::{atomic_write, atomic_write_json, read_json, StateError};
pub use cache::{ExecutionCache, SymbolState};
pub use journal::{Journal, JournalEntry, JournalStatus};
pub use kill_switch::KillSwitch;
