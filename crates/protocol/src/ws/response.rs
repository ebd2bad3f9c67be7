//! Responses out: the server writes every answer with these; the result types are the ones a
//! client reads back (see [`super::reader`]).

use super::request::RequestId;
use crate::error::ApiError;
use crate::time::TimeUnit;
use serde::{Deserialize, Serialize};

/// One entry of a response's `rateLimits` array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RateLimitStatus {
    pub rate_limit_type: RateLimitType,
    pub interval: RateLimitInterval,
    pub interval_num: u32,
    pub limit: u64,
    pub count: u64,
}

impl RateLimitStatus {
    /// REQUEST_WEIGHT used per minute: the one limit the WebSocket API reports.
    pub const fn request_weight(limit: u64, count: u64) -> Self {
        RateLimitStatus {
            rate_limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Minute,
            interval_num: 1,
            limit,
            count,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateLimitType {
    RequestWeight,
    Orders,
    RawRequests,
    Connections,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RateLimitInterval {
    Second,
    Minute,
    Hour,
    Day,
}

/// Extra detail on an error, as Binance sends with bans (`error.data`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorData {
    pub server_time: i64,
    pub retry_after: i64,
}

/// Writes a success response: `{"id":…,"status":200,"result":…,"rateLimits":[…]}`.
///
/// `result` is already-serialised JSON; `rate_limits` is `None` when the client switched them off.
pub fn write_success(
    out: &mut Vec<u8>,
    id: &RequestId,
    result: &[u8],
    rate_limits: Option<&[RateLimitStatus]>,
) {
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.extend_from_slice(b",\"status\":200,\"result\":");
    out.extend_from_slice(result);
    write_rate_limits(out, rate_limits);
    out.push(b'}');
}

/// Writes an error response: `{"id":…,"status":4xx,"error":{"code":…,"msg":"…"},"rateLimits":[…]}`.
pub fn write_error(
    out: &mut Vec<u8>,
    id: &RequestId,
    error: &ApiError,
    data: Option<ErrorData>,
    rate_limits: Option<&[RateLimitStatus]>,
) {
    #[derive(Serialize)]
    struct Body<'a> {
        code: i32,
        msg: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        data: Option<ErrorData>,
    }
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(id.as_json().as_bytes());
    out.extend_from_slice(b",\"status\":");
    out.extend_from_slice(error.status.to_string().as_bytes());
    out.extend_from_slice(b",\"error\":");
    let body = Body {
        code: error.code,
        msg: &error.msg,
        data,
    };
    // Serialising a struct of integers and a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &body);
    write_rate_limits(out, rate_limits);
    out.push(b'}');
}

fn write_rate_limits(out: &mut Vec<u8>, rate_limits: Option<&[RateLimitStatus]>) {
    if let Some(limits) = rate_limits {
        out.extend_from_slice(b",\"rateLimits\":");
        let _ = serde_json::to_writer(&mut *out, limits);
    }
}

/// Result of `userDataStream.subscribe.listenToken` and each entry of `session.subscriptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionInfo {
    pub subscription_id: u32,
    /// Microseconds since the Unix epoch, whatever the session's `timeUnit`.
    pub expiration_time: i64,
}

/// Result of `session.status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    pub api_key: Option<String>,
    pub authorized_since: Option<i64>,
    pub connected_since: i64,
    pub return_rate_limits: bool,
    pub server_time: i64,
    pub user_data_stream: bool,
}

/// Result of `time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerTime {
    pub server_time: i64,
}

/// A method's answer, whatever the session's wire format: JSON writes it as the `result` object,
/// SBE as the message inside `WebSocketResponse.result`. Times are microseconds; JSON writes
/// `session.status` and `time` in the session's `timeUnit` (subscription expiry times are always
/// µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// `userDataStream.subscribe.listenToken`.
    Subscribed(SubscriptionInfo),
    /// `userDataStream.subscribe.listenToken` on a connection with stream positions (JSON only).
    SubscribedAt(crate::position::PositionedSubscription),
    /// `userDataStream.unsubscribe`.
    Unsubscribed,
    /// `session.subscriptions`.
    Subscriptions(Vec<SubscriptionInfo>),
    /// `session.status`.
    SessionStatus(SessionStatus),
    /// `ping`.
    Pong,
    /// `time`.
    ServerTime(i64),
}

impl Answer {
    /// The JSON `result`, times in `unit`.
    pub fn write_json(&self, unit: TimeUnit, out: &mut Vec<u8>) {
        // Serialising plain structs of integers and strings into a Vec cannot fail.
        let _ = match self {
            Answer::Subscribed(info) => serde_json::to_writer(&mut *out, info),
            Answer::SubscribedAt(subscribed) => serde_json::to_writer(&mut *out, subscribed),
            Answer::Subscriptions(list) => serde_json::to_writer(&mut *out, list),
            Answer::SessionStatus(status) => serde_json::to_writer(
                &mut *out,
                &SessionStatus {
                    authorized_since: status.authorized_since.map(|us| unit.from_micros(us)),
                    connected_since: unit.from_micros(status.connected_since),
                    server_time: unit.from_micros(status.server_time),
                    ..status.clone()
                },
            ),
            Answer::ServerTime(us) => serde_json::to_writer(
                &mut *out,
                &ServerTime {
                    server_time: unit.from_micros(*us),
                },
            ),
            Answer::Unsubscribed | Answer::Pong => {
                out.extend_from_slice(b"{}");
                Ok(())
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ws::parse_request;

    fn parse(text: &str) -> crate::ws::Request {
        parse_request(text.as_bytes()).unwrap()
    }

    #[test]
    fn responses_have_binance_shape() {
        let id = parse(r#"{"id":"a","method":"ping"}"#).id;
        let limits = [RateLimitStatus::request_weight(6000, 3)];
        let mut out = Vec::new();
        write_success(&mut out, &id, b"{}", Some(&limits));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":"a","status":200,"result":{},"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000,"count":3}]}"#
        );
        let mut out = Vec::new();
        write_error(
            &mut out,
            &RequestId::null(),
            &ApiError::invalid_json(),
            None,
            None,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"id":null,"status":400,"error":{"code":-1135,"msg":"Invalid JSON Request"}}"#
        );
    }
}
