//! The one timer structure for every subscription's expiry.
//!
//! A single ordered map keyed by expiry time replaces a timer per subscription: inserting,
//! moving (on extension) and removing are O(log n), and one task pops whatever is due.

use std::collections::BTreeMap;
use userstream_protocol::Account;

/// Identifies one subscription's deadline. Ordered by time first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Deadline {
    pub at_us: i64,
    pub session_id: u64,
    pub subscription_id: u32,
}

#[derive(Default)]
pub struct ExpiryQueue {
    deadlines: BTreeMap<Deadline, Account>,
}

impl ExpiryQueue {
    /// Adds a deadline; `true` when it became the earliest (the driver must re-arm).
    pub fn insert(&mut self, deadline: Deadline, account: Account) -> bool {
        self.deadlines.insert(deadline, account);
        self.deadlines
            .first_key_value()
            .is_some_and(|(first, _)| *first == deadline)
    }

    pub fn remove(&mut self, deadline: &Deadline) {
        self.deadlines.remove(deadline);
    }

    /// The earliest deadline, if any.
    pub fn next_at(&self) -> Option<i64> {
        self.deadlines
            .first_key_value()
            .map(|(deadline, _)| deadline.at_us)
    }

    /// Removes and returns every deadline at or before `now_us`, earliest first.
    pub fn pop_due(&mut self, now_us: i64) -> Vec<(Deadline, Account)> {
        let mut due = Vec::new();
        while let Some(entry) = self.deadlines.first_entry() {
            if entry.key().at_us > now_us {
                break;
            }
            due.push(entry.remove_entry());
        }
        due
    }

    pub fn len(&self) -> usize {
        self.deadlines.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deadline(at_us: i64, subscription_id: u32) -> Deadline {
        Deadline {
            at_us,
            session_id: 1,
            subscription_id,
        }
    }

    #[test]
    fn pops_in_time_order_only_when_due() {
        let mut queue = ExpiryQueue::default();
        assert!(queue.insert(deadline(30, 0), Account::cross(1)));
        assert!(queue.insert(deadline(10, 1), Account::cross(2)));
        assert!(!queue.insert(deadline(20, 2), Account::cross(3)));
        assert_eq!(queue.next_at(), Some(10));
        assert!(queue.pop_due(9).is_empty());
        let due = queue.pop_due(20);
        assert_eq!(
            due.iter()
                .map(|(d, _)| d.subscription_id)
                .collect::<Vec<_>>(),
            vec![1, 2]
        );
        queue.remove(&deadline(30, 0));
        assert_eq!(queue.len(), 0);
    }
}
