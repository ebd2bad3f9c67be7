//! An event encoded once per wire format, shared by every subscriber that needs it.

use bytes::Bytes;
use std::sync::OnceLock;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;

/// Lazily encodes an event: milliseconds JSON for most sessions, microseconds JSON only if some
/// subscriber asked for it. Each encoding happens at most once.
pub struct EncodedEvent<'a> {
    event: &'a Event,
    millis: OnceLock<Bytes>,
    micros: OnceLock<Bytes>,
}

impl<'a> EncodedEvent<'a> {
    pub fn new(event: &'a Event) -> Self {
        EncodedEvent {
            event,
            millis: OnceLock::new(),
            micros: OnceLock::new(),
        }
    }

    /// The bare event object as JSON with timestamps in `unit`.
    pub fn json(&self, unit: TimeUnit) -> Bytes {
        let cell = match unit {
            TimeUnit::Millisecond => &self.millis,
            TimeUnit::Microsecond => &self.micros,
        };
        cell.get_or_init(|| Bytes::from(self.event.to_json(unit)))
            .clone()
    }
}
