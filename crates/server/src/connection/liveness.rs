//! One connection's heartbeat state: when it was last pinged and last answered. The heartbeat
//! sweep ([`crate::heartbeat`]) reads and updates it; the session notes pongs.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

pub struct Liveness {
    last_pong_us: AtomicI64,
    last_ping_us: AtomicI64,
    closing: AtomicBool,
}

impl Liveness {
    pub fn new(connected_at_us: i64) -> Self {
        Liveness {
            last_pong_us: AtomicI64::new(connected_at_us),
            last_ping_us: AtomicI64::new(connected_at_us),
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

    pub fn last_ping_us(&self) -> i64 {
        self.last_ping_us.load(Ordering::Relaxed)
    }

    /// Notes a ping queued for the client.
    pub fn pinged(&self, now_us: i64) {
        self.last_ping_us.store(now_us, Ordering::Relaxed);
    }

    /// Whether a close was queued already (nothing more is checked then).
    pub fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Relaxed)
    }

    pub fn mark_closing(&self) {
        self.closing.store(true, Ordering::Relaxed);
    }
}
