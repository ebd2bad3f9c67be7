//! Recent events per account, with their positions, so a connection that comes back can be
//! replayed what it missed (embedded mode; docs/protocol.md, "Stream positions and resume").
//!
//! Each hub shard keeps the histories of its accounts and one queue of every event it holds, in
//! publishing order. Limits per account (count, bytes) push out that account's oldest events;
//! the age limit and the shard's share of the global byte cap push out the shard's oldest.
//! Everything here runs under the shard's lock, so no event is stored and delivered in
//! different orders.
//!
//! What a resume needs to know is whether every event of the account after its point is still
//! here. Eviction is oldest first, so each account remembers the last sequence it lost
//! (`evicted_through`); an account whose history is dropped altogether (no events left, no
//! subscribers) leaves its losses in the shard's `forgotten_through`, which answers, perhaps too
//! cautiously, for accounts no longer known.

use super::AccountMap;
use crate::config::HistoryConfig;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use userstream_protocol::Account;
use userstream_protocol::position::{ResumeFailure, StreamPosition};

/// Bytes an event costs beyond its JSON, as measured (`userstream bench fanout --history`): its
/// entry (48 bytes) and its place in the shard's order queue (24), in queues that keep up to
/// twice the room they use, and the allocator's rounding. Measured when the queue's places were
/// 48 bytes too, so it overstates a little.
const ENTRY_OVERHEAD: usize = 176;

/// The account streams' positions: one epoch, and one sequence counter for every account, so a
/// position is assigned in one place and rises strictly within each account.
pub struct Positions {
    epoch: String,
    last: AtomicU64,
}

impl Positions {
    /// Positions in `epoch` (a cluster's stream, which numbers the events), or in a new epoch
    /// of sixteen random hex digits numbered here (a restart must never reuse one).
    pub fn new(epoch: Option<String>) -> Positions {
        Positions {
            epoch: epoch.unwrap_or_else(|| format!("{:016x}", rand::random::<u64>())),
            last: AtomicU64::new(0),
        }
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The next position. Called under the account's shard lock, so an account's events take
    /// their positions in the order they are delivered.
    pub(super) fn next(&self) -> u64 {
        self.last.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// The last position handed out, to any account.
    pub(super) fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }

    pub(super) fn at(&self, sequence: u64) -> StreamPosition {
        StreamPosition {
            epoch: self.epoch.clone(),
            sequence,
        }
    }
}

/// The history limits a shard applies.
#[derive(Debug, Clone, Copy)]
pub(super) struct HistoryLimits {
    max_events: usize,
    max_bytes: usize,
    max_age_us: i64,
    /// This shard's share of the global cap.
    shard_bytes: usize,
}

impl HistoryLimits {
    /// `None` when the history is off. An account keeps at most half of `outbox_bytes`, so
    /// that its replay fits a connection's outgoing queue.
    pub(super) fn from_config(
        config: &HistoryConfig,
        outbox_bytes: usize,
        shards: usize,
    ) -> Option<HistoryLimits> {
        config.enabled.then(|| HistoryLimits {
            max_events: config.max_events_per_account,
            max_bytes: config.max_bytes_per_account.min(outbox_bytes / 2),
            max_age_us: i64::try_from(config.max_age_ms.saturating_mul(1000)).unwrap_or(i64::MAX),
            shard_bytes: (config.max_bytes / shards.max(1)).max(1),
        })
    }
}

/// A stored event: its JSON in microseconds, which loses nothing and is one allocation (a
/// typed event is several times larger), parsed again only for a replay.
struct Entry {
    sequence: u64,
    bytes: usize,
    json: Bytes,
}

/// One account's stored events, oldest first.
pub(super) struct AccountHistory {
    entries: VecDeque<Entry>,
    bytes: usize,
    mark: Arc<Mark>,
}

/// What the shard's order queue needs to know of an account's history without looking it up:
/// which account it is, and how far it has lost its events. Shared by the history and its
/// places in the queue; a history that is dropped marks everything lost, so the places of a
/// history made anew for the same account never pass for its own.
struct Mark {
    account: Account,
    /// The last sequence this account lost to a limit (`u64::MAX` once the history is gone).
    evicted_through: AtomicU64,
}

impl Mark {
    /// Whether the event at `sequence`, once stored under this mark, is still held. Relaxed
    /// loads and stores suffice: every access is under the shard's lock.
    fn holds(&self, sequence: u64) -> bool {
        sequence > self.evicted_through.load(Ordering::Relaxed)
    }
}

impl AccountHistory {
    fn new(account: &Account, evicted_through: u64) -> AccountHistory {
        AccountHistory {
            entries: VecDeque::new(),
            bytes: 0,
            mark: Arc::new(Mark {
                account: account.clone(),
                evicted_through: AtomicU64::new(evicted_through),
            }),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The last sequence this account lost to a limit.
    fn evicted_through(&self) -> u64 {
        self.mark.evicted_through.load(Ordering::Relaxed)
    }

    fn evict_oldest(&mut self) -> Option<usize> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.bytes;
        self.mark
            .evicted_through
            .store(entry.sequence, Ordering::Relaxed);
        Some(entry.bytes)
    }
}

impl Drop for AccountHistory {
    fn drop(&mut self) {
        self.mark.evicted_through.store(u64::MAX, Ordering::Relaxed);
    }
}

/// An account's entry in a shard: its history, and whether anything else keeps it there.
pub(super) trait Slot {
    fn history(&mut self) -> &mut Option<Box<AccountHistory>>;
    /// Nothing but its history holds the entry (no subscribers).
    fn only_history(&self) -> bool;
}

/// The histories of one shard's accounts, and their shared accounting.
pub(super) struct ShardHistory {
    limits: HistoryLimits,
    /// Every stored event of the shard, in publishing order: (sequence, time, its account's
    /// mark). Entries an account has already lost are skipped when they reach the front.
    order: VecDeque<(u64, i64, Arc<Mark>)>,
    bytes: usize,
    events: usize,
    forgotten_through: u64,
}

/// What a shard's history changed, for the memory gauges.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Usage {
    pub bytes: i64,
    pub events: i64,
}

impl ShardHistory {
    pub(super) fn new(limits: HistoryLimits) -> ShardHistory {
        ShardHistory {
            limits,
            order: VecDeque::new(),
            bytes: 0,
            events: 0,
            forgotten_through: 0,
        }
    }

    /// Stores an event of `account` (whose entry in `slots` exists) at `sequence`, published
    /// at `now_us`, then applies every limit.
    pub(super) fn push<S: Slot>(
        &mut self,
        slots: &mut AccountMap<S>,
        account: &Account,
        stored: Stored,
        now_us: i64,
    ) -> Usage {
        let before = self.usage();
        let limits = self.limits;
        if let Some(slot) = slots.get_mut(account) {
            // A history made anew may follow one that was dropped: it counts what any dropped
            // history lost as lost.
            let forgotten_through = self.forgotten_through;
            let history = slot
                .history()
                .get_or_insert_with(|| Box::new(AccountHistory::new(account, forgotten_through)));
            let json = stored.json;
            let bytes = json.len() + ENTRY_OVERHEAD;
            history.entries.push_back(Entry {
                sequence: stored.sequence,
                bytes,
                json,
            });
            history.bytes += bytes;
            self.bytes += bytes;
            self.events += 1;
            while history.entries.len() > limits.max_events || history.bytes > limits.max_bytes {
                let Some(freed) = history.evict_oldest() else {
                    break;
                };
                self.bytes -= freed;
                self.events -= 1;
            }
            if history.is_empty() {
                // An event larger than an account may keep: it is lost at once, like any
                // evicted one, and an account held by nothing else goes.
                self.forget(slot.history());
                if slot.only_history() {
                    slots.remove(account);
                }
            } else {
                let mark = Arc::clone(&history.mark);
                self.order.push_back((stored.sequence, now_us, mark));
            }
        }
        self.trim(slots, now_us);
        self.usage().minus(before)
    }

    /// Lets the shard's oldest events go while they are too old or the shard is over its share
    /// of the global cap, and drops what no longer counts from the order queue.
    pub(super) fn trim<S: Slot>(&mut self, slots: &mut AccountMap<S>, now_us: i64) -> Usage {
        let before = self.usage();
        let oldest_kept = now_us.saturating_sub(self.limits.max_age_us);
        while let Some((sequence, at_us, mark)) = self.order.front() {
            let live = mark.holds(*sequence);
            if live && *at_us >= oldest_kept && self.bytes <= self.limits.shard_bytes {
                break;
            }
            let Some((_, _, mark)) = self.order.pop_front() else {
                break;
            };
            if live {
                self.evict_front(slots, &mark.account);
            }
        }
        // Entries lost to an account's own limits linger in the queue until they reach the
        // front; keep them from outnumbering the live ones.
        if self.order.len() > 2 * self.events + 64 {
            let order = std::mem::take(&mut self.order);
            self.order = order
                .into_iter()
                .filter(|(sequence, _, mark)| mark.holds(*sequence))
                .collect();
        }
        self.usage().minus(before)
    }

    /// The oldest event of `account` leaves; an account left with nothing is dropped.
    fn evict_front<S: Slot>(&mut self, slots: &mut AccountMap<S>, account: &Account) {
        let Some(slot) = slots.get_mut(account) else {
            return;
        };
        if let Some(freed) = slot
            .history()
            .as_deref_mut()
            .and_then(AccountHistory::evict_oldest)
        {
            self.bytes -= freed;
            self.events -= 1;
        }
        if slot
            .history()
            .as_deref()
            .is_some_and(AccountHistory::is_empty)
        {
            self.forget(slot.history());
            if slot.only_history() {
                slots.remove(account);
            }
        }
    }

    /// Drops an account's history, remembering what it had lost: everything up to its last
    /// event now counts as lost, for a resume of an account this shard no longer knows.
    pub(super) fn forget(&mut self, history: &mut Option<Box<AccountHistory>>) -> Usage {
        let before = self.usage();
        if let Some(gone) = history.take() {
            let last = gone.entries.back().map_or(0, |entry| entry.sequence);
            self.forgotten_through = self.forgotten_through.max(gone.evicted_through()).max(last);
            self.bytes -= gone.bytes;
            self.events -= gone.entries.len();
        }
        self.usage().minus(before)
    }

    /// Every event of an account after `after`, oldest first, or why they cannot all be had.
    /// `current` is the last position handed out to any account; `now_us` drops events
    /// past the age limit first, so nothing older than it is ever replayed.
    pub(super) fn replay<S: Slot>(
        &mut self,
        slots: &mut AccountMap<S>,
        account: &Account,
        after: u64,
        current: u64,
        now_us: i64,
    ) -> (Replay, Usage) {
        let usage = self.trim(slots, now_us);
        if after > current {
            return (Err(ResumeFailure::PositionAhead), usage);
        }
        let history = slots
            .get_mut(account)
            .and_then(|slot| slot.history().as_deref());
        let lost_through = history.map_or(self.forgotten_through, AccountHistory::evicted_through);
        if lost_through > after {
            return (Err(ResumeFailure::HistoryExpired), usage);
        }
        let events = history
            .into_iter()
            .flat_map(|history| history.entries.iter())
            .filter(|entry| entry.sequence > after)
            .map(|entry| (entry.sequence, entry.json.clone()))
            .collect();
        (Ok(events), usage)
    }

    /// The shard's last `limit` stored events, newest first: (sequence, time, account, JSON).
    /// Nothing changes; events an account has lost are passed over.
    pub(super) fn recent<S: Slot>(
        &self,
        slots: &mut AccountMap<S>,
        limit: usize,
    ) -> Vec<(u64, i64, Account, Bytes)> {
        let mut recent = Vec::new();
        for (sequence, at_us, mark) in self.order.iter().rev() {
            if recent.len() == limit {
                break;
            }
            if !mark.holds(*sequence) {
                continue;
            }
            let account = &mark.account;
            let Some(history) = slots
                .get_mut(account)
                .and_then(|slot| slot.history().as_deref())
            else {
                continue;
            };
            let entries = &history.entries;
            let index = entries.partition_point(|entry| entry.sequence < *sequence);
            if let Some(entry) = entries
                .get(index)
                .filter(|entry| entry.sequence == *sequence)
            {
                recent.push((*sequence, *at_us, account.clone(), entry.json.clone()));
            }
        }
        recent
    }

    fn usage(&self) -> Usage {
        Usage {
            bytes: self.bytes as i64,
            events: self.events as i64,
        }
    }
}

/// An event to store: its position, and the event as JSON in microseconds, in an allocation of
/// its own and of its exact size (not one shared with the frames being sent, which may have
/// room to spare).
pub(super) struct Stored {
    pub sequence: u64,
    pub json: Bytes,
}

/// What a history can replay after a point: each event with its sequence.
pub(super) type Replay = Result<Vec<(u64, Bytes)>, ResumeFailure>;

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.bytes += other.bytes;
        self.events += other.events;
    }
}

impl Usage {
    fn minus(self, before: Usage) -> Usage {
        Usage {
            bytes: self.bytes - before.bytes,
            events: self.events - before.events,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An account entry with nothing but its history, or with subscribers too.
    #[derive(Default)]
    struct Entry {
        history: Option<Box<AccountHistory>>,
        subscribed: bool,
    }

    impl Slot for Entry {
        fn history(&mut self) -> &mut Option<Box<AccountHistory>> {
            &mut self.history
        }

        fn only_history(&self) -> bool {
            !self.subscribed
        }
    }

    struct Shard {
        slots: AccountMap<Entry>,
        history: ShardHistory,
        next: u64,
    }

    impl Shard {
        fn new(limits: HistoryLimits) -> Shard {
            Shard {
                slots: AccountMap::default(),
                history: ShardHistory::new(limits),
                next: 0,
            }
        }

        /// Stores an event of `json_bytes` for account `uid` at `now_us`; its sequence.
        fn push(&mut self, uid: u64, json_bytes: usize, now_us: i64) -> u64 {
            self.next += 1;
            let account = Account::cross(uid);
            self.slots.entry(account.clone()).or_default();
            let stored = Stored {
                sequence: self.next,
                json: Bytes::from(vec![b' '; json_bytes]),
            };
            self.history.push(&mut self.slots, &account, stored, now_us);
            self.next
        }

        fn replay(&mut self, uid: u64, after: u64, now_us: i64) -> Result<Vec<u64>, ResumeFailure> {
            let (replay, _) = self.history.replay(
                &mut self.slots,
                &Account::cross(uid),
                after,
                self.next,
                now_us,
            );
            replay.map(|events| events.into_iter().map(|(sequence, _)| sequence).collect())
        }
    }

    fn limits(shard_bytes: usize) -> HistoryLimits {
        HistoryLimits {
            max_events: 100,
            max_bytes: 1 << 20,
            max_age_us: 1_000_000,
            shard_bytes,
        }
    }

    #[test]
    fn recent_events_are_the_newest_still_held() {
        // Account 1 keeps at most two events.
        let mut shard = Shard::new(HistoryLimits {
            max_events: 2,
            ..limits(1 << 20)
        });
        let a1 = shard.push(1, 10, 0);
        let b1 = shard.push(2, 10, 1);
        let a2 = shard.push(1, 10, 2);
        let a3 = shard.push(1, 10, 3);
        let recent = |shard: &mut Shard, limit| -> Vec<(u64, i64, u64)> {
            let found = shard.history.recent(&mut shard.slots, limit);
            found
                .into_iter()
                .map(|(sequence, at, account, _)| (sequence, at, account.uid))
                .collect()
        };
        // a1 was pushed out by account 1's limit.
        assert!(a1 < b1);
        assert_eq!(recent(&mut shard, 10), [(a3, 3, 1), (a2, 2, 1), (b1, 1, 2)]);
        assert_eq!(recent(&mut shard, 2), [(a3, 3, 1), (a2, 2, 1)]);
        assert_eq!(recent(&mut shard, 0), []);
    }

    #[test]
    fn the_shard_cap_lets_the_oldest_events_of_any_account_go() {
        // Room for three events of 100 bytes.
        let mut shard = Shard::new(limits(3 * (100 + ENTRY_OVERHEAD)));
        let a1 = shard.push(1, 100, 0);
        let b1 = shard.push(2, 100, 1);
        let a2 = shard.push(1, 100, 2);
        let b2 = shard.push(2, 100, 3);
        assert_eq!(shard.history.events, 3);
        // Account 1 lost its oldest event, so a resume from before it fails; account 2 kept
        // both of its events.
        assert_eq!(shard.replay(1, 0, 4), Err(ResumeFailure::HistoryExpired));
        assert_eq!(shard.replay(1, a1, 4), Ok(vec![a2]));
        assert_eq!(shard.replay(2, 0, 4), Ok(vec![b1, b2]));
    }

    #[test]
    fn age_empties_accounts_and_the_watermark_answers_for_them() {
        let mut shard = Shard::new(limits(1 << 20));
        let first = shard.push(1, 10, 0);
        shard.push(2, 10, 500_000);
        // Account 1's only event is past the age limit: its entry goes, and what it lost is
        // remembered for the shard.
        shard.history.trim(&mut shard.slots, 1_000_001);
        assert!(!shard.slots.contains_key(&Account::cross(1)));
        assert_eq!(shard.history.events, 1);
        assert_eq!(
            shard.replay(1, 0, 1_000_001),
            Err(ResumeFailure::HistoryExpired)
        );
        assert_eq!(shard.replay(1, first, 1_000_001), Ok(vec![]));
        // A history made anew for the account starts from that watermark too.
        let later = shard.push(1, 10, 1_000_002);
        assert_eq!(
            shard.replay(1, 0, 1_000_002),
            Err(ResumeFailure::HistoryExpired)
        );
        assert_eq!(shard.replay(1, first, 1_000_002), Ok(vec![later]));
        // A subscribed account keeps its entry when its history empties.
        shard.slots.entry(Account::cross(1)).or_default().subscribed = true;
        shard.history.trim(&mut shard.slots, 3_000_000);
        assert!(shard.slots.contains_key(&Account::cross(1)));
        assert_eq!((shard.history.events, shard.history.bytes), (0, 0));
    }

    #[test]
    fn the_order_queue_stays_near_the_live_events() {
        let mut shard = Shard::new(HistoryLimits {
            max_events: 2,
            ..limits(1 << 30)
        });
        // One account publishing forever: its own limit evicts, which leaves entries behind in
        // the order queue until they are compacted away.
        for now_us in 0..10_000 {
            shard.push(1, 10, now_us);
        }
        assert_eq!(shard.history.events, 2);
        assert!(
            shard.history.order.len() <= 2 * 2 + 64 + 1,
            "{}",
            shard.history.order.len()
        );
        assert_eq!(
            shard.replay(1, shard.next - 2, 10_000).map(|e| e.len()),
            Ok(2)
        );
    }

    #[test]
    fn the_places_of_a_dropped_history_never_pass_for_a_new_ones() {
        let mut shard = Shard::new(HistoryLimits {
            max_bytes: 500,
            ..limits(1 << 20)
        });
        // Account 2's event keeps the front of the queue, so the places behind it stay.
        shard.push(2, 10, 0);
        let first = shard.push(1, 10, 1);
        // Too large to keep: account 1's history goes altogether.
        shard.push(1, 1_000, 2);
        assert!(!shard.slots.contains_key(&Account::cross(1)));
        let anew = shard.push(1, 10, 3);
        assert_eq!(shard.history.order.len(), 3);
        // The first two events' age is up. Account 1's first place belonged to the history that
        // was dropped, so it goes without taking the new history's event with it.
        shard.history.trim(&mut shard.slots, 1_000_002);
        assert_eq!(shard.history.order.len(), 1);
        assert_eq!(shard.history.events, 1);
        assert_eq!(shard.replay(1, first + 1, 1_000_002), Ok(vec![anew]));
    }

    #[test]
    fn an_event_larger_than_an_account_may_keep_is_lost_at_once() {
        let mut shard = Shard::new(HistoryLimits {
            max_bytes: 500,
            ..limits(1 << 20)
        });
        let sequence = shard.push(1, 1_000, 0);
        assert!(!shard.slots.contains_key(&Account::cross(1)));
        assert_eq!((shard.history.events, shard.history.bytes), (0, 0));
        assert!(shard.history.order.is_empty());
        assert_eq!(
            shard.replay(1, sequence - 1, 1),
            Err(ResumeFailure::HistoryExpired)
        );
        assert_eq!(shard.replay(1, sequence, 1), Ok(vec![]));
    }
}
