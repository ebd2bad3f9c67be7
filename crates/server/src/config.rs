//! Server configuration: built-in defaults, then a TOML file, then `USERSTREAM_*` variables.
//!
//! Every number has Binance's value as its default, so `userstream serve` with no arguments
//! behaves like the real service. Nested settings map to variables with a double underscore:
//! `ws.max_frame_bytes` is `USERSTREAM_WS__MAX_FRAME_BYTES`.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Longest listen token validity Binance allows: 24 hours.
pub const MAX_TOKEN_VALIDITY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Public API: REST endpoints and the WebSocket API.
    pub listen: SocketAddr,
    /// Admin API: keys, accounts, event publishing, health, metrics. Keep it private.
    pub admin_listen: SocketAddr,
    /// Where the SQLite store lives.
    pub data_dir: PathBuf,
    /// When set, admin requests need `Authorization: Bearer <admin_token>`. Required when
    /// `admin_listen` is not a loopback address.
    #[serde(deserialize_with = "text_or_number", default)]
    pub admin_token: Option<String>,
    /// Host names the admin API answers to, besides loopback names and its own address
    /// (a request naming any other `Host` is refused, against DNS rebinding).
    pub admin_allowed_hosts: Vec<String>,
    /// Origins (`scheme://host:port`) whose browser requests the admin API accepts, besides
    /// its own. Cross-origin requests are refused otherwise.
    pub admin_allowed_origins: Vec<String>,
    /// The web console at `/` on the admin listener, and the tap that feeds it (a short lock
    /// per event on the publish path). Off: no console routes, no tap.
    pub admin_console: bool,
    /// PEM certificate chain; with `tls_key`, both listeners speak TLS (`https`, `wss`).
    /// Reloaded on SIGHUP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// How long connections get, at shutdown, to receive `serverShutdown` and close before the
    /// process exits anyway.
    pub shutdown_grace_ms: u64,
    /// At shutdown, before that: every connection is sent `serverShutdown` and keeps streaming
    /// for up to this long (less when every client has left), so that a client can move to
    /// another node and subscribe there before this one closes (make-before-break across a
    /// rolling restart). `/healthz` answers 503 meanwhile. 0: close right after `serverShutdown`.
    pub shutdown_drain_ms: u64,
    /// Margin pairs that exist (`exchangeInfo`, isolated accounts, `symbol` checks).
    pub symbols: Vec<SymbolConfig>,
    pub token: TokenConfig,
    pub ws: WsConfig,
    pub limits: LimitsConfig,
    pub net: NetConfig,
    /// Recent events per account, for connections that resume (`streamPositions=true`).
    pub history: HistoryConfig,
    /// Cluster mode: nodes share keys, accounts and events through NATS with JetStream.
    pub nats: NatsConfig,
    /// The margin exchange simulator: Binance's margin trading API, and the events it makes.
    pub sim: SimulatorConfig,
}

/// The margin exchange simulator (docs/simulator.md). It runs on embedded nodes only: its
/// accounts and orders live in the node's memory, so a cluster leaves it off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimulatorConfig {
    /// Serve `/sapi/v1/margin/...` trading and the admin API's prices, orders and accounts.
    pub enabled: bool,
    /// Where prices come from besides the admin API: `manual` (only by hand), `walk` (a seeded
    /// random walk), or `replay` (the recorded files in `replay`).
    pub prices: PriceSource,
    /// The random walk's seed: the same seed and the same requests give the same events.
    pub seed: u64,
    /// Time between two steps of the walk.
    pub walk_interval_ms: u64,
    /// Largest relative move of one step, as a decimal (`"0.001"`: 0.1 %).
    pub walk_step: String,
    /// Recorded prices to replay, one file per symbol, in the CSV format of Binance's public
    /// trade and kline dumps. A recording plays in a loop.
    pub replay: Vec<ReplayFile>,
    /// Replay speed: 1 plays at the recorded pace, 10 ten times faster.
    pub replay_speed: u32,
    /// Commission rates as decimals (`"0.001"`: 0.1 %).
    pub maker_commission: String,
    pub taker_commission: String,
    /// Charge interest on borrowed assets every hour, as Binance does.
    pub hourly_interest: bool,
    /// Demo mode (`userstream serve --demo`): a demo key with funded accounts and a background
    /// trader that keeps them busy.
    pub demo: DemoConfig,
}

/// Demo mode (docs/simulator.md, "Demo mode"): on start, the API key labelled `demo` (made on
/// first start) gets its cross account and two isolated pairs funded, and a trader acting on
/// them every `trader_interval_ms`. Unless `sim.prices` says `walk` or `replay`, prices walk,
/// seeded with `seed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DemoConfig {
    pub enabled: bool,
    /// Seeds the trader's choices and, unless `sim.prices` is set to a source, the price walk:
    /// the same seed gives the same run.
    pub seed: u64,
    /// Time between two of the trader's actions.
    pub trader_interval_ms: u64,
}

impl Default for DemoConfig {
    fn default() -> Self {
        DemoConfig {
            enabled: false,
            seed: 1,
            trader_interval_ms: 3_000,
        }
    }
}

/// A price source of the simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum PriceSource {
    Manual,
    Walk,
    Replay,
}

/// One recorded file to replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    pub symbol: String,
    pub file: PathBuf,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            enabled: true,
            prices: PriceSource::Manual,
            seed: 1,
            walk_interval_ms: 1_000,
            walk_step: "0.001".into(),
            replay: Vec::new(),
            replay_speed: 1,
            maker_commission: "0.001".into(),
            taker_commission: "0.001".into(),
            hourly_interest: true,
            demo: DemoConfig::default(),
        }
    }
}

/// Where a cluster's NATS is, and how to reach it. With no `urls` (the default) the server
/// runs embedded: SQLite and the in-process bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatsConfig {
    /// NATS servers, `nats://host:4222` (or `tls://`); the client moves between them.
    pub urls: Vec<String>,
    /// A `.creds` file (user JWT and NKey seed).
    pub creds_file: Option<PathBuf>,
    /// User and password, when the servers use them.
    pub user: Option<String>,
    #[serde(deserialize_with = "text_or_number", default)]
    pub password: Option<String>,
    /// A token, when the servers use one.
    #[serde(deserialize_with = "text_or_number", default)]
    pub token: Option<String>,
    /// PEM root certificates to trust for the servers' TLS (besides the system's).
    pub tls_ca: Option<PathBuf>,
    /// PEM client certificate and key, for servers that verify clients.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Refuse to talk to NATS without TLS.
    pub tls_required: bool,
    /// The JetStream key-value bucket that holds keys, accounts and signing keys.
    pub kv_bucket: String,
    /// Copies of the bucket JetStream keeps when this node creates it (3 on a 3-server
    /// cluster survives the loss of one).
    pub kv_replicas: usize,
    /// The JetStream stream that keeps every account's events (the history resume and
    /// catch-up read); its limits are `[history]`'s age and bytes.
    pub events_stream: String,
    /// `/healthz` reports the node unhealthy once NATS has been out of reach this long.
    pub unhealthy_after_ms: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        NatsConfig {
            urls: Vec::new(),
            creds_file: None,
            user: None,
            password: None,
            token: None,
            tls_ca: None,
            tls_cert: None,
            tls_key: None,
            tls_required: false,
            kv_bucket: "userstream".into(),
            kv_replicas: 1,
            events_stream: "USERSTREAM_EVENTS".into(),
            unhealthy_after_ms: 5_000,
        }
    }
}

impl NatsConfig {
    /// Cluster mode is on.
    pub fn enabled(&self) -> bool {
        !self.urls.is_empty()
    }
}

/// What a stranger may hold open on either listener, and for how long.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetConfig {
    /// Time a client gets to send a complete request head (and, with TLS, to finish the
    /// handshake); also the longest a connection may sit idle between requests before it
    /// upgrades to a WebSocket.
    pub header_timeout_ms: u64,
    /// Time a request's body gets to arrive whole (the answer is not timed).
    pub request_timeout_ms: u64,
    /// Open TCP connections per client address on the public listener (IPv6 counted per /64);
    /// by default Binance's allowance of new connections per 5 minutes.
    pub max_connections_per_ip: usize,
    /// Open TCP connections on the public listener. 0: the process's descriptor limit less a
    /// reserve for the admin listener and the store.
    pub max_connections: usize,
    /// Open TCP connections on the admin listener, kept apart so it answers while the public
    /// listener is saturated.
    pub admin_max_connections: usize,
    /// Connections the kernel may hold completed but not yet accepted, per listener. 0: the
    /// system's maximum (`net.core.somaxconn`), so a reconnect storm after a restart or a
    /// failover queues instead of losing SYNs (each lost one costs its client a 1 s retry).
    pub listen_backlog: u32,
}

/// One tradable margin pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymbolConfig {
    pub symbol: String,
    pub base: String,
    pub quote: String,
    /// The simulator's starting price (decimal text); default: the simulator's own for the
    /// pairs it knows, else required when the simulator runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<String>,
    /// The simulator's filters (`exchangeInfo`'s PRICE_FILTER, LOT_SIZE and NOTIONAL), as
    /// decimal text; each defaults to one derived from the price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tick_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notional: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TokenConfig {
    /// Validity when the request names none, in milliseconds.
    pub default_validity_ms: i64,
    /// Longest validity a request may ask for, in milliseconds.
    pub max_validity_ms: i64,
    /// Token encryption keys as `kid:base64`. Empty: keys are generated and kept in the store.
    /// Nodes of one cluster share these; the highest kid signs, every listed key verifies.
    pub signing_keys: Vec<String>,
    /// The kid that signs new tokens; default the highest. Roll a new key out to every node
    /// first with the old kid still active, then switch, so no node meets a kid it lacks.
    pub active_kid: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WsConfig {
    /// Active subscriptions one connection may hold.
    pub max_active_subscriptions: usize,
    /// Subscription ids one connection may use over its life.
    pub max_lifetime_subscriptions: u32,
    /// Largest frame or message a client may send; larger closes with 1009.
    pub max_frame_bytes: usize,
    /// Bytes of outgoing frames one connection may have queued before it is cut off as a
    /// slow consumer.
    pub outbox_bytes: usize,
    /// WebSocket read buffer per connection. Clients send only small requests, and every idle
    /// connection keeps this much allocated (measured: 4 KiB → 9.7 KiB per idle connection,
    /// 512 B → 6.1 KiB).
    pub read_buffer_bytes: usize,
    /// Socket write buffer per connection (frames are coalesced into it).
    pub write_buffer_bytes: usize,
    /// Deliver the margin risk events (`MARGIN_LEVEL_STATUS_CHANGE`, `USER_LIABILITY_CHANGE`).
    pub risk_events: bool,
    /// Accept SBE sessions (`responseFormat=sbe`); when off they are refused with -1155.
    pub sbe_enabled: bool,
    /// The server pings every connection this often.
    pub ping_interval_ms: u64,
    /// A connection that has not answered a ping with a pong for this long is closed. At least
    /// `ping_interval_ms` + `MIN_PONG_SLACK_MS`, or healthy connections would be.
    pub pong_timeout_ms: u64,
    /// A connection is closed when it reaches this age.
    pub max_connection_lifetime_ms: u64,
    /// A write that cannot complete in this long (the client's receive window stays shut) ends
    /// the connection as a slow consumer.
    pub write_timeout_ms: u64,
    /// Once frames pile up for a connection (a write carried more than one), its next write
    /// waits this long, so that frames arriving meanwhile leave together: fewer, larger writes
    /// under load, for at most this much extra latency. A connection written one frame at a
    /// time never waits. 0 (the default) writes whatever is queued as soon as the connection's
    /// task runs: a trader waits on every `executionReport`.
    pub write_coalesce_ms: u64,
}

/// The event history kept for resume (embedded mode: in memory; a restart starts a new epoch).
/// An event leaves its account's history when any limit is reached, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Keep a history at all. Off: every resume fails with `HISTORY_DISABLED`.
    pub enabled: bool,
    /// Events kept per account.
    pub max_events_per_account: usize,
    /// Bytes kept per account (events as JSON). A replay is at most this much, and it must fit
    /// a connection's outgoing queue with room to spare: no more than half of `ws.outbox_bytes`
    /// is used, whatever this says.
    pub max_bytes_per_account: usize,
    /// How long an event is kept.
    pub max_age_ms: u64,
    /// Bytes kept for all accounts together; the oldest events go first.
    pub max_bytes: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            max_events_per_account: 1_000,
            max_bytes_per_account: 256 * 1024,
            max_age_ms: 300_000,
            max_bytes: 256 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// WebSocket API REQUEST_WEIGHT per minute per IP, shared by that IP's connections.
    pub request_weight_per_minute: u64,
    /// Weight charged for opening a WebSocket connection.
    pub connection_weight: u64,
    /// SAPI weight per minute per UID (`X-SAPI-USED-UID-WEIGHT-1M`).
    pub sapi_uid_weight_per_minute: u64,
    /// Weight of `POST /sapi/v1/userListenToken`.
    pub listen_token_weight: u64,
    /// New WebSocket connections per IP per `connection_window_ms`; more are refused with 429.
    pub connections_per_window: u64,
    /// The connection-rate window (Binance: 5 minutes).
    pub connection_window_ms: i64,
    /// An IP answered 429 this many times within a minute is banned (418).
    pub ban_after_rejections: u64,
    /// How long a ban lasts.
    pub ban_ms: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 9443)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9444)),
            data_dir: PathBuf::from("userstream-data"),
            admin_token: None,
            admin_allowed_hosts: Vec::new(),
            admin_allowed_origins: Vec::new(),
            admin_console: true,
            tls_cert: None,
            tls_key: None,
            shutdown_grace_ms: 5_000,
            shutdown_drain_ms: 0,
            symbols: default_symbols(),
            token: TokenConfig::default(),
            ws: WsConfig::default(),
            limits: LimitsConfig::default(),
            net: NetConfig::default(),
            history: HistoryConfig::default(),
            nats: NatsConfig::default(),
            sim: SimulatorConfig::default(),
        }
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            header_timeout_ms: 10_000,
            request_timeout_ms: 30_000,
            max_connections_per_ip: 300,
            max_connections: 0,
            admin_max_connections: 256,
            listen_backlog: 0,
        }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        TokenConfig {
            default_validity_ms: MAX_TOKEN_VALIDITY_MS,
            max_validity_ms: MAX_TOKEN_VALIDITY_MS,
            signing_keys: Vec::new(),
            active_kid: None,
        }
    }
}

/// Coalescing trades latency for CPU, and the operator picks the trade (docs/benchmarks.md
/// measures 100 ms against nats-server's queues); up to a second stays far inside every
/// heartbeat deadline, since pings wait in the same queue.
const MAX_WRITE_COALESCE_MS: u64 = 1000;

/// How much longer than the ping interval the pong timeout must be: a due ping may wait up to a
/// heartbeat sweep (1 s) for the connection's next write, then up to `MAX_WRITE_COALESCE_MS` in
/// its queue, and the client takes a moment to answer. Anything shorter closes healthy
/// connections.
const MIN_PONG_SLACK_MS: u64 = 3000;

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            max_active_subscriptions: 1_000,
            max_lifetime_subscriptions: 65_535,
            max_frame_bytes: 64 * 1024,
            outbox_bytes: 1024 * 1024,
            read_buffer_bytes: 512,
            write_buffer_bytes: 4 * 1024,
            risk_events: true,
            sbe_enabled: true,
            ping_interval_ms: 20_000,
            pong_timeout_ms: 60_000,
            max_connection_lifetime_ms: 86_400_000,
            write_timeout_ms: 10_000,
            write_coalesce_ms: 0,
        }
    }
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            request_weight_per_minute: 6_000,
            connection_weight: 2,
            sapi_uid_weight_per_minute: 180_000,
            listen_token_weight: 1,
            connections_per_window: 300,
            connection_window_ms: 300_000,
            ban_after_rejections: 10,
            ban_ms: 120_000,
        }
    }
}

/// The simulator's pairs, which it knows prices and filters for.
fn default_symbols() -> Vec<SymbolConfig> {
    userstream_sim::default_symbols()
        .into_iter()
        .map(|rules| SymbolConfig::new(&rules.symbol, &rules.base, &rules.quote))
        .collect()
}

impl SymbolConfig {
    /// A pair with the simulator's defaults for everything else.
    pub fn new(symbol: &str, base: &str, quote: &str) -> SymbolConfig {
        SymbolConfig {
            symbol: symbol.to_owned(),
            base: base.to_owned(),
            quote: quote.to_owned(),
            price: None,
            tick_size: None,
            step_size: None,
            min_qty: None,
            max_qty: None,
            min_notional: None,
        }
    }
}

/// Reads a setting that is text even when it looks like a number (environment values such as
/// `USERSTREAM_ADMIN_TOKEN=123` arrive typed).
fn text_or_number<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Text {
        String(String),
        Integer(i128),
        Float(f64),
        Bool(bool),
    }
    Ok(
        Option::<Text>::deserialize(deserializer)?.map(|text| match text {
            Text::String(text) => text,
            Text::Integer(number) => number.to_string(),
            Text::Float(number) => number.to_string(),
            Text::Bool(flag) => flag.to_string(),
        }),
    )
}

/// Settings that can only be given in the file (a list of tables has no sensible variable form).
const FILE_ONLY_SETTINGS: &[&str] = &["symbols"];

/// `USERSTREAM_*` variables that name a top-level setting of [`Config`]. Other `USERSTREAM_*`
/// variables belong to the command-line tools (`USERSTREAM_API_KEY`, `USERSTREAM_URL`, …) and
/// are left alone. The names come from the struct itself, so a new setting is covered at once.
fn settings_from_env() -> Env {
    let settings: Vec<String> = match serde_json::to_value(Config::default()) {
        Ok(serde_json::Value::Object(fields)) => fields
            .into_iter()
            .map(|(name, _)| name)
            .filter(|name| !FILE_ONLY_SETTINGS.contains(&name.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    Env::prefixed("USERSTREAM_")
        .filter(move |key| {
            let top = key.as_str().split("__").next().unwrap_or_default();
            settings
                .iter()
                .any(|setting| top.eq_ignore_ascii_case(setting))
        })
        .split("__")
}

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The cause is in the message, not also a `source`, so printed chains don't repeat it.
    #[error("configuration: {0}")]
    Load(Box<figment::Error>),
    #[error("configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Defaults, overridden by the TOML file (if any), overridden by `USERSTREAM_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        figment = figment.merge(settings_from_env());
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Load(Box::new(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the settings that would otherwise fail later in confusing ways.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |msg: String| Err(ConfigError::Invalid(msg));
        if !(1..=MAX_TOKEN_VALIDITY_MS).contains(&self.token.max_validity_ms) {
            return invalid(format!(
                "token.max_validity_ms must be 1..={MAX_TOKEN_VALIDITY_MS}"
            ));
        }
        if !(1..=self.token.max_validity_ms).contains(&self.token.default_validity_ms) {
            return invalid("token.default_validity_ms must be 1..=token.max_validity_ms".into());
        }
        for symbol in &self.symbols {
            if !userstream_protocol::account::is_valid_symbol(&symbol.symbol) {
                return invalid(format!(
                    "symbol '{}' must be 1-20 upper-case letters or digits",
                    symbol.symbol
                ));
            }
        }
        if self.limits.connection_window_ms <= 0 {
            return invalid("limits.connection_window_ms must be positive".into());
        }
        if self.admin_token.as_deref().is_some_and(str::is_empty) {
            return invalid("admin_token must not be empty (leave it unset for no token)".into());
        }
        if self.admin_token.is_none() && !self.admin_listen.ip().is_loopback() {
            return invalid(format!(
                "admin_listen {} is not a loopback address, and the admin API can create keys and publish events: set admin_token (USERSTREAM_ADMIN_TOKEN) or listen on 127.0.0.1",
                self.admin_listen
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return invalid("tls_cert and tls_key go together: set both or neither".into());
        }
        let net = &self.net;
        if net.header_timeout_ms == 0 || net.request_timeout_ms == 0 {
            return invalid(
                "net.header_timeout_ms and net.request_timeout_ms must be positive".into(),
            );
        }
        if net.max_connections_per_ip == 0 || net.admin_max_connections == 0 {
            return invalid(
                "net.max_connections_per_ip and net.admin_max_connections must be positive".into(),
            );
        }
        if self.ws.max_active_subscriptions == 0 || self.ws.max_lifetime_subscriptions == 0 {
            return invalid("ws subscription limits must be positive".into());
        }
        // SBE's subscriptionId is 16 bits with 65535 as null: ids 0 to 65534 are all there are.
        if self.ws.max_lifetime_subscriptions > 65_535 {
            return invalid("ws.max_lifetime_subscriptions must be at most 65535".into());
        }
        if self.ws.write_timeout_ms == 0 {
            return invalid("ws.write_timeout_ms must be positive".into());
        }
        if self.ws.ping_interval_ms == 0
            || self.ws.pong_timeout_ms == 0
            || self.ws.max_connection_lifetime_ms == 0
        {
            return invalid("ws ping, pong and lifetime intervals must be positive".into());
        }
        if self.ws.pong_timeout_ms < self.ws.ping_interval_ms.saturating_add(MIN_PONG_SLACK_MS) {
            return invalid(format!(
                "ws.pong_timeout_ms must be at least ws.ping_interval_ms + {MIN_PONG_SLACK_MS}: \
                 a connection is pinged only every interval, and answers a moment later"
            ));
        }
        let history = &self.history;
        if history.enabled
            && (history.max_events_per_account == 0
                || history.max_bytes_per_account == 0
                || history.max_age_ms == 0
                || history.max_bytes == 0)
        {
            return invalid(
                "history limits must be positive (set history.enabled = false for none)".into(),
            );
        }
        if self.ws.write_coalesce_ms > MAX_WRITE_COALESCE_MS {
            return invalid(format!(
                "ws.write_coalesce_ms must be at most {MAX_WRITE_COALESCE_MS}"
            ));
        }
        let nats = &self.nats;
        if nats.tls_cert.is_some() != nats.tls_key.is_some() {
            return invalid("nats.tls_cert and nats.tls_key go together".into());
        }
        if nats.user.is_some() != nats.password.is_some() {
            return invalid("nats.user and nats.password go together".into());
        }
        if nats.enabled() && !(1..=5).contains(&nats.kv_replicas) {
            return invalid("nats.kv_replicas must be 1 to 5".into());
        }
        if self.ws.max_frame_bytes < 1024 || self.ws.outbox_bytes < 1024 {
            return invalid("ws.max_frame_bytes and ws.outbox_bytes must be at least 1024".into());
        }
        if self.sim.demo.enabled {
            if !self.sim.enabled || nats.enabled() {
                return invalid(
                    "demo mode needs the simulator: sim.enabled = true, and no cluster (nats.urls)"
                        .into(),
                );
            }
            if self.sim.demo.trader_interval_ms == 0 {
                return invalid("sim.demo.trader_interval_ms must be positive".into());
            }
        }
        Ok(())
    }

    /// The configured pair named `symbol`, if it exists.
    pub fn symbol(&self, symbol: &str) -> Option<&SymbolConfig> {
        self.symbols.iter().find(|s| s.symbol == symbol)
    }
}

#[cfg(test)]
// figment's Jail API returns its large error type; nothing to gain from boxing it in tests.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_binance_values() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.listen.port(), 9443);
        assert_eq!(config.limits.request_weight_per_minute, 6000);
        assert!(config.symbol("BNBUSDT").is_some());
        let mut too_many = Config::default();
        too_many.ws.max_lifetime_subscriptions = 65_536;
        assert!(
            too_many.validate().is_err(),
            "SBE subscription ids are 16 bits"
        );
    }

    #[test]
    fn the_pong_timeout_leaves_room_for_a_ping_and_its_answer() {
        let mut config = Config::default();
        config.ws.ping_interval_ms = 3_600_000;
        config.ws.pong_timeout_ms = 3_600_000;
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("ws.pong_timeout_ms must be at least ws.ping_interval_ms + 3000"),
            "{error}"
        );
        config.ws.pong_timeout_ms = 3_603_000;
        config.validate().unwrap();
    }

    #[test]
    fn write_coalescing_is_bounded_by_a_second() {
        let mut config = Config::default();
        config.ws.write_coalesce_ms = MAX_WRITE_COALESCE_MS;
        config.validate().unwrap();
        config.ws.write_coalesce_ms = MAX_WRITE_COALESCE_MS + 1;
        let error = config.validate().unwrap_err().to_string();
        assert!(
            error.contains("ws.write_coalesce_ms must be at most 1000"),
            "{error}"
        );
    }

    #[test]
    fn demo_mode_needs_the_simulator_on_an_embedded_node() {
        let mut demo = Config::default();
        demo.sim.demo.enabled = true;
        demo.validate().unwrap();
        let mut off = demo.clone();
        off.sim.enabled = false;
        assert!(off.validate().is_err());
        let mut cluster = demo.clone();
        cluster.nats.urls = vec!["nats://127.0.0.1:4222".into()];
        assert!(cluster.validate().is_err());
        let mut still = demo;
        still.sim.demo.trader_interval_ms = 0;
        assert!(still.validate().is_err());
    }

    #[test]
    fn file_then_environment() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "userstream.toml",
                "listen = \"127.0.0.1:7000\"\n[ws]\nmax_frame_bytes = 2048\n[[symbols]]\nsymbol = \"AAABBB\"\nbase = \"AAA\"\nquote = \"BBB\"\n",
            )?;
            jail.set_env("USERSTREAM_WS__MAX_FRAME_BYTES", "4096");
            jail.set_env("USERSTREAM_API_KEY", "belongs to the CLI");
            jail.set_env("USERSTREAM_ADMIN_LISTEN", "127.0.0.1:7001");
            jail.set_env("USERSTREAM_ADMIN_TOKEN", "123");
            let config = Config::load(Some(Path::new("userstream.toml"))).expect("loads");
            assert_eq!(config.listen.port(), 7000);
            assert_eq!(config.ws.max_frame_bytes, 4096);
            assert_eq!(config.admin_listen.port(), 7001);
            assert_eq!(config.admin_token.as_deref(), Some("123"));
            assert_eq!(config.symbols.len(), 1);
            Ok(())
        });
    }

    #[test]
    fn unknown_settings_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "lisen = \"127.0.0.1:7000\"\n")?;
            assert!(Config::load(Some(Path::new("bad.toml"))).is_err());
            Ok(())
        });
    }
}
