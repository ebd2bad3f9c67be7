//! An event encoded once per wire format, shared by every subscriber that needs it.

use crate::connection::SessionHandle;
use crate::outbox::OutFrame;
use crate::wire::WireFormat;
use bytes::Bytes;
use std::sync::OnceLock;
use userstream_protocol::TimeUnit;
use userstream_protocol::events::Event;
use userstream_protocol::position::write_frame_tail;
use userstream_protocol::sbe::events::{encode_event, non_representable};
use userstream_protocol::sbe::{LATEST_VERSION, OLDEST_VERSION};

const SBE_VERSIONS: usize = (LATEST_VERSION - OLDEST_VERSION + 1) as usize;

/// Lazily encodes an event: milliseconds JSON for most sessions, microseconds JSON and each SBE
/// version only if some subscriber asked for it. Each encoding happens at most once.
pub struct EncodedEvent<'a> {
    event: &'a Event,
    millis: OnceLock<Bytes>,
    micros: OnceLock<Bytes>,
    /// Per SBE version from [`OLDEST_VERSION`]: the frame and where `subscriptionId` sits.
    sbe: [OnceLock<(Bytes, Option<u16>)>; SBE_VERSIONS],
    /// The event's place in its account stream (epoch, sequence), for connections that asked
    /// for positions.
    position: Option<(&'a str, u64)>,
    /// Per time unit (ms, µs): the event followed by `,"position":{…}`.
    positioned: [OnceLock<Bytes>; 2],
}

impl<'a> EncodedEvent<'a> {
    pub fn new(event: &'a Event) -> Self {
        EncodedEvent {
            event,
            millis: OnceLock::new(),
            micros: OnceLock::new(),
            sbe: std::array::from_fn(|_| OnceLock::new()),
            position: None,
            positioned: [OnceLock::new(), OnceLock::new()],
        }
    }

    /// The same event at `sequence` of its account stream in `epoch`.
    pub fn at(mut self, epoch: &'a str, sequence: u64) -> Self {
        self.position = Some((epoch, sequence));
        self
    }

    /// The bare event object as JSON with timestamps in `unit`.
    pub fn json(&self, unit: TimeUnit) -> Bytes {
        self.json_cell(unit)
            .get_or_init(|| Bytes::from(self.event.to_json(unit)))
            .clone()
    }

    fn json_cell(&self, unit: TimeUnit) -> &OnceLock<Bytes> {
        match unit {
            TimeUnit::Millisecond => &self.millis,
            TimeUnit::Microsecond => &self.micros,
        }
    }

    /// The bare event object as JSON in `unit`, in an allocation of its exact size: the one
    /// already made for subscribers, copied, or else written in `scratch` first (which keeps its
    /// room for the next), so that no other allocation is made for it.
    pub fn json_copy(&self, unit: TimeUnit, scratch: &mut Vec<u8>) -> Bytes {
        if let Some(json) = self.json_cell(unit).get() {
            return Bytes::copy_from_slice(json);
        }
        scratch.clear();
        self.event.write_json(unit, scratch);
        Bytes::copy_from_slice(scratch)
    }

    /// The SBE frame at `version`, with the offset of its `subscriptionId`.
    fn sbe(&self, version: u16) -> (Bytes, Option<u16>) {
        let index = usize::from(version.saturating_sub(OLDEST_VERSION)).min(SBE_VERSIONS - 1);
        self.sbe[index]
            .get_or_init(|| match encode_event(self.event, version) {
                Ok(encoded) => (
                    encoded.bytes.into(),
                    encoded
                        .subscription_at
                        .and_then(|at| u16::try_from(at).ok()),
                ),
                Err(error) => {
                    // A decimal whose digits do not fit a 64-bit mantissa: JSON sessions get the
                    // event as published, SBE sessions a NonRepresentableMessage (docs/protocol.md).
                    tracing::warn!(%error, "event sent to SBE sessions as NonRepresentableMessage");
                    (non_representable(version).into(), None)
                }
            })
            .clone()
    }

    /// The event frame for `session`'s subscription `subscription_id`: with the event's position
    /// when the session asked for positions and the event has one.
    pub fn frame_for(&self, session: &SessionHandle, subscription_id: u32) -> OutFrame {
        match (session.format, self.position) {
            (WireFormat::Json(unit), Some((epoch, sequence))) if session.positions => {
                let index = match unit {
                    TimeUnit::Millisecond => 0,
                    TimeUnit::Microsecond => 1,
                };
                let body = self.positioned[index].get_or_init(|| {
                    let json = self.json(unit);
                    let mut body = Vec::with_capacity(json.len() + 64);
                    body.extend_from_slice(&json);
                    write_frame_tail(epoch, sequence, &mut body);
                    body.into()
                });
                OutFrame::Event {
                    subscription_id,
                    body: body.clone(),
                }
            }
            (format, _) => self.frame(format, Some(subscription_id)),
        }
    }

    /// The frame for one subscription (or, with `None`, for the connection) in `format`.
    pub fn frame(&self, format: WireFormat, subscription_id: Option<u32>) -> OutFrame {
        match (format, subscription_id) {
            (WireFormat::Json(unit), Some(subscription_id)) => OutFrame::Event {
                subscription_id,
                body: self.json(unit),
            },
            (WireFormat::Json(unit), None) => OutFrame::ConnectionEvent(self.json(unit)),
            (WireFormat::Sbe { version, .. }, Some(subscription_id)) => {
                let (body, at) = self.sbe(version);
                OutFrame::SbeEvent {
                    // Ids stay below 65535 (SBE's null) by the lifetime subscription limit.
                    subscription_id: u16::try_from(subscription_id).unwrap_or(u16::MAX),
                    body,
                    at,
                }
            }
            (WireFormat::Sbe { version, .. }, None) => OutFrame::Binary(self.sbe(version).0),
        }
    }
}
