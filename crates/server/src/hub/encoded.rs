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
use userstream_protocol::ws::{EVENT_FRAME_SUFFIX, event_frame_prefix};

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
    /// Per time unit, without and with the position: the whole text frame for the first
    /// subscription id that asked; subscribers with another id get the body inside it. An
    /// account has one subscriber far more often than several, and a frame made whole here is
    /// one allocation, where splicing the shared body when the frame is written made another,
    /// and a copy, for each delivery.
    whole: [OnceLock<(u32, Bytes)>; 4],
}

impl<'a> EncodedEvent<'a> {
    pub fn new(event: &'a Event) -> Self {
        EncodedEvent {
            event,
            millis: OnceLock::new(),
            micros: OnceLock::new(),
            sbe: std::array::from_fn(|_| OnceLock::new()),
            position: None,
            whole: std::array::from_fn(|_| OnceLock::new()),
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
            (WireFormat::Json(unit), Some(position)) if session.positions => {
                self.json_frame(unit, Some(position), subscription_id)
            }
            (format, _) => self.frame(format, Some(subscription_id)),
        }
    }

    /// [`EncodedEvent::frame_for`] for the account's only subscriber: a JSON frame is made
    /// whole in `scratch` and copied into an allocation of its size, and not kept here (a kept
    /// copy would share it, which costs another allocation and atomic counts on every core that
    /// touches it).
    pub fn only_frame_for(
        &self,
        session: &SessionHandle,
        subscription_id: u32,
        scratch: &mut Vec<u8>,
    ) -> OutFrame {
        match session.format {
            WireFormat::Json(unit) => {
                let position = self.position.filter(|_| session.positions);
                scratch.clear();
                self.write_whole(unit, position, subscription_id, scratch);
                OutFrame::Text(Bytes::copy_from_slice(scratch))
            }
            format => self.frame(format, Some(subscription_id)),
        }
    }

    /// A JSON event frame: whole when `subscription_id` is the one [`EncodedEvent::whole`]
    /// was made for (or it is made for it now), else the body inside that frame, to splice.
    fn json_frame(
        &self,
        unit: TimeUnit,
        position: Option<(&str, u64)>,
        subscription_id: u32,
    ) -> OutFrame {
        let index =
            usize::from(unit == TimeUnit::Microsecond) + 2 * usize::from(position.is_some());
        let (id, frame) = self.whole[index].get_or_init(|| {
            let mut frame = Vec::with_capacity(self.body_len_hint(unit) + 96);
            self.write_whole(unit, position, subscription_id, &mut frame);
            (subscription_id, frame.into())
        });
        if *id == subscription_id {
            return OutFrame::Text(frame.clone());
        }
        // The body is the frame less its prefix and suffix: encoded once, whatever the ids.
        let mut prefix = Vec::new();
        event_frame_prefix(*id, &mut prefix);
        let end = frame.len().saturating_sub(EVENT_FRAME_SUFFIX.len());
        OutFrame::Event {
            subscription_id,
            body: frame.slice(prefix.len().min(end)..end),
        }
    }

    /// The whole text frame: `{"subscriptionId":N,"event":` the body `}`.
    fn write_whole(
        &self,
        unit: TimeUnit,
        position: Option<(&str, u64)>,
        subscription_id: u32,
        out: &mut Vec<u8>,
    ) {
        event_frame_prefix(subscription_id, out);
        self.write_body(unit, position, out);
        out.extend_from_slice(EVENT_FRAME_SUFFIX);
    }

    /// The event's JSON in `unit`, then its position when given.
    fn write_body(&self, unit: TimeUnit, position: Option<(&str, u64)>, out: &mut Vec<u8>) {
        match self.json_cell(unit).get() {
            Some(json) => out.extend_from_slice(json),
            None => self.event.write_json(unit, out),
        }
        if let Some((epoch, sequence)) = position {
            write_frame_tail(epoch, sequence, out);
        }
    }

    /// Room for the event's JSON: the size of an encoding already made, or a typical one.
    fn body_len_hint(&self, unit: TimeUnit) -> usize {
        self.json_cell(unit).get().map_or(256, Bytes::len)
    }

    /// The frame for one subscription (or, with `None`, for the connection) in `format`.
    pub fn frame(&self, format: WireFormat, subscription_id: Option<u32>) -> OutFrame {
        match (format, subscription_id) {
            (WireFormat::Json(unit), Some(subscription_id)) => {
                self.json_frame(unit, None, subscription_id)
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::Payload;

    #[test]
    fn every_subscription_gets_the_event_under_its_own_id() {
        let json = br#"{"e":"balanceUpdate","E":1,"a":"BTC","d":"1.5","T":2}"#;
        let event = Event::from_json(json, TimeUnit::Millisecond).unwrap();
        let encoded = EncodedEvent::new(&event).at("00ff", 9);
        for position in [None, Some(("00ff", 9))] {
            let mut body = event.to_json(TimeUnit::Millisecond);
            if let Some((epoch, sequence)) = position {
                write_frame_tail(epoch, sequence, &mut body);
            }
            let body = String::from_utf8(body).unwrap();
            // The first id gets the whole frame, the others its body spliced under theirs.
            for id in [3, 12, 3, 100_000] {
                let frame = encoded.json_frame(TimeUnit::Millisecond, position, id);
                let expected = format!(r#"{{"subscriptionId":{id},"event":{body}}}"#);
                assert_eq!(
                    frame.into_payload(),
                    Some(Payload::Text(expected.into())),
                    "id {id}, position {position:?}"
                );
            }
        }
    }
}
