//! Wire types and codecs of Binance's margin listenToken user data stream.
//!
//! No sockets live here: the server encodes with these types and the client decodes with the same
//! ones, so both sides agree byte for byte. The injected [`clock`] lives here too, so a test can
//! drive a server and a client from one manual clock.

pub mod account;
pub mod clock;
pub mod decimal;
pub mod error;
pub mod events;
pub mod position;
pub mod rest;
pub mod sbe;
pub mod signature;
pub mod time;
pub mod ws;

pub use account::{Account, Scope, Uid};
pub use error::ApiError;
pub use time::TimeUnit;
