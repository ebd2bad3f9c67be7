//! The driver's two clocks, and the next moment on each that something is due.
//!
//! Token expiry, renewals, a connection's age and gap windows are measured on the injected
//! clock (microseconds, so tests and a manual clock drive them); backoffs and retirements on
//! the monotonic timer. A handler is given both readings as one [`Now`], and reads no clock
//! itself.

use std::time::Duration;
use tokio::time::Instant;

/// The moment an input is handled, on both clocks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Now {
    /// The monotonic timer: backoffs and retirements.
    pub(crate) at: Instant,
    /// The injected clock, µs since the Unix epoch: expiries, renewals, ages, gaps.
    pub(crate) us: i64,
}

impl Now {
    /// `delay` from now; a delay too large to represent waits a year instead of panicking.
    pub(crate) fn later(&self, delay: Duration) -> Instant {
        self.at
            .checked_add(delay)
            .or_else(|| self.at.checked_add(Duration::from_secs(365 * 86_400)))
            .unwrap_or(self.at)
    }
}

/// The earliest deadline still ahead on each clock. Deadlines at or before the moment they are
/// judged against were already acted on by that moment's handler.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadlines {
    now: Now,
    /// On the injected clock: a renewal or a rotation.
    pub(crate) clock_us: Option<i64>,
    /// On the monotonic timer: a backoff or a retirement ending.
    pub(crate) timer: Option<Instant>,
}

impl Deadlines {
    pub(crate) fn after(now: Now) -> Deadlines {
        Deadlines {
            now,
            clock_us: None,
            timer: None,
        }
    }

    pub(crate) fn clock(&mut self, deadline_us: i64) {
        if deadline_us > self.now.us {
            self.clock_us = Some(self.clock_us.map_or(deadline_us, |d| d.min(deadline_us)));
        }
    }

    pub(crate) fn timer(&mut self, deadline: Instant) {
        if deadline > self.now.at {
            self.timer = Some(self.timer.map_or(deadline, |d| d.min(deadline)));
        }
    }
}

pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_delays_do_not_overflow() {
        let now = Now {
            at: Instant::now(),
            us: 0,
        };
        assert!(now.later(Duration::MAX) > now.at);
        assert!(now.later(Duration::from_millis(5)) > now.at);
    }

    #[test]
    fn only_deadlines_still_ahead_count() {
        let now = Now {
            at: Instant::now(),
            us: 1_000,
        };
        let mut deadlines = Deadlines::after(now);
        deadlines.clock(1_000);
        deadlines.timer(now.at);
        assert_eq!((deadlines.clock_us, deadlines.timer), (None, None));
        deadlines.clock(3_000);
        deadlines.clock(2_000);
        deadlines.timer(now.later(Duration::from_secs(2)));
        deadlines.timer(now.later(Duration::from_secs(1)));
        assert_eq!(deadlines.clock_us, Some(2_000));
        assert_eq!(deadlines.timer, Some(now.later(Duration::from_secs(1))));
    }
}
