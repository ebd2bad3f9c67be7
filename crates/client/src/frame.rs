//! Reading the frames a WebSocket API session sends: responses, account events and
//! connection events. Everything here treats its input as hostile and never panics.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::hash::{Hash, Hasher};
use userstream_protocol::ApiError;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::{Event, EventError};

/// One text frame, classified.
#[derive(Debug)]
pub enum Inbound {
    /// The answer to one of our requests (our ids are integers).
    Response {
        id: u64,
        outcome: Result<String, ApiError>,
    },
    /// An event for one subscription. `fingerprint` identifies the event's exact bytes, so the
    /// same event seen on two connections is recognised.
    Event {
        subscription_id: u32,
        event: Event,
        fingerprint: u64,
    },
    /// An event outside any subscription (`serverShutdown`).
    ConnectionEvent(Event),
    /// Well-formed but not for us (a response to an id we never sent, an event type this
    /// version does not know). Logged and skipped.
    Ignored(String),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default)]
    status: Option<u16>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorBody>,
    #[serde(default)]
    subscription_id: Option<u32>,
    #[serde(default, borrow)]
    event: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: i32,
    msg: String,
}

/// Why a frame could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame is not a JSON object of the WebSocket API: {0}")]
    Envelope(serde_json::Error),
    #[error("event cannot be read: {0}")]
    Event(#[from] EventError),
}

/// Classifies one text frame; event timestamps are read in `unit`.
pub fn parse(text: &str, unit: TimeUnit) -> Result<Inbound, FrameError> {
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(FrameError::Envelope)?;
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
            },
            None => Inbound::ConnectionEvent(event),
        });
    }
    let Some(id) = envelope.id.and_then(|id| id.get().parse::<u64>().ok()) else {
        return Ok(Inbound::Ignored("a frame with no id of ours".into()));
    };
    let status = envelope.status.unwrap_or(0);
    let outcome = if status == 200 {
        Ok(envelope
            .result
            .map(|result| result.get().to_owned())
            .unwrap_or_else(|| "null".into()))
    } else {
        let error = envelope.error.unwrap_or(ErrorBody {
            code: 0,
            msg: "error response without an error body".into(),
        });
        Err(ApiError::new(status, error.code, error.msg))
    };
    Ok(Inbound::Response { id, outcome })
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
                    r#"{"subscriptionId":0,"expirationTime":5}"#
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

    proptest! {
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
