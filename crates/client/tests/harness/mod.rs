//! The client against a real gateway: both on one manual clock, over real loopback sockets.
#![allow(dead_code)]

#[path = "../../../server/tests/common/mod.rs"]
pub mod common;

pub use common::{Key, TestServer, WAIT, balance_update};
use futures_util::StreamExt;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use userstream_client::{
    Backoff, Endpoints, Event, Item, Options, Scope, Snapshot, Status, StreamPositions, UserStream,
    UserStreamBuilder,
};
use userstream_server::bus::LocalBus;
use userstream_server::directory::generate_key;
use userstream_server::store::{FIRST_UID, NewApiKey, SqliteStore, Store};
use userstream_server::token::SigningKey;
use userstream_server::{Backends, Clock, ManualClock};

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

/// [`fast_options`] without stream positions: the stream behaves as it does against Binance,
/// where every lost stretch is a gap.
pub fn without_positions() -> Options {
    Options {
        stream_positions: StreamPositions::Off,
        ..fast_options()
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
    pub snapshots: Vec<Snapshot>,
}

impl Recorder {
    pub fn new(stream: UserStream) -> Recorder {
        Recorder {
            stream,
            events: Vec::new(),
            statuses: Vec::new(),
            snapshots: Vec::new(),
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
            Item::Snapshot(snapshot) => self.snapshots.push((**snapshot).clone()),
            other => panic!("an item the harness does not know: {other:?}"),
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

    /// Reads until the next snapshot, returning it.
    pub async fn until_snapshot(&mut self) -> Snapshot {
        loop {
            if let Item::Snapshot(snapshot) = self.next().await {
                return *snapshot;
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

    /// Waits for the next `Gap` status and returns it.
    pub async fn until_gap(&mut self) -> userstream_client::Gap {
        match self
            .until_status(|status| matches!(status, Status::Gap(_)))
            .await
        {
            Status::Gap(gap) => gap,
            _ => unreachable!("until_status returns what it waited for"),
        }
    }

    /// The gateways the stream connected to, in order, and whether each was a handover.
    pub fn connected_to(&self) -> Vec<(reqwest::Url, bool)> {
        self.statuses
            .iter()
            .filter_map(|status| match status {
                Status::Connected {
                    gateway, handover, ..
                } => Some((gateway.clone(), *handover)),
                _ => None,
            })
            .collect()
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

/// Every event that reached a subscriber arrived exactly once and in order.
pub fn assert_complete(published: &[(u64, u64)], received: &[u64]) {
    let reached: Vec<u64> = published
        .iter()
        .filter(|(_, delivered)| *delivered > 0)
        .map(|(seq, _)| *seq)
        .collect();
    assert_eq!(
        received,
        reached.as_slice(),
        "lost, repeated or reordered events"
    );
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
        Publisher::with(move |seq| {
            let server = Arc::clone(&server);
            async move {
                server
                    .publish(uid, isolated, balance_update(&seq.to_string()))
                    .await
            }
        })
    }

    /// Publishes event `seq` with `publish`, which answers how many subscriptions it reached.
    fn with<F, Fut>(publish: F) -> Publisher
    where
        F: Fn(u64) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = u64> + Send,
    {
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
                let delivered = publish(seq).await;
                published.push((seq, delivered));
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            published
        });
        Publisher { stop, task }
    }

    /// For a cluster: balanceUpdates to the cross account, each published to every node that
    /// was running when it started; a delivery counts subscriptions on all nodes together.
    pub fn on_cluster(cluster: &Cluster) -> Publisher {
        let admin_urls = Arc::new(cluster.admin_urls());
        let uid = cluster.key.uid;
        let http = reqwest::Client::new();
        Publisher::with(move |seq| {
            let (admin_urls, http) = (Arc::clone(&admin_urls), http.clone());
            async move {
                let event = balance_update(&seq.to_string());
                publish_everywhere(&http, &admin_urls, uid, &event).await
            }
        })
    }

    /// Stops publishing once an event reaches a subscriber; returns (sequence number, subscribers it reached) for each event.
    pub async fn stop(self) -> Vec<(u64, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap()
    }
}

/// Gateway nodes of one cluster, as far as a client can tell: each has its own store and bus,
/// but all share one token signing key (through their config) and one API key (written into
/// every store), so a token minted on one node is accepted by the others. They share a manual
/// clock with the client. Events reach a node only when published to it; [`Cluster::publish`]
/// publishes to every node still running, as a cluster's bus would.
pub struct Cluster {
    /// `None` once killed.
    pub nodes: Vec<Option<TestServer>>,
    pub key: Key,
    pub clock: ManualClock,
    _dirs: Vec<tempfile::TempDir>,
}

impl Cluster {
    pub async fn start(size: usize) -> Cluster {
        let signing_key = SigningKey::generate(1).to_config_string();
        let clock = ManualClock::starting_now();
        let key = Key {
            api_key: generate_key(),
            secret: generate_key(),
            uid: FIRST_UID,
        };
        let mut nodes = Vec::new();
        let mut dirs = Vec::new();
        for _ in 0..size {
            let dir = tempfile::tempdir().unwrap();
            let mut config = common::test_config(dir.path().to_path_buf());
            config.token.signing_keys = vec![signing_key.clone()];
            let store = SqliteStore::open_in(dir.path()).unwrap();
            store
                .insert_key(NewApiKey {
                    api_key: key.api_key.clone(),
                    secret_key: key.secret.clone(),
                    uid: Some(key.uid),
                    label: None,
                    created_at_ms: clock.now_ms(),
                })
                .await
                .unwrap();
            let backends = Backends::new(Arc::new(store), Arc::new(LocalBus::new()));
            nodes.push(Some(
                TestServer::start_on_backends(config, clock.clone(), backends).await,
            ));
            dirs.push(dir);
        }
        Cluster {
            nodes,
            key,
            clock,
            _dirs: dirs,
        }
    }

    /// A running node.
    pub fn node(&self, index: usize) -> &TestServer {
        self.nodes[index].as_ref().expect("the node was killed")
    }

    /// Node `index`'s endpoints.
    pub fn endpoints(&self, index: usize) -> Endpoints {
        Endpoints::local(&self.node(index).url("")).unwrap()
    }

    /// A client builder for the cluster's key with every node as a gateway, in order.
    pub fn builder(&self, options: Options) -> UserStreamBuilder {
        UserStream::builder()
            .api_key(&self.key.api_key)
            .gateways((0..self.nodes.len()).map(|index| self.endpoints(index)))
            .options(options)
            .clock(Arc::new(self.clock.clone()))
    }

    /// Kills node `index` as abruptly as the process dying: every connection is dropped without
    /// a close frame (no `serverShutdown`), then the listeners close, so reconnects and token
    /// requests to it are refused.
    pub async fn kill(&mut self, index: usize) {
        let node = self.nodes[index].take().expect("the node was killed");
        let (status, answer) = node
            .admin_post("/admin/v1/faults", json!({"kind": "drop"}))
            .await;
        assert_eq!(status, 200, "{answer}");
        node.server.shutdown().await.unwrap();
    }

    /// The admin URLs of the nodes still running, for [`Publisher::on_cluster`].
    pub fn admin_urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flatten()
            .map(|node| node.admin_url(""))
            .collect()
    }

    /// Publishes one cross margin event to every running node; returns the subscriptions it
    /// reached in all.
    pub async fn publish(&self, event: Value) -> u64 {
        publish_everywhere(
            &reqwest::Client::new(),
            &self.admin_urls(),
            self.key.uid,
            &event,
        )
        .await
    }
}

/// Publishes to each admin URL; a node that does not answer (killed) reaches nobody.
async fn publish_everywhere(
    http: &reqwest::Client,
    admin_urls: &[String],
    uid: u64,
    event: &Value,
) -> u64 {
    let mut reached = 0;
    for admin in admin_urls {
        let body = json!({"uid": uid, "event": event});
        let Ok(response) = http
            .post(format!("{admin}/admin/v1/events"))
            .json(&body)
            .send()
            .await
        else {
            continue;
        };
        if let Ok(answer) = response.json::<Value>().await {
            reached += answer["subscribers"].as_u64().unwrap_or(0);
        }
    }
    reached
}
