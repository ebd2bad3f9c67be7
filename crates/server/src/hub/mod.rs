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
mod history;
#[cfg(test)]
mod resume_tests;

pub use encoded::EncodedEvent;
pub use history::Positions;

use crate::bus::{AccountEvent, Delivery, Interest, Sequenced};
use crate::config::HistoryConfig;
use crate::connection::{SessionHandle, SubscriptionLimits};
use crate::metrics::{EndReason, Metrics};
use crate::outbox::{OutFrame, Wake};
use crate::token::TokenClaims;
use crate::wire::WireFormat;
use bytes::Bytes;
use expiry::{Expiries, SubscriptionKey};
use history::{AccountHistory, HistoryLimits, ShardHistory, Slot, Stored, Usage};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;
use tokio::sync::Notify;
use userstream_protocol::TimeUnit;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::events::{Event, EventStreamTerminated, ServerShutdown};
use userstream_protocol::position::{
    PositionedSubscription, ResumeFailure, ResumeOutcome, StreamPosition,
};
use userstream_protocol::ws::SubscriptionInfo;
use userstream_protocol::{Account, ApiError};

const SHARDS: usize = 64;

/// Accounts as a shard keys them. Hashing an account is on the publish path several times per
/// event (its shard, its subscribers, its history), so with foldhash, seeded per process,
/// rather than SipHash (docs/benchmarks.md, "Choices made by measurement").
type AccountMap<V> = HashMap<Account, V, foldhash::fast::RandomState>;

/// One subscription, as its account's list holds it (its expiry is kept by [`Expiries`]).
struct Subscriber {
    session: Arc<SessionHandle>,
    subscription_id: u32,
    api_key_id: u64,
}

impl Subscriber {
    fn key(&self) -> SubscriptionKey {
        key(self.session.id, self.subscription_id)
    }
}

fn key(session_id: u64, subscription_id: u32) -> SubscriptionKey {
    SubscriptionKey {
        session_id,
        subscription_id,
    }
}

/// Where a subscription's place in its account stream comes from.
pub enum StreamStart<'a> {
    /// The hub numbers events and keeps their history (embedded): replay from there when a
    /// resume point is given.
    Local(Option<&'a StreamPosition>),
    /// The bus numbered the stream and fetched any replay (a cluster), in order with the
    /// account's events on this node.
    Sequenced(Sequenced),
}

/// An account as its shard holds it: its subscribers on this node, and its recent events.
#[derive(Default)]
struct AccountSlot {
    subscribers: Vec<Subscriber>,
    history: Option<Box<AccountHistory>>,
}

impl Slot for AccountSlot {
    fn history(&mut self) -> &mut Option<Box<AccountHistory>> {
        &mut self.history
    }

    fn only_history(&self) -> bool {
        self.subscribers.is_empty()
    }
}

struct Shard {
    accounts: AccountMap<AccountSlot>,
    /// `None` when the history is off.
    history: Option<ShardHistory>,
    /// Where an event is encoded (for an only subscriber, for the history) before it is copied
    /// out at its exact size.
    scratch: Vec<u8>,
}

/// What publishing changed, gathered over a batch and counted into the metrics once by
/// [`Hub::tallied`].
struct Tally {
    /// The batch's publishing time, for the history's age limit.
    now_us: i64,
    published: u64,
    delivered: u64,
    usage: Usage,
    /// Connections given their first queued frame, woken when the batch is done.
    to_wake: Vec<Arc<SessionHandle>>,
    /// Some connection's queue is half full: its writer should run before more is queued.
    pressed: bool,
}

impl Tally {
    fn new(now_us: i64) -> Tally {
        Tally {
            now_us,
            published: 0,
            delivered: 0,
            usage: Usage::default(),
            to_wake: Vec::new(),
            pressed: false,
        }
    }
}

pub struct Hub {
    shards: Box<[Mutex<Shard>]>,
    /// Picks an account's shard; seeded apart from the shards' own maps, whose buckets would
    /// otherwise all share the bits that chose the shard.
    shard_of: foldhash::fast::RandomState,
    expiry: Mutex<Expiries>,
    expiry_rearm: Notify,
    clock: SharedClock,
    metrics: Arc<Metrics>,
    limits: SubscriptionLimits,
    risk_events: bool,
    /// Told when an account gains its first subscriber here and loses its last.
    interest: Arc<dyn Interest>,
    positions: Arc<Positions>,
    /// The web console's tap: every event this node delivers.
    console: Arc<crate::console::tap::Feed>,
}

/// What a hub is built with, besides its clock, metrics and the bus's interest.
pub struct HubSettings {
    pub limits: SubscriptionLimits,
    /// Deliver the margin risk events.
    pub risk_events: bool,
    /// The resume history (off on a node whose bus does not see every event).
    pub history: HistoryConfig,
    /// A connection's outgoing queue, which bounds an account's history (a replay must fit).
    pub outbox_bytes: usize,
    /// The epoch of the positions the bus assigns, or `None`: the hub numbers events itself.
    pub epoch: Option<String>,
}

impl Hub {
    pub fn new(
        clock: SharedClock,
        metrics: Arc<Metrics>,
        interest: Arc<dyn Interest>,
        settings: HubSettings,
    ) -> Hub {
        let HubSettings {
            limits,
            risk_events,
            history,
            outbox_bytes,
            epoch,
        } = settings;
        let history_limits = HistoryLimits::from_config(&history, outbox_bytes, SHARDS);
        Hub {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        accounts: AccountMap::default(),
                        history: history_limits.map(ShardHistory::new),
                        scratch: Vec::new(),
                    })
                })
                .collect(),
            shard_of: foldhash::fast::RandomState::default(),
            expiry: Mutex::new(Expiries::default()),
            expiry_rearm: Notify::new(),
            clock,
            metrics,
            limits,
            risk_events,
            interest,
            positions: Arc::new(Positions::new(epoch)),
            console: Arc::new(crate::console::tap::Feed::new()),
        }
    }

    /// The web console's feed, which this hub taps.
    pub(crate) fn console_feed(&self) -> &Arc<crate::console::tap::Feed> {
        &self.console
    }

    /// The account streams' epoch and sequence counter.
    pub fn positions(&self) -> &Positions {
        &self.positions
    }

    /// Moves the history gauges by what a shard's history changed.
    fn history_changed(&self, usage: Usage) {
        if usage != Usage::default() {
            self.metrics.history_bytes.increment(usage.bytes as f64);
            self.metrics.history_events.increment(usage.events as f64);
        }
    }

    fn shard(&self, account: &Account) -> &Mutex<Shard> {
        &self.shards[(self.shard_of.hash_one(account) as usize) % SHARDS]
    }

    /// Forgets every subscription a closed connection held (no frames: the socket is gone).
    pub fn disconnected(&self, session: &Arc<SessionHandle>) {
        let held = session.close_subscriptions();
        self.end_own(session, held, EndReason::Disconnected, false);
    }

    /// Ends `targets`, subscriptions of `session` as `(id, account)`, each with
    /// `eventStreamTerminated` when `tell`; counts them under `reason`.
    fn end_own(
        &self,
        session: &SessionHandle,
        targets: Vec<(u32, Account)>,
        reason: EndReason,
        tell: bool,
    ) -> usize {
        let event = terminated(self.clock.now_us());
        let encoded = tell.then(|| EncodedEvent::new(&event));
        let ended = targets
            .into_iter()
            .filter(|(id, account)| {
                self.remove(account, session.id, *id, |_| true, encoded.as_ref())
                    .is_some()
            })
            .count();
        self.metrics.subscriptions_ended(reason, ended as u64);
        ended
    }

    /// Subscribes `session` to the account a verified token names, or extends the subscription it
    /// already has for that account (same id, new expiry). `key_active` says whether the API key
    /// that minted the token is still live. With `resume` (a connection with positions), every
    /// event of the account after that point follows the response, before any live one, or the
    /// answer says why none does. `respond` builds the response frame, which is queued before
    /// any event of the subscription can be.
    pub fn subscribe(
        &self,
        session: &Arc<SessionHandle>,
        claims: &TokenClaims,
        key_active: impl Fn(u64) -> bool,
        start: StreamStart<'_>,
        respond: impl FnOnce(&PositionedSubscription) -> OutFrame,
    ) -> Result<PositionedSubscription, ApiError> {
        let account = &claims.account;
        let mut shard = self.shard(account).lock();
        // Checked under the shard lock: a revocation marks the key first and then scans the
        // shards, so it either sees this subscription or this check sees the revocation.
        if !key_active(claims.api_key_id) {
            return Err(ApiError::invalid_listen_token());
        }
        let Shard {
            accounts, history, ..
        } = &mut *shard;
        let existing = accounts.get_mut(account).and_then(|slot| {
            slot.subscribers
                .iter_mut()
                .find(|s| s.session.id == session.id)
        });
        let (subscription_id, extended) = match existing {
            Some(existing) => {
                existing.api_key_id = claims.api_key_id;
                (existing.subscription_id, true)
            }
            None => {
                let subscription_id = session.add_subscription(account, self.limits)?;
                let slot = accounts.entry(account.clone()).or_default();
                if slot.subscribers.is_empty() {
                    self.interest.interest(account, true);
                    // Room for one: nearly every account has one subscriber (a default vector
                    // makes room for four).
                    slot.subscribers.reserve_exact(1);
                }
                slot.subscribers.push(Subscriber {
                    session: Arc::clone(session),
                    subscription_id,
                    api_key_id: claims.api_key_id,
                });
                (subscription_id, false)
            }
        };
        let rearm = self.expiry.lock().set(
            key(session.id, subscription_id),
            account.clone(),
            claims.expires_at_us,
        );
        let (replayed, current) = match start {
            StreamStart::Local(point) => (
                point.map(|point| self.replay(accounts, history.as_mut(), account, point)),
                self.positions.last(),
            ),
            StreamStart::Sequenced(sequenced) => (sequenced.replay, sequenced.current),
        };
        let (replay, resumed) = match replayed {
            None => (Vec::new(), None),
            Some(Ok(events)) => {
                let outcome = ResumeOutcome::Replayed {
                    events: events.len() as u64,
                };
                (events, Some(outcome))
            }
            Some(Err(reason)) => (Vec::new(), Some(ResumeOutcome::failed(reason))),
        };
        let answer = PositionedSubscription {
            info: SubscriptionInfo {
                subscription_id,
                expiration_time: claims.expires_at_us,
            },
            position: self.positions.at(current),
            resume: resumed,
        };
        session.outbox.push(respond(&answer));
        for (sequence, event) in &replay {
            let encoded = EncodedEvent::new(event).at(self.positions.epoch(), *sequence);
            session
                .outbox
                .push(encoded.frame_for(session, subscription_id));
        }
        drop(shard);
        if rearm {
            self.expiry_rearm.notify_one();
        }
        if extended {
            self.metrics.subscriptions_extended.increment(1);
        } else {
            self.metrics.subscriptions_started.increment(1);
            self.metrics.subscriptions_active.increment(1.0);
        }
        if let Some(outcome) = &answer.resume {
            self.metrics.resumed(outcome);
        }
        Ok(answer)
    }

    /// The events of `account` after `point` in this hub's history, or why not all of them.
    fn replay(
        &self,
        accounts: &mut AccountMap<AccountSlot>,
        history: Option<&mut ShardHistory>,
        account: &Account,
        point: &StreamPosition,
    ) -> Result<Vec<(u64, Event)>, ResumeFailure> {
        let Some(history) = history else {
            return Err(ResumeFailure::HistoryDisabled);
        };
        if point.epoch != self.positions.epoch() {
            return Err(ResumeFailure::EpochChanged);
        }
        let now_us = self.clock.now_us();
        let (replay, usage) = history.replay(
            accounts,
            account,
            point.sequence,
            self.positions.last(),
            now_us,
        );
        self.history_changed(usage);
        replay?
            .into_iter()
            .map(|(sequence, json)| {
                // Stored as this hub encoded it: reading it back cannot fail short of a bug,
                // which must not pass for a complete replay.
                Event::from_json(&json, TimeUnit::Microsecond)
                    .map(|event| (sequence, event))
                    .map_err(|_| ResumeFailure::HistoryUnavailable)
            })
            .collect()
    }

    /// Ends one subscription of `session` (or all of them), each with `eventStreamTerminated`.
    /// Returns how many ended. An unknown id ends nothing.
    pub fn unsubscribe(&self, session: &Arc<SessionHandle>, subscription_id: Option<u32>) -> usize {
        let targets: Vec<(u32, Account)> = match subscription_id {
            Some(id) => session
                .subscription_account(id)
                .map(|account| (id, account))
                .into_iter()
                .collect(),
            None => session.subscribed_accounts(),
        };
        self.end_own(session, targets, EndReason::Unsubscribed, true)
    }

    /// Ends the subscriptions of `session` that `which` selects, each with `eventStreamTerminated`
    /// (fault injection: "terminate now").
    pub fn terminate(
        &self,
        session: &Arc<SessionHandle>,
        which: impl Fn(&Account) -> bool,
    ) -> usize {
        let mut targets = session.subscribed_accounts();
        targets.retain(|(_, account)| which(account));
        self.end_own(session, targets, EndReason::Terminated, true)
    }

    /// Ends every live subscription made with the API key `api_key_id` (the key was revoked).
    pub fn revoke_key(&self, api_key_id: u64) -> usize {
        self.revoke_keys(|id| id == api_key_id)
    }

    /// Ends every live subscription made with an API key that `revoked` names, in one pass.
    pub fn revoke_keys(&self, revoked: impl Fn(u64) -> bool) -> usize {
        self.end_where(EndReason::Revoked, |subscriber| {
            revoked(subscriber.api_key_id)
        })
    }

    /// Ends every live subscription that `which` selects, each with `eventStreamTerminated`, in
    /// one pass over the shards; counts them under `reason`.
    fn end_where(&self, reason: EndReason, which: impl Fn(&Subscriber) -> bool) -> usize {
        let mut targets = Vec::new();
        for shard in self.shards.iter() {
            let shard = shard.lock();
            for (account, slot) in shard.accounts.iter() {
                for subscriber in slot.subscribers.iter().filter(|s| which(s)) {
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
                self.remove(account, *session_id, *id, &which, Some(&encoded))
                    .is_some()
            })
            .count();
        self.metrics.subscriptions_ended(reason, ended as u64);
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
        let slot = shard.accounts.get_mut(account)?;
        let index = slot.subscribers.iter().position(|s| {
            s.session.id == session_id && s.subscription_id == subscription_id && still(s)
        })?;
        let subscriber = slot.subscribers.swap_remove(index);
        if slot.subscribers.is_empty() {
            self.interest.interest(account, false);
            // The account's history stays, for the connection that comes back.
            if slot.history.is_none() {
                shard.accounts.remove(account);
            }
        }
        subscriber.session.forget_subscription(subscription_id);
        self.expiry.lock().remove(subscriber.key());
        if let Some(terminated) = terminated {
            let frame = terminated.frame(subscriber.session.format, Some(subscription_id));
            subscriber.session.outbox.push(frame);
        }
        Some(subscriber.session)
    }

    /// Delivers one event to every subscription of `account`, on every connection, at the next
    /// position of the account stream, and keeps it in the account's history. Returns the
    /// number of subscriptions it was queued for.
    pub fn publish(&self, account: &Account, event: Event) -> usize {
        self.tallied(|tally| self.publish_at(account, &event, None, tally))
    }

    /// [`Hub::publish`] for each event of a batch, in order, until an event fills some
    /// connection's queue halfway: returns the subscriptions queued and the events taken (at
    /// least one). The caller lets that connection's writer run before it hands over the rest,
    /// since the connections of a batch are woken only at its end.
    ///
    /// The batch shares one reading of the clock and one update of each metric: those are
    /// shared atomics, which per event were a measurable part of publishing at saturation.
    pub fn publish_some(&self, events: &[AccountEvent]) -> (usize, usize) {
        let mut taken = 0;
        let delivered = self.tallied(|tally| {
            let mut delivered = 0;
            for item in events {
                delivered += self.publish_at(&item.account, &item.event, None, tally);
                taken += 1;
                if tally.pressed {
                    break;
                }
            }
            delivered
        });
        (delivered, taken)
    }

    /// [`Hub::publish`], at `position` when the bus numbered the event (a cluster's stream).
    /// By reference: an event is several hundred bytes, and a batch's are not moved again.
    /// The metrics wait in `tally` for [`Hub::tallied`].
    fn publish_at(
        &self,
        account: &Account,
        event: &Event,
        position: Option<u64>,
        tally: &mut Tally,
    ) -> usize {
        tally.published += 1;
        if event.is_risk_event() && !self.risk_events {
            return 0;
        }
        let mut shard = self.shard(account).lock();
        let sequence = position.unwrap_or_else(|| self.positions.next());
        let encoded = EncodedEvent::new(event).at(self.positions.epoch(), sequence);
        let mut delivered = 0;
        let Shard {
            accounts,
            history,
            scratch,
        } = &mut *shard;
        if let Some(slot) = accounts.get(account) {
            let only = slot.subscribers.len() == 1;
            for subscriber in &slot.subscribers {
                let (session, id) = (&subscriber.session, subscriber.subscription_id);
                let frame = if only {
                    encoded.only_frame_for(session, id, scratch)
                } else {
                    encoded.frame_for(session, id)
                };
                let pushed = session.outbox.push_unwoken(frame);
                match pushed.wake {
                    Wake::AfterBatch => tally.to_wake.push(Arc::clone(session)),
                    Wake::Now => {
                        session.outbox.wake();
                        // Stop the batch for a writer that can catch up, not for one that is
                        // closing.
                        tally.pressed |= pushed.queued;
                    }
                    Wake::No => {}
                }
                if pushed.queued {
                    delivered += 1;
                }
            }
        }
        if let Some(history) = history {
            let json = encoded.json_copy(TimeUnit::Microsecond, scratch);
            if !accounts.contains_key(account) {
                accounts.insert(account.clone(), AccountSlot::default());
            }
            let stored = Stored { sequence, json };
            tally.usage += history.push(accounts, account, stored, tally.now_us);
        }
        drop(shard);
        drop(encoded);
        tally.delivered += delivered as u64;
        // After the lock: the console sees what was delivered, and costs subscribers nothing.
        self.console
            .event(account, sequence, event, || self.clock.now_ms());
        delivered
    }

    /// Runs `publish` with a fresh [`Tally`], then counts what it gathered into the metrics.
    fn tallied(&self, publish: impl FnOnce(&mut Tally) -> usize) -> usize {
        let mut tally = Tally::new(self.clock.now_us());
        let delivered = publish(&mut tally);
        for session in tally.to_wake.drain(..) {
            session.outbox.wake();
        }
        self.metrics.events_published.increment(tally.published);
        self.metrics.events_delivered.increment(tally.delivered);
        self.history_changed(tally.usage);
        delivered
    }

    /// The node's last `limit` events still in the resume history, oldest first:
    /// (position, time in µs, account, the event as microsecond JSON). Empty without a
    /// history. For the web console's backlog, so that keeping one costs publishing nothing.
    pub(crate) fn recent_events(&self, limit: usize) -> Vec<(u64, i64, Account, Bytes)> {
        let mut recent = Vec::new();
        self.each_history(|history, accounts| recent.extend(history.recent(accounts, limit)));
        // Positions rise in publishing order across the shards.
        recent.sort_unstable_by_key(|(sequence, ..)| *sequence);
        let surplus = recent.len().saturating_sub(limit);
        recent.drain(..surplus);
        recent
    }

    /// Lets events past the history's age limit go, in every shard; run it now and then, so an
    /// account that no longer publishes does not keep its history forever.
    pub fn trim_history(&self) {
        let now_us = self.clock.now_us();
        let mut changed = Usage::default();
        self.each_history(|history, accounts| changed += history.trim(accounts, now_us));
        self.history_changed(changed);
    }

    /// Runs `visit` on each shard's history and accounts, under that shard's lock, one shard
    /// at a time; nothing when the history is off.
    fn each_history(&self, mut visit: impl FnMut(&mut ShardHistory, &mut AccountMap<AccountSlot>)) {
        for shard in self.shards.iter() {
            let mut shard = shard.lock();
            let Shard {
                accounts, history, ..
            } = &mut *shard;
            if let Some(history) = history {
                visit(history, accounts);
            }
        }
    }

    /// The `serverShutdown` frame for a session, stamped now.
    pub fn shutdown_frame(&self, format: WireFormat) -> OutFrame {
        let event = Event::ServerShutdown(ServerShutdown {
            event_time_us: self.clock.now_us(),
        });
        EncodedEvent::new(&event).frame(format, None)
    }

    /// Number of pending expiry deadlines (one per active subscription).
    /// `session`'s active subscriptions: id, account, expiration time (µs), by id.
    pub fn subscriptions_of(&self, session: &SessionHandle) -> Vec<(u32, Account, i64)> {
        let held = session.subscribed_accounts();
        let expiry = self.expiry.lock();
        held.into_iter()
            .filter_map(|(id, account)| {
                let at_us = expiry.at(key(session.id, id))?;
                Some((id, account, at_us))
            })
            .collect()
    }

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
                // Unless it was extended since it was popped (which set a new expiry).
                let removed = self.remove(
                    account,
                    deadline.key.session_id,
                    deadline.key.subscription_id,
                    |s| self.expiry.lock().at(s.key()).is_none(),
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

/// The hub is where a node's bus delivers.
impl Delivery for Hub {
    fn deliver(&self, event: &AccountEvent) -> usize {
        self.publish_some(std::slice::from_ref(event)).0
    }

    fn deliver_some(&self, events: &[AccountEvent]) -> (usize, usize) {
        self.publish_some(events)
    }

    fn deliver_at(&self, event: &AccountEvent, position: u64) -> usize {
        self.tallied(|tally| self.publish_at(&event.account, &event.event, Some(position), tally))
    }

    fn lost(&self) -> usize {
        self.end_where(EndReason::BusLoss, |_| true)
    }

    fn lag(&self, lag: std::time::Duration) {
        self.metrics.bus_lag.record(lag.as_secs_f64());
    }
}

/// How often the history lets old events go when nothing is published.
const HISTORY_TRIM_EVERY_US: i64 = 1_000_000;

/// Trims the hub's history by age, once a second, forever (at once done when the hub keeps no
/// history). Run it as one task.
pub async fn trim_history_forever(hub: Arc<Hub>, clock: SharedClock) {
    if hub.shards[0].lock().history.is_none() {
        return;
    }
    loop {
        clock
            .sleep_until(clock.now_us().saturating_add(HISTORY_TRIM_EVERY_US))
            .await;
        hub.trim_history();
    }
}
