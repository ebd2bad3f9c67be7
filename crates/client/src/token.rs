//! `POST /sapi/v1/userListenToken`, exactly as Binance expects it, and what its failures mean.
//!
//! Parameters travel in the query string with an empty body. With a secret the request is
//! signed: `timestamp` is appended, then `signature`, the hex HMAC-SHA256 of everything before it,
//! computed over the very bytes that are sent (servers check the raw query).

use reqwest::Url;
use serde::Deserialize;
use std::time::Duration;
use userstream_protocol::Scope;
use userstream_protocol::error::codes;
use userstream_protocol::position::{EXTENSIONS_HEADER, advertises_stream_positions};
use userstream_protocol::signature::hmac_sha256_hex;

/// The header Binance reads the API key from.
pub const API_KEY_HEADER: &str = "X-MBX-APIKEY";

/// The path of the token endpoint.
pub const TOKEN_PATH: &str = "/sapi/v1/userListenToken";

/// A listen token and when it expires.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenToken {
    /// The opaque token to subscribe with.
    pub token: String,
    /// `expirationTime` as the server sent it: milliseconds since the Unix epoch.
    pub expiration_time_ms: i64,
}

impl std::fmt::Debug for ListenToken {
    /// Shows only the start of the token: it grants access to an account's events.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenToken")
            .field("token", &redact(&self.token))
            .field("expiration_time_ms", &self.expiration_time_ms)
            .finish()
    }
}

/// The first few characters of a secret and its length, safe for logs.
pub fn redact(secret: &str) -> String {
    let head: String = secret.chars().take(4).collect();
    format!("{head}…({} chars)", secret.chars().count())
}

/// Why a token request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The server answered with a Binance error body.
    #[error("HTTP {status}, code {code}: {msg}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Binance error code, e.g. -2015.
        code: i32,
        /// The server's message.
        msg: String,
        /// The `Retry-After` header of a 429 or 418, if any.
        retry_after: Option<Duration>,
    },
    /// The server answered with something that is not a token nor a Binance error. For a 2xx
    /// answer `body` only describes what was wrong (it may hold a token).
    #[error("HTTP {status}: {body}")]
    BadAnswer {
        /// HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The request did not get an answer (connection refused, timeout, TLS failure…).
    #[error("{0}")]
    Transport(String),
}

impl TokenError {
    /// True when retrying cannot help: the key, the account or the request itself is wrong.
    pub fn is_fatal(&self) -> bool {
        match self {
            TokenError::Refused { status, code, .. } => {
                !retryable_status(*status)
                    && !matches!(
                        *code,
                        codes::UNKNOWN
                            | codes::DISCONNECTED
                            | codes::TOO_MANY_REQUESTS
                            | codes::TIMEOUT
                            | codes::SERVER_BUSY
                            | codes::INVALID_TIMESTAMP
                    )
            }
            TokenError::BadAnswer { status, .. } => !retryable_status(*status),
            TokenError::Transport(_) => false,
        }
    }

    /// The least time to wait before trying again, when the server said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            TokenError::Refused { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// 5xx, 429 (too many requests), 418 (banned for a while) and 408 pass with time.
fn retryable_status(status: u16) -> bool {
    status >= 500 || matches!(status, 408 | 418 | 429)
}

/// Issues listen tokens for one API key.
///
/// ```no_run
/// use userstream_client::{Scope, TokenClient};
///
/// # async fn run() -> Result<(), userstream_client::TokenError> {
/// let base = "http://127.0.0.1:9443".parse().unwrap();
/// let tokens = TokenClient::new(reqwest::Client::new(), &base, "my-api-key".into(), None, None);
/// let token = tokens.fetch(&Scope::Isolated("BTCUSDT".into()), 0).await?;
/// println!("valid until {}", token.expiration_time_ms);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TokenClient {
    http: reqwest::Client,
    endpoint: Url,
    api_key: String,
    secret: Option<String>,
    validity: Option<Duration>,
}

impl TokenClient {
    /// `rest_base` is the REST root, e.g. `https://api.binance.com`.
    pub fn new(
        http: reqwest::Client,
        rest_base: &Url,
        api_key: String,
        secret: Option<String>,
        validity: Option<Duration>,
    ) -> TokenClient {
        let mut endpoint = rest_base.clone();
        let base_path = endpoint.path().trim_end_matches('/').to_owned();
        endpoint.set_path(&format!("{base_path}{TOKEN_PATH}"));
        TokenClient {
            http,
            endpoint,
            api_key,
            secret,
            validity,
        }
    }

    /// Requests a token for `account`; `now_ms` stamps signed requests.
    pub async fn fetch(&self, account: &Scope, now_ms: i64) -> Result<ListenToken, TokenError> {
        self.fetch_announced(account, now_ms)
            .await
            .map(|(token, _)| token)
    }

    /// [`fetch`](Self::fetch), and whether the answer announced stream positions (a userstream
    /// server's `X-Userstream-Extensions` header; Binance never sends it).
    pub(crate) async fn fetch_announced(
        &self,
        account: &Scope,
        now_ms: i64,
    ) -> Result<(ListenToken, bool), TokenError> {
        let validity_ms = self
            .validity
            .map(|validity| u64::try_from(validity.as_millis()).unwrap_or(u64::MAX));
        let mut query = unsigned_query(account.isolated_symbol(), validity_ms);
        if let Some(secret) = &self.secret {
            query = sign(query, secret, now_ms);
        }
        let mut url = self.endpoint.clone();
        if !query.is_empty() {
            url.set_query(Some(&query));
        }
        let response = self
            .http
            .post(url)
            .header(API_KEY_HEADER, &self.api_key)
            .send()
            .await
            .map_err(|error| TokenError::Transport(root_cause(&error)))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        let positions = response
            .headers()
            .get_all(EXTENSIONS_HEADER)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(advertises_stream_positions);
        let body = response
            .text()
            .await
            .map_err(|error| TokenError::Transport(root_cause(&error)))?;
        parse_answer(status, &body, retry_after).map(|token| (token, positions))
    }
}

/// Turns the HTTP answer into a token or a [`TokenError`].
fn parse_answer(
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
) -> Result<ListenToken, TokenError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Answer {
        token: String,
        expiration_time: i64,
    }
    #[derive(Deserialize)]
    struct ErrorBody {
        code: i32,
        msg: String,
    }
    if (200..300).contains(&status) {
        return match serde_json::from_str::<Answer>(body) {
            Ok(answer) => Ok(ListenToken {
                token: answer.token,
                expiration_time_ms: answer.expiration_time,
            }),
            // The body may hold a token: describe it, never quote it.
            Err(error) => Err(TokenError::BadAnswer {
                status,
                body: format!("not a token answer ({error})"),
            }),
        };
    } else if let Ok(error) = serde_json::from_str::<ErrorBody>(body) {
        return Err(TokenError::Refused {
            status,
            code: error.code,
            msg: error.msg,
            retry_after,
        });
    }
    Err(TokenError::BadAnswer {
        status,
        body: body.chars().take(200).collect(),
    })
}

/// `isIsolated=true&symbol=SYM` for an isolated account, then `validity` when asked for.
pub fn unsigned_query(isolated_symbol: Option<&str>, validity_ms: Option<u64>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(symbol) = isolated_symbol {
        query.append_pair("isIsolated", "true");
        query.append_pair("symbol", symbol);
    }
    if let Some(validity) = validity_ms {
        query.append_pair("validity", &validity.to_string());
    }
    query.finish()
}

/// Appends `timestamp`, then `signature` over the whole query up to it.
pub fn sign(query: String, secret: &str, now_ms: i64) -> String {
    let mut signed = query;
    if !signed.is_empty() {
        signed.push('&');
    }
    signed.push_str(&format!("timestamp={now_ms}"));
    // HMAC takes keys of any length, so there is always a signature; the fallback only
    // satisfies the type (the server would refuse an empty one).
    let signature = hmac_sha256_hex(secret.as_bytes(), signed.as_bytes()).unwrap_or_default();
    signed.push_str(&format!("&signature={signature}"));
    signed
}

/// The innermost cause, e.g. "Connection refused (os error 111)"; outer layers repeat the URL.
/// The command line words its HTTP errors with it too.
pub fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// A `Retry-After: <seconds>` header (429 and 418 answers carry one).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_shapes() {
        assert_eq!(unsigned_query(None, None), "");
        assert_eq!(unsigned_query(None, Some(60_000)), "validity=60000");
        assert_eq!(
            unsigned_query(Some("BNBUSDT"), Some(1)),
            "isIsolated=true&symbol=BNBUSDT&validity=1"
        );
    }

    #[test]
    fn signing_appends_timestamp_then_signature() {
        let signed = sign("validity=5".into(), "s", 1_700_000_000_000);
        let (payload, signature) = signed.split_once("&signature=").unwrap();
        assert_eq!(payload, "validity=5&timestamp=1700000000000");
        assert_eq!(
            Some(signature.to_owned()),
            hmac_sha256_hex(b"s", payload.as_bytes())
        );
        assert!(sign(String::new(), "s", 1).starts_with("timestamp=1&signature="));
    }

    #[test]
    fn the_endpoint_keeps_a_path_prefix() {
        let http = reqwest::Client::new();
        let base = Url::parse("http://host:1/prefix/").unwrap();
        let client = TokenClient::new(http, &base, "k".into(), None, None);
        assert_eq!(
            client.endpoint.as_str(),
            "http://host:1/prefix/sapi/v1/userListenToken"
        );
    }

    #[test]
    fn answers_are_classified() {
        let token = parse_answer(200, r#"{"token":"t","expirationTime":5}"#, None).unwrap();
        assert_eq!(token.expiration_time_ms, 5);
        let refused = |status, code| {
            parse_answer(status, &format!(r#"{{"code":{code},"msg":"m"}}"#), None).unwrap_err()
        };
        assert!(refused(401, -2015).is_fatal());
        assert!(refused(401, -2014).is_fatal());
        assert!(refused(400, -3003).is_fatal());
        assert!(refused(400, -1121).is_fatal());
        assert!(!refused(429, -1003).is_fatal());
        assert!(!refused(418, -1003).is_fatal());
        assert!(!refused(500, -1001).is_fatal());
        assert!(!refused(400, -1021).is_fatal());
        assert!(parse_answer(404, "not found", None).unwrap_err().is_fatal());
        assert!(!parse_answer(502, "<html>", None).unwrap_err().is_fatal());
        // A 200 that is not a token: the URL points at something else.
        assert!(parse_answer(200, "{}", None).unwrap_err().is_fatal());
        assert!(!TokenError::Transport("refused".into()).is_fatal());
    }

    #[test]
    fn a_malformed_token_answer_is_not_quoted() {
        let error = parse_answer(
            200,
            r#"{"token":"secret-token","expirationTime":"soon"}"#,
            None,
        )
        .unwrap_err();
        assert!(!error.to_string().contains("secret-token"), "{error}");
    }

    #[test]
    fn tokens_are_redacted_in_debug_output() {
        let token = ListenToken {
            token: "abcdefghijklmnop".into(),
            expiration_time_ms: 1,
        };
        let shown = format!("{token:?}");
        assert!(!shown.contains("efgh"), "{shown}");
        assert!(shown.contains("abcd…(16 chars)"), "{shown}");
    }
}
