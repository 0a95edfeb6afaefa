//! Bounds on what comes from outside: files are refused above a size before they are read,
//! and error messages quote at most a short excerpt of a bad value.

mod excerpt;
mod read;

pub use excerpt::{excerpt, shorten_quoted, EXCERPT_CHARS};
pub use read::{read_bounded, BoundedReadError, MAX_CONFIG_BYTES, MAX_SIGNAL_FILE_BYTES};
