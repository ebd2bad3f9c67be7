//! The hub: who is subscribed to which account, fan-out of events, and expiry.
//!
//! All subscription state lives here. Accounts are spread over shards, each behind its own lock,
//! so publishing to one account never waits for another. Lock order, everywhere: an account's
//! shard, then a session's subscription table, then the expiry queue. Frames are pushed into
//! session outboxes while the shard lock is held, which is what makes ordering exact: a
//! subscribe response always precedes that subscription's first event, and nothing follows its
//! `eventStreamTerminated`.

mod encoded;
mod expiry;

pub use encoded::EncodedEvent;
pub use expiry::Deadline;

use crate::faults::SessionFaults;
use crate::heartbeat::Liveness;
use crate::metrics::{EndReason, Metrics};
use crate::outbox::{OutFrame, Outbox};
use crate::token::TokenClaims;
use crate::wire::WireFormat;
use expiry::ExpiryQueue;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use tokio::sync::Notify;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::events::{Event, EventStreamTerminated, ServerShutdown};
use userstream_protocol::ws::SubscriptionInfo;
use userstream_protocol::{Account, ApiError};

const SHARDS: usize = 64;
/// Slices of the session table: the heartbeat sweeps one at a time (see [`crate::heartbeat`]).
pub const SESSION_SLICES: usize = 50;

/// Per-connection limits on subscriptions.
#[derive(Debug, Clone, Copy)]
pub struct SubscriptionLimits {
    pub max_active: usize,
    pub max_lifetime: u32,
}

/// What the hub knows of one connection.
pub struct SessionHandle {
    pub id: u64,
    pub peer: SocketAddr,
    pub connected_at_us: i64,
    pub format: WireFormat,
    pub outbox: Outbox,
    /// Heartbeat and lifetime state, kept by [`crate::heartbeat`].
    pub liveness: Liveness,
    /// Faults injected into this connection (see [`crate::faults`]).
    pub faults: SessionFaults,
    subscriptions: Mutex<SessionSubscriptions>,
}

/// A session's own view: subscription ids and what they point at.
#[derive(Default)]
struct SessionSubscriptions {
    by_id: ById,
    next_id: u32,
}

/// Subscriptions by id, in id order: a vector, since nearly every connection holds one (a
/// `BTreeMap` allocates a node of eleven slots for it, about 500 bytes per connection).
#[derive(Default)]
struct ById(Vec<(u32, (Account, i64))>);

impl ById {
    fn position(&self, id: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |(id, _)| *id)
    }

    fn iter(&self) -> impl Iterator<Item = (&u32, &(Account, i64))> {
        self.0.iter().map(|(id, entry)| (id, entry))
    }

    fn get(&self, id: &u32) -> Option<&(Account, i64)> {
        self.position(*id).ok().map(|at| &self.0[at].1)
    }

    fn get_mut(&mut self, id: &u32) -> Option<&mut (Account, i64)> {
        self.position(*id).ok().map(|at| &mut self.0[at].1)
    }

    fn insert(&mut self, id: u32, entry: (Account, i64)) {
        if self.0.capacity() == 0 {
            self.0.reserve_exact(1);
        }
        match self.position(id) {
            Ok(at) => self.0[at].1 = entry,
            Err(at) => self.0.insert(at, (id, entry)),
        }
    }

    fn remove(&mut self, id: &u32) -> Option<(Account, i64)> {
        self.position(*id).ok().map(|at| self.0.remove(at).1)
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl SessionHandle {
    /// The session's active subscriptions, by id.
    pub fn subscriptions(&self) -> Vec<SubscriptionInfo> {
        self.subscriptions
            .lock()
            .by_id
            .iter()
            .map(
                |(&subscription_id, &(_, expiration_time))| SubscriptionInfo {
                    subscription_id,
                    expiration_time,
                },
            )
            .collect()
    }

    /// The session's active subscriptions with their accounts.
    pub fn subscribed_accounts(&self) -> Vec<(u32, Account, i64)> {
        self.subscriptions
            .lock()
            .by_id
            .iter()
            .map(|(&id, (account, at))| (id, account.clone(), *at))
            .collect()
    }

    pub fn has_subscriptions(&self) -> bool {
        !self.subscriptions.lock().by_id.is_empty()
    }
}

struct Subscriber {
    session: Arc<SessionHandle>,
    subscription_id: u32,
    expires_at_us: i64,
    api_key_id: u64,
}

impl Subscriber {
    fn deadline(&self) -> Deadline {
        Deadline {
            at_us: self.expires_at_us,
            session_id: self.session.id,
            subscription_id: self.subscription_id,
        }
    }
}

type Shard = HashMap<Account, Vec<Subscriber>>;
/// Some of the live sessions, by id.
type SessionSlice = HashMap<u64, Weak<SessionHandle>>;

pub struct Hub {
    shards: Box<[Mutex<Shard>]>,
    expiry: Mutex<ExpiryQueue>,
    expiry_rearm: Notify,
    /// Live sessions in [`SESSION_SLICES`] slices by id, which the heartbeat visits in turn.
    sessions: Box<[Mutex<SessionSlice>]>,
    next_session_id: AtomicU64,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    limits: SubscriptionLimits,
    outbox_bytes: usize,
    risk_events: bool,
}

impl Hub {
    pub fn new(
        clock: SharedClock,
        metrics: Arc<Metrics>,
        limits: SubscriptionLimits,
        outbox_bytes: usize,
        risk_events: bool,
    ) -> Hub {
        Hub {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            expiry: Mutex::new(ExpiryQueue::default()),
            expiry_rearm: Notify::new(),
            sessions: (0..SESSION_SLICES)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
            next_session_id: AtomicU64::new(1),
            clock,
            metrics,
            limits,
            outbox_bytes,
            risk_events,
        }
    }

    fn shard(&self, account: &Account) -> &Mutex<Shard> {
        let mut hasher = DefaultHasher::new();
        account.hash(&mut hasher);
        &self.shards[(hasher.finish() as usize) % SHARDS]
    }

    /// Registers a new connection.
    pub fn open_session(&self, peer: SocketAddr, format: WireFormat) -> Arc<SessionHandle> {
        let session = Arc::new(SessionHandle {
            id: self.next_session_id.fetch_add(1, Ordering::Relaxed),
            peer,
            connected_at_us: self.clock.now_us(),
            liveness: Liveness::new(self.clock.now_us()),
            faults: SessionFaults::default(),
            format,
            outbox: Outbox::new(self.outbox_bytes),
            subscriptions: Mutex::new(SessionSubscriptions::default()),
        });
        self.session_slice(session.id)
            .lock()
            .insert(session.id, Arc::downgrade(&session));
        self.metrics.connections_opened.increment(1);
        self.metrics.connections_active.increment(1.0);
        session
    }

    /// Forgets a connection and every subscription it held (no frames: the socket is gone).
    pub fn close_session(&self, session: &Arc<SessionHandle>) {
        let held = session.subscribed_accounts();
        let mut ended = 0;
        for (subscription_id, account, _) in held {
            if self
                .remove(&account, session.id, subscription_id, |_| true, None)
                .is_some()
            {
                ended += 1;
            }
        }
        self.metrics
            .subscriptions_ended(EndReason::Disconnected, ended);
        self.session_slice(session.id).lock().remove(&session.id);
        self.metrics.connections_active.decrement(1.0);
    }

    fn session_slice(&self, id: u64) -> &Mutex<SessionSlice> {
        &self.sessions[(id % SESSION_SLICES as u64) as usize]
    }

    /// Live sessions, in no particular order.
    pub fn sessions(&self) -> Vec<Arc<SessionHandle>> {
        (0..SESSION_SLICES)
            .flat_map(|slice| self.sessions_in_slice(slice))
            .collect()
    }

    /// Live sessions in one slice (`slice` < [`SESSION_SLICES`]); consecutive sessions fall in
    /// different slices.
    pub fn sessions_in_slice(&self, slice: usize) -> Vec<Arc<SessionHandle>> {
        self.sessions.get(slice).map_or_else(Vec::new, |sessions| {
            sessions.lock().values().filter_map(Weak::upgrade).collect()
        })
    }

    /// Number of live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.iter().map(|slice| slice.lock().len()).sum()
    }

    /// Subscribes `session` to the account a verified token names, or extends the subscription it
    /// already has for that account (same id, new expiry). `key_active` says whether the API key
    /// that minted the token is still live. `respond` builds the response frame, which is queued
    /// before any event of the subscription can be.
    pub fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        claims: &TokenClaims,
        key_active: impl Fn(u64) -> bool,
        respond: impl FnOnce(SubscriptionInfo) -> OutFrame,
    ) -> Result<SubscriptionInfo, ApiError> {
        let account = &claims.account;
        let mut shard = self.shard(account).lock();
        // Checked under the shard lock: a revocation marks the key first and then scans the
        // shards, so it either sees this subscription or this check sees the revocation.
        if !key_active(claims.api_key_id) {
            return Err(ApiError::invalid_listen_token());
        }
        let existing = shard
            .get_mut(account)
            .and_then(|subs| subs.iter_mut().find(|s| s.session.id == session.id));
        if let Some(existing) = existing {
            let old = existing.deadline();
            existing.expires_at_us = claims.expires_at_us;
            existing.api_key_id = claims.api_key_id;
            let info = SubscriptionInfo {
                subscription_id: existing.subscription_id,
                expiration_time: claims.expires_at_us,
            };
            if let Some(entry) = session
                .subscriptions
                .lock()
                .by_id
                .get_mut(&info.subscription_id)
            {
                entry.1 = claims.expires_at_us;
            }
            let mut expiry = self.expiry.lock();
            expiry.remove(&old);
            let rearm = expiry.insert(existing.deadline(), account.clone());
            drop(expiry);
            session.outbox.push(respond(info));
            drop(shard);
            if rearm {
                self.expiry_rearm.notify_one();
            }
            self.metrics.subscriptions_extended.increment(1);
            return Ok(info);
        }

        let subscription_id = {
            let mut own = session.subscriptions.lock();
            if own.by_id.len() >= self.limits.max_active {
                return Err(ApiError::too_many_subscriptions(self.limits.max_active));
            }
            if own.next_id >= self.limits.max_lifetime {
                return Err(ApiError::max_subscription_id());
            }
            let id = own.next_id;
            own.next_id += 1;
            own.by_id
                .insert(id, (account.clone(), claims.expires_at_us));
            id
        };
        let subscriber = Subscriber {
            session: Arc::clone(session),
            subscription_id,
            expires_at_us: claims.expires_at_us,
            api_key_id: claims.api_key_id,
        };
        let rearm = self
            .expiry
            .lock()
            .insert(subscriber.deadline(), account.clone());
        // Room for one: nearly every account has one subscriber (a default vector makes room
        // for four).
        shard
            .entry(account.clone())
            .or_insert_with(|| Vec::with_capacity(1))
            .push(subscriber);
        let info = SubscriptionInfo {
            subscription_id,
            expiration_time: claims.expires_at_us,
        };
        session.outbox.push(respond(info));
        drop(shard);
        if rearm {
            self.expiry_rearm.notify_one();
        }
        self.metrics.subscriptions_started.increment(1);
        self.metrics.subscriptions_active.increment(1.0);
        Ok(info)
    }

    /// Ends one subscription of `session` (or all of them), each with `eventStreamTerminated`.
    /// Returns how many ended. An unknown id ends nothing.
    pub fn unsubscribe(&self, session: &Arc<SessionHandle>, subscription_id: Option<u32>) -> usize {
        let targets: Vec<(u32, Account)> = {
            let own = session.subscriptions.lock();
            match subscription_id {
                Some(id) => own
                    .by_id
                    .get(&id)
                    .map(|(account, _)| (id, account.clone()))
                    .into_iter()
                    .collect(),
                None => own
                    .by_id
                    .iter()
                    .map(|(&id, (account, _))| (id, account.clone()))
                    .collect(),
            }
        };
        let event = terminated(self.clock.now_us());
        let encoded = EncodedEvent::new(&event);
        let ended = targets
            .into_iter()
            .filter(|(id, account)| {
                self.remove(account, session.id, *id, |_| true, Some(&encoded))
                    .is_some()
            })
            .count();
        self.metrics
            .subscriptions_ended(EndReason::Unsubscribed, ended as u64);
        ended
    }

    /// Ends the subscriptions of `session` that `which` selects, each with `eventStreamTerminated`
    /// (fault injection: "terminate now").
    pub fn terminate(
        &self,
        session: &Arc<SessionHandle>,
        which: impl Fn(&Account) -> bool,
    ) -> usize {
        let event = terminated(self.clock.now_us());
        let encoded = EncodedEvent::new(&event);
        let ended = session
            .subscribed_accounts()
            .into_iter()
            .filter(|(_, account, _)| which(account))
            .filter(|(id, account, _)| {
                self.remove(account, session.id, *id, |_| true, Some(&encoded))
                    .is_some()
            })
            .count();
        self.metrics
            .subscriptions_ended(EndReason::Terminated, ended as u64);
        ended
    }

    /// Ends every live subscription made with the API key `api_key_id` (the key was revoked).
    pub fn revoke_key(&self, api_key_id: u64) -> usize {
        let mut targets = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (account, subscribers) in shard.iter() {
                for subscriber in subscribers.iter().filter(|s| s.api_key_id == api_key_id) {
                    targets.push((
                        account.clone(),
                        subscriber.session.id,
                        subscriber.subscription_id,
                    ));
                }
            }
        }
        let event = terminated(self.clock.now_us());
        let encoded = EncodedEvent::new(&event);
        let ended = targets
            .into_iter()
            .filter(|(account, session_id, id)| {
                self.remove(
                    account,
                    *session_id,
                    *id,
                    |s| s.api_key_id == api_key_id,
                    Some(&encoded),
                )
                .is_some()
            })
            .count();
        self.metrics
            .subscriptions_ended(EndReason::Revoked, ended as u64);
        ended
    }

    /// Removes one subscription if `still` holds for it. With `terminated` (an encoded
    /// `eventStreamTerminated`), the session is sent it, after everything already queued.
    fn remove(
        &self,
        account: &Account,
        session_id: u64,
        subscription_id: u32,
        still: impl Fn(&Subscriber) -> bool,
        terminated: Option<&EncodedEvent>,
    ) -> Option<Arc<SessionHandle>> {
        let mut shard = self.shard(account).lock();
        let subscribers = shard.get_mut(account)?;
        let index = subscribers.iter().position(|s| {
            s.session.id == session_id && s.subscription_id == subscription_id && still(s)
        })?;
        let subscriber = subscribers.swap_remove(index);
        if subscribers.is_empty() {
            shard.remove(account);
        }
        subscriber
            .session
            .subscriptions
            .lock()
            .by_id
            .remove(&subscription_id);
        self.expiry.lock().remove(&subscriber.deadline());
        if let Some(terminated) = terminated {
            let frame = terminated.frame(subscriber.session.format, Some(subscription_id));
            subscriber.session.outbox.push(frame);
        }
        Some(subscriber.session)
    }

    /// Delivers one event to every subscription of `account`, on every connection. Returns the
    /// number of subscriptions it was queued for.
    pub fn publish(&self, account: &Account, event: &Event) -> usize {
        self.metrics.events_published.increment(1);
        if event.is_risk_event() && !self.risk_events {
            return 0;
        }
        let encoded = EncodedEvent::new(event);
        let shard = self.shard(account).lock();
        let Some(subscribers) = shard.get(account) else {
            return 0;
        };
        let mut delivered = 0;
        for subscriber in subscribers {
            let frame = encoded.frame(subscriber.session.format, Some(subscriber.subscription_id));
            if subscriber.session.outbox.push(frame) {
                delivered += 1;
            }
        }
        drop(shard);
        self.metrics.events_delivered.increment(delivered as u64);
        delivered
    }

    /// The `serverShutdown` frame for a session, stamped now.
    pub fn shutdown_frame(&self, format: WireFormat) -> OutFrame {
        let event = Event::ServerShutdown(ServerShutdown {
            event_time_us: self.clock.now_us(),
        });
        EncodedEvent::new(&event).frame(format, None)
    }

    /// Number of pending expiry deadlines (one per active subscription).
    pub fn pending_expiries(&self) -> usize {
        self.expiry.lock().len()
    }

    /// Ends subscriptions at their expiration instant, forever. Run it as one task.
    pub async fn run_expiry(self: Arc<Self>) {
        loop {
            let next = self.expiry.lock().next_at();
            match next {
                None => self.expiry_rearm.notified().await,
                Some(at_us) => {
                    tokio::select! {
                        _ = self.clock.sleep_until(at_us) => {}
                        _ = self.expiry_rearm.notified() => continue,
                    }
                }
            }
            self.expire_due();
        }
    }

    /// Terminates every subscription whose deadline has passed. Deadlines come in time order,
    /// and those that share a time share one encoding of their `eventStreamTerminated`.
    pub fn expire_due(&self) -> usize {
        let now_us = self.clock.now_us();
        let due = self.expiry.lock().pop_due(now_us);
        let mut ended = 0;
        for same_time in due.chunk_by(|(a, _), (b, _)| a.at_us == b.at_us) {
            let at_us = same_time[0].0.at_us;
            let event = terminated(at_us);
            let encoded = EncodedEvent::new(&event);
            for (deadline, account) in same_time {
                let removed = self.remove(
                    account,
                    deadline.session_id,
                    deadline.subscription_id,
                    |s| s.expires_at_us == at_us,
                    Some(&encoded),
                );
                if removed.is_some() {
                    ended += 1;
                    // Measured when the terminated frame has been queued, per subscription, so
                    // a storm's tail shows.
                    let late_us = self.clock.now_us().saturating_sub(at_us).max(0);
                    self.metrics.expiry_lateness.record(late_us as f64 / 1e6);
                }
            }
        }
        self.metrics
            .subscriptions_ended(EndReason::Expired, ended as u64);
        ended
    }
}

/// `eventStreamTerminated` at `at_us`.
fn terminated(at_us: i64) -> Event {
    Event::EventStreamTerminated(EventStreamTerminated {
        event_time_us: at_us,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// The table answers every operation as an ordered map would.
        #[test]
        fn subscriptions_by_id_behave_as_an_ordered_map(
            operations in proptest::collection::vec((any::<bool>(), 0u32..16, any::<i64>()), 0..64)
        ) {
            let mut table = ById::default();
            let mut model = BTreeMap::new();
            for (insert, id, at) in operations {
                let entry = (Account::cross(u64::from(id)), at);
                if insert {
                    table.insert(id, entry.clone());
                    model.insert(id, entry);
                } else {
                    prop_assert_eq!(table.remove(&id), model.remove(&id));
                }
                prop_assert_eq!(table.len(), model.len());
                prop_assert_eq!(table.is_empty(), model.is_empty());
                prop_assert!(table.iter().eq(model.iter()));
                prop_assert_eq!(table.get(&id), model.get(&id));
                prop_assert_eq!(table.get_mut(&id).map(|entry| entry.1), model.get(&id).map(|entry| entry.1));
            }
        }
    }
}
