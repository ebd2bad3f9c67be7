//! Requests in: the envelope every WebSocket API request shares, read by the server and written
//! by the client.
//!
//! Requests are parsed leniently enough for every real client (integer, string or null ids, a
//! `v3/` method prefix, no `params`) and strictly enough that nothing hostile gets through. The
//! `id` is kept as the exact JSON text the client sent, so it is echoed with its JSON type intact.
//! What each method's `params` hold is read by [`super::methods`].

use crate::error::ApiError;
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

    /// The id as an unsigned integer, when the client sent one (clients of this crate do).
    pub fn as_u64(&self) -> Option<u64> {
        self.0.parse().ok()
    }

    /// Reads an id as sent: `null`, an integer or a string of at most [`MAX_STRING_ID_LEN`].
    pub(super) fn from_value(value: &Value) -> Option<Self> {
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

impl From<u64> for RequestId {
    fn from(id: u64) -> Self {
        RequestId(id.to_string().into())
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
