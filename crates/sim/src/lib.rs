//! The margin exchange simulator: the margin testnet Binance never built.
//!
//! Accounts (cross and isolated), prices, orders, matching, borrowing, and the user data events
//! each of them produces, exactly as Binance sends them. It does no I/O and reads no clock: every
//! operation is given the time, so the same requests at the same times give the same events,
//! byte for byte. The server drives it; its events enter the bus like anyone else's.
//!
//! The model, every choice where Binance documents nothing, and the error codes are described
//! in `docs/simulator.md`.

mod cancel;
mod config;
mod engine;
mod error;
mod events;
pub mod feed;
mod fills;
mod funds;
mod ledger;
mod margin;
mod matching;
mod num;
mod oco;
mod order;
mod requests;
mod views;

pub use config::{MAX_PRICE, SimConfig, SymbolRules, default_symbols};
pub use engine::{
    AccountEvent, BorrowRepay, Canceled, HistoryQuery, OcoRequest, OrderRef, OrderRequest,
    SideEffect, Simulator,
};
pub use error::SimError;
pub use feed::{FeedError, RandomWalk, Recording};
pub use funds::HOUR_US;
/// Re-exported so the server and the CLI use the simulator's own decimal type.
pub use rust_decimal::Decimal;
