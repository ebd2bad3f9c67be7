//! The WebSocket API request frame: `userstream_protocol::ws::parse_request`.
//!
//! Checks, beyond "no panic": an accepted request's id, method and params are exactly what the
//! frame holds (id kept with its JSON type, method without a `v<digits>/` prefix); a refusal
//! carries -1135 or -1102 and an id that is valid JSON; and every answer the server can write
//! under that id (JSON success, JSON error, SBE response) is well-formed and echoes the id.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use userstream_protocol::ApiError;
use userstream_protocol::error::codes;
use userstream_protocol::sbe::LATEST_VERSION;
use userstream_protocol::sbe::responses::{Outcome, read_response, write_response};
use userstream_protocol::ws::{
    Answer, MAX_STRING_ID_LEN, RateLimitInterval, RateLimitStatus, RateLimitType, RequestId,
    parse_request, write_error, write_success,
};

const WEIGHT: RateLimitStatus = RateLimitStatus {
    rate_limit_type: RateLimitType::RequestWeight,
    interval: RateLimitInterval::Minute,
    interval_num: 1,
    limit: 6000,
    count: 2,
};

fuzz_target!(|frame: &[u8]| {
    match parse_request(frame) {
        Ok(request) => {
            let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(frame) else {
                panic!("accepted a frame that is not a JSON object");
            };
            let id = id_value(&request.id);
            assert_eq!(object.get("id"), Some(&id), "id not kept as sent");
            match &id {
                Value::Null => {}
                Value::Number(n) => assert!(n.is_i64() || n.is_u64(), "fractional id {n}"),
                Value::String(s) => assert!(s.len() <= MAX_STRING_ID_LEN, "id too long"),
                other => panic!("id of kind {other}"),
            }
            let Some(Value::String(sent)) = object.get("method") else {
                panic!("accepted a request without a string method");
            };
            assert!(!sent.is_empty());
            let expected = match sent.split_once('/') {
                Some((prefix, rest)) if is_version(prefix) => rest,
                _ => sent.as_str(),
            };
            assert_eq!(request.method, expected, "method {sent:?}");
            match object.get("params") {
                None | Some(Value::Null) => assert!(request.params.is_empty()),
                Some(Value::Object(params)) => assert_eq!(&request.params, params),
                Some(other) => panic!("accepted params {other}"),
            }
            answers_echo_the_id(&request.id);
        }
        Err(bad) => {
            assert!(
                bad.error == ApiError::invalid_json()
                    || bad.error.code == codes::MANDATORY_PARAM_EMPTY_OR_MALFORMED,
                "unexpected refusal {:?}",
                bad.error
            );
            answers_echo_the_id(&bad.id);
        }
    }
});

/// `v3`, `v10`: a version prefix of a method name.
fn is_version(prefix: &str) -> bool {
    prefix
        .strip_prefix('v')
        .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
}

/// The id as a JSON value; it must be one.
fn id_value(id: &RequestId) -> Value {
    match serde_json::from_str(id.as_json()) {
        Ok(value) => value,
        Err(error) => panic!("id {:?} is not JSON: {error}", id.as_json()),
    }
}

fn answers_echo_the_id(id: &RequestId) {
    let expected = id_value(id);
    let mut success = Vec::new();
    write_success(&mut success, id, b"{}", Some(&[WEIGHT]));
    let mut error = Vec::new();
    write_error(&mut error, id, &ApiError::unknown_method(), None, None);
    for frame in [success, error] {
        match serde_json::from_slice::<Value>(&frame) {
            Ok(Value::Object(object)) => assert_eq!(object.get("id"), Some(&expected)),
            _ => panic!(
                "response is not a JSON object: {}",
                String::from_utf8_lossy(&frame)
            ),
        }
    }
    // SBE sessions carry the id as text.
    let text = id.as_text();
    let mut sbe = Vec::new();
    let outcome = Outcome::Answer(Answer::Pong);
    if let Err(error) = write_response(
        &mut sbe,
        LATEST_VERSION,
        false,
        200,
        &[WEIGHT],
        &text,
        &outcome,
    ) {
        panic!("SBE response for id {text:?}: {error}");
    }
    match read_response(&sbe) {
        Ok(response) => {
            assert_eq!(response.id, text);
            assert_eq!(response.outcome, outcome);
        }
        Err(error) => panic!("SBE response does not read back: {error}"),
    }
}
