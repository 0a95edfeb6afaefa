//! Execution: the pure planner, deterministic client ids, and the three-level executor
//! (accounts in parallel → symbols in parallel per account → a symbol's orders in sequence).

mod account;
pub mod client_id;
pub mod conditions;
mod cooldown;
mod engine;
pub mod flatten;
pub mod health;
mod leverage_cap;
pub mod metrics;
mod placer;
pub mod planner;
pub mod sizing;
mod symbol;
pub mod synthetic;
#[cfg(test)]
mod synthetic_tests;
#[cfg(test)]
mod tests;
mod trading_gate;

pub use conditions::Conditions;
pub use engine::{CycleInfo, Engine, EngineHandles, Metrics, VenueFactory};
