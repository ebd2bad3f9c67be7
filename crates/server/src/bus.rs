//! The seam between upstream publishers and the hubs that deliver.
//!
//! A [`Bus`] has two sides. Publishers (the admin API, `userstream publish`, upstream services)
//! hand it batches of account events, and learn what the bus can know of them: delivered (the
//! embedded bus, which is the only node) or accepted by a broker (a clustered bus, whose other
//! nodes deliver too). Each node's bus hands the events its node must deliver to that node's
//! [`Delivery`], the hub; the hub tells the bus which accounts it has subscribers for
//! ([`Interest`]), so a clustered bus listens for those accounts only. Key revocations travel on
//! the store's change feed instead ([`crate::store::Store::watch`]).

use async_trait::async_trait;
use std::sync::{Arc, OnceLock};
use userstream_protocol::Account;
use userstream_protocol::events::Event;

/// An event addressed to one margin account.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountEvent {
    pub account: Account,
    pub event: Event,
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("bus unavailable: {0}")]
    Unavailable(String),
}

/// What a publish came to, as far as the bus can know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Published {
    /// Delivered here, the only node: this many subscriptions were queued the events.
    Delivered { subscriptions: usize },
    /// Handed to the broker, for every node with subscribers to deliver.
    Accepted,
    /// Stored by the broker, so a node that was away can still deliver it.
    Persisted,
}

/// Where a node's bus hands the events this node must deliver: its hub.
pub trait Delivery: Send + Sync + 'static {
    /// Queues `event` for this node's subscribers of its account; how many there were.
    fn deliver(&self, event: &AccountEvent) -> usize;
}

/// The accounts a node has subscribers for, as its hub reports them: `true` when the first
/// subscriber of `account` arrives, `false` when the last one leaves. Called under the hub's
/// locks, so it must not block.
pub trait Interest: Send + Sync + 'static {
    fn interest(&self, account: &Account, interested: bool);
}

#[async_trait]
pub trait Bus: Interest {
    /// Connects the delivery side: from now on, what this node must deliver goes to `delivery`.
    /// Called once, when the server is assembled.
    fn attach(&self, delivery: Arc<dyn Delivery>);

    /// Publishes a batch, in order.
    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<Published, BusError>;
}

/// Single-node bus: publishing is a direct call into the hub.
#[derive(Default)]
pub struct LocalBus {
    delivery: OnceLock<Arc<dyn Delivery>>,
}

impl LocalBus {
    pub fn new() -> Self {
        LocalBus::default()
    }

    fn delivery(&self) -> Result<&dyn Delivery, BusError> {
        self.delivery
            .get()
            .map(Arc::as_ref)
            .ok_or_else(|| BusError::Unavailable("not attached to a hub yet".into()))
    }
}

/// Every account is on this node: there is nothing to listen for.
impl Interest for LocalBus {
    fn interest(&self, _account: &Account, _interested: bool) {}
}

#[async_trait]
impl Bus for LocalBus {
    fn attach(&self, delivery: Arc<dyn Delivery>) {
        if self.delivery.set(delivery).is_err() {
            tracing::warn!("the local bus was attached twice; the first hub stays");
        }
    }

    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<Published, BusError> {
        let delivery = self.delivery()?;
        let subscriptions = batch.iter().map(|item| delivery.deliver(item)).sum();
        Ok(Published::Delivered { subscriptions })
    }
}
