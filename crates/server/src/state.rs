//! Everything a request handler or a session may need, shared behind one `Arc`.

use crate::bus::Bus;
use crate::config::Config;
use crate::directory::Directory;
use crate::hub::Hub;
use crate::limits::{Bans, WeightWindows};
use crate::metrics::Metrics;
use crate::token::KeyRing;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::sync::watch;
use userstream_protocol::Uid;
use userstream_protocol::clock::SharedClock;

pub struct AppState {
    pub config: Config,
    pub clock: SharedClock,
    pub directory: Directory,
    pub keyring: KeyRing,
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    pub metrics: Arc<Metrics>,
    /// WebSocket API REQUEST_WEIGHT per IP.
    pub ws_weight: WeightWindows<IpAddr>,
    /// IPs banned for ignoring 429s.
    pub bans: Bans<IpAddr>,
    /// New WebSocket connections per IP.
    pub ws_connections: WeightWindows<IpAddr>,
    /// SAPI weight per UID.
    pub sapi_weight: WeightWindows<Uid>,
    /// Token requests made to fail by fault injection.
    pub token_failures: crate::faults::TokenFailures,
    /// Flips to `true` when the server begins a graceful shutdown.
    pub shutdown: watch::Receiver<bool>,
}

pub type SharedState = Arc<AppState>;
