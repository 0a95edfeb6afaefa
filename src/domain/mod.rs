//! The shared vocabulary of the engine: plain data, no I/O.

mod instrument;
mod order;
mod symbol;
mod wire;

pub use instrument::{ContractKind, Instrument};
pub use order::{
    AccountValue, Candle, Fill, MarginMode, OpenOrder, OrderAck, OrderIntent, OrderKind,
    OrderRequest, OrderStatus, Position, Quote, Side,
};
pub use symbol::Symbol;
pub use wire::write_wire_name;
