//! A connection as the rest of the server sees it, and the registry of live ones.
//!
//! The hub subscribes connections to accounts, the heartbeat pings them, fault injection breaks
//! them, the admin API lists them: each works on the [`SessionHandle`]s found here, and this
//! module depends on none of them.

mod faults;
mod liveness;
mod subscriptions;

pub use faults::SessionFaults;
pub use liveness::Liveness;

use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::wire::WireFormat;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use subscriptions::OwnSubscriptions;
use tokio::sync::Notify;
use userstream_protocol::{Account, ApiError};

/// Slices of the registry: the heartbeat sweeps one at a time (see [`crate::heartbeat`]).
pub const SESSION_SLICES: usize = 200;

/// Per-connection limits on subscriptions.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    pub max_active: usize,
    pub max_lifetime: u32,
}

/// One live connection.
pub struct SessionHandle {
    pub id: u64,
    pub peer: SocketAddr,
    pub connected_at_us: i64,
    pub format: WireFormat,
    /// The connection asked for stream positions and resume (`streamPositions=true`, JSON only).
    pub positions: bool,
    pub outbox: Outbox,
    /// Heartbeat and lifetime state, kept by [`crate::heartbeat`].
    pub liveness: Liveness,
    /// Faults injected into this connection (see [`crate::faults`]).
    pub faults: SessionFaults,
    subscriptions: Mutex<OwnSubscriptions>,
    /// `serverShutdown` was queued (a drain sends it before the connection closes).
    shutdown_told: AtomicBool,
}

impl SessionHandle {
    /// The session's active subscriptions and their accounts, by id (their expiry is the
    /// hub's: [`crate::hub::Hub::subscriptions_of`]).
    pub fn subscribed_accounts(&self) -> Vec<(u32, Account)> {
        self.subscriptions.lock().listed()
    }

    /// `true` the first time only: `serverShutdown` is sent once per connection.
    pub fn first_shutdown_notice(&self) -> bool {
        !self.shutdown_told.swap(true, Ordering::Relaxed)
    }

    pub fn has_subscriptions(&self) -> bool {
        !self.subscriptions.lock().by_id.is_empty()
    }

    /// The account subscription `id` follows, if it is active.
    pub fn subscription_account(&self, id: u32) -> Option<Account> {
        let own = self.subscriptions.lock();
        own.by_id.get(&id).cloned()
    }

    /// Records a new subscription to `account` and returns its id, within `limits`.
    /// Marks the connection closed, so no subscription is added to it any more, and hands over
    /// the ones it held.
    pub(crate) fn close_subscriptions(&self) -> Vec<(u32, Account)> {
        let mut subscriptions = self.subscriptions.lock();
        subscriptions.closed = true;
        subscriptions.listed()
    }

    pub(crate) fn add_subscription(
        &self,
        account: &Account,
        limits: SubscriptionLimits,
    ) -> Result<u32, ApiError> {
        self.subscriptions.lock().add(account, limits)
    }

    /// Forgets subscription `id` (it ended).
    pub(crate) fn forget_subscription(&self, id: u32) {
        self.subscriptions.lock().by_id.remove(&id);
    }
}

/// Some of the live sessions, by id.
type SessionSlice = HashMap<u64, Weak<SessionHandle>>;

/// The live connections, in [`SESSION_SLICES`] slices by id, which the heartbeat visits in turn.
pub struct Sessions {
    slices: Box<[Mutex<SessionSlice>]>,
    /// How many are live: the slices' entries, counted without locking them.
    live: AtomicUsize,
    /// Told when the first session opens into an empty registry.
    first_opened: Notify,
    next_id: AtomicU64,
    outbox_bytes: usize,
    ping_interval_us: i64,
    metrics: Arc<Metrics>,
}

impl Sessions {
    /// An empty registry whose connections may each queue up to `outbox_bytes` of frames, and
    /// are pinged every `ping_interval_us`.
    pub fn new(outbox_bytes: usize, ping_interval_us: i64, metrics: Arc<Metrics>) -> Sessions {
        Sessions {
            slices: (0..SESSION_SLICES)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            live: AtomicUsize::new(0),
            first_opened: Notify::new(),
            next_id: AtomicU64::new(1),
            outbox_bytes,
            ping_interval_us,
            metrics,
        }
    }

    /// Registers a new connection.
    pub fn open(
        &self,
        peer: SocketAddr,
        format: WireFormat,
        positions: bool,
        now_us: i64,
    ) -> Arc<SessionHandle> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let session = Arc::new(SessionHandle {
            id,
            peer,
            connected_at_us: now_us,
            liveness: Liveness::new(id, now_us, self.ping_interval_us),
            faults: SessionFaults::default(),
            format,
            positions,
            outbox: Outbox::new(self.outbox_bytes),
            subscriptions: Mutex::new(OwnSubscriptions::default()),
            shutdown_told: AtomicBool::new(false),
        });
        self.slice(session.id)
            .lock()
            .insert(session.id, Arc::downgrade(&session));
        if self.live.fetch_add(1, Ordering::AcqRel) == 0 {
            self.first_opened.notify_one();
        }
        self.metrics.connections_opened.increment(1);
        self.metrics.connections_active.increment(1.0);
        session
    }

    /// Forgets a connection (after the hub forgot its subscriptions).
    pub fn close(&self, id: u64) {
        if self.slice(id).lock().remove(&id).is_some() {
            self.live.fetch_sub(1, Ordering::AcqRel);
            self.metrics.connections_active.decrement(1.0);
        }
    }

    fn slice(&self, id: u64) -> &Mutex<SessionSlice> {
        &self.slices[(id % SESSION_SLICES as u64) as usize]
    }

    /// Live sessions, in no particular order.
    pub fn all(&self) -> Vec<Arc<SessionHandle>> {
        (0..SESSION_SLICES)
            .flat_map(|slice| self.in_slice(slice))
            .collect()
    }

    /// Live sessions in one slice (`slice` < [`SESSION_SLICES`]); consecutive sessions fall in
    /// different slices.
    pub fn in_slice(&self, slice: usize) -> Vec<Arc<SessionHandle>> {
        self.slices.get(slice).map_or_else(Vec::new, |sessions| {
            sessions.lock().values().filter_map(Weak::upgrade).collect()
        })
    }

    /// Number of live sessions.
    pub fn count(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Returns once at least one session is live: until then the heartbeat has nothing to do,
    /// and an idle gateway need not wake for it 200 times a second. One waiter at a time (the
    /// heartbeat): the first open wakes one.
    pub(crate) async fn until_any(&self) {
        // A session opened between the check and the wait left a permit: no wake-up is lost.
        while self.count() == 0 {
            self.first_opened.notified().await;
        }
    }
}
