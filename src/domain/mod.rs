//! The shared vocabulary of the engine: plain data, no I/O.

mod instrument;
mod order;
mod symbol;

pub use instrument::{ContractKind, Instrument};
pub use order::{
    AccountValue, Candle, Fill, OpenOrder, OrderAck, OrderIntent, OrderKind, OrderRequest,
    OrderStatus, Position, Quote, Side,
};
pub use symbol::Symbol;
