//! Reading the frames a WebSocket API session sends: responses, account events and
//! connection events, as JSON text frames or SBE binary frames. Everything here treats its input
//! as hostile and never panics.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::hash::{Hash, Hasher};
use userstream_protocol::ApiError;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::{Event, EventError};
use userstream_protocol::position::{ResumeOutcome, StreamPosition};
use userstream_protocol::sbe::events::{DecodedEvent, decode_event, subscription_offset};
use userstream_protocol::sbe::layout::web_socket_response;
use userstream_protocol::sbe::responses::{Outcome, read_response};
use userstream_protocol::sbe::wire::SbeError;
use userstream_protocol::ws::{
    Answer, JsonResponse, MethodParams, ResponseError, SubscribeParams, SubscriptionInfo,
};

/// One text frame, classified.
#[derive(Debug)]
pub enum Inbound {
    /// The answer to one of our requests (our ids are integers).
    Response {
        /// The request id.
        id: u64,
        /// The `result`, or the error the server answered with.
        outcome: Result<Reply, ApiError>,
    },
    /// An event for one subscription. `fingerprint` identifies the event's exact bytes, so the
    /// same event seen on two connections is recognised.
    Event {
        /// The subscription the event belongs to.
        subscription_id: u32,
        /// The event.
        event: Event,
        /// A hash of the event's exact bytes (leaving out an SBE `subscriptionId` and the
        /// position).
        fingerprint: u64,
        /// Its place in the account's stream, on a connection with stream positions.
        position: Option<StreamPosition>,
    },
    /// An event outside any subscription (`serverShutdown`).
    ConnectionEvent(Event),
    /// SBE's `NonRepresentableMessage`: an event this schema version cannot carry.
    NotRepresentable,
    /// Well-formed but not for us (a response to an id we never sent, an event type this
    /// version does not know). Logged and skipped.
    Ignored(String),
}

/// A successful response's `result`, as its session's format carried it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// The JSON `result` text.
    Json(String),
    /// The SBE answer message.
    Sbe(Answer),
}

impl Reply {
    /// The result of a subscribe request.
    pub fn subscription(&self) -> Option<SubscriptionInfo> {
        match self {
            Reply::Json(text) => SubscribeParams::read_result(text).ok(),
            Reply::Sbe(Answer::Subscribed(info)) => Some(*info),
            Reply::Sbe(_) => None,
        }
    }

    /// The account stream's position in a subscribe result (connections with stream
    /// positions; JSON only). Unreadable counts as absent.
    pub fn position(&self) -> Option<StreamPosition> {
        self.extension::<StreamPosition>("position")
    }

    /// What a resume came to, in a subscribe result that answers one. `None` when the result
    /// says nothing readable about it.
    pub fn resume(&self) -> Option<ResumeOutcome> {
        self.extension::<ResumeOutcome>("resume")
    }

    /// A field of our extension in a JSON result, read on its own, so that a malformed one
    /// never costs the rest of the result.
    fn extension<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        let Reply::Json(text) = self else {
            return None;
        };
        let fields: std::collections::HashMap<&str, &RawValue> = serde_json::from_str(text).ok()?;
        serde_json::from_str(fields.get(name)?.get()).ok()
    }

    /// For messages: the result as text.
    pub fn describe(&self) -> String {
        match self {
            Reply::Json(text) => text.clone(),
            Reply::Sbe(answer) => format!("{answer:?}"),
        }
    }
}

/// What tells an event frame from a response. Events are the frequent frames, so they are read
/// in this one pass; a response (a few per hour) is then read by the protocol's reader.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventEnvelope<'a> {
    #[serde(default)]
    subscription_id: Option<u32>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
    /// Read on its own: a malformed position must not cost the event.
    #[serde(default, borrow)]
    position: Option<&'a RawValue>,
}

/// Why a frame could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Not JSON, or not shaped like an event frame.
    #[error("frame is not a JSON object of the WebSocket API: {0}")]
    Envelope(serde_json::Error),
    /// Not shaped like a response.
    #[error("{0}")]
    Response(ResponseError),
    /// An event of a known type that cannot be read.
    #[error("event cannot be read: {0}")]
    Event(#[from] EventError),
    /// A binary frame that is not a message this client reads.
    #[error("SBE frame cannot be read: {0}")]
    Sbe(#[from] SbeError),
}

/// Classifies one text frame; event timestamps are read in `unit`.
pub fn parse(text: &str, unit: TimeUnit) -> Result<Inbound, FrameError> {
    let envelope: EventEnvelope<'_> = serde_json::from_str(text).map_err(FrameError::Envelope)?;
    if let Some(body) = envelope.event {
        let event = match Event::from_json(body.get().as_bytes(), unit) {
            Ok(event) => event,
            Err(EventError::UnknownEventType(name)) => {
                return Ok(Inbound::Ignored(format!("event type '{name}'")));
            }
            Err(error) => return Err(error.into()),
        };
        return Ok(match envelope.subscription_id {
            Some(subscription_id) => Inbound::Event {
                subscription_id,
                event,
                fingerprint: fingerprint(body.get()),
                position: envelope
                    .position
                    .and_then(|raw| serde_json::from_str(raw.get()).ok()),
            },
            None => Inbound::ConnectionEvent(event),
        });
    }
    let no_id = || Ok(Inbound::Ignored("a frame with no id of ours".into()));
    let response = match JsonResponse::read(text) {
        Ok(response) => response,
        Err(ResponseError::NoId) => return no_id(),
        Err(error) => return Err(FrameError::Response(error)),
    };
    let Some(id) = response.id.as_u64() else {
        return no_id();
    };
    Ok(Inbound::Response {
        id,
        outcome: response.outcome.map(Reply::Json),
    })
}

/// Classifies one binary frame of an SBE session: a `WebSocketResponse`, or a bare event.
pub fn parse_binary(frame: &[u8]) -> Result<Inbound, FrameError> {
    if frame.get(2..4) == Some(&web_socket_response::TEMPLATE_ID.to_le_bytes()[..]) {
        let response = read_response(frame)?;
        let Ok(id) = response.id.parse::<u64>() else {
            return Ok(Inbound::Ignored("a response with no id of ours".into()));
        };
        let outcome = match response.outcome {
            Outcome::Answer(answer) => Ok(Reply::Sbe(answer)),
            Outcome::Error(error, _) => Err(error),
            Outcome::NonRepresentable => Err(ApiError::new(
                response.status,
                userstream_protocol::error::codes::UNKNOWN,
                "the answer cannot be represented in this SBE schema version",
            )),
        };
        return Ok(Inbound::Response { id, outcome });
    }
    match decode_event(frame)? {
        DecodedEvent::NonRepresentable => Ok(Inbound::NotRepresentable),
        DecodedEvent::Event {
            subscription_id: Some(subscription_id),
            event,
        } => {
            // The same event on two subscriptions differs only in its subscriptionId: leave
            // those two bytes out of the fingerprint.
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            match subscription_offset(frame).filter(|at| at + 2 <= frame.len()) {
                Some(at) => {
                    frame[..at].hash(&mut hasher);
                    frame[at + 2..].hash(&mut hasher);
                }
                None => frame.hash(&mut hasher),
            }
            Ok(Inbound::Event {
                subscription_id: u32::from(subscription_id),
                event,
                fingerprint: hasher.finish(),
                position: None,
            })
        }
        DecodedEvent::Event {
            subscription_id: None,
            event,
        } => Ok(Inbound::ConnectionEvent(event)),
    }
}

/// A 64-bit hash of an event's exact text.
fn fingerprint(text: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn responses() {
        let ok = parse(
            r#"{"id":7,"status":200,"result":{"subscriptionId":0,"expirationTime":5},"rateLimits":[]}"#,
            TimeUnit::Millisecond,
        )
        .unwrap();
        match ok {
            Inbound::Response { id: 7, outcome } => {
                assert_eq!(
                    outcome.unwrap(),
                    Reply::Json(r#"{"subscriptionId":0,"expirationTime":5}"#.into())
                )
            }
            other => panic!("{other:?}"),
        }
        let refused = parse(
            r#"{"id":8,"status":400,"error":{"code":-1209,"msg":"Invalid listen token."}}"#,
            TimeUnit::Millisecond,
        )
        .unwrap();
        match refused {
            Inbound::Response { id: 8, outcome } => {
                let error = outcome.unwrap_err();
                assert_eq!((error.status, error.code), (400, -1209));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(
                r#"{"id":"uuid","status":200,"result":{}}"#,
                TimeUnit::Millisecond
            )
            .unwrap(),
            Inbound::Ignored(_)
        ));
    }

    #[test]
    fn events_and_connection_events() {
        let event = parse(
            r#"{"subscriptionId":3,"event":{"e":"eventStreamTerminated","E":1700000000000}}"#,
            TimeUnit::Millisecond,
        )
        .unwrap();
        match event {
            Inbound::Event {
                subscription_id: 3,
                event,
                ..
            } => assert_eq!(event.event_time_us(), 1_700_000_000_000_000),
            other => panic!("{other:?}"),
        }
        let shutdown = parse(
            r#"{"event":{"e":"serverShutdown","E":1700000000000123}}"#,
            TimeUnit::Microsecond,
        )
        .unwrap();
        assert!(matches!(
            shutdown,
            Inbound::ConnectionEvent(Event::ServerShutdown(_))
        ));
        assert!(matches!(
            parse(
                r#"{"subscriptionId":1,"event":{"e":"somethingNew","E":1}}"#,
                TimeUnit::Millisecond
            )
            .unwrap(),
            Inbound::Ignored(_)
        ));
    }

    #[test]
    fn identical_events_share_a_fingerprint() {
        let frame = |sub| {
            format!(
                r#"{{"subscriptionId":{sub},"event":{{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1}}}}"#
            )
        };
        let print = |text: &str| match parse(text, TimeUnit::Millisecond).unwrap() {
            Inbound::Event { fingerprint, .. } => fingerprint,
            other => panic!("{other:?}"),
        };
        assert_eq!(print(&frame(0)), print(&frame(9)));
        assert_ne!(
            print(&frame(0)),
            print(
                r#"{"subscriptionId":0,"event":{"e":"balanceUpdate","E":1,"a":"BTC","d":"2","T":1}}"#
            )
        );
    }

    #[test]
    fn positions_are_read_without_costing_the_event() {
        let read = |tail: &str| {
            let text = format!(
                r#"{{"subscriptionId":0,"event":{{"e":"balanceUpdate","E":1,"a":"BTC","d":"1","T":1}}{tail}}}"#
            );
            match parse(&text, TimeUnit::Millisecond).unwrap() {
                Inbound::Event {
                    position,
                    fingerprint,
                    ..
                } => (position, fingerprint),
                other => panic!("{other:?}"),
            }
        };
        let (none, print) = read("");
        assert_eq!(none, None);
        let (some, same_print) = read(r#","position":{"epoch":"e1","sequence":18}"#);
        assert_eq!(
            some,
            Some(StreamPosition {
                epoch: "e1".into(),
                sequence: 18
            })
        );
        assert_eq!(print, same_print, "the position is not part of the event");
        assert_eq!(read(r#","position":{"epoch":5}"#).0, None);

        let reply = Reply::Json(
            r#"{"subscriptionId":0,"expirationTime":5,"position":{"epoch":"e1","sequence":18},"resume":{"status":"REPLAYED","events":4}}"#.into(),
        );
        assert_eq!(reply.subscription().unwrap().subscription_id, 0);
        assert_eq!(reply.position().unwrap().sequence, 18);
        assert_eq!(reply.resume(), Some(ResumeOutcome::Replayed { events: 4 }));
        let plain = Reply::Json(r#"{"subscriptionId":0,"expirationTime":5}"#.into());
        assert_eq!((plain.position(), plain.resume()), (None, None));
        let odd = Reply::Json(
            r#"{"subscriptionId":0,"expirationTime":5,"resume":{"status":"SOMETHING"}}"#.into(),
        );
        assert_eq!(odd.resume(), None);
        assert!(odd.subscription().is_some());
    }

    #[test]
    fn garbage_is_an_error() {
        for text in [
            "",
            "nul",
            r#"{"subscriptionId":-1,"event":{}}"#,
            r#"{"event":5}"#,
        ] {
            assert!(parse(text, TimeUnit::Millisecond).is_err(), "{text}");
        }
        // serde reads a struct from an array too; an empty one carries nothing for us.
        assert!(matches!(
            parse("[]", TimeUnit::Millisecond),
            Ok(Inbound::Ignored(_))
        ));
    }

    #[test]
    fn sbe_frames() {
        use userstream_protocol::events::BalanceUpdate;
        use userstream_protocol::sbe::events::encode_event;
        use userstream_protocol::sbe::responses::write_response;
        let mut out = Vec::new();
        let info = SubscriptionInfo {
            subscription_id: 4,
            expiration_time: 9,
        };
        let answer = Outcome::Answer(Answer::Subscribed(info));
        write_response(&mut out, 5, false, 200, &[], "12", &answer).unwrap();
        match parse_binary(&out).unwrap() {
            Inbound::Response { id: 12, outcome } => {
                assert_eq!(outcome.unwrap().subscription(), Some(info))
            }
            other => panic!("{other:?}"),
        }
        let event = Event::BalanceUpdate(BalanceUpdate {
            event_time_us: 1,
            asset: "BTC".into(),
            balance_delta: "1.5".parse().unwrap(),
            clear_time_us: 2,
        });
        let encoded = encode_event(&event, 5).unwrap();
        let print = |sub| match parse_binary(&encoded.for_subscription(sub)).unwrap() {
            Inbound::Event {
                subscription_id,
                event: decoded,
                fingerprint,
                ..
            } => {
                assert_eq!((subscription_id, &decoded), (u32::from(sub), &event));
                fingerprint
            }
            other => panic!("{other:?}"),
        };
        assert_eq!(print(1), print(2));
        assert!(parse_binary(&encoded.bytes[..10]).is_err());
    }

    proptest! {
        #[test]
        fn sbe_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_binary(&bytes);
        }

        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = parse(&text, TimeUnit::Millisecond);
        }

        #[test]
        fn never_panics_on_near_frames(
            sub in proptest::option::of(any::<i64>()),
            id in proptest::option::of(any::<i64>()),
            status in any::<u16>(),
            body in "[a-zA-Z0-9\":,{}]{0,40}",
        ) {
            let mut text = String::from("{");
            if let Some(sub) = sub { text.push_str(&format!("\"subscriptionId\":{sub},")); }
            if let Some(id) = id { text.push_str(&format!("\"id\":{id},")); }
            text.push_str(&format!("\"status\":{status},\"event\":{{{body}}}}}"));
            let _ = parse(&text, TimeUnit::Millisecond);
        }
    }
}
