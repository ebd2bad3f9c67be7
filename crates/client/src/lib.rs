//! A Binance margin **listenToken** user data stream that never dies.
//!
//! [`UserStream`] subscribes any number of margin accounts (cross, and isolated pairs) on one
//! WebSocket API connection and keeps them subscribed forever:
//!
//! - **Renewal**: a fresh token is fetched and subscribed on the same connection ahead of
//!   expiry; `eventStreamTerminated` or an invalid-token error triggers an immediate renewal.
//! - **Reconnection**: any lost connection (close, reset, silence, an unanswered ping) is
//!   reopened with capped, jittered backoff, and every account is subscribed again.
//! - **Handover**: ahead of the 24 h connection limit and on `serverShutdown`, a new connection
//!   is opened and subscribed *before* the old one is closed; events seen on both are delivered
//!   once.
//! - **Failover**: given several gateways of one cluster ([`UserStreamBuilder::gateways`]), a
//!   stream whose gateway dies moves to the next one, and token requests do too.
//! - **Resume**: against a userstream gateway, which announces stream positions, a stream that
//!   was interrupted picks up where it left off: the server replays what it missed
//!   ([`Status::Resumed`]). Binance has no positions, and is sent nothing it does not document.
//! - **Gaps are never silent**: when events may have been missed, a [`Status::Gap`] says for
//!   which account, between which instants and why they were not replayed, so you know to
//!   reconcile.
//! - **Snapshots**: given the API secret ([`UserStreamBuilder::secret`]), the client reconciles
//!   for you: once an account is subscribed, on start and after every gap, it reads the margin
//!   account and its open orders over REST and yields them as an [`Item::Snapshot`], ahead of
//!   every event not reflected in it.
//!
//! It works unchanged against Binance and against `userstream serve`.
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use userstream_client::{Item, UserStream};
//!
//! # async fn run() -> Result<(), userstream_client::BuildError> {
//! let mut stream = UserStream::builder()
//!     .api_key("my-api-key")
//!     .local("http://127.0.0.1:9443")? // or .binance()
//!     .cross()
//!     .isolated("BTCUSDT")
//!     .start()?;
//! while let Some(item) = stream.next().await {
//!     match item {
//!         Item::Event(event) => println!("{} {:?}", event.account, event.event),
//!         Item::Status(status) => eprintln!("{status}"),
//!         _ => {}
//!     }
//! }
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod backoff;
mod connection;
mod dedup;
mod driver;
mod frame;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod item;
mod options;
mod snapshot;
mod tls;
pub mod token;

pub use backoff::Backoff;
pub use item::{AccountEvent, Disconnect, Fatal, Gap, GapReason, HandoverReason, Item, Status};
pub use options::{
    BINANCE_REST_URL, BINANCE_WS_API_URL, Endpoints, Options, StreamPositions, UrlError,
};
pub use snapshot::{MarginAccount, Snapshot, SnapshotClient, SnapshotError};
pub use tls::{CertificateError, TrustedCertificates};
pub use token::{ListenToken, TokenClient, TokenError};
pub use userstream_protocol::Scope;
pub use userstream_protocol::clock::{Clock, SharedClock, SystemClock};
pub use userstream_protocol::events::Event;
pub use userstream_protocol::position::ResumeFailure;

use futures_util::Stream;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use userstream_protocol::account::is_valid_symbol;

/// A configuration the stream cannot start with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// No API key was given.
    #[error("an API key is required")]
    MissingApiKey,
    /// The API key has characters no key has (it would not survive an HTTP header).
    #[error("the API key must be printable ASCII without spaces")]
    MalformedApiKey,
    /// Neither cross margin nor any isolated symbol was asked for.
    #[error("no account to stream: ask for cross margin and/or at least one isolated symbol")]
    NoAccounts,
    /// An isolated symbol that cannot exist.
    #[error("'{0}' is not a valid symbol (letters and digits, e.g. BTCUSDT)")]
    InvalidSymbol(String),
    /// The same account was asked for twice.
    #[error("{0} is listed twice")]
    DuplicateAccount(Scope),
    /// An endpoint URL is unusable.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// An option is out of range.
    #[error("{0}")]
    InvalidOption(&'static str),
    /// An empty list of gateways was given.
    #[error("at least one gateway is required")]
    NoGateways,
    /// The HTTP client (TLS) could not be initialised.
    #[error("cannot set up the HTTP client: {0}")]
    Http(String),
}

/// Builds a [`UserStream`]. Start from [`UserStream::builder`].
#[derive(Clone)]
pub struct UserStreamBuilder {
    api_key: Option<String>,
    secret: Option<String>,
    /// Tried in this order; the stream starts on the first.
    gateways: Vec<Endpoints>,
    accounts: Vec<Result<Scope, BuildError>>,
    options: Options,
    clock: SharedClock,
}

impl UserStreamBuilder {
    /// The API key (sent as `X-MBX-APIKEY` when requesting tokens).
    pub fn api_key(mut self, api_key: impl Into<String>) -> Self {
        self.api_key = Some(api_key.into());
        self
    }

    /// The API key's HMAC secret (Binance calls it the secret key; `keys create` prints it as
    /// `secretKey`). Optional. With it, token requests are signed (`timestamp` + `signature`),
    /// and the stream reconciles: once each account is subscribed, on start and after every
    /// gap, it reads the margin account and its open orders with SIGNED REST requests and yields
    /// them as an [`Item::Snapshot`] (unless [`Options::snapshots`] is off). The secret is never
    /// logged or shown.
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into()).filter(|secret| !secret.is_empty());
        self
    }

    /// Binance production (the default).
    pub fn binance(mut self) -> Self {
        self.gateways = vec![Endpoints::binance()];
        self
    }

    /// A server at `base` serving REST and, under `/ws-api/v3`, the WebSocket API, such as
    /// `userstream serve` (`http://127.0.0.1:9443`).
    pub fn local(mut self, base: &str) -> Result<Self, BuildError> {
        self.gateways = vec![Endpoints::local(base)?];
        Ok(self)
    }

    /// Explicit endpoints of one gateway.
    pub fn endpoints(mut self, endpoints: Endpoints) -> Self {
        self.gateways = vec![endpoints];
        self
    }

    /// Several gateways of one cluster (nodes that share API keys and token signing keys, so a
    /// token minted on one is accepted by all), in order of preference. The stream starts on the
    /// first; when the gateway it is on is lost or refuses, it moves on to the next one in the
    /// list (wrapping around, with the usual reconnect backoff), and on `serverShutdown` it hands
    /// over to the next one. Token requests move on the same way when a REST root fails.
    ///
    /// ```
    /// use userstream_client::{Endpoints, UserStream};
    ///
    /// let nodes = ["http://10.0.0.1:9443", "http://10.0.0.2:9443"]
    ///     .into_iter()
    ///     .map(Endpoints::local)
    ///     .collect::<Result<Vec<_>, _>>()
    ///     .unwrap();
    /// let builder = UserStream::builder().api_key("key").cross().gateways(nodes);
    /// ```
    pub fn gateways(mut self, gateways: impl IntoIterator<Item = Endpoints>) -> Self {
        self.gateways = gateways.into_iter().collect();
        self
    }

    /// Stream the cross margin account.
    pub fn cross(mut self) -> Self {
        self.accounts.push(Ok(Scope::Cross));
        self
    }

    /// Stream the isolated margin account of `symbol` (e.g. `BTCUSDT`; case does not matter).
    pub fn isolated(mut self, symbol: &str) -> Self {
        let symbol = symbol.trim().to_ascii_uppercase();
        self.accounts.push(if is_valid_symbol(&symbol) {
            Ok(Scope::Isolated(symbol))
        } else {
            Err(BuildError::InvalidSymbol(symbol))
        });
        self
    }

    /// Timing and retry policy.
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// Whether to ask for stream positions and resume (default [`StreamPositions::Auto`]: when
    /// the server announces them, which Binance never does). Sets
    /// [`Options::stream_positions`]; call it after [`options`](Self::options), which replaces
    /// every option.
    pub fn stream_positions(mut self, mode: StreamPositions) -> Self {
        self.options.stream_positions = mode;
        self
    }

    /// Whether to read snapshots when a secret is given (default: yes). Sets
    /// [`Options::snapshots`]; call it after [`options`](Self::options), which replaces every
    /// option.
    pub fn snapshots(mut self, on: bool) -> Self {
        self.options.snapshots = on;
        self
    }

    /// The clock that decides when tokens are renewed and connections rotated. Tests share a
    /// manual clock with the server; everything else uses the system clock.
    pub fn clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Checks the configuration and starts streaming in a background task (call it inside a
    /// tokio runtime). Problems only the server can detect, such as a revoked key, arrive as
    /// [`Status::Terminated`].
    pub fn start(self) -> Result<UserStream, BuildError> {
        let api_key = self
            .api_key
            .map(|key| key.trim().to_owned())
            .filter(|key| !key.is_empty())
            .ok_or(BuildError::MissingApiKey)?;
        if !api_key.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(BuildError::MalformedApiKey);
        }
        let mut accounts = Vec::new();
        for account in self.accounts {
            let account = account?;
            if accounts.contains(&account) {
                return Err(BuildError::DuplicateAccount(account));
            }
            accounts.push(account);
        }
        if accounts.is_empty() {
            return Err(BuildError::NoAccounts);
        }
        if self.gateways.is_empty() {
            return Err(BuildError::NoGateways);
        }
        let options = self.options;
        if options.sbe && options.stream_positions == StreamPositions::On {
            return Err(BuildError::InvalidOption(
                "stream positions need a JSON session: SBE has no field for them",
            ));
        }
        if options.buffer == 0 {
            return Err(BuildError::InvalidOption("buffer must be at least 1"));
        }
        if options
            .token_validity
            .is_some_and(|validity| validity < Duration::from_millis(1))
        {
            return Err(BuildError::InvalidOption(
                "token_validity must be at least 1 ms",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .user_agent(concat!("userstream-client/", env!("CARGO_PKG_VERSION")));
        let http = options
            .trusted_certificates
            .trust_in(http)
            .map_err(|error| BuildError::Http(error.to_string()))?
            .build()
            .map_err(|error| BuildError::Http(token::root_cause(&error)))?;
        // One token client per gateway, sharing the HTTP client (and its connection pools).
        let tokens = self
            .gateways
            .iter()
            .map(|gateway| {
                TokenClient::new(
                    http.clone(),
                    &gateway.rest,
                    api_key.clone(),
                    self.secret.clone(),
                    options.token_validity,
                )
            })
            .collect();
        // Snapshots need the secret, and go to the REST root tokens come from.
        let snapshots = match (&self.secret, options.snapshots) {
            (Some(secret), true) => self
                .gateways
                .iter()
                .map(|gateway| {
                    SnapshotClient::new(
                        http.clone(),
                        &gateway.rest,
                        api_key.clone(),
                        secret.clone(),
                    )
                })
                .collect(),
            _ => Vec::new(),
        };
        let (out, items) = mpsc::channel(options.buffer);
        let driver = driver::Driver::new(
            options,
            self.clock,
            self.gateways,
            tokens,
            snapshots,
            accounts,
            out,
        );
        let task = tokio::spawn(driver.run());
        Ok(UserStream { items, task })
    }
}

/// A margin user data stream: a [`Stream`] of [`Item`]s that ends only after
/// [`Status::Terminated`] (or never). Dropping it closes the connection.
pub struct UserStream {
    items: mpsc::Receiver<Item>,
    task: JoinHandle<()>,
}

impl UserStream {
    /// A builder with Binance's endpoints, the default [`Options`] and the system clock.
    pub fn builder() -> UserStreamBuilder {
        UserStreamBuilder {
            api_key: None,
            secret: None,
            gateways: vec![Endpoints::binance()],
            accounts: Vec::new(),
            options: Options::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Stream for UserStream {
    type Item = Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        self.items.poll_recv(cx)
    }
}

impl Drop for UserStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `2026-11-24T10:15:02.123456Z` for microseconds since the epoch (UTC, proleptic Gregorian).
pub fn format_time_us(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{micros:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's `civil_from_days`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_formatted_in_utc() {
        assert_eq!(format_time_us(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_time_us(1_749_094_553_955_907),
            "2025-06-05T03:35:53.955907Z"
        );
        assert_eq!(
            format_time_us(951_782_400_000_000),
            "2000-02-29T00:00:00.000000Z"
        );
        assert_eq!(format_time_us(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[tokio::test]
    async fn configuration_errors_are_caught_before_start() {
        let start = |builder: UserStreamBuilder| builder.start().err();
        let base = UserStream::builder().api_key("k").cross();
        assert_eq!(
            start(UserStream::builder().cross()),
            Some(BuildError::MissingApiKey)
        );
        assert_eq!(
            start(UserStream::builder().api_key("a b").cross()),
            Some(BuildError::MalformedApiKey)
        );
        assert_eq!(
            start(UserStream::builder().api_key("k")),
            Some(BuildError::NoAccounts)
        );
        assert_eq!(
            start(base.clone().isolated("no/pe")),
            Some(BuildError::InvalidSymbol("NO/PE".into()))
        );
        assert_eq!(
            start(base.clone().cross()),
            Some(BuildError::DuplicateAccount(Scope::Cross))
        );
        assert!(matches!(
            base.clone().local("localhost:9443").err(),
            Some(BuildError::Url(_))
        ));
        assert_eq!(
            start(base.clone().gateways([])),
            Some(BuildError::NoGateways)
        );
        assert!(base.isolated("btcusdt").start().is_ok());
    }
}
