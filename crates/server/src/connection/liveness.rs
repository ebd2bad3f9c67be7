//! One connection's heartbeat state: when its next ping is due and when it last answered. The
//! heartbeat sweep ([`crate::heartbeat`]) reads and updates it; the session notes pongs.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

pub struct Liveness {
    last_pong_us: AtomicI64,
    next_ping_us: AtomicI64,
    closing: AtomicBool,
}

impl Liveness {
    /// The state of connection `id`, opened at `connected_at_us`, pinged every `ping_interval_us`.
    ///
    /// Its first ping is due in the second half of its first interval, at a place spread by
    /// `id` (golden-ratio steps, so consecutive ids land far apart), and every interval after
    /// that. So the connections of a reconnect storm, all opened in the same instant, are pinged
    /// spread over half the interval rather than together (each ping and its pong delay
    /// whatever other frame meets them, and a few hundred at once are a millisecond stall), and
    /// none while the storm itself is still reconnecting.
    pub fn new(id: u64, connected_at_us: i64, ping_interval_us: i64) -> Self {
        Liveness {
            last_pong_us: AtomicI64::new(connected_at_us),
            next_ping_us: AtomicI64::new(
                connected_at_us.saturating_add(first_ping_after_us(id, ping_interval_us)),
            ),
            closing: AtomicBool::new(false),
        }
    }

    /// Notes a pong from the client.
    pub fn pong(&self, now_us: i64) {
        self.last_pong_us.store(now_us, Ordering::Relaxed);
    }

    pub fn last_pong_us(&self) -> i64 {
        self.last_pong_us.load(Ordering::Relaxed)
    }

    pub fn next_ping_us(&self) -> i64 {
        self.next_ping_us.load(Ordering::Relaxed)
    }

    /// Notes a ping queued for the client, and when the next one is due.
    pub fn pinged(&self, next_ping_us: i64) {
        self.next_ping_us.store(next_ping_us, Ordering::Relaxed);
    }

    /// Whether a close was queued already (nothing more is checked then).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    pub fn mark_closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}

/// How long after connecting connection `id` gets its first ping: in (`interval_us` / 2,
/// `interval_us`], placed by the fractional part of `id` × the golden ratio.
fn first_ping_after_us(id: u64, interval_us: i64) -> i64 {
    const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15; // 2^64 ÷ φ
    let interval = interval_us.max(2);
    let half = interval / 2;
    let spread = u128::try_from(interval - half).unwrap_or(1);
    let fraction = u128::from(id.wrapping_mul(GOLDEN));
    // < spread, so it fits back into an i64.
    half + i64::try_from((fraction * spread) >> 64).unwrap_or(0) + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thousand connections opened together have their first pings spread over the second
    /// half of the interval: no tenth of it holds much more than a tenth of them.
    #[test]
    fn first_pings_spread_over_the_second_half_of_the_interval() {
        let interval = 20_000_000;
        let half = interval / 2;
        let mut tenths = [0; 10];
        for id in 1..=1000 {
            let after = first_ping_after_us(id, interval);
            assert!((half + 1..=interval).contains(&after), "{after}");
            tenths[((after - half - 1) * 10 / half) as usize] += 1;
        }
        assert!(
            tenths.iter().all(|&n| (90..=110).contains(&n)),
            "{tenths:?}"
        );
    }
}
