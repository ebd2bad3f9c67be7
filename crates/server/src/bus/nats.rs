//! The clustered bus: account events on NATS core subjects, one per account.
//!
//! Every node publishes to `userstream.v1.events.<uid>.<scope>` and subscribes only to the
//! accounts it has subscribers for, as its hub reports them. A message carries publish items
//! in the admin API's shape (one object, a JSON array, or NDJSON), so upstream services can
//! publish straight to NATS; each node checks that every item names its subject's account.
//! Delivery is at most once: when the connection to NATS breaks, or NATS reports this node as a
//! slow consumer, every subscription on the node ends with `eventStreamTerminated`, so that no
//! client mistakes a gap for a quiet account.

use super::{
    AccountEvent, Bus, BusError, BusHealth, BusStats, Delivery, Interest, Listen, Listening,
    Published,
};
use crate::config::Config;
use crate::intake;
use async_nats::{Client, Event as ClientEvent};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::AbortHandle;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::{Account, TimeUnit};

/// Every event subject starts with this; the version lets a future payload live beside this one.
const SUBJECT_PREFIX: &str = "userstream.v1.events";

/// How long a first subscriber waits for the broker to confirm this node's subscription.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

/// The header a gateway stamps its messages with: when it published them (µs since the epoch,
/// its clock), so the receiving nodes can tell the bus's lag.
const PUBLISHED_AT_HEADER: &str = "Userstream-Published-Us";

/// How long a publish waits for the broker to take it.
const PUBLISH_WAIT: Duration = Duration::from_secs(5);

/// The subject `account`'s events travel on: `…<uid>.cross` or `…<uid>.isolated.<SYMBOL>`.
pub fn subject(account: &Account) -> String {
    match account.scope.isolated_symbol() {
        None => format!("{SUBJECT_PREFIX}.{}.cross", account.uid),
        Some(symbol) => format!("{SUBJECT_PREFIX}.{}.isolated.{symbol}", account.uid),
    }
}

/// A [`Bus`] on NATS core subjects.
pub struct NatsBus {
    shared: Arc<Shared>,
    _events: AbortOnDrop,
}

struct Shared {
    client: Client,
    runtime: tokio::runtime::Handle,
    delivery: OnceLock<Arc<dyn Delivery>>,
    /// What a published item must be: configured symbols, `E` defaulting to now.
    config: Config,
    clock: SharedClock,
    listeners: Mutex<HashMap<Account, Listener>>,
    health: Mutex<BusHealth>,
    reconnects: AtomicU64,
    losses: AtomicU64,
    rejected: AtomicU64,
}

/// This node's subscription to one account's subject.
struct Listener {
    /// The hub's interest (0 or 1) plus subscriptions being added ([`Listening`]).
    holders: usize,
    /// `true` once the broker confirmed the subscription.
    live: watch::Receiver<bool>,
    task: AbortHandle,
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl NatsBus {
    /// A bus on `client`, whose connection events arrive on `events` (pass the receiving end of
    /// the channel the client's event callback sends to). Must be called inside a Tokio runtime.
    pub fn new(
        client: Client,
        events: mpsc::UnboundedReceiver<ClientEvent>,
        config: &Config,
        clock: SharedClock,
    ) -> NatsBus {
        let runtime = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            client,
            runtime: runtime.clone(),
            delivery: OnceLock::new(),
            config: config.clone(),
            clock,
            listeners: Mutex::new(HashMap::new()),
            health: Mutex::new(BusHealth::Connected),
            reconnects: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        let task = runtime.spawn(follow_connection(events, Arc::downgrade(&shared)));
        NatsBus {
            shared,
            _events: AbortOnDrop(task.abort_handle()),
        }
    }
}

impl Shared {
    /// Takes one more hold on `account`'s subscription, subscribing when it is the first.
    fn hold(self: &Arc<Self>, account: &Account) -> watch::Receiver<bool> {
        let mut listeners = self.listeners.lock();
        match listeners.entry(account.clone()) {
            Entry::Occupied(mut held) => {
                let listener = held.get_mut();
                listener.holders += 1;
                listener.live.clone()
            }
            Entry::Vacant(vacant) => {
                let (confirmed, live) = watch::channel(false);
                let task =
                    self.runtime
                        .spawn(listen(Arc::downgrade(self), account.clone(), confirmed));
                vacant.insert(Listener {
                    holders: 1,
                    live: live.clone(),
                    task: task.abort_handle(),
                });
                live
            }
        }
    }

    /// Lets go of one hold; the last one unsubscribes.
    fn release(&self, account: &Account) {
        let mut listeners = self.listeners.lock();
        if let Some(listener) = listeners.get_mut(account) {
            listener.holders = listener.holders.saturating_sub(1);
            if listener.holders == 0 {
                // Dropping the NATS subscriber (with the task) unsubscribes.
                listener.task.abort();
                listeners.remove(account);
            }
        }
    }

    fn delivery(&self) -> Result<&dyn Delivery, BusError> {
        self.delivery
            .get()
            .map(Arc::as_ref)
            .ok_or_else(|| BusError::Unavailable("not attached to a hub yet".into()))
    }

    /// One message on `account`'s subject: every item must be valid and name `account`, or none
    /// is delivered.
    fn receive(&self, account: &Account, message: &async_nats::Message) {
        let Ok(delivery) = self.delivery() else {
            return;
        };
        let payload: &[u8] = &message.payload;
        let published_at_us = message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(PUBLISHED_AT_HEADER))
            .and_then(|value| value.as_str().parse::<i64>().ok());
        if let Some(published_at_us) = published_at_us {
            let lag_us = self.clock.now_us().saturating_sub(published_at_us).max(0);
            delivery.lag(Duration::from_micros(lag_us as u64));
        }
        let refused = |why: String| {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(uid = account.uid, %why, "refused a message from the bus");
        };
        let items = match intake::parse(payload, &self.config, self.clock.now_us()) {
            Ok(intake) => intake.events,
            Err(error) => return refused(error.0),
        };
        if let Some(stray) = items.iter().find(|item| item.account != *account) {
            return refused(format!(
                "an item for uid {} arrived on the subject of another account",
                stray.account.uid
            ));
        }
        for item in items {
            delivery.deliver(item);
        }
    }

    /// Possible loss: every subscription on this node ends.
    fn lost(&self, why: &str) {
        self.losses.fetch_add(1, Ordering::Relaxed);
        let ended = self.delivery().map_or(0, |delivery| delivery.lost());
        tracing::warn!(
            ended,
            why,
            "events may have been lost: ended this node's subscriptions"
        );
    }
}

/// One account's subscription, for as long as it is held: subscribe, confirm (a round trip
/// to the server, which has then registered the interest), deliver.
async fn listen(shared: Weak<Shared>, account: Account, confirmed: watch::Sender<bool>) {
    let Some(client) = shared.upgrade().map(|shared| shared.client.clone()) else {
        return;
    };
    let mut subscriber = match client.subscribe(subject(&account)).await {
        Ok(subscriber) => subscriber,
        Err(error) => {
            tracing::error!(uid = account.uid, %error, "cannot subscribe on the bus");
            return;
        }
    };
    match round_trip(&client).await {
        Ok(()) => {
            confirmed.send_replace(true);
        }
        // The client subscribes again on its own once it is back; no answer waits for that.
        Err(error) => tracing::warn!(uid = account.uid, %error, "the bus did not confirm"),
    }
    while let Some(message) = subscriber.next().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.receive(&account, &message);
    }
}

/// A message to ourselves through the server: when it is back, the server has handled
/// everything this connection sent before it (a client `flush` only empties the socket buffer).
async fn round_trip(client: &Client) -> Result<(), String> {
    let inbox = client.new_inbox();
    let mut probe = client
        .subscribe(inbox.clone())
        .await
        .map_err(|error| error.to_string())?;
    client
        .publish(inbox, Bytes::new())
        .await
        .map_err(|error| error.to_string())?;
    match probe.next().await {
        Some(_) => Ok(()),
        None => Err("the connection closed".into()),
    }
}

/// Reacts to the client's connection events: an outage, or the server dropping messages for
/// this node, may have lost events.
async fn follow_connection(mut events: mpsc::UnboundedReceiver<ClientEvent>, shared: Weak<Shared>) {
    while let Some(event) = events.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match event {
            ClientEvent::Disconnected => {
                let mut health = shared.health.lock();
                if !matches!(*health, BusHealth::Disconnected { .. }) {
                    *health = BusHealth::Disconnected {
                        since: Instant::now(),
                    };
                }
                drop(health);
                tracing::warn!("lost the connection to NATS; reconnecting");
            }
            ClientEvent::Connected => {
                let was = *shared.health.lock();
                if matches!(was, BusHealth::Disconnected { .. }) {
                    shared.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!("reconnected to NATS");
                    // Before the node says it is connected again, so that whoever sees it
                    // connected sees the subscriptions ended too.
                    shared.lost("the connection to NATS broke");
                }
                *shared.health.lock() = BusHealth::Connected;
            }
            ClientEvent::SlowConsumer(_) => {
                shared.lost("the NATS client dropped messages for a slow subscription");
            }
            ClientEvent::ServerError(error) => tracing::warn!(%error, "NATS server error"),
            ClientEvent::ClientError(error) => tracing::warn!(%error, "NATS client error"),
            other => tracing::info!(event = %other, "NATS connection"),
        }
    }
}

impl Interest for NatsBus {
    fn interest(&self, account: &Account, interested: bool) {
        if interested {
            let _ = self.shared.hold(account);
        } else {
            self.shared.release(account);
        }
    }
}

#[async_trait]
impl Bus for NatsBus {
    fn attach(&self, delivery: Arc<dyn Delivery>) {
        if self.shared.delivery.set(delivery).is_err() {
            tracing::warn!("the NATS bus was attached twice; the first hub stays");
        }
    }

    async fn publish(&self, batch: Vec<AccountEvent>) -> Result<Published, BusError> {
        let shared = &self.shared;
        shared.delivery()?;
        let max = match shared.client.server_info().max_payload {
            0 => 1 << 20,
            max => max,
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            PUBLISHED_AT_HEADER,
            shared.clock.now_us().to_string().as_str(),
        );
        for (account, payload) in messages(&batch, max)? {
            shared
                .client
                .publish_with_headers(subject(account), headers.clone(), payload)
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))?;
        }
        // Answered once NATS has them: a publish made after this answer, from anywhere, is
        // delivered after them.
        match tokio::time::timeout(PUBLISH_WAIT, round_trip(&shared.client)).await {
            Ok(Ok(())) => Ok(Published::Accepted),
            Ok(Err(error)) => Err(BusError::Unavailable(error)),
            Err(_) => Err(BusError::Unavailable(
                "NATS did not take the events in time".into(),
            )),
        }
    }

    fn listen(&self, account: &Account) -> Listen {
        let mut live = self.shared.hold(account);
        let weak = Arc::downgrade(&self.shared);
        let held = account.clone();
        let listening = Listening::releasing(move || {
            if let Some(shared) = weak.upgrade() {
                shared.release(&held);
            }
        });
        if *live.borrow() {
            return Listen::Ready(listening);
        }
        Listen::Pending(Box::pin(async move {
            match tokio::time::timeout(CONFIRM_WAIT, live.wait_for(|live| *live)).await {
                Ok(Ok(_)) => Ok(listening),
                _ => Err(BusError::Unavailable(
                    "NATS did not confirm the subscription in time".into(),
                )),
            }
        }))
    }

    fn health(&self) -> BusHealth {
        *self.shared.health.lock()
    }

    fn stats(&self) -> BusStats {
        let shared = &self.shared;
        BusStats {
            reconnects: shared.reconnects.load(Ordering::Relaxed),
            losses: shared.losses.load(Ordering::Relaxed),
            rejected: shared.rejected.load(Ordering::Relaxed),
            accounts: shared.listeners.lock().len() as u64,
        }
    }
}

/// A batch as NATS messages: each run of consecutive events of one account becomes JSON arrays
/// of publish items, each at most `max` bytes, so every account's events keep their order.
fn messages(batch: &[AccountEvent], max: usize) -> Result<Vec<(&Account, Bytes)>, BusError> {
    let mut messages = Vec::new();
    let mut current: Option<(&Account, Vec<u8>)> = None;
    for item in batch {
        let encoded = publish_item(item);
        if encoded.len() + 2 > max {
            return Err(BusError::Unavailable(format!(
                "an event of {} bytes is larger than NATS takes ({max} bytes)",
                encoded.len()
            )));
        }
        match &mut current {
            Some((account, payload))
                if *account == &item.account && payload.len() + encoded.len() + 2 <= max =>
            {
                payload.push(b',');
                payload.extend_from_slice(&encoded);
            }
            _ => {
                if let Some((account, mut payload)) = current.take() {
                    payload.push(b']');
                    messages.push((account, Bytes::from(payload)));
                }
                // Most runs are one event (one account each): room for it, grown when needed.
                let mut payload = Vec::with_capacity(encoded.len() + 2);
                payload.push(b'[');
                payload.extend_from_slice(&encoded);
                current = Some((&item.account, payload));
            }
        }
    }
    if let Some((account, mut payload)) = current {
        payload.push(b']');
        messages.push((account, Bytes::from(payload)));
    }
    Ok(messages)
}

/// One publish item in the admin API's shape, its timestamps in microseconds (and saying so),
/// so nothing is rounded on the way.
pub(crate) fn publish_item(item: &AccountEvent) -> Vec<u8> {
    let mut out = Vec::with_capacity(320);
    out.extend_from_slice(b"{\"uid\":");
    out.extend_from_slice(item.account.uid.to_string().as_bytes());
    if let Some(symbol) = item.account.scope.isolated_symbol() {
        out.extend_from_slice(b",\"isolatedSymbol\":\"");
        out.extend_from_slice(symbol.as_bytes());
        out.push(b'"');
    }
    out.extend_from_slice(b",\"timeUnit\":\"MICROSECOND\",\"event\":");
    item.event.write_json(TimeUnit::Microsecond, &mut out);
    out.push(b'}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use userstream_protocol::events::{BalanceUpdate, Event};

    fn balance(account: Account, n: i64) -> AccountEvent {
        AccountEvent {
            account,
            event: Event::BalanceUpdate(BalanceUpdate {
                event_time_us: n * 1000 + 7,
                asset: "BTC".into(),
                balance_delta: n.to_string().parse().unwrap(),
                clear_time_us: n * 1000,
            }),
        }
    }

    #[test]
    fn subjects_name_the_account() {
        assert_eq!(subject(&Account::cross(7)), "userstream.v1.events.7.cross");
        assert_eq!(
            subject(&Account::isolated(7, "BNBUSDT")),
            "userstream.v1.events.7.isolated.BNBUSDT"
        );
    }

    #[test]
    fn a_batch_becomes_one_message_per_run_of_an_account_and_reads_back() {
        let (a, b) = (Account::cross(1), Account::isolated(2, "BNBUSDT"));
        let batch = vec![
            balance(a.clone(), 1),
            balance(a.clone(), 2),
            balance(b.clone(), 3),
            balance(a.clone(), 4),
        ];
        let messages = messages(&batch, 1 << 20).unwrap();
        let shape: Vec<&Account> = messages.iter().map(|(account, _)| *account).collect();
        assert_eq!(shape, vec![&a, &b, &a]);
        let config = Config::default();
        let read: Vec<AccountEvent> = messages
            .iter()
            .flat_map(|(_, payload)| intake::parse(payload, &config, 0).unwrap().events)
            .collect();
        assert_eq!(read, batch);
    }

    #[test]
    fn long_runs_are_split_under_the_size_limit() {
        let account = Account::cross(1);
        let batch: Vec<AccountEvent> = (1..=50).map(|n| balance(account.clone(), n)).collect();
        let one = publish_item(&batch[0]).len();
        let messages = messages(&batch, one * 10).unwrap();
        assert!(messages.len() >= 5, "{}", messages.len());
        assert!(
            messages
                .iter()
                .all(|(_, payload)| payload.len() <= one * 10)
        );
        let config = Config::default();
        let count: usize = messages
            .iter()
            .map(|(_, payload)| intake::parse(payload, &config, 0).unwrap().events.len())
            .sum();
        assert_eq!(count, 50);
        assert!(super::messages(&batch, one).is_err());
    }
}
