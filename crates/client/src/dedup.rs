//! Dropping the second copy of an event that arrives on two subscriptions at once.
//!
//! During a make-before-break handover (and when a renewal yields a new subscription id) an
//! account is briefly subscribed twice, and every event published in that overlap arrives twice.
//! The gateway encodes each event once, so both copies have the same bytes: the first copy is
//! delivered, a copy with the same fingerprint from a *different* subscription is dropped.
//! Fingerprints are kept only while an overlap lasts and for a short tail after it, since the
//! new connection may deliver an event after the old one has already closed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;
use tokio::time::Instant;

/// Where a copy came from: (connection, subscription id).
pub type Source = (u64, u32);

/// How long fingerprints are kept after an overlap ends.
pub const TAIL: Duration = Duration::from_secs(30);
/// At most this many fingerprints per account, oldest forgotten first.
pub const CAPACITY: usize = 65_536;

#[derive(Debug, Default)]
pub struct Dedup {
    seen: HashMap<u64, Source>,
    order: VecDeque<u64>,
    /// Remembering: while overlapping (`None` deadline), or until this instant.
    window: Option<Option<Instant>>,
}

impl Dedup {
    /// Starts remembering: the account now has more than one live subscription.
    pub fn overlap_started(&mut self) {
        self.window = Some(None);
    }

    /// The overlap is over; keep remembering for [`TAIL`].
    pub fn overlap_ended(&mut self, now: Instant) {
        if self.window.is_some() {
            self.window = Some(Some(now + TAIL));
        }
    }

    /// True when this event was already delivered from another source (while remembering).
    pub fn seen_elsewhere(&self, fingerprint: u64, source: Source) -> bool {
        self.window.is_some()
            && self
                .seen
                .get(&fingerprint)
                .is_some_and(|first| *first != source)
    }

    /// True when this copy should be delivered.
    pub fn admit(&mut self, fingerprint: u64, source: Source, now: Instant) -> bool {
        match self.window {
            None => return true,
            Some(Some(deadline)) if now >= deadline => {
                *self = Dedup::default();
                return true;
            }
            Some(_) => {}
        }
        match self.seen.get(&fingerprint) {
            Some(first) if *first != source => false,
            Some(_) => true,
            None => {
                if self.order.len() == CAPACITY
                    && let Some(oldest) = self.order.pop_front()
                {
                    self.seen.remove(&oldest);
                }
                self.seen.insert(fingerprint, source);
                self.order.push_back(fingerprint);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_from_another_source_are_dropped_during_overlap_and_tail() {
        let now = Instant::now();
        let mut dedup = Dedup::default();
        assert!(dedup.admit(1, (1, 0), now));
        assert!(dedup.admit(1, (1, 0), now), "no overlap: everything passes");
        dedup.overlap_started();
        assert!(dedup.admit(2, (1, 0), now));
        assert!(!dedup.admit(2, (2, 0), now));
        assert!(
            dedup.admit(2, (1, 0), now),
            "a repeat on the same source is real"
        );
        dedup.overlap_ended(now);
        assert!(dedup.admit(3, (2, 0), now + Duration::from_secs(1)));
        assert!(!dedup.admit(3, (1, 0), now + Duration::from_secs(1)));
        assert!(dedup.admit(3, (1, 0), now + TAIL), "tail over: forgotten");
        assert!(dedup.seen.is_empty());
    }

    #[test]
    fn an_event_is_seen_elsewhere_only_from_another_source_while_remembering() {
        let now = Instant::now();
        let mut dedup = Dedup::default();
        dedup.admit(7, (1, 0), now);
        assert!(
            !dedup.seen_elsewhere(7, (2, 0)),
            "not remembering outside an overlap"
        );
        dedup.overlap_started();
        dedup.admit(7, (1, 0), now);
        assert!(dedup.seen_elsewhere(7, (2, 0)));
        assert!(!dedup.seen_elsewhere(7, (1, 0)));
        assert!(!dedup.seen_elsewhere(8, (2, 0)));
    }

    #[test]
    fn memory_is_bounded() {
        let now = Instant::now();
        let mut dedup = Dedup::default();
        dedup.overlap_started();
        for fingerprint in 0..(CAPACITY as u64 + 10) {
            assert!(dedup.admit(fingerprint, (1, 0), now));
        }
        assert_eq!(dedup.seen.len(), CAPACITY);
        assert!(dedup.admit(0, (2, 0), now), "the oldest was forgotten");
    }
}
