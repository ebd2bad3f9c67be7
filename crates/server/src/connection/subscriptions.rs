//! A connection's own view of its subscriptions: ids and the accounts they follow. The hub keeps
//! the other view (account to subscribers) and every expiry, and changes all under its locks.

use super::SubscriptionLimits;
use userstream_protocol::{Account, ApiError};

#[derive(Default)]
pub(super) struct OwnSubscriptions {
    pub(super) by_id: ById,
    next_id: u32,
    /// The connection has closed: a subscription that completes late (waiting on the bus) must
    /// not be added to it.
    pub(super) closed: bool,
}

impl OwnSubscriptions {
    /// Takes the next subscription id for `account`, unless the connection holds as many
    /// subscriptions as it may, or has used up its ids.
    pub(super) fn add(
        &mut self,
        account: &Account,
        limits: SubscriptionLimits,
    ) -> Result<u32, ApiError> {
        if self.closed {
            return Err(ApiError::internal("The connection is closed."));
        }
        if self.by_id.len() >= limits.max_active {
            return Err(ApiError::too_many_subscriptions(limits.max_active));
        }
        if self.next_id >= limits.max_lifetime {
            return Err(ApiError::max_subscription_id());
        }
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, account.clone());
        Ok(id)
    }

    /// Every subscription, as `(id, account)`, in id order.
    pub(super) fn listed(&self) -> Vec<(u32, Account)> {
        self.by_id
            .iter()
            .map(|(&id, account)| (id, account.clone()))
            .collect()
    }
}

/// Subscriptions by id, in id order: a vector, since nearly every connection holds one (a
/// `BTreeMap` allocates a node of eleven slots for it, about 500 bytes per connection).
#[derive(Default)]
pub(super) struct ById(Vec<(u32, Account)>);

impl ById {
    fn position(&self, id: u32) -> Result<usize, usize> {
        self.0.binary_search_by_key(&id, |(id, _)| *id)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = (&u32, &Account)> {
        self.0.iter().map(|(id, entry)| (id, entry))
    }

    pub(super) fn get(&self, id: &u32) -> Option<&Account> {
        self.position(*id).ok().map(|at| &self.0[at].1)
    }

    pub(super) fn insert(&mut self, id: u32, entry: Account) {
        if self.0.capacity() == 0 {
            self.0.reserve_exact(1);
        }
        match self.position(id) {
            Ok(at) => self.0[at].1 = entry,
            Err(at) => self.0.insert(at, (id, entry)),
        }
    }

    pub(super) fn remove(&mut self, id: &u32) -> Option<Account> {
        self.position(*id).ok().map(|at| self.0.remove(at).1)
    }

    pub(super) fn len(&self) -> usize {
        self.0.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    #[test]
    fn a_closed_connection_takes_no_new_subscription() {
        let limits = SubscriptionLimits {
            max_active: 10,
            max_lifetime: 10,
        };
        let mut table = OwnSubscriptions::default();
        assert_eq!(table.add(&Account::cross(1), limits), Ok(0));
        table.closed = true;
        assert!(table.add(&Account::cross(2), limits).is_err());
        assert_eq!(table.listed(), vec![(0, Account::cross(1))]);
    }

    proptest! {
        /// The table answers every operation as an ordered map would.
        #[test]
        fn subscriptions_by_id_behave_as_an_ordered_map(
            operations in proptest::collection::vec((any::<bool>(), 0u32..16, any::<u64>()), 0..64)
        ) {
            let mut table = ById::default();
            let mut model = BTreeMap::new();
            for (insert, id, uid) in operations {
                let entry = Account::cross(uid);
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
            }
        }
    }
}
