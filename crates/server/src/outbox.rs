//! A connection's outgoing queue: bounded in bytes, filled by anyone, drained by its session.
//!
//! The hub pushes event frames while holding an account's lock, so a push never blocks and never
//! allocates beyond the frame itself. When a client stops reading and the queue would grow past
//! its byte cap, the outbox is marked overflowed: the session closes the connection, and nothing
//! else slows down.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::VecDeque;
use tokio::sync::Notify;
use userstream_protocol::sbe::events::write_subscription_id;
use userstream_protocol::ws::{CONNECTION_EVENT_PREFIX, EVENT_FRAME_SUFFIX, event_frame_prefix};

/// One frame waiting to be written.
#[derive(Debug, Clone, PartialEq)]
pub enum OutFrame {
    /// A complete JSON text frame (a response).
    Text(Bytes),
    /// An account event: the shared body is wrapped as `{"subscriptionId":N,"event":<body>}` only
    /// when written, so one encoding serves every subscriber.
    Event { subscription_id: u32, body: Bytes },
    /// A connection event (`serverShutdown`): `{"event":<body>}`.
    ConnectionEvent(Bytes),
    /// A complete binary frame (an SBE response, or an SBE event without a subscription).
    Binary(Bytes),
    /// An SBE event: the shared encoding, with this subscriber's id written at byte `at` (when
    /// the schema version has the field) as the frame is written.
    SbeEvent {
        subscription_id: u16,
        body: Bytes,
        at: Option<u16>,
    },
    /// A WebSocket ping (heartbeat).
    Ping,
    /// Close the connection with this code and reason after the frames before it.
    Close { code: u16, reason: &'static str },
    /// Fault injection: drop the TCP connection without a close frame.
    Drop,
    /// Fault injection: neither read nor write (no pongs either) until this time.
    Mute { until_us: i64 },
}

impl OutFrame {
    /// Bytes this frame will occupy on the wire (payload only).
    pub fn wire_len(&self) -> usize {
        match self {
            OutFrame::Text(text) => text.len(),
            OutFrame::Event { body, .. } => body.len() + 32,
            OutFrame::ConnectionEvent(body) => body.len() + CONNECTION_EVENT_PREFIX.len() + 1,
            OutFrame::Binary(body) | OutFrame::SbeEvent { body, .. } => body.len(),
            OutFrame::Ping | OutFrame::Drop | OutFrame::Mute { .. } => 2,
            OutFrame::Close { reason, .. } => reason.len() + 4,
        }
    }

    /// The frame's payload, assembled; `None` for control frames.
    pub fn into_payload(self) -> Option<Payload> {
        Some(Payload::Text(match self {
            OutFrame::Ping | OutFrame::Close { .. } | OutFrame::Drop | OutFrame::Mute { .. } => {
                return None;
            }
            OutFrame::Binary(body) => return Some(Payload::Binary(body)),
            OutFrame::SbeEvent {
                subscription_id,
                body,
                at,
            } => {
                let Some(at) = at.map(usize::from).filter(|at| at + 2 <= body.len()) else {
                    return Some(Payload::Binary(body));
                };
                let mut frame = body.to_vec();
                write_subscription_id(&mut frame, at, subscription_id);
                return Some(Payload::Binary(frame.into()));
            }
            OutFrame::Text(text) => text,
            OutFrame::Event {
                subscription_id,
                body,
            } => {
                let mut out = Vec::with_capacity(body.len() + 32);
                event_frame_prefix(subscription_id, &mut out);
                out.extend_from_slice(&body);
                out.extend_from_slice(EVENT_FRAME_SUFFIX);
                out.into()
            }
            OutFrame::ConnectionEvent(body) => {
                let mut out = Vec::with_capacity(body.len() + CONNECTION_EVENT_PREFIX.len() + 1);
                out.extend_from_slice(CONNECTION_EVENT_PREFIX);
                out.extend_from_slice(&body);
                out.extend_from_slice(EVENT_FRAME_SUFFIX);
                out.into()
            }
        }))
    }
}

/// What a data frame carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// JSON, always UTF-8.
    Text(Bytes),
    /// SBE.
    Binary(Bytes),
}

/// What [`Outbox::drain`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    Open,
    /// The byte cap was hit: the client is not keeping up and must be disconnected.
    Overflowed,
}

/// What [`Outbox::push_unwoken`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pushed {
    /// The frame was queued (not refused for the cap).
    pub queued: bool,
    pub wake: Wake,
}

impl Pushed {
    const REFUSED: Pushed = Pushed {
        queued: false,
        wake: Wake::No,
    };
}

/// Whether, and when, the drainer must be woken after a push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// It is already due.
    No,
    /// The queue was empty: wake it, once the rest of the batch is queued too.
    AfterBatch,
    /// Now: the queue is at least half full, so the drainer should write before the batch goes
    /// on (the hub stops the batch there), rather than see a burst to one account cut its
    /// connection off; or it just overflowed, and the connection must close.
    Now,
}

#[derive(Default)]
struct Queue {
    frames: VecDeque<OutFrame>,
    bytes: usize,
    overflowed: bool,
    /// The drainer was woken, or is about to be, for what is queued. Only frames that may wait
    /// ([`Outbox::push_lazy`]) sit in a queue that is not due.
    due: bool,
}

pub struct Outbox {
    queue: Mutex<Queue>,
    ready: Notify,
    capacity_bytes: usize,
}

impl Outbox {
    pub fn new(capacity_bytes: usize) -> Self {
        Outbox {
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
            capacity_bytes,
        }
    }

    /// Queues a frame. `false` when the queue is over its cap (the frame is dropped and the
    /// connection marked for closing) or already overflowed.
    pub fn push(&self, frame: OutFrame) -> bool {
        self.push_and_wake(frame, false)
    }

    /// [`Outbox::push`] without waking the drainer: the caller calls [`Outbox::wake`] when
    /// [`Pushed::wake`] says so. The hub wakes a batch's connections once the whole batch is
    /// queued, so that a connection written while the batch goes on does not take its frames
    /// one write at a time.
    pub fn push_unwoken(&self, frame: OutFrame) -> Pushed {
        self.queue(frame, false)
    }

    /// Queues a frame that can wait for the connection's next write, such as a ping: it goes
    /// out with the next frame pushed, or when [`Outbox::wake_waiting`] finds it still there.
    /// A connection that receives events then takes its pings in the same writes, without a
    /// wake-up and a write of their own. `false` as for [`Outbox::push`].
    pub fn push_lazy(&self, frame: OutFrame) -> bool {
        self.push_and_wake(frame, true)
    }

    /// Queues a frame and wakes the drainer at once if it must be woken at all.
    fn push_and_wake(&self, frame: OutFrame, lazy: bool) -> bool {
        let pushed = self.queue(frame, lazy);
        if pushed.wake != Wake::No {
            self.wake();
        }
        pushed.queued
    }

    fn queue(&self, frame: OutFrame, lazy: bool) -> Pushed {
        let mut queue = self.queue.lock();
        if queue.overflowed {
            return Pushed::REFUSED;
        }
        let len = frame.wire_len();
        if queue.bytes + len > self.capacity_bytes {
            queue.overflowed = true;
            queue.due = true;
            queue.frames.clear();
            queue.bytes = 0;
            return Pushed {
                queued: false,
                wake: Wake::Now,
            };
        }
        let wake = if queue.bytes + len >= self.capacity_bytes / 2 {
            queue.due = true;
            Wake::Now
        } else if queue.due || lazy {
            Wake::No
        } else {
            queue.due = true;
            Wake::AfterBatch
        };
        queue.bytes += len;
        queue.frames.push_back(frame);
        Pushed { queued: true, wake }
    }

    /// Wakes the drainer for frames that were left to wait ([`Outbox::push_lazy`]) and are
    /// still queued, since nothing else was pushed after them.
    pub fn wake_waiting(&self) {
        let mut queue = self.queue.lock();
        if queue.due || queue.frames.is_empty() {
            return;
        }
        queue.due = true;
        drop(queue);
        self.wake();
    }

    /// Moves every queued frame into `into`, oldest first. The queue's allocation goes with
    /// them, so an idle connection keeps none.
    pub fn drain(&self, into: &mut VecDeque<OutFrame>) -> OutboxState {
        let mut queue = self.queue.lock();
        let taken = std::mem::take(&mut queue.frames);
        queue.bytes = 0;
        queue.due = false;
        let overflowed = queue.overflowed;
        drop(queue);
        if into.is_empty() {
            *into = taken;
        } else {
            into.extend(taken);
        }
        if overflowed {
            OutboxState::Overflowed
        } else {
            OutboxState::Open
        }
    }

    /// Bytes waiting to be written.
    pub fn queued_bytes(&self) -> usize {
        self.queue.lock().bytes
    }

    /// Makes the drainer look again (frames were left over from an interrupted write).
    pub fn wake(&self) {
        self.ready.notify_one();
    }

    /// Completes when frames may be waiting (the permit survives if nobody was waiting yet).
    pub async fn ready(&self) {
        self.ready.notified().await;
    }
}

#[cfg(test)]
impl Outbox {
    /// Whether the drainer holds a wake-up, taking it: what its next [`Outbox::ready`] would
    /// find at once.
    pub(crate) fn take_wake(&self) -> bool {
        let mut ready = std::pin::pin!(self.ready());
        let mut context = std::task::Context::from_waker(std::task::Waker::noop());
        ready.as_mut().poll(&mut context).is_ready()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_frames_are_spliced() {
        let frame = OutFrame::Event {
            subscription_id: 12,
            body: Bytes::from_static(br#"{"e":"x"}"#),
        };
        let text = |bytes: &'static [u8]| Some(Payload::Text(Bytes::from_static(bytes)));
        assert_eq!(
            frame.into_payload(),
            text(br#"{"subscriptionId":12,"event":{"e":"x"}}"#)
        );
        let frame =
            OutFrame::ConnectionEvent(Bytes::from_static(br#"{"e":"serverShutdown","E":1}"#));
        assert_eq!(
            frame.into_payload(),
            text(br#"{"event":{"e":"serverShutdown","E":1}}"#)
        );
        // SBE: the subscriber's id overwrites the two bytes at `at`, little-endian.
        let body = Bytes::from_static(&[1, 2, 0xff, 0xff, 5]);
        let frame = OutFrame::SbeEvent {
            subscription_id: 0x0102,
            body: body.clone(),
            at: Some(2),
        };
        let spliced = Payload::Binary(Bytes::from_static(&[1, 2, 0x02, 0x01, 5]));
        assert_eq!(frame.into_payload(), Some(spliced));
        // No field (older schema version), or an offset past the end: the body as it is.
        for at in [None, Some(4)] {
            let frame = OutFrame::SbeEvent {
                subscription_id: 7,
                body: body.clone(),
                at,
            };
            assert_eq!(frame.into_payload(), Some(Payload::Binary(body.clone())));
        }
    }

    #[test]
    fn overflow_drops_everything_and_sticks() {
        let outbox = Outbox::new(100);
        assert!(outbox.push(OutFrame::Text(Bytes::from(vec![b'x'; 60]))));
        assert_eq!(outbox.queued_bytes(), 60);
        assert!(!outbox.push(OutFrame::Text(Bytes::from(vec![b'x'; 60]))));
        assert!(!outbox.push(OutFrame::Text(Bytes::from_static(b"{}"))));
        let mut frames = VecDeque::new();
        assert_eq!(outbox.drain(&mut frames), OutboxState::Overflowed);
        assert!(frames.is_empty());
    }

    #[test]
    fn an_unwoken_push_says_when_the_drainer_must_be_woken() {
        let outbox = Outbox::new(100);
        let frame = |len| OutFrame::Text(Bytes::from(vec![b'x'; len]));
        let pushed = |wake| Pushed { queued: true, wake };
        assert_eq!(outbox.push_unwoken(frame(20)), pushed(Wake::AfterBatch));
        // Not the first frame: the drainer is already due.
        assert_eq!(outbox.push_unwoken(frame(20)), pushed(Wake::No));
        // Half full, and from then on: the drainer goes before the batch goes on.
        assert_eq!(outbox.push_unwoken(frame(10)), pushed(Wake::Now));
        assert_eq!(outbox.push_unwoken(frame(10)), pushed(Wake::Now));
        let mut frames = VecDeque::new();
        outbox.drain(&mut frames);
        assert_eq!(outbox.push_unwoken(frame(40)), pushed(Wake::AfterBatch));
        // Overflowing wakes it, to close the connection; after that nothing is queued.
        let overflowed = Pushed {
            queued: false,
            wake: Wake::Now,
        };
        assert_eq!(outbox.push_unwoken(frame(70)), overflowed);
        assert_eq!(outbox.push_unwoken(frame(1)), Pushed::REFUSED);
    }

    /// A lazy frame (a ping) wakes no one: the next frame pushed takes it along, or the
    /// heartbeat's next look wakes the drainer for it.
    #[test]
    fn a_lazy_frame_waits_for_the_next_push_or_a_wake() {
        let outbox = Outbox::new(100);
        let frame = || OutFrame::Text(Bytes::from_static(b"{}"));
        assert!(outbox.push_lazy(OutFrame::Ping));
        assert_eq!(
            outbox.push_unwoken(frame()),
            Pushed {
                queued: true,
                wake: Wake::AfterBatch
            }
        );
        let mut frames = VecDeque::new();
        outbox.drain(&mut frames);
        assert_eq!(frames, [OutFrame::Ping, frame()]);
        // Alone, it waits until the heartbeat looks again, and is woken for once.
        assert!(outbox.push_lazy(OutFrame::Ping));
        assert!(!outbox.take_wake());
        outbox.wake_waiting();
        assert!(outbox.take_wake());
        outbox.wake_waiting();
        assert!(!outbox.take_wake());
        // Nothing queued: nothing to wake for.
        frames.clear();
        outbox.drain(&mut frames);
        outbox.wake_waiting();
        assert!(!outbox.take_wake());
    }

    #[tokio::test]
    async fn push_wakes_the_drainer() {
        let outbox = Outbox::new(1000);
        assert!(outbox.push(OutFrame::Text(Bytes::from_static(b"{}"))));
        outbox.ready().await;
        let mut frames = VecDeque::new();
        assert_eq!(outbox.drain(&mut frames), OutboxState::Open);
        assert_eq!(frames.len(), 1);
    }
}
