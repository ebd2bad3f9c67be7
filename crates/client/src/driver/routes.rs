//! Which subscription, on which connection, delivers which account; and, while an account is
//! delivered twice (a handover's overlap, a renewal that opened a second subscription), the
//! hand-off that lets each event out exactly once and in order.
//!
//! Copies are recognised by position where both have one in the same epoch (an event at or
//! before the last position delivered is a copy), and otherwise by their bytes, as on Binance.

use super::actions::Outbox;
use crate::dedup::{Dedup, Source};
use crate::item::{AccountEvent, Item};
use std::collections::{HashMap, VecDeque};
use tokio::time::Instant;
use userstream_protocol::Scope;
use userstream_protocol::events::Event;
use userstream_protocol::position::StreamPosition;

/// The most events the new connection may be ahead of the old one. Past it the old one is
/// stuck: the lead is released at once rather than held without bound.
const HELD_CAPACITY: usize = 65_536;

/// The most events held back while a snapshot is read. Past it they are let out, and the
/// snapshot, which they would come after, is read again.
const SNAPSHOT_HOLD_CAPACITY: usize = 65_536;

/// Which account a (connection, subscription id) belongs to.
struct Route {
    account: usize,
    /// Being closed by us; its `eventStreamTerminated` is expected.
    closing: bool,
}

/// Events held back from the new connection during a handover overlap: its lead over the old
/// one. An event the old one then delivers leaves the queue (the old copy went out); whatever
/// is left when the old one stops delivering is released, in order.
struct Held {
    conn: u64,
    events: VecDeque<(u64, Source, Option<StreamPosition>, AccountEvent)>,
}

/// One account's delivery: copies seen, and a new connection's lead.
struct Delivery {
    /// The account's name on the events it is given.
    scope: Scope,
    dedup: Dedup,
    /// The last position delivered (or known to be covered, from a subscribe result): where a
    /// resume starts, and what a copy is recognised by.
    last: Option<StreamPosition>,
    /// During a handover, the new connection's events wait here until the old connection has
    /// delivered everything it will; both carry the account's events in the same order, so the
    /// old one's stream, then the new one's less what the old one delivered, is that order.
    held: Option<Held>,
    /// While the account's snapshot is read over REST, its events (in delivery order) wait
    /// here, so that the snapshot goes out before every event it may not reflect.
    snapshot_hold: Option<SnapshotHold>,
}

/// The events held back while a snapshot is read.
#[derive(Default)]
struct SnapshotHold {
    events: Vec<AccountEvent>,
    /// Too many came: they were let out, and the snapshot is no longer ahead of them.
    overflowed: bool,
}

pub(crate) struct Routes {
    routes: HashMap<(u64, u32), Route>,
    /// One per account, same order.
    delivery: Vec<Delivery>,
}

impl Routes {
    pub(crate) fn new(accounts: impl IntoIterator<Item = Scope>) -> Routes {
        let delivery = accounts.into_iter().map(|scope| Delivery {
            scope,
            dedup: Dedup::default(),
            last: None,
            held: None,
            snapshot_hold: None,
        });
        Routes {
            routes: HashMap::new(),
            delivery: delivery.collect(),
        }
    }

    /// Subscription `id` on `conn` delivers `account`.
    pub(crate) fn add(&mut self, conn: u64, id: u32, account: usize) {
        let route = Route {
            account,
            closing: false,
        };
        self.routes.insert((conn, id), route);
    }

    /// The account subscription `id` on `conn` delivers, and whether we are closing it.
    pub(crate) fn get(&self, conn: u64, id: u32) -> Option<(usize, bool)> {
        self.routes
            .get(&(conn, id))
            .map(|route| (route.account, route.closing))
    }

    pub(crate) fn remove(&mut self, conn: u64, id: u32) {
        self.routes.remove(&(conn, id));
    }

    /// We are closing subscription `id` on `conn`: its end is expected, not a loss.
    pub(crate) fn closing(&mut self, conn: u64, id: u32) {
        if let Some(route) = self.routes.get_mut(&(conn, id)) {
            route.closing = true;
        }
    }

    /// We are closing every subscription on `conn`.
    pub(crate) fn closing_all(&mut self, conn: u64) {
        for ((route_conn, _), route) in self.routes.iter_mut() {
            if *route_conn == conn {
                route.closing = true;
            }
        }
    }

    /// Drops every route on `conn`; returns the accounts they delivered.
    pub(crate) fn drop_connection(&mut self, conn: u64) -> Vec<usize> {
        let mut accounts = Vec::new();
        self.routes.retain(|(route_conn, _), route| {
            if *route_conn == conn {
                accounts.push(route.account);
                false
            } else {
                true
            }
        });
        accounts
    }

    /// How many subscriptions deliver `account`.
    pub(crate) fn count(&self, account: usize) -> usize {
        self.routes
            .values()
            .filter(|route| route.account == account)
            .count()
    }

    /// The same events may now arrive on two subscriptions: remember what went out.
    pub(crate) fn overlap_started(&mut self, account: usize) {
        self.delivery[account].dedup.overlap_started();
    }

    /// Ends the overlap once at most one subscription delivers `account` (remembering copies
    /// for a short tail still).
    pub(crate) fn settle(&mut self, account: usize, now: Instant) {
        if self.count(account) <= 1 {
            self.delivery[account].dedup.overlap_ended(now);
        }
    }

    /// `account` is being subscribed on `conn` while another connection still delivers it:
    /// hold what `conn` brings until the other one has delivered everything it will. A lead
    /// held for a connection that went away stays held: the old connection has not delivered
    /// it yet.
    pub(crate) fn hold_for(&mut self, account: usize, conn: u64) {
        let held = &mut self.delivery[account].held;
        match held {
            Some(held) => held.conn = conn,
            None => {
                *held = Some(Held {
                    conn,
                    events: VecDeque::new(),
                })
            }
        }
    }

    /// True when a connection other than `conn` still delivers events of `account`;
    /// `delivers` says whether a connection still delivers anything at all.
    pub(crate) fn delivering_elsewhere(
        &self,
        account: usize,
        conn: u64,
        delivers: impl Fn(u64) -> bool,
    ) -> bool {
        self.routes.iter().any(|((other, _), route)| {
            route.account == account && *other != conn && delivers(*other)
        })
    }

    /// The last position of `account` delivered or covered: where a resume starts.
    pub(crate) fn last(&self, account: usize) -> Option<&StreamPosition> {
        self.delivery[account].last.as_ref()
    }

    /// Everything of `account` up to `position` is covered (a subscribe result that no
    /// replay follows, on the only connection that delivers the account).
    pub(crate) fn covered_to(&mut self, account: usize, position: StreamPosition) {
        let last = &mut self.delivery[account].last;
        if last
            .as_ref()
            .is_none_or(|last| position.is_after(last) != Some(false))
        {
            *last = Some(position);
        }
    }

    /// Passes on an event that `source` (a subscription on a connection) delivered for
    /// `account` at `position` (connections with stream positions): once, whichever copy
    /// comes first, and after what the old connection of a handover still delivers.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn deliver(
        &mut self,
        account: usize,
        source: Source,
        event: Event,
        fingerprint: u64,
        position: Option<StreamPosition>,
        now: Instant,
        out: &mut Outbox,
    ) {
        let (conn, subscription_id) = source;
        let Delivery {
            scope,
            held,
            dedup,
            last,
            snapshot_hold,
        } = &mut self.delivery[account];
        if let (Some(position), Some(last)) = (&position, &*last)
            && position.is_after(last) == Some(false)
        {
            // Delivered already (a replay's overlap, or the other connection's copy).
            return;
        }
        if let Some(lead) = held.as_mut() {
            if lead.conn == conn {
                // The new connection: hold what the old one has not delivered yet.
                let known = dedup.seen_elsewhere(fingerprint, source)
                    || lead.events.iter().any(|(seen, ..)| *seen == fingerprint);
                if known {
                    return;
                }
                let event = AccountEvent {
                    account: scope.clone(),
                    subscription_id,
                    event,
                };
                lead.events
                    .push_back((fingerprint, source, position, event));
                if lead.events.len() >= HELD_CAPACITY {
                    tracing::warn!(account = %scope, connection = conn, "the old connection is {HELD_CAPACITY} events behind the new one; releasing them without waiting");
                    self.release(account, now, out);
                }
                return;
            }
            // The old connection catches up: its copy goes out below, the held one leaves.
            if let Some(index) = lead
                .events
                .iter()
                .position(|(seen, ..)| *seen == fingerprint)
            {
                lead.events.drain(..=index);
            }
        }
        let event = AccountEvent {
            account: scope.clone(),
            subscription_id,
            event,
        };
        pass(
            dedup,
            last,
            snapshot_hold,
            (fingerprint, source, position, event),
            now,
            out,
        );
    }

    /// A snapshot of `account` is being read: hold its events until it is out.
    pub(crate) fn hold_for_snapshot(&mut self, account: usize) {
        self.delivery[account].snapshot_hold = Some(SnapshotHold::default());
    }

    /// The snapshot read is over: emits `snapshot` (when there is one, and nothing held
    /// overflowed ahead of it), then the events held back meanwhile. False when the snapshot
    /// was not emitted because events it may not reflect already went out before it.
    pub(crate) fn release_for_snapshot(
        &mut self,
        account: usize,
        snapshot: Option<Item>,
        out: &mut Outbox,
    ) -> bool {
        let hold = self.delivery[account].snapshot_hold.take();
        let in_order = hold.as_ref().is_none_or(|hold| !hold.overflowed);
        if in_order && let Some(snapshot) = snapshot {
            out.emit(snapshot);
        }
        for event in hold.into_iter().flat_map(|hold| hold.events) {
            out.emit(Item::Event(event));
        }
        in_order
    }

    /// Releases the events held back during a handover once no other connection delivers the
    /// account any more (the old one is drained, unsubscribed or closed): they all come after
    /// the last event the old one delivered.
    pub(crate) fn release_held(
        &mut self,
        account: usize,
        delivers: impl Fn(u64) -> bool,
        now: Instant,
        out: &mut Outbox,
    ) {
        let waiting = self.delivery[account]
            .held
            .as_ref()
            .is_some_and(|held| self.delivering_elsewhere(account, held.conn, delivers));
        if !waiting {
            self.release(account, now, out);
        }
    }

    /// Emits the held events of `account` (less any copy already out) and ends the hold.
    fn release(&mut self, account: usize, now: Instant, out: &mut Outbox) {
        let Delivery {
            held,
            dedup,
            last,
            snapshot_hold,
            ..
        } = &mut self.delivery[account];
        let Some(held) = held.take() else {
            return;
        };
        for copy in held.events {
            pass(dedup, last, snapshot_hold, copy, now, out);
        }
    }
}

/// Lets an event out unless it is a copy of one delivered: by position when it and the last
/// one delivered have one in the same epoch, by its bytes otherwise. While a snapshot is read
/// it waits in `hold` instead.
fn pass(
    dedup: &mut Dedup,
    last: &mut Option<StreamPosition>,
    hold: &mut Option<SnapshotHold>,
    (fingerprint, source, position, event): (u64, Source, Option<StreamPosition>, AccountEvent),
    now: Instant,
    out: &mut Outbox,
) {
    let later = match (&position, &*last) {
        (Some(position), Some(last)) => position.is_after(last),
        _ => None,
    };
    if later == Some(false) {
        return;
    }
    // Fingerprints are remembered either way, for copies from a connection in another epoch.
    let unseen = dedup.admit(fingerprint, source, now);
    if later == Some(true) || unseen {
        if position.is_some() {
            *last = position;
        }
        match hold {
            Some(hold) if !hold.overflowed => {
                hold.events.push(event);
                if hold.events.len() >= SNAPSHOT_HOLD_CAPACITY {
                    tracing::warn!(account = ?hold.events.first().map(|event| &event.account), "{SNAPSHOT_HOLD_CAPACITY} events came while a snapshot was read; letting them out and reading it again");
                    hold.overflowed = true;
                    for event in hold.events.drain(..) {
                        out.emit(Item::Event(event));
                    }
                }
            }
            _ => out.emit(Item::Event(event)),
        }
    }
}
