//! Where to connect and how patiently: endpoints and timing policy.

use crate::backoff::Backoff;
use crate::tls::TrustedCertificates;
use reqwest::Url;
use std::time::Duration;
use userstream_protocol::TimeUnit;

/// Binance's REST root, where tokens are issued.
pub const BINANCE_REST_URL: &str = "https://api.binance.com";
/// Binance's WebSocket API, where listen tokens are subscribed.
pub const BINANCE_WS_API_URL: &str = "wss://ws-api.binance.com:443/ws-api/v3";
/// The WebSocket API path under a server's root.
pub const WS_API_PATH: &str = "/ws-api/v3";

/// The REST root (token issuance) and the WebSocket API URL.
///
/// ```
/// use userstream_client::Endpoints;
///
/// let local = Endpoints::local("http://127.0.0.1:9443").unwrap();
/// assert_eq!(local.ws.as_str(), "ws://127.0.0.1:9443/ws-api/v3");
/// assert_eq!(Endpoints::binance().rest.as_str(), "https://api.binance.com/");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// The REST root: tokens come from `<rest>/sapi/v1/userListenToken`.
    pub rest: Url,
    /// The WebSocket API URL.
    pub ws: Url,
}

/// An endpoint URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{url}' {problem}")]
pub struct UrlError {
    /// The URL as given.
    pub url: String,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl Endpoints {
    /// Binance production.
    pub fn binance() -> Endpoints {
        Endpoints::new(BINANCE_REST_URL, BINANCE_WS_API_URL)
            .unwrap_or_else(|_| unreachable!("the Binance URLs are valid"))
    }

    /// A server at `base` (`http://host:port`, optionally with a path prefix) serving both
    /// the REST API and, under `/ws-api/v3`, the WebSocket API, as `userstream serve` does.
    pub fn local(base: &str) -> Result<Endpoints, UrlError> {
        let rest = parse(base, &["http", "https"])?;
        let mut ws = rest.clone();
        let scheme = if rest.scheme() == "https" {
            "wss"
        } else {
            "ws"
        };
        // Switching between special schemes of the same kind cannot fail.
        let _ = ws.set_scheme(scheme);
        let path = format!("{}{WS_API_PATH}", rest.path().trim_end_matches('/'));
        ws.set_path(&path);
        Ok(Endpoints { rest, ws })
    }

    /// Explicit REST root and WebSocket API URL.
    pub fn new(rest: &str, ws: &str) -> Result<Endpoints, UrlError> {
        Ok(Endpoints {
            rest: parse(rest, &["http", "https"])?,
            ws: parse(ws, &["ws", "wss"])?,
        })
    }
}

fn parse(text: &str, schemes: &[&str]) -> Result<Url, UrlError> {
    let error = |problem| UrlError {
        url: text.to_owned(),
        problem,
    };
    let url = Url::parse(text.trim()).map_err(|_| error("is not a valid URL"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(error(if schemes[0] == "ws" {
            "must start with ws:// or wss://"
        } else {
            "must start with http:// or https://"
        }));
    }
    if url.host_str().is_none() {
        return Err(error("has no host"));
    }
    Ok(url)
}

/// Timing and retry policy. The defaults suit Binance; tests shorten them.
///
/// ```
/// use std::time::Duration;
/// use userstream_client::{Options, UserStream};
///
/// let options = Options {
///     token_validity: Some(Duration::from_secs(3600)),
///     max_reconnect_attempts: Some(100),
///     ..Options::default()
/// };
/// let builder = UserStream::builder().api_key("key").cross().options(options);
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    /// `validity` sent with token requests; `None` takes the server's default (24 h on Binance).
    pub token_validity: Option<Duration>,
    /// How long before expiry a subscription is renewed. `None`: a quarter of the token's
    /// lifetime, at most 10 minutes (10 minutes for Binance's 24 h tokens).
    pub renew_before: Option<Duration>,
    /// A connection is replaced (make-before-break) once it is this old. Binance closes
    /// connections after 24 h.
    pub rotate_connection_after: Duration,
    /// Delays between reconnect attempts.
    pub reconnect_backoff: Backoff,
    /// Delays between failed token requests.
    pub token_backoff: Backoff,
    /// Give up after this many reconnect attempts in a row; `None` never gives up.
    pub max_reconnect_attempts: Option<u32>,
    /// Send a ping when nothing has been heard for this long (Binance pings every 20 s).
    pub ping_after: Duration,
    /// Declare the connection dead when that ping is not answered within this long.
    pub pong_timeout: Duration,
    /// Declare the connection dead when a request gets no response within this long.
    pub request_timeout: Duration,
    /// Give up on opening a connection (TCP, TLS and WebSocket handshake) after this long.
    pub connect_timeout: Duration,
    /// During a handover, how long the old connection may take to confirm it has delivered
    /// everything before it is closed anyway.
    pub handover_timeout: Duration,
    /// The `timeUnit` asked of the server. Microseconds lose nothing; events are typed in µs
    /// either way.
    pub time_unit: TimeUnit,
    /// Take the stream in SBE (Binance's schema 3:5, binary frames) instead of JSON: smaller
    /// frames that are cheaper to read. Events come out the same; SBE always carries µs.
    pub sbe: bool,
    /// Items buffered for a slow reader before the client stops reading the socket.
    pub buffer: usize,
    /// Certificates trusted besides the public web roots, for a gateway with a private
    /// certificate (HTTPS and `wss://`).
    pub trusted_certificates: TrustedCertificates,
    /// Whether connections ask for stream positions, so that a reconnect resumes where it
    /// left off instead of reporting a gap (a userstream extension; Binance has none).
    pub stream_positions: StreamPositions,
    /// With an API secret ([`UserStreamBuilder::secret`](crate::UserStreamBuilder::secret)):
    /// read each account's margin account and open orders over REST once its subscription is
    /// answered, on start and after every gap, and yield them as an
    /// [`Item::Snapshot`](crate::Item::Snapshot). Without a secret nothing is read. `false`
    /// never reads them, secret or not.
    pub snapshots: bool,
}

/// Whether to use stream positions and resume (docs/protocol.md §7), a userstream extension.
///
/// Binance is never sent anything it does not document: in the default [`Auto`] mode the
/// client asks for positions only once a token answer has carried userstream's
/// `X-Userstream-Extensions: streamPositions` header, which Binance never sends.
///
/// [`Auto`]: StreamPositions::Auto
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StreamPositions {
    /// Use them when the server says it has them: the first connection opens once the first
    /// token has been answered, and with `streamPositions=true` only when that answer
    /// announced the extension. An SBE session never asks (SBE has no field for positions).
    #[default]
    Auto,
    /// Never ask: connections are exactly what a Binance client opens, and every lost
    /// stretch is reported as a [`Gap`](crate::Gap).
    Off,
    /// Always ask, without waiting for the announcement (for a userstream server behind a
    /// proxy that drops the header). Never use it against Binance. Not with `sbe`.
    On,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            token_validity: None,
            renew_before: None,
            rotate_connection_after: Duration::from_secs(23 * 3600 + 45 * 60),
            reconnect_backoff: Backoff::default(),
            token_backoff: Backoff::default(),
            max_reconnect_attempts: None,
            ping_after: Duration::from_secs(30),
            pong_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            handover_timeout: Duration::from_secs(5),
            time_unit: TimeUnit::Microsecond,
            sbe: false,
            buffer: 1024,
            trusted_certificates: TrustedCertificates::default(),
            stream_positions: StreamPositions::default(),
            snapshots: true,
        }
    }
}

/// The longest default renewal lead.
const MAX_DEFAULT_LEAD: Duration = Duration::from_secs(600);

impl Options {
    /// How long before expiry to renew a token that lives `lifetime`.
    pub fn renewal_lead(&self, lifetime: Duration) -> Duration {
        match self.renew_before {
            Some(lead) => lead.min(lifetime / 2),
            None => (lifetime / 4).min(MAX_DEFAULT_LEAD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_endpoints() {
        let endpoints = Endpoints::local("https://gw.example/prefix/").unwrap();
        assert_eq!(endpoints.ws.as_str(), "wss://gw.example/prefix/ws-api/v3");
        assert!(Endpoints::local("ws://host").is_err());
        assert!(Endpoints::local("127.0.0.1:9443").is_err());
        assert!(Endpoints::new("http://a", "http://b").is_err());
        assert!(Endpoints::new("http://a", "ws://b/ws-api/v3").is_ok());
    }

    #[test]
    fn renewal_lead() {
        let options = Options::default();
        let day = Duration::from_secs(86_400);
        assert_eq!(options.renewal_lead(day), MAX_DEFAULT_LEAD);
        assert_eq!(
            options.renewal_lead(Duration::from_secs(60)),
            Duration::from_secs(15)
        );
        let fixed = Options {
            renew_before: Some(Duration::from_secs(40)),
            ..Options::default()
        };
        assert_eq!(fixed.renewal_lead(day), Duration::from_secs(40));
        assert_eq!(
            fixed.renewal_lead(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
    }
}
