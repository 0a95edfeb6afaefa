//! Loopback servers speaking each venue's wire format on top of `MockExchange`.

pub mod bitmex;
pub mod bybit;
