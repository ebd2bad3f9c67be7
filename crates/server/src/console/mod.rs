//! The web console's state: the tap on what the hub delivers and the simulator's prices, the
//! scenario runs, and where the listeners are. Its pages, login and event stream are HTTP's
//! (`http::console`; docs/operations.md, "The web console").

mod runner;
pub(crate) mod tap;

pub use runner::{
    ScenarioFuture, ScenarioInfo, ScenarioOutcome, ScenarioOutput, ScenarioRequest, ScenarioRunner,
};

pub(crate) use runner::StartError;

use runner::Runs;
use std::net::SocketAddr;
use std::sync::Arc;
use tap::Feed;

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

    /// The port the admin listener is bound to.
    pub(crate) fn admin_port(&self) -> u16 {
        self.admin.port()
    }
}
