//! Simple Binary Encoding of the user data stream: Binance's schema 3 (version 5 and the older
//! versions still served), little-endian, timestamps in microseconds, decimals as mantissa and
//! exponent.

pub mod events;
pub mod layout;
pub mod responses;
pub mod wire;

#[cfg(test)]
mod tests;
