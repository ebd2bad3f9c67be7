//! The userstream gateway as a library.
//!
//! It issues listen tokens over REST (`POST /sapi/v1/userListenToken`), serves Binance's
//! WebSocket API (`/ws-api/v3`) on which clients subscribe with them, and fans out account events
//! published through the admin API or a [`bus::Bus`]. Start one with [`Server::bind`] and
//! [`Server::run`] (or [`Server::spawn`]).

pub mod admission;
pub mod bus;
mod cluster;
pub mod config;
pub mod connection;
pub mod console;
pub mod directory;
pub mod exchange;
pub mod faults;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod heartbeat;
mod http;
mod http_error;
pub mod hub;
pub mod intake;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod outbox;
pub mod rest_params;
mod secret;
pub mod server;
pub mod state;
pub mod store;
mod store_feed;
pub mod token;
pub mod wire;
mod ws;

pub use config::Config;
pub use server::{Backends, RunningServer, Server, ServerError};
/// Injected time lives in the protocol crate, shared with the client.
pub use userstream_protocol::clock::{Clock, ManualClock, SharedClock, SystemClock};
