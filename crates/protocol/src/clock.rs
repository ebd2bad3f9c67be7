//! Injected time.
//!
//! Everything that depends on the time of day (token expiry, subscription expiry, rate-limit
//! windows, `E` fields) asks a [`Clock`]. Production uses [`SystemClock`]; tests use
//! [`ManualClock`] and move time forward by hand, so a 24 h expiry is tested in microseconds of
//! wall time while real sockets keep working (tokio's paused time would also freeze socket
//! timeouts and auto-advance while the runtime waits on I/O). The client shares this clock.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::watch;

/// A boxed future returned by [`Clock::sleep_until`].
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// A source of wall-clock time that can also wait for a moment to arrive.
pub trait Clock: Send + Sync + 'static {
    /// Microseconds since the Unix epoch.
    fn now_us(&self) -> i64;

    /// Completes once [`Clock::now_us`] has reached `deadline_us`.
    fn sleep_until(&self, deadline_us: i64) -> Sleep;

    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64 {
        self.now_us().div_euclid(1000)
    }
}

/// Shared handle to the clock in use.
pub type SharedClock = Arc<dyn Clock>;

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_us(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
    }

    fn sleep_until(&self, deadline_us: i64) -> Sleep {
        let now = self.now_us();
        let wait =
            Duration::from_micros(u64::try_from(deadline_us.saturating_sub(now)).unwrap_or(0));
        Box::pin(async move {
            tokio::time::sleep(wait).await;
            // The OS clock may lag the timer slightly; never wake before the deadline.
            loop {
                let late = SystemClock.now_us();
                if late >= deadline_us {
                    break;
                }
                let rest = u64::try_from(deadline_us - late).unwrap_or(0);
                tokio::time::sleep(Duration::from_micros(rest)).await;
            }
        })
    }
}

/// A clock that only moves when told to. Cloning shares the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<watch::Sender<i64>>,
}

impl ManualClock {
    /// A clock frozen at `start_us` microseconds since the epoch.
    pub fn new(start_us: i64) -> Self {
        ManualClock {
            now: Arc::new(watch::Sender::new(start_us)),
        }
    }

    /// A clock frozen at the current system time (rounded to the millisecond).
    pub fn starting_now() -> Self {
        Self::new(SystemClock.now_ms() * 1000)
    }

    /// Moves time forward, waking everything whose deadline has come.
    pub fn advance(&self, by: Duration) {
        let by = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        self.now.send_modify(|now| *now = now.saturating_add(by));
    }
}

impl Clock for ManualClock {
    fn now_us(&self) -> i64 {
        *self.now.borrow()
    }

    fn sleep_until(&self, deadline_us: i64) -> Sleep {
        let mut receiver = self.now.subscribe();
        Box::pin(async move {
            // The sender lives as long as the clock; if it is gone nothing will ever wake us.
            if receiver.wait_for(|now| *now >= deadline_us).await.is_err() {
                std::future::pending::<()>().await;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_wakes_sleepers_on_advance() {
        let clock = ManualClock::new(1_000_000);
        let sleeper = tokio::spawn(clock.sleep_until(3_000_000));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1));
        tokio::task::yield_now().await;
        assert!(!sleeper.is_finished());
        clock.advance(Duration::from_secs(1));
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(clock.now_ms(), 3_000);
    }

    #[tokio::test]
    async fn system_clock_sleeps_until_deadline() {
        let clock = SystemClock;
        let deadline = clock.now_us() + 2_000;
        clock.sleep_until(deadline).await;
        assert!(clock.now_us() >= deadline);
    }
}
