//! Reconciliation: when each account's state is read over REST, and what became of the read.
//!
//! A snapshot is owed once an account's subscription is answered for the first time, and after
//! every gap; not after a renewal or a resume, which lose nothing. It is asked for only while
//! the account streams (its subscription answered), so that every change after the read
//! arrives as an event. A gap while a read is in flight makes that read stale: its answer is
//! dropped and a fresh one is asked for.

use super::accounts::MAX_RETRY_AFTER;
use super::timers::{Deadlines, Now};
use crate::options::Options;
use crate::snapshot::{Snapshot, SnapshotError};
use std::time::Duration;
use tokio::time::Instant;

/// A snapshot read's outcome, for account `account`, read number `fetch`.
#[derive(Debug)]
pub(crate) struct SnapshotAnswer {
    pub(crate) account: usize,
    pub(crate) fetch: u64,
    pub(crate) answer: Result<Snapshot, SnapshotError>,
}

/// One account's reconciliation.
#[derive(Debug, Default)]
pub(crate) struct Reconcile {
    /// A snapshot is owed and not yet asked for.
    wanted: bool,
    /// The read in flight, by number; an answer with another number is stale.
    in_flight: Option<u64>,
    /// Failed reads in a row.
    failures: u32,
    /// No read before this instant (backoff).
    retry_at: Option<Instant>,
}

impl Reconcile {
    /// A snapshot is owed (a first subscription, a gap). True when a read in flight became
    /// stale by it: the events held for it are to be let out.
    pub(crate) fn want(&mut self) -> bool {
        self.wanted = true;
        // What went wrong before the gap says nothing of the read after it.
        self.retry_at = None;
        self.failures = 0;
        self.in_flight.take().is_some()
    }

    /// True when a read should go out now (the account streams): one is owed, none is in
    /// flight, and no backoff lasts.
    pub(crate) fn due(&mut self, now: Instant) -> bool {
        if self.retry_at.is_some_and(|at| now >= at) {
            self.retry_at = None;
        }
        self.wanted && self.in_flight.is_none() && self.retry_at.is_none()
    }

    /// Read number `fetch` went out.
    pub(crate) fn started(&mut self, fetch: u64) {
        self.wanted = false;
        self.in_flight = Some(fetch);
    }

    /// Read number `fetch` was answered: true when it is the one awaited (not stale).
    pub(crate) fn answered(&mut self, fetch: u64) -> bool {
        if self.in_flight != Some(fetch) {
            return false;
        }
        self.in_flight = None;
        true
    }

    /// The read succeeded and its snapshot went out.
    pub(crate) fn succeeded(&mut self) {
        self.failures = 0;
    }

    /// The read failed: it is asked again after the token backoff (or the server's
    /// `Retry-After`). Returns the attempt and the delay.
    pub(crate) fn failed(
        &mut self,
        error: &SnapshotError,
        options: &Options,
        now: Now,
    ) -> (u32, Duration) {
        self.failures += 1;
        let delay = options
            .token_backoff
            .delay(self.failures)
            .max(error.retry_after().unwrap_or_default().min(MAX_RETRY_AFTER));
        self.wanted = true;
        self.retry_at = Some(now.later(delay));
        (self.failures, delay)
    }

    /// The end of a backoff, on the timer.
    pub(crate) fn deadlines(&self, deadlines: &mut Deadlines) {
        if self.wanted
            && let Some(at) = self.retry_at
        {
            deadlines.timer(at);
        }
    }
}
