//! Reconciling over REST: the margin account and its open orders, read with Binance's SIGNED
//! requests, so a consumer can rebuild its state on start and after a gap.
//!
//! Each request carries its parameters in the query string with an empty body, then
//! `recvWindow`, `timestamp` and `signature` (the hex HMAC-SHA256 of everything before it, keyed
//! with the API secret), and the API key in `X-MBX-APIKEY`:
//!
//! | account | margin account | open orders |
//! |---|---|---|
//! | cross | `GET /sapi/v1/margin/account` | `GET /sapi/v1/margin/openOrders` (every symbol) |
//! | isolated `SYM` | `GET /sapi/v1/margin/isolated/account?symbols=SYM` | `GET /sapi/v1/margin/openOrders?symbol=SYM&isIsolated=TRUE` |
//!
//! The answers are read with the protocol's Binance shapes ([`userstream_protocol::rest`]), so
//! the same code reads Binance and the userstream simulator.

use crate::token::{API_KEY_HEADER, root_cause, sign};
use reqwest::Url;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::time::Duration;
use userstream_protocol::Scope;
use userstream_protocol::rest::{
    CrossMarginAccount, IsolatedMarginAccounts, IsolatedPair, MarginOrder,
};

/// `GET`: the cross margin account.
pub(crate) const CROSS_ACCOUNT_PATH: &str = "/sapi/v1/margin/account";
/// `GET ?symbols=SYM`: isolated margin accounts.
pub(crate) const ISOLATED_ACCOUNT_PATH: &str = "/sapi/v1/margin/isolated/account";
/// `GET`: open margin orders (cross: every symbol; isolated: `symbol=SYM&isIsolated=TRUE`).
pub(crate) const OPEN_ORDERS_PATH: &str = "/sapi/v1/margin/openOrders";
/// `recvWindow` sent with every snapshot request: Binance's default, in milliseconds.
/// Largest snapshot answer read (Binance caps open orders at 200 per symbol).
const MAX_ANSWER_BYTES: usize = 8 * 1024 * 1024;
pub(crate) const RECV_WINDOW_MS: u64 = 5000;

/// The state of one margin account, read over REST after its subscription was answered: every
/// event not reflected in it follows it in the stream (see [`Item::Snapshot`]).
///
/// [`Item::Snapshot`]: crate::Item::Snapshot
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The account.
    pub account: Scope,
    /// When the requests were sent, on the client's clock (µs since the Unix epoch).
    pub taken_at_us: i64,
    /// The margin account: balances, borrowings, margin level.
    pub margin_account: MarginAccount,
    /// The account's open orders (cross: on every symbol), as Binance lists them.
    pub open_orders: Vec<MarginOrder>,
}

impl Snapshot {
    /// A snapshot of `account` taken at `taken_at_us` (to replay or test with; the stream
    /// builds its own).
    pub fn new(
        account: Scope,
        taken_at_us: i64,
        margin_account: MarginAccount,
        open_orders: Vec<MarginOrder>,
    ) -> Snapshot {
        Snapshot {
            account,
            taken_at_us,
            margin_account,
            open_orders,
        }
    }
}

/// A margin account as Binance's REST API shows it.
// One per snapshot, which the stream boxes: boxing a variant would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MarginAccount {
    /// `GET /sapi/v1/margin/account`.
    Cross(CrossMarginAccount),
    /// The pair's entry of `GET /sapi/v1/margin/isolated/account?symbols=SYM`.
    Isolated(IsolatedPair),
}

/// Why a snapshot could not be taken. Every one is retried; none ends the stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// The server answered with a Binance error body (e.g. `-1022`: bad signature, `-1021`:
    /// timestamp outside `recvWindow`, `-2015`: the key may not read the account).
    #[error("{path}: HTTP {status}, code {code}: {msg}")]
    Refused {
        /// The endpoint.
        path: &'static str,
        /// HTTP status.
        status: u16,
        /// Binance error code.
        code: i32,
        /// The server's message.
        msg: String,
        /// The `Retry-After` header of a 429 or 418, if any.
        retry_after: Option<Duration>,
    },
    /// The server answered with something that is neither the expected shape nor a Binance
    /// error.
    #[error("{path}: HTTP {status}: {body}")]
    BadAnswer {
        /// The endpoint.
        path: &'static str,
        /// HTTP status.
        status: u16,
        /// What was wrong, or the start of the body.
        body: String,
    },
    /// The request did not get an answer (connection refused, timeout, TLS failure…).
    #[error("{path}: {error}")]
    Transport {
        /// The endpoint.
        path: &'static str,
        /// What happened.
        error: String,
    },
}

impl SnapshotError {
    /// The least time to wait before trying again, when the server said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SnapshotError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// Reads margin accounts and their open orders for one API key and secret.
///
/// ```no_run
/// use userstream_client::{Scope, SnapshotClient};
///
/// # async fn run() -> Result<(), userstream_client::SnapshotError> {
/// let base = "https://api.binance.com".parse().unwrap();
/// let client = SnapshotClient::new(reqwest::Client::new(), &base, "key".into(), "secret".into());
/// let snapshot = client.fetch(&Scope::Cross, 1_700_000_000_000_000).await?;
/// println!("{} open orders", snapshot.open_orders.len());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SnapshotClient {
    http: reqwest::Client,
    /// The REST root, without a trailing slash in its path.
    base: Url,
    api_key: String,
    secret: String,
}

impl std::fmt::Debug for SnapshotClient {
    /// Never shows the key or the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl SnapshotClient {
    /// `rest_base` is the REST root, e.g. `https://api.binance.com` (the one tokens come from).
    pub fn new(
        http: reqwest::Client,
        rest_base: &Url,
        api_key: String,
        secret: String,
    ) -> SnapshotClient {
        SnapshotClient {
            http,
            base: rest_base.clone(),
            api_key,
            secret,
        }
    }

    /// Reads `account` and its open orders, both requests at once, stamped `now_us` (the
    /// client's clock: `timestamp` is its milliseconds).
    pub async fn fetch(&self, account: &Scope, now_us: i64) -> Result<Snapshot, SnapshotError> {
        let now_ms = now_us.div_euclid(1000);
        let (margin_account, open_orders) = match account.isolated_symbol() {
            None => {
                let (margin_account, open_orders) = tokio::join!(
                    self.get::<CrossMarginAccount>(CROSS_ACCOUNT_PATH, &[], now_ms),
                    self.get::<Vec<MarginOrder>>(OPEN_ORDERS_PATH, &[], now_ms),
                );
                (MarginAccount::Cross(margin_account?), open_orders?)
            }
            Some(symbol) => {
                let account_params = [("symbols", symbol)];
                let order_params = [("symbol", symbol), ("isIsolated", "TRUE")];
                let (accounts, open_orders) = tokio::join!(
                    self.get::<IsolatedMarginAccounts>(
                        ISOLATED_ACCOUNT_PATH,
                        &account_params,
                        now_ms
                    ),
                    self.get::<Vec<MarginOrder>>(OPEN_ORDERS_PATH, &order_params, now_ms),
                );
                let pair = accounts?
                    .assets
                    .into_iter()
                    .find(|pair| pair.symbol == symbol)
                    .ok_or_else(|| SnapshotError::BadAnswer {
                        path: ISOLATED_ACCOUNT_PATH,
                        status: 200,
                        body: format!("no isolated account for {symbol} in the answer"),
                    })?;
                (MarginAccount::Isolated(pair), open_orders?)
            }
        };
        Ok(Snapshot {
            account: account.clone(),
            taken_at_us: now_us,
            margin_account,
            open_orders,
        })
    }

    /// One signed `GET` of `path` with `params`, read as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        path: &'static str,
        params: &[(&str, &str)],
        now_ms: i64,
    ) -> Result<T, SnapshotError> {
        let mut url = self.base.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        url.set_query(Some(&signed_query(params, &self.secret, now_ms)));
        let transport = |error: reqwest::Error| SnapshotError::Transport {
            path,
            error: root_cause(&error),
        };
        let response = self
            .http
            .get(url)
            .header(API_KEY_HEADER, &self.api_key)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = crate::token::retry_after(response.headers());
        // A margin account and its open orders are kilobytes; a server that sends more than
        // this is not answering the question, and must not fill the client's memory.
        let mut response = response;
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
                return Err(SnapshotError::BadAnswer {
                    path,
                    status,
                    body: format!("an answer longer than {MAX_ANSWER_BYTES} bytes"),
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = String::from_utf8_lossy(&bytes);
        parse_answer(path, status, &body, retry_after)
    }
}

/// `params`, then `recvWindow`, then `timestamp` and the `signature` over all of it.
pub(crate) fn signed_query(params: &[(&str, &str)], secret: &str, now_ms: i64) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in params {
        query.append_pair(name, value);
    }
    query.append_pair("recvWindow", &RECV_WINDOW_MS.to_string());
    sign(query.finish(), secret, now_ms)
}

/// Turns an HTTP answer into a `T` or a [`SnapshotError`].
fn parse_answer<T: DeserializeOwned>(
    path: &'static str,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> Result<T, SnapshotError> {
    #[derive(Deserialize)]
    struct ErrorBody {
        code: i32,
        msg: String,
    }
    if (200..300).contains(&status)
        && let Ok(answer) = serde_json::from_str::<T>(body)
    {
        return Ok(answer);
    }
    if let Ok(error) = serde_json::from_str::<ErrorBody>(body) {
        return Err(SnapshotError::Refused {
            path,
            status,
            code: error.code,
            msg: error.msg,
            retry_after,
        });
    }
    let body = match serde_json::from_str::<T>(body) {
        Err(error) if (200..300).contains(&status) => format!("unexpected answer ({error})"),
        _ => body.chars().take(200).collect(),
    };
    Err(SnapshotError::BadAnswer { path, status, body })
}

#[cfg(test)]
mod tests;
