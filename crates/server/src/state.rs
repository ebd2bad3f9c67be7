//! Everything a request handler or a session may need, shared behind one `Arc`.

use crate::admission::Admission;
use crate::bus::Bus;
use crate::config::Config;
use crate::connection::Sessions;
use crate::directory::Directory;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::store::Store;
use crate::token::LiveKeyRing;
use std::sync::Arc;
use tokio::sync::watch;
use userstream_protocol::clock::SharedClock;

pub struct AppState {
    pub config: Config,
    pub clock: SharedClock,
    pub directory: Directory,
    pub keyring: LiveKeyRing,
    /// Where keys, accounts and signing keys are kept (most writes go through `directory`).
    pub store: Arc<dyn Store>,
    /// The live connections.
    pub sessions: Arc<Sessions>,
    pub hub: Arc<Hub>,
    pub bus: Arc<dyn Bus>,
    /// The margin exchange simulator, on embedded nodes unless switched off.
    pub exchange: Option<Arc<crate::exchange::Exchange>>,
    pub metrics: Arc<Metrics>,
    /// Rate limits and bans, for handshakes, WebSocket requests and SAPI requests alike.
    pub admission: Admission,
    /// Token requests made to fail by fault injection.
    pub token_failures: crate::faults::TokenFailures,
    /// Flips to `true` when the server begins a graceful shutdown.
    pub shutdown: watch::Receiver<bool>,
    /// Set while connections drain before a shutdown (`shutdown_drain_ms`).
    pub draining: std::sync::atomic::AtomicBool,
    /// The web console: its feed, its scenario runs.
    pub(crate) console: crate::console::Console,
}

pub type SharedState = Arc<AppState>;
