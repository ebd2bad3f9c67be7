//! Injected time: the protocol crate's clock, shared with the client so tests can drive a
//! server and a client from one [`ManualClock`].

pub use userstream_protocol::clock::{Clock, ManualClock, SharedClock, Sleep, SystemClock};
