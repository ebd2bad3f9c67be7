//! The SBE event decoders, all through their one entry point `sbe::events::decode_event`
//! (it dispatches on the template id to 601, 602, 603, 606, 607, 610 and 999), together with
//! `sbe::events::subscription_offset`, which reads the same header to splice subscription ids.
//!
//! Checks, beyond "no panic":
//! - when a frame decodes with a subscription id, `subscription_offset` points at those very
//!   bytes (schema versions that have the field), so the splice and the decoder agree;
//! - a decoded event encodes again at the latest schema version (or is refused only as
//!   not representable: a mantissa that overflows 64 bits), and that encoding decodes to the
//!   same event and subscription id;
//! - the event's JSON (microseconds) reads back unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use userstream_fuzz::assert_json_round_trip;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;
use userstream_protocol::sbe::LATEST_VERSION;
use userstream_protocol::sbe::events::{
    DecodedEvent, decode_event, encode_event, subscription_offset,
};
use userstream_protocol::sbe::wire::{HEADER_LEN, SbeError};

/// -1 ms: how the JSON side writes "no time" for `O` and `W`.
const NO_TIME_US: i64 = -1000;

fuzz_target!(|frame: &[u8]| {
    let offset = subscription_offset(frame);
    if let Some(at) = offset {
        assert!(at >= HEADER_LEN && at + 2 <= HEADER_LEN + block_length(frame));
    }
    let Ok(decoded) = decode_event(frame) else {
        return;
    };
    let DecodedEvent::Event {
        subscription_id,
        event,
    } = decoded
    else {
        assert_eq!(frame.get(2..4), Some(&999u16.to_le_bytes()[..]));
        return;
    };
    let version = frame
        .get(6..8)
        .map_or(0, |v| u16::from_le_bytes([v[0], v[1]]));
    if let Some(id) = subscription_id
        && version >= 1
    {
        let at = offset.unwrap_or_else(|| panic!("subscription {id} decoded, but no offset"));
        assert_eq!(frame.get(at..at + 2), Some(&id.to_le_bytes()[..]));
    }
    match encode_event(&event, LATEST_VERSION) {
        Ok(encoded) => {
            let bytes = match subscription_id {
                Some(id) => encoded.for_subscription(id),
                None => encoded.bytes.clone(),
            };
            match decode_event(&bytes) {
                Ok(again) => assert_eq!(
                    again,
                    DecodedEvent::Event {
                        subscription_id,
                        event: canonical(&event),
                    },
                    "re-encoded event decodes differently"
                ),
                Err(error) => panic!("re-encoded event does not decode: {error}"),
            }
        }
        Err(SbeError::NotRepresentable(_)) => {}
        Err(error) => panic!("a decoded event cannot be encoded again: {error}"),
    }
    assert_json_round_trip(&event, TimeUnit::Microsecond);
});

/// `event` as the encoder sees it, by the schema's JSON notes: an order creation or working
/// time below zero means "none", which SBE carries as null and the decoder gives back as -1 ms.
fn canonical(event: &Event) -> Event {
    let mut event = event.clone();
    if let Event::ExecutionReport(report) = &mut event {
        for time in [
            &mut report.order_creation_time_us,
            &mut report.working_time_us,
        ] {
            if *time < 0 {
                *time = NO_TIME_US;
            }
        }
    }
    event
}

/// The block length the header announces.
fn block_length(frame: &[u8]) -> usize {
    frame
        .get(0..2)
        .map_or(0, |b| usize::from(u16::from_le_bytes([b[0], b[1]])))
}
