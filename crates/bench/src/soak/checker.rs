//! Judging one stream: every event published to its account carries a sequence number (1, 2,
//! 3…), and the checker follows them in the order the client yields items.
//!
//! A hole in the sequence is *explained* only when a `Gap` status arrived since the last event
//! received before it; otherwise whatever in it never arrives is a loss. A number seen twice is
//! a duplicate. A number that fills an earlier hole arrived out of order. What was never
//! received by the end must be covered by a gap too. Publish requests that failed in a way that
//! leaves their fate unknown (the server was killed mid-request) make their numbers optional.

use serde::Serialize;

/// A `Gap` status as the stream reported it (client clock, µs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GapSeen {
    pub since_us: i64,
    pub until_us: i64,
}

/// A run of numbers that were skipped when a later one arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Hole {
    first: u64,
    last: u64,
    /// The gap that explains it (index into the stream's gaps), if one was reported in time.
    gap: Option<usize>,
    /// Numbers of the hole that arrived later, out of order.
    late: Vec<u64>,
}

impl Hole {
    fn contains(&self, seq: u64) -> bool {
        (self.first..=self.last).contains(&seq)
    }
}

/// One stream's record, fed item by item.
#[derive(Debug, Default)]
pub struct StreamCheck {
    /// The lowest number not yet received or skipped.
    next: u64,
    holes: Vec<Hole>,
    gaps: Vec<GapSeen>,
    /// A gap arrived since the last event (its index).
    gap_since_last_event: Option<usize>,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
}

/// What a hole that stayed unexplained looked like, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loss {
    pub first: u64,
    pub last: u64,
    pub lost: u64,
}

/// What became of the events a stream (or, summed, every stream) had to receive.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventCounts {
    /// Events that had to be received (published for certain).
    pub expected: u64,
    /// Distinct events received.
    pub received: u64,
    /// Events missing where a gap had been reported: allowed, the client said so.
    pub missed_with_gap: u64,
    /// Events missing where no gap had been reported: must be 0.
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub unknown: u64,
}

impl EventCounts {
    /// Adds another stream's counts to these.
    pub fn add(&mut self, other: &EventCounts) {
        self.expected += other.expected;
        self.received += other.received;
        self.missed_with_gap += other.missed_with_gap;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.unknown += other.unknown;
    }
}

/// One stream's verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamVerdict {
    #[serde(flatten)]
    pub counts: EventCounts,
    pub losses: Vec<Loss>,
}

impl StreamCheck {
    pub fn new() -> StreamCheck {
        StreamCheck {
            next: 1,
            ..StreamCheck::default()
        }
    }

    /// A `Gap` status.
    pub fn gap(&mut self, gap: GapSeen) {
        self.gaps.push(gap);
        self.gap_since_last_event = Some(self.gaps.len() - 1);
    }

    /// An event with sequence number `seq`.
    pub fn event(&mut self, seq: u64) {
        let gap = self.gap_since_last_event.take();
        if seq >= self.next {
            if seq > self.next {
                self.holes.push(Hole {
                    first: self.next,
                    last: seq - 1,
                    gap,
                    late: Vec::new(),
                });
            }
            self.next = seq + 1;
            self.received += 1;
            return;
        }
        match self.holes.iter_mut().rev().find(|hole| hole.contains(seq)) {
            Some(hole) if !hole.late.contains(&seq) => {
                hole.late.push(seq);
                self.out_of_order += 1;
                self.received += 1;
            }
            _ => self.duplicates += 1,
        }
    }

    pub fn gaps(&self) -> &[GapSeen] {
        &self.gaps
    }

    /// The verdict once nothing more will arrive: `last_published` is the highest number
    /// published to the account, `optional` (sorted) the numbers whose publication is uncertain.
    pub fn finish(&self, last_published: u64, optional: &[u64]) -> StreamVerdict {
        let is_optional = |seq: u64| optional.binary_search(&seq).is_ok();
        let optional_in = |first: u64, last: u64| -> u64 {
            let from = optional.partition_point(|seq| *seq < first);
            let to = optional.partition_point(|seq| *seq <= last);
            (to - from) as u64
        };
        let mut verdict = StreamVerdict {
            counts: EventCounts {
                expected: last_published.saturating_sub(optional_in(1, last_published)),
                received: self.received,
                duplicates: self.duplicates,
                out_of_order: self.out_of_order,
                // Numbers above anything ever published: a corrupted or foreign event.
                unknown: self.next.saturating_sub(last_published + 1),
                ..EventCounts::default()
            },
            losses: Vec::new(),
        };
        let trailing = (self.next <= last_published).then(|| Hole {
            first: self.next,
            last: last_published,
            gap: self.gap_since_last_event,
            late: Vec::new(),
        });
        for hole in self.holes.iter().chain(trailing.as_ref()) {
            let late_certain = hole.late.iter().filter(|seq| !is_optional(**seq)).count() as u64;
            let missing = (hole.last - hole.first + 1)
                .saturating_sub(optional_in(hole.first, hole.last))
                .saturating_sub(late_certain);
            if missing == 0 {
                continue;
            }
            if hole.gap.is_some() {
                verdict.counts.missed_with_gap += missing;
            } else {
                verdict.counts.lost += missing;
                verdict.losses.push(Loss {
                    first: hole.first,
                    last: hole.last,
                    lost: missing,
                });
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GAP: GapSeen = GapSeen {
        since_us: 1,
        until_us: 2,
    };

    fn feed(check: &mut StreamCheck, seqs: impl IntoIterator<Item = u64>) {
        for seq in seqs {
            check.event(seq);
        }
    }

    #[test]
    fn a_complete_stream_passes() {
        let mut check = StreamCheck::new();
        feed(&mut check, 1..=100);
        let verdict = check.finish(100, &[]);
        assert_eq!(verdict.counts.expected, 100);
        assert_eq!(verdict.counts.received, 100);
        assert_eq!(
            (
                verdict.counts.lost,
                verdict.counts.duplicates,
                verdict.counts.out_of_order
            ),
            (0, 0, 0)
        );
    }

    #[test]
    fn a_hole_after_a_gap_is_explained_and_one_without_is_a_loss() {
        let mut check = StreamCheck::new();
        feed(&mut check, 1..=10);
        check.gap(GAP);
        feed(&mut check, 15..=20);
        // No gap this time: 21..=22 are lost.
        feed(&mut check, 23..=30);
        let verdict = check.finish(30, &[]);
        assert_eq!(verdict.counts.missed_with_gap, 4);
        assert_eq!(verdict.counts.lost, 2);
        assert_eq!(
            verdict.losses,
            vec![Loss {
                first: 21,
                last: 22,
                lost: 2
            }]
        );
        assert_eq!(check.gaps(), &[GAP]);
    }

    #[test]
    fn a_gap_reported_after_the_hole_does_not_explain_it() {
        let mut check = StreamCheck::new();
        feed(&mut check, [1, 2, 5]);
        check.gap(GAP);
        feed(&mut check, [6]);
        assert_eq!(check.finish(6, &[]).counts.lost, 2);
    }

    #[test]
    fn repeats_are_duplicates_and_late_fillers_are_out_of_order() {
        let mut check = StreamCheck::new();
        feed(&mut check, [1, 2, 2, 5, 3, 4, 4, 1]);
        let verdict = check.finish(5, &[]);
        assert_eq!(verdict.counts.duplicates, 3);
        assert_eq!(verdict.counts.out_of_order, 2);
        assert_eq!(verdict.counts.received, 5);
        assert_eq!(verdict.counts.lost, 0, "the hole was filled");
    }

    #[test]
    fn the_tail_must_be_covered_by_a_gap() {
        let mut unexplained = StreamCheck::new();
        feed(&mut unexplained, 1..=5);
        assert_eq!(unexplained.finish(8, &[]).counts.lost, 3);
        let mut explained = StreamCheck::new();
        feed(&mut explained, 1..=5);
        explained.gap(GAP);
        let verdict = explained.finish(8, &[]);
        assert_eq!(
            (verdict.counts.lost, verdict.counts.missed_with_gap),
            (0, 3)
        );
    }

    #[test]
    fn uncertain_publications_are_optional() {
        let mut check = StreamCheck::new();
        // 4..=6 went out in a request that failed; 5 arrived anyway.
        feed(&mut check, [1, 2, 3, 5, 7, 8]);
        let verdict = check.finish(10, &[4, 5, 6, 9, 10]);
        assert_eq!(verdict.counts.expected, 5);
        assert_eq!(verdict.counts.lost, 0);
        assert_eq!(verdict.counts.received, 6);
    }

    #[test]
    fn numbers_beyond_what_was_published_are_flagged() {
        let mut check = StreamCheck::new();
        feed(&mut check, [1, 2, 3]);
        assert_eq!(check.finish(2, &[]).counts.unknown, 1);
    }
}
