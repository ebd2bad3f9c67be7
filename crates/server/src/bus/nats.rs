//! The clustered bus: account events on NATS, one subject per account, kept in a JetStream
//! stream ([`super::stream`]).
//!
//! Every node publishes to `userstream.v1.events.<uid>.<scope>`; the stream stores each message
//! and republishes it on `userstream.v1.live.…` with its sequence. A node subscribes only to the
//! live subjects of the accounts it has subscribers for, as its hub reports them. A message
//! carries publish items in the admin API's shape (one object, a JSON array, or NDJSON), so
//! upstream services can publish straight to NATS; each node checks that every item names its
//! subject's account.
//!
//! Each account a node listens for has one task, which delivers its events in stream order.
//! When a message arrives whose predecessor on the subject never did (an outage, a message
//! dropped for a slow subscription), the task first fetches what it missed from the stream, so
//! nothing is lost while the history holds it. Only when the history no longer does are the
//! node's subscriptions ended with `eventStreamTerminated`.

use super::stream::{
    EVENTS_PER_MESSAGE, EventStream, LIVE_PREFIX, PREVIOUS_HEADER, SEQUENCE_HEADER, STORE_WAIT,
    SUBJECT_PREFIX, end_of, message_of, position,
};
use super::{
    AccountEvent, Bus, BusError, BusHealth, BusStats, Delivery, Interest, Listen, Listening,
    Published, Sequenced, SequencedJob,
};
use crate::config::Config;
use crate::intake;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::{Client, Event as ClientEvent, HeaderMap};
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::AbortHandle;
use userstream_protocol::clock::SharedClock;
use userstream_protocol::events::Event;
use userstream_protocol::position::{ResumeFailure, StreamPosition};
use userstream_protocol::{Account, TimeUnit};

/// How long a first subscriber waits for the broker to confirm this node's subscription.
const CONFIRM_WAIT: Duration = Duration::from_secs(5);

/// The header a gateway stamps its messages with: when it published them (µs since the epoch,
/// its clock), so the receiving nodes can tell the bus's lag.
const PUBLISHED_AT_HEADER: &str = "Userstream-Published-Us";

/// The subject `account`'s events are published on: `…<uid>.cross` or
/// `…<uid>.isolated.<SYMBOL>`.
pub fn subject(account: &Account) -> String {
    account_subject(SUBJECT_PREFIX, account)
}

/// The subject the stream republishes `account`'s events on, for the nodes.
fn live_subject(account: &Account) -> String {
    account_subject(LIVE_PREFIX, account)
}

fn account_subject(prefix: &str, account: &Account) -> String {
    match account.scope.isolated_symbol() {
        None => format!("{prefix}.{}.cross", account.uid),
        Some(symbol) => format!("{prefix}.{}.isolated.{symbol}", account.uid),
    }
}

/// A [`Bus`] on NATS subjects and a JetStream stream.
pub struct NatsBus {
    shared: Arc<Shared>,
    _events: AbortOnDrop,
}

struct Shared {
    client: Client,
    stream: EventStream,
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
    /// Permits for acks not yet awaited (`ACKS_PENDING`), taken a slice at a time.
    acks: tokio::sync::Semaphore,
    caught_up: AtomicU64,
}

/// This node's subscription to one account's live subject.
struct Listener {
    /// The hub's interest (0 or 1) plus subscriptions being added ([`Listening`]).
    holders: usize,
    /// `true` once the broker confirmed the subscription.
    live: watch::Receiver<bool>,
    /// Work to do in order with the account's events.
    jobs: mpsc::UnboundedSender<(Option<StreamPosition>, SequencedJob)>,
    /// Look in the stream for what may have been missed (after an outage).
    catch_up: Arc<Notify>,
    task: AbortHandle,
}

struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl NatsBus {
    /// A bus on `client` and the event stream, whose connection events arrive on `events`
    /// (pass the receiving end of the channel the client's event callback sends to). Must be
    /// called inside a Tokio runtime.
    pub fn new(
        client: Client,
        events: mpsc::UnboundedReceiver<ClientEvent>,
        stream: EventStream,
        config: &Config,
        clock: SharedClock,
    ) -> NatsBus {
        let runtime = tokio::runtime::Handle::current();
        let shared = Arc::new(Shared {
            client,
            stream,
            runtime: runtime.clone(),
            delivery: OnceLock::new(),
            config: config.clone(),
            clock,
            listeners: Mutex::new(HashMap::new()),
            health: Mutex::new(BusHealth::Connected),
            reconnects: AtomicU64::new(0),
            losses: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            acks: tokio::sync::Semaphore::new(ACKS_PENDING),
            caught_up: AtomicU64::new(0),
        });
        let task = runtime.spawn(follow_connection(events, Arc::downgrade(&shared)));
        NatsBus {
            shared,
            _events: AbortOnDrop(task.abort_handle()),
        }
    }

    /// Opens the event stream on `client` (making it if needed), then the bus on both.
    pub async fn open(
        client: Client,
        events: mpsc::UnboundedReceiver<ClientEvent>,
        config: &Config,
        clock: SharedClock,
    ) -> Result<NatsBus, BusError> {
        let stream = EventStream::open(client.clone(), config).await?;
        Ok(NatsBus::new(client, events, stream, config, clock))
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
                let (jobs, queued) = mpsc::unbounded_channel();
                let catch_up = Arc::new(Notify::new());
                let feed = AccountFeed {
                    shared: Arc::downgrade(self),
                    account: account.clone(),
                    last: None,
                };
                let task = self
                    .runtime
                    .spawn(feed.run(confirmed, queued, Arc::clone(&catch_up)));
                vacant.insert(Listener {
                    holders: 1,
                    live: live.clone(),
                    jobs,
                    catch_up,
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

    /// The items of one message on `account`'s subject: every item must be valid and name
    /// `account`, or none is taken.
    fn items(&self, account: &Account, payload: &[u8]) -> Option<Vec<AccountEvent>> {
        let refused = |why: String| {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(uid = account.uid, %why, "refused a message from the bus");
            None
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
        if items.len() as u64 > EVENTS_PER_MESSAGE {
            return refused(format!(
                "{} events in one message, more than {EVENTS_PER_MESSAGE}",
                items.len()
            ));
        }
        Some(items)
    }

    /// Records how long a message took from its publisher to this node.
    fn lag(&self, headers: Option<&HeaderMap>) {
        let published_at_us = headers
            .and_then(|headers| headers.get(PUBLISHED_AT_HEADER))
            .and_then(|value| value.as_str().parse::<i64>().ok());
        if let (Some(published_at_us), Ok(delivery)) = (published_at_us, self.delivery()) {
            let lag_us = self.clock.now_us().saturating_sub(published_at_us).max(0);
            delivery.lag(Duration::from_micros(lag_us as u64));
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

    /// Asks every account's task to look in the stream for what this node may have missed.
    fn catch_up_all(&self) {
        for listener in self.listeners.lock().values() {
            listener.catch_up.notify_one();
        }
    }
}

/// One account's events on this node, in stream order.
struct AccountFeed {
    shared: Weak<Shared>,
    account: Account,
    /// The stream sequence of the last message delivered (or known to precede the
    /// subscription); `None` until the stream has told.
    last: Option<u64>,
}

impl AccountFeed {
    /// Subscribe, confirm (a round trip to the server, which has then registered the interest),
    /// then deliver, catch up and run jobs until the task is aborted.
    async fn run(
        mut self,
        confirmed: watch::Sender<bool>,
        mut jobs: mpsc::UnboundedReceiver<(Option<StreamPosition>, SequencedJob)>,
        catch_up: Arc<Notify>,
    ) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let client = shared.client.clone();
        drop(shared);
        let mut subscriber = match client.subscribe(live_subject(&self.account)).await {
            Ok(subscriber) => subscriber,
            Err(error) => {
                tracing::error!(uid = self.account.uid, %error, "cannot subscribe on the bus");
                return;
            }
        };
        match round_trip(&client).await {
            Ok(()) => {
                // Everything the stream holds now came before this node listened.
                self.last = self.stream_last().await;
                confirmed.send_replace(true);
            }
            // The client subscribes again on its own once it is back; no answer waits for that.
            Err(error) => tracing::warn!(uid = self.account.uid, %error, "the bus did not confirm"),
        }
        loop {
            tokio::select! {
                biased;
                Some((after, job)) = jobs.recv() => self.run_job(after, job).await,
                _ = catch_up.notified() => self.catch_up().await,
                message = subscriber.next() => match message {
                    Some(message) => self.on_message(message).await,
                    None => return,
                },
            }
        }
    }

    async fn stream_last(&self) -> Option<u64> {
        let shared = self.shared.upgrade()?;
        match shared.stream.bounds().await {
            Ok((last, _)) => Some(last),
            Err(error) => {
                tracing::warn!(uid = self.account.uid, %error, "cannot read the event stream");
                None
            }
        }
    }

    /// A live message: delivered unless already seen, after whatever came before it on the
    /// subject and did not arrive.
    async fn on_message(&mut self, message: async_nats::Message) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .and_then(|value| value.as_str().parse::<u64>().ok())
        };
        let Some(sequence) = header(SEQUENCE_HEADER) else {
            shared.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                uid = self.account.uid,
                "a live message without its stream sequence"
            );
            return;
        };
        let previous = header(PREVIOUS_HEADER).unwrap_or(0);
        let last = self.last;
        if last.is_some_and(|last| sequence <= last) {
            return;
        }
        // Messages before this one on the subject never arrived: fetch them first.
        if let Some(last) = last.filter(|last| previous > *last) {
            self.fetch(&shared, last + 1, previous).await;
        }
        shared.lag(message.headers.as_ref());
        self.deliver(&shared, sequence, &message.payload);
    }

    /// Delivers the messages of this account from `from` to `to` (stream sequences) out of the
    /// stream; when they cannot all be had, the node's subscriptions end instead.
    async fn fetch(&mut self, shared: &Shared, from: u64, to: u64) {
        let subject = &subject(&self.account);
        let missed = patiently(move || async move {
            let (_, first) = shared.stream.bounds().await?;
            if first > from {
                return Ok(None);
            }
            shared.stream.read(subject, from, to).await.map(Some)
        });
        match missed.await {
            Ok(Some(messages)) => {
                shared
                    .caught_up
                    .fetch_add(messages.len() as u64, Ordering::Relaxed);
                for message in messages {
                    self.deliver(shared, message.sequence, &message.payload);
                }
            }
            Ok(None) => shared.lost("events this node missed have left the stream"),
            Err(error) => shared.lost(&format!("cannot read what this node missed: {error}")),
        }
        self.last = Some(self.last.unwrap_or(0).max(to));
    }

    /// After an outage: whatever the stream holds for this account that was not delivered.
    async fn catch_up(&mut self) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let Some(last) = self.last else {
            self.last = self.stream_last().await;
            return;
        };
        let stream = &shared.stream;
        match patiently(move || stream.bounds()).await {
            Ok((stream_last, _)) if stream_last > last => {
                self.fetch(&shared, last + 1, stream_last).await;
            }
            Ok(_) => {}
            Err(error) => shared.lost(&format!("cannot read what this node missed: {error}")),
        }
    }

    fn deliver(&mut self, shared: &Shared, sequence: u64, payload: &[u8]) {
        self.last = Some(self.last.unwrap_or(0).max(sequence));
        let (Ok(delivery), Some(items)) = (shared.delivery(), shared.items(&self.account, payload))
        else {
            return;
        };
        for (index, item) in items.iter().enumerate() {
            delivery.deliver_at(item, position(sequence, index));
        }
    }

    /// A job, with the account's current position and, when asked, what followed `after`.
    async fn run_job(&mut self, after: Option<StreamPosition>, job: SequencedJob) {
        let Some(shared) = self.shared.upgrade() else {
            return;
        };
        let last = self.last.unwrap_or(0);
        let replay = match after {
            None => None,
            Some(point) => Some(self.replay(&shared, &point, last).await),
        };
        job(Sequenced {
            epoch: shared.stream.epoch.clone(),
            current: end_of(last),
            replay,
        });
    }

    /// The events of this account after `point`, up to the message at `last`.
    async fn replay(
        &self,
        shared: &Shared,
        point: &StreamPosition,
        last: u64,
    ) -> Result<Vec<(u64, Event)>, ResumeFailure> {
        // The stream is kept either way (it is how events reach the nodes); resuming from it
        // is what the setting switches off.
        if !shared.config.history.enabled {
            return Err(ResumeFailure::HistoryDisabled);
        }
        if point.epoch != shared.stream.epoch {
            return Err(ResumeFailure::EpochChanged);
        }
        let from = message_of(point.sequence);
        let (stream_last, first) = shared
            .stream
            .bounds()
            .await
            .map_err(|_| ResumeFailure::HistoryUnavailable)?;
        if from > stream_last {
            return Err(ResumeFailure::PositionAhead);
        }
        // Everything from the stream's first message on is still there.
        if from.saturating_add(1) < first {
            return Err(ResumeFailure::HistoryExpired);
        }
        let messages = shared
            .stream
            .read(&subject(&self.account), from.max(first), last)
            .await
            .map_err(|_| ResumeFailure::HistoryUnavailable)?;
        let mut events = Vec::new();
        for message in messages {
            let Some(items) = shared.items(&self.account, &message.payload) else {
                continue;
            };
            for (index, item) in items.into_iter().enumerate() {
                let at = position(message.sequence, index);
                if at > point.sequence {
                    events.push((at, item.event));
                }
            }
        }
        let limit = shared.config.history.max_events_per_account;
        if events.len() > limit {
            return Err(ResumeFailure::HistoryExpired);
        }
        Ok(events)
    }
}

/// How long catching up waits for the event stream to answer: after a NATS server restarts,
/// JetStream takes a while (up to about ten seconds on NATS 2.9) to elect the stream's leader.
const CATCH_UP_PATIENCE: Duration = Duration::from_secs(30);

/// Tries `attempt` until it succeeds or [`CATCH_UP_PATIENCE`] is up.
async fn patiently<T, F, Fut>(mut attempt: F) -> Result<T, BusError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, BusError>>,
{
    let give_up = tokio::time::Instant::now() + CATCH_UP_PATIENCE;
    loop {
        match attempt().await {
            Err(error) if tokio::time::Instant::now() < give_up => {
                tracing::debug!(%error, "the event stream is not answering yet; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            done => return done,
        }
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

/// Reacts to the client's connection events: after an outage, or when the client dropped
/// messages for a slow subscription, each account looks in the stream for what it missed.
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
                    tracing::info!("reconnected to NATS; catching up from the event stream");
                    shared.catch_up_all();
                }
                *shared.health.lock() = BusHealth::Connected;
            }
            ClientEvent::SlowConsumer(_) => {
                tracing::warn!(
                    "the NATS client dropped messages; catching up from the event stream"
                );
                shared.catch_up_all();
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

/// Publish acks awaited together, a slice of a batch.
const ACKS_IN_FLIGHT: usize = 1_000;
/// Acks all publishes may wait for at once: under the JetStream context's 5,000 permits.
const ACKS_PENDING: usize = 4 * ACKS_IN_FLIGHT;

/// Waits until the event stream has stored every message of `acks`, for at most
/// [`STORE_WAIT`].
async fn stored(acks: Vec<PublishAckFuture>) -> Result<(), BusError> {
    let all = async {
        for ack in acks {
            ack.await
                .map_err(|error| BusError::Unavailable(error.to_string()))?;
        }
        Ok::<_, BusError>(())
    };
    match tokio::time::timeout(STORE_WAIT, all).await {
        Ok(result) => result,
        Err(_) => Err(BusError::Unavailable(
            "the event stream did not store the events in time".into(),
        )),
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
        let mut headers = HeaderMap::new();
        headers.insert(
            PUBLISHED_AT_HEADER,
            shared.clock.now_us().to_string().as_str(),
        );
        // Answered once the stream has stored them all: every node delivers them, and a
        // resume can replay them. Each ack not yet awaited holds one of the JetStream
        // context's permits (5,000), and a publish waits for a free one: a batch of more
        // messages than that, or publishes that together held them all, waited forever on
        // their own acks. So the messages go a slice at a time, each slice holding permits of
        // the bus's own for all its acks before its first message is sent.
        for slice in messages(&batch, max)?.chunks(ACKS_IN_FLIGHT) {
            let permits = u32::try_from(slice.len()).unwrap_or(u32::MAX);
            let _permits = shared
                .acks
                .acquire_many(permits)
                .await
                .map_err(|error| BusError::Unavailable(error.to_string()))?;
            let mut acks = Vec::with_capacity(slice.len());
            for (account, payload) in slice {
                let ack = shared
                    .stream
                    .context
                    .publish_with_headers(subject(account), headers.clone(), payload.clone())
                    .await
                    .map_err(|error| BusError::Unavailable(error.to_string()))?;
                acks.push(ack);
            }
            stored(acks).await?;
        }
        Ok(Published::Persisted)
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

    fn epoch(&self) -> Option<String> {
        Some(self.shared.stream.epoch.clone())
    }

    fn sequenced(
        &self,
        account: &Account,
        after: Option<StreamPosition>,
        job: SequencedJob,
    ) -> Result<(), BusError> {
        let listeners = self.shared.listeners.lock();
        let listener = listeners.get(account).ok_or_else(|| {
            BusError::Unavailable("this node does not listen for the account".into())
        })?;
        listener
            .jobs
            .send((after, job))
            .map_err(|_| BusError::Unavailable("the account's feed has stopped".into()))
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
            caught_up: shared.caught_up.load(Ordering::Relaxed),
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
