//! Code every venue folder needs and writes the same way: credential extraction, endpoint
//! resolution (live / testnet / `rest_url` override), an instrument cache with expiry,
//! string-or-number decimals and HMAC helpers. A venue folder keeps only what is its own.

pub mod cache;
pub mod candles;
pub mod confirm;
pub mod credentials;
pub mod endpoints;
pub mod hmac;
pub mod num;

pub use cache::TtlCache;
pub use confirm::StreamUp;
pub use credentials::{required, CredentialField};
pub use endpoints::{rest_url, stream_url, Endpoints};
