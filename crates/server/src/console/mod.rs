//! The web console, served by the admin listener at `/`: a page, its assets, a login that sets
//! a cookie, a Server-Sent Events stream of what this node delivers and of the simulator's
//! prices, and scenario runs (docs: the console spec).
//!
//! Everything stays behind the admin guard; the page, its assets and the login are the only
//! routes it lets through without the admin token.

pub(crate) mod cookie;
mod feed;
mod routes;
mod runner;
mod stream;

pub(crate) use feed::Feed;
pub(crate) use routes::{routes, security_headers, token_optional};
pub use runner::{
    ScenarioFuture, ScenarioInfo, ScenarioOutcome, ScenarioOutput, ScenarioRequest, ScenarioRunner,
};

use runner::Runs;
use std::net::SocketAddr;
use std::sync::Arc;

/// The console's share of the server's state.
pub(crate) struct Console {
    pub(crate) feed: Arc<Feed>,
    pub(crate) runs: Runs,
    /// Where the listeners are bound, for the scenario player.
    public: SocketAddr,
    admin: SocketAddr,
    tls: bool,
}

impl Console {
    pub(crate) fn new(
        feed: Arc<Feed>,
        public: SocketAddr,
        admin: SocketAddr,
        tls: bool,
    ) -> Console {
        Console {
            feed,
            runs: Runs::new(),
            public,
            admin,
            tls,
        }
    }

    /// `http(s)://address` of a listener, reached over loopback when it listens everywhere.
    fn url(&self, addr: SocketAddr) -> String {
        let mut addr = addr;
        if addr.ip().is_unspecified() {
            let loopback = match addr {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            };
            addr.set_ip(loopback);
        }
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{addr}")
    }

    pub(crate) fn public_url(&self) -> String {
        self.url(self.public)
    }

    pub(crate) fn admin_url(&self) -> String {
        self.url(self.admin)
    }

    /// The session cookie's name on this admin listener.
    pub(crate) fn cookie_name(&self) -> String {
        cookie::name(self.admin.port())
    }
}
