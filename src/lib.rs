//! trade-engine: turns weighted trading signals into positions on several venues at once.

pub mod catalog;
pub mod cli;
pub mod config;
pub mod domain;
pub mod execution;
pub mod fswatch;
pub mod input;
pub mod server;
pub mod signals;
pub mod state;
pub mod systemd;
pub mod targets;
pub mod telemetry;
#[cfg(test)]
mod test_logs;
pub mod venue;
