//! The client's binary frame reader (`frame::parse_binary`, through the hidden
//! `userstream_client::fuzzing::parse_binary`): SBE responses and events.
//!
//! Checks, beyond "no panic": an event's fingerprint ignores its subscription id (the same event
//! on two subscriptions is recognised, which handover deduplication relies on): with another id
//! spliced in, the frame reads as the same event under the new id with the same fingerprint;
//! the event's JSON (microseconds) reads back unchanged; no SBE event has a stream position.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userstream_client::fuzzing::{Inbound, parse_binary};
use userstream_fuzz::assert_json_round_trip;
use userstream_protocol::TimeUnit;
use userstream_protocol::sbe::events::{subscription_offset, write_subscription_id};

fuzz_target!(|frame: &[u8]| {
    match parse_binary(frame) {
        Ok(Inbound::Event {
            subscription_id,
            event,
            fingerprint,
            position,
        }) => {
            assert_eq!(position, None, "an SBE frame has no room for a position");
            assert_json_round_trip(&event, TimeUnit::Microsecond);
            let Some(at) = subscription_offset(frame) else {
                return;
            };
            // Another id, never the null value 0xFFFF.
            let other = u16::try_from((subscription_id + 1) % 0xFFFF).unwrap_or(0);
            let mut spliced = frame.to_vec();
            write_subscription_id(&mut spliced, at, other);
            match parse_binary(&spliced) {
                Ok(Inbound::Event {
                    subscription_id: id,
                    event: again,
                    fingerprint: f,
                    ..
                }) => {
                    assert_eq!(id, u32::from(other));
                    assert_eq!(again, event);
                    assert_eq!(
                        f, fingerprint,
                        "the fingerprint depends on the subscription id"
                    );
                }
                other => panic!("with another subscription id the frame reads as {other:?}"),
            }
        }
        Ok(Inbound::ConnectionEvent(event)) => {
            assert_json_round_trip(&event, TimeUnit::Microsecond)
        }
        Ok(_) | Err(_) => {}
    }
});
