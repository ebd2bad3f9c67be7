//! Binance error codes and the `{"code":…,"msg":"…"}` error body.
//!
//! Every error the gateway reports, over REST or the WebSocket API, is an [`ApiError`]: the exact
//! code and message a Binance client would see, plus the HTTP / WebSocket API status it travels with.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// An error as Binance reports it: a negative code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// HTTP status (REST) or `status` field (WebSocket API). Not part of the JSON body.
    #[serde(skip, default = "default_status")]
    pub status: u16,
    pub code: i32,
    pub msg: Cow<'static, str>,
}

fn default_status() -> u16 {
    400
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status, self.msg)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    pub fn new(status: u16, code: i32, msg: impl Into<Cow<'static, str>>) -> Self {
        ApiError {
            status,
            code,
            msg: msg.into(),
        }
    }

    /// -1003: request weight over the limit.
    pub fn too_much_weight(limit: u64, interval: &str) -> Self {
        Self::new(
            429,
            codes::TOO_MANY_REQUESTS,
            format!(
                "Too much request weight used; current limit is {limit} request weight per {interval}. Please use WebSocket Streams for live updates to avoid polling the API."
            ),
        )
    }

    /// -1003: too many new connections from one IP.
    pub fn too_many_connections(limit: u64, window_ms: i64) -> Self {
        Self::new(
            429,
            codes::TOO_MANY_REQUESTS,
            format!(
                "Too many new connections; current limit is {limit} connections per {} seconds.",
                window_ms / 1000
            ),
        )
    }

    /// -1003 with HTTP/status 418: the IP is banned until `until_ms`.
    pub fn ip_banned(until_ms: i64) -> Self {
        Self::new(
            418,
            codes::TOO_MANY_REQUESTS,
            format!(
                "Way too much request weight used; IP banned until {until_ms}. Please use WebSocket Streams for live updates to avoid bans."
            ),
        )
    }

    /// -1013: unknown WebSocket API method (our decision; Binance documents none).
    pub fn unknown_method() -> Self {
        Self::new(
            400,
            codes::INVALID_MESSAGE,
            "Invalid request: unknown method.",
        )
    }

    /// -1021: `timestamp` outside `recvWindow` or ahead of the server.
    pub fn timestamp_outside_window() -> Self {
        Self::new(
            400,
            codes::INVALID_TIMESTAMP,
            "Timestamp for this request is outside of the recvWindow.",
        )
    }

    /// -1021: `timestamp` more than 1 s ahead of the server clock.
    pub fn timestamp_ahead() -> Self {
        Self::new(
            400,
            codes::INVALID_TIMESTAMP,
            "Timestamp for this request was 1000ms ahead of the server's time.",
        )
    }

    /// -1022: HMAC signature mismatch.
    pub fn bad_signature() -> Self {
        Self::new(
            400,
            codes::INVALID_SIGNATURE,
            "Signature for this request is not valid.",
        )
    }

    /// -1100: a parameter with characters outside its legal set.
    pub fn illegal_chars(param: &str) -> Self {
        Self::new(
            400,
            codes::ILLEGAL_CHARS,
            format!("Illegal characters found in parameter '{param}'."),
        )
    }

    /// -1101: the same parameter sent twice.
    pub fn duplicate_param() -> Self {
        Self::new(
            400,
            codes::TOO_MANY_PARAMETERS,
            "Duplicate values for a parameter detected.",
        )
    }

    /// -1102: a mandatory parameter missing, empty or malformed.
    pub fn mandatory_param(param: &str) -> Self {
        Self::new(
            400,
            codes::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
            format!("Mandatory parameter '{param}' was not sent, was empty/null, or malformed."),
        )
    }

    /// -1103: a parameter the endpoint does not know.
    pub fn unknown_param() -> Self {
        Self::new(400, codes::UNKNOWN_PARAM, "An unknown parameter was sent.")
    }

    /// -1106: a parameter this kind of request must not carry (e.g. `price` on a MARKET order).
    pub fn param_not_required(param: &str) -> Self {
        Self::new(
            400,
            codes::PARAM_NOT_REQUIRED,
            format!("Parameter '{param}' sent when not required."),
        )
    }

    /// -1115: an unknown `timeInForce`.
    pub fn invalid_time_in_force() -> Self {
        Self::new(400, codes::INVALID_TIF, "Invalid timeInForce.")
    }

    /// -1116: an unknown order `type`.
    pub fn invalid_order_type() -> Self {
        Self::new(400, codes::INVALID_ORDER_TYPE, "Invalid orderType.")
    }

    /// -1117: an unknown `side`.
    pub fn invalid_side() -> Self {
        Self::new(400, codes::INVALID_SIDE, "Invalid side.")
    }

    /// -1121: a symbol that is not listed.
    pub fn invalid_symbol() -> Self {
        Self::new(400, codes::BAD_SYMBOL, "Invalid symbol.")
    }

    /// -1130: a parameter whose value is out of its domain.
    pub fn invalid_param_value(param: &str) -> Self {
        Self::new(
            400,
            codes::INVALID_PARAMETER,
            format!("Data sent for parameter '{param}' is not valid."),
        )
    }

    /// -1131: `recvWindow` over 60 000.
    pub fn bad_recv_window() -> Self {
        Self::new(
            400,
            codes::BAD_RECV_WINDOW,
            "recvWindow must be less than 60000",
        )
    }

    /// -1135: a WebSocket API frame that is not a JSON request (our decision for the code).
    pub fn invalid_json() -> Self {
        Self::new(400, codes::INVALID_JSON, "Invalid JSON Request")
    }

    /// -1194: bad `timeUnit` at the WebSocket handshake.
    pub fn invalid_time_unit() -> Self {
        Self::new(400, codes::INVALID_TIME_UNIT, "Invalid time unit provided.")
    }

    /// -1209: listen token invalid, forged, expired or revoked (our decision for the text).
    pub fn invalid_listen_token() -> Self {
        Self::new(400, codes::INVALID_LISTEN_TOKEN, "Invalid listen token.")
    }

    /// -2014: `X-MBX-APIKEY` missing or not shaped like an API key.
    pub fn api_key_format() -> Self {
        Self::new(401, codes::BAD_API_KEY_FMT, "API-key format invalid.")
    }

    /// -2015: unknown, revoked or disabled API key.
    pub fn rejected_api_key() -> Self {
        Self::new(
            401,
            codes::REJECTED_MBX_KEY,
            "Invalid API-key, IP, or permissions for action.",
        )
    }

    /// -2042: the connection used all of its lifetime subscription ids.
    pub fn max_subscription_id() -> Self {
        Self::new(
            400,
            codes::MAX_SUBSCRIPTION_ID,
            "Maximum subscription ID reached for this connection.",
        )
    }

    /// -2043: too many active subscriptions on one connection (our decision for code and text).
    pub fn too_many_subscriptions(limit: usize) -> Self {
        Self::new(
            400,
            codes::TOO_MANY_SUBSCRIPTIONS,
            format!("Too many active subscriptions on this connection; the limit is {limit}."),
        )
    }

    /// -3003: the user has no isolated margin account for the symbol.
    pub fn margin_account_missing() -> Self {
        Self::new(
            400,
            codes::MARGIN_ACCOUNT_NOT_EXIST,
            "Margin account does not exist.",
        )
    }

    /// -1001: a backend this node needs is out of reach for now; the client should retry.
    pub fn disconnected() -> Self {
        Self::new(
            503,
            codes::DISCONNECTED,
            "Internal error; unable to process your request. Please try again.",
        )
    }

    /// -1000: an internal failure (store unavailable and the like).
    pub fn internal(msg: impl Into<Cow<'static, str>>) -> Self {
        Self::new(500, codes::UNKNOWN, msg)
    }
}

/// The numeric codes used by the gateway, named as in Binance's `errors.md`.
pub mod codes {
    pub const UNKNOWN: i32 = -1000;
    pub const DISCONNECTED: i32 = -1001;
    pub const TOO_MANY_REQUESTS: i32 = -1003;
    pub const TIMEOUT: i32 = -1007;
    pub const SERVER_BUSY: i32 = -1008;
    pub const INVALID_MESSAGE: i32 = -1013;
    pub const INVALID_TIMESTAMP: i32 = -1021;
    pub const INVALID_SIGNATURE: i32 = -1022;
    pub const ILLEGAL_CHARS: i32 = -1100;
    pub const TOO_MANY_PARAMETERS: i32 = -1101;
    pub const MANDATORY_PARAM_EMPTY_OR_MALFORMED: i32 = -1102;
    pub const UNKNOWN_PARAM: i32 = -1103;
    pub const PARAM_NOT_REQUIRED: i32 = -1106;
    pub const INVALID_TIF: i32 = -1115;
    pub const INVALID_ORDER_TYPE: i32 = -1116;
    pub const INVALID_SIDE: i32 = -1117;
    pub const BAD_SYMBOL: i32 = -1121;
    pub const INVALID_PARAMETER: i32 = -1130;
    pub const BAD_RECV_WINDOW: i32 = -1131;
    pub const INVALID_JSON: i32 = -1135;
    pub const INVALID_TIME_UNIT: i32 = -1194;
    pub const INVALID_LISTEN_TOKEN: i32 = -1209;
    pub const BAD_API_KEY_FMT: i32 = -2014;
    pub const REJECTED_MBX_KEY: i32 = -2015;
    pub const MAX_SUBSCRIPTION_ID: i32 = -2042;
    pub const TOO_MANY_SUBSCRIPTIONS: i32 = -2043;
    pub const MARGIN_ACCOUNT_NOT_EXIST: i32 = -3003;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_and_msg_only() {
        let body = serde_json::to_string(&ApiError::invalid_listen_token()).unwrap();
        assert_eq!(body, r#"{"code":-1209,"msg":"Invalid listen token."}"#);
    }
}
