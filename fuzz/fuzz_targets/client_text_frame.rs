//! The client's text frame reader (`frame::parse`, through the hidden
//! `userstream_client::fuzzing::parse_text`), in both time units.
//!
//! Checks, beyond "no panic": an event read from a frame writes back as JSON that reads as the
//! same event, and an event frame rebuilt around that JSON is classified the same way (same
//! subscription, same event, same stream position); a successful JSON response's `result` is one JSON value, as sent; reading is
//! deterministic (same fingerprint twice).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;
use userstream_client::fuzzing::{Inbound, Reply, parse_text};
use userstream_fuzz::assert_json_round_trip;
use userstream_protocol::TimeUnit;
use userstream_protocol::position::write_frame_tail;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for unit in [TimeUnit::Millisecond, TimeUnit::Microsecond] {
        let Ok(inbound) = parse_text(text, unit) else {
            continue;
        };
        match inbound {
            Inbound::Event {
                subscription_id,
                event,
                fingerprint,
                position,
            } => {
                assert_json_round_trip(&event, unit);
                match parse_text(text, unit) {
                    Ok(Inbound::Event { fingerprint: f, .. }) => assert_eq!(f, fingerprint),
                    other => panic!("read twice, the frame reads differently: {other:?}"),
                }
                let mut body = event.to_json(unit);
                if let Some(position) = &position {
                    write_frame_tail(&position.epoch, position.sequence, &mut body);
                }
                let json = String::from_utf8_lossy(&body).into_owned();
                let rebuilt = format!("{{\"subscriptionId\":{subscription_id},\"event\":{json}}}");
                match parse_text(&rebuilt, unit) {
                    Ok(Inbound::Event {
                        subscription_id: id,
                        event: again,
                        position: again_at,
                        ..
                    }) => {
                        assert_eq!(id, subscription_id);
                        assert_eq!(again, event);
                        assert_eq!(again_at, position);
                    }
                    other => panic!("rebuilt frame {rebuilt} reads as {other:?}"),
                }
            }
            Inbound::ConnectionEvent(event) => assert_json_round_trip(&event, unit),
            Inbound::Response {
                outcome: Ok(Reply::Json(result)),
                ..
            } => match serde_json::from_str::<&RawValue>(&result) {
                // Exactly one JSON value, kept as sent (not re-serialised: numbers beyond f64
                // stay as they were written).
                Ok(raw) => assert_eq!(raw.get(), result),
                Err(error) => panic!("result {result:?} is not JSON: {error}"),
            },
            Inbound::Response { .. } | Inbound::NotRepresentable | Inbound::Ignored(_) => {}
        }
    }
});
