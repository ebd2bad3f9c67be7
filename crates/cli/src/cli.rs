//! The command line: every command, flag and help text, and nothing else.
//!
//! Kept apart from the code that acts on it so that `--help` can be read (and reviewed) in one
//! place. Flags that name a secret hide their environment value from `--help`, which would
//! otherwise print it.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use userstream_bench::floor::Stack as FloorStack;

/// Where `userstream serve` puts its admin API unless told otherwise.
pub const DEFAULT_ADMIN_URL: &str = "http://127.0.0.1:9444";
/// Where `userstream serve` puts its public API unless told otherwise.
pub const DEFAULT_PUBLIC_URL: &str = "http://127.0.0.1:9443";

/// An open implementation of Binance's margin listenToken user data stream.
///
/// `userstream serve` runs the gateway: it mints listen tokens over REST and streams account
/// events over Binance's WebSocket API. It is also a margin exchange simulator: Binance's margin
/// trading REST API, whose orders and fills make the events Binance would send. The other
/// commands drive a running gateway: create API keys, open and fund margin accounts, set prices,
/// place and fill orders, publish events, request listen tokens and tail a stream.
#[derive(Debug, Parser)]
#[command(name = "userstream", version, propagate_version = true)]
#[command(after_help = "\
A first session:
  userstream serve --data-dir ./data                     # in one terminal
  userstream keys create --uid 1                         # prints apiKey and secretKey
  userstream token --api-key <apiKey>                    # prints a listen token
  # subscribe on ws://127.0.0.1:9443/ws-api/v3 with that token, then:
  userstream publish --uid 1 '{\"e\":\"balanceUpdate\",\"a\":\"BTC\",\"d\":\"1.0\",\"T\":1}'
  # or let the simulator make the events:
  userstream account deposit --uid 1 --asset USDT --amount 10000
  userstream order place --uid 1 --symbol BTCUSDT --side BUY --type MARKET --quantity 0.01")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: REST token endpoint, WebSocket API and admin API.
    ///
    /// Settings come from built-in defaults (Binance's values), then the TOML file given with
    /// --config, then USERSTREAM_* environment variables (nested settings use a double
    /// underscore: USERSTREAM_WS__MAX_FRAME_BYTES), then the flags below. Once both listeners are
    /// bound, one line naming the real addresses is printed to stdout; logs go to stderr
    /// (filter with RUST_LOG, default "info"). Ctrl-C or SIGTERM shuts down gracefully: every
    /// WebSocket connection receives a serverShutdown event first.
    Serve(ServeArgs),
    /// Manage API keys (the X-MBX-APIKEY values clients use to request listen tokens).
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage margin accounts: open isolated pairs, and in the simulator show and fund them.
    #[command(subcommand, visible_alias = "account")]
    Accounts(AccountsCommand),
    /// Set a symbol's price in the simulator (POST /admin/v1/prices).
    ///
    /// Resting orders the move crosses fill, stops trigger, and their events go out. Prints
    /// {"symbol":…,"price":…,"events":N}.
    Price(PriceArgs),
    /// Place, cancel, force-fill and list orders in the simulator (the admin API).
    ///
    /// The same checks and Binance error codes as POST /sapi/v1/margin/order; a bot places its
    /// own orders through that signed REST API instead. Every subcommand prints the JSON answer.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Publish account events to a user's subscribers, in Binance's event shape.
    ///
    /// EVENTS is one JSON event object, a JSON array of events, or NDJSON (one event per line),
    /// e.g. '{"e":"balanceUpdate","E":1573200697110,"a":"BTC","d":"100.00000000","T":1573200697068}'.
    /// A missing "E" is set to the server's current time. Prints the server's answer:
    /// {"subscribers":N} for one event, {"published":K,"subscribers":N} for several.
    Publish(PublishArgs),
    /// Stream margin account events, and keep the stream alive forever.
    ///
    /// Subscribes the cross margin account (--cross, the default when no --isolated is given)
    /// and any isolated accounts (--isolated SYM, repeatable) on one WebSocket API connection,
    /// then renews tokens ahead of expiry, reconnects after any loss, and hands over to a new
    /// connection before the 24 h limit or on serverShutdown. Events go to stdout, one line each
    /// (time, account, event type, key fields), or with --json one JSON object per line:
    /// {"account":"cross","event":{...}} with the event in Binance's shape. With --secret, each
    /// account's state read over REST (on start and after every gap) comes first as a snapshot
    /// line on stdout, `<time> <account> snapshot <balances>; <open orders>`, or with --json
    /// {"account":"cross","snapshot":{"time":<ms>,"marginAccount":{...},"openOrders":[...]}} in
    /// Binance's REST shapes; the events after it apply on top of it. Status lines
    /// (connected, renewed, reconnecting, "resumed N events" when a userstream server replayed
    /// what a lost connection missed, GAP with its reason when events may have been missed,
    /// "snapshot failed" with the reason when a snapshot could not be read; it is retried) go
    /// to stderr. Runs until interrupted; exits non-zero only on a configuration error, such as an API key
    /// the server does not know.
    #[command(after_help = "\
Failover:
  Give the gateways of a cluster (nodes that share API keys and token signing keys) as
  --url A --url B, or --url A,B. The stream starts on A. When the gateway it is on is lost
  or refuses connections, tail reconnects to the next one in the list (wrapping around, with
  the usual growing delay), and reports a GAP for the time no gateway carried the accounts.
  On serverShutdown it opens the new connection on the next gateway before leaving the old
  one, so nothing is lost and no GAP is reported. Token requests move on to the next gateway
  when one fails.")]
    Tail(TailArgs),
    /// Measure userstream against its peers (the floor server, nats-server), on this host.
    ///
    /// Each run starts the server under test as its own process on loopback, drives it, prints
    /// one JSON report line on stdout, and stops it. scripts/bench.sh runs the standard matrix
    /// and writes docs/benchmarks.md.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Request a listen token (POST /sapi/v1/userListenToken), as a Binance client would.
    ///
    /// Prints {"token":"…","expirationTime":<ms>}. Subscribe with the token on the WebSocket API
    /// (method userDataStream.subscribe.listenToken) to receive the account's events.
    Token(TokenArgs),
    /// Inject a fault into a running gateway, to test how a client copes (POST /admin/v1/faults).
    ///
    /// Targets every connection, the connections subscribed to one account (--uid, with
    /// --isolated for an isolated account), or one connection (--session, ids as listed by
    /// GET /admin/v1/sessions). Prints {"sessions":N,"subscriptions":M}: what it touched.
    Fault(FaultArgs),
    /// Play a scenario file: a timeline of prices, orders, fills, raw events, faults and key
    /// revocations against a gateway, and (with --check) what a client must observe.
    ///
    /// FILE is TOML, or YAML when named *.yaml or *.yml (docs/simulator.md, "Scenario files"). Steps run at their times (at_ms from
    /// the start, or after_ms after the previous step), scaled by --speed. With --check, a
    /// userstream-client stream of the scenario's accounts runs alongside, and each step's
    /// `expect` observations must arrive, in order, within the step's `within_ms`; the first one
    /// that does not is printed as a diff (expected, and what arrived instead) on stderr and
    /// the command exits 1. Either way one JSON summary line goes to stdout at the end.
    #[command(after_help = "\
Examples:
  userstream play --start-server --check scenarios/full_fill.toml
  userstream play --admin-url http://127.0.0.1:9444 --url http://127.0.0.1:9443 my.toml")]
    Play(PlayArgs),
}

#[derive(Debug, Args)]
pub struct PlayArgs {
    /// The scenario file (TOML; YAML when named *.yaml or *.yml).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Run a client alongside and check every step's observations.
    #[arg(long)]
    pub check: bool,
    /// Start a `userstream serve` of its own (ephemeral loopback ports, a temporary data
    /// directory), play against it and stop it at the end; --url and --admin-url are then
    /// ignored.
    #[arg(long)]
    pub start_server: bool,
    /// Play the timeline this many times faster (0.5: twice slower). Scales step times and
    /// waits, not `within_ms`, fault durations or token validity.
    #[arg(long, value_name = "N", default_value_t = 1.0)]
    pub speed: f64,
    /// With --check, print every item the client yields on stderr as it arrives.
    #[arg(long, short)]
    pub verbose: bool,
    /// Play into this user's accounts, whatever the file's `[setup] uid` says (a file recorded
    /// with `tail --record` names none: without --uid it plays into a new user).
    #[arg(long, value_name = "N")]
    pub uid: Option<u64>,
    /// Base URL of the gateway's public API (token requests, signed REST, the WebSocket API
    /// under /ws-api/v3).
    #[arg(long, value_name = "URL", env = "USERSTREAM_URL", default_value = DEFAULT_PUBLIC_URL)]
    pub url: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct FaultArgs {
    /// What to break.
    #[arg(value_enum)]
    pub kind: userstream_server::faults::FaultKind,
    /// Target the connections subscribed to this user's account.
    #[arg(long, value_name = "N")]
    pub uid: Option<u64>,
    /// With --uid: that user's isolated margin account for this pair instead of cross margin.
    #[arg(long, value_name = "SYM", requires = "uid")]
    pub isolated: Option<String>,
    /// Target one connection by id.
    #[arg(long, value_name = "ID", conflicts_with = "uid")]
    pub session: Option<u64>,
    /// Duration for mute, shutdown (grace period) and delay, in milliseconds.
    #[arg(long, value_name = "MS")]
    pub duration_ms: Option<u64>,
    /// How many token requests fail (fail-token-requests).
    #[arg(long, value_name = "N")]
    pub count: Option<u32>,
    /// HTTP status of the failing token requests [default: 500].
    #[arg(long, value_name = "STATUS")]
    pub status: Option<u16>,
    /// Binance error code of the failing token requests [default: -1000].
    #[arg(long, value_name = "CODE", allow_hyphen_values = true)]
    pub code: Option<i32>,
    /// Error message of the failing token requests.
    #[arg(long, value_name = "TEXT")]
    pub msg: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address of the public API (REST and WebSocket API). Port 0 picks a free port.
    /// [default: 127.0.0.1:9443, or `listen` in the config]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// Address of the admin API (keys, accounts, events, /healthz, /metrics). Keep it private.
    /// [default: 127.0.0.1:9444, or `admin_listen` in the config]
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<SocketAddr>,
    /// Directory of the SQLite store (keys, accounts, token signing keys); created if missing.
    /// [default: ./userstream-data, or `data_dir` in the config]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// TOML configuration file; every setting is optional.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Require `Authorization: Bearer <T>` on every admin request. Prefer the
    /// USERSTREAM_ADMIN_TOKEN variable: command lines are visible to other local users.
    #[arg(long, value_name = "T")]
    pub admin_token: Option<String>,
    /// PEM certificate chain: both listeners then speak TLS (https://, wss://). Reloaded,
    /// with the key, on SIGHUP without dropping connections. [default: `tls_cert` in the config]
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert. [default: `tls_key` in the config]
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Join a cluster: the NATS servers (with JetStream) that carry its keys, accounts and
    /// events, comma-separated: `nats://h1:4222,nats://h2:4222`. Credentials and TLS go in the
    /// config's [nats] table (docs/operations.md, "Cluster"). [default: embedded mode, or
    /// `nats.urls` in the config]
    #[arg(long, value_name = "URLS", value_delimiter = ',')]
    pub nats: Vec<String>,
    /// Demo mode: an API key labelled "demo" (made on first start, the same one afterwards)
    /// whose cross account and isolated BTCUSDT and ETHUSDT accounts are funded on every
    /// start, a background trader that keeps them busy on a random-walk price, and the key,
    /// secret, URLs and copy-paste `tail` and curl commands printed after the listening line.
    /// [default: `sim.demo.enabled` in the config]
    #[arg(long)]
    pub demo: bool,
    /// Demo mode with this seed (implies --demo): the same seed gives the same prices and the
    /// same trades. [default: 1, or `sim.demo.seed` in the config]
    #[arg(long, value_name = "N")]
    pub demo_seed: Option<u64>,
}

/// How to reach a running gateway's admin API.
#[derive(Debug, Clone, Args)]
pub struct AdminArgs {
    /// Base URL of the gateway's admin API.
    #[arg(long, value_name = "URL", env = "USERSTREAM_ADMIN_URL", default_value = DEFAULT_ADMIN_URL)]
    pub admin_url: String,
    /// Admin bearer token, when the gateway was started with one.
    #[arg(
        long,
        value_name = "T",
        env = "USERSTREAM_ADMIN_TOKEN",
        hide_env_values = true
    )]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

/// Trusting a gateway whose TLS certificate is private (self-signed or from an internal CA).
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// PEM certificate (or CA bundle) to trust besides the public roots, for a gateway
    /// started with --tls-cert.
    #[arg(long, value_name = "FILE", env = "USERSTREAM_CA_CERT")]
    pub ca_cert: Option<PathBuf>,
}

impl TrustArgs {
    /// The certificates named, read and parsed (none when no file was given).
    pub fn certificates(&self) -> anyhow::Result<userstream_client::TrustedCertificates> {
        use anyhow::Context;
        let Some(path) = &self.ca_cert else {
            return Ok(Default::default());
        };
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        userstream_client::TrustedCertificates::from_pem(&pem)
            .with_context(|| format!("{} holds no usable certificate", path.display()))
    }
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key and print it with its secret: {"apiKey","secretKey","uid",…}.
    ///
    /// The secret is shown only here; keep it to sign token requests (`token --secret`).
    Create(CreateKeyArgs),
    /// List every API key (secrets are never listed), revoked ones included.
    List(ListKeysArgs),
    /// Revoke an API key: its tokens stop working and its live subscriptions end at once with
    /// an eventStreamTerminated event.
    Revoke(RevokeKeyArgs),
    /// Rotate the token signing key: add a new one (the next kid) that every node of a cluster
    /// learns at once and that signs from --activate-in-ms on. Older keys keep verifying, so
    /// tokens already issued work until they expire. Prints {"kid","activeFrom"}.
    Rotate(RotateArgs),
    /// List the token signing keys (kids and activation times, never secrets) and the kid
    /// that signs now.
    Signing(ListKeysArgs),
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Milliseconds until the new key signs; until then it only verifies.
    #[arg(long, value_name = "MS", default_value_t = 60_000)]
    pub activate_in_ms: u64,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct CreateKeyArgs {
    /// User id the key belongs to. Omit it to create a new user.
    #[arg(long, value_name = "N")]
    pub uid: Option<u64>,
    /// Free-form note to recognise the key by in `keys list`.
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Also open the user's isolated margin account for this pair (e.g. BNBUSDT). Repeat the
    /// flag, or separate pairs with commas, for several.
    #[arg(long = "isolated", value_name = "SYM", value_delimiter = ',')]
    pub isolated: Vec<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct ListKeysArgs {
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct RevokeKeyArgs {
    /// The API key to revoke (the apiKey printed by `keys create`).
    #[arg(value_name = "API_KEY")]
    pub api_key: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Open a user's isolated margin account for one pair, so that tokens for it can be issued
    /// (`token --isolated SYM`). Opening an account that exists already is not an error.
    OpenIsolated(OpenIsolatedArgs),
    /// Show a simulated margin account as GET /sapi/v1/margin/account (or, with --isolated,
    /// GET /sapi/v1/margin/isolated/account) would.
    Show(AccountShowArgs),
    /// Fund a simulated margin account. Emits what Binance sends for a deposit or transfer in:
    /// balanceUpdate, then outboundAccountPosition. An isolated pair is opened first if needed.
    Deposit(DepositArgs),
}

/// Whose account: a user's cross margin account, or one of its isolated pairs.
#[derive(Debug, Clone, Args)]
pub struct AccountArgs {
    /// User id.
    #[arg(long, value_name = "N")]
    pub uid: u64,
    /// That user's isolated margin account for this pair instead of cross margin.
    #[arg(long, value_name = "SYM")]
    pub isolated: Option<String>,
}

#[derive(Debug, Args)]
pub struct AccountShowArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct DepositArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Asset, e.g. USDT.
    #[arg(long, value_name = "A")]
    pub asset: String,
    /// Amount, a decimal such as 1000 or 0.5.
    #[arg(long, value_name = "X")]
    pub amount: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct PriceArgs {
    /// Symbol, e.g. BTCUSDT.
    pub symbol: String,
    /// Price, a decimal on the symbol's tick size.
    pub price: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    /// Place an order for a user, as POST /sapi/v1/margin/order would; prints the FULL answer.
    Place(OrderPlaceArgs),
    /// Cancel an open order.
    Cancel(OrderTargetArgs),
    /// Fill an open order now, whatever the market: at --price (default its limit price, else
    /// the market's), for --quantity (default all that is left).
    Fill(OrderFillArgs),
    /// List a user's open orders (with --all and --symbol: every order of that symbol).
    List(OrderListArgs),
}

#[derive(Debug, Args)]
pub struct OrderPlaceArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Symbol, e.g. BTCUSDT.
    #[arg(long, value_name = "SYM")]
    pub symbol: String,
    /// BUY or SELL.
    #[arg(long)]
    pub side: String,
    /// LIMIT, MARKET, LIMIT_MAKER, STOP_LOSS, STOP_LOSS_LIMIT, TAKE_PROFIT or TAKE_PROFIT_LIMIT.
    #[arg(long = "type", value_name = "TYPE")]
    pub order_type: String,
    /// Quantity in the base asset, a decimal on the symbol's step size.
    #[arg(long, value_name = "Q")]
    pub quantity: Option<String>,
    /// Quote quantity of a MARKET order (quoteOrderQty).
    #[arg(long, value_name = "Q")]
    pub quote_quantity: Option<String>,
    /// Limit price of a LIMIT, LIMIT_MAKER or *_LIMIT order.
    #[arg(long, value_name = "P")]
    pub price: Option<String>,
    /// Trigger price of a STOP_LOSS* or TAKE_PROFIT* order.
    #[arg(long, value_name = "P")]
    pub stop_price: Option<String>,
    /// GTC, IOC or FOK.
    #[arg(long, value_name = "TIF")]
    pub time_in_force: Option<String>,
    /// NO_SIDE_EFFECT, MARGIN_BUY, AUTO_REPAY or AUTO_BORROW_REPAY.
    #[arg(long, value_name = "E")]
    pub side_effect: Option<String>,
    /// Your own id for the order (newClientOrderId); cancel or fill it by this id later.
    #[arg(long, value_name = "ID")]
    pub client_order_id: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// One order of a user, by id or client order id (exactly one of the two).
#[derive(Debug, Clone, Args)]
#[command(group(
    clap::ArgGroup::new("order")
        .required(true)
        .args(["order_id", "client_order_id"])
))]
pub struct OrderTarget {
    #[command(flatten)]
    pub account: AccountArgs,
    /// The order's symbol, e.g. BTCUSDT.
    #[arg(long, value_name = "SYM")]
    pub symbol: String,
    /// The order's id (orderId in the answer of `order place`).
    #[arg(long, value_name = "ID")]
    pub order_id: Option<i64>,
    /// The order's client order id (clientOrderId), e.g. the --client-order-id it was placed
    /// with.
    #[arg(long, value_name = "ID")]
    pub client_order_id: Option<String>,
}

#[derive(Debug, Args)]
pub struct OrderTargetArgs {
    #[command(flatten)]
    pub target: OrderTarget,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct OrderFillArgs {
    #[command(flatten)]
    pub target: OrderTarget,
    /// Fill price. [default: the order's limit price, else the market's]
    #[arg(long, value_name = "P")]
    pub price: Option<String>,
    /// Quantity to fill. [default: all that is left]
    #[arg(long, value_name = "Q")]
    pub quantity: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct OrderListArgs {
    #[command(flatten)]
    pub account: AccountArgs,
    /// Only this symbol's orders.
    #[arg(long, value_name = "SYM")]
    pub symbol: Option<String>,
    /// Every order of --symbol, not only the open ones.
    #[arg(long, requires = "symbol")]
    pub all: bool,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct OpenIsolatedArgs {
    /// User id.
    #[arg(long, value_name = "N")]
    pub uid: u64,
    /// Margin pair, e.g. BNBUSDT; must be one of the gateway's configured symbols.
    #[arg(long, value_name = "SYM")]
    pub symbol: String,
    #[command(flatten)]
    pub admin: AdminArgs,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// User whose account receives the events.
    #[arg(long, value_name = "N")]
    pub uid: u64,
    /// Send to the user's isolated margin account for this pair instead of the cross margin
    /// account.
    #[arg(long, value_name = "SYM")]
    pub isolated: Option<String>,
    /// Read the events from this file instead of the command line; `-` reads standard input.
    #[arg(long, value_name = "F", conflicts_with = "events")]
    pub file: Option<PathBuf>,
    /// The events as JSON: one object, an array, or one object per line.
    #[arg(value_name = "EVENTS", required_unless_present = "file")]
    pub events: Option<String>,
    #[command(flatten)]
    pub admin: AdminArgs,
}

/// The API key a Binance client holds, for token requests.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// API key, sent in the X-MBX-APIKEY header.
    #[arg(
        long,
        value_name = "K",
        env = "USERSTREAM_API_KEY",
        hide_env_values = true
    )]
    pub api_key: String,
    /// The key's secret (Binance's "secret key"; `keys create` prints it as secretKey). When
    /// given, token requests are signed (timestamp + HMAC-SHA256 signature) as Binance's signed
    /// endpoints expect (the gateway also accepts unsigned ones), and `tail` reconciles: it
    /// reads each account's margin account and open orders over REST on start and after every
    /// gap, and prints them as a snapshot line. Prefer the environment variable: command lines
    /// are visible to other local users.
    #[arg(
        long,
        visible_alias = "api-secret",
        value_name = "S",
        env = "USERSTREAM_SECRET",
        hide_env_values = true,
        // An empty secret (an unset shell variable) would quietly mean "no snapshots".
        value_parser = clap::builder::NonEmptyStringValueParser::new()
    )]
    pub secret: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Ask for a token of the isolated margin account of this pair (isIsolated=true&symbol=SYM)
    /// instead of the cross margin account.
    #[arg(long, value_name = "SYM")]
    pub isolated: Option<String>,
    /// Token validity in milliseconds (at most 86400000 = 24 h). [default: the gateway's, 24 h]
    #[arg(long, value_name = "MS")]
    pub validity: Option<u64>,
    /// Base URL of the gateway's public API. Several gateways of one cluster: repeat the flag
    /// or separate URLs with commas; they are asked in turn until one answers with anything
    /// but a 5xx.
    #[arg(long, value_name = "URL", env = "USERSTREAM_URL", default_value = DEFAULT_PUBLIC_URL, value_delimiter = ',')]
    pub url: Vec<String>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Args)]
pub struct TailArgs {
    #[command(flatten)]
    pub key: KeyArgs,
    /// Stream the cross margin account (the default when no --isolated is given).
    #[arg(long)]
    pub cross: bool,
    /// Stream the isolated margin account of this pair; repeat for more pairs.
    #[arg(long, value_name = "SYM")]
    pub isolated: Vec<String>,
    /// Base URL of the gateway's public API (token requests; the WebSocket API is under
    /// /ws-api/v3 unless --ws-url says otherwise). Several gateways of one cluster: repeat the
    /// flag or separate URLs with commas; the stream starts on the first and, when the gateway
    /// it is on is lost, moves on to the next (see Failover below).
    #[arg(long, value_name = "URL", env = "USERSTREAM_URL", default_value = DEFAULT_PUBLIC_URL, value_delimiter = ',')]
    pub url: Vec<String>,
    /// The WebSocket API URL, when it is not --url's /ws-api/v3. With several --url, give one
    /// --ws-url for each, in the same order.
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    pub ws_url: Vec<String>,
    /// Use Binance production (https://api.binance.com, wss://ws-api.binance.com:443/ws-api/v3);
    /// overrides --url and --ws-url.
    #[arg(long)]
    pub binance: bool,
    /// One JSON object per event on stdout instead of a readable line.
    #[arg(long)]
    pub json: bool,
    /// Take the stream in SBE (schema 3:5, binary frames) instead of JSON; the output is the
    /// same either way.
    #[arg(long)]
    pub sbe: bool,
    /// With --secret, do not read snapshots (margin account and open orders over REST on start
    /// and after every gap); the secret then only signs token requests.
    #[arg(long)]
    pub no_snapshot: bool,
    /// Token validity in milliseconds (at most 86400000 = 24 h). [default: the server's, 24 h]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub validity: Option<u64>,
    /// Also record every event as a scenario file (created, or overwritten): one `publish` step
    /// per event, at its time after the first, flushed as it arrives; statuses (gaps, resumes)
    /// become comments. Replay it with `userstream play FILE --uid N`. The API key and secret
    /// are not written.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    #[command(flatten)]
    pub trust: TrustArgs,
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Fan-out: N subscribed connections (one account each), events published at a rate or
    /// as fast as the server takes them; reports delivered events/s, latency percentiles,
    /// token and connect+subscribe rates, memory per connection and server CPU. With
    /// --cluster-nodes, across userstream nodes on NATS.
    Fanout(FanoutArgs),
    /// Token issuance: requests/s of userstream's token endpoint, or of the floor's bare handler.
    Tokens(TokensArgs),
    /// Subscribe churn: loops that connect, subscribe and close, over and over.
    Churn(ChurnArgs),
    /// Expiry storm: K subscriptions expiring in the same second; reports how late each
    /// eventStreamTerminated arrives (userstream only).
    Expiry(ExpiryArgs),
    /// Reconnect storm: N subscribed clients dropped at once by a kill -9 of the server, which
    /// starts again on the same ports; reports the time until every client is subscribed again
    /// (userstream or nats).
    Storm(StormArgs),
    /// Run the floor server: fan-out on the same WebSocket stack with no protocol logic.
    Floor(FloorArgs),
    /// The publish intake in process: each candidate JSON parser over the same NDJSON batch,
    /// then the event decoder; one report line per parser (no server involved).
    Intake(IntakeArgs),
    /// Soak: thousands of client streams with short tokens, publishing at half saturation,
    /// random faults (drop, mute, terminate, shutdown, kill -9 and restart); fails on any event
    /// lost without a gap, any duplicate, any gap no fault explains, or server memory or
    /// descriptors that grow. Writes samples, faults and a summary to --out.
    Soak(SoakArgs),
}

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PeerKind {
    Userstream,
    Floor,
    Nats,
    /// Sockudo, from USERSTREAM_BENCH_SOCKUDO or ~/.cache/userstream-bench/sockudo/bin/sockudo
    /// (`SOCKUDO=1 scripts/bench.sh` builds it there).
    Sockudo,
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[arg(long, value_enum, default_value = "userstream")]
    pub peer: PeerKind,
    /// Subscribe userstream's connections in SBE (schema 3:5) instead of JSON.
    #[arg(long)]
    pub sbe: bool,
    /// Connect userstream's clients with `streamPositions=true`: every event carries its
    /// position (JSON only).
    #[arg(long, conflicts_with = "sbe")]
    pub positions: bool,
    /// userstream's resume history (`history.enabled`). [default: on]
    #[arg(long, value_enum, value_name = "on|off")]
    pub history: Option<Switch>,
    /// The floor's WebSocket crate: tungstenite, fastwebsockets or tokio-websockets.
    #[arg(long, default_value = "tungstenite", value_parser = parse_floor_stack)]
    pub floor_stack: FloorStack,
    /// Subscribed connections (at most about 19,000: one process may hold 20,000 sockets).
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Events per second to publish; leave out to publish as fast as the server takes them.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Seconds measured (after the warm-up).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration_secs: u64,
    /// Seconds of publishing before measuring.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=60))]
    pub warmup_secs: u64,
    /// Events per publish request.
    #[arg(long, default_value_t = 100)]
    pub batch: usize,
    /// Publish requests in flight when there is no --rate.
    #[arg(long, default_value_t = 4)]
    pub publishers: usize,
    /// Seconds between the server's pings to each connection (userstream and nats-server; the
    /// floor and Sockudo do not ping). Shorter than in production so that every window spans
    /// several pings and their cost shows in the latency tail.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ping_secs: u64,
    /// How userstream's events are published: over the admin API's kept-open connection
    /// (`/admin/v1/events/stream`, as nats-server's publisher writes its TCP protocol), or one
    /// `POST /admin/v1/events` per batch.
    #[arg(long, value_enum, default_value = "stream")]
    pub publish_over: PublishOver,
    /// userstream's `ws.write_coalesce_ms` (0, its default: off).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1000))]
    pub coalesce_ms: u64,
    /// Run userstream as a cluster of N nodes (`serve --nats`) on a nats-server with JetStream
    /// started for the run: connections spread evenly over the nodes, every event published
    /// through the first one; the report tells the subscribers on that node from the others.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=5))]
    pub cluster_nodes: Option<u64>,
}

/// How the fan-out publishes to userstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PublishOver {
    Stream,
    Http,
}

/// A setting turned on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Args)]
pub struct TokensArgs {
    /// userstream or floor (the bare handler).
    #[arg(long, value_enum, default_value = "userstream")]
    pub peer: PeerKind,
    #[arg(long, default_value_t = 20_000)]
    pub requests: usize,
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct ChurnArgs {
    #[arg(long, value_enum, default_value = "userstream")]
    pub peer: PeerKind,
    /// The floor's WebSocket crate: tungstenite, fastwebsockets or tokio-websockets.
    #[arg(long, default_value = "tungstenite", value_parser = parse_floor_stack)]
    pub floor_stack: FloorStack,
    /// Loops running at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub duration_secs: u64,
}

#[derive(Debug, Args)]
pub struct ExpiryArgs {
    /// Subscriptions expiring together.
    #[arg(long, default_value_t = 10_000)]
    pub subscriptions: usize,
    /// Milliseconds the expiration times are spread over, evenly (0: all in the same one).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub spread_ms: u64,
}

#[derive(Debug, Args)]
pub struct StormArgs {
    /// userstream or nats.
    #[arg(long, value_enum, default_value = "userstream")]
    pub peer: PeerKind,
    /// Subscribed clients (at most about 19,000: one process may hold 20,000 sockets).
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    /// Seconds to wait for every client to be back before reporting those that are.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub limit_secs: u64,
}

#[derive(Debug, Args)]
pub struct IntakeArgs {
    /// Items in the batch (they cycle through four event types).
    #[arg(long, default_value_t = 500)]
    pub items: usize,
    /// How long each parser runs, in milliseconds.
    #[arg(long, default_value_t = 3000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    pub duration_ms: u64,
}

#[derive(Debug, Args)]
pub struct SoakArgs {
    /// Client streams, one account and one connection each (a process holds at most about
    /// 19,700 sockets; each stream needs about three at the server: its connection, a
    /// handover's second one, and its token requests' keep-alive).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(1..=6000))]
    pub streams: u64,
    /// Length of the main phase (publishing with faults), in minutes.
    #[arg(long, default_value_t = 30.0)]
    pub minutes: f64,
    /// Seed of the fault schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Events per second in the main phase. [default: half the saturation the ramp finds]
    #[arg(long)]
    pub rate: Option<f64>,
    /// Length of each ramp step, in seconds.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u64).range(2..=60))]
    pub ramp_step_secs: u64,
    /// Listen token validity in milliseconds: renewals come every three quarters of it.
    #[arg(long, default_value_t = 80_000, value_parser = clap::value_parser!(u64).range(10_000..=86_400_000))]
    pub token_validity_ms: u64,
    /// Mean time between faults, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub fault_interval_secs: f64,
    /// Directory for samples.jsonl, faults.jsonl, server.log and summary.json.
    #[arg(long, default_value = "target/soak")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct FloorArgs {
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// The WebSocket crate: tungstenite, fastwebsockets or tokio-websockets.
    #[arg(long, default_value = "tungstenite", value_parser = parse_floor_stack)]
    pub stack: FloorStack,
}

fn parse_floor_stack(name: &str) -> Result<FloorStack, String> {
    FloorStack::from_name(name).ok_or_else(|| {
        let names: Vec<&str> = FloorStack::ALL.iter().map(|stack| stack.name()).collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// The URLs given, less empty ones, or `default` when none is left: `--url a,,b` and an
/// exported-but-empty `USERSTREAM_URL` mean what they seem to.
pub fn urls_or_default<'a>(urls: &'a [String], default: &'a str) -> Vec<&'a str> {
    let urls: Vec<&str> = urls
        .iter()
        .map(|url| url.trim())
        .filter(|url| !url.is_empty())
        .collect();
    if urls.is_empty() { vec![default] } else { urls }
}

/// The URL given, or `default` when it is empty: an exported-but-empty variable
/// (`USERSTREAM_URL=`) means "not set", as it does for most tools, but clap would pass it on.
pub fn url_or_default<'a>(url: &'a str, default: &'a str) -> &'a str {
    if url.trim().is_empty() { default } else { url }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn several_urls_are_taken_from_one_flag_or_many() {
        use clap::Parser;
        let tail = |args: &[&str]| match Cli::try_parse_from(
            [&["userstream", "tail", "--api-key", "k"], args].concat(),
        ) {
            Ok(Cli {
                command: Command::Tail(args),
            }) => args.url,
            other => panic!("{other:?}"),
        };
        let both = vec!["http://a:1".to_owned(), "http://b:2".to_owned()];
        assert_eq!(tail(&["--url", "http://a:1,http://b:2"]), both);
        assert_eq!(tail(&["--url", "http://a:1", "--url", "http://b:2"]), both);
        assert_eq!(
            urls_or_default(&["".into(), " ".into()], DEFAULT_PUBLIC_URL),
            vec![DEFAULT_PUBLIC_URL]
        );
        assert_eq!(
            urls_or_default(&["http://a:1".into(), "".into()], DEFAULT_PUBLIC_URL),
            vec!["http://a:1"]
        );
    }

    #[test]
    fn empty_urls_mean_the_default() {
        assert_eq!(url_or_default("", DEFAULT_ADMIN_URL), DEFAULT_ADMIN_URL);
        assert_eq!(
            url_or_default("http://h:1", DEFAULT_ADMIN_URL),
            "http://h:1"
        );
    }
}
