//! The seam between upstream publishers and the hub.
//!
//! Publishers (the admin API, `userstream publish`, upstream services) hand batches of account
//! events to a [`Bus`]. The embedded [`LocalBus`] delivers straight into this node's hub; a
//! clustered bus carries the same batches between nodes, and each node's hub delivers to its own
//! connections. Key revocations travel the same way so every node ends the affected streams.

use crate::hub::Hub;
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

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Connects the delivery side: from now on, what this node must deliver goes to `hub`.
    /// Called once, when the server is assembled.
    fn attach(&self, hub: Arc<Hub>);

    /// Publishes a batch, in order. Returns the number of subscriptions this node queued the
    /// events for (other nodes' deliveries are not counted).
    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<usize, BusError>;

    /// Announces that an API key was revoked, so every node ends the subscriptions made with it.
    /// Returns the number of subscriptions this node ended.
    async fn revoke_key(&self, api_key_id: u64) -> Result<usize, BusError>;
}

/// Single-node bus: publishing is a direct call into the hub.
#[derive(Default)]
pub struct LocalBus {
    hub: OnceLock<Arc<Hub>>,
}

impl LocalBus {
    pub fn new() -> Self {
        LocalBus::default()
    }

    fn hub(&self) -> Result<&Hub, BusError> {
        self.hub
            .get()
            .map(Arc::as_ref)
            .ok_or_else(|| BusError::Unavailable("not attached to a hub yet".into()))
    }
}

#[async_trait]
impl Bus for LocalBus {
    fn attach(&self, hub: Arc<Hub>) {
        if self.hub.set(hub).is_err() {
            tracing::warn!("the local bus was attached twice; the first hub stays");
        }
    }

    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<usize, BusError> {
        let hub = self.hub()?;
        Ok(batch
            .iter()
            .map(|item| hub.publish(&item.account, &item.event))
            .sum())
    }

    async fn revoke_key(&self, api_key_id: u64) -> Result<usize, BusError> {
        Ok(self.hub()?.revoke_key(api_key_id))
    }
}
