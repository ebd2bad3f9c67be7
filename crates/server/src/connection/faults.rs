//! Faults that live on one connection, set by fault injection ([`crate::faults`]) and obeyed by
//! the session as it writes.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Default)]
pub struct SessionFaults {
    delay_us: AtomicI64,
}

impl SessionFaults {
    /// How long each batch of outgoing frames is held back (0: not at all).
    pub fn delay_us(&self) -> i64 {
        self.delay_us.load(Ordering::Relaxed)
    }

    pub fn set_delay_us(&self, delay_us: i64) {
        self.delay_us.store(delay_us, Ordering::Relaxed);
    }
}
