//! Reading a JSON response frame, as a client does:
//! `{"id":…,"status":…,"result":…|"error":{…},"rateLimits":[…]}`.
//!
//! The frame is hostile input: nothing here panics. The `result` is kept as the exact text sent,
//! because only the request it answers says what it holds; [`super::MethodParams::read_result`]
//! reads it as that method's result type.

use super::request::RequestId;
use super::response::{ErrorData, RateLimitStatus};
use crate::error::ApiError;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

/// A JSON response frame, read.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JsonResponse {
    /// The id of the request it answers, with its JSON type.
    pub id: RequestId,
    /// `status`: 200 on success (0 when the frame has none).
    pub status: u16,
    /// The `result` text exactly as sent (`null` if absent), or the error.
    pub outcome: Result<String, ApiError>,
    /// `error.data`, sent with bans.
    pub error_data: Option<ErrorData>,
    /// `rateLimits`, when the session asked for them. Entries this version cannot read are
    /// skipped: a rate-limit report never makes an answer unreadable.
    pub rate_limits: Option<Vec<RateLimitStatus>>,
}

/// The result of methods that return `{}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub struct Empty {}

/// Why a frame is not a response this reader understands.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResponseError {
    /// Not JSON, or a field of the wrong type.
    #[error("frame is not a WebSocket API response: {0}")]
    Json(serde_json::Error),
    /// No request id (or one no request can have): the frame answers nothing.
    #[error("frame has no request id")]
    NoId,
    /// The `result` is not what the method returns.
    #[error("the result of {method} cannot be read: {error}")]
    Result {
        method: &'static str,
        error: serde_json::Error,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    rate_limits: Option<Value>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i32,
    msg: String,
    #[serde(default)]
    data: Option<ErrorData>,
}

impl JsonResponse {
    /// Reads one text frame as a response. A `status` of 200 is a success; anything else is an
    /// error, reported with its `error` body (or a note that it had none).
    pub fn read(frame: &str) -> Result<JsonResponse, ResponseError> {
        let envelope: Envelope<'_> = serde_json::from_str(frame).map_err(ResponseError::Json)?;
        let id = envelope
            .id
            .as_ref()
            .and_then(RequestId::from_value)
            .ok_or(ResponseError::NoId)?;
        let status = envelope.status.unwrap_or(0);
        let mut error_data = None;
        let outcome = if status == 200 {
            Ok(envelope
                .result
                .map_or_else(|| "null".to_owned(), |result| result.get().to_owned()))
        } else {
            let body = envelope.error.unwrap_or(ErrorBody {
                code: 0,
                msg: "error response without an error body".into(),
                data: None,
            });
            error_data = body.data;
            Err(ApiError::new(status, body.code, body.msg))
        };
        let rate_limits = match envelope.rate_limits {
            Some(Value::Array(entries)) => Some(
                entries
                    .into_iter()
                    .filter_map(|entry| serde_json::from_value(entry).ok())
                    .collect(),
            ),
            _ => None,
        };
        Ok(JsonResponse {
            id,
            status,
            outcome,
            error_data,
            rate_limits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeUnit;
    use crate::ws::{
        Answer, MethodParams, SessionStatus, SessionStatusParams, SubscribeParams,
        SubscriptionInfo, TimeParams, write_error, write_success,
    };
    use proptest::prelude::*;

    const WEIGHT: RateLimitStatus = RateLimitStatus::request_weight(6000, 4);

    /// Writes `answer` as the server does, then reads it back.
    fn written(id: u64, answer: &Answer, unit: TimeUnit, with_limits: bool) -> JsonResponse {
        let mut result = Vec::new();
        answer.write_json(unit, &mut result);
        let mut frame = Vec::new();
        let limits = [WEIGHT];
        let limits = with_limits.then_some(limits.as_slice());
        write_success(&mut frame, &id.into(), &result, limits);
        JsonResponse::read(std::str::from_utf8(&frame).unwrap()).unwrap()
    }

    #[test]
    fn success() {
        let info = SubscriptionInfo {
            subscription_id: 3,
            expiration_time: 1_749_094_553_955_907,
        };
        let response = written(7, &Answer::Subscribed(info), TimeUnit::Millisecond, true);
        assert_eq!(response.id.as_u64(), Some(7));
        assert_eq!(response.status, 200);
        assert_eq!(response.rate_limits, Some(vec![WEIGHT]));
        let result = response.outcome.unwrap();
        assert_eq!(SubscribeParams::read_result(&result).unwrap(), info);
        let response = written(
            8,
            &Answer::ServerTime(5_000_123),
            TimeUnit::Millisecond,
            false,
        );
        assert_eq!(response.rate_limits, None);
        let time = TimeParams::read_result(&response.outcome.unwrap()).unwrap();
        assert_eq!(time.server_time, 5_000);
    }

    #[test]
    fn errors_keep_code_message_and_data() {
        let mut frame = Vec::new();
        let data = ErrorData {
            server_time: 1,
            retry_after: 2,
        };
        let error = ApiError::ip_banned(2);
        write_error(
            &mut frame,
            &RequestId::from(9),
            &error,
            Some(data),
            Some(&[WEIGHT]),
        );
        let response = JsonResponse::read(std::str::from_utf8(&frame).unwrap()).unwrap();
        assert_eq!(response.outcome, Err(error));
        assert_eq!(response.status, 418);
        assert_eq!(response.error_data, Some(data));
        let bare = JsonResponse::read(r#"{"id":1,"status":500}"#).unwrap();
        assert_eq!(bare.outcome.unwrap_err().code, 0);
    }

    #[test]
    fn ids_and_oddities() {
        let id = |frame| JsonResponse::read(frame).map(|response| response.id);
        assert_eq!(
            id(r#"{"id":"uuid","status":200,"result":{}}"#)
                .unwrap()
                .as_json(),
            r#""uuid""#
        );
        assert_eq!(id(r#"{"id":"7","status":200}"#).unwrap().as_u64(), None);
        assert!(matches!(id(r#"{"status":200}"#), Err(ResponseError::NoId)));
        assert!(matches!(id(r#"{"id":1.5}"#), Err(ResponseError::NoId)));
        assert!(matches!(id("[]"), Err(ResponseError::NoId)));
        assert!(matches!(id("nope"), Err(ResponseError::Json(_))));
        let response = JsonResponse::read(r#"{"id":1,"status":200}"#).unwrap();
        assert_eq!(response.outcome.unwrap(), "null");
        // Unreadable rate-limit entries are skipped, never fatal.
        let odd = r#"{"id":1,"status":200,"result":{},"rateLimits":[{"rateLimitType":"NEW"},5]}"#;
        assert_eq!(JsonResponse::read(odd).unwrap().rate_limits, Some(vec![]));
    }

    proptest! {
        #[test]
        fn session_status_round_trips(
            id in any::<u64>(),
            connected_ms in 0i64..4_000_000_000_000,
            server_ms in 0i64..4_000_000_000_000,
            flags in any::<(bool, bool)>(),
            micros in any::<bool>(),
        ) {
            let unit = if micros { TimeUnit::Microsecond } else { TimeUnit::Millisecond };
            let status = SessionStatus {
                api_key: None,
                authorized_since: None,
                connected_since: connected_ms * 1000,
                return_rate_limits: flags.0,
                server_time: server_ms * 1000,
                user_data_stream: flags.1,
            };
            let response = written(id, &Answer::SessionStatus(status.clone()), unit, flags.0);
            prop_assert_eq!(response.id.as_u64(), Some(id));
            let read = SessionStatusParams::read_result(&response.outcome.unwrap()).unwrap();
            prop_assert_eq!(read, SessionStatus {
                connected_since: unit.from_micros(status.connected_since),
                server_time: unit.from_micros(status.server_time),
                ..status
            });
        }

        #[test]
        fn hostile_frames_never_panic(text in ".{0,200}") {
            let _ = JsonResponse::read(&text);
        }
    }
}
