//! Simple Binary Encoding of the user data stream: Binance's schema 3 (version 5 and the older
//! versions still served), little-endian, timestamps in microseconds, decimals as mantissa and
//! exponent.
//!
//! - [`layout`]: where every field sits, generated from `sbe/spot-3.schema`;
//! - [`wire`]: bounds-checked reading and writing of blocks, groups and var data;
//! - [`events`]: the user data stream events (bare messages, one per binary frame);
//! - [`responses`]: the WebSocket API's `WebSocketResponse` envelope and what it carries.

pub mod events;
pub mod layout;
pub mod responses;
pub mod wire;

/// The schema id of every message here.
pub const SCHEMA_ID: u16 = layout::SCHEMA_ID;

/// The newest version of schema 3: the one `sbe/spot-3.schema` describes.
pub const LATEST_VERSION: u16 = layout::SCHEMA_VERSION;

/// The oldest version still served. As on Binance (production lifecycle of July 2026: 3:5
/// latest, 3:2 to 3:4 deprecated, 3:1 and older retired), every version below the latest is
/// deprecated: served, with `sbeSchemaIdVersionDeprecated` set.
pub const OLDEST_VERSION: u16 = 2;

/// The connection URL parameters that ask for an SBE session at `version`.
pub fn url_parameters(version: u16) -> [(&'static str, String); 3] {
    [
        ("responseFormat", "sbe".into()),
        ("sbeSchemaId", SCHEMA_ID.to_string()),
        ("sbeSchemaVersion", version.to_string()),
    ]
}

/// Whether a session may use `schema_id:version`: `Some(deprecated)` when served.
pub fn served(schema_id: u16, version: u16) -> Option<bool> {
    (schema_id == SCHEMA_ID && (OLDEST_VERSION..=LATEST_VERSION).contains(&version))
        .then_some(version < LATEST_VERSION)
}

#[cfg(test)]
mod tests;
