//! The web console on the admin listener: the page and its assets, the login and its cookie,
//! the Server-Sent Events stream, scenario runs (docs/operations.md, "The web console"). Its
//! state is [`crate::console`].
//!
//! Everything stays behind the admin guard; the page, its assets and the login are the only
//! routes it lets through without the admin token.

pub(super) mod cookie;
pub(super) mod routes;
mod stream;

/// Whether the request presented the admin token (or its cookie), or none is needed: the admin
/// guard tells the console's page, which chooses between itself and the login.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConsoleAccess {
    pub(super) authorised: bool,
}
