//! WebSocket API envelopes: requests in, responses and event frames out.
//!
//! Requests are parsed leniently enough for every real client (integer, string or null ids, a
//! `v3/` method prefix, no `params`) and strictly enough that nothing hostile gets through. The
//! `id` is kept as the exact JSON text the client sent, so it is echoed with its JSON type intact.

use crate::error::ApiError;
use crate::time::TimeUnit;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Longest string `id` accepted (Binance's UUID ids are 36 characters).
pub const MAX_STRING_ID_LEN: usize = 64;

/// The request `id` as the client wrote it: `null`, an integer or a string, kept as raw JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(Box<str>);

impl RequestId {
    /// The id used when the request is too broken to have one.
    pub fn null() -> Self {
        RequestId("null".into())
    }

    /// The id as raw JSON text, ready to be written into a response.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// The id as text without JSON quoting (SBE carries it as a string; null is empty).
    pub fn as_text(&self) -> String {
        match serde_json::from_str::<Value>(&self.0) {
            Ok(Value::String(text)) => text,
            Ok(Value::Null) | Err(_) => String::new(),
            Ok(other) => other.to_string(),
        }
    }

    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(Self::null()),
            Value::Number(n) if n.is_i64() || n.is_u64() => Some(RequestId(n.to_string().into())),
            Value::String(s) if s.len() <= MAX_STRING_ID_LEN => serde_json::to_string(s)
                .ok()
                .map(|json| RequestId(json.into())),
            _ => None,
        }
    }
}

/// A parsed WebSocket API request.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub id: RequestId,
    /// The method name without any version prefix (`v3/ping` → `ping`).
    pub method: String,
    pub params: Map<String, Value>,
}

/// A request that could not be parsed, with the id to answer it under.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    pub id: RequestId,
    pub error: ApiError,
}

/// Parses one text frame as a WebSocket API request.
pub fn parse_request(frame: &[u8]) -> Result<Request, BadRequest> {
    let bad_json = || BadRequest {
        id: RequestId::null(),
        error: ApiError::invalid_json(),
    };
    let value: Value = serde_json::from_slice(frame).map_err(|_| bad_json())?;
    let Value::Object(mut object) = value else {
        return Err(bad_json());
    };
    let id = match object.get("id") {
        None => {
            return Err(BadRequest {
                id: RequestId::null(),
                error: ApiError::mandatory_param("id"),
            });
        }
        Some(raw) => RequestId::from_value(raw).ok_or_else(|| BadRequest {
            id: RequestId::null(),
            error: ApiError::mandatory_param("id"),
        })?,
    };
    let fail = |error: ApiError| BadRequest {
        id: id.clone(),
        error,
    };
    let method = match object.remove("method") {
        Some(Value::String(method)) if !method.is_empty() => strip_version(&method).to_owned(),
        _ => return Err(fail(ApiError::mandatory_param("method"))),
    };
    let params = match object.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => return Err(fail(ApiError::mandatory_param("params"))),
    };
    Ok(Request { id, method, params })
}

/// `v3/ping` → `ping`; a name without a `v<digits>/` prefix is returned unchanged.
fn strip_version(method: &str) -> &str {
    if let Some((prefix, rest)) = method.split_once('/') {
        let digits = prefix.strip_prefix('v').unwrap_or("");
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            return rest;
        }
    }
    method
}

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

/// The opening of an event frame for one subscription: `{"subscriptionId":N,"event":`.
///
/// The event body is encoded once and spliced between this prefix and [`EVENT_FRAME_SUFFIX`] for
/// every subscriber.
pub fn event_frame_prefix(subscription_id: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"subscriptionId\":");
    out.extend_from_slice(subscription_id.to_string().as_bytes());
    out.extend_from_slice(b",\"event\":");
}

/// Closes an event frame opened by [`event_frame_prefix`] or [`CONNECTION_EVENT_PREFIX`].
pub const EVENT_FRAME_SUFFIX: &[u8] = b"}";

/// The opening of a connection-level event frame (`serverShutdown`), which has no subscription.
pub const CONNECTION_EVENT_PREFIX: &[u8] = b"{\"event\":";

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

    fn parse(text: &str) -> Result<Request, BadRequest> {
        parse_request(text.as_bytes())
    }

    #[test]
    fn ids_keep_their_json_type() {
        assert_eq!(
            parse(r#"{"id":7,"method":"ping"}"#).unwrap().id.as_json(),
            "7"
        );
        assert_eq!(
            parse(r#"{"id":"7","method":"ping"}"#).unwrap().id.as_json(),
            "\"7\""
        );
        assert_eq!(
            parse(r#"{"id":null,"method":"ping"}"#)
                .unwrap()
                .id
                .as_json(),
            "null"
        );
        let uuid = r#"{"id":"d3df8a21-98ea-4fe0-8f4e-0fcea5d418b7","method":"ping"}"#;
        assert_eq!(
            parse(uuid).unwrap().id.as_text(),
            "d3df8a21-98ea-4fe0-8f4e-0fcea5d418b7"
        );
        let escaped = parse(r#"{"id":"a\"b","method":"ping"}"#).unwrap();
        assert_eq!(escaped.id.as_json(), r#""a\"b""#);
    }

    #[test]
    fn version_prefix_is_stripped() {
        assert_eq!(
            parse(r#"{"id":1,"method":"v3/ping"}"#).unwrap().method,
            "ping"
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"vx/ping"}"#).unwrap().method,
            "vx/ping"
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"session.status"}"#)
                .unwrap()
                .method,
            "session.status"
        );
    }

    #[test]
    fn broken_requests() {
        assert_eq!(parse("nope").unwrap_err().error.code, -1135);
        assert_eq!(parse("[1]").unwrap_err().error.code, -1135);
        let missing_id = parse(r#"{"method":"ping"}"#).unwrap_err();
        assert_eq!(
            (missing_id.error.code, missing_id.id.as_json()),
            (-1102, "null")
        );
        assert_eq!(
            parse(r#"{"id":1.5,"method":"ping"}"#)
                .unwrap_err()
                .error
                .code,
            -1102
        );
        assert_eq!(
            parse(r#"{"id":{},"method":"ping"}"#)
                .unwrap_err()
                .error
                .code,
            -1102
        );
        let missing_method = parse(r#"{"id":"x"}"#).unwrap_err();
        assert_eq!(
            (missing_method.error.code, missing_method.id.as_json()),
            (-1102, "\"x\"")
        );
        assert_eq!(
            parse(r#"{"id":1,"method":"ping","params":[]}"#)
                .unwrap_err()
                .error
                .code,
            -1102
        );
        let long = format!(r#"{{"id":"{}","method":"ping"}}"#, "x".repeat(65));
        assert_eq!(parse(&long).unwrap_err().error.code, -1102);
    }

    #[test]
    fn responses_have_binance_shape() {
        let id = parse(r#"{"id":"a","method":"ping"}"#).unwrap().id;
        let limits = [RateLimitStatus {
            rate_limit_type: RateLimitType::RequestWeight,
            interval: RateLimitInterval::Minute,
            interval_num: 1,
            limit: 6000,
            count: 3,
        }];
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

    #[test]
    fn event_frame_splices_subscription() {
        let mut out = Vec::new();
        event_frame_prefix(3, &mut out);
        out.extend_from_slice(br#"{"e":"eventStreamTerminated","E":1}"#);
        out.extend_from_slice(EVENT_FRAME_SUFFIX);
        assert_eq!(
            out,
            br#"{"subscriptionId":3,"event":{"e":"eventStreamTerminated","E":1}}"#
        );
    }

    proptest::proptest! {
        #[test]
        fn hostile_frames_never_panic(frame in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = parse_request(&frame);
        }

        #[test]
        fn any_string_id_within_limit_round_trips(id in "\\PC{0,40}") {
            let request = serde_json::json!({"id": id, "method": "ping"}).to_string();
            let parsed = parse_request(request.as_bytes());
            if id.len() <= MAX_STRING_ID_LEN {
                let parsed = parsed.unwrap();
                proptest::prop_assert_eq!(parsed.id.as_text(), id.clone());
                let echoed: Value = serde_json::from_str(parsed.id.as_json()).unwrap();
                proptest::prop_assert_eq!(echoed, Value::String(id));
            } else {
                proptest::prop_assert!(parsed.is_err());
            }
        }
    }
}
