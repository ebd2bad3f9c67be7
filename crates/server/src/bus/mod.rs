//! The seam between upstream publishers and the hubs that deliver.
//!
//! A [`Bus`] has two sides. Publishers (the admin API, `userstream publish`, upstream services)
//! hand it batches of account events, and learn what the bus can know of them: delivered (the
//! embedded bus, which is the only node) or accepted by a broker (a clustered bus, whose other
//! nodes deliver too). Each node's bus hands the events its node must deliver to that node's
//! [`Delivery`], the hub; the hub tells the bus which accounts it has subscribers for
//! ([`Interest`]), so a clustered bus listens for those accounts only. Key revocations travel on
//! the store's change feed instead ([`crate::store::Store::watch`]).

mod nats;
mod stream;

pub use nats::{NatsBus, subject};
pub use stream::EventStream;

use async_trait::async_trait;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use userstream_protocol::Account;
use userstream_protocol::events::Event;
use userstream_protocol::position::{ResumeFailure, StreamPosition};

pub use userstream_protocol::events::AccountEvent;

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
    /// Stored by the broker, so a node that was away can still deliver it, and a resume replay
    /// it.
    Persisted,
}

/// Where a node's bus hands the events this node must deliver: its hub.
pub trait Delivery: Send + Sync + 'static {
    /// Queues `event` for this node's subscribers of its account; how many there were.
    fn deliver(&self, event: &AccountEvent) -> usize;

    /// [`Delivery::deliver`] for a batch's first events, in order: how many subscribers, and
    /// how many events it took (at least one of a batch that has any). It may stop early, when a
    /// connection's queue is filling up, so that the caller lets its writer run before it
    /// hands over the rest.
    fn deliver_some(&self, events: &[AccountEvent]) -> (usize, usize) {
        let subscribers = events.iter().map(|event| self.deliver(event)).sum();
        (subscribers, events.len())
    }

    /// Events this node should have delivered may have been lost (its broker connection broke,
    /// or could not keep up). Every subscription here ends with `eventStreamTerminated`, the one
    /// signal Binance's protocol has, so that clients subscribe again and see the gap. Returns
    /// how many ended.
    fn lost(&self) -> usize;

    /// Queues `event` at `position` of its account stream, a position the bus assigned (a
    /// clustered bus: the stream's sequence). The embedded bus leaves numbering to the hub.
    fn deliver_at(&self, event: &AccountEvent, _position: u64) -> usize {
        self.deliver(event)
    }

    /// Events took `lag` from their publisher to this node (a clustered bus reports it).
    fn lag(&self, _lag: std::time::Duration) {}
}

/// An account stream as a cluster node sees it, handed to a [`SequencedJob`].
pub struct Sequenced {
    /// The positions' epoch.
    pub epoch: String,
    /// The position of the last event of the account this node has delivered: every later
    /// one is delivered after the job has run.
    pub current: u64,
    /// With a resume point: the events after it up to `current`, or why they cannot all be had.
    pub replay: Option<Result<Vec<(u64, Event)>, ResumeFailure>>,
}

/// Work that must happen in order with an account's events on this node: a subscription on a
/// connection with positions, and its replay.
pub type SequencedJob = Box<dyn FnOnce(Sequenced) + Send>;

/// Held while a subscription is being added: keeps the bus listening for its account until the
/// hub holds the subscription (and with it the account's interest). Dropping it lets go.
#[derive(Default)]
#[must_use]
pub struct Listening(Option<Box<dyn FnOnce() + Send>>);

impl Listening {
    pub(crate) fn releasing(release: impl FnOnce() + Send + 'static) -> Listening {
        Listening(Some(Box::new(release)))
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Whether events of an account already reach this node (see [`Bus::listen`]).
pub enum Listen {
    Ready(Listening),
    /// The broker has yet to confirm this node's subscription.
    Pending(Pin<Box<dyn Future<Output = Result<Listening, BusError>> + Send>>),
}

/// The bus's connection to its broker, as `/healthz` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BusHealth {
    /// No broker: the embedded bus.
    InProcess,
    Connected,
    /// The broker has been unreachable since then; the bus keeps trying.
    Disconnected {
        since: Instant,
    },
}

/// A bus's counters, for the metrics page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BusStats {
    /// Times the connection to the broker came back after it broke.
    pub reconnects: u64,
    /// Times events may have been lost (an outage, or the broker's slow-consumer notice), each
    /// of which ended this node's subscriptions.
    pub losses: u64,
    /// Messages from the broker that were refused: not a valid publish item, or an item whose
    /// account is not the one its subject names.
    pub rejected: u64,
    /// Accounts this node listens for.
    pub accounts: u64,
    /// Messages fetched from the event stream because they did not arrive live (an outage, a
    /// slow subscription).
    pub caught_up: u64,
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

    /// Before the first subscription of `account` on this node is answered: events of
    /// `account` published after that answer must reach this node. A clustered bus subscribes
    /// at its broker and waits for the broker to confirm; the [`Listening`] it hands back keeps
    /// that subscription until the hub has taken over the account's interest.
    fn listen(&self, _account: &Account) -> Listen {
        Listen::Ready(Listening::default())
    }

    fn health(&self) -> BusHealth {
        BusHealth::InProcess
    }

    /// The epoch of the positions this bus assigns (a cluster's stream, which is also the
    /// history resumes read), or `None` when the hub numbers events itself and keeps their
    /// history. With an epoch, subscriptions on connections with positions go through
    /// [`Bus::sequenced`].
    fn epoch(&self) -> Option<String> {
        None
    }

    /// Runs `job` in order with `account`'s events on this node (which must be listening for
    /// it: see [`Bus::listen`]), replaying from `after` when given.
    fn sequenced(
        &self,
        _account: &Account,
        _after: Option<StreamPosition>,
        _job: SequencedJob,
    ) -> Result<(), BusError> {
        Err(BusError::Unavailable(
            "this bus leaves positions to the hub".into(),
        ))
    }

    fn stats(&self) -> BusStats {
        BusStats::default()
    }
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

    fn delivery(&self) -> Result<&Arc<dyn Delivery>, BusError> {
        self.delivery
            .get()
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
        let (subscriptions, taken) = delivery.deliver_some(&batch);
        if taken >= batch.len() {
            return Ok(Published::Delivered { subscriptions });
        }
        // A connection's queue is half full: its writer goes first. The rest is delivered by a
        // task of its own, so the batch is delivered whole even if this caller is dropped (its
        // client gone) while it waits.
        let delivery = Arc::clone(delivery);
        let rest = tokio::spawn(async move {
            let (mut offset, mut subscriptions) = (taken.max(1), 0);
            while let Some(rest) = batch.get(offset..).filter(|rest| !rest.is_empty()) {
                tokio::task::yield_now().await;
                let (subscribers, taken) = delivery.deliver_some(rest);
                subscriptions += subscribers;
                offset += taken.max(1);
            }
            subscriptions
        });
        let more = rest
            .await
            .map_err(|error| BusError::Unavailable(error.to_string()))?;
        Ok(Published::Delivered {
            subscriptions: subscriptions + more,
        })
    }
}
