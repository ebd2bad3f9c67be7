//! Assembling and running the gateway: state, listeners, background tasks, shutdown.

use crate::admission::Admission;
use crate::bus::{Bus, BusError, Delivery, Interest, LocalBus};
use crate::config::{Config, HistoryConfig, NetConfig};
use crate::connection::{Sessions, SubscriptionLimits};
use crate::directory::Directory;
use crate::exchange::DemoAccount;
use crate::http;
use crate::hub::{Hub, HubSettings};
use crate::metrics::Metrics;
use crate::net::{self, ConnectionCaps, Listener, ServeSettings, Tls, TlsError};
use crate::state::{AppState, SharedState};
use crate::store::{SigningKeyRecord, SqliteStore, Store, StoreChange, StoreError};
use crate::token::{KeyRing, LiveKeyRing, SigningKey, TokenError};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use userstream_protocol::clock::SharedClock;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    // Causes are part of the messages, not also `source`s, so printed chains don't repeat them.
    #[error("token signing keys: {0}")]
    Token(TokenError),
    #[error("cannot listen on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("server I/O: {0}")]
    Io(std::io::Error),
    #[error("cluster: {0}")]
    Cluster(String),
    #[error(transparent)]
    Bus(#[from] crate::bus::BusError),
}

/// What a server keeps its state in and carries events on: embedded (SQLite and the in-process
/// bus, the default) or a cluster's.
#[non_exhaustive]
pub struct Backends {
    pub store: Arc<dyn Store>,
    pub bus: Arc<dyn Bus>,
}

impl Backends {
    pub fn new(store: Arc<dyn Store>, bus: Arc<dyn Bus>) -> Backends {
        Backends { store, bus }
    }

    /// The embedded defaults: SQLite in `config.data_dir`, the in-process bus.
    pub fn embedded(config: &Config) -> Result<Backends, ServerError> {
        let store = SqliteStore::open_in(&config.data_dir)?;
        Ok(Backends::new(Arc::new(store), Arc::new(LocalBus::new())))
    }

    /// A cluster's: JetStream KV and NATS subjects, on the NATS servers `config.nats` names.
    pub async fn cluster(config: &Config, clock: SharedClock) -> Result<Backends, ServerError> {
        crate::cluster::backends(config, clock).await
    }
}

/// A gateway bound to its ports, ready to run.
pub struct Server {
    state: SharedState,
    /// The store's change feed, followed once the server runs, and the store to read again.
    changes: tokio::sync::broadcast::Receiver<StoreChange>,
    store: Arc<dyn Store>,
    public: Listener,
    admin: Listener,
    tls: Option<Tls>,
    stop: watch::Sender<bool>,
    /// The simulator's prices and interest, started when the server runs.
    clockwork: Option<Clockwork>,
    /// Demo mode's key and accounts, funded at bind.
    demo: Option<DemoAccount>,
}

/// What moves the simulator by itself.
struct Clockwork {
    prices: crate::exchange::Prices,
    hourly_interest: bool,
    demo: Option<crate::exchange::DemoSettings>,
}

impl Server {
    /// Runs on the backends the configuration names: a cluster's when `nats.urls` is set
    /// ([`Backends::cluster`]), else the embedded ones ([`Backends::embedded`]); see
    /// [`Server::bind_with`].
    pub async fn bind(config: Config, clock: SharedClock) -> Result<Server, ServerError> {
        // Before the data directory is opened: a bad setting must not leave files behind.
        config.validate()?;
        let backends = if config.nats.enabled() {
            Backends::cluster(&config, Arc::clone(&clock)).await?
        } else {
            Backends::embedded(&config)?
        };
        Server::bind_with(config, clock, backends).await
    }

    /// Loads keys and accounts from the store, attaches the bus to this node's hub, and binds
    /// both listeners.
    pub async fn bind_with(
        config: Config,
        clock: SharedClock,
        backends: Backends,
    ) -> Result<Server, ServerError> {
        config.validate()?;
        let Backends { store, bus } = backends;
        // Before the first read: no change may fall between the two.
        let changes = store.watch();
        let (snapshot, keyring) = patiently(async || {
            let snapshot = store.load().await?;
            let keyring =
                signing_keys(&config, store.as_ref(), &snapshot.signing_keys, &clock).await?;
            Ok((snapshot, keyring))
        })
        .await?;
        let directory = Directory::from_snapshot(Arc::clone(&store), snapshot);
        let metrics = Arc::new(Metrics::new());
        let limits = SubscriptionLimits {
            max_active: config.ws.max_active_subscriptions,
            max_lifetime: config.ws.max_lifetime_subscriptions,
        };
        let sessions = Arc::new(Sessions::new(
            config.ws.outbox_bytes,
            crate::heartbeat::HeartbeatSettings::from_config(&config.ws).ping_interval_us,
            Arc::clone(&metrics),
        ));
        let interest = Arc::clone(&bus) as Arc<dyn Interest>;
        // The hub keeps a history only when it numbers events itself: a cluster's is its event
        // stream (and a node hears an account's events only while it has subscribers for it, so
        // its own would have holes).
        let epoch = bus.epoch();
        // The simulator's accounts and orders live in this node's memory: a cluster, whose
        // nodes would each keep their own, runs without it.
        let simulator = if config.sim.enabled && epoch.is_none() {
            let settings =
                crate::exchange::settings(&config).map_err(crate::config::ConfigError::Invalid)?;
            Some(settings)
        } else {
            None
        };
        let history = HistoryConfig {
            enabled: config.history.enabled && epoch.is_none(),
            ..config.history.clone()
        };
        let settings = HubSettings {
            limits,
            risk_events: config.ws.risk_events,
            history,
            outbox_bytes: config.ws.outbox_bytes,
            epoch,
        };
        let hub = Arc::new(Hub::new(
            Arc::clone(&clock),
            Arc::clone(&metrics),
            interest,
            settings,
        ));
        bus.attach(Arc::clone(&hub) as Arc<dyn Delivery>);
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
            _ => None,
        };
        let (public_caps, admin_caps) = connection_caps(&config.net, &metrics);
        let backlog = listen_backlog(config.net.listen_backlog);
        let public = Listener {
            name: "public",
            tcp: bind(config.listen, backlog)?,
            caps: public_caps,
            metrics: metrics.public.clone(),
        };
        let admin = Listener {
            name: "admin",
            tcp: bind(config.admin_listen, backlog)?,
            caps: admin_caps,
            metrics: metrics.admin.clone(),
        };
        let (stop, shutdown) = watch::channel(false);
        let (exchange, clockwork) = match simulator {
            Some(settings) => {
                let exchange = Arc::new(
                    crate::exchange::Exchange::new(
                        settings.sim,
                        Arc::clone(&bus),
                        Arc::clone(&clock),
                    )
                    .with_price_ticks(Arc::clone(hub.console_feed())),
                );
                let clockwork = Clockwork {
                    prices: settings.prices,
                    hourly_interest: settings.hourly_interest,
                    demo: settings.demo,
                };
                (Some(exchange), Some(clockwork))
            }
            None => (None, None),
        };
        if !config.admin_console {
            hub.console_feed().disable();
        }
        let console = crate::console::Console::new(
            Arc::clone(hub.console_feed()),
            public.tcp.local_addr().unwrap_or(config.listen),
            admin.tcp.local_addr().unwrap_or(config.admin_listen),
            tls.is_some(),
        );
        let state = Arc::new(AppState {
            console,
            exchange,
            admission: Admission::new(&config.limits),
            token_failures: Default::default(),
            config,
            clock,
            directory,
            keyring,
            store: Arc::clone(&store),
            sessions,
            hub,
            bus,
            metrics,
            shutdown,
            draining: Default::default(),
        });
        let demo = match (&state.exchange, clockwork.as_ref().and_then(|c| c.demo)) {
            (Some(exchange), Some(_)) => Some(
                crate::exchange::prepare_demo(
                    &state.config,
                    &state.directory,
                    exchange,
                    state.clock.now_ms(),
                )
                .await?,
            ),
            _ => None,
        };
        Ok(Server {
            state,
            changes,
            store,
            public,
            admin,
            tls,
            stop,
            clockwork,
            demo,
        })
    }

    /// Lets the web console run scenarios with `runner` (the `userstream` binary's runs
    /// `userstream play`); without one the console offers none. Scenarios trade on the
    /// simulator, so a server without one (a cluster node, `sim.enabled = false`) keeps none:
    /// a run there would only leave an API key behind.
    pub fn with_scenario_runner(self, runner: Arc<dyn crate::console::ScenarioRunner>) -> Server {
        if self.state.exchange.is_some() {
            self.state.console.runs.install(runner);
        }
        self
    }

    /// Demo mode's key and accounts (`sim.demo.enabled`), funded and about to be traded.
    pub fn demo(&self) -> Option<&DemoAccount> {
        self.demo.as_ref()
    }

    /// Where the public API (REST + WebSocket API) listens.
    pub fn public_addr(&self) -> SocketAddr {
        self.public
            .tcp
            .local_addr()
            .unwrap_or(self.state.config.listen)
    }

    /// Where the admin API listens.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin
            .tcp
            .local_addr()
            .unwrap_or(self.state.config.admin_listen)
    }

    /// The certificate in force when the listeners speak TLS, to reload it (on SIGHUP).
    pub fn tls(&self) -> Option<Tls> {
        self.tls.clone()
    }

    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// Serves until `shutdown` completes; then sends `serverShutdown` to every connection, gives
    /// them a moment to drain and close, and returns.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Server {
            state,
            changes,
            store,
            public,
            admin,
            tls,
            stop,
            clockwork,
            demo,
        } = self;
        let expiry = tokio::spawn(Arc::clone(&state.hub).run_expiry());
        let history = tokio::spawn(crate::hub::trim_history_forever(
            Arc::clone(&state.hub),
            Arc::clone(&state.clock),
        ));
        let heartbeat = tokio::spawn(crate::heartbeat::run(
            Arc::clone(&state.sessions),
            Arc::clone(&state.clock),
            crate::heartbeat::HeartbeatSettings::from_config(&state.config.ws),
        ));
        let upkeep = tokio::spawn(Arc::clone(&state.metrics).run_upkeep());
        let mut simulator = JoinSet::new();
        if let (Some(exchange), Some(clockwork)) = (&state.exchange, clockwork) {
            match (clockwork.demo, &demo) {
                (Some(settings), Some(account)) => {
                    // The demo's trader steps the walk itself, so that one seed gives one run.
                    let walk = match clockwork.prices {
                        crate::exchange::Prices::Walk {
                            seed,
                            interval_ms,
                            step,
                        } => Some(crate::exchange::DemoWalk {
                            seed,
                            interval_ms,
                            step,
                        }),
                        prices => {
                            simulator.spawn(crate::exchange::run_price_feed(
                                Arc::clone(exchange),
                                prices,
                            ));
                            None
                        }
                    };
                    simulator.spawn(crate::exchange::run_trader(
                        Arc::clone(exchange),
                        account.uid,
                        settings.seed,
                        settings.trader_interval_ms,
                        walk,
                    ));
                }
                _ => {
                    simulator.spawn(crate::exchange::run_price_feed(
                        Arc::clone(exchange),
                        clockwork.prices,
                    ));
                }
            }
            if clockwork.hourly_interest {
                simulator.spawn(crate::exchange::run_hourly_interest(Arc::clone(exchange)));
            }
        }
        let store_feed = tokio::spawn(crate::store_feed::follow(
            changes,
            Arc::clone(&state),
            store,
        ));
        let settings = ServeSettings {
            header_timeout: Duration::from_millis(state.config.net.header_timeout_ms),
            tls,
        };
        let (public_caps, admin_caps) = (Arc::clone(&public.caps), Arc::clone(&admin.caps));
        let public_task = tokio::spawn(net::serve(
            public,
            http::public_router(Arc::clone(&state)),
            settings.clone(),
            state.shutdown.clone(),
        ));
        let admin_task = tokio::spawn(net::serve(
            admin,
            http::admin_router(Arc::clone(&state)),
            settings,
            state.shutdown.clone(),
        ));
        shutdown.await;
        drain(&state).await;
        // Sessions see this, send serverShutdown and close with 1001; listeners stop accepting.
        let sessions = state.sessions.count();
        tracing::info!(sessions, "shutting down");
        let _ = stop.send(true);
        let grace = Duration::from_millis(state.config.shutdown_grace_ms);
        // The HTTP connections still open, per listener.
        let mut connections: Vec<JoinSet<()>> = Vec::new();
        for task in [public_task, admin_task] {
            if let Ok(open) = task.await {
                connections.push(open);
            }
        }
        let open = || public_caps.open() + admin_caps.open();
        let drained = tokio::time::timeout(grace, async {
            for open in &mut connections {
                while open.join_next().await.is_some() {}
            }
            // Upgraded WebSocket connections hold their place under the caps until they close.
            while state.sessions.count() > 0 || open() > 0 {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = open(),
                sessions = state.sessions.count(),
                "connections still open after the grace period; exiting anyway"
            );
        }
        // Nothing this server started outlives `run`: what still holds the state (and with it
        // the data directory's lock) is stopped and waited for.
        for open in &mut connections {
            open.shutdown().await;
        }
        for task in [expiry, history, heartbeat, upkeep, store_feed] {
            task.abort();
            let _ = task.await;
        }
        simulator.shutdown().await;
        Ok(())
    }

    /// Runs the server on a background task; for tests and embedding.
    pub fn spawn(self) -> RunningServer {
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let public_addr = self.public_addr();
        let admin_addr = self.admin_addr();
        let state = Arc::clone(&self.state);
        let demo = self.demo.clone();
        let task = tokio::spawn(self.run(async move {
            let _ = triggered.await;
        }));
        RunningServer {
            public_addr,
            admin_addr,
            state,
            demo,
            trigger: Some(trigger),
            task,
        }
    }
}

/// A server running on a background task.
pub struct RunningServer {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub state: SharedState,
    /// Demo mode's key and accounts, as [`Server::demo`].
    pub demo: Option<DemoAccount>,
    trigger: Option<tokio::sync::oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Shuts down gracefully and waits for the server to finish.
    pub async fn shutdown(mut self) -> Result<(), ServerError> {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(join) => Err(ServerError::Io(std::io::Error::other(join))),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if self.trigger.is_some() {
            self.task.abort();
        }
    }
}

/// With `shutdown_drain_ms`: every connection is told `serverShutdown` now and keeps streaming
/// until its client leaves or the drain is over, so that clients move to another node without a
/// gap; `/healthz` says so meanwhile, for the load balancer.
async fn drain(state: &AppState) {
    let drain = Duration::from_millis(state.config.shutdown_drain_ms);
    if drain.is_zero() {
        return;
    }
    state
        .draining
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let sessions = state.sessions.all();
    tracing::info!(
        sessions = sessions.len(),
        ?drain,
        "draining before shutdown"
    );
    for session in sessions {
        if session.first_shutdown_notice() {
            session
                .outbox
                .push(state.hub.shutdown_frame(session.format));
        }
    }
    let left = tokio::time::timeout(drain, async {
        while state.sessions.count() > 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    if left.is_ok() {
        tracing::info!("every connection left during the drain");
    }
}

/// A listening socket with `backlog` (the standard library's bind always asks for 128).
fn bind(addr: SocketAddr, backlog: u32) -> Result<TcpListener, ServerError> {
    let failed = |error| ServerError::Bind { addr, error };
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(failed)?;
    // As std's bind does: a restarted server rebinds at once, past connections in TIME_WAIT.
    socket.set_reuseaddr(true).map_err(failed)?;
    socket.bind(addr).map_err(failed)?;
    socket.listen(backlog).map_err(failed)
}

/// The listen backlog: as configured, or the system's maximum (the kernel caps any larger value
/// at `net.core.somaxconn` anyway, so reading it only makes the figure in the log true).
fn listen_backlog(configured: u32) -> u32 {
    if configured > 0 {
        return configured;
    }
    let system = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(4096);
    tracing::info!(backlog = system, "listen backlog: the system's maximum");
    system
}

/// Descriptors kept back from the public listener when its cap is derived from the process
/// limit: the admin listener's share, plus the store, the listeners and the runtime's own.
const RESERVED_DESCRIPTORS: usize = 64;

/// The caps of both listeners. With `net.max_connections = 0` the public listener may take the
/// process's descriptors less a reserve, so running out of descriptors refuses strangers
/// cleanly instead of failing `accept` on both listeners.
fn connection_caps(
    net: &NetConfig,
    metrics: &Metrics,
) -> (Arc<ConnectionCaps>, Arc<ConnectionCaps>) {
    let (mut public_max, mut admin_max) = (net.max_connections, net.admin_max_connections);
    let descriptors = rlimit::getrlimit(rlimit::Resource::NOFILE)
        .map(|(soft, _)| usize::try_from(soft).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    if public_max == 0 {
        // A small limit (`ulimit -n 64`) still leaves the admin listener a few places.
        let most = admin_max.saturating_add(RESERVED_DESCRIPTORS).max(32);
        let reserve = (descriptors / 8).clamp(32, most);
        admin_max = admin_max.min(reserve - 16);
        public_max = descriptors.saturating_sub(reserve).max(1);
    }
    tracing::info!(
        descriptors,
        public = public_max,
        public_per_client = net.max_connections_per_ip,
        admin = admin_max,
        "connection caps"
    );
    (
        ConnectionCaps::new(
            public_max,
            net.max_connections_per_ip,
            metrics.public.open.clone(),
        ),
        ConnectionCaps::new(admin_max, admin_max, metrics.admin.open.clone()),
    )
}

/// How long a starting server waits for a store or an event stream that answers "unavailable"
/// (a cluster that is starting too, and electing its leaders).
const STORE_PATIENCE: Duration = Duration::from_secs(30);

/// Runs `attempt` again while the store or the bus is unavailable, for [`STORE_PATIENCE`] at
/// most.
pub(crate) async fn patiently<T>(
    mut attempt: impl AsyncFnMut() -> Result<T, ServerError>,
) -> Result<T, ServerError> {
    let give_up = tokio::time::Instant::now() + STORE_PATIENCE;
    loop {
        match attempt().await {
            Err(
                ServerError::Store(StoreError::Unavailable(why))
                | ServerError::Bus(BusError::Unavailable(why)),
            ) if tokio::time::Instant::now() < give_up => {
                tracing::warn!(%why, "the store is not ready; trying again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

/// The token key ring: from config when given, else the store's (one is made on first start).
async fn signing_keys(
    config: &Config,
    store: &dyn Store,
    stored: &[SigningKeyRecord],
    clock: &SharedClock,
) -> Result<LiveKeyRing, ServerError> {
    let parse = |text: &str| SigningKey::parse_config_string(text).map_err(ServerError::Token);
    let configured = &config.token.signing_keys;
    if !configured.is_empty() {
        let keys = configured
            .iter()
            .map(|text| parse(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ring = KeyRing::new(keys).map_err(ServerError::Token)?;
        if let Some(kid) = config.token.active_kid {
            ring = ring.with_active_kid(kid).map_err(ServerError::Token)?;
        }
        return Ok(LiveKeyRing::configured(ring, Arc::clone(clock)));
    }
    let mut records = stored.to_vec();
    if records.is_empty() {
        let key = SigningKey::generate(1);
        let record = SigningKeyRecord::new(key.to_config_string(), 0);
        match store.add_signing_key(&record).await {
            Ok(()) => {
                tracing::info!(kid = key.kid, "generated a token signing key");
                records.push(record);
            }
            // Another node of the cluster made the first key at the same moment: use theirs.
            Err(StoreError::Conflict(_)) => records = store.load().await?.signing_keys,
            Err(error) => return Err(error.into()),
        }
    }
    let keys = records
        .iter()
        .map(|record| parse(&record.key))
        .collect::<Result<Vec<_>, _>>()?;
    let activations: Vec<(u32, i64)> = keys
        .iter()
        .zip(&records)
        .map(|(key, record)| (key.kid, record.active_from_ms))
        .collect();
    let ring = KeyRing::new(keys).map_err(ServerError::Token)?;
    Ok(LiveKeyRing::following_store(
        ring,
        activations,
        Arc::clone(clock),
    ))
}
