//! Every subscription's expiry, in one place.
//!
//! [`Expiries`] is the only holder of expiration times: the hub's subscriber lists and a
//! connection's own table name subscriptions, and ask here when they end. One ordered map keyed
//! by time replaces a timer per subscription (setting, moving on extension and removing are
//! O(log n)), and one task pops whatever is due.

use std::collections::{BTreeMap, HashMap};
use userstream_protocol::Account;

/// One subscription: the connection and the id it has there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriptionKey {
    pub session_id: u64,
    pub subscription_id: u32,
}

/// When one subscription ends. Ordered by time first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    pub at_us: i64,
    pub key: SubscriptionKey,
}

#[derive(Default)]
pub struct Expiries {
    by_time: BTreeMap<Deadline, Account>,
    by_key: HashMap<SubscriptionKey, i64>,
}

impl Expiries {
    /// Sets (or moves) `key`'s expiry; `true` when it became the earliest, so the driver must
    /// re-arm its timer.
    pub fn set(&mut self, key: SubscriptionKey, account: Account, at_us: i64) -> bool {
        if let Some(old) = self.by_key.insert(key, at_us) {
            self.by_time.remove(&Deadline { at_us: old, key });
        }
        let deadline = Deadline { at_us, key };
        self.by_time.insert(deadline, account);
        self.by_time
            .first_key_value()
            .is_some_and(|(first, _)| *first == deadline)
    }

    /// When `key` expires, if it is still set.
    pub fn at(&self, key: SubscriptionKey) -> Option<i64> {
        self.by_key.get(&key).copied()
    }

    /// Forgets `key` (its subscription ended).
    pub fn remove(&mut self, key: SubscriptionKey) {
        if let Some(at_us) = self.by_key.remove(&key) {
            self.by_time.remove(&Deadline { at_us, key });
        }
    }

    /// The earliest expiry, if any.
    pub fn next_at(&self) -> Option<i64> {
        self.by_time
            .first_key_value()
            .map(|(deadline, _)| deadline.at_us)
    }

    /// Removes and returns every deadline at or before `now_us`, earliest first.
    pub fn pop_due(&mut self, now_us: i64) -> Vec<(Deadline, Account)> {
        let mut due = Vec::new();
        while let Some(entry) = self.by_time.first_entry() {
            if entry.key().at_us > now_us {
                break;
            }
            let (deadline, account) = entry.remove_entry();
            self.by_key.remove(&deadline.key);
            due.push((deadline, account));
        }
        due
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(subscription_id: u32) -> SubscriptionKey {
        SubscriptionKey {
            session_id: 1,
            subscription_id,
        }
    }

    fn popped(due: &[(Deadline, Account)]) -> Vec<(i64, u32)> {
        due.iter()
            .map(|(deadline, _)| (deadline.at_us, deadline.key.subscription_id))
            .collect()
    }

    #[test]
    fn pops_in_time_order_only_when_due() {
        let mut expiries = Expiries::default();
        assert!(expiries.set(key(0), Account::cross(1), 30));
        assert!(expiries.set(key(1), Account::cross(2), 10));
        assert!(!expiries.set(key(2), Account::cross(3), 20));
        assert_eq!(expiries.next_at(), Some(10));
        assert!(expiries.pop_due(9).is_empty());
        assert_eq!(popped(&expiries.pop_due(20)), [(10, 1), (20, 2)]);
        assert_eq!(expiries.at(key(1)), None);
        expiries.remove(key(0));
        assert_eq!(expiries.len(), 0);
        assert_eq!(expiries.next_at(), None);
    }

    /// An extension moves the deadline: the old time is gone, not due twice.
    #[test]
    fn an_extension_moves_the_deadline() {
        let mut expiries = Expiries::default();
        expiries.set(key(0), Account::cross(1), 10);
        assert!(!expiries.set(key(1), Account::cross(2), 15));
        assert!(!expiries.set(key(0), Account::cross(1), 50));
        assert_eq!(expiries.at(key(0)), Some(50));
        assert_eq!(expiries.next_at(), Some(15));
        assert_eq!(popped(&expiries.pop_due(40)), [(15, 1)]);
        assert_eq!(popped(&expiries.pop_due(50)), [(50, 0)]);
        assert_eq!(expiries.len(), 0);
    }

    proptest! {
        /// Whatever is set, moved, removed and popped, each subscription has at most one
        /// deadline, `at` agrees with what pops, and pops come in time order.
        #[test]
        fn one_deadline_per_subscription(
            operations in proptest::collection::vec((0u8..3, 0u32..8, 0i64..100), 0..64)
        ) {
            let mut expiries = Expiries::default();
            let mut model: HashMap<u32, i64> = HashMap::new();
            for (operation, id, at_us) in operations {
                match operation {
                    0 => {
                        expiries.set(key(id), Account::cross(u64::from(id)), at_us);
                        model.insert(id, at_us);
                    }
                    1 => {
                        expiries.remove(key(id));
                        model.remove(&id);
                    }
                    _ => {
                        let due = popped(&expiries.pop_due(at_us));
                        let mut expected: Vec<(i64, u32)> = model
                            .iter()
                            .filter(|(_, at)| **at <= at_us)
                            .map(|(id, at)| (*at, *id))
                            .collect();
                        expected.sort();
                        prop_assert_eq!(&due, &expected);
                        model.retain(|_, at| *at > at_us);
                    }
                }
                prop_assert_eq!(expiries.len(), model.len());
                prop_assert_eq!(expiries.by_time.len(), model.len());
                prop_assert_eq!(expiries.at(key(id)), model.get(&id).copied());
                prop_assert_eq!(expiries.next_at(), model.values().min().copied());
            }
        }
    }
}
