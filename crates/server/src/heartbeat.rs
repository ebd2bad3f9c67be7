//! Server pings, pong timeouts and the connection lifetime limit, for every connection at once.
//!
//! One task sweeps all sessions once a second (of the injected clock) instead of each connection
//! keeping timers of its own, and sleeps while there are none. A sweep queues a ping where one
//! is due and a close where a connection went silent or grew too old; each session's task
//! carries them out in order with its other frames.
//!
//! Pings are kept from bunching, since each ping and its pong delay whatever frame meets them:
//! - each connection's pings fall at its own place in the interval, spread by its id
//!   ([`crate::connection::Liveness`]), so a reconnect storm's connections, all opened in the
//!   same instant, are not pinged together;
//! - the sweep visits the session table one slice at a time, a slice every 5 ms, so the pings
//!   due in one second go out over that second, a few at a time;
//! - a ping waits for the connection's next write, so a connection that receives events takes
//!   its pings along with them; only a quiet one (nothing written by the sweep's next visit, a
//!   second later) is written a ping on its own.

use crate::connection::{SESSION_SLICES, SessionHandle, Sessions};
use crate::outbox::OutFrame;
use std::sync::Arc;
use userstream_protocol::clock::SharedClock;

/// How often each session is looked at.
const SWEEP_US: i64 = 1_000_000;
/// Time between two slices.
const SLICE_US: i64 = SWEEP_US / SESSION_SLICES as i64;

/// Close code and reason for a connection that stopped answering pings.
pub const PONG_TIMEOUT_CLOSE: (u16, &str) = (1008, "Pong timeout: no pong received in time.");
/// Close code and reason for a connection that reached its maximum age.
pub const LIFETIME_CLOSE: (u16, &str) = (1000, "Connection lifetime limit reached.");

/// Heartbeat settings, in microseconds.
#[derive(Debug, Clone, Copy)]
pub struct HeartbeatSettings {
    pub ping_interval_us: i64,
    pub pong_timeout_us: i64,
    pub lifetime_us: i64,
}

impl HeartbeatSettings {
    pub fn from_config(ws: &crate::config::WsConfig) -> Self {
        let us = |ms: u64| {
            i64::try_from(ms)
                .unwrap_or(i64::MAX / 1000)
                .saturating_mul(1000)
        };
        HeartbeatSettings {
            ping_interval_us: us(ws.ping_interval_ms),
            pong_timeout_us: us(ws.pong_timeout_ms),
            lifetime_us: us(ws.max_connection_lifetime_ms),
        }
    }
}

/// What a sweep decided for one session.
fn check(session: &SessionHandle, now_us: i64, settings: &HeartbeatSettings) -> Option<OutFrame> {
    let liveness = &session.liveness;
    if liveness.is_closing() {
        return None;
    }
    let close = |(code, reason): (u16, &'static str)| {
        liveness.mark_closing();
        Some(OutFrame::Close { code, reason })
    };
    if now_us.saturating_sub(session.connected_at_us) >= settings.lifetime_us {
        return close(LIFETIME_CLOSE);
    }
    if now_us.saturating_sub(liveness.last_pong_us()) >= settings.pong_timeout_us {
        return close(PONG_TIMEOUT_CLOSE);
    }
    if now_us >= liveness.next_ping_us() {
        liveness.pinged(now_us.saturating_add(settings.ping_interval_us));
        return Some(OutFrame::Ping);
    }
    None
}

/// Checks every session of one slice once. A ping waits for the session's next write (an
/// event's, usually), so that a busy connection is pinged without a wake-up and a write of its
/// own; one still waiting when the sweep comes back, a second later, goes out alone then.
fn sweep_slice(sessions: &Sessions, slice: usize, now_us: i64, settings: &HeartbeatSettings) {
    for session in sessions.in_slice(slice) {
        session.outbox.wake_waiting();
        if let Some(frame) = check(&session, now_us, settings) {
            if frame == OutFrame::Ping {
                session.outbox.push_lazy(frame);
            } else {
                session.outbox.push(frame);
            }
        }
    }
}

/// Which slice's turn it is, and when.
struct Schedule {
    next_at_us: i64,
    next_slice: usize,
}

impl Schedule {
    fn new(now_us: i64) -> Self {
        Schedule {
            next_at_us: now_us,
            next_slice: 0,
        }
    }

    /// Calls `sweep` for each slice whose turn came by `now_us`, each at most once: a clock that
    /// jumped (a suspended host, a test's manual clock) gets one full sweep, not a backlog.
    fn run_due(&mut self, now_us: i64, mut sweep: impl FnMut(usize)) {
        let mut swept = 0;
        while self.next_at_us <= now_us && swept < SESSION_SLICES {
            sweep(self.next_slice);
            self.next_slice = (self.next_slice + 1) % SESSION_SLICES;
            self.next_at_us += SLICE_US;
            swept += 1;
        }
        if self.next_at_us <= now_us {
            self.next_at_us = now_us + SLICE_US;
        }
    }
}

/// Sweeps forever, a slice every 5 ms of `clock`, while any session is live. Run it as one task.
pub async fn run(sessions: Arc<Sessions>, clock: SharedClock, settings: HeartbeatSettings) {
    let mut schedule = Schedule::new(clock.now_us());
    loop {
        if sessions.count() == 0 {
            sessions.until_any().await;
            schedule = Schedule::new(clock.now_us());
        }
        let now_us = clock.now_us();
        schedule.run_due(now_us, |slice| {
            sweep_slice(&sessions, slice, now_us, &settings)
        });
        clock.sleep_until(schedule.next_at_us).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::OutboxState;
    use crate::wire::WireFormat;

    const START_US: i64 = 1_700_000_000_000_000;

    fn settings() -> HeartbeatSettings {
        HeartbeatSettings {
            ping_interval_us: 20 * SWEEP_US,
            pong_timeout_us: 60 * SWEEP_US,
            lifetime_us: 86_400 * SWEEP_US,
        }
    }

    fn registry(settings: &HeartbeatSettings) -> Sessions {
        Sessions::new(1 << 16, settings.ping_interval_us, Arc::new(Metrics::new()))
    }

    /// A JSON connection opened at the start.
    fn open(registry: &Sessions) -> Arc<SessionHandle> {
        registry.open(
            "127.0.0.1:1".parse().unwrap(),
            WireFormat::Json(Default::default()),
            false,
            START_US,
        )
    }

    fn pings_queued(session: &SessionHandle) -> usize {
        let mut frames = std::collections::VecDeque::new();
        assert_eq!(session.outbox.drain(&mut frames), OutboxState::Open);
        frames
            .iter()
            .filter(|frame| **frame == OutFrame::Ping)
            .count()
    }

    /// Connections opened in the same instant are pinged a few at a time, spread over the
    /// interval, each once per interval; a ping waits for the connection's next write, and goes
    /// out alone at the sweep's next visit when nothing came.
    #[test]
    fn a_burst_of_connections_is_pinged_spread_out() {
        let settings = HeartbeatSettings {
            ping_interval_us: 4 * SWEEP_US,
            ..settings()
        };
        let registry = registry(&settings);
        let sessions: Vec<_> = (0..1000).map(|_| open(&registry)).collect();
        let mut schedule = Schedule::new(START_US);
        let mut per_step = Vec::new();
        let mut per_session = vec![0; sessions.len()];
        // Three ping intervals, in steps of a slice.
        for step in 1..=3 * settings.ping_interval_us / SLICE_US {
            let now_us = START_US + step * SLICE_US;
            schedule.run_due(now_us, |slice| {
                sweep_slice(&registry, slice, now_us, &settings)
            });
            let mut written = 0;
            for (index, session) in sessions.iter().enumerate() {
                // Half the connections are busy: an event's write takes their ping along at
                // once, and they are never woken for one. The others are quiet: their ping
                // waits until the sweep comes back and wakes them for it.
                let busy = index % 2 == 1;
                let woken = session.outbox.take_wake();
                assert!(!(busy && woken), "a busy session was woken for its ping");
                if busy || woken {
                    let pings = pings_queued(session);
                    assert!(busy || pings == 1);
                    per_session[index] += pings;
                    written += pings;
                }
            }
            per_step.push(written);
        }
        // Once per interval each: the first ping falls in the second half of the first interval.
        assert!(
            per_session.iter().all(|&pings| (2..=3).contains(&pings)),
            "{per_session:?}"
        );
        // 1,000 connections pinged every 4 s: 250 a second, 1.25 a slice on average; never
        // more than a few at once.
        let most = per_step.iter().copied().max().unwrap_or(0);
        assert!(most <= 3, "{per_step:?}");
    }

    /// A clock that jumps gets every slice swept once, not a backlog of sweeps.
    #[test]
    fn a_jump_sweeps_every_slice_once() {
        let mut schedule = Schedule::new(START_US);
        let mut swept = Vec::new();
        schedule.run_due(START_US + 3600 * SWEEP_US, |slice| swept.push(slice));
        assert_eq!(swept, (0..SESSION_SLICES).collect::<Vec<_>>());
        assert_eq!(schedule.next_at_us, START_US + 3600 * SWEEP_US + SLICE_US);
        swept.clear();
        schedule.run_due(START_US + 3600 * SWEEP_US + SLICE_US, |slice| {
            swept.push(slice)
        });
        assert_eq!(swept, [0]);
    }

    /// The heartbeat has nothing to sweep until a connection opens, and waits for one rather
    /// than ticking; a connection opened before it waits is not missed.
    #[tokio::test]
    async fn the_heartbeat_waits_for_the_first_connection() {
        let registry = registry(&settings());
        let idle = tokio::time::timeout(std::time::Duration::ZERO, registry.until_any()).await;
        assert!(idle.is_err(), "an empty registry has nothing to wait for");
        let session = open(&registry);
        registry.until_any().await;
        assert_eq!(registry.count(), 1);
        registry.close(session.id);
        registry.close(session.id);
        assert_eq!(
            registry.count(),
            0,
            "a second close of the same id counts once"
        );
        let idle = tokio::time::timeout(std::time::Duration::ZERO, registry.until_any()).await;
        assert!(
            idle.is_err(),
            "a stale wake-up does not end the wait while the registry is empty"
        );
    }
}
