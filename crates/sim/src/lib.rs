//! The margin exchange simulator: the margin testnet Binance never built.
//!
//! Accounts (cross and isolated), prices, orders, matching, borrowing, and the user data events
//! each of them produces, exactly as Binance sends them. It does no I/O and reads no clock: every
//! operation is given the time, so the same requests at the same times give the same events,
//! byte for byte. The server drives it; its events enter the bus like anyone else's.

pub mod feed;

/// Re-exported so the server and the CLI use the simulator's own decimal type.
pub use rust_decimal::Decimal;

pub use feed::{FeedError, RandomWalk, Recording};
