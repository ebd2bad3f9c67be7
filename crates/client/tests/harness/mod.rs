//! The client against a real gateway: both on one manual clock, over real loopback sockets.
#![allow(dead_code)]

#[path = "../../../server/tests/common/mod.rs"]
pub mod common;

pub use common::{Key, TestServer, WAIT, balance_update};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use userstream_client::{
    Backoff, Endpoints, Event, Item, Options, Scope, Status, UserStream, UserStreamBuilder,
};

/// Short delays so that outages last milliseconds of wall time.
pub fn fast_options() -> Options {
    Options {
        token_validity: Some(Duration::from_secs(60)),
        reconnect_backoff: Backoff {
            initial: Duration::from_millis(20),
            max: Duration::from_millis(200),
        },
        token_backoff: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(100),
        },
        ..Options::default()
    }
}

/// A client builder for `key` against `server`, sharing the server's clock.
pub fn builder(server: &TestServer, key: &Key, options: Options) -> UserStreamBuilder {
    let endpoints = Endpoints::local(&server.url("")).unwrap();
    UserStream::builder()
        .api_key(&key.api_key)
        .endpoints(endpoints)
        .options(options)
        .clock(Arc::new(server.clock.clone()))
}

/// A new key and a client streaming its cross account, subscribed.
pub async fn cross_stream(server: &TestServer, options: Options) -> (Key, Recorder) {
    let key = server.create_key(&[]).await;
    let mut stream = Recorder::new(builder(server, &key, options).cross().start().unwrap());
    stream.until_subscribed(1).await;
    (key, stream)
}

/// Everything a stream yielded so far, kept for assertions.
pub struct Recorder {
    pub stream: UserStream,
    pub events: Vec<(Scope, Event)>,
    pub statuses: Vec<Status>,
}

impl Recorder {
    pub fn new(stream: UserStream) -> Recorder {
        Recorder {
            stream,
            events: Vec::new(),
            statuses: Vec::new(),
        }
    }

    /// The next item, recorded.
    pub async fn next(&mut self) -> Item {
        let item = tokio::time::timeout(WAIT, self.stream.next())
            .await
            .unwrap_or_else(|_| panic!("no item in time; statuses so far: {:#?}", self.statuses))
            .expect("the stream ended");
        match &item {
            Item::Event(event) => self
                .events
                .push((event.account.clone(), event.event.clone())),
            Item::Status(status) => self.statuses.push(status.clone()),
        }
        item
    }

    /// Reads until a status matches, returning it.
    pub async fn until_status(&mut self, want: impl Fn(&Status) -> bool) -> Status {
        loop {
            if let Item::Status(status) = self.next().await
                && want(&status)
            {
                return status;
            }
        }
    }

    /// Reads until `count` accounts are subscribed (counting from the start).
    pub async fn until_subscribed(&mut self, count: usize) {
        while self.count(|s| matches!(s, Status::Subscribed { .. })) < count {
            self.next().await;
        }
    }

    /// Reads until an event with this balance delta arrived for `account`.
    pub async fn until_delta(&mut self, account: &Scope, delta: &str) {
        while !self
            .events
            .iter()
            .any(|(a, e)| a == account && delta_of(e) == Some(delta))
        {
            self.next().await;
        }
    }

    pub fn count(&self, want: impl Fn(&Status) -> bool) -> usize {
        self.statuses.iter().filter(|status| want(status)).count()
    }

    pub fn gaps(&self) -> Vec<&userstream_client::Gap> {
        self.statuses
            .iter()
            .filter_map(|status| match status {
                Status::Gap(gap) => Some(gap),
                _ => None,
            })
            .collect()
    }

    /// The balance deltas received for `account`, in order, as numbers.
    pub fn sequence(&self, account: &Scope) -> Vec<u64> {
        self.events
            .iter()
            .filter(|(a, _)| a == account)
            .filter_map(|(_, event)| delta_of(event)?.parse().ok())
            .collect()
    }
}

pub fn delta_of(event: &Event) -> Option<&str> {
    match event {
        Event::BalanceUpdate(update) => Some(update.balance_delta.as_str()),
        _ => None,
    }
}

/// Publishes balanceUpdates with deltas 1, 2, 3… to an account until stopped.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    task: JoinHandle<Vec<(u64, u64)>>,
}

impl Publisher {
    pub fn start(server: Arc<TestServer>, uid: u64, isolated: Option<&'static str>) -> Publisher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let task = tokio::spawn(async move {
            let mut published = Vec::new();
            let mut seq = 0u64;
            let mut deadline = None;
            // After the stop, go on until an event reaches a subscriber, so the last one
            // published is one the client must receive.
            while !flag.load(Ordering::Relaxed)
                || published
                    .last()
                    .is_none_or(|(_, delivered)| *delivered == 0)
            {
                if flag.load(Ordering::Relaxed) {
                    let deadline =
                        *deadline.get_or_insert_with(|| tokio::time::Instant::now() + WAIT);
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "no subscriber came back"
                    );
                }
                seq += 1;
                let delivered = server
                    .publish(uid, isolated, balance_update(&seq.to_string()))
                    .await;
                published.push((seq, delivered));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            published
        });
        Publisher { stop, task }
    }

    /// Stops publishing once an event reaches a subscriber; returns (sequence number, subscribers it reached) for each event.
    pub async fn stop(self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}
