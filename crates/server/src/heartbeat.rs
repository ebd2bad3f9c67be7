//! Server pings, pong timeouts and the connection lifetime limit, for every connection at once.
//!
//! One task sweeps all sessions once a second (of the injected clock) instead of each connection
//! keeping timers of its own. A sweep queues a ping where one is due and a close where a
//! connection went silent or grew too old; each session's task carries them out in order with
//! its other frames.

use crate::hub::{Hub, SessionHandle};
use crate::outbox::OutFrame;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use userstream_protocol::clock::SharedClock;

/// How often the sweep runs.
const SWEEP_US: i64 = 1_000_000;

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

/// One connection's heartbeat state.
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
}

/// What a sweep decided for one session.
fn check(session: &SessionHandle, now_us: i64, settings: &HeartbeatSettings) -> Option<OutFrame> {
    let liveness = &session.liveness;
    if liveness.closing.load(Ordering::Relaxed) {
        return None;
    }
    let close = |(code, reason): (u16, &'static str)| {
        liveness.closing.store(true, Ordering::Relaxed);
        Some(OutFrame::Close { code, reason })
    };
    if now_us.saturating_sub(session.connected_at_us) >= settings.lifetime_us {
        return close(LIFETIME_CLOSE);
    }
    if now_us.saturating_sub(liveness.last_pong_us.load(Ordering::Relaxed))
        >= settings.pong_timeout_us
    {
        return close(PONG_TIMEOUT_CLOSE);
    }
    if now_us.saturating_sub(liveness.last_ping_us.load(Ordering::Relaxed))
        >= settings.ping_interval_us
    {
        liveness.last_ping_us.store(now_us, Ordering::Relaxed);
        return Some(OutFrame::Ping);
    }
    None
}

/// Checks every session once.
pub fn sweep(hub: &Hub, now_us: i64, settings: &HeartbeatSettings) {
    for session in hub.sessions() {
        if let Some(frame) = check(&session, now_us, settings) {
            session.outbox.push(frame);
        }
    }
}

/// Sweeps forever, once a second of `clock`. Run it as one task.
pub async fn run(hub: Arc<Hub>, clock: SharedClock, settings: HeartbeatSettings) {
    loop {
        let now_us = clock.now_us();
        sweep(&hub, now_us, &settings);
        clock.sleep_until(now_us + SWEEP_US).await;
    }
}
