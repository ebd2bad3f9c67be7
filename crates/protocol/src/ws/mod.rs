//! The WebSocket API, both ways: the server parses requests and writes responses and event
//! frames with these; the client writes requests and reads responses with the very same types.
//!
//! - `request`: the envelope every request shares (`id`, `method`, `params`);
//! - `methods`: each method's name and typed params ([`MethodParams`]), parsed by the server and
//!   encoded by the client, and its result type;
//! - `response`: the response writer and the result types;
//! - `reader`: the response reader a client uses ([`JsonResponse`]).

mod methods;
mod reader;
mod request;
mod response;

pub use methods::{
    MethodParams, PingParams, SessionStatusParams, SessionSubscriptionsParams, SubscribeParams,
    TimeParams, UnsubscribeParams,
};
pub use reader::{Empty, JsonResponse, ResponseError};
pub use request::{BadRequest, MAX_STRING_ID_LEN, Request, RequestId, parse_request};
pub use response::{
    Answer, ErrorData, RateLimitInterval, RateLimitStatus, RateLimitType, ServerTime,
    SessionStatus, SubscriptionInfo, write_error, write_success,
};

/// The opening of an event frame for one subscription: `{"subscriptionId":N,"event":`.
///
/// The event body is encoded once, between this prefix and [`EVENT_FRAME_SUFFIX`]; subscribers
/// with other ids get that body spliced between their own prefix and the suffix.
pub fn event_frame_prefix(subscription_id: u32, out: &mut Vec<u8>) {
    use std::io::Write;
    // Written in place: a `to_string` here was an allocation per frame.
    let _ = write!(out, "{{\"subscriptionId\":{subscription_id},\"event\":");
}

/// Closes an event frame opened by [`event_frame_prefix`] or [`CONNECTION_EVENT_PREFIX`].
pub const EVENT_FRAME_SUFFIX: &[u8] = b"}";

/// The opening of a connection-level event frame (`serverShutdown`), which has no subscription.
pub const CONNECTION_EVENT_PREFIX: &[u8] = b"{\"event\":";

#[cfg(test)]
mod tests {
    use super::*;

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
}
